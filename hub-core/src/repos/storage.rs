//! What a repo's large files take: their logical size (every LFS/Xet file
//! any revision links, each counted once) beside the bytes the store holds
//! for them (each distinct xorb chunk the repo's files use, compressed as
//! stored, counted once; plus files still waiting in their plain copy to
//! be chunked). The difference is what chunk-level deduplication saves,
//! across revisions and across files.
//!
//! Figures are the repo's own: a chunk shared with another repo counts in
//! both, so nothing here tells anyone what another (private) repo holds.

use serde::Serialize;
use sqlx::PgPool;

use crate::error::Result;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageUse {
    /// Large files (LFS/Xet) linked by any revision.
    pub files: i64,
    /// Their sizes added up.
    pub logical_bytes: i64,
    /// What the store holds for them.
    pub stored_bytes: i64,
}

/// The storage of repo `repo_id`.
pub async fn of_repo(db: &PgPool, repo_id: i64) -> Result<StorageUse> {
    of_repos(db, "SELECT $1::BIGINT", repo_id).await
}

/// The storage of every repo of a user or organisation together: a file or
/// chunk in several of its repos counts once. Only for the namespace's own
/// eyes (it includes private repos).
pub async fn of_namespace(db: &PgPool, namespace_id: i64) -> Result<StorageUse> {
    of_repos(
        db,
        "SELECT id FROM repos WHERE namespace_id = $1",
        namespace_id,
    )
    .await
}

/// `repos` is a query of repo ids with one parameter, `$1 = key`.
async fn of_repos(db: &PgPool, repos: &'static str, key: i64) -> Result<StorageUse> {
    let (files, logical_bytes): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*), coalesce(sum(o.size), 0)::BIGINT FROM lfs_objects o
         WHERE o.oid IN (SELECT l.oid FROM repo_lfs_links l WHERE l.repo_id IN ({repos}))"
    )))
    .bind(key)
    .fetch_one(db)
    .await?;
    // xorb arrays are 1-based: chunk i spans offsets[i + 1] .. offsets[i + 2].
    let chunked: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(sum(x.chunk_offsets[c.idx + 2] - x.chunk_offsets[c.idx + 1]), 0)::BIGINT
         FROM (SELECT DISTINCT t.xorb_hash, generate_series(t.chunk_start, t.chunk_end - 1) AS idx
               FROM xet_file_terms t WHERE t.repo_id IN ({repos})) c
         JOIN xet_xorbs x ON x.hash = c.xorb_hash"
    )))
    .bind(key)
    .fetch_one(db)
    .await?;
    // Linked files no repo of the set has a Xet record of yet keep their
    // plain copy.
    let plain: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(sum(o.size), 0)::BIGINT FROM lfs_objects o
         WHERE o.oid IN (SELECT l.oid FROM repo_lfs_links l WHERE l.repo_id IN ({repos}))
           AND NOT EXISTS (SELECT 1 FROM xet_files f
                           WHERE f.repo_id IN ({repos}) AND f.sha256 = o.oid)"
    )))
    .bind(key)
    .fetch_one(db)
    .await?;
    Ok(StorageUse {
        files,
        logical_bytes,
        stored_bytes: chunked + plain,
    })
}
