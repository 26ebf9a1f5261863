//! Garbage collection of LFS objects: frees what no repo can reach any more
//! (after repo deletes, rewritten history, failed uploads), never what a
//! concurrent upload, commit or push is about to use.
//!
//! 1. Links: per repo, every LFS pointer reachable from any ref is found
//!    with git; a link older than the grace period that no ref reaches is
//!    marked, and dropped by a run at least a grace period later that still
//!    finds it unreferenced (a reference in between clears the mark).
//! 2. Objects with no link left, older than the grace period, are deleted:
//!    bytes first, then the row, under the row's lock, so an upload that
//!    links the object at the same moment waits and then sees it gone.
//! 3. Files in the store under `lfs/` with no row (an upload that died
//!    between storing and recording) and older than the grace period.

use std::collections::HashSet;
use std::time::Duration;

use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::error::Result;
use crate::git::scan::Scanner;
use crate::hub::Hub;
use crate::storage::lfs_object_path;

#[derive(Debug, Default, Clone, Serialize)]
pub struct GcReport {
    pub repos_scanned: u64,
    pub links_marked: u64,
    pub links_dropped: u64,
    pub objects_removed: u64,
    pub bytes_freed: u64,
    pub orphan_files_removed: u64,
}

pub async fn collect(hub: &Hub, grace: Duration) -> Result<GcReport> {
    let mut report = GcReport::default();
    let grace_secs = grace.as_secs_f64();
    let repo_ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM repos ORDER BY id")
        .fetch_all(&hub.db)
        .await?;
    for repo_id in repo_ids {
        sweep_links(hub, repo_id, grace_secs, &mut report).await?;
    }
    remove_unlinked_objects(hub, grace_secs, &mut report).await?;
    remove_orphan_files(hub, grace, &mut report).await?;
    Ok(report)
}

async fn sweep_links(
    hub: &Hub,
    repo_id: i64,
    grace_secs: f64,
    report: &mut GcReport,
) -> Result<()> {
    let has_links: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM repo_lfs_links WHERE repo_id = $1)")
            .bind(repo_id)
            .fetch_one(&hub.db)
            .await?;
    if !has_links {
        return Ok(());
    }
    let dir = hub.repo_dir(repo_id);
    if !dir.exists() {
        return Ok(());
    }
    let git = Scanner::new(&hub.git_env, dir);
    let blobs = git.blobs(&["--all"], &[]).await?;
    let referenced: Vec<String> = git
        .lfs_pointers(&blobs)
        .await?
        .into_iter()
        .map(|(_, p)| p.oid)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    report.repos_scanned += 1;
    sqlx::query(
        "UPDATE repo_lfs_links SET unreferenced_since = NULL
         WHERE repo_id = $1 AND oid = ANY($2) AND unreferenced_since IS NOT NULL",
    )
    .bind(repo_id)
    .bind(&referenced)
    .execute(&hub.db)
    .await?;
    report.links_marked += sqlx::query(
        "UPDATE repo_lfs_links SET unreferenced_since = now()
         WHERE repo_id = $1 AND NOT (oid = ANY($2)) AND unreferenced_since IS NULL
           AND created_at <= now() - make_interval(secs => $3)",
    )
    .bind(repo_id)
    .bind(&referenced)
    .bind(grace_secs)
    .execute(&hub.db)
    .await?
    .rows_affected();
    report.links_dropped += sqlx::query(
        "DELETE FROM repo_lfs_links
         WHERE repo_id = $1 AND NOT (oid = ANY($2)) AND unreferenced_since <= now() - make_interval(secs => $3)",
    )
    .bind(repo_id)
    .bind(&referenced)
    .bind(grace_secs)
    .execute(&hub.db)
    .await?
    .rows_affected();
    Ok(())
}

async fn remove_unlinked_objects(hub: &Hub, grace_secs: f64, report: &mut GcReport) -> Result<()> {
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT o.oid FROM lfs_objects o
         WHERE o.created_at <= now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM repo_lfs_links l WHERE l.oid = o.oid)",
    )
    .bind(grace_secs)
    .fetch_all(&hub.db)
    .await?;
    for oid in candidates {
        let mut tx = hub.db.begin().await?;
        // Lock the row first (an upload holds it while it links), then look
        // for links in a statement of its own: a lock wait does not make
        // PostgreSQL re-evaluate a subquery, a fresh statement sees the link.
        let size: Option<i64> =
            sqlx::query_scalar("SELECT size FROM lfs_objects WHERE oid = $1 FOR UPDATE")
                .bind(&oid)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(size) = size else { continue };
        let linked: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM repo_lfs_links WHERE oid = $1)")
                .bind(&oid)
                .fetch_one(&mut *tx)
                .await?;
        if linked {
            continue;
        }
        // A chunked object has no plain copy: its xorbs go with `xet::gc`.
        // (S3 answers a delete of nothing as a delete: look first.)
        let plain = super::store::plain_size(hub, &oid).await?.is_some();
        match hub.storage.store.delete(&lfs_object_path(&oid)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        sqlx::query("DELETE FROM lfs_objects WHERE oid = $1")
            .bind(&oid)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        report.objects_removed += 1;
        if plain {
            report.bytes_freed += size as u64;
        }
    }
    Ok(())
}

async fn remove_orphan_files(hub: &Hub, grace: Duration, report: &mut GcReport) -> Result<()> {
    let (files, bytes) = hub
        .storage
        .sweep_unrecorded("lfs", grace, async |name: &str| {
            if !super::objects::is_valid_oid(name) {
                return Ok(None);
            }
            let recorded: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM lfs_objects WHERE oid = $1)")
                    .bind(name)
                    .fetch_one(&hub.db)
                    .await?;
            Ok(Some(!recorded))
        })
        .await?;
    report.orphan_files_removed += files;
    report.bytes_freed += bytes;
    Ok(())
}
