//! The NDJSON commit payload of the Hugging Face commit API, one line at a
//! time: a `header` line first, then `file`, `lfsFile`, `deletedFile` and
//! `deletedFolder` lines. Parsing a line never panics; a bad line is a clear
//! `InvalidInput` naming the line number. [`commit`] reads a whole payload
//! and commits it through [`super::commit`].

use base64::Engine;
use futures::{Stream, StreamExt};
use serde::Deserialize;

use super::{NewCommit, Target, TargetedCommit, lfs_links};
use crate::error::{Error, Result};
use crate::git::commit::{CommitOutcome, FileSource, Operation};
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;

/// Longest accepted line: a 10 MB plain file in base64, with room to spare.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Most inline (base64-decoded) content in one commit; more must use LFS.
pub const MAX_INLINE_BYTES: usize = 256 * 1024 * 1024;

/// What a committed payload said and made.
#[derive(Debug, Clone)]
pub struct Committed {
    pub outcome: CommitOutcome,
    pub summary: String,
    /// The pull request the commit went to (opened by it, or added to).
    pub pull_request: Option<i64>,
}

/// Reads the payload's `lines` (each at most [`MAX_LINE_BYTES`], split by
/// the caller) and commits them to `target`, if the caller may (checked
/// before the payload is read).
pub async fn commit(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    target: Target,
    lines: impl Stream<Item = Result<String>>,
) -> Result<Committed> {
    target.check(hub, repo).await?;
    let mut lines = std::pin::pin!(lines);
    let mut header = None;
    let mut operations = Vec::new();
    let mut inline_bytes = 0usize;
    let mut number = 0;
    while let Some(line) = lines.next().await {
        number += 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line, number)? {
            PayloadLine::Header {
                summary,
                description,
                parent_commit,
            } if header.is_none() => {
                header = Some((summary, description, parent_commit));
            }
            PayloadLine::Header { .. } => {
                return Err(Error::invalid("the commit payload has two headers"));
            }
            PayloadLine::Operation(op) => {
                if let Operation::Put {
                    source: FileSource::Bytes(b),
                    ..
                } = &op
                {
                    inline_bytes += b.len();
                    if inline_bytes > MAX_INLINE_BYTES {
                        return Err(Error::too_large(
                            "too much inline content in one commit; use LFS",
                        ));
                    }
                }
                operations.push(op);
            }
            PayloadLine::LfsFile { path, oid, size } => {
                let pointer = lfs_links::pointer_for(hub, repo, &oid, size).await?;
                operations.push(Operation::Put {
                    path,
                    source: FileSource::Lfs(pointer),
                });
            }
        }
    }
    let (summary, description, expected_parent) =
        header.ok_or_else(|| Error::invalid("the commit payload has no header line"))?;
    let new = NewCommit {
        branch: None,
        summary: summary.clone(),
        description,
        operations,
        expected_parent,
    };
    let TargetedCommit {
        outcome,
        pull_request,
    } = super::commit_to(hub, repo, target, new).await?;
    Ok(Committed {
        outcome,
        summary,
        pull_request,
    })
}

#[derive(Debug)]
pub enum PayloadLine {
    Header {
        summary: String,
        description: String,
        parent_commit: Option<String>,
    },
    Operation(Operation),
    /// An LFS file by oid; `size` is absent for copies and looked up by the caller.
    LfsFile {
        path: String,
        oid: String,
        size: Option<u64>,
    },
}

#[derive(Deserialize)]
struct Raw {
    key: String,
    value: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: String,
    parent_commit: Option<String>,
}

#[derive(Deserialize)]
struct File {
    path: String,
    content: String,
    #[serde(default)]
    encoding: Option<String>,
}

#[derive(Deserialize)]
struct LfsFile {
    path: String,
    oid: String,
    #[serde(default)]
    algo: Option<String>,
    size: Option<u64>,
}

#[derive(Deserialize)]
struct Deleted {
    path: String,
}

/// Parses line `number` (1-based, for messages).
pub fn parse_line(line: &str, number: usize) -> Result<PayloadLine> {
    let bad = |what: String| Error::invalid(format!("commit payload line {number}: {what}"));
    let raw: Raw = serde_json::from_str(line).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let value = raw.value;
    let field = |e: serde_json::Error| bad(format!("bad '{}' value: {e}", raw.key));
    Ok(match raw.key.as_str() {
        "header" => {
            let h: Header = serde_json::from_value(value).map_err(field)?;
            PayloadLine::Header {
                summary: h.summary,
                description: h.description,
                parent_commit: h.parent_commit,
            }
        }
        "file" => {
            let f: File = serde_json::from_value(value).map_err(field)?;
            let bytes = match f.encoding.as_deref() {
                None | Some("base64") => base64::engine::general_purpose::STANDARD
                    .decode(f.content.as_bytes())
                    .map_err(|e| bad(format!("content of {} is not valid base64: {e}", f.path)))?,
                Some("utf-8") | Some("utf8") => f.content.into_bytes(),
                Some(other) => return Err(bad(format!("unknown encoding '{other}'"))),
            };
            PayloadLine::Operation(Operation::Put {
                path: f.path,
                source: FileSource::Bytes(bytes),
            })
        }
        "lfsFile" => {
            let f: LfsFile = serde_json::from_value(value).map_err(field)?;
            if f.algo.as_deref().is_some_and(|a| a != "sha256") {
                return Err(bad("only sha256 LFS objects are supported".into()));
            }
            let oid = f.oid.to_ascii_lowercase();
            if oid.len() != 64 || !oid.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad(format!("'{}' is not a sha256", f.oid)));
            }
            PayloadLine::LfsFile {
                path: f.path,
                oid,
                size: f.size,
            }
        }
        "deletedFile" => {
            let d: Deleted = serde_json::from_value(value).map_err(field)?;
            PayloadLine::Operation(Operation::Delete { path: d.path })
        }
        "deletedFolder" => {
            let d: Deleted = serde_json::from_value(value).map_err(field)?;
            PayloadLine::Operation(Operation::DeleteFolder { path: d.path })
        }
        other => return Err(bad(format!("unknown key '{other}'"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let h = parse_line(
            r#"{"key":"header","value":{"summary":"s","description":"","parentCommit":"abcde"}}"#,
            1,
        )
        .unwrap();
        assert!(
            matches!(h, PayloadLine::Header { parent_commit: Some(ref p), .. } if p == "abcde")
        );
        let f = parse_line(
            r#"{"key":"file","value":{"path":"a.txt","content":"aGk=","encoding":"base64"}}"#,
            2,
        )
        .unwrap();
        assert!(
            matches!(f, PayloadLine::Operation(Operation::Put { source: FileSource::Bytes(ref b), .. }) if b == b"hi")
        );
        let oid = "a".repeat(64);
        let l = parse_line(&format!(r#"{{"key":"lfsFile","value":{{"path":"w.bin","algo":"sha256","oid":"{oid}","size":3}}}}"#), 3).unwrap();
        assert!(matches!(l, PayloadLine::LfsFile { size: Some(3), .. }));
        let d = parse_line(r#"{"key":"deletedFolder","value":{"path":"sub/"}}"#, 4).unwrap();
        assert!(matches!(
            d,
            PayloadLine::Operation(Operation::DeleteFolder { .. })
        ));
    }

    #[test]
    fn bad_lines_name_their_number() {
        for (line, needle) in [
            ("{not json", "line 7: not valid JSON"),
            (
                r#"{"key":"file","value":{"path":"a","content":"!!!"}}"#,
                "not valid base64",
            ),
            (
                r#"{"key":"lfsFile","value":{"path":"a","oid":"xyz"}}"#,
                "is not a sha256",
            ),
            (r#"{"key":"copyFile","value":{}}"#, "unknown key"),
            (
                r#"{"key":"file","value":{"content":"aGk="}}"#,
                "bad 'file' value",
            ),
        ] {
            let err = parse_line(line, 7).unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("line 7"), "{err}");
        }
    }
}
