//! The tags a repo is listed and filtered under (`tags` in repo info,
//! `filter=` in listings), derived from its model card as Hugging Face
//! derives them: the card's own `tags`; for models the pipeline tag, the
//! library, the languages, `dataset:...` and `base_model:...`; for datasets
//! `language:...` and the dataset-card fields (`task_categories:...`,
//! `size_categories:...`, ...); for all, `license:...`. Computed at the
//! after-commit step and stored, so listings filter in SQL.

use serde_json::Value;

use super::RepoType;
use crate::cards::CardMetadata;

/// Dataset-card fields that become `{field}:{value}` tags.
const DATASET_FIELDS: [&str; 7] = [
    "task_categories",
    "task_ids",
    "size_categories",
    "multilinguality",
    "language_creators",
    "annotations_creators",
    "source_datasets",
];

/// The tags of a repo of `kind` with this card, in order, without repeats.
#[must_use]
pub fn tags(kind: RepoType, card: &CardMetadata) -> Vec<String> {
    let mut out: Vec<String> = card.tags.clone();
    match kind {
        RepoType::Model => {
            out.extend(card.pipeline_tag.clone());
            out.extend(card.library_name.clone());
            out.extend(card.language.iter().cloned());
            out.extend(card.datasets.iter().map(|d| format!("dataset:{d}")));
            out.extend(card.base_model.iter().map(|b| format!("base_model:{b}")));
        }
        RepoType::Dataset => {
            out.extend(card.language.iter().map(|l| format!("language:{l}")));
            let data = card.card_data.as_ref();
            for field in DATASET_FIELDS {
                let values = data.and_then(|d| d.get(field));
                out.extend(strings(values).map(|v| format!("{field}:{v}")));
            }
        }
        RepoType::Space => out.extend(card.language.iter().cloned()),
    }
    out.extend(card.license.as_ref().map(|l| format!("license:{l}")));
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| !t.trim().is_empty() && seen.insert(t.clone()));
    out
}

/// A card value as strings: one string, or the strings of a list.
fn strings(value: Option<&Value>) -> impl Iterator<Item = String> + '_ {
    let list: Vec<&Value> = match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
        None => vec![],
    };
    list.into_iter().filter_map(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::parse_card;

    fn tags_of(kind: RepoType, readme: &str) -> Vec<String> {
        tags(kind, &parse_card(readme).metadata)
    }

    #[test]
    fn model_tags() {
        let readme = "---\nlicense: apache-2.0\nlanguage: [zh, en]\ntags: [chat, zh]\n\
            pipeline_tag: text-generation\nlibrary_name: transformers\ndatasets: [a/b]\n\
            base_model: Qwen/Qwen2-0.5B\n---\n";
        assert_eq!(
            tags_of(RepoType::Model, readme),
            [
                "chat",
                "zh",
                "text-generation",
                "transformers",
                "en",
                "dataset:a/b",
                "base_model:Qwen/Qwen2-0.5B",
                "license:apache-2.0"
            ]
        );
        assert!(tags_of(RepoType::Model, "# no card\n").is_empty());
    }

    #[test]
    fn dataset_tags() {
        let readme = "---\nlicense: mit\nlanguage: zh\ntask_categories: [text-classification]\n\
            size_categories: 1K<n<10K\n---\n";
        assert_eq!(
            tags_of(RepoType::Dataset, readme),
            [
                "language:zh",
                "task_categories:text-classification",
                "size_categories:1K<n<10K",
                "license:mit"
            ]
        );
    }
}
