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
    dir: tempfile::TempDir,
}

impl Snapshot {
    /// Makes the snapshot under `scratch` (on the repos' filesystem).
    pub async fn of(
        env: &GitEnvironment,
        scratch: &Path,
        repo_dir: &Path,
        refs: &BTreeMap<String, String>,
        default_branch: &str,
    ) -> Result<Snapshot> {
        std::fs::create_dir_all(scratch)?;
        let dir = tempfile::Builder::new()
            .prefix("export-")
            .suffix(".git")
            .tempdir_in(scratch)?;
        let path = dir.path().to_owned();
        let branch = default_branch.to_owned();
        tokio::task::spawn_blocking(move || super::init_bare(&path, &branch)).await??;
        let objects = std::path::absolute(repo_dir.join("objects"))?;
        std::fs::write(
            dir.path().join("objects/info/alternates"),
            format!("{}\n", objects.display()),
        )?;
        let updates: String = refs
            .iter()
            .map(|(name, target)| format!("create {name} {target}\n"))
            .collect();
        run_with_input(env, dir.path(), &["update-ref", "--stdin"], updates).await?;
        Ok(Snapshot { dir })
    }

    pub fn path(&self) -> &Path {
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
pub fn scratch_dir(repos_dir: &Path) -> PathBuf {
    repos_dir.join("incoming")
}
