//! Paid inference past the free quota, through the real hub and the worker
//! protocol: 429 saying how to go on until the payer opts in and has
//! credits; then a hold for the worst case while the request runs, settled
//! at the tokens used and the price of the worker's class; a failed request
//! costs nothing; `hub billing check` finds no difference.

mod inference_support;

use std::time::{Duration, Instant};

use hub_core::billing::{Credits, Payer, PayerKind, grants, ledger, metering, rates};
use hub_core::jobs::protocol::{EventBody, Task};
use inference_support::*;
use serde_json::{Value, json};

fn chat_body() -> Value {
    json!({
        "model": "alice/tiny",
        "messages": [{ "role": "user", "content": "你好" }],
        "max_tokens": 8,
    })
}

async fn wallet(pool: &sqlx::PgPool, payer: &Payer) -> ledger::Balance {
    ledger::wallet_balance(pool, payer.namespace_id)
        .await
        .unwrap()
}

#[tokio::test]
async fn requests_past_the_free_quota_are_paid_from_credits_once_opted_in() {
    let hub = hub_with(&[
        ("HUB_INFERENCE_DAILY_TOKENS", "5"),
        ("HUB_WORKER_LEASE_MS", "3000"),
    ])
    .await;
    let pool = hub.pool().await;
    let token = hub.user_with_token("alice");
    config_only_model(&hub, &token, "alice/tiny", "qwen2", false).await;
    let wtoken = hub.worker_token("w1");
    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    let alice = Payer::find(&pool, PayerKind::User, "alice").await.unwrap();
    let chat = |token: String| {
        let api = hub.api(Some(&token));
        async move { api.post("/v1/chat/completions", chat_body()).await }
    };

    // The free quota: the first request uses 7 of 5 tokens; it is free.
    let pending = tokio::spawn(chat(token.clone()));
    let job = worker.claim(Duration::from_secs(10)).await.unwrap();
    worker
        .ack(job.id, &[tok(0, 1, "hi"), finished(1, 4, 3)])
        .await;
    assert_eq!(pending.await.unwrap().status, 200);

    // Past it, without opting in: 429, saying how to go on.
    let refused = chat(token.clone()).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("/settings/billing"), "{message}");

    // Opted in (through the API), but no price yet, then no credits: still 429.
    let opted = hub
        .api(Some(&token))
        .send(
            reqwest::Method::PUT,
            "/api/billing/paid-inference",
            Some(json!({ "enabled": true })),
        )
        .await;
    assert_eq!(opted.status, 200, "{:?}", opted.body);
    assert_eq!(opted.body["paid_inference"], true);
    let refused = chat(token.clone()).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    // ¥2 per thousand tokens on CPU workers, ¥9 on GPUs (the hold takes the dearest).
    rates::add(&pool, "cpu", Credits(0), Credits(2_000_000), None)
        .await
        .unwrap();
    rates::add(&pool, "gpu-small", Credits(0), Credits(9_000_000), None)
        .await
        .unwrap();
    let refused = chat(token.clone()).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("too few credits") && message.contains("top up"),
        "{message}"
    );
    assert_eq!(wallet(&pool, &alice).await.held, Credits(0));

    // With credits: held for the worst case while it runs...
    grants::grant(&pool, &alice, Credits(10_000_000), "trial", None)
        .await
        .unwrap();
    let pending = tokio::spawn(chat(token.clone()));
    let job = worker.claim(Duration::from_secs(10)).await.unwrap();
    // "user" + "你好" (10 bytes) + 256 for the template + 8 new tokens, at ¥9/1k.
    let worst_case = Credits(274 * 9_000);
    assert_eq!(wallet(&pool, &alice).await.held, worst_case);
    worker
        .ack(job.id, &[tok(0, 1, "hi"), finished(1, 4, 3)])
        .await;
    let answer = pending.await.unwrap();
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    // ...and charged 7 tokens at the CPU price: ¥0.014.
    let balance = wallet(&pool, &alice).await;
    assert_eq!(balance.held, Credits(0));
    assert_eq!(balance.available, Credits(10_000_000 - 14_000));
    let (cost, class, rate): (i64, String, Option<i64>) =
        sqlx::query_as("SELECT cost, device_class, rate_id FROM usage_records WHERE job_id = $1")
            .bind(job.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((cost, class.as_str()), (14_000, "cpu"));
    assert!(rate.is_some());

    // A request that fails costs nothing: its hold is voided.
    let pending = tokio::spawn(chat(token.clone()));
    let job = worker.claim(Duration::from_secs(10)).await.unwrap();
    assert_eq!(wallet(&pool, &alice).await.held, worst_case);
    worker
        .ack(
            job.id,
            &[event(
                0,
                EventBody::Failed {
                    message: "the model could not load".into(),
                    retryable: false,
                },
            )],
        )
        .await;
    assert_ne!(pending.await.unwrap().status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while wallet(&pool, &alice).await.held != Credits(0) {
        assert!(Instant::now() < deadline, "the failed job's hold stays");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        wallet(&pool, &alice).await.available,
        Credits(10_000_000 - 14_000)
    );

    let out = hub.cli(&["billing", "check"]);
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test]
async fn x_hf_bill_to_charges_an_organisation_its_admins_only() {
    let hub = hub_with(&[("HUB_INFERENCE_DAILY_TOKENS", "1")]).await;
    let pool = hub.pool().await;
    let alice_token = hub.user_with_token("alice");
    let bob_token = hub.user_with_token("bob");
    let eve_token = hub.user_with_token("eve");
    let alice_api = hub.api(Some(&alice_token));
    let r = alice_api
        .post("/api/organizations/new", json!({ "name": "lab" }))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = alice_api
        .send(
            reqwest::Method::PUT,
            "/api/organizations/lab/members/bob",
            Some(json!({ "role": "write" })),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    config_only_model(&hub, &alice_token, "alice/tiny", "qwen2", false).await;
    let wtoken = hub.worker_token("w1");
    let worker = ProtocolWorker::register(
        &hub.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    rates::add(&pool, "cpu", Credits(0), Credits(1_000_000), None)
        .await
        .unwrap();
    let lab = Payer::find(&pool, PayerKind::Org, "lab").await.unwrap();
    metering::set_paid_inference(&pool, lab.namespace_id, true)
        .await
        .unwrap();
    grants::grant(&pool, &lab, Credits(5_000_000), "lab budget", None)
        .await
        .unwrap();

    // Each uses up their free token first.
    for token in [&alice_token, &bob_token, &eve_token] {
        let api = hub.api(Some(token));
        let pending =
            tokio::spawn(async move { api.post("/v1/chat/completions", chat_body()).await });
        let job = worker.claim(Duration::from_secs(10)).await.unwrap();
        worker.ack(job.id, &[finished(0, 1, 1)]).await;
        assert_eq!(pending.await.unwrap().status, 200);
    }
    let billed = |token: &str| {
        let client = reqwest::Client::new();
        let request = client
            .post(format!("{}/v1/chat/completions", hub.url))
            .bearer_auth(token)
            .header("X-HF-Bill-To", "lab")
            .json(&chat_body());
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // A member who is not an admin may not spend the lab's credits; an
    // outsider learns nothing of it.
    let (status, body) = billed(&bob_token).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = billed(&eve_token).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(wallet(&pool, &lab).await.held, Credits(0));

    // The admin may: the lab pays, alice's own wallet is untouched.
    let pending = tokio::spawn(billed(&alice_token));
    let job = worker.claim(Duration::from_secs(10)).await.unwrap();
    worker.ack(job.id, &[finished(0, 4, 6)]).await;
    let (status, body) = pending.await.unwrap();
    assert_eq!(status, 200, "{body}");
    // 10 tokens at ¥1 per thousand.
    assert_eq!(wallet(&pool, &lab).await.available, Credits(4_990_000));
    let alice = Payer::find(&pool, PayerKind::User, "alice").await.unwrap();
    assert_eq!(wallet(&pool, &alice).await.posted, Credits(0));
}
