//! Planning an upload before any bytes move (Hugging Face's `preupload`):
//! for each file a client means to commit, whether it goes to LFS or inline
//! (by the one rule, [`crate::lfs::rules::should_use_lfs`], with the
//! revision's `.gitattributes`), whether git would ignore it, and the oid of
//! the file already at that path, so the client skips unchanged files.

use crate::error::{Error, Result};
use crate::git::{self, read};
use crate::gitignore::IgnoreRules;
use crate::hub::Hub;
use crate::lfs::rules::{LfsPatterns, should_use_lfs};
use crate::paths::normalize_repo_path;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;

/// Most files planned in one request (the HF client sends 256 at a time).
pub const MAX_FILES: usize = 1000;

/// A file the client is about to upload.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// As the client sent it; echoed back unchanged.
    pub path: String,
    pub size: u64,
    /// The start of the file (the HF client sends up to 512 bytes).
    pub sample: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    Lfs,
    Regular,
}

impl UploadMode {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadMode::Lfs => "lfs",
            UploadMode::Regular => "regular",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPlan {
    pub path: String,
    pub mode: UploadMode,
    pub should_ignore: bool,
    /// The file now at this path: its sha256 when it is in LFS, its git
    /// blob id otherwise (what the client compares with its own hash).
    pub oid: Option<String>,
}

/// Plans `files` against `revision`; returns the resolved commit and one
/// plan per file, in order. `gitignore` is the client's `.gitignore` text;
/// without it the revision's own `.gitignore` applies. Needs write access.
pub async fn plan(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    revision: &str,
    create_pr: bool,
    files: Vec<PlannedFile>,
    gitignore: Option<String>,
) -> Result<(String, Vec<UploadPlan>)> {
    // Who may ask is who may commit there (a reader, for a pull request).
    super::Target::of_revision(revision, create_pr)?
        .check(hub, repo)
        .await?;
    if files.len() > MAX_FILES {
        return Err(Error::invalid(format!(
            "at most {MAX_FILES} files per preupload request"
        )));
    }
    let (path, revision) = (hub.repo_dir(repo.id), revision.to_owned());
    tokio::task::spawn_blocking(move || {
        let g = git::open(&path)?;
        let commit = read::resolve_revision(&g, &revision)?;
        let text = |name: &str| -> Result<String> {
            let bytes = read::read_file(&g, commit, name)?.unwrap_or_default();
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        };
        let patterns = LfsPatterns::parse(&text(".gitattributes")?);
        let ignore = IgnoreRules::parse(&match gitignore {
            Some(given) => given,
            None => text(".gitignore")?,
        });
        let plans = files
            .into_iter()
            .map(|file| {
                let existing = match normalize_repo_path(&file.path) {
                    Ok(p) => existing_oid(&g, commit, &p)?,
                    Err(_) => None,
                };
                plan_file(&patterns, &ignore, file, existing)
            })
            .collect::<Result<_>>()?;
        Ok((commit.to_string(), plans))
    })
    .await?
}

fn existing_oid(g: &git2::Repository, commit: git2::Oid, path: &str) -> Result<Option<String>> {
    match read::file_entry(g, commit, path) {
        Ok(entry) => Ok(Some(entry.lfs.map_or(entry.oid, |p| p.oid))),
        Err(Error::EntryNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The plan for one file. Paths inside a `.git` folder are ignored, as git
/// ignores them; any other path the commit would refuse is refused now.
fn plan_file(
    patterns: &LfsPatterns,
    ignore: &IgnoreRules,
    file: PlannedFile,
    existing: Option<String>,
) -> Result<UploadPlan> {
    let inside_git = file
        .path
        .split('/')
        .any(|part| part.eq_ignore_ascii_case(".git"));
    if inside_git {
        return Ok(UploadPlan {
            path: file.path,
            mode: UploadMode::Regular,
            should_ignore: true,
            oid: None,
        });
    }
    let normalized = normalize_repo_path(&file.path).map_err(super::refused_path)?;
    let lfs = should_use_lfs(patterns, &normalized, file.size, &file.sample);
    Ok(UploadPlan {
        should_ignore: ignore.is_ignored(&normalized),
        mode: if lfs {
            UploadMode::Lfs
        } else {
            UploadMode::Regular
        },
        path: file.path,
        oid: existing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lfs::rules::DEFAULT_GITATTRIBUTES;

    fn plan_one(path: &str, size: u64, sample: &[u8], gitignore: &str) -> Result<UploadPlan> {
        let file = PlannedFile {
            path: path.to_owned(),
            size,
            sample: sample.to_vec(),
        };
        plan_file(
            &LfsPatterns::parse(DEFAULT_GITATTRIBUTES),
            &IgnoreRules::parse(gitignore),
            file,
            None,
        )
    }

    #[test]
    fn modes_follow_the_one_rule() {
        let mode = |path, size, sample: &[u8]| plan_one(path, size, sample, "").unwrap().mode;
        assert_eq!(mode("model.safetensors", 10, b"x"), UploadMode::Lfs);
        assert_eq!(
            mode("data/train-00000-of-00001.parquet", 10, b"PAR1"),
            UploadMode::Lfs
        );
        assert_eq!(mode("README.md", 10, b"# hi"), UploadMode::Regular);
        assert_eq!(mode("big.txt", 11 * 1024 * 1024, b"text"), UploadMode::Lfs);
        assert_eq!(mode("blob.dat", 10, b"a\0b"), UploadMode::Lfs);
        assert_eq!(
            mode(".gitattributes", 10, b"*.x filter=lfs"),
            UploadMode::Regular
        );
    }

    #[test]
    fn ignored_and_refused_paths() {
        let p = plan_one(".git/config", 3, b"x", "").unwrap();
        assert!(p.should_ignore);
        assert_eq!(p.path, ".git/config");
        assert!(plan_one("sub/.GIT/x", 3, b"x", "").unwrap().should_ignore);
        assert!(
            plan_one("logs/a.log", 3, b"x", "*.log\n")
                .unwrap()
                .should_ignore
        );
        assert!(!plan_one("a.txt", 3, b"x", "*.log\n").unwrap().should_ignore);
        assert!(matches!(
            plan_one("../escape.txt", 3, b"x", ""),
            Err(Error::RefusedPath(_))
        ));
        // Echoed exactly as sent, even when it normalises differently.
        assert_eq!(
            plan_one("./a//b.txt", 3, b"x", "").unwrap().path,
            "./a//b.txt"
        );
    }
}
