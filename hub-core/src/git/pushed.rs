//! What a push adds, read inside git's quarantine before any ref moves: its
//! new commits, and every entry of every tree it adds, with the entry's
//! full path. Trees the repo already has are not read: they were checked
//! when they arrived (by the commit path or an earlier push), so the cost of
//! a push's checks follows the size of the push, not of the repo.
//! Blocking (libgit2).

use std::collections::HashSet;
use std::path::Path;

use git2::{Commit, ObjectType, Oid, Repository};

use super::receive::Quarantine;
use crate::error::{Error, Result};

/// How much a walk read (for measurements and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Walked {
    pub commits: usize,
    pub trees: usize,
    pub entries: usize,
}

/// Calls `on_commit` for each commit reachable from `tips` and from no ref
/// of the repo, and `on_entry` with the full path (raw bytes, `/`-joined)
/// and kind of each entry of each tree such a commit (or a tip naming a tree)
/// adds. The first error stops the walk and is returned.
pub fn walk_new(
    repo_dir: &Path,
    quarantine: &Quarantine,
    tips: &[&str],
    mut on_commit: impl FnMut(&Commit<'_>) -> Result<()>,
    mut on_entry: impl FnMut(&[u8], Option<ObjectType>) -> Result<()>,
) -> Result<Walked> {
    // Two handles: `known` sees only what the repo had before the push.
    let known = Repository::open_bare(repo_dir)?;
    let known_odb = known.odb()?;
    let repo = Repository::open_bare(repo_dir)?;
    if let Some(dir) = &quarantine.object_directory {
        let dir = repo_dir.join(dir); // git may hand a path relative to the repo
        let dir = dir
            .to_str()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("quarantine path is not UTF-8")))?;
        repo.odb()?.add_disk_alternate(dir)?;
    }
    let mut walk = repo.revwalk()?;
    let mut trees: Vec<(Oid, Vec<u8>)> = Vec::new();
    for tip in tips {
        let mut object = repo.find_object(Oid::from_str(tip)?, None)?;
        while let Some(tag) = object.as_tag() {
            object = tag.target()?;
        }
        match object.kind() {
            Some(ObjectType::Commit) => walk.push(object.id())?,
            Some(ObjectType::Tree) => trees.push((object.id(), Vec::new())),
            _ => {}
        }
    }
    for reference in known.references()? {
        if let Ok(commit) = reference?.peel_to_commit() {
            walk.hide(commit.id())?;
        }
    }
    let mut walked = Walked::default();
    for id in walk {
        let commit = repo.find_commit(id?)?;
        on_commit(&commit)?;
        walked.commits += 1;
        trees.push((commit.tree_id(), Vec::new()));
    }
    let mut seen = HashSet::new();
    while let Some((id, prefix)) = trees.pop() {
        if !seen.insert(id) || known_odb.exists(id) {
            continue;
        }
        walked.trees += 1;
        for entry in repo.find_tree(id)?.iter() {
            let mut path = prefix.clone();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(entry.name_bytes());
            on_entry(&path, entry.kind())?;
            walked.entries += 1;
            if entry.kind() == Some(ObjectType::Tree) {
                trees.push((entry.id(), path));
            }
        }
    }
    Ok(walked)
}
