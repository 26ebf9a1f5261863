//! Reads from a repo's git storage: revisions, trees, blobs, history, diffs.
//! All functions are blocking (libgit2); async callers use `spawn_blocking`.

use chrono::{DateTime, TimeZone, Utc};
use git2::{ObjectType, Oid, Repository, Tree};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::lfs::rules::{LfsPointer, MAX_POINTER_SIZE};
use crate::text::truncate;

/// Resolves a full commit sha, a branch, a tag, `refs/heads/x`,
/// `refs/tags/x`, or an abbreviated commit sha to a commit id.
///
/// A full sha that names a commit is that commit, whatever refs exist: a
/// download pinned to a commit must not be redirected by a branch or tag
/// that takes the commit's id as its name (the name rule refuses such refs
/// now; older ones may remain).
pub fn resolve_revision(repo: &Repository, rev: &str) -> Result<Oid> {
    let not_found = || Error::RevisionNotFound(rev.to_owned());
    if rev.is_empty() || rev.len() > 255 || rev.contains("..") || rev.starts_with('-') {
        return Err(not_found());
    }
    if rev.len() == 40
        && let Ok(oid) = Oid::from_str(rev)
        && let Ok(commit) = repo.find_commit(oid)
    {
        return Ok(commit.id());
    }
    let candidates = [
        format!("refs/heads/{rev}"),
        format!("refs/tags/{rev}"),
        rev.to_owned(),
    ];
    for name in candidates.iter().filter(|n| n.starts_with("refs/")) {
        if let Ok(reference) = repo.find_reference(name) {
            let commit = reference.peel_to_commit().map_err(|_| not_found())?;
            return Ok(commit.id());
        }
    }
    let looks_like_sha =
        (7..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit());
    if looks_like_sha
        && let Ok(commit) = repo
            .revparse_single(&rev.to_ascii_lowercase())
            .and_then(|o| o.peel_to_commit())
    {
        return Ok(commit.id());
    }
    Err(not_found())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Directory,
}

#[derive(Debug, Clone)]
pub struct TreeEntry {
    pub path: String,
    pub kind: EntryKind,
    /// Git object id (blob or tree).
    pub oid: String,
    /// Size of the blob in git (for an LFS file, the pointer's size).
    pub size: u64,
    /// For LFS files: the object the pointer names.
    pub lfs: Option<LfsPointer>,
}

impl TreeEntry {
    /// The size a user cares about: the LFS object's for LFS files.
    pub fn content_size(&self) -> u64 {
        self.lfs.as_ref().map_or(self.size, |p| p.size)
    }
}

/// Lists a folder (`""` for the root) at a commit, directories first, then
/// by name; with `recursive`, every entry below it (directories included).
pub fn list_tree(
    repo: &Repository,
    commit: Oid,
    folder: &str,
    recursive: bool,
) -> Result<Vec<TreeEntry>> {
    Ok(list_tree_page(repo, commit, folder, recursive, 0, usize::MAX)?.entries)
}

/// One page of [`list_tree`]'s listing: `limit` entries from `offset`.
#[derive(Debug, Clone)]
pub struct TreePage {
    pub entries: Vec<TreeEntry>,
    /// Where the next page starts, when there is one.
    pub next: Option<usize>,
}

/// A page of [`list_tree`]. Only the entries of the page are described
/// (sizes, LFS pointers): the walk before them reads trees, never blobs.
pub fn list_tree_page(
    repo: &Repository,
    commit: Oid,
    folder: &str,
    recursive: bool,
    offset: usize,
    limit: usize,
) -> Result<TreePage> {
    let root = repo.find_commit(commit)?.tree()?;
    let tree = subtree(repo, &root, folder)?;
    let wanted = offset.saturating_add(limit).saturating_add(1);
    let mut found = Vec::new();
    collect(repo, &tree, folder, recursive, wanted, &mut found)?;
    let more = found.len() > offset.saturating_add(limit);
    let odb = repo.odb()?;
    let entries = found
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(path, kind, oid)| describe(repo, &odb, path, kind, oid))
        .collect::<Result<_>>()?;
    Ok(TreePage {
        entries,
        next: more.then(|| offset + limit),
    })
}

/// Every file's path at a commit, from tree objects only (no blob is
/// read), walking at most `cap` entries: cheap enough for the after-commit
/// step, which derives tags from file names.
pub fn file_paths(repo: &Repository, commit: Oid, cap: usize) -> Result<Vec<String>> {
    let tree = repo.find_commit(commit)?.tree()?;
    let mut found = Vec::new();
    collect(repo, &tree, "", true, cap, &mut found)?;
    Ok(found
        .into_iter()
        .filter(|(_, kind, _)| *kind == EntryKind::File)
        .map(|(path, ..)| path)
        .collect())
}

fn subtree<'r>(repo: &'r Repository, root: &Tree<'r>, folder: &str) -> Result<Tree<'r>> {
    if folder.is_empty() {
        return Ok(root.clone());
    }
    let entry = root
        .get_path(std::path::Path::new(folder))
        .map_err(|_| Error::EntryNotFound(folder.to_owned()))?;
    if entry.kind() != Some(ObjectType::Tree) {
        return Err(Error::EntryNotFound(folder.to_owned()));
    }
    Ok(repo.find_tree(entry.id())?)
}

/// Walks a tree in listing order (each directory followed by its content
/// when recursive, then the files), stopping once `cap` entries are found.
fn collect(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    recursive: bool,
    cap: usize,
    out: &mut Vec<(String, EntryKind, Oid)>,
) -> Result<()> {
    let mut dirs = Vec::new();
    let mut files = Vec::new();
    for entry in tree.iter() {
        let Ok(name) = entry.name() else { continue };
        let path = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        match entry.kind() {
            Some(ObjectType::Tree) => dirs.push((path, entry.id())),
            Some(ObjectType::Blob) => files.push((path, EntryKind::File, entry.id())),
            // Submodules (commits) are not part of a hub repo's content.
            _ => {}
        }
    }
    for (path, oid) in dirs {
        if out.len() >= cap {
            return Ok(());
        }
        out.push((path.clone(), EntryKind::Directory, oid));
        if recursive {
            let sub = repo.find_tree(oid)?;
            collect(repo, &sub, &path, true, cap, out)?;
        }
    }
    let room = cap.saturating_sub(out.len());
    out.extend(files.into_iter().take(room));
    Ok(())
}

/// A tree entry with its size and, for LFS pointers, the object they name.
/// Sizes come from object headers; only blobs small enough to be pointers
/// are read.
fn describe(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    path: String,
    kind: EntryKind,
    oid: Oid,
) -> Result<TreeEntry> {
    let (size, lfs) = match kind {
        EntryKind::Directory => (0, None),
        EntryKind::File => {
            let (size, _) = odb.read_header(oid)?;
            let lfs = if size <= MAX_POINTER_SIZE {
                LfsPointer::parse(repo.find_blob(oid)?.content())
            } else {
                None
            };
            (size as u64, lfs)
        }
    };
    Ok(TreeEntry {
        path,
        kind,
        oid: oid.to_string(),
        size,
        lfs,
    })
}

/// The file or directory at `path` in a commit, `None` when there is none.
pub fn entry_at(repo: &Repository, commit: Oid, path: &str) -> Result<Option<TreeEntry>> {
    let tree = repo.find_commit(commit)?.tree()?;
    let Ok(entry) = tree.get_path(std::path::Path::new(path)) else {
        return Ok(None);
    };
    let kind = match entry.kind() {
        Some(ObjectType::Tree) => EntryKind::Directory,
        Some(ObjectType::Blob) => EntryKind::File,
        _ => return Ok(None),
    };
    describe(repo, &repo.odb()?, path.to_owned(), kind, entry.id()).map(Some)
}

/// Most commits [`last_commits`] walks back before giving up on a path.
pub const LAST_COMMIT_WALK_LIMIT: usize = 100_000;

/// For each path (file or directory), the newest commit on the first-parent
/// history of `start` that changed it. Paths not found within
/// [`LAST_COMMIT_WALK_LIMIT`] commits are left out.
pub fn last_commits(
    repo: &Repository,
    start: Oid,
    paths: &[String],
) -> Result<std::collections::HashMap<String, CommitInfo>> {
    let mut found = std::collections::HashMap::new();
    let mut pending: Vec<&String> = paths.iter().collect();
    let id_at = |tree: Option<&Tree<'_>>, path: &str| {
        tree.and_then(|t| t.get_path(std::path::Path::new(path)).ok())
            .map(|e| e.id())
    };
    let mut commit = repo.find_commit(start)?;
    for _ in 0..LAST_COMMIT_WALK_LIMIT {
        if pending.is_empty() {
            break;
        }
        let tree = commit.tree()?;
        let parent = commit.parent(0).ok();
        let parent_tree = parent.as_ref().map(|p| p.tree()).transpose()?;
        pending.retain(|path| {
            let changed = id_at(Some(&tree), path) != id_at(parent_tree.as_ref(), path);
            if changed {
                found.insert((*path).clone(), commit_info(&commit));
            }
            !changed
        });
        match parent {
            Some(p) => commit = p,
            None => break,
        }
    }
    Ok(found)
}

/// The entry at `path` in a commit, if it is a file.
pub fn file_entry(repo: &Repository, commit: Oid, path: &str) -> Result<TreeEntry> {
    match entry_at(repo, commit, path)? {
        Some(entry) if entry.kind == EntryKind::File => Ok(entry),
        _ => Err(Error::EntryNotFound(path.to_owned())),
    }
}

/// The content of a git blob. Blobs are bounded by the push and commit size
/// limits (large files live in LFS), so reading one whole is fine.
pub fn read_blob(repo: &Repository, oid: &str) -> Result<Vec<u8>> {
    let oid = Oid::from_str(oid).map_err(|_| Error::invalid("bad object id"))?;
    Ok(repo.find_blob(oid)?.content().to_vec())
}

/// A file's bytes at a commit, or `None` when it is missing.
pub fn read_file(repo: &Repository, commit: Oid, path: &str) -> Result<Option<Vec<u8>>> {
    match file_entry(repo, commit, path) {
        Ok(entry) => read_blob(repo, &entry.oid).map(Some),
        Err(Error::EntryNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CommitInfo {
    pub id: String,
    pub title: String,
    pub message: String,
    pub authors: Vec<String>,
    pub date: DateTime<Utc>,
    pub parents: Vec<String>,
}

/// Longest commit message a listing or commit page carries. New commits are
/// capped at write; older or pushed ones may be longer and are cut here, so
/// that a page of history stays small whatever is in the repo.
pub const MAX_LISTED_MESSAGE: usize = 16 * 1024;
/// Longest commit title (the message's first line) carried.
pub const MAX_LISTED_TITLE: usize = 1024;

fn commit_info(commit: &git2::Commit<'_>) -> CommitInfo {
    describe_commit(
        commit.id(),
        commit.message_bytes(),
        commit.author().name_bytes(),
        commit.time().seconds(),
        commit.parent_ids().map(|p| p.to_string()).collect(),
    )
}

/// The listing form of a commit: title and message cut to their limits.
fn describe_commit(
    id: Oid,
    message: &[u8],
    author: &[u8],
    seconds: i64,
    parents: Vec<String>,
) -> CommitInfo {
    // A few bytes past the limit, so that a cut is seen and a character
    // split by the byte cut is dropped, not turned into U+FFFD.
    let head = &message[..message.len().min(MAX_LISTED_MESSAGE + 4)];
    let text = String::from_utf8_lossy(head);
    let cut = |text: &str, max: usize, whole: bool| {
        let kept = truncate(text, max);
        if kept.len() < text.len() || !whole {
            format!("{kept}…")
        } else {
            kept.to_owned()
        }
    };
    let title = text.lines().next().unwrap_or("");
    CommitInfo {
        id: id.to_string(),
        title: cut(title, MAX_LISTED_TITLE, true),
        message: cut(&text, MAX_LISTED_MESSAGE, head.len() == message.len()),
        authors: vec![String::from_utf8_lossy(author).into_owned()],
        date: Utc.timestamp_opt(seconds, 0).single().unwrap_or_default(),
        parents,
    }
}

pub fn commit(repo: &Repository, oid: Oid) -> Result<CommitInfo> {
    Ok(commit_info(&repo.find_commit(oid)?))
}

/// A page of history from `start`, newest first (topological, then time).
pub fn log(repo: &Repository, start: Oid, skip: usize, limit: usize) -> Result<Vec<CommitInfo>> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
    walk.push(start)?;
    walk.skip(skip)
        .take(limit)
        .map(|oid| Ok(commit_info(&repo.find_commit(oid?)?)))
        .collect()
}

/// Most commits [`log_of_path`] examines, so that one request stays bounded
/// however long the history is.
pub const PATH_LOG_WALK_LIMIT: usize = 10_000;

/// A page of the commits that changed one file or folder.
#[derive(Debug, Clone, Serialize)]
pub struct PathLog {
    pub commits: Vec<CommitInfo>,
    /// Commits found that changed the path (within the walk limit).
    pub total: usize,
    /// The walk stopped at [`PATH_LOG_WALK_LIMIT`]: older changes are not listed.
    pub cut: bool,
}

/// The history of `path` from `start` (newest first, in [`log`]'s order):
/// the commits whose tree holds another entry at `path` than their first
/// parent's does (a change, an addition or a removal). `skip` and `limit`
/// page the matches; at most [`PATH_LOG_WALK_LIMIT`] commits are examined.
/// `EntryNotFound` when `path` is in no commit's tree at `start`.
pub fn log_of_path(
    repo: &Repository,
    start: Oid,
    path: &str,
    skip: usize,
    limit: usize,
) -> Result<PathLog> {
    let path = std::path::Path::new(path);
    let start_commit = repo.find_commit(start)?;
    if start_commit.tree()?.get_path(path).is_err() {
        return Err(Error::EntryNotFound(path.display().to_string()));
    }
    let mut walk = repo.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::TIME)?;
    walk.push(start)?;
    let (mut commits, mut total, mut cut) = (Vec::new(), 0, false);
    for (examined, oid) in walk.enumerate() {
        if examined == PATH_LOG_WALK_LIMIT {
            cut = true;
            break;
        }
        let commit = repo.find_commit(oid?)?;
        let id_here = commit.tree()?.get_path(path).ok().map(|e| e.id());
        let id_before = match commit.parent(0) {
            Ok(parent) => parent.tree()?.get_path(path).ok().map(|e| e.id()),
            Err(_) => None,
        };
        if id_here != id_before {
            if total >= skip && commits.len() < limit {
                commits.push(commit_info(&commit));
            }
            total += 1;
        }
    }
    Ok(PathLog {
        commits,
        total,
        cut,
    })
}

/// Number of commits reachable from `start`.
pub fn count_commits(repo: &Repository, start: Oid) -> Result<usize> {
    let mut walk = repo.revwalk()?;
    walk.push(start)?;
    Ok(walk.count())
}

#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    pub old_path: Option<String>,
    pub new_path: Option<String>,
    pub status: String,
    /// Unified diff text; `None` for binary, LFS and large files, and past
    /// the commit's diff budget (see `summary` and `truncated`).
    pub patch: Option<String>,
    pub summary: Option<DiffSummary>,
    /// The patch was cut, or not built because the commit's diff budget
    /// was spent on earlier files.
    pub truncated: bool,
}

/// Why a file of a diff has no patch, as data (a page words it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiffSummary {
    /// One side or both are LFS pointers: the objects they name.
    Lfs {
        old: Option<LfsPointer>,
        new: Option<LfsPointer>,
    },
    /// Over [`MAX_DIFF_BLOB`] bytes on one side.
    Large {
        bytes: usize,
    },
    Binary,
}

/// Files of one commit whose patch is built; the rest are listed by name.
pub const MAX_FILES_WITH_PATCH: usize = 100;
/// Blobs larger than this (on either side) are summarised, never diffed:
/// building a patch loads both blobs whole.
pub const MAX_DIFF_BLOB: usize = 1 << 20;
/// Longest patch text kept for one file, cut at a line.
pub const MAX_PATCH_BYTES: usize = 200_000;
/// Patch text kept for a whole commit.
pub const MAX_DIFF_BYTES: usize = 2 << 20;

/// The changes a commit made against its first parent, within the limits
/// above: however many or large the files, a diff costs at most about
/// [`MAX_DIFF_BYTES`] of patch text and loads no blob over [`MAX_DIFF_BLOB`].
pub fn diff_commit(repo: &Repository, oid: Oid) -> Result<Vec<FileDiff>> {
    let commit = repo.find_commit(oid)?;
    let new_tree = commit.tree()?;
    let old_tree = match commit.parent(0) {
        Ok(parent) => Some(parent.tree()?),
        Err(_) => None,
    };
    diff_trees(repo, old_tree.as_ref(), &new_tree)
}

/// What `head` changes against its merge base with `base` (a pull request's
/// changes, as `git diff base...head` shows them), within the limits of
/// [`diff_commit`].
pub fn diff_since_merge_base(repo: &Repository, base: Oid, head: Oid) -> Result<Vec<FileDiff>> {
    let from = repo.merge_base(base, head).unwrap_or(base);
    let old_tree = repo.find_commit(from)?.tree()?;
    let new_tree = repo.find_commit(head)?.tree()?;
    diff_trees(repo, Some(&old_tree), &new_tree)
}

/// The changes from `old_tree` (none: an empty tree) to `new_tree`, within
/// the limits of [`diff_commit`].
fn diff_trees(
    repo: &Repository,
    old_tree: Option<&Tree<'_>>,
    new_tree: &Tree<'_>,
) -> Result<Vec<FileDiff>> {
    let diff = repo.diff_tree_to_tree(old_tree, Some(new_tree), None)?;
    let odb = repo.odb()?;
    // A blob's size from its header, without loading it.
    let size_of = |f: &git2::DiffFile<'_>| -> usize {
        if f.id().is_zero() {
            return 0;
        }
        odb.read_header(f.id()).map_or(0, |(size, _)| size)
    };
    let (mut patched, mut spent) = (0usize, 0usize);
    let mut out = Vec::new();
    for (i, delta) in diff.deltas().enumerate() {
        let path_of = |f: git2::DiffFile<'_>| f.path().map(|p| p.to_string_lossy().into_owned());
        let old_path = (!delta.old_file().id().is_zero())
            .then(|| path_of(delta.old_file()))
            .flatten();
        let new_path = (!delta.new_file().id().is_zero())
            .then(|| path_of(delta.new_file()))
            .flatten();
        let (old_size, new_size) = (size_of(&delta.old_file()), size_of(&delta.new_file()));
        let pointer = |f: git2::DiffFile<'_>, size: usize| {
            if f.id().is_zero() || size > MAX_POINTER_SIZE {
                return None;
            }
            repo.find_blob(f.id())
                .ok()
                .and_then(|b| LfsPointer::parse(b.content()))
        };
        let (old_lfs, new_lfs) = (
            pointer(delta.old_file(), old_size),
            pointer(delta.new_file(), new_size),
        );
        let (mut patch, mut summary, mut truncated) = (None, None, false);
        if old_lfs.is_some() || new_lfs.is_some() {
            summary = Some(DiffSummary::Lfs {
                old: old_lfs,
                new: new_lfs,
            });
        } else if old_size.max(new_size) > MAX_DIFF_BLOB {
            summary = Some(DiffSummary::Large {
                bytes: old_size.max(new_size),
            });
        } else if patched >= MAX_FILES_WITH_PATCH || spent >= MAX_DIFF_BYTES {
            truncated = true;
        } else {
            // Whether a file is binary is known once its content is loaded,
            // which making the patch does.
            match git2::Patch::from_diff(&diff, i)? {
                Some(p) if p.delta().flags().is_binary() => {
                    summary = Some(DiffSummary::Binary);
                }
                Some(mut p) => {
                    let buf = p.to_buf()?;
                    let text = String::from_utf8_lossy(&buf);
                    let limit = MAX_PATCH_BYTES.min(MAX_DIFF_BYTES - spent);
                    let kept = cut_at_line(&text, limit);
                    truncated = kept.len() < text.len();
                    spent += kept.len();
                    patched += 1;
                    patch = Some(kept.to_owned());
                }
                None => summary = Some(DiffSummary::Binary),
            }
        }
        let status = format!("{:?}", delta.status()).to_lowercase();
        out.push(FileDiff {
            old_path,
            new_path,
            status,
            patch,
            summary,
            truncated,
        });
    }
    Ok(out)
}

/// At most `max` bytes of `text`, ending after a whole line.
fn cut_at_line(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let head = truncate(text, max);
    match head.rfind('\n') {
        Some(end) => &head[..=end],
        None => "",
    }
}

/// Branches and tags with their targets (tags peeled to commits).
pub fn list_refs(repo: &Repository) -> Result<Vec<(RefKind, String, String)>> {
    let mut out = Vec::new();
    for reference in repo.references()? {
        let reference = reference?;
        let Ok(name) = reference.name() else { continue };
        let (kind, short) = if let Some(b) = name.strip_prefix("refs/heads/") {
            (RefKind::Branch, b)
        } else if let Some(t) = name.strip_prefix("refs/tags/") {
            (RefKind::Tag, t)
        } else {
            continue;
        };
        if let Ok(commit) = reference.peel_to_commit() {
            out.push((kind, short.to_owned(), commit.id().to_string()));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RefKind {
    Branch,
    Tag,
}

impl RefKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RefKind::Branch => "branch",
            RefKind::Tag => "tag",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_titles_and_messages_are_cut_at_characters() {
        let id = Oid::ZERO_SHA1;
        let message = format!("{}\n\n{}", "题".repeat(1000), "长".repeat(100_000));
        let info = describe_commit(id, message.as_bytes(), b"z", 0, vec![]);
        assert!(info.title.ends_with('…') && info.title.len() <= MAX_LISTED_TITLE + 3);
        assert!(info.message.ends_with('…') && info.message.len() <= MAX_LISTED_MESSAGE + 3);
        assert!(!info.message.contains('\u{fffd}'));
        let short = describe_commit(id, b"fix\n\nwhy", b"z", 0, vec![]);
        assert_eq!(
            (short.title.as_str(), short.message.as_str()),
            ("fix", "fix\n\nwhy")
        );
    }
}
