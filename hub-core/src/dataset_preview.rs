//! The dataset viewer's reader: the first [`MAX_ROWS`] rows of a CSV, TSV,
//! JSON Lines or Parquet file, with column names and types, reading only
//! what is needed.
//!
//! * CSV, TSV, JSONL: only the first [`TEXT_WINDOW`] bytes are read (a
//!   ranged read of the LFS object or the git blob); a last, cut-off line is
//!   dropped. Types are inferred from the rows shown.
//! * Parquet: the footer first (one ranged read), then whole row groups in
//!   order until enough rows are decoded, never more than
//!   [`MAX_PARQUET_BYTES`] in all. Types come from the file's schema.
//!
//! A file that cannot be previewed gives an [`Unpreviewable`] reason, never
//! an error page: the viewer says why in the visitor's language.

use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

use crate::error::Result;
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;
use crate::repos::content::{self, TreeEntry};

/// Rows shown.
pub const MAX_ROWS: usize = 100;
/// Bytes read from the start of a text file.
pub const TEXT_WINDOW: u64 = 1 << 20;
/// Longest Parquet footer read.
pub const MAX_PARQUET_FOOTER: u64 = 8 << 20;
/// Most bytes of row groups read for one preview.
pub const MAX_PARQUET_BYTES: u64 = 64 << 20;
/// Longest cell text shown (in characters); longer values are cut with `…`.
pub const MAX_CELL_CHARS: usize = 300;
/// Most columns shown.
pub const MAX_COLUMNS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Jsonl,
    Parquet,
}

impl Format {
    /// The format a file's name says it has, if the viewer reads it.
    pub fn of(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        let ext = lower.rsplit_once('.').map(|(_, e)| e)?;
        Some(match ext {
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "jsonl" | "ndjson" => Format::Jsonl,
            "parquet" => Format::Parquet,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "CSV",
            Format::Tsv => "TSV",
            Format::Jsonl => "JSON Lines",
            Format::Parquet => "Parquet",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// `string`, `int64`, `float64`, `bool`, `list`, `struct`, `json`, or
    /// for Parquet the schema's type (`int32`, `string`, `timestamp`, ...).
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub format: Format,
    pub columns: Vec<Column>,
    /// Cells as text; `None` is a null or missing value.
    pub rows: Vec<Vec<Option<String>>>,
    /// The file's row count, where the format records it (Parquet).
    pub total_rows: Option<u64>,
}

/// Why a file is not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unpreviewable {
    /// Not a format the viewer reads.
    UnknownFormat,
    /// Reading the first rows would take more than the limits allow.
    TooLarge,
    /// The file is not what its name says (the parser's message).
    Malformed(String),
}

/// The preview of file `entry` (already resolved at a commit the caller may read).
pub async fn preview(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
) -> Result<std::result::Result<Preview, Unpreviewable>> {
    let Some(format) = Format::of(&entry.path) else {
        return Ok(Err(Unpreviewable::UnknownFormat));
    };
    let size = entry.content_size();
    if format == Format::Parquet {
        return parquet_preview(hub, repo, entry, size).await;
    }
    let window = size.min(TEXT_WINDOW);
    let bytes = fetch(hub, repo, entry, 0..window).await?;
    let complete = window == size;
    Ok(match format {
        Format::Csv => delimited(&bytes, b',', complete),
        Format::Tsv => delimited(&bytes, b'\t', complete),
        _ => jsonl(&bytes, complete),
    }
    .map(|(columns, rows)| Preview {
        format,
        columns,
        rows,
        total_rows: None,
    }))
}

/// The bytes of `range` of a file, gathered (the caller bounds the range).
async fn fetch(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
    range: Range<u64>,
) -> Result<Bytes> {
    if range.is_empty() {
        return Ok(Bytes::new());
    }
    let mut stream = content::read(hub, repo, entry, Some(range.clone())).await?;
    let mut out = Vec::with_capacity((range.end - range.start) as usize);
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(Bytes::from(out))
}

/// The text of a window: complete lines only when the file goes on.
fn whole_lines(bytes: &[u8], complete: bool) -> &[u8] {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if complete {
        return bytes;
    }
    match bytes.iter().rposition(|&b| b == b'\n') {
        Some(end) => &bytes[..=end],
        None => &[],
    }
}

fn cell(text: &str) -> String {
    match text.char_indices().nth(MAX_CELL_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

type Table = (Vec<Column>, Vec<Vec<Option<String>>>);

/// CSV or TSV with a header row.
fn delimited(
    bytes: &[u8],
    delimiter: u8,
    complete: bool,
) -> std::result::Result<Table, Unpreviewable> {
    let text = whole_lines(bytes, complete);
    if text.is_empty() && !complete {
        return Err(Unpreviewable::TooLarge);
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text);
    let malformed = |e: csv::Error| Unpreviewable::Malformed(e.to_string());
    let header = reader.byte_headers().map_err(malformed)?.clone();
    let names: Vec<String> = header
        .iter()
        .take(MAX_COLUMNS)
        .map(|h| cell(&String::from_utf8_lossy(h)))
        .collect();
    let mut rows = Vec::new();
    for record in reader.byte_records().take(MAX_ROWS) {
        let record = record.map_err(malformed)?;
        rows.push(
            (0..names.len())
                .map(|i| {
                    record
                        .get(i)
                        .map(|v| cell(&String::from_utf8_lossy(v)))
                        .filter(|v| !v.is_empty())
                })
                .collect::<Vec<_>>(),
        );
    }
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| Column {
            name,
            kind: infer_text_kind(rows.iter().filter_map(|r| r[i].as_deref())).to_owned(),
        })
        .collect();
    Ok((columns, rows))
}

/// The narrowest of int64, float64, bool and string that fits every value.
fn infer_text_kind<'a>(values: impl Iterator<Item = &'a str>) -> &'static str {
    let (mut int, mut float, mut boolean, mut any) = (true, true, true, false);
    for v in values {
        any = true;
        let v = v.trim();
        int &= v.parse::<i64>().is_ok();
        float &= v.parse::<f64>().is_ok();
        boolean &= matches!(v, "true" | "false" | "True" | "False");
    }
    match (any, int, float, boolean) {
        (false, ..) => "string",
        (_, true, ..) => "int64",
        (_, _, true, _) => "float64",
        (_, _, _, true) => "bool",
        _ => "string",
    }
}

/// JSON Lines: one object per line; columns in order of first appearance.
fn jsonl(bytes: &[u8], complete: bool) -> std::result::Result<Table, Unpreviewable> {
    let text = whole_lines(bytes, complete);
    if text.is_empty() && !complete {
        return Err(Unpreviewable::TooLarge);
    }
    let mut names: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if objects.len() == MAX_ROWS {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_error = |e: String| Unpreviewable::Malformed(format!("line {}: {e}", n + 1));
        // Members in the file's order (serde_json's map would sort them).
        let Ordered(map) = serde_json::from_slice(line).map_err(|e| line_error(e.to_string()))?;
        for (key, _) in &map {
            if names.len() < MAX_COLUMNS && !names.contains(key) {
                names.push(key.clone());
            }
        }
        objects.push(map);
    }
    let columns = names
        .iter()
        .map(|name| Column {
            name: cell(name),
            kind: infer_json_kind(objects.iter().filter_map(|o| field(o, name))).to_owned(),
        })
        .collect();
    let rows = objects
        .iter()
        .map(|o| {
            names
                .iter()
                .map(|name| match field(o, name) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(cell(s)),
                    Some(other) => Some(cell(&other.to_string())),
                })
                .collect()
        })
        .collect();
    Ok((columns, rows))
}

/// A JSON object's members in the order the text gives them.
struct Ordered(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    out.push(member);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// The last value of `key` in an object (JSON's rule for repeated keys).
fn field<'a>(object: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    object.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn infer_json_kind<'a>(values: impl Iterator<Item = &'a Value>) -> &'static str {
    let mut kind: Option<&'static str> = None;
    for v in values {
        let this = match v {
            Value::Null => continue,
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
            Value::Number(_) => "float64",
            Value::String(_) => "string",
            Value::Array(_) => "list",
            Value::Object(_) => "struct",
        };
        kind = Some(match (kind, this) {
            (None, k) => k,
            (Some(a), b) if a == b => a,
            (Some("int64"), "float64") | (Some("float64"), "int64") => "float64",
            _ => "json",
        });
    }
    kind.unwrap_or("null")
}

/// Parquet: the footer, then row groups until [`MAX_ROWS`] rows are read.
async fn parquet_preview(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
    size: u64,
) -> Result<std::result::Result<Preview, Unpreviewable>> {
    let malformed = |e: parquet::errors::ParquetError| Unpreviewable::Malformed(e.to_string());
    if size < 12 {
        return Ok(Err(Unpreviewable::Malformed("file too short".into())));
    }
    let tail = fetch(hub, repo, entry, size - 8..size).await?;
    if &tail[4..] != b"PAR1" {
        return Ok(Err(Unpreviewable::Malformed(
            "no Parquet footer (magic bytes missing)".into(),
        )));
    }
    let footer_len = u64::from(u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")));
    if footer_len + 8 > size.min(MAX_PARQUET_FOOTER) {
        return Ok(Err(if footer_len + 8 > size {
            Unpreviewable::Malformed("footer longer than the file".into())
        } else {
            Unpreviewable::TooLarge
        }));
    }
    let footer_start = size - 8 - footer_len;
    let footer = fetch(hub, repo, entry, footer_start..size).await?;
    let mut file = Sparse {
        len: size,
        parts: vec![(footer_start, footer)],
    };
    // Which row groups to read: in order, until they hold enough rows.
    let (ranges, total_rows) = {
        use parquet::file::reader::FileReader;
        let reader = match parquet::file::serialized_reader::SerializedFileReader::new(file.clone())
        {
            Ok(r) => r,
            Err(e) => return Ok(Err(malformed(e))),
        };
        let meta = reader.metadata();
        let mut ranges = Vec::new();
        let (mut rows, mut bytes) = (0u64, 0u64);
        for group in meta.row_groups() {
            if rows >= MAX_ROWS as u64 {
                break;
            }
            let range = group
                .columns()
                .iter()
                .fold(None, |acc: Option<Range<u64>>, c| {
                    let (start, len) = c.byte_range();
                    let r = start..start + len;
                    Some(match acc {
                        None => r,
                        Some(a) => a.start.min(r.start)..a.end.max(r.end),
                    })
                });
            let Some(range) = range else { continue };
            if range.end > footer_start {
                return Ok(Err(Unpreviewable::Malformed(
                    "a row group lies outside the file".into(),
                )));
            }
            bytes += range.end - range.start;
            if bytes > MAX_PARQUET_BYTES {
                if ranges.is_empty() {
                    return Ok(Err(Unpreviewable::TooLarge));
                }
                break;
            }
            rows += group.num_rows().max(0) as u64;
            ranges.push(range);
        }
        (ranges, meta.file_metadata().num_rows().max(0) as u64)
    };
    let groups = ranges.len();
    for range in ranges {
        let bytes = fetch(hub, repo, entry, range.clone()).await?;
        file.parts.push((range.start, bytes));
    }
    let decoded = tokio::task::spawn_blocking(move || decode_parquet(file, groups)).await?;
    Ok(decoded.map(|(columns, rows)| Preview {
        format: Format::Parquet,
        columns,
        rows,
        total_rows: Some(total_rows),
    }))
}

/// Decodes the first rows of the first `groups` row groups of `file`.
fn decode_parquet(file: Sparse, groups: usize) -> std::result::Result<Table, Unpreviewable> {
    use parquet::file::reader::FileReader;
    let malformed = |e: parquet::errors::ParquetError| Unpreviewable::Malformed(e.to_string());
    let reader =
        parquet::file::serialized_reader::SerializedFileReader::new(file).map_err(malformed)?;
    let schema = reader.metadata().file_metadata().schema_descr();
    let columns: Vec<Column> = schema
        .root_schema()
        .get_fields()
        .iter()
        .take(MAX_COLUMNS)
        .map(|f| Column {
            name: cell(f.name()),
            kind: parquet_kind(f),
        })
        .collect();
    let mut rows = Vec::new();
    for i in 0..groups {
        let group = reader.get_row_group(i).map_err(malformed)?;
        for row in group.get_row_iter(None).map_err(malformed)? {
            if rows.len() == MAX_ROWS {
                return Ok((columns, rows));
            }
            let row = row.map_err(malformed)?;
            rows.push(
                row.get_column_iter()
                    .take(MAX_COLUMNS)
                    .map(|(_, field)| parquet_cell(field))
                    .collect(),
            );
        }
    }
    Ok((columns, rows))
}

fn parquet_cell(field: &parquet::record::Field) -> Option<String> {
    use parquet::record::Field;
    match field {
        Field::Null => None,
        Field::Str(s) => Some(cell(s)),
        Field::Bytes(b) => Some(match std::str::from_utf8(b.data()) {
            Ok(s) => cell(s),
            Err(_) => format!("<{} bytes>", b.len()),
        }),
        other => Some(cell(&other.to_string())),
    }
}

/// A column's type as the schema gives it: the logical type where there is
/// one (`string`, `int8`, `timestamp`, `list`, ...), else the physical one.
fn parquet_kind(field: &parquet::schema::types::Type) -> String {
    use parquet::basic::{ConvertedType, Type as Physical};
    let info = field.get_basic_info();
    if let Some(logical) = info.logical_type_ref() {
        let debug = format!("{logical:?}");
        if let Some(rest) = debug.strip_prefix("Integer") {
            let bits: String = rest
                .split("bit_width: ")
                .nth(1)
                .unwrap_or("")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let unsigned = rest.contains("is_signed: false");
            return format!("{}int{bits}", if unsigned { "u" } else { "" });
        }
        let name: String = debug
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        return name.to_ascii_lowercase();
    }
    match info.converted_type() {
        ConvertedType::UTF8 => return "string".into(),
        ConvertedType::LIST => return "list".into(),
        ConvertedType::MAP | ConvertedType::MAP_KEY_VALUE => return "map".into(),
        _ => {}
    }
    if !field.is_primitive() {
        return "struct".into();
    }
    match field.get_physical_type() {
        Physical::BOOLEAN => "bool",
        Physical::INT32 => "int32",
        Physical::INT64 => "int64",
        Physical::INT96 => "int96",
        Physical::FLOAT => "float",
        Physical::DOUBLE => "double",
        Physical::BYTE_ARRAY => "binary",
        Physical::FIXED_LEN_BYTE_ARRAY => "fixed_binary",
    }
    .into()
}

/// The parts of a file that were fetched, for the Parquet reader: it asks
/// only for the footer and the column chunks of the chosen row groups.
#[derive(Clone)]
struct Sparse {
    len: u64,
    parts: Vec<(u64, Bytes)>,
}

impl Sparse {
    fn at(&self, start: u64, len: usize) -> parquet::errors::Result<Bytes> {
        if len == 0 {
            return Ok(Bytes::new());
        }
        for (offset, bytes) in &self.parts {
            let end = offset + bytes.len() as u64;
            if (*offset..end).contains(&start) {
                let from = (start - offset) as usize;
                let to = (from + len).min(bytes.len());
                return Ok(bytes.slice(from..to));
            }
        }
        Err(parquet::errors::ParquetError::General(format!(
            "read outside the fetched parts at {start}"
        )))
    }
}

impl parquet::file::reader::Length for Sparse {
    fn len(&self) -> u64 {
        self.len
    }
}

impl parquet::file::reader::ChunkReader for Sparse {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        use bytes::Buf;
        Ok(self.at(start, usize::MAX / 2)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let bytes = self.at(start, length)?;
        if bytes.len() < length {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "wanted {length} bytes at {start}"
            )));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_name() {
        assert_eq!(Format::of("data/train.CSV"), Some(Format::Csv));
        assert_eq!(Format::of("a.tsv"), Some(Format::Tsv));
        assert_eq!(Format::of("a.jsonl"), Some(Format::Jsonl));
        assert_eq!(Format::of("x/y.parquet"), Some(Format::Parquet));
        assert_eq!(Format::of("README.md"), None);
        assert_eq!(Format::of("csv"), None);
    }

    #[test]
    fn csv_with_types_and_a_cut_last_line() {
        let text = "id,text,score,ok\n1,你好,0.5,true\n2,\"a, b\",1,false\n3,cut";
        let (columns, rows) = delimited(text.as_bytes(), b',', false).unwrap();
        let kinds: Vec<_> = columns.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["int64", "string", "float64", "bool"]);
        assert_eq!(rows.len(), 2, "the cut-off line is dropped");
        assert_eq!(rows[1][1].as_deref(), Some("a, b"));
        let (_, rows) = delimited(text.as_bytes(), b',', true).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2][2], None, "missing cells are null");
    }

    #[test]
    fn tsv_and_row_limit() {
        let mut text = String::from("a\tb\n");
        for i in 0..500 {
            text.push_str(&format!("{i}\tx{i}\n"));
        }
        let (columns, rows) = delimited(text.as_bytes(), b'\t', true).unwrap();
        assert_eq!(columns[1].name, "b");
        assert_eq!(rows.len(), MAX_ROWS);
    }

    #[test]
    fn jsonl_columns_in_order_and_mixed_types() {
        let text = "{\"q\":\"问\",\"n\":1}\n\n{\"n\":2.5,\"tags\":[1]}\n{\"q\":null}\n";
        let (columns, rows) = jsonl(text.as_bytes(), true).unwrap();
        let names: Vec<_> = columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind.as_str()))
            .collect();
        assert_eq!(names, [("q", "string"), ("n", "float64"), ("tags", "list")]);
        assert_eq!(rows[1][2].as_deref(), Some("[1]"));
        assert_eq!(rows[2][0], None);
        assert!(matches!(
            jsonl(b"[1,2]\n", true),
            Err(Unpreviewable::Malformed(m)) if m.contains("line 1")
        ));
        assert!(matches!(
            jsonl(b"{nope\n", true),
            Err(Unpreviewable::Malformed(_))
        ));
    }

    #[test]
    fn a_first_line_longer_than_the_window_is_too_large() {
        let line = "x".repeat(100);
        assert_eq!(
            delimited(line.as_bytes(), b',', false),
            Err(Unpreviewable::TooLarge)
        );
        assert_eq!(jsonl(line.as_bytes(), false), Err(Unpreviewable::TooLarge));
    }

    #[test]
    fn sparse_reads_only_fetched_parts() {
        let file = Sparse {
            len: 100,
            parts: vec![
                (10, Bytes::from_static(b"0123456789")),
                (90, Bytes::from_static(b"abcdefghij")),
            ],
        };
        use parquet::file::reader::ChunkReader;
        assert_eq!(&file.get_bytes(12, 3).unwrap()[..], b"234");
        assert_eq!(&file.get_bytes(95, 5).unwrap()[..], b"fghij");
        assert!(file.get_bytes(50, 1).is_err(), "never fetched");
        assert!(file.get_bytes(18, 5).is_err(), "runs past a part");
    }

    #[test]
    fn long_cells_are_cut() {
        let long = "长".repeat(MAX_CELL_CHARS + 5);
        let c = cell(&long);
        assert_eq!(c.chars().count(), MAX_CELL_CHARS + 1);
        assert!(c.ends_with('…'));
    }
}
