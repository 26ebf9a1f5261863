//! Quantised GGUF models (llama.cpp's format): dense llama, qwen2 and qwen3
//! files on our batching [`Decoder`], MoE llama files on candle's quantised
//! llama; one file, or the parts of a split file read as
//! one; the tokenizer from the repo's tokenizer.json when it has one, else
//! built from the GGUF metadata as llama.cpp does; the chat template from
//! tokenizer_config.json, else `tokenizer.chat_template`.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::quantized_llama;
use serde_json::json;
use tokenizers::Tokenizer;

use crate::decoder::Decoder;
use crate::llm::{TextModel, Weights, eos_of_tokenizer_config, read_json_if_present};
use chat_template::ChatTemplate;

/// Paths come from the job: no absolute paths, no `..`, only `.gguf` files.
pub fn gguf_name_is_safe(name: &str) -> Result<()> {
    if name.is_empty()
        || name.starts_with('/')
        || name
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
        || !name.to_ascii_lowercase().ends_with(".gguf")
    {
        bail!("unexpected GGUF file name {name:?}");
    }
    Ok(())
}

/// The parts of a model, read as one file: each part's bytes follow the
/// previous part's, so one reader serves candle's loader, which reads
/// tensors of a single [`Content`] from a single reader.
pub struct Parts {
    files: Vec<(u64, File)>,
    len: u64,
    pos: u64,
}

impl Read for Parts {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(i) = self.files.iter().rposition(|(start, _)| *start <= self.pos) else {
            return Ok(0);
        };
        let end = self.files.get(i + 1).map_or(self.len, |(s, _)| *s);
        if self.pos >= end {
            return Ok(0);
        }
        let (start, file) = &mut self.files[i];
        file.seek(SeekFrom::Start(self.pos - *start))?;
        let want = buf.len().min((end - self.pos) as usize);
        let n = file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Parts {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("seek before the start"))?;
        Ok(self.pos)
    }
}

/// The model's header (the first part's metadata, every part's tensors,
/// their offsets made absolute in [`Parts`]) and the reader of its data.
pub fn open(dir: &Path, files: &[String]) -> Result<(Content, Parts)> {
    let mut merged: Option<Content> = None;
    let mut parts = Vec::new();
    let mut start = 0u64;
    for (i, name) in files.iter().enumerate() {
        gguf_name_is_safe(name)?;
        let path = dir.join(name);
        let file = File::open(&path).with_context(|| format!("opening {name}"))?;
        let len = file.metadata()?.len();
        let content = Content::read(&mut BufReader::new(&file))
            .map_err(|e| anyhow!("{name} is not a readable GGUF file: {e}"))?;
        if files.len() > 1 {
            let count = content.metadata.get("split.count").and_then(as_u64);
            let no = content.metadata.get("split.no").and_then(as_u64);
            if count != Some(files.len() as u64) || no != Some(i as u64) {
                bail!(
                    "{name} is not part {} of {} of a split GGUF model",
                    i + 1,
                    files.len()
                );
            }
        }
        let base = start + content.tensor_data_offset;
        match &mut merged {
            None => {
                let mut c = content;
                c.tensor_data_offset = 0;
                for info in c.tensor_infos.values_mut() {
                    info.offset += base;
                }
                merged = Some(c);
            }
            Some(m) => {
                for (tensor, mut info) in content.tensor_infos {
                    info.offset += base;
                    if m.tensor_infos.insert(tensor.clone(), info).is_some() {
                        bail!("tensor {tensor} is in two parts of the split GGUF model");
                    }
                }
            }
        }
        parts.push((start, file));
        start += len;
    }
    let content = merged.ok_or_else(|| anyhow!("no GGUF file to load"))?;
    Ok((
        content,
        Parts {
            files: parts,
            len: start,
            pos: 0,
        },
    ))
}

/// Memory the loaded model takes: its tensors as stored (Q5_0 ones as the
/// Q8_0 they are run as, [`crate::decoder::fast_layout`]), plus the token
/// embeddings, kept dequantised (f32) as well.
pub fn memory(dir: &Path, files: &[String]) -> Result<u64> {
    let (content, _) = open(dir, files)?;
    let mut bytes = 0u64;
    for (name, info) in &content.tensor_infos {
        let dtype = match info.ggml_dtype {
            GgmlDType::Q5_0 => GgmlDType::Q8_0,
            other => other,
        };
        let elements = info.shape.elem_count() as u64;
        bytes += elements / dtype.block_size() as u64 * dtype.type_size() as u64;
        if name == "token_embd.weight" {
            bytes += elements * 4;
        }
    }
    Ok(bytes)
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::U8(x) => Some(*x as u64),
        Value::U16(x) => Some(*x as u64),
        Value::U32(x) => Some(*x as u64),
        Value::U64(x) => Some(*x),
        Value::I8(x) => u64::try_from(*x).ok(),
        Value::I16(x) => u64::try_from(*x).ok(),
        Value::I32(x) => u64::try_from(*x).ok(),
        Value::I64(x) => u64::try_from(*x).ok(),
        _ => None,
    }
}

fn strings<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<Vec<&'a str>> {
    let list = md
        .get(key)
        .ok_or_else(|| anyhow!("the GGUF metadata has no {key}"))?
        .to_vec()
        .map_err(|_| anyhow!("{key} is not an array"))?;
    list.iter()
        .map(|v| {
            v.to_string()
                .map(String::as_str)
                .map_err(|_| anyhow!("{key} holds a value that is not a string"))
        })
        .collect()
}

/// A MoE llama GGUF file (Mixtral's layout), which candle's quantised
/// llama runs; the dense ones run on [`Decoder`]. A clone is a sequence of
/// its own (own KV cache) over the same weights.
#[derive(Clone)]
pub struct GgufWeights(quantized_llama::ModelWeights);

impl GgufWeights {
    pub fn forward(&mut self, input: &Tensor, offset: usize) -> Result<Tensor> {
        Ok(self.0.forward(input, offset)?)
    }

    pub fn clear_kv_cache(&mut self) {
        self.0.clear_kv_cache()
    }
}

/// Loads a GGUF model (`files`: one file or every part, in order) from `dir`.
pub fn load(dir: &Path, files: &[String], device: &Device) -> Result<TextModel> {
    let (content, mut reader) = open(dir, files)?;
    let md = content.metadata.clone();
    let architecture = md
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .cloned()
        .ok_or_else(|| anyhow!("the GGUF metadata has no general.architecture"))?;
    let number = |key: &str| md.get(&format!("{architecture}.{key}")).and_then(as_u64);
    let context = number("context_length").unwrap_or(4096) as usize;
    let experts = number("expert_count").unwrap_or(0);
    let (weights, max_positions) = match architecture.as_str() {
        "llama" | "qwen2" | "qwen3" if experts == 0 => {
            let decoder = Decoder::gguf(&content, &mut reader, &architecture, device)?;
            (Weights::decoder(decoder), context)
        }
        "llama" => (
            Weights::Gguf(GgufWeights(quantized_llama::ModelWeights::from_gguf(
                content,
                &mut reader,
                device,
            )?)),
            // candle's quantised llama precomputes rotary tables this far.
            context.min(quantized_llama::MAX_SEQ_LEN),
        ),
        other => bail!("{other} GGUF models are not run by this worker"),
    };

    let tokenizer = match dir.join("tokenizer.json") {
        path if path.exists() => {
            Tokenizer::from_file(path).map_err(|e| anyhow!("tokenizer.json: {e}"))?
        }
        _ => tokenizer_from_metadata(&md)?,
    };
    let token = |key: &str| -> Option<(u32, String)> {
        let id = md.get(key).and_then(as_u64)? as u32;
        Some((id, tokenizer.id_to_token(id)?))
    };
    let bos = token("tokenizer.ggml.bos_token_id");
    let eos = token("tokenizer.ggml.eos_token_id");
    let tokenizer_config = read_json_if_present(&dir.join("tokenizer_config.json"))?;
    let from_config = match &tokenizer_config {
        Some(c) => ChatTemplate::from_tokenizer_config(c)?,
        None => None,
    };
    let chat_template = match from_config {
        Some(t) => Some(t),
        None => match md.get("tokenizer.chat_template").map(Value::to_string) {
            Some(Ok(source)) => Some(ChatTemplate::new(
                source.clone(),
                bos.clone().map(|t| t.1).unwrap_or_default(),
                eos.clone().map(|t| t.1).unwrap_or_default(),
            )?),
            _ => None,
        },
    };
    // llama.cpp ends a turn at EOS and at the end-of-turn/-message tokens.
    let mut eos_token_ids: Vec<u32> = [
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ]
    .iter()
    .filter_map(|k| md.get(*k).and_then(as_u64).map(|id| id as u32))
    .collect();
    eos_token_ids.extend(eos_of_tokenizer_config(
        tokenizer_config.as_ref(),
        &tokenizer,
    ));
    eos_token_ids.sort_unstable();
    eos_token_ids.dedup();
    let vocab_rows = md
        .get("tokenizer.ggml.tokens")
        .and_then(|t| t.to_vec().ok())
        .map_or(usize::MAX, Vec::len);
    let usable_vocab = vocab_rows.min(tokenizer.get_vocab_size(true));
    let special_ids: HashSet<u32> = tokenizer
        .get_added_tokens_decoder()
        .into_iter()
        .filter(|(_, t)| t.special)
        .map(|(id, _)| id)
        .collect();
    Ok(TextModel {
        weights,
        batcher: Default::default(),
        tokenizer,
        chat_template,
        eos_token_ids,
        max_positions,
        usable_vocab,
        special_ids,
        device: device.clone(),
        dtype: DType::F32,
        model_type: format!("{}{architecture}", worker_protocol::GGUF_PREFIX),
    })
}

/// llama.cpp's pre-tokenizer patterns by `tokenizer.ggml.pre`.
fn split_pattern(pre: &str) -> Option<&'static str> {
    const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    match pre {
        "qwen2" | "deepseek-r1-qwen" => Some(QWEN2),
        "llama3" | "llama-bpe" | "llama-v3" | "smaug-bpe" | "tekken" => Some(LLAMA3),
        _ => None,
    }
}

/// A `tokenizers` tokenizer from the GGUF metadata, for repos without a
/// tokenizer.json, as llama.cpp reads it: `tokenizer.ggml.model` "gpt2"
/// (byte-level BPE: tokens, merges, token types, the pre-tokenizer
/// `tokenizer.ggml.pre` names) or "llama" (SentencePiece: tokens and their
/// scores, [`sentencepiece_merges`]).
pub fn tokenizer_from_metadata(md: &HashMap<String, Value>) -> Result<Tokenizer> {
    let model = md
        .get("tokenizer.ggml.model")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
        .unwrap_or("");
    let sentencepiece = match model {
        "gpt2" => false,
        "llama" => true,
        other => bail!(
            "the GGUF tokenizer {other:?} is not supported (byte-level BPE, \"gpt2\", and \
             SentencePiece, \"llama\", are); add tokenizer.json to the repo"
        ),
    };
    let tokens = strings(md, "tokenizer.ggml.tokens")?;
    let types: Vec<u64> = match md.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()
            .map_err(|_| anyhow!("tokenizer.ggml.token_type is not an array"))?
            .iter()
            .map(|t| as_u64(t).unwrap_or(1))
            .collect(),
        None => Vec::new(),
    };
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        if !vocab.contains_key(*token) {
            vocab.insert((*token).to_owned(), json!(id));
        }
        // llama_token_type: 3 control (special), 4 user-defined; both are
        // matched whole in text, as llama.cpp's tokenizer does.
        let kind = types.get(id).copied().unwrap_or(1);
        if kind == 3 || kind == 4 {
            added.push(json!({
                "id": id, "content": token, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": kind == 3
            }));
        }
    }
    let flag = |key: &str| match md.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    };
    // SentencePiece models start with BOS unless they say otherwise.
    let add_bos = flag("tokenizer.ggml.add_bos_token").unwrap_or(sentencepiece);
    let bos = md
        .get("tokenizer.ggml.bos_token_id")
        .and_then(as_u64)
        .and_then(|id| Some((id, *tokens.get(id as usize)?)));
    let with_bos = match bos {
        Some((id, token)) if add_bos => {
            let mut special = serde_json::Map::new();
            special.insert(
                token.to_owned(),
                json!({"id": token, "ids": [id], "tokens": [token]}),
            );
            Some(json!({
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": special
            }))
        }
        _ => None,
    };
    let (normalizer, pre_tokenizer, decoder, model, post_processor) = if sentencepiece {
        let scores: Vec<f32> = match md.get("tokenizer.ggml.scores") {
            Some(v) => v
                .to_vec()
                .map_err(|_| anyhow!("tokenizer.ggml.scores is not an array"))?
                .iter()
                .map(|s| s.to_f32().unwrap_or(0.0))
                .collect(),
            None => vec![0.0; tokens.len()],
        };
        let unknown = md
            .get("tokenizer.ggml.unknown_token_id")
            .and_then(as_u64)
            .or_else(|| types.iter().position(|t| *t == 2).map(|i| i as u64))
            .and_then(|id| tokens.get(id as usize));
        // llama.cpp's add_space_prefix: a "▁" before the text.
        let prefix = flag("tokenizer.ggml.add_space_prefix").unwrap_or(true);
        let mut normalizers = vec![];
        let mut decoders = vec![
            json!({"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "}),
            json!({"type": "ByteFallback"}),
            json!({"type": "Fuse"}),
        ];
        if prefix {
            normalizers.push(json!({"type": "Prepend", "prepend": "\u{2581}"}));
            decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
        }
        normalizers
            .push(json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"}));
        let merges = sentencepiece_merges(&tokens, &scores, &types);
        (
            json!({"type": "Sequence", "normalizers": normalizers}),
            serde_json::Value::Null,
            json!({"type": "Sequence", "decoders": decoders}),
            json!({
                "type": "BPE", "dropout": null, "unk_token": unknown, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true,
                "ignore_merges": false, "vocab": vocab, "merges": merges
            }),
            with_bos.unwrap_or(serde_json::Value::Null),
        )
    } else {
        let merges = strings(md, "tokenizer.ggml.merges")?;
        let pre = md
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
            .unwrap_or("default");
        let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": use_regex});
        let pre_tokenizer = match split_pattern(pre) {
            Some(pattern) => json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
                byte_level(false)
            ]}),
            None => byte_level(true),
        };
        (
            serde_json::Value::Null,
            pre_tokenizer,
            byte_level(false),
            json!({
                "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                "ignore_merges": false, "vocab": vocab, "merges": merges
            }),
            with_bos.unwrap_or_else(|| byte_level(false)),
        )
    };
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": decoder,
        "model": model
    });
    Tokenizer::from_bytes(serde_json::to_vec(&tokenizer)?)
        .map_err(|e| anyhow!("cannot build a tokenizer from the GGUF metadata: {e}"))
}

/// BPE merges for a SentencePiece vocabulary, which has scores instead:
/// every way to cut a piece into two pieces of the vocabulary is a merge,
/// ranked by the score of the piece it makes (higher first; then the lower
/// id), which is the order llama.cpp's SentencePiece tokenizer merges in
/// (it joins the neighbours whose union scores highest). Byte and control
/// tokens make no merges.
pub fn sentencepiece_merges(tokens: &[&str], scores: &[f32], types: &[u64]) -> Vec<[String; 2]> {
    let ids: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .filter(|(id, _)| matches!(types.get(*id).copied().unwrap_or(1), 1 | 4))
        .map(|(id, t)| (*t, id))
        .collect();
    let mut merges: Vec<(f32, usize, usize, usize, &str, &str)> = Vec::new();
    for (&piece, &id) in &ids {
        for (cut, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(cut);
            if let (Some(&l), Some(&r)) = (ids.get(left), ids.get(right)) {
                let score = scores.get(id).copied().unwrap_or(0.0);
                merges.push((score, id, l, r, left, right));
            }
        }
    }
    merges.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    merges
        .into_iter()
        .map(|(_, _, _, _, l, r)| [l.to_owned(), r.to_owned()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_job_stay_inside_the_snapshot() {
        assert!(gguf_name_is_safe("m-Q4_K_M.gguf").is_ok());
        assert!(gguf_name_is_safe("q8/m-00001-of-00002.gguf").is_ok());
        for bad in [
            "",
            "/etc/x.gguf",
            "../x.gguf",
            "a//b.gguf",
            "m.bin",
            "./m.gguf",
        ] {
            assert!(gguf_name_is_safe(bad).is_err(), "{bad}");
        }
    }
}
