//! Global dedupe: hf_xet asks `GET /v1/chunks/{prefix}/{chunk}` for the
//! first chunk of every file it uploads, and for about one chunk in 1024
//! after that (those whose hash is 0 modulo 1024), and skips uploading
//! whatever the answer lets it match.
//!
//! The answer is a shard listing the xorb that holds the chunk, and the
//! following xorbs of a file that uses it (up to [`MAX_XORBS`]), so one
//! question covers a known file. At most [`ANSWERS_AT_ONCE`] are built at
//! once, one xorb's chunk rows at a time. It offers only what the writer
//! may then use in a shard (the one rule, [`records::usable`]): whole
//! xorbs linked to their repo or uploaded by them, and the chunks that
//! files of public repos and of their own namespace use. Chunks beyond
//! that are left out of the answer, so nobody learns whether another
//! namespace's private repo holds a chunk: a chunk held only there is
//! answered 404, as a chunk nobody holds.
//!
//! Within the answer, chunk hashes are keyed with a fresh random key
//! (Hugging Face's scheme, see [`shard::xorb_index`]): the client can
//! match only chunks it computed from content it has, and the answer says
//! nothing about the others. It expires after [`ANSWER_VALID_FOR`]; a
//! shard naming its xorbs is checked again by the same rule on upload.

use std::time::Duration;

use tokio::sync::Semaphore;

use super::cas::CasWriter;
use super::hash::XetHash;
use super::records::{self, in_dedupe_scope};
use super::shard::{self, IndexedXorb};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::signing::now_unix;

/// How long a client may use an answer (it keeps answers in its shard
/// cache). Shorter than any garbage collection grace period.
pub const ANSWER_VALID_FOR: Duration = Duration::from_secs(3600);

/// The most xorbs one answer lists (about 2 GiB of content at hf_xet's
/// 64 MiB xorbs, an answer of about 2 MiB); later chunks of a larger file
/// are asked for again.
pub const MAX_XORBS: usize = 32;

/// Answers built at once: each holds its shard (up to about 2 MiB) and one
/// xorb's chunk rows at a time, and clients ask while they upload, when the
/// hub's memory is busiest.
pub const ANSWERS_AT_ONCE: usize = 2;

static ANSWER_SLOTS: Semaphore = Semaphore::const_new(ANSWERS_AT_ONCE);

/// The dedupe answer for `chunk` to `writer` (an encoded shard), or `None`
/// when no chunk of that hash is in their scope.
pub async fn answer(hub: &Hub, writer: &CasWriter, chunk: &XetHash) -> Result<Option<Vec<u8>>> {
    let found: Option<(String, i32)> =
        sqlx::query_as("SELECT xorb, idx FROM xet_chunks WHERE hash = $1")
            .bind(chunk.0.as_slice())
            .fetch_optional(&hub.db)
            .await?;
    let Some((xorb_hex, idx)) = found else {
        return Ok(None);
    };
    let Some(xorb) = XetHash::from_hex(&xorb_hex) else {
        return Ok(None);
    };
    let _slot = ANSWER_SLOTS
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    let xorbs = xorbs_after(hub, writer, &xorb_hex, idx).await?;
    let usable = records::usable(&hub.db, writer.repo.id, writer.user.id, &xorbs).await?;
    if !usable.allows(&xorb, idx as u32, idx as u32 + 1) {
        return Ok(None);
    }
    let mut listed = Vec::with_capacity(xorbs.len());
    for x in &xorbs {
        let Some(layout) = usable.layouts.get(x) else {
            continue;
        };
        // A chunk indexed under another xorb has no hash here: the answer
        // leaves it out, losing only that match.
        let mut chunks: Vec<(Option<XetHash>, u32)> = layout
            .chunk_sizes
            .iter()
            .map(|&size| (None, size))
            .collect();
        let rows: Vec<(i32, Vec<u8>)> =
            sqlx::query_as("SELECT idx, hash FROM xet_chunks WHERE xorb = $1")
                .bind(x.to_hex())
                .fetch_all(&hub.db)
                .await?;
        for (i, h) in rows {
            let i = i as u32;
            if let Some(slot) = chunks.get_mut(i as usize)
                && usable.allows(x, i, i + 1)
            {
                slot.0 = XetHash::from_slice(&h);
            }
        }
        listed.push(IndexedXorb {
            hash: *x,
            stored_len: layout.chunk_offsets.last().copied().unwrap_or(0),
            chunks,
        });
    }
    let now = now_unix() as u64;
    let key: [u8; 32] = rand::random();
    Ok(Some(shard::xorb_index(
        &listed,
        &key,
        now,
        now + ANSWER_VALID_FOR.as_secs(),
    )))
}

/// `xorb`, then the xorbs that follow it in one file of the writer's
/// dedupe scope that uses its chunk `idx` (in the file's order, each once,
/// at most [`MAX_XORBS`] in all).
async fn xorbs_after(hub: &Hub, writer: &CasWriter, xorb: &str, idx: i32) -> Result<Vec<XetHash>> {
    let names: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH f AS (
             SELECT t.repo_id, t.file_hash, t.seq
             FROM xet_file_terms t JOIN repos r ON r.id = t.repo_id
             WHERE t.xorb_hash = $1 AND t.chunk_start <= $3 AND $3 < t.chunk_end AND {}
             ORDER BY (t.repo_id = $2) DESC LIMIT 1)
         SELECT t.xorb_hash FROM xet_file_terms t JOIN f
             ON t.repo_id = f.repo_id AND t.file_hash = f.file_hash AND t.seq >= f.seq
         ORDER BY t.seq LIMIT 4096",
        in_dedupe_scope("$2")
    )))
    .bind(xorb)
    .bind(writer.repo.id)
    .bind(idx)
    .fetch_all(&hub.db)
    .await?;
    let mut out: Vec<XetHash> = Vec::new();
    for name in std::iter::once(xorb.to_owned()).chain(names) {
        if out.len() == MAX_XORBS {
            break;
        }
        if let Some(h) = XetHash::from_hex(&name)
            && !out.contains(&h)
        {
            out.push(h);
        }
    }
    Ok(out)
}
