//! The rules a `git push` must pass (run from the pre-receive hook, inside
//! git's quarantine, before any ref moves), and the after-push step.
//!
//! Refused: pushes without write access; refs other than branches and tags;
//! deleting or rewinding the default branch; plain blobs over the LFS
//! threshold (with a hint to track them with LFS); and LFS pointers whose
//! object is not stored and linked to this repo, because such a file could
//! never be downloaded.

use serde::{Deserialize, Serialize};

use super::hooks::GitEnvironment;
use super::scan::Scanner;
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::rules::LFS_SIZE_THRESHOLD;
use crate::repos::access::{authorize_repo, level::Write};
use crate::repos::{Repo, refs};

const ZERO: &str = "0000000000000000000000000000000000000000";

/// One line of a hook's stdin: `<old> <new> <ref>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl RefUpdate {
    pub fn parse_line(line: &str) -> Result<RefUpdate> {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(old), Some(new), Some(name), None) => Ok(RefUpdate {
                old: old.into(),
                new: new.into(),
                name: name.into(),
            }),
            _ => Err(Error::invalid(format!(
                "malformed ref update line {line:?}"
            ))),
        }
    }

    fn is_delete(&self) -> bool {
        self.new == ZERO
    }

    fn is_create(&self) -> bool {
        self.old == ZERO
    }
}

/// The quarantine git gives a pre-receive hook: new objects live there
/// until the push is accepted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Quarantine {
    pub object_directory: Option<String>,
    pub alternate_object_directories: Option<String>,
    pub quarantine_path: Option<String>,
}

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
    let default_ref = format!("refs/heads/{}", repo.default_branch);
    for update in updates {
        if !(update.name.starts_with("refs/heads/") || update.name.starts_with("refs/tags/")) {
            return Err(Error::forbidden(format!(
                "{}: only branches and tags can be pushed",
                update.name
            )));
        }
        if update.name == default_ref && update.is_delete() {
            return Err(Error::forbidden(format!(
                "{}: the default branch cannot be deleted",
                repo.default_branch
            )));
        }
        let rewinds = !update.is_create() && !update.is_delete();
        if update.name == default_ref
            && rewinds
            && !git.is_ancestor(&update.old, &update.new).await?
        {
            return Err(Error::forbidden(format!(
                "{}: force-pushing the default branch is not allowed (the push would drop commits)",
                repo.default_branch
            )));
        }
    }
    let new_tips: Vec<&str> = updates
        .iter()
        .filter(|u| !u.is_delete())
        .map(|u| u.new.as_str())
        .collect();
    if new_tips.is_empty() {
        return Ok(());
    }
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
    let oids: Vec<String> = pointers.iter().map(|(_, p)| p.oid.clone()).collect();
    let missing = crate::lfs::objects::missing_for_repo(&hub.db, repo.id, &oids).await?;
    if !missing.is_empty() {
        let mut files: Vec<&str> = pointers
            .iter()
            .filter(|(_, p)| missing.contains(&p.oid))
            .map(|(path, _)| path.as_str())
            .collect();
        files.sort_unstable();
        files.dedup();
        return Err(Error::invalid(format!(
            "these LFS files were pushed without their content (run `git lfs push --all origin` first): {}",
            files.join(", ")
        )));
    }
    Ok(())
}

/// The after-push step: the same one every commit path ends in.
pub async fn post_receive(hub: &Hub, repo: &Repo) -> Result<()> {
    refs::after_commit(hub, repo).await
}
