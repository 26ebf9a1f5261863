//! The one commit path: concurrency, expected parents, hostile paths, cards.

use serde_json::json;
use tests::{TestHub, delete_op, file_op, git_bare as git};

#[tokio::test]
async fn twenty_concurrent_commits_all_land_in_a_linear_history() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let api = hub.api(Some(&token));
            tokio::spawn(async move {
                api.commit(
                    "alice/m",
                    &format!("commit {i}"),
                    &[file_op(&format!("f{i}.txt"), format!("{i}").as_bytes())],
                    None,
                )
                .await
            })
        })
        .collect();
    let mut shas = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(
            r.body["commitUrl"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/alice/m/commit/", hub.url))
        );
        shas.insert(r.body["commitOid"].as_str().unwrap().to_owned());
    }
    assert_eq!(shas.len(), 20);
    let info = api.get("/api/models/alice/m").await;
    let dir = hub.git_dir(info.body["_id"].as_str().unwrap().parse().unwrap());
    assert_eq!(git(&dir, &["rev-list", "--count", "main"]).trim(), "21");
    assert_eq!(
        git(&dir, &["rev-list", "--min-parents=2", "--count", "main"]).trim(),
        "0",
        "history is linear"
    );
    for sha in &shas {
        git(&dir, &["merge-base", "--is-ancestor", sha, "main"]);
    }
    let files = git(&dir, &["ls-tree", "--name-only", "main"]);
    assert_eq!(files.lines().filter(|l| l.starts_with('f')).count(), 20);
    assert_eq!(
        info.body["sha"].as_str().unwrap(),
        git(&dir, &["rev-parse", "main"]).trim()
    );
    let commits = api.get("/api/models/alice/m/commits/main").await;
    assert_eq!(commits.body.as_array().unwrap().len(), 21);
    assert_eq!(
        commits.body.as_array().unwrap().last().unwrap()["title"],
        "initial commit"
    );
}

#[tokio::test]
async fn stale_parent_is_refused_and_fresh_parent_accepted() {
    let hub = TestHub::start().await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    api.create_repo("model", "alice", "m", false).await;
    let first = api.get("/api/models/alice/m").await.body["sha"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = api
        .commit("alice/m", "one", &[file_op("a.txt", b"1")], Some(&first))
        .await;
    assert_eq!(ok.status, 200);
    let stale = api
        .commit("alice/m", "two", &[file_op("a.txt", b"2")], Some(&first))
        .await;
    assert_eq!(stale.status, 412, "{:?}", stale.body);
    let head = ok.body["commitOid"].as_str().unwrap();
    assert_eq!(
        api.get("/api/models/alice/m").await.body["sha"],
        head,
        "nothing written"
    );
    // A prefix of the head is accepted, as by Hugging Face.
    let prefixed = api
        .commit(
            "alice/m",
            "three",
            &[file_op("a.txt", b"3")],
            Some(&head[..7]),
        )
        .await;
    assert_eq!(prefixed.status, 200);
    // Deleting a missing file is EntryNotFound; deleting a present one works.
    let missing = api
        .commit("alice/m", "rm", &[delete_op("nope.txt")], None)
        .await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (404, Some("EntryNotFound"))
    );
    assert_eq!(
        api.commit("alice/m", "rm", &[delete_op("a.txt")], None)
            .await
            .status,
        200
    );
    // Committing to a branch that does not exist.
    let r = api
        .client
        .post(format!("{}/api/models/alice/m/commit/nobranch", hub.url))
        .bearer_auth(api.token.as_ref().unwrap())
        .body(
            json!({ "key": "header", "value": { "summary": "x" } }).to_string()
                + "\n"
                + &file_op("x", b"x").to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["x-error-code"], "RevisionNotFound");
}

#[tokio::test]
async fn hostile_paths_and_payloads_are_refused_and_write_nothing() {
    let hub = TestHub::start().await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    api.create_repo("model", "alice", "m", false).await;
    api.commit("alice/m", "seed", &[file_op("dir/file.txt", b"x")], None)
        .await;
    let before = api.get("/api/models/alice/m").await.body["sha"].clone();
    let long = "a/".repeat(600) + "x";
    // A path the commit API refuses is a 422, as on Hugging Face (its client
    // expects it); a path that clashes with the tree is a plain 400.
    let hostile: Vec<(String, &str, u16)> = vec![
        ("../escape.txt".into(), "'..'", 422),
        ("a/../../escape".into(), "'..'", 422),
        ("/etc/passwd".into(), "absolute", 422),
        (".git/config".into(), ".git", 422),
        ("sub/.GIT/hooks/pre-receive".into(), ".git", 422),
        ("a\u{0}b".into(), "control", 422),
        ("line\nbreak".into(), "control", 422),
        ("back\\slash".into(), "backslash", 422),
        ("".into(), "empty", 422),
        (long, "longer than", 422),
        ("dir/file.txt/inside".into(), "is a file", 400),
        ("dir".into(), "folder", 400),
    ];
    for (path, needle, status) in &hostile {
        let r = api
            .commit("alice/m", "evil", &[file_op(path, b"x")], None)
            .await;
        assert_eq!(r.status, *status, "{path:?}: {:?}", r.body);
        assert!(
            r.body["error"].as_str().unwrap().contains(needle),
            "{path:?}: {:?}",
            r.body
        );
    }
    // Malformed payloads.
    let send = |body: String| {
        let api = &api;
        async move {
            api.client
                .post(format!("{}/api/models/alice/m/commit/main", api.base))
                .bearer_auth(api.token.as_ref().unwrap())
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let header = json!({ "key": "header", "value": { "summary": "x" } }).to_string();
    for body in [
        "{not json".to_owned(),
        format!("{header}\n{{\"key\":\"file\",\"value\":{{\"path\":\"a\",\"content\":\"!!\"}}}}"),
        format!("{header}\n{{\"key\":\"teleport\",\"value\":{{}}}}"),
        file_op("no-header.txt", b"x").to_string(),
        format!("{header}\n{header}\n{}", file_op("b", b"b")),
        header.clone(),
        format!(
            "{header}\n{}\n{}",
            file_op("same", b"1"),
            file_op("same", b"2")
        ),
        format!(
            "{header}\n{{\"key\":\"lfsFile\",\"value\":{{\"path\":\"w.bin\",\"algo\":\"sha256\",\"oid\":\"{}\",\"size\":5}}}}",
            "ab".repeat(32)
        ),
    ] {
        let r = send(body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
    }
    // A plain file above 10 MB must go through LFS.
    let big = vec![b'a'; 10 * 1024 * 1024 + 1];
    let r = api
        .commit("alice/m", "big", &[file_op("big.txt", &big)], None)
        .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert_eq!(
        api.get("/api/models/alice/m").await.body["sha"],
        before,
        "nothing was written"
    );
}

#[tokio::test]
async fn card_metadata_is_parsed_after_each_commit_and_bad_yaml_never_blocks() {
    let hub = TestHub::start().await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    api.create_repo("model", "alice", "qwen-mini", false).await;
    let card = "---\nlicense: apache-2.0\nlanguage:\n- zh\n- en\ntags:\n- 文本生成\npipeline_tag: text-generation\nlibrary_name: transformers\nbase_model: Qwen/Qwen2.5-0.5B\ndatasets: [a/b]\n---\n# 千问迷你\n\n一个测试模型。\n";
    assert_eq!(
        api.commit(
            "alice/qwen-mini",
            "card",
            &[file_op("README.md", card.as_bytes())],
            None
        )
        .await
        .status,
        200
    );
    let info = api.get("/api/models/alice/qwen-mini").await.body;
    assert_eq!(info["cardData"]["license"], "apache-2.0");
    assert_eq!(info["pipeline_tag"], "text-generation");
    assert_eq!(info["library_name"], "transformers");
    let tags: Vec<&str> = info["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"文本生成") && tags.contains(&"zh") && tags.contains(&"license:apache-2.0"),
        "{tags:?}"
    );
    let page = reqwest::get(format!("{}/alice/qwen-mini", hub.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("千问迷你") && page.contains("apache-2.0"));
    assert!(
        !page.contains("pipeline_tag: text-generation"),
        "front matter is shown as chips, not text"
    );

    // Malformed front matter: the commit lands, the error is recorded and shown.
    let bad = "---\nlicense: [unclosed\n\ttabs: bad\n---\n# Still a card\n";
    let r = api
        .commit(
            "alice/qwen-mini",
            "bad card",
            &[file_op("README.md", bad.as_bytes())],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let info = api.get("/api/models/alice/qwen-mini").await.body;
    assert_eq!(info["sha"], r.body["commitOid"]);
    assert!(info["cardData"].is_null());
    assert!(info["pipeline_tag"].is_null());
    let page = reqwest::Client::new()
        .get(format!("{}/alice/qwen-mini", hub.url))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("The card&#39;s metadata has an error")
            || page.contains("The card's metadata has an error"),
        "{page}"
    );
    assert!(page.contains("Still a card"));
}

/// A hub with alice's public `alice/m` holding one file; her API client.
async fn seeded() -> (TestHub, tests::Api) {
    let hub = TestHub::start().await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    api.create_repo("model", "alice", "m", false).await;
    let seed = api
        .commit("alice/m", "seed", &[file_op("dir/file.txt", b"x")], None)
        .await;
    assert_eq!(seed.status, 200);
    (hub, api)
}

async fn head(api: &tests::Api) -> serde_json::Value {
    api.get("/api/models/alice/m").await.body["sha"].clone()
}

/// The repo passes git's strictest checks: `git fsck --strict` on the hub,
/// and a clone that checks every object (`transfer.fsckObjects`).
async fn assert_fsck_clean(hub: &TestHub, api: &tests::Api) {
    let info = api.get("/api/models/alice/m").await;
    let dir = hub.git_dir(info.body["_id"].as_str().unwrap().parse().unwrap());
    git(&dir, &["fsck", "--strict"]);
    let work = tempfile::tempdir().unwrap();
    let clone = std::process::Command::new("git")
        .args(["-c", "transfer.fsckObjects=true", "clone"])
        .arg(format!("{}/alice/m.git", hub.url))
        .arg(work.path().join("m"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", work.path())
        .output()
        .unwrap();
    assert!(
        clone.status.success(),
        "{}",
        String::from_utf8_lossy(&clone.stderr)
    );
}

#[tokio::test]
async fn names_that_filesystems_read_as_dot_git_are_refused() {
    let (hub, api) = seeded().await;
    let before = head(&api).await;
    for path in [
        ".git\u{200c}/config",
        "\u{feff}.git/config",
        "GIT~1/config",
        "sub/git~1/x",
        ".git /x",
        ".git./x",
        ".git::$INDEX_ALLOCATION/x",
    ] {
        let r = api
            .commit("alice/m", "alias", &[file_op(path, b"[core]\n")], None)
            .await;
        assert_eq!(r.status, 422, "{path:?}: {:?}", r.body);
        assert!(
            r.body["error"].as_str().unwrap().contains(".git"),
            "{path:?}: {:?}",
            r.body
        );
    }
    assert_eq!(head(&api).await, before, "nothing was written");
    // Names that only look alike are fine.
    let fine = api
        .commit(
            "alice/m",
            "lookalikes",
            &[file_op(".github/ci.yml", b"x"), file_op("git~2/x", b"x")],
            None,
        )
        .await;
    assert_eq!(fine.status, 200, "{:?}", fine.body);
    assert_fsck_clean(&hub, &api).await;
}

#[tokio::test]
async fn a_file_and_a_folder_of_one_name_in_one_commit_is_400() {
    let (_hub, api) = seeded().await;
    let before = head(&api).await;
    for ops in [
        vec![file_op("x", b"file"), file_op("x/y", b"in a folder")],
        vec![file_op("a/b/c", b"deep"), file_op("a/b", b"file")],
        vec![
            file_op("dir/file.txt/x", b"x"),
            file_op("dir/file.txt", b"x"),
        ],
    ] {
        let r = api.commit("alice/m", "clash", &ops, None).await;
        assert_eq!(r.status, 400, "{ops:?}: {:?}", r.body);
        assert!(
            r.body["error"]
                .as_str()
                .unwrap()
                .contains("file and a folder"),
            "{:?}",
            r.body
        );
    }
    assert_eq!(head(&api).await, before);
    // Replacing a folder's content in one commit is no clash.
    let replaced = api
        .commit(
            "alice/m",
            "replace",
            &[
                json!({ "key": "deletedFolder", "value": { "path": "dir" } }),
                file_op("dir/new.txt", b"x"),
            ],
            None,
        )
        .await;
    assert_eq!(replaced.status, 200, "{:?}", replaced.body);
}

#[tokio::test]
async fn a_nul_in_the_commit_message_is_400() {
    let (_hub, api) = seeded().await;
    let before = head(&api).await;
    let r = api
        .commit("alice/m", "sum\u{0}mary", &[file_op("a.txt", b"a")], None)
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.body["error"].as_str().unwrap().contains("NUL"),
        "{:?}",
        r.body
    );
    assert_eq!(head(&api).await, before);
}

#[tokio::test]
async fn commit_messages_over_64_kib_are_413() {
    let (_hub, api) = seeded().await;
    let before = head(&api).await;
    // A 15 MB summary, as in the issue, and a long description.
    let huge = "s".repeat(15 * 1024 * 1024);
    let r = api
        .commit("alice/m", &huge, &[file_op("a.txt", b"a")], None)
        .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    assert!(r.body["error"].as_str().unwrap().contains("64 KiB"));
    let header = json!({ "key": "header", "value": {
        "summary": "short", "description": "d".repeat(64 * 1024) } });
    let body = format!("{header}\n{}", file_op("a.txt", b"a"));
    let r = api
        .client
        .post(format!("{}/api/models/alice/m/commit/main", api.base))
        .bearer_auth(api.token.as_ref().unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(head(&api).await, before);
    // At the cap, a commit lands.
    let at_cap = "s".repeat(64 * 1024);
    let r = api
        .commit("alice/m", &at_cap, &[file_op("a.txt", b"a")], None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
