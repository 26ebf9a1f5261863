//! Downloading files through `/resolve`, as `huggingface_hub` does.

use std::time::Duration;

use serde_json::json;
use tests::{TestHub, file_op};

#[tokio::test]
async fn resolve_serves_files_with_hf_headers_and_ranges() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let config = br#"{"model_type": "qwen2", "hidden_size": 8}"#;
    let commit = api
        .commit(
            "alice/m",
            "add",
            &[
                file_op("config.json", config),
                file_op("sub/说明.txt", "你好".as_bytes()),
            ],
            None,
        )
        .await;
    let sha = commit.body["commitOid"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{}/alice/m/resolve/{p}", hub.url);

    let head = client
        .head(url("main/config.json"))
        .header("accept-encoding", "identity")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-repo-commit"], sha.as_str());
    assert_eq!(
        head.headers()["content-length"],
        config.len().to_string().as_str()
    );
    let etag = head.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_owned();
    assert_eq!(etag.len(), 40, "git blob id for a plain file");
    assert!(head.headers().get("x-xet-hash").is_none());

    let body = client
        .get(url(&format!("{sha}/config.json")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&body[..], config);
    let cn = client
        .get(url("main/sub/%E8%AF%B4%E6%98%8E.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(cn.text().await.unwrap(), "你好");

    let part = client
        .get(url("main/config.json"))
        .header("range", "bytes=2-6")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 2-6/{}", config.len()).as_str()
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &config[2..7]);
    let past = client
        .get(url("main/config.json"))
        .header("range", format!("bytes={}-", config.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{}", config.len()).as_str()
    );

    let missing = client.head(url("main/nope.bin")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-error-code"], "EntryNotFound");
    assert_eq!(missing.headers()["x-repo-commit"], sha.as_str());
    let bad_rev = client
        .head(url("no-such-branch/config.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_rev.headers()["x-error-code"], "RevisionNotFound");
    let hostile = client
        .get(format!("{}/alice/m/resolve/main/..%2F..%2Fsecret", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(hostile.status(), 404);

    // Downloads of config.json count; HEAD and later ranges do not.
    tests::settles_at(json!(1), || async {
        api.get("/api/models/alice/m").await.body["downloads"].clone()
    })
    .await;

    // Private repos: anonymous 401 RepoNotFound, the owner's token works.
    api.create_repo("model", "alice", "p", true).await;
    api.commit("alice/p", "add", &[file_op("a.txt", b"secret")], None)
        .await;
    let anon = client
        .get(format!("{}/alice/p/resolve/main/a.txt", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(anon.headers()["x-error-code"], "RepoNotFound");
    let owner = client
        .get(format!("{}/alice/p/resolve/main/a.txt", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(owner.text().await.unwrap(), "secret");
}

#[tokio::test]
async fn one_client_counts_one_download_per_window_across_api_families() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    api.commit(
        "alice/m",
        "add",
        &[file_op("config.json", br#"{"model_type": "bert"}"#)],
        None,
    )
    .await;
    let mut downloads = || async {
        let info = api.get("/api/models/alice/m").await;
        info.body["downloadsAllTime"].as_i64().unwrap()
    };
    let hf = "/alice/m/resolve/main/config.json";
    let ms = "/api/v1/models/alice/m/repo?Revision=master&FilePath=config.json";
    let fetch = |client: reqwest::Client, path: &'static str, token: Option<String>| {
        let url = format!("{}{path}", hub.url);
        async move {
            let mut request = client.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.bytes().await.unwrap();
        }
    };
    // One anonymous address: repeats and the other family's route count once.
    let first = tests::client_at("127.0.0.2").build().unwrap();
    for _ in 0..5 {
        fetch(first.clone(), hf, None).await;
    }
    fetch(first.clone(), ms, None).await;
    tests::arrives_at(&1, &mut downloads).await;
    // Another address is another client.
    fetch(tests::client_at("127.0.0.3").build().unwrap(), ms, None).await;
    tests::arrives_at(&2, &mut downloads).await;
    // A signed-in user is one client wherever they are, apart from the address.
    fetch(first.clone(), hf, Some(token.clone())).await;
    fetch(
        tests::client_at("127.0.0.4").build().unwrap(),
        ms,
        Some(token.clone()),
    )
    .await;
    tests::settles_at(3, downloads).await;
}

#[tokio::test]
async fn secrets_in_query_strings_stay_out_of_the_log() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    // The LFS upload follows signed links (`...?op=upload&...&sig=...`).
    tests::upload_lfs(&hub, &token, "alice/m", b"weights").await;
    let r = reqwest::Client::new()
        .get(format!(
            "{}/alice/m/resolve/main/x.bin?token=tok-SECRET&X-Amz-Signature=amz-SECRET&limit=5",
            hub.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let log = hub.log();
    assert!(
        log.contains("/alice/m.git/info/lfs/objects/"),
        "the path is logged"
    );
    assert!(log.contains("limit=5"), "harmless parameters are logged");
    assert!(!log.contains("SECRET"), "{log}");
    let mut signed = 0;
    for (at, _) in log.match_indices("sig=") {
        assert!(
            log[at..].starts_with("sig=REDACTED"),
            "{}",
            &log[at..at + 60]
        );
        signed += 1;
    }
    assert!(signed > 0, "signed links were logged, redacted");
}

/// `GET` of `path` under the hub at `base` (optionally with a token): the
/// status, `X-Repo-Commit` and the body.
async fn fetch(base: &str, path: &str, token: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let commit = r
        .headers()
        .get("x-repo-commit")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, commit, r.text().await.unwrap())
}

/// Counting a download is off the request path: while the table of
/// download windows is locked (as by a slow or stuck write), downloads are
/// still answered at once, and their counts arrive once it is free again.
#[tokio::test]
async fn downloads_do_not_wait_for_their_count() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    api.commit("alice/m", "add", &[file_op("config.json", b"{}")], None)
        .await;
    let db_url = hub.database_url.clone().expect("a test database");
    let mut locker = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url)
        .await
        .unwrap();
    let mut tx = sqlx::Connection::begin(&mut locker).await.unwrap();
    sqlx::query("LOCK TABLE download_windows IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.2"] {
        let r = tests::client_at(ip)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
            .get(format!("{}/alice/m/resolve/main/config.json", hub.url))
            .send()
            .await
            .expect("answered while the count cannot be written");
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "{}");
    }
    tx.rollback().await.unwrap();
    tests::settles_at(2, || async {
        api.get("/api/models/alice/m").await.body["downloadsAllTime"]
            .as_i64()
            .unwrap()
    })
    .await;
}

/// A clean shutdown writes the downloads counted so far, however recent.
#[tokio::test]
async fn a_clean_shutdown_keeps_the_last_counts() {
    let mut hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    api.commit("alice/m", "add", &[file_op("config.json", b"{}")], None)
        .await;
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let r = tests::client_at(ip)
            .build()
            .unwrap()
            .get(format!("{}/alice/m/resolve/main/config.json", hub.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert!(hub.stop(), "clean exit");
    let again = TestHub::spawn(&hub.data_dir, hub.database_url.clone()).await;
    let info = again.api(None).get("/api/models/alice/m").await;
    assert_eq!(info.body["downloadsAllTime"], 2);
}

/// Nothing kept between requests hides a new commit: a branch moved
/// through the commit API or by `git push` on one node is what the next
/// resolve and repo info answer on another node that served (and kept)
/// the old content; a commit named by its id still gives its own content.
#[tokio::test]
async fn moved_refs_are_seen_at_once_on_every_node() {
    let a = TestHub::start().await;
    let b = TestHub::spawn_node(
        &a.data_dir,
        a.database_url.clone(),
        a.env.clone(),
        &a.data_dir.join("node-b.log"),
    )
    .await;
    let token = a.user_with_token("alice");
    let api = a.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let first = api
        .commit("alice/m", "v1", &[file_op("config.json", b"v1")], None)
        .await;
    let first = first.body["commitOid"].as_str().unwrap().to_owned();
    let resolve = "/alice/m/resolve/main/config.json";
    let info_sha = |hub: &TestHub| {
        let api = hub.api(None);
        async move { api.get("/api/models/alice/m").await.body["sha"].clone() }
    };
    // Served, and kept, by both nodes (twice: the second from what they keep).
    for _ in 0..2 {
        for node in [&a, &b] {
            assert_eq!(
                fetch(&node.url, resolve, None).await,
                (200, first.clone(), "v1".into())
            );
            assert_eq!(info_sha(node).await, first.as_str());
        }
    }

    // Through the commit API on node a.
    let second = api
        .commit("alice/m", "v2", &[file_op("config.json", b"v2")], None)
        .await;
    let second = second.body["commitOid"].as_str().unwrap().to_owned();
    for node in [&b, &a] {
        assert_eq!(
            fetch(&node.url, resolve, None).await,
            (200, second.clone(), "v2".into())
        );
        assert_eq!(info_sha(node).await, second.as_str());
    }

    // Through `git push` to node a.
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let url = a.url.replacen("http://", &format!("http://u:{token}@"), 1) + "/alice/m.git";
    tests::ok(tests::git(home.path(), work.path(), &["clone", &url, "m"]));
    let m = work.path().join("m");
    std::fs::write(m.join("config.json"), "v3").unwrap();
    std::fs::write(m.join("extra.txt"), "new file").unwrap();
    tests::ok(tests::git(home.path(), &m, &["add", "-A"]));
    tests::ok(tests::git(home.path(), &m, &["commit", "-q", "-m", "v3"]));
    tests::ok(tests::git(
        home.path(),
        &m,
        &["push", "-q", "origin", "main"],
    ));
    let third = tests::ok(tests::git(home.path(), &m, &["rev-parse", "HEAD"]))
        .trim()
        .to_owned();
    for node in [&b, &a] {
        assert_eq!(
            fetch(&node.url, resolve, None).await,
            (200, third.clone(), "v3".into())
        );
        assert_eq!(info_sha(node).await, third.as_str());
        let siblings = node.api(None).get("/api/models/alice/m").await.body["siblings"].clone();
        assert!(siblings.to_string().contains("extra.txt"), "{siblings}");
    }
    // A file removed by a push is gone at once; a new branch resolves at once.
    tests::ok(tests::git(home.path(), &m, &["rm", "-q", "config.json"]));
    tests::ok(tests::git(home.path(), &m, &["commit", "-q", "-m", "rm"]));
    tests::ok(tests::git(
        home.path(),
        &m,
        &["push", "-q", "origin", "main", "main:side"],
    ));
    for node in [&b, &a] {
        assert_eq!(fetch(&node.url, resolve, None).await.0, 404);
        let side = fetch(&node.url, "/alice/m/resolve/side/extra.txt", None).await;
        assert_eq!((side.0, side.2.as_str()), (200, "new file"));
    }
    // Commits by id: their own content, whatever the branch says now.
    for (sha, content) in [(&first, "v1"), (&second, "v2"), (&third, "v3")] {
        let path = format!("/alice/m/resolve/{sha}/config.json");
        assert_eq!(
            fetch(&b.url, &path, None).await,
            (200, sha.clone(), content.into())
        );
    }
}

/// What was kept for a reader who may read a private repo is no way in for
/// anybody else: outsiders get the answer for a missing repo, also right
/// after a public repo turns private, and a revoked token stops at once.
#[tokio::test]
async fn kept_content_never_reaches_outsiders() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "p", true).await;
    api.commit("alice/p", "add", &[file_op("config.json", b"secret")], None)
        .await;
    api.create_repo("model", "alice", "q", false).await;
    api.commit(
        "alice/q",
        "add",
        &[file_op("config.json", b"soon private")],
        None,
    )
    .await;
    let p = "/alice/p/resolve/main/config.json";
    let q = "/alice/q/resolve/main/config.json";
    for _ in 0..2 {
        assert_eq!(fetch(&hub.url, p, Some(&token)).await.2, "secret");
        assert_eq!(fetch(&hub.url, q, None).await.2, "soon private");
        assert_eq!(fetch(&hub.url, q, Some(&bob)).await.2, "soon private");
    }
    let outsiders = |path: &'static str| {
        let (url, bob) = (hub.url.clone(), bob.clone());
        async move {
            let anonymous = fetch(&url, path, None).await;
            let signed_in = fetch(&url, path, Some(&bob)).await;
            assert_eq!((anonymous.0, anonymous.2.contains("secret")), (401, false));
            assert_eq!((signed_in.0, signed_in.2.contains("private")), (404, false));
        }
    };
    outsiders(p).await;
    let made_private = api
        .send(
            reqwest::Method::PUT,
            "/api/models/alice/q/settings",
            Some(json!({ "private": true })),
        )
        .await;
    assert_eq!(made_private.status, 200, "{:?}", made_private.body);
    outsiders(q).await;
    assert_eq!(fetch(&hub.url, q, Some(&token)).await.2, "soon private");

    let db_url = hub.database_url.clone().expect("a test database");
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url)
        .await
        .unwrap();
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND user_id = (SELECT id FROM namespaces WHERE name = 'alice')")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(fetch(&hub.url, p, Some(&token)).await.0, 401);
}
