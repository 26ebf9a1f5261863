//! Batched decoding on tiny random checkpoints: our decoder against candle's
//! own qwen2, and sequences decoded together against the same requests run
//! alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{llama, mistral, qwen2};
use inference_worker::TextModel;
use inference_worker::batch::Limits;
use inference_worker::config::ModelConfig;
use inference_worker::generation::{GenerateOutput, Step, generate, greedy, prompt_tokens};
use inference_worker::gguf_model;
use inference_worker::llm::safetensors_files;
use inference_worker::sampling::argmax;
use inference_worker::testing::gguf::{GgufSpec, write_gguf};
use inference_worker::testing::{Arch, Spec, write_checkpoint};
use worker_protocol::{ChatMessage, GenerationParams, Prompt};

fn chat(text: &str) -> Prompt {
    Prompt::Chat(vec![ChatMessage {
        role: "user".into(),
        content: text.into(),
    }])
}

fn safetensors(arch: Arch) -> (tempfile::TempDir, Arc<TextModel>) {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(dir.path(), &Spec::tiny(arch)).unwrap();
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    (dir, Arc::new(model))
}

fn safetensors_qwen2() -> (tempfile::TempDir, Arc<TextModel>) {
    safetensors(Arch::Qwen2)
}

fn gguf(arch: Arch, dtype: GgmlDType) -> (tempfile::TempDir, Arc<TextModel>) {
    let dir = tempfile::tempdir().unwrap();
    write_gguf(&dir.path().join("m.gguf"), &GgufSpec::tiny(arch), dtype).unwrap();
    let model = gguf_model::load(dir.path(), &["m.gguf".into()], &Device::Cpu).unwrap();
    (dir, Arc::new(model))
}

/// Greedy tokens of a candle model run directly (`forward(ids, position)`
/// gives the last position's logits).
fn candle_greedy(
    model: &TextModel,
    ids: &[u32],
    n: usize,
    mut forward: impl FnMut(&Tensor, usize) -> Tensor,
) -> Vec<u32> {
    let mut out = Vec::new();
    let mut input = ids.to_vec();
    while out.len() < n {
        let position = ids.len() + out.len() - input.len();
        let x = Tensor::new(input.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let mut logits: Vec<f32> = forward(&x, position)
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        logits.truncate(model.usable_vocab);
        let next = argmax(&logits);
        out.push(next);
        if model.eos_token_ids.contains(&next) {
            break;
        }
        input = vec![next];
    }
    out
}

fn weights(dir: &std::path::Path) -> VarBuilder<'static> {
    let files = safetensors_files(dir).unwrap();
    unsafe { VarBuilder::from_mmaped_safetensors(&files, DType::F32, &Device::Cpu) }.unwrap()
}

/// Greedy generation on our decoder equals `candle` (given a prompt's ids,
/// candle's greedy tokens on a fresh cache), for chat and raw prompts.
fn matches_candle(model: &TextModel, mut candle: impl FnMut(&[u32]) -> Vec<u32>) {
    assert!(
        model.decoder().is_some(),
        "{} runs on our decoder",
        model.model_type
    );
    for prompt in [chat("你好, hello world"), Prompt::Text("hello 世界".into())] {
        let ids = prompt_tokens(model, &prompt).unwrap();
        let ours = generate(model, &prompt, &greedy(24), |_| true).unwrap();
        assert_eq!(ours.tokens, candle(&ids), "{prompt:?}");
    }
}

fn config<T: serde::de::DeserializeOwned>(dir: &std::path::Path) -> T {
    ModelConfig::read(&dir.join("config.json"))
        .unwrap()
        .to()
        .unwrap()
}

#[test]
fn qwen2_checkpoints_generate_what_candles_qwen2_generates() {
    let (dir, model) = safetensors_qwen2();
    let mut candle =
        qwen2::ModelForCausalLM::new(&config(dir.path()), weights(dir.path())).unwrap();
    matches_candle(&model, |ids| {
        candle.clear_kv_cache();
        candle_greedy(&model, ids, 24, |x, p| candle.forward(x, p).unwrap())
    });
}

#[test]
fn llama_checkpoints_generate_what_candles_llama_generates() {
    llama_matches_candle(safetensors(Arch::Llama));
}

#[test]
fn llama_3_rope_scaling_generates_what_candles_llama_generates() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(dir.path(), &Spec::tiny(Arch::Llama)).unwrap();
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    // Llama 3.1's, with a short original context so every band is used.
    config["rope_scaling"] = serde_json::json!({
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 32
    });
    std::fs::write(&path, config.to_string()).unwrap();
    let model = TextModel::load(dir.path(), &Device::Cpu).unwrap();
    llama_matches_candle((dir, Arc::new(model)));
}

#[test]
fn mistral_checkpoints_generate_what_candles_mistral_generates() {
    let (dir, model) = safetensors(Arch::Mistral);
    let mut candle = mistral::Model::new(&config(dir.path()), weights(dir.path())).unwrap();
    matches_candle(&model, |ids| {
        candle.clear_kv_cache();
        candle_greedy(&model, ids, 24, |x, p| candle.forward(x, p).unwrap())
    });
}

fn llama_matches_candle((dir, model): (tempfile::TempDir, Arc<TextModel>)) {
    let config = config::<llama::LlamaConfig>(dir.path()).into_config(false);
    let candle = llama::Llama::load(weights(dir.path()), &config).unwrap();
    matches_candle(&model, |ids| {
        let mut cache = llama::Cache::new(true, DType::F32, &config, &Device::Cpu).unwrap();
        candle_greedy(&model, ids, 24, |x, p| {
            candle.forward(x, p, &mut cache).unwrap()
        })
    });
}

/// Sixteen different requests: seeds, temperatures, lengths, stop
/// sequences, chat and raw prompts.
fn requests() -> Vec<(Prompt, GenerationParams)> {
    let prompts = [
        "hello world",
        "你好",
        "the user asks",
        "世界 中文 测试",
        "a",
        "tell me about the weather in 北京",
        "one two three four five six",
        "🙂 emoji",
    ];
    (0..16)
        .map(|i| {
            let text = prompts[i % prompts.len()];
            let prompt = if i % 3 == 0 {
                Prompt::Text(text.into())
            } else {
                chat(text)
            };
            let mut params = greedy(4 + (i as u32 * 5) % 23);
            if i % 2 == 1 {
                params.temperature = Some(0.7 + i as f64 / 20.0);
                params.top_p = Some(0.95);
                params.seed = 1000 + i as u64;
            }
            if i % 5 == 4 {
                params.top_k = Some(20);
                params.repetition_penalty = Some(1.2);
            }
            if i == 7 {
                params.stop = vec!["e".into()];
            }
            (prompt, params)
        })
        .collect()
}

/// What a sequence streamed, and how it ended.
fn collect(out: GenerateOutput, streamed: &Mutex<String>) -> (Vec<u32>, String, String) {
    let streamed = streamed.lock().unwrap().clone();
    assert_eq!(streamed, out.text, "the stream adds up to the output");
    (out.tokens, out.text, format!("{:?}", out.finish_reason))
}

fn alone(
    model: &TextModel,
    requests: &[(Prompt, GenerationParams)],
) -> Vec<(Vec<u32>, String, String)> {
    requests
        .iter()
        .map(|(prompt, params)| {
            let streamed = Mutex::new(String::new());
            let out = generate(model, prompt, params, |step| {
                if let Step::Token(t) = step {
                    streamed.lock().unwrap().push_str(&t.text);
                }
                true
            })
            .unwrap();
            collect(out, &streamed)
        })
        .collect()
}

/// The requests through the model's batcher: the first half at once, the
/// rest while those are decoding, so they join a running batch.
fn together(
    model: &Arc<TextModel>,
    requests: &[(Prompt, GenerationParams)],
    limits: Limits,
) -> Vec<(Vec<u32>, String, String)> {
    let batcher = model.batcher(limits).expect("batched");
    let half = requests.len() / 2;
    let started = Arc::new(std::sync::Barrier::new(2));
    let mut answers = Vec::new();
    let mut streams = Vec::new();
    for (i, (prompt, params)) in requests.iter().enumerate() {
        if i == half {
            // Wait until the first half is decoding.
            started.wait();
        }
        let streamed = Arc::new(Mutex::new(String::new()));
        let (s, first, signal) = (streamed.clone(), i == 0, started.clone());
        answers.push(batcher.submit(
            model.clone(),
            prompt.clone(),
            params.clone(),
            Box::new(move |step| {
                match step {
                    Step::Token(t) => s.lock().unwrap().push_str(&t.text),
                    // The first sequence's prompt has run.
                    Step::Started { .. } if first => {
                        signal.wait();
                    }
                    Step::Started { .. } => {}
                }
                true
            }),
        ));
        streams.push(streamed);
    }
    answers
        .into_iter()
        .zip(streams)
        .map(|(answer, streamed)| collect(answer.blocking_recv().unwrap().unwrap(), &streamed))
        .collect()
}

fn batched_equals_alone(model: Arc<TextModel>) {
    let requests = requests();
    let expected = alone(&model, &requests);
    let got = together(&model, &requests, Limits::default());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "request {i}: {:?}", requests[i]);
    }
    let batcher = model.batcher(Limits::default()).unwrap();
    assert!(
        batcher.peak() >= 10,
        "the sequences were decoded together (largest batch {})",
        batcher.peak()
    );
}

#[test]
fn sixteen_qwen2_sequences_decoded_together_each_equal_the_same_request_alone() {
    batched_equals_alone(safetensors_qwen2().1);
}

#[test]
fn sixteen_llama_sequences_decoded_together_each_equal_the_same_request_alone() {
    batched_equals_alone(safetensors(Arch::Llama).1);
}

#[test]
fn sixteen_mistral_sequences_decoded_together_each_equal_the_same_request_alone() {
    batched_equals_alone(safetensors(Arch::Mistral).1);
}

#[test]
fn sixteen_qwen3_sequences_decoded_together_each_equal_the_same_request_alone() {
    batched_equals_alone(safetensors(Arch::Qwen3).1);
}

#[test]
fn sixteen_qwen3_q8_0_sequences_decoded_together_each_equal_the_same_request_alone() {
    batched_equals_alone(gguf(Arch::Qwen3, GgmlDType::Q8_0).1);
}

#[test]
fn sixteen_q4_k_sequences_decoded_together_each_equal_the_same_request_alone() {
    batched_equals_alone(gguf(Arch::Qwen2, GgmlDType::Q4K).1);
}

#[test]
fn sixteen_llama_q6_k_sequences_decoded_together_each_equal_the_same_request_alone() {
    batched_equals_alone(gguf(Arch::Llama, GgmlDType::Q6K).1);
}

#[test]
fn a_cancelled_sequence_leaves_the_batch_and_the_others_finish_unchanged() {
    let (_dir, model) = safetensors_qwen2();
    let requests: Vec<_> = requests()
        .into_iter()
        .map(|(p, mut params)| {
            params.max_new_tokens = 20;
            params.stop.clear();
            (p, params)
        })
        .take(6)
        .collect();
    let expected = alone(&model, &requests);
    let batcher = model.batcher(Limits::default()).unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let answers: Vec<_> = requests
        .iter()
        .enumerate()
        .map(|(i, (prompt, params))| {
            let cancel = cancel.clone();
            let mut tokens = 0;
            batcher.submit(
                model.clone(),
                prompt.clone(),
                params.clone(),
                Box::new(move |step| {
                    if matches!(step, Step::Token(_)) {
                        tokens += 1;
                    }
                    // The third visitor leaves after 3 tokens.
                    if i == 2 && tokens == 3 {
                        cancel.store(true, Ordering::SeqCst);
                        return false;
                    }
                    true
                }),
            )
        })
        .collect();
    for (i, answer) in answers.into_iter().enumerate() {
        let out = answer.blocking_recv().unwrap().unwrap();
        if i == 2 {
            assert_eq!(out.tokens.len(), 3, "stopped where its client left");
            assert_eq!(out.finish_reason, None);
            assert_eq!(out.tokens[..], expected[i].0[..3]);
        } else {
            assert_eq!(out.tokens, expected[i].0, "request {i}");
        }
    }
    assert!(cancel.load(Ordering::SeqCst));
}

#[test]
fn the_kv_budget_bounds_the_batch_and_the_rest_wait_their_turn() {
    let (_dir, model) = safetensors_qwen2();
    let requests: Vec<_> = (0..8)
        .map(|i| {
            let mut params = greedy(20);
            params.temperature = Some(1.0);
            params.seed = i;
            (chat("the same prompt"), params)
        })
        .collect();
    let expected = alone(&model, &requests);
    let need = prompt_tokens(&model, &requests[0].0).unwrap().len() + 20;
    let per_position = model.decoder().unwrap().kv_bytes_per_position();
    // Room for three such sequences.
    let limits = Limits {
        max_batch: 16,
        kv_budget: 3 * need as u64 * per_position,
    };
    let batcher = model.batcher(limits).unwrap();
    let answers: Vec<_> = requests
        .iter()
        .map(|(prompt, params)| {
            batcher.submit(
                model.clone(),
                prompt.clone(),
                params.clone(),
                Box::new(|_| true),
            )
        })
        .collect();
    for (i, answer) in answers.into_iter().enumerate() {
        let out = answer.blocking_recv().unwrap().unwrap();
        assert_eq!(out.tokens, expected[i].0, "request {i}");
    }
    assert_eq!(batcher.peak(), 3, "three fit in the budget");
}

#[test]
fn a_bad_request_in_the_queue_fails_alone() {
    let (_dir, model) = safetensors_qwen2();
    let batcher = model.batcher(Limits::default()).unwrap();
    let long = Prompt::Text("word ".repeat(5000));
    let bad = batcher.submit(model.clone(), long, greedy(4), Box::new(|_| true));
    let good = batcher.submit(model.clone(), chat("hello"), greedy(4), Box::new(|_| true));
    let err = bad.blocking_recv().unwrap().unwrap_err();
    assert!(
        err.to_string().contains("this model takes at most"),
        "{err:#}"
    );
    assert_eq!(good.blocking_recv().unwrap().unwrap().tokens.len(), 4);
}

#[test]
fn a_panic_in_a_batch_fails_that_batch_and_the_model_serves_on() {
    let (_dir, model) = safetensors_qwen2();
    let batcher = model.batcher(Limits::default()).unwrap();
    let bad = batcher.submit(
        model.clone(),
        chat("hello"),
        greedy(8),
        Box::new(|step| match step {
            Step::Token(_) => panic!("a callback that panics"),
            Step::Started { .. } => true,
        }),
    );
    assert!(bad.blocking_recv().is_err(), "no answer: the batch failed");
    let good = batcher.submit(model.clone(), chat("hello"), greedy(4), Box::new(|_| true));
    assert_eq!(good.blocking_recv().unwrap().unwrap().tokens.len(), 4);
}
