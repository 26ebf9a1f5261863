//! Repo create / rename / move / delete, and Hugging Face's visibility rule.

use serde_json::{Value, json};
use tests::TestHub;

#[tokio::test]
async fn create_info_rename_move_delete() {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let created = alice.create_repo("model", "alice", "tiny", false).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["url"], format!("{}/alice/tiny", hub.url));

    // A second create answers 409 and still carries the url (the client's exist_ok path).
    let again = alice.create_repo("model", "alice", "TINY", false).await;
    assert_eq!(again.status, 409);
    assert!(again.body["url"].as_str().unwrap().ends_with("/alice/TINY"));

    let info = alice.get("/api/models/alice/tiny?blobs=true").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["id"], "alice/tiny");
    let sha = info.body["sha"].as_str().unwrap();
    assert!(
        sha.len() == 40
            && sha
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(info.body["siblings"][0]["rfilename"], ".gitattributes");
    assert!(info.body["lastModified"].as_str().unwrap().ends_with('Z'));
    let id = info.body["_id"].as_str().unwrap().parse::<i64>().unwrap();
    let git_dir = hub.git_dir(id);
    assert!(git_dir.join("HEAD").exists());
    let attrs = tests::git_bare(&git_dir, &["show", "main:.gitattributes"]);
    for pattern in [
        "*.safetensors",
        "*.bin",
        "*.gguf",
        "*.parquet",
        "*tfevents*",
    ] {
        assert!(
            attrs.contains(&format!("{pattern} filter=lfs")),
            "{pattern} missing in {attrs}"
        );
    }
    assert_eq!(
        tests::git_bare(&git_dir, &["log", "--format=%s", "main"]).trim(),
        "initial commit"
    );

    // Datasets and spaces live beside models under the same name.
    assert_eq!(
        alice
            .create_repo("dataset", "alice", "tiny", false)
            .await
            .status,
        200
    );
    assert_eq!(alice.get("/api/datasets/alice/tiny").await.status, 200);

    // Rename: the old name keeps leading to the repo; the git dir does not move.
    let moved = alice
        .post(
            "/api/repos/move",
            json!({ "fromRepo": "alice/tiny", "toRepo": "alice/small", "type": "model" }),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(
        alice.get("/api/models/alice/small").await.body["_id"],
        id.to_string()
    );
    let old = alice.get("/api/models/alice/tiny").await;
    assert_eq!(old.status, 200);
    assert_eq!(old.body["id"], "alice/small");
    assert!(git_dir.exists());

    // Move into an organisation alice administers.
    let org = alice
        .post("/api/organizations/new", json!({ "name": "lab" }))
        .await;
    assert_eq!(org.status, 200, "{:?}", org.body);
    let moved = alice
        .post(
            "/api/repos/move",
            json!({ "fromRepo": "alice/small", "toRepo": "lab/small" }),
        )
        .await;
    assert_eq!(moved.status, 200);
    assert_eq!(
        alice.get("/api/models/lab/small").await.body["_id"],
        id.to_string()
    );

    // Bad names are refused with a clear 400.
    for bad in ["a--b", "x.git", "..", "with space", "中文"] {
        let r = alice.create_repo("model", "alice", bad, false).await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.body);
    }

    // Delete: row, git directory and all are gone; a new repo may take the name.
    let deleted = alice
        .send(
            reqwest::Method::DELETE,
            "/api/repos/delete",
            Some(json!({ "name": "small", "organization": "lab" })),
        )
        .await;
    assert_eq!(deleted.status, 200);
    assert!(!git_dir.exists());
    let gone = alice.get("/api/models/lab/small").await;
    assert_eq!(
        (gone.status, gone.error_code()),
        (404, Some("RepoNotFound"))
    );
    assert_eq!(
        alice.get("/api/models/alice/tiny").await.status,
        404,
        "redirects die with the repo"
    );
    assert_eq!(
        alice
            .create_repo("model", "lab", "small", false)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn private_repos_are_indistinguishable_from_missing_ones() {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    let anon = hub.api(None);
    assert_eq!(
        alice
            .create_repo("model", "alice", "secret", true)
            .await
            .status,
        200
    );

    // Anonymous: 401 for a private and for a missing repo alike.
    for path in ["/api/models/alice/secret", "/api/models/alice/nothing-here"] {
        let r = anon.get(path).await;
        assert_eq!(
            (r.status, r.error_code()),
            (401, Some("RepoNotFound")),
            "{path}"
        );
        assert_eq!(r.body["error"], "Repository not found");
    }
    // Signed in without access: 404, exactly as for a missing repo.
    let private = bob.get("/api/models/alice/secret").await;
    let missing = bob.get("/api/models/alice/nothing-here").await;
    assert_eq!(
        (private.status, private.error_code()),
        (404, Some("RepoNotFound"))
    );
    assert_eq!(
        (private.status, private.error_code(), &private.body),
        (missing.status, missing.error_code(), &missing.body)
    );
    // Nor can an outsider delete, rename or write it: still "not found".
    let del = bob
        .send(
            reqwest::Method::DELETE,
            "/api/repos/delete",
            Some(json!({ "name": "secret", "organization": "alice" })),
        )
        .await;
    assert_eq!(del.status, 404);
    let commit = bob
        .commit("alice/secret", "x", &[tests::file_op("a.txt", b"a")], None)
        .await;
    assert_eq!(commit.status, 404);
    // The owner sees it; the page is not found for outsiders either.
    assert_eq!(
        alice.get("/api/models/alice/secret").await.body["private"],
        true
    );
    let page = reqwest::get(format!("{}/alice/secret", hub.url))
        .await
        .unwrap();
    assert_eq!(page.status(), 404);

    // Making it public shows it to everyone; private again hides it.
    let put = alice
        .send(
            reqwest::Method::PUT,
            "/api/models/alice/secret/settings",
            Some(json!({ "visibility": "public" })),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(anon.get("/api/models/alice/secret").await.status, 200);
    assert_eq!(bob.get("/api/models/alice/secret").await.status, 200);
    let put = alice
        .send(
            reqwest::Method::PUT,
            "/api/models/alice/secret/settings",
            Some(json!({ "private": true })),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(anon.get("/api/models/alice/secret").await.status, 401);
    // Only an admin of the repo may change settings.
    let put = bob
        .send(
            reqwest::Method::PUT,
            "/api/models/alice/secret/settings",
            Some(json!({ "private": false })),
        )
        .await;
    assert_eq!(put.status, 404);
    // Features this hub lacks fail loudly.
    let gated = alice
        .send(
            reqwest::Method::PUT,
            "/api/models/alice/secret/settings",
            Some(json!({ "gated": "auto" })),
        )
        .await;
    assert_eq!(gated.status, 400);
}

#[tokio::test]
async fn a_repo_changed_behind_this_nodes_back_is_seen_at_once() {
    // Nodes keep the repo rows their lookups found; a change made anywhere
    // else (another node, the CLI, an admin's SQL) reaches them by NOTIFY at
    // commit, long before a kept row would expire (2 s).
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let alice = hub.api(Some(&token));
    alice.create_repo("model", "alice", "m", false).await;
    let ops = [tests::file_op("config.json", b"{}")];
    assert_eq!(
        alice.commit("alice/m", "config", &ops, None).await.status,
        200
    );
    let anon = reqwest::Client::new();
    let resolve = format!("{}/alice/m/resolve/main/config.json", hub.url);
    for _ in 0..3 {
        assert_eq!(anon.get(&resolve).send().await.unwrap().status(), 200);
    }
    let db = sqlx::PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let set_private = |private: bool| {
        sqlx::query("UPDATE repos SET private = $1 WHERE name = 'm'")
            .bind(private)
            .execute(&db)
    };
    for (private, expected) in [(true, 401), (false, 200)] {
        set_private(private).await.unwrap();
        let changed = std::time::Instant::now();
        loop {
            let status = anon.get(&resolve).send().await.unwrap().status();
            if status == expected {
                break;
            }
            assert!(
                changed.elapsed() < std::time::Duration::from_millis(500),
                "still {status} {:?} after the change",
                changed.elapsed()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        println!("private = {private}: seen after {:?}", changed.elapsed());
    }
}

#[tokio::test]
async fn likes_are_counted_once_per_user() {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    alice.create_repo("model", "alice", "m", false).await;
    assert_eq!(
        bob.post("/api/models/alice/m/like", json!({})).await.body["likes"],
        1
    );
    assert_eq!(
        bob.post("/api/models/alice/m/like", json!({})).await.body["likes"],
        1
    );
    assert_eq!(
        alice.post("/api/models/alice/m/like", json!({})).await.body["likes"],
        2
    );
    assert_eq!(
        bob.send(reqwest::Method::DELETE, "/api/models/alice/m/like", None)
            .await
            .body["likes"],
        1
    );
    assert_eq!(
        hub.api(None).get("/api/models/alice/m").await.body["likes"],
        1
    );
    assert_eq!(
        hub.api(None)
            .post("/api/models/alice/m/like", json!({}))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_users_likes_are_listed_without_repos_the_caller_cannot_read() {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    alice.create_repo("model", "alice", "m", false).await;
    alice.create_repo("dataset", "alice", "d", false).await;
    alice.create_repo("model", "alice", "secret", true).await;
    for url in ["/api/models/alice/m/like", "/api/datasets/alice/d/like"] {
        assert_eq!(bob.post(url, json!({})).await.status, 200);
    }
    assert_eq!(
        alice
            .post("/api/models/alice/secret/like", json!({}))
            .await
            .status,
        200
    );

    // Newest like first, in Hugging Face's shape.
    let likes = hub.api(None).get("/api/users/bob/likes").await;
    assert_eq!(likes.status, 200, "{}", likes.body);
    let entries = likes.body.as_array().unwrap();
    let repos: Vec<&Value> = entries.iter().map(|e| &e["repo"]).collect();
    assert_eq!(
        repos,
        [
            &json!({ "name": "alice/d", "type": "dataset" }),
            &json!({ "name": "alice/m", "type": "model" }),
        ]
    );
    assert!(entries[0]["createdAt"].as_str().unwrap().ends_with('Z'));

    // A private repo's like shows only to those who may read the repo.
    let own = alice.get("/api/users/alice/likes").await;
    assert_eq!(own.body[0]["repo"]["name"], "alice/secret");
    for caller in [&bob, &hub.api(None)] {
        assert_eq!(caller.get("/api/users/alice/likes").await.body, json!([]));
    }
    assert_eq!(
        hub.api(None).get("/api/users/nobody/likes").await.status,
        404
    );
}
