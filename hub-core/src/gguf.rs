//! The GGUF viewer: a `.gguf` file's header (metadata and tensor infos),
//! read with ranged reads from the start of the file and never the tensor
//! data, as the safetensors viewer ([`crate::tensors`]) does.
//!
//! The format (v2 and v3; v1 used 32-bit counts and is long gone): the
//! magic `GGUF`, a u32 version, u64 tensor count, u64 metadata count, the
//! metadata (a string key, a u32 value type, the value; arrays are an
//! element type, a u64 length and the elements), then per tensor a name,
//! a u32 dimension count, u64 dimensions, a u32 ggml type and a u64 data
//! offset. All little-endian; strings are a u64 length and UTF-8 bytes.
//!
//! The header has no length field, so the reader grows its read until the
//! parse ends, up to [`MAX_HEADER`]. Everything a count or a length claims
//! must be in the bytes read, so a hostile count runs out of bytes instead
//! of allocating; large arrays (a tokenizer's 150k tokens) are walked over
//! and only their length is kept. Anything else is [`Unreadable`], a reason
//! the page shows, never an error page.

use std::collections::BTreeMap;

use tokio::sync::Semaphore;

use crate::dataset_preview::fetch;
use crate::error::Result;
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;
use crate::repos::content::{EntryKind, TreeEntry};

/// Longest header read. Tokenizer vocabularies and merges of 150k entries
/// take a few MiB; 32 MiB leaves room for larger ones while bounding what a
/// page view holds.
pub const MAX_HEADER: u64 = 32 << 20;
/// The first read; most headers (all but the large-vocabulary ones) fit.
const FIRST_READ: u64 = 1 << 20;
/// Longest string value kept (longer ones are cut); chat templates are a
/// few KB, the longest known tens of KB.
const MAX_KEPT_STRING: usize = 64 << 10;
/// Nested arrays deeper than this are refused (real files nest at most once).
const MAX_DEPTH: u32 = 4;
/// Metadata entries kept for the page; a real file has a few dozen, a
/// hostile one could claim millions of tiny ones.
pub const MAX_LISTED_METADATA: usize = 1000;
/// Entries kept for the facts below (keys that name them), so that a flood
/// of such keys cannot grow memory either.
const MAX_FACT_ENTRIES: usize = 64;
/// ggml tensors have at most 4 dimensions.
const MAX_DIMS: u32 = 4;

/// Headers read and parsed at once in this process.
static READING: Semaphore = Semaphore::const_new(2);

/// One metadata value, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i128),
    Float(f64),
    Bool(bool),
    String(String),
    /// An array's element type name and length (the elements are not kept).
    Array {
        of: &'static str,
        len: u64,
    },
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::String(s) => f.write_str(s),
            Value::Array { of, len } => write!(f, "[{of}; {len}]"),
        }
    }
}

impl Value {
    fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub version: u32,
    /// Metadata keys and values in file order, at most
    /// [`MAX_LISTED_METADATA`].
    pub metadata: Vec<(String, Value)>,
    /// All metadata entries in the file.
    pub metadata_count: u64,
    pub tensor_count: u64,
    /// The sum of every tensor's element count.
    pub total_parameters: u64,
    /// Tensors per ggml type name, most common first.
    pub tensor_types: Vec<(String, u64)>,
    pub architecture: Option<String>,
    pub name: Option<String>,
    pub context_length: Option<u64>,
    pub embedding_length: Option<u64>,
    pub block_count: Option<u64>,
    pub tokenizer_model: Option<String>,
    /// The length of `tokenizer.ggml.tokens`.
    pub vocabulary_size: Option<u64>,
    pub chat_template: Option<String>,
    /// From `general.file_type`, else the most common quantised tensor type.
    pub quantization: Option<String>,
    /// `split.no` (counting from 0) and `split.count`, for a split model.
    pub split: Option<(u64, u64)>,
    /// Bytes of tensor data the header describes: the memory the weights
    /// take once loaded as they are.
    pub tensor_bytes: u64,
    /// Where the last tensor's data ends: a file shorter than this was cut.
    pub data_end: u64,
}

/// Why a header is not shown; each has a UI message (`key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Does not start with `GGUF`.
    NotGguf,
    /// A version other than 2 or 3.
    Version(u32),
    /// The file ends inside the header.
    Truncated,
    /// The header runs past [`MAX_HEADER`].
    HeaderTooLarge,
    /// A value type, string, dimension count or ggml type the format does
    /// not have.
    Malformed,
}

impl Unreadable {
    /// The UI message key.
    pub fn key(&self) -> &'static str {
        match self {
            Unreadable::NotGguf => "gguf.not_gguf",
            Unreadable::Version(_) => "gguf.unsupported_version",
            Unreadable::Truncated => "gguf.truncated",
            Unreadable::HeaderTooLarge => "gguf.header_too_large",
            Unreadable::Malformed => "gguf.malformed",
        }
    }
}

/// Whether the viewer reads a file, by its name.
pub fn is_gguf(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".gguf")
}

/// The header of `entry` (a file at a commit the caller may read).
pub async fn read(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
) -> Result<std::result::Result<Header, Unreadable>> {
    let size = entry.content_size();
    let _permit = READING.acquire().await.expect("never closed");
    let mut want = FIRST_READ.min(size);
    loop {
        // Each try reads from the start again: simpler than stitching, and
        // the doubling keeps the total under twice the last read.
        let bytes = fetch(hub, repo, entry, 0..want).await?;
        let whole = want >= size;
        let parsed = tokio::task::spawn_blocking(move || parse(&bytes)).await?;
        match parsed {
            Err(Short) if whole => return Ok(Err(Unreadable::Truncated)),
            Err(Short) if want >= MAX_HEADER => return Ok(Err(Unreadable::HeaderTooLarge)),
            Err(Short) => want = (want * 2).min(MAX_HEADER).min(size),
            Err(Bad(reason)) => return Ok(Err(reason)),
            Ok(header) => return Ok(Ok(header)),
        }
    }
}

/// `.gguf` files listed on a model page; more are left out.
pub const MAX_MODEL_FILES: usize = 16;
/// Bytes read from each for its quantisation: llama.cpp writes
/// `general.*` (with `general.file_type`) before the tokenizer arrays, so
/// the start of the header is enough.
const MODEL_PAGE_READ: u64 = 64 << 10;

/// One `.gguf` file on a model page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    pub path: String,
    pub size: u64,
    /// From `general.file_type`; none when it is not in the first
    /// [`MODEL_PAGE_READ`] bytes (the file page reads the whole header).
    pub quantization: Option<String>,
}

/// The `.gguf` files among `entries` (a listing the caller may read), at
/// most [`MAX_MODEL_FILES`], each with its quantisation from one small
/// ranged read: the model page names the quantisations a repo offers, as
/// a GGUF repo's whole point is the choice between them.
pub async fn model_files(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entries: &[TreeEntry],
) -> Result<Vec<ModelFile>> {
    let mut out = Vec::new();
    for entry in entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && is_gguf(&e.path))
        .take(MAX_MODEL_FILES)
    {
        let size = entry.content_size();
        let want = MODEL_PAGE_READ.min(size);
        // Kept by the pointer's blob id, so a model page shown again reads
        // nothing from the store (what a blob id names never changes).
        let cache = &hub.content_cache;
        let quantization = match cache.gguf_quantization(repo.id, &entry.oid) {
            Some(known) => known,
            // A side fact: a storage failure leaves it out instead of failing the page.
            None => match fetch(hub, repo, entry, 0..want).await {
                Ok(bytes) => {
                    let found = file_type_in(&bytes);
                    cache.keep_gguf_quantization(repo.id, entry.oid.clone(), found.clone());
                    found
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading a .gguf header for the model page");
                    None
                }
            },
        };
        out.push(ModelFile {
            path: entry.path.clone(),
            size,
            quantization,
        });
    }
    Ok(out)
}

/// `general.file_type`'s name, if the metadata reaches it within `bytes`.
pub fn file_type_in(bytes: &[u8]) -> Option<String> {
    let mut c = Cursor { bytes };
    if c.array::<4>().ok()? != *b"GGUF" || !(2..=3).contains(&c.u32().ok()?) {
        return None;
    }
    c.u64().ok()?;
    let kv_count = c.u64().ok()?;
    for _ in 0..kv_count {
        let key = c.text().ok()?;
        let t = c.u32().ok()?;
        let v = value(&mut c, t, 0).ok()?;
        if key == "general.file_type" {
            return v.as_u64().and_then(file_type).map(str::to_owned);
        }
    }
    None
}

/// Why [`parse`] stopped.
#[derive(Debug, PartialEq)]
pub enum Stop {
    /// The bytes ended inside the header: a longer read may finish it.
    Short,
    /// The header is unreadable whatever follows.
    Bad(Unreadable),
}
use Stop::{Bad, Short};

type Parsed<T> = std::result::Result<T, Stop>;

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Parsed<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| Short)?;
        if n > self.bytes.len() {
            return Err(Short);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Parsed<[u8; N]> {
        Ok(self.take(N as u64)?.try_into().expect("N bytes"))
    }

    fn u32(&mut self) -> Parsed<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Parsed<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Parsed<&'a [u8]> {
        let len = self.u64()?;
        self.take(len)
    }

    /// A string that must be UTF-8 (keys and tensor names).
    fn text(&mut self) -> Parsed<String> {
        let bytes = self.string()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Bad(Unreadable::Malformed))
    }
}

/// Value type names by their GGUF number; `None` is not a type.
fn type_name(t: u32) -> Option<&'static str> {
    Some(match t {
        0 => "u8",
        1 => "i8",
        2 => "u16",
        3 => "i16",
        4 => "u32",
        5 => "i32",
        6 => "f32",
        7 => "bool",
        8 => "string",
        9 => "array",
        10 => "u64",
        11 => "i64",
        12 => "f64",
        _ => return None,
    })
}

/// Bytes of a fixed-size value type (not strings or arrays).
fn fixed_size(t: u32) -> Option<u64> {
    Some(match t {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        _ => return None,
    })
}

fn value(c: &mut Cursor, t: u32, depth: u32) -> Parsed<Value> {
    let int = |b: &[u8], signed: bool| -> i128 {
        let mut buf = [0u8; 8];
        buf[..b.len()].copy_from_slice(b);
        let unsigned = u64::from_le_bytes(buf);
        if signed && b[b.len() - 1] & 0x80 != 0 {
            // Sign-extend from the value's own width.
            i128::from(unsigned) - (1i128 << (8 * b.len()))
        } else {
            i128::from(unsigned)
        }
    };
    Ok(match t {
        0 | 2 | 4 | 10 => Value::Int(int(c.take(fixed_size(t).expect("fixed"))?, false)),
        1 | 3 | 5 | 11 => Value::Int(int(c.take(fixed_size(t).expect("fixed"))?, true)),
        6 => Value::Float(f64::from(f32::from_le_bytes(c.array()?))),
        12 => Value::Float(f64::from_le_bytes(c.array()?)),
        7 => Value::Bool(c.array::<1>()?[0] != 0),
        8 => {
            let bytes = c.string()?;
            let kept = &bytes[..bytes.len().min(MAX_KEPT_STRING)];
            Value::String(String::from_utf8_lossy(kept).into_owned())
        }
        9 => {
            if depth >= MAX_DEPTH {
                return Err(Bad(Unreadable::Malformed));
            }
            let of = c.u32()?;
            let len = c.u64()?;
            let name = type_name(of).ok_or(Bad(Unreadable::Malformed))?;
            if let Some(size) = fixed_size(of) {
                // An overflowing length cannot be in the file either.
                c.take(len.checked_mul(size).ok_or(Short)?)?;
            } else {
                // Each element takes at least 8 bytes, so a claimed length
                // runs out of bytes long before it costs time; strings are
                // walked over without being copied.
                for _ in 0..len {
                    if of == 8 {
                        c.string()?;
                    } else {
                        value(c, of, depth + 1)?;
                    }
                }
            }
            Value::Array { of: name, len }
        }
        _ => return Err(Bad(Unreadable::Malformed)),
    })
}

/// ggml tensor type names by number (ggml.h's `ggml_type`); removed
/// numbers (4, 5, 31–33, 36–38) are not types.
fn ggml_type(t: u32) -> Option<&'static str> {
    Some(match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        _ => return None,
    })
}

/// Bytes of a tensor of `elements` elements of ggml type `t`: whole blocks
/// of (elements per block, bytes per block), as ggml.c's type traits say
/// (a partial block, which ggml refuses, counts whole: the page still shows).
fn tensor_size(t: u32, elements: u64) -> Option<u64> {
    let (block, bytes): (u64, u64) = match t {
        0 | 26 => (1, 4),
        1 | 25 | 30 => (1, 2),
        24 => (1, 1),
        27 | 28 => (1, 8),
        2 | 20 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        9 => (32, 36),
        39 => (32, 17),
        10 => (256, 84),
        11 | 21 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        16 | 35 => (256, 66),
        17 => (256, 74),
        18 => (256, 98),
        19 => (256, 50),
        22 => (256, 82),
        23 => (256, 136),
        29 => (256, 56),
        34 => (256, 54),
        _ => return None,
    };
    elements.div_ceil(block).checked_mul(bytes)
}

/// llama.cpp's `llama_ftype` (`general.file_type`) numbers and names.
const FILE_TYPES: [(u64, &str); 33] = [
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (7, "Q8_0"),
    (8, "Q5_0"),
    (9, "Q5_1"),
    (10, "Q2_K"),
    (11, "Q3_K_S"),
    (12, "Q3_K_M"),
    (13, "Q3_K_L"),
    (14, "Q4_K_S"),
    (15, "Q4_K_M"),
    (16, "Q5_K_S"),
    (17, "Q5_K_M"),
    (18, "Q6_K"),
    (19, "IQ2_XXS"),
    (20, "IQ2_XS"),
    (21, "Q2_K_S"),
    (22, "IQ3_XS"),
    (23, "IQ3_XXS"),
    (24, "IQ1_S"),
    (25, "IQ4_NL"),
    (26, "IQ3_S"),
    (27, "IQ3_M"),
    (28, "IQ2_S"),
    (29, "IQ2_M"),
    (30, "IQ4_XS"),
    (31, "IQ1_M"),
    (32, "BF16"),
    (36, "TQ1_0"),
    (37, "TQ2_0"),
    (38, "MXFP4_MOE"),
];

fn file_type(n: u64) -> Option<&'static str> {
    FILE_TYPES
        .iter()
        .find(|(k, _)| *k == n)
        .map(|(_, name)| *name)
}

/// Quantisation names GGUF repos put in file names beyond llama.cpp's
/// file and tensor types: the `_L`/`_XL` mixes of unsloth and others.
pub(crate) const NAMED_MIXES: [&str; 6] =
    ["Q4_K_L", "Q5_K_L", "Q6_K_L", "Q4_K_XL", "Q8_K_XL", "MXFP4"];

/// Every quantisation name a file name may state (the integer and f64
/// tensor types are no quantisation, and `I8` would match inside names).
pub(crate) fn quantization_names() -> impl Iterator<Item = &'static str> {
    FILE_TYPES
        .iter()
        .map(|(_, n)| *n)
        .chain((0..64).filter_map(ggml_type))
        .filter(|n| !matches!(*n, "I8" | "I16" | "I32" | "I64" | "F64"))
        .chain(NAMED_MIXES)
}

/// The quantisation a file's name states, as GGUF repos name their files
/// (`qwen2.5-0.5b-instruct-q4_k_m.gguf`, `Model.Q8_0.gguf`,
/// `model_q4_k_m_imatrix.gguf`): a known name ([`quantization_names`]), any
/// case, with no letter or digit right before or after it, the longest
/// when several are (`Q4_K_M` over `Q4_K`). A vision projector (`mmproj`)
/// states none: it is no model to serve. The one rule for listings, search
/// tags and the choice of file to serve: it costs no read, where the
/// header's `general.file_type` does.
pub fn quantization_in_name(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_uppercase();
    if name.contains("MMPROJ") {
        return None;
    }
    let alphanumeric_at = |i: usize| {
        name.as_bytes()
            .get(i)
            .is_some_and(u8::is_ascii_alphanumeric)
    };
    quantization_names()
        .filter(|k| {
            name.match_indices(k).any(|(at, _)| {
                (at == 0 || !alphanumeric_at(at - 1)) && !alphanumeric_at(at + k.len())
            })
        })
        .max_by_key(|k| k.len())
}

/// Whether a metadata key is one [`parse`] reads a fact from.
fn names_a_fact(key: &str) -> bool {
    matches!(
        key,
        "general.architecture"
            | "general.name"
            | "general.file_type"
            | "tokenizer.ggml.model"
            | "tokenizer.ggml.tokens"
            | "tokenizer.chat_template"
            | "split.count"
            | "split.no"
            | "general.alignment"
    ) || [".context_length", ".embedding_length", ".block_count"]
        .iter()
        .any(|field| key.ends_with(field))
}

/// Parses a header from the first bytes of a file. [`Stop::Short`] when
/// the bytes end first (the caller reads more, or has the whole file and
/// calls it truncated).
pub fn parse(bytes: &[u8]) -> Parsed<Header> {
    let mut c = Cursor { bytes };
    if c.array::<4>()? != *b"GGUF" {
        return Err(Bad(Unreadable::NotGguf));
    }
    let version = c.u32()?;
    if !(2..=3).contains(&version) {
        return Err(Bad(Unreadable::Version(version)));
    }
    let tensor_count = c.u64()?;
    let kv_count = c.u64()?;
    // No capacity from the counts: they are claims, the bytes are facts.
    let mut metadata = Vec::new();
    let mut facts = Vec::new();
    for _ in 0..kv_count {
        let key = c.text()?;
        let t = c.u32()?;
        let v = value(&mut c, t, 0)?;
        if names_a_fact(&key) && facts.len() < MAX_FACT_ENTRIES {
            facts.push((key.clone(), v.clone()));
        }
        if metadata.len() < MAX_LISTED_METADATA {
            metadata.push((key, v));
        }
    }
    let mut types: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut tensor_bytes: u64 = 0;
    let mut data_len: u64 = 0;
    for _ in 0..tensor_count {
        c.string()?;
        let dims = c.u32()?;
        if dims > MAX_DIMS {
            return Err(Bad(Unreadable::Malformed));
        }
        let mut elements: u64 = 1;
        for _ in 0..dims {
            elements = elements
                .checked_mul(c.u64()?)
                .ok_or(Bad(Unreadable::Malformed))?;
        }
        let number = c.u32()?;
        let t = ggml_type(number).ok_or(Bad(Unreadable::Malformed))?;
        let offset = c.u64()?;
        total = total
            .checked_add(elements)
            .ok_or(Bad(Unreadable::Malformed))?;
        let bytes = tensor_size(number, elements).ok_or(Bad(Unreadable::Malformed))?;
        tensor_bytes = tensor_bytes
            .checked_add(bytes)
            .ok_or(Bad(Unreadable::Malformed))?;
        data_len = data_len.max(
            offset
                .checked_add(bytes)
                .ok_or(Bad(Unreadable::Malformed))?,
        );
        *types.entry(t).or_default() += 1;
    }
    let mut tensor_types: Vec<(String, u64)> =
        types.into_iter().map(|(t, n)| (t.to_owned(), n)).collect();
    tensor_types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let get = |key: &str| facts.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let text = |key: &str| get(key).and_then(Value::as_str).map(str::to_owned);
    let number = |key: &str| get(key).and_then(Value::as_u64);
    let architecture = text("general.architecture");
    let per_arch = |field: &str| {
        architecture
            .as_ref()
            .and_then(|a| number(&format!("{a}.{field}")))
    };
    // Unquantised types (F32 norms, F16 embeddings) sit beside quantised
    // weights in every quantised file, so they only name the file when
    // nothing is quantised.
    let plain = |t: &str| {
        matches!(
            t,
            "F32" | "F16" | "BF16" | "F64" | "I8" | "I16" | "I32" | "I64"
        )
    };
    let quantization = number("general.file_type")
        .and_then(file_type)
        .map(str::to_owned)
        .or_else(|| {
            tensor_types
                .iter()
                .find(|(t, _)| !plain(t))
                .or_else(|| tensor_types.first())
                .map(|(t, _)| t.clone())
        });
    let vocabulary_size = match get("tokenizer.ggml.tokens") {
        Some(Value::Array { len, .. }) => Some(*len),
        _ => None,
    };
    let split = number("split.count")
        .filter(|&n| n > 1)
        .map(|count| (number("split.no").unwrap_or(0), count));
    let header_len = (bytes.len() - c.bytes.len()) as u64;
    let alignment = number("general.alignment").filter(|&a| a > 0).unwrap_or(32);
    let data_end = header_len
        .div_ceil(alignment)
        .saturating_mul(alignment)
        .saturating_add(data_len);
    Ok(Header {
        tensor_bytes,
        data_end,
        version,
        metadata_count: kv_count,
        tensor_count,
        total_parameters: total,
        tensor_types,
        name: text("general.name"),
        context_length: per_arch("context_length"),
        embedding_length: per_arch("embedding_length"),
        block_count: per_arch("block_count"),
        tokenizer_model: text("tokenizer.ggml.model"),
        vocabulary_size,
        chat_template: text("tokenizer.chat_template"),
        quantization,
        split,
        architecture,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    fn kv_string(out: &mut Vec<u8>, k: &str, v: &str) {
        string(out, k);
        out.extend(8u32.to_le_bytes());
        string(out, v);
    }

    fn kv_u32(out: &mut Vec<u8>, k: &str, v: u32) {
        string(out, k);
        out.extend(4u32.to_le_bytes());
        out.extend(v.to_le_bytes());
    }

    fn tensor(out: &mut Vec<u8>, name: &str, dims: &[u64], t: u32) {
        string(out, name);
        out.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(t.to_le_bytes());
        out.extend(0u64.to_le_bytes());
    }

    fn good() -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(3u64.to_le_bytes());
        b.extend(7u64.to_le_bytes());
        kv_string(&mut b, "general.architecture", "llama");
        kv_string(&mut b, "general.name", "Tiny");
        kv_u32(&mut b, "llama.context_length", 4096);
        kv_u32(&mut b, "general.file_type", 15);
        kv_string(&mut b, "tokenizer.chat_template", "{{ messages }}");
        // A string array: walked over, only its length kept.
        string(&mut b, "tokenizer.ggml.tokens");
        b.extend(9u32.to_le_bytes());
        b.extend(8u32.to_le_bytes());
        b.extend(3u64.to_le_bytes());
        for t in ["<s>", "a", "b"] {
            string(&mut b, t);
        }
        // A fixed-size array, skipped in one step.
        string(&mut b, "tokenizer.ggml.scores");
        b.extend(9u32.to_le_bytes());
        b.extend(6u32.to_le_bytes());
        b.extend(3u64.to_le_bytes());
        b.extend([0u8; 12]);
        tensor(&mut b, "tok_embd.weight", &[64, 3], 1);
        tensor(&mut b, "blk.0.attn_q.weight", &[64, 64], 12);
        tensor(&mut b, "output_norm.weight", &[64], 0);
        b
    }

    #[test]
    fn quantization_from_file_names() {
        for (path, want) in [
            ("qwen2.5-0.5b-instruct-q4_k_m.gguf", Some("Q4_K_M")),
            ("sub/Model.Q8_0.gguf", Some("Q8_0")),
            ("model-IQ4_XS-00001-of-00003.gguf", Some("IQ4_XS")),
            ("llama-3-8b-f16.gguf", Some("F16")),
            ("model-BF16.gguf", Some("BF16")),
            ("model-q4_k.gguf", Some("Q4_K")),
            ("model.gguf", None),
            ("model_q4_k_m_imatrix.gguf", Some("Q4_K_M")),
            ("Q5_K_S.gguf", Some("Q5_K_S")),
            // A word that only contains a type name is not one.
            ("xq4_0y.gguf", None),
            ("modelq8_0.gguf", None),
            // A vision projector is no model.
            ("mmproj-model-f16.gguf", None),
        ] {
            assert_eq!(quantization_in_name(path), want, "{path}");
        }
    }

    #[test]
    fn reads_a_v3_header() {
        let h = parse(&good()).unwrap();
        assert_eq!(h.version, 3);
        assert_eq!(h.architecture.as_deref(), Some("llama"));
        assert_eq!(h.name.as_deref(), Some("Tiny"));
        assert_eq!(h.context_length, Some(4096));
        assert_eq!(h.quantization.as_deref(), Some("Q4_K_M"));
        assert_eq!(h.chat_template.as_deref(), Some("{{ messages }}"));
        assert_eq!(h.vocabulary_size, Some(3));
        assert_eq!(h.tensor_count, 3);
        assert_eq!(h.total_parameters, 64 * 3 + 64 * 64 + 64);
        // F16, Q4_K (16 blocks of 144 bytes), F32.
        assert_eq!(h.tensor_bytes, 64 * 3 * 2 + 16 * 144 + 64 * 4);
        assert_eq!(h.tensor_types.len(), 3);
        assert_eq!(h.split, None);
        assert_eq!(h.metadata_count, 7);
        assert_eq!(h.metadata.len(), 7);
    }

    #[test]
    fn keeps_a_bounded_number_of_entries() {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend(5002u64.to_le_bytes());
        for i in 0..5000 {
            kv_u32(&mut b, &format!("x{i}.context_length"), i);
        }
        kv_string(&mut b, "general.architecture", "x4999");
        kv_u32(&mut b, "split.count", 3);
        let h = parse(&b).unwrap();
        assert_eq!(h.metadata_count, 5002);
        assert_eq!(h.metadata.len(), MAX_LISTED_METADATA);
        // The fact entries are capped too: past the cap, a fact is unknown.
        assert_eq!(h.architecture, None);
        assert_eq!(h.context_length, None);
    }

    #[test]
    fn quantization_falls_back_to_the_quantised_tensor_type() {
        let mut b = b"GGUF".to_vec();
        b.extend(2u32.to_le_bytes());
        b.extend(3u64.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        tensor(&mut b, "a", &[32], 0);
        tensor(&mut b, "b", &[32], 0);
        tensor(&mut b, "c", &[32], 8);
        let h = parse(&b).unwrap();
        assert_eq!(h.quantization.as_deref(), Some("Q8_0"));
        assert_eq!(h.tensor_types[0], ("F32".to_owned(), 2));
    }

    #[test]
    fn file_type_from_the_start_of_a_header() {
        let b = good();
        assert_eq!(file_type_in(&b).as_deref(), Some("Q4_K_M"));
        // general.file_type comes before the tokenizer: a cut there is enough.
        let at = b.windows(9).position(|w| w == b"tokenizer").unwrap();
        assert_eq!(file_type_in(&b[..at]).as_deref(), Some("Q4_K_M"));
        assert_eq!(file_type_in(&b[..40]), None);
        assert_eq!(file_type_in(b"GGML"), None);
    }

    #[test]
    fn every_truncation_asks_for_more() {
        let b = good();
        for cut in 0..b.len() {
            assert_eq!(parse(&b[..cut]), Err(Short), "cut at {cut}");
        }
    }

    #[test]
    fn refuses_hostile_headers() {
        assert_eq!(parse(b"GGML\x03\0\0\0"), Err(Bad(Unreadable::NotGguf)));
        let mut v1 = b"GGUF".to_vec();
        v1.extend(1u32.to_le_bytes());
        assert_eq!(parse(&v1), Err(Bad(Unreadable::Version(1))));

        let head = |tensors: u64, kvs: u64| {
            let mut b = b"GGUF".to_vec();
            b.extend(3u32.to_le_bytes());
            b.extend(tensors.to_le_bytes());
            b.extend(kvs.to_le_bytes());
            b
        };
        // Absurd counts run out of bytes without allocating for them.
        assert_eq!(parse(&head(u64::MAX, u64::MAX)), Err(Short));
        // An absurd string length.
        let mut b = head(0, 1);
        b.extend(u64::MAX.to_le_bytes());
        assert_eq!(parse(&b), Err(Short));
        // An absurd array of u64s: the byte count overflows.
        let mut b = head(0, 1);
        string(&mut b, "k");
        b.extend(9u32.to_le_bytes());
        b.extend(10u32.to_le_bytes());
        b.extend(u64::MAX.to_le_bytes());
        assert_eq!(parse(&b), Err(Short));
        // An absurd array of strings.
        let mut b = head(0, 1);
        string(&mut b, "k");
        b.extend(9u32.to_le_bytes());
        b.extend(8u32.to_le_bytes());
        b.extend(u64::MAX.to_le_bytes());
        string(&mut b, "x");
        assert_eq!(parse(&b), Err(Short));
        // Arrays of arrays nested too deep.
        let mut b = head(0, 1);
        string(&mut b, "k");
        b.extend(9u32.to_le_bytes());
        for _ in 0..10 {
            b.extend(9u32.to_le_bytes());
            b.extend(1u64.to_le_bytes());
        }
        assert_eq!(parse(&b), Err(Bad(Unreadable::Malformed)));
        // An unknown value type.
        let mut b = head(0, 1);
        string(&mut b, "k");
        b.extend(99u32.to_le_bytes());
        assert_eq!(parse(&b), Err(Bad(Unreadable::Malformed)));
        // Too many dimensions, an unknown ggml type, overflowing elements.
        let mut b = head(1, 0);
        tensor(&mut b, "t", &[1; 5], 0);
        assert_eq!(parse(&b), Err(Bad(Unreadable::Malformed)));
        let mut b = head(1, 0);
        tensor(&mut b, "t", &[1], 4);
        assert_eq!(parse(&b), Err(Bad(Unreadable::Malformed)));
        let mut b = head(1, 0);
        tensor(&mut b, "t", &[u64::MAX, 2], 0);
        assert_eq!(parse(&b), Err(Bad(Unreadable::Malformed)));
        // A key that is not UTF-8.
        let mut b = head(0, 1);
        b.extend(1u64.to_le_bytes());
        b.push(0xff);
        assert_eq!(parse(&b), Err(Bad(Unreadable::Malformed)));
    }
}
