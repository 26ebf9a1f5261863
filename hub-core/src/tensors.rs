//! The safetensors viewer: a `.safetensors` file's header (tensor names,
//! dtypes, shapes, parameter counts, `__metadata__`), read with two ranged
//! reads and never the tensors themselves.
//!
//! The format: 8 bytes of little-endian header length `n`, `n` bytes of
//! JSON (`{"name": {"dtype", "shape", "data_offsets": [start, end]}, ...,
//! "__metadata__": {string: string}}`), then the data; offsets count from
//! the end of the header. Anything else — a length past the end of the
//! file, a header that is not that JSON, offsets outside the data, a byte
//! range that does not match the shape — is [`Unreadable`], a reason the
//! page shows, never an error page.

use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::dataset_preview::fetch;
use crate::error::Result;
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;
use crate::repos::content::{self, EntryKind, TreeEntry};

/// Longest header read. The safetensors crate accepts up to 100 MB, but a
/// page view holds the header and its parsed JSON in memory; the largest
/// real headers (tens of thousands of tensors) are a few MB.
pub const MAX_HEADER: u64 = 16 << 20;
/// Tensors listed on the page (all are counted).
pub const MAX_LISTED: usize = 5000;
/// Largest `model.safetensors.index.json` read for the model page.
const MAX_INDEX: u64 = 4 << 20;

/// Headers read and parsed at once in this process, so that many visitors
/// at once cannot add up to gigabytes.
static READING: Semaphore = Semaphore::const_new(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// The product of the shape (1 for a scalar).
    pub parameters: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// By name; at most [`MAX_LISTED`].
    pub tensors: Vec<Tensor>,
    /// All tensors in the file.
    pub tensor_count: usize,
    /// The sum of every tensor's parameters.
    pub total_parameters: u64,
    /// `__metadata__`, by key.
    pub metadata: Vec<(String, String)>,
}

/// Why a header is not shown; each has a UI message (`key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreadable {
    /// Shorter than the 8-byte length.
    TooShort,
    /// The header length says more bytes than the file has.
    HeaderPastEnd,
    /// Longer than [`MAX_HEADER`].
    HeaderTooLarge,
    /// Not a JSON object (or not UTF-8).
    NotJson,
    /// `__metadata__` is not an object of strings.
    BadMetadata,
    /// A tensor without a dtype, shape or offsets of the right types.
    BadEntry(String),
    /// A tensor's offsets run backwards or past the end of the file.
    OffsetsPastEnd(String),
    /// A tensor's byte range does not hold its shape in its dtype.
    SizeMismatch(String),
}

impl Unreadable {
    /// The UI message key.
    pub fn key(&self) -> &'static str {
        match self {
            Unreadable::TooShort => "tensors.too_short",
            Unreadable::HeaderPastEnd => "tensors.header_past_end",
            Unreadable::HeaderTooLarge => "tensors.header_too_large",
            Unreadable::NotJson => "tensors.not_json",
            Unreadable::BadMetadata => "tensors.bad_metadata",
            Unreadable::BadEntry(_) => "tensors.bad_entry",
            Unreadable::OffsetsPastEnd(_) => "tensors.offsets_past_end",
            Unreadable::SizeMismatch(_) => "tensors.size_mismatch",
        }
    }

    /// The tensor concerned, where there is one.
    pub fn tensor(&self) -> Option<&str> {
        match self {
            Unreadable::BadEntry(t)
            | Unreadable::OffsetsPastEnd(t)
            | Unreadable::SizeMismatch(t) => Some(t),
            _ => None,
        }
    }
}

/// Whether the viewer reads a file, by its name.
pub fn is_safetensors(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".safetensors")
}

/// The header of `entry` (a file at a commit the caller may read).
pub async fn read(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
) -> Result<std::result::Result<Header, Unreadable>> {
    let size = entry.content_size();
    if size < 8 {
        return Ok(Err(Unreadable::TooShort));
    }
    let _permit = READING.acquire().await.expect("never closed");
    let prefix = fetch(hub, repo, entry, 0..8).await?;
    let Ok(prefix) = <[u8; 8]>::try_from(&prefix[..]) else {
        return Ok(Err(Unreadable::TooShort));
    };
    let len = u64::from_le_bytes(prefix);
    if len > size - 8 {
        return Ok(Err(Unreadable::HeaderPastEnd));
    }
    if len > MAX_HEADER {
        return Ok(Err(Unreadable::HeaderTooLarge));
    }
    let json = fetch(hub, repo, entry, 8..8 + len).await?;
    let data_len = size - 8 - len;
    Ok(tokio::task::spawn_blocking(move || parse(&json, data_len)).await?)
}

/// The parameter count shown on a model page, from the files at the root
/// of `entries` (a listing at `commit`): a single `model.safetensors`'s
/// header, else a sharded model's `model.safetensors.index.json`
/// `metadata.total_parameters` (which recent transformers write). The
/// index's `total_size` is bytes, not parameters, and summing every
/// shard's header costs a read per shard per page view, so a sharded model
/// without `total_parameters` shows none. Unreadable files show none too.
pub async fn model_parameters(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    commit: &str,
    entries: &[TreeEntry],
) -> Result<Option<u64>> {
    let root_file = |name: &str| {
        entries
            .iter()
            .find(|e| e.kind == EntryKind::File && e.path == name)
    };
    if let Some(entry) = root_file("model.safetensors") {
        // A side fact: a storage failure leaves it out instead of failing the page.
        return Ok(match read(hub, repo, entry).await {
            Ok(header) => header.ok().map(|h| h.total_parameters),
            Err(e) => {
                tracing::warn!(error = %e, "reading model.safetensors for the model page");
                None
            }
        });
    }
    let Some(index) = root_file("model.safetensors.index.json") else {
        return Ok(None);
    };
    if index.lfs.is_some() || index.size > MAX_INDEX {
        return Ok(None);
    }
    let Some(bytes) = content::read_small_file(hub, repo, commit, &index.path).await? else {
        return Ok(None);
    };
    let total = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["metadata"]["total_parameters"].as_u64());
    Ok(total)
}

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Bits per element of the dtypes the safetensors format defines; a dtype
/// not listed is shown as it is, without the size check.
fn bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        _ => return None,
    })
}

/// Parses and checks a header; `data_len` is the size of the data after it.
pub fn parse(json: &[u8], data_len: u64) -> std::result::Result<Header, Unreadable> {
    let map: serde_json::Map<String, Value> =
        serde_json::from_slice(json).map_err(|_| Unreadable::NotJson)?;
    let mut tensors = Vec::with_capacity(map.len());
    let mut metadata = Vec::new();
    let mut total: u64 = 0;
    for (name, value) in map {
        if name == "__metadata__" {
            let Value::Object(fields) = value else {
                return Err(Unreadable::BadMetadata);
            };
            for (key, value) in fields {
                let Value::String(value) = value else {
                    return Err(Unreadable::BadMetadata);
                };
                metadata.push((key, value));
            }
            continue;
        }
        let Ok(entry) = serde_json::from_value::<Entry>(value) else {
            return Err(Unreadable::BadEntry(name));
        };
        let (start, end) = entry.data_offsets;
        if start > end || end > data_len {
            return Err(Unreadable::OffsetsPastEnd(name));
        }
        let Some(parameters) = entry.shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d)) else {
            return Err(Unreadable::SizeMismatch(name));
        };
        if let Some(bits) = bits(&entry.dtype) {
            // Bits, not bytes: 4- and 6-bit types pack several elements a byte.
            let wanted = u128::from(parameters) * u128::from(bits);
            if wanted != u128::from(end - start) * 8 {
                return Err(Unreadable::SizeMismatch(name));
            }
        }
        let Some(sum) = total.checked_add(parameters) else {
            return Err(Unreadable::SizeMismatch(name));
        };
        total = sum;
        tensors.push(Tensor {
            name,
            dtype: entry.dtype,
            shape: entry.shape,
            parameters,
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let tensor_count = tensors.len();
    tensors.truncate(MAX_LISTED);
    Ok(Header {
        tensors,
        tensor_count,
        total_parameters: total,
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tensors_and_metadata() {
        let json = br#"{"b":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},
            "a":{"dtype":"BF16","shape":[],"data_offsets":[24,26]},
            "__metadata__":{"format":"pt"}}"#;
        let h = parse(json, 26).unwrap();
        assert_eq!(h.total_parameters, 7);
        assert_eq!(h.tensor_count, 2);
        assert_eq!(h.tensors[0].name, "a");
        assert_eq!(h.tensors[0].parameters, 1);
        assert_eq!(h.tensors[1].shape, vec![2, 3]);
        assert_eq!(h.metadata, vec![("format".into(), "pt".into())]);
    }

    #[test]
    fn refuses_hostile_headers() {
        assert_eq!(parse(b"not json", 10), Err(Unreadable::NotJson));
        assert_eq!(parse(b"[1,2]", 10), Err(Unreadable::NotJson));
        assert_eq!(
            parse(br#"{"__metadata__":{"n":1}}"#, 0),
            Err(Unreadable::BadMetadata)
        );
        assert_eq!(
            parse(
                br#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
                4
            ),
            Err(Unreadable::BadEntry("x".into()))
        );
        assert_eq!(
            parse(
                br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
                3
            ),
            Err(Unreadable::OffsetsPastEnd("x".into()))
        );
        assert_eq!(
            parse(
                br#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#,
                8
            ),
            Err(Unreadable::OffsetsPastEnd("x".into()))
        );
        assert_eq!(
            parse(
                br#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                4
            ),
            Err(Unreadable::SizeMismatch("x".into()))
        );
        let huge = format!(
            r#"{{"x":{{"dtype":"U8","shape":[{m},{m}],"data_offsets":[0,1]}}}}"#,
            m = u64::MAX
        );
        assert_eq!(
            parse(huge.as_bytes(), 1),
            Err(Unreadable::SizeMismatch("x".into()))
        );
    }
}
