//! `git clone`, `fetch` and `push` over HTTP with the real git client.

use std::process::Output;

use tests::{TestHub, failed, file_op, git, ok};

fn authed(url: &str, token: &str) -> String {
    url.replacen("http://", &format!("http://user:{token}@"), 1)
}

#[tokio::test]
async fn clone_push_fetch_with_both_protocol_versions() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = format!("{}/alice/m.git", hub.url);

    // Anonymous clone of a public repo, protocol v2 and v0.
    ok(git(h, work.path(), &["clone", &url, "v2"]));
    ok(git(
        h,
        work.path(),
        &[
            "-c",
            "protocol.version=0",
            "clone",
            &format!("{}/alice/m", hub.url),
            "v0",
        ],
    ));
    let v2 = work.path().join("v2");
    assert!(v2.join(".gitattributes").exists());

    // Push needs credentials: anonymous is asked for them, a write token works.
    std::fs::write(v2.join("README.md"), "---\nlicense: mit\n---\n# 模型\n").unwrap();
    ok(git(h, &v2, &["add", "README.md"]));
    ok(git(h, &v2, &["commit", "-m", "card"]));
    let anon = failed(git(h, &v2, &["push", "origin", "main"]));
    assert!(
        anon.contains("Authentication failed") || anon.contains("could not read Username"),
        "{anon}"
    );
    let read_token = hub.token("alice", false);
    let refused = failed(git(h, &v2, &["push", &authed(&url, &read_token), "main"]));
    assert!(
        refused.contains("403") || refused.contains("read role"),
        "{refused}"
    );
    ok(git(h, &v2, &["push", &authed(&url, &token), "main"]));
    let head = ok(git(h, &v2, &["rev-parse", "HEAD"])).trim().to_owned();

    // The after-push step ran: the API sees the new head and the parsed card.
    let info = api.get("/api/models/alice/m").await.body;
    assert_eq!(info["sha"], head.as_str());
    assert_eq!(info["cardData"]["license"], "mit");

    // An API commit, then an incremental fetch in the v0 clone.
    let c = api
        .commit(
            "alice/m",
            "api change",
            &[file_op("api.txt", b"from the API")],
            None,
        )
        .await;
    assert_eq!(c.status, 200);
    let v0 = work.path().join("v0");
    ok(git(
        h,
        &v0,
        &[
            "-c",
            "protocol.version=0",
            "pull",
            "--ff-only",
            "origin",
            "main",
        ],
    ));
    assert_eq!(
        std::fs::read_to_string(v0.join("api.txt")).unwrap(),
        "from the API"
    );
    assert!(v0.join("README.md").exists());
    // And the v2 clone pulls with protocol v2.
    ok(git(
        h,
        &v2,
        &[
            "-c",
            "protocol.version=2",
            "pull",
            "--ff-only",
            "origin",
            "main",
        ],
    ));
    assert_eq!(
        ok(git(h, &v2, &["rev-parse", "HEAD"])).trim(),
        c.body["commitOid"].as_str().unwrap()
    );
}

#[tokio::test]
async fn private_repos_and_push_rules() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "p", true).await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = format!("{}/alice/p.git", hub.url);

    let anon = failed(git(h, work.path(), &["clone", &url, "anon"]));
    assert!(
        anon.contains("Authentication failed") || anon.contains("could not read Username"),
        "{anon}"
    );
    let outsider = failed(git(h, work.path(), &["clone", &authed(&url, &bob), "bob"]));
    assert!(
        outsider.contains("not found") || outsider.contains("404"),
        "{outsider}"
    );
    ok(git(h, work.path(), &["clone", &authed(&url, &token), "p"]));
    let p = work.path().join("p");

    // A plain blob over 10 MB is refused with the LFS hint, and nothing moves.
    let before = api.get("/api/models/alice/p").await.body["sha"].clone();
    let big: Vec<u8> = (0..(10 * 1024 * 1024 + 10))
        .map(|i| (i % 251) as u8)
        .collect();
    std::fs::write(p.join("weights.raw"), &big).unwrap();
    ok(git(h, &p, &["add", "weights.raw"]));
    ok(git(h, &p, &["commit", "-m", "big"]));
    let refused = failed(git(h, &p, &["push", "origin", "main"]));
    assert!(
        refused.contains("weights.raw") && refused.contains("git lfs track"),
        "{refused}"
    );
    assert_eq!(api.get("/api/models/alice/p").await.body["sha"], before);

    // An LFS pointer whose object was never uploaded is refused, naming the file.
    ok(git(h, &p, &["reset", "--hard", "HEAD~1"]));
    let pointer = format!(
        "version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize 1234\n",
        "ab".repeat(32)
    );
    std::fs::write(p.join("model.safetensors"), pointer).unwrap();
    ok(git(h, &p, &["add", "model.safetensors"]));
    ok(git(h, &p, &["commit", "-m", "pointer without object"]));
    let refused = failed(git(h, &p, &["push", "origin", "main"]));
    assert!(
        refused.contains("model.safetensors") && refused.contains("without their content"),
        "{refused}"
    );
    assert_eq!(api.get("/api/models/alice/p").await.body["sha"], before);

    // The default branch can be neither rewound nor deleted; other branches can.
    ok(git(h, &p, &["reset", "--hard", "HEAD~1"]));
    std::fs::write(p.join("a.txt"), "a").unwrap();
    ok(git(h, &p, &["add", "a.txt"]));
    ok(git(h, &p, &["commit", "-m", "a"]));
    ok(git(h, &p, &["push", "origin", "main"]));
    ok(git(h, &p, &["commit", "--amend", "-m", "rewritten"]));
    let forced = failed(git(h, &p, &["push", "--force", "origin", "main"]));
    assert!(
        forced.contains("force-pushing the default branch"),
        "{forced}"
    );
    let deleted = failed(git(h, &p, &["push", "origin", ":main"]));
    assert!(deleted.contains("cannot be deleted"), "{deleted}");
    ok(git(h, &p, &["push", "origin", "HEAD:refs/heads/dev"]));
    ok(git(
        h,
        &p,
        &["push", "--force", "origin", "HEAD~1:refs/heads/dev"],
    ));
    ok(git(h, &p, &["tag", "v1"]));
    ok(git(h, &p, &["push", "origin", "v1"]));
    ok(git(h, &p, &["push", "origin", ":refs/heads/dev"]));
    let refused = failed(git(h, &p, &["push", "origin", "HEAD:refs/pr/1"]));
    assert!(refused.contains("open the pull request first"), "{refused}");
    let refused = failed(git(h, &p, &["push", "origin", "HEAD:refs/other/x"]));
    assert!(
        refused.contains("only branches, tags and pull requests"),
        "{refused}"
    );
}

#[tokio::test]
async fn concurrent_pushes_to_one_branch_one_wins() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path().to_owned();
    let url = authed(&format!("{}/alice/m.git", hub.url), &token);
    for name in ["a", "b"] {
        ok(git(&h, work.path(), &["clone", &url, name]));
        let dir = work.path().join(name);
        std::fs::write(dir.join(format!("{name}.txt")), name).unwrap();
        ok(git(&h, &dir, &["add", "."]));
        ok(git(&h, &dir, &["commit", "-m", name]));
    }
    let pushes: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let (h, dir) = (h.clone(), work.path().join(name));
            std::thread::spawn(move || git(&h, &dir, &["push", "origin", "main"]))
        })
        .collect();
    let results: Vec<Output> = pushes.into_iter().map(|t| t.join().unwrap()).collect();
    let wins = results.iter().filter(|o| o.status.success()).count();
    assert_eq!(wins, 1, "exactly one push lands");
    let loser = results.iter().find(|o| !o.status.success()).unwrap();
    let message = String::from_utf8_lossy(&loser.stderr);
    assert!(
        message.contains("rejected")
            || message.contains("fetch first")
            || message.contains("cannot lock")
            || message.contains("failed to update"),
        "{message}"
    );
}

/// A protocol-v2 `ls-refs` request sent gzip-compressed, as git does for
/// large negotiation bodies; and a hostile `Git-Protocol` header is refused.
#[tokio::test]
async fn gzip_bodies_and_protocol_header_validation() {
    use tokio::io::AsyncWriteExt;
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let request = b"0014command=ls-refs\n0000";
    let mut gz = async_compression::tokio::write::GzipEncoder::new(Vec::new());
    gz.write_all(request).await.unwrap();
    gz.shutdown().await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/alice/m.git/git-upload-pack", hub.url);
    let resp = client
        .post(&url)
        .header("content-type", "application/x-git-upload-pack-request")
        .header("content-encoding", "gzip")
        .header("git-protocol", "version=2")
        .body(gz.into_inner())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/x-git-upload-pack-result"
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains("refs/heads/main"), "{body}");

    let hostile = client
        .get(format!(
            "{}/alice/m.git/info/refs?service=git-upload-pack",
            hub.url
        ))
        .header("git-protocol", "version=2:evil=$(reboot)")
        .send()
        .await
        .unwrap();
    assert_eq!(hostile.status(), 400);
    let wrong_type = client
        .post(&url)
        .header("content-type", "text/plain")
        .body(request.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), 400);
    let dumb = client
        .get(format!("{}/alice/m.git/info/refs", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(dumb.status(), 403, "only smart HTTP is served");
}
