//! The commit path. The Hugging Face commit API ([`ndjson`]), the
//! ModelScope commit API ([`modelscope`]) and browser uploads all end in
//! [`commit`] (or [`commit_to`], which also reaches pull requests): check access, the paths and the message, check that
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

use crate::accounts::Principal;
use crate::error::{Error, Result};
use crate::git::commit::{self, CommitOutcome, CommitRequest, FileSource, Operation};
use crate::hub::Hub;
use crate::lfs::rules::LfsPointer;
use crate::paths::{normalize_folder_path, normalize_repo_path};
use crate::repos::access::level::{Level, Write, Writes};
use crate::repos::access::{Access, Authorized};
use crate::repos::{Repo, refs};

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

/// Where an API commit goes, as its revision and `create_pr` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A branch (`None`: the default one); needs write access.
    Branch(Option<String>),
    /// An existing pull request's `refs/pr/{num}`: its author or a writer.
    PullRequest(i64),
    /// A new pull request against a branch (`None`: the default one), its
    /// ref made from the branch head, the commit its first: any
    /// participant ([`Authorized::participant`]).
    NewPullRequest(Option<String>),
}

impl Target {
    /// The target of `POST …/commit/{revision}[?create_pr=1]` (and of the
    /// preupload that precedes it): `refs/pr/{num}` names a pull request,
    /// anything else a branch (`refs/heads/` optional).
    pub fn of_revision(revision: &str, create_pr: bool) -> Result<Target> {
        if let Some(num) = crate::community::pull_request_of_ref(revision) {
            if create_pr {
                return Err(Error::invalid(
                    "create_pr opens a new pull request against a branch, not against a pull request",
                ));
            }
            return Ok(Target::PullRequest(num?));
        }
        let branch = revision.strip_prefix("refs/heads/").unwrap_or(revision);
        let branch = (!branch.is_empty()).then(|| branch.to_owned());
        Ok(if create_pr {
            Target::NewPullRequest(branch)
        } else {
            Target::Branch(branch)
        })
    }

    /// Whether the caller may commit there, checked before the payload is
    /// read (and again by the commit itself).
    pub async fn check(&self, hub: &Hub, repo: &Authorized<impl Level>) -> Result<()> {
        match self {
            Target::Branch(_) => repo.check(Access::Write),
            Target::NewPullRequest(_) => repo.participant().map(|_| ()),
            Target::PullRequest(num) => crate::community::pulls::check_may_push(hub, repo, *num)
                .await
                .map(|_| ()),
        }
    }
}

/// A commit made through [`commit_to`], and the pull request it went to.
#[derive(Debug, Clone)]
pub struct TargetedCommit {
    pub outcome: CommitOutcome,
    pub pull_request: Option<i64>,
}

/// Writes `new` to `target` (a branch, or a pull request: see [`Target`]
/// for who may), with the access check of the target.
pub async fn commit_to(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    target: Target,
    new: NewCommit,
) -> Result<TargetedCommit> {
    match target {
        Target::Branch(branch) => {
            let writer = repo.to_level::<Write>()?;
            let outcome = commit(hub, &writer, NewCommit { branch, ..new }).await?;
            Ok(TargetedCommit {
                outcome,
                pull_request: None,
            })
        }
        Target::PullRequest(num) => {
            let outcome = crate::community::pulls::commit(hub, repo, num, new).await?;
            Ok(TargetedCommit {
                outcome,
                pull_request: Some(num),
            })
        }
        Target::NewPullRequest(base) => {
            let (num, outcome) =
                crate::community::pulls::open_with_commit(hub, repo, base, new).await?;
            Ok(TargetedCommit {
                outcome,
                pull_request: Some(num),
            })
        }
    }
}

/// Writes `new` to `repo` (its proof of write access names the author).
pub async fn commit(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    new: NewCommit,
) -> Result<CommitOutcome> {
    let principal = repo.actor().require_writer()?;
    let branch = new
        .branch
        .clone()
        .unwrap_or_else(|| repo.default_branch.clone());
    let destination = Destination {
        refname: format!("refs/heads/{branch}"),
        create_from: None,
    };
    write(hub, repo, principal, destination, new).await
}

/// The ref a commit moves, and for a new one the ref it starts from.
pub(crate) struct Destination {
    pub refname: String,
    pub create_from: Option<String>,
}

/// The one commit path, after the access check (its callers make it): the
/// rules for the operations and message, the LFS links, one commit moving
/// `destination` under its queue, then the after-commit step.
pub(crate) async fn write(
    hub: &Hub,
    repo: &Repo,
    principal: &Principal,
    destination: Destination,
    new: NewCommit,
) -> Result<CommitOutcome> {
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
    let _queue = hub.queue_for_branch(repo.id, &destination.refname).await;
    let request = CommitRequest {
        refname: destination.refname,
        create_from: destination.create_from,
        message,
        author_name: principal.user.name.clone(),
        author_email: principal.user.email.clone(),
        operations,
        expected_parent: new.expected_parent,
    };
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
