//! Batched decoding, in-process through the worker's own engine (a model's
//! [`Batcher`], what a job for it joins): aggregate generated tokens per
//! second with 1, 4 and 16 concurrent chats on a random model of
//! Qwen2.5-0.5B's shape, as f32 safetensors and as a Q4_K_M GGUF file, and
//! time to first token with 16 at once. Run by `bench/batch`:
//!
//! ```text
//! cargo run --release -p inference-worker --example batch_bench [-- TOKENS]
//! ```
//!
//! Decoding one token is bound by reading the weights; a batch reads them
//! once per step for all its sequences, so the figure at 16 should be
//! several times the single-stream one (target ≥ 4×). Every sequence
//! decodes exactly TOKENS tokens (default 48; EOS is ignored).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use candle_core::Device;
use inference_worker::TextModel;
use inference_worker::batch::Limits;
use inference_worker::generation::{Step, greedy};
use inference_worker::gguf_model;
use inference_worker::testing::gguf::{GgufSpec, Quantization, write_gguf_as};
use inference_worker::testing::{Spec, write_checkpoint};
use worker_protocol::{ChatMessage, Prompt};

struct Figures {
    tokens_per_second: f64,
    first_tokens: Vec<Duration>,
}

/// `concurrency` chats submitted at once; every one decodes `tokens`.
fn run(model: &Arc<TextModel>, concurrency: usize, tokens: u32) -> Figures {
    let batcher = model.batcher(Limits::default()).expect("a batched model");
    let start = Instant::now();
    let firsts = Arc::new(Mutex::new(Vec::new()));
    let answers: Vec<_> = (0..concurrency)
        .map(|i| {
            let prompt = Prompt::Chat(vec![ChatMessage {
                role: "user".into(),
                content: format!("visitor {i}: hello world, 你好世界"),
            }]);
            let mut params = greedy(tokens);
            if i % 2 == 1 {
                params.temperature = Some(0.8);
                params.seed = i as u64;
            }
            let firsts = firsts.clone();
            let mut seen = false;
            batcher.submit(
                model.clone(),
                prompt,
                params,
                Box::new(move |step| {
                    if matches!(step, Step::Token(_)) && !seen {
                        seen = true;
                        firsts.lock().unwrap().push(start.elapsed());
                    }
                    true
                }),
            )
        })
        .collect();
    let mut generated = 0;
    for answer in answers {
        let out = answer
            .blocking_recv()
            .expect("an answer")
            .expect("a generation");
        assert_eq!(out.tokens.len(), tokens as usize, "EOS is ignored");
        generated += out.tokens.len();
    }
    let elapsed = start.elapsed();
    let mut first_tokens = firsts.lock().unwrap().clone();
    first_tokens.sort();
    Figures {
        tokens_per_second: generated as f64 / elapsed.as_secs_f64(),
        first_tokens,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Rows of the table for one model; returns the single-stream figure.
fn bench(label: &str, mut model: TextModel, tokens: u32) -> f64 {
    model.eos_token_ids.clear();
    let model = Arc::new(model);
    run(&model, 2, 4); // warm-up: weights paged in, kernels packed
    let mut single = 0.0;
    for concurrency in [1, 4, 16] {
        let f = run(&model, concurrency, tokens);
        if concurrency == 1 {
            single = f.tokens_per_second;
        }
        let ttft = if concurrency == 16 {
            format!(
                "{:.0} / {:.0}",
                percentile(&f.first_tokens, 0.5).as_secs_f64() * 1e3,
                percentile(&f.first_tokens, 0.95).as_secs_f64() * 1e3
            )
        } else {
            format!(
                "{:.0}",
                percentile(&f.first_tokens, 0.5).as_secs_f64() * 1e3
            )
        };
        println!(
            "| {label} | {concurrency} | {:.1} | {:.2} | {ttft} |",
            f.tokens_per_second,
            f.tokens_per_second / single
        );
    }
    single
}

fn main() -> anyhow::Result<()> {
    let tokens: u32 = std::env::args()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(48);
    let dir = tempfile::tempdir()?;
    let spec = Spec::qwen2_5_0_5b();
    eprintln!("writing the random checkpoints (Qwen2.5-0.5B's shape)…");
    let safetensors = dir.path().join("safetensors");
    write_checkpoint(&safetensors, &spec)?;
    let gguf = dir.path().join("gguf");
    std::fs::create_dir_all(&gguf)?;
    write_gguf_as(
        &gguf.join("m-Q4_K_M.gguf"),
        &GgufSpec::like(&spec),
        Quantization::Q4KM,
    )?;
    println!(
        "cpu threads: {}; {tokens} tokens per chat\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| model | concurrent chats | generated tokens/s | × one chat | first token ms (median / p95 at 16) |"
    );
    println!("|---|---:|---:|---:|---:|");
    let f32_single = bench(
        "f32 safetensors",
        TextModel::load(&safetensors, &Device::Cpu)?,
        tokens,
    );
    let q4_single = bench(
        "Q4_K_M GGUF",
        gguf_model::load(&gguf, &["m-Q4_K_M.gguf".into()], &Device::Cpu)?,
        tokens,
    );
    println!(
        "\nsingle stream, Q4_K_M / f32: {:.2}",
        q4_single / f32_single
    );
    Ok(())
}
