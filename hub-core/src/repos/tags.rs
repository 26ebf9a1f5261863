//! The tags a repo is listed and filtered under (`tags` in repo info,
//! `filter=` in listings), derived from its model card as Hugging Face
//! derives them: the card's own `tags`; for models the pipeline tag, the
//! library, the languages, `dataset:...` and `base_model:...`; for datasets
//! `language:...` and the dataset-card fields (`task_categories:...`,
//! `size_categories:...`, ...); for all, `license:...`. A model's files add
//! what they are: `gguf` and `quantization:Q4_K_M` (one per quantisation
//! its `.gguf` file names state). Computed at the after-commit step and
//! stored, so listings filter in SQL.

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

/// What a repo's file names say about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileFacts {
    /// It holds `.gguf` files.
    pub gguf: bool,
    /// The quantisations its `.gguf` files' names state, sorted.
    pub quantizations: Vec<&'static str>,
}

impl FileFacts {
    #[must_use]
    pub fn of(paths: &[String]) -> FileFacts {
        let mut facts = FileFacts::default();
        for path in paths.iter().filter(|p| crate::gguf::is_gguf(p)) {
            facts.gguf = true;
            facts
                .quantizations
                .extend(crate::gguf::quantization_in_name(path));
        }
        facts.quantizations.sort_unstable();
        facts.quantizations.dedup();
        facts
    }

    /// The library a model is used with: the card's, else `gguf` for a repo
    /// of GGUF files (as Hugging Face reports such repos).
    #[must_use]
    pub fn library_name(&self, card: &CardMetadata) -> Option<String> {
        card.library_name
            .clone()
            .or_else(|| self.gguf.then(|| "gguf".to_owned()))
    }
}

/// The tags of a repo of `kind` with this card and files, in order, without
/// repeats.
#[must_use]
pub fn tags(kind: RepoType, card: &CardMetadata, files: &FileFacts) -> Vec<String> {
    let mut out: Vec<String> = card.tags.clone();
    match kind {
        RepoType::Model => {
            out.extend(card.pipeline_tag.clone());
            out.extend(files.library_name(card));
            if files.gguf {
                out.push("gguf".to_owned());
            }
            out.extend(
                files
                    .quantizations
                    .iter()
                    .map(|q| format!("quantization:{q}")),
            );
            out.extend(card.language.iter().cloned());
            out.extend(card.datasets.iter().map(|d| format!("dataset:{d}")));
            out.extend(card.base_model.iter().map(|b| format!("base_model:{b}")));
            // Hugging Face's model tree: `base_model:{relation}:{base}`, the
            // relation as the card states it.
            let relation = card
                .card_data
                .as_ref()
                .and_then(|d| d.get("base_model_relation"))
                .and_then(|r| r.as_str())
                .filter(|r| matches!(*r, "adapter" | "merge" | "quantized" | "finetune"));
            if let Some(relation) = relation {
                out.extend(
                    card.base_model
                        .iter()
                        .map(|b| format!("base_model:{relation}:{b}")),
                );
            }
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
        tags(kind, &parse_card(readme).metadata, &FileFacts::default())
    }

    #[test]
    fn gguf_files_tag_a_model() {
        let files: Vec<String> = [
            "README.md",
            "m-Q4_K_M.gguf",
            "m-q8_0.gguf",
            "sub/m-Q4_K_M-00001-of-00002.gguf",
        ]
        .map(String::from)
        .to_vec();
        let facts = FileFacts::of(&files);
        assert_eq!(facts.quantizations, ["Q4_K_M", "Q8_0"]);
        assert_eq!(
            tags(RepoType::Model, &parse_card("# card\n").metadata, &facts),
            ["gguf", "quantization:Q4_K_M", "quantization:Q8_0"]
        );
        // A card's own library stays the library; the repo is still `gguf`.
        let card = parse_card("---\nlibrary_name: transformers\n---\n").metadata;
        assert_eq!(facts.library_name(&card).as_deref(), Some("transformers"));
        assert_eq!(
            tags(RepoType::Model, &card, &facts),
            [
                "transformers",
                "gguf",
                "quantization:Q4_K_M",
                "quantization:Q8_0"
            ]
        );
        // Datasets do not take model tags from file names.
        assert!(tags(RepoType::Dataset, &card, &facts).is_empty());
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
