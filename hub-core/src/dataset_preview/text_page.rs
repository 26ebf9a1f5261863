//! CSV, TSV and JSON Lines by page: the file is streamed from its start and
//! cut into records without parsing them (a record ends at a newline; in
//! CSV and TSV only at one outside double quotes, as the `csv` crate reads
//! them). Only the header and the page's records are kept, at most
//! [`TEXT_WINDOW`] bytes, and `text` parses them. At most [`TEXT_SCAN`]
//! bytes are read: files no larger are read whole and their rows counted,
//! larger ones only until a row after the page is seen.

use futures::StreamExt;

use super::{Format, MAX_ROWS, Preview, RowCount, TEXT_SCAN, TEXT_WINDOW, Unpreviewable, text};
use crate::error::Result;
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;
use crate::repos::content::{self, TreeEntry};

/// Page `page` of a text file of `size` bytes.
pub(super) async fn preview(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
    size: u64,
    format: Format,
    page: u64,
) -> Result<std::result::Result<Preview, Unpreviewable>> {
    let first = page.saturating_mul(MAX_ROWS as u64);
    let after_page = first.saturating_add(MAX_ROWS as u64);
    let count_all = size <= TEXT_SCAN;
    let mut cutter = Cutter::new(format != Format::Jsonl, first);
    let end = size.min(TEXT_SCAN);
    if end > 0 {
        let mut stream = content::read(hub, repo, entry, Some(0..end)).await?;
        while let Some(chunk) = stream.next().await {
            cutter.feed(&chunk?);
            if !count_all && cutter.counted > after_page {
                break;
            }
        }
    }
    let complete = cutter.read >= size;
    let cut = cutter.finish(complete);
    let beyond_scan = !complete && cut.counted <= first;
    if cut.too_large || (cut.overflow && cut.rows == 0) || (beyond_scan && first == 0) {
        return Ok(Err(Unpreviewable::TooLarge));
    }
    let parsed = match format {
        Format::Csv => text::delimited(&cut.kept, b',', true),
        Format::Tsv => text::delimited(&cut.kept, b'\t', true),
        _ => text::jsonl(&cut.kept, true),
    };
    Ok(parsed.map(|(columns, rows)| Preview {
        format,
        columns,
        rows,
        page,
        total: if complete {
            RowCount::Exact(cut.counted)
        } else {
            RowCount::AtLeast(cut.counted)
        },
        more: !beyond_scan && (cut.counted > after_page || !complete),
        beyond_scan,
        cut: cut.overflow,
    }))
}

/// What was kept of a file and what was counted.
#[derive(Debug)]
struct Cut {
    /// The header (CSV, TSV) and the page's records.
    kept: Vec<u8>,
    /// The page's records kept.
    rows: usize,
    /// Records (not counting the header or blank lines) that were read whole.
    counted: u64,
    /// Some of the page's records did not fit in the window.
    overflow: bool,
    /// The header did not fit in the window, or never ended.
    too_large: bool,
}

/// Cuts a stream of bytes into records, keeping the header and those of
/// the page.
struct Cutter {
    /// Double quotes hide newlines (CSV, TSV).
    quoting: bool,
    /// The index of the page's first record.
    first: u64,
    header_pending: bool,
    in_quotes: bool,
    /// The current record is only whitespace so far.
    blank: bool,
    /// The current record's bytes are kept.
    keeping: bool,
    /// Where the current record starts in `kept`.
    mark: usize,
    kept: Vec<u8>,
    rows: usize,
    counted: u64,
    read: u64,
    overflow: bool,
    too_large: bool,
}

impl Cutter {
    fn new(header: bool, first: u64) -> Cutter {
        let mut cutter = Cutter {
            quoting: header,
            first,
            header_pending: header,
            in_quotes: false,
            blank: true,
            keeping: false,
            mark: 0,
            kept: Vec::new(),
            rows: 0,
            counted: 0,
            read: 0,
            overflow: false,
            too_large: false,
        };
        cutter.start_record();
        cutter
    }

    fn feed(&mut self, chunk: &[u8]) {
        let mut from = 0;
        for (i, &b) in chunk.iter().enumerate() {
            if !b.is_ascii_whitespace() {
                self.blank = false;
            }
            if self.quoting && b == b'"' {
                self.in_quotes = !self.in_quotes;
            } else if b == b'\n' && !self.in_quotes {
                self.keep(&chunk[from..=i]);
                from = i + 1;
                self.end_record();
            }
        }
        self.keep(&chunk[from..]);
        self.read += chunk.len() as u64;
    }

    /// The cut, once the stream ends: a last record without a newline
    /// counts only if the file was read to its end.
    fn finish(mut self, complete: bool) -> Cut {
        if complete {
            self.end_record();
        } else {
            if self.keeping {
                self.kept.truncate(self.mark);
            }
            self.too_large |= self.header_pending;
        }
        Cut {
            kept: self.kept,
            rows: self.rows,
            counted: self.counted,
            overflow: self.overflow,
            too_large: self.too_large,
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        if !self.keeping || bytes.is_empty() {
            return;
        }
        if (self.kept.len() + bytes.len()) as u64 > TEXT_WINDOW {
            self.overflow = true;
            self.keeping = false;
            self.kept.truncate(self.mark);
            return;
        }
        self.kept.extend_from_slice(bytes);
    }

    fn end_record(&mut self) {
        if self.blank {
            if self.keeping {
                self.kept.truncate(self.mark);
            }
        } else if self.header_pending {
            self.header_pending = false;
            self.too_large |= !self.keeping;
        } else {
            if self.keeping {
                self.rows += 1;
            }
            self.counted += 1;
        }
        self.start_record();
    }

    fn start_record(&mut self) {
        self.blank = true;
        self.in_quotes = false;
        self.mark = self.kept.len();
        let in_page =
            (self.first..self.first.saturating_add(MAX_ROWS as u64)).contains(&self.counted);
        self.keeping = self.header_pending || (in_page && !self.overflow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &[u8], header: bool, first: u64, chunk: usize) -> Cut {
        let mut cutter = Cutter::new(header, first);
        for part in text.chunks(chunk) {
            cutter.feed(part);
        }
        cutter.finish(true)
    }

    #[test]
    fn keeps_the_header_and_the_page_in_any_chunking() {
        let mut csv = String::from("id,text\n");
        for i in 0..250 {
            csv.push_str(&format!("{i},\"line\n{i}\"\n"));
            if i % 7 == 0 {
                csv.push_str("\r\n");
            }
        }
        for chunk in [1, 3, 4096] {
            let c = cut(csv.as_bytes(), true, 200, chunk);
            assert_eq!((c.rows, c.counted), (50, 250), "chunks of {chunk}");
            let (_, rows) = text::delimited(&c.kept, b',', true).unwrap();
            assert_eq!(rows.len(), 50);
            assert_eq!(rows[0][0].as_deref(), Some("200"));
            assert_eq!(rows[0][1].as_deref(), Some("line\n200"), "quoted newline");
            assert_eq!(rows[49][0].as_deref(), Some("249"));
        }
    }

    #[test]
    fn jsonl_pages_and_a_last_line_without_newline() {
        let lines: Vec<String> = (0..205).map(|i| format!("{{\"n\":{i}}}")).collect();
        let text = lines.join("\n");
        let c = cut(text.as_bytes(), false, 200, 10);
        assert_eq!((c.rows, c.counted), (5, 205));
        let (_, rows) = text::jsonl(&c.kept, true).unwrap();
        assert_eq!(rows[4][0].as_deref(), Some("204"));
        // Read only in part: the cut-off last line is not counted.
        let mut cutter = Cutter::new(false, 0);
        cutter.feed(b"{\"n\":1}\n{\"n\":");
        let c = cutter.finish(false);
        assert_eq!((c.rows, c.counted), (1, 1));
        assert_eq!(c.kept, b"{\"n\":1}\n");
    }

    #[test]
    fn rows_beyond_the_window_are_left_off() {
        let row = format!("{}\n", "x".repeat(TEXT_WINDOW as usize / 3));
        let text = format!("h\n{}", row.repeat(5));
        let c = cut(text.as_bytes(), true, 0, 1 << 16);
        assert!(c.overflow && !c.too_large);
        assert_eq!((c.rows, c.counted), (2, 5));
        let header = format!("{}\n1\n", "h".repeat(TEXT_WINDOW as usize + 1));
        assert!(cut(header.as_bytes(), true, 0, 1 << 16).too_large);
    }
}
