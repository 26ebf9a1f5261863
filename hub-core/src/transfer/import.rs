//! `hub import`: a bundle directory loaded into this hub as a new repo,
//! checked whole before anything becomes visible (see the module above).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::files;
use super::manifest::{FileEntry, Manifest};
use crate::error::{Error, Result};
use crate::git::bundle;
use crate::git::scan::Scanner;
use crate::hub::Hub;
use crate::lfs::store;
use crate::repos::access::find_namespace;
use crate::repos::{self, Repo, manage};

/// What an import brought in.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Imported {
    pub repo: Repo,
    pub refs: usize,
    pub lfs_objects: usize,
    pub lfs_bytes: u64,
}

/// Loads the bundle in `from` as a new repo named `as_id` (`namespace/name`)
/// or, without it, as it was named where it was exported. The namespace
/// must exist and the name be free. Fails with `InvalidInput`, naming the
/// fault, for any file, part, ref or LFS object that is not what the
/// manifest says, and then nothing is imported.
pub async fn import(hub: &Hub, from: &Path, as_id: Option<&str>) -> Result<Imported> {
    let manifest = Manifest::read(from)?;
    let repo_type = manifest.repo_type()?;
    let id = as_id.unwrap_or(&manifest.repo.id);
    let (namespace, name) = crate::names::split_repo_id(id)?;
    let namespace_id = match find_namespace(&hub.db, namespace).await {
        Ok((ns_id, _, _)) => ns_id,
        Err(Error::NotFound(_)) => {
            return Err(Error::not_found(format!(
                "there is no user or organisation '{namespace}' on this hub: create it first, \
                 or import under another name with --as NAMESPACE/NAME"
            )));
        }
        Err(e) => return Err(e),
    };
    if repos::find(&hub.db, repo_type, namespace, name)
        .await?
        .is_some()
    {
        return Err(manage::already_exists(repo_type, namespace, name));
    }

    // What imports and exports killed half-way left behind.
    manage::sweep_abandoned_imports(hub).await?;
    bundle::sweep_scratch(&hub.config.repos_dir())?;
    let work = bundle::Scratch::new(&hub.config.repos_dir(), "import-")?;
    let checked = check(hub, from, &manifest, work.path()).await?;

    // Everything is checked: from here on, only this hub can fail.
    let importing =
        manage::create_hidden(hub, repo_type, namespace_id, &manifest.repo.default_branch).await?;
    let filled = fill(hub, &importing.repo, from, &checked).await;
    let revealed = match filled {
        Ok(()) => manage::reveal(hub, &importing, name, manifest.repo.private).await,
        Err(e) => Err(e),
    };
    let revealed = match revealed {
        Ok(repo) => repo,
        Err(e) => {
            let id = importing.repo.id;
            if let Err(cleanup) = manage::discard(hub, importing).await {
                tracing::error!(repo = id, error = %cleanup, "could not remove a failed import");
            }
            return Err(e);
        }
    };
    Ok(Imported {
        repo: revealed,
        refs: manifest.refs.len(),
        lfs_objects: checked.objects.len(),
        lfs_bytes: checked.objects.iter().map(|o| o.size).sum(),
    })
}

/// A bundle whose every byte was checked, fetched into a scratch repository.
struct Checked {
    git_dir: PathBuf,
    /// The LFS objects the history names, as the manifest lists them.
    objects: Vec<FileEntry>,
}

/// Checks every file against the manifest, the git bundle with git, the
/// refs it holds against the manifest's, and the LFS objects its history
/// names against the files; leaves the fetched repository in `work`.
async fn check(hub: &Hub, from: &Path, manifest: &Manifest, work: &Path) -> Result<Checked> {
    let entry = manifest.git_bundle()?;
    let bundle_file = if entry.parts.is_empty() {
        files::verify(from, entry).await?;
        from.join(&entry.path)
    } else {
        let whole = work.join(&entry.path);
        files::assemble(from, entry, &whole).await?;
        whole
    };
    for object in manifest.lfs_objects() {
        files::verify(from, object).await?;
    }

    let git_dir = work.join("repo.git");
    let refs = bundle::fetch_into_new(
        &hub.git_env,
        &bundle_file,
        &git_dir,
        &manifest.repo.default_branch,
    )
    .await?;
    compare_refs(&refs, &manifest.refs)?;

    let by_oid: HashMap<&str, &FileEntry> = manifest
        .lfs_objects()
        .filter_map(|f| Some((f.oid()?, f)))
        .collect();
    let scanner = Scanner::new(&hub.git_env, git_dir.clone());
    let blobs = scanner.blobs(&["--branches", "--tags"], &[]).await?;
    let mut needed = BTreeMap::new();
    for (path, pointer) in scanner.lfs_pointers(&blobs).await? {
        let Some(file) = by_oid.get(pointer.oid.as_str()) else {
            return Err(Error::invalid(format!(
                "the bundle is refused: its history names LFS object {} ({path}), \
                 which the bundle does not hold",
                pointer.oid
            )));
        };
        if file.size != pointer.size {
            return Err(Error::invalid(format!(
                "the bundle is refused: {} has {} bytes, but {path} names it with {}",
                file.path, file.size, pointer.size
            )));
        }
        needed.insert(pointer.oid.clone(), (*file).clone());
    }
    Ok(Checked {
        git_dir,
        objects: needed.into_values().collect(),
    })
}

/// The refs git fetched must be the manifest's, all and only those.
fn compare_refs(
    fetched: &BTreeMap<String, String>,
    listed: &BTreeMap<String, String>,
) -> Result<()> {
    for (name, target) in listed {
        match fetched.get(name) {
            Some(t) if t == target => {}
            Some(t) => {
                return Err(Error::invalid(format!(
                    "the bundle is refused: {name} is {t} in the git bundle but {target} in the manifest"
                )));
            }
            None => {
                return Err(Error::invalid(format!(
                    "the bundle is refused: the manifest lists {name}, which the git bundle lacks"
                )));
            }
        }
    }
    if let Some(name) = fetched.keys().find(|n| !listed.contains_key(*n)) {
        return Err(Error::invalid(format!(
            "the bundle is refused: the git bundle holds {name}, which the manifest does not list"
        )));
    }
    Ok(())
}

/// Moves the checked repository into place for the hidden `repo`, stores
/// its LFS objects through the one upload path (which checks each sha256
/// again as it reads) and records its refs as a push's are recorded.
async fn fill(hub: &Hub, repo: &Repo, from: &Path, checked: &Checked) -> Result<()> {
    let dir = hub.repo_dir(repo.id);
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(&checked.git_dir, &dir)?;
    for object in &checked.objects {
        let oid = object.oid().expect("an LFS entry");
        store::put_object(hub, repo, oid, object.size, files::read(from, object)).await?;
    }
    repos::refs::after_commit(hub, repo).await
}
