//! Tiny random GGUF models, quantised with candle's own quantiser, with the
//! tokenizer (byte-level BPE: tokens, merges, token types) and the chat
//! template only in the GGUF metadata, as llama.cpp's converter writes
//! them; also as a split file (`-00001-of-00002.gguf`).
//!
//! Matrices are quantised along rows of `hidden` (or `intermediate`)
//! elements, so k-quants (blocks of 256) need both to be multiples of 256.

use std::path::Path;

use anyhow::{Result, bail};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::{
    Arch, LLAMA_CHAT_TEMPLATE, QWEN_CHAT_TEMPLATE, Spec, SplitMix64, specials, tokenizer_json,
};

#[derive(Debug, Clone)]
pub struct GgufSpec {
    pub arch: Arch,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub max_positions: usize,
    /// Embedding rows; None: the tokenizer's size. Rows past the tokenizer
    /// get placeholder tokens (a real model's shape for benchmarks).
    pub vocab: Option<usize>,
    pub seed: u64,
}

impl GgufSpec {
    /// Hidden 256 (one k-quant block per row), 2 layers: about 1.3M
    /// parameters, a few hundred KB at 4 bits.
    pub fn tiny(arch: Arch) -> GgufSpec {
        GgufSpec {
            arch,
            hidden: 256,
            intermediate: 512,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            max_positions: 512,
            vocab: None,
            seed: 7,
        }
    }

    /// The GGUF file of a safetensors checkpoint's shape.
    pub fn like(spec: &Spec) -> GgufSpec {
        GgufSpec {
            arch: spec.arch,
            hidden: spec.hidden,
            intermediate: spec.intermediate,
            layers: spec.layers,
            heads: spec.heads,
            kv_heads: spec.kv_heads,
            max_positions: spec.max_positions,
            vocab: Some(spec.vocab),
            seed: spec.seed,
        }
    }

    fn vocab(&self) -> usize {
        let (_, size) = tokenizer_json(self.arch);
        self.vocab.unwrap_or(size).max(size)
    }
}

/// How the matrices of a file are quantised.
#[derive(Debug, Clone, Copy)]
pub enum Quantization {
    /// Every matrix in one type.
    All(GgmlDType),
    /// llama.cpp's Q4_K_M mix: Q4_K, with Q6_K for the output matrix and
    /// for `attn_v` and `ffn_down` in the layers its `use_more_bits` picks;
    /// a matrix whose rows are not a multiple of 256 takes llama.cpp's
    /// fallback (Q5_0 for Q4_K, Q8_0 for Q6_K), as in the real
    /// Qwen2.5-0.5B files (rows of 896).
    Q4KM,
}

impl Quantization {
    fn file_type(self) -> u32 {
        match self {
            Quantization::All(dtype) => file_type(dtype),
            Quantization::Q4KM => 15,
        }
    }

    fn dtype(self, name: &str, layers: usize, row: usize) -> GgmlDType {
        let wanted = match self {
            Quantization::All(dtype) => return dtype,
            Quantization::Q4KM => {
                let layer = name
                    .strip_prefix("blk.")
                    .and_then(|r| r.split('.').next())
                    .and_then(|i| i.parse::<usize>().ok());
                // llama.cpp's use_more_bits(i, n).
                let more_bits =
                    |i: usize| i < layers / 8 || i >= 7 * layers / 8 || (i - layers / 8) % 3 == 2;
                let wide = name == "output.weight"
                    || name == "token_embd.weight"
                    || ((name.ends_with("attn_v.weight") || name.ends_with("ffn_down.weight"))
                        && layer.is_some_and(more_bits));
                if wide { GgmlDType::Q6K } else { GgmlDType::Q4K }
            }
        };
        match wanted {
            GgmlDType::Q4K if !row.is_multiple_of(256) => GgmlDType::Q5_0,
            GgmlDType::Q6K if !row.is_multiple_of(256) => GgmlDType::Q8_0,
            other => other,
        }
    }
}

/// llama.cpp's `general.file_type` for a file of `dtype` matrices.
fn file_type(dtype: GgmlDType) -> u32 {
    match dtype {
        GgmlDType::F32 => 0,
        GgmlDType::F16 => 1,
        GgmlDType::Q4_0 => 2,
        GgmlDType::Q4_1 => 3,
        GgmlDType::Q8_0 => 7,
        GgmlDType::Q5_0 => 8,
        GgmlDType::Q5_1 => 9,
        GgmlDType::Q2K => 10,
        GgmlDType::Q3K => 12,
        GgmlDType::Q4K => 15,
        GgmlDType::Q5K => 17,
        GgmlDType::Q6K => 18,
        _ => 32,
    }
}

fn architecture(arch: Arch) -> &'static str {
    match arch {
        Arch::Qwen2 => "qwen2",
        Arch::Qwen3 => "qwen3",
        Arch::Llama => "llama",
        other => panic!("tiny GGUF files are written for qwen2, qwen3 and llama, not {other:?}"),
    }
}

/// The header's key-value pairs: model shape, tokenizer, chat template.
fn metadata(spec: &GgufSpec, quantization: Quantization) -> Vec<(String, Value)> {
    let a = architecture(spec.arch);
    let (tokenizer, size) = tokenizer_json(spec.arch);
    let vocab = tokenizer["model"]["vocab"].as_object().expect("vocab");
    let mut tokens = vec![String::new(); size];
    for (token, id) in vocab {
        tokens[id.as_u64().expect("id") as usize] = token.clone();
    }
    let mut types = vec![1i32; size];
    for added in tokenizer["added_tokens"].as_array().expect("added") {
        let id = added["id"].as_u64().expect("id") as usize;
        tokens[id] = added["content"].as_str().expect("content").to_owned();
        types[id] = 3;
    }
    // Placeholder rows up to the spec's vocabulary (llama.cpp's "unused").
    for i in size..spec.vocab() {
        tokens.push(format!("<|unused_{i}|>"));
        types.push(5);
    }
    let merges: Vec<Value> = tokenizer["model"]["merges"]
        .as_array()
        .expect("merges")
        .iter()
        .map(|m| {
            Value::String(format!(
                "{} {}",
                m[0].as_str().unwrap(),
                m[1].as_str().unwrap()
            ))
        })
        .collect();
    let special = |i: usize| (size - specials(spec.arch).len() + i) as u32;
    let (bos, eos, template, pre, add_bos) = match spec.arch {
        Arch::Qwen2 | Arch::Qwen3 => (special(0), special(2), QWEN_CHAT_TEMPLATE, "qwen2", false),
        Arch::Llama => (
            special(0),
            special(1),
            LLAMA_CHAT_TEMPLATE,
            "llama-bpe",
            true,
        ),
        _ => unreachable!("architecture() refuses the others"),
    };
    let head_dim = spec.hidden / spec.heads;
    let s = |v: &str| Value::String(v.to_owned());
    let u = |v: usize| Value::U32(v as u32);
    let mut md = vec![
        ("general.architecture".to_owned(), s(a)),
        ("general.name".to_owned(), s(&format!("tiny random {a}"))),
        (
            "general.file_type".to_owned(),
            Value::U32(quantization.file_type()),
        ),
        (format!("{a}.context_length"), u(spec.max_positions)),
        (format!("{a}.embedding_length"), u(spec.hidden)),
        (format!("{a}.feed_forward_length"), u(spec.intermediate)),
        (format!("{a}.block_count"), u(spec.layers)),
        (format!("{a}.attention.head_count"), u(spec.heads)),
        (format!("{a}.attention.head_count_kv"), u(spec.kv_heads)),
        (format!("{a}.attention.key_length"), u(head_dim)),
        (format!("{a}.attention.value_length"), u(head_dim)),
        (format!("{a}.rope.dimension_count"), u(head_dim)),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            Value::F32(1e-6),
        ),
        (format!("{a}.rope.freq_base"), Value::F32(10000.0)),
        ("tokenizer.ggml.model".to_owned(), s("gpt2")),
        ("tokenizer.ggml.pre".to_owned(), s(pre)),
        (
            "tokenizer.ggml.tokens".to_owned(),
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        ),
        (
            "tokenizer.ggml.token_type".to_owned(),
            Value::Array(types.into_iter().map(Value::I32).collect()),
        ),
        ("tokenizer.ggml.merges".to_owned(), Value::Array(merges)),
        ("tokenizer.ggml.bos_token_id".to_owned(), Value::U32(bos)),
        ("tokenizer.ggml.eos_token_id".to_owned(), Value::U32(eos)),
        (
            "tokenizer.ggml.add_bos_token".to_owned(),
            Value::Bool(add_bos),
        ),
        ("tokenizer.chat_template".to_owned(), s(template)),
    ];
    if spec.arch == Arch::Qwen3 {
        md.push(("general.dtype".to_owned(), Value::U32(0)));
    }
    md
}

/// The tensors candle's quantised loaders read, by GGUF name, random from
/// the spec's seed; matrices in `dtype`, norms and biases in F32.
fn tensors(spec: &GgufSpec, quantization: Quantization) -> Result<Vec<(String, QTensor)>> {
    let vocab = spec.vocab();
    let head_dim = spec.hidden / spec.heads;
    let (q, kv) = (spec.heads * head_dim, spec.kv_heads * head_dim);
    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("token_embd.weight".into(), vec![vocab, spec.hidden]),
        ("output_norm.weight".into(), vec![spec.hidden]),
    ];
    if spec.arch == Arch::Llama {
        shapes.push(("output.weight".into(), vec![vocab, spec.hidden]));
    }
    for i in 0..spec.layers {
        let p = format!("blk.{i}");
        shapes.extend([
            (format!("{p}.attn_norm.weight"), vec![spec.hidden]),
            (format!("{p}.ffn_norm.weight"), vec![spec.hidden]),
            (format!("{p}.attn_q.weight"), vec![q, spec.hidden]),
            (format!("{p}.attn_k.weight"), vec![kv, spec.hidden]),
            (format!("{p}.attn_v.weight"), vec![kv, spec.hidden]),
            (format!("{p}.attn_output.weight"), vec![spec.hidden, q]),
            (
                format!("{p}.ffn_gate.weight"),
                vec![spec.intermediate, spec.hidden],
            ),
            (
                format!("{p}.ffn_up.weight"),
                vec![spec.intermediate, spec.hidden],
            ),
            (
                format!("{p}.ffn_down.weight"),
                vec![spec.hidden, spec.intermediate],
            ),
        ]);
        match spec.arch {
            Arch::Qwen2 => shapes.extend([
                (format!("{p}.attn_q.bias"), vec![q]),
                (format!("{p}.attn_k.bias"), vec![kv]),
                (format!("{p}.attn_v.bias"), vec![kv]),
            ]),
            Arch::Qwen3 => shapes.extend([
                (format!("{p}.attn_q_norm.weight"), vec![head_dim]),
                (format!("{p}.attn_k_norm.weight"), vec![head_dim]),
            ]),
            Arch::Llama => {}
            other => panic!("no tiny GGUF layout for {other:?}"),
        }
    }
    let mut rng = SplitMix64(spec.seed);
    let mut out = Vec::new();
    for (name, shape) in shapes {
        let n: usize = shape.iter().product();
        let (values, t): (Vec<f32>, GgmlDType) = if name.contains("norm") {
            (
                (0..n).map(|_| 1.0 + rng.uniform() * 0.1).collect(),
                GgmlDType::F32,
            )
        } else if name.ends_with(".bias") {
            (
                (0..n).map(|_| rng.uniform() * 0.02).collect(),
                GgmlDType::F32,
            )
        } else {
            let row = *shape.last().expect("2-d");
            let bound = (3.0 / row as f32).sqrt();
            let dtype = quantization.dtype(&name, spec.layers, row);
            ((0..n).map(|_| rng.uniform() * bound).collect(), dtype)
        };
        let tensor = Tensor::from_vec(values, shape, &Device::Cpu)?;
        out.push((name, QTensor::quantize(&tensor, t)?));
    }
    Ok(out)
}

/// Writes a tiny random GGUF model to `path`.
pub fn write_gguf(path: &Path, spec: &GgufSpec, dtype: GgmlDType) -> Result<()> {
    write_gguf_as(path, spec, Quantization::All(dtype))
}

/// Writes a random GGUF model to `path`, quantised as `quantization` says.
pub fn write_gguf_as(path: &Path, spec: &GgufSpec, quantization: Quantization) -> Result<()> {
    let md = metadata(spec, quantization);
    let tensors = tensors(spec, quantization)?;
    write(path, &md, &tensors)
}

/// Writes the same model as [`write_gguf`] split in `parts` files
/// `{stem}-0000i-of-0000N.gguf` in `dir` (llama.cpp's `gguf-split`
/// layout: the metadata in the first, `split.*` keys in each); returns
/// their names in order.
pub fn write_gguf_split(
    dir: &Path,
    stem: &str,
    spec: &GgufSpec,
    dtype: GgmlDType,
    parts: usize,
) -> Result<Vec<String>> {
    let md = metadata(spec, Quantization::All(dtype));
    let tensors = tensors(spec, Quantization::All(dtype))?;
    if parts == 0 || parts > tensors.len() {
        bail!("cannot split {} tensors in {parts} parts", tensors.len());
    }
    let per_part = tensors.len().div_ceil(parts);
    let mut names = Vec::new();
    for (i, chunk) in tensors.chunks(per_part).enumerate() {
        let name = format!("{stem}-{:05}-of-{parts:05}.gguf", i + 1);
        let mut part_md = if i == 0 { md.clone() } else { Vec::new() };
        part_md.extend([
            ("split.no".to_owned(), Value::U16(i as u16)),
            ("split.count".to_owned(), Value::U16(parts as u16)),
            (
                "split.tensors.count".to_owned(),
                Value::I32(tensors.len() as i32),
            ),
        ]);
        write(&dir.join(&name), &part_md, chunk)?;
        names.push(name);
    }
    Ok(names)
}

fn write(path: &Path, md: &[(String, Value)], tensors: &[(String, QTensor)]) -> Result<()> {
    let md: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    gguf_file::write(&mut file, &md, &tensors)?;
    Ok(())
}
