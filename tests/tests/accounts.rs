//! Accounts, tokens and organisations.

use serde_json::json;
use tests::TestHub;

#[tokio::test]
async fn token_roles_and_revocation() {
    let hub = TestHub::start().await;
    let write = hub.user_with_token("alice");
    let read = hub.token("alice", false);
    assert!(
        write.starts_with("ky_") && !write.contains('\n'),
        "CLI prints only the token: {write:?}"
    );

    let who = hub.api(Some(&read)).get("/api/whoami-v2").await;
    assert_eq!(who.status, 200);
    assert_eq!(who.body["name"], "alice");
    assert_eq!(who.body["auth"]["accessToken"]["role"], "read");
    assert_eq!(
        hub.api(Some(&write)).get("/api/whoami-v2").await.body["auth"]["accessToken"]["role"],
        "write"
    );

    // A read token cannot create or write.
    let r = hub
        .api(Some(&read))
        .create_repo("model", "alice", "m", false)
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(
        hub.api(Some(&write))
            .create_repo("model", "alice", "m", false)
            .await
            .status,
        200
    );
    let c = hub
        .api(Some(&read))
        .commit("alice/m", "x", &[tests::file_op("a.txt", b"a")], None)
        .await;
    assert_eq!(c.status, 403);
    // ... but it reads private repos of its user.
    hub.api(Some(&write))
        .create_repo("model", "alice", "p", true)
        .await;
    assert_eq!(
        hub.api(Some(&read)).get("/api/models/alice/p").await.status,
        200
    );

    // Bad tokens: 401 with HF's message header, not a silent anonymous fallback.
    let bad = hub
        .api(Some("ky_not-a-real-token"))
        .get("/api/models/alice/m")
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.headers["x-error-message"],
        "Invalid credentials in Authorization header"
    );
    assert_eq!(hub.api(None).get("/api/whoami-v2").await.status, 401);

    // Tokens are stored hashed: the secret appears nowhere in the database dump of the table.
    let db_url = hub.database_url.clone().unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db_url)
        .await
        .unwrap();
    let rows: Vec<(Vec<u8>, String)> = sqlx::query_as("SELECT token_hash, prefix FROM api_tokens")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for (hash, prefix) in &rows {
        assert_eq!(hash.len(), 32);
        assert!(prefix.len() < 10);
    }
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    // Last use is recorded.
    let used: i64 =
        sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE last_used_at IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(used, 2);

    // Git clients send the token as the Basic password, with any user name.
    let basic = reqwest::Client::new()
        .get(format!("{}/api/whoami-v2", hub.url))
        .basic_auth("anything", Some(&write))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);

    // Revoked tokens stop working at once.
    let id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens WHERE role = 'read'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(hub.api(Some(&read)).get("/api/whoami-v2").await.status, 401);
}

/// `hub user create --fullname` stores the name whoami answers as `fullname`
/// (huggingface_hub's suite checks it); without it the name is empty.
#[tokio::test]
async fn user_create_takes_a_full_name() {
    let hub = TestHub::start().await;
    let create = |name: &str, extra: &[&str]| {
        let email = format!("{name}@example.com");
        let mut args = vec![
            "user",
            "create",
            "--username",
            name,
            "--email",
            &email,
            "--password",
            "password-123",
        ];
        args.extend_from_slice(extra);
        hub.cli(&args)
    };
    let made = create("alice", &["--fullname", "  Alice Liddell 爱丽丝 "]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let who = hub
        .api(Some(&hub.token("alice", false)))
        .get("/api/whoami-v2")
        .await;
    assert_eq!(who.body["fullname"], "Alice Liddell 爱丽丝");
    let plain = create("bob", &[]);
    assert!(plain.status.success());
    let who = hub
        .api(Some(&hub.token("bob", false)))
        .get("/api/whoami-v2")
        .await;
    assert_eq!(who.body["fullname"], "");
    // The profile's rule applies: no control characters, at most 100 characters.
    let long = "x".repeat(101);
    for bad in ["tab\there", long.as_str()] {
        let refused = create("carol", &["--fullname", bad]);
        assert!(!refused.status.success(), "{bad:?} accepted");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("full name"));
    }
    let no_carol = create("carol", &[]);
    assert!(no_carol.status.success(), "nothing was half-made");
}

#[tokio::test]
async fn names_are_unique_across_users_and_orgs_and_reserved_words_are_refused() {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let dup = hub.cli(&[
        "user",
        "create",
        "--username",
        "ALICE",
        "--email",
        "other@example.com",
        "--password",
        "password-123",
    ]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already taken"));
    for reserved in [
        "api",
        "models",
        "datasets",
        "spaces",
        "settings",
        "new",
        "login",
        "v1",
        "cas",
        "openapi",
        "healthz",
        "static",
        "docs",
        "organizations",
    ] {
        let out = hub.cli(&[
            "user",
            "create",
            "--username",
            reserved,
            "--email",
            &format!("{reserved}@x.io"),
            "--password",
            "password-123",
        ]);
        assert!(!out.status.success(), "{reserved} accepted");
        let org = alice
            .post("/api/organizations/new", json!({ "name": reserved }))
            .await;
        assert_eq!(org.status, 400, "{reserved}");
    }
    assert_eq!(
        alice
            .post("/api/organizations/new", json!({ "name": "Alice" }))
            .await
            .status,
        409
    );
    let short = hub.cli(&[
        "user",
        "create",
        "--username",
        "carol",
        "--email",
        "c@x.io",
        "--password",
        "short",
    ]);
    assert!(!short.status.success());
}

#[tokio::test]
async fn organisation_roles() {
    let hub = TestHub::start().await;
    let admin = hub.api(Some(&hub.user_with_token("boss")));
    let writer = hub.api(Some(&hub.user_with_token("writer")));
    let reader = hub.api(Some(&hub.user_with_token("reader")));
    let outsider = hub.api(Some(&hub.user_with_token("outsider")));
    assert_eq!(
        admin
            .post(
                "/api/organizations/new",
                json!({ "name": "lab", "fullname": "实验室" })
            )
            .await
            .status,
        200
    );
    for (user, role) in [("writer", "write"), ("reader", "read")] {
        let r = admin
            .send(
                reqwest::Method::PUT,
                &format!("/api/organizations/lab/members/{user}"),
                Some(json!({ "role": role })),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    // Writers create and commit in the org; readers only read.
    assert_eq!(
        writer.create_repo("model", "lab", "m", true).await.status,
        200
    );
    assert_eq!(
        reader.create_repo("model", "lab", "r", false).await.status,
        403
    );
    assert_eq!(
        writer
            .commit("lab/m", "add", &[tests::file_op("a.txt", b"a")], None)
            .await
            .status,
        200
    );
    assert_eq!(reader.get("/api/models/lab/m").await.status, 200);
    assert_eq!(
        reader
            .commit("lab/m", "add", &[tests::file_op("b.txt", b"b")], None)
            .await
            .status,
        403
    );
    assert_eq!(outsider.get("/api/models/lab/m").await.status, 404);
    // Only admins manage members or delete repos; writers cannot.
    let r = writer
        .send(
            reqwest::Method::PUT,
            "/api/organizations/lab/members/outsider",
            Some(json!({ "role": "read" })),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = writer
        .send(
            reqwest::Method::DELETE,
            "/api/repos/delete",
            Some(json!({ "name": "m", "organization": "lab" })),
        )
        .await;
    assert_eq!(r.status, 403);
    // whoami lists the orgs.
    assert_eq!(
        reader.get("/api/whoami-v2").await.body["orgs"][0]["name"],
        "lab"
    );
    // Members are visible to members only.
    assert_eq!(
        reader
            .get("/api/organizations/lab/members")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        outsider.get("/api/organizations/lab/members").await.status,
        404
    );
    // Removing a member takes their access away; the last admin cannot leave.
    let r = admin
        .send(
            reqwest::Method::DELETE,
            "/api/organizations/lab/members/reader",
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(reader.get("/api/models/lab/m").await.status, 404);
    let r = admin
        .send(
            reqwest::Method::DELETE,
            "/api/organizations/lab/members/boss",
            None,
        )
        .await;
    assert_eq!(r.status, 409);
    let r = admin
        .send(
            reqwest::Method::PUT,
            "/api/organizations/lab/members/boss",
            Some(json!({ "role": "write" })),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = admin
        .send(
            reqwest::Method::PUT,
            "/api/organizations/lab/members/outsider",
            Some(json!({ "role": "owner" })),
        )
        .await;
    assert_eq!(r.status, 400);
}
