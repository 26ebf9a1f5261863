//! A Space's files at one commit, through the hub's API with the job's
//! download token (which reads that repo only): the list from
//! `GET /api/spaces/{id}/tree/{commit}?recursive=true` (paged with `Link`),
//! each file from `GET /spaces/{id}/resolve/{commit}/{path}`, streamed to
//! disk and verified ([`crate::files::download_file`]). A Space larger than
//! the runner's cap is refused before anything is downloaded, and the cap
//! also bounds what is written should the listing understate it.
//!
//! Kept under `code/{ns}--{name}/{commit}`, complete once renamed there.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use worker_protocol::ModelRef;

use super::{Dirs, KeyedLocks};
use crate::files::{NotServable, TooLarge, download_file};

/// Pages of a listing followed at most (1000 entries each).
const MAX_PAGES: usize = 100;

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    path: String,
    #[serde(default)]
    size: u64,
}

/// A path from the listing, refused if it could leave the directory.
fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

fn valid_ref(space: &ModelRef) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    space
        .repo_id
        .split_once('/')
        .is_some_and(|(ns, name)| part(ns) && part(name))
        && !space.revision.is_empty()
        && space.revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// The commit's files on disk (downloaded unless already there).
pub async fn fetch(
    http: &reqwest::Client,
    hub: &str,
    dirs: &Dirs,
    locks: &KeyedLocks,
    space: &ModelRef,
    max_bytes: u64,
) -> Result<PathBuf> {
    if !valid_ref(space) {
        return Err(NotServable(format!(
            "bad space reference {}@{}",
            space.repo_id, space.revision
        ))
        .into());
    }
    let dest = dirs.code(&space.repo_id, &space.revision);
    if dest.is_dir() {
        return Ok(dest);
    }
    let lock = locks.get(&dest.to_string_lossy());
    let _guard = lock.lock().await;
    if dest.is_dir() {
        return Ok(dest);
    }
    let files = list(http, hub, space).await?;
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    if total > max_bytes {
        return Err(NotServable(format!(
            "the space's files are {total} bytes, more than this runner's limit of {max_bytes}"
        ))
        .into());
    }
    let partial = dest.with_extension(format!("partial-{}", uuid::Uuid::new_v4().simple()));
    let result = download_all(http, hub, space, &files, &partial, max_bytes).await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_dir_all(&partial).await;
        return Err(match e.downcast::<TooLarge>() {
            Ok(too_large) => NotServable(too_large.0).into(),
            Err(e) => e,
        });
    }
    tokio::fs::rename(&partial, &dest).await?;
    Ok(dest)
}

async fn download_all(
    http: &reqwest::Client,
    hub: &str,
    space: &ModelRef,
    files: &[(String, u64)],
    dir: &Path,
    max_bytes: u64,
) -> Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let mut left = max_bytes;
    for (path, _) in files {
        let url = format!(
            "{hub}/spaces/{}/resolve/{}/{}",
            space.repo_id,
            space.revision,
            encode_path(path)
        );
        let dest = dir.join(path);
        if !download_file(http, &url, &space.download_token, &dest, path, Some(left)).await? {
            bail!("{path} is listed but the hub has no such file");
        }
        let size = tokio::fs::metadata(&dest).await?.len();
        left = left.saturating_sub(size);
    }
    Ok(())
}

/// (path, size) of every file of the commit.
async fn list(http: &reqwest::Client, hub: &str, space: &ModelRef) -> Result<Vec<(String, u64)>> {
    let mut url = Some(format!(
        "{hub}/api/spaces/{}/tree/{}?recursive=true",
        space.repo_id, space.revision
    ));
    let mut files = Vec::new();
    let mut pages = 0;
    while let Some(next) = url.take() {
        pages += 1;
        if pages > MAX_PAGES {
            return Err(NotServable(format!(
                "the space has more than {} files",
                MAX_PAGES * 1000
            ))
            .into());
        }
        let response = http
            .get(&next)
            .bearer_auth(&space.download_token)
            .send()
            .await
            .context("listing the space's files")?;
        if !response.status().is_success() {
            bail!(
                "listing the space's files: the hub answered {}",
                response.status()
            );
        }
        url = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let entries: Vec<Entry> = response.json().await.context("listing the space's files")?;
        for entry in entries.into_iter().filter(|e| e.kind == "file") {
            if !safe_path(&entry.path) {
                return Err(
                    NotServable(format!("the space has a file named {:?}", entry.path)).into(),
                );
            }
            files.push((entry.path, entry.size));
        }
    }
    Ok(files)
}

/// A repo path for a URL: each segment percent-encoded but for the
/// unreserved characters (a file may be named `a b#1.txt`).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"" || p.trim() == "rel=next")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_paged_and_paths_checked() {
        assert_eq!(
            next_link("<http://h/api/spaces/a/b/tree/c?cursor=1000>; rel=\"next\"").as_deref(),
            Some("http://h/api/spaces/a/b/tree/c?cursor=1000")
        );
        assert_eq!(next_link("<http://h/x>; rel=\"prev\""), None);
        assert!(safe_path("src/app.py"));
        assert_eq!(
            encode_path("src/a b#1/数.txt"),
            "src/a%20b%231/%E6%95%B0.txt"
        );
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"] {
            assert!(!safe_path(bad), "{bad}");
        }
    }
}
