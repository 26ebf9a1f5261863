//! Async reads of a repo's content for the routes: each runs the blocking
//! git read off the executor, on a kept handle ([`crate::git::handles`]).
//! Each takes the [`Authorized`] proof of the access check, and keeps a
//! job's download grant to its one commit. What a commit or blob id names
//! is kept in [`super::content_cache`]; revisions are resolved in git on
//! every call.

use std::sync::Arc;

use git2::Oid;

use super::access::Authorized;
use super::access::level::Level;
use crate::error::Result;
use crate::git::read;
use crate::hub::Hub;
use crate::paths::normalize_folder_path;

pub use crate::git::read::{
    CommitInfo, DiffSummary, EntryKind, FileDiff, PathLog, RefKind, TreeEntry, TreePage,
};

/// Runs the blocking read `f` on the blocking pool with an open handle of
/// repo `repo_id`.
async fn with_git<T: Send + 'static>(
    hub: &Hub,
    repo_id: i64,
    f: impl FnOnce(&git2::Repository) -> Result<T> + Send + 'static,
) -> Result<T> {
    let handles = hub.git_handles.clone();
    let path = hub.repo_dir(repo_id);
    tokio::task::spawn_blocking(move || handles.with(repo_id, &path, f)).await?
}

/// The commit a revision names (branch, tag or sha), as 40 hex digits
/// (kept between requests until refs change: see [`super::lookup_cache`]).
pub async fn resolve(hub: &Hub, repo: &Authorized<impl Level>, rev: &str) -> Result<String> {
    let ticket = match hub.lookups.revision(&hub.wake, repo, rev) {
        Ok(commit) => return Ok(commit),
        Err(ticket) => ticket,
    };
    let asked = rev.to_owned();
    let commit = with_git(hub, repo.id, move |g| {
        Ok(read::resolve_revision(g, &asked)?.to_string())
    })
    .await?;
    hub.lookups.keep_revision(ticket, repo, rev, &commit);
    Ok(commit)
}

/// Lists a folder at a revision; returns the resolved commit too.
pub async fn list(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    rev: &str,
    folder: &str,
    recursive: bool,
) -> Result<(String, Arc<Vec<TreeEntry>>)> {
    let commit = commit_id(repo, &resolve(hub, repo, rev).await?)?;
    let folder = normalize_folder_path(folder)?;
    if let Some(entries) = hub
        .content_cache
        .listing(repo.id, commit, &folder, recursive)
    {
        return Ok((commit.to_string(), entries));
    }
    let path = folder.clone();
    let entries = with_git(hub, repo.id, move |g| {
        read::list_tree(g, commit, &path, recursive)
    })
    .await?;
    let entries = Arc::new(entries);
    hub.content_cache
        .keep_listing(repo.id, commit, folder, recursive, entries.clone());
    Ok((commit.to_string(), entries))
}

/// A page of a folder's listing at a resolved commit. A folder that is
/// missing, is a file, or is no valid path is `EntryNotFound`.
pub async fn list_page(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    commit: &str,
    folder: &str,
    recursive: bool,
    offset: usize,
    limit: usize,
) -> Result<TreePage> {
    let folder = normalize_folder_path(folder)
        .map_err(|_| crate::Error::EntryNotFound(folder.to_owned()))?;
    let commit = commit_id(repo, commit)?;
    with_git(hub, repo.id, move |g| {
        read::list_tree_page(g, commit, &folder, recursive, offset, limit)
    })
    .await
}

/// The files and folders at `paths` in a resolved commit, in the order
/// asked; paths that name nothing (or no valid path) are left out.
pub async fn entries_at(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    commit: &str,
    paths: Vec<String>,
) -> Result<Vec<TreeEntry>> {
    let commit = commit_id(repo, commit)?;
    with_git(hub, repo.id, move |g| {
        let mut out = Vec::with_capacity(paths.len());
        for path in paths {
            let Ok(path) = normalize_folder_path(&path) else {
                continue;
            };
            if path.is_empty() {
                continue;
            }
            out.extend(read::entry_at(g, commit, &path)?);
        }
        Ok(out)
    })
    .await
}

/// The last commit that changed each of `paths`, from a resolved commit.
pub async fn last_commits(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    commit: &str,
    paths: Vec<String>,
) -> Result<std::collections::HashMap<String, CommitInfo>> {
    let commit = commit_id(repo, commit)?;
    with_git(hub, repo.id, move |g| read::last_commits(g, commit, &paths)).await
}

/// Branches and tags as git has them now: kind, short name, commit.
pub async fn refs(
    hub: &Hub,
    repo: &Authorized<impl Level>,
) -> Result<Vec<(RefKind, String, String)>> {
    repo.check_whole_repo()?;
    with_git(hub, repo.id, read::list_refs).await
}

/// The commit at the tip of `branch`; changes are made on branches only
/// (a tag or a commit sha is `RevisionNotFound`).
pub async fn branch_tip(hub: &Hub, repo: &Authorized<impl Level>, branch: &str) -> Result<String> {
    refs(hub, repo)
        .await?
        .into_iter()
        .find(|(kind, name, _)| *kind == RefKind::Branch && name == branch)
        .map(|(_, _, commit)| commit)
        .ok_or_else(|| crate::Error::RevisionNotFound(branch.to_owned()))
}

/// A resolved commit given by the route, as git's id, if `repo` may read it.
fn commit_id(repo: &Authorized<impl Level>, commit: &str) -> Result<Oid> {
    repo.check_commit(commit)?;
    Oid::from_str(commit).map_err(|_| crate::Error::RevisionNotFound(commit.to_owned()))
}

/// The whole content of a small (git-stored) file at a commit.
pub async fn read_small_file(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    commit: &str,
    path: &str,
) -> Result<Option<Vec<u8>>> {
    let (oid, path) = (commit_id(repo, commit)?, path.to_owned());
    with_git(hub, repo.id, move |g| read::read_file(g, oid, &path)).await
}

/// A page of history from a revision, newest first, and the total count.
pub async fn history(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    rev: &str,
    skip: usize,
    limit: usize,
) -> Result<(Vec<CommitInfo>, usize)> {
    let start = commit_id(repo, &resolve(hub, repo, rev).await?)?;
    with_git(hub, repo.id, move |g| {
        Ok((
            read::log(g, start, skip, limit)?,
            read::count_commits(g, start)?,
        ))
    })
    .await
}

/// A page of the commits on `rev` that changed one file or folder (see
/// [`read::log_of_path`]); `EntryNotFound` when the path is not there.
pub async fn history_of_path(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    rev: &str,
    path: &str,
    skip: usize,
    limit: usize,
) -> Result<PathLog> {
    let path = crate::paths::normalize_folder_path(path)
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| crate::Error::EntryNotFound(path.to_owned()))?;
    let start = commit_id(repo, &resolve(hub, repo, rev).await?)?;
    with_git(hub, repo.id, move |g| {
        read::log_of_path(g, start, &path, skip, limit)
    })
    .await
}

/// A file at a resolved commit (`EntryNotFound` when there is none).
pub async fn file_at(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    commit: &str,
    path: &str,
) -> Result<TreeEntry> {
    let path = crate::paths::normalize_repo_path(path)
        .map_err(|_| crate::Error::EntryNotFound(path.to_owned()))?;
    let oid = commit_id(repo, commit)?;
    let found = match hub.content_cache.entry(repo.id, oid, &path) {
        Some(found) => found,
        None => {
            let at = path.clone();
            let found = with_git(hub, repo.id, move |g| match read::file_entry(g, oid, &at) {
                Ok(entry) => Ok(Some(entry)),
                Err(crate::Error::EntryNotFound(_)) => Ok(None),
                Err(e) => Err(e),
            })
            .await?;
            hub.content_cache
                .keep_entry(repo.id, oid, path.clone(), found.clone());
            found
        }
    };
    found.ok_or(crate::Error::EntryNotFound(path))
}

pub type ByteStream = futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;

/// The bytes of a file (the LFS object's for LFS files), or of `range`
/// within them; `range` must lie inside the file. LFS objects stream from
/// object storage and are never held whole in memory.
pub async fn read(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    entry: &TreeEntry,
    range: Option<std::ops::Range<u64>>,
) -> Result<ByteStream> {
    use futures::StreamExt;
    match &entry.lfs {
        // Fetched from upstream on first read (and linked then).
        Some(pointer) if repo.mirrored_from.is_some() => {
            crate::mirror::objects::read(hub, repo, &pointer.oid, pointer.size, range).await
        }
        Some(pointer) => crate::lfs::store::read_object(hub, &pointer.oid, range).await,
        None => {
            // Plain git blobs are bounded by the 10 MB limit: read whole, send the range.
            let blob = match hub.content_cache.blob(repo.id, &entry.oid) {
                Some(blob) => blob,
                None => {
                    let oid = entry.oid.clone();
                    let blob = with_git(hub, repo.id, move |g| read::read_blob(g, &oid)).await?;
                    let blob = bytes::Bytes::from(blob);
                    hub.content_cache
                        .keep_blob(repo.id, entry.oid.clone(), blob.clone());
                    blob
                }
            };
            let len = blob.len() as u64;
            let range = range.unwrap_or(0..len);
            let part = blob.slice(range.start.min(len) as usize..range.end.min(len) as usize);
            Ok(futures::stream::once(async move { Ok(part) }).boxed())
        }
    }
}

/// The sha256 of each plain (git-stored) blob in `oids`, by blob id, as
/// clients that verify downloads by sha256 need it (git keeps only sha1;
/// plain blobs are bounded by the 10 MB rule, so each is hashed whole).
/// Each blob is hashed once per repo; later listings read the `blob_sha256`
/// table.
pub async fn blob_sha256s(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    mut oids: Vec<String>,
) -> Result<std::collections::HashMap<String, String>> {
    use sha2::{Digest, Sha256};
    repo.check_whole_repo()?;
    oids.sort_unstable();
    oids.dedup();
    let mut out: std::collections::HashMap<String, String> =
        sqlx::query_as("SELECT oid, sha256 FROM blob_sha256 WHERE repo_id = $1 AND oid = ANY($2)")
            .bind(repo.id)
            .bind(&oids)
            .fetch_all(&hub.db)
            .await?
            .into_iter()
            .collect();
    let missing: Vec<String> = oids.into_iter().filter(|o| !out.contains_key(o)).collect();
    if missing.is_empty() {
        return Ok(out);
    }
    let computed = with_git(hub, repo.id, move |g| {
        let mut computed = Vec::with_capacity(missing.len());
        for oid in missing {
            let digest = Sha256::digest(read::read_blob(g, &oid)?);
            computed.push((oid, hex::encode(digest)));
        }
        Ok(computed)
    })
    .await?;
    let (new_oids, new_sums): (Vec<&str>, Vec<&str>) = computed
        .iter()
        .map(|(o, s)| (o.as_str(), s.as_str()))
        .unzip();
    sqlx::query(
        "INSERT INTO blob_sha256 (repo_id, oid, sha256)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(repo.id)
    .bind(&new_oids)
    .bind(&new_sums)
    .execute(&hub.db)
    .await?;
    out.extend(computed);
    Ok(out)
}

/// A commit and the changes it made against its first parent (text diffs;
/// a summary for binary and LFS files).
pub async fn commit_with_diff(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    rev: &str,
) -> Result<(CommitInfo, Vec<FileDiff>)> {
    let oid = commit_id(repo, &resolve(hub, repo, rev).await?)?;
    with_git(hub, repo.id, move |g| {
        Ok((read::commit(g, oid)?, read::diff_commit(g, oid)?))
    })
    .await
}
