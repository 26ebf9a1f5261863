//! Inference through the whole stack (client → hub → queue → worker → hub →
//! client) against the same engine in-process, on this machine. Not a test:
//! run it with the release profile through `bench/inference`.
//!
//! Prints tokens/s (whole stack vs in-process, and their ratio; target ≥ 0.95),
//! the time to first token the hub and queue add (median; target ≤ 15 ms),
//! and MiniLM embeddings/s, single sentences and batches of 32, through
//! `/v1/embeddings` (with `HUB_TEST_MINILM_DIR`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use candle_core::Device;
use futures::StreamExt;
use hub_core::jobs::protocol::{ChatMessage, FinishReason, Prompt};
use inference_worker::TextModel;
use inference_worker::generation::{Step, generate, greedy};
use inference_worker::testing::{Arch, Spec, write_checkpoint};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::{TestDatabase, TestHub, file_op, hub_binary};

const PROMPT: &str = "hello world, 你好世界";
const TOKENS: u32 = 128;
const RUNS: usize = 7;

fn messages() -> Vec<ChatMessage> {
    vec![ChatMessage {
        role: "user".into(),
        content: PROMPT.into(),
    }]
}

/// A random Qwen2 big enough that a token costs milliseconds, with a seed
/// whose greedy output runs to `TOKENS` tokens (no early end of sequence).
fn checkpoint(dir: &Path) -> Spec {
    for seed in 1..100 {
        let spec = Spec {
            hidden: 512,
            intermediate: 1408,
            layers: 8,
            heads: 8,
            kv_heads: 4,
            seed,
            ..Spec::tiny(Arch::Qwen2)
        };
        write_checkpoint(dir, &spec).unwrap();
        let model = TextModel::load(dir, &Device::Cpu).unwrap();
        let out = generate(&model, &Prompt::Chat(messages()), &greedy(TOKENS), |_| true).unwrap();
        if out.finish_reason == Some(FinishReason::Length) {
            return spec;
        }
    }
    panic!("no seed runs to {TOKENS} tokens");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// (tokens/s, time to first token in ms) per run, in-process.
fn in_process(dir: &Path) -> (f64, f64) {
    let model = TextModel::load(dir, &Device::Cpu).unwrap();
    generate(&model, &Prompt::Chat(messages()), &greedy(4), |_| true).unwrap();
    let (mut rates, mut firsts) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let start = Instant::now();
        let mut first = None;
        let out = generate(&model, &Prompt::Chat(messages()), &greedy(TOKENS), |step| {
            if matches!(step, Step::Token(_)) && first.is_none() {
                first = Some(start.elapsed());
            }
            true
        })
        .unwrap();
        rates.push(out.tokens.len() as f64 / start.elapsed().as_secs_f64());
        firsts.push(first.unwrap().as_secs_f64() * 1e3);
    }
    (median(rates), median(firsts))
}

/// The same through the hub: a streamed chat completion, timed at the client.
async fn through_stack(hub: &TestHub, token: &str, repo: &str) -> (f64, f64) {
    let client = reqwest::Client::new();
    let (mut rates, mut firsts) = (Vec::new(), Vec::new());
    for run in 0..=RUNS {
        let start = Instant::now();
        let response = client
            .post(format!("{}/v1/chat/completions", hub.url))
            .bearer_auth(token)
            .json(
                &json!({ "model": repo, "stream": true, "max_tokens": TOKENS,
                "stream_options": { "include_usage": true },
                "messages": [{ "role": "user", "content": PROMPT }] }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        let mut first = None;
        let mut generated = 0u64;
        while let Some(chunk) = body.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            while let Some(cut) = buffer.find("\n\n") {
                let event: String = buffer.drain(..cut + 2).collect();
                let Some(data) = event.trim().strip_prefix("data: ") else {
                    continue;
                };
                if data == "[DONE]" {
                    continue;
                }
                let v: Value = serde_json::from_str(data).unwrap();
                if first.is_none() && v["choices"][0]["delta"]["content"].is_string() {
                    first = Some(start.elapsed());
                }
                if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
                    generated = n;
                }
            }
        }
        let total = start.elapsed();
        if run == 0 {
            continue; // warm-up: the worker downloads and loads the model
        }
        assert_eq!(generated, u64::from(TOKENS));
        rates.push(generated as f64 / total.as_secs_f64());
        firsts.push(first.unwrap().as_secs_f64() * 1e3);
    }
    (median(rates), median(firsts))
}

/// Sentences per second through `/v1/embeddings`, `batch` at a time.
async fn embeddings(hub: &TestHub, token: &str, repo: &str, batch: usize, requests: usize) -> f64 {
    let api = hub.api(Some(token));
    let input: Vec<String> = (0..batch)
        .map(|i| format!("Sentence number {i}: a man is eating food."))
        .collect();
    let warm = api
        .post("/v1/embeddings", json!({ "model": repo, "input": input }))
        .await;
    assert_eq!(warm.status, 200, "{:?}", warm.body);
    let start = Instant::now();
    for _ in 0..requests {
        let r = api
            .post(
                "/v1/embeddings",
                json!({ "model": repo, "input": input, "encoding_format": "base64" }),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    (batch * requests) as f64 / start.elapsed().as_secs_f64()
}

fn in_process_embeddings(dir: &Path, batch: usize, calls: usize) -> f64 {
    let model = inference_worker::EmbeddingModel::load(dir, &Device::Cpu).unwrap();
    let input: Vec<String> = (0..batch)
        .map(|i| format!("Sentence number {i}: a man is eating food."))
        .collect();
    model.embed(&input, false, true).unwrap();
    let start = Instant::now();
    for _ in 0..calls {
        model.embed(&input, false, true).unwrap();
    }
    (batch * calls) as f64 / start.elapsed().as_secs_f64()
}

async fn upload(hub: &TestHub, token: &str, repo: &str, dir: &Path) {
    let api = hub.api(Some(token));
    let (ns, name) = repo.split_once('/').unwrap();
    assert_eq!(api.create_repo("model", ns, name, false).await.status, 200);
    let mut ops = Vec::new();
    let mut paths = vec![dir.to_path_buf()];
    while let Some(p) = paths.pop() {
        for entry in std::fs::read_dir(&p).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                paths.push(path);
                continue;
            }
            let rel = path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned();
            let data = std::fs::read(&path).unwrap();
            if rel.ends_with(".safetensors") {
                ops.push(lfs_upload(hub, token, repo, &rel, &data).await);
            } else {
                ops.push(file_op(&rel, &data));
            }
        }
    }
    let commit = api.commit(repo, "upload", &ops, None).await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
}

async fn lfs_upload(hub: &TestHub, token: &str, repo: &str, path: &str, data: &[u8]) -> Value {
    const LFS: &str = "application/vnd.git-lfs+json";
    let oid = hex::encode(Sha256::digest(data));
    let client = reqwest::Client::new();
    let batch: Value = client
        .post(format!("{}/{repo}.git/info/lfs/objects/batch", hub.url))
        .bearer_auth(token)
        .header("accept", LFS)
        .header("content-type", LFS)
        .body(
            json!({ "operation": "upload", "transfers": ["basic"],
            "objects": [{ "oid": oid, "size": data.len() }] })
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions = &batch["objects"][0]["actions"];
    if let Some(href) = actions["upload"]["href"].as_str() {
        client
            .put(href)
            .body(data.to_vec())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        if let Some(verify) = actions["verify"]["href"].as_str() {
            client
                .post(verify)
                .bearer_auth(token)
                .header("content-type", LFS)
                .body(json!({ "oid": oid, "size": data.len() }).to_string())
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap();
        }
    }
    json!({ "key": "lfsFile", "value": { "path": path, "algo": "sha256", "oid": oid, "size": data.len() } })
}

fn start_worker(hub: &TestHub, token: &str, dir: &Path) -> Child {
    Command::new(hub_binary().with_file_name("inference-worker"))
        .args(["--hub", &hub.url, "--token", token, "--cache-dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("inference-worker (cargo build --release --workspace)")
}

async fn until_servable(hub: &TestHub, token: &str, repo: &str) {
    for _ in 0..600 {
        let info = hub
            .api(Some(token))
            .get(&format!("/api/inference/{repo}"))
            .await;
        if info.body["available"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no worker serves {repo}");
}

#[tokio::main]
async fn main() {
    let db = TestDatabase::create().await;
    let data = tempfile::tempdir().unwrap();
    let hub = TestHub::spawn(data.path(), Some(db.url.clone())).await;
    let token = hub.user_with_token("bench");
    let worker_token = {
        let out = hub.cli(&["worker-token", "create", "--name", "bench"]);
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let files = tempfile::tempdir().unwrap();
    let spec = checkpoint(files.path());
    println!(
        "model: random Qwen2, hidden {}, {} layers, {} heads ({} kv), seed {}; greedy, {TOKENS} tokens, median of {RUNS}",
        spec.hidden, spec.layers, spec.heads, spec.kv_heads, spec.seed
    );
    let (local_rate, local_first) = in_process(files.path());
    upload(&hub, &token, "bench/qwen2", files.path()).await;
    let cache = tempfile::tempdir().unwrap();
    let mut worker = start_worker(&hub, &worker_token, cache.path());
    until_servable(&hub, &token, "bench/qwen2").await;
    let (stack_rate, stack_first) = through_stack(&hub, &token, "bench/qwen2").await;
    println!("| measure | in-process | whole stack | result | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| tokens/s | {local_rate:.1} | {stack_rate:.1} | ratio {:.3} | ≥ 0.95 |",
        stack_rate / local_rate
    );
    println!(
        "| time to first token (ms) | {local_first:.1} | {stack_first:.1} | added {:.1} ms | ≤ 15 ms |",
        stack_first - local_first
    );
    if let Ok(minilm) = std::env::var("HUB_TEST_MINILM_DIR") {
        upload(&hub, &token, "bench/minilm", Path::new(&minilm)).await;
        until_servable(&hub, &token, "bench/minilm").await;
        let single = embeddings(&hub, &token, "bench/minilm", 1, 50).await;
        let batch = embeddings(&hub, &token, "bench/minilm", 32, 10).await;
        let local_single = in_process_embeddings(Path::new(&minilm), 1, 50);
        let local_batch = in_process_embeddings(Path::new(&minilm), 32, 10);
        println!("| MiniLM embeddings/s, single | {local_single:.1} | {single:.1} | | |");
        println!("| MiniLM embeddings/s, batch of 32 | {local_batch:.1} | {batch:.1} | | |");
    } else {
        println!("(HUB_TEST_MINILM_DIR unset: no embedding figures)");
    }
    let _ = worker.kill();
    let _ = worker.wait();
}
