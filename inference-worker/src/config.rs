//! config.json, normalised per `model_type` before candle parses it.
//!
//! candle's config structs are strict serde structs: a checkpoint written by
//! another transformers version (`"sliding_window": null` for Qwen2, no
//! `rope_theta`, `rope_scaling` of a type candle does not know) would fail
//! to load. We fill the defaults transformers itself uses instead.

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

/// The parsed config.json of a checkpoint: its `model_type` and the
/// normalised JSON object.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub model_type: String,
    pub json: Map<String, Value>,
}

impl ModelConfig {
    pub fn parse(bytes: &[u8]) -> Result<ModelConfig> {
        let value: Value = serde_json::from_slice(bytes).context("config.json is not JSON")?;
        let Value::Object(json) = value else {
            bail!("config.json is not a JSON object");
        };
        let model_type = json
            .get("model_type")
            .and_then(Value::as_str)
            .context("config.json has no model_type")?
            .to_string();
        let mut config = ModelConfig { model_type, json };
        config.normalise()?;
        Ok(config)
    }

    pub fn read(path: &std::path::Path) -> Result<ModelConfig> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        ModelConfig::parse(&bytes)
    }

    /// Deserialises the normalised config into candle's struct.
    pub fn to<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(Value::Object(self.json.clone()))
            .with_context(|| format!("config.json does not describe a {} model", self.model_type))
    }

    pub fn usize(&self, key: &str) -> Option<usize> {
        self.json
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
    }

    /// `eos_token_id` (a number or a list).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        token_ids(self.json.get("eos_token_id"))
    }

    /// Longest sequence (prompt + output) the model handles.
    pub fn max_positions(&self) -> usize {
        self.usize("max_position_embeddings").unwrap_or(4096)
    }

    fn normalise(&mut self) -> Result<()> {
        let layers = self.usize("num_hidden_layers");
        let heads = self.usize("num_attention_heads");
        let hidden = self.usize("hidden_size");
        let j = &mut self.json;
        match self.model_type.as_str() {
            "qwen2" | "qwen3" => {
                default(j, "max_position_embeddings", json!(32768));
                default(j, "max_window_layers", json!(layers.unwrap_or(0)));
                default(j, "use_sliding_window", json!(false));
                // candle's qwen2 applies `sliding_window` whether or not
                // `use_sliding_window` is set; transformers only when it is.
                if j["use_sliding_window"] != json!(true) {
                    let max_pos = j["max_position_embeddings"].clone();
                    j.insert("sliding_window".into(), max_pos);
                }
                let max_pos = j["max_position_embeddings"].clone();
                default(j, "sliding_window", max_pos);
                default(j, "tie_word_embeddings", json!(false));
                default(j, "rope_theta", json!(1_000_000.0));
                default(j, "rms_norm_eps", json!(1e-6));
                default(j, "hidden_act", json!("silu"));
                default(j, "num_key_value_heads", json!(heads.unwrap_or(1)));
                if self.model_type == "qwen3" {
                    if let (Some(h), Some(n)) = (hidden, heads) {
                        default(j, "head_dim", json!(h / n.max(1)));
                    }
                    default(j, "attention_bias", json!(false));
                    // Option<usize> in qwen3::Config: null is fine there.
                }
            }
            "llama" => {
                default(j, "max_position_embeddings", json!(4096));
                default(j, "rope_theta", json!(10_000.0));
                default(j, "rms_norm_eps", json!(1e-6));
                default(j, "tie_word_embeddings", json!(false));
                // candle knows only Llama 3's rope scaling; "linear"/"dynamic"
                // scaling only matters beyond the original context, which
                // the worker does not use, so it is dropped rather than refused.
                let llama3 = j
                    .get("rope_scaling")
                    .and_then(|r| r.get("rope_type").or_else(|| r.get("type")))
                    .and_then(Value::as_str)
                    == Some("llama3");
                if llama3 {
                    let r = j["rope_scaling"].as_object_mut().expect("checked above");
                    r.insert("rope_type".into(), json!("llama3"));
                } else {
                    j.insert("rope_scaling".into(), Value::Null);
                }
            }
            "qwen2_moe" | "qwen3_moe" => {
                // transformers' Qwen2MoeConfig / Qwen3MoeConfig defaults.
                default(j, "max_position_embeddings", json!(32768));
                default(j, "max_window_layers", json!(layers.unwrap_or(0)));
                default(j, "use_sliding_window", json!(false));
                default(j, "tie_word_embeddings", json!(false));
                default(j, "rope_theta", json!(10_000.0));
                default(j, "rms_norm_eps", json!(1e-6));
                default(j, "hidden_act", json!("silu"));
                default(j, "decoder_sparse_step", json!(1));
                default(j, "norm_topk_prob", json!(false));
                if j.get("mlp_only_layers")
                    .and_then(Value::as_array)
                    .is_some_and(|l| !l.is_empty())
                {
                    // candle puts experts in every `decoder_sparse_step`-th
                    // layer and knows no exceptions.
                    bail!("mlp_only_layers is not supported for {}", self.model_type);
                }
                if self.model_type == "qwen2_moe" {
                    default(j, "num_key_value_heads", json!(heads.unwrap_or(1)));
                    default(j, "moe_intermediate_size", json!(1408));
                    default(j, "shared_expert_intermediate_size", json!(5632));
                    default(j, "num_experts_per_tok", json!(4));
                    default(j, "num_experts", json!(60));
                    // candle's qwen2_moe always reads lm_head.weight.
                    if j["tie_word_embeddings"] == json!(true) {
                        bail!("qwen2_moe with tied word embeddings is not supported");
                    }
                } else {
                    default(j, "num_key_value_heads", json!(4));
                    if let (Some(h), Some(n)) = (hidden, heads) {
                        default(j, "head_dim", json!(h / n.max(1)));
                    }
                    default(j, "attention_bias", json!(false));
                    default(j, "moe_intermediate_size", json!(768));
                    default(j, "num_experts_per_tok", json!(8));
                    default(j, "num_experts", json!(128));
                }
                if j["use_sliding_window"] == json!(true) {
                    // candle applies the window to every layer at prefill
                    // only (qwen3_moe: not at all); within the window there
                    // is nothing to apply.
                    bound_context_by_window(j);
                    if self.model_type == "qwen3_moe" {
                        j.insert("use_sliding_window".into(), json!(false));
                    }
                } else {
                    let max_pos = j["max_position_embeddings"].clone();
                    j.insert("sliding_window".into(), max_pos);
                }
            }
            "glm4" => {
                // transformers' Glm4Config defaults (GLM-4-*-0414), the layout
                // of candle's glm4_new (glm4.rs is the older ChatGLM layout,
                // model_type "chatglm").
                default(j, "max_position_embeddings", json!(131072));
                default(j, "head_dim", json!(128));
                default(j, "partial_rotary_factor", json!(0.5));
                default(j, "attention_bias", json!(true));
                default(j, "num_key_value_heads", json!(2));
                default(j, "rope_theta", json!(10_000.0));
                default(j, "rms_norm_eps", json!(1.5625e-7));
                default(j, "tie_word_embeddings", json!(false));
                default(j, "hidden_act", json!("silu"));
                refuse_rope_scaling(j, "glm4")?;
            }
            "mistral" => {
                // transformers' MistralConfig: a missing window is 4096, an
                // explicit null is none.
                j.entry("sliding_window").or_insert(json!(4096));
                default(j, "max_position_embeddings", json!(131072));
                default(j, "num_key_value_heads", json!(8));
                default(j, "rope_theta", json!(10_000.0));
                default(j, "rms_norm_eps", json!(1e-6));
                default(j, "hidden_act", json!("silu"));
                refuse_rope_scaling(j, "mistral")?;
                // The decoder masks the window at prefill only, as candle's
                // mistral, not in the KV cache.
                bound_context_by_window(j);
            }
            "gemma2" | "gemma3_text" => {
                let gemma3 = self.model_type == "gemma3_text";
                // transformers' Gemma2Config / Gemma3TextConfig defaults.
                default(j, "head_dim", json!(256));
                if let Some(act) = j.get("hidden_act").cloned() {
                    default(j, "hidden_activation", act);
                }
                default(j, "hidden_activation", json!("gelu_pytorch_tanh"));
                default(j, "num_key_value_heads", json!(4));
                default(j, "rms_norm_eps", json!(1e-6));
                default(j, "attention_bias", json!(false));
                default(j, "query_pre_attn_scalar", json!(256));
                if gemma3 {
                    default(j, "max_position_embeddings", json!(131072));
                    default(j, "rope_theta", json!(1_000_000.0));
                    default(j, "rope_local_base_freq", json!(10_000.0));
                    default(j, "sliding_window", json!(4096));
                    default(j, "final_logit_softcapping", Value::Null);
                    default(j, "attn_logit_softcapping", Value::Null);
                    gemma3_sliding_window_pattern(j)?;
                    // candle 0.11's gemma3 appends a strided V to the global
                    // layers' KV cache, which fails for a prompt longer than
                    // one token unless there is a single KV head (Gemma 3
                    // 270M and 1B, the text-only ones, have one).
                    if j.get("num_key_value_heads").and_then(Value::as_u64) != Some(1) {
                        bail!("gemma3_text with more than one KV head is not supported");
                    }
                } else {
                    default(j, "max_position_embeddings", json!(8192));
                    default(j, "rope_theta", json!(10_000.0));
                    // Here null means "none": only a missing key gets the default.
                    for (key, value) in [
                        ("sliding_window", json!(4096)),
                        ("final_logit_softcapping", json!(30.0)),
                        ("attn_logit_softcapping", json!(50.0)),
                    ] {
                        j.entry(key).or_insert(value);
                    }
                }
                refuse_rope_scaling(j, &self.model_type)?;
                // candle scales attention by 1/sqrt(head_dim) whatever
                // query_pre_attn_scalar says (Gemma 2/3 27B differ).
                if j["query_pre_attn_scalar"] != j["head_dim"] {
                    bail!(
                        "{} with query_pre_attn_scalar other than head_dim is not supported",
                        self.model_type
                    );
                }
                // candle's gemma2 windows every layer, and gemma3's prefill
                // mask and rotating cache disagree by one position past the
                // window; within it all layers see the whole sequence.
                bound_context_by_window(j);
            }
            "deepseek_v2" => {
                // The defaults of DeepSeek-V2's configuration_deepseek.py.
                default(j, "max_position_embeddings", json!(2048));
                default(j, "rope_theta", json!(10_000.0));
                default(j, "rms_norm_eps", json!(1e-6));
                default(j, "attention_bias", json!(false));
                default(j, "tie_word_embeddings", json!(false));
                default(j, "hidden_act", json!("silu"));
                default(j, "kv_lora_rank", json!(512));
                default(j, "qk_rope_head_dim", json!(64));
                default(j, "qk_nope_head_dim", json!(128));
                default(j, "v_head_dim", json!(128));
                default(j, "n_group", json!(1));
                default(j, "topk_group", json!(1));
                // V2-Lite says null (no query compression) explicitly.
                j.entry("q_lora_rank").or_insert(json!(1536));
                let method = j.get("topk_method").and_then(Value::as_str);
                if !matches!(method, None | Some("greedy" | "group_limited_greedy")) {
                    bail!("deepseek_v2 with topk_method {method:?} is not supported");
                }
            }
            "bert" => {
                default(j, "hidden_act", json!("gelu"));
                default(j, "hidden_dropout_prob", json!(0.1));
                default(j, "initializer_range", json!(0.02));
                default(j, "layer_norm_eps", json!(1e-12));
                default(j, "pad_token_id", json!(0));
                default(j, "type_vocab_size", json!(2));
                default(j, "max_position_embeddings", json!(512));
                default(j, "classifier_dropout", Value::Null);
                normalise_gelu(j, "geluapproximate");
            }
            "xlm-roberta" => {
                default(j, "hidden_act", json!("gelu"));
                default(j, "hidden_dropout_prob", json!(0.1));
                default(j, "attention_probs_dropout_prob", json!(0.1));
                default(j, "layer_norm_eps", json!(1e-5));
                default(j, "pad_token_id", json!(1));
                default(j, "type_vocab_size", json!(1));
                default(j, "max_position_embeddings", json!(514));
                default(j, "position_embedding_type", json!("absolute"));
                normalise_gelu(j, "gelu_pytorch_tanh");
            }
            other => bail!("unsupported model_type {other:?}"),
        }
        Ok(())
    }
}

/// Sets `key` when it is missing or null.
fn default(j: &mut Map<String, Value>, key: &str, value: Value) {
    if j.get(key).is_none_or(Value::is_null) {
        j.insert(key.to_string(), value);
    }
}

/// Caps the context at `sliding_window` where candle's handling of the
/// window differs from transformers': shorter sequences never reach it, so
/// they are exact. Also keeps candle's preallocated caches to that size.
fn bound_context_by_window(j: &mut Map<String, Value>) {
    if let (Some(window), Some(max_pos)) = (
        j.get("sliding_window").and_then(Value::as_u64),
        j.get("max_position_embeddings").and_then(Value::as_u64),
    ) && window < max_pos
    {
        j.insert("max_position_embeddings".into(), json!(window));
    }
}

/// candle ignores `rope_scaling` in these models; scaled positions would be
/// silently wrong, so the checkpoint is refused.
fn refuse_rope_scaling(j: &Map<String, Value>, model_type: &str) -> Result<()> {
    if j.get("rope_scaling").is_some_and(|r| !r.is_null()) {
        bail!("{model_type} with rope_scaling is not supported");
    }
    Ok(())
}

/// Newer transformers write `layer_types` instead of
/// `sliding_window_pattern` (every n-th layer global); candle wants n.
fn gemma3_sliding_window_pattern(j: &mut Map<String, Value>) -> Result<()> {
    if j.get("sliding_window_pattern").is_some_and(Value::is_u64) {
        return Ok(());
    }
    let pattern = match j.get("layer_types").and_then(Value::as_array) {
        None => 6,
        Some(types) => {
            let global = |i: usize| types[i].as_str() == Some("full_attention");
            let n = (0..types.len())
                .find(|&i| global(i))
                .map_or(types.len() + 1, |i| i + 1);
            if (0..types.len()).any(|i| global(i) != ((i + 1) % n == 0)) {
                bail!("gemma3 layer_types without a regular pattern are not supported");
            }
            n
        }
    };
    j.insert("sliding_window_pattern".into(), json!(pattern));
    Ok(())
}

/// The tanh approximation of GELU has several names in config.json files.
fn normalise_gelu(j: &mut Map<String, Value>, approximate: &str) {
    if let Some(act) = j.get("hidden_act").and_then(Value::as_str)
        && matches!(act, "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast")
    {
        j.insert("hidden_act".into(), json!(approximate));
    }
}

/// A token id or a list of them (config.json, generation_config.json).
pub fn token_ids(value: Option<&Value>) -> Vec<u32> {
    match value {
        Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_u64)
            .map(|n| n as u32)
            .collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qwen2_null_sliding_window_gets_a_value() {
        let config = ModelConfig::parse(
            br#"{"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":16,
                "num_hidden_layers":2,"num_attention_heads":2,"max_position_embeddings":128,
                "sliding_window":null}"#,
        )
        .unwrap();
        let parsed: candle_transformers::models::qwen2::Config = config.to().unwrap();
        assert_eq!(parsed.sliding_window, 128);
        assert_eq!(parsed.max_window_layers, 2);
        assert_eq!(parsed.num_key_value_heads, 2);
        // A window that use_sliding_window turns off is not applied.
        let config = ModelConfig::parse(
            br#"{"model_type":"qwen2","vocab_size":10,"hidden_size":8,"intermediate_size":16,
                "num_hidden_layers":2,"num_attention_heads":2,"max_position_embeddings":128,
                "sliding_window":16,"use_sliding_window":false}"#,
        )
        .unwrap();
        let parsed: candle_transformers::models::qwen2::Config = config.to().unwrap();
        assert_eq!(parsed.sliding_window, 128);
    }

    #[test]
    fn llama_unknown_rope_scaling_is_dropped() {
        let config = ModelConfig::parse(
            br#"{"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":16,
                "num_hidden_layers":2,"num_attention_heads":2,
                "rope_scaling":{"type":"linear","factor":2.0}}"#,
        )
        .unwrap();
        let parsed: candle_transformers::models::llama::LlamaConfig = config.to().unwrap();
        assert!(parsed.rope_scaling.is_none());
        assert_eq!(parsed.max_position_embeddings, 4096);
    }

    fn parse(json: &str) -> Result<ModelConfig> {
        ModelConfig::parse(json.as_bytes())
    }

    const SHAPE: &str = r#""vocab_size":10,"hidden_size":8,"intermediate_size":16,
        "num_hidden_layers":2,"num_attention_heads":2"#;

    #[test]
    fn glm4_gets_transformers_defaults() {
        let config = parse(&format!(r#"{{"model_type":"glm4",{SHAPE}}}"#)).unwrap();
        let parsed: candle_transformers::models::glm4_new::Config = config.to().unwrap();
        assert_eq!(parsed.partial_rotary_factor, Some(0.5));
        assert_eq!(parsed.attention_bias, Some(true));
        assert_eq!(parsed.head_dim, Some(128));
        assert_eq!(parsed.num_key_value_heads, 2);
        let scaled = parse(&format!(
            r#"{{"model_type":"glm4",{SHAPE},"rope_scaling":{{"type":"yarn","factor":4}}}}"#
        ));
        assert!(scaled.unwrap_err().to_string().contains("rope_scaling"));
    }

    #[test]
    fn sliding_windows_bound_the_context() {
        // Mistral 7B v0.1: a 4096 window over 32k positions.
        let config = parse(&format!(
            r#"{{"model_type":"mistral",{SHAPE},"max_position_embeddings":32768,"sliding_window":4096}}"#
        ))
        .unwrap();
        assert_eq!(config.max_positions(), 4096);
        // A missing window is transformers' 4096; null is none.
        let config = parse(&format!(r#"{{"model_type":"mistral",{SHAPE}}}"#)).unwrap();
        assert_eq!(config.max_positions(), 4096);
        let config = parse(&format!(
            r#"{{"model_type":"mistral",{SHAPE},"sliding_window":null,"max_position_embeddings":32768}}"#
        ))
        .unwrap();
        assert_eq!(config.max_positions(), 32768);
        let parsed: candle_transformers::models::mistral::Config = config.to().unwrap();
        assert_eq!(parsed.sliding_window, None);
        // qwen2_moe: only when use_sliding_window says so.
        let config = parse(&format!(
            r#"{{"model_type":"qwen2_moe",{SHAPE},"max_position_embeddings":8192,"sliding_window":1024}}"#
        ))
        .unwrap();
        assert_eq!(config.max_positions(), 8192);
        let parsed: candle_transformers::models::qwen2_moe::Config = config.to().unwrap();
        assert_eq!((parsed.sliding_window, parsed.num_experts), (8192, 60));
    }

    #[test]
    fn gemma_softcapping_null_stays_none_and_layer_types_give_the_pattern() {
        let config = parse(&format!(
            r#"{{"model_type":"gemma2",{SHAPE},"head_dim":4,"query_pre_attn_scalar":4,
                "final_logit_softcapping":null}}"#
        ))
        .unwrap();
        let parsed: candle_transformers::models::gemma2::Config = config.to().unwrap();
        assert_eq!(parsed.final_logit_softcapping, None);
        assert_eq!(parsed.attn_logit_softcapping, Some(50.0));
        assert_eq!(config.max_positions(), 4096);
        let config = parse(&format!(
            r#"{{"model_type":"gemma3_text",{SHAPE},"head_dim":4,"query_pre_attn_scalar":4,
                "num_key_value_heads":1,"sliding_window":512,"max_position_embeddings":32768,
                "layer_types":["sliding_attention","full_attention"]}}"#
        ))
        .unwrap();
        let parsed: candle_transformers::models::gemma3::Config = config.to().unwrap();
        assert_eq!(parsed.sliding_window_pattern, 2);
        assert_eq!(parsed.max_position_embeddings, 512);
        // Gemma 27B scales queries by another number than candle does.
        let err = parse(&format!(
            r#"{{"model_type":"gemma2",{SHAPE},"head_dim":128,"query_pre_attn_scalar":144}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains("query_pre_attn_scalar"), "{err}");
    }

    #[test]
    fn what_candle_would_get_wrong_is_refused() {
        let err = parse(&format!(
            r#"{{"model_type":"qwen3_moe",{SHAPE},"mlp_only_layers":[0]}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains("mlp_only_layers"), "{err}");
        let err = parse(&format!(
            r#"{{"model_type":"deepseek_v2",{SHAPE},"topk_method":"noaux_tc"}}"#
        ))
        .unwrap_err();
        assert!(err.to_string().contains("noaux_tc"), "{err}");
    }

    #[test]
    fn unknown_architectures_are_refused() {
        let err = ModelConfig::parse(br#"{"model_type":"baichuan"}"#).unwrap_err();
        assert!(err.to_string().contains("baichuan"), "{err}");
    }
}
