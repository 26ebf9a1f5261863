//! Git bundles with the real git: a snapshot of chosen refs written as a
//! bundle (for `hub export`), and a bundle checked and fetched into a new
//! bare repository (for `hub import`), commit ids unchanged.
//!
//! The snapshot is a scratch repository that borrows the repo's objects
//! (`objects/info/alternates`) and holds only the refs to export, so the
//! bundle holds exactly those refs (and nothing a push adds meanwhile),
//! possibly at other commits than the repo's own refs (an export at a
//! revision), and the repo itself is never written to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::hooks::GitEnvironment;
use crate::error::{Error, Result};

/// The refs the hub keeps for users: branches and tags, by full name, with
/// the object each points at (an annotated tag's own object for such tags).
pub async fn branches_and_tags(
    env: &GitEnvironment,
    repo_dir: &Path,
) -> Result<BTreeMap<String, String>> {
    let listed = run(
        env,
        repo_dir,
        &[
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            "refs/heads/",
            "refs/tags/",
        ],
    )
    .await?;
    Ok(listed
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(target, name)| (name.to_owned(), target.to_owned()))
        .collect())
}

/// A scratch repository holding `refs` over the objects of another.
pub struct Snapshot {
    dir: Scratch,
    repo: PathBuf,
}

impl Snapshot {
    /// Makes the snapshot of repo `repo_dir` (one of `repos_dir`).
    pub async fn of(
        env: &GitEnvironment,
        repos_dir: &Path,
        repo_dir: &Path,
        refs: &BTreeMap<String, String>,
        default_branch: &str,
    ) -> Result<Snapshot> {
        let dir = Scratch::new(repos_dir, "export-")?;
        let path = dir.path().join("snapshot.git");
        let repo = path.clone();
        let branch = default_branch.to_owned();
        tokio::task::spawn_blocking(move || super::init_bare(&path, &branch)).await??;
        let objects = std::path::absolute(repo_dir.join("objects"))?;
        std::fs::write(
            repo.join("objects/info/alternates"),
            format!("{}\n", objects.display()),
        )?;
        let updates: String = refs
            .iter()
            .map(|(name, target)| format!("create {name} {target}\n"))
            .collect();
        run_with_input(env, &repo, &["update-ref", "--stdin"], updates).await?;
        Ok(Snapshot { dir, repo })
    }

    /// The snapshot's bare repository.
    pub fn path(&self) -> &Path {
        &self.repo
    }

    /// Room for files beside the repository, removed with it.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// Writes the bundle of every branch and tag of the snapshot, with
    /// their whole history, to `to`.
    pub async fn write_bundle(&self, env: &GitEnvironment, to: &Path) -> Result<()> {
        let to = std::path::absolute(to)?;
        let to = to
            .to_str()
            .ok_or_else(|| Error::invalid(format!("{} is not a UTF-8 path", to.display())))?;
        run(
            env,
            self.path(),
            &["bundle", "create", "--quiet", to, "--branches", "--tags"],
        )
        .await?;
        Ok(())
    }
}

/// Checks the bundle at `bundle` (git's own check: complete, no commits
/// it needs from elsewhere) and fetches its branches and tags into a new
/// bare repository at `into` (objects checked as a push's are); returns
/// the refs it now has. On failure `into` is removed.
pub async fn fetch_into_new(
    env: &GitEnvironment,
    bundle: &Path,
    into: &Path,
    default_branch: &str,
) -> Result<BTreeMap<String, String>> {
    let fetched = fetch(env, bundle, into, default_branch).await;
    if fetched.is_err() {
        let _ = std::fs::remove_dir_all(into);
    }
    fetched
}

async fn fetch(
    env: &GitEnvironment,
    bundle: &Path,
    into: &Path,
    default_branch: &str,
) -> Result<BTreeMap<String, String>> {
    let path = into.to_owned();
    let branch = default_branch.to_owned();
    tokio::task::spawn_blocking(move || super::init_bare(&path, &branch)).await??;
    let bundle = std::path::absolute(bundle)?;
    let bundle = bundle
        .to_str()
        .ok_or_else(|| Error::invalid(format!("{} is not a UTF-8 path", bundle.display())))?;
    run(env, into, &["bundle", "verify", "--quiet", bundle])
        .await
        .map_err(|e| Error::invalid(format!("the bundle is refused: {e}")))?;
    run(
        env,
        into,
        &[
            "-c",
            "transfer.fsckObjects=true",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            bundle,
            "refs/heads/*:refs/heads/*",
            "refs/tags/*:refs/tags/*",
        ],
    )
    .await
    .map_err(|e| Error::invalid(format!("the bundle is refused: {e}")))?;
    branches_and_tags(env, into).await
}

fn git(env: &GitEnvironment, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear()
        .envs(env.vars())
        .current_dir(dir)
        .args(args)
        .kill_on_drop(true);
    cmd
}

/// Runs git in `dir`; its stdout, or an error with its stderr.
async fn run(env: &GitEnvironment, dir: &Path, args: &[&str]) -> Result<String> {
    let out = git(env, dir, args).stdin(Stdio::null()).output().await?;
    answer(args, out)
}

async fn run_with_input(
    env: &GitEnvironment,
    dir: &Path,
    args: &[&str],
    input: String,
) -> Result<String> {
    let mut child = git(env, dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().expect("piped");
    let feed = tokio::spawn(async move {
        stdin.write_all(input.as_bytes()).await?;
        stdin.shutdown().await
    });
    let out = child.wait_with_output().await?;
    feed.await??;
    answer(args, out)
}

fn answer(args: &[&str], out: std::process::Output) -> Result<String> {
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let command = args
        .iter()
        .find(|a| !a.starts_with('-') && !a.contains('='))
        .unwrap_or(&"");
    Err(Error::Internal(anyhow::anyhow!(
        "git {command} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Where exports and imports keep their scratch repositories: beside the
/// repos, so that an import's finished repository moves into place with a
/// rename.
fn scratch_dir(repos_dir: &Path) -> PathBuf {
    repos_dir.join("incoming")
}

/// The file in a scratch directory that its process holds locked.
const SCRATCH_LOCK: &str = ".lock";

/// A scratch directory of an export or an import, removed when dropped.
/// Its process holds a lock on it for as long as it lives, so that
/// [`sweep_scratch`] can tell the directories of a process that was
/// killed from those in use.
pub struct Scratch {
    dir: tempfile::TempDir,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Scratch {
    pub fn new(repos_dir: &Path, prefix: &str) -> Result<Scratch> {
        let parent = scratch_dir(repos_dir);
        std::fs::create_dir_all(&parent)?;
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&parent)?;
        // Locked under another name first: a sweep never finds it unlocked.
        let making = dir.path().join(".lock-making");
        let file = std::fs::File::create(&making)?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| Error::Internal(anyhow::anyhow!("cannot lock a scratch dir: {e}")))?;
        std::fs::rename(&making, dir.path().join(SCRATCH_LOCK))?;
        Ok(Scratch { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the scratch directories that killed processes left behind
/// (their lock is free); returns how many.
pub fn sweep_scratch(repos_dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(scratch_dir(repos_dir)) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        // One whose lock file is not there yet is being made.
        let Ok(file) = std::fs::File::open(entry.path().join(SCRATCH_LOCK)) else {
            continue;
        };
        if nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok() {
            tracing::warn!(dir = %entry.path().display(), "removing the scratch dir of a killed export or import");
            std::fs::remove_dir_all(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_removes_only_the_scratch_dirs_of_dead_processes() {
        let repos = tempfile::tempdir().unwrap();
        let live = Scratch::new(repos.path(), "import-").unwrap();
        // A killed process's: its lock file is there, and nobody holds it.
        let dead = scratch_dir(repos.path()).join("import-dead");
        std::fs::create_dir_all(dead.join("repo.git")).unwrap();
        std::fs::write(dead.join(SCRATCH_LOCK), "").unwrap();
        // One being made: no lock file yet.
        let young = scratch_dir(repos.path()).join("import-young");
        std::fs::create_dir_all(&young).unwrap();
        assert_eq!(sweep_scratch(repos.path()).unwrap(), 1);
        assert!(live.path().exists() && young.exists() && !dead.exists());
        let path = live.path().to_owned();
        drop(live);
        assert!(!path.exists(), "removed when dropped");
    }
}
