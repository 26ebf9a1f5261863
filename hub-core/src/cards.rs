//! Model-card metadata: the YAML front matter at the top of a repo's `README.md`.
//!
//! This module owns one job: turning README text into [`CardMetadata`] (the typed
//! fields the hub stores in PostgreSQL and filters on) plus the markdown body that
//! follows the front matter. It does no I/O and knows nothing about git or the
//! database; callers run it after every commit to a repo's default branch.
//!
//! The format follows Hugging Face model cards:
//!
//! ```text
//! ---
//! license: apache-2.0
//! language: [zh, en]
//! ---
//! # My model
//! ```
//!
//! Front matter exists only when the text (after an optional UTF-8 BOM and
//! blank space) starts with a `---` line and a later line is `---` (or YAML's
//! `...` document end). Without a closing fence the whole text is plain
//! markdown, as on Hugging Face. Blank space before the opening fence is
//! allowed because huggingface_hub's own card parser allows it
//! (`^\s*---`): a card it reads metadata from must be checked here too.
//!
//! Parsing never fails: README content is user data and must never block a
//! commit. Anything wrong with the front matter is reported as a one-line
//! message in [`ParsedCard::error`] for the hub to show as a card error, and as
//! much metadata as could be read is still returned.
//!
//! Choices worth knowing:
//! * Empty front matter (`---` directly followed by `---`, or only comments)
//!   is valid and gives `card_data = Some({})`: the card has a metadata block,
//!   it is just empty. `None` means "no front matter at all".
//! * YAML is read with YAML 1.2 core booleans (`no` stays the string `"no"`,
//!   which matters for `language: no`, Norwegian), numbers with leading zeros
//!   stay strings, and `.inf`/`.nan` become strings since JSON cannot hold them.
//! * Duplicate keys are an error (as in the JavaScript YAML parser the Hugging
//!   Face hub uses), because silently picking one would hide a card mistake.
//! * The list fields accept a single scalar as a one-element list; numbers and
//!   booleans inside them are converted to strings; `null` entries and empty
//!   strings are dropped.

mod check;
mod space;

pub use check::{CardCheck, check_card};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_saphyr::options::{AliasLimits, DuplicateKeyPolicy, NonFiniteFloatPolicy};
pub use space::SpaceConfig;

use crate::error::Message;

/// Largest front matter (the text between the fences) that is parsed at all.
/// Real cards are a few KiB; the cap bounds the work done on every commit.
pub const MAX_FRONT_MATTER_BYTES: usize = 64 * 1024;

/// Typed model-card metadata, as stored by the hub.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CardMetadata {
    pub license: Option<String>,
    /// YAML may give a string or a list.
    pub language: Vec<String>,
    pub tags: Vec<String>,
    pub pipeline_tag: Option<String>,
    pub library_name: Option<String>,
    /// YAML may give a string or a list.
    pub base_model: Vec<String>,
    /// YAML may give a string or a list.
    pub datasets: Vec<String>,
    /// The whole front matter as JSON (HF's `cardData`), None when there is none.
    pub card_data: Option<Value>,
}

/// Result of [`parse_card`].
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCard<'a> {
    pub metadata: CardMetadata,
    /// One-line, human-readable description of what is wrong with the front
    /// matter, if anything. Field-type problems leave the other fields filled.
    pub error: Option<Message>,
    /// The markdown after the front matter (the whole text, minus any BOM, when
    /// there is no front matter).
    pub body: &'a str,
}

/// Splits `readme` into metadata and body. Never fails: malformed front matter
/// gives default metadata plus `error` (a one-line message with the README
/// line/column when the YAML parser reports one).
#[must_use]
pub fn parse_card(readme: &str) -> ParsedCard<'_> {
    let text = readme.strip_prefix('\u{feff}').unwrap_or(readme);
    let Some(front) = split_front_matter(text) else {
        return ParsedCard {
            metadata: CardMetadata::default(),
            error: None,
            body: text,
        };
    };
    let (metadata, error) = match parse_yaml_mapping(front.yaml) {
        Ok(map) => metadata_from_mapping(map),
        Err(message) => (CardMetadata::default(), Some(message)),
    };
    ParsedCard {
        metadata,
        error,
        body: front.body,
    }
}

/// The two halves of a README that has front matter.
struct FrontMatter<'a> {
    /// Text between the fences, including the last line's newline.
    yaml: &'a str,
    /// Everything after the closing fence line.
    body: &'a str,
}

fn split_front_matter(text: &str) -> Option<FrontMatter<'_>> {
    let text = text.trim_start_matches([' ', '\t', '\r', '\n']);
    let opening = text.split_inclusive('\n').next()?;
    // The opening fence must be a whole line: "---" alone at EOF is just text.
    if !opening.ends_with('\n') || fence_marker(opening) != "---" {
        return None;
    }
    let yaml_start = opening.len();
    let mut offset = yaml_start;
    for line in text[yaml_start..].split_inclusive('\n') {
        if matches!(fence_marker(line), "---" | "...") {
            return Some(FrontMatter {
                yaml: &text[yaml_start..offset],
                body: &text[offset + line.len()..],
            });
        }
        offset += line.len();
    }
    None
}

/// A line without its terminator and trailing blanks, which YAML allows after
/// document markers.
fn fence_marker(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
        .trim_end_matches([' ', '\t'])
}

/// Parses the front matter into a JSON object, or explains why it cannot.
fn parse_yaml_mapping(yaml: &str) -> Result<Map<String, Value>, Message> {
    if yaml.len() > MAX_FRONT_MATTER_BYTES {
        return Err(Message::coded(
            "card.too_large",
            "front matter too large ({size} bytes, limit {max})",
        )
        .with("size", yaml.len())
        .with("max", MAX_FRONT_MATTER_BYTES));
    }
    let value: Value = serde_saphyr::from_str_with_options(yaml, yaml_options())
        .map_err(|err| yaml_error(&err))?;
    match value {
        // Empty or comment-only front matter.
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        _ => Err(Message::coded(
            "card.not_a_mapping",
            "front matter must be a mapping",
        )),
    }
}

/// The YAML error, with its place in README lines when the parser gives one
/// (a page words the place; the parser's own detail is English only).
fn yaml_error(err: &serde_saphyr::Error) -> Message {
    let detail = render_yaml_error(err);
    match err.location() {
        Some(at) => Message::coded("card.yaml_at", "invalid YAML in front matter: {detail}")
            .with("detail", detail)
            // The YAML starts on README line 2, after the opening fence.
            .with("line", at.line() + 1)
            .with("column", at.column()),
        None => Message::coded("card.yaml", "invalid YAML in front matter: {detail}")
            .with("detail", detail),
    }
}

/// Parser settings: YAML 1.2 scalars (see the module docs) and resource limits
/// far below the library defaults. 64 KiB of honest YAML is at most a few tens
/// of thousands of nodes and needs no aliases to speak of, so anything beyond
/// these limits is an alias bomb or similar and is refused quickly.
fn yaml_options() -> serde_saphyr::Options {
    let mut alias_limits = AliasLimits::default();
    alias_limits.max_total_replayed_events = 10_000;
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1,
            max_depth: 64,
            max_nodes: 100_000,
            max_events: 250_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_merge_keys: 1_000,
            max_total_scalar_bytes: 4 * 1024 * 1024,
        },
        alias_limits: alias_limits,
        duplicate_keys: DuplicateKeyPolicy::Error,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        non_finite_float_policy: NonFiniteFloatPolicy::AsString,
        // Snippets are multi-line; card errors are shown on one line.
        with_snippet: false,
    }
}

/// One line, in the library's user-facing wording (its default wording gives
/// developer advice such as option names), with positions counted in README
/// lines: the YAML starts on line 2, after the opening fence.
fn render_yaml_error(err: &serde_saphyr::Error) -> String {
    let rendered = err.render_with_options(serde_saphyr::render_options! {
        formatter: &serde_saphyr::UserMessageFormatter,
        line_offset: 1,
    });
    rendered.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Pulls the typed fields out of the front matter. Wrong-typed fields are
/// reported and left empty; the rest are still filled.
fn metadata_from_mapping(map: Map<String, Value>) -> (CardMetadata, Option<Message>) {
    let mut errors = Vec::new();
    let mut text = |key| string_field(&map, key, &mut errors);
    let license = text("license");
    let pipeline_tag = text("pipeline_tag");
    let library_name = text("library_name");
    let mut list = |key| list_field(&map, key, &mut errors);
    let language = list("language");
    let tags = list("tags");
    let base_model = list("base_model");
    let datasets = list("datasets");
    let metadata = CardMetadata {
        license,
        language,
        tags,
        pipeline_tag,
        library_name,
        base_model,
        datasets,
        card_data: Some(Value::Object(map)),
    };
    let error = (!errors.is_empty()).then(|| {
        let fields: Vec<&str> = errors.iter().map(|(field, _)| *field).collect();
        let detail: Vec<&str> = errors.iter().map(|(_, text)| text.as_str()).collect();
        Message::coded("card.field_types", "{detail}")
            .with("detail", detail.join("; "))
            .with("fields", fields.join(", "))
    });
    (metadata, error)
}

/// Fields of the wrong type: (field, English sentence).
type FieldErrors = Vec<(&'static str, String)>;

fn string_field(
    map: &Map<String, Value>,
    key: &'static str,
    errors: &mut FieldErrors,
) -> Option<String> {
    let value = map.get(key)?;
    if value.is_null() {
        return None;
    }
    match scalar_text(value) {
        Some(text) => Some(text).filter(|t| !t.is_empty()),
        None => {
            errors.push((key, format!("front matter field `{key}` must be a string")));
            None
        }
    }
}

fn list_field(
    map: &Map<String, Value>,
    key: &'static str,
    errors: &mut FieldErrors,
) -> Vec<String> {
    let items = match map.get(key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items.iter().filter(|v| !v.is_null()).collect(),
        Some(single) => vec![single],
    };
    match items
        .into_iter()
        .map(scalar_text)
        .collect::<Option<Vec<_>>>()
    {
        Some(texts) => texts.into_iter().filter(|t| !t.is_empty()).collect(),
        None => {
            errors.push((
                key,
                format!("front matter field `{key}` must be a string or a list of strings"),
            ));
            Vec::new()
        }
    }
}

/// Scalars as text: YAML gives `2023` or `true` where a card author meant a
/// string, and the stored fields are strings.
/// One example input of a model card's `widget:` list (Hugging Face's
/// widget examples): a prompt, or a source sentence and sentences to
/// compare it with, and an optional title.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WidgetExample {
    pub title: Option<String>,
    pub text: Option<String>,
    pub source_sentence: Option<String>,
    pub sentences: Vec<String>,
}

/// Examples kept per card, and the length of each text kept.
const MAX_WIDGET_EXAMPLES: usize = 10;
const MAX_WIDGET_TEXT_CHARS: usize = 4000;

/// The `widget:` examples of stored front matter; entries without any
/// input are skipped, the rest bounded in number and length.
pub fn widget_examples(card_data: Option<&Value>) -> Vec<WidgetExample> {
    let Some(Value::Array(items)) = card_data.and_then(|d| d.get("widget")) else {
        return Vec::new();
    };
    let text = |item: &Value, key: &str| {
        let text: String = scalar_text(item.get(key)?)?
            .chars()
            .take(MAX_WIDGET_TEXT_CHARS)
            .collect();
        (!text.trim().is_empty()).then_some(text)
    };
    items
        .iter()
        .map(|item| WidgetExample {
            title: text(item, "example_title"),
            text: text(item, "text"),
            source_sentence: text(item, "source_sentence"),
            sentences: texts_in(Some(item), "sentences")
                .into_iter()
                .take(MAX_WIDGET_EXAMPLES)
                .map(|s| s.chars().take(MAX_WIDGET_TEXT_CHARS).collect())
                .collect(),
        })
        .filter(|e| e.text.is_some() || e.source_sentence.is_some())
        .take(MAX_WIDGET_EXAMPLES)
        .collect()
}

/// A field of stored front matter (`card_data`) as a list of texts: one
/// scalar or a list of scalars (e.g. a dataset's `task_categories`).
pub fn texts_in(card_data: Option<&Value>, key: &str) -> Vec<String> {
    match card_data.and_then(|d| d.get(key)) {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(value) => scalar_text(value).into_iter().collect(),
        None => Vec::new(),
    }
    .into_iter()
    .filter(|t| !t.trim().is_empty())
    .collect()
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn error_of(readme: &str) -> String {
        let card = parse_card(readme);
        assert_eq!(card.metadata, CardMetadata::default(), "{readme:?}");
        let error = card.error.expect("an error").to_string();
        assert!(!error.contains('\n'), "error must be one line: {error:?}");
        error
    }

    #[test]
    fn full_card_with_list_forms() {
        let readme = "---\nlicense: apache-2.0\nlanguage:\n- zh\n- en\ntags:\n- text-generation\n- 2024\n- true\npipeline_tag: text-generation\nlibrary_name: transformers\nbase_model:\n- org/base\ndatasets:\n- org/data\n- org/more\n---\n# Model\n\nBody.\n";
        let card = parse_card(readme);
        assert_eq!(card.error, None);
        assert_eq!(card.body, "# Model\n\nBody.\n");
        let m = card.metadata;
        assert_eq!(m.license.as_deref(), Some("apache-2.0"));
        assert_eq!(m.language, strings(&["zh", "en"]));
        assert_eq!(m.tags, strings(&["text-generation", "2024", "true"]));
        assert_eq!(m.pipeline_tag.as_deref(), Some("text-generation"));
        assert_eq!(m.library_name.as_deref(), Some("transformers"));
        assert_eq!(m.base_model, strings(&["org/base"]));
        assert_eq!(m.datasets, strings(&["org/data", "org/more"]));
        let data = m.card_data.expect("card data");
        assert_eq!(data["tags"], json!(["text-generation", 2024, true]));
        assert_eq!(data["language"], json!(["zh", "en"]));
    }

    #[test]
    fn string_forms_become_one_element_lists() {
        let card = parse_card(
            "---\nlanguage: en\nbase_model: org/base\ndatasets: org/data\ntags: solo\n---\n",
        );
        assert_eq!(card.error, None);
        let m = card.metadata;
        assert_eq!(m.language, strings(&["en"]));
        assert_eq!(m.base_model, strings(&["org/base"]));
        assert_eq!(m.datasets, strings(&["org/data"]));
        assert_eq!(m.tags, strings(&["solo"]));
        assert_eq!(card.body, "");
    }

    #[test]
    fn yaml_1_2_scalars_keep_their_text() {
        let card = parse_card("---\nlanguage: [no, on, 007]\nlicense: 2.0\n---\n");
        assert_eq!(card.error, None);
        assert_eq!(card.metadata.language, strings(&["no", "on", "007"]));
        assert_eq!(card.metadata.license.as_deref(), Some("2.0"));
    }

    #[test]
    fn nulls_and_empty_strings_are_absent_values() {
        let card = parse_card("---\nlicense:\npipeline_tag: ''\ntags: [a, null, '', b]\n---\n");
        assert_eq!(card.error, None);
        assert_eq!(card.metadata.license, None);
        assert_eq!(card.metadata.pipeline_tag, None);
        assert_eq!(card.metadata.tags, strings(&["a", "b"]));
    }

    #[test]
    fn chinese_values_round_trip() {
        let readme = "---\nlicense: 木兰宽松许可证\ntags:\n- 中文\n- 对话\nmodel_name: 开源模型\n---\n# 模型说明\n";
        let card = parse_card(readme);
        assert_eq!(card.error, None);
        assert_eq!(card.metadata.license.as_deref(), Some("木兰宽松许可证"));
        assert_eq!(card.metadata.tags, strings(&["中文", "对话"]));
        assert_eq!(card.body, "# 模型说明\n");
        let json = serde_json::to_string(&card.metadata).expect("serialize");
        let back: CardMetadata = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, card.metadata);
        assert_eq!(back.card_data.expect("data")["model_name"], "开源模型");
    }

    #[test]
    fn crlf_line_endings() {
        let card = parse_card("---\r\nlicense: mit\r\ntags:\r\n- a\r\n---\r\nbody\r\n");
        assert_eq!(card.error, None);
        assert_eq!(card.metadata.license.as_deref(), Some("mit"));
        assert_eq!(card.metadata.tags, strings(&["a"]));
        assert_eq!(card.body, "body\r\n");
    }

    #[test]
    fn bom_is_skipped() {
        let card = parse_card("\u{feff}---\nlicense: mit\n---\nbody");
        assert_eq!(card.error, None);
        assert_eq!(card.metadata.license.as_deref(), Some("mit"));
        assert_eq!(card.body, "body");
        assert_eq!(parse_card("\u{feff}# Title").body, "# Title");
    }

    #[test]
    fn closing_fence_variants() {
        let dots = parse_card("---\nlicense: mit\n...\nbody");
        assert_eq!(dots.metadata.license.as_deref(), Some("mit"));
        assert_eq!(dots.body, "body");
        let at_eof = parse_card("---\nlicense: mit\n---");
        assert_eq!(at_eof.metadata.license.as_deref(), Some("mit"));
        assert_eq!(at_eof.body, "");
        let trailing_blanks = parse_card("--- \nlicense: mit\n---\t\nbody");
        assert_eq!(trailing_blanks.metadata.license.as_deref(), Some("mit"));
        assert_eq!(trailing_blanks.body, "body");
    }

    #[test]
    fn no_front_matter() {
        for readme in ["", "# Title\n---\nlicense: mit\n---\n", "---"] {
            let card = parse_card(readme);
            assert_eq!(card.metadata, CardMetadata::default(), "{readme:?}");
            assert_eq!(card.error, None);
            assert_eq!(card.body, readme);
        }
    }

    #[test]
    fn blank_space_may_precede_the_front_matter() {
        for readme in [
            "\n---\nlicense: mit\n---\nbody",
            "  \r\n\t---\nlicense: mit\n---\nbody",
        ] {
            let card = parse_card(readme);
            assert_eq!(card.metadata.license.as_deref(), Some("mit"), "{readme:?}");
            assert_eq!(card.body, "body");
        }
    }

    #[test]
    fn unclosed_fence_is_plain_text() {
        let readme = "---\nlicense: mit\n# Title\n";
        let card = parse_card(readme);
        assert_eq!(card.metadata, CardMetadata::default());
        assert_eq!(card.error, None);
        assert_eq!(card.body, readme);
    }

    #[test]
    fn empty_front_matter_is_an_empty_mapping() {
        for readme in ["---\n---\nbody", "---\n# just a comment\n\n---\nbody"] {
            let card = parse_card(readme);
            assert_eq!(card.error, None);
            assert_eq!(card.metadata.card_data, Some(json!({})));
            assert_eq!(card.body, "body");
        }
    }

    #[test]
    fn tab_indentation_is_an_error_with_position() {
        let error = error_of("---\nlicense: mit\ntags:\n\t- a\n---\nbody");
        assert!(
            error.starts_with("invalid YAML in front matter:"),
            "{error}"
        );
        assert!(error.contains("line 4"), "{error}");
        assert_eq!(parse_card("---\na:\n\tb: 1\n---\nbody").body, "body");
    }

    #[test]
    fn unbalanced_brackets_are_an_error() {
        for readme in [
            "---\ntags: [a, b\n---\n",
            "---\ntags: [a, b]]\n---\n",
            "---\na: {b: 1\n---\n",
        ] {
            let error = error_of(readme);
            assert!(error.contains("line 2"), "{error}");
        }
    }

    #[test]
    fn other_malformed_yaml_is_an_error() {
        for readme in [
            "---\nlicense: 'unterminated\n---\n",
            "---\na: b: c\n---\n",
            "---\nlicense: mit\nlicense: apache-2.0\n---\n",
            "---\n~: 1\n---\n",
            "---\na: \"\\ud800\"\n---\n",
        ] {
            error_of(readme);
        }
    }

    #[test]
    fn non_mapping_front_matter() {
        for readme in [
            "---\n- a\n- b\n---\n",
            "---\njust text\n---\n",
            "---\n42\n---\n",
        ] {
            assert_eq!(error_of(readme), "front matter must be a mapping");
        }
    }

    #[test]
    fn wrong_field_types_name_the_field_and_keep_the_rest() {
        let readme = "---\nlicense: [a, b]\ntags: {x: 1}\nlanguage: [en, [nested]]\npipeline_tag: fill-mask\ndatasets: d\n---\n";
        let card = parse_card(readme);
        let error = card.error.expect("error");
        assert!(error.contains("`license` must be a string"), "{error}");
        assert!(
            error.contains("`tags` must be a string or a list"),
            "{error}"
        );
        assert!(error.contains("`language`"), "{error}");
        assert!(!error.contains('\n'));
        let m = card.metadata;
        assert_eq!(m.license, None);
        assert!(m.tags.is_empty() && m.language.is_empty());
        assert_eq!(m.pipeline_tag.as_deref(), Some("fill-mask"));
        assert_eq!(m.datasets, strings(&["d"]));
        assert_eq!(m.card_data.expect("data")["license"], json!(["a", "b"]));
    }

    #[test]
    fn billion_laughs_is_refused_quickly() {
        let mut yaml = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for pair in names.windows(2) {
            let (prev, name) = (pair[0], pair[1]);
            let refs = vec![format!("*{prev}"); 9].join(", ");
            yaml.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let started = Instant::now();
        let error = error_of(&format!("---\n{yaml}---\nbody"));
        assert!(
            error.starts_with("invalid YAML in front matter:"),
            "{error}"
        );
        // Generous bound for slow CI: expanding the bomb would take minutes.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let readme = format!("---\na: {}{}\n---\n", "[".repeat(500), "]".repeat(500));
        error_of(&readme);
    }

    #[test]
    fn huge_front_matter_is_refused() {
        let line = "tags: [aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n";
        let readme = format!("---\nlicense: mit\n{}---\nbody", line.repeat(2_000));
        let card = parse_card(&readme);
        let error = card.error.expect("error");
        assert!(error.starts_with("front matter too large"), "{error}");
        assert_eq!(card.metadata, CardMetadata::default());
        assert_eq!(card.body, "body");
    }

    #[test]
    fn front_matter_at_the_limit_is_parsed() {
        let filler = format!("# {}\n", "x".repeat(98));
        let mut yaml = "license: mit\n".to_owned();
        while yaml.len() + filler.len() <= MAX_FRONT_MATTER_BYTES {
            yaml.push_str(&filler);
        }
        let readme = format!("---\n{yaml}---\n");
        let card = parse_card(&readme);
        assert_eq!(card.error, None);
        assert_eq!(card.metadata.license.as_deref(), Some("mit"));
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for readme in [
            "---\n",
            "---\r\n",
            "---\n---",
            "---\n\u{0}\n---\n",
            "---\n*undefined\n---\n",
            "---\n&a a: *a\n---\n",
            "---\n? [a]\n: 1\n---\n",
            "---\n<<: *x\n---\n",
            "---\n!!binary zz\n---\n",
            "---\n%YAML 1.2\n---\n",
            "---\n\u{feff}a: 1\n---\n",
        ] {
            let _ = parse_card(readme);
        }
    }
}
