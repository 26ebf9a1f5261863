//! Which `.gguf` file of a repo a request means: the quantisation tag of
//! `ns/name:Q4_K_M` (as Hugging Face and Ollama name them), matched
//! against the tags read from the file names, case-insensitively; without
//! a tag, Q4_K_M when the repo has it, else the smallest file.

use crate::error::{Error, Message, Result};
use crate::gguf::{self, is_gguf};
use crate::hub::Hub;
use crate::repos::access::{Authorized, level::Level};
use crate::repos::content::{self, EntryKind, TreeEntry};

/// The quantisation picked when a request names none: the usual
/// size/quality compromise, as llama.cpp's and Ollama's defaults.
pub const DEFAULT_TAG: &str = "Q4_K_M";

/// One servable GGUF model of a repo: a single file, or every part of a
/// split one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Upper case, e.g. `Q4_K_M`; the file name's stem when it names no
    /// quantisation we know.
    pub tag: String,
    /// Paths in the repo, parts in order.
    pub files: Vec<String>,
    /// Bytes of all the files.
    pub size: u64,
}

/// `name-00001-of-00003.gguf` → (`name`, 1, 3).
fn split_part(stem: &str) -> Option<(&str, u32, u32)> {
    let (rest, count) = stem.rsplit_once("-of-")?;
    let (base, no) = rest.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(no) || !digits(count) {
        return None;
    }
    Some((base, no.parse().ok()?, count.parse().ok()?))
}

/// The tag a file stem names: the quantisation it states
/// ([`gguf::quantization_in_name`], the rule search tags use too), else the
/// whole stem.
fn tag_of(stem: &str) -> String {
    gguf::quantization_in_name(stem).map_or_else(|| stem.to_ascii_uppercase(), str::to_owned)
}

/// The GGUF models among `entries` (a recursive listing), by tag. Files
/// that are no language model (vision projectors, `mmproj`) are left out,
/// as are split files missing a part; a tag that two files name is kept
/// for the first.
pub fn choices(entries: &[TreeEntry]) -> Vec<Choice> {
    let mut singles = Vec::new();
    let mut splits: std::collections::BTreeMap<String, Vec<(u32, u32, &TreeEntry)>> =
        Default::default();
    for e in entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && is_gguf(&e.path))
    {
        let file = e.path.rsplit('/').next().unwrap_or(&e.path);
        if file.to_ascii_lowercase().contains("mmproj") {
            continue;
        }
        let stem = &e.path[..e.path.len() - ".gguf".len()];
        match split_part(stem) {
            Some((base, no, count)) => splits
                .entry(base.to_owned())
                .or_default()
                .push((no, count, e)),
            None => singles.push(Choice {
                tag: tag_of(stem.rsplit('/').next().unwrap_or(stem)),
                files: vec![e.path.clone()],
                size: e.content_size(),
            }),
        }
    }
    for (base, mut parts) in splits {
        parts.sort_by_key(|p| p.0);
        let count = parts[0].1;
        let complete = parts.len() == count as usize
            && parts
                .iter()
                .enumerate()
                .all(|(i, p)| p.0 == i as u32 + 1 && p.1 == count);
        if !complete {
            continue;
        }
        singles.push(Choice {
            tag: tag_of(base.rsplit('/').next().unwrap_or(&base)),
            files: parts.iter().map(|p| p.2.path.clone()).collect(),
            size: parts.iter().map(|p| p.2.content_size()).sum(),
        });
    }
    let mut out: Vec<Choice> = Vec::new();
    for c in singles {
        if !out.iter().any(|o| o.tag == c.tag) {
            out.push(c);
        }
    }
    out.sort_by(|a, b| a.tag.cmp(&b.tag));
    out
}

/// The choice `tag` names (any case), or the default; an unknown tag is
/// a 400 that lists the tags there are.
pub fn choose<'a>(choices: &'a [Choice], tag: Option<&str>) -> Result<&'a Choice> {
    match tag {
        Some(tag) => choices
            .iter()
            .find(|c| c.tag.eq_ignore_ascii_case(tag))
            .ok_or_else(|| {
                Error::invalid(
                    Message::coded(
                        "inference.unknown_quantization",
                        "this model has no '{tag}' GGUF file; choose one of: {choices}",
                    )
                    .with("tag", tag)
                    .with("choices", tags(choices).join(", ")),
                )
            }),
        None => choices
            .iter()
            .find(|c| c.tag == DEFAULT_TAG)
            .or_else(|| choices.iter().min_by_key(|c| c.size))
            .ok_or_else(|| Error::invalid("this model has no GGUF files")),
    }
}

/// The files of the GGUF model a `llama.cpp -hf ns/name[:TAG]` download
/// means, at the default branch: its manifest request
/// (`GET /v2/{ns}/{name}/manifests/{tag}`) names `latest` when the user
/// gave no tag, which is the default choice here as on Hugging Face.
pub async fn manifest(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    tag: &str,
) -> Result<Vec<TreeEntry>> {
    let (_, entries) = content::list(hub, repo, &repo.default_branch, "", true).await?;
    let all = choices(&entries);
    let tag = (!tag.eq_ignore_ascii_case("latest")).then_some(tag);
    let chosen = choose(&all, tag)?;
    Ok(chosen
        .files
        .iter()
        .filter_map(|path| entries.iter().find(|e| &e.path == path).cloned())
        .collect())
}

pub fn tags(choices: &[Choice]) -> Vec<String> {
    choices.iter().map(|c| c.tag.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> TreeEntry {
        TreeEntry {
            path: path.into(),
            kind: EntryKind::File,
            oid: String::new(),
            size,
            lfs: None,
        }
    }

    #[test]
    fn tags_from_file_names() {
        assert_eq!(tag_of("qwen2.5-0.5b-instruct-q4_k_m"), "Q4_K_M");
        assert_eq!(tag_of("Llama-3.2-1B-Instruct.Q8_0"), "Q8_0");
        assert_eq!(tag_of("model-UD-Q4_K_XL"), "Q4_K_XL");
        assert_eq!(tag_of("model-f16"), "F16");
        assert_eq!(tag_of("m-q4_k_m_imatrix"), "Q4_K_M");
        assert_eq!(tag_of("weights"), "WEIGHTS");
        assert_eq!(split_part("m-Q8_0-00002-of-00003"), Some(("m-Q8_0", 2, 3)));
        assert_eq!(split_part("m-Q8_0-2-of-3"), None);
    }

    #[test]
    fn chooses_by_tag_default_and_smallest() {
        let entries = vec![
            file("README.md", 10),
            file("m-Q8_0.gguf", 800),
            file("m-Q4_K_M.gguf", 400),
            file("big/m-F16-00002-of-00002.gguf", 900),
            file("big/m-F16-00001-of-00002.gguf", 900),
            file("mmproj-m-f16.gguf", 100),
            file("cut-Q2_K-00001-of-00002.gguf", 10),
        ];
        let all = choices(&entries);
        assert_eq!(tags(&all), ["F16", "Q4_K_M", "Q8_0"]);
        let f16 = choose(&all, Some("f16")).unwrap();
        assert_eq!(
            f16.files,
            [
                "big/m-F16-00001-of-00002.gguf",
                "big/m-F16-00002-of-00002.gguf"
            ]
        );
        assert_eq!(f16.size, 1800);
        assert_eq!(choose(&all, None).unwrap().tag, "Q4_K_M");
        let err = choose(&all, Some("Q5_K_M")).unwrap_err().to_string();
        assert!(err.contains("F16, Q4_K_M, Q8_0"), "{err}");
        let no_default = choices(&entries[..2]);
        assert_eq!(choose(&no_default, None).unwrap().tag, "Q8_0");
    }
}
