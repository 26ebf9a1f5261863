//! Garbage collection of file reconstructions and xorbs, after LFS garbage
//! collection has dropped the objects no repo reaches (see `lfs::gc`).
//!
//! 1. A repo's records of files it no longer links (LFS garbage collection
//!    dropped the link), older than the grace period, are deleted with
//!    their terms (a deleted repo's went with it).
//! 2. Xorbs no reconstruction uses are marked unused (and marks on xorbs
//!    used again are cleared). A xorb younger than the grace period is left
//!    alone: hf_xet uploads xorbs before the shard that uses them.
//! 3. Xorbs marked at least a grace period ago and still unused are
//!    removed: the row first, under its lock, after a fresh look for users
//!    (recording a file that uses the xorb waits on that lock and then
//!    fails, see `files::record`), then the bytes. A crash in between
//!    leaves bytes without a row, which step 4 sweeps.
//! 4. Files under `xet/xorbs/` with no row, older than the grace period.
//!
//! Two phases (mark, then remove a grace period later) give a client that
//! skipped uploading a xorb it believes stored (hf_xet remembers what it
//! uploaded) that long to send the shard that uses it.

use std::time::Duration;

use object_store::ObjectStoreExt;
use serde::Serialize;

use super::hash::XetHash;
use super::records::xorb_path;
use crate::error::Result;
use crate::hub::Hub;

#[derive(Debug, Default, Clone, Serialize)]
pub struct XetGcReport {
    pub files_removed: u64,
    pub xorbs_marked: u64,
    pub xorbs_removed: u64,
    pub orphan_xorbs_removed: u64,
    pub xorb_bytes_freed: u64,
}

pub async fn collect(hub: &Hub, grace: Duration) -> Result<XetGcReport> {
    let mut report = XetGcReport::default();
    let grace_secs = grace.as_secs_f64();
    report.files_removed = sqlx::query(
        "DELETE FROM xet_files f
         WHERE f.created_at <= now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM repo_lfs_links l
                           WHERE l.repo_id = f.repo_id AND l.oid = f.sha256)",
    )
    .bind(grace_secs)
    .execute(&hub.db)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE xet_xorbs x SET unused_since = NULL
         WHERE unused_since IS NOT NULL
           AND EXISTS (SELECT 1 FROM xet_file_terms u WHERE u.xorb_hash = x.hash)",
    )
    .execute(&hub.db)
    .await?;
    report.xorbs_marked = sqlx::query(
        "UPDATE xet_xorbs x SET unused_since = now()
         WHERE unused_since IS NULL
           AND created_at <= now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM xet_file_terms u WHERE u.xorb_hash = x.hash)",
    )
    .bind(grace_secs)
    .execute(&hub.db)
    .await?
    .rows_affected();
    remove_unused(hub, grace_secs, &mut report).await?;
    remove_orphans(hub, grace, &mut report).await?;
    Ok(report)
}

async fn remove_unused(hub: &Hub, grace_secs: f64, report: &mut XetGcReport) -> Result<()> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT hash FROM xet_xorbs WHERE unused_since <= now() - make_interval(secs => $1)",
    )
    .bind(grace_secs)
    .fetch_all(&hub.db)
    .await?;
    for hash in due {
        let Some(xorb) = XetHash::from_hex(&hash) else {
            continue;
        };
        let mut tx = hub.db.begin().await?;
        let size: Option<i64> =
            sqlx::query_scalar("SELECT size FROM xet_xorbs WHERE hash = $1 FOR UPDATE")
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(size) = size else { continue };
        // A statement of its own: it sees a use committed while we waited.
        let used: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM xet_file_terms WHERE xorb_hash = $1)")
                .bind(&hash)
                .fetch_one(&mut *tx)
                .await?;
        if used {
            continue;
        }
        for delete in [
            "DELETE FROM xet_xorb_links WHERE hash = $1",
            "DELETE FROM xet_xorb_uploaders WHERE hash = $1",
            "DELETE FROM xet_xorbs WHERE hash = $1",
        ] {
            sqlx::query(delete).bind(&hash).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        match hub.storage.store.delete(&xorb_path(&xorb)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        report.xorbs_removed += 1;
        report.xorb_bytes_freed += size as u64;
    }
    Ok(())
}

async fn remove_orphans(hub: &Hub, grace: Duration, report: &mut XetGcReport) -> Result<()> {
    let (files, bytes) = hub
        .storage
        .sweep_unrecorded("xet/xorbs", grace, async |name: &str| {
            let Some(hash) = XetHash::from_hex(name) else {
                return Ok(None);
            };
            let recorded: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM xet_xorbs WHERE hash = $1)")
                    .bind(hash.to_hex())
                    .fetch_one(&hub.db)
                    .await?;
            Ok(Some(!recorded))
        })
        .await?;
    report.orphan_xorbs_removed += files;
    report.xorb_bytes_freed += bytes;
    Ok(())
}

/// How far the conversion of plain LFS objects into xorbs has come.
#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestStatus {
    /// Objects waiting to be chunked.
    pub queued: u64,
    pub queued_bytes: u64,
    /// Of those, objects whose last attempt failed (retried later).
    pub failing: u64,
    /// File reconstructions recorded, and their logical bytes.
    pub files: u64,
    pub file_bytes: u64,
    /// Xorbs and the bytes they take in the store.
    pub xorbs: u64,
    pub xorb_bytes: u64,
}

pub async fn ingest_status(hub: &Hub) -> Result<IngestStatus> {
    let (queued, queued_bytes, failing): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(o.size), 0)::bigint, count(q.last_error)
         FROM xet_ingest_queue q JOIN lfs_objects o ON o.oid = q.oid",
    )
    .fetch_one(&hub.db)
    .await?;
    let (files, file_bytes): (i64, i64) =
        sqlx::query_as("SELECT count(*), coalesce(sum(size), 0)::bigint FROM xet_files")
            .fetch_one(&hub.db)
            .await?;
    let (xorbs, xorb_bytes): (i64, i64) =
        sqlx::query_as("SELECT count(*), coalesce(sum(size), 0)::bigint FROM xet_xorbs")
            .fetch_one(&hub.db)
            .await?;
    Ok(IngestStatus {
        queued: queued as u64,
        queued_bytes: queued_bytes as u64,
        failing: failing as u64,
        files: files as u64,
        file_bytes: file_bytes as u64,
        xorbs: xorbs as u64,
        xorb_bytes: xorb_bytes as u64,
    })
}
