//! The upload page's streamed body, read and committed.
//!
//! The page's script sends one POST: a first line of JSON naming the files,
//! their sizes and the commit message (the [`Manifest`]), then the files'
//! bytes back to back, exactly as many as declared. Everything is bounded
//! before it is read: the manifest line's length, the number of files,
//! their declared total, and the time the client may stay silent. Each file
//! is staged as it arrives ([`Staging::file`]: to disk, never whole in
//! memory), and all of them land in one commit on the branch.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};

use super::staging::Staging;
use crate::commits::{NewCommit, Target, TargetedCommit, commit_to};
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::idle_timeout::IdleTimeout;
use crate::paths::normalize_repo_path;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;
use crate::repos::content;

/// Most bytes of the JSON line that starts an upload.
pub const MAX_MANIFEST_BYTES: usize = 1024 * 1024;
/// Most files in one upload (one commit).
pub const MAX_FILES: usize = 1000;
/// Most bytes of files in one upload: the files of a large model. Bigger
/// sets go through `git lfs` or `huggingface_hub`, which resume.
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// Longest time the client may send nothing before the upload is dropped.
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// Buffer between the body and the staging of its files.
const READ_BUFFER: usize = 64 * 1024;

/// The first line of an upload.
#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub summary: String,
    #[serde(default)]
    pub description: String,
    pub files: Vec<ManifestFile>,
    /// Open a pull request with the files instead of committing them on
    /// the branch (what the page asks for when the visitor cannot write).
    #[serde(default)]
    pub create_pr: bool,
}

#[derive(Debug, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub size: u64,
}

impl Manifest {
    /// Parses and checks a manifest line: at least one and at most
    /// [`MAX_FILES`] files, valid and distinct paths, at most
    /// [`MAX_UPLOAD_BYTES`] declared, a summary.
    pub fn parse(line: &[u8]) -> Result<Manifest> {
        let mut manifest: Manifest = serde_json::from_slice(line).map_err(|e| {
            Error::invalid(
                Message::coded(
                    "upload.bad_manifest",
                    "the upload manifest is not valid: {detail}",
                )
                .with("detail", e),
            )
        })?;
        if manifest.files.is_empty() {
            return Err(Error::invalid(Message::coded(
                "upload.no_files",
                "choose at least one file to upload",
            )));
        }
        if manifest.files.len() > MAX_FILES {
            return Err(Error::invalid(
                Message::coded("upload.too_many_files", "at most {max} files per upload")
                    .with("max", MAX_FILES),
            ));
        }
        if manifest.summary.trim().is_empty() {
            return Err(Error::invalid(Message::coded(
                "commit.no_summary",
                "a commit needs a summary",
            )));
        }
        let total = manifest
            .files
            .iter()
            .try_fold(0u64, |sum, f| sum.checked_add(f.size))
            .filter(|&total| total <= MAX_UPLOAD_BYTES);
        if total.is_none() {
            return Err(Error::too_large(
                Message::coded(
                    "upload.too_large",
                    "at most {gib} GiB per upload; use git lfs or huggingface_hub for more",
                )
                .with("gib", MAX_UPLOAD_BYTES >> 30),
            ));
        }
        let mut seen = HashSet::new();
        for file in &mut manifest.files {
            file.path = normalize_repo_path(&file.path)?;
            if !seen.insert(file.path.as_str()) {
                return Err(Error::invalid(
                    Message::coded("upload.twice", "{path} appears twice in the upload")
                        .with("path", &file.path),
                ));
            }
        }
        Ok(manifest)
    }
}

/// Reads an upload from `body` and commits its files on `branch` as the
/// proof's actor, or, when the manifest asks for it, opens a pull request
/// against `branch` with them (any participant may; committing on the
/// branch takes write access, checked before any file is read). Refuses
/// (committing nothing) a body that is shorter or longer than its manifest
/// says, or that stalls for [`IDLE_LIMIT`].
pub async fn upload(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    branch: &str,
    body: impl AsyncRead + Unpin,
) -> Result<TargetedCommit> {
    let tip = content::branch_tip(hub, repo, branch).await?;
    let staging = Staging::new(hub, repo, &tip).await?;
    let mut body = BufReader::with_capacity(READ_BUFFER, IdleTimeout::new(body, IDLE_LIMIT));
    let manifest = Manifest::parse(&read_manifest_line(&mut body).await?)?;
    let target = match manifest.create_pr {
        true => Target::NewPullRequest(Some(branch.to_owned())),
        false => Target::Branch(Some(branch.to_owned())),
    };
    target.check(hub, repo).await?;
    let mut operations = Vec::with_capacity(manifest.files.len());
    for file in &manifest.files {
        operations.push(staging.file(&file.path, file.size, &mut body).await?);
    }
    let mut rest = [0u8; 1];
    match body.read(&mut rest).await {
        Ok(0) => {}
        Ok(_) => {
            return Err(Error::invalid(Message::coded(
                "upload.too_long",
                "the upload is longer than its manifest says",
            )));
        }
        Err(e) => {
            return Err(Error::invalid(
                Message::coded("upload.no_end", "the upload did not end: {detail}")
                    .with("detail", e),
            ));
        }
    }
    // The one call into the commit path: all staged files in one commit.
    commit_to(
        hub,
        repo,
        target,
        NewCommit {
            branch: Some(branch.to_owned()),
            summary: manifest.summary,
            description: manifest.description,
            operations,
            expected_parent: None,
        },
    )
    .await
}

/// The manifest line, without reading past [`MAX_MANIFEST_BYTES`].
async fn read_manifest_line(body: &mut (impl AsyncBufRead + Unpin)) -> Result<Vec<u8>> {
    let mut line = Vec::new();
    body.take(MAX_MANIFEST_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| {
            Error::invalid(
                Message::coded("upload.unreadable", "cannot read the upload: {detail}")
                    .with("detail", e),
            )
        })?;
    if line.last() == Some(&b'\n') {
        return Ok(line);
    }
    if line.len() > MAX_MANIFEST_BYTES {
        return Err(Error::too_large(
            Message::coded(
                "upload.manifest_too_long",
                "the upload manifest is longer than {kib} KiB",
            )
            .with("kib", MAX_MANIFEST_BYTES / 1024),
        ));
    }
    Err(Error::invalid(Message::coded(
        "upload.no_manifest",
        "the upload does not start with a manifest line",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: &[(&str, u64)]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "summary": "s",
            "files": files.iter().map(|(p, s)| serde_json::json!({"path": p, "size": s})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn a_manifest_is_checked_before_any_file_is_read() {
        let ok = Manifest::parse(&manifest(&[("a//b.txt", 3), ("c.bin", 1 << 30)])).unwrap();
        assert_eq!(ok.files[0].path, "a/b.txt", "paths come back normalised");
        for (line, needle) in [
            (manifest(&[]), "at least one file"),
            (manifest(&[("../x", 1)]), ""),
            (manifest(&[("a", 1), ("./a", 1)]), "appears twice"),
            (b"{\"files\":[]".to_vec(), "not valid"),
            (
                br#"{"summary":" ","files":[{"path":"a","size":1}]}"#.to_vec(),
                "summary",
            ),
        ] {
            let err = Manifest::parse(&line).unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
            assert!(err.to_string().contains(needle), "{err}");
        }
        let many: Vec<(String, u64)> = (0..=MAX_FILES).map(|i| (format!("f{i}"), 1)).collect();
        let many: Vec<(&str, u64)> = many.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        assert!(Manifest::parse(&manifest(&many)).is_err());
    }

    #[test]
    fn the_declared_total_is_bounded() {
        for files in [
            vec![("a", MAX_UPLOAD_BYTES + 1)],
            vec![("a", MAX_UPLOAD_BYTES), ("b", 1)],
            vec![("a", u64::MAX), ("b", u64::MAX)],
        ] {
            let err = Manifest::parse(&manifest(&files)).unwrap_err();
            assert!(matches!(err, Error::PayloadTooLarge(_)), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_long_manifest_line_is_too_large() {
        let long = vec![b' '; MAX_MANIFEST_BYTES + 10];
        let err = read_manifest_line(&mut &long[..]).await.unwrap_err();
        assert!(matches!(err, Error::PayloadTooLarge(_)), "{err:?}");
        let err = read_manifest_line(&mut &b"{}"[..]).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert_eq!(
            read_manifest_line(&mut &b"{}\nrest"[..]).await.unwrap(),
            b"{}\n"
        );
    }
}
