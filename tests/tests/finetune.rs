//! Paid fine-tuning end to end: the real `hub`, real `inference-worker`
//! trainers running the real trainer (PyTorch + transformers + PEFT in the
//! venv the worker builds; tests/run builds it once under the target dir
//! and names it in `HUB_TEST_TRAINER_ENVS`), a tiny random Qwen2 as the
//! base and a 50-example chat dataset in a dataset repo. A trainer killed
//! mid-run is replaced and its run resumes from the last checkpoint; the
//! adapter is published as a model repo in PEFT layout and served; the
//! ledger ends at the exact charge. And every refusal comes before any
//! charge.

mod inference_support;

use std::time::{Duration, Instant};

use inference_support::*;
use serde_json::{Value, json};
use tests::finetune::{chats, cpu_price, dataset, paying_user, tiny_base, trainer, trainer_envs};
use tests::{Api, file_op};

struct Setup {
    hub: Hub,
    token: String,
    api: Api,
}

/// A hub with a short lease, alice with ¥100 of credits and a price of
/// ¥0.01 per thousand tokens on the CPU, her tiny base model and her chat
/// dataset.
async fn setup() -> Setup {
    let hub = hub_with(&[
        ("HUB_WORKER_LEASE_MS", "2000"),
        ("HUB_FINETUNE_CHECKPOINT_STEPS", "4"),
    ])
    .await;
    let token = paying_user(&hub, "alice", "100");
    tiny_base(&hub, &token, "alice/tiny-base").await;
    dataset(
        &hub,
        &token,
        "alice/chat",
        "train.jsonl",
        chats(50).as_bytes(),
    )
    .await;
    let api = hub.api(Some(&token));
    Setup { hub, token, api }
}

fn job_request(suffix: &str, epochs: u32) -> Value {
    json!({
        "model": "alice/tiny-base",
        "training_file": "datasets/alice/chat/train.jsonl",
        "suffix": suffix,
        "seed": 7,
        "method": { "type": "supervised", "supervised": { "hyperparameters": {
            "n_epochs": epochs, "batch_size": 2, "learning_rate_multiplier": 50,
        }}},
    })
}

async fn job(api: &Api, id: &str) -> Value {
    let got = api.get(&format!("/v1/fine_tuning/jobs/{id}")).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    got.body
}

/// All events of a job, oldest first.
async fn events(api: &Api, id: &str) -> Vec<Value> {
    let got = api
        .get(&format!("/v1/fine_tuning/jobs/{id}/events?limit=1000"))
        .await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let mut data = got.body["data"].as_array().unwrap().clone();
    data.reverse();
    data
}

async fn until<F, Fut>(
    what: &str,
    limit: Duration,
    logs: impl Fn() -> String,
    mut probe: F,
) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "{what} did not happen in {limit:?}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for the job to end; on timeout, fails with its state, its events
/// and the logs.
async fn ended(api: &Api, id: &str, limit: Duration, logs: impl Fn() -> String) -> Value {
    let start = Instant::now();
    loop {
        let j = job(api, id).await;
        if matches!(
            j["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        ) {
            return j;
        }
        if start.elapsed() > limit {
            let events: Vec<String> = events(api, id)
                .await
                .iter()
                .map(|e| format!("{} {} {}", e["level"], e["message"], e["data"]))
                .collect();
            panic!(
                "{id} did not end in {limit:?}: {j}\nevents:\n{}\n{}",
                events.join("\n"),
                logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn train_losses(events: &[Value]) -> Vec<(u64, f64)> {
    events
        .iter()
        .filter(|e| e["type"] == "metrics")
        .filter_map(|e| {
            Some((
                e["data"]["step"].as_u64()?,
                e["data"]["train_loss"].as_f64()?,
            ))
        })
        .collect()
}

#[tokio::test]
async fn a_fine_tune_survives_a_lost_trainer_publishes_its_adapter_and_charges_exactly() {
    let Some(envs) = trainer_envs() else { return };
    let Setup { hub, token, api } = setup().await;
    let work = tempfile::tempdir().unwrap();
    let mut first = trainer(&hub, "trainer-1", &work.path().join("1"), &envs);

    let created = api
        .post("/v1/fine_tuning/jobs", job_request("demo", 3))
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ftjob-"));
    assert_eq!(created.body["object"], "fine_tuning.job");
    assert_eq!(created.body["status"], "queued");
    assert_eq!(created.body["hyperparameters"]["n_epochs"], 3);
    let estimated_tokens = created.body["estimated_tokens"].as_i64().unwrap();
    assert!(estimated_tokens > 0);

    // The first checkpoint is uploaded; then the trainer dies.
    let logs = || format!("trainer 1:\n{}\nhub:\n{}", first.log(), hub.log());
    let checkpoint = until(
        "a first checkpoint",
        Duration::from_secs(300),
        logs,
        || async {
            let got = api
                .get(&format!("/v1/fine_tuning/jobs/{id}/checkpoints"))
                .await;
            got.body["data"].as_array().and_then(|d| d.first().cloned())
        },
    )
    .await;
    let checkpoint_step = checkpoint["step_number"].as_u64().unwrap();
    assert!(checkpoint["id"].as_str().unwrap().starts_with("ftckpt-"));
    first.kill();
    let first_log = first.log();
    let second = trainer(&hub, "trainer-2", &work.path().join("2"), &envs);

    let logs = || {
        format!(
            "trainer 1:\n{first_log}\ntrainer 2:\n{}\nhub:\n{}",
            second.log(),
            hub.log()
        )
    };
    let done = ended(&api, &id, Duration::from_secs(400), logs).await;
    assert_eq!(done["status"], "succeeded", "{done}\n{}", second.log());
    assert_eq!(done["fine_tuned_model"], "alice/tiny-base-demo");

    // The run went on from the checkpoint, not from zero, and learnt.
    let events = events(&api, &id).await;
    let interrupted = events
        .iter()
        .position(|e| {
            e["level"] == "warn" && e["message"].as_str().unwrap().contains("interrupted")
        })
        .unwrap_or_else(|| panic!("no interruption event: {events:#?}"));
    let first_after = train_losses(&events[interrupted..])
        .first()
        .map(|(step, _)| *step)
        .expect("progress after the interruption");
    assert!(
        first_after > checkpoint_step,
        "resumed at step {first_after}, the checkpoint was at {checkpoint_step}"
    );
    let losses = train_losses(&events);
    let (first_loss, last_loss) = (losses.first().unwrap().1, losses.last().unwrap().1);
    assert!(
        last_loss < first_loss * 0.7,
        "the loss fell from {first_loss} to {last_loss}"
    );

    // The adapter repo: private, PEFT layout, the card and its curve.
    let repo = api.get("/api/models/alice/tiny-base-demo").await;
    assert_eq!(repo.status, 200, "{:?}", repo.body);
    assert_eq!(repo.body["private"], true);
    let names: Vec<String> = repo.body["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rfilename"].as_str().unwrap().to_owned())
        .collect();
    for file in [
        "adapter_config.json",
        "adapter_model.safetensors",
        "README.md",
        "loss_curve.svg",
        "tokenizer.json",
    ] {
        assert!(names.contains(&file.to_owned()), "{file} in {names:?}");
    }
    let card = download(&hub.url, &token, "alice/tiny-base-demo", "README.md").await;
    let card = String::from_utf8(card).unwrap();
    assert!(card.contains("base_model: \"alice/tiny-base\""), "{card}");
    assert!(card.contains("base_model_relation: adapter"), "{card}");
    assert!(card.contains("library_name: peft"), "{card}");
    let tensors = tensor_names(&hub.url, &token, "alice/tiny-base-demo").await;
    assert!(!tensors.is_empty());
    for name in &tensors {
        assert!(
            name.starts_with("base_model.model.model.layers.")
                && (name.ends_with(".lora_A.weight") || name.ends_with(".lora_B.weight")),
            "a PEFT tensor name: {name}"
        );
    }

    // The exact charge: the tokens trained at ¥0.01 per thousand; the rest
    // of the hold released.
    let pool = hub.pool().await;
    let (charge, trained): (i64, i64) =
        sqlx::query_as("SELECT charge, trained_tokens FROM finetune_jobs WHERE id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        trained >= estimated_tokens,
        "{trained} trained, {estimated_tokens} estimated"
    );
    assert_eq!(
        charge,
        (trained * 10_000 + 999) / 1000,
        "micro-yuan for {trained} tokens"
    );
    let balance = api.get("/api/billing/balance").await;
    assert_eq!(balance.status, 200, "{:?}", balance.body);
    assert_eq!(balance.body["held"]["micro_yuan"], 0, "{:?}", balance.body);
    assert_eq!(
        balance.body["available"]["micro_yuan"],
        100_000_000 - charge,
        "{:?}",
        balance.body
    );
    let usage: (String, i64) =
        sqlx::query_as("SELECT kind, trained_tokens FROM usage_records WHERE kind = 'finetune'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(usage, ("finetune".to_owned(), trained));

    // The adapter chats at once, through the same worker fleet.
    let chat = api
        .post(
            "/v1/chat/completions",
            json!({ "model": "alice/tiny-base-demo", "max_tokens": 8, "temperature": 0,
                    "messages": [{ "role": "user", "content": "question 3: what is 3 plus one?" }] }),
        )
        .await;
    assert_eq!(chat.status, 200, "{:?}\n{}", chat.body, second.log());
}

async fn download(base: &str, token: &str, repo: &str, path: &str) -> Vec<u8> {
    let response = reqwest::Client::new()
        .get(format!("{base}/{repo}/resolve/main/{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{repo}/{path}");
    response.bytes().await.unwrap().to_vec()
}

/// The names of the tensors of `repo`'s adapter_model.safetensors (from
/// its header).
async fn tensor_names(base: &str, token: &str, repo: &str) -> Vec<String> {
    let bytes = download(base, token, repo, "adapter_model.safetensors").await;
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_cancelled_fine_tune_is_charged_its_tokens_and_publishes_nothing() {
    let Some(envs) = trainer_envs() else { return };
    let Setup { hub, api, .. } = setup().await;
    let work = tempfile::tempdir().unwrap();
    let worker = trainer(&hub, "trainer", work.path(), &envs);
    let created = api
        .post("/v1/fine_tuning/jobs", job_request("stopped", 20))
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let logs = || format!("trainer:\n{}\nhub:\n{}", worker.log(), hub.log());
    until("training", Duration::from_secs(300), logs, || async {
        let j = job(&api, &id).await;
        (j["status"] == "running" && j["trained_tokens"].as_i64().unwrap_or(0) > 0).then_some(j)
    })
    .await;
    let cancelled = api
        .post(&format!("/v1/fine_tuning/jobs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert!(cancelled.body["fine_tuned_model"].is_null());
    // As OpenAI: cancelling an ended job is a bad request.
    let again = api
        .post(&format!("/v1/fine_tuning/jobs/{id}/cancel"), json!({}))
        .await;
    assert_eq!(again.status, 400, "{:?}", again.body);

    // The worker stops: the run ends cancelled, no repo appears.
    let pool = hub.pool().await;
    until(
        "the trainer to stop",
        Duration::from_secs(60),
        || worker.log(),
        || async {
            let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM inference_jobs WHERE task = 'fine-tune' AND state = 'running'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
            (running == 0 && !worker.log().contains("trainer is running")).then_some(Value::Null)
        },
    )
    .await;
    let (charge, trained): (i64, i64) =
        sqlx::query_as("SELECT charge, trained_tokens FROM finetune_jobs WHERE id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(trained > 0);
    assert_eq!(charge, (trained * 10_000 + 999) / 1000);
    let repos: i64 =
        sqlx::query_scalar("SELECT count(*) FROM repos WHERE name LIKE 'tiny-base-stopped%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(repos, 0);
}

#[tokio::test]
async fn refusals_come_before_any_charge() {
    let Setup { hub, token, api } = setup().await;
    let pool = hub.pool().await;
    let queued = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM inference_jobs")
            .fetch_one(&hub.pool().await)
            .await
            .unwrap()
    };

    // Malformed data: each category, with its line numbers.
    let mut bad = chats(50).lines().map(str::to_owned).collect::<Vec<_>>();
    bad[2] = "{not json".into();
    bad[4] = json!({ "messages": [{ "role": "user", "content": "hi" }] }).to_string();
    bad[6] = json!({ "messages": [{ "role": "wizard", "content": "hi" },
                                   { "role": "assistant", "content": "x" }] })
    .to_string();
    bad[8] = json!({ "messages": [{ "role": "user", "content": "hi" },
                                   { "role": "assistant", "content": "" }] })
    .to_string();
    bad[10] = json!({ "text": "what is this?" }).to_string();
    let committed = api
        .commit_to(
            "datasets",
            "alice/chat",
            "bad data",
            &[file_op("bad.jsonl", bad.join("\n").as_bytes())],
            None,
        )
        .await;
    assert_eq!(committed.status, 200, "{:?}", committed.body);
    let mut request = job_request("bad", 1);
    request["training_file"] = json!("datasets/alice/chat/bad.jsonl");
    let refused = api.post("/v1/fine_tuning/jobs", request).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    for needle in ["line 3", "line 5", "line 7", "line 9", "line 11"] {
        assert!(message.contains(needle), "{needle} in {message}");
    }

    // Too few examples.
    let few: String = chats(50)
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    api.commit_to(
        "datasets",
        "alice/chat",
        "few",
        &[file_op("few.jsonl", few.as_bytes())],
        None,
    )
    .await;
    let mut request = job_request("few", 1);
    request["training_file"] = json!("datasets/alice/chat/few.jsonl");
    let refused = api.post("/v1/fine_tuning/jobs", request).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);

    // A base the trainer cannot handle (an encoder), and one that is not there.
    config_only_model(&hub, &token, "alice/encoder", "bert", false).await;
    let mut request = job_request("enc", 1);
    request["model"] = json!("alice/encoder");
    let refused = api.post("/v1/fine_tuning/jobs", request).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be fine-tuned"),
        "{:?}",
        refused.body
    );
    let mut request = job_request("none", 1);
    request["model"] = json!("bob/nothing");
    let refused = api.post("/v1/fine_tuning/jobs", request).await;
    assert_eq!(refused.status, 404, "{:?}", refused.body);

    // Hostile hyperparameters and suffixes.
    let mut request = job_request("x", 1);
    request["method"]["supervised"]["hyperparameters"]["n_epochs"] = json!(0);
    assert_eq!(api.post("/v1/fine_tuning/jobs", request).await.status, 400);
    let request = job_request("../../etc", 1);
    assert_eq!(api.post("/v1/fine_tuning/jobs", request).await.status, 400);

    // Without enough credits: 402, with where to top up, and nothing queued.
    cpu_price(&hub, "100000");
    let refused = api
        .post("/v1/fine_tuning/jobs", job_request("dear", 3))
        .await;
    assert_eq!(refused.status, 402, "{:?}", refused.body);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/settings/billing"),
        "{:?}",
        refused.body
    );
    assert_eq!(queued().await, 0);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM finetune_jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "a refused job leaves no row");
    let balance = api.get("/api/billing/balance").await;
    assert_eq!(balance.body["held"]["micro_yuan"], 0, "{:?}", balance.body);

    // Someone else's job is not found; anonymous callers are refused.
    let bob = hub.user_with_token("bob");
    let got = hub
        .api(Some(&bob))
        .get("/v1/fine_tuning/jobs/ftjob-aaaaaaaaaaaaaaaaaaaaaaaa")
        .await;
    assert_eq!(got.status, 404);
    let anonymous = hub.api(None).get("/v1/fine_tuning/jobs").await;
    assert_eq!(anonymous.status, 401);
}

async fn org_balance(hub: &Hub, token: &str, org: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/api/billing/balance?org={org}", hub.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A POST to the fine-tuning API with `OpenAI-Organization: org`.
async fn as_org(hub: &Hub, token: &str, org: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", hub.url))
        .bearer_auth(token)
        .header("openai-organization", org)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_organisation_owns_and_pays_for_its_admins_jobs() {
    let Setup { hub, token, api } = setup().await;
    let bob = hub.user_with_token("bob");
    let r = api
        .post("/api/organizations/new", json!({ "name": "lab" }))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = api
        .send(
            reqwest::Method::PUT,
            "/api/organizations/lab/members/bob",
            Some(json!({ "role": "write" })),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    hub.cli_ok(&[
        "billing", "grant", "--org", "lab", "--amount", "5", "--reason", "lab",
    ]);

    // An admin's job is the organisation's: its wallet holds the estimate.
    let (status, job) = as_org(
        &hub,
        &token,
        "lab",
        "/v1/fine_tuning/jobs",
        job_request("lab", 2),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["organization_id"], "lab");
    let id = job["id"].as_str().unwrap().to_owned();
    let held = org_balance(&hub, &token, "lab").await;
    assert!(held["held"]["micro_yuan"].as_i64().unwrap() > 0, "{held}");
    // Not alice's own job, and not listed for her own wallet.
    assert_eq!(
        api.get(&format!("/v1/fine_tuning/jobs/{id}")).await.status,
        404
    );
    // A member who is not an admin may not spend the organisation's credits.
    let (status, refused) = as_org(
        &hub,
        &bob,
        "lab",
        "/v1/fine_tuning/jobs",
        job_request("bob", 1),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    // An organisation one is not in does not exist.
    let (status, _) = as_org(
        &hub,
        &bob,
        "nowhere",
        "/v1/fine_tuning/jobs",
        job_request("x", 1),
    )
    .await;
    assert_eq!(status, 404);

    // Cancelled before any training: nothing charged, the hold released.
    let (status, cancelled) = as_org(
        &hub,
        &token,
        "lab",
        &format!("/v1/fine_tuning/jobs/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["charged"], "¥0.00");
    let after = org_balance(&hub, &token, "lab").await;
    assert_eq!(after["held"]["micro_yuan"], 0, "{after}");
    assert_eq!(after["available"]["micro_yuan"], 5_000_000, "{after}");
}
