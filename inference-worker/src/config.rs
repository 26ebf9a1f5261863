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

    #[test]
    fn unknown_architectures_are_refused() {
        let err = ModelConfig::parse(br#"{"model_type":"baichuan"}"#).unwrap_err();
        assert!(err.to_string().contains("baichuan"), "{err}");
    }
}
