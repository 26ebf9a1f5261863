//! The card check huggingface_hub asks for before it uploads a README
//! (`POST /api/validate-yaml`, `RepoCard.validate`): errors make the client
//! refuse the upload, warnings are shown to its user.
//!
//! Errors: front matter that is not a YAML mapping, and fields of the wrong
//! shape (`license: {a: 1}`, `model-index: foo`, a `model-index` result
//! without its dataset), in Hugging Face's wording (`"model-index" must be
//! an array`). A warning: a card without metadata. Only shapes are checked,
//! never values: an unknown license or task is stored as written (cards here
//! name licenses Hugging Face does not list, such as 木兰宽松许可证).
//!
//! A scalar where text is expected is fine (`sdk_version: 3.50`, `language:
//! no`): the parser keeps its text, as for the stored fields.

use serde_json::{Map, Value};

use super::{parse_yaml_mapping, split_front_matter};
use crate::error::Message;
use crate::repos::RepoType;

/// What [`check_card`] found wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardCheck {
    /// Coded, so the web editor can word them in the visitor's language.
    pub errors: Vec<Message>,
    pub warnings: Vec<String>,
}

/// What a field's value must be (`null` is always allowed: no value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A scalar.
    Text,
    /// A scalar or a list of scalars.
    TextOrList,
    Bool,
    Number,
    /// A list of mappings.
    Mappings,
    /// A mapping, or a list of mappings.
    MappingOrMappings,
    BoolOrMapping,
    NumberOrMapping,
}

/// Fields of every card.
const COMMON: &[(&str, Shape)] = &[
    ("language", Shape::TextOrList),
    ("license_name", Shape::Text),
    ("license_link", Shape::Text),
    ("tags", Shape::TextOrList),
    ("datasets", Shape::TextOrList),
    ("thumbnail", Shape::Text),
];

/// Fields of model cards.
const MODEL: &[(&str, Shape)] = &[
    ("license", Shape::Text),
    ("pipeline_tag", Shape::Text),
    ("library_name", Shape::Text),
    ("base_model", Shape::TextOrList),
    ("base_model_relation", Shape::Text),
    ("new_version", Shape::Text),
    ("metrics", Shape::TextOrList),
    ("widget", Shape::Mappings),
    ("inference", Shape::BoolOrMapping),
    ("co2_eq_emissions", Shape::NumberOrMapping),
];

/// Fields of dataset cards (a dataset may have several licenses).
const DATASET: &[(&str, Shape)] = &[
    ("license", Shape::TextOrList),
    ("pretty_name", Shape::Text),
    ("task_categories", Shape::TextOrList),
    ("task_ids", Shape::TextOrList),
    ("size_categories", Shape::TextOrList),
    ("source_datasets", Shape::TextOrList),
    ("multilinguality", Shape::TextOrList),
    ("language_creators", Shape::TextOrList),
    ("annotations_creators", Shape::TextOrList),
    ("paperswithcode_id", Shape::Text),
    ("configs", Shape::Mappings),
    ("dataset_info", Shape::MappingOrMappings),
    ("viewer", Shape::Bool),
];

/// Fields of Space cards.
const SPACE: &[(&str, Shape)] = &[
    ("license", Shape::Text),
    ("title", Shape::Text),
    ("emoji", Shape::Text),
    ("colorFrom", Shape::Text),
    ("colorTo", Shape::Text),
    ("sdk", Shape::Text),
    ("sdk_version", Shape::Text),
    ("python_version", Shape::Text),
    ("app_file", Shape::Text),
    ("app_port", Shape::Number),
    ("pinned", Shape::Bool),
    ("short_description", Shape::Text),
    ("models", Shape::TextOrList),
];

/// Checks `readme` as a card of a `kind` repo (see the module doc).
#[must_use]
pub fn check_card(readme: &str, kind: RepoType) -> CardCheck {
    let mut check = CardCheck::default();
    let text = readme.strip_prefix('\u{feff}').unwrap_or(readme);
    let map = match split_front_matter(text).map(|front| parse_yaml_mapping(front.yaml)) {
        None => Map::new(),
        Some(Ok(map)) => map,
        Some(Err(message)) => {
            check.errors.push(message);
            return check;
        }
    };
    if map.is_empty() {
        check.warnings.push(empty_warning(kind));
        return check;
    }
    let specific = match kind {
        RepoType::Model => MODEL,
        RepoType::Dataset => DATASET,
        RepoType::Space => SPACE,
    };
    for &(key, shape) in COMMON.iter().chain(specific) {
        if let Some(value) = map.get(key)
            && !value.is_null()
            && !fits(value, shape)
        {
            check.errors.push(expected(shape, key));
        }
    }
    if let Some(index) = map.get("model-index") {
        check_model_index(index, &mut check.errors);
    }
    check
}

fn empty_warning(kind: RepoType) -> String {
    let doc = match kind {
        RepoType::Model => "model-cards#model-card-metadata",
        RepoType::Dataset => "datasets-cards",
        RepoType::Space => "spaces-config-reference",
    };
    format!("empty or missing yaml metadata in repo card (https://huggingface.co/docs/hub/{doc})")
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn is_mappings(value: &Value) -> bool {
    matches!(value, Value::Array(items) if items.iter().all(Value::is_object))
}

fn fits(value: &Value, shape: Shape) -> bool {
    match shape {
        Shape::Text => is_scalar(value),
        Shape::TextOrList => match value {
            Value::Array(items) => items.iter().all(|v| v.is_null() || is_scalar(v)),
            other => is_scalar(other),
        },
        Shape::Bool => value.is_boolean(),
        Shape::Number => value.is_number(),
        Shape::Mappings => is_mappings(value),
        Shape::MappingOrMappings => value.is_object() || is_mappings(value),
        Shape::BoolOrMapping => value.is_boolean() || value.is_object(),
        Shape::NumberOrMapping => value.is_number() || value.is_object(),
    }
}

/// What a field of the wrong shape says (`"license" must be a string`).
fn expected(shape: Shape, field: &str) -> Message {
    let message = match shape {
        Shape::Text => Message::coded("card.must_be_string", "\"{field}\" must be a string"),
        Shape::TextOrList => Message::coded(
            "card.must_be_strings",
            "\"{field}\" must be a string or an array of strings",
        ),
        Shape::Bool => Message::coded("card.must_be_boolean", "\"{field}\" must be a boolean"),
        Shape::Number => Message::coded("card.must_be_number", "\"{field}\" must be a number"),
        Shape::Mappings => Message::coded(
            "card.must_be_objects",
            "\"{field}\" must be an array of objects",
        ),
        Shape::MappingOrMappings => Message::coded(
            "card.must_be_object_or_objects",
            "\"{field}\" must be an object or an array of objects",
        ),
        Shape::BoolOrMapping => Message::coded(
            "card.must_be_boolean_or_object",
            "\"{field}\" must be a boolean or an object",
        ),
        Shape::NumberOrMapping => Message::coded(
            "card.must_be_number_or_object",
            "\"{field}\" must be a number or an object",
        ),
    };
    message.with("field", field)
}

fn must_be_array(field: &str) -> Message {
    Message::coded("card.must_be_array", "\"{field}\" must be an array").with("field", field)
}

fn required_field(field: &str) -> Message {
    Message::coded("card.required", "\"{field}\" is required").with("field", field)
}

/// `model-index`: the evaluation results, as huggingface_hub's `EvalResult`
/// reads them: a list of models, each with a `name` and `results`; each
/// result names its `task` (a `type`), its `dataset` (a `type` and a
/// `name`) and its `metrics` (each a `type` and a `value`).
fn check_model_index(index: &Value, errors: &mut Vec<Message>) {
    let Value::Array(models) = index else {
        errors.push(must_be_array("model-index"));
        return;
    };
    for (i, model) in models.iter().enumerate() {
        let at = format!("model-index[{i}]");
        let Some(model) = object(model, &at, errors) else {
            continue;
        };
        text_in(model, &at, "name", errors);
        let Some(results) = array_in(model, &at, "results", errors) else {
            continue;
        };
        for (j, result) in results.iter().enumerate() {
            let at = format!("{at}.results[{j}]");
            let Some(result) = object(result, &at, errors) else {
                continue;
            };
            if let Some(task) = object_in(result, &at, "task", errors) {
                text_in(task, &format!("{at}.task"), "type", errors);
            }
            if let Some(dataset) = object_in(result, &at, "dataset", errors) {
                text_in(dataset, &format!("{at}.dataset"), "type", errors);
                text_in(dataset, &format!("{at}.dataset"), "name", errors);
            }
            let Some(metrics) = array_in(result, &at, "metrics", errors) else {
                continue;
            };
            for (k, metric) in metrics.iter().enumerate() {
                let at = format!("{at}.metrics[{k}]");
                if let Some(metric) = object(metric, &at, errors) {
                    text_in(metric, &at, "type", errors);
                    if metric.get("value").is_none_or(Value::is_null) {
                        errors.push(required_field(&format!("{at}.value")));
                    }
                }
            }
        }
    }
}

fn object<'a>(
    value: &'a Value,
    at: &str,
    errors: &mut Vec<Message>,
) -> Option<&'a Map<String, Value>> {
    let object = value.as_object();
    if object.is_none() {
        errors.push(
            Message::coded("card.must_be_object", "\"{field}\" must be an object")
                .with("field", at),
        );
    }
    object
}

/// `key` of `map` (at path `at`), which must be there.
fn required<'a>(
    map: &'a Map<String, Value>,
    at: &str,
    key: &str,
    errors: &mut Vec<Message>,
) -> Option<&'a Value> {
    let value = map.get(key).filter(|v| !v.is_null());
    if value.is_none() {
        errors.push(required_field(&format!("{at}.{key}")));
    }
    value
}

fn object_in<'a>(
    map: &'a Map<String, Value>,
    at: &str,
    key: &str,
    errors: &mut Vec<Message>,
) -> Option<&'a Map<String, Value>> {
    object(
        required(map, at, key, errors)?,
        &format!("{at}.{key}"),
        errors,
    )
}

fn array_in<'a>(
    map: &'a Map<String, Value>,
    at: &str,
    key: &str,
    errors: &mut Vec<Message>,
) -> Option<&'a Vec<Value>> {
    let array = required(map, at, key, errors)?.as_array();
    if array.is_none() {
        errors.push(must_be_array(&format!("{at}.{key}")));
    }
    array
}

fn text_in(map: &Map<String, Value>, at: &str, key: &str, errors: &mut Vec<Message>) {
    if let Some(value) = required(map, at, key, errors)
        && !is_scalar(value)
    {
        errors.push(expected(Shape::Text, &format!("{at}.{key}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(readme: &str) -> CardCheck {
        check_card(readme, RepoType::Model)
    }

    #[test]
    fn a_good_card_passes() {
        let card = "---\nlicense: mit\nlanguage: [zh, en]\ntags: x\nsdk_version: 3.50\n\
                    model-index:\n- name: m\n  results:\n  - task: {type: text-classification}\n    \
                    dataset: {type: d, name: D}\n    metrics:\n    - {type: acc, value: 0.9}\n---\n# hi\n";
        assert_eq!(model(card), CardCheck::default());
        let custom = "---\nlicense: 木兰宽松许可证\nlanguage: no\n---\n";
        assert_eq!(model(custom), CardCheck::default());
        let dataset = "---\nlicense: [mit, apache-2.0]\nconfigs:\n- config_name: default\n---\n";
        assert_eq!(check_card(dataset, RepoType::Dataset), CardCheck::default());
    }

    #[test]
    fn an_empty_card_is_a_warning() {
        for readme in [
            "# no front matter\n",
            "",
            "---\n---\nbody\n",
            "---\n# only a comment\n---\n",
        ] {
            let check = model(readme);
            assert!(check.errors.is_empty(), "{readme:?}");
            assert_eq!(check.warnings.len(), 1, "{readme:?}");
            assert!(check.warnings[0].starts_with("empty or missing yaml metadata"));
        }
    }

    #[test]
    fn broken_yaml_and_non_mappings_are_errors() {
        for readme in ["---\nlicense: [mit\n---\n", "---\n- a\n- b\n---\n"] {
            let check = model(readme);
            assert_eq!(
                (check.errors.len(), check.warnings.len()),
                (1, 0),
                "{readme:?}"
            );
        }
    }

    #[test]
    fn wrong_shapes_are_errors_naming_the_field() {
        let check =
            model("---\nlicense: {a: 1}\ntags: [[x]]\nlanguage: {en: 1}\ninference: maybe\n---\n");
        assert_eq!(
            check.errors,
            [
                "\"language\" must be a string or an array of strings",
                "\"tags\" must be a string or an array of strings",
                "\"license\" must be a string",
                "\"inference\" must be a boolean or an object",
            ]
        );
        assert!(check.warnings.is_empty());
        // A dataset's license may be a list, a model's may not.
        assert_eq!(model("---\nlicense: [mit]\n---\n").errors.len(), 1);
        let space = check_card("---\npinned: yes\napp_port: '7860'\n---\n", RepoType::Space);
        assert_eq!(
            space.errors,
            [
                "\"app_port\" must be a number",
                "\"pinned\" must be a boolean"
            ]
        );
    }

    #[test]
    fn model_index_must_describe_results() {
        assert_eq!(
            model("---\nmodel-index: foo\n---\n").errors,
            ["\"model-index\" must be an array"]
        );
        // huggingface_hub's sample_invalid_model_index.md: no dataset.
        let no_dataset = "---\nmodel-index:\n- name: m\n  results:\n  - task:\n      type: image-classification\n    \
                          metrics:\n    - type: acc\n      value: 0.9\n---\n";
        assert_eq!(
            model(no_dataset).errors,
            ["\"model-index[0].results[0].dataset\" is required"]
        );
        let sloppy = "---\nmodel-index:\n- 3\n- results: {}\n- name: m\n  results:\n  - task: x\n    \
                      dataset: {name: D}\n    metrics: [{type: acc}]\n---\n";
        assert_eq!(
            model(sloppy).errors,
            [
                "\"model-index[0]\" must be an object",
                "\"model-index[1].name\" is required",
                "\"model-index[1].results\" must be an array",
                "\"model-index[2].results[0].task\" must be an object",
                "\"model-index[2].results[0].dataset.type\" is required",
                "\"model-index[2].results[0].metrics[0].value\" is required",
            ]
        );
    }
}
