//! Large files with the real `git lfs`: push, clone elsewhere, compare.

use std::path::Path;

use sha2::{Digest, Sha256};
use tests::{TestHub, git, ok, random_file};

/// Size of the big file: 200 MB of random data, as a model shard might be.
const BIG: usize = 200 * 1024 * 1024;

fn sha256_of(path: &Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).unwrap();
    hex::encode(hasher.finalize())
}

#[tokio::test]
async fn lfs_files_round_trip_through_push_and_clone() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "big", true).await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(git(h, h, &["lfs", "install", "--skip-repo"]));
    let url = format!("{}/alice/big.git", hub.url).replacen(
        "http://",
        &format!("http://user:{token}@"),
        1,
    );

    ok(git(h, work.path(), &["clone", &url, "a"]));
    let a = work.path().join("a");
    let big_sha = random_file(&a.join("model.safetensors"), BIG);
    let small_sha = random_file(&a.join("tokenizer.bin"), 1000);
    std::fs::write(a.join("config.json"), "{}").unwrap();
    ok(git(h, &a, &["add", "."]));
    ok(git(h, &a, &["commit", "-m", "weights"]));
    ok(git(h, &a, &["push", "origin", "main"]));

    // The hub sees LFS files with their real sizes and sha256.
    let info = api.get("/api/models/alice/big?blobs=true").await.body;
    let sibling = info["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["rfilename"] == "model.safetensors")
        .unwrap()
        .clone();
    assert_eq!(sibling["lfs"]["sha256"], big_sha.as_str());
    assert_eq!(sibling["size"], BIG as u64);

    // A fresh clone elsewhere gets identical bytes.
    ok(git(h, work.path(), &["clone", &url, "b"]));
    let b = work.path().join("b");
    assert_eq!(sha256_of(&b.join("model.safetensors")), big_sha);
    assert_eq!(sha256_of(&b.join("tokenizer.bin")), small_sha);

    // Incremental: a second version of the small file, fetched by the old clone.
    let new_small = random_file(&a.join("tokenizer.bin"), 2000);
    ok(git(h, &a, &["commit", "-am", "new tokenizer"]));
    ok(git(h, &a, &["push", "origin", "main"]));
    ok(git(h, &b, &["pull", "--ff-only", "origin", "main"]));
    assert_eq!(sha256_of(&b.join("tokenizer.bin")), new_small);

    // The resolve endpoint streams the LFS object itself, with its sha256 as ETag.
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/alice/big/resolve/main/model.safetensors",
            hub.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-linked-etag"],
        format!("\"{big_sha}\"").as_str()
    );
    assert_eq!(resp.headers()["content-length"], BIG.to_string().as_str());
    let mut hasher = Sha256::new();
    let mut stream = resp.bytes_stream();
    use futures::StreamExt;
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk.unwrap());
    }
    assert_eq!(hex::encode(hasher.finalize()), big_sha);
}

#[tokio::test]
async fn a_read_token_cannot_push_lfs_objects() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let read = hub.token("alice", false);
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(git(h, h, &["lfs", "install", "--skip-repo"]));
    let url =
        format!("{}/alice/m.git", hub.url).replacen("http://", &format!("http://user:{read}@"), 1);
    ok(git(h, work.path(), &["clone", &url, "m"]));
    let m = work.path().join("m");
    random_file(&m.join("w.bin"), 4096);
    ok(git(h, &m, &["add", "."]));
    ok(git(h, &m, &["commit", "-m", "w"]));
    let out = git(h, &m, &["push", "origin", "main"]);
    assert!(!out.status.success(), "a read token pushed");
    assert_eq!(
        hub.api(None).get("/api/models/alice/m").await.body["siblings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
