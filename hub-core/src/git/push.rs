//! The rules a `git push` must pass (run from the pre-receive hook, inside
//! git's quarantine, before any ref moves), and the after-push step.
//!
//! Refused: pushes without write access; refs other than branches and tags;
//! deleting or rewinding the default branch; plain blobs over the LFS
//! threshold (with a hint to track them with LFS); and LFS pointers whose
//! object is not stored and linked to this repo, because such a file could
//! never be downloaded.

use std::collections::HashMap;
use std::process::Stdio;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::hooks::GitEnvironment;
use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::rules::{LFS_SIZE_THRESHOLD, LfsPointer, MAX_POINTER_SIZE};
use crate::repos::access::{Access, check};
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

impl Quarantine {
    fn apply(&self, cmd: &mut Command) {
        if let Some(dir) = &self.object_directory {
            cmd.env("GIT_OBJECT_DIRECTORY", dir);
        }
        if let Some(dirs) = &self.alternate_object_directories {
            cmd.env("GIT_ALTERNATE_OBJECT_DIRECTORIES", dirs);
        }
        if let Some(path) = &self.quarantine_path {
            cmd.env("GIT_QUARANTINE_PATH", path);
        }
    }
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
    check(&hub.db, actor, repo, Access::Write).await?;
    actor.require_writer()?;
    let dir = hub.repo_dir(repo.id);
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.env_clear()
            .envs(env.vars())
            .current_dir(&dir)
            .args(args);
        quarantine.apply(&mut cmd);
        cmd
    };
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
        if update.name == default_ref && !update.is_create() && !update.is_delete() {
            let ancestor = git(&["merge-base", "--is-ancestor", &update.old, &update.new])
                .status()
                .await?;
            if !ancestor.success() {
                return Err(Error::forbidden(format!(
                    "{}: force-pushing the default branch is not allowed (the push would drop commits)",
                    repo.default_branch
                )));
            }
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
    let mut rev_list = vec!["rev-list", "--objects"];
    rev_list.extend(&new_tips);
    rev_list.extend(["--not", "--all"]);
    let blobs = new_blobs(
        git(&rev_list),
        git(&[
            "cat-file",
            "--batch-check=%(objectname) %(objecttype) %(objectsize) %(rest)",
        ]),
    )
    .await?;
    if let Some((path, size)) = blobs
        .iter()
        .find(|b| b.size > LFS_SIZE_THRESHOLD)
        .map(|b| (&b.path, b.size))
    {
        return Err(Error::PayloadTooLarge(format!(
            "{path} is {:.1} MB; files over {} MB must be stored with Git LFS: run `git lfs track \"{path}\"`, then amend the commit and push again",
            size as f64 / 1_048_576.0,
            LFS_SIZE_THRESHOLD / 1_048_576
        )));
    }
    let small: Vec<&NewBlob> = blobs
        .iter()
        .filter(|b| (b.size as usize) < MAX_POINTER_SIZE)
        .collect();
    let pointers = read_pointers(git(&["cat-file", "--batch"]), &small).await?;
    if pointers.is_empty() {
        return Ok(());
    }
    let oids: Vec<String> = pointers.values().map(|p| p.oid.clone()).collect();
    let missing = crate::lfs::objects::missing_for_repo(&hub.db, repo.id, &oids).await?;
    if !missing.is_empty() {
        let mut files: Vec<&str> = pointers
            .iter()
            .filter(|(_, p)| missing.contains(&p.oid))
            .map(|(path, _)| path.as_str())
            .collect();
        files.sort_unstable();
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

struct NewBlob {
    oid: String,
    size: u64,
    path: String,
}

/// Blobs reachable from the new tips and not from any existing ref.
async fn new_blobs(mut rev_list: Command, mut batch_check: Command) -> Result<Vec<NewBlob>> {
    let listed = rev_list
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await?;
    if !listed.status.success() {
        return Err(Error::Internal(anyhow::anyhow!(
            "git rev-list failed on the pushed objects"
        )));
    }
    let mut checker = batch_check
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut input = checker.stdin.take().expect("piped");
    let feed = tokio::spawn(async move {
        input.write_all(&listed.stdout).await?;
        input.shutdown().await
    });
    let mut lines = BufReader::new(checker.stdout.take().expect("piped")).lines();
    let mut blobs = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let mut parts = line.splitn(4, ' ');
        let (Some(oid), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if kind == "blob" {
            let size = size.parse().unwrap_or(0);
            blobs.push(NewBlob {
                oid: oid.to_owned(),
                size,
                path: parts.next().unwrap_or(oid).to_owned(),
            });
        }
    }
    feed.await??;
    checker.wait().await?;
    Ok(blobs)
}

/// The LFS pointers among small blobs, by path.
async fn read_pointers(
    mut batch: Command,
    blobs: &[&NewBlob],
) -> Result<HashMap<String, LfsPointer>> {
    if blobs.is_empty() {
        return Ok(HashMap::new());
    }
    let mut child = batch
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut input = child.stdin.take().expect("piped");
    let request: String = blobs.iter().map(|b| format!("{}\n", b.oid)).collect();
    let feed = tokio::spawn(async move {
        input.write_all(request.as_bytes()).await?;
        input.shutdown().await
    });
    let out = child.wait_with_output().await?;
    feed.await??;
    // Output: "<oid> blob <size>\n<content>\n" per object, in request order.
    let mut found = HashMap::new();
    let mut rest = &out.stdout[..];
    for blob in blobs {
        let Some(eol) = rest.iter().position(|b| *b == b'\n') else {
            break;
        };
        let header = String::from_utf8_lossy(&rest[..eol]).into_owned();
        let size: usize = header
            .rsplit(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let start = eol + 1;
        let end = (start + size).min(rest.len());
        if let Some(pointer) = LfsPointer::parse(&rest[start..end]) {
            found.insert(blob.path.clone(), pointer);
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    Ok(found)
}
