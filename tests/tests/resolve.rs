//! Downloading files through `/resolve`, as `huggingface_hub` does.

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
    assert_eq!(api.get("/api/models/alice/m").await.body["downloads"], 1);

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
    let downloads = || async {
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
    assert_eq!(downloads().await, 1);
    // Another address is another client.
    fetch(tests::client_at("127.0.0.3").build().unwrap(), ms, None).await;
    assert_eq!(downloads().await, 2);
    // A signed-in user is one client wherever they are, apart from the address.
    fetch(first.clone(), hf, Some(token.clone())).await;
    fetch(
        tests::client_at("127.0.0.4").build().unwrap(),
        ms,
        Some(token.clone()),
    )
    .await;
    assert_eq!(downloads().await, 3);
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
