//! Rebuilding a file from the xorb chunks a shard names.
//!
//! [`plan`] checks a shard file against what the hub recorded about the
//! xorbs it uses (every xorb known, every chunk range inside its xorb, every
//! term's length equal to its chunks' lengths) before a byte is read, and
//! turns it into ranged reads of at most [`READ_SIZE`] stored bytes.
//! [`stream`] performs them, decoding each range of chunks on the blocking
//! pool, two reads ahead: the file streams through in pieces of a few MiB,
//! whatever its size.

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};

use super::hash::XetHash;
use super::shard::ShardFile;
use super::xorb;
use crate::error::{Error, Result};

/// The most stored bytes one read fetches (a read holds at least one chunk).
pub const READ_SIZE: u64 = 8 * 1024 * 1024;

/// Reads in flight while a file streams.
const READS_AHEAD: usize = 2;

/// What the hub recorded about a stored xorb (see `records`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredXorb {
    /// Where each chunk starts in the stored xorb, then its end.
    pub chunk_offsets: Vec<u32>,
    /// Each chunk's uncompressed length.
    pub chunk_sizes: Vec<u32>,
    /// The uncompressed length of chunks `[0, i)` at `i`: a term's length
    /// in one step, whatever its range (a shard may hold a million terms).
    unpacked_before: Vec<u64>,
}

impl StoredXorb {
    pub fn new(chunk_offsets: Vec<u32>, chunk_sizes: Vec<u32>) -> StoredXorb {
        let unpacked_before = std::iter::once(0)
            .chain(chunk_sizes.iter().scan(0u64, |sum, &s| {
                *sum += u64::from(s);
                Some(*sum)
            }))
            .collect();
        StoredXorb {
            chunk_offsets,
            chunk_sizes,
            unpacked_before,
        }
    }

    pub fn chunk_count(&self) -> usize {
        self.chunk_sizes.len()
    }

    /// The uncompressed length of chunks `[start, end)`, if the xorb has them.
    pub fn unpacked(&self, start: usize, end: usize) -> Option<u64> {
        (start < end && end <= self.chunk_count())
            .then(|| self.unpacked_before[end] - self.unpacked_before[start])
    }

    /// The stored (compressed, as uploaded) length of chunks `[start, end)`;
    /// the range must be one [`StoredXorb::unpacked`] accepts.
    pub fn stored(&self, start: usize, end: usize) -> u64 {
        u64::from(self.chunk_offsets[end] - self.chunk_offsets[start])
    }
}

/// One ranged read: consecutive chunks of one xorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRead {
    pub xorb: XetHash,
    pub bytes: Range<u64>,
    pub chunk_sizes: Vec<u32>,
}

/// How to rebuild one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The sha256 (LFS hex) the rebuilt bytes must have.
    pub sha256: String,
    pub size: u64,
    pub reads: Vec<ChunkRead>,
}

/// The size of a file as its shard describes it, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// Bytes the file rebuilds to.
    pub size: u64,
    /// Chunks its terms name, counted with repeats (what its plan holds).
    pub chunks: u64,
}

/// Checks `file` against the xorbs the uploader may use (`xorbs`): every
/// xorb known, every chunk range inside its xorb, every term's length equal
/// to its chunks' lengths. Each term costs one step, so a shard can be
/// measured (and bounded, see `limits`) before anything is built for it.
/// Fails with `InvalidInput` naming the first problem.
pub fn measure(file: &ShardFile, xorbs: &HashMap<XetHash, StoredXorb>) -> Result<Measure> {
    let mut out = Measure { size: 0, chunks: 0 };
    for term in &file.terms {
        let Some(stored) = xorbs.get(&term.xorb) else {
            return Err(Error::invalid(format!(
                "the shard references xorb {} which was not uploaded for this repo; \
                 upload the xorb first",
                term.xorb
            )));
        };
        let (start, end) = (term.chunk_start as usize, term.chunk_end as usize);
        let Some(unpacked) = stored.unpacked(start, end) else {
            return Err(Error::invalid(format!(
                "the shard references chunks [{start}, {end}) of xorb {}, which has {} chunks",
                term.xorb,
                stored.chunk_count()
            )));
        };
        if unpacked != u64::from(term.unpacked_bytes) {
            return Err(Error::invalid(format!(
                "the shard says chunks [{start}, {end}) of xorb {} hold {} bytes; they hold {unpacked}",
                term.xorb, term.unpacked_bytes
            )));
        }
        out.size += unpacked;
        out.chunks += (end - start) as u64;
    }
    Ok(out)
}

/// Checks `file` (see [`measure`]) and plans its reads. Its memory grows
/// with the chunks the file names: bound them first (`limits::check`).
pub fn plan(file: &ShardFile, xorbs: &HashMap<XetHash, StoredXorb>) -> Result<Plan> {
    let size = measure(file, xorbs)?.size;
    let mut reads = Vec::new();
    for term in &file.terms {
        let stored = &xorbs[&term.xorb];
        let (start, end) = (term.chunk_start as usize, term.chunk_end as usize);
        split_reads(term.xorb, stored, start, end, &mut reads);
    }
    Ok(Plan {
        sha256: file.sha256.clone(),
        size,
        reads,
    })
}

/// Plans the reads for bytes `range` of `file` (checked as by [`plan`]):
/// only the chunks that hold them. Returns the plan and how many bytes of
/// its first chunk come before `range.start`; the range must lie inside
/// the file.
pub fn plan_range(
    file: &ShardFile,
    xorbs: &HashMap<XetHash, StoredXorb>,
    range: Range<u64>,
) -> Result<(Plan, u64)> {
    let size = measure(file, xorbs)?.size;
    if range.start > range.end || range.end > size {
        return Err(Error::invalid(format!(
            "bytes {}..{} are not inside a file of {size} bytes",
            range.start, range.end
        )));
    }
    let mut reads = Vec::new();
    let mut skip = 0;
    let mut at = 0u64;
    for term in &file.terms {
        let stored = &xorbs[&term.xorb];
        let term_end = at + u64::from(term.unpacked_bytes);
        if term_end <= range.start || at >= range.end {
            at = term_end;
            continue;
        }
        let (mut first, mut last) = (term.chunk_start as usize, term.chunk_end as usize);
        // Drop whole chunks before and after the range.
        while at + u64::from(stored.chunk_sizes[first]) <= range.start {
            at += u64::from(stored.chunk_sizes[first]);
            first += 1;
        }
        if reads.is_empty() {
            skip = range.start - at;
        }
        let mut end_at = term_end;
        while last - 1 > first && end_at - u64::from(stored.chunk_sizes[last - 1]) >= range.end {
            end_at -= u64::from(stored.chunk_sizes[last - 1]);
            last -= 1;
        }
        split_reads(term.xorb, stored, first, last, &mut reads);
        at = term_end;
    }
    let plan = Plan {
        sha256: file.sha256.clone(),
        size: range.end - range.start,
        reads,
    };
    Ok((plan, skip))
}

/// Cuts chunks `[start, end)` into reads of at most [`READ_SIZE`] bytes.
fn split_reads(
    xorb: XetHash,
    stored: &StoredXorb,
    start: usize,
    end: usize,
    out: &mut Vec<ChunkRead>,
) {
    let offset = |i: usize| u64::from(stored.chunk_offsets[i]);
    let mut first = start;
    while first < end {
        let mut last = first + 1;
        while last < end && offset(last + 1) - offset(first) <= READ_SIZE {
            last += 1;
        }
        out.push(ChunkRead {
            xorb,
            bytes: offset(first)..offset(last),
            chunk_sizes: stored.chunk_sizes[first..last].to_vec(),
        });
        first = last;
    }
}

/// The bytes of a planned file, read from the xorbs in `store` (at
/// `location(xorb)`) and decoded piece by piece.
pub fn stream(
    store: Arc<dyn ObjectStore>,
    location: fn(&XetHash) -> object_store::path::Path,
    plan: Plan,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures::stream::iter(plan.reads)
        .map(move |read| fetch(store.clone(), location(&read.xorb), read))
        .buffered(READS_AHEAD)
}

/// The bytes of a plan from [`plan_range`], without its first `skip`
/// bytes and ending after the plan's size. Chunks stored as they are go
/// out as slices of what was read (no copy: this is every plain download
/// of a file held as xorbs).
pub fn stream_range(
    store: Arc<dyn ObjectStore>,
    location: fn(&XetHash) -> object_store::path::Path,
    plan: Plan,
    skip: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    let mut skip = skip;
    let mut left = plan.size;
    futures::stream::iter(plan.reads)
        .map(move |read| fetch_pieces(store.clone(), location(&read.xorb), read))
        .buffered(READS_AHEAD)
        .map_ok(|pieces| futures::stream::iter(pieces.into_iter().map(Ok)))
        .try_flatten()
        .try_filter_map(move |mut bytes: Bytes| {
            let drop = skip.min(bytes.len() as u64);
            skip -= drop;
            let mut bytes = bytes.split_off(drop as usize);
            bytes.truncate(left.min(bytes.len() as u64) as usize);
            left -= bytes.len() as u64;
            futures::future::ready(Ok((!bytes.is_empty()).then_some(bytes)))
        })
}

/// One read, as pieces: see [`xorb::decode_pieces`].
async fn fetch_pieces(
    store: Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    read: ChunkRead,
) -> io::Result<Vec<Bytes>> {
    let stored = store
        .get_range(&path, read.bytes.clone())
        .await
        .map_err(|e| io::Error::other(format!("cannot read xorb {}: {e}", read.xorb)))?;
    let compressed = xorb::needs_decoding(&stored);
    let decode = move || {
        xorb::decode_pieces(&stored, &read.chunk_sizes)
            .map_err(|e| io::Error::other(format!("stored xorb {}: {e}", read.xorb)))
    };
    if compressed {
        tokio::task::spawn_blocking(decode)
            .await
            .map_err(io::Error::other)?
    } else {
        decode()
    }
}

async fn fetch(
    store: Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    read: ChunkRead,
) -> io::Result<Bytes> {
    let stored = store
        .get_range(&path, read.bytes.clone())
        .await
        .map_err(|e| io::Error::other(format!("cannot read xorb {}: {e}", read.xorb)))?;
    tokio::task::spawn_blocking(move || {
        let total: u64 = read.chunk_sizes.iter().map(|&s| u64::from(s)).sum();
        let mut out = Vec::with_capacity(total as usize);
        xorb::decode_chunks(&stored, &read.chunk_sizes, &mut out)
            .map_err(|e| io::Error::other(format!("stored xorb {}: {e}", read.xorb)))?;
        Ok(Bytes::from(out))
    })
    .await
    .map_err(io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::shard::Term;
    use crate::xet::xorb::{Scheme, XorbBuilder};
    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use sha2::{Digest, Sha256};

    fn location(hash: &XetHash) -> Path {
        Path::from(format!("x/{hash}"))
    }

    fn pattern(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + seed as usize) as u8).collect()
    }

    async fn put_xorb(store: &Arc<dyn ObjectStore>, chunks: &[Vec<u8>]) -> (XetHash, StoredXorb) {
        let mut builder = XorbBuilder::default();
        for (i, c) in chunks.iter().enumerate() {
            let scheme = [Scheme::None, Scheme::Lz4, Scheme::Bg4Lz4][i % 3];
            builder = builder.chunk(c, scheme);
        }
        let layout = xorb::validate(&builder.bytes).unwrap();
        store
            .put(&location(&layout.hash), builder.bytes.into())
            .await
            .unwrap();
        let stored = StoredXorb::new(layout.chunk_offsets, layout.chunk_sizes);
        (layout.hash, stored)
    }

    fn term(xorb: XetHash, stored: &StoredXorb, start: u32, end: u32) -> Term {
        let unpacked = stored.chunk_sizes[start as usize..end as usize]
            .iter()
            .sum();
        Term {
            xorb,
            unpacked_bytes: unpacked,
            chunk_start: start,
            chunk_end: end,
        }
    }

    #[tokio::test]
    async fn files_are_rebuilt_from_chunk_ranges_of_several_xorbs() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let a: Vec<Vec<u8>> = (0..4).map(|i| pattern(5000 + i, i as u8)).collect();
        let b: Vec<Vec<u8>> = (0..3).map(|i| pattern(9000 + i, 100 + i as u8)).collect();
        let (ha, sa) = put_xorb(&store, &a).await;
        let (hb, sb) = put_xorb(&store, &b).await;
        let expected = [&a[1], &a[2], &b[0], &b[1], &b[2], &a[0]]
            .iter()
            .flat_map(|c| c.iter().copied())
            .collect::<Vec<u8>>();
        let file = ShardFile {
            file_hash: XetHash::default(),
            sha256: hex::encode(Sha256::digest(&expected)),
            terms: vec![
                term(ha, &sa, 1, 3),
                term(hb, &sb, 0, 3),
                term(ha, &sa, 0, 1),
            ],
        };
        let xorbs = HashMap::from([(ha, sa), (hb, sb)]);
        let plan = plan(&file, &xorbs).unwrap();
        assert_eq!(plan.size, expected.len() as u64);
        assert_eq!(plan.reads.len(), 3, "each term fits one read");
        let pieces: Vec<Bytes> = stream(store.clone(), location, plan)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(pieces.concat(), expected);
    }

    #[tokio::test]
    async fn any_byte_range_is_read_from_the_chunks_that_hold_it() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let a: Vec<Vec<u8>> = (0..4).map(|i| pattern(500 + i, i as u8)).collect();
        let b: Vec<Vec<u8>> = (0..3).map(|i| pattern(900 + i, 100 + i as u8)).collect();
        let (ha, sa) = put_xorb(&store, &a).await;
        let (hb, sb) = put_xorb(&store, &b).await;
        let expected = [&a[1], &a[2], &b[0], &b[1], &b[2], &a[0]]
            .iter()
            .flat_map(|c| c.iter().copied())
            .collect::<Vec<u8>>();
        let file = ShardFile {
            file_hash: XetHash::default(),
            sha256: String::new(),
            terms: vec![
                term(ha, &sa, 1, 3),
                term(hb, &sb, 0, 3),
                term(ha, &sa, 0, 1),
            ],
        };
        let xorbs = HashMap::from([(ha, sa), (hb, sb)]);
        let n = expected.len() as u64;
        for (start, end) in [
            (0, n),
            (0, 1),
            (n - 1, n),
            (500, 501),
            (501, 1403),
            (7, n - 7),
            (2000, 2000),
        ] {
            let (plan, skip) = plan_range(&file, &xorbs, start..end).unwrap();
            let chunks: usize = plan.reads.iter().map(|r| r.chunk_sizes.len()).sum();
            let pieces: Vec<Bytes> = stream_range(store.clone(), location, plan, skip)
                .try_collect()
                .await
                .unwrap();
            assert_eq!(
                pieces.concat(),
                &expected[start as usize..end as usize],
                "{start}..{end}"
            );
            if end - start == 1 {
                assert_eq!(chunks, 1, "one byte needs one chunk");
            }
        }
        assert!(plan_range(&file, &xorbs, 0..n + 1).is_err());
    }

    #[test]
    fn long_ranges_are_read_in_pieces() {
        let stored = StoredXorb::new(
            (0..=1000u32).map(|i| i * 100_000).collect(),
            vec![120_000; 1000],
        );
        let mut reads = Vec::new();
        split_reads(XetHash::default(), &stored, 10, 1000, &mut reads);
        assert!(
            reads
                .iter()
                .all(|r| r.bytes.end - r.bytes.start <= READ_SIZE)
        );
        assert_eq!(reads.first().unwrap().bytes.start, 1_000_000);
        assert_eq!(reads.last().unwrap().bytes.end, 100_000_000);
        let chunks: usize = reads.iter().map(|r| r.chunk_sizes.len()).sum();
        assert_eq!(chunks, 990);
        assert!(reads.windows(2).all(|w| w[0].bytes.end == w[1].bytes.start));
        // A chunk larger than a read still gets a read of its own.
        let huge = StoredXorb::new(vec![0, 9 << 20, 18 << 20], vec![1, 1]);
        let mut reads = Vec::new();
        split_reads(XetHash::default(), &huge, 0, 2, &mut reads);
        assert_eq!(reads.len(), 2);
    }

    #[test]
    fn plans_refuse_unknown_xorbs_bad_ranges_and_wrong_lengths() {
        let stored = StoredXorb::new(vec![0, 108, 208], vec![100, 92]);
        let known = XetHash([1; 32]);
        let xorbs = HashMap::from([(known, stored.clone())]);
        let with = |t: Term| ShardFile {
            file_hash: XetHash::default(),
            sha256: "00".repeat(32),
            terms: vec![t],
        };
        let reason = |t: Term| plan(&with(t), &xorbs).unwrap_err().to_string();
        let ok = term(known, &stored, 0, 2);
        assert_eq!(plan(&with(ok), &xorbs).unwrap().size, 192);
        assert!(
            reason(Term {
                xorb: XetHash([2; 32]),
                ..ok
            })
            .contains("not uploaded")
        );
        assert!(reason(Term { chunk_end: 3, ..ok }).contains("has 2 chunks"));
        assert!(
            reason(Term {
                chunk_start: 5,
                chunk_end: 9,
                ..ok
            })
            .contains("has 2 chunks")
        );
        assert!(
            reason(Term {
                unpacked_bytes: 191,
                ..ok
            })
            .contains("they hold 192")
        );
    }
}
