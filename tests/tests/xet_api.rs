//! The Xet CAS over HTTP, as hf_xet speaks it: the token endpoints, xorb
//! and shard uploads that end as LFS objects (committed with `lfsFile`
//! lines and downloaded through `resolve`), chunk dedupe, the read path
//! (read tokens, reconstructions, signed xorb ranges), and everything that
//! must be refused. Xorbs and shards are built by hand with
//! hub-core's builders (raw, LZ4 and BG4 chunks).

use std::path::Path;

use hub_core::xet::hash::XetHash;
use hub_core::xet::shard::{ShardBuilder, Term};
use hub_core::xet::xorb::{Scheme, XorbBuilder};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::{Api, TestHub};

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Bytes that compress a little (text-like runs) and differ by seed.
fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|i| {
            if i % 64 < 16 {
                b'a' + (i % 7) as u8
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }
        })
        .collect()
}

/// A xorb of `chunks`, stored raw, LZ4 and BG4 in turn.
struct Xorb {
    bytes: Vec<u8>,
    hash: XetHash,
    chunks: Vec<Vec<u8>>,
}

thread_local! {
    /// The chunks (hash, length) of every xorb a test built, by xorb hash:
    /// what a shard's file hash is computed from.
    static CHUNKS: std::cell::RefCell<std::collections::HashMap<XetHash, Vec<(XetHash, u64)>>> =
        Default::default();
}

impl Xorb {
    fn of(chunks: Vec<Vec<u8>>) -> Xorb {
        let mut builder = XorbBuilder::default();
        for (i, c) in chunks.iter().enumerate() {
            builder = builder.chunk(c, [Scheme::None, Scheme::Lz4, Scheme::Bg4Lz4][i % 3]);
        }
        Xorb::built(builder, chunks)
    }

    /// The xorb `builder` built of `chunks`.
    fn built(builder: XorbBuilder, chunks: Vec<Vec<u8>>) -> Xorb {
        let hash = builder.hash();
        let list = chunks
            .iter()
            .map(|c| (XetHash::of_chunk(c), c.len() as u64))
            .collect();
        CHUNKS.with(|m| m.borrow_mut().insert(hash, list));
        Xorb {
            bytes: builder.bytes,
            hash,
            chunks,
        }
    }

    /// The term for chunks `[start, end)`, and their bytes.
    fn range(&self, start: usize, end: usize) -> (Term, Vec<u8>) {
        let data = self.chunks[start..end].concat();
        let term = Term {
            xorb: self.hash,
            unpacked_bytes: data.len() as u32,
            chunk_start: start as u32,
            chunk_end: end as u32,
        };
        (term, data)
    }
}

/// A shard with one file made of `terms`, claiming sha256 `sha`, with the
/// file hash its chunks give (terms of xorbs this test did not build count
/// as empty).
fn shard(terms: &[Term], sha: &str) -> Vec<u8> {
    ShardBuilder::default()
        .file(file_hash(terms), terms, sha)
        .build()
}

fn file_hash(terms: &[Term]) -> XetHash {
    let chunks: Vec<(XetHash, u64)> = CHUNKS.with(|m| {
        let m = m.borrow();
        terms
            .iter()
            .filter_map(|t| {
                let list = m.get(&t.xorb)?;
                list.get(t.chunk_start as usize..t.chunk_end as usize)
            })
            .flatten()
            .copied()
            .collect()
    });
    XetHash::of_file(&chunks)
}

struct Reply {
    status: u16,
    body: Value,
}

/// A CAS client with one access token.
struct Cas {
    url: String,
    token: Option<String>,
    client: reqwest::Client,
}

impl Cas {
    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, body }
    }

    async fn xorb_as(&self, name: &str, body: Vec<u8>) -> Reply {
        let url = format!("{}/v1/xorbs/default/{name}", self.url);
        self.send(self.client.post(url).body(body)).await
    }

    async fn xorb(&self, xorb: &Xorb) -> Reply {
        self.xorb_as(&xorb.hash.to_hex(), xorb.bytes.clone()).await
    }

    async fn shard(&self, body: Vec<u8>) -> Reply {
        let url = format!("{}/v1/shards", self.url);
        self.send(self.client.post(url).body(body)).await
    }
}

/// The CAS of repo `ns/name` (a model) for the holder of `token`.
async fn cas_for(hub: &TestHub, token: &str, repo: &str) -> Cas {
    let reply = hub
        .api(Some(token))
        .get(&format!("/api/models/{repo}/xet-write-token/main"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    Cas {
        url: reply.body["casUrl"].as_str().unwrap().to_owned(),
        token: Some(reply.body["accessToken"].as_str().unwrap().to_owned()),
        client: reqwest::Client::new(),
    }
}

fn lfs_file(path: &str, oid: &str, size: usize) -> Value {
    json!({ "key": "lfsFile", "value": { "path": path, "algo": "sha256", "oid": oid, "size": size } })
}

async fn download(hub: &TestHub, token: &str, repo: &str, path: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::new()
        .get(format!("{}/{repo}/resolve/main/{path}", hub.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

fn files_under(dir: &Path) -> Vec<String> {
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
                out.push(path.display().to_string());
            }
        }
    }
    out
}

/// What the hub's object store holds under `prefix` (`lfs`, `xet`): files
/// under the data dir's `objects/` (staging files included), or on S3 the
/// bucket's keys and its unfinished multipart uploads.
async fn stored(hub: &TestHub, prefix: &str) -> Vec<String> {
    let var = |k: &str| {
        hub.env
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    };
    let (Some(endpoint), Some(store)) = (var("AWS_ENDPOINT"), var("HUB_OBJECT_STORE")) else {
        let mut found = files_under(&hub.data_dir.join("objects").join(prefix));
        found.sort();
        return found;
    };
    let bucket = store.trim_start_matches("s3://");
    let mut found = Vec::new();
    for (query, tag) in [("list-type=2", "<Key>"), ("uploads", "<Key>")] {
        let url = format!("{endpoint}/{bucket}?{query}&prefix={prefix}/");
        let xml = reqwest::get(url).await.unwrap().text().await.unwrap();
        for piece in xml.split(tag).skip(1) {
            found.push(format!("{query}:{}", piece.split('<').next().unwrap_or("")));
        }
    }
    found.sort();
    found
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn commit(api: &Api, repo: &str, ops: &[Value]) -> tests::Answer {
    api.commit(repo, "upload through xet", ops, None).await
}

#[tokio::test]
async fn write_tokens_need_write_access_and_read_tokens_never_write() {
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    let alice_read = hub.token("alice", false);
    let api = hub.api(Some(&alice));
    api.create_repo("model", "alice", "m", false).await;
    api.create_repo("model", "alice", "private", true).await;
    api.create_repo("dataset", "alice", "d", false).await;

    let reply = api.get("/api/models/alice/m/xet-write-token/main").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cas_url = format!("{}/cas", hub.url);
    let token = reply.body["accessToken"].as_str().unwrap();
    let exp = reply.body["exp"].as_i64().unwrap();
    assert_eq!(reply.body["casUrl"], cas_url.as_str());
    assert!(exp >= unix_now() + 600, "valid for at least ten minutes");
    assert_eq!(reply.headers["x-xet-cas-url"], cas_url.as_str());
    assert_eq!(reply.headers["x-xet-access-token"], token);
    assert_eq!(
        reply.headers["x-xet-token-expiration"],
        exp.to_string().as_str()
    );
    assert!(!token.contains(&alice), "the hub token is not handed out");
    let dataset = api.get("/api/datasets/alice/d/xet-write-token/main").await;
    assert_eq!(dataset.status, 200);

    // Anonymous callers, read tokens and non-members get no write token.
    let anonymous = hub
        .api(None)
        .get("/api/models/alice/m/xet-write-token/main")
        .await;
    assert_eq!(anonymous.status, 401);
    let reader = hub
        .api(Some(&alice_read))
        .get("/api/models/alice/m/xet-write-token/main")
        .await;
    assert_eq!(reader.status, 403);
    let other = hub.api(Some(&bob));
    assert_eq!(
        other
            .get("/api/models/alice/m/xet-write-token/main")
            .await
            .status,
        403
    );
    let hidden = other
        .get("/api/models/alice/private/xet-write-token/main")
        .await;
    assert_eq!(hidden.status, 404);
    assert_eq!(hidden.error_code(), Some("RepoNotFound"));
    assert_eq!(
        other
            .get("/api/models/alice/nope/xet-write-token/main")
            .await
            .status,
        404
    );

    // An upload for a pull request: a writer, and a non-member (who may
    // propose changes to a public repo, not to a private one), get a token.
    let pr = api
        .get("/api/models/alice/m/xet-write-token/None?create_pr=1")
        .await;
    assert_eq!(pr.status, 200, "{:?}", pr.body);
    let proposal = other
        .get("/api/models/alice/m/xet-write-token/main?create_pr=1")
        .await;
    assert_eq!(proposal.status, 200, "{:?}", proposal.body);
    let hidden = other
        .get("/api/models/alice/private/xet-write-token/main?create_pr=1")
        .await;
    assert_eq!(hidden.status, 404);
    let reader = hub
        .api(Some(&alice_read))
        .get("/api/models/alice/m/xet-write-token/main?create_pr=1")
        .await;
    assert_eq!(reader.status, 403);

    // A read token cannot upload.
    let read = api.get("/api/models/alice/m/xet-read-token/main").await;
    assert_eq!(read.status, 200, "{}", read.body);
    let read_cas = Cas {
        url: read.body["casUrl"].as_str().unwrap().to_owned(),
        token: Some(read.body["accessToken"].as_str().unwrap().to_owned()),
        client: reqwest::Client::new(),
    };
    let xorb = Xorb::of(vec![content(1000, 1)]);
    assert_eq!(read_cas.xorb(&xorb).await.status, 403);
    assert_eq!(
        read_cas.shard(shard(&[], &"e3".repeat(32))).await.status,
        403
    );
    assert!(stored(&hub, "xet").await.is_empty());
}

#[tokio::test]
async fn xorbs_and_a_shard_become_an_lfs_object_that_commits_and_downloads() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let cas = cas_for(&hub, &token, "alice/m").await;

    let first = Xorb::of(
        (0..5)
            .map(|i| content(40_000 + i * 1000, i as u64))
            .collect(),
    );
    let second = Xorb::of(vec![content(70_000, 50), content(65_536, 51)]);
    for xorb in [&first, &second] {
        let reply = cas.xorb(xorb).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body, json!({ "was_inserted": true }));
    }
    // Uploading a xorb again stores nothing new.
    assert_eq!(
        cas.xorb(&first).await.body,
        json!({ "was_inserted": false })
    );

    let (t1, d1) = first.range(0, 5);
    let (t2, d2) = second.range(0, 2);
    let data = [d1, d2].concat();
    let oid = sha256_hex(&data);
    let reply = cas.shard(shard(&[t1, t2], &oid)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, json!({ "result": 1 }));
    // The xorbs are the only copy: nothing was rebuilt into the LFS store.
    assert_eq!(stored(&hub, "lfs").await, Vec::<String>::new());

    let done = commit(
        &api,
        "alice/m",
        &[lfs_file("weights.bin", &oid, data.len())],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let (status, bytes) = download(&hub, &token, "alice/m", "weights.bin").await;
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&bytes), oid);
    assert_eq!(bytes, data);

    // The same shard again (a re-upload of an unchanged file) is accepted.
    assert_eq!(cas.shard(shard(&[t1, t2], &oid)).await.status, 200);

    // A xorb's hash is no chunk's (404); the stub calls answer 404 (so the
    // client falls back), telemetry is accepted.
    let client = reqwest::Client::new();
    let with_token = |req: reqwest::RequestBuilder| req.bearer_auth(cas.token.as_deref().unwrap());
    for prefix in ["default", "default-merkledb"] {
        let url = format!("{}/v1/chunks/{prefix}/{}", cas.url, first.hash);
        assert_eq!(
            with_token(client.get(url)).send().await.unwrap().status(),
            404
        );
    }
    let grant = format!("{}/v1/xorb-grants/default/{}", cas.url, first.hash);
    let grant = with_token(client.post(grant))
        .json(&json!({ "length": 10, "checksum": { "algo": "crc64nvme", "value": "0" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 404);
    let v2 = with_token(client.post(format!("{}/v2/shards", cas.url)))
        .body(shard(&[t1], &oid))
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 404);
    let telemetry = with_token(client.post(format!("{}/v1/telemetry", hub.url)))
        .json(&json!({ "event": "xet_upload_summary", "metrics": { "dedup_bytes": 0 } }))
        .send()
        .await
        .unwrap();
    assert!(telemetry.status().is_success());
}

#[tokio::test]
async fn unchanged_chunks_need_only_a_shard() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    api.create_repo("dataset", "alice", "other", true).await;
    let cas = cas_for(&hub, &token, "alice/m").await;
    let xorb = Xorb::of((0..6).map(|i| content(30_000, 100 + i)).collect());
    assert_eq!(cas.xorb(&xorb).await.status, 200);
    let (whole, data) = xorb.range(0, 6);
    assert_eq!(
        cas.shard(shard(&[whole], &sha256_hex(&data))).await.status,
        200
    );

    // Later files built from stored chunks (a copy, an edit that reuses
    // most chunks) are uploaded with a shard and no xorb.
    let cas = cas_for(&hub, &token, "alice/m").await;
    let (head, d_head) = xorb.range(0, 2);
    let (tail, d_tail) = xorb.range(4, 6);
    let edited = [d_tail.clone(), d_head.clone()].concat();
    let reply = cas.shard(shard(&[tail, head], &sha256_hex(&edited))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ops = [
        lfs_file("a.bin", &sha256_hex(&data), data.len()),
        lfs_file("edited.bin", &sha256_hex(&edited), edited.len()),
    ];
    assert_eq!(commit(&api, "alice/m", &ops).await.status, 200);
    assert_eq!(
        download(&hub, &token, "alice/m", "edited.bin").await.1,
        edited
    );
    assert_eq!(download(&hub, &token, "alice/m", "a.bin").await.1, data);

    // The same user's client dedupes across repos: a shard for another
    // repo may use the xorbs they uploaded.
    let reply = hub
        .api(Some(&token))
        .get("/api/datasets/alice/other/xet-write-token/main")
        .await;
    let other = Cas {
        url: reply.body["casUrl"].as_str().unwrap().to_owned(),
        token: Some(reply.body["accessToken"].as_str().unwrap().to_owned()),
        client: reqwest::Client::new(),
    };
    let (middle, d_middle) = xorb.range(2, 4);
    let reply = other.shard(shard(&[middle], &sha256_hex(&d_middle))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn wrong_shards_and_xorbs_are_refused_and_store_nothing() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let cas = cas_for(&hub, &token, "alice/m").await;
    let xorb = Xorb::of((0..3).map(|i| content(20_000, 200 + i)).collect());
    assert_eq!(cas.xorb(&xorb).await.status, 200);
    let (term, data) = xorb.range(0, 3);
    let oid = sha256_hex(&data);

    // A sha256 the chunks do not have: 400, nothing stored, nothing to commit.
    let mut wrong = data.clone();
    wrong[0] ^= 1;
    let reply = cas.shard(shard(&[term], &sha256_hex(&wrong))).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["error"].as_str().unwrap().contains("sha256"),
        "{}",
        reply.body
    );
    assert_eq!(stored(&hub, "lfs").await, Vec::<String>::new());
    let claimed = [lfs_file("x.bin", &sha256_hex(&wrong), data.len())];
    assert_eq!(commit(&api, "alice/m", &claimed).await.status, 400);
    assert_eq!(
        commit(&api, "alice/m", &[lfs_file("x.bin", &oid, data.len())])
            .await
            .status,
        400,
        "the real content was not stored either"
    );

    // A term that claims a length its chunks do not have.
    let long = Term {
        unpacked_bytes: term.unpacked_bytes + 1,
        ..term
    };
    let reply = cas.shard(shard(&[long], &oid)).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["error"].as_str().unwrap().contains("hold"),
        "{}",
        reply.body
    );
    // Chunks past the xorb's end.
    let past = Term {
        chunk_end: 4,
        ..term
    };
    assert_eq!(cas.shard(shard(&[past], &oid)).await.status, 400);

    // A xorb never uploaded: 400 naming it.
    let unknown = Xorb::of(vec![content(10_000, 300)]);
    let (term_u, data_u) = unknown.range(0, 1);
    let reply = cas.shard(shard(&[term_u], &sha256_hex(&data_u))).await;
    assert_eq!(reply.status, 400);
    let message = reply.body["error"].as_str().unwrap();
    assert!(message.contains(&unknown.hash.to_hex()), "{message}");

    // Not a shard at all, or a truncated one.
    assert_eq!(cas.shard(b"hello".to_vec()).await.status, 400);
    let good = shard(&[term], &oid);
    assert_eq!(
        cas.shard(good[..good.len() - 60].to_vec()).await.status,
        400
    );
    assert_eq!(stored(&hub, "lfs").await, Vec::<String>::new());

    // A corrupted xorb, and a valid xorb under another xorb's name: 400.
    let fresh = Xorb::of(vec![content(25_000, 400), content(25_000, 401)]);
    let mut corrupted = fresh.bytes.clone();
    let last = corrupted.len() - 10;
    corrupted[last] ^= 0xff;
    let reply = cas.xorb_as(&fresh.hash.to_hex(), corrupted).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let mut truncated = fresh.bytes.clone();
    truncated.truncate(truncated.len() - 1);
    let reply = cas.xorb_as(&fresh.hash.to_hex(), truncated).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body["error"].as_str().unwrap().contains("truncated"));
    let reply = cas.xorb_as(&fresh.hash.to_hex(), xorb.bytes.clone()).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body["error"].as_str().unwrap().contains("hash to"));
    assert_eq!(
        cas.xorb_as("not-a-hash", fresh.bytes.clone()).await.status,
        400
    );
    let unknown_prefix = format!("{}/v1/xorbs/other/{}", cas.url, fresh.hash);
    let reply = cas
        .send(cas.client.post(unknown_prefix).body(fresh.bytes.clone()))
        .await;
    assert_eq!(reply.status, 404);
    // None of them can be used by a shard.
    let (term_f, data_f) = fresh.range(0, 2);
    assert_eq!(
        cas.shard(shard(&[term_f], &sha256_hex(&data_f)))
            .await
            .status,
        400
    );
    assert!(
        !stored(&hub, "xet")
            .await
            .iter()
            .any(|p| p.contains(&fresh.hash.to_hex()))
    );
}

#[tokio::test]
async fn cas_tokens_are_checked_and_bound_to_one_repo() {
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    let alice_api = hub.api(Some(&alice));
    alice_api.create_repo("model", "alice", "a", true).await;
    alice_api.create_repo("model", "alice", "b", false).await;
    let bob_api = hub.api(Some(&bob));
    bob_api.create_repo("model", "bob", "m", false).await;

    let cas_a = cas_for(&hub, &alice, "alice/a").await;
    let xorb = Xorb::of(vec![content(30_000, 500), content(30_000, 501)]);
    assert_eq!(cas_a.xorb(&xorb).await.status, 200);
    let (term, data) = xorb.range(0, 2);
    let oid = sha256_hex(&data);
    assert_eq!(cas_a.shard(shard(&[term], &oid)).await.status, 200);

    // The object belongs to repo a: repo b cannot commit it without its own upload.
    let into_b = commit(
        &alice_api,
        "alice/b",
        &[lfs_file("w.bin", &oid, data.len())],
    )
    .await;
    assert_eq!(into_b.status, 400);

    // Bob knows the xorb's hash and the file's sha256, but never uploaded
    // the xorb: his shard cannot use it, and he gets no object.
    let cas_bob = cas_for(&hub, &bob, "bob/m").await;
    let reply = cas_bob.shard(shard(&[term], &oid)).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.body["error"]
            .as_str()
            .unwrap()
            .contains("not uploaded")
    );
    let stolen = commit(&bob_api, "bob/m", &[lfs_file("w.bin", &oid, data.len())]).await;
    assert_eq!(stolen.status, 400);
    // Uploading the xorb proves he holds the content; then it works, and
    // the store keeps one copy of each.
    assert_eq!(
        cas_bob.xorb(&xorb).await.body,
        json!({ "was_inserted": true })
    );
    assert_eq!(cas_bob.shard(shard(&[term], &oid)).await.status, 200);
    assert_eq!(
        commit(&bob_api, "bob/m", &[lfs_file("w.bin", &oid, data.len())])
            .await
            .status,
        200
    );
    assert_eq!(download(&hub, &bob, "bob/m", "w.bin").await.1, data);
    assert_eq!(stored(&hub, "lfs").await, Vec::<String>::new());
    assert_eq!(stored(&hub, "xet").await.len(), 1);

    // A token is refused when missing, malformed, tampered or for another hub.
    let a_token = cas_a.token.clone().unwrap();
    let tampered = {
        let flipped = if a_token.ends_with('0') { "1" } else { "0" };
        format!("{}{flipped}", &a_token[..a_token.len() - 1])
    };
    let moved = {
        let mut parts: Vec<&str> = a_token.split('.').collect();
        let other_repo = (parts[2].parse::<i64>().unwrap() + 1).to_string();
        parts[2] = &other_repo;
        parts.join(".")
    };
    for token in [
        None,
        Some("garbage".to_owned()),
        Some(tampered),
        Some(moved),
        Some(alice.clone()),
    ] {
        // A fresh connection each: the hub answers before reading the body.
        let cas = || Cas {
            url: cas_a.url.clone(),
            token: token.clone(),
            client: reqwest::Client::new(),
        };
        let reply = cas().xorb(&xorb).await;
        assert_eq!(reply.status, 401, "{token:?}");
        assert_eq!(cas().shard(shard(&[term], &oid)).await.status, 401);
    }

    // A token outlives neither the repo nor the writer's access.
    let cas_b = cas_for(&hub, &alice, "alice/b").await;
    let deleted = alice_api
        .send(
            reqwest::Method::DELETE,
            "/api/repos/delete",
            Some(json!({ "name": "b", "organization": "alice", "type": "model" })),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(cas_b.xorb(&xorb).await.status, 403);
    let cas_b = Cas {
        client: reqwest::Client::new(),
        ..cas_b
    };
    assert_eq!(cas_b.shard(shard(&[term], &oid)).await.status, 403);
}

/// A user `name` with a write token, a public model `name/m`, and the
/// CAS of that model for them.
async fn uploader(hub: &TestHub, name: &str) -> (String, Cas) {
    let token = hub.user_with_token(name);
    hub.api(Some(&token))
        .create_repo("model", name, "m", false)
        .await;
    let cas = cas_for(hub, &token, &format!("{name}/m")).await;
    (token, cas)
}

/// Bytes the hub process has written so far (files, the object store
/// included; `wchar` of `/proc/<pid>/io`).
fn written(hub: &TestHub) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{}/io", hub.pid())).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// One 128 KiB chunk of zeros, LZ4-compressed: a xorb of about 550 bytes.
fn zeros_xorb() -> Xorb {
    let zeros = vec![0u8; 128 << 10];
    let builder = XorbBuilder::default().chunk(&zeros, Scheme::Lz4);
    Xorb::built(builder, vec![zeros])
}

#[tokio::test]
async fn a_shard_naming_one_chunk_thousands_of_times_is_refused_before_anything_is_written() {
    let hub = TestHub::start().await;
    let (_, cas) = uploader(&hub, "alice").await;
    let xorb = zeros_xorb();
    assert_eq!(cas.xorb(&xorb).await.status, 200);
    let (term, _) = xorb.range(0, 1);

    // The attack: 8,192 terms of the one chunk, 1 GiB, with a wrong sha256.
    let bomb = shard(&vec![term; 8192], &"ab".repeat(32));
    let shard_len = bomb.len();
    let before = written(&hub);
    let started = std::time::Instant::now();
    let reply = cas.shard(bomb).await;
    let took = started.elapsed();
    let wrote = written(&hub) - before;
    let peak = hub.memory_mib("VmHWM");
    println!(
        "shard amplification: xorb {} B, shard {shard_len} B → {} in {took:?}; \
         hub wrote {wrote} B; peak RSS {peak} MiB",
        xorb.bytes.len(),
        reply.status
    );
    assert_eq!(reply.status, 413, "{}", reply.body);
    let message = reply.body["error"].as_str().unwrap();
    assert!(
        message.contains("would rebuild 1073741824 bytes"),
        "{message}"
    );
    // (It spools the shard it was sent, nothing more.)
    assert!(
        wrote < shard_len as u64 + (64 << 10),
        "the hub wrote {wrote} bytes"
    );
    assert!(peak < 300, "peak RSS {peak} MiB");
    assert_eq!(stored(&hub, "lfs").await, Vec::<String>::new());
}

#[tokio::test]
async fn a_wrong_sha256_is_found_before_anything_is_written() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let cas = cas_for(&hub, &token, "alice/m").await;
    let xorb = zeros_xorb();
    assert_eq!(cas.xorb(&xorb).await.status, 200);
    let (term, zeros) = xorb.range(0, 1);

    // 50 MiB of zeros from one chunk: within what a shard may rebuild
    // (small files of zeros are legitimate), but with a wrong sha256.
    let terms = vec![term; 400];
    let data = zeros.repeat(400);
    let wrong = shard(&terms, &"ab".repeat(32));
    let shard_len = wrong.len() as u64;
    let before = written(&hub);
    let reply = cas.shard(wrong).await;
    let wrote = written(&hub) - before;
    println!(
        "wrong sha256 for a 50 MiB file: {}; hub wrote {wrote} B",
        reply.status
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("sha256"),
        "{}",
        reply.body
    );
    // (The spooled shard, and on S3 the headers of the requests that read
    // the chunks back; not the 50 MiB file.)
    assert!(
        wrote < shard_len + (1 << 20),
        "the hub wrote {wrote} bytes for a wrong file"
    );
    assert_eq!(stored(&hub, "lfs").await, Vec::<String>::new());

    // The right sha256 with a file hash its chunks do not give: the hub
    // would serve the file under that hash, so it is refused too.
    let oid = sha256_hex(&data);
    let lying = ShardBuilder::default()
        .file(XetHash([0x11; 32]), &terms, &oid)
        .build();
    let reply = cas.shard(lying).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("file hash"),
        "{}",
        reply.body
    );

    // The right sha256 and hash: stored, committed and downloaded.
    let reply = cas.shard(shard(&terms, &oid)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let done = commit(&api, "alice/m", &[lfs_file("zeros.bin", &oid, data.len())]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let (status, bytes) = download(&hub, &token, "alice/m", "zeros.bin").await;
    assert_eq!(status, 200);
    assert!(bytes == data);
}

#[tokio::test]
async fn rebuilt_bytes_count_against_a_daily_quota_per_user() {
    let hub = TestHub::start_with(&[("HUB_XET_DAILY_BYTES", "300000")], &[]).await;
    let (_, cas) = uploader(&hub, "alice").await;
    let (_, cas_bob) = uploader(&hub, "bob").await;
    let xorb = Xorb::of((0..3).map(|i| content(60_000, 700 + i)).collect());
    assert_eq!(cas.xorb(&xorb).await.status, 200);
    let file = |start, end| {
        let data = xorb.range(start, end).1;
        hashed_shard(&[(&xorb, start, end)], &sha256_hex(&data)).0
    };
    // 120 KB, then 120 KB more: within 300 KB.
    assert_eq!(cas.shard(file(0, 2)).await.status, 200);
    assert_eq!(cas.shard(file(1, 3)).await.status, 200);
    // 180 KB more would pass it: refused, with when to come back.
    let reply = cas.shard(file(0, 3)).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("a day"),
        "{}",
        reply.body
    );
    // A file the repo already has (readable through Xet) costs nothing.
    assert_eq!(cas.shard(file(0, 2)).await.status, 200);
    // The quota is the user's own: bob's uploads are not held up.
    assert_eq!(cas_bob.xorb(&xorb).await.status, 200);
    assert_eq!(cas_bob.shard(file(0, 3)).await.status, 200);
    // Present now: naming it again rebuilds nothing and costs nothing.
    assert_eq!(cas_bob.shard(file(0, 3)).await.status, 200);
}

#[tokio::test]
async fn a_stalled_xorb_upload_holds_only_its_own_users_places() {
    const BODY_SECS: u64 = 8;
    let hub = TestHub::start_with(&[("HUB_BODY_TIMEOUT_SECS", &BODY_SECS.to_string())], &[]).await;
    let (_, cas_a) = uploader(&hub, "alice").await;
    let (_, cas_m) = uploader(&hub, "mallory").await;
    let addr = hub.url.trim_start_matches("http://").to_owned();

    // Mallory opens as many uploads as she has places (xorbs and shards,
    // as many of each as the hub has processing slots for them), each
    // declaring 1 MB and sending one byte.
    let mut stalled = Vec::new();
    for i in 0..hub_core::xet::intake::UPLOADS_PER_USER {
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let path = match i % 2 {
            0 => format!("/cas/v1/xorbs/default/{:064x}", i + 1),
            _ => "/cas/v1/shards".to_owned(),
        };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: hub\r\n\
             Authorization: Bearer {}\r\nContent-Length: 1000000\r\n\r\nX",
            cas_m.token.as_deref().unwrap()
        );
        tokio::io::AsyncWriteExt::write_all(&mut conn, request.as_bytes())
            .await
            .unwrap();
        stalled.push(conn);
    }
    let opened = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // Alice's upload goes through at once.
    let xorb = Xorb::of(vec![content(50_000, 800), content(50_000, 801)]);
    let reply = tokio::time::timeout(std::time::Duration::from_secs(4), cas_a.xorb(&xorb))
        .await
        .expect("alice's xorb upload waited on mallory's stalled ones");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (term, data) = xorb.range(0, 2);
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(4),
        cas_a.shard(shard(&[term], &sha256_hex(&data))),
    )
    .await
    .expect("alice's shard upload waited on mallory's stalled ones");
    assert_eq!(reply.status, 200, "{}", reply.body);
    println!(
        "alice's xorb and shard next to mallory's stalled uploads: {:?}",
        opened.elapsed()
    );

    // Mallory's next upload waits for one of her own places, which her
    // stalled uploads give back when the body timeout cuts them.
    let mine = Xorb::of(vec![content(50_000, 900)]);
    let started = std::time::Instant::now();
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(BODY_SECS + 10),
        cas_m.xorb(&mine),
    )
    .await
    .expect("mallory's places came back after the body timeout");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let waited = started.elapsed();
    println!("mallory's next upload waited {waited:?}");
    assert!(
        waited >= std::time::Duration::from_secs(BODY_SECS / 2),
        "{waited:?}"
    );
    for mut conn in stalled {
        let mut answer = String::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_string(&mut conn, &mut answer),
        )
        .await
        .expect("the stalled upload is closed");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_xorb_declared_too_large_is_refused_unread() {
    let hub = TestHub::start().await;
    let (_, cas) = uploader(&hub, "alice").await;
    let addr = hub.url.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /cas/v1/xorbs/default/{:064x} HTTP/1.1\r\nHost: hub\r\n\
         Authorization: Bearer {}\r\nContent-Length: 100000000000\r\nConnection: close\r\n\r\n",
        7,
        cas.token.as_deref().unwrap()
    );
    tokio::io::AsyncWriteExt::write_all(&mut conn, request.as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_to_string(&mut conn, &mut answer),
    )
    .await
    .expect("answered without the body")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn cas_tokens_end_with_the_api_token_or_session_they_were_issued_for() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let other = hub.token("alice", true);
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let cas = cas_for(&hub, &token, "alice/m").await;
    let cas_other = cas_for(&hub, &other, "alice/m").await;
    let xorb = Xorb::of(vec![content(30_000, 600)]);
    assert_eq!(cas.xorb(&xorb).await.status, 200);

    // The API token is revoked (as the settings page does): its CAS token
    // stops working at once, not when it expires.
    let url = hub.database_url.clone().unwrap();
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1")
        .bind(Sha256::digest(token.as_bytes()).to_vec())
        .execute(&mut db)
        .await
        .unwrap();
    let second = Xorb::of(vec![content(30_000, 601)]);
    assert_eq!(cas.xorb(&second).await.status, 401);
    let (term, data) = xorb.range(0, 1);
    assert_eq!(
        cas.shard(shard(&[term], &sha256_hex(&data))).await.status,
        401
    );
    let refresh = hub
        .api(Some(&token))
        .get("/api/models/alice/m/xet-write-token/main")
        .await;
    assert_eq!(refresh.status, 401);
    // The user's other token, and its CAS token, are unaffected.
    assert_eq!(cas_other.xorb(&second).await.status, 200);

    // A CAS token issued to a browser session ends with the session.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_up = browser
        .post(format!("{}/signup", hub.url))
        .form(&[
            ("username", "carol"),
            ("email", "carol@example.com"),
            ("password", "long-enough"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 303);
    let carol = hub.token("carol", true);
    hub.api(Some(&carol))
        .create_repo("model", "carol", "m", false)
        .await;
    let reply = browser
        .get(format!(
            "{}/api/models/carol/m/xet-write-token/main",
            hub.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    let by_session = Cas {
        url: body["casUrl"].as_str().unwrap().to_owned(),
        token: Some(body["accessToken"].as_str().unwrap().to_owned()),
        client: reqwest::Client::new(),
    };
    assert_eq!(by_session.xorb(&xorb).await.status, 200);
    sqlx::query(
        "DELETE FROM sessions WHERE user_id = (SELECT id FROM namespaces WHERE name = 'carol')",
    )
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(by_session.xorb(&second).await.status, 401);
}

#[tokio::test]
async fn a_users_xorbs_outlive_the_repo_they_were_uploaded_for() {
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    let alice_api = hub.api(Some(&alice));
    alice_api
        .create_repo("model", "alice", "first", false)
        .await;
    let cas_first = cas_for(&hub, &alice, "alice/first").await;
    let xorb = Xorb::of(vec![content(30_000, 700), content(30_000, 701)]);
    assert_eq!(cas_first.xorb(&xorb).await.status, 200);
    let (term, data) = xorb.range(0, 2);
    let oid = sha256_hex(&data);
    assert_eq!(cas_first.shard(shard(&[term], &oid)).await.status, 200);
    let deleted = alice_api
        .send(
            reqwest::Method::DELETE,
            "/api/repos/delete",
            Some(json!({ "name": "first", "organization": "alice", "type": "model" })),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);

    // hf_xet remembers the xorbs it uploaded and sends only a shard for the
    // next repo: the uploader may still use them.
    alice_api
        .create_repo("model", "alice", "second", true)
        .await;
    let cas_second = cas_for(&hub, &alice, "alice/second").await;
    let reply = cas_second.shard(shard(&[term], &oid)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ops = [lfs_file("w.bin", &oid, data.len())];
    assert_eq!(commit(&alice_api, "alice/second", &ops).await.status, 200);
    assert_eq!(
        download(&hub, &alice, "alice/second", "w.bin").await.1,
        data
    );

    // Nobody else gains anything from it: bob, who knows the hashes but
    // never uploaded the xorb, is still refused (the repo is private; had
    // it been public, its content would be his to use anyway).
    hub.api(Some(&bob))
        .create_repo("model", "bob", "m", false)
        .await;
    let cas_bob = cas_for(&hub, &bob, "bob/m").await;
    let reply = cas_bob.shard(shard(&[term], &oid)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

/// Waits until the hub has chunked LFS object `oid` into xorbs and dropped
/// its plain copy (the background ingest polls every second).
async fn wait_until_chunked(hub: &TestHub, db: &sqlx::PgPool, oid: &str) {
    let plain = format!("lfs/{}/{}/{oid}", &oid[0..2], &oid[2..4]);
    for _ in 0..120 {
        let recorded: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM xet_files WHERE sha256 = $1)")
                .bind(oid)
                .fetch_one(db)
                .await
                .unwrap();
        let queued: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM xet_ingest_queue WHERE oid = $1)")
                .bind(oid)
                .fetch_one(db)
                .await
                .unwrap();
        if recorded && !queued {
            let left = stored(hub, "lfs").await;
            assert!(
                !left.iter().any(|p| p.ends_with(&plain)),
                "the plain copy is gone once chunked: {left:?}"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("{oid} was not chunked within 30 s:\n{}", hub.log());
}

/// Bytes stored in xorbs, as the hub recorded them.
async fn xorb_bytes(db: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(sum(size), 0)::bigint FROM xet_xorbs")
        .fetch_one(db)
        .await
        .unwrap()
}

async fn get_range(hub: &TestHub, token: &str, url: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = reqwest::Client::new()
        .get(format!("{}/{url}", hub.url))
        .bearer_auth(token);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn lfs_uploads_become_xorbs_that_dedupe_and_read_back() {
    let hub = TestHub::start().await;
    let db = sqlx::PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    api.create_repo("model", "alice", "copy", false).await;

    let len = 4_000_000;
    let v1 = content(len, 1);
    let oid1 = tests::upload_lfs(&hub, &token, "alice/m", &v1).await;
    let done = commit(&api, "alice/m", &[lfs_file("w.bin", &oid1, len)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let first_commit = done.body["commitOid"].as_str().unwrap().to_owned();
    wait_until_chunked(&hub, &db, &oid1).await;
    let after_v1 = xorb_bytes(&db).await;
    assert!(
        after_v1 > 0 && after_v1 <= len as i64 + len as i64 / 50,
        "{after_v1}"
    );

    // Read back from the xorbs: whole, ranged, and through the LFS API.
    let (status, body) = download(&hub, &token, "alice/m", "w.bin").await;
    assert_eq!(status, 200);
    assert!(body == v1, "the whole file reads back");
    for (range, start, end) in [
        ("bytes=0-0", 0, 1),
        ("bytes=1000000-2999999", 1_000_000, 3_000_000),
        ("bytes=-5", len - 5, len),
        ("bytes=3999990-", len - 10, len),
    ] {
        let (status, body) =
            get_range(&hub, &token, "alice/m/resolve/main/w.bin", Some(range)).await;
        assert_eq!(status, 206, "{range}");
        assert!(body == v1[start..end], "{range}");
    }
    let (status, body) = get_range(
        &hub,
        &token,
        &format!("alice/m.git/info/lfs/objects/{oid1}"),
        Some("bytes=12345-99999"),
    )
    .await;
    assert_eq!(status, 206);
    assert!(body == v1[12345..100_000]);

    // A second revision with 1% changed costs about 1% more (the chunks
    // around the change), though it came through LFS, not Xet.
    let mut v2 = v1.clone();
    for b in &mut v2[2_000_000..2_040_000] {
        *b ^= 0x5a;
    }
    let oid2 = tests::upload_lfs(&hub, &token, "alice/m", &v2).await;
    let done = commit(&api, "alice/m", &[lfs_file("w.bin", &oid2, len)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    wait_until_chunked(&hub, &db, &oid2).await;
    let added = xorb_bytes(&db).await - after_v1;
    assert!(
        added < len as i64 / 20,
        "a 1% change stored {added} new bytes of a {len}-byte file"
    );
    assert!(download(&hub, &token, "alice/m", "w.bin").await.1 == v2);
    let (_, old) = get_range(
        &hub,
        &token,
        &format!("alice/m/resolve/{first_commit}/w.bin"),
        None,
    )
    .await;
    assert!(old == v1, "the first revision still reads back");

    // The same bytes in another repo store nothing new.
    let before = xorb_bytes(&db).await;
    let copy = content(len, 1);
    assert_eq!(
        tests::upload_lfs(&hub, &token, "alice/copy", &copy).await,
        oid1
    );
    let done = commit(&api, "alice/copy", &[lfs_file("w.bin", &oid1, len)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(xorb_bytes(&db).await, before);
    assert!(download(&hub, &token, "alice/copy", "w.bin").await.1 == v1);

    // But never against another namespace's private repo. Bob's file
    // begins like one only alice's private repo holds: his file's terms
    // must not name her xorb (his readers would see that it holds chunks
    // he never had), so his chunks go into xorbs holding nothing else.
    api.create_repo("model", "alice", "secret", true).await;
    let v3 = content(len, 3);
    let oid3 = tests::upload_lfs(&hub, &token, "alice/secret", &v3).await;
    let done = commit(&api, "alice/secret", &[lfs_file("w.bin", &oid3, len)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    wait_until_chunked(&hub, &db, &oid3).await;
    let bob = hub.user_with_token("bob");
    let bob_api = hub.api(Some(&bob));
    bob_api.create_repo("model", "bob", "pub", false).await;
    let mine = [&v3[..len / 2], &content(len / 2, 4)[..]].concat();
    let oid4 = tests::upload_lfs(&hub, &bob, "bob/pub", &mine).await;
    let done = commit(&bob_api, "bob/pub", &[lfs_file("w.bin", &oid4, len)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    wait_until_chunked(&hub, &db, &oid4).await;
    // Each xorb his file names holds only chunks his file uses.
    let foreign: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT x.hash, x.chunk_count::bigint, sum(t.chunk_end - t.chunk_start)::bigint
         FROM xet_file_terms t JOIN xet_xorbs x ON x.hash = t.xorb_hash
         WHERE t.repo_id = (SELECT id FROM repos WHERE name = 'pub')
         GROUP BY x.hash, x.chunk_count
         HAVING sum(t.chunk_end - t.chunk_start) < x.chunk_count",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(
        foreign,
        Vec::new(),
        "bob's file names xorbs holding others' chunks"
    );
    assert!(download(&hub, &bob, "bob/pub", "w.bin").await.1 == mine);
}

/// A shard with one file made of `terms` of `xorbs`, under its true Xet
/// file hash (what hf_xet computes), claiming sha256 `sha`.
fn hashed_shard(parts: &[(&Xorb, usize, usize)], sha: &str) -> (Vec<u8>, XetHash) {
    let mut chunks = Vec::new();
    let mut terms = Vec::new();
    for (xorb, start, end) in parts {
        for c in &xorb.chunks[*start..*end] {
            chunks.push((XetHash::of_chunk(c), c.len() as u64));
        }
        terms.push(xorb.range(*start, *end).0);
    }
    let file_hash = XetHash::of_file(&chunks);
    let body = ShardBuilder::default().file(file_hash, &terms, sha).build();
    (body, file_hash)
}

/// A refused read-token request: its status and error code.
#[derive(Debug)]
struct Refusal {
    status: u16,
    code: Option<String>,
}

/// A Xet reader of one repo: its read token's CAS.
async fn reader_for(hub: &TestHub, token: Option<&str>, repo: &str) -> Result<Cas, Refusal> {
    let reply = hub
        .api(token)
        .get(&format!("/api/models/{repo}/xet-read-token/main"))
        .await;
    if reply.status != 200 {
        return Err(Refusal {
            status: reply.status,
            code: reply.error_code().map(str::to_owned),
        });
    }
    Ok(Cas {
        url: reply.body["casUrl"].as_str().unwrap().to_owned(),
        token: Some(reply.body["accessToken"].as_str().unwrap().to_owned()),
        client: reqwest::Client::new(),
    })
}

impl Cas {
    async fn reconstruction(&self, version: &str, hash: &str, range: Option<&str>) -> Reply {
        let url = format!("{}/{version}/reconstructions/{hash}", self.url);
        let mut req = self.client.get(url);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        self.send(req).await
    }
}

/// Fetches every fetch_info link of a v1 reconstruction as hf_xet does
/// (no credentials, the signed range as `Range`), and checks each against
/// the xorb's stored bytes.
async fn fetch_all(answer: &Value, xorbs: &[&Xorb]) -> usize {
    let client = reqwest::Client::new();
    let mut fetched = 0;
    for (hash, list) in answer["fetch_info"].as_object().unwrap() {
        let xorb = xorbs.iter().find(|x| x.hash.to_hex() == *hash).unwrap();
        for info in list.as_array().unwrap() {
            let (first, last) = (
                info["url_range"]["start"].as_u64().unwrap() as usize,
                info["url_range"]["end"].as_u64().unwrap() as usize,
            );
            let resp = client
                .get(info["url"].as_str().unwrap())
                .header("range", format!("bytes={first}-{last}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 206);
            let body = resp.bytes().await.unwrap();
            assert_eq!(&body[..], &xorb.bytes[first..=last]);
            fetched += 1;
        }
    }
    fetched
}

#[tokio::test]
async fn files_uploaded_through_xet_are_read_through_xet_by_their_readers_only() {
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    let api = hub.api(Some(&alice));
    api.create_repo("model", "alice", "p", true).await;
    api.create_repo("model", "alice", "m", false).await;
    let cas = cas_for(&hub, &alice, "alice/p").await;
    let first = Xorb::of(
        (0..4)
            .map(|i| content(30_000 + i * 100, i as u64))
            .collect(),
    );
    let second = Xorb::of(vec![content(20_000, 9), content(25_000, 10)]);
    for xorb in [&first, &second] {
        assert_eq!(cas.xorb(xorb).await.status, 200);
    }
    let data = [first.range(0, 4).1, second.range(0, 2).1].concat();
    let oid = sha256_hex(&data);
    let (body, file_hash) = hashed_shard(&[(&first, 0, 4), (&second, 0, 2)], &oid);
    assert_eq!(cas.shard(body).await.status, 200);
    let done = commit(&api, "alice/p", &[lfs_file("w.bin", &oid, data.len())]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let hash = file_hash.to_hex();

    // resolve advertises the Xet hash and the read-token route; the tree too.
    let head = reqwest::Client::new()
        .head(format!("{}/alice/p/resolve/main/w.bin", hub.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let commit_id = head.headers()["x-repo-commit"].to_str().unwrap().to_owned();
    assert_eq!(head.headers()["x-xet-hash"], hash.as_str());
    assert_eq!(
        head.headers()["link"].to_str().unwrap(),
        format!(
            "<{}/api/models/alice/p/xet-read-token/{commit_id}>; rel=\"xet-auth\"",
            hub.url
        )
    );
    let tree = api.get("/api/models/alice/p/tree/main").await;
    let entry = tree
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "w.bin")
        .unwrap();
    assert_eq!(entry["xetHash"], hash.as_str());
    let info = hub
        .api(Some(&alice))
        .send(
            reqwest::Method::POST,
            "/api/models/alice/p/paths-info/main",
            Some(json!({ "paths": ["w.bin"] })),
        )
        .await;
    assert_eq!(info.body[0]["xetHash"], hash.as_str());

    // Read tokens: for readers of the repo only (the one visibility rule).
    let token = api.get("/api/models/alice/p/xet-read-token/main").await;
    assert_eq!(token.status, 200, "{}", token.body);
    assert_eq!(token.body["casUrl"], format!("{}/cas", hub.url).as_str());
    assert!(token.body["exp"].as_i64().unwrap() > unix_now() + 600);
    assert_eq!(
        token.headers["x-xet-access-token"],
        token.body["accessToken"].as_str().unwrap()
    );
    let outsider = reader_for(&hub, Some(&bob), "alice/p").await.err().unwrap();
    assert_eq!(outsider.status, 404);
    assert_eq!(outsider.code.as_deref(), Some("RepoNotFound"));
    let anonymous = reader_for(&hub, None, "alice/p").await.err().unwrap();
    assert_eq!(anonymous.status, 401);
    let reader = reader_for(&hub, Some(&alice), "alice/p").await.unwrap();

    // The whole file: terms and fetches that rebuild it.
    let whole = reader.reconstruction("v1", &hash, None).await;
    assert_eq!(whole.status, 200, "{}", whole.body);
    assert_eq!(whole.body["offset_into_first_range"], 0);
    let terms = whole.body["terms"].as_array().unwrap();
    assert_eq!(terms.len(), 2);
    assert_eq!(terms[0]["hash"], first.hash.to_hex().as_str());
    assert_eq!(terms[0]["range"], json!({ "start": 0, "end": 4 }));
    assert_eq!(terms[1]["unpacked_length"], 45_000);
    assert_eq!(fetch_all(&whole.body, &[&first, &second]).await, 2);
    let v2 = reader.reconstruction("v2", &hash, None).await;
    assert_eq!(v2.status, 200, "{}", v2.body);
    assert_eq!(v2.body["terms"], whole.body["terms"]);
    let ranges = &v2.body["xorbs"][second.hash.to_hex()][0]["ranges"][0];
    assert_eq!(ranges["chunks"], json!({ "start": 0, "end": 2 }));

    // A range: cut to the chunks that hold it.
    let part = reader
        .reconstruction("v1", &hash, Some("bytes=30100-60300"))
        .await;
    assert_eq!(part.status, 200, "{}", part.body);
    assert_eq!(part.body["offset_into_first_range"], 100);
    let terms = part.body["terms"].as_array().unwrap();
    assert_eq!(terms[0]["range"], json!({ "start": 1, "end": 3 }));
    assert_eq!(terms.len(), 1);
    assert_eq!(fetch_all(&part.body, &[&first, &second]).await, 1);
    let past = reader
        .reconstruction("v1", &hash, Some(&format!("bytes={}-", data.len())))
        .await;
    assert_eq!(past.status, 416);
    assert_eq!(
        reader
            .reconstruction("v1", &hash, Some("items=0-1"))
            .await
            .status,
        400
    );

    // Nothing for a bad token, a bad hash, or a reader of another repo
    // (who is told nothing about whether any repo holds the file).
    let bad = Cas {
        token: Some("kyxet2.1.1.t1.read.99999999999.x".into()),
        ..reader_for(&hub, Some(&alice), "alice/p").await.unwrap()
    };
    assert_eq!(bad.reconstruction("v1", &hash, None).await.status, 401);
    let none = Cas {
        token: None,
        ..reader_for(&hub, Some(&alice), "alice/p").await.unwrap()
    };
    assert_eq!(none.reconstruction("v1", &hash, None).await.status, 401);
    assert_eq!(reader.reconstruction("v1", "zz", None).await.status, 404);
    let unknown = "ab".repeat(32);
    let elsewhere = reader_for(&hub, Some(&bob), "alice/m").await.unwrap();
    let own_public = reader_for(&hub, Some(&alice), "alice/m").await.unwrap();
    let anonymous_public = reader_for(&hub, None, "alice/m").await.unwrap();
    for other in [&elsewhere, &own_public, &anonymous_public] {
        let held = other.reconstruction("v1", &hash, None).await;
        let missing = other.reconstruction("v1", &unknown, None).await;
        assert_eq!((held.status, missing.status), (404, 404));
        assert_eq!(
            held.body.to_string().replace(&hash, "H"),
            missing.body.to_string().replace(&unknown, "H")
        );
    }

    // A fetch link grants its range of its xorb, nothing more.
    let info = &whole.body["fetch_info"][first.hash.to_hex()][0];
    let url = info["url"].as_str().unwrap();
    let client = reqwest::Client::new();
    let get = |url: String, range: Option<&str>| {
        let mut req = client.get(url);
        if let Some(r) = range {
            req = req.header("range", r.to_owned());
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(url.to_owned(), None).await, 206);
    assert_eq!(get(url.to_owned(), Some("bytes=10-20")).await, 206);
    let end = info["url_range"]["end"].as_u64().unwrap();
    assert_eq!(
        get(url.to_owned(), Some(&format!("bytes=0-{}", end + 1))).await,
        403
    );
    let wider = url.replace("range=0-", "range=1-");
    assert_eq!(get(wider, None).await, 403);
    let other_xorb = url.replace(&first.hash.to_hex(), &second.hash.to_hex());
    assert_eq!(get(other_xorb, None).await, 403);
    let unsigned = url.split('?').next().unwrap().to_owned();
    assert_eq!(get(unsigned, None).await, 403);
}

#[tokio::test]
async fn a_file_whose_xet_hash_is_not_its_chunks_is_refused() {
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let api = hub.api(Some(&alice));
    api.create_repo("model", "alice", "m", false).await;
    let cas = cas_for(&hub, &alice, "alice/m").await;
    let xorb = Xorb::of(vec![content(10_000, 1), content(12_000, 2)]);
    assert_eq!(cas.xorb(&xorb).await.status, 200);
    let (term, data) = xorb.range(0, 2);
    let oid = sha256_hex(&data);
    // The shard names the file by a made-up hash: refused, nothing stored,
    // nothing advertised or reconstructed under either hash.
    let made_up = XetHash([0x11; 32]);
    let lying = ShardBuilder::default().file(made_up, &[term], &oid).build();
    let reply = cas.shard(lying).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let done = commit(&api, "alice/m", &[lfs_file("w.bin", &oid, data.len())]).await;
    assert_eq!(done.status, 400, "the file was not stored: {}", done.body);
    let reader = reader_for(&hub, None, "alice/m").await.unwrap();
    assert_eq!(
        reader
            .reconstruction("v1", &made_up.to_hex(), None)
            .await
            .status,
        404
    );
    // The same file under its true hash: stored and read through Xet.
    let (body, hash) = hashed_shard(&[(&xorb, 0, 2)], &oid);
    assert_eq!(cas.shard(body).await.status, 200);
    let done = commit(&api, "alice/m", &[lfs_file("w.bin", &oid, data.len())]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let head = reqwest::Client::new()
        .head(format!("{}/alice/m/resolve/main/w.bin", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["x-xet-hash"], hash.to_hex().as_str());
    let whole = reader.reconstruction("v1", &hash.to_hex(), None).await;
    assert_eq!(whole.status, 200, "{}", whole.body);
    assert_eq!(fetch_all(&whole.body, &[&xorb]).await, 1);
}

#[tokio::test]
async fn xorb_ranges_are_presigned_in_the_store_where_it_can_presign() {
    // A hub like the others (local store, or a fresh S3 bucket), with presigned downloads on.
    let plain = TestHub::start().await;
    let mut env = plain.env.clone();
    env.push(("HUB_LFS_PRESIGNED_DOWNLOADS".into(), "true".into()));
    let db = tests::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::spawn_with(dir.path(), Some(db.url.clone()), env).await;
    let alice = hub.user_with_token("alice");
    let api = hub.api(Some(&alice));
    api.create_repo("model", "alice", "m", true).await;
    let cas = cas_for(&hub, &alice, "alice/m").await;
    let xorb = Xorb::of((0..3).map(|i| content(20_000, 70 + i)).collect());
    assert_eq!(cas.xorb(&xorb).await.status, 200);
    let data = xorb.range(0, 3).1;
    let oid = sha256_hex(&data);
    let (body, hash) = hashed_shard(&[(&xorb, 0, 3)], &oid);
    assert_eq!(cas.shard(body).await.status, 200);
    let done = commit(&api, "alice/m", &[lfs_file("w.bin", &oid, data.len())]).await;
    assert_eq!(done.status, 200, "{}", done.body);

    let reader = reader_for(&hub, Some(&alice), "alice/m").await.unwrap();
    let part = reader
        .reconstruction("v1", &hash.to_hex(), Some("bytes=25000-45000"))
        .await;
    assert_eq!(part.status, 200, "{}", part.body);
    let url = part.body["fetch_info"][xorb.hash.to_hex()][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    if tests::uses_s3() {
        // The store serves the bytes itself; the link is bound to its range.
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-SignedHeaders=host%3Brange"), "{url}");
        assert!(url.contains(&xorb.hash.to_hex()), "{url}");
    } else {
        // The local store cannot presign: the hub serves the bytes itself.
        assert!(
            url.starts_with(&format!("{}/cas/v1/xorb-ranges/default/", hub.url)),
            "{url}"
        );
    }
    assert_eq!(fetch_all(&part.body, &[&xorb]).await, 1);
}

#[tokio::test]
async fn an_old_data_dir_converts_to_xorbs_in_the_background_readable_throughout() {
    // A data dir as the previous version left it: LFS objects stored as
    // plain copies (the migration queues them all). With the conversion
    // paused, this hub keeps exactly that layout.
    let first = TestHub::start().await;
    let mut env = first.env.clone();
    env.push(("HUB_XET_INGEST".into(), "off".into()));
    let db_handle = tests::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let mut old = TestHub::spawn_with(dir.path(), Some(db_handle.url.clone()), env.clone()).await;
    let token = old.user_with_token("alice");
    let api = old.api(Some(&token));
    api.create_repo("model", "alice", "m", false).await;
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                format!("w{i}.bin"),
                content(1_500_000 + i * 333_333, 40 + i as u64),
            )
        })
        .collect();
    let mut ops = Vec::new();
    for (path, data) in &files {
        let oid = tests::upload_lfs(&old, &token, "alice/m", data).await;
        ops.push(lfs_file(path, &oid, data.len()));
    }
    assert_eq!(commit(&api, "alice/m", &ops).await.status, 200);
    let plain_before = stored(&old, "lfs").await;
    assert_eq!(plain_before.len(), 3, "{plain_before:?}");
    assert!(old.stop());

    // The new version on the same data dir: it converts in the background
    // while clients keep downloading, and every download is whole.
    env.retain(|(k, _)| k != "HUB_XET_INGEST");
    let hub = TestHub::spawn_with(dir.path(), Some(db_handle.url.clone()), env).await;
    let db = sqlx::PgPool::connect(&db_handle.url).await.unwrap();
    let mut reads = 0;
    let started = std::time::Instant::now();
    loop {
        for (path, data) in &files {
            let (status, body) = download(&hub, &token, "alice/m", path).await;
            assert_eq!(status, 200);
            assert!(body == *data, "{path} reads back whole");
            reads += 1;
        }
        let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM xet_ingest_queue")
            .fetch_one(&db)
            .await
            .unwrap();
        // The queue row goes first, the plain copy right after
        // (`xet::ingest`): done is both.
        if queued == 0 && stored(&hub, "lfs").await.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "not converted in 60 s:\n{}",
            hub.log()
        );
    }
    println!("converted while {reads} downloads read the files");
    // One copy: no plain object left, every file a reconstruction.
    assert_eq!(stored(&hub, "lfs").await, Vec::<String>::new());
    let status = hub.cli(&["gc", "--status"]);
    assert!(status.status.success());
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["queued"], 0, "{status}");
    assert_eq!(status["files"], 3, "{status}");
    for (path, data) in &files {
        assert!(download(&hub, &token, "alice/m", path).await.1 == *data);
    }
}

#[tokio::test]
async fn read_tokens_end_with_their_credential_and_with_read_access() {
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let api = hub.api(Some(&alice));
    api.create_repo("model", "alice", "m", false).await;
    let cas = cas_for(&hub, &alice, "alice/m").await;
    let xorb = Xorb::of(vec![content(30_000, 900)]);
    assert_eq!(cas.xorb(&xorb).await.status, 200);
    let data = xorb.range(0, 1).1;
    let oid = sha256_hex(&data);
    let (body, hash) = hashed_shard(&[(&xorb, 0, 1)], &oid);
    assert_eq!(cas.shard(body).await.status, 200);
    let done = commit(&api, "alice/m", &[lfs_file("w.bin", &oid, data.len())]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let hash = hash.to_hex();

    let spare = hub.token("alice", false);
    let revoked = reader_for(&hub, Some(&spare), "alice/m").await.unwrap();
    let anonymous = reader_for(&hub, None, "alice/m").await.unwrap();
    let owner = reader_for(&hub, Some(&alice), "alice/m").await.unwrap();
    for reader in [&revoked, &anonymous, &owner] {
        assert_eq!(reader.reconstruction("v1", &hash, None).await.status, 200);
    }
    // The API token it was issued for is revoked: at once, 401.
    let url = hub.database_url.clone().unwrap();
    let mut db = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1")
        .bind(Sha256::digest(spare.as_bytes()).to_vec())
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(revoked.reconstruction("v1", &hash, None).await.status, 401);
    // The repo turns private: the anonymous reader's token stops reading,
    // and asking for a new one is refused; the owner's goes on.
    let private = api
        .send(
            reqwest::Method::PUT,
            "/api/models/alice/m/settings",
            Some(json!({ "private": true })),
        )
        .await;
    assert_eq!(private.status, 200, "{}", private.body);
    assert_eq!(
        anonymous.reconstruction("v1", &hash, None).await.status,
        401
    );
    assert_eq!(
        reader_for(&hub, None, "alice/m")
            .await
            .err()
            .unwrap()
            .status,
        401
    );
    assert_eq!(owner.reconstruction("v1", &hash, None).await.status, 200);
}

#[tokio::test]
async fn a_repo_reads_through_xet_only_what_its_own_uploads_described() {
    // Alice uploads a file to her private repo through Xet. Bob holds the
    // same bytes: nothing his repo answers may tell him that she does.
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    hub.api(Some(&alice))
        .create_repo("model", "alice", "p", true)
        .await;
    let bob_api = hub.api(Some(&bob));
    bob_api.create_repo("model", "bob", "q", false).await;
    let chunks: Vec<Vec<u8>> = (0..3).map(|i| content(25_000, 950 + i)).collect();
    let data = chunks.concat();
    let oid = sha256_hex(&data);
    let hers = Xorb::of(chunks.clone());
    let cas = cas_for(&hub, &alice, "alice/p").await;
    assert_eq!(cas.xorb(&hers).await.status, 200);
    let (body, hash) = hashed_shard(&[(&hers, 0, 3)], &oid);
    assert_eq!(cas.shard(body).await.status, 200);
    let done = commit(
        &hub.api(Some(&alice)),
        "alice/p",
        &[lfs_file("w.bin", &oid, data.len())],
    )
    .await;
    assert_eq!(done.status, 200);

    // Bob's copy, through LFS. The hub chunks it for his repo, deduplicated
    // within his scope only (his namespace, public repos): his repo gets a
    // Xet hash of its own chunking (hers was cut by hand, not by hf_xet's
    // chunker) in xorbs of its own, never hers.
    assert_eq!(tests::upload_lfs(&hub, &bob, "bob/q", &data).await, oid);
    let done = commit(&bob_api, "bob/q", &[lfs_file("w.bin", &oid, data.len())]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let db = sqlx::PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap();
    wait_until_chunked(&hub, &db, &oid).await;
    let head = reqwest::Client::new()
        .head(format!("{}/bob/q/resolve/main/w.bin", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    let his_hash = head.headers()["x-xet-hash"].to_str().unwrap().to_owned();
    assert_ne!(his_hash, hash.to_hex());
    let reader = reader_for(&hub, None, "bob/q").await.unwrap();
    let whole = reader.reconstruction("v1", &his_hash, None).await;
    assert_eq!(whole.status, 200, "{}", whole.body);
    assert!(
        !whole.body.to_string().contains(&hers.hash.to_hex()),
        "{}",
        whole.body
    );
    // Hers stays hers: her file's hash names nothing in his repo.
    assert_eq!(
        reader
            .reconstruction("v1", &hash.to_hex(), None)
            .await
            .status,
        404
    );
    let (status, body) = download(&hub, &bob, "bob/q", "w.bin").await;
    assert_eq!(status, 200);
    assert!(body == data);
}

/// Sends `GET /v1/chunks/default/{chunk}` as the holder of `cas`'s token.
async fn dedupe_query(cas: &Cas, chunk: &XetHash) -> (u16, Vec<u8>) {
    let url = format!("{}/v1/chunks/default/{chunk}", cas.url);
    let mut req = cas.client.get(url);
    if let Some(t) = &cas.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn global_dedupe_answers_within_the_writers_scope_only() {
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    let alice_api = hub.api(Some(&alice));
    alice_api.create_repo("model", "alice", "pub", false).await;
    alice_api.create_repo("model", "alice", "priv", true).await;
    hub.api(Some(&bob))
        .create_repo("model", "bob", "m", false)
        .await;
    // Alice publishes a file made of chunks [0, 4) of a six-chunk xorb,
    // and keeps another xorb's file private.
    let public = Xorb::of((0..6).map(|i| content(20_000, 900 + i)).collect());
    let secret = Xorb::of((0..3).map(|i| content(20_000, 950 + i)).collect());
    let cas_pub = cas_for(&hub, &alice, "alice/pub").await;
    let cas_priv = cas_for(&hub, &alice, "alice/priv").await;
    assert_eq!(cas_pub.xorb(&public).await.status, 200);
    assert_eq!(cas_priv.xorb(&secret).await.status, 200);
    let (published, d_pub) = public.range(0, 4);
    assert_eq!(
        cas_pub
            .shard(shard(&[published], &sha256_hex(&d_pub)))
            .await
            .status,
        200
    );
    let (kept, d_kept) = secret.range(0, 3);
    assert_eq!(
        cas_priv
            .shard(shard(&[kept], &sha256_hex(&d_kept)))
            .await
            .status,
        200
    );
    let chunk = |x: &Xorb, i: usize| XetHash::of_chunk(&x.chunks[i]);

    // Bob is answered for a published chunk: a shard listing that xorb,
    // which offers keyed hashes only, never a plain chunk hash.
    let cas_bob = cas_for(&hub, &bob, "bob/m").await;
    let (status, answer) = dedupe_query(&cas_bob, &chunk(&public, 1)).await;
    assert_eq!(status, 200);
    let parsed = hub_core::xet::shard::parse(&answer).unwrap();
    assert_eq!(parsed.xorbs, [public.hash]);
    for i in 0..6 {
        let plain = chunk(&public, i).0;
        assert!(
            !answer.windows(32).any(|w| w == plain),
            "chunk {i} in plain"
        );
    }
    // Chunks no public file uses, and the private file's, are not in his
    // scope: 404 as for a chunk nobody holds. Alice, in her own namespace,
    // is answered for all of them.
    for c in [
        chunk(&public, 4),
        chunk(&secret, 0),
        XetHash::of_chunk(b"never stored"),
    ] {
        assert_eq!(dedupe_query(&cas_bob, &c).await.0, 404);
    }
    for c in [chunk(&public, 4), chunk(&secret, 0)] {
        assert_eq!(dedupe_query(&cas_pub, &c).await.0, 200);
    }
    // Malformed hashes and missing tokens.
    let bad = cas_bob
        .client
        .get(format!("{}/v1/chunks/default/xyz", cas_bob.url))
        .bearer_auth(cas_bob.token.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let anonymous = Cas {
        token: None,
        ..cas_for(&hub, &bob, "bob/m").await
    };
    assert_eq!(dedupe_query(&anonymous, &chunk(&public, 1)).await.0, 401);

    // What the answer offered, bob's shard may use without uploading the
    // xorb; the chunks it did not offer it may not.
    let (middle, d_middle) = public.range(1, 3);
    let reply = cas_bob
        .shard(shard(&[middle], &sha256_hex(&d_middle)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ops = [lfs_file("m.bin", &sha256_hex(&d_middle), d_middle.len())];
    assert_eq!(
        commit(&hub.api(Some(&bob)), "bob/m", &ops).await.status,
        200
    );
    assert_eq!(download(&hub, &bob, "bob/m", "m.bin").await.1, d_middle);
    for (x, start, end) in [(&public, 3, 5), (&public, 4, 6), (&secret, 0, 3)] {
        let (term, data) = x.range(start, end);
        let reply = cas_bob.shard(shard(&[term], &sha256_hex(&data))).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
}
