//! The hub side of the inference tier, driven over the real worker protocol
//! by a worker written in the test (`worker_protocol` types, real HTTP, real
//! hub, real PostgreSQL): queue, leases, retries, dead letter, cancellation,
//! wake-ups across two hub nodes, quotas, errors, the admin page.

mod inference_support;

use std::time::{Duration, Instant};

use hub_core::jobs::protocol::{EventBody, JobInput, Prompt, Task};
use inference_support::*;
use serde_json::{Value, json};
use tests::page_as;

fn chat_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{ "role": "user", "content": "你好" }],
        "stream": stream,
        "max_tokens": 8,
        "stream_options": { "include_usage": true },
    })
}

/// Keeps a worker's session alive without renewing any job's lease.
fn keep_alive(worker: &ProtocolWorker) -> tokio::task::JoinHandle<()> {
    let worker = worker.clone();
    tokio::spawn(async move {
        loop {
            worker.heartbeat(&[]).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    })
}

#[tokio::test]
async fn protocol_round_trip_streams_tokens_and_records_usage() {
    let hub = hub_with(&[]).await;
    let token = hub.user_with_token("alice");
    config_only_model(&hub, &token, "alice/tiny", "qwen2", false).await;
    config_only_model(&hub, &token, "alice/secret", "qwen2", true).await;
    let api = hub.api(Some(&token));

    // Nobody can serve it yet: 503 at once, in OpenAI's shape.
    let none = api
        .post("/v1/chat/completions", chat_body("alice/tiny", false))
        .await;
    assert_eq!(none.status, 503, "{:?}", none.body);
    assert_eq!(none.body["error"]["code"], "unavailable");

    // A worker token grants nothing but the protocol; an API token is no worker token.
    let wtoken = hub.worker_token("w1");
    assert_eq!(
        hub.api(Some(&wtoken)).get("/api/whoami-v2").await.status,
        401
    );
    let client = reqwest::Client::new();
    let as_user = client
        .post(format!("{}/api/workers/register", hub.url))
        .bearer_auth(&token)
        .json(&json!({ "capabilities": capabilities(&["qwen2"], &[Task::TextGeneration]) }))
        .send()
        .await
        .unwrap();
    assert_eq!(as_user.status(), 401);

    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    let request = client
        .post(format!("{}/v1/chat/completions", hub.url))
        .bearer_auth(&token)
        .json(&chat_body("alice/tiny", true))
        .send();
    let pending = tokio::spawn(request);
    let job = worker
        .claim(Duration::from_secs(10))
        .await
        .expect("the queued job");
    assert_eq!(job.attempt, 1);
    assert_eq!(job.model.repo_id, "alice/tiny");
    assert_eq!(job.model.architecture, "qwen2");
    assert_eq!(job.model.revision.len(), 40);
    assert_eq!(job.task, Task::TextGeneration);
    let JobInput::Generate(input) = &job.input else {
        panic!("a generation job: {:?}", job.input)
    };
    assert_eq!(input.params.max_new_tokens, 8);
    let Prompt::Chat(messages) = &input.prompt else {
        panic!("chat messages")
    };
    assert_eq!(messages[0].content, "你好");

    // The job's download token reads its model through resolve, and nothing private besides.
    let resolve = |repo: &str| {
        client
            .get(format!("{}/{repo}/resolve/main/config.json", hub.url))
            .bearer_auth(&job.model.download_token)
            .send()
    };
    assert_eq!(resolve("alice/tiny").await.unwrap().status(), 200);
    assert_eq!(resolve("alice/secret").await.unwrap().status(), 401);

    let ack = worker
        .ack(
            job.id,
            &[
                event(0, EventBody::Loading),
                event(1, EventBody::Started { prompt_tokens: 5 }),
                tok(2, 11, "你"),
                tok(3, 12, "好"),
            ],
        )
        .await;
    assert_eq!(ack.stored_through, Some(3));
    assert!(!ack.cancelled);
    // A resent event is stored once.
    let again = worker.ack(job.id, &[tok(3, 12, "好")]).await;
    assert_eq!(again.stored_through, Some(3));

    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut sse = Sse::new(response);
    worker.ack(job.id, &[finished(4, 5, 2)]).await;
    let events = sse.rest().await;
    let (text, done) = chat_text(&events);
    assert_eq!(text, "你好");
    assert!(done, "ends with [DONE]: {events:?}");
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let last: Value = serde_json::from_str(&events[events.len() - 3]).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 7);

    // Usage is recorded for billing: who, what, how much, on which worker.
    let pool = hub.pool().await;
    let row: (String, bool, i64, i64, i64, bool, String) = sqlx::query_as(
        "SELECT u.kind, u.account_id IS NOT NULL, u.prompt_tokens, u.generated_tokens, u.device_ms,
                u.worker_id IS NOT NULL, j.state
         FROM usage_records u JOIN inference_jobs j ON j.id = u.job_id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        ("inference".into(), true, 5, 2, 7, true, "succeeded".into())
    );

    // After the end: events are refused, the download token is dead.
    let (status, _) = worker.events(job.id, &[tok(5, 13, "x")]).await;
    assert_eq!(status, 409);
    assert_eq!(resolve("alice/tiny").await.unwrap().status(), 401);
}

/// A job claimed by a worker driven from the test: alice asked for her
/// private model `alice/tiny`; the client's request waits meanwhile.
struct ClaimedJob {
    hub: Hub,
    /// Alice's write token.
    token: String,
    job: hub_core::jobs::protocol::Job,
    _pending: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
}

impl ClaimedJob {
    async fn start() -> ClaimedJob {
        let hub = hub_with(&[]).await;
        let token = hub.user_with_token("alice");
        config_only_model(&hub, &token, "alice/tiny", "qwen2", true).await;
        let caps = capabilities(&["qwen2"], &[Task::TextGeneration]);
        let worker = ProtocolWorker::register(&hub.url, &hub.worker_token("w1"), caps).await;
        let request = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", hub.url))
            .bearer_auth(&token)
            .json(&chat_body("alice/tiny", false))
            .send();
        let pending = tokio::spawn(request);
        let job = worker.claim(Duration::from_secs(10)).await.expect("a job");
        ClaimedJob {
            hub,
            token,
            job,
            _pending: pending,
        }
    }

    /// `method path` with the job's download token; the status.
    async fn with_token(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.hub.url))
            .bearer_auth(&self.job.model.download_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap().status().as_u16()
    }

    async fn get(&self, path: &str) -> u16 {
        self.with_token(reqwest::Method::GET, path, None).await
    }
}

#[tokio::test]
async fn a_download_token_reads_its_repo_at_its_commit() {
    let claimed = ClaimedJob::start().await;
    let commit = claimed.job.model.revision.clone();
    // What the worker needs, at the job's commit (a branch naming it will do).
    for path in [
        format!("/alice/tiny/resolve/{commit}/config.json"),
        "/alice/tiny/resolve/main/config.json".to_owned(),
        format!("/api/models/alice/tiny/tree/{commit}"),
        format!("/api/models/alice/tiny/tree/{commit}?recursive=true"),
    ] {
        assert_eq!(claimed.get(&path).await, 200, "{path}");
    }
    let paths = json!({ "paths": ["config.json"] });
    let info = claimed
        .with_token(
            reqwest::Method::POST,
            &format!("/api/models/alice/tiny/paths-info/{commit}"),
            Some(paths),
        )
        .await;
    assert_eq!(info, 200);

    // Once the branch moves on, only the job's commit is readable.
    let api = claimed.hub.api(Some(&claimed.token));
    let moved = api
        .commit("alice/tiny", "more", &[tests::file_op("b.txt", b"b")], None)
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    let next = moved.body["commitOid"].as_str().unwrap().to_owned();
    for path in [
        "/alice/tiny/resolve/main/config.json".to_owned(),
        format!("/alice/tiny/resolve/{next}/config.json"),
        format!("/api/models/alice/tiny/tree/{next}"),
    ] {
        assert_eq!(claimed.get(&path).await, 401, "{path}");
    }
    let pinned = format!("/alice/tiny/resolve/{commit}/config.json");
    assert_eq!(claimed.get(&pinned).await, 200);
}

#[tokio::test]
async fn a_download_token_reads_no_other_repo() {
    let claimed = ClaimedJob::start().await;
    let api = claimed.hub.api(Some(&claimed.token));
    for (name, private) in [("public-one", false), ("private-one", true)] {
        assert_eq!(
            api.create_repo("model", "alice", name, private)
                .await
                .status,
            200
        );
    }
    let bob = claimed.hub.user_with_token("bob");
    config_only_model(&claimed.hub, &bob, "bob/open", "qwen2", false).await;
    // Another repo of the same caller, public or private, someone else's,
    // a missing one: all alike refused, as a credential that is no good there.
    for repo in [
        "alice/public-one",
        "alice/private-one",
        "bob/open",
        "bob/missing",
    ] {
        for path in [
            format!("/{repo}/resolve/main/config.json"),
            format!("/api/models/{repo}/tree/main"),
        ] {
            assert_eq!(claimed.get(&path).await, 401, "{path}");
        }
    }
}

#[tokio::test]
async fn a_download_token_is_no_user_credential() {
    let claimed = ClaimedJob::start().await;
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let commit_body = "{\"key\":\"header\",\"value\":{\"summary\":\"x\"}}";
    let refused = [
        // Who the caller is: no email, no organisations.
        (get.clone(), "/api/whoami-v2".to_owned(), None),
        // Inference as the caller.
        (
            post.clone(),
            "/v1/chat/completions".to_owned(),
            Some(chat_body("alice/tiny", false)),
        ),
        (
            post.clone(),
            "/api/inference/alice/tiny".to_owned(),
            Some(json!({ "inputs": "hi" })),
        ),
        // Other reads of its own repo.
        (get.clone(), "/api/models/alice/tiny".to_owned(), None),
        (get.clone(), "/api/models/alice/tiny/refs".to_owned(), None),
        (
            get.clone(),
            "/api/models/alice/tiny/commits/main".to_owned(),
            None,
        ),
        (get.clone(), "/api/v1/models/alice/tiny".to_owned(), None),
        (
            get.clone(),
            "/alice/tiny.git/info/refs?service=git-upload-pack".to_owned(),
            None,
        ),
        // Writes to it.
        (
            post.clone(),
            "/api/models/alice/tiny/branch/other".to_owned(),
            None,
        ),
        (
            post.clone(),
            "/api/repos/create".to_owned(),
            Some(json!({ "name": "new", "organization": "alice" })),
        ),
        (get.clone(), "/api/models".to_owned(), None),
        (get.clone(), "/v1/models".to_owned(), None),
    ];
    for (method, path, body) in refused {
        let status = claimed.with_token(method.clone(), &path, body).await;
        assert_eq!(status, 401, "{method} {path}");
    }
    let commit = reqwest::Client::new()
        .post(format!(
            "{}/api/models/alice/tiny/commit/main",
            claimed.hub.url
        ))
        .bearer_auth(&claimed.job.model.download_token)
        .header("content-type", "application/x-ndjson")
        .body(commit_body)
        .send()
        .await
        .unwrap();
    assert_eq!(commit.status(), 401);
}

#[tokio::test]
async fn two_nodes_wake_each_other_through_postgres() {
    let hub = hub_with(&[]).await;
    let node_b = hub.second_node().await;
    let token = hub.user_with_token("alice");
    config_only_model(&hub, &token, "alice/tiny", "qwen2", false).await;
    let wtoken = hub.worker_token("w1");
    // The worker talks to node A only; the client to node B only.
    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    let waiting = tokio::spawn({
        let worker = worker.clone();
        async move {
            let job = worker.claim(Duration::from_secs(20)).await;
            (job, Instant::now())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::new();
    let submitted = Instant::now();
    let request = client
        .post(format!("{}/v1/chat/completions", node_b.url))
        .bearer_auth(&token)
        .json(&chat_body("alice/tiny", true))
        .send();
    let pending = tokio::spawn(request);
    let (job, claimed_at) = waiting.await.unwrap();
    let job = job.expect("the job queued on the other node");
    // Woken by NOTIFY, not by the claim's 2 s safety-net re-check.
    let woken_after = claimed_at - submitted;
    assert!(
        woken_after < Duration::from_millis(1000),
        "claim woke after {woken_after:?}"
    );

    worker
        .ack(
            job.id,
            &[
                event(0, EventBody::Started { prompt_tokens: 3 }),
                tok(1, 5, "a"),
            ],
        )
        .await;
    let mut sse = Sse::new(pending.await.unwrap().unwrap());
    let (_, role) = sse.next().await.unwrap();
    assert!(role.contains("assistant"));
    let (_, first) = sse.next().await.unwrap();
    assert!(first.contains("\"content\":\"a\""), "{first}");
    // A token posted on node A reaches the stream on node B at once.
    let sent = Instant::now();
    worker.ack(job.id, &[tok(2, 6, "b")]).await;
    let (_, second) = sse.next().await.unwrap();
    let relayed_after = sent.elapsed();
    assert!(second.contains("\"content\":\"b\""), "{second}");
    assert!(
        relayed_after < Duration::from_millis(700),
        "token relayed after {relayed_after:?}"
    );
    worker.ack(job.id, &[finished(3, 3, 2)]).await;
    let (text, done) = chat_text(&sse.rest().await);
    assert_eq!(text, "");
    assert!(done);
}

#[tokio::test]
async fn expired_leases_are_retried_then_dead_lettered() {
    let hub = hub_with(&[
        ("HUB_WORKER_LEASE_MS", "1000"),
        ("HUB_INFERENCE_MAX_ATTEMPTS", "2"),
    ])
    .await;
    let token = hub.user_with_token("alice");
    config_only_model(&hub, &token, "alice/tiny", "qwen2", false).await;
    let wtoken = hub.worker_token("w1");
    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    let alive = keep_alive(&worker);
    let api = hub.api(Some(&token));
    let pending = tokio::spawn(async move {
        api.post("/v1/chat/completions", chat_body("alice/tiny", false))
            .await
    });
    let first = worker.claim(Duration::from_secs(10)).await.unwrap();
    assert_eq!(first.attempt, 1);
    // No heartbeat names the job: its lease runs out and it comes back.
    let second = worker.claim(Duration::from_secs(10)).await.unwrap();
    assert_eq!((second.id, second.attempt), (first.id, 2));
    let (status, _) = worker.events(first.id, &[tok(0, 1, "x")]).await;
    assert_eq!(status, 200, "the current attempt may report");
    // Out of attempts: dead-lettered, and the client hears why instead of hanging.
    let answer = tokio::time::timeout(Duration::from_secs(20), pending)
        .await
        .expect("the client is answered")
        .unwrap();
    assert_eq!(answer.status, 424, "{:?}", answer.body);
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("2 attempts"), "{message}");
    let pool = hub.pool().await;
    let (state, error): (String, Option<String>) =
        sqlx::query_as("SELECT state, last_error FROM inference_jobs")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "dead");
    assert!(error.unwrap().contains("stopped reporting"));
    alive.abort();
}

#[tokio::test]
async fn registering_again_releases_the_old_sessions_jobs() {
    let hub = hub_with(&[]).await;
    let token = hub.user_with_token("alice");
    config_only_model(&hub, &token, "alice/tiny", "qwen2", false).await;
    let wtoken = hub.worker_token("w1");
    let caps = || capabilities(&["qwen2"], &[Task::TextGeneration]);
    let old = ProtocolWorker::register(&hub.url, &wtoken, caps()).await;
    let api = hub.api(Some(&token));
    let _pending = tokio::spawn(async move {
        api.post("/v1/chat/completions", chat_body("alice/tiny", false))
            .await
    });
    let job = old.claim(Duration::from_secs(10)).await.unwrap();
    // The worker restarted: its new session gets the job back at once (the lease is 30 s).
    let new = ProtocolWorker::register(&hub.url, &wtoken, caps()).await;
    let started = Instant::now();
    let again = new.claim(Duration::from_secs(10)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!((again.id, again.attempt), (job.id, 2));
    let beat = old.heartbeat(&[job.id]).await;
    assert!(beat.reregister);
    let (status, _) = old.events_of(job.id, Some(1), &[tok(0, 1, "x")]).await;
    assert_eq!(status, 409, "the old attempt may not report");
    let (status, _) = new.events_of(job.id, Some(2), &[tok(0, 1, "x")]).await;
    assert_eq!(status, 200, "the current one may");
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_its_job() {
    let hub = hub_with(&[]).await;
    let token = hub.user_with_token("alice");
    config_only_model(&hub, &token, "alice/tiny", "qwen2", false).await;
    let wtoken = hub.worker_token("w1");
    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    let client = reqwest::Client::new();
    let request = client
        .post(format!("{}/v1/chat/completions", hub.url))
        .bearer_auth(&token)
        .json(&chat_body("alice/tiny", true))
        .send();
    let pending = tokio::spawn(request);
    let job = worker.claim(Duration::from_secs(10)).await.unwrap();
    worker
        .ack(
            job.id,
            &[
                event(0, EventBody::Started { prompt_tokens: 3 }),
                tok(1, 5, "a"),
            ],
        )
        .await;
    let mut sse = Sse::new(pending.await.unwrap().unwrap());
    sse.next().await.unwrap();
    drop(sse);
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let beat = worker.heartbeat(&[job.id]).await;
        if beat.cancel.contains(&job.id) {
            break;
        }
        assert!(Instant::now() < deadline, "the job was never cancelled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ack = worker.ack(job.id, &[tok(2, 6, "b")]).await;
    assert!(ack.cancelled);
    let pool = hub.pool().await;
    let state: String = sqlx::query_scalar("SELECT state FROM inference_jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "cancelled");
}

#[tokio::test]
async fn free_tier_limits_answer_429_with_retry_after() {
    let hub = hub_with(&[
        ("HUB_INFERENCE_ANONYMOUS_PER_HOUR", "1"),
        ("HUB_INFERENCE_DAILY_TOKENS", "5"),
        ("HUB_INFERENCE_MAX_NEW_TOKENS", "16"),
    ])
    .await;
    let token = hub.user_with_token("alice");
    config_only_model(&hub, &token, "alice/tiny", "qwen2", false).await;
    let wtoken = hub.worker_token("w1");
    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    let tgi = json!({ "inputs": "hello", "parameters": { "max_new_tokens": 4 } });

    // Anonymous: one request an hour here.
    let anonymous = hub.api(None);
    let pending = tokio::spawn({
        let tgi = tgi.clone();
        async move { anonymous.post("/api/inference/alice/tiny", tgi).await }
    });
    let job = worker.claim(Duration::from_secs(10)).await.unwrap();
    worker
        .ack(job.id, &[tok(0, 1, "hi"), finished(1, 1, 1)])
        .await;
    let ok = pending.await.unwrap();
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body[0]["generated_text"], "hi");
    let refused = hub
        .api(None)
        .post("/api/inference/alice/tiny", tgi.clone())
        .await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["error_type"], "overloaded");
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 60, "about an hour: {retry}");

    // Signed in: a daily token quota (5 here); the first request uses 7.
    let api = hub.api(Some(&token));
    let pending = tokio::spawn(async move {
        api.post("/v1/chat/completions", chat_body("alice/tiny", false))
            .await
    });
    let job = worker.claim(Duration::from_secs(10)).await.unwrap();
    worker
        .ack(job.id, &[tok(0, 1, "hi"), finished(1, 4, 3)])
        .await;
    let ok = pending.await.unwrap();
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.body["choices"][0]["message"]["content"], "hi");
    assert_eq!(ok.body["usage"]["total_tokens"], 7);
    let api = hub.api(Some(&token));
    let refused = api
        .post("/v1/chat/completions", chat_body("alice/tiny", false))
        .await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["type"], "rate_limit_error");
    assert!(refused.headers.contains_key("retry-after"));

    // Bounded max_new_tokens: a validation error, not a silent cut.
    let other = hub.user_with_token("bob");
    let mut body = chat_body("alice/tiny", false);
    body["max_tokens"] = json!(17);
    let too_long = hub
        .api(Some(&other))
        .post("/v1/chat/completions", body)
        .await;
    assert_eq!(too_long.status, 422, "{:?}", too_long.body);
    assert!(
        too_long.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16")
    );
}

#[tokio::test]
async fn a_request_waits_in_the_queue_only_so_long() {
    let hub = hub_with(&[("HUB_INFERENCE_QUEUE_WAIT_SECS", "1")]).await;
    let token = hub.user_with_token("alice");
    config_only_model(&hub, &token, "alice/tiny", "qwen2", false).await;
    let wtoken = hub.worker_token("w1");
    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    let alive = keep_alive(&worker);
    // The worker never claims: the request is refused after the wait, and cancelled.
    let started = Instant::now();
    let answer = hub
        .api(Some(&token))
        .post("/v1/chat/completions", chat_body("alice/tiny", true))
        .await;
    assert_eq!(answer.status, 429, "{:?}", answer.body);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(worker.claim(Duration::from_millis(10)).await.is_none());
    alive.abort();
}

#[tokio::test]
async fn errors_follow_each_api_family() {
    let hub = hub_with(&[]).await;
    let alice = hub.user_with_token("alice");
    let bob = hub.user_with_token("bob");
    config_only_model(&hub, &alice, "alice/tiny", "qwen2", false).await;
    config_only_model(&hub, &alice, "alice/secret", "qwen2", true).await;
    config_only_model(&hub, &alice, "alice/embed", "bert", false).await;
    let wtoken = hub.worker_token("w1");
    let _worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(
            &["qwen2", "bert"],
            &[Task::TextGeneration, Task::FeatureExtraction],
        ),
    )
    .await;
    let client = reqwest::Client::new();
    let raw = |path: &str, body: &'static str| {
        client
            .post(format!("{}{path}", hub.url))
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // Bad JSON: 422 with each family's body.
    let bad = raw("/v1/chat/completions", "{not json").await.unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "validation");
    assert!(body["error"]["message"].is_string());
    let bad = raw("/api/inference/alice/tiny", "[1, 2").await.unwrap();
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error_type"], "validation");
    assert!(body["error"].is_string());

    // Private models are invisible: 404 signed in, 401 anonymous, in both families.
    for (caller, status) in [(Some(bob.as_str()), 404), (None, 401)] {
        let api = hub.api(caller);
        let openai = api
            .post("/v1/chat/completions", chat_body("alice/secret", false))
            .await;
        assert_eq!(openai.status, status, "{:?}", openai.body);
        assert!(openai.body["error"]["message"].is_string());
        let tgi = api
            .post("/api/inference/alice/secret", json!({ "inputs": "hi" }))
            .await;
        assert_eq!(tgi.status, status, "{:?}", tgi.body);
        assert!(tgi.body["error_type"].is_string());
        let missing = api
            .post("/v1/chat/completions", chat_body("alice/nothing", false))
            .await;
        assert_eq!(missing.status, status);
    }
    let models = hub.api(Some(&bob)).get("/v1/models").await;
    let ids: Vec<&str> = models.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"alice/tiny") && ids.contains(&"alice/embed"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"alice/secret"), "{ids:?}");
    let mine = hub.api(Some(&alice)).get("/v1/models").await;
    assert!(mine.body.to_string().contains("alice/secret"));

    // The wrong task, a malformed model id, a bad token, bad parameters.
    let api = hub.api(Some(&alice));
    let wrong = api
        .post(
            "/v1/embeddings",
            json!({ "model": "alice/tiny", "input": "x" }),
        )
        .await;
    assert_eq!(wrong.status, 422, "{:?}", wrong.body);
    let wrong = api
        .post("/v1/chat/completions", chat_body("alice/embed", false))
        .await;
    assert_eq!(wrong.status, 422);
    let malformed = api
        .post("/v1/chat/completions", chat_body("tiny", false))
        .await;
    assert_eq!(malformed.status, 422);
    let mut hot = chat_body("alice/tiny", false);
    hot["temperature"] = json!(-1);
    assert_eq!(api.post("/v1/chat/completions", hot).await.status, 422);
    let forged = hub
        .api(Some("ky_not-a-token"))
        .post("/v1/chat/completions", chat_body("alice/tiny", false))
        .await;
    assert_eq!(forged.status, 401);
    assert_eq!(forged.body["error"]["type"], "authentication_error");

    // Nothing was queued by any of it.
    let pool = hub.pool().await;
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM inference_jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn the_workers_page_is_for_site_admins() {
    let hub = hub_with(&[]).await;
    let out = hub.cli(&[
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
    assert!(out.status.success());
    hub.user_with_token("alice");
    let wtoken = hub.worker_token("gpu-box-1");
    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    worker.heartbeat(&[]).await;

    let (status, _) = page_as(&hub.url, "/admin/workers", None).await;
    assert_eq!(status, 404);
    let (status, _) = page_as(&hub.url, "/admin/workers", Some("alice")).await;
    assert_eq!(status, 404);
    let (status, html) = page_as(&hub.url, "/admin/workers", Some("root")).await;
    assert_eq!(status, 200);
    assert!(html.contains("gpu-box-1"), "{html}");
    assert!(html.contains("Online"));
    assert!(html.contains("protocol-test"), "the worker's version");
}
