//! Creating and deleting branches and tags through the API. Each needs
//! write access, names are checked by git's rules and ours
//! ([`crate::git::refs::validate_ref_name`]), the ref moves under git's own
//! lock, and the after-commit step records it (with its creation time).

use git2::Signature;

use super::access::Authorized;
use super::access::level::Writes;
use super::refs;
use crate::error::{Error, Result};
use crate::git::{self, read::RefKind, refs as git_refs};
use crate::hub::Hub;

/// Creates branch `name` at `starting_point` (a revision; the head of the
/// default branch when `None`). Returns the commit it points at.
pub async fn create_branch(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    name: &str,
    starting_point: Option<&str>,
) -> Result<String> {
    let start = starting_point.unwrap_or(&repo.default_branch).to_owned();
    create(hub, repo, RefKind::Branch, name, start, None).await
}

/// Tags `revision` as `name`; with a message the tag is annotated, by the
/// actor. Returns the commit it points at.
pub async fn create_tag(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    name: &str,
    revision: &str,
    message: Option<&str>,
) -> Result<String> {
    let message = message.filter(|m| !m.trim().is_empty()).map(str::to_owned);
    create(hub, repo, RefKind::Tag, name, revision.to_owned(), message).await
}

async fn create(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    kind: RefKind,
    name: &str,
    revision: String,
    message: Option<String>,
) -> Result<String> {
    let principal = repo.actor().require_writer()?;
    let (path, name) = (hub.repo_dir(repo.id), name.to_owned());
    let (author, email) = (principal.user.name.clone(), principal.user.email.clone());
    let target = tokio::task::spawn_blocking(move || -> Result<String> {
        let g = git::open(&path)?;
        // The revision first, then the name, as Hugging Face does: a missing
        // revision is RevisionNotFound even when the name is bad too.
        let target = git_refs::target_of(&g, &revision)?;
        git_refs::validate_ref_name(kind, &name)?;
        let tagger = Signature::now(&author, &email)?;
        let annotation = message.as_deref().map(|m| (m, &tagger));
        git_refs::create_ref(&g, kind, &name, target, annotation)?;
        Ok(target.to_string())
    })
    .await??;
    refs::after_commit(hub, repo).await?;
    Ok(target)
}

/// Squashes the history of `branch` (or of a pull request's `refs/pr/N`)
/// into one commit with `message` (see [`crate::git::commit::squash`]), as
/// a commit: in the branch's queue, then the after-commit step. Returns the
/// new commit.
pub async fn squash_branch(
    hub: &Hub,
    repo: &Authorized<impl Writes>,
    branch: &str,
    message: &str,
) -> Result<String> {
    let principal = repo.actor().require_writer()?;
    let message = message.trim();
    if message.is_empty() {
        return Err(Error::invalid("a squash needs a commit message"));
    }
    crate::commits::check_message(message.as_bytes())?;
    let refname = match crate::community::pull_request_of_ref(branch) {
        Some(num) => crate::community::pull_request_ref(num?),
        None => format!("refs/heads/{branch}"),
    };
    let _queue = hub.queue_for_branch(repo.id, &refname).await;
    let (path, message) = (hub.repo_dir(repo.id), message.to_owned());
    let (author, email) = (principal.user.name.clone(), principal.user.email.clone());
    let commit = tokio::task::spawn_blocking(move || {
        git::commit::squash(&git::open(&path)?, &refname, &message, &author, &email)
    })
    .await??;
    refs::after_commit(hub, repo).await?;
    Ok(commit)
}

/// Deletes a branch; the default branch cannot be deleted (worded as
/// Hugging Face words it: clients match "Cannot delete refs/heads/main").
pub async fn delete_branch(hub: &Hub, repo: &Authorized<impl Writes>, name: &str) -> Result<()> {
    if name == repo.default_branch {
        return Err(Error::forbidden(format!(
            "Cannot delete refs/heads/{name}: it is the default branch"
        )));
    }
    delete(hub, repo, RefKind::Branch, name).await
}

pub async fn delete_tag(hub: &Hub, repo: &Authorized<impl Writes>, name: &str) -> Result<()> {
    delete(hub, repo, RefKind::Tag, name).await
}

async fn delete(hub: &Hub, repo: &super::Repo, kind: RefKind, name: &str) -> Result<()> {
    let (path, name) = (hub.repo_dir(repo.id), name.to_owned());
    tokio::task::spawn_blocking(move || git_refs::delete_ref(&git::open(&path)?, kind, &name))
        .await??;
    refs::after_commit(hub, repo).await
}
