//! Turning a stored LFS object into xorbs, so that every large file has a
//! Xet representation whichever way it came in (Git LFS, a browser upload,
//! the HTTP commit API) and shares chunks with every other file the hub
//! holds.
//!
//! The object is read once from the store and cut with hf_xet's chunker
//! ([`chunking`]); each chunk is looked up in the chunk index
//! (`xet_chunks`), and only chunks found nowhere are written, into new
//! xorbs of at most [`XORB_BYTES`]. The file's reconstruction (terms over
//! old and new xorbs) is recorded last, so a crash leaves at worst xorbs
//! that a second run finds in the index. Memory: one xorb being filled
//! plus one piece of the object being cut.
//!
//! Dedupe happens here, on the hub, over everything it stores: it tells
//! nobody anything (the uploader already sent the bytes), unlike a
//! client-side lookup, which would tell whether some private repo holds a
//! chunk.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use object_store::{ObjectStoreExt, PutPayload};

use super::chunking::Chunker;
use super::hash::XetHash;
use super::records;
use super::shard::{ShardFile, Term};
use super::xorb::{XorbBuilder, XorbLayout};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::storage::lfs_object_path;

/// The hub's own xorbs are cut at this many bytes of chunk data (hf_xet's
/// are up to 64 MiB; a smaller xorb bounds the memory of an ingest).
pub const XORB_BYTES: usize = 16 * 1024 * 1024;

/// Chunk lookups per index query.
const LOOKUP_BATCH: usize = 512;

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingested {
    pub file_hash: XetHash,
    pub size: u64,
    pub chunks: u64,
    /// Chunks not found in the index, now stored.
    pub new_chunks: u64,
    /// Uncompressed bytes of those chunks.
    pub new_bytes: u64,
}

/// Where a chunk of the file is: in a stored xorb, or in the one being
/// filled (whose hash is known only when it is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Stored(XetHash, u32),
    Filling(usize, u32),
}

/// How long a claimed object stays claimed: an ingest that has not ended
/// by then (its node died) is taken up again.
const CLAIM: Duration = Duration::from_secs(600);

/// How often an idle queue is looked at again.
const POLL: Duration = Duration::from_secs(1);

/// Queues `oid` to be held as xorbs for repo `repo_id`, in the
/// transaction that links them.
pub async fn enqueue(tx: &mut sqlx::PgConnection, oid: &str, repo_id: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO xet_ingest_queue (oid, repo_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(oid)
    .bind(repo_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Works through the queue for as long as the hub runs: one object at a
/// time per node (chunking is CPU work; uploads and downloads come first).
pub async fn run(hub: Arc<Hub>) {
    loop {
        match ingest_next(&hub).await {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "chunking an LFS object into xorbs failed"),
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Takes the next due entry of the queue ([`ingest`]); `None` when nothing
/// is due.
pub async fn ingest_next(hub: &Hub) -> Result<Option<(String, Ingested)>> {
    let claimed: Option<(String, i64, i32)> = sqlx::query_as(
        "UPDATE xet_ingest_queue SET attempts = attempts + 1,
                not_before = now() + make_interval(secs => $1)
         WHERE (oid, repo_id) = (SELECT oid, repo_id FROM xet_ingest_queue
                                 WHERE not_before <= now()
                                 ORDER BY queued_at LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING oid, repo_id, attempts",
    )
    .bind(CLAIM.as_secs_f64())
    .fetch_optional(&hub.db)
    .await?;
    let Some((oid, repo_id, attempts)) = claimed else {
        return Ok(None);
    };
    // The plain copy goes before the queue entry: a node that dies between
    // the two leaves an entry whose retry finds the record and ends at once,
    // never a plain copy nothing will drop.
    let done = async {
        let done = ingest(hub, &oid, repo_id).await?;
        drop_plain_copy_if_done(hub, &oid).await?;
        Ok::<_, Error>(done)
    };
    match done.await {
        Ok(done) => {
            sqlx::query("DELETE FROM xet_ingest_queue WHERE oid = $1 AND repo_id = $2")
                .bind(&oid)
                .bind(repo_id)
                .execute(&hub.db)
                .await?;
            tracing::info!(%oid, repo_id, chunks = done.chunks, new_chunks = done.new_chunks,
                "LFS object held as xorbs");
            Ok(Some((oid, done)))
        }
        Err(e) => {
            // Back off: 2^attempts seconds, at most an hour.
            let wait = 2f64.powi(attempts.min(12)).min(3600.0);
            sqlx::query(
                "UPDATE xet_ingest_queue SET last_error = $3,
                        not_before = now() + make_interval(secs => $4)
                 WHERE oid = $1 AND repo_id = $2",
            )
            .bind(&oid)
            .bind(repo_id)
            .bind(e.to_string())
            .bind(wait)
            .execute(&hub.db)
            .await?;
            Err(e)
        }
    }
}

/// Gives repo `repo_id` a Xet record of `oid`: nothing to do if it has one
/// (a Xet upload); the terms another repo in its dedupe scope has recorded
/// for the same content; or else the object chunked afresh, deduplicated
/// against its scope only (see [`records::find_chunks`]), never against
/// other namespaces' private repos: a record's terms name the xorbs they
/// use, which must not tell anyone that such a repo holds those chunks.
pub async fn ingest(hub: &Hub, oid: &str, repo_id: i64) -> Result<Ingested> {
    if let Some(hash) = super::files::hash_of(&hub.db, repo_id, oid).await? {
        return Ok(Ingested {
            file_hash: hash,
            ..Ingested::default()
        });
    }
    if let Some((file, terms)) = super::files::in_scope_of(&hub.db, repo_id, oid).await? {
        super::files::record(&hub.db, repo_id, &file.file_hash, oid, file.size, &terms).await?;
        return Ok(Ingested {
            file_hash: file.file_hash,
            size: file.size,
            ..Ingested::default()
        });
    }
    let (file, done) = chunk_object(hub, oid, repo_id).await?;
    super::files::record(
        &hub.db,
        repo_id,
        &file.file_hash,
        oid,
        done.size,
        &file.terms,
    )
    .await?;
    Ok(done)
}

/// Drops the plain copy of `oid` once every repo linking it has a Xet
/// record of it: from then on every read of it is rebuilt from xorbs.
async fn drop_plain_copy_if_done(hub: &Hub, oid: &str) -> Result<()> {
    let waiting: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM repo_lfs_links l WHERE l.oid = $1
                        AND NOT EXISTS (SELECT 1 FROM xet_files f
                                        WHERE f.repo_id = l.repo_id AND f.sha256 = l.oid))",
    )
    .bind(oid)
    .fetch_one(&hub.db)
    .await?;
    if waiting {
        return Ok(());
    }
    match hub.storage.store.delete(&lfs_object_path(oid)).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Chunks `oid` (stored and verified as an LFS object: its plain copy, or
/// else the bytes of a record in any repo, read here and told to nobody)
/// into xorbs, deduplicated within repo `repo_id`'s scope, and returns its
/// reconstruction. The caller records it.
pub async fn chunk_object(hub: &Hub, oid: &str, repo_id: i64) -> Result<(ShardFile, Ingested)> {
    let mut body = match crate::lfs::store::read_plain(hub, oid, None).await? {
        Some(body) => body,
        None => super::files::read(hub, oid, None)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("LFS object {oid} is not stored")))?,
    };
    let mut chunker = Some(Chunker::new());
    let mut state = State {
        repo_id,
        ..State::default()
    };
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|e| Error::Internal(anyhow::anyhow!("reading {oid}: {e}")))?;
        let cut = cut(chunker.take().expect("chunker"), piece, false).await?;
        chunker = Some(cut.0);
        state.take(hub, cut.1).await?;
    }
    let (_, last) = cut(chunker.take().expect("chunker"), Bytes::new(), true).await?;
    state.take(hub, last).await?;
    state.finish(hub, oid).await
}

/// Cuts `piece` on the blocking pool: the chunks it completes, with their
/// hashes.
async fn cut(
    mut chunker: Chunker,
    piece: Bytes,
    last: bool,
) -> Result<(Chunker, Vec<(XetHash, Bytes)>)> {
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut take = |c: &[u8]| out.push((XetHash::of_chunk(c), Bytes::copy_from_slice(c)));
        if last {
            chunker.finish(&mut take);
            (Chunker::new(), out)
        } else {
            chunker.push(&piece, &mut take);
            (chunker, out)
        }
    })
    .await
    .map_err(|e| Error::Internal(anyhow::anyhow!("chunking: {e}")))
}

#[derive(Default)]
struct State {
    /// The repo whose dedupe scope applies.
    repo_id: i64,
    /// Every chunk of the file, in order, with its length.
    places: Vec<(Place, u32)>,
    chunk_hashes: Vec<(XetHash, u64)>,
    /// The xorb being filled, and the hashes of the chunks in it.
    filling: XorbBuilder,
    filling_index: HashMap<XetHash, u32>,
    /// Hashes of the xorbs this ingest filled, by their number.
    filled: Vec<XetHash>,
    new_chunks: u64,
    new_bytes: u64,
}

impl State {
    /// Places `chunks`: found in the index, in the xorb being filled, or
    /// added to it.
    async fn take(&mut self, hub: &Hub, chunks: Vec<(XetHash, Bytes)>) -> Result<()> {
        for batch in chunks.chunks(LOOKUP_BATCH) {
            let hashes: Vec<XetHash> = batch.iter().map(|(h, _)| *h).collect();
            let found = records::find_chunks(&hub.db, self.repo_id, &hashes, &self.filled).await?;
            for (hash, data) in batch {
                self.chunk_hashes.push((*hash, data.len() as u64));
                let len = data.len() as u32;
                if let Some(&(xorb, idx)) = found.get(hash) {
                    self.places.push((Place::Stored(xorb, idx), len));
                    continue;
                }
                if let Some(&idx) = self.filling_index.get(hash) {
                    self.places
                        .push((Place::Filling(self.filled.len(), idx), len));
                    continue;
                }
                if self.filling.bytes.len() + data.len() > XORB_BYTES {
                    self.flush(hub).await?;
                }
                let data = data.clone();
                let (filling, idx) = tokio::task::spawn_blocking({
                    let mut filling = std::mem::take(&mut self.filling);
                    let hash = *hash;
                    move || {
                        let idx = filling.push_compressible(&data, hash);
                        (filling, idx)
                    }
                })
                .await
                .map_err(|e| Error::Internal(anyhow::anyhow!("compressing: {e}")))?;
                self.filling = filling;
                self.filling_index.insert(*hash, idx);
                self.places
                    .push((Place::Filling(self.filled.len(), idx), len));
                self.new_chunks += 1;
                self.new_bytes += u64::from(len);
            }
        }
        Ok(())
    }

    /// Stores the xorb being filled and indexes its chunks.
    async fn flush(&mut self, hub: &Hub) -> Result<()> {
        if self.filling.chunk_count() == 0 {
            return Ok(());
        }
        let (bytes, layout) = std::mem::take(&mut self.filling).finish();
        self.filling_index.clear();
        store_xorb(hub, bytes, &layout).await?;
        self.filled.push(layout.hash);
        Ok(())
    }

    async fn finish(mut self, hub: &Hub, oid: &str) -> Result<(ShardFile, Ingested)> {
        self.flush(hub).await?;
        let mut terms: Vec<Term> = Vec::new();
        for (place, len) in &self.places {
            let (xorb, idx) = match *place {
                Place::Stored(xorb, idx) => (xorb, idx),
                Place::Filling(n, idx) => (self.filled[n], idx),
            };
            match terms.last_mut() {
                Some(t) if t.xorb == xorb && t.chunk_end == idx => {
                    t.chunk_end += 1;
                    t.unpacked_bytes += len;
                }
                _ => terms.push(Term {
                    xorb,
                    unpacked_bytes: *len,
                    chunk_start: idx,
                    chunk_end: idx + 1,
                }),
            }
        }
        let ingested = Ingested {
            file_hash: XetHash::of_file(&self.chunk_hashes),
            size: self.chunk_hashes.iter().map(|(_, n)| n).sum(),
            chunks: self.chunk_hashes.len() as u64,
            new_chunks: self.new_chunks,
            new_bytes: self.new_bytes,
        };
        let file = ShardFile {
            file_hash: ingested.file_hash,
            sha256: oid.to_owned(),
            terms,
        };
        Ok((file, ingested))
    }
}

/// Stores a xorb the hub built, then records and indexes it.
async fn store_xorb(hub: &Hub, bytes: Vec<u8>, layout: &XorbLayout) -> Result<()> {
    let path = records::xorb_path(&layout.hash);
    if !records::is_recorded(&hub.db, &layout.hash).await? {
        hub.storage
            .store
            .put(&path, PutPayload::from(bytes))
            .await?;
    }
    records::record_built(&hub.db, layout).await
}
