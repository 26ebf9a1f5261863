//! The ModelScope-shaped download API (`/api/v1/models/...`), as the
//! `modelscope` SDK reads it: envelopes, revisions with `master`, listings
//! with real sizes and sha256, the file endpoint with HEAD and ranges, and
//! the error envelope.

use serde_json::json;
use sha2::{Digest, Sha256};
use tests::{TestHub, file_op};

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[tokio::test]
async fn modelscope_download_api_shapes() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let anon = hub.api(None);
    api.create_repo("model", "alice", "tiny", false).await;
    let config = br#"{"model_type": "tiny"}"#;
    let notes = "说明\n".as_bytes();
    api.commit(
        "alice/tiny",
        "add",
        &[
            file_op("config.json", config),
            file_op("sub/dir/notes.txt", notes),
        ],
        None,
    )
    .await;
    let tag = api
        .post("/api/models/alice/tiny/tag/main", json!({"tag": "v1.0"}))
        .await;
    assert_eq!(tag.status, 200, "{:?}", tag.body);

    // Repo info in the envelope, Code an integer.
    let info = anon.get("/api/v1/models/alice/tiny").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["Code"], 200);
    assert_eq!(info.body["Success"], true);
    assert_eq!(info.body["Message"], "success");
    assert!(info.body["RequestId"].is_string());
    assert!(info.body["Data"]["Id"].is_i64());
    assert_eq!(info.body["Data"]["Path"], "alice");
    assert_eq!(info.body["Data"]["Name"], "tiny");
    assert_eq!(info.body["Data"]["Visibility"], 5);

    // Revisions: master stands for main; tags with integer CreatedAt.
    let revs = anon.get("/api/v1/models/alice/tiny/revisions").await;
    assert_eq!(revs.status, 200);
    let map = &revs.body["Data"]["RevisionMap"];
    let branches: Vec<&str> = map["Branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["Revision"].as_str().unwrap())
        .collect();
    assert!(
        branches.contains(&"master") && branches.contains(&"main"),
        "{branches:?}"
    );
    assert_eq!(map["Tags"][0]["Revision"], "v1.0");
    assert!(map["Tags"][0]["CreatedAt"].is_i64());

    // Listing: full paths, trees, sizes and sha256; Root scopes it.
    let all = anon
        .get("/api/v1/models/alice/tiny/repo/files?Revision=master&Recursive=True")
        .await;
    assert_eq!(all.status, 200);
    let files = all.body["Data"]["Files"].as_array().unwrap();
    let cfg = files.iter().find(|f| f["Path"] == "config.json").unwrap();
    assert_eq!(cfg["Name"], "config.json");
    assert_eq!(cfg["Type"], "blob");
    assert_eq!(cfg["Size"], config.len());
    assert_eq!(cfg["Sha256"], sha256(config));
    assert_eq!(cfg["IsLFS"], false);
    assert_eq!(cfg["Revision"].as_str().unwrap().len(), 40);
    assert!(
        files
            .iter()
            .any(|f| f["Path"] == "sub/dir" && f["Type"] == "tree")
    );
    let sub = anon
        .get("/api/v1/models/alice/tiny/repo/files?Revision=v1.0&Recursive=True&Root=sub")
        .await;
    let paths: Vec<&str> = sub.body["Data"]["Files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["sub/dir", "sub/dir/notes.txt"]);
    let shallow = anon
        .get("/api/v1/models/alice/tiny/repo/files?Revision=main&Recursive=False")
        .await;
    assert!(
        shallow.body["Data"]["Files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["Path"].as_str().unwrap().contains('/'))
    );

    // Plain blobs are hashed once: the listing stored config.json's sha256
    // (by blob id) and reads it from there afterwards.
    let db = <sqlx::PgConnection as sqlx::Connection>::connect(hub.database_url.as_ref().unwrap());
    let mut db = db.await.unwrap();
    let blob = cfg["Id"].as_str().unwrap().to_owned();
    let stored: String = sqlx::query_scalar("SELECT sha256 FROM blob_sha256 WHERE oid = $1")
        .bind(&blob)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(stored, sha256(config));
    sqlx::query("UPDATE blob_sha256 SET sha256 = 'cached' WHERE oid = $1")
        .bind(&blob)
        .execute(&mut db)
        .await
        .unwrap();
    let again = anon
        .get("/api/v1/models/alice/tiny/repo/files?Revision=master&Recursive=True")
        .await;
    let cached = again.body["Data"]["Files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Path"] == "config.json")
        .unwrap()["Sha256"]
        .clone();
    assert_eq!(cached, "cached");
    sqlx::query("UPDATE blob_sha256 SET sha256 = $2 WHERE oid = $1")
        .bind(&blob)
        .bind(sha256(config))
        .execute(&mut db)
        .await
        .unwrap();

    // The file endpoint: bytes, HEAD, Range, no compression.
    let client = reqwest::Client::builder().build().unwrap();
    let url = format!(
        "{}/api/v1/models/alice/tiny/repo?Revision=master&FilePath=sub%2Fdir%2Fnotes.txt",
        hub.url
    );
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        notes.len().to_string().as_str()
    );
    assert_eq!(
        head.headers()["x-linked-etag"],
        format!("\"{}\"", sha256(notes)).as_str()
    );
    let got = client
        .get(&url)
        .header("accept-encoding", "gzip, deflate")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.headers().get("content-encoding").is_none());
    assert_eq!(&got.bytes().await.unwrap()[..], notes);
    let part = client
        .get(&url)
        .header("range", "bytes=1-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 1-{}/{}", notes.len() - 1, notes.len()).as_str()
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &notes[1..]);

    // Errors: the envelope with Success false and the HTTP status.
    let missing = anon
        .get("/api/v1/models/alice/tiny/repo?Revision=master&FilePath=nope.txt")
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["Success"], false);
    assert_eq!(missing.body["Code"], 404);
    assert!(missing.body["Message"].is_string());
    let bad_rev = anon
        .get("/api/v1/models/alice/tiny/repo/files?Revision=nope")
        .await;
    assert_eq!(bad_rev.status, 404);
    assert_eq!(anon.get("/api/v1/models/alice/none").await.status, 401);
    assert_eq!(api.get("/api/v1/models/alice/none").await.status, 404);
    let probe = anon.get("/api/v1/repos/internalAccelerationInfo").await;
    assert_eq!(probe.status, 404);

    // Private repos follow the hub's rule: invisible without a token.
    api.create_repo("model", "alice", "secret", true).await;
    let hidden = anon.get("/api/v1/models/alice/secret/revisions").await;
    assert_eq!(hidden.status, 401);
    assert_eq!(hidden.body["Success"], false);
    let seen = api.get("/api/v1/models/alice/secret/revisions").await;
    assert_eq!(seen.status, 200);
    assert_eq!(
        seen.body["Data"]["RevisionMap"]["Branches"][0]["Revision"],
        "master"
    );
}

/// A GET with only the `m_session_id` cookie as credential, as 1.37 sends it.
async fn get_with_cookie(hub: &TestHub, path: &str, cookie: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", hub.url))
        .header("cookie", format!("m_session_id={cookie}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn modelscope_login_and_credentials() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let anon = hub.api(None);
    api.create_repo("model", "alice", "secret", true).await;

    // Login with a good token: the user, the token as git token, and the
    // host-only HttpOnly cookie the SDK saves.
    let login = anon
        .post("/api/v1/login", json!({"AccessToken": token}))
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["Code"], 200);
    assert_eq!(login.body["Success"], true);
    assert_eq!(login.body["Data"]["AccessToken"], token.as_str());
    assert_eq!(login.body["Data"]["Username"], "alice");
    let cookie = login.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("m_session_id={token};")),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");

    // A bad token: 401 with the business code for "AccessToken invalid".
    let bad = anon
        .post("/api/v1/login", json!({"AccessToken": "ky_nope"}))
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["Code"], 10010103009_i64);
    assert_eq!(bad.body["Success"], false);
    assert!(bad.body["Message"].is_string());

    // users/me validates the token, by Bearer or by cookie.
    let me = api.get("/openapi/v1/users/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["success"], true);
    assert_eq!(me.body["data"]["username"], "alice");
    let (status, body) = get_with_cookie(&hub, "/openapi/v1/users/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["username"], "alice");
    assert_eq!(anon.get("/openapi/v1/users/me").await.status, 401);
    let wrong = hub.api(Some("ky_nope")).get("/openapi/v1/users/me").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["success"], false);
    let (status, _) = get_with_cookie(&hub, "/openapi/v1/users/me", "ky_nope").await;
    assert_eq!(status, 401);

    // The cookie alone reaches a private repo; a bad one is refused in the envelope.
    let (status, body) = get_with_cookie(&hub, "/api/v1/models/alice/secret", &token).await;
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body["Data"]["Visibility"], 1);
    let (status, body) = get_with_cookie(&hub, "/api/v1/models/alice/secret", "ky_nope").await;
    assert_eq!(status, 401);
    assert_eq!(body["Success"], false);
}

#[tokio::test]
async fn modelscope_upload_api_shapes() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let anon = hub.api(None);

    // create_model: the envelope; again → 400 with the "already exists" code.
    let body = json!({"Path": "alice", "Name": "up", "Visibility": 5, "License": "Apache-2.0"});
    let created = api.post("/api/v1/models", body.clone()).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["Code"], 200);
    let again = api.post("/api/v1/models", body.clone()).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["Code"], 10010101001_i64);
    assert_eq!(again.body["Success"], false);
    assert_eq!(anon.post("/api/v1/models", body).await.status, 401);

    // Batch: objects to send get actions.upload.href, a link on this hub.
    let blob = vec![7u8; 100_000];
    let oid = sha256(&blob);
    let batch = api
        .post(
            "/api/v1/repos/models/alice/up/info/lfs/objects/batch",
            json!({"operation": "upload", "objects": [{"oid": oid, "size": blob.len()}]}),
        )
        .await;
    assert_eq!(batch.status, 200, "{:?}", batch.body);
    assert_eq!(batch.body["Code"], 200);
    let object = &batch.body["Data"]["objects"][0];
    assert_eq!(object["oid"], oid.as_str());
    let href = object["actions"]["upload"]["href"].as_str().unwrap();
    assert!(href.starts_with(&hub.url), "{href}");
    assert!(
        href.contains("/api/v1/repos/models/alice/up/info/lfs/objects/"),
        "{href}"
    );
    // The PUT checks the bytes against the signed sha256 and size, and
    // answers the JSON envelope that 1.37 reads.
    let wrong = reqwest::Client::new()
        .put(href)
        .body(vec![8u8; 100_000])
        .send()
        .await
        .unwrap();
    assert!(wrong.status().is_client_error(), "{}", wrong.status());
    let wrong: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(wrong["Success"], false);
    let tampered = reqwest::Client::new()
        .put(href.replace("sig=", "sig=0"))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 403);
    let malformed = reqwest::Client::new()
        .put(href.replace("size=", "size=x"))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let malformed: serde_json::Value = malformed.json().await.unwrap();
    assert_eq!(malformed["Success"], false);
    let put = reqwest::Client::new()
        .put(href)
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let put: serde_json::Value = put.json().await.unwrap();
    assert_eq!(put["Code"], 200);
    assert_eq!(put["Message"], "success");

    // Commit to master (the default branch): inline and LFS files.
    use base64::Engine;
    let readme = b"# up\n";
    let commit = api
        .post(
            "/api/v1/repos/models/alice/up/commit/master",
            json!({"commit_message": "upload", "actions": [
                {"action": "create", "path": "README.md", "type": "normal", "size": readme.len(),
                 "sha256": "", "content": base64::engine::general_purpose::STANDARD.encode(readme),
                 "encoding": "base64"},
                {"action": "create", "path": "w/w.bin", "type": "lfs", "size": blob.len(),
                 "sha256": oid, "content": "", "encoding": ""},
            ]}),
        )
        .await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
    assert_eq!(commit.body["Success"], true);
    assert_eq!(commit.body["Data"]["oid"].as_str().unwrap().len(), 40);
    let listing = anon
        .get("/api/v1/models/alice/up/repo/files?Revision=master&Recursive=True")
        .await;
    let files = listing.body["Data"]["Files"].as_array().unwrap();
    let w = files.iter().find(|f| f["Path"] == "w/w.bin").unwrap();
    assert_eq!(w["IsLFS"], true);
    assert_eq!(w["Sha256"], oid.as_str());
    assert!(files.iter().any(|f| f["Path"] == "README.md"));

    // An LFS file never uploaded is refused in the envelope; so is a stranger.
    let missing = api
        .post(
            "/api/v1/repos/models/alice/up/commit/master",
            json!({"commit_message": "x", "actions": [
                {"action": "create", "path": "x.bin", "type": "lfs", "size": 3,
                 "sha256": sha256(b"abc"), "content": "", "encoding": ""}]}),
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["Success"], false);
    let bob = hub.user_with_token("bob");
    let denied = hub
        .api(Some(&bob))
        .post(
            "/api/v1/repos/models/alice/up/commit/master",
            json!({"commit_message": "x", "actions": [{"action": "delete", "path": "README.md"}]}),
        )
        .await;
    assert_eq!(denied.status, 403);

    // Tags (create_model_tag): `Ref` master is the default branch; the tag
    // shows in /revisions with its integer CreatedAt.
    let tag = api
        .post(
            "/api/v1/models/alice/up/repo/tag",
            json!({"TagName": "v1.0", "Ref": "master"}),
        )
        .await;
    assert_eq!(tag.status, 200, "{:?}", tag.body);
    assert_eq!(tag.body["Data"]["Revision"], commit.body["Data"]["oid"]);
    let revs = anon.get("/api/v1/models/alice/up/revisions").await;
    let tags = &revs.body["Data"]["RevisionMap"]["Tags"];
    assert_eq!(tags[0]["Revision"], "v1.0");
    assert!(tags[0]["CreatedAt"].is_i64());
    let twice = api
        .post(
            "/api/v1/models/alice/up/repo/tag",
            json!({"TagName": "v1.0", "Ref": "master"}),
        )
        .await;
    assert_eq!(twice.status, 409, "{:?}", twice.body);
    assert_eq!(twice.body["Success"], false);
    let stranger = hub
        .api(Some(&bob))
        .post(
            "/api/v1/models/alice/up/repo/tag",
            json!({"TagName": "v2", "Ref": "master"}),
        )
        .await;
    assert_eq!(stranger.status, 403);
    let bad_ref = api
        .post(
            "/api/v1/models/alice/up/repo/tag",
            json!({"TagName": "v2", "Ref": "no-such-branch"}),
        )
        .await;
    assert_eq!(bad_ref.status, 404);
}

/// A `multipart/form-data` body of text fields, as `requests` sends `files=`.
fn form(fields: &[(&str, &str)]) -> (String, String) {
    let boundary = "kyt-boundary-7f3a";
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn modelscope_create_dataset_form() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let post = |fields: &[(&str, &str)], token: Option<&str>| {
        let (content_type, body) = form(fields);
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/v1/datasets", hub.url))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.header("cookie", format!("m_session_id={t}"));
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap())
        }
    };
    let fields = [
        ("Name", "fresh"),
        ("ChineseName", "新的"),
        ("Owner", "alice"),
        ("License", "Apache License 2.0"),
        ("Visibility", "5"),
        ("Description", ""),
    ];
    let (status, body) = post(&fields, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Code"], 200);
    let info = api.get("/api/datasets/alice/fresh").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["private"], false);
    // Again: 400 with the dataset "already exists" code.
    let (status, body) = post(&fields, Some(&token)).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], 10020101001_i64);
    // Without Visibility 5 it is private; without a token, refused.
    let (status, _) = post(
        &[("Name", "hidden"), ("Owner", "alice"), ("Visibility", "1")],
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        api.get("/api/datasets/alice/hidden").await.body["private"],
        true
    );
    let (status, _) = post(&[("Name", "anon"), ("Owner", "alice")], None).await;
    assert_eq!(status, 401);
    // Bad forms change nothing.
    let (status, body) = post(&[("Owner", "alice")], Some(&token)).await;
    assert_eq!(status, 400);
    assert!(body["Message"].as_str().unwrap().contains("Name"), "{body}");
    let (status, _) = post(
        &[("Name", "x"), ("Owner", "alice"), ("Visibility", "public")],
        Some(&token),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(api.get("/api/datasets/alice/x").await.status, 404);
    let not_a_form = api
        .post("/api/v1/datasets", json!({"Name": "y", "Owner": "alice"}))
        .await;
    assert_eq!(not_a_form.status, 400);
    assert_eq!(not_a_form.body["Success"], false);
}

#[tokio::test]
async fn modelscope_dataset_download_api_shapes() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let anon = hub.api(None);
    api.create_repo("dataset", "alice", "ds", false).await;
    let train = b"a,b\n1,2\n3,4\n";
    let readme = b"# ds\n";
    let made = api
        .commit_to(
            "datasets",
            "alice/ds",
            "add",
            &[
                file_op("README.md", readme),
                file_op("data/train.csv", train),
                file_op("data/test.csv", b"a,b\n5,6\n"),
            ],
            None,
        )
        .await;
    assert_eq!(made.status, 200, "{:?}", made.body);

    // Info: the integer Id and Type 4; a model of that name is not found.
    let info = anon.get("/api/v1/datasets/alice/ds").await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["Code"], 200);
    assert_eq!(info.body["Data"]["Type"], 4);
    assert_eq!(info.body["Data"]["Name"], "ds");
    let id = info.body["Data"]["Id"].as_i64().unwrap();
    assert_eq!(api.get("/api/v1/models/alice/ds").await.status, 404);

    // The tree by owner/name and by id, paged in stable order.
    let all = anon
        .get("/api/v1/datasets/alice/ds/repo/tree?Revision=master&Recursive=True&PageNumber=1&PageSize=200")
        .await;
    assert_eq!(all.status, 200);
    let paths = |body: &serde_json::Value| -> Vec<String> {
        body["Data"]["Files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["Path"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        paths(&all.body),
        [
            "data",
            "data/test.csv",
            "data/train.csv",
            ".gitattributes",
            "README.md"
        ]
    );
    let entry = &all.body["Data"]["Files"][2];
    assert_eq!(entry["Size"], train.len());
    assert_eq!(entry["Sha256"], sha256(train));
    let by_id = anon
        .get(&format!(
            "/api/v1/datasets/{id}/repo/tree?Revision=&Root=/&Recursive=True&PageNumber=1&PageSize=200"
        ))
        .await;
    assert_eq!(by_id.status, 200);
    assert_eq!(paths(&by_id.body), paths(&all.body));
    let page2 = anon
        .get(&format!(
            "/api/v1/datasets/{id}/repo/tree?Revision=master&Recursive=True&PageNumber=2&PageSize=3"
        ))
        .await;
    assert_eq!(paths(&page2.body), [".gitattributes", "README.md"]);
    let rooted = anon
        .get("/api/v1/datasets/alice/ds/repo/tree?Revision=master&Recursive=True&Root=data")
        .await;
    assert_eq!(paths(&rooted.body), ["data/test.csv", "data/train.csv"]);
    assert_eq!(
        anon.get("/api/v1/datasets/999999999/repo/tree")
            .await
            .status,
        401
    );
    assert_eq!(
        api.get("/api/v1/datasets/999999999/repo/tree").await.status,
        404
    );

    // The file endpoint: HEAD, bytes, ranges, no compression.
    let client = reqwest::Client::builder().build().unwrap();
    let url = format!(
        "{}/api/v1/datasets/alice/ds/repo?Source=SDK&Revision=master&FilePath=data%2Ftrain.csv&View=False",
        hub.url
    );
    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-length"],
        train.len().to_string().as_str()
    );
    assert!(head.headers().get("etag").is_some());
    let got = client
        .get(&url)
        .header("accept-encoding", "gzip, deflate")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.headers().get("content-encoding").is_none());
    assert_eq!(&got.bytes().await.unwrap()[..], train);
    let part = client
        .get(&url)
        .header("range", "bytes=4-7")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 4-7/{}", train.len()).as_str()
    );
    assert_eq!(&part.bytes().await.unwrap()[..], &train[4..8]);
    let missing = anon
        .get("/api/v1/datasets/alice/ds/repo?Revision=master&FilePath=nope.csv")
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["Success"], false);

    // A download counts once, as on ModelScope: MsDataset's fetch (no
    // snapshot-identifier) plus its download/increase is one download; a
    // snapshot download's fetch (with it) is one too.
    let mut downloads = || async {
        anon.get("/api/v1/datasets/alice/ds").await.body["Data"]["Downloads"]
            .as_i64()
            .unwrap()
    };
    let before = downloads().await;
    let fetched = client.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    let inc = anon
        .post("/api/v1/datasets/alice/ds/download/increase", json!({}))
        .await;
    assert_eq!(inc.status, 200);
    assert_eq!(inc.body["Success"], true);
    tests::arrives_at(&(before + 1), &mut downloads).await;
    // The same client again within the window is no new download; another is.
    let again = client
        .get(&url)
        .header("snapshot-identifier", "0f1e2d3c")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let snapshot = tests::client_at("127.0.0.2")
        .build()
        .unwrap()
        .get(&url)
        .header("snapshot-identifier", "0f1e2d3c")
        .send()
        .await
        .unwrap();
    assert_eq!(snapshot.status(), 200);
    // Had the repeat counted, the sum would settle at `before + 3`.
    tests::settles_at(before + 2, downloads).await;

    // A private dataset: invisible without a token, by name and by id.
    api.create_repo("dataset", "alice", "hidden", true).await;
    let hidden = api.get("/api/v1/datasets/alice/hidden").await;
    assert_eq!(hidden.status, 200);
    let hid = hidden.body["Data"]["Id"].as_i64().unwrap();
    assert_eq!(hidden.body["Data"]["Visibility"], 1);
    assert_eq!(anon.get("/api/v1/datasets/alice/hidden").await.status, 401);
    let tree = format!("/api/v1/datasets/{hid}/repo/tree?Revision=master&Recursive=True");
    assert_eq!(anon.get(&tree).await.status, 401);
    assert_eq!(api.get(&tree).await.status, 200);
}

/// The ModelScope blob PUT answers a made-up link the same for a missing,
/// a private and a public repo.
#[tokio::test]
async fn modelscope_bad_blob_links_say_nothing_about_the_repo() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    for (name, visibility) in [("private", 1), ("public", 5)] {
        let created = api
            .post(
                "/api/v1/models",
                json!({"Path": "alice", "Name": name, "Visibility": visibility}),
            )
            .await;
        assert_eq!(created.status, 200, "{:?}", created.body);
    }
    let oid = sha256(b"anything");
    let mut answers = Vec::new();
    for name in ["private", "public", "missing"] {
        let url = format!(
            "{}/api/v1/repos/models/alice/{name}/info/lfs/objects/{oid}?op=upload&size=8&exp=99999999999&sig=x",
            hub.url
        );
        let resp = reqwest::Client::new()
            .put(url)
            .body("anything")
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap();
        answers.push((status, body["Message"].clone(), body["Code"].clone()));
    }
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "answers differ: {answers:?}"
    );
    assert_eq!(answers[0].0, 403);
}

/// The ModelScope commit goes through the one commit path: its rules for
/// paths and messages hold here too, answered in the envelope.
#[tokio::test]
async fn modelscope_commits_refuse_dot_git_aliases_and_huge_messages() {
    use base64::Engine;
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let created = api
        .post(
            "/api/v1/models",
            json!({"Path": "alice", "Name": "m", "Visibility": 5}),
        )
        .await;
    assert_eq!(created.status, 200);
    let file = |path: &str| {
        json!({"action": "create", "path": path, "type": "normal",
               "content": base64::engine::general_purpose::STANDARD.encode(b"x")})
    };
    let url = "/api/v1/repos/models/alice/m/commit/master";
    let alias = api
        .post(
            url,
            json!({"commit_message": "x", "actions": [file(".git\u{200c}/config")]}),
        )
        .await;
    assert_eq!(alias.status, 400, "{:?}", alias.body);
    assert_eq!(alias.body["Success"], false);
    let huge = api
        .post(
            url,
            json!({"commit_message": "m".repeat(70 * 1024), "actions": [file("a.txt")]}),
        )
        .await;
    assert_eq!(huge.status, 413, "{:?}", huge.body);
    assert_eq!(huge.body["Success"], false);
    let fine = api
        .post(
            url,
            json!({"commit_message": "ok", "actions": [file("a.txt")]}),
        )
        .await;
    assert_eq!(fine.status, 200, "{:?}", fine.body);
}
