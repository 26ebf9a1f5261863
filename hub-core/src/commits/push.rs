//! The rules a `git push` must pass, run from the pre-receive hook inside
//! git's quarantine before any ref moves, and the after-push step. A push
//! is held to the rules of the commit API:
//!
//! - write access for branches and tags, named by the one ref-name rule
//!   (so no branch can pose as a commit id); the default branch is neither
//!   deleted nor rewound; a pull request's `refs/pr/N` takes what a commit
//!   to it takes through the API (its author or a writer, while it is open:
//!   [`crate::community::pulls::check_push`]), so a reader may push to
//!   their own pull request and nowhere else;
//! - every path a pushed tree adds passes the one path validator
//!   ([`crate::paths`]): no `..`, backslashes, control characters, `.git`
//!   or a name a filesystem reads as `.git`, no overlong names, UTF-8;
//! - every new commit's message passes [`super::check_message`];
//! - plain blobs stay under the LFS threshold (with a hint to track them);
//! - LFS pointers name objects linked to this repo ([`super::lfs_links`]).
//!
//! Git's own `receive.fsckObjects` (in the hub's git config) runs first.

use std::time::Instant;

use crate::accounts::Actor;
use crate::community::pulls;
use crate::error::{Error, Result};
use crate::git::hooks::GitEnvironment;
use crate::git::pushed;
use crate::git::read::RefKind;
use crate::git::receive::{Quarantine, RefUpdate};
use crate::git::refs::validate_ref_name;
use crate::git::scan::Scanner;
use crate::hub::Hub;
use crate::lfs::rules::{LFS_SIZE_THRESHOLD, LfsPointer};
use crate::paths::normalize_repo_path_bytes;
use crate::repos::access::{Access, authorize_repo, level::Read};
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
    let proof = authorize_repo::<Read>(&hub.db, actor, repo.clone()).await?;
    proof.check_may_push()?;
    let git = Scanner::new(env, hub.repo_dir(repo.id)).in_quarantine(quarantine);
    for update in updates {
        if update.name.starts_with("refs/heads/") || update.name.starts_with("refs/tags/") {
            proof.check(Access::Write)?;
            check_ref_update(repo, update, &git).await?;
        } else {
            pulls::check_push(hub, &proof, update).await?;
        }
    }
    let new_tips: Vec<String> = updates
        .iter()
        .filter(|u| !u.is_delete())
        .map(|u| u.new.clone())
        .collect();
    if new_tips.is_empty() {
        return Ok(());
    }
    let dir = hub.repo_dir(repo.id);
    let (tips, quarantined) = (new_tips.clone(), quarantine.clone());
    let started = Instant::now();
    let walked = tokio::task::spawn_blocking(move || {
        let tips: Vec<&str> = tips.iter().map(String::as_str).collect();
        check_new_history(&dir, &quarantined, &tips)
    })
    .await??;
    tracing::debug!(?walked, elapsed = ?started.elapsed(), "push: new history checked");
    let new_tips: Vec<&str> = new_tips.iter().map(String::as_str).collect();
    let blobs = git.blobs(&new_tips, &["--all"]).await?;
    if let Some(big) = blobs.iter().find(|b| b.size > LFS_SIZE_THRESHOLD) {
        return Err(Error::too_large(format!(
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

/// The messages of the new commits and the paths of the new trees, by the
/// rules of the commit API. Blocking.
pub fn check_new_history(
    repo_dir: &std::path::Path,
    quarantine: &Quarantine,
    tips: &[&str],
) -> Result<pushed::Walked> {
    pushed::walk_new(
        repo_dir,
        quarantine,
        tips,
        |commit| {
            super::check_message(commit.message_raw_bytes())
                .map_err(|e| Error::invalid(format!("commit {}: {e}", commit.id())))
        },
        |path, _kind| check_pushed_path(path),
    )
}

/// A pushed path must be exactly what the path validator makes of it (a
/// tree entry named `.` or with a `/` would be rewritten, so it is refused too).
fn check_pushed_path(path: &[u8]) -> Result<()> {
    let refuse = |why: String| {
        let shown = String::from_utf8_lossy(path);
        let shown: String = shown.chars().take(200).collect();
        Err(Error::invalid(format!(
            "the push adds the path {shown:?}, which this hub refuses: {why}"
        )))
    };
    match normalize_repo_path_bytes(path) {
        Ok(canonical) if canonical.as_bytes() == path => Ok(()),
        Ok(canonical) => refuse(format!("it is not in canonical form ({canonical:?})")),
        Err(e) => refuse(e.to_string()),
    }
}

/// The after-push step: the same one every commit path ends in, and the
/// commits pushed to pull requests recorded as their events.
pub async fn post_receive(
    hub: &Hub,
    repo: &Repo,
    pusher_id: i64,
    updates: &[RefUpdate],
) -> Result<()> {
    refs::after_commit(hub, repo).await?;
    pulls::record_push(hub, repo, pusher_id, updates).await
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use git2::{FileMode, Repository, Signature};

    use super::*;

    /// A repo with one commit, and a push of `dirs` × `files` new files in
    /// a quarantine of its own (as git's receive-pack keeps it).
    fn push_of(dirs: usize, files: usize) -> (tempfile::TempDir, Quarantine, String) {
        let dir = tempfile::tempdir().unwrap();
        let repo_dir = dir.path().join("repo.git");
        crate::git::init_repo(&repo_dir, "t", "t@example.com", &[]).unwrap();
        let repo = Repository::open_bare(&repo_dir).unwrap();
        let head = repo.head().unwrap().peel_to_commit().unwrap().id();
        let incoming = dir.path().join("incoming");
        let staging = Repository::init_bare(&incoming).unwrap();
        staging
            .odb()
            .unwrap()
            .add_disk_alternate(repo_dir.join("objects").to_str().unwrap())
            .unwrap();
        // One blob under every name: the walk reads trees, never blobs, and
        // 20,000 durable object writes would make the setup slow.
        let blob = staging.blob(b"content").unwrap();
        let mut root = staging.treebuilder(None).unwrap();
        for d in 0..dirs {
            let mut folder = staging.treebuilder(None).unwrap();
            for f in 0..files {
                folder
                    .insert(format!("file-{d}-{f}.txt"), blob, FileMode::Blob.into())
                    .unwrap();
            }
            let tree = folder.write().unwrap();
            root.insert(format!("dir-{d}"), tree, FileMode::Tree.into())
                .unwrap();
        }
        let tree = staging.find_tree(root.write().unwrap()).unwrap();
        let sig = Signature::now("t", "t@example.com").unwrap();
        let parent = staging.find_commit(head).unwrap();
        let commit = staging
            .commit(None, &sig, &sig, "many files", &tree, &[&parent])
            .unwrap();
        let quarantine = Quarantine {
            object_directory: Some(incoming.join("objects").display().to_string()),
            ..Quarantine::default()
        };
        (dir, quarantine, commit.to_string())
    }

    /// The measurement asked for in issue 11: run with
    /// `cargo test --workspace --lib -- new_history_walk --nocapture`.
    #[test]
    fn new_history_walk_of_a_20000_file_push() {
        let (dir, quarantine, tip) = push_of(200, 100);
        let repo_dir = dir.path().join("repo.git");
        let started = Instant::now();
        let walked = check_new_history(&repo_dir, &quarantine, &[&tip]).unwrap();
        let elapsed = started.elapsed();
        println!("checked a push of 20,000 new files: {walked:?} in {elapsed:?}");
        assert_eq!(walked.entries, 200 + 20_000);
        assert_eq!(walked.commits, 1);
        assert!(elapsed.as_secs() < 10, "{elapsed:?}");
    }

    #[test]
    fn the_walk_reads_only_new_trees() {
        let (dir, quarantine, tip) = push_of(3, 2);
        let repo_dir = dir.path().join("repo.git");
        let walked = check_new_history(&repo_dir, &quarantine, &[&tip]).unwrap();
        assert_eq!((walked.commits, walked.trees, walked.entries), (1, 4, 9));
        // Once the trees are the repo's own (as after an accepted push),
        // they are not read again: only the commit is new here.
        std::fs::write(
            repo_dir.join("objects/info/alternates"),
            format!("{}\n", dir.path().join("incoming/objects").display()),
        )
        .unwrap();
        let walked = check_new_history(&repo_dir, &Quarantine::default(), &[&tip]).unwrap();
        assert_eq!((walked.commits, walked.trees, walked.entries), (1, 0, 0));
    }
}
