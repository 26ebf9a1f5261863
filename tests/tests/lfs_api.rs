//! The Git LFS server over plain HTTP, as git-lfs and `huggingface_hub`
//! speak it: batch, signed transfers, verify, locks, and what must be refused.
//! Runs against the local store and again against S3 (`tests/run`).

use std::path::{Path, PathBuf};

use hub_core::lfs::signing::{TransferGrant, TransferOp};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::TestHub;

const LFS_TYPE: &str = "application/vnd.git-lfs+json";

fn oid_of(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn sample(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 31 + seed as u64) as u8)
        .collect()
}

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

/// An LFS client for one repo (`repo` as in its URL: `ns/name`,
/// `datasets/ns/name`, ...), with an optional token.
struct Lfs {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Lfs {
    fn new(hub: &TestHub, repo: &str, token: Option<&str>) -> Lfs {
        Lfs {
            base: format!("{}/{repo}.git/info/lfs", hub.url),
            token: token.map(str::to_owned),
            client: reqwest::Client::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn post(&self, url: &str, body: Value) -> Reply {
        let req = self
            .client
            .post(url)
            .header("accept", LFS_TYPE)
            .header("content-type", LFS_TYPE)
            .body(body.to_string());
        self.send(req).await
    }

    async fn get(&self, url: &str) -> Reply {
        self.send(self.client.get(url).header("accept", LFS_TYPE))
            .await
    }

    async fn batch(&self, operation: &str, objects: &[(&str, i64)]) -> Reply {
        let objects: Vec<Value> = objects
            .iter()
            .map(|(oid, size)| json!({ "oid": oid, "size": size }))
            .collect();
        let body = json!({
            "operation": operation, "transfers": ["basic"], "objects": objects,
            "ref": { "name": "refs/heads/main" }, "hash_algo": "sha256",
        });
        self.post(&format!("{}/objects/batch", self.base), body)
            .await
    }

    /// The one object of a successful batch answer.
    async fn batch_one(&self, operation: &str, oid: &str, size: usize) -> Value {
        let reply = self.batch(operation, &[(oid, size as i64)]).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(reply.headers["content-type"], LFS_TYPE);
        assert_eq!(reply.body["transfer"], "basic");
        let object = reply.body["objects"][0].clone();
        assert_eq!(object["oid"], oid);
        assert_eq!(object["size"], size);
        object
    }

    /// Batch, PUT and verify, as a client uploads; asserts each step.
    async fn upload(&self, data: &[u8]) -> String {
        let oid = oid_of(data);
        let object = self.batch_one("upload", &oid, data.len()).await;
        let href = object["actions"]["upload"]["href"].as_str().unwrap();
        let put = put(href, data.to_vec()).await;
        assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
        let verify = &object["actions"]["verify"];
        let verified = self
            .post(
                verify["href"].as_str().unwrap(),
                json!({ "oid": oid, "size": data.len() }),
            )
            .await;
        assert_eq!(verified.status, 200, "{:?}", verified.body);
        oid
    }

    /// The bytes of a download through the batch API's signed link.
    async fn download(&self, oid: &str, size: usize) -> Vec<u8> {
        let object = self.batch_one("download", oid, size).await;
        let href = object["actions"]["download"]["href"].as_str().unwrap();
        let resp = reqwest::get(href).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap().to_vec()
    }
}

/// A PUT as `huggingface_hub` sends it for a basic transfer: no credentials.
async fn put(href: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .put(href)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Everything the hub's object store holds: files under the data dir's
/// `objects/` (staging files included), or on S3 the bucket's keys and its
/// unfinished multipart uploads.
async fn store_contents(hub: &TestHub) -> Vec<String> {
    let var = |k: &str| {
        hub.env
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    };
    let (Some(endpoint), Some(store)) = (var("AWS_ENDPOINT"), var("HUB_OBJECT_STORE")) else {
        return files_under(&hub.data_dir.join("objects"))
            .iter()
            .map(|p| p.display().to_string())
            .collect();
    };
    let bucket = store.trim_start_matches("s3://");
    let mut found = Vec::new();
    for (query, tag) in [("list-type=2", "<Key>"), ("uploads", "<UploadId>")] {
        let xml = reqwest::get(format!("{endpoint}/{bucket}?{query}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for piece in xml.split(tag).skip(1) {
            found.push(format!("{tag}{}", piece.split('<').next().unwrap_or("")));
        }
    }
    found
}

#[tokio::test]
async fn upload_verify_and_download_round_trip() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let lfs = Lfs::new(&hub, "alice/m", Some(&token));
    let data = sample(300_000, 1);
    let oid = oid_of(&data);

    let object = lfs.batch_one("upload", &oid, data.len()).await;
    let upload = &object["actions"]["upload"];
    let href = upload["href"].as_str().unwrap();
    let prefix = format!("{}/alice/m.git/info/lfs/objects/{oid}?", hub.url);
    assert!(href.starts_with(&prefix), "{href}");
    assert_eq!(upload["expires_in"], 3600);
    assert_eq!(object["authenticated"], true);
    let verify = &object["actions"]["verify"];
    assert_eq!(
        verify["href"],
        format!("{}/alice/m.git/info/lfs/verify", hub.url)
    );
    assert_eq!(verify["header"]["Authorization"], format!("Bearer {token}"));
    // Verify before the upload: nothing there yet.
    let early = lfs
        .post(
            verify["href"].as_str().unwrap(),
            json!({ "oid": oid, "size": data.len() }),
        )
        .await;
    assert_eq!(early.status, 404);

    // The link is the credential (huggingface_hub sends none with the PUT).
    let stored = put(href, data.clone()).await;
    assert_eq!(stored.status(), 200);
    let verified = lfs
        .post(
            verify["href"].as_str().unwrap(),
            json!({ "oid": oid, "size": data.len() }),
        )
        .await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    let wrong_size = lfs
        .post(
            verify["href"].as_str().unwrap(),
            json!({ "oid": oid, "size": 5 }),
        )
        .await;
    assert_eq!(wrong_size.status, 422);

    // The repo has it now: an upload request gets no actions (the client skips it).
    let again = lfs.batch_one("upload", &oid, data.len()).await;
    assert!(again.get("actions").is_none(), "{again}");
    assert!(again.get("error").is_none(), "{again}");

    // Download through the batch API, whole and in ranges.
    let object = lfs.batch_one("download", &oid, data.len()).await;
    let href = object["actions"]["download"]["href"].as_str().unwrap();
    assert!(href.starts_with(&prefix), "{href}");
    let client = reqwest::Client::new();
    let whole = client.get(href).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(
        whole.headers()["content-length"],
        data.len().to_string().as_str()
    );
    assert_eq!(&whole.bytes().await.unwrap()[..], &data[..]);
    let part = client
        .get(href)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 100-199/300000");
    assert_eq!(&part.bytes().await.unwrap()[..], &data[100..200]);
    let tail = client
        .get(href)
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(&tail.bytes().await.unwrap()[..], &data[data.len() - 10..]);
    let past = client
        .get(href)
        .header("range", "bytes=300000-")
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 416);
    let head = client.head(href).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "300000");

    // Without a link, plain read access works too (a public repo: anyone).
    let plain = format!("{}/alice/m/info/lfs/objects/{oid}", hub.url);
    let anonymous = client.get(&plain).send().await.unwrap();
    assert_eq!(anonymous.status(), 200);
    assert_eq!(&anonymous.bytes().await.unwrap()[..], &data[..]);

    // The object can now be committed as an LFS file and read through /resolve.
    let pointer = json!({ "key": "lfsFile", "value": {
        "path": "model.safetensors", "algo": "sha256", "oid": oid, "size": data.len() } });
    let commit = api.commit("alice/m", "add weights", &[pointer], None).await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
    let resolved = client
        .get(format!(
            "{}/alice/m/resolve/main/model.safetensors",
            hub.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resolved.headers()["x-linked-etag"],
        format!("\"{oid}\"").as_str()
    );
    assert_eq!(&resolved.bytes().await.unwrap()[..], &data[..]);
}

#[tokio::test]
async fn datasets_spaces_and_plain_json_clients() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("dataset", "alice", "d", false).await;
    api.create_repo("space", "alice", "s", false).await;
    for repo in ["datasets/alice/d", "spaces/alice/s"] {
        let lfs = Lfs::new(&hub, repo, Some(&token));
        let data = sample(1000, repo.len() as u8);
        let oid = lfs.upload(&data).await;
        assert_eq!(lfs.download(&oid, data.len()).await, data);
        // The batch answer points at the repo's own URL.
        let object = lfs.batch_one("download", &oid, data.len()).await;
        let href = object["actions"]["download"]["href"].as_str().unwrap();
        assert!(href.starts_with(&format!("{}/{repo}.git/info/lfs/objects/", hub.url)));
    }
    // Without `.git` in the URL, and with the plain JSON huggingface_hub may send.
    let data = sample(10, 9);
    let oid = oid_of(&data);
    let reply = reqwest::Client::new()
        .post(format!(
            "{}/datasets/alice/d/info/lfs/objects/batch",
            hub.url
        ))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(json!({ "operation": "upload", "objects": [{ "oid": oid, "size": 10 }] }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert!(body["objects"][0]["actions"]["upload"]["href"].is_string());
    // A model repo of the same name is another repo.
    let model = Lfs::new(&hub, "alice/d", Some(&token));
    assert_eq!(model.batch("download", &[(&oid, 10)]).await.status, 404);
}

#[tokio::test]
async fn wrong_content_stores_nothing() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let lfs = Lfs::new(&hub, "alice/m", Some(&token));
    let data = sample(200_000, 2);
    let oid = oid_of(&data);
    let object = lfs.batch_one("upload", &oid, data.len()).await;
    let href = object["actions"]["upload"]["href"].as_str().unwrap();

    let mut tampered = data.clone();
    tampered[1234] ^= 1;
    let longer = [data.clone(), b"x".to_vec()].concat();
    for body in [tampered, data[..1000].to_vec(), longer, Vec::new()] {
        let refused = put(href, body).await;
        assert_eq!(refused.status(), 422);
        assert_eq!(refused.headers()["content-type"], LFS_TYPE);
        let error: Value = refused.json().await.unwrap();
        assert!(error["message"].as_str().unwrap().contains(&oid), "{error}");
        assert_eq!(store_contents(&hub).await, Vec::<String>::new());
    }
    // Nothing is recorded: no download, no verify, the upload is still wanted.
    let down = lfs.batch_one("download", &oid, data.len()).await;
    assert_eq!(down["error"]["code"], 404);
    let verify = object["actions"]["verify"]["href"].as_str().unwrap();
    let verified = lfs
        .post(verify, json!({ "oid": oid, "size": data.len() }))
        .await;
    assert_eq!(verified.status, 404);
    let up = lfs.batch_one("upload", &oid, data.len()).await;
    assert!(up["actions"]["upload"].is_object());
    let plain = lfs.get(&format!("{}/objects/{oid}", lfs.base)).await;
    assert_eq!(plain.status, 404);

    // The right bytes on the same link then go through.
    assert_eq!(put(href, data.clone()).await.status(), 200);
    assert_eq!(lfs.download(&oid, data.len()).await, data);
    assert_eq!(store_contents(&hub).await.len(), 1);
}

#[tokio::test]
async fn transfer_links_are_signed_and_expire() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    api.create_repo("model", "alice", "other", false).await;
    let lfs = Lfs::new(&hub, "alice/m", Some(&token));
    let data = sample(5000, 3);
    let oid = oid_of(&data);
    let object = lfs.batch_one("upload", &oid, data.len()).await;
    let href = object["actions"]["upload"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let (path, query) = href.split_once('?').unwrap();
    let param = |key: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_owned()
    };
    let sig = param("sig");
    let flipped = format!(
        "{}{}",
        &sig[..sig.len() - 1],
        if sig.ends_with('0') { "1" } else { "0" }
    );
    let other_oid = oid_of(b"something else");
    let forged = [
        href.replace(&sig, &flipped),
        href.replace(
            &format!("size={}", data.len()),
            &format!("size={}", data.len() + 1),
        ),
        href.replace(&format!("exp={}", param("exp")), "exp=99999999999"),
        href.replace("op=upload", "op=download"),
        href.replace(&format!("&sig={sig}"), ""),
        href.replace("/alice/m.git/", "/alice/other.git/"),
        href.replace(&format!("objects/{oid}"), &format!("objects/{other_oid}")),
        path.to_owned(),
    ];
    for link in &forged {
        let refused = put(link, data.clone()).await;
        assert_eq!(refused.status(), 403, "{link}");
        assert_eq!(store_contents(&hub).await, Vec::<String>::new(), "{link}");
    }
    // Even the owner's token does not replace the link for an upload.
    let with_token = reqwest::Client::new()
        .put(path)
        .bearer_auth(&token)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 403);

    // An expired link, signed with the hub's own secret an hour and more ago.
    let secret = hub_core::secret::Secret::load(None, &hub.data_dir).unwrap();
    let url = hub.database_url.as_deref().expect("a test database");
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    let repo_id: i64 = sqlx::query_scalar("SELECT id FROM repos WHERE name = 'm'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let now = unix_now();
    let size = data.len() as u64;
    let stale = TransferGrant::new(TransferOp::Upload, repo_id, &oid, size, now - 7200);
    let refused = put(&format!("{path}?{}", stale.query(&secret)), data.clone()).await;
    assert_eq!(refused.status(), 403);
    let message: Value = refused.json().await.unwrap();
    assert!(message["message"].as_str().unwrap().contains("expired"));
    // The same grant made now is accepted: the refusal was the expiry.
    let fresh = TransferGrant::new(TransferOp::Upload, repo_id, &oid, size, now);
    let link = format!("{path}?{}", fresh.query(&secret));
    assert_eq!(put(&link, data.clone()).await.status(), 200);

    // Download links are as strict.
    let object = lfs.batch_one("download", &oid, data.len()).await;
    let down = object["actions"]["download"]["href"].as_str().unwrap();
    let sig = down.split("sig=").nth(1).unwrap();
    let bad = down.replace(sig, &"0".repeat(sig.len()));
    assert_eq!(reqwest::get(&bad).await.unwrap().status(), 403);
    let elsewhere = down.replace("/alice/m.git/", "/alice/other.git/");
    assert_eq!(reqwest::get(&elsewhere).await.unwrap().status(), 403);
    assert_eq!(reqwest::get(down).await.unwrap().status(), 200);
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn an_oid_grants_nothing_in_another_repo() {
    // The store is counted below: no chunking into xorbs meanwhile (for a
    // moment a chunked object has both its plain copy and its xorb).
    let hub = TestHub::start_with(&[("HUB_XET_INGEST", "off")], &[]).await;
    let alice_token = hub.user_with_token("alice");
    let bob_token = hub.user_with_token("bob");
    hub.api(Some(&alice_token))
        .create_repo("model", "alice", "secret", true)
        .await;
    hub.api(Some(&bob_token))
        .create_repo("model", "bob", "b", true)
        .await;
    let alice = Lfs::new(&hub, "alice/secret", Some(&alice_token));
    let data = sample(40_000, 4);
    let oid = alice.upload(&data).await;
    let size = data.len() as i64;

    // Bob cannot see Alice's private repo: not found, with or without the oid.
    let bob_at_alice = Lfs::new(&hub, "alice/secret", Some(&bob_token));
    let reply = bob_at_alice.batch("download", &[(&oid, size)]).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.headers["content-type"], LFS_TYPE);
    let direct = format!("{}/objects/{oid}", alice.base);
    assert_eq!(bob_at_alice.get(&direct).await.status, 404);
    let anonymous = Lfs::new(&hub, "alice/secret", None).get(&direct).await;
    assert_eq!(anonymous.status, 401);
    assert!(
        anonymous.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );

    // Through his own repo the object does not exist for Bob.
    let bob = Lfs::new(&hub, "bob/b", Some(&bob_token));
    let down = bob.batch_one("download", &oid, data.len()).await;
    assert_eq!(down["error"]["code"], 404);
    assert!(down.get("actions").is_none());
    assert_eq!(
        bob.get(&format!("{}/objects/{oid}", bob.base)).await.status,
        404
    );
    let verify = bob
        .post(
            &format!("{}/verify", bob.base),
            json!({ "oid": oid, "size": size }),
        )
        .await;
    assert_eq!(verify.status, 404);
    // Alice's signed download link does not open Bob's repo, nor hers for Bob's path.
    let href = alice.batch_one("download", &oid, data.len()).await["actions"]["download"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = href.replace("/alice/secret.git/", "/bob/b.git/");
    assert_eq!(reqwest::get(&moved).await.unwrap().status(), 403);

    // An upload of a stored object still needs the bytes (proof of possession).
    let up = bob.batch_one("upload", &oid, data.len()).await;
    let put_href = up["actions"]["upload"]["href"].as_str().unwrap();
    let mut wrong = data.clone();
    wrong[0] ^= 0xff;
    assert_eq!(put(put_href, wrong).await.status(), 422);
    assert_eq!(
        bob.batch_one("download", &oid, data.len()).await["error"]["code"],
        404
    );
    // A size claim that is not the object's is refused like any wrong body.
    let liar = bob.batch_one("upload", &oid, data.len() + 1).await;
    let liar_href = liar["actions"]["upload"]["href"].as_str().unwrap();
    assert_eq!(put(liar_href, data.clone()).await.status(), 422);
    // With the real bytes Bob's repo gets its own link; the store keeps one copy.
    assert_eq!(put(put_href, data.clone()).await.status(), 200);
    assert_eq!(bob.download(&oid, data.len()).await, data);
    assert_eq!(store_contents(&hub).await.len(), 1);
    // Alice's repo is as private as before.
    assert_eq!(bob_at_alice.get(&direct).await.status, 404);
}

#[tokio::test]
async fn who_may_upload() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let data = sample(100, 5);
    let oid = oid_of(&data);

    // A read token reads but does not write.
    let read_token = hub.token("alice", false);
    let reader = Lfs::new(&hub, "alice/m", Some(&read_token));
    let refused = reader.batch("upload", &[(&oid, 100)]).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.headers["content-type"], LFS_TYPE);
    assert!(refused.body["message"].is_string());
    assert!(
        refused.body["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(reader.batch("download", &[(&oid, 100)]).await.status, 200);

    // Anonymous callers are asked for credentials (git-lfs then asks its helper).
    let anonymous = Lfs::new(&hub, "alice/m", None);
    let challenged = anonymous.batch("upload", &[(&oid, 100)]).await;
    assert_eq!(challenged.status, 401);
    assert_eq!(
        challenged.headers["www-authenticate"],
        "Basic realm=\"Kaiyuan Hub\""
    );
    assert_eq!(
        challenged.headers["lfs-authenticate"],
        "Basic realm=\"Kaiyuan Hub\""
    );
    // A public repo's downloads need no credentials.
    assert_eq!(
        anonymous.batch("download", &[(&oid, 100)]).await.status,
        200
    );
    // A wrong token is a 401 with the challenge, not an anonymous read.
    let wrong = Lfs::new(&hub, "alice/m", Some("hf_not_a_token"));
    let denied = wrong.batch("download", &[(&oid, 100)]).await;
    assert_eq!(denied.status, 401);
    assert!(denied.headers.contains_key("www-authenticate"));

    // Another user may not upload to Alice's repo; a missing repo is not found.
    let bob_token = hub.user_with_token("bob");
    let bob = Lfs::new(&hub, "alice/m", Some(&bob_token));
    assert_eq!(bob.batch("upload", &[(&oid, 100)]).await.status, 403);
    let missing = Lfs::new(&hub, "alice/nope", Some(&token));
    assert_eq!(missing.batch("download", &[(&oid, 100)]).await.status, 404);
    // Basic auth with the token as password, as git sends it.
    let basic = reqwest::Client::new()
        .post(format!("{}/alice/m.git/info/lfs/objects/batch", hub.url))
        .basic_auth("alice", Some(&token))
        .header("content-type", LFS_TYPE)
        .body(
            json!({ "operation": "upload", "objects": [{ "oid": oid, "size": 100 }] }).to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
}

#[tokio::test]
async fn hostile_and_malformed_requests() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let lfs = Lfs::new(&hub, "alice/m", Some(&token));
    let good = oid_of(b"x");

    let reply = lfs
        .batch(
            "upload",
            &[
                (&good.to_uppercase(), 1),
                ("../../../etc/passwd", 1),
                (&good[..63], 1),
                (&good, -1),
                (&good, 1),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    let objects = reply.body["objects"].as_array().unwrap();
    for bad in &objects[..4] {
        assert_eq!(bad["error"]["code"], 422, "{bad}");
        assert!(bad.get("actions").is_none());
    }
    assert!(objects[4]["actions"]["upload"].is_object());

    for body in [
        json!({ "operation": "delete", "objects": [] }),
        json!({ "operation": "upload", "objects": [], "hash_algo": "md5" }),
        json!({ "operation": "upload", "objects": [{ "oid": good, "size": "big" }] }),
        json!({ "objects": [] }),
    ] {
        let refused = lfs.post(&format!("{}/objects/batch", lfs.base), body).await;
        assert_eq!(refused.status, 422, "{:?}", refused.body);
        assert_eq!(refused.headers["content-type"], LFS_TYPE);
    }
    let not_json = lfs
        .send(
            lfs.client
                .post(format!("{}/objects/batch", lfs.base))
                .header("content-type", LFS_TYPE)
                .body("{not json"),
        )
        .await;
    assert_eq!(not_json.status, 422);
    let too_many: Vec<(&str, i64)> = (0..1001).map(|_| (good.as_str(), 1)).collect();
    assert_eq!(lfs.batch("download", &too_many).await.status, 413);

    // Hostile oids in paths: not found, never a file outside the store.
    for path in [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        &good.to_uppercase(),
        "zz",
        &"a".repeat(5000),
    ] {
        let url = format!("{}/objects/{path}", lfs.base);
        let got = lfs.get(&url).await;
        assert!(matches!(got.status, 400 | 404), "{path}: {}", got.status);
        let put = reqwest::Client::new()
            .put(&url)
            .body("x")
            .send()
            .await
            .unwrap();
        assert!(
            matches!(put.status().as_u16(), 400 | 403 | 404),
            "{path}: {}",
            put.status()
        );
    }
    let verify = lfs
        .post(
            &format!("{}/verify", lfs.base),
            json!({ "oid": "../x", "size": 1 }),
        )
        .await;
    assert_eq!(verify.status, 404);
    assert_eq!(store_contents(&hub).await, Vec::<String>::new());
}

#[tokio::test]
async fn locks() {
    let hub = TestHub::start().await;
    let alice_token = hub.user_with_token("alice");
    let bob_token = hub.user_with_token("bob");
    let carol_token = hub.user_with_token("carol");
    let admin = hub.api(Some(&alice_token));
    assert_eq!(
        admin
            .post("/api/organizations/new", json!({ "name": "lab" }))
            .await
            .status,
        200
    );
    for user in ["bob", "carol"] {
        let added = admin
            .send(
                reqwest::Method::PUT,
                &format!("/api/organizations/lab/members/{user}"),
                Some(json!({ "role": "write" })),
            )
            .await;
        assert_eq!(added.status, 200);
    }
    admin.create_repo("model", "lab", "m", false).await;
    let alice = Lfs::new(&hub, "lab/m", Some(&alice_token));
    let bob = Lfs::new(&hub, "lab/m", Some(&bob_token));
    let carol = Lfs::new(&hub, "lab/m", Some(&carol_token));
    let locks = format!("{}/locks", alice.base);

    let created = bob
        .post(
            &locks,
            json!({ "path": "weights/model.bin", "ref": { "name": "refs/heads/main" } }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.headers["content-type"], LFS_TYPE);
    let lock = created.body["lock"].clone();
    let id = lock["id"].as_str().unwrap().to_owned();
    assert_eq!(lock["path"], "weights/model.bin");
    assert_eq!(lock["owner"]["name"], "bob");
    assert!(lock["locked_at"].as_str().unwrap().ends_with('Z'));

    // The path is taken: 409 with the existing lock, for anyone.
    for who in [&alice, &bob] {
        let clash = who
            .post(&locks, json!({ "path": "weights/model.bin" }))
            .await;
        assert_eq!(clash.status, 409);
        assert_eq!(clash.body["lock"], lock);
        assert!(clash.body["message"].as_str().unwrap().contains("bob"));
    }
    for path in ["a.bin", "b.bin"] {
        assert_eq!(
            carol.post(&locks, json!({ "path": path })).await.status,
            201
        );
    }
    let hostile = carol.post(&locks, json!({ "path": "../outside" })).await;
    assert_eq!(hostile.status, 422);

    // Listing: filters and pages.
    let all = alice.get(&locks).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["locks"].as_array().unwrap().len(), 3);
    assert!(all.body.get("next_cursor").is_none());
    let by_path = alice.get(&format!("{locks}?path=weights/model.bin")).await;
    assert_eq!(by_path.body["locks"], json!([lock]));
    let by_id = alice.get(&format!("{locks}?id={id}")).await;
    assert_eq!(by_id.body["locks"], json!([lock]));
    assert_eq!(
        alice.get(&format!("{locks}?id=nope")).await.body["locks"],
        json!([])
    );
    let first = alice.get(&format!("{locks}?limit=2")).await;
    assert_eq!(first.body["locks"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = alice.get(&format!("{locks}?limit=2&cursor={cursor}")).await;
    assert_eq!(second.body["locks"].as_array().unwrap().len(), 1);
    assert!(second.body.get("next_cursor").is_none());
    // Anyone who can read the repo can list; a read token cannot lock.
    assert_eq!(Lfs::new(&hub, "lab/m", None).get(&locks).await.status, 200);
    let reader = Lfs::new(&hub, "lab/m", Some(&hub.token("bob", false)));
    assert_eq!(
        reader.post(&locks, json!({ "path": "c.bin" })).await.status,
        403
    );
    assert_eq!(
        reader
            .post(&format!("{locks}/verify"), json!({}))
            .await
            .status,
        403
    );

    // Verify splits ours from theirs.
    let verify = bob
        .post(
            &format!("{locks}/verify"),
            json!({ "ref": { "name": "refs/heads/main" } }),
        )
        .await;
    assert_eq!(verify.status, 200);
    assert_eq!(verify.body["ours"], json!([lock]));
    assert_eq!(verify.body["theirs"].as_array().unwrap().len(), 2);
    let verify = carol
        .post(&format!("{locks}/verify"), json!({ "limit": 1 }))
        .await;
    assert_eq!(
        verify.body["ours"].as_array().unwrap().len()
            + verify.body["theirs"].as_array().unwrap().len(),
        1
    );
    assert!(verify.body["next_cursor"].is_string());

    // Unlocking: one's own, or another's with force as an admin.
    let unlock = format!("{locks}/{id}/unlock");
    let not_yours = carol.post(&unlock, json!({})).await;
    assert_eq!(not_yours.status, 403);
    assert!(
        not_yours.body["message"]
            .as_str()
            .unwrap()
            .contains("force")
    );
    let not_admin = carol.post(&unlock, json!({ "force": true })).await;
    assert_eq!(not_admin.status, 403);
    let no_force = alice.post(&unlock, json!({ "force": false })).await;
    assert_eq!(no_force.status, 403);
    let forced = alice.post(&unlock, json!({ "force": true })).await;
    assert_eq!(forced.status, 200, "{:?}", forced.body);
    assert_eq!(forced.body["lock"], lock);
    assert_eq!(
        alice.post(&unlock, json!({ "force": true })).await.status,
        404
    );
    let theirs = alice.get(&format!("{locks}?path=a.bin")).await.body["locks"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let own = carol
        .post(&format!("{locks}/{theirs}/unlock"), json!({}))
        .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.body["lock"]["path"], "a.bin");
    assert_eq!(
        carol
            .post(&format!("{locks}/x/unlock"), json!({}))
            .await
            .status,
        404
    );
    assert_eq!(
        alice.get(&locks).await.body["locks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The freed path can be locked again.
    assert_eq!(
        bob.post(&locks, json!({ "path": "weights/model.bin" }))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn presigned_downloads_redirect_to_the_store_where_it_can_presign() {
    // A hub like the others (local store, or a fresh S3 bucket), with the
    // flag on, and its LFS objects left as plain copies (once chunked into
    // xorbs, a file exists only as the hub rebuilds it, and is served by it).
    let plain = TestHub::start().await;
    let mut env = plain.env.clone();
    env.push(("HUB_LFS_PRESIGNED_DOWNLOADS".into(), "true".into()));
    env.push(("HUB_XET_INGEST".into(), "off".into()));
    let db = tests::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::spawn_with(dir.path(), Some(db.url.clone()), env).await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "p", true)
        .await;
    let lfs = Lfs::new(&hub, "alice/p", Some(&token));
    let data = sample(70_000, 6);
    let oid = lfs.upload(&data).await;
    let object = lfs.batch_one("download", &oid, data.len()).await;
    let href = object["actions"]["download"]["href"].as_str().unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = no_redirects.get(href).send().await.unwrap();
    if tests::uses_s3() {
        assert_eq!(first.status(), 307);
        let location = first.headers()["location"].to_str().unwrap();
        assert!(location.contains("X-Amz-Signature="), "{location}");
        assert!(location.contains(&oid), "{location}");
    } else {
        // The local store cannot presign: the hub serves the bytes itself.
        assert_eq!(first.status(), 200);
    }
    assert_eq!(lfs.download(&oid, data.len()).await, data);
    // Access is checked before any redirect.
    let bob = Lfs::new(&hub, "alice/p", Some(&hub.user_with_token("bob")));
    let refused = no_redirects
        .get(format!("{}/objects/{oid}", bob.base))
        .bearer_auth(bob.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
}

#[tokio::test]
async fn a_client_that_goes_away_mid_upload_leaves_nothing() {
    use tokio::io::AsyncWriteExt;
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let lfs = Lfs::new(&hub, "alice/m", Some(&token));
    let data = sample(3_000_000, 7);
    let oid = oid_of(&data);
    let object = lfs.batch_one("upload", &oid, data.len()).await;
    let href = object["actions"]["upload"]["href"].as_str().unwrap();
    let rest = href.strip_prefix("http://").unwrap();
    let (host, target) = rest.split_at(rest.find('/').unwrap());
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&data[..1_000_000]).await.unwrap();
    conn.flush().await.unwrap();
    // The upload has begun in the store (a staging file, or an S3 multipart upload) ...
    let mut started = false;
    for _ in 0..200 {
        if !store_contents(&hub).await.is_empty() {
            started = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(started, "the upload never reached the store");
    // ... and the client vanishes: the upload is aborted, nothing is left.
    drop(conn);
    let mut left = store_contents(&hub).await;
    for _ in 0..200 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        left = store_contents(&hub).await;
    }
    assert_eq!(left, Vec::<String>::new());
    let down = lfs.batch_one("download", &oid, data.len()).await;
    assert_eq!(down["error"]["code"], 404);
}

/// A made-up signature gets one answer whether the repo is missing, private
/// (to a caller who cannot see it) or public: else it would tell anyone
/// which private repos exist.
#[tokio::test]
async fn a_bad_transfer_link_says_nothing_about_the_repo() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "private", true).await;
    api.create_repo("model", "alice", "public", false).await;
    let oid = oid_of(b"anything");
    let query = format!("op=upload&size=8&exp={}&sig=x", unix_now() + 600);
    let down_query = format!("op=download&size=8&exp={}&sig=x", unix_now() + 600);
    let mut answers = Vec::new();
    for repo in ["alice/private", "alice/public", "alice/missing"] {
        let url = format!("{}/{repo}.git/info/lfs/objects/{oid}", hub.url);
        let client = reqwest::Client::new();
        let calls = [
            client.put(format!("{url}?{query}")).body("anything"),
            client.put(format!("{url}?sig=x")).body("anything"),
            client.put(&url).body("anything"),
            client.get(format!("{url}?{down_query}")),
            client.get(format!("{url}?{down_query}")).bearer_auth(&bob),
        ];
        let mut seen = Vec::new();
        for call in calls {
            let resp = call.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            seen.push((status, body["message"].clone()));
        }
        answers.push((repo, seen));
    }
    let (_, first) = &answers[0];
    for (repo, seen) in &answers {
        assert_eq!(seen, first, "{repo} answers differently: {answers:?}");
    }
    assert!(first.iter().all(|(status, _)| *status == 403), "{first:?}");
}
