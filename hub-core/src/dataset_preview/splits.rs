//! Which split each data file belongs to: the dataset card's `configs:`
//! when it has them, as the `datasets` library reads them, else the file's
//! name ([`split_of`](super::split_of)).
//!
//! ```yaml
//! configs:
//! - config_name: default
//!   data_files:
//!   - split: train
//!     path: data/train-*
//!   - split: test
//!     path: [data/test.csv, data/extra/*.csv]
//! ```
//!
//! `data_files` may also be one pattern or a list of them (all `train`), or
//! a mapping of split to patterns. Patterns are globs from the repo root
//! (`*` stays within a folder, `**` crosses folders), matched with the
//! hub's one glob engine. Bounded: at most [`MAX_SPLITS`] splits of
//! [`MAX_PATTERNS`] patterns each are read from a card.

use serde_json::Value;

use crate::wildmatch::Pattern;

/// Most splits (over all configs) read from a card.
pub const MAX_SPLITS: usize = 50;
/// Most patterns read for one split.
pub const MAX_PATTERNS: usize = 20;
/// Longest config or split name kept (in characters).
const MAX_NAME_CHARS: usize = 100;

/// One split of one config of the card.
#[derive(Debug, Clone)]
pub struct CardSplit {
    pub config: String,
    pub split: String,
    patterns: Vec<Pattern>,
}

impl CardSplit {
    /// Whether the repo file `path` is one of the split's data files.
    pub fn matches(&self, path: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(path.as_bytes()))
    }
}

/// The splits the card's `configs:` name, in the card's order; empty when
/// it has none (or none that can be read).
pub fn from_card(card_data: Option<&Value>) -> Vec<CardSplit> {
    let Some(Value::Array(configs)) = card_data.and_then(|d| d.get("configs")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for config in configs {
        let name = match config.get("config_name") {
            Some(Value::String(s)) => short(s),
            _ => "default".to_owned(),
        };
        let Some(files) = config.get("data_files") else {
            continue;
        };
        for (split, paths) in data_files(files) {
            if out.len() == MAX_SPLITS {
                return out;
            }
            let patterns: Vec<Pattern> = patterns(paths)
                .into_iter()
                .take(MAX_PATTERNS)
                .filter_map(|p| {
                    Pattern::compile(format!("/{}", p.trim_start_matches('/')).as_bytes())
                })
                .collect();
            if !patterns.is_empty() {
                out.push(CardSplit {
                    config: name.clone(),
                    split: short(split),
                    patterns,
                });
            }
        }
    }
    out
}

/// The (split, paths) pairs of a config's `data_files`.
fn data_files(files: &Value) -> Vec<(&str, &Value)> {
    match files {
        Value::String(_) => vec![("train", files)],
        Value::Array(items) if items.iter().all(Value::is_string) => vec![("train", files)],
        Value::Array(items) => items
            .iter()
            .filter_map(|item| {
                let split = item.get("split").and_then(Value::as_str).unwrap_or("train");
                Some((split, item.get("path")?))
            })
            .collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        _ => Vec::new(),
    }
}

/// The patterns of a `path`: one string or a list of them.
fn patterns(paths: &Value) -> Vec<&str> {
    match paths {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// A split offered by the viewer, and its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The card's config, when the card names more than one.
    pub config: Option<String>,
    pub name: String,
    /// Indices of its files in the paths given to [`group`].
    pub files: Vec<usize>,
}

/// The splits of `paths` (the previewable files) in the order the viewer
/// offers them (the card's, else train, validation, test), and the split
/// of each path (an index into them). A file in several splits of the
/// card belongs to the first.
pub fn group(card_data: Option<&Value>, paths: &[String]) -> (Vec<Split>, Vec<Option<usize>>) {
    let card = from_card(card_data);
    let mut splits: Vec<Split> = if card.is_empty() {
        ["train", "validation", "test"]
            .iter()
            .map(|name| Split {
                config: None,
                name: (*name).to_owned(),
                files: Vec::new(),
            })
            .collect()
    } else {
        let several = card.iter().any(|s| s.config != card[0].config);
        card.iter()
            .map(|s| Split {
                config: several.then(|| s.config.clone()),
                name: s.split.clone(),
                files: Vec::new(),
            })
            .collect()
    };
    for (i, path) in paths.iter().enumerate() {
        let split = if card.is_empty() {
            super::split_of(path).and_then(|n| splits.iter().position(|s| s.name == n))
        } else {
            card.iter().position(|s| s.matches(path))
        };
        if let Some(s) = split {
            splits[s].files.push(i);
        }
    }
    // Splits without files are not offered; indices follow.
    let mut of_path = vec![None; paths.len()];
    splits.retain(|s| !s.files.is_empty());
    for (n, split) in splits.iter().enumerate() {
        for &f in &split.files {
            of_path[f] = Some(n);
        }
    }
    (splits, of_path)
}

fn short(s: &str) -> String {
    s.chars().take(MAX_NAME_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_from_the_cards_configs() {
        let card = serde_json::json!({
            "configs": [
                {
                    "config_name": "zh",
                    "data_files": [
                        {"split": "train", "path": "zh/part-*.jsonl"},
                        {"split": "dev", "path": ["zh/dev.csv", "extra/**/*.csv"]},
                    ],
                },
                {"config_name": "all", "data_files": "**/*.parquet"},
                {"data_files": {"test": "t.csv"}},
                {"config_name": "empty"},
            ]
        });
        let splits = from_card(Some(&card));
        let names: Vec<_> = splits
            .iter()
            .map(|s| (s.config.as_str(), s.split.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("zh", "train"),
                ("zh", "dev"),
                ("all", "train"),
                ("default", "test")
            ]
        );
        assert!(splits[0].matches("zh/part-1.jsonl"));
        assert!(
            !splits[0].matches("zh/sub/part-1.jsonl"),
            "* stays in a folder"
        );
        assert!(splits[1].matches("extra/a/b/x.csv"));
        assert!(splits[2].matches("a/b.parquet"));
        assert!(splits[3].matches("t.csv"));
        assert!(!splits[3].matches("data/t.csv"), "from the repo root");
        assert!(from_card(None).is_empty());
        let paths: Vec<String> = [
            "zh/dev.csv",
            "zh/part-1.jsonl",
            "zh/part-2.jsonl",
            "other.csv",
        ]
        .map(String::from)
        .to_vec();
        let (groups, of_path) = group(Some(&card), &paths);
        assert_eq!(groups[0].name, "train");
        assert_eq!(groups[0].config.as_deref(), Some("zh"));
        assert_eq!(groups[0].files, [1, 2]);
        assert_eq!(groups[1].files, [0]);
        assert_eq!(groups.len(), 2, "splits without files are not offered");
        assert_eq!(of_path, [Some(1), Some(0), Some(0), None]);
        // Without configs: by file name.
        let (groups, of_path) = group(None, &paths);
        let names: Vec<_> = groups.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["validation"]);
        assert_eq!(of_path, [Some(0), None, None, None]);
        assert!(from_card(Some(&serde_json::json!({"configs": "x"}))).is_empty());
    }
}
