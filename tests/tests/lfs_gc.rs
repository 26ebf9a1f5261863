//! `hub gc`: frees LFS objects no repo reaches (deleted repos, deleted
//! branches), keeps everything still referenced, sweeps orphaned files.

use std::path::Path;

use serde_json::Value;
use tests::TestHub;

fn git(home: &Path, dir: &Path, args: &[&str]) -> String {
    tests::ok(tests::git(home, dir, args))
}

/// The object key of an LFS object, as the hub lays them out.
fn key(oid: &str) -> String {
    format!("lfs/{}/{}/{oid}", &oid[0..2], &oid[2..4])
}

fn env_of<'a>(hub: &'a TestHub, name: &str) -> Option<&'a str> {
    hub.env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Where the hub's store keeps `key`: a file, or an S3 object URL.
fn location(hub: &TestHub, key: &str) -> String {
    match (env_of(hub, "AWS_ENDPOINT"), env_of(hub, "HUB_OBJECT_STORE")) {
        (Some(endpoint), Some(store)) => {
            format!("{endpoint}/{}/{key}", store.trim_start_matches("s3://"))
        }
        _ => hub.data_dir.join("objects").join(key).display().to_string(),
    }
}

/// Whether the hub holds `oid`: recorded, and stored either as a plain
/// copy or (once the hub has chunked it) as xorbs.
async fn stored(hub: &TestHub, oid: &str) -> bool {
    // The plain copy first: the hub drops it only after the chunked copy is
    // recorded, so a copy gone by now is seen as chunked below (asked the
    // other way round, a file chunked between the two looks lost).
    let plain = has_plain_copy(hub, oid).await;
    let db = sqlx::PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let (recorded, chunked): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM lfs_objects WHERE oid = $1),
                EXISTS (SELECT 1 FROM xet_files WHERE sha256 = $1)",
    )
    .bind(oid)
    .fetch_one(&db)
    .await
    .unwrap();
    recorded && (plain || chunked)
}

/// Waits until the hub has chunked every LFS object into xorbs.
async fn wait_until_chunked(hub: &TestHub) {
    let db = sqlx::PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap();
    for _ in 0..120 {
        let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM xet_ingest_queue")
            .fetch_one(&db)
            .await
            .unwrap();
        if queued == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("the uploads were not chunked within 30 s:\n{}", hub.log());
}

async fn has_plain_copy(hub: &TestHub, oid: &str) -> bool {
    exists(hub, &key(oid)).await
}

async fn exists(hub: &TestHub, key: &str) -> bool {
    let at = location(hub, key);
    if at.starts_with("http") {
        reqwest::Client::new()
            .head(at)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    } else {
        Path::new(&at).exists()
    }
}

async fn put_orphan(hub: &TestHub, key: &str) {
    let at = location(hub, key);
    if at.starts_with("http") {
        assert!(
            reqwest::Client::new()
                .put(at)
                .body("orphan")
                .send()
                .await
                .unwrap()
                .status()
                .is_success()
        );
    } else {
        std::fs::create_dir_all(Path::new(&at).parent().unwrap()).unwrap();
        std::fs::write(at, "orphan").unwrap();
    }
}

fn gc(hub: &TestHub) -> Value {
    let out = hub.cli(&["gc", "--grace-minutes", "0"]);
    assert!(
        out.status.success(),
        "gc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Pushes `files` (name, content) to a new branch of a fresh clone; returns
/// the LFS oids in the order given.
fn push_lfs_files(
    home: &Path,
    work: &Path,
    url: &str,
    dir: &str,
    branch: &str,
    files: &[(&str, &[u8])],
) -> Vec<String> {
    git(home, work, &["clone", url, dir]);
    let repo = work.join(dir);
    for (name, content) in files {
        std::fs::write(repo.join(name), content).unwrap();
    }
    git(home, &repo, &["checkout", "-B", branch]);
    git(home, &repo, &["add", "."]);
    git(home, &repo, &["commit", "-m", "files"]);
    git(home, &repo, &["push", "origin", branch]);
    files
        .iter()
        .map(|(name, _)| {
            let pointer = git(home, &repo, &["show", &format!("HEAD:{name}")]);
            pointer
                .lines()
                .find_map(|l| l.strip_prefix("oid sha256:"))
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn gc_frees_unreachable_objects_only() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    git(h, h, &["lfs", "install", "--skip-repo"]);
    let url = |repo: &str| {
        format!("{}/alice/{repo}.git", hub.url).replacen(
            "http://",
            &format!("http://user:{token}@"),
            1,
        )
    };
    api.create_repo("model", "alice", "keep", false).await;
    api.create_repo("model", "alice", "gone", false).await;

    let kept = push_lfs_files(
        h,
        work.path(),
        &url("keep"),
        "k",
        "main",
        &[("kept.bin", b"kept weights")],
    );
    let on_dev = push_lfs_files(
        h,
        work.path(),
        &url("keep"),
        "d",
        "dev",
        &[("dev.bin", b"dev-only weights!")],
    );
    let in_gone = push_lfs_files(
        h,
        work.path(),
        &url("gone"),
        "g",
        "main",
        &[("gone.bin", b"weights of a deleted repo")],
    );
    for oid in kept.iter().chain(&on_dev).chain(&in_gone) {
        assert!(stored(&hub, oid).await, "{oid} was uploaded");
    }
    // Let the hub chunk them into xorbs (what it does with every upload),
    // so that collection finds them as it will in the long run.
    wait_until_chunked(&hub).await;
    // Nothing is unreachable yet: gc frees nothing.
    let report = gc(&hub);
    assert_eq!(report["objects_removed"], 0, "{report}");

    // Delete the branch and the repo that reached two of the objects.
    git(h, &work.path().join("d"), &["push", "origin", ":dev"]);
    let deleted = api
        .send(
            reqwest::Method::DELETE,
            "/api/repos/delete",
            Some(serde_json::json!({ "name": "gone" })),
        )
        .await;
    assert_eq!(deleted.status, 200);
    let orphan = "0f".repeat(32);
    put_orphan(&hub, &key(&orphan)).await;
    // And a xorb file with no row (an upload that died before recording).
    let orphan_xorb = format!("xet/xorbs/1f/{}", "1f".repeat(32));
    put_orphan(&hub, &orphan_xorb).await;

    let report = gc(&hub);
    assert_eq!(report["links_dropped"], 1, "{report}");
    assert_eq!(report["objects_removed"], 2, "{report}");
    assert_eq!(report["orphan_files_removed"], 1, "{report}");
    // Their bytes were in xorbs, each alone in one: those go too (marked
    // and removed at once with no grace period), the kept one stays. (The
    // deleted repo's record of its file went with the repo; the branch's
    // goes now.)
    assert_eq!(report["xet"]["files_removed"], 1, "{report}");
    assert_eq!(report["xet"]["xorbs_removed"], 2, "{report}");
    let in_xorbs = ("dev-only weights!".len() + "weights of a deleted repo".len() + 2 * 8) as u64;
    assert_eq!(report["xet"]["orphan_xorbs_removed"], 1, "{report}");
    let orphans = 2 * "orphan".len() as u64;
    assert_eq!(
        report["xet"]["xorb_bytes_freed"],
        in_xorbs + orphans / 2,
        "{report}"
    );
    assert_eq!(report["bytes_freed"], in_xorbs + orphans, "{report}");
    assert!(stored(&hub, &kept[0]).await, "a referenced object survives");
    assert!(!stored(&hub, &on_dev[0]).await);
    assert!(!stored(&hub, &in_gone[0]).await);
    assert!(!has_plain_copy(&hub, &orphan).await);
    assert!(!exists(&hub, &orphan_xorb).await);

    // What survives is still whole: a fresh clone checks it out.
    git(h, work.path(), &["clone", &url("keep"), "again"]);
    assert_eq!(
        std::fs::read(work.path().join("again/kept.bin")).unwrap(),
        b"kept weights"
    );
    // A second run has nothing left to do.
    let report = gc(&hub);
    assert_eq!(
        (
            report["objects_removed"].as_u64(),
            report["links_dropped"].as_u64(),
            report["xet"]["xorbs_removed"].as_u64(),
        ),
        (Some(0), Some(0), Some(0)),
        "{report}"
    );
}
