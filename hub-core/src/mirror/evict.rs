//! Keeping the mirror's cache of large files under the policy's caps:
//! the files least recently read go first, never those of pinned repos.
//! Evicting unlinks a file from its mirrored repo (its next read fetches it
//! again); garbage collection then frees the bytes no repo links any more.

use serde::Serialize;

use super::policy::Policy;
use crate::error::Result;
use crate::hub::Hub;

/// What one round of eviction removed.
#[derive(Debug, Default, Serialize)]
pub struct Evicted {
    pub files: u64,
    pub bytes: i64,
}

/// Evicts until every repo is under the per-repo cap and the cache under
/// the total cap (as far as unpinned files allow).
pub async fn enforce(hub: &Hub) -> Result<Evicted> {
    let policy = Policy::load(&hub.db).await?;
    let mut evicted = Evicted::default();
    if let Some(cap) = policy.max_repo_bytes {
        let over: Vec<i64> = sqlx::query_scalar(
            "SELECT o.repo_id FROM mirror_objects o JOIN mirror_repos m USING (repo_id)
             WHERE NOT m.pinned GROUP BY o.repo_id HAVING sum(o.size) > $1",
        )
        .bind(cap)
        .fetch_all(&hub.db)
        .await?;
        for repo_id in over {
            evict_while(
                hub,
                Some(repo_id),
                cap,
                "over the per-repo cap",
                &mut evicted,
            )
            .await?;
        }
    }
    if let Some(cap) = policy.max_total_bytes {
        evict_while(hub, None, cap, "over the total cap", &mut evicted).await?;
    }
    Ok(evicted)
}

/// Evicts the least recently read unpinned file (of `repo_id`, or of any
/// repo) while the cached bytes it counts exceed `cap`.
async fn evict_while(
    hub: &Hub,
    repo_id: Option<i64>,
    cap: i64,
    reason: &str,
    evicted: &mut Evicted,
) -> Result<()> {
    loop {
        let mut tx = hub.db.begin().await?;
        // One eviction at a time, hub-wide: two rounds must not both pick.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('mirror eviction'))")
            .execute(&mut *tx)
            .await?;
        let cached: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(size), 0)::BIGINT FROM mirror_objects
             WHERE $1::BIGINT IS NULL OR repo_id = $1",
        )
        .bind(repo_id)
        .fetch_one(&mut *tx)
        .await?;
        if cached <= cap {
            return Ok(());
        }
        let victim: Option<(i64, String, i64, String)> = sqlx::query_as(
            "SELECT o.repo_id, o.oid, o.size, n.name || '/' || r.name
             FROM mirror_objects o JOIN mirror_repos m USING (repo_id)
             JOIN repos r ON r.id = o.repo_id JOIN namespaces n ON n.id = r.namespace_id
             WHERE NOT m.pinned AND ($1::BIGINT IS NULL OR o.repo_id = $1)
             ORDER BY o.last_read_at, o.fetched_at LIMIT 1",
        )
        .bind(repo_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((repo, oid, size, name)) = victim else {
            return Ok(()); // only pinned files left
        };
        sqlx::query("DELETE FROM mirror_objects WHERE repo_id = $1 AND oid = $2")
            .bind(repo)
            .bind(&oid)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM repo_lfs_links WHERE repo_id = $1 AND oid = $2")
            .bind(repo)
            .bind(&oid)
            .execute(&mut *tx)
            .await?;
        // Its Xet hash is advertised no more (hf_xet would ask for a file
        // the repo no longer links); the next read fetches it again.
        sqlx::query("DELETE FROM xet_files WHERE repo_id = $1 AND sha256 = $2")
            .bind(repo)
            .bind(&oid)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO mirror_evictions (repo_id, repo_name, oid, size, reason)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(repo)
        .bind(&name)
        .bind(&oid)
        .bind(size)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(repo = %name, %oid, size, reason, "evicted a cached file");
        evicted.files += 1;
        evicted.bytes += size;
    }
}

/// An eviction, as the admin page lists them.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Eviction {
    pub repo_name: String,
    pub oid: String,
    pub size: i64,
    pub reason: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The latest `limit` evictions, newest first.
pub async fn recent(db: &sqlx::PgPool, limit: i64) -> Result<Vec<Eviction>> {
    Ok(sqlx::query_as(
        "SELECT repo_name, oid, size, reason, at FROM mirror_evictions ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?)
}
