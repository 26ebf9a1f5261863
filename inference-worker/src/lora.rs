//! LoRA adapters in PEFT's layout (`adapter_config.json`,
//! `adapter_model.safetensors`), merged into their base model's weights at
//! load: each adapted weight W becomes W + scale · B·A (A: [r, in], B:
//! [out, r]; scale = lora_alpha / r, or lora_alpha / √r with rsLoRA). The
//! model then runs as fast as its base.
//!
//! What such a merge cannot express is refused with the reason: DoRA,
//! `modules_to_save`, embedding LoRA, trained biases, per-module ranks,
//! tensors for modules the base does not have, shapes that do not fit.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail};
use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use crate::llm::safetensors_files;

/// PEFT's names: `base_model.model.{module}.lora_A.weight`, where the base's
/// weight is `{module}.weight`.
const PREFIX: &str = "base_model.model.";

/// The parts of adapter_config.json a merge depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterConfig {
    pub r: usize,
    pub scale: f64,
}

impl AdapterConfig {
    pub fn parse(bytes: &[u8]) -> Result<AdapterConfig> {
        let json: Value =
            serde_json::from_slice(bytes).context("adapter_config.json is not JSON")?;
        let field = |key: &str| json.get(key).filter(|v| !v.is_null());
        let peft_type = field("peft_type").and_then(Value::as_str).unwrap_or("LORA");
        if peft_type != "LORA" {
            bail!("only LoRA adapters are served, not {peft_type}");
        }
        let flag = |key: &str| field(key).and_then(Value::as_bool).unwrap_or(false);
        if flag("use_dora") {
            bail!("DoRA adapters (use_dora) are not served: merge it into the model first");
        }
        if flag("fan_in_fan_out") {
            bail!("adapters with fan_in_fan_out are not served");
        }
        if field("modules_to_save").is_some_and(|m| m.as_array().is_none_or(|a| !a.is_empty())) {
            bail!(
                "adapters with modules_to_save (fully trained modules) are not served: \
                 merge it into the model first"
            );
        }
        if field("bias")
            .and_then(Value::as_str)
            .is_some_and(|b| b != "none")
        {
            bail!("adapters with trained biases are not served");
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if field(key).is_some_and(|p| p.as_object().is_none_or(|o| !o.is_empty())) {
                bail!("adapters with a {key} are not served");
            }
        }
        if field("layer_replication").is_some() {
            bail!("adapters with layer_replication are not served");
        }
        let r = field("r")
            .and_then(Value::as_u64)
            .filter(|&r| r > 0)
            .context("adapter_config.json has no rank r")? as usize;
        let alpha = field("lora_alpha").and_then(Value::as_f64).unwrap_or(8.0);
        let scale = if flag("use_rslora") {
            alpha / (r as f64).sqrt()
        } else {
            alpha / r as f64
        };
        Ok(AdapterConfig { r, scale })
    }
}

/// One adapted module's A and B.
struct Pair {
    a: Option<Tensor>,
    b: Option<Tensor>,
}

/// The base checkpoint in `base` with the adapter in `adapter` merged in,
/// as `dtype` on `device`: the tensor map a model is built from.
pub fn merged_weights(
    base: &Path,
    adapter: &Path,
    dtype: DType,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    let config = AdapterConfig::parse(
        &std::fs::read(adapter.join("adapter_config.json"))
            .context("the adapter has no adapter_config.json")?,
    )?;
    let mut pairs = read_pairs(&adapter.join("adapter_model.safetensors"), device)?;
    // Safety: read-only mmaps of files the cache never rewrites in place.
    let st =
        unsafe { candle_core::safetensors::MmapedSafetensors::multi(&safetensors_files(base)?)? };
    let mut tensors = HashMap::new();
    for (name, _) in st.tensors() {
        let mut tensor = st.load(&name, device)?;
        if let Some(pair) = name.strip_suffix(".weight").and_then(|m| pairs.remove(m)) {
            tensor = merge(&name, &tensor, pair, &config)?;
        }
        tensors.insert(name, tensor.to_dtype(dtype)?);
    }
    if let Some(module) = pairs.keys().next() {
        bail!("the adapter adapts {module}, which the base model has no weight for");
    }
    Ok(tensors)
}

/// The adapter's tensors by module, every name checked.
fn read_pairs(path: &Path, device: &Device) -> Result<BTreeMap<String, Pair>> {
    let tensors = candle_core::safetensors::load(path, device)
        .context("adapter_model.safetensors cannot be read")?;
    let mut pairs: BTreeMap<String, Pair> = BTreeMap::new();
    for (name, tensor) in tensors {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            bail!("unexpected tensor {name} in the adapter (not PEFT's naming)");
        };
        let (module, is_a) = if let Some(m) = rest.strip_suffix(".lora_A.weight") {
            (m, true)
        } else if let Some(m) = rest.strip_suffix(".lora_B.weight") {
            (m, false)
        } else if rest.contains("lora_embedding_") {
            bail!("adapters of embeddings ({name}) are not served");
        } else if rest.contains("lora_magnitude_vector") {
            bail!("DoRA adapters ({name}) are not served");
        } else {
            bail!("the adapter has {name}, which is not a LoRA A or B matrix: not served");
        };
        let tensor = tensor.to_dtype(DType::F32)?;
        if tensor.rank() != 2 {
            bail!("{name} is not a matrix: {:?}", tensor.dims());
        }
        let pair = pairs
            .entry(module.to_string())
            .or_insert(Pair { a: None, b: None });
        if is_a {
            pair.a = Some(tensor);
        } else {
            pair.b = Some(tensor);
        }
    }
    Ok(pairs)
}

fn merge(name: &str, weight: &Tensor, pair: Pair, config: &AdapterConfig) -> Result<Tensor> {
    let (Some(a), Some(b)) = (pair.a, pair.b) else {
        bail!("the adapter has only one of lora_A and lora_B for {name}");
    };
    let (r, input) = a.dims2()?;
    let (output, r_b) = b.dims2()?;
    let shape = weight.dims();
    if r != config.r || r_b != config.r || shape != [output, input] {
        bail!(
            "the adapter does not fit {name} {shape:?}: A is [{r}, {input}], B is [{output}, {r_b}], rank {}",
            config.r
        );
    }
    let delta = (b.matmul(&a)? * config.scale)?;
    Ok((weight.to_dtype(DType::F32)? + delta)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Arch, Spec, write_checkpoint};

    const Q: &str = "model.layers.0.self_attn.q_proj";

    fn adapter(dir: &Path, config: Value, tensors: &[(&str, Vec<usize>)]) {
        std::fs::write(dir.join("adapter_config.json"), config.to_string()).unwrap();
        let map: HashMap<String, Tensor> = tensors
            .iter()
            .enumerate()
            .map(|(i, (name, shape))| {
                let n: usize = shape.iter().product();
                let values: Vec<f32> = (0..n)
                    .map(|j| ((i * 7 + j) % 5) as f32 * 0.1 - 0.2)
                    .collect();
                (
                    name.to_string(),
                    Tensor::from_vec(values, shape.clone(), &Device::Cpu).unwrap(),
                )
            })
            .collect();
        candle_core::safetensors::save(&map, dir.join("adapter_model.safetensors")).unwrap();
    }

    fn lora_config() -> Value {
        serde_json::json!({"peft_type": "LORA", "r": 2, "lora_alpha": 8, "target_modules": ["q_proj"],
            "modules_to_save": null, "use_dora": false, "use_rslora": false, "bias": "none",
            "rank_pattern": {}, "alpha_pattern": {}})
    }

    #[test]
    fn a_merged_weight_is_w_plus_scaled_b_a() {
        let base = tempfile::tempdir().unwrap();
        write_checkpoint(base.path(), &Spec::tiny(Arch::Qwen2)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let a = format!("{PREFIX}{Q}.lora_A.weight");
        let b = format!("{PREFIX}{Q}.lora_B.weight");
        adapter(
            dir.path(),
            lora_config(),
            &[(&a, vec![2, 64]), (&b, vec![64, 2])],
        );
        let merged = merged_weights(base.path(), dir.path(), DType::F32, &Device::Cpu).unwrap();
        let original =
            candle_core::safetensors::load(base.path().join("model.safetensors"), &Device::Cpu)
                .unwrap();
        let lora = candle_core::safetensors::load(
            dir.path().join("adapter_model.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        let expected = (&original[&format!("{Q}.weight")]
            + (lora[&b].matmul(&lora[&a]).unwrap() * 4.0).unwrap())
        .unwrap();
        let diff = (&merged[&format!("{Q}.weight")] - expected)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
        // Weights the adapter does not touch are the base's.
        let k = "model.layers.0.self_attn.k_proj.weight";
        assert_eq!(
            merged[k].to_vec2::<f32>().unwrap(),
            original[k].to_vec2::<f32>().unwrap()
        );
    }

    #[test]
    fn what_a_merge_cannot_express_is_refused() {
        let base = tempfile::tempdir().unwrap();
        write_checkpoint(base.path(), &Spec::tiny(Arch::Qwen2)).unwrap();
        let a = format!("{PREFIX}{Q}.lora_A.weight");
        let b = format!("{PREFIX}{Q}.lora_B.weight");
        let with = |key: &str, value: Value| {
            let mut c = lora_config();
            c[key] = value;
            c
        };
        let fits = vec![(a.as_str(), vec![2, 64]), (b.as_str(), vec![64, 2])];
        let embedding = format!("{PREFIX}model.embed_tokens.lora_embedding_A");
        let unknown_a = format!("{PREFIX}model.layers.0.self_attn.nope.lora_A.weight");
        let unknown_b = format!("{PREFIX}model.layers.0.self_attn.nope.lora_B.weight");
        type Tensors<'a> = Vec<(&'a str, Vec<usize>)>;
        let cases: Vec<(Value, Tensors, &str)> = vec![
            (with("use_dora", true.into()), fits.clone(), "DoRA"),
            (
                with("modules_to_save", serde_json::json!(["lm_head"])),
                fits.clone(),
                "modules_to_save",
            ),
            (
                lora_config(),
                vec![(embedding.as_str(), vec![2, 320])],
                "embeddings",
            ),
            (
                lora_config(),
                vec![
                    (unknown_a.as_str(), vec![2, 64]),
                    (unknown_b.as_str(), vec![64, 2]),
                ],
                "no weight",
            ),
            (
                lora_config(),
                vec![(a.as_str(), vec![2, 63]), (b.as_str(), vec![64, 2])],
                "does not fit",
            ),
            (with("r", 4.into()), fits.clone(), "does not fit"),
        ];
        for (config, tensors, expected) in cases {
            let dir = tempfile::tempdir().unwrap();
            adapter(dir.path(), config, &tensors);
            let err = merged_weights(base.path(), dir.path(), DType::F32, &Device::Cpu)
                .err()
                .unwrap_or_else(|| panic!("{expected}: accepted"));
            assert!(err.to_string().contains(expected), "{expected}: {err:#}");
        }
    }

    #[test]
    fn rslora_scales_by_the_root_of_the_rank() {
        let mut c = lora_config();
        c["use_rslora"] = true.into();
        c["r"] = 4.into();
        let parsed = AdapterConfig::parse(c.to_string().as_bytes()).unwrap();
        assert_eq!(parsed, AdapterConfig { r: 4, scale: 4.0 });
    }
}
