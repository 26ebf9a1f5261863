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
use candle_transformers::models::{
    deepseek2, gemma2, gemma3, glm4_new, llama, mistral, qwen2, qwen2_moe, qwen3, qwen3_moe,
};
use serde_json::{Value, json};

use crate::config::ModelConfig;

pub mod gguf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Qwen2,
    Qwen3,
    Llama,
    Glm4,
    Qwen2Moe,
    Qwen3Moe,
    Mistral,
    Gemma2,
    Gemma3,
    DeepSeek2,
}

impl Arch {
    pub const ALL: &[Arch] = &[
        Arch::Qwen2,
        Arch::Qwen3,
        Arch::Llama,
        Arch::Glm4,
        Arch::Qwen2Moe,
        Arch::Qwen3Moe,
        Arch::Mistral,
        Arch::Gemma2,
        Arch::Gemma3,
        Arch::DeepSeek2,
    ];

    /// config.json's `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Llama => "llama",
            Arch::Glm4 => "glm4",
            Arch::Qwen2Moe => "qwen2_moe",
            Arch::Qwen3Moe => "qwen3_moe",
            Arch::Mistral => "mistral",
            Arch::Gemma2 => "gemma2",
            Arch::Gemma3 => "gemma3_text",
            Arch::DeepSeek2 => "deepseek_v2",
        }
    }

    pub fn from_model_type(model_type: &str) -> Option<Arch> {
        Arch::ALL
            .iter()
            .copied()
            .find(|a| a.model_type() == model_type)
    }

    /// (BOS, EOS, other end-of-turn tokens) among [`specials`].
    fn bos_eos(self) -> (&'static str, &'static str, &'static [&'static str]) {
        match self {
            Arch::Qwen2 | Arch::Qwen3 | Arch::Qwen2Moe | Arch::Qwen3Moe => {
                ("<|endoftext|>", "<|im_end|>", &[])
            }
            Arch::Llama | Arch::Mistral => ("<s>", "</s>", &[]),
            Arch::Glm4 => ("[gMASK]", "<|endoftext|>", &["<|user|>", "<|observation|>"]),
            Arch::Gemma2 | Arch::Gemma3 => ("<bos>", "<eos>", &["<end_of_turn>"]),
            Arch::DeepSeek2 => ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", &[]),
        }
    }
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

    /// Qwen2.5-0.5B's shape (494M parameters), for benchmarks.
    pub fn qwen2_5_0_5b() -> Spec {
        Spec {
            arch: Arch::Qwen2,
            hidden: 896,
            intermediate: 4864,
            layers: 24,
            heads: 14,
            kv_heads: 2,
            vocab: 151_936,
            max_positions: 4096,
            seed: 1,
        }
    }
}

/// Special tokens, after the 256 byte tokens and the merges.
fn specials(arch: Arch) -> &'static [&'static str] {
    match arch {
        Arch::Qwen2 | Arch::Qwen3 | Arch::Qwen2Moe | Arch::Qwen3Moe => {
            &["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        }
        Arch::Llama => &["<s>", "</s>"],
        Arch::Mistral => &["<s>", "</s>", "[INST]", "[/INST]"],
        Arch::Glm4 => &[
            "<|endoftext|>",
            "[gMASK]",
            "<sop>",
            "<|system|>",
            "<|user|>",
            "<|assistant|>",
            "<|observation|>",
        ],
        Arch::Gemma2 | Arch::Gemma3 => &[
            "<pad>",
            "<eos>",
            "<bos>",
            "<start_of_turn>",
            "<end_of_turn>",
        ],
        Arch::DeepSeek2 => &["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"],
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

/// GLM-4-0414's template, abridged (no tools).
const GLM4_CHAT_TEMPLATE: &str = "[gMASK]<sop>{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}";

const MISTRAL_CHAT_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

const GEMMA_CHAT_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}";

const DEEPSEEK2_CHAT_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] + '\n\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

const LLAMA_CHAT_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}{% if message['role'] not in ['system', 'user', 'assistant'] %}{{ raise_exception('Unknown role: ' + message['role']) }}{% endif %}{{ '[' + message['role'] | upper + '] ' + message['content'] | trim + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '[ASSISTANT] ' }}{% endif %}";

/// Writes the checkpoint into `dir` (created if needed).
pub fn write_checkpoint(dir: &Path, spec: &Spec) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let (tokenizer, tokenizer_size) = tokenizer_json(spec.arch);
    assert!(
        spec.vocab >= tokenizer_size,
        "vocab smaller than the tokenizer"
    );
    let id = |name: &str| {
        let i = specials(spec.arch).iter().position(|s| *s == name);
        (tokenizer_size - specials(spec.arch).len() + i.expect("a special token")) as u32
    };
    let (bos_name, eos_name, end_of_turn) = spec.arch.bos_eos();
    let (bos, eos) = (id(bos_name), id(eos_name));
    let eos_ids: Vec<u32> = std::iter::once(eos)
        .chain(end_of_turn.iter().map(|t| id(t)))
        .collect();
    let config = config_json(spec, bos, eos);
    write_json(&dir.join("config.json"), &config)?;
    write_json(&dir.join("tokenizer.json"), &tokenizer)?;
    let template = match spec.arch {
        Arch::Qwen2 | Arch::Qwen3 | Arch::Qwen2Moe | Arch::Qwen3Moe => QWEN_CHAT_TEMPLATE,
        Arch::Llama => LLAMA_CHAT_TEMPLATE,
        Arch::Glm4 => GLM4_CHAT_TEMPLATE,
        Arch::Mistral => MISTRAL_CHAT_TEMPLATE,
        Arch::Gemma2 | Arch::Gemma3 => GEMMA_CHAT_TEMPLATE,
        Arch::DeepSeek2 => DEEPSEEK2_CHAT_TEMPLATE,
    };
    // Qwen's tokenizer has no BOS token; the others' templates print theirs.
    let bos_token = match spec.arch {
        Arch::Qwen2 | Arch::Qwen3 | Arch::Qwen2Moe | Arch::Qwen3Moe | Arch::Glm4 => Value::Null,
        _ => json!(bos_name),
    };
    let eos_token = match spec.arch {
        Arch::Qwen2 | Arch::Qwen3 | Arch::Qwen2Moe | Arch::Qwen3Moe => json!("<|im_end|>"),
        _ => json!(eos_name),
    };
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": bos_token,
            "eos_token": eos_token,
            "chat_template": template,
            "model_max_length": spec.max_positions,
        }),
    )?;
    write_json(
        &dir.join("generation_config.json"),
        &json!({ "bos_token_id": bos, "eos_token_id": eos_ids, "do_sample": false }),
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
        Arch::Glm4 => {
            glm4_new::ModelForCausalLM::new(&parsed.to()?, vb)?;
        }
        Arch::Qwen2Moe => {
            qwen2_moe::Model::new(&parsed.to()?, vb)?;
        }
        Arch::Qwen3Moe => {
            qwen3_moe::ModelForCausalLM::new(&parsed.to()?, vb)?;
        }
        Arch::Mistral => {
            mistral::Model::new(&parsed.to()?, vb)?;
        }
        Arch::Gemma2 => {
            gemma2::Model::new(false, &parsed.to()?, vb)?;
        }
        Arch::Gemma3 => {
            gemma3::Model::new(false, &parsed.to()?, vb)?;
        }
        Arch::DeepSeek2 => {
            deepseek2::DeepSeekV2::new(&parsed.to()?, vb)?;
        }
    }
    save_random(&varmap, dir, spec.seed)
}

/// config.json as each family's transformers config class writes it, with
/// the shape of `spec`; MoE families get 4 experts (2 per token).
fn config_json(spec: &Spec, bos: u32, eos: u32) -> Value {
    let head_dim = spec.hidden / spec.heads;
    let mut config = json!({
        "model_type": spec.arch.model_type(),
        "vocab_size": spec.vocab,
        "hidden_size": spec.hidden,
        "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "max_position_embeddings": spec.max_positions,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "bos_token_id": bos,
        "eos_token_id": eos,
        "torch_dtype": "float32",
    });
    let extra = match spec.arch {
        Arch::Qwen2 => json!({
            "architectures": ["Qwen2ForCausalLM"],
            "sliding_window": null,
            "max_window_layers": spec.layers,
            "use_sliding_window": false,
            "tie_word_embeddings": true,
            "rope_theta": 1000000.0,
        }),
        Arch::Qwen3 => json!({
            "architectures": ["Qwen3ForCausalLM"],
            "head_dim": head_dim,
            "sliding_window": null,
            "use_sliding_window": false,
            "tie_word_embeddings": true,
            "rope_theta": 1000000.0,
        }),
        Arch::Llama => json!({
            "architectures": ["LlamaForCausalLM"],
            "rope_theta": 10000.0,
            "rms_norm_eps": 1e-5,
            "tie_word_embeddings": false,
        }),
        // GLM-4-9B-0414's config.json, scaled down (partial rotary: half
        // of each head; q/k/v biases).
        Arch::Glm4 => json!({
            "architectures": ["Glm4ForCausalLM"],
            "head_dim": head_dim,
            "partial_rotary_factor": 0.5,
            "attention_bias": true,
            "rope_theta": 10000.0,
            "rms_norm_eps": 1e-5,
            "tie_word_embeddings": false,
            "pad_token_id": eos,
            "eos_token_id": [eos],
        }),
        Arch::Qwen2Moe => json!({
            "architectures": ["Qwen2MoeForCausalLM"],
            "sliding_window": null,
            "use_sliding_window": false,
            "max_window_layers": spec.layers,
            "tie_word_embeddings": false,
            "rope_theta": 1000000.0,
            "decoder_sparse_step": 1,
            "moe_intermediate_size": spec.intermediate / 2,
            "shared_expert_intermediate_size": spec.intermediate,
            "num_experts_per_tok": 2,
            "num_experts": 4,
            "norm_topk_prob": false,
            "mlp_only_layers": [],
        }),
        Arch::Qwen3Moe => json!({
            "architectures": ["Qwen3MoeForCausalLM"],
            "head_dim": head_dim,
            "sliding_window": null,
            "use_sliding_window": false,
            "max_window_layers": spec.layers,
            "tie_word_embeddings": false,
            "rope_theta": 1000000.0,
            "decoder_sparse_step": 1,
            "moe_intermediate_size": spec.intermediate / 2,
            "num_experts_per_tok": 2,
            "num_experts": 4,
            "norm_topk_prob": true,
            "mlp_only_layers": [],
        }),
        Arch::Mistral => json!({
            "architectures": ["MistralForCausalLM"],
            "head_dim": head_dim,
            "sliding_window": null,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-5,
            "tie_word_embeddings": false,
        }),
        Arch::Gemma2 => json!({
            "architectures": ["Gemma2ForCausalLM"],
            "head_dim": head_dim,
            "query_pre_attn_scalar": head_dim,
            "hidden_act": "gelu_pytorch_tanh",
            "hidden_activation": "gelu_pytorch_tanh",
            "sliding_window": spec.max_positions,
            "final_logit_softcapping": 30.0,
            "attn_logit_softcapping": 50.0,
            "attention_bias": false,
            "rope_theta": 10000.0,
            "tie_word_embeddings": true,
        }),
        // gemma-3-1b's config.json, scaled down: every second layer global
        // here (6th there), so both kinds are exercised; one KV head as
        // there (config.rs says why).
        Arch::Gemma3 => json!({
            "architectures": ["Gemma3ForCausalLM"],
            "num_key_value_heads": 1,
            "head_dim": head_dim,
            "query_pre_attn_scalar": head_dim,
            "hidden_act": null,
            "hidden_activation": "gelu_pytorch_tanh",
            "sliding_window": spec.max_positions,
            "sliding_window_pattern": 2,
            "rope_theta": 1000000.0,
            "rope_local_base_freq": 10000.0,
            "rope_scaling": null,
            "final_logit_softcapping": null,
            "attn_logit_softcapping": null,
            "attention_bias": false,
            "tie_word_embeddings": true,
        }),
        // DeepSeek-V2-Lite's config.json, scaled down: multi-head latent
        // attention without query compression, the first layer dense, then
        // routed experts and a shared one, YaRN positions.
        Arch::DeepSeek2 => json!({
            "architectures": ["DeepseekV2ForCausalLM"],
            "moe_intermediate_size": spec.intermediate / 2,
            "n_routed_experts": 4,
            "n_shared_experts": 1,
            "num_experts_per_tok": 2,
            "first_k_dense_replace": 1,
            "moe_layer_freq": 1,
            "routed_scaling_factor": 1.0,
            "topk_method": "greedy",
            "n_group": 1,
            "topk_group": 1,
            "norm_topk_prob": false,
            "scoring_func": "softmax",
            "q_lora_rank": null,
            "kv_lora_rank": spec.hidden / 2,
            "qk_rope_head_dim": head_dim / 2,
            "qk_nope_head_dim": head_dim,
            "v_head_dim": head_dim,
            "attention_bias": false,
            "rope_theta": 10000.0,
            "rope_scaling": {
                "type": "yarn", "factor": 4.0, "original_max_position_embeddings": spec.max_positions / 4,
                "beta_fast": 32, "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 0.707
            },
            "tie_word_embeddings": false,
        }),
    };
    let map = config.as_object_mut().expect("an object");
    for (k, v) in extra.as_object().expect("an object") {
        map.insert(k.clone(), v.clone());
    }
    config
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value)?)?;
    Ok(())
}

/// A tensor of `shape` with values uniform in [-1, 1) drawn from `seed`:
/// the same numbers on every run, for tests whose bounds must not depend on
/// luck (candle's CPU RNG cannot be seeded).
pub fn seeded_tensor(shape: &[usize], seed: u64) -> Result<Tensor> {
    let mut rng = SplitMix64(seed);
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| rng.uniform())
        .collect();
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
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
