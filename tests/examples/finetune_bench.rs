//! Fine-tuning through the whole stack (hub → queue → worker → trainer,
//! with its events and checkpoint uploads) against the same trainer script
//! run by hand on the same files, in one run on this machine. Not a test:
//! run it through `bench/finetune`.
//!
//! Prints the training throughput of each (tokens trained per second from
//! the first reported step to the last; target ratio ≥ 0.9), the time from
//! creating the job to its first step, and from its last step to the
//! adapter answering a chat request.
//!
//! Knobs: `BENCH_HIDDEN` (256), `BENCH_LAYERS` (4), `BENCH_EXAMPLES` (200),
//! `BENCH_EPOCHS` (2), `BENCH_BATCH` (4), `BENCH_CHECKPOINT_STEPS` (25),
//! `BENCH_TRAINER_ENVS` (the trainer venvs; default under the target dir).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use inference_worker::testing::{Arch, Spec, write_checkpoint};
use serde_json::{Value, json};
use tests::worker::upload_folder;
use tests::{TestHub, hub_binary};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn examples(n: u64) -> String {
    (0..n)
        .map(|i| {
            json!({ "messages": [
                { "role": "user", "content": format!("Please add one to {i} and explain the steps briefly.") },
                { "role": "assistant", "content": format!("Adding one to {i} gives {}. 加一之后得到 {}。", i + 1, i + 1) },
            ]})
            .to_string()
                + "\n"
        })
        .collect()
}

/// Throughput of a run from its progress lines: tokens trained between the
/// first and the last report, over the time between them.
struct Run {
    tokens_per_second: f64,
    trained_tokens: u64,
    first_step_after: Duration,
}

/// The trainer's python, from the worker's own environment code.
fn trainer_python(envs: &Path) -> PathBuf {
    let out = Command::new(hub_binary().with_file_name("inference-worker"))
        .args(["trainer-env", "--envs"])
        .arg(envs)
        .output()
        .expect("inference-worker trainer-env");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .lines()
            .last()
            .unwrap(),
    )
}

fn by_hand(python: &Path, base: &Path, data: &Path, work: &Path, hyper: &Value) -> Run {
    let config = json!({
        "base_model": base,
        "train_file": data,
        "validation_file": null,
        "output_dir": work.join("out"),
        "checkpoints_dir": work.join("checkpoints"),
        "resume_dir": null,
        "hyperparameters": hyper,
        "max_length": 512,
        "checkpoint_every_steps": knob("BENCH_CHECKPOINT_STEPS", 25),
    });
    let config_path = work.join("config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../inference-worker/trainer/train.py");
    let started = Instant::now();
    let mut child = Command::new(python)
        .arg(script)
        .arg(&config_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first: Option<(Instant, u64)> = None;
    let mut last: Option<(Instant, u64)> = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let tokens = line["trained_tokens"].as_u64().unwrap_or(0);
        match line["event"].as_str() {
            Some("progress") => {
                first.get_or_insert((Instant::now(), tokens));
                last = Some((Instant::now(), tokens));
            }
            Some("done") => last = Some((Instant::now(), tokens)),
            Some("error") => panic!("the trainer failed: {line}"),
            _ => {}
        }
    }
    assert!(child.wait().unwrap().success());
    let (t0, k0) = first.expect("progress");
    let (t1, k1) = last.unwrap();
    Run {
        tokens_per_second: (k1 - k0) as f64 / (t1 - t0).as_secs_f64(),
        trained_tokens: k1,
        first_step_after: t0 - started,
    }
}

/// The same through the hub: progress as the API's events show it,
/// timestamped as they arrive (polled every 50 ms).
async fn through_stack(hub: &TestHub, token: &str, hyper: &Value) -> (Run, Duration) {
    let api = hub.api(Some(token));
    let created_at = Instant::now();
    let created = api
        .post(
            "/v1/fine_tuning/jobs",
            json!({
                "model": "bench/base", "training_file": "datasets/bench/data/train.jsonl",
                "suffix": "bench", "seed": hyper["seed"], "max_length": 512,
                "method": { "type": "supervised", "supervised": { "hyperparameters": {
                    "n_epochs": hyper["n_epochs"], "batch_size": hyper["batch_size"],
                    "learning_rate_multiplier": hyper["learning_rate"].as_f64().unwrap() / 2e-4,
                }}},
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let mut seen = std::collections::HashSet::new();
    let mut first: Option<(Instant, u64)> = None;
    let mut last: Option<(Instant, u64)> = None;
    let finished = loop {
        let events = api
            .get(&format!("/v1/fine_tuning/jobs/{id}/events?limit=100"))
            .await;
        let now = Instant::now();
        for e in events.body["data"].as_array().unwrap().iter().rev() {
            if !seen.insert(e["id"].as_str().unwrap().to_owned()) {
                continue;
            }
            if e["type"] == "metrics" {
                let tokens = e["data"]["trained_tokens"].as_u64().unwrap();
                first.get_or_insert((now, tokens));
                last = Some((now, tokens));
            }
            if e["message"]
                .as_str()
                .unwrap()
                .starts_with("Training finished")
            {
                break;
            }
        }
        let job = api.get(&format!("/v1/fine_tuning/jobs/{id}")).await.body;
        match job["status"].as_str() {
            Some("succeeded") => break last.map(|(t, _)| t).unwrap_or(now),
            Some("failed" | "cancelled") => panic!("the job ended {job}"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let job = api.get(&format!("/v1/fine_tuning/jobs/{id}")).await.body;
    let trained = job["trained_tokens"].as_u64().unwrap();
    let (t0, k0) = first.expect("progress events");
    let (t1, _) = last.unwrap();
    // From the last step to the adapter's first answer.
    let model = job["fine_tuned_model"].as_str().unwrap().to_owned();
    loop {
        let chat = api
            .post(
                "/v1/chat/completions",
                json!({ "model": model, "max_tokens": 1, "messages": [{ "role": "user", "content": "hi" }] }),
            )
            .await;
        if chat.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let servable_after = finished.elapsed();
    (
        Run {
            tokens_per_second: (trained - k0) as f64 / (t1 - t0).as_secs_f64(),
            trained_tokens: trained,
            first_step_after: t0 - created_at,
        },
        servable_after,
    )
}

#[tokio::main]
async fn main() {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let envs = std::env::var("BENCH_TRAINER_ENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(&target).join("trainer-envs"));
    std::fs::create_dir_all(&envs).unwrap();
    let python = trainer_python(&envs);
    let work = tempfile::tempdir().unwrap();
    let base = work.path().join("base");
    let spec = Spec {
        hidden: knob("BENCH_HIDDEN", 256) as usize,
        intermediate: knob("BENCH_HIDDEN", 256) as usize * 3,
        layers: knob("BENCH_LAYERS", 4) as usize,
        ..Spec::tiny(Arch::Qwen2)
    };
    write_checkpoint(&base, &spec).unwrap();
    let data = work.path().join("train.jsonl");
    std::fs::write(&data, examples(knob("BENCH_EXAMPLES", 200))).unwrap();
    let hyper = json!({
        "n_epochs": knob("BENCH_EPOCHS", 2), "batch_size": knob("BENCH_BATCH", 4),
        "learning_rate": 2e-3, "seed": 1, "lora_r": 8, "lora_alpha": 16.0,
        "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"],
    });
    println!(
        "model: random Qwen2, hidden {}, {} layers; {} examples, {} epochs, batch {}; checkpoint every {} steps",
        spec.hidden,
        spec.layers,
        knob("BENCH_EXAMPLES", 200),
        hyper["n_epochs"],
        hyper["batch_size"],
        knob("BENCH_CHECKPOINT_STEPS", 25)
    );

    let hand_dir = work.path().join("by-hand");
    std::fs::create_dir_all(&hand_dir).unwrap();
    let hand = by_hand(&python, &base, &data, &hand_dir, &hyper);

    let steps = knob("BENCH_CHECKPOINT_STEPS", 25).to_string();
    let hub = TestHub::start_with(&[("HUB_FINETUNE_CHECKPOINT_STEPS", steps.as_str())], &[]).await;
    let token = hub.user_with_token("bench");
    hub.cli_ok(&[
        "billing", "grant", "--user", "bench", "--amount", "1000", "--reason", "bench",
    ]);
    upload_folder(&hub, &token, "bench/base", &base, false).await;
    let examples = std::fs::read(&data).unwrap();
    tests::finetune::dataset(&hub, &token, "bench/data", "train.jsonl", &examples).await;
    let worker = tests::finetune::trainer(&hub, "bench", &work.path().join("worker"), &envs);
    let (stack, servable_after) = through_stack(&hub, &token, &hyper).await;
    drop(worker);

    println!("| measure | by hand | whole stack | result | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| training tokens/s | {:.0} | {:.0} | ratio {:.3} | ≥ 0.9 |",
        hand.tokens_per_second,
        stack.tokens_per_second,
        stack.tokens_per_second / hand.tokens_per_second
    );
    println!(
        "| tokens trained | {} | {} | | equal |",
        hand.trained_tokens, stack.trained_tokens
    );
    println!(
        "| to the first step (s) | {:.2} (process start) | {:.2} (job created) | | |",
        hand.first_step_after.as_secs_f64(),
        stack.first_step_after.as_secs_f64()
    );
    println!(
        "| last step → adapter answers (s) | | {:.2} | | |",
        servable_after.as_secs_f64()
    );
}
