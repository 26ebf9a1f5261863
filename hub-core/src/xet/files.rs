//! The records of Xet files: how each file of a repo is made of xorb
//! chunks (`xet_files`, `xet_file_terms`), what the read path answers from.
//!
//! A record says: in repo `repo_id`, the file with Xet hash `file_hash` is
//! `size` bytes with sha256 `sha256`, and is the concatenation of its terms
//! (chunk ranges of stored xorbs). [`record`] is called for every file
//! whose terms were checked to rebuild exactly that content and whose
//! chunks hash to `file_hash`: by the shard upload (see `cas`), and by
//! whatever else chunks a repo's file into xorbs. A repo names a file by
//! its sha256 (the LFS oid), so [`hashes_of`] finds the Xet hash of repo
//! files.
//!
//! Records are per repo (see migration 0016): a repo advertises and
//! reconstructs only the files its own uploads described, so nothing it
//! answers tells whether another repo holds the same content.

use std::collections::HashMap;
use std::ops::Range;

use futures::StreamExt;
use sqlx::PgPool;

use super::hash::XetHash;
use super::shard::{ShardFile, Term};
use super::{reconstruct, records};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::repos::content::ByteStream;

/// A recorded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XetFile {
    pub file_hash: XetHash,
    pub sha256: String,
    pub size: u64,
}

/// One term of a recorded file and where it starts in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedTerm {
    pub file_offset: u64,
    pub term: Term,
}

/// Records file `file_hash` of repo `repo_id` (`size` bytes, sha256
/// `sha256` as LFS hex) as the concatenation of `terms`; a no-op when the
/// repo has it recorded already (the first record stays). Returns whether
/// it is new.
///
/// The caller must have checked that the terms rebuild to exactly this
/// content (`reconstruct::plan` against the stored xorbs, then the sha256
/// and length of the rebuilt bytes) and that `file_hash` is
/// [`XetHash::of_file`] of its chunks: hf_xet trusts both. Every xorb the
/// terms name must be recorded (`records`); `InvalidInput` when the terms'
/// lengths do not add up to `size`.
pub async fn record(
    db: &PgPool,
    repo_id: i64,
    file_hash: &XetHash,
    sha256: &str,
    size: u64,
    terms: &[Term],
) -> Result<bool> {
    let total: u64 = terms.iter().map(|t| u64::from(t.unpacked_bytes)).sum();
    if total != size {
        return Err(Error::invalid(format!(
            "file {file_hash}: its terms hold {total} bytes, not {size}"
        )));
    }
    let mut offsets = Vec::with_capacity(terms.len());
    let mut at = 0i64;
    for t in terms {
        offsets.push(at);
        at += i64::from(t.unpacked_bytes);
    }
    let seqs: Vec<i32> = (0..terms.len() as i32).collect();
    let xorbs: Vec<String> = terms.iter().map(|t| t.xorb.to_hex()).collect();
    let starts: Vec<i32> = terms.iter().map(|t| t.chunk_start as i32).collect();
    let ends: Vec<i32> = terms.iter().map(|t| t.chunk_end as i32).collect();
    let lengths: Vec<i32> = terms.iter().map(|t| t.unpacked_bytes as i32).collect();
    let hash = file_hash.to_hex();
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO xet_files (repo_id, file_hash, sha256, size) VALUES ($1, $2, $3, $4)
         ON CONFLICT (repo_id, file_hash) DO NOTHING",
    )
    .bind(repo_id)
    .bind(&hash)
    .bind(sha256)
    .bind(size as i64)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO xet_file_terms
             (repo_id, file_hash, seq, file_offset, xorb_hash, chunk_start, chunk_end, unpacked_bytes)
         SELECT $1::bigint, $2::text, *
         FROM UNNEST($3::int[], $4::bigint[], $5::text[], $6::int[], $7::int[], $8::int[])",
    )
    .bind(repo_id)
    .bind(&hash)
    .bind(&seqs)
    .bind(&offsets)
    .bind(&xorbs)
    .bind(&starts)
    .bind(&ends)
    .bind(&lengths)
    .execute(&mut *tx)
    .await
    .map_err(|e| match e {
        // The terms' foreign key: garbage collection removed a xorb they
        // name meanwhile (it deletes under the xorb row's lock).
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => Error::conflict(
            "a xorb this file uses was removed while it was recorded; upload it again",
        ),
        e => e.into(),
    })?;
    tx.commit().await?;
    Ok(true)
}

/// Whether repo `repo_id` has file `file_hash` recorded.
pub async fn is_recorded(db: &PgPool, repo_id: i64, file_hash: &XetHash) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM xet_files WHERE repo_id = $1 AND file_hash = $2)",
    )
    .bind(repo_id)
    .bind(file_hash.to_hex())
    .fetch_one(db)
    .await?)
}

/// The Xet hash of each of `sha256s` (LFS oids) that repo `repo_id` has a
/// Xet representation of; the others are absent. (When several, one.)
pub async fn hashes_of(
    db: &PgPool,
    repo_id: i64,
    sha256s: &[String],
) -> Result<HashMap<String, XetHash>> {
    if sha256s.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (sha256) sha256, file_hash FROM xet_files
         WHERE repo_id = $1 AND sha256 = ANY($2) ORDER BY sha256, created_at",
    )
    .bind(repo_id)
    .bind(sha256s)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(sha, hash)| Some((sha, XetHash::from_hex(&hash)?)))
        .collect())
}

/// The Xet hash of repo `repo_id`'s file with sha256 `sha256`, if it has one.
pub async fn hash_of(db: &PgPool, repo_id: i64, sha256: &str) -> Result<Option<XetHash>> {
    Ok(hashes_of(db, repo_id, &[sha256.to_owned()])
        .await?
        .remove(sha256))
}

/// File `file_hash` of repo `repo_id`, if recorded for it and its content
/// still linked (as an LFS object) to the repo, as the LFS download rule
/// needs. A file recorded for other repos only is `None`, like an unknown
/// one.
pub async fn readable_in(
    db: &PgPool,
    repo_id: i64,
    file_hash: &XetHash,
) -> Result<Option<XetFile>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT f.sha256, f.size FROM xet_files f
         WHERE f.repo_id = $1 AND f.file_hash = $2
           AND EXISTS (SELECT 1 FROM repo_lfs_links l WHERE l.repo_id = $1 AND l.oid = f.sha256)",
    )
    .bind(repo_id)
    .bind(file_hash.to_hex())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(sha256, size)| XetFile {
        file_hash: *file_hash,
        sha256,
        size: size as u64,
    }))
}

/// The terms of repo `repo_id`'s file `file_hash` that hold bytes of
/// `range`, in order.
pub async fn terms_within(
    db: &PgPool,
    repo_id: i64,
    file_hash: &XetHash,
    range: Range<u64>,
) -> Result<Vec<PlacedTerm>> {
    let rows: Vec<(i64, String, i32, i32, i32)> = sqlx::query_as(
        "SELECT file_offset, xorb_hash, chunk_start, chunk_end, unpacked_bytes
         FROM xet_file_terms
         WHERE repo_id = $1 AND file_hash = $2
           AND file_offset < $4 AND file_offset + unpacked_bytes > $3
         ORDER BY seq",
    )
    .bind(repo_id)
    .bind(file_hash.to_hex())
    .bind(range.start as i64)
    .bind(range.end as i64)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(offset, xorb, start, end, len)| {
            let xorb = XetHash::from_hex(&xorb)
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("bad xorb hash {xorb:?}")))?;
            Ok(PlacedTerm {
                file_offset: offset as u64,
                term: Term {
                    xorb,
                    unpacked_bytes: len as u32,
                    chunk_start: start as u32,
                    chunk_end: end as u32,
                },
            })
        })
        .collect()
}

/// A record of the file with sha256 `sha256` (an LFS oid) in any repo, and
/// that repo: how the hub holds its bytes. For reading them on the hub's
/// side only (plain downloads): which repo's record it is never leaves it.
pub async fn any_by_sha256(db: &PgPool, sha256: &str) -> Result<Option<(i64, XetFile)>> {
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT repo_id, file_hash, size FROM xet_files WHERE sha256 = $1
         ORDER BY created_at LIMIT 1",
    )
    .bind(sha256)
    .fetch_optional(db)
    .await?;
    row.map(|(repo_id, hash, size)| {
        let file = XetFile {
            file_hash: XetHash::from_hex(&hash)
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("bad file hash {hash:?}")))?,
            sha256: sha256.to_owned(),
            size: size as u64,
        };
        Ok((repo_id, file))
    })
    .transpose()
}

/// A record of `sha256` that repo `repo_id` may take as its own, with its
/// terms: one of a public repo or of a repo in the same namespace, whose
/// xorbs tell the repo's readers nothing new.
pub async fn in_scope_of(
    db: &PgPool,
    repo_id: i64,
    sha256: &str,
) -> Result<Option<(XetFile, Vec<Term>)>> {
    let row: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT f.repo_id, f.file_hash, f.size FROM xet_files f JOIN repos r ON r.id = f.repo_id
         WHERE f.sha256 = $2
           AND (NOT r.private
                OR r.namespace_id = (SELECT namespace_id FROM repos WHERE id = $1))
         ORDER BY f.created_at LIMIT 1",
    )
    .bind(repo_id)
    .bind(sha256)
    .fetch_optional(db)
    .await?;
    let Some((source, hash, size)) = row else {
        return Ok(None);
    };
    let file_hash = XetHash::from_hex(&hash)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("bad file hash {hash:?}")))?;
    let size = size as u64;
    let terms = terms_within(db, source, &file_hash, 0..size)
        .await?
        .into_iter()
        .map(|p| p.term)
        .collect();
    let file = XetFile {
        file_hash,
        sha256: sha256.to_owned(),
        size,
    };
    Ok(Some((file, terms)))
}

/// The bytes of the file whose sha256 is `oid` (or `range` of them, which
/// must lie inside it), rebuilt from its xorbs, if the hub holds it as
/// xorbs; only the chunks that hold the range are read. The caller has
/// checked that the reader may read it.
pub async fn read(hub: &Hub, oid: &str, range: Option<Range<u64>>) -> Result<Option<ByteStream>> {
    let Some((repo_id, file)) = any_by_sha256(&hub.db, oid).await? else {
        return Ok(None);
    };
    let range = range.unwrap_or(0..file.size);
    let placed = terms_within(&hub.db, repo_id, &file.file_hash, range.clone()).await?;
    let Some(first) = placed.first() else {
        // An empty range (or an empty file).
        return Ok(Some(futures::stream::empty().boxed()));
    };
    let base = first.file_offset;
    let part = ShardFile {
        file_hash: file.file_hash,
        sha256: file.sha256.clone(),
        terms: placed.iter().map(|p| p.term).collect(),
    };
    let hashes: Vec<XetHash> = part.terms.iter().map(|t| t.xorb).collect();
    let xorbs = records::layouts(&hub.db, &hashes).await?;
    let (plan, skip) = reconstruct::plan_range(&part, &xorbs, range.start - base..range.end - base)
        .map_err(|e| Error::Internal(anyhow::anyhow!("the reconstruction of {oid}: {e}")))?;
    let stream =
        reconstruct::stream_range(hub.storage.store.clone(), records::xorb_path, plan, skip);
    Ok(Some(stream.boxed()))
}
