//! The rules a `git push` must pass, run from the pre-receive hook inside
//! git's quarantine before any ref moves, and the after-push step. A push
//! is held to the rules of the commit API:
//!
//! - write access; only branches and tags, named by the one ref-name rule
//!   (so no branch can pose as a commit id); the default branch is neither
//!   deleted nor rewound;
//! - plain blobs stay under the LFS threshold (with a hint to track them);
//! - LFS pointers name objects linked to this repo ([`super::lfs_links`]).
//!
//! Git's own `receive.fsckObjects` (in the hub's git config) runs first.

use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::git::hooks::GitEnvironment;
use crate::git::read::RefKind;
use crate::git::receive::{Quarantine, RefUpdate};
use crate::git::refs::validate_ref_name;
use crate::git::scan::Scanner;
use crate::hub::Hub;
use crate::lfs::rules::{LFS_SIZE_THRESHOLD, LfsPointer};
use crate::repos::access::{authorize_repo, level::Write};
use crate::repos::{Repo, refs};

/// Runs every push rule; `Err` carries the message the pusher will see.
pub async fn pre_receive(
    hub: &Hub,
    env: &GitEnvironment,
    actor: &Actor,
    repo: &Repo,
    updates: &[RefUpdate],
    quarantine: &Quarantine,
) -> Result<()> {
    authorize_repo::<Write>(&hub.db, actor, repo.clone()).await?;
    actor.require_writer()?;
    let git = Scanner::new(env, hub.repo_dir(repo.id)).in_quarantine(quarantine);
    for update in updates {
        check_ref_update(repo, update, &git).await?;
    }
    let new_tips: Vec<String> = updates
        .iter()
        .filter(|u| !u.is_delete())
        .map(|u| u.new.clone())
        .collect();
    if new_tips.is_empty() {
        return Ok(());
    }
    let new_tips: Vec<&str> = new_tips.iter().map(String::as_str).collect();
    let blobs = git.blobs(&new_tips, &["--all"]).await?;
    if let Some(big) = blobs.iter().find(|b| b.size > LFS_SIZE_THRESHOLD) {
        return Err(Error::PayloadTooLarge(format!(
            "{path} is {:.1} MB; files over {} MB must be stored with Git LFS: run `git lfs track \"{path}\"`, then amend the commit and push again",
            big.size as f64 / 1_048_576.0,
            LFS_SIZE_THRESHOLD / 1_048_576,
            path = big.path,
        )));
    }
    let pointers = git.lfs_pointers(&blobs).await?;
    let pointers: Vec<(&str, &LfsPointer)> =
        pointers.iter().map(|(p, l)| (p.as_str(), l)).collect();
    super::lfs_links::check(
        hub,
        repo,
        &pointers,
        "run `git lfs push --all origin` first",
    )
    .await
}

/// The rules for one ref: its kind and name, and the default branch's
/// protection.
async fn check_ref_update(repo: &Repo, update: &RefUpdate, git: &Scanner<'_>) -> Result<()> {
    let (kind, short) = if let Some(short) = update.name.strip_prefix("refs/heads/") {
        (RefKind::Branch, short)
    } else if let Some(short) = update.name.strip_prefix("refs/tags/") {
        (RefKind::Tag, short)
    } else {
        return Err(Error::forbidden(format!(
            "{}: only branches and tags can be pushed",
            update.name
        )));
    };
    // Deleting a ref whose name breaks today's rule stays possible.
    if !update.is_delete() {
        validate_ref_name(kind, short)?;
    }
    let is_default = kind == RefKind::Branch && short == repo.default_branch;
    if is_default && update.is_delete() {
        return Err(Error::forbidden(format!(
            "{}: the default branch cannot be deleted",
            repo.default_branch
        )));
    }
    let rewinds = !update.is_create() && !update.is_delete();
    if is_default && rewinds && !git.is_ancestor(&update.old, &update.new).await? {
        return Err(Error::forbidden(format!(
            "{}: force-pushing the default branch is not allowed (the push would drop commits)",
            repo.default_branch
        )));
    }
    Ok(())
}

/// The after-push step: the same one every commit path ends in.
pub async fn post_receive(hub: &Hub, repo: &Repo) -> Result<()> {
    refs::after_commit(hub, repo).await
}
