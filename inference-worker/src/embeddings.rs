//! Sentence embeddings (BERT, XLM-RoBERTa) with the pooling and
//! normalisation the repo's sentence-transformers config asks for.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{bert, xlm_roberta};
use serde_json::Value;
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

use crate::config::ModelConfig;
use crate::generation::BadRequest;
use crate::llm::{read_json_if_present, safetensors_files};

enum Encoder {
    Bert(bert::BertModel),
    XlmRoberta(xlm_roberta::XLMRobertaModel),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
    LastToken,
    Max,
}

pub struct EmbeddingModel {
    encoder: Encoder,
    tokenizer: Tokenizer,
    pub pooling: Pooling,
    /// sentence-transformers' Normalize module is part of the pipeline.
    pub normalize: bool,
    /// Longest input in tokens.
    pub max_tokens: usize,
    device: Device,
}

/// Vectors, and the number of (non-padding) tokens they took.
#[derive(Debug)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub tokens: u32,
}

impl EmbeddingModel {
    pub fn load(dir: &Path, device: &Device) -> Result<EmbeddingModel> {
        let config = ModelConfig::read(&dir.join("config.json"))?;
        let files = safetensors_files(dir)?;
        // Safety: see TextModel::load.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, DType::F32, device)? };
        let encoder = match config.model_type.as_str() {
            "bert" => Encoder::Bert(bert::BertModel::load(vb, &config.to()?)?),
            "xlm-roberta" => {
                let vb = if vb.contains_tensor("roberta.embeddings.word_embeddings.weight") {
                    vb.pp("roberta")
                } else {
                    vb
                };
                Encoder::XlmRoberta(xlm_roberta::XLMRobertaModel::new(&config.to()?, vb)?)
            }
            other => bail!("{other} is not an embedding architecture this worker runs"),
        };
        let pooling = match read_json_if_present(&dir.join("1_Pooling/config.json"))? {
            Some(p) => {
                let on = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or(false);
                if on("pooling_mode_cls_token") {
                    Pooling::Cls
                } else if on("pooling_mode_lasttoken") {
                    Pooling::LastToken
                } else if on("pooling_mode_max_tokens") {
                    Pooling::Max
                } else {
                    Pooling::Mean
                }
            }
            // BGE without sentence-transformers files uses the CLS token;
            // mean is sentence-transformers' own default.
            None => Pooling::Mean,
        };
        let normalize = match read_json_if_present(&dir.join("modules.json"))? {
            Some(Value::Array(modules)) => modules.iter().any(|m| {
                m.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with("Normalize"))
            }),
            _ => false,
        };
        let model_max =
            config
                .max_positions()
                .saturating_sub(if config.model_type == "xlm-roberta" {
                    2
                } else {
                    0
                });
        let max_tokens = read_json_if_present(&dir.join("sentence_bert_config.json"))?
            .and_then(|c| c.get("max_seq_length").and_then(Value::as_u64))
            .map_or(model_max, |n| (n as usize).min(model_max));
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| anyhow!("tokenizer.json: {e}"))?;
        let pad_id = config.usize("pad_token_id").unwrap_or(0) as u32;
        let pad_token = tokenizer
            .id_to_token(pad_id)
            .unwrap_or_else(|| "[PAD]".into());
        tokenizer.with_padding(Some(PaddingParams {
            pad_id,
            pad_token,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(None)
            .map_err(|e| anyhow!("{e}"))?;
        Ok(EmbeddingModel {
            encoder,
            tokenizer,
            pooling,
            normalize,
            max_tokens,
            device: device.clone(),
        })
    }

    /// One vector per input, in order. Inputs longer than the model's limit
    /// are cut when `truncate`, refused otherwise.
    pub fn embed(&self, inputs: &[String], normalize: bool, truncate: bool) -> Result<Embedded> {
        if inputs.is_empty() {
            return Ok(Embedded {
                vectors: vec![],
                tokens: 0,
            });
        }
        let mut tokenizer = self.tokenizer.clone();
        if truncate {
            tokenizer
                .with_truncation(Some(TruncationParams {
                    max_length: self.max_tokens,
                    ..TruncationParams::default()
                }))
                .map_err(|e| anyhow!("{e}"))?;
        }
        let encodings = tokenizer
            .encode_batch(inputs.to_vec(), true)
            .map_err(|e| anyhow!("cannot tokenize the inputs: {e}"))?;
        let mut ids = Vec::new();
        let mut masks = Vec::new();
        let mut tokens = 0u32;
        for (i, e) in encodings.iter().enumerate() {
            let used = e.get_attention_mask().iter().filter(|m| **m == 1).count();
            if used > self.max_tokens {
                return Err(BadRequest(format!(
                    "input {i} has {used} tokens; this model takes at most {}",
                    self.max_tokens
                ))
                .into());
            }
            tokens += used as u32;
            ids.push(Tensor::new(e.get_ids(), &self.device)?);
            masks.push(Tensor::new(e.get_attention_mask(), &self.device)?);
        }
        let ids = Tensor::stack(&ids, 0)?;
        let mask = Tensor::stack(&masks, 0)?;
        let types = ids.zeros_like()?;
        let hidden = match &self.encoder {
            Encoder::Bert(m) => m.forward(&ids, &types, Some(&mask))?,
            Encoder::XlmRoberta(m) => m.forward(&ids, &mask, &types, None, None, None)?,
        };
        let pooled = pool(&hidden, &mask, self.pooling)?;
        let pooled = if normalize || self.normalize {
            let norm = pooled
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12, f64::MAX)?;
            pooled.broadcast_div(&norm)?
        } else {
            pooled
        };
        Ok(Embedded {
            vectors: pooled.to_dtype(DType::F32)?.to_vec2::<f32>()?,
            tokens,
        })
    }
}

/// (batch, seq, hidden) → (batch, hidden).
fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> Result<Tensor> {
    let mask_f = mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    Ok(match pooling {
        Pooling::Mean => {
            let sum = hidden.broadcast_mul(&mask_f)?.sum(1)?;
            let count = mask_f.sum(1)?.clamp(1e-9, f64::MAX)?;
            sum.broadcast_div(&count)?
        }
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
        Pooling::LastToken => {
            // Padding is on the right: the last real token is at count - 1.
            let lens: Vec<u32> = mask.sum(1)?.to_dtype(DType::U32)?.to_vec1()?;
            let rows = lens
                .iter()
                .enumerate()
                .map(|(b, &n)| hidden.get(b)?.get(n.saturating_sub(1) as usize))
                .collect::<candle_core::Result<Vec<_>>>()?;
            Tensor::stack(&rows, 0)?
        }
        Pooling::Max => {
            // Padding positions must not win the max.
            let penalty = ((mask_f.ones_like()? - &mask_f)? * -1e9)?;
            hidden.broadcast_add(&penalty)?.max(1)?
        }
    })
}

/// In-process embeddings of `inputs` with the checkpoint in `model_dir`.
pub fn embed_local(model_dir: &Path, inputs: &[String], normalize: bool) -> Result<Vec<Vec<f32>>> {
    let model = EmbeddingModel::load(model_dir, &Device::Cpu)?;
    Ok(model.embed(inputs, normalize, true)?.vectors)
}
