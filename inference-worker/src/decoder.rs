//! A llama-family decoder of our own (llama, mistral, qwen2 and qwen3 checkpoints;
//! dense llama, qwen2 and qwen3 GGUF files) that runs many sequences in one
//! forward pass.
//!
//! candle's models keep the KV cache inside the model and take one sequence
//! per call, so visitors sharing a model would take turns, each step reading
//! every weight again. Here the weights are shared and each sequence has its
//! own [`KvCache`]; a forward pass takes several sequences' new tokens as the
//! rows of one matrix, so every projection and MLP reads its weights once for
//! the whole batch (what a decode step is bound by), and only attention runs
//! per sequence, over its own cache. A row's arithmetic does not depend on
//! the rest of the batch, so a sequence gets the same tokens alone or
//! batched; and it is candle's own (the same ops in the same order as its
//! llama, mistral, qwen2 and quantised llama/qwen2), so those give candle's
//! tokens. qwen3 agrees with candle's within rounding (candle runs it with
//! a fused attention kernel of its own), and Q5_0 files run as Q8_0
//! ([`fast_layout`]).

use std::borrow::Cow;

use anyhow::{Result, anyhow, bail};
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor, gguf_file};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, RmsNorm, VarBuilder};
use candle_transformers::models::{llama, mistral, qwen2, qwen3};
use candle_transformers::utils::repeat_kv;

/// A projection: dense (safetensors) or quantised (GGUF), with its bias.
enum Proj {
    Dense(Linear),
    Quantized(QMatMul, Option<Tensor>),
}

impl Proj {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Proj::Dense(linear) => linear.forward(x),
            Proj::Quantized(w, bias) => {
                let y = if x.dim(1)? == 1 && is_q6k(w) {
                    // candle (0.11, x86) runs a Q6K matrix by one kernel
                    // for one row and another for more, which round
                    // differently: one row is run as two, so a sequence
                    // gets the same arithmetic alone as in a batch.
                    let two = Tensor::cat(&[x, x], 1)?;
                    w.forward(&two)?.narrow(1, 0, 1)?
                } else {
                    w.forward(x)?
                };
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
        }
    }
}

/// Q5_0 matrices (llama.cpp's fallback for Q4_K when rows are not a
/// multiple of 256: most of Qwen2.5-0.5B's Q4_K_M file) as Q8_0, which
/// holds the very same values (Q5_0 stores (q - 16)·d with q < 32 and one
/// scale d per block of 32; Q8_0 stores q'·d per block of 32, so q' =
/// q - 16 under the same d) and which candle runs about six times faster
/// on x86 (vectorised and repacked, where its Q5_0 kernel is scalar). It
/// costs 34 bytes a block instead of 22.
pub fn fast_layout(t: QTensor) -> Result<QTensor> {
    if t.dtype() != GgmlDType::Q5_0 || !t.device().is_cpu() {
        return Ok(t);
    }
    let q5 = t.data()?;
    let mut q8 = Vec::with_capacity(q5.len() / 22 * 34);
    for block in q5.chunks_exact(22) {
        let (d, rest) = block.split_at(2);
        let (qh, qs) = rest.split_at(4);
        let qh = u32::from_le_bytes(qh.try_into().expect("4 bytes"));
        q8.extend_from_slice(d);
        let mut values = [0u8; 32];
        for (j, &byte) in qs.iter().enumerate() {
            // ggml's dequantize_row_q5_0: the low nibbles are values 0..16,
            // the high ones 16..32, bit j of qh the fifth bit of value j.
            let low = (byte & 0x0f) | ((((qh >> j) & 1) as u8) << 4);
            let high = (byte >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
            values[j] = (low as i8 - 16) as u8;
            values[j + 16] = (high as i8 - 16) as u8;
        }
        q8.extend_from_slice(&values);
    }
    let storage = QStorage::from_data(Cow::Owned(q8), &t.device(), GgmlDType::Q8_0)?;
    Ok(QTensor::new(storage, t.shape().clone())?)
}

fn is_q6k(w: &QMatMul) -> bool {
    matches!(w, QMatMul::QTensor(t) if t.dtype() == GgmlDType::Q6K)
}

struct Layer {
    input_norm: RmsNorm,
    /// qwen3's RMS norms of each head of the queries and keys, before the
    /// rotation.
    qk_norm: Option<(RmsNorm, RmsNorm)>,
    q: Proj,
    k: Proj,
    v: Proj,
    o: Proj,
    post_attention_norm: RmsNorm,
    gate: Proj,
    up: Proj,
    down: Proj,
}

/// Rotary tables, one row per position.
struct Rope {
    cos: Tensor,
    sin: Tensor,
    /// GGUF llama pairs (2i, 2i+1) (its q/k rows are permuted for it);
    /// the Hugging Face layout and qwen2 pair (i, i + d/2).
    interleaved: bool,
}

impl Rope {
    fn new(
        inv_freq: Vec<f32>,
        positions: usize,
        interleaved: bool,
        device: &Device,
    ) -> Result<Rope> {
        let n = inv_freq.len();
        let inv_freq = Tensor::from_vec(inv_freq, (1, n), device)?;
        let t = Tensor::arange(0u32, positions as u32, device)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?;
        let freqs = t.matmul(&inv_freq)?;
        Ok(Rope {
            cos: freqs.cos()?,
            sin: freqs.sin()?,
            interleaved,
        })
    }

    /// The tables' rows for these positions (one per row of a batch).
    fn at(&self, positions: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((
            self.cos.index_select(positions, 0)?,
            self.sin.index_select(positions, 0)?,
        ))
    }

    /// Rotates `x` (`[1, heads, rows, head_dim]`), row i by the i-th row
    /// of `cos`/`sin` ([`Rope::at`]).
    fn apply(&self, x: &Tensor, (cos, sin): &(Tensor, Tensor)) -> candle_core::Result<Tensor> {
        let x = x.contiguous()?;
        if self.interleaved {
            candle_nn::rotary_emb::rope_i(&x, cos, sin)
        } else {
            candle_nn::rotary_emb::rope(&x, cos, sin)
        }
    }
}

/// Rotary frequencies as candle's qwen models compute them: in f64, then f32.
fn inv_freq_f64(theta: f64, head_dim: usize) -> Vec<f32> {
    (0..head_dim)
        .step_by(2)
        .map(|i| 1f32 / theta.powf(i as f64 / head_dim as f64) as f32)
        .collect()
}

/// Rotary frequencies as candle's llama, mistral and quantised models
/// compute them: in f32.
fn inv_freq_f32(theta: f32, head_dim: usize) -> Vec<f32> {
    (0..head_dim)
        .step_by(2)
        .map(|i| 1f32 / theta.powf(i as f32 / head_dim as f32))
        .collect()
}

/// What a Hugging Face checkpoint's config says, as the decoder reads it.
struct Layout {
    hidden: usize,
    intermediate: usize,
    vocab: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    layers: usize,
    positions: usize,
    rms_norm_eps: f64,
    /// The rotary frequencies, computed as the model's candle
    /// implementation does (which rounds differently per family).
    inv_freq: Vec<f32>,
    qkv_bias: bool,
    o_bias: bool,
    qk_norm: bool,
    sliding_window: Option<usize>,
}

/// The shapes a decoder runs with.
#[derive(Debug, Clone)]
pub struct Shape {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub layers: usize,
    pub positions: usize,
    /// Prompt tokens further back than this are masked (qwen2's window).
    pub sliding_window: Option<usize>,
}

pub struct Decoder {
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Proj,
    rope: Rope,
    shape: Shape,
    dtype: DType,
    device: Device,
}

/// One sequence's keys and values, per layer.
#[derive(Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Positions held (the next token's position).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Decoder {
    /// Bytes of KV cache a position takes.
    pub fn kv_bytes_per_position(&self) -> u64 {
        (self.shape.layers
            * 2
            * self.shape.kv_heads
            * self.shape.head_dim
            * self.dtype.size_in_bytes()) as u64
    }

    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Runs each sequence's new tokens (a prompt, or the one token sampled
    /// last) at the positions after what its cache holds, appends them to
    /// its cache, and returns the logits of each sequence's last token.
    pub fn forward(&self, batch: &mut [(&mut KvCache, &[u32])]) -> Result<Vec<Vec<f32>>> {
        if batch.iter().any(|(_, tokens)| tokens.is_empty()) {
            bail!("a sequence with no new tokens");
        }
        for (cache, tokens) in batch.iter() {
            if cache.len + tokens.len() > self.shape.positions {
                bail!(
                    "the sequence is longer than the model's {} positions",
                    self.shape.positions
                );
            }
        }
        let ids: Vec<u32> = batch.iter().flat_map(|(_, t)| t.iter().copied()).collect();
        let rows = ids.len();
        let ids = Tensor::from_vec(ids, (1, rows), &self.device)?;
        // Each row's position: a sequence's new tokens follow its cache.
        let positions: Vec<u32> = batch
            .iter()
            .flat_map(|(cache, tokens)| (cache.len..cache.len + tokens.len()).map(|p| p as u32))
            .collect();
        let rotation = self
            .rope
            .at(&Tensor::new(positions.as_slice(), &self.device)?)?;
        // A prompt's causal mask, the same in every layer: built once.
        let masks = batch
            .iter()
            .map(|(cache, tokens)| match tokens.len() {
                1 => Ok(None),
                n => self.causal_mask(n, cache.len).map(Some),
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let s = &self.shape;
        // `[1, rows, heads * head_dim]` → `[1, heads, rows, head_dim]`.
        let by_head =
            |t: Tensor, heads: usize| t.reshape((1, rows, heads, s.head_dim))?.transpose(1, 2);
        let mut x = self.embed.forward(&ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let residual = &x;
            let h = layer.input_norm.forward(&x)?;
            // Projections and rotations for all rows at once, attention
            // per sequence.
            let mut q = by_head(layer.q.forward(&h)?, s.heads)?;
            let mut k = by_head(layer.k.forward(&h)?, s.kv_heads)?;
            if let Some((q_norm, k_norm)) = &layer.qk_norm {
                q = q_norm.forward(&q.contiguous()?)?;
                k = k_norm.forward(&k.contiguous()?)?;
            }
            let q = self.rope.apply(&q, &rotation)?;
            let k = self.rope.apply(&k, &rotation)?;
            let v = by_head(layer.v.forward(&h)?, s.kv_heads)?.contiguous()?;
            let mut outputs = Vec::with_capacity(batch.len());
            let mut row = 0;
            for ((cache, tokens), mask) in batch.iter_mut().zip(&masks) {
                let n = tokens.len();
                let part = |t: &Tensor| t.narrow(2, row, n);
                let (q, k, v) = (part(&q)?, part(&k)?, part(&v)?);
                outputs.push(self.attend(i, cache, &q, &k, &v, mask.as_ref())?);
                row += n;
            }
            let y = Tensor::cat(&outputs, 2)?.transpose(1, 2)?.reshape((
                1,
                rows,
                s.heads * s.head_dim,
            ))?;
            let y = layer.o.forward(&y)?;
            let x1 = (y + residual)?;
            let h = layer.post_attention_norm.forward(&x1)?;
            let gate = candle_nn::ops::silu(&layer.gate.forward(&h)?)?;
            let mlp = layer.down.forward(&(gate * layer.up.forward(&h)?)?)?;
            x = (x1 + mlp)?;
        }
        for (cache, tokens) in batch.iter_mut() {
            cache.len += tokens.len();
        }
        let x = self.norm.forward(&x)?;
        // The last row of each sequence.
        let mut last = Vec::with_capacity(batch.len());
        let mut row = 0u32;
        for (_, tokens) in batch.iter() {
            row += tokens.len() as u32;
            last.push(row - 1);
        }
        let last = Tensor::new(last.as_slice(), &self.device)?;
        let x = x.squeeze(0)?.index_select(&last, 0)?.unsqueeze(0)?;
        let logits = self.lm_head.forward(&x)?.squeeze(0)?.to_dtype(DType::F32)?;
        Ok(logits.to_vec2::<f32>()?)
    }

    /// Attention of one sequence's rows (`[1, heads, n, head_dim]`, rotated)
    /// over its cache of layer `layer`, which they join; `[1, heads, n,
    /// head_dim]` out. `mask`: [`Decoder::causal_mask`] when n > 1.
    fn attend(
        &self,
        layer: usize,
        cache: &mut KvCache,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let s = &self.shape;
        let q = q.contiguous()?;
        if cache.layers.len() < self.layers.len() {
            cache.layers.resize(self.layers.len(), None);
        }
        let (k, v) = match &cache.layers[layer] {
            Some((k0, v0)) => (Tensor::cat(&[k0, k], 2)?, Tensor::cat(&[v0, v], 2)?),
            None => (k.contiguous()?, v.contiguous()?),
        };
        cache.layers[layer] = Some((k.clone(), v.clone()));
        let groups = s.heads / s.kv_heads;
        let k = repeat_kv(k, groups)?.contiguous()?;
        let v = repeat_kv(v, groups)?.contiguous()?;
        let scores = (q.matmul(&k.transpose(2, 3)?)? * (1f64 / (s.head_dim as f64).sqrt()))?;
        let scores = match mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        candle_nn::ops::softmax_last_dim(&scores)?.matmul(&v)
    }

    /// `[n, position + n]`: 0 where row i (at `position + i`) may look, -inf
    /// where it may not (the future, and what is past the sliding window).
    fn causal_mask(&self, n: usize, position: usize) -> candle_core::Result<Tensor> {
        let window = self.shape.sliding_window.unwrap_or(usize::MAX);
        let mask: Vec<f32> = (0..n)
            .flat_map(|i| {
                (0..position + n).map(move |j| {
                    let at = position + i;
                    if j > at || (j >= position && at - j > window) {
                        f32::NEG_INFINITY
                    } else {
                        0.
                    }
                })
            })
            .collect();
        Tensor::from_vec(mask, (n, position + n), &self.device)?.to_dtype(self.dtype)
    }

    /// A qwen2 checkpoint in the Hugging Face layout.
    pub fn qwen2(config: &qwen2::Config, vb: VarBuilder) -> Result<Decoder> {
        Decoder::hugging_face(
            &Layout {
                hidden: config.hidden_size,
                intermediate: config.intermediate_size,
                vocab: config.vocab_size,
                heads: config.num_attention_heads,
                kv_heads: config.num_key_value_heads,
                head_dim: config.hidden_size / config.num_attention_heads,
                layers: config.num_hidden_layers,
                positions: config.max_position_embeddings,
                rms_norm_eps: config.rms_norm_eps,
                inv_freq: inv_freq_f64(
                    config.rope_theta,
                    config.hidden_size / config.num_attention_heads,
                ),
                qkv_bias: true,
                o_bias: false,
                qk_norm: false,
                sliding_window: Some(config.sliding_window),
            },
            vb,
        )
    }

    /// A mistral checkpoint in the Hugging Face layout (its sliding window
    /// masks the prompt as candle's mistral does; the worker caps the
    /// context at the window, `config::ModelConfig`).
    pub fn mistral(config: &mistral::Config, vb: VarBuilder) -> Result<Decoder> {
        let head_dim = config
            .head_dim
            .unwrap_or(config.hidden_size / config.num_attention_heads);
        Decoder::hugging_face(
            &Layout {
                hidden: config.hidden_size,
                intermediate: config.intermediate_size,
                vocab: config.vocab_size,
                heads: config.num_attention_heads,
                kv_heads: config.num_key_value_heads,
                head_dim,
                layers: config.num_hidden_layers,
                positions: config.max_position_embeddings,
                rms_norm_eps: config.rms_norm_eps,
                inv_freq: inv_freq_f32(config.rope_theta as f32, head_dim),
                qkv_bias: false,
                o_bias: false,
                qk_norm: false,
                sliding_window: config.sliding_window,
            },
            vb,
        )
    }

    /// A qwen3 checkpoint in the Hugging Face layout.
    pub fn qwen3(config: &qwen3::Config, vb: VarBuilder) -> Result<Decoder> {
        if config.use_sliding_window {
            bail!("qwen3 with a sliding window is not supported");
        }
        Decoder::hugging_face(
            &Layout {
                hidden: config.hidden_size,
                intermediate: config.intermediate_size,
                vocab: config.vocab_size,
                heads: config.num_attention_heads,
                kv_heads: config.num_key_value_heads,
                head_dim: config.head_dim,
                layers: config.num_hidden_layers,
                positions: config.max_position_embeddings,
                rms_norm_eps: config.rms_norm_eps,
                inv_freq: inv_freq_f64(config.rope_theta, config.head_dim),
                qkv_bias: config.attention_bias,
                o_bias: config.attention_bias,
                qk_norm: true,
                sliding_window: None,
            },
            vb,
        )
    }

    /// A llama checkpoint in the Hugging Face layout (Llama 2 and 3, with
    /// llama 3's rope scaling).
    pub fn llama(config: &llama::Config, vb: VarBuilder) -> Result<Decoder> {
        let head_dim = config.hidden_size / config.num_attention_heads;
        // Then llama 3's scaling, as candle's llama.
        let inv_freq = inv_freq_f32(config.rope_theta, head_dim).into_iter();
        let inv_freq = match &config.rope_scaling {
            Some(s) if !matches!(s.rope_type, llama::Llama3RopeType::Default) => {
                let original = s.original_max_position_embeddings as f32;
                let (low, high) = (original / s.low_freq_factor, original / s.high_freq_factor);
                inv_freq
                    .map(|freq| {
                        let wavelen = 2. * std::f32::consts::PI / freq;
                        if wavelen < high {
                            freq
                        } else if wavelen > low {
                            freq / s.factor
                        } else {
                            let smooth = (original / wavelen - s.low_freq_factor)
                                / (s.high_freq_factor - s.low_freq_factor);
                            (1. - smooth) * freq / s.factor + smooth * freq
                        }
                    })
                    .collect()
            }
            _ => inv_freq.collect(),
        };
        Decoder::hugging_face(
            &Layout {
                hidden: config.hidden_size,
                intermediate: config.intermediate_size,
                vocab: config.vocab_size,
                heads: config.num_attention_heads,
                kv_heads: config.num_key_value_heads,
                head_dim,
                layers: config.num_hidden_layers,
                positions: config.max_position_embeddings,
                rms_norm_eps: config.rms_norm_eps,
                inv_freq,
                qkv_bias: false,
                o_bias: false,
                qk_norm: false,
                sliding_window: None,
            },
            vb,
        )
    }

    fn hugging_face(l: &Layout, vb: VarBuilder) -> Result<Decoder> {
        let shape = Shape {
            hidden: l.hidden,
            heads: l.heads,
            kv_heads: l.kv_heads,
            head_dim: l.head_dim,
            layers: l.layers,
            positions: l.positions,
            sliding_window: l.sliding_window,
        };
        let (dtype, device) = (vb.dtype(), vb.device().clone());
        let vb_m = vb.pp("model");
        let embed = candle_nn::embedding(l.vocab, l.hidden, vb_m.pp("embed_tokens"))?;
        let norm = |size, vb: VarBuilder| candle_nn::rms_norm(size, l.rms_norm_eps, vb);
        let proj = |i, o, bias, vb: VarBuilder| -> Result<Proj> {
            Ok(Proj::Dense(candle_nn::linear_b(i, o, bias, vb)?))
        };
        let (q, kv) = (l.heads * l.head_dim, l.kv_heads * l.head_dim);
        let mut layers = Vec::with_capacity(l.layers);
        for i in 0..l.layers {
            let vb = vb_m.pp("layers").pp(i);
            let attn = vb.pp("self_attn");
            let mlp = vb.pp("mlp");
            let qk_norm = match l.qk_norm {
                true => Some((
                    norm(l.head_dim, attn.pp("q_norm"))?,
                    norm(l.head_dim, attn.pp("k_norm"))?,
                )),
                false => None,
            };
            layers.push(Layer {
                input_norm: norm(l.hidden, vb.pp("input_layernorm"))?,
                qk_norm,
                q: proj(l.hidden, q, l.qkv_bias, attn.pp("q_proj"))?,
                k: proj(l.hidden, kv, l.qkv_bias, attn.pp("k_proj"))?,
                v: proj(l.hidden, kv, l.qkv_bias, attn.pp("v_proj"))?,
                o: proj(q, l.hidden, l.o_bias, attn.pp("o_proj"))?,
                post_attention_norm: norm(l.hidden, vb.pp("post_attention_layernorm"))?,
                gate: proj(l.hidden, l.intermediate, false, mlp.pp("gate_proj"))?,
                up: proj(l.hidden, l.intermediate, false, mlp.pp("up_proj"))?,
                down: proj(l.intermediate, l.hidden, false, mlp.pp("down_proj"))?,
            });
        }
        let lm_head = if vb.contains_tensor("lm_head.weight") {
            proj(l.hidden, l.vocab, false, vb.pp("lm_head"))?
        } else {
            Proj::Dense(Linear::new(embed.embeddings().clone(), None))
        };
        Ok(Decoder {
            embed,
            layers,
            norm: norm(l.hidden, vb_m.pp("norm"))?,
            lm_head,
            rope: Rope::new(l.inv_freq.clone(), shape.positions, false, &device)?,
            shape,
            dtype,
            device,
        })
    }

    /// A dense llama-, qwen2- or qwen3-architecture GGUF file.
    pub fn gguf<R: std::io::Seek + std::io::Read>(
        content: &gguf_file::Content,
        reader: &mut R,
        architecture: &str,
        device: &Device,
    ) -> Result<Decoder> {
        let md = |key: &str| {
            content
                .metadata
                .get(&format!("{architecture}.{key}"))
                .ok_or_else(|| anyhow!("the GGUF metadata has no {architecture}.{key}"))
        };
        let count = |key: &str| -> Result<usize> { Ok(md(key)?.to_u32()? as usize) };
        let hidden = count("embedding_length")?;
        let heads = count("attention.head_count")?;
        let head_dim = match architecture {
            "qwen3" => count("attention.key_length")?,
            _ => hidden / heads,
        };
        let shape = Shape {
            hidden,
            heads,
            kv_heads: count("attention.head_count_kv")?,
            head_dim,
            layers: count("block_count")?,
            positions: count("context_length")?,
            sliding_window: None,
        };
        let eps = md("attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let freq_base = md("rope.freq_base")
            .and_then(|v| Ok(v.to_f32()?))
            .unwrap_or(10000.);
        let rope_dim = match architecture {
            "llama" => count("rope.dimension_count")?,
            _ => head_dim,
        };
        if rope_dim != head_dim {
            bail!("partial rotary embeddings ({rope_dim} of {head_dim}) are not supported");
        }
        let mut tensor = |name: &str| content.tensor(reader, name, device);
        let norm = |t: QTensor| -> Result<RmsNorm> { Ok(RmsNorm::new(t.dequantize(device)?, eps)) };
        let embed = tensor("token_embd.weight")?;
        let embed_table = embed.dequantize(device)?;
        let lm_head = match tensor("output.weight") {
            Ok(w) => w,
            // Tied embeddings.
            Err(_) => embed,
        };
        let qkv_bias = architecture == "qwen2";
        let qk_norm = architecture == "qwen3";
        let mut layers = Vec::with_capacity(shape.layers);
        for i in 0..shape.layers {
            let p = format!("blk.{i}");
            let mut proj = |name: &str, bias: bool| -> Result<Proj> {
                let w =
                    QMatMul::from_qtensor(fast_layout(tensor(&format!("{p}.{name}.weight"))?)?)?;
                let b = match bias {
                    true => Some(tensor(&format!("{p}.{name}.bias"))?.dequantize(device)?),
                    false => None,
                };
                Ok(Proj::Quantized(w, b))
            };
            let (q, k, v) = (
                proj("attn_q", qkv_bias)?,
                proj("attn_k", qkv_bias)?,
                proj("attn_v", qkv_bias)?,
            );
            let (o, gate, up, down) = (
                proj("attn_output", false)?,
                proj("ffn_gate", false)?,
                proj("ffn_up", false)?,
                proj("ffn_down", false)?,
            );
            let qk_norm = match qk_norm {
                true => Some((
                    norm(tensor(&format!("{p}.attn_q_norm.weight"))?)?,
                    norm(tensor(&format!("{p}.attn_k_norm.weight"))?)?,
                )),
                false => None,
            };
            layers.push(Layer {
                input_norm: norm(tensor(&format!("{p}.attn_norm.weight"))?)?,
                qk_norm,
                q,
                k,
                v,
                o,
                post_attention_norm: norm(tensor(&format!("{p}.ffn_norm.weight"))?)?,
                gate,
                up,
                down,
            });
        }
        let inv_freq = inv_freq_f32(freq_base, head_dim);
        Ok(Decoder {
            embed: Embedding::new(embed_table, hidden),
            layers,
            norm: norm(tensor("output_norm.weight")?)?,
            lm_head: Proj::Quantized(QMatMul::from_qtensor(fast_layout(lm_head)?)?, None),
            rope: Rope::new(inv_freq, shape.positions, architecture == "llama", device)?,
            shape,
            dtype: DType::F32,
            device: device.clone(),
        })
    }
}
