//! "Duplicate this Space" (`duplicate_space`): a new Space with the same
//! history (every branch and tag, the same commits), the same large files
//! (linked, not copied: the store already holds them) and the same
//! variables; never the secrets, which the new owner sets again. The copy
//! is made under a hidden name and named only when complete.

use crate::accounts::Actor;
use crate::error::{Error, Result};
use crate::git;
use crate::hub::Hub;
use crate::repos::access::{Authorized, level, namespace_for_writing};
use crate::repos::{self, Repo, RepoType, manage, refs};

/// Duplicates `from` as `namespace/name` for `actor`; `private` None keeps
/// the source's visibility. Options apply to the copy as at creation.
pub async fn duplicate(
    hub: &Hub,
    from: &Authorized<level::Read>,
    actor: &Actor,
    (namespace, name): (&str, &str),
    private: Option<bool>,
    options: &super::NewSpaceOptions,
) -> Result<Repo> {
    if from.kind() != RepoType::Space {
        return Err(Error::invalid("only Spaces can be duplicated"));
    }
    super::check_options(options)?;
    crate::names::validate_repo_name(name)?;
    let (namespace_id, namespace) = namespace_for_writing(&hub.db, actor, namespace).await?;
    if repos::find(&hub.db, RepoType::Space, &namespace, name)
        .await?
        .is_some()
    {
        return Err(manage::already_exists(RepoType::Space, &namespace, name));
    }
    let importing =
        manage::create_hidden(hub, RepoType::Space, namespace_id, &from.default_branch).await?;
    let copied = async {
        let (source, target) = (hub.repo_dir(from.id), hub.repo_dir(importing.repo.id));
        let branch = from.default_branch.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let repo = git::init_bare(&target, &branch)?;
            let source = source
                .to_str()
                .ok_or_else(|| anyhow::anyhow!("a repo path that is not UTF-8"))?;
            repo.remote_anonymous(source)?.fetch(
                &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                None,
                None,
            )?;
            Ok(())
        })
        .await??;
        link_files(hub, from.id, importing.repo.id).await?;
        manage::reveal(hub, &importing, name, private.unwrap_or(from.private)).await
    }
    .await;
    let repo = match copied {
        Ok(repo) => repo,
        Err(e) => {
            manage::discard(hub, importing).await?;
            return Err(e);
        }
    };
    super::env::copy_variables(hub, from.id, repo.id).await?;
    super::apply_options(hub, &repo, options).await?;
    refs::after_commit(hub, &repo).await?;
    Ok(repos::find_by_id(&hub.db, repo.id).await?.unwrap_or(repo))
}

/// The copy names the same large files: it links them (and their Xet
/// reconstructions) instead of storing them again.
async fn link_files(hub: &Hub, from: i64, to: i64) -> Result<()> {
    let mut tx = hub.db.begin().await?;
    sqlx::query(
        "INSERT INTO repo_lfs_links (repo_id, oid) SELECT $2, oid FROM repo_lfs_links WHERE repo_id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO xet_files (repo_id, file_hash, sha256, size)
         SELECT $2, file_hash, sha256, size FROM xet_files WHERE repo_id = $1 ON CONFLICT DO NOTHING",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO xet_file_terms (repo_id, file_hash, seq, file_offset, xorb_hash, chunk_start,
             chunk_end, unpacked_bytes)
         SELECT $2, file_hash, seq, file_offset, xorb_hash, chunk_start, chunk_end, unpacked_bytes
         FROM xet_file_terms WHERE repo_id = $1 ON CONFLICT DO NOTHING",
    )
    .bind(from)
    .bind(to)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
