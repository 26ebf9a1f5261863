//! The commit path. The Hugging Face commit API ([`ndjson`]), the
//! ModelScope commit API ([`modelscope`]) and browser uploads all end in
//! [`commit`]: check write access, the paths and the message, check that
//! every LFS object is stored and linked to the repo ([`lfs_links`]), write
//! one commit on the branch (`git::commit`), then run the after-commit step.
//! A `git push` is held to the same rules by [`push`], from the
//! pre-receive hook.

pub mod lfs_links;
pub mod modelscope;
pub mod ndjson;
pub mod preupload;
pub mod push;

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::git::commit::{self, CommitOutcome, CommitRequest, FileSource, Operation};
use crate::hub::Hub;
use crate::lfs::rules::LfsPointer;
use crate::paths::{normalize_folder_path, normalize_repo_path};
use crate::repos::access::Authorized;
use crate::repos::access::level::Writes;
use crate::repos::refs;

/// Most operations accepted in one commit.
pub const MAX_OPERATIONS: usize = 25_000;

/// Longest commit message (summary and description together), in bytes.
/// Every listing of history repeats messages, so one huge message would
/// make every such read huge; 64 KiB is far beyond any real message.
pub const MAX_COMMIT_MESSAGE_BYTES: usize = 64 * 1024;

/// The rule for a commit message, wherever it comes from (the commit APIs,
/// or a pushed commit's raw message).
pub fn check_message(message: &[u8]) -> Result<()> {
    if message.len() > MAX_COMMIT_MESSAGE_BYTES {
        return Err(Error::too_large(format!(
            "the commit message has {} bytes; at most {} KiB are accepted",
            message.len(),
            MAX_COMMIT_MESSAGE_BYTES / 1024
        )));
    }
    // Git ends a message at a NUL byte (libgit2 cannot write one at all).
    if message.contains(&0) {
        return Err(Error::invalid("the commit message contains a NUL byte"));
    }
    Ok(())
}

pub struct NewCommit {
    pub branch: Option<String>,
    pub summary: String,
    pub description: String,
    pub operations: Vec<Operation>,
    pub expected_parent: Option<String>,
}

/// Writes `new` to `repo` (its proof of write access names the author).
pub async fn commit(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    new: NewCommit,
) -> Result<CommitOutcome> {
    let principal = repo.actor().require_writer()?;
    if new.operations.is_empty() {
        return Err(Error::invalid("a commit needs at least one operation"));
    }
    if new.operations.len() > MAX_OPERATIONS {
        return Err(Error::invalid(format!(
            "at most {MAX_OPERATIONS} operations per commit"
        )));
    }
    let summary = new.summary.trim();
    if summary.is_empty() {
        return Err(Error::invalid("a commit needs a summary"));
    }
    let message = match new.description.trim() {
        "" => summary.to_owned(),
        description => format!("{summary}\n\n{description}"),
    };
    check_message(message.as_bytes())?;
    let operations = normalize_operations(new.operations)?;
    let pointers: Vec<(&str, &LfsPointer)> = operations
        .iter()
        .filter_map(|op| match op {
            Operation::Put {
                path,
                source: FileSource::Lfs(pointer),
            } => Some((path.as_str(), pointer)),
            _ => None,
        })
        .collect();
    lfs_links::check(hub, repo, &pointers, "upload them first").await?;
    let branch = new.branch.unwrap_or_else(|| repo.default_branch.clone());
    let request = CommitRequest {
        branch: branch.clone(),
        message,
        author_name: principal.user.name.clone(),
        author_email: principal.user.email.clone(),
        operations,
        expected_parent: new.expected_parent,
    };
    let _queue = hub.queue_for_branch(repo.id, &branch).await;
    let path = hub.repo_dir(repo.id);
    let outcome = tokio::task::spawn_blocking(move || {
        let git = crate::git::open(&path)?;
        commit::apply(&git, &request)
    })
    .await??;
    refs::after_commit(hub, repo).await?;
    Ok(outcome)
}

/// Every path through the one normalising function; two operations on the
/// same path in one commit are refused (their order would be a guess), and
/// so is a file written where another operation needs a folder (`a` and
/// `a/b`: one name cannot be a file and a folder).
fn normalize_operations(ops: Vec<Operation>) -> Result<Vec<Operation>> {
    let ops = normalize_each(ops)?;
    let files: HashSet<&str> = ops
        .iter()
        .filter(|op| matches!(op, Operation::Put { .. }))
        .map(Operation::path)
        .collect();
    for op in &ops {
        let path = op.path();
        let mut folders = path.match_indices('/').map(|(i, _)| &path[..i]);
        if let Some(folder) = folders.find(|f| files.contains(f)) {
            return Err(Error::invalid(format!(
                "{folder} and {path} in one commit: a name cannot be a file and a folder (split the commit)"
            )));
        }
    }
    Ok(ops)
}

/// A path the commit refuses: [`Error::RefusedPath`] (Hugging Face's 422)
/// for what [`normalize_repo_path`] finds wrong with it.
pub(crate) fn refused_path(e: Error) -> Error {
    match e {
        Error::InvalidInput(message) => Error::RefusedPath(message),
        other => other,
    }
}

fn normalize_each(ops: Vec<Operation>) -> Result<Vec<Operation>> {
    let mut seen = HashSet::new();
    let path_of = |p: &str| normalize_repo_path(p).map_err(refused_path);
    ops.into_iter()
        .map(|op| {
            let op = match op {
                Operation::Put { path, source } => Operation::Put {
                    path: path_of(&path)?,
                    source,
                },
                Operation::Delete { path } => Operation::Delete {
                    path: path_of(&path)?,
                },
                Operation::DeleteFolder { path } => {
                    let path = normalize_folder_path(&path).map_err(refused_path)?;
                    if path.is_empty() {
                        return Err(Error::invalid("cannot delete the root folder"));
                    }
                    Operation::DeleteFolder { path }
                }
            };
            if !seen.insert(op.path().to_owned()) {
                return Err(Error::invalid(format!(
                    "{} appears twice in one commit",
                    op.path()
                )));
            }
            Ok(op)
        })
        .collect()
}
