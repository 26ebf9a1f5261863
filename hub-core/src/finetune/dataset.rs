//! Training files: validated and converted, in one streaming pass, into the
//! canonical chat JSONL the trainer reads (one `{"messages": [{"role",
//! "content", "weight"?}, …]}` per line, `weight` only where the file gave
//! one), with a [`Report`] in the OpenAI cookbook's style: errors counted by
//! [`Category`] with the first line numbers, token statistics.
//!
//! Files: JSON Lines, a JSON array (`.json`; a `.json` file that does not
//! start with `[` is read as JSON Lines), CSV with a header row, Parquet.
//! Numbers in the report are 1-based: the line of a JSON Lines file, the
//! element of a JSON array, the data row of a CSV or Parquet file.
//!
//! Examples, detected one by one (first match wins):
//! * OpenAI chat: `messages` with `role`/`content` (a string, or a list of
//!   `{"type": "text", "text"}` parts) and `weight` 0 or 1 on assistant
//!   turns. Roles: system, user, assistant, tool. Tool calls are not taken.
//! * ShareGPT: `conversations` (or `conversation`) with `from`/`value`
//!   (human, gpt, system, observation, function_call; `role`/`content`
//!   keys too) and an optional top-level `system`: observation becomes a
//!   tool turn, function_call an assistant turn.
//! * Alpaca: `instruction`, `input`, `output` (+ `system`, + `history` as
//!   `[[query, response], …]`): history pairs first, then the user turn
//!   `instruction\ninput` (just `instruction` when `input` is empty), then
//!   the assistant turn `output`.
//! * prompt/completion: strings (a user and an assistant turn) or message
//!   lists (TRL's conversational form), joined.
//!
//! `messages`, `conversations` and `history` given as text (a CSV cell, a
//! Parquet string column) are parsed as JSON. A [`ColumnMapping`] renames
//! columns to these fields (`{"prompt": "question", "completion":
//! "answer"}`); with one, only the mapped columns are read.
//!
//! Bounds: a line (or element, or row) of more than [`MAX_LINE_BYTES`] is an
//! error and is never held whole; a Parquet row group is decoded only after
//! its pages were checked against [`MAX_PARQUET_GROUP_BYTES`]. Nothing else
//! of the file is held.
//!
//! Any error rejects the file: the report says `accepted: false`, writing
//! stops at the first error, and what was written must be thrown away.
//! Examples longer than `max_length` tokens are only a warning
//! ([`Category::TooLong`]): the trainer cuts them.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, BufRead, Read, Write};
use std::rc::Rc;

use parquet::file::reader::ChunkReader;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use worker_protocol::ChatMessage;

use super::tokens::TokenCounter;
use crate::dataset_preview::{Unpreviewable, check_row_group};

/// Longest line (JSON Lines), element (JSON array) or row (CSV, Parquet,
/// as canonical JSON) of a training file.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Fewest examples of a training file (OpenAI's minimum).
pub const MIN_EXAMPLES: u64 = 10;
/// Line numbers kept per category.
pub const LINES_KEPT: usize = 10;
/// Most bytes one Parquet row group may hold, compressed or expanded.
pub const MAX_PARQUET_GROUP_BYTES: u64 = 256 << 20;

/// Bytes a CSV or JSON reader may pull ahead of the record it is in (its
/// own buffer), on top of [`MAX_LINE_BYTES`].
const READ_AHEAD: usize = 64 << 10;

/// The roles of canonical messages.
const ROLES: &[&str] = &["system", "user", "assistant", "tool"];

/// How a file is stored, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Jsonl,
    Json,
    Csv,
    Parquet,
}

impl FileFormat {
    pub fn of(path: &str) -> Option<FileFormat> {
        let lower = path.to_ascii_lowercase();
        Some(match lower.rsplit_once('.')?.1 {
            "jsonl" | "ndjson" => FileFormat::Jsonl,
            "json" => FileFormat::Json,
            "csv" => FileFormat::Csv,
            "parquet" => FileFormat::Parquet,
            _ => return None,
        })
    }
}

/// How examples are written (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExampleFormat {
    Messages,
    #[serde(rename = "sharegpt")]
    ShareGpt,
    Alpaca,
    PromptCompletion,
    /// Examples of more than one kind.
    Mixed,
}

/// What is wrong with an example (or, for the last few, with the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    InvalidJson,
    TooLongLine,
    NotAnObject,
    UnknownFormat,
    MissingMessages,
    MissingRole,
    MissingContent,
    UnrecognizedRole,
    SystemNotFirst,
    EmptyAssistant,
    NoAssistantTurn,
    BadWeight,
    /// The base model's chat template refuses the conversation.
    TemplateError,
    /// A CSV or Parquet row that cannot be read.
    InvalidRow,
    /// The file is not what its name says.
    InvalidFile,
    /// The column mapping names a field we do not know, or a column the
    /// file does not have.
    UnknownColumn,
    TooFewExamples,
    /// A warning: longer than `max_length` tokens, cut by the trainer.
    TooLong,
}

impl Category {
    /// One English sentence for the report's reader.
    pub fn describe(self) -> &'static str {
        match self {
            Category::InvalidJson => "not valid JSON",
            Category::TooLongLine => {
                "longer than 1 MiB (for Parquet: a row group larger than 256 MiB)"
            }
            Category::NotAnObject => "not a JSON object",
            Category::UnknownFormat => {
                "none of messages, conversations, instruction, or prompt with completion"
            }
            Category::MissingMessages => "the message list is missing or empty",
            Category::MissingRole => "a message has no role",
            Category::MissingContent => "a message has no text content",
            Category::UnrecognizedRole => "a role other than system, user, assistant or tool",
            Category::SystemNotFirst => "a system message that is not the first",
            Category::EmptyAssistant => "an assistant message with empty content",
            Category::NoAssistantTurn => "no assistant message to train on",
            Category::BadWeight => "a weight other than 0 or 1, or on a non-assistant message",
            Category::TemplateError => "the base model's chat template refuses the conversation",
            Category::InvalidRow => "a row that cannot be read",
            Category::InvalidFile => "the file cannot be read in its format",
            Category::UnknownColumn => "the column mapping names a missing column or field",
            Category::TooFewExamples => "fewer examples than the minimum",
            Category::TooLong => "longer than the maximum length: cut when training",
        }
    }
}

/// How often a category occurred, and where first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub count: u64,
    /// The first [`LINES_KEPT`] line (element, row) numbers; empty for a
    /// category of the whole file.
    pub lines: Vec<u64>,
}

/// Tokens as the trainer sees them ([`TokenCounter`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenStats {
    /// Of one epoch, each example cut at `max_length`: what is trained on
    /// (and billed) per epoch.
    pub total: u64,
    /// The longest example, before the cut.
    pub max: u64,
    /// `total` per example.
    pub mean: f64,
    /// Examples longer than `max_length`.
    pub truncated: u64,
}

/// What validation found; returned by the API and shown on the job page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// No errors: the converted output is complete and may be trained on.
    pub accepted: bool,
    /// Lines (elements, rows) that hold an example, valid or not.
    pub examples: u64,
    pub file_format: FileFormat,
    /// `None` when no example was read.
    pub format: Option<ExampleFormat>,
    pub errors: BTreeMap<Category, Issue>,
    pub warnings: BTreeMap<Category, Issue>,
    /// `None` when no counter was given.
    pub tokens: Option<TokenStats>,
}

/// Fields of an example, each read from the named column of a CSV or
/// Parquet file (or key of a JSON object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ColumnMapping(pub BTreeMap<String, String>);

impl ColumnMapping {
    /// The fields a column may be mapped to.
    pub const FIELDS: &[&str] = &[
        "messages",
        "conversations",
        "system",
        "instruction",
        "input",
        "output",
        "history",
        "prompt",
        "completion",
    ];

    /// `row` with its mapped columns renamed and the others dropped (as
    /// given when there is no mapping).
    fn apply(&self, mut row: Map<String, Value>) -> Map<String, Value> {
        if self.0.is_empty() {
            return row;
        }
        self.0
            .iter()
            .filter_map(|(field, column)| Some((field.clone(), row.remove(column)?)))
            .collect()
    }
}

/// How to validate.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub columns: &'a ColumnMapping,
    /// The base model's counter; `None` checks the structure only.
    pub counter: Option<&'a TokenCounter>,
    /// Examples longer than this many tokens are cut (a warning).
    pub max_length: u32,
    /// Fewer valid examples reject the file ([`MIN_EXAMPLES`] for training
    /// files; a validation file may ask for fewer).
    pub min_examples: u64,
}

/// One canonical message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// 0 or 1, on assistant messages: whether it is trained on (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
}

/// One line of the canonical JSONL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    pub messages: Vec<Message>,
}

/// Validates and converts a file stored as `format` (any but Parquet, which
/// needs [`convert_parquet`] or [`convert_file`]), writing canonical JSONL to `out`. An error is
/// reading `input` or writing `out`; what is wrong with the file is in the
/// report.
pub fn convert(
    format: FileFormat,
    input: impl BufRead,
    out: &mut impl Write,
    options: &Options,
) -> io::Result<Report> {
    match format {
        FileFormat::Jsonl => convert_jsonl(input, out, options),
        FileFormat::Json => convert_json(input, out, options),
        FileFormat::Csv => convert_csv(input, out, options),
        FileFormat::Parquet => Err(io::Error::other("a Parquet file needs random access")),
    }
}

/// Any format, from a file on disk (what a Parquet file needs: random
/// access), buffered.
pub fn convert_file(
    format: FileFormat,
    file: std::fs::File,
    out: &mut impl Write,
    options: &Options,
) -> io::Result<Report> {
    match format {
        FileFormat::Parquet => convert_parquet(file, out, options),
        text => convert(text, io::BufReader::new(file), out, options),
    }
}

/// JSON Lines, one line at a time.
pub fn convert_jsonl(
    mut input: impl BufRead,
    out: &mut impl Write,
    options: &Options,
) -> io::Result<Report> {
    let mut v = Validator::new(FileFormat::Jsonl, out, options);
    jsonl_lines(&mut input, &mut v)?;
    v.finish()
}

/// A JSON array, one element at a time; JSON Lines if it does not start
/// with `[`.
pub fn convert_json(
    mut input: impl BufRead,
    out: &mut impl Write,
    options: &Options,
) -> io::Result<Report> {
    let mut v = Validator::new(FileFormat::Json, out, options);
    // Past a byte-order mark and whitespace, to the first byte.
    let first = loop {
        let buf = input.fill_buf()?;
        let Some(&b) = buf.first() else { break None };
        if buf.starts_with(b"\xef\xbb\xbf") {
            input.consume(3);
        } else if b.is_ascii_whitespace() {
            input.consume(1);
        } else {
            break Some(b);
        }
    };
    if first == Some(b'[') {
        json_elements(input, &mut v)?;
    } else {
        jsonl_lines(&mut input, &mut v)?;
    }
    v.finish()
}

/// CSV with a header row, one record at a time.
pub fn convert_csv(
    input: impl BufRead,
    out: &mut impl Write,
    options: &Options,
) -> io::Result<Report> {
    let mut v = Validator::new(FileFormat::Csv, out, options);
    let limit = Limit::default();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(limit.wrap(input));
    let headers: Vec<String> = match reader.byte_headers() {
        Ok(h) => h
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let name = if i == 0 {
                    name.strip_prefix(b"\xef\xbb\xbf").unwrap_or(name)
                } else {
                    name
                };
                String::from_utf8_lossy(name).into_owned()
            })
            .collect(),
        Err(e) if limit.exceeded() || !e.is_io_error() => {
            v.file_error(Category::InvalidFile);
            return v.finish();
        }
        Err(e) => return Err(into_io(e)),
    };
    if !v.columns_exist(&headers) {
        return v.finish();
    }
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    loop {
        limit.reset();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(_) if limit.exceeded() => {
                v.unreadable(Category::TooLongLine, row + 1);
                break;
            }
            Err(e) if e.is_io_error() => return Err(into_io(e)),
            Err(_) => {
                v.unreadable(Category::InvalidRow, row + 1);
                break;
            }
        }
        row += 1;
        let mut object = Map::new();
        let mut readable = true;
        for (name, cell) in headers.iter().zip(record.iter()) {
            match std::str::from_utf8(cell) {
                Ok(text) => {
                    object.insert(name.clone(), Value::String(text.to_owned()));
                }
                Err(_) => readable = false,
            }
        }
        if readable {
            v.example(row, Value::Object(object))?;
        } else {
            v.unreadable(Category::InvalidRow, row);
        }
    }
    v.finish()
}

/// Parquet, one row group at a time, each checked before it is decoded.
pub fn convert_parquet<R: ChunkReader + 'static>(
    file: R,
    out: &mut impl Write,
    options: &Options,
) -> io::Result<Report> {
    parquet_rows(file, out, options, MAX_PARQUET_GROUP_BYTES)
}

fn parquet_rows<R: ChunkReader + 'static>(
    file: R,
    out: &mut impl Write,
    options: &Options,
    group_budget: u64,
) -> io::Result<Report> {
    use parquet::file::reader::FileReader;
    let mut v = Validator::new(FileFormat::Parquet, out, options);
    // The pages are checked through one handle, decoded through the other.
    let file = Shared(std::sync::Arc::new(file));
    let reader = match parquet::file::serialized_reader::SerializedFileReader::new(file.clone()) {
        Ok(r) => r,
        Err(_) => {
            v.file_error(Category::InvalidFile);
            return v.finish();
        }
    };
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    if !v.columns_exist(&names) {
        return v.finish();
    }
    let mut row = 0u64;
    'groups: for (i, group) in reader.metadata().row_groups().iter().enumerate() {
        if let Err(refusal) = check_row_group(&file, group, group_budget) {
            v.error(
                match refusal {
                    Unpreviewable::TooLarge => Category::TooLongLine,
                    _ => Category::InvalidRow,
                },
                row + 1,
            );
            break;
        }
        let group = match reader.get_row_group(i) {
            Ok(group) => group,
            Err(_) => {
                v.error(Category::InvalidRow, row + 1);
                break;
            }
        };
        let rows = match group.get_row_iter(None) {
            Ok(rows) => rows,
            Err(_) => {
                v.error(Category::InvalidRow, row + 1);
                break;
            }
        };
        for record in rows {
            row += 1;
            let Ok(record) = record else {
                v.unreadable(Category::InvalidRow, row);
                break 'groups;
            };
            let object: Map<String, Value> = record
                .get_column_iter()
                .map(|(name, field)| (name.clone(), field_json(field)))
                .collect();
            v.example(row, Value::Object(object))?;
        }
    }
    v.finish()
}

/// A file read through two handles.
struct Shared<R>(std::sync::Arc<R>);

impl<R> Clone for Shared<R> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<R: ChunkReader> parquet::file::reader::Length for Shared<R> {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl<R: ChunkReader> ChunkReader for Shared<R> {
    type T = R::T;

    fn get_read(&self, start: u64) -> parquet::errors::Result<R::T> {
        self.0.get_read(start)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        self.0.get_bytes(start, length)
    }
}

/// A Parquet value as JSON: binary that is not UTF-8 text is null.
fn field_json(field: &parquet::record::Field) -> Value {
    use parquet::record::Field;
    match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(b) => std::str::from_utf8(b.data())
            .map(|s| Value::String(s.to_owned()))
            .unwrap_or(Value::Null),
        Field::Byte(n) => Value::from(*n),
        Field::Short(n) => Value::from(*n),
        Field::Int(n) => Value::from(*n),
        Field::Long(n) => Value::from(*n),
        Field::UByte(n) => Value::from(*n),
        Field::UShort(n) => Value::from(*n),
        Field::UInt(n) => Value::from(*n),
        Field::ULong(n) => Value::from(*n),
        Field::Float(n) => Value::from(f64::from(*n)),
        Field::Double(n) => Value::from(*n),
        Field::Group(row) => Value::Object(
            row.get_column_iter()
                .map(|(name, f)| (name.clone(), field_json(f)))
                .collect(),
        ),
        Field::ListInternal(list) => Value::Array(list.elements().iter().map(field_json).collect()),
        Field::MapInternal(map) => Value::Object(
            map.entries()
                .iter()
                .map(|(k, value)| {
                    let key = match field_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, field_json(value))
                })
                .collect(),
        ),
        other => Value::String(other.to_string()),
    }
}

fn into_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// The lines of a JSON Lines file, each bounded.
fn jsonl_lines<W: Write>(input: &mut impl BufRead, v: &mut Validator<'_, W>) -> io::Result<()> {
    let mut line = Vec::new();
    let mut number = 0u64;
    while let Some(fits) = read_line(input, &mut line, MAX_LINE_BYTES)? {
        number += 1;
        if !fits {
            v.unreadable(Category::TooLongLine, number);
            continue;
        }
        let text = if number == 1 {
            line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&line)
        } else {
            &line
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(value) => v.example(number, value)?,
            Err(_) => v.unreadable(Category::InvalidJson, number),
        }
    }
    Ok(())
}

/// Reads one line into `line` (its newline included): `None` at the end,
/// `Some(false)` for a line longer than `max` bytes, which is skipped and
/// never held.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<Option<bool>> {
    line.clear();
    let (mut read, mut fits) = (false, true);
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(read.then_some(fits));
        }
        read = true;
        let (part, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (&buf[..=at], true),
            None => (buf, false),
        };
        let n = part.len();
        if fits && line.len() + n > max {
            fits = false;
            line.clear();
            line.shrink_to(0);
        }
        if fits {
            line.extend_from_slice(part);
        }
        input.consume(n);
        if done {
            return Ok(Some(fits));
        }
    }
}

/// The elements of a JSON array, each parsed as it is read, each bounded.
/// An element that is not JSON ends the reading (the array cannot be
/// followed past it).
fn json_elements<W: Write>(input: impl BufRead, v: &mut Validator<'_, W>) -> io::Result<()> {
    use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};

    struct Elements<'v, 'o, W> {
        v: &'v mut Validator<'o, W>,
        limit: Limit,
        number: u64,
        failure: Option<io::Error>,
    }
    impl<'de, W: Write> Visitor<'de> for &mut Elements<'_, '_, W> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            loop {
                self.limit.reset();
                let Some(value) = seq.next_element::<Value>()? else {
                    return Ok(());
                };
                self.number += 1;
                if let Err(e) = self.v.example(self.number, value) {
                    self.failure = Some(e);
                    return Err(A::Error::custom("writing failed"));
                }
            }
        }
    }
    impl<'de, W: Write> DeserializeSeed<'de> for &mut Elements<'_, '_, W> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    let limit = Limit::default();
    let mut elements = Elements {
        v,
        limit: limit.clone(),
        number: 0,
        failure: None,
    };
    let mut de = serde_json::Deserializer::from_reader(limit.wrap(input));
    let result = (&mut elements).deserialize(&mut de).and_then(|()| de.end());
    if let Some(e) = elements.failure {
        return Err(e);
    }
    let next = elements.number + 1;
    match result {
        Ok(()) => {}
        Err(_) if limit.exceeded() => elements.v.unreadable(Category::TooLongLine, next),
        Err(e) if e.is_io() => return Err(e.into()),
        Err(_) => elements.v.unreadable(Category::InvalidJson, next),
    }
    Ok(())
}

/// Bounds the bytes read since the last [`Limit::reset`]: a reader of
/// records (CSV, JSON) cannot be stopped in the middle of one, so its
/// input runs dry instead.
#[derive(Clone, Default)]
struct Limit {
    used: Rc<Cell<usize>>,
    exceeded: Rc<Cell<bool>>,
}

impl Limit {
    const MAX: usize = MAX_LINE_BYTES + READ_AHEAD;

    fn wrap<R: Read>(&self, inner: R) -> Limited<R> {
        Limited {
            inner,
            limit: self.clone(),
        }
    }

    fn reset(&self) {
        self.used.set(0);
    }

    fn exceeded(&self) -> bool {
        self.exceeded.get()
    }
}

struct Limited<R> {
    inner: R,
    limit: Limit,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = Limit::MAX.saturating_sub(self.limit.used.get());
        if left == 0 {
            self.limit.exceeded.set(true);
            return Err(io::Error::other("record too long"));
        }
        let take = buf.len().min(left);
        let n = self.inner.read(&mut buf[..take])?;
        self.limit.used.set(self.limit.used.get() + n);
        Ok(n)
    }
}

/// The report being made, and the output being written.
struct Validator<'o, W> {
    out: &'o mut W,
    options: Options<'o>,
    report: Report,
    valid: u64,
    raw_tokens: u64,
}

impl<'o, W: Write> Validator<'o, W> {
    fn new(file_format: FileFormat, out: &'o mut W, options: &Options<'o>) -> Self {
        Validator {
            out,
            options: *options,
            report: Report {
                accepted: false,
                examples: 0,
                file_format,
                format: None,
                errors: BTreeMap::new(),
                warnings: BTreeMap::new(),
                tokens: options.counter.map(|_| TokenStats {
                    total: 0,
                    max: 0,
                    mean: 0.0,
                    truncated: 0,
                }),
            },
            valid: 0,
            raw_tokens: 0,
        }
    }

    fn error(&mut self, category: Category, line: u64) {
        note(&mut self.report.errors, category, Some(line));
    }

    /// A line (element, row) that could not be read as a value.
    fn unreadable(&mut self, category: Category, line: u64) {
        self.report.examples += 1;
        self.error(category, line);
    }

    fn file_error(&mut self, category: Category) {
        note(&mut self.report.errors, category, None);
    }

    /// Whether every mapped column is among `names` (and every field known).
    fn columns_exist(&mut self, names: &[String]) -> bool {
        let mapping = &self.options.columns.0;
        let ok = mapping.iter().all(|(field, column)| {
            ColumnMapping::FIELDS.contains(&field.as_str()) && names.contains(column)
        });
        if !ok {
            self.file_error(Category::UnknownColumn);
        }
        ok
    }

    /// One line (element, row) that holds a value.
    fn example(&mut self, line: u64, value: Value) -> io::Result<()> {
        self.report.examples += 1;
        let Value::Object(object) = value else {
            self.error(Category::NotAnObject, line);
            return Ok(());
        };
        let object = self.options.columns.apply(object);
        let (format, messages) = match parse_example(object) {
            Ok(parsed) => parsed,
            Err(category) => {
                self.error(category, line);
                return Ok(());
            }
        };
        self.report.format = Some(match self.report.format {
            None => format,
            Some(seen) if seen == format => seen,
            Some(_) => ExampleFormat::Mixed,
        });
        if let Some(counter) = self.options.counter {
            let chat: Vec<ChatMessage> = messages
                .iter()
                .map(|m| ChatMessage {
                    role: m.role.clone(),
                    content: m.content.clone(),
                })
                .collect();
            let Ok(n) = counter.count(&chat) else {
                self.error(Category::TemplateError, line);
                return Ok(());
            };
            let max_length = u64::from(self.options.max_length);
            let stats = self.report.tokens.as_mut().expect("a counter gives stats");
            stats.total += n.min(max_length);
            stats.max = stats.max.max(n);
            if n > max_length {
                stats.truncated += 1;
                note(&mut self.report.warnings, Category::TooLong, Some(line));
            }
            self.raw_tokens += n;
        }
        let mut text = serde_json::to_string(&Example { messages }).map_err(io::Error::other)?;
        if text.len() > MAX_LINE_BYTES {
            self.error(Category::TooLongLine, line);
            return Ok(());
        }
        self.valid += 1;
        if self.report.errors.is_empty() {
            text.push('\n');
            self.out.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<Report> {
        if self.valid < self.options.min_examples {
            self.file_error(Category::TooFewExamples);
        }
        if let Some(stats) = self.report.tokens.as_mut()
            && self.valid > 0
        {
            stats.mean = stats.total as f64 / self.valid as f64;
        }
        self.report.accepted = self.report.errors.is_empty();
        self.out.flush()?;
        Ok(self.report)
    }
}

fn note(issues: &mut BTreeMap<Category, Issue>, category: Category, line: Option<u64>) {
    let issue = issues.entry(category).or_default();
    issue.count += 1;
    if let Some(line) = line
        && issue.lines.len() < LINES_KEPT
    {
        issue.lines.push(line);
    }
}

/// An example's messages, whatever its format (module doc), checked.
fn parse_example(
    mut object: Map<String, Value>,
) -> Result<(ExampleFormat, Vec<Message>), Category> {
    // Lists given as text: a CSV cell, a Parquet string column.
    for key in ["messages", "conversations", "conversation", "history"] {
        if let Some(Value::String(text)) = object.get(key) {
            let parsed = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(text).map_err(|_| Category::InvalidJson)?
            };
            object.insert(key.to_owned(), parsed);
        }
    }
    let (format, messages) = if let Some(list) = object.get("messages") {
        (ExampleFormat::Messages, openai_messages(list)?)
    } else if let Some(list) = object
        .get("conversations")
        .or_else(|| object.get("conversation"))
    {
        (
            ExampleFormat::ShareGpt,
            sharegpt(list, object.get("system"))?,
        )
    } else if object.contains_key("instruction") {
        (ExampleFormat::Alpaca, alpaca(&object)?)
    } else if let (Some(prompt), Some(completion)) =
        (object.get("prompt"), object.get("completion"))
    {
        let mut messages = side(prompt, "user")?;
        messages.extend(side(completion, "assistant")?);
        (ExampleFormat::PromptCompletion, messages)
    } else {
        return Err(Category::UnknownFormat);
    };
    check(&messages)?;
    Ok((format, messages))
}

/// The rules every conversation follows, whatever its format.
fn check(messages: &[Message]) -> Result<(), Category> {
    if messages.is_empty() {
        return Err(Category::MissingMessages);
    }
    for (i, m) in messages.iter().enumerate() {
        if !ROLES.contains(&m.role.as_str()) {
            return Err(Category::UnrecognizedRole);
        }
        if m.role == "system" && i > 0 {
            return Err(Category::SystemNotFirst);
        }
        if m.weight.is_some() && m.role != "assistant" {
            return Err(Category::BadWeight);
        }
        if m.role == "assistant" && m.content.trim().is_empty() {
            return Err(Category::EmptyAssistant);
        }
    }
    if !messages
        .iter()
        .any(|m| m.role == "assistant" && m.weight != Some(0))
    {
        return Err(Category::NoAssistantTurn);
    }
    Ok(())
}

/// OpenAI's `messages`.
fn openai_messages(list: &Value) -> Result<Vec<Message>, Category> {
    let list = list
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or(Category::MissingMessages)?;
    list.iter()
        .map(|m| {
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .ok_or(Category::MissingRole)?;
            let content = m
                .get("content")
                .and_then(content_text)
                .ok_or(Category::MissingContent)?;
            let weight = match m.get("weight") {
                None | Some(Value::Null) => None,
                Some(w) => match w.as_f64() {
                    Some(0.0) => Some(0),
                    Some(1.0) => Some(1),
                    _ => return Err(Category::BadWeight),
                },
            };
            Ok(Message {
                role: role.to_owned(),
                content,
                weight,
            })
        })
        .collect()
}

/// A message's text: a string, or OpenAI's list of text parts.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(
                |p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                    (Some("text"), Some(Value::String(t))) => Some(t.as_str()),
                    _ => None,
                },
            )
            .collect::<Option<Vec<_>>>()
            .map(|texts| texts.concat()),
        _ => None,
    }
}

/// ShareGPT's `conversations`, with the top-level `system` before them.
fn sharegpt(list: &Value, system: Option<&Value>) -> Result<Vec<Message>, Category> {
    let list = list
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or(Category::MissingMessages)?;
    let mut messages = Vec::with_capacity(list.len() + 1);
    if let Some(system) = optional_text(system)?
        && !system.is_empty()
    {
        messages.push(Message {
            role: "system".into(),
            content: system,
            weight: None,
        });
    }
    for turn in list {
        let from = turn
            .get("from")
            .or_else(|| turn.get("role"))
            .and_then(Value::as_str)
            .ok_or(Category::MissingRole)?;
        let role = match from {
            "human" | "user" => "user",
            "gpt" | "assistant" | "bot" | "function_call" => "assistant",
            "system" => "system",
            "observation" | "function_response" | "tool" => "tool",
            _ => return Err(Category::UnrecognizedRole),
        };
        let content = turn
            .get("value")
            .or_else(|| turn.get("content"))
            .and_then(content_text)
            .ok_or(Category::MissingContent)?;
        // A system turn inside the conversation and the top-level one: the
        // conversation's wins.
        if role == "system" && messages.len() == 1 && messages[0].role == "system" {
            messages.clear();
        }
        messages.push(Message {
            role: role.into(),
            content,
            weight: None,
        });
    }
    Ok(messages)
}

/// Alpaca's fields.
fn alpaca(object: &Map<String, Value>) -> Result<Vec<Message>, Category> {
    let text = |key: &str| optional_text(object.get(key));
    let instruction = text("instruction")?.ok_or(Category::MissingContent)?;
    let output = text("output")?.ok_or(Category::MissingContent)?;
    let turn = |role: &str, content: String| Message {
        role: role.into(),
        content,
        weight: None,
    };
    let mut messages = Vec::new();
    if let Some(system) = text("system")?.filter(|s| !s.is_empty()) {
        messages.push(turn("system", system));
    }
    match object.get("history") {
        None | Some(Value::Null) => {}
        Some(Value::Array(pairs)) => {
            for pair in pairs {
                let [query, response] = pair.as_array().map(Vec::as_slice).unwrap_or_default()
                else {
                    return Err(Category::MissingContent);
                };
                let (Some(query), Some(response)) = (query.as_str(), response.as_str()) else {
                    return Err(Category::MissingContent);
                };
                messages.push(turn("user", query.to_owned()));
                messages.push(turn("assistant", response.to_owned()));
            }
        }
        Some(_) => return Err(Category::MissingContent),
    }
    let user = match text("input")?.filter(|i| !i.is_empty()) {
        Some(input) => format!("{instruction}\n{input}"),
        None => instruction,
    };
    messages.push(turn("user", user));
    messages.push(turn("assistant", output));
    Ok(messages)
}

/// A string field that may be absent or null, never of another type.
fn optional_text(value: Option<&Value>) -> Result<Option<String>, Category> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Category::MissingContent),
    }
}

/// One side of prompt/completion: text (one turn of `role`) or messages.
fn side(value: &Value, role: &str) -> Result<Vec<Message>, Category> {
    match value {
        Value::String(s) => Ok(vec![Message {
            role: role.into(),
            content: s.clone(),
            weight: None,
        }]),
        Value::Array(_) => openai_messages(value),
        _ => Err(Category::MissingContent),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::finetune::tokens::tests::chatml_counter;

    fn options<'a>(columns: &'a ColumnMapping, counter: Option<&'a TokenCounter>) -> Options<'a> {
        Options {
            columns,
            counter,
            max_length: 2048,
            min_examples: MIN_EXAMPLES,
        }
    }

    fn run(format: FileFormat, text: &str, options: &Options) -> (Report, Vec<Example>) {
        let mut out = Vec::new();
        let report = convert(format, text.as_bytes(), &mut out, options).unwrap();
        let examples = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (report, examples)
    }

    fn chat_line(i: usize) -> String {
        json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": format!("hello {i}")},
            {"role": "assistant", "content": "hi", "weight": 0},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": " there"}]},
        ]})
        .to_string()
    }

    fn lines(lines: impl IntoIterator<Item = String>) -> String {
        lines.into_iter().map(|l| l + "\n").collect()
    }

    fn turn(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
            weight: None,
        }
    }

    fn issue(count: u64, lines: &[u64]) -> Issue {
        Issue {
            count,
            lines: lines.to_vec(),
        }
    }

    #[test]
    fn openai_chat_is_kept_and_counted() {
        let counter = chatml_counter();
        let columns = ColumnMapping::default();
        let text = format!("\u{feff}{}\n", lines((0..12).map(chat_line)));
        let (report, examples) = run(FileFormat::Jsonl, &text, &options(&columns, Some(&counter)));
        assert!(report.accepted, "{report:?}");
        assert_eq!(report.examples, 12);
        assert_eq!(report.format, Some(ExampleFormat::Messages));
        assert!(report.errors.is_empty() && report.warnings.is_empty());
        assert_eq!(examples.len(), 12);
        let first = &examples[0].messages;
        assert_eq!(first[2].weight, Some(0));
        assert_eq!(first[4], turn("assistant", "hello there"));
        // Per example: 5 turns × (im_start, role, im_end) + 2+2+1+1+2 words.
        let per_example = 5 * 3 + 8;
        assert_eq!(
            report.tokens,
            Some(TokenStats {
                total: 12 * per_example,
                max: per_example,
                mean: per_example as f64,
                truncated: 0
            })
        );
    }

    #[test]
    fn every_error_category_with_its_line() {
        let columns = ColumnMapping::default();
        let bad = [
            "{not json",                                                                  // 13
            "[1, 2]",                                                                     // 14
            r#"{"text": "raw"}"#,                                                         // 15
            r#"{"messages": []}"#,                                                        // 16
            r#"{"messages": [{"content": "x"}]}"#,                                        // 17
            r#"{"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}"#, // 18
            r#"{"messages": [{"role": "robot", "content": "x"}]}"#,                       // 19
            r#"{"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}"#, // 20
            r#"{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}]}"#, // 21
            r#"{"messages": [{"role": "user", "content": "x"}]}"#, // 22
            r#"{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a", "weight": 0}]}"#, // 23
            r#"{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a", "weight": 0.5}]}"#, // 24
            r#"{"messages": [{"role": "user", "content": "x", "weight": 1}, {"role": "assistant", "content": "a"}]}"#, // 25
        ];
        let text = lines(
            (0..12)
                .map(chat_line)
                .chain(bad.iter().map(|s| s.to_string())),
        );
        let (report, examples) = run(FileFormat::Jsonl, &text, &options(&columns, None));
        assert!(!report.accepted);
        assert_eq!(report.examples, 25);
        assert_eq!(report.tokens, None);
        let expected: BTreeMap<Category, Issue> = [
            (Category::InvalidJson, issue(1, &[13])),
            (Category::NotAnObject, issue(1, &[14])),
            (Category::UnknownFormat, issue(1, &[15])),
            (Category::MissingMessages, issue(1, &[16])),
            (Category::MissingRole, issue(1, &[17])),
            (Category::MissingContent, issue(1, &[18])),
            (Category::UnrecognizedRole, issue(1, &[19])),
            (Category::SystemNotFirst, issue(1, &[20])),
            (Category::EmptyAssistant, issue(1, &[21])),
            (Category::NoAssistantTurn, issue(2, &[22, 23])),
            (Category::BadWeight, issue(2, &[24, 25])),
        ]
        .into();
        assert_eq!(report.errors, expected);
        // The valid examples before the first error were written; nothing after.
        assert_eq!(examples.len(), 12);
    }

    #[test]
    fn output_stops_at_the_first_error() {
        let columns = ColumnMapping::default();
        let text = lines(
            (0..3)
                .map(chat_line)
                .chain(["oops".to_string()])
                .chain((0..20).map(chat_line)),
        );
        let (report, examples) = run(FileFormat::Jsonl, &text, &options(&columns, None));
        assert!(!report.accepted);
        assert_eq!(report.errors[&Category::InvalidJson], issue(1, &[4]));
        assert_eq!(examples.len(), 3);
    }

    #[test]
    fn sharegpt_alpaca_and_prompt_completion_convert() {
        let columns = ColumnMapping::default();
        let rows = [
            json!({"system": "sys", "conversations": [
                {"from": "human", "value": "q"}, {"from": "function_call", "value": "{\"name\":\"f\"}"},
                {"from": "observation", "value": "42"}, {"from": "gpt", "value": "a"}]}),
            json!({"conversations": [{"role": "system", "content": "s2"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "system": "top"}),
            json!({"instruction": "translate", "input": "你好", "output": "hello", "system": "",
                   "history": [["q1", "r1"]]}),
            json!({"instruction": "say hi", "input": "", "output": "hi"}),
            json!({"prompt": "p", "completion": "c"}),
            json!({"prompt": [{"role": "user", "content": "p"}], "completion": [{"role": "assistant", "content": "c"}]}),
        ];
        let text = lines(rows.iter().map(Value::to_string));
        let (report, examples) = run(
            FileFormat::Jsonl,
            &text,
            &Options {
                min_examples: 1,
                ..options(&columns, None)
            },
        );
        assert!(report.accepted, "{report:?}");
        assert_eq!(report.format, Some(ExampleFormat::Mixed));
        let m: Vec<Vec<Message>> = examples.into_iter().map(|e| e.messages).collect();
        assert_eq!(
            m[0],
            [
                turn("system", "sys"),
                turn("user", "q"),
                turn("assistant", "{\"name\":\"f\"}"),
                turn("tool", "42"),
                turn("assistant", "a")
            ]
        );
        assert_eq!(
            m[1][0],
            turn("system", "s2"),
            "the conversation's system turn wins"
        );
        assert_eq!(m[1].len(), 3);
        assert_eq!(
            m[2],
            [
                turn("user", "q1"),
                turn("assistant", "r1"),
                turn("user", "translate\n你好"),
                turn("assistant", "hello")
            ]
        );
        assert_eq!(m[3], [turn("user", "say hi"), turn("assistant", "hi")]);
        assert_eq!(m[4], [turn("user", "p"), turn("assistant", "c")]);
        assert_eq!(m[4], m[5]);
    }

    #[test]
    fn sharegpt_and_alpaca_errors() {
        let columns = ColumnMapping::default();
        let rows = [
            json!({"conversations": [{"from": "alien", "value": "x"}]}),
            json!({"conversations": [{"value": "x"}]}),
            json!({"conversations": []}),
            json!({"instruction": "x"}),
            json!({"instruction": "x", "output": "y", "history": [["only one"]]}),
            json!({"instruction": "x", "output": ""}),
            json!({"prompt": "x", "completion": 3}),
        ];
        let text = lines(rows.iter().map(Value::to_string));
        let (report, _) = run(FileFormat::Jsonl, &text, &options(&columns, None));
        let expected: BTreeMap<Category, Issue> = [
            (Category::UnrecognizedRole, issue(1, &[1])),
            (Category::MissingRole, issue(1, &[2])),
            (Category::MissingMessages, issue(1, &[3])),
            (Category::MissingContent, issue(3, &[4, 5, 7])),
            (Category::EmptyAssistant, issue(1, &[6])),
            (Category::TooFewExamples, issue(1, &[])),
        ]
        .into();
        assert_eq!(report.errors, expected);
    }

    #[test]
    fn too_few_examples_and_blank_lines() {
        let columns = ColumnMapping::default();
        let text = lines((0..9).map(chat_line).chain(["".into(), "  ".into()]));
        let (report, examples) = run(FileFormat::Jsonl, &text, &options(&columns, None));
        assert!(!report.accepted);
        assert_eq!(report.examples, 9);
        assert_eq!(
            report.errors.keys().collect::<Vec<_>>(),
            [&Category::TooFewExamples]
        );
        assert_eq!(examples.len(), 9, "written, but the report rejects them");
        let (report, _) = run(FileFormat::Jsonl, "", &options(&columns, None));
        assert_eq!(report.format, None);
        assert_eq!(report.errors[&Category::TooFewExamples].count, 1);
    }

    #[test]
    fn long_examples_are_a_warning_with_their_count() {
        let counter = chatml_counter();
        let columns = ColumnMapping::default();
        let text = lines((0..12).map(|i| {
            json!({"messages": [{"role": "user", "content": "w ".repeat(i)}, {"role": "assistant", "content": "a"}]})
                .to_string()
        }));
        // Example i has 3 + i + 3 + 1 = i + 7 tokens; cut at 10.
        let opts = Options {
            max_length: 10,
            ..options(&columns, Some(&counter))
        };
        let (report, _) = run(FileFormat::Jsonl, &text, &opts);
        assert!(report.accepted);
        assert_eq!(
            report.warnings[&Category::TooLong],
            issue(8, &[5, 6, 7, 8, 9, 10, 11, 12])
        );
        let stats = report.tokens.unwrap();
        assert_eq!(stats.truncated, 8);
        assert_eq!(stats.max, 18);
        assert_eq!(stats.total, (7..=10).sum::<u64>() + 8 * 10);
        assert!((stats.mean - stats.total as f64 / 12.0).abs() < 1e-9);
    }

    #[test]
    fn only_the_first_line_numbers_are_kept() {
        let columns = ColumnMapping::default();
        let text = lines((0..30).map(|_| "x".to_string()));
        let (report, _) = run(FileFormat::Jsonl, &text, &options(&columns, None));
        let invalid = &report.errors[&Category::InvalidJson];
        assert_eq!(invalid.count, 30);
        assert_eq!(invalid.lines, (1..=10).collect::<Vec<u64>>());
    }

    #[test]
    fn a_template_that_refuses_is_an_error() {
        let refusing = serde_json::to_vec(&json!({
            "chat_template": "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}x"
        }))
        .unwrap();
        let counter = TokenCounter::new(
            &crate::finetune::tokens::tests::tokenizer_json(),
            Some(&refusing),
            false,
        )
        .unwrap();
        let columns = ColumnMapping::default();
        let text = lines((0..12).map(chat_line));
        let (report, _) = run(FileFormat::Jsonl, &text, &options(&columns, Some(&counter)));
        assert_eq!(report.errors[&Category::TemplateError].count, 12);
    }

    #[test]
    fn a_line_too_long_is_skipped_not_held() {
        let columns = ColumnMapping::default();
        let long = format!("{{\"messages\": \"{}\"}}", "x".repeat(MAX_LINE_BYTES + 10));
        let text = lines(
            (0..5)
                .map(chat_line)
                .chain([long])
                .chain((0..10).map(chat_line)),
        );
        let (report, _) = run(FileFormat::Jsonl, &text, &options(&columns, None));
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        assert_eq!(report.errors[&Category::TooLongLine], issue(1, &[6]));
        assert_eq!(report.examples, 16);
        // Held: never more than the limit, whatever the line.
        let mut line = Vec::new();
        let mut input = io::BufReader::with_capacity(4096, io::repeat(b'x').take(10 << 20));
        assert_eq!(read_line(&mut input, &mut line, 1000).unwrap(), Some(false));
        assert!(line.capacity() <= 8192, "{}", line.capacity());
    }

    #[test]
    fn json_arrays_are_read_element_by_element() {
        let columns = ColumnMapping::default();
        let text = format!(
            "\u{feff} \n[{}]",
            (0..11).map(chat_line).collect::<Vec<_>>().join(",\n")
        );
        let (report, examples) = run(FileFormat::Json, &text, &options(&columns, None));
        assert!(report.accepted, "{report:?}");
        assert_eq!((report.examples, examples.len()), (11, 11));
        assert_eq!(report.file_format, FileFormat::Json);

        let broken = format!("[{}, {}, {{oops]", chat_line(0), chat_line(1));
        let (report, _) = run(FileFormat::Json, &broken, &options(&columns, None));
        assert_eq!(report.errors[&Category::InvalidJson], issue(1, &[3]));

        let huge = format!(
            "[{}, \"{}\"]",
            chat_line(0),
            "x".repeat(MAX_LINE_BYTES + READ_AHEAD)
        );
        let (report, _) = run(FileFormat::Json, &huge, &options(&columns, None));
        assert_eq!(report.errors[&Category::TooLongLine], issue(1, &[2]));

        let not_objects = "[1, \"a\"]";
        let (report, _) = run(FileFormat::Json, not_objects, &options(&columns, None));
        assert_eq!(report.errors[&Category::NotAnObject], issue(2, &[1, 2]));

        // A .json file of JSON lines.
        let (report, _) = run(
            FileFormat::Json,
            &lines((0..10).map(chat_line)),
            &options(&columns, None),
        );
        assert!(report.accepted, "{report:?}");
    }

    #[test]
    fn csv_with_a_column_mapping() {
        // The byte-order mark is no part of the first column's name.
        let mut csv = String::from("\u{feff}question,id,answer\n");
        for i in 0..10 {
            csv.push_str(&format!(
                "\"what is {i}?\nsay\",{i},\"it is \"\"{i}\"\"\"\n"
            ));
        }
        let columns = ColumnMapping(
            [("prompt", "question"), ("completion", "answer")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into(),
        );
        let (report, examples) = run(FileFormat::Csv, &csv, &options(&columns, None));
        assert!(report.accepted, "{report:?}");
        assert_eq!(report.format, Some(ExampleFormat::PromptCompletion));
        assert_eq!(
            examples[3].messages,
            [
                turn("user", "what is 3?\nsay"),
                turn("assistant", "it is \"3\"")
            ]
        );

        let wrong = ColumnMapping([("prompt".to_owned(), "nope".to_owned())].into());
        let (report, examples) = run(FileFormat::Csv, &csv, &options(&wrong, None));
        assert_eq!(report.errors[&Category::UnknownColumn], issue(1, &[]));
        assert!(examples.is_empty());
        let unknown_field = ColumnMapping([("answer_key".to_owned(), "answer".to_owned())].into());
        let (report, _) = run(FileFormat::Csv, &csv, &options(&unknown_field, None));
        assert!(report.errors.contains_key(&Category::UnknownColumn));
    }

    #[test]
    fn csv_cells_holding_messages_and_a_row_too_long() {
        let columns = ColumnMapping::default();
        let mut csv = String::from("messages\n");
        for i in 0..10 {
            let cell = chat_line(i).replace('"', "\"\"");
            let cell = cell
                .strip_prefix("{\"\"messages\"\":")
                .unwrap()
                .strip_suffix('}')
                .unwrap();
            csv.push_str(&format!("\"{cell}\"\n"));
        }
        let (report, examples) = run(FileFormat::Csv, &csv, &options(&columns, None));
        assert!(report.accepted, "{report:?}");
        assert_eq!(examples[9].messages[1], turn("user", "hello 9"));

        csv.push_str(&format!(
            "\"{}\"\n",
            "x".repeat(MAX_LINE_BYTES + 2 * READ_AHEAD)
        ));
        let (report, _) = run(FileFormat::Csv, &csv, &options(&columns, None));
        assert_eq!(report.errors[&Category::TooLongLine], issue(1, &[11]));
        csv.truncate(0);
        csv.push_str("messages\nnot json\n");
        let (report, _) = run(FileFormat::Csv, &csv, &options(&columns, None));
        assert_eq!(report.errors[&Category::InvalidJson], issue(1, &[1]));
    }

    /// A Parquet file of `rows` rows: question and answer (strings), in
    /// row groups of 5.
    fn parquet_file(rows: usize) -> bytes::Bytes {
        use parquet::data_type::{ByteArray, ByteArrayType};
        use parquet::file::properties::WriterProperties;
        use parquet::file::writer::SerializedFileWriter;
        let schema = Arc::new(
            parquet::schema::parser::parse_message_type(
                "message schema { REQUIRED BYTE_ARRAY question (UTF8); OPTIONAL BYTE_ARRAY answer (UTF8); }",
            )
            .unwrap(),
        );
        let props = Arc::new(WriterProperties::builder().build());
        let mut out = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut out, schema, props).unwrap();
        for start in (0..rows).step_by(5) {
            let ids: Vec<usize> = (start..rows.min(start + 5)).collect();
            let mut group = writer.next_row_group().unwrap();
            for column in ["问题", "答案"] {
                let values: Vec<ByteArray> = ids
                    .iter()
                    .map(|i| ByteArray::from(format!("{column}{i}").as_str()))
                    .collect();
                let defs = vec![1i16; values.len()];
                let mut col = group.next_column().unwrap().unwrap();
                let defs = (column == "答案").then_some(defs.as_slice());
                col.typed::<ByteArrayType>()
                    .write_batch(&values, defs, None)
                    .unwrap();
                col.close().unwrap();
            }
            group.close().unwrap();
        }
        writer.close().unwrap();
        out.into()
    }

    #[test]
    fn parquet_rows_with_a_mapping() {
        let columns = ColumnMapping(
            [("instruction", "question"), ("output", "answer")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into(),
        );
        let mut out = Vec::new();
        let report = convert_parquet(parquet_file(12), &mut out, &options(&columns, None)).unwrap();
        assert!(report.accepted, "{report:?}");
        assert_eq!(report.examples, 12);
        assert_eq!(report.format, Some(ExampleFormat::Alpaca));
        let last: Example =
            serde_json::from_slice(out.split(|&b| b == b'\n').nth(11).unwrap()).unwrap();
        assert_eq!(
            last.messages,
            [turn("user", "问题11"), turn("assistant", "答案11")]
        );

        // Without a mapping the columns are not an example.
        let mut out = Vec::new();
        let none = ColumnMapping::default();
        let report = convert_parquet(parquet_file(12), &mut out, &options(&none, None)).unwrap();
        assert_eq!(report.errors[&Category::UnknownFormat].count, 12);

        let report = convert_parquet(
            bytes::Bytes::from_static(b"PAR1 not really PAR1"),
            &mut Vec::new(),
            &options(&columns, None),
        )
        .unwrap();
        assert_eq!(report.errors[&Category::InvalidFile], issue(1, &[]));
    }

    #[test]
    fn parquet_row_groups_over_the_budget_are_not_decoded() {
        let columns = ColumnMapping(
            [("prompt", "question"), ("completion", "answer")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into(),
        );
        let mut out = Vec::new();
        let report =
            parquet_rows(parquet_file(12), &mut out, &options(&columns, None), 40).unwrap();
        assert_eq!(report.errors[&Category::TooLongLine], issue(1, &[1]));
        assert_eq!(report.examples, 0);

        // Small on disk, large once expanded: the pages are checked first.
        let bomb = {
            use parquet::basic::{Compression, ZstdLevel};
            use parquet::data_type::{ByteArray, ByteArrayType};
            use parquet::file::properties::WriterProperties;
            use parquet::file::writer::SerializedFileWriter;
            let schema = Arc::new(
                parquet::schema::parser::parse_message_type(
                    "message schema { REQUIRED BYTE_ARRAY question (UTF8); REQUIRED BYTE_ARRAY answer (UTF8); }",
                )
                .unwrap(),
            );
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
                .set_dictionary_enabled(false)
                .build();
            let mut out = Vec::new();
            let mut writer = SerializedFileWriter::new(&mut out, schema, Arc::new(props)).unwrap();
            let mut group = writer.next_row_group().unwrap();
            for len in [4 << 20, 1] {
                let mut col = group.next_column().unwrap().unwrap();
                col.typed::<ByteArrayType>()
                    .write_batch(&[ByteArray::from(vec![b'a'; len])], None, None)
                    .unwrap();
                col.close().unwrap();
            }
            group.close().unwrap();
            writer.close().unwrap();
            bytes::Bytes::from(out)
        };
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let report = parquet_rows(
            bomb.clone(),
            &mut Vec::new(),
            &options(&columns, None),
            1 << 20,
        )
        .unwrap();
        assert_eq!(report.errors[&Category::TooLongLine], issue(1, &[1]));
        assert_eq!(report.examples, 0);
        // Within the budget it is read (and the 4 MiB row is too long).
        let report =
            parquet_rows(bomb, &mut Vec::new(), &options(&columns, None), 16 << 20).unwrap();
        assert_eq!(report.errors[&Category::TooLongLine], issue(1, &[1]));
        assert_eq!(report.examples, 1);
    }

    #[test]
    fn files_on_disk_in_any_format() {
        let columns = ColumnMapping(
            [("prompt", "question"), ("completion", "answer")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into(),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.parquet");
        std::fs::write(&path, parquet_file(10)).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let report = convert_file(
            FileFormat::Parquet,
            file,
            &mut Vec::new(),
            &options(&columns, None),
        )
        .unwrap();
        assert!(report.accepted, "{report:?}");
        let path = dir.path().join("train.jsonl");
        std::fs::write(&path, lines((0..10).map(chat_line))).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let none = ColumnMapping::default();
        let mut out = Vec::new();
        let report =
            convert_file(FileFormat::Jsonl, file, &mut out, &options(&none, None)).unwrap();
        assert!(report.accepted, "{report:?}");
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 10);
    }

    #[test]
    fn report_shape() {
        let columns = ColumnMapping::default();
        let counter = chatml_counter();
        let text = lines((0..10).map(chat_line).chain(["[]".to_string()]));
        let (report, _) = run(FileFormat::Jsonl, &text, &options(&columns, Some(&counter)));
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            json!({
                "accepted": false,
                "examples": 11,
                "file_format": "jsonl",
                "format": "messages",
                "errors": {"not_an_object": {"count": 1, "lines": [11]}},
                "warnings": {},
                "tokens": {"total": 230, "max": 23, "mean": 23.0, "truncated": 0}
            })
        );
        assert_eq!(FileFormat::of("data/train.JSONL"), Some(FileFormat::Jsonl));
        assert_eq!(FileFormat::of("a.parquet"), Some(FileFormat::Parquet));
        assert_eq!(FileFormat::of("a.txt"), None);
        let mapping: ColumnMapping = serde_json::from_value(json!({"prompt": "q"})).unwrap();
        assert_eq!(mapping.0["prompt"], "q");
    }
}
