//! Causal language models (qwen2, qwen3, llama, glm4, qwen2_moe, qwen3_moe,
//! mistral, gemma2, gemma3_text, deepseek_v2) loaded from a Hugging Face
//! layout directory: weights, tokenizer, chat template, EOS tokens.
//!
//! A [`TextModel`] is loaded once and shared. llama, mistral, qwen2 and
//! qwen3 run on our [`Decoder`], whose sequences can be decoded together
//! ([`TextModel::batcher`]); the other families on candle's models. Each
//! generation alone takes a [`CausalLm`] of its own with
//! [`TextModel::session`]: a clone of the weights (Arc) with its own KV
//! cache (DeepSeek-V2, which is not `Clone`, is rebuilt per session over
//! the tensors loaded once: see [`Rebuilt`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{
    deepseek2, gemma2, gemma3, glm4_new, llama, qwen2_moe, qwen3_moe,
};
use serde_json::Value;
use tokenizers::Tokenizer;

use crate::batch::{Batcher, Limits};
use crate::config::{ModelConfig, token_ids};
use crate::decoder::{Decoder, KvCache};
use chat_template::ChatTemplate;

#[derive(Clone)]
pub(crate) enum Weights {
    /// Our own decoder (llama, mistral, qwen2, qwen3; dense llama, qwen2 and
    /// qwen3 GGUF files): one forward pass runs many sequences
    /// ([`crate::batch`]); a clone shares the weights and has a cache of
    /// its own.
    Decoder(Arc<Decoder>, KvCache),
    /// GLM-4-*-0414 (`Glm4ForCausalLM`): candle's glm4_new; its glm4 is
    /// the older ChatGLM layout.
    Glm4(glm4_new::ModelForCausalLM),
    Qwen2Moe(qwen2_moe::Model),
    Qwen3Moe(qwen3_moe::ModelForCausalLM),
    Gemma2(gemma2::Model),
    Gemma3(gemma3::Model),
    DeepSeek2(Rebuilt),
    /// A quantised GGUF model (`crate::gguf_model`).
    Gguf(crate::gguf_model::GgufWeights),
}

impl Weights {
    /// A model on our decoder, with an empty cache.
    pub(crate) fn decoder(decoder: Decoder) -> Weights {
        Weights::Decoder(Arc::new(decoder), KvCache::default())
    }

    /// Empties the KV cache.
    fn clear_kv_cache(&mut self) {
        match self {
            Weights::Decoder(_, cache) => *cache = KvCache::default(),
            Weights::Glm4(m) => m.clear_kv_cache(),
            Weights::Qwen2Moe(m) => m.clear_kv_cache(),
            Weights::Qwen3Moe(m) => m.clear_kv_cache(),
            Weights::Gemma2(m) => m.clear_kv_cache(),
            Weights::Gemma3(m) => m.clear_kv_cache(),
            Weights::DeepSeek2(r) => {
                if let Some(m) = &mut r.model {
                    m.clear_kv_cache()
                }
            }
            Weights::Gguf(m) => m.clear_kv_cache(),
        }
    }
}

/// candle's DeepSeekV2 is not `Clone`, and reading the weights again per
/// request would copy gigabytes. The tensors are read once at load; a
/// clone shares them (Arc storage) and has no model yet; a session builds
/// its module tree over them (no weight is copied; the rotary tables are
/// recomputed, a few milliseconds).
pub(crate) struct Rebuilt {
    config: Arc<deepseek2::DeepSeekV2Config>,
    tensors: Arc<HashMap<String, Tensor>>,
    model: Option<deepseek2::DeepSeekV2>,
}

impl Clone for Rebuilt {
    fn clone(&self) -> Rebuilt {
        Rebuilt {
            config: self.config.clone(),
            tensors: self.tensors.clone(),
            model: None,
        }
    }
}

impl Rebuilt {
    fn load(
        config: deepseek2::DeepSeekV2Config,
        tensors: HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> Result<Rebuilt> {
        let mut rebuilt = Rebuilt {
            config: Arc::new(config),
            tensors: Arc::new(tensors),
            model: None,
        };
        // Missing or misshapen tensors fail here, at load, not per request.
        rebuilt.build(dtype, device)?;
        rebuilt.model = None;
        Ok(rebuilt)
    }

    fn build(&mut self, dtype: DType, device: &Device) -> Result<()> {
        let vb = VarBuilder::from_tensors((*self.tensors).clone(), dtype, device);
        self.model = Some(deepseek2::DeepSeekV2::new(&self.config, vb)?);
        Ok(())
    }
}

/// A loaded text-generation model.
pub struct TextModel {
    pub(crate) weights: Weights,
    pub tokenizer: Tokenizer,
    pub chat_template: Option<ChatTemplate>,
    /// Tokens that end generation (config.json, generation_config.json and
    /// the tokenizer's eos token, together).
    pub eos_token_ids: Vec<u32>,
    /// Prompt and output together may not exceed this.
    pub max_positions: usize,
    /// Ids the tokenizer can decode (embedding rows past it are padding).
    pub usable_vocab: usize,
    pub(crate) special_ids: std::collections::HashSet<u32>,
    pub device: Device,
    pub dtype: DType,
    pub model_type: String,
    /// The thread that decodes this model's sequences together, started on
    /// first use ([`TextModel::batcher`]).
    pub(crate) batcher: OnceLock<Batcher>,
}

/// One sequence's view of a model: shared weights, its own KV cache.
pub struct CausalLm {
    weights: Weights,
    device: Device,
}

impl CausalLm {
    /// Feeds `tokens` at `offset` (0 for the prompt, then the position of
    /// each new token) and returns the logits of the last position.
    pub fn forward(&mut self, tokens: &[u32], offset: usize) -> Result<Vec<f32>> {
        if let Weights::Decoder(decoder, cache) = &mut self.weights {
            if offset != cache.len() {
                bail!("position {offset}, but the sequence holds {}", cache.len());
            }
            let mut logits = decoder.forward(&mut [(cache, tokens)])?;
            return Ok(logits.pop().expect("one sequence, one row"));
        }
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let logits = match &mut self.weights {
            Weights::Decoder(..) => unreachable!("handled above"),
            Weights::Glm4(m) => m.forward(&input, offset)?,
            Weights::Qwen2Moe(m) => m.forward(&input, offset)?,
            Weights::Qwen3Moe(m) => m.forward(&input, offset)?,
            Weights::Gemma2(m) => m.forward(&input, offset)?,
            Weights::Gemma3(m) => m.forward(&input, offset)?,
            Weights::DeepSeek2(r) => r
                .model
                .as_mut()
                .expect("deepseek2 sessions have a model")
                .forward(&input, offset)?,
            Weights::Gguf(m) => m.forward(&input, offset)?,
        };
        Ok(logits
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?)
    }

    /// Logits for the last position of `tokens`, computed from scratch
    /// without any cache: the slow reference the tests compare against.
    pub fn forward_uncached(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.weights.clear_kv_cache();
        let logits = self.forward(tokens, 0)?;
        self.weights.clear_kv_cache();
        Ok(logits)
    }
}

/// Where a model's weights come from.
pub enum WeightSource {
    /// The checkpoint's safetensors files, memory-mapped.
    Files(Vec<PathBuf>),
    /// Tensors already in memory: a base with an adapter merged into it
    /// ([`crate::lora`]).
    Tensors(HashMap<String, Tensor>),
}

/// The dtype models are loaded in: F32 on the CPU, BF16 on GPUs.
pub fn dtype_for(device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    }
}

/// Every tensor of `files`, read into memory as `dtype`.
pub fn read_tensors(
    files: &[PathBuf],
    dtype: DType,
    device: &Device,
) -> Result<HashMap<String, Tensor>> {
    // Safety: as for `from_mmaped_safetensors` in `TextModel::load_from`.
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::multi(files)? };
    let mut tensors = HashMap::new();
    for (name, _) in st.tensors() {
        let tensor = st.load(&name, device)?.to_dtype(dtype)?;
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

impl TextModel {
    /// Loads a checkpoint directory on `device` (F32 on the CPU, BF16 on GPUs).
    pub fn load(dir: &Path, device: &Device) -> Result<TextModel> {
        TextModel::load_from(
            dir,
            dir,
            WeightSource::Files(safetensors_files(dir)?),
            device,
        )
    }

    /// Loads the base checkpoint in `base` with the LoRA adapter in
    /// `adapter` merged into its weights; the adapter's tokenizer files,
    /// when it has them, win over the base's.
    pub fn load_with_adapter(base: &Path, adapter: &Path, device: &Device) -> Result<TextModel> {
        let tensors = crate::lora::merged_weights(base, adapter, dtype_for(device), device)?;
        let tokenizer_dir = if adapter.join("tokenizer.json").exists() {
            adapter
        } else {
            base
        };
        TextModel::load_from(base, tokenizer_dir, WeightSource::Tensors(tensors), device)
    }

    /// Loads config.json from `dir`, the tokenizer and chat template from
    /// `tokenizer_dir`, the weights from `weights`.
    pub fn load_from(
        dir: &Path,
        tokenizer_dir: &Path,
        weights: WeightSource,
        device: &Device,
    ) -> Result<TextModel> {
        let config = ModelConfig::read(&dir.join("config.json"))?;
        let dtype = dtype_for(device);
        let vb = match &weights {
            // Safety: the files are mmapped read-only; the cache never
            // rewrites a file in place (downloads land under a temporary
            // name and are renamed).
            WeightSource::Files(files) => unsafe {
                VarBuilder::from_mmaped_safetensors(files, dtype, device)?
            },
            WeightSource::Tensors(tensors) => {
                VarBuilder::from_tensors(tensors.clone(), dtype, device)
            }
        };
        let weights = match config.model_type.as_str() {
            "qwen2" => Weights::decoder(Decoder::qwen2(&config.to()?, vb)?),
            "qwen3" => Weights::decoder(Decoder::qwen3(&config.to()?, vb)?),
            "llama" => {
                let llama_config: llama::LlamaConfig = config.to()?;
                let llama_config = llama_config.into_config(false);
                Weights::decoder(Decoder::llama(&llama_config, vb)?)
            }
            "glm4" => Weights::Glm4(glm4_new::ModelForCausalLM::new(&config.to()?, vb)?),
            "qwen2_moe" => Weights::Qwen2Moe(qwen2_moe::Model::new(&config.to()?, vb)?),
            "qwen3_moe" => Weights::Qwen3Moe(qwen3_moe::ModelForCausalLM::new(&config.to()?, vb)?),
            "mistral" => Weights::decoder(Decoder::mistral(&config.to()?, vb)?),
            "gemma2" => Weights::Gemma2(gemma2::Model::new(false, &config.to()?, vb)?),
            "gemma3_text" => Weights::Gemma3(gemma3::Model::new(false, &config.to()?, vb)?),
            "deepseek_v2" => {
                let tensors = match weights {
                    WeightSource::Files(files) => read_tensors(&files, dtype, device)?,
                    WeightSource::Tensors(tensors) => tensors,
                };
                Weights::DeepSeek2(Rebuilt::load(config.to()?, tensors, dtype, device)?)
            }
            other => bail!("{other} is not a text-generation architecture this worker runs"),
        };
        let tokenizer = Tokenizer::from_file(tokenizer_dir.join("tokenizer.json"))
            .map_err(|e| anyhow!("tokenizer.json: {e}"))?;
        let tokenizer_config = read_json_if_present(&tokenizer_dir.join("tokenizer_config.json"))?;
        let chat_template = match &tokenizer_config {
            Some(c) => ChatTemplate::from_tokenizer_config(c)?,
            None => None,
        };
        let mut eos_token_ids = config.eos_token_ids();
        if let Some(generation_config) = read_json_if_present(&dir.join("generation_config.json"))?
        {
            eos_token_ids.extend(token_ids(generation_config.get("eos_token_id")));
        }
        eos_token_ids.extend(eos_of_tokenizer_config(
            tokenizer_config.as_ref(),
            &tokenizer,
        ));
        eos_token_ids.sort_unstable();
        eos_token_ids.dedup();
        let vocab = config.usize("vocab_size").unwrap_or(usize::MAX);
        let usable_vocab = vocab.min(tokenizer.get_vocab_size(true));
        let special_ids = tokenizer
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        Ok(TextModel {
            special_ids,
            weights,
            tokenizer,
            chat_template,
            eos_token_ids,
            max_positions: config.max_positions(),
            usable_vocab,
            device: device.clone(),
            dtype,
            model_type: config.model_type,
            batcher: OnceLock::new(),
        })
    }

    /// Our decoder, when the model runs on it (then its sequences can be
    /// decoded in batches).
    pub fn decoder(&self) -> Option<&Arc<Decoder>> {
        match &self.weights {
            Weights::Decoder(decoder, _) => Some(decoder),
            _ => None,
        }
    }

    /// The thread that decodes this model's sequences together (None:
    /// candle runs this architecture, one sequence per call).
    pub fn batcher(&self, limits: Limits) -> Option<&Batcher> {
        self.decoder()?;
        Some(self.batcher.get_or_init(|| Batcher::start(limits)))
    }

    /// A fresh sequence on this model (its own, empty KV cache).
    pub fn session(&self) -> Result<CausalLm> {
        let mut weights = self.weights.clone();
        weights.clear_kv_cache();
        if let Weights::DeepSeek2(r) = &mut weights {
            r.build(self.dtype, &self.device)?;
        }
        Ok(CausalLm {
            weights,
            device: self.device.clone(),
        })
    }

    /// Token ids of `text`; `special` adds the tokenizer's BOS/EOS framing
    /// (raw prompts), chat prompts carry theirs in the template.
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, special)
            .map_err(|e| anyhow!("cannot tokenize the prompt: {e}"))?
            .get_ids()
            .to_vec())
    }

    /// Whether `id` is a special token (not shown in the output text).
    pub fn is_special(&self, id: u32) -> bool {
        self.special_ids.contains(&id)
    }
}

/// The id of tokenizer_config.json's `eos_token` (a string, or an added
/// token object with its `content`).
pub(crate) fn eos_of_tokenizer_config(
    tokenizer_config: Option<&Value>,
    tokenizer: &Tokenizer,
) -> Option<u32> {
    tokenizer_config?
        .get("eos_token")
        .and_then(|t| t.as_str().or_else(|| t.get("content")?.as_str()))
        .and_then(|t| tokenizer.token_to_id(t))
}

/// The safetensors files of a checkpoint: the shards an index lists, or
/// `model.safetensors`.
pub fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let json: Value = serde_json::from_slice(&std::fs::read(&index)?)
            .context("model.safetensors.index.json is not JSON")?;
        let map = json
            .get("weight_map")
            .and_then(Value::as_object)
            .context("model.safetensors.index.json has no weight_map")?;
        let mut files: Vec<String> = map
            .values()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        files.sort();
        files.dedup();
        for f in &files {
            shard_name_is_safe(f)?;
        }
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    bail!("no model.safetensors (or model.safetensors.index.json) in the repo")
}

/// Shard names come from the repo: no absolute paths or `..`.
pub fn shard_name_is_safe(name: &str) -> Result<()> {
    if name.is_empty()
        || name.starts_with('/')
        || name.split('/').any(|c| c == ".." || c.is_empty())
        || !name.ends_with(".safetensors")
    {
        bail!("unexpected shard name {name:?} in model.safetensors.index.json");
    }
    Ok(())
}

pub(crate) fn read_json_if_present(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not JSON",
                path.file_name().unwrap_or_default().to_string_lossy()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
