//! Tiny random checkpoints in Hugging Face layout, for tests and benchmarks:
//! config.json, model.safetensors (random weights from a fixed seed),
//! tokenizer.json (a real byte-level BPE tokenizer that covers every
//! character, Chinese included), tokenizer_config.json with a chat template,
//! generation_config.json.
//!
//! Parameter names and shapes are whatever candle's own loader asks for:
//! the model is built once over a `VarMap`, which records them. Values come
//! from a seeded PRNG (candle's CPU RNG cannot be seeded), so the same spec
//! always gives the same bytes.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::{llama, qwen2, qwen3};
use serde_json::{Value, json};

use crate::config::ModelConfig;

pub mod gguf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Qwen2,
    Qwen3,
    Llama,
}

/// The shape of a generated checkpoint.
#[derive(Debug, Clone)]
pub struct Spec {
    pub arch: Arch,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// At least the tokenizer's size; bigger means padded rows (as real
    /// Qwen checkpoints have).
    pub vocab: usize,
    pub max_positions: usize,
    pub seed: u64,
}

impl Spec {
    /// Hidden 64, 2 layers: a few hundred KB.
    pub fn tiny(arch: Arch) -> Spec {
        Spec {
            arch,
            hidden: 64,
            intermediate: 128,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            vocab: 320,
            max_positions: 512,
            seed: 42,
        }
    }
}

/// Special tokens, after the 256 byte tokens and the merges.
fn specials(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::Qwen2 | Arch::Qwen3 => &["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        Arch::Llama => &["<s>", "</s>"],
    }
}

/// Words that get merges (so some Chinese characters are one token and
/// others are split over several byte tokens).
const WORDS: &[&str] = &[
    "hello",
    " world",
    "你好",
    "世界",
    "user",
    "assistant",
    "system",
    " the",
    "中文",
];

const QWEN_CHAT_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const LLAMA_CHAT_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}{% if message['role'] not in ['system', 'user', 'assistant'] %}{{ raise_exception('Unknown role: ' + message['role']) }}{% endif %}{{ '[' + message['role'] | upper + '] ' + message['content'] | trim + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '[ASSISTANT] ' }}{% endif %}";

/// Writes the checkpoint into `dir` (created if needed).
pub fn write_checkpoint(dir: &Path, spec: &Spec) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let (tokenizer, tokenizer_size) = tokenizer_json(spec.arch);
    assert!(
        spec.vocab >= tokenizer_size,
        "vocab smaller than the tokenizer"
    );
    let special = |i: usize| (tokenizer_size - specials(spec.arch).len() + i) as u32;
    let (bos, eos) = match spec.arch {
        Arch::Qwen2 | Arch::Qwen3 => (special(0), special(2)), // <|endoftext|>, <|im_end|>
        Arch::Llama => (special(0), special(1)),
    };
    let config = match spec.arch {
        Arch::Qwen2 => json!({
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": spec.vocab,
            "hidden_size": spec.hidden,
            "intermediate_size": spec.intermediate,
            "num_hidden_layers": spec.layers,
            "num_attention_heads": spec.heads,
            "num_key_value_heads": spec.kv_heads,
            "max_position_embeddings": spec.max_positions,
            "sliding_window": null,
            "max_window_layers": spec.layers,
            "use_sliding_window": false,
            "tie_word_embeddings": true,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6,
            "hidden_act": "silu",
            "bos_token_id": bos,
            "eos_token_id": eos,
            "torch_dtype": "float32",
        }),
        Arch::Qwen3 => json!({
            "architectures": ["Qwen3ForCausalLM"],
            "model_type": "qwen3",
            "vocab_size": spec.vocab,
            "hidden_size": spec.hidden,
            "intermediate_size": spec.intermediate,
            "num_hidden_layers": spec.layers,
            "num_attention_heads": spec.heads,
            "num_key_value_heads": spec.kv_heads,
            "head_dim": spec.hidden / spec.heads,
            "max_position_embeddings": spec.max_positions,
            "sliding_window": null,
            "use_sliding_window": false,
            "tie_word_embeddings": true,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6,
            "hidden_act": "silu",
            "bos_token_id": bos,
            "eos_token_id": eos,
            "torch_dtype": "float32",
        }),
        Arch::Llama => json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": spec.vocab,
            "hidden_size": spec.hidden,
            "intermediate_size": spec.intermediate,
            "num_hidden_layers": spec.layers,
            "num_attention_heads": spec.heads,
            "num_key_value_heads": spec.kv_heads,
            "max_position_embeddings": spec.max_positions,
            "rope_theta": 10000.0,
            "rms_norm_eps": 1e-5,
            "hidden_act": "silu",
            "tie_word_embeddings": false,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "torch_dtype": "float32",
        }),
    };
    write_json(&dir.join("config.json"), &config)?;
    write_json(&dir.join("tokenizer.json"), &tokenizer)?;
    let (template, bos_token, eos_token) = match spec.arch {
        Arch::Qwen2 | Arch::Qwen3 => (QWEN_CHAT_TEMPLATE, Value::Null, json!("<|im_end|>")),
        Arch::Llama => (LLAMA_CHAT_TEMPLATE, json!("<s>"), json!("</s>")),
    };
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "tokenizer_class": if spec.arch == Arch::Llama { "LlamaTokenizerFast" } else { "Qwen2Tokenizer" } ,
            "bos_token": bos_token,
            "eos_token": eos_token,
            "chat_template": template,
            "model_max_length": spec.max_positions,
        }),
    )?;
    write_json(
        &dir.join("generation_config.json"),
        &json!({ "bos_token_id": bos, "eos_token_id": [eos], "do_sample": false }),
    )?;

    // Names and shapes from candle's loader, values from our PRNG.
    let parsed = ModelConfig::parse(&serde_json::to_vec(&config)?)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    match spec.arch {
        Arch::Qwen2 => {
            qwen2::ModelForCausalLM::new(&parsed.to::<qwen2::Config>()?, vb)?;
        }
        Arch::Qwen3 => {
            qwen3::ModelForCausalLM::new(&parsed.to::<qwen3::Config>()?, vb)?;
        }
        Arch::Llama => {
            let c: llama::LlamaConfig = parsed.to()?;
            llama::Llama::load(vb, &c.into_config(false))?;
        }
    }
    save_random(&varmap, dir, spec.seed)
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value)?)?;
    Ok(())
}

/// splitmix64: small, seeded, good enough for test weights.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// GPT-2's byte ↔ printable character table (byte-level BPE's alphabet).
fn byte_chars() -> Vec<char> {
    let mut printable: Vec<u32> = ('!' as u32..='~' as u32)
        .chain('¡' as u32..='¬' as u32)
        .chain('®' as u32..='ÿ' as u32)
        .collect();
    let mut chars: Vec<Option<char>> = vec![None; 256];
    for &b in &printable {
        chars[b as usize] = char::from_u32(b);
    }
    let mut n = 0;
    for (b, slot) in chars.iter_mut().enumerate() {
        if slot.is_none() {
            *slot = char::from_u32(256 + n);
            printable.push(b as u32);
            n += 1;
        }
    }
    chars.into_iter().map(|c| c.expect("filled")).collect()
}

/// A byte-level BPE tokenizer.json (Qwen2's pre-tokenizer regex) and its
/// size with the special tokens.
pub fn tokenizer_json(arch: Arch) -> (Value, usize) {
    let table = byte_chars();
    let mut vocab = serde_json::Map::new();
    for (i, c) in table.iter().enumerate() {
        vocab.insert(c.to_string(), json!(i));
    }
    let mut merges = Vec::new();
    for word in WORDS {
        let symbols: Vec<String> = word
            .bytes()
            .map(|b| table[b as usize].to_string())
            .collect();
        let mut current = symbols[0].clone();
        for s in &symbols[1..] {
            let merged = format!("{current}{s}");
            if !vocab.contains_key(&merged) {
                merges.push(json!([current, s]));
                let id = vocab.len();
                vocab.insert(merged.clone(), json!(id));
            }
            current = merged;
        }
    }
    let mut added = Vec::new();
    for (i, content) in specials(arch).iter().enumerate() {
        added.push(json!({
            "id": vocab.len() + i, "content": content, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true
        }));
    }
    let size = vocab.len() + added.len();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false});
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": false},
            byte_level.clone()
        ]},
        "post_processor": byte_level.clone(),
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": merges
        }
    });
    (tokenizer, size)
}

/// Writes a tiny random sentence-embedding checkpoint (`bert` or
/// `xlm-roberta`) with sentence-transformers' files: 1_Pooling/config.json
/// asking for `pooling` ("mean", "cls" or "lasttoken") and modules.json
/// with a Normalize module.
pub fn write_embedding_checkpoint(dir: &Path, model_type: &str, pooling: &str) -> Result<()> {
    use candle_transformers::models::{bert, xlm_roberta};
    std::fs::create_dir_all(dir.join("1_Pooling"))?;
    let (tokenizer, tokenizer_size) = tokenizer_json(Arch::Llama);
    let config = json!({
        "model_type": model_type,
        "vocab_size": tokenizer_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 66,
        "type_vocab_size": if model_type == "bert" { 2 } else { 1 },
        "hidden_act": "gelu",
        "pad_token_id": if model_type == "bert" { 0 } else { 1 },
    });
    write_json(&dir.join("config.json"), &config)?;
    write_json(&dir.join("tokenizer.json"), &tokenizer)?;
    write_json(
        &dir.join("1_Pooling/config.json"),
        &json!({
            "word_embedding_dimension": 32,
            "pooling_mode_cls_token": pooling == "cls",
            "pooling_mode_mean_tokens": pooling == "mean",
            "pooling_mode_lasttoken": pooling == "lasttoken",
        }),
    )?;
    write_json(
        &dir.join("modules.json"),
        &json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        ]),
    )?;
    let parsed = ModelConfig::parse(&serde_json::to_vec(&config)?)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    match model_type {
        "bert" => {
            bert::BertModel::load(vb, &parsed.to()?)?;
        }
        _ => {
            xlm_roberta::XLMRobertaModel::new(&parsed.to()?, vb)?;
        }
    }
    save_random(&varmap, dir, 7)
}

/// Fills every variable of `varmap` from the seeded PRNG and saves them as
/// `model.safetensors`.
fn save_random(varmap: &VarMap, dir: &Path, seed: u64) -> Result<()> {
    let mut rng = SplitMix64(seed);
    let data = varmap.data().lock().expect("varmap lock");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort(); // a fixed order, so a seed always gives the same weights
    let mut tensors = HashMap::new();
    for name in names {
        let shape = data[name].as_tensor().dims().to_vec();
        let n: usize = shape.iter().product();
        let values: Vec<f32> =
            if name.ends_with("norm.weight") || name.ends_with("LayerNorm.weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                (0..n).map(|_| rng.uniform() * 0.02).collect()
            } else {
                let fan_in = *shape.last().unwrap_or(&1) as f32;
                let bound = (3.0 / fan_in).sqrt();
                (0..n).map(|_| rng.uniform() * bound).collect()
            };
        tensors.insert(name.clone(), Tensor::from_vec(values, shape, &Device::Cpu)?);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}
