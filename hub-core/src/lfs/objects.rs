//! The records of LFS objects: `lfs_objects` (one row per stored object,
//! written only after its bytes are in the store and verified) and
//! `repo_lfs_links` (which repo may read which object). Knowing an oid never
//! grants anything: every read goes through a link to the repo asking.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};

use crate::error::Result;

/// Whether `oid` is a sha256 as LFS names objects: 64 lowercase hex digits.
#[must_use]
pub fn is_valid_oid(oid: &str) -> bool {
    oid.len() == 64 && oid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The size of `oid` if it is linked to repo `repo_id`.
pub async fn linked_size(db: &PgPool, repo_id: i64, oid: &str) -> Result<Option<u64>> {
    let size: Option<i64> = sqlx::query_scalar(
        "SELECT o.size FROM repo_lfs_links l JOIN lfs_objects o ON o.oid = l.oid
         WHERE l.repo_id = $1 AND l.oid = $2",
    )
    .bind(repo_id)
    .bind(oid)
    .fetch_optional(db)
    .await?;
    Ok(size.map(|s| s as u64))
}

/// The size of `oid` if the hub stores it at all (for any repo).
pub async fn stored_size(db: &PgPool, oid: &str) -> Result<Option<u64>> {
    let size: Option<i64> = sqlx::query_scalar("SELECT size FROM lfs_objects WHERE oid = $1")
        .bind(oid)
        .fetch_optional(db)
        .await?;
    Ok(size.map(|s| s as u64))
}

/// What the hub knows about each of `oids`: its stored size, and whether it
/// is linked to repo `repo_id`. Oids the hub does not store are absent.
pub async fn states(db: &PgPool, repo_id: i64, oids: &[String]) -> Result<HashMap<String, Known>> {
    let rows: Vec<(String, i64, bool)> = sqlx::query_as(
        "SELECT o.oid, o.size, EXISTS (SELECT 1 FROM repo_lfs_links l
                                      WHERE l.repo_id = $1 AND l.oid = o.oid)
         FROM lfs_objects o WHERE o.oid = ANY($2)",
    )
    .bind(repo_id)
    .bind(oids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(oid, size, linked)| {
            let size = size as u64;
            (oid, Known { size, linked })
        })
        .collect())
}

/// A stored object as seen from one repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub size: u64,
    /// Linked to the repo asking, so readable through it.
    pub linked: bool,
}

/// Links an object the hub already stores to repo `repo_id` (a no-op when
/// linked). Callers must have checked that the actor proved possession of
/// the content (by uploading it) or may read it through this repo.
pub async fn link(conn: &mut PgConnection, repo_id: i64, oid: &str) -> Result<()> {
    let linked = sqlx::query(
        "INSERT INTO repo_lfs_links (repo_id, oid) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(repo_id)
    .bind(oid)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if linked == 1 {
        // The repo's Xet record of it comes from the background ingest.
        crate::xet::ingest::enqueue(conn, oid, repo_id).await?;
    }
    Ok(())
}

/// Records `oid` (`size` bytes) if it is not recorded yet, and holds its
/// row until `tx` ends, so that garbage collection (which deletes an object
/// under its row's lock) can neither remove it meanwhile nor have removed its
/// bytes unseen: call before the upload's bytes become visible, link in the
/// same transaction.
pub async fn record_and_hold(tx: &mut PgConnection, oid: &str, size: u64) -> Result<()> {
    sqlx::query("INSERT INTO lfs_objects (oid, size) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(oid)
        .bind(size as i64)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT 1 FROM lfs_objects WHERE oid = $1 FOR SHARE")
        .bind(oid)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The recorded size of `oid`, holding its row until `tx` ends (see
/// [`record_and_hold`]); `None` when it is not (or no longer) recorded.
pub async fn hold(tx: &mut PgConnection, oid: &str) -> Result<Option<u64>> {
    let size: Option<i64> =
        sqlx::query_scalar("SELECT size FROM lfs_objects WHERE oid = $1 FOR SHARE")
            .bind(oid)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(size.map(|s| s as u64))
}

#[cfg(test)]
mod tests {
    use super::is_valid_oid;

    #[test]
    fn oids_are_64_lowercase_hex_digits() {
        let oid = "a".repeat(64);
        assert!(is_valid_oid(&oid));
        assert!(is_valid_oid(&"0123456789abcdef".repeat(4)));
        for bad in [
            String::new(),
            "a".repeat(63),
            "a".repeat(65),
            "A".repeat(64),
            "g".repeat(64),
            format!("../{}", "a".repeat(61)),
            format!("{}é", "a".repeat(62)),
        ] {
            assert!(!is_valid_oid(&bad), "{bad:?}");
        }
    }
}
