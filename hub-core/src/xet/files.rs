//! File reconstructions: for each file the hub holds as xorbs, its Xet
//! hash, sha256 and terms (`xet_files`).
//!
//! Terms are kept as one binary column, 44 bytes a term (xorb hash, then
//! unpacked bytes, first chunk, end chunk as little-endian u32s): a 10 GB
//! file has some 160,000 chunks but usually a few hundred terms.

use std::ops::Range;

use futures::StreamExt;
use sqlx::PgPool;

use super::hash::XetHash;
use super::shard::{ShardFile, Term};
use super::{reconstruct, records};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::repos::content::ByteStream;

const TERM_LEN: usize = 44;

/// Records `file` (a no-op if its hash is recorded) with the xorbs it uses.
/// Fails if one of them is not (or no longer) recorded: garbage collection
/// removed it meanwhile.
pub async fn record(db: &PgPool, file: &ShardFile) -> Result<()> {
    let hash = file.file_hash.to_hex();
    let mut xorbs: Vec<String> = file.terms.iter().map(|t| t.xorb.to_hex()).collect();
    xorbs.sort();
    xorbs.dedup();
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO xet_files (hash, sha256, size, terms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (hash) DO NOTHING",
    )
    .bind(&hash)
    .bind(&file.sha256)
    .bind(file.size() as i64)
    .bind(encode_terms(&file.terms))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        sqlx::query(
            "INSERT INTO xet_file_xorbs (file, xorb) SELECT $1, x FROM unnest($2::text[]) AS x",
        )
        .bind(&hash)
        .bind(&xorbs)
        .execute(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => Error::conflict(
                "a xorb this file uses was removed while it was recorded; upload it again",
            ),
            e => e.into(),
        })?;
    }
    tx.commit().await?;
    Ok(())
}

/// The reconstruction of the file whose sha256 is `oid`, if recorded.
pub async fn by_sha256(db: &PgPool, oid: &str) -> Result<Option<ShardFile>> {
    let row: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT hash, terms FROM xet_files WHERE sha256 = $1 LIMIT 1")
            .bind(oid)
            .fetch_optional(db)
            .await?;
    row.map(|(hash, terms)| {
        Ok(ShardFile {
            file_hash: XetHash::from_hex(&hash)
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("bad file hash {hash}")))?,
            sha256: oid.to_owned(),
            terms: decode_terms(&terms)?,
        })
    })
    .transpose()
}

/// The bytes of the file whose sha256 is `oid` (or `range` of them, which
/// must lie inside it), rebuilt from xorbs, if the hub holds it as xorbs.
/// The caller has checked that the reader may read it.
pub async fn read(hub: &Hub, oid: &str, range: Option<Range<u64>>) -> Result<Option<ByteStream>> {
    let Some(file) = by_sha256(&hub.db, oid).await? else {
        return Ok(None);
    };
    let hashes: Vec<XetHash> = file.terms.iter().map(|t| t.xorb).collect();
    let xorbs = records::layouts(&hub.db, &hashes).await?;
    let range = range.unwrap_or(0..file.size());
    let (plan, skip) = reconstruct::plan_range(&file, &xorbs, range)
        .map_err(|e| Error::Internal(anyhow::anyhow!("the reconstruction of {oid}: {e}")))?;
    let stream =
        reconstruct::stream_range(hub.storage.store.clone(), records::xorb_path, plan, skip);
    Ok(Some(stream.boxed()))
}

fn encode_terms(terms: &[Term]) -> Vec<u8> {
    let mut out = Vec::with_capacity(terms.len() * TERM_LEN);
    for t in terms {
        out.extend_from_slice(&t.xorb.0);
        out.extend_from_slice(&t.unpacked_bytes.to_le_bytes());
        out.extend_from_slice(&t.chunk_start.to_le_bytes());
        out.extend_from_slice(&t.chunk_end.to_le_bytes());
    }
    out
}

fn decode_terms(bytes: &[u8]) -> Result<Vec<Term>> {
    if !bytes.len().is_multiple_of(TERM_LEN) {
        return Err(Error::Internal(anyhow::anyhow!(
            "a recorded reconstruction is malformed"
        )));
    }
    let u32_at =
        |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    Ok(bytes
        .chunks_exact(TERM_LEN)
        .map(|b| Term {
            xorb: XetHash::from_slice(b).expect("32 bytes"),
            unpacked_bytes: u32_at(b, 32),
            chunk_start: u32_at(b, 36),
            chunk_end: u32_at(b, 40),
        })
        .collect())
}
