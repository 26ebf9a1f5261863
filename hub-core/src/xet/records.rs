//! The records of stored xorbs: `xet_xorbs` (one row per xorb, written
//! after its bytes are in the store), `xet_xorb_links` (which user uploaded
//! it for which repo; gone with the repo) and `xet_xorb_uploaders` (which
//! users uploaded it at all; kept when the repo is deleted).
//!
//! The rule for using a xorb in a shard ([`usable`]): the whole xorb if it
//! is linked to the token's repo or was uploaded by the token's user (for
//! any repo, deleted ones included); otherwise only the chunk ranges that
//! files of the repo's *dedupe scope* use: public repos, and the repos of
//! the repo's own namespace (whoever writes to a repo reads all of its
//! namespace). The first lets everyone who writes to a repo build on what
//! was uploaded to it; the second lets one person's client dedupe across
//! their repos, which hf_xet does from its local cache and its in-process
//! memory of uploaded xorbs without asking (so a xorb first uploaded for a
//! repo since deleted must stay usable to them); the third is what the
//! global dedupe answer ([`super::dedupe`]) hands out, and grants nothing
//! the writer could not already read. Chunks outside all three must be
//! uploaded again (proving the uploader holds them), which links the xorb
//! for them. Knowing a xorb's hash grants nothing.

use std::collections::HashMap;
use std::ops::Range;

use object_store::path::Path as ObjectPath;
use sqlx::PgPool;

use super::hash::XetHash;
use super::reconstruct::StoredXorb;
use super::shard::ShardFile;
use super::xorb::XorbLayout;
use crate::error::{Error, Result};
use crate::repos::IMPORTING_PREFIX;

/// Where xorb `hash` lives in the object store (outside `lfs/`, which LFS
/// garbage collection sweeps).
pub fn xorb_path(hash: &XetHash) -> ObjectPath {
    let hex = hash.to_hex();
    ObjectPath::from(format!("xet/xorbs/{}/{}", &hex[0..2], hex))
}

/// Whether the hub has recorded xorb `hash`.
pub async fn is_recorded(db: &PgPool, hash: &XetHash) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM xet_xorbs WHERE hash = $1)")
            .bind(hash.to_hex())
            .fetch_one(db)
            .await?,
    )
}

/// Records a stored xorb (a no-op if recorded), links it to `repo_id` for
/// `user_id` and records `user_id` as one of its uploaders; returns whether
/// the link is new.
pub async fn record_and_link(
    db: &PgPool,
    layout: &XorbLayout,
    repo_id: i64,
    user_id: i64,
) -> Result<bool> {
    let hash = layout.hash.to_hex();
    let offsets: Vec<i32> = layout.chunk_offsets.iter().map(|&o| o as i32).collect();
    let sizes: Vec<i32> = layout.chunk_sizes.iter().map(|&s| s as i32).collect();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO xet_xorbs (hash, size, chunk_count, chunk_offsets, chunk_sizes, uploaded_by)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&hash)
    .bind(layout.stored_len() as i64)
    .bind(layout.chunk_count() as i32)
    .bind(&offsets)
    .bind(&sizes)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let linked = sqlx::query(
        "INSERT INTO xet_xorb_links (hash, repo_id, user_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(&hash)
    .bind(repo_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "INSERT INTO xet_xorb_uploaders (hash, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(&hash)
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    index_chunks(&mut tx, layout).await?;
    tx.commit().await?;
    Ok(linked == 1)
}

/// Records a xorb the hub built itself from stored files (a no-op if
/// recorded): nobody uploaded it, so it is linked to nobody; files reach it
/// through their reconstructions.
pub async fn record_built(db: &PgPool, layout: &XorbLayout) -> Result<()> {
    let offsets: Vec<i32> = layout.chunk_offsets.iter().map(|&o| o as i32).collect();
    let sizes: Vec<i32> = layout.chunk_sizes.iter().map(|&s| s as i32).collect();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO xet_xorbs (hash, size, chunk_count, chunk_offsets, chunk_sizes)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING",
    )
    .bind(layout.hash.to_hex())
    .bind(layout.stored_len() as i64)
    .bind(layout.chunk_count() as i32)
    .bind(&offsets)
    .bind(&sizes)
    .execute(&mut *tx)
    .await?;
    index_chunks(&mut tx, layout).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds `layout`'s chunks to the chunk index (`xet_chunks`) where they are
/// not indexed yet.
async fn index_chunks(tx: &mut sqlx::PgConnection, layout: &XorbLayout) -> Result<()> {
    let hashes: Vec<Vec<u8>> = layout.chunk_hashes.iter().map(|h| h.0.to_vec()).collect();
    let indexes: Vec<i32> = (0..hashes.len() as i32).collect();
    sqlx::query(
        "INSERT INTO xet_chunks (hash, xorb, idx)
         SELECT h, $2, i FROM unnest($1::bytea[], $3::int[]) AS c (h, i)
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&hashes)
    .bind(layout.hash.to_hex())
    .bind(&indexes)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Where each of `hashes` is stored, as the chunk index knows it, among
/// the xorbs in repo `repo_id`'s dedupe scope: those used by files of
/// public repos or of repos in its own namespace, and `own` (xorbs the
/// caller just wrote). A chunk indexed elsewhere counts as unknown: using it
/// would tell the repo's readers (who see the xorbs its files' terms name)
/// that a private repo of another namespace holds it.
pub async fn find_chunks(
    db: &PgPool,
    repo_id: i64,
    hashes: &[XetHash],
    own: &[XetHash],
) -> Result<HashMap<XetHash, (XetHash, u32)>> {
    let keys: Vec<Vec<u8>> = hashes.iter().map(|h| h.0.to_vec()).collect();
    let own: Vec<String> = own.iter().map(XetHash::to_hex).collect();
    let rows: Vec<(Vec<u8>, String, i32)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT c.hash, c.xorb, c.idx FROM xet_chunks c
         WHERE c.hash = ANY($1)
           AND (c.xorb = ANY($3)
                OR EXISTS (SELECT 1 FROM xet_file_terms t JOIN repos r ON r.id = t.repo_id
                           WHERE t.xorb_hash = c.xorb AND {in_scope}))",
        in_scope = in_dedupe_scope("$2"),
    )))
    .bind(&keys)
    .bind(repo_id)
    .bind(&own)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(hash, xorb, idx)| {
            Some((
                XetHash::from_slice(&hash)?,
                (XetHash::from_hex(&xorb)?, idx as u32),
            ))
        })
        .collect())
}

/// The layouts of those of `hashes` the hub has recorded, whoever uploaded
/// them: for reads of a file already found readable (see `files`), whose
/// terms name the xorbs it is made of.
pub async fn layouts(db: &PgPool, hashes: &[XetHash]) -> Result<HashMap<XetHash, StoredXorb>> {
    let hex: Vec<String> = hashes.iter().map(XetHash::to_hex).collect();
    let rows: Vec<(String, Vec<i32>, Vec<i32>)> = sqlx::query_as(
        "SELECT hash, chunk_offsets, chunk_sizes FROM xet_xorbs WHERE hash = ANY($1)",
    )
    .bind(&hex)
    .fetch_all(db)
    .await?;
    Ok(to_layouts(rows))
}

fn to_layouts(rows: Vec<(String, Vec<i32>, Vec<i32>)>) -> HashMap<XetHash, StoredXorb> {
    rows.into_iter()
        .filter_map(|(hash, offsets, sizes)| {
            let hash = XetHash::from_hex(&hash)?;
            let stored = StoredXorb::new(
                offsets.into_iter().map(|o| o as u32).collect(),
                sizes.into_iter().map(|s| s as u32).collect(),
            );
            Some((hash, stored))
        })
        .collect()
}

/// The SQL condition "repo `r` is in the dedupe scope of the repo whose id
/// is bound at `repo_param`": public (and not being imported), or in the
/// same namespace.
pub(crate) fn in_dedupe_scope(repo_param: &str) -> String {
    format!(
        "((NOT r.private AND NOT starts_with(r.name, '{IMPORTING_PREFIX}'))
          OR r.namespace_id = (SELECT namespace_id FROM repos WHERE id = {repo_param}))"
    )
}

/// The xorbs a writer may build on, and which of their chunks (see the
/// module doc).
#[derive(Debug, Default)]
pub struct Usable {
    /// The layouts of the xorbs usable at all.
    pub layouts: HashMap<XetHash, StoredXorb>,
    /// For xorbs usable only in part, the chunk ranges that are, sorted
    /// and merged.
    partial: HashMap<XetHash, Vec<Range<u32>>>,
}

impl Usable {
    /// Whether chunks `[start, end)` of `xorb` may be used.
    pub fn allows(&self, xorb: &XetHash, start: u32, end: u32) -> bool {
        if !self.layouts.contains_key(xorb) {
            return false;
        }
        match self.partial.get(xorb) {
            None => true,
            Some(ranges) => ranges.iter().any(|r| r.start <= start && end <= r.end),
        }
    }

    /// Refuses (`InvalidInput`) the first term of `files` that names chunks
    /// the writer may not use, the way a term naming an unknown xorb is.
    pub fn check(&self, files: &[&ShardFile]) -> Result<()> {
        for t in files.iter().flat_map(|f| &f.terms) {
            if self.layouts.contains_key(&t.xorb)
                && !self.allows(&t.xorb, t.chunk_start, t.chunk_end)
            {
                return Err(Error::invalid(format!(
                    "the shard references chunks [{}, {}) of xorb {}, which were not uploaded \
                     for this repo; upload the xorb first",
                    t.chunk_start, t.chunk_end, t.xorb
                )));
            }
        }
        Ok(())
    }
}

/// Those of `hashes` that user `user_id` may use for repo `repo_id`, and
/// how much of each (see the module doc); the others are absent.
pub async fn usable(db: &PgPool, repo_id: i64, user_id: i64, hashes: &[XetHash]) -> Result<Usable> {
    let hex: Vec<String> = hashes.iter().map(XetHash::to_hex).collect();
    let rows: Vec<(String, Vec<i32>, Vec<i32>, bool)> = sqlx::query_as(
        "SELECT x.hash, x.chunk_offsets, x.chunk_sizes,
                EXISTS (SELECT 1 FROM xet_xorb_links l WHERE l.hash = x.hash AND l.repo_id = $2)
                OR EXISTS (SELECT 1 FROM xet_xorb_uploaders u
                           WHERE u.hash = x.hash AND u.user_id = $3)
         FROM xet_xorbs x WHERE x.hash = ANY($1)",
    )
    .bind(&hex)
    .bind(repo_id)
    .bind(user_id)
    .fetch_all(db)
    .await?;
    let in_part: Vec<String> = rows
        .iter()
        .filter(|(.., whole)| !whole)
        .map(|(hash, ..)| hash.clone())
        .collect();
    let mut partial: HashMap<XetHash, Vec<Range<u32>>> = HashMap::new();
    if !in_part.is_empty() {
        let ranges: Vec<(String, i32, i32)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT DISTINCT t.xorb_hash, t.chunk_start, t.chunk_end
             FROM xet_file_terms t JOIN repos r ON r.id = t.repo_id
             WHERE t.xorb_hash = ANY($1) AND {}",
            in_dedupe_scope("$2")
        )))
        .bind(&in_part)
        .bind(repo_id)
        .fetch_all(db)
        .await?;
        for (hash, start, end) in ranges {
            if let Some(hash) = XetHash::from_hex(&hash) {
                partial
                    .entry(hash)
                    .or_default()
                    .push(start as u32..end as u32);
            }
        }
        partial.values_mut().for_each(merge);
    }
    let layouts = rows
        .into_iter()
        .filter_map(|(hash, offsets, sizes, whole)| {
            let hash = XetHash::from_hex(&hash)?;
            (whole || partial.contains_key(&hash)).then(|| {
                let stored = StoredXorb::new(
                    offsets.into_iter().map(|o| o as u32).collect(),
                    sizes.into_iter().map(|s| s as u32).collect(),
                );
                (hash, stored)
            })
        })
        .collect();
    Ok(Usable { layouts, partial })
}

/// Sorts `ranges` and merges those that overlap or touch.
fn merge(ranges: &mut Vec<Range<u32>>) {
    ranges.sort_unstable_by_key(|r| r.start);
    let mut merged: Vec<Range<u32>> = Vec::with_capacity(ranges.len());
    for r in ranges.drain(..) {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_where_they_overlap_or_touch() {
        let mut r = vec![8..9, 0..2, 1..4, 4..5, 10..12];
        merge(&mut r);
        assert_eq!(r, [0..5, 8..9, 10..12]);
    }

    #[test]
    fn a_partial_xorb_allows_only_terms_inside_one_range() {
        let x = XetHash([1; 32]);
        let y = XetHash([2; 32]);
        let mut usable = Usable::default();
        for h in [x, y] {
            usable
                .layouts
                .insert(h, StoredXorb::new(vec![0, 10, 20, 30, 40], vec![10; 4]));
        }
        usable.partial.insert(x, vec![0..2, 3..4]);
        assert!(usable.allows(&x, 0, 2) && usable.allows(&x, 1, 2) && usable.allows(&x, 3, 4));
        assert!(!usable.allows(&x, 1, 4), "spans the chunk no file uses");
        assert!(!usable.allows(&x, 2, 3));
        assert!(usable.allows(&y, 0, 4), "whole");
        assert!(!usable.allows(&XetHash([3; 32]), 0, 1), "unknown");
    }
}
