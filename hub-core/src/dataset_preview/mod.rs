//! The dataset viewer's reader: one page of [`MAX_ROWS`] rows (page `n`
//! holds rows `n * MAX_ROWS ..`) of a CSV, TSV, JSON Lines or Parquet file,
//! with column names and types, reading only what is needed.
//!
//! * CSV, TSV, JSONL: the file is streamed from its start and cut into
//!   records without parsing them (`text_page`); only the header and the
//!   page's records are kept (at most [`TEXT_WINDOW`] bytes) and parsed.
//!   At most [`TEXT_SCAN`] bytes are read for one page: a page beyond them
//!   is not shown, and says so. Types are inferred from the rows shown.
//! * Parquet: the footer first (one ranged read), then only the row groups
//!   that hold the page's rows, never more than [`MAX_PARQUET_BYTES`] read
//!   and [`MAX_PARQUET_UNCOMPRESSED`] decoded, every page's sizes checked
//!   before decoding (`pages`). Types come from the file's schema.
//!
//! A file that cannot be previewed gives an [`Unpreviewable`] reason, never
//! an error page: the viewer says why in the visitor's language.

mod pages;
mod parquet_reader;
pub mod splits;
mod text;
mod text_page;
mod thrift;
use std::ops::Range;

pub(crate) use parquet_reader::check_row_group;

use bytes::Bytes;
use futures::StreamExt;

use crate::error::Result;
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;
use crate::repos::content::{self, TreeEntry};

/// Rows shown.
pub const MAX_ROWS: usize = 100;
/// Most bytes of a text file's header and page rows kept for parsing.
pub const TEXT_WINDOW: u64 = 1 << 20;
/// Most bytes of a text file read for one page: pages that start beyond
/// them are not shown (the viewer says so).
pub const TEXT_SCAN: u64 = 16 << 20;
/// Longest Parquet footer read.
pub const MAX_PARQUET_FOOTER: u64 = 8 << 20;
/// Most bytes of row groups read for one preview.
pub const MAX_PARQUET_BYTES: u64 = 64 << 20;
/// Most bytes the pages of those row groups may expand to when decoded.
pub const MAX_PARQUET_UNCOMPRESSED: u64 = 64 << 20;
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
    /// The page shown (from 0): its rows start at `page * MAX_ROWS`.
    pub page: u64,
    /// The file's rows, as far as they were counted.
    pub total: RowCount,
    /// Whether rows follow this page.
    pub more: bool,
    /// The page starts beyond the [`TEXT_SCAN`] bytes read of a text file,
    /// so its rows are not shown.
    pub beyond_scan: bool,
    /// Some of the page's rows were left off to stay within the limits
    /// ([`TEXT_WINDOW`], [`MAX_PARQUET_BYTES`], [`MAX_PARQUET_UNCOMPRESSED`]).
    pub cut: bool,
}

impl Preview {
    /// The index (from 0) of the first row of the page.
    pub fn first_row(&self) -> u64 {
        self.page.saturating_mul(MAX_ROWS as u64)
    }
}

/// How many rows a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowCount {
    /// Exactly this many (Parquet's footer, or a text file read whole).
    Exact(u64),
    /// At least this many: a text file read only in part.
    AtLeast(u64),
}

/// The split a data file belongs to, by its name as the `datasets` library
/// reads it without a config: a word (between `/ . _ -` or the ends) of its
/// path naming the split, the last such word deciding (`data/train/x.csv`,
/// `test-00000-of-00001.parquet`).
pub fn split_of(path: &str) -> Option<&'static str> {
    path.rsplit(['/', '.', '_', '-'])
        .find_map(|word| match word.to_ascii_lowercase().as_str() {
            "train" | "training" => Some("train"),
            "validation" | "valid" | "val" | "dev" => Some("validation"),
            "test" | "testing" | "eval" | "evaluation" => Some("test"),
            _ => None,
        })
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

/// Page `page` (from 0) of file `entry` (already resolved at a commit the
/// caller may read).
pub async fn preview(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
    page: u64,
) -> Result<std::result::Result<Preview, Unpreviewable>> {
    let Some(format) = Format::of(&entry.path) else {
        return Ok(Err(Unpreviewable::UnknownFormat));
    };
    let size = entry.content_size();
    if format == Format::Parquet {
        return parquet_reader::preview(hub, repo, entry, size, page).await;
    }
    text_page::preview(hub, repo, entry, size, format, page).await
}

/// The bytes of `range` of a file, gathered (the caller bounds the range).
pub(crate) async fn fetch(
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
    fn splits_from_file_names() {
        assert_eq!(split_of("data/train-00000-of-00002.parquet"), Some("train"));
        assert_eq!(split_of("validation.jsonl"), Some("validation"));
        assert_eq!(split_of("data/dev/part.csv"), Some("validation"));
        assert_eq!(split_of("test.csv"), Some("test"));
        assert_eq!(split_of("contest.csv"), None);
        assert_eq!(split_of("data.csv"), None);
    }

    #[test]
    fn long_cells_are_cut() {
        let long = "长".repeat(MAX_CELL_CHARS + 5);
        let c = cell(&long);
        assert_eq!(c.chars().count(), MAX_CELL_CHARS + 1);
        assert!(c.ends_with('…'));
    }
}
