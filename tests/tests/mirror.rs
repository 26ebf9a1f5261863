//! Mirror mode: hub B serves repos of upstream hub A that B never held,
//! with A's exact commits, fetching large files from A once, and keeps
//! serving what it cached or synced when A is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;
use tests::{TestHub, arrives_at, file_op, lfs_op, page_as, upload_lfs};

/// A repo on A: a config, a 3 MiB large file, a branch and a tag.
struct Upstream {
    hub: TestHub,
    token: String,
    main: String,
    big: Vec<u8>,
}

async fn upstream_with_a_repo() -> Upstream {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let big: Vec<u8> = (0..3 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let oid = upload_lfs(&hub, &token, "alice/m", &big).await;
    let commit = api
        .commit(
            "alice/m",
            "weights",
            &[
                file_op("config.json", br#"{"model_type": "llama"}"#),
                lfs_op("model.safetensors", &oid, big.len()),
            ],
            None,
        )
        .await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
    let main = commit.body["commitOid"].as_str().unwrap().to_owned();
    let branch = api.post("/api/models/alice/m/branch/dev", json!({})).await;
    assert_eq!(branch.status, 200, "{:?}", branch.body);
    let tag = api
        .post("/api/models/alice/m/tag/main", json!({"tag": "v1.0"}))
        .await;
    assert_eq!(tag.status, 200, "{:?}", tag.body);
    Upstream {
        hub,
        token,
        main,
        big,
    }
}

/// Hub B with upstream `a` at `endpoint`, and a token of its user bob.
async fn mirror_of(endpoint: &str) -> (TestHub, String) {
    let b = TestHub::start().await;
    let reader = b.user_with_token("bob");
    b.cli_ok(&[
        "mirror",
        "upstream",
        "add",
        "a",
        "--kind",
        "hf",
        "--endpoint",
        endpoint,
    ]);
    (b, reader)
}

async fn get(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_repo_only_upstream_is_served_with_its_exact_commits_and_files() {
    let a = upstream_with_a_repo().await;
    let (b, reader) = mirror_of(&a.hub.url).await;

    // Anonymous callers do not make the hub fetch (the default policy).
    let anonymous = get(&format!("{}/api/models/alice/m", b.url), None).await;
    assert_eq!(anonymous.status(), 401);

    let info = get(&format!("{}/api/models/alice/m", b.url), Some(&reader)).await;
    assert_eq!(info.status(), 200);
    let info: serde_json::Value = info.json().await.unwrap();
    assert_eq!(info["sha"], a.main.as_str(), "{info}");
    // Once mirrored, it is a public repo like any other.
    let anonymous = get(&format!("{}/api/models/alice/m", b.url), None).await;
    assert_eq!(anonymous.status(), 200);

    for rev in ["main", "dev", "v1.0", a.main.as_str()] {
        let file = get(
            &format!("{}/alice/m/resolve/{rev}/config.json", b.url),
            None,
        )
        .await;
        assert_eq!(file.status(), 200, "{rev}");
        assert_eq!(file.headers()["x-repo-commit"], a.main.as_str());
    }

    // A ranged read of the large file before anything is cached.
    let part = reqwest::Client::new()
        .get(format!("{}/alice/m/resolve/main/model.safetensors", b.url))
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(&part.bytes().await.unwrap()[..], &a.big[1000..2000]);
    let whole = get(
        &format!("{}/alice/m/resolve/{}/model.safetensors", b.url, a.main),
        None,
    )
    .await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().len(), a.big.len());

    // The mirror is read-only.
    let write = b
        .api(Some(&reader))
        .commit("alice/m", "nope", &[file_op("x.txt", b"x")], None)
        .await;
    assert_eq!(write.status, 403, "{:?}", write.body);

    // The repo page says where it comes from.
    let page = get(&format!("{}/alice/m", b.url), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("mirror"), "no mirror badge");
    drop(a.token);
}

/// A TCP relay in front of A that counts the bytes A sends.
async fn counting_relay(to: &str) -> (String, Arc<AtomicU64>) {
    let target = to.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let up = tokio::io::copy(&mut from_client, &mut to_server);
                // Counted as the bytes pass: B keeps its connections open.
                let down = async {
                    let mut buf = vec![0; 64 << 10];
                    while let Ok(n) = from_server.read(&mut buf).await {
                        if n == 0 || to_client.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        counter.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    let _ = to_client.shutdown().await;
                };
                let _ = tokio::join!(up, down);
            });
        }
    });
    (format!("http://{addr}"), sent)
}

#[tokio::test]
async fn concurrent_readers_of_an_uncached_file_share_one_upstream_transfer() {
    let a = upstream_with_a_repo().await;
    let (relay, sent) = counting_relay(&a.hub.url).await;
    let (b, reader) = mirror_of(&relay).await;
    let info = get(&format!("{}/api/models/alice/m", b.url), Some(&reader)).await;
    assert_eq!(info.status(), 200);
    let before = sent.load(Ordering::Relaxed);
    let url = format!("{}/alice/m/resolve/main/model.safetensors", b.url);
    let downloads = (0..8).map(|_| {
        let url = url.clone();
        async move { get(&url, None).await.bytes().await.unwrap() }
    });
    for body in futures::future::join_all(downloads).await {
        assert!(body[..] == a.big[..], "every reader gets the whole file");
    }
    // Connections to A close when the relay's copies end; give them a moment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let moved = sent.load(Ordering::Relaxed) - before;
    let size = a.big.len() as u64;
    assert!(
        moved >= size && moved < size + size / 2,
        "A sent {moved} bytes for one {size}-byte file read 8 times"
    );
}

#[tokio::test]
async fn a_synced_repo_survives_its_upstream_going_away() {
    let mut a = upstream_with_a_repo().await;
    let (b, reader) = mirror_of(&a.hub.url).await;
    let report = b.cli_ok(&["mirror", "add", "a:alice/m", "--every", "6h", "--now"]);
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["files"], 1, "{report}");
    assert_eq!(report["fetched_bytes"], a.big.len(), "{report}");

    // A new commit on A reaches B by a sync.
    let api = a.hub.api(Some(&a.token));
    let next = api
        .commit("alice/m", "readme", &[file_op("README.md", b"# m\n")], None)
        .await;
    let next = next.body["commitOid"].as_str().unwrap().to_owned();
    b.cli_ok(&["mirror", "sync", "alice/m"]);
    let info: serde_json::Value = get(&format!("{}/api/models/alice/m", b.url), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["sha"], next.as_str());

    assert!(a.hub.stop());
    let file = get(
        &format!("{}/alice/m/resolve/v1.0/model.safetensors", b.url),
        None,
    )
    .await;
    assert_eq!(file.status(), 200);
    assert!(file.bytes().await.unwrap()[..] == a.big[..]);
    // An uncached repo is a clear error naming the upstream, not a hang.
    let missing = get(&format!("{}/api/models/alice/other", b.url), Some(&reader)).await;
    assert_eq!(missing.status(), 503);
    let text = missing.text().await.unwrap();
    assert!(text.contains("upstream"), "{text}");

    let listed = b.cli_ok(&["mirror", "list"]);
    let listed: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(listed["full_name"], "alice/m");
    assert_eq!(listed["pinned"], true);
    assert_eq!(listed["cached_bytes"], a.big.len());

    // The admin page shows the upstream, the synced repo and its cache.
    b.cli_ok(&[
        "user",
        "create",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--password",
        "password-123",
        "--admin",
    ]);
    let (status, _) = page_as(&b.url, "/admin/mirror", Some("bob")).await;
    assert_eq!(status, 404, "only site admins see it");
    let (status, html) = page_as(&b.url, "/admin/mirror", Some("root")).await;
    assert_eq!(status, 200);
    assert!(html.contains(&a.hub.url), "the upstream's endpoint");
    assert!(
        html.contains("alice/m") && html.contains("pinned"),
        "{html}"
    );
}

#[tokio::test]
async fn policy_denies_patterns_and_offline_serves_only_the_cache() {
    let a = upstream_with_a_repo().await;
    let (b, reader) = mirror_of(&a.hub.url).await;
    b.cli_ok(&["mirror", "policy", "--deny", "alice/*"]);
    let denied = get(&format!("{}/api/models/alice/m", b.url), Some(&reader)).await;
    assert_eq!(denied.status(), 404);
    b.cli_ok(&[
        "mirror",
        "policy",
        "--reset-patterns",
        "--allow",
        "alice/*",
        "--offline",
        "on",
    ]);
    let offline = get(&format!("{}/api/models/alice/m", b.url), Some(&reader)).await;
    assert_eq!(offline.status(), 503);
    assert!(offline.text().await.unwrap().contains("offline"));
    b.cli_ok(&[
        "mirror",
        "policy",
        "--offline",
        "off",
        "--max-repo-size",
        "1M",
    ]);
    assert_eq!(
        get(&format!("{}/api/models/alice/m", b.url), Some(&reader))
            .await
            .status(),
        200
    );
    // Larger than the per-repo cap: refused, not cached.
    let big = get(
        &format!("{}/alice/m/resolve/main/model.safetensors", b.url),
        None,
    )
    .await;
    assert_eq!(big.status(), 413);
    // Mirrored but uncached, while offline: a clear error, not a hang.
    b.cli_ok(&[
        "mirror",
        "policy",
        "--offline",
        "on",
        "--max-repo-size",
        "none",
    ]);
    let uncached = get(
        &format!("{}/alice/m/resolve/main/model.safetensors", b.url),
        None,
    )
    .await;
    let status = uncached.status();
    let text = uncached.text().await.unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("offline"), "{text}");
    let cached = get(&format!("{}/alice/m/resolve/main/config.json", b.url), None).await;
    assert_eq!(cached.status(), 200, "what git holds is served offline");
    // A bad pattern changes nothing.
    let out = b.cli(&["mirror", "policy", "--deny", "noslash"]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_private_upstream_repo_is_fetched_with_the_token_for_named_readers_only() {
    let a = upstream_with_a_repo().await;
    let api = a.hub.api(Some(&a.token));
    assert_eq!(
        api.create_repo("model", "alice", "secret", true)
            .await
            .status,
        200
    );
    let b = TestHub::start().await;
    let carol = b.user_with_token("carol");
    let dave = b.user_with_token("dave");
    let token_file = b.data_dir.join("a-token");
    std::fs::write(&token_file, &a.token).unwrap();
    let added = b.cli_ok(&[
        "mirror",
        "upstream",
        "add",
        "a",
        "--kind",
        "hf",
        "--endpoint",
        &a.hub.url,
        "--token-file",
        token_file.to_str().unwrap(),
        "--private-readers",
        "carol",
    ]);
    assert!(!added.contains(&a.token), "the token is never shown");
    assert!(added.contains("\"has_token\":true"), "{added}");
    let listed = b.cli_ok(&["mirror", "upstream", "list"]);
    assert!(!listed.contains(&a.token));

    let seen = get(&format!("{}/api/models/alice/secret", b.url), Some(&carol)).await;
    assert_eq!(seen.status(), 200);
    let info: serde_json::Value = seen.json().await.unwrap();
    assert_eq!(info["private"], true);
    for outsider in [Some(dave.as_str()), None] {
        let hidden = get(&format!("{}/api/models/alice/secret", b.url), outsider).await;
        assert!(matches!(hidden.status().as_u16(), 401 | 404));
    }

    // Dropping the mirror drops the repo; without the upstream nothing
    // brings it back.
    b.cli_ok(&["mirror", "remove", "alice/secret"]);
    assert!(b.cli_ok(&["mirror", "list"]).trim().is_empty());
    b.cli_ok(&["mirror", "upstream", "remove", "a"]);
    let gone = get(&format!("{}/api/models/alice/secret", b.url), Some(&carol)).await;
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn git_and_git_lfs_clone_a_repo_only_upstream_and_cannot_push_to_it() {
    use tests::{failed, git, ok};
    let a = upstream_with_a_repo().await;
    let (b, reader) = mirror_of(&a.hub.url).await;
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(git(h, h, &["lfs", "install", "--skip-repo"]));
    let url =
        format!("{}/alice/m.git", b.url).replacen("http://", &format!("http://bob:{reader}@"), 1);
    // The first request B ever gets for the repo is git's.
    ok(git(h, work.path(), &["clone", &url, "m"]));
    let m = work.path().join("m");
    let head = ok(git(h, &m, &["rev-parse", "HEAD"]));
    assert_eq!(head.trim(), a.main);
    let tags = ok(git(h, &m, &["tag"]));
    assert_eq!(tags.trim(), "v1.0");
    let big = std::fs::read(m.join("model.safetensors")).unwrap();
    assert!(big == a.big, "git lfs smudged the upstream's bytes");

    std::fs::write(m.join("x.txt"), "x").unwrap();
    ok(git(h, &m, &["add", "x.txt"]));
    ok(git(h, &m, &["commit", "-m", "x"]));
    let refused = failed(git(h, &m, &["push", "origin", "main"]));
    assert!(refused.contains("mirror"), "{refused}");
}

#[tokio::test]
async fn past_the_total_cap_the_least_recently_read_unpinned_files_are_evicted() {
    let a = upstream_with_a_repo().await;
    let api = a.hub.api(Some(&a.token));
    assert_eq!(
        api.create_repo("model", "alice", "n", false).await.status,
        200
    );
    let second: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8).collect();
    let oid = upload_lfs(&a.hub, &a.token, "alice/n", &second).await;
    let commit = api
        .commit("alice/n", "w", &[lfs_op("w.bin", &oid, second.len())], None)
        .await;
    assert_eq!(commit.status, 200);
    let (b, reader) = mirror_of(&a.hub.url).await;
    b.cli_ok(&["mirror", "policy", "--max-total-size", "4M"]);
    let read = |path: &'static str| {
        let url = format!("{}/alice/{path}", b.url);
        let reader = reader.clone();
        let log = b.log_path.clone();
        async move {
            let body = get(&url, Some(&reader)).await.bytes().await;
            body.unwrap_or_else(|e| {
                panic!("{e}: {}", std::fs::read_to_string(&log).unwrap_or_default())
            })
        }
    };
    assert!(read("m/resolve/main/model.safetensors").await[..] == a.big[..]);
    assert!(read("n/resolve/main/w.bin").await[..] == second[..]);
    // Each file is stored (and the cap enforced) just after its readers got it.
    let cached = || {
        let listed = b.cli_ok(&["mirror", "list"]);
        let of = |name: &str| {
            listed
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|r| r["full_name"] == name)
                .map_or(0, |r| r["cached_bytes"].as_i64().unwrap())
        };
        std::future::ready((of("alice/m"), of("alice/n")))
    };
    let (m, n) = (a.big.len() as i64, second.len() as i64);
    // The least recently read file went.
    arrives_at(&(0, n), &mut cached.clone()).await;
    // Read again, it comes back, and now the other one goes ...
    assert!(read("m/resolve/main/model.safetensors").await[..] == a.big[..]);
    arrives_at(&(m, 0), &mut cached.clone()).await;
    // ... and once its repo is pinned, it stays whatever else is read.
    b.cli_ok(&["mirror", "pin", "alice/m"]);
    assert!(read("n/resolve/main/w.bin").await[..] == second[..]);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    arrives_at(&(m, 0), &mut cached.clone()).await;
}

#[tokio::test]
async fn a_range_far_ahead_of_the_transfer_is_read_from_upstream_at_once() {
    let a = upstream_with_a_repo().await;
    let api = a.hub.api(Some(&a.token));
    assert_eq!(
        api.create_repo("model", "alice", "large", false)
            .await
            .status,
        200
    );
    let large: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(31) >> 7) as u8)
        .collect();
    let oid = upload_lfs(&a.hub, &a.token, "alice/large", &large).await;
    let commit = api
        .commit(
            "alice/large",
            "w",
            &[lfs_op("w.bin", &oid, large.len())],
            None,
        )
        .await;
    assert_eq!(commit.status, 200);
    let (b, reader) = mirror_of(&a.hub.url).await;
    let url = format!("{}/alice/large/resolve/main/w.bin", b.url);
    // A resumed download of the last bytes, before anything is cached.
    let start = large.len() - 1000;
    let tail = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&reader)
        .header("range", format!("bytes={start}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), 206);
    assert!(tail.bytes().await.unwrap()[..] == large[start..]);
    // Meanwhile the whole file was fetched once, for everyone after.
    let whole = get(&url, None).await.bytes().await.unwrap();
    assert!(whole[..] == large[..]);
}
