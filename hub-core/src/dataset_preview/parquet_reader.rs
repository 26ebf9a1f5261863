//! Parquet: the footer, then the column chunks of the row groups that hold
//! the page's rows (the footer gives each group's row count), checked page
//! by page (`pages`) before the parquet crate decodes them.

use std::ops::Range;

use bytes::Bytes;
use parquet::basic::Compression;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::reader::ChunkReader;
use tokio::sync::Semaphore;

use super::{
    Column, Format, MAX_COLUMNS, MAX_PARQUET_BYTES, MAX_PARQUET_FOOTER, MAX_PARQUET_UNCOMPRESSED,
    MAX_ROWS, Preview, RowCount, Table, Unpreviewable, cell, fetch, pages,
};
use crate::error::Result;
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;
use crate::repos::content::TreeEntry;

/// Parquet previews fetched and decoded at once in this process.
const CONCURRENT_DECODES: usize = 2;
static DECODING: Semaphore = Semaphore::const_new(CONCURRENT_DECODES);

/// The row groups read for a page: each group's index, byte range and
/// column chunks.
type Groups = Vec<(usize, Range<u64>, Vec<ColumnChunk>)>;

/// Parquet: the footer, then the row groups of page `page`.
pub(super) async fn preview(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
    size: u64,
    page: u64,
) -> Result<std::result::Result<Preview, Unpreviewable>> {
    let first = page.saturating_mul(MAX_ROWS as u64);
    let after_page = first.saturating_add(MAX_ROWS as u64);
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
    // Which row groups to read: those holding rows of the page.
    let (groups, skip, total_rows) = {
        use parquet::file::reader::FileReader;
        let reader = match parquet::file::serialized_reader::SerializedFileReader::new(file.clone())
        {
            Ok(r) => r,
            Err(e) => return Ok(Err(malformed(e))),
        };
        let meta = reader.metadata();
        let mut groups: Groups = Vec::new();
        let (mut rows, mut bytes, mut expanded) = (0u64, 0u64, 0u64);
        // Rows of the first group read that come before the page.
        let mut skip = 0;
        for (index, group) in meta.row_groups().iter().enumerate() {
            let group_start = rows;
            rows = rows.saturating_add(group.num_rows().max(0) as u64);
            if rows <= first {
                continue;
            }
            if group_start >= after_page {
                break;
            }
            let mut chunks = Vec::new();
            for column in group.columns() {
                match ColumnChunk::of(column, footer_start) {
                    Some(chunk) => chunks.push(chunk),
                    None => {
                        return Ok(Err(Unpreviewable::Malformed(
                            "a column chunk lies outside the file".into(),
                        )));
                    }
                }
            }
            let Some(range) = chunks
                .iter()
                .map(|c| c.range.clone())
                .reduce(|a, b| a.start.min(b.start)..a.end.max(b.end))
            else {
                continue;
            };
            bytes += range.end - range.start;
            // What the metadata says the pages expand to; the page check
            // below holds the pages themselves to the same budget.
            expanded += group
                .columns()
                .iter()
                .map(|c| c.uncompressed_size().max(0) as u64)
                .sum::<u64>();
            if bytes > MAX_PARQUET_BYTES || expanded > MAX_PARQUET_UNCOMPRESSED {
                if groups.is_empty() {
                    return Ok(Err(Unpreviewable::TooLarge));
                }
                break;
            }
            if groups.is_empty() {
                skip = first.saturating_sub(group_start) as usize;
            }
            groups.push((index, range, chunks));
        }
        let total = meta.file_metadata().num_rows().max(0) as u64;
        (groups, skip, total)
    };
    // Each preview may hold its chunks and their pages expanded: a few at a
    // time, so that many visitors at once cannot add up to gigabytes.
    let _permit = DECODING.acquire().await.expect("never closed");
    for (_, range, _) in &groups {
        let bytes = fetch(hub, repo, entry, range.clone()).await?;
        file.parts.push((range.start, bytes));
    }
    let decoded = tokio::task::spawn_blocking(move || {
        check_pages(&file, &groups)?;
        let indices: Vec<usize> = groups.iter().map(|(i, ..)| *i).collect();
        decode_parquet(file, &indices, skip)
    })
    .await?;
    Ok(decoded.map(|(columns, rows)| Preview {
        format: Format::Parquet,
        more: first + (rows.len() as u64) < total_rows,
        // Row groups past the byte budgets were not read.
        cut: rows.len() < MAX_ROWS && first + (rows.len() as u64) < total_rows,
        columns,
        rows,
        page,
        total: RowCount::Exact(total_rows),
        beyond_scan: false,
    }))
}

/// One column chunk of a row group: where its pages lie and how they are
/// compressed.
struct ColumnChunk {
    range: Range<u64>,
    codec: Compression,
}

impl ColumnChunk {
    /// The chunk `column` describes, if it lies before `end` (the footer).
    /// (The crate's `byte_range` panics on negative offsets.)
    fn of(column: &ColumnChunkMetaData, end: u64) -> Option<ColumnChunk> {
        let start = column
            .dictionary_page_offset()
            .unwrap_or(column.data_page_offset());
        let start = u64::try_from(start).ok()?;
        let len = u64::try_from(column.compressed_size()).ok()?;
        let range = start..start.checked_add(len)?;
        (range.end <= end).then_some(ColumnChunk {
            range,
            codec: column.compression(),
        })
    }
}

/// Walks every page of the chosen chunks (see `pages`) before decoding.
fn check_pages(file: &Sparse, groups: &Groups) -> std::result::Result<(), Unpreviewable> {
    let mut budget = MAX_PARQUET_UNCOMPRESSED;
    check_chunks(
        file,
        groups.iter().flat_map(|(_, _, chunks)| chunks),
        &mut budget,
    )
}

/// Walks the pages of `chunks`, one chunk read at a time, taking what they
/// expand to from `budget`.
fn check_chunks<'c, R: ChunkReader>(
    file: &R,
    chunks: impl IntoIterator<Item = &'c ColumnChunk>,
    budget: &mut u64,
) -> std::result::Result<(), Unpreviewable> {
    for chunk in chunks {
        let len = (chunk.range.end - chunk.range.start) as usize;
        let bytes = file
            .get_bytes(chunk.range.start, len)
            .map_err(|e| Unpreviewable::Malformed(e.to_string()))?;
        pages::check_chunk(&bytes, chunk.codec, budget).map_err(|r| match r {
            pages::Refusal::TooLarge => Unpreviewable::TooLarge,
            pages::Refusal::Malformed(m) => Unpreviewable::Malformed(m),
        })?;
    }
    Ok(())
}

/// Walks every page of row group `group` of `file` (see `pages`) before
/// the parquet crate decodes it, for readers of whole files (a fine-tune's
/// training data): its column chunks together may hold at most `budget`
/// bytes, compressed and expanded. One chunk is held at a time.
pub(crate) fn check_row_group<R: ChunkReader>(
    file: &R,
    group: &parquet::file::metadata::RowGroupMetaData,
    budget: u64,
) -> std::result::Result<(), Unpreviewable> {
    let chunks = group
        .columns()
        .iter()
        .map(|c| ColumnChunk::of(c, file.len()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Unpreviewable::Malformed("a column chunk lies outside the file".into()))?;
    let stored: u64 = chunks.iter().map(|c| c.range.end - c.range.start).sum();
    if stored > budget {
        return Err(Unpreviewable::TooLarge);
    }
    let mut left = budget;
    check_chunks(file, &chunks, &mut left)
}

/// Decodes up to [`MAX_ROWS`] rows of row groups `groups` of `file`, after
/// the first `skip` rows of the first.
fn decode_parquet(
    file: Sparse,
    groups: &[usize],
    mut skip: usize,
) -> std::result::Result<Table, Unpreviewable> {
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
    for &i in groups {
        let group = reader.get_row_group(i).map_err(malformed)?;
        for row in group.get_row_iter(None).map_err(malformed)? {
            if rows.len() == MAX_ROWS {
                return Ok((columns, rows));
            }
            let row = row.map_err(malformed)?;
            if skip > 0 {
                skip -= 1;
                continue;
            }
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
}
