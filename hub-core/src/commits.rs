//! The one commit path. The Hugging Face commit API, the ModelScope commit
//! API and browser uploads all end here: check write access, check that
//! every LFS object is stored and linked to the repo, write one commit on the
//! branch (`git::commit`), then run the after-commit step.

use crate::error::{Error, Result};
use crate::git::commit::{self, CommitOutcome, CommitRequest, FileSource, Operation};
use crate::hub::Hub;
use crate::lfs::objects::linked_size;
use crate::lfs::rules::LfsPointer;
use crate::paths::{normalize_folder_path, normalize_repo_path};
use crate::repos::access::Authorized;
use crate::repos::access::level::Writes;
use crate::repos::{Repo, refs};

/// Most operations accepted in one commit.
pub const MAX_OPERATIONS: usize = 25_000;

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
    let operations = normalize_operations(new.operations)?;
    check_lfs_objects(hub, repo, &operations).await?;
    let summary = new.summary.trim();
    if summary.is_empty() {
        return Err(Error::invalid("a commit needs a summary"));
    }
    let message = match new.description.trim() {
        "" => summary.to_owned(),
        description => format!("{summary}\n\n{description}"),
    };
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
/// same path in one commit are refused (their order would be a guess).
fn normalize_operations(ops: Vec<Operation>) -> Result<Vec<Operation>> {
    let mut seen = std::collections::HashSet::new();
    ops.into_iter()
        .map(|op| {
            let op = match op {
                Operation::Put { path, source } => Operation::Put {
                    path: normalize_repo_path(&path)?,
                    source,
                },
                Operation::Delete { path } => Operation::Delete {
                    path: normalize_repo_path(&path)?,
                },
                Operation::DeleteFolder { path } => {
                    let path = normalize_folder_path(&path)?;
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

/// An LFS pointer may only be committed for an object that is stored with
/// the size it claims and linked to this repo.
async fn check_lfs_objects(hub: &Hub, repo: &Repo, ops: &[Operation]) -> Result<()> {
    for op in ops {
        if let Operation::Put {
            path,
            source: FileSource::Lfs(pointer),
        } = op
        {
            match linked_size(&hub.db, repo.id, &pointer.oid).await? {
                Some(size) if size == pointer.size => {}
                Some(size) => {
                    return Err(Error::invalid(format!(
                        "{path}: LFS object {} has size {size}, not {}",
                        pointer.oid, pointer.size
                    )));
                }
                None => {
                    return Err(Error::invalid(format!(
                        "{path}: LFS object {} has not been uploaded to this repo",
                        pointer.oid
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The pointer for an LFS object linked to `repo`, when a client names it by
/// oid alone (HF sends no size for copies of LFS files).
pub async fn linked_lfs_pointer(
    hub: &Hub,
    repo: &Repo,
    oid: &str,
    size: Option<u64>,
) -> Result<LfsPointer> {
    let stored = linked_size(&hub.db, repo.id, oid).await?.ok_or_else(|| {
        Error::invalid(format!(
            "LFS object {oid} has not been uploaded to this repo"
        ))
    })?;
    Ok(LfsPointer {
        oid: oid.to_owned(),
        size: size.unwrap_or(stored),
    })
}
