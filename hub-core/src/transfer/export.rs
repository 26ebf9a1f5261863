//! `hub export`: a repo, or a snapshot of it at a revision, written as a
//! bundle directory (see the module above for the layout).

use std::collections::BTreeMap;
use std::path::Path;

use super::files;
use super::manifest::{FORMAT, FileEntry, FileKind, GIT_BUNDLE, Manifest, RepoInfo, VERSION};
use crate::error::{Error, Result};
use crate::git::bundle::{self, Snapshot};
use crate::git::scan::Scanner;
use crate::hub::Hub;
use crate::lfs::store;
use crate::repos::{self, Repo, RepoType};

/// Writes repo `repo_id` (`namespace/name`) of `repo_type`, whole or at
/// `revision`, into the directory `to`, which must be new or empty, with
/// files larger than `part_size` split into parts. Returns the manifest
/// written. On failure, what was written into `to` is removed.
pub async fn export(
    hub: &Hub,
    repo_type: RepoType,
    repo_id: &str,
    revision: Option<&str>,
    to: &Path,
    part_size: Option<u64>,
) -> Result<Manifest> {
    let (namespace, name) = crate::names::split_repo_id(repo_id)?;
    let repo = repos::find(&hub.db, repo_type, namespace, name)
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "there is no {} repository {repo_id} on this hub",
                repo_type.as_str()
            ))
        })?;
    prepare(to)?;
    let written = write(hub, &repo, revision, to, part_size).await;
    if written.is_err() {
        // Leave the directory as it was found: empty.
        if let Ok(entries) = std::fs::read_dir(to) {
            for entry in entries.flatten() {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
    written
}

/// An export writes into a new or an empty directory, so that a bundle
/// never mixes with other files (an old bundle's parts above all).
fn prepare(to: &Path) -> Result<()> {
    match std::fs::read_dir(to) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::invalid(format!(
                    "{} is not empty: export into a new or an empty directory",
                    to.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(std::fs::create_dir_all(to)?),
        Err(e) => Err(e.into()),
    }
}

async fn write(
    hub: &Hub,
    repo: &Repo,
    revision: Option<&str>,
    to: &Path,
    part_size: Option<u64>,
) -> Result<Manifest> {
    bundle::sweep_scratch(&hub.config.repos_dir())?;
    let repo_dir = hub.repo_dir(repo.id);
    let all = bundle::branches_and_tags(&hub.git_env, &repo_dir).await?;
    let refs = match revision {
        None => all,
        Some(rev) => at_revision(repo, &repo_dir, all, rev).await?,
    };
    let snapshot = Snapshot::of(
        &hub.git_env,
        &hub.config.repos_dir(),
        &repo_dir,
        &refs,
        &repo.default_branch,
    )
    .await?;

    let made = snapshot.scratch().join(GIT_BUNDLE);
    snapshot.write_bundle(&hub.git_env, &made).await?;
    let size = tokio::fs::metadata(&made).await?.len();
    let git_bundle = files::write(
        to,
        GIT_BUNDLE,
        FileKind::GitBundle,
        size,
        part_size,
        read_file(&made).await?,
    )
    .await?;
    let mut entries = vec![git_bundle];

    let scanner = Scanner::new(&hub.git_env, snapshot.path().to_owned());
    let blobs = scanner.blobs(&["--branches", "--tags"], &[]).await?;
    let mut objects = BTreeMap::new();
    for (path, pointer) in scanner.lfs_pointers(&blobs).await? {
        objects.entry(pointer.oid).or_insert((pointer.size, path));
    }
    for (oid, (size, path)) in objects {
        entries.push(write_object(hub, to, &oid, size, &path, part_size).await?);
    }

    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: VERSION,
        repo: RepoInfo {
            repo_type: repo.kind().as_str().to_owned(),
            id: repo.full_name(),
            private: repo.private,
            default_branch: repo.default_branch.clone(),
        },
        revision: revision.map(str::to_owned),
        refs,
        files: entries,
    };
    manifest.check()?;
    // Last: a directory without a manifest is no bundle, whatever else it holds.
    manifest.write(to)?;
    Ok(manifest)
}

/// The refs of a snapshot at `rev`: the default branch at its commit, and
/// every branch and tag whose commit is in its history.
async fn at_revision(
    repo: &Repo,
    repo_dir: &Path,
    all: BTreeMap<String, String>,
    rev: &str,
) -> Result<BTreeMap<String, String>> {
    let dir = repo_dir.to_owned();
    let rev = rev.to_owned();
    let default = format!("refs/heads/{}", repo.default_branch);
    tokio::task::spawn_blocking(move || -> Result<_> {
        let git = crate::git::open(&dir)?;
        let tip = crate::git::read::resolve_revision(&git, &rev)?;
        let mut refs = BTreeMap::new();
        for (name, target) in all {
            // A tag of a tree or a blob is in no commit's history.
            let Ok(commit) = git.find_reference(&name)?.peel_to_commit() else {
                continue;
            };
            let commit = commit.id();
            if commit == tip || git.graph_descendant_of(tip, commit)? {
                refs.insert(name, target);
            }
        }
        refs.insert(default, tip.to_string());
        Ok(refs)
    })
    .await?
}

/// Writes LFS object `oid` (named by `path` in the history) from the store.
async fn write_object(
    hub: &Hub,
    to: &Path,
    oid: &str,
    size: u64,
    path: &str,
    part_size: Option<u64>,
) -> Result<FileEntry> {
    let missing = || {
        Error::not_found(format!(
            "LFS object {oid} ({path}) is not stored on this hub, so the repo cannot be exported whole"
        ))
    };
    if !crate::lfs::objects::is_valid_oid(oid) {
        return Err(missing());
    }
    match store::object_size_in_store(hub, oid).await? {
        Some(stored) if stored == size => {}
        Some(stored) => {
            return Err(Error::Internal(anyhow::anyhow!(
                "LFS object {oid} ({path}) is stored with {stored} bytes, but its pointer says {size}"
            )));
        }
        None => return Err(missing()),
    }
    let body = store::read_object(hub, oid, None).await?;
    let name = format!("lfs/{oid}");
    let entry = files::write(to, &name, FileKind::Lfs, size, part_size, body).await?;
    if entry.sha256 != oid {
        return Err(Error::Internal(anyhow::anyhow!(
            "the stored copy of LFS object {oid} ({path}) reads back with sha256 {}: the store is damaged",
            entry.sha256
        )));
    }
    Ok(entry)
}

async fn read_file(path: &Path) -> Result<crate::repos::content::ByteStream> {
    use futures::StreamExt;
    let file = tokio::fs::File::open(path).await?;
    Ok(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).boxed())
}
