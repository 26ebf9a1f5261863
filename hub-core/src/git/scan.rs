//! Scanning history with the real git: which blobs a set of commits adds,
//! and which of them are LFS pointers. Used by the push rules (inside git's
//! quarantine, before a push is accepted) and by garbage collection.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::hooks::GitEnvironment;
use super::receive::Quarantine;
use crate::error::{Error, Result};
use crate::lfs::rules::{LfsPointer, MAX_POINTER_SIZE};

pub struct Scanner<'a> {
    env: &'a GitEnvironment,
    dir: PathBuf,
    quarantine: Option<&'a Quarantine>,
}

/// A blob, with a path it was found under.
#[derive(Debug, Clone)]
pub struct Blob {
    pub oid: String,
    pub size: u64,
    pub path: String,
}

impl<'a> Scanner<'a> {
    pub fn new(env: &'a GitEnvironment, dir: PathBuf) -> Scanner<'a> {
        Scanner {
            env,
            dir,
            quarantine: None,
        }
    }

    /// Sees the objects of a push that git has not accepted yet.
    pub fn in_quarantine(mut self, quarantine: &'a Quarantine) -> Scanner<'a> {
        self.quarantine = Some(quarantine);
        self
    }

    fn git(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.env_clear()
            .envs(self.env.vars())
            .current_dir(&self.dir)
            .args(args)
            .kill_on_drop(true);
        if let Some(q) = self.quarantine {
            for (name, value) in [
                ("GIT_OBJECT_DIRECTORY", &q.object_directory),
                (
                    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                    &q.alternate_object_directories,
                ),
                ("GIT_QUARANTINE_PATH", &q.quarantine_path),
            ] {
                if let Some(value) = value {
                    cmd.env(name, value);
                }
            }
        }
        cmd
    }

    pub async fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool> {
        let status = self
            .git(&["merge-base", "--is-ancestor", ancestor, descendant])
            .stdin(Stdio::null())
            .status()
            .await?;
        Ok(status.success())
    }

    /// Blobs reachable from `include` but not from `exclude` (rev-list
    /// arguments such as commit ids or `--all`).
    pub async fn blobs(&self, include: &[&str], exclude: &[&str]) -> Result<Vec<Blob>> {
        let mut args = vec!["rev-list", "--objects"];
        args.extend(include);
        if !exclude.is_empty() {
            args.push("--not");
            args.extend(exclude);
        }
        let listed = self.git(&args).stdin(Stdio::null()).output().await?;
        if !listed.status.success() {
            return Err(Error::Internal(anyhow::anyhow!(
                "git rev-list failed: {}",
                String::from_utf8_lossy(&listed.stderr)
            )));
        }
        let format = "--batch-check=%(objectname) %(objecttype) %(objectsize) %(rest)";
        let mut checker = self
            .git(&["cat-file", format])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut input = checker.stdin.take().expect("piped");
        let feed = tokio::spawn(async move {
            input.write_all(&listed.stdout).await?;
            input.shutdown().await
        });
        // Paths are bytes, not necessarily UTF-8: read lines as bytes.
        let mut lines = BufReader::new(checker.stdout.take().expect("piped")).split(b'\n');
        let mut blobs = Vec::new();
        while let Some(line) = lines.next_segment().await? {
            let line = String::from_utf8_lossy(&line);
            let mut parts = line.splitn(4, ' ');
            let (Some(oid), Some("blob"), Some(size)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            blobs.push(Blob {
                oid: oid.to_owned(),
                size: size.parse().unwrap_or(0),
                path: parts.next().unwrap_or(oid).to_owned(),
            });
        }
        feed.await??;
        checker.wait().await?;
        Ok(blobs)
    }

    /// The LFS pointers among `blobs` (only small blobs are read), with the
    /// path each was found under.
    pub async fn lfs_pointers(&self, blobs: &[Blob]) -> Result<Vec<(String, LfsPointer)>> {
        let small: Vec<&Blob> = blobs
            .iter()
            .filter(|b| (b.size as usize) < MAX_POINTER_SIZE)
            .collect();
        if small.is_empty() {
            return Ok(Vec::new());
        }
        let mut child = self
            .git(&["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut input = child.stdin.take().expect("piped");
        let request: String = small.iter().map(|b| format!("{}\n", b.oid)).collect();
        let feed = tokio::spawn(async move {
            input.write_all(request.as_bytes()).await?;
            input.shutdown().await
        });
        // Answers come in request order: "<oid> blob <size>\n<content>\n".
        let mut output = BufReader::new(child.stdout.take().expect("piped"));
        let mut found = Vec::new();
        let mut header = String::new();
        for blob in small {
            header.clear();
            if output.read_line(&mut header).await? == 0 {
                break;
            }
            let size: usize = header
                .trim_end()
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let mut content = vec![0; size + 1];
            output.read_exact(&mut content).await?;
            if let Some(pointer) = LfsPointer::parse(&content[..size]) {
                found.push((blob.path.clone(), pointer));
            }
        }
        feed.await??;
        child.wait().await?;
        Ok(found)
    }
}
