//! The one check that an LFS pointer may enter a repo's history: the object
//! it names is stored, linked to this repo, and has the size the pointer
//! claims. Otherwise the file could never be downloaded (and a pointer to
//! another repo's object would be a way to read it). [`super::commit`] and
//! the push rules ([`super::push`]) both call [`check`].

use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::objects;
use crate::lfs::rules::LfsPointer;
use crate::repos::Repo;

/// Refuses the pointers (each with a path it is committed at) whose object
/// is not linked to `repo` with the size they claim, naming every such
/// file; `fix` tells the writer what to do (it differs between a push and
/// the API).
pub async fn check(
    hub: &Hub,
    repo: &Repo,
    pointers: &[(&str, &LfsPointer)],
    fix: &str,
) -> Result<()> {
    if pointers.is_empty() {
        return Ok(());
    }
    let oids: Vec<String> = pointers.iter().map(|(_, p)| p.oid.clone()).collect();
    let known = objects::states(&hub.db, repo.id, &oids).await?;
    let mut refused: Vec<String> = pointers
        .iter()
        .filter_map(|(path, pointer)| match known.get(&pointer.oid) {
            Some(k) if k.linked && k.size == pointer.size => None,
            Some(k) if k.linked => Some(format!(
                "{path} (its object has {} bytes, the pointer says {})",
                k.size, pointer.size
            )),
            _ => Some((*path).to_owned()),
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    refused.sort_unstable();
    refused.dedup();
    Err(Error::invalid(format!(
        "these LFS files come without their content in this repo ({fix}): {}",
        refused.join(", ")
    )))
}

/// The pointer for an LFS object linked to `repo`, when a client names it by
/// oid alone (HF sends no size for copies of LFS files; ModelScope may omit
/// it too).
pub async fn pointer_for(
    hub: &Hub,
    repo: &Repo,
    oid: &str,
    size: Option<u64>,
) -> Result<LfsPointer> {
    let stored = objects::linked_size(&hub.db, repo.id, oid)
        .await?
        .ok_or_else(|| {
            Error::invalid(format!(
                "LFS object {oid} has not been uploaded to this repo"
            ))
        })?;
    Ok(LfsPointer {
        oid: oid.to_owned(),
        size: size.unwrap_or(stored),
    })
}
