//! Async reads of a repo's content for the routes: each runs the blocking
//! git read off the executor. The caller has already checked read access.

use std::path::PathBuf;

use git2::Oid;

use super::Repo;
use crate::error::Result;
use crate::git::{self, read};
use crate::hub::Hub;
use crate::paths::normalize_folder_path;

pub use crate::git::read::{CommitInfo, EntryKind, FileDiff, TreeEntry};

async fn with_git<T: Send + 'static>(
    path: PathBuf,
    f: impl FnOnce(&git2::Repository) -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(move || f(&git::open(&path)?)).await?
}

/// The commit a revision names (branch, tag or sha), as 40 hex digits.
pub async fn resolve(hub: &Hub, repo: &Repo, rev: &str) -> Result<String> {
    let rev = rev.to_owned();
    with_git(hub.repo_dir(repo.id), move |g| {
        Ok(read::resolve_revision(g, &rev)?.to_string())
    })
    .await
}

/// Lists a folder at a revision; returns the resolved commit too.
pub async fn list(
    hub: &Hub,
    repo: &Repo,
    rev: &str,
    folder: &str,
    recursive: bool,
) -> Result<(String, Vec<TreeEntry>)> {
    let (rev, folder) = (rev.to_owned(), normalize_folder_path(folder)?);
    with_git(hub.repo_dir(repo.id), move |g| {
        let commit = read::resolve_revision(g, &rev)?;
        Ok((
            commit.to_string(),
            read::list_tree(g, commit, &folder, recursive)?,
        ))
    })
    .await
}

/// The whole content of a small (git-stored) file at a commit.
pub async fn read_small_file(
    hub: &Hub,
    repo: &Repo,
    commit: &str,
    path: &str,
) -> Result<Option<Vec<u8>>> {
    let (commit, path) = (commit.to_owned(), path.to_owned());
    with_git(hub.repo_dir(repo.id), move |g| {
        let oid =
            Oid::from_str(&commit).map_err(|_| crate::Error::RevisionNotFound(commit.clone()))?;
        read::read_file(g, oid, &path)
    })
    .await
}

/// A page of history from a revision, newest first, and the total count.
pub async fn history(
    hub: &Hub,
    repo: &Repo,
    rev: &str,
    skip: usize,
    limit: usize,
) -> Result<(Vec<CommitInfo>, usize)> {
    let rev = rev.to_owned();
    with_git(hub.repo_dir(repo.id), move |g| {
        let start = read::resolve_revision(g, &rev)?;
        Ok((
            read::log(g, start, skip, limit)?,
            read::count_commits(g, start)?,
        ))
    })
    .await
}

/// A file at a resolved commit (`EntryNotFound` when there is none).
pub async fn file_at(hub: &Hub, repo: &Repo, commit: &str, path: &str) -> Result<TreeEntry> {
    let path = crate::paths::normalize_repo_path(path)
        .map_err(|_| crate::Error::EntryNotFound(path.to_owned()))?;
    let commit = commit.to_owned();
    with_git(hub.repo_dir(repo.id), move |g| {
        let oid =
            Oid::from_str(&commit).map_err(|_| crate::Error::RevisionNotFound(commit.clone()))?;
        read::file_entry(g, oid, &path)
    })
    .await
}

pub type ByteStream = futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// The bytes of a file (the LFS object's for LFS files), or of `range`
/// within them; `range` must lie inside the file. LFS objects stream from
/// object storage and are never held whole in memory.
pub async fn read(
    hub: &Hub,
    repo: &Repo,
    entry: &TreeEntry,
    range: Option<std::ops::Range<u64>>,
) -> Result<ByteStream> {
    use futures::StreamExt;
    match &entry.lfs {
        Some(pointer) => {
            let options = object_store::GetOptions {
                range: range.map(object_store::GetRange::Bounded),
                ..Default::default()
            };
            let found = hub
                .storage
                .store
                .get_opts(&crate::storage::lfs_object_path(&pointer.oid), options)
                .await?;
            Ok(found
                .into_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other))
                .boxed())
        }
        None => {
            // Plain git blobs are bounded by the 10 MB limit: read whole, send the range.
            let oid = entry.oid.clone();
            let blob = with_git(hub.repo_dir(repo.id), move |g| read::read_blob(g, &oid)).await?;
            let blob = bytes::Bytes::from(blob);
            let len = blob.len() as u64;
            let range = range.unwrap_or(0..len);
            let part = blob.slice(range.start.min(len) as usize..range.end.min(len) as usize);
            Ok(futures::stream::once(async move { Ok(part) }).boxed())
        }
    }
}
