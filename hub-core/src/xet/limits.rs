//! What one shard may make the hub rebuild, decided before a byte is read.
//!
//! A shard names files as runs of stored chunks, and nothing stops it from
//! naming one chunk thousands of times: a 548-byte xorb (128 KiB of zeros,
//! compressed) and a 393 KB shard once made the hub rebuild and store a
//! 1 GiB file. So every shard is measured first ([`check`]), in one step
//! per term, against three bounds:
//!
//! - each file at most [`MAX_FILE_SIZE`];
//! - the whole shard at most [`MAX_EXPANSION`] times the stored bytes of
//!   the distinct chunks it uses (what the uploader actually sent, as
//!   compressed xorbs), plus [`EXPANSION_ALLOWANCE`] so that small files
//!   with repeated content (runs of zeros) still pass;
//! - at most [`MAX_CHUNK_REFS`] chunk references (the plans hold one entry
//!   each).
//!
//! Then the bytes it will really rebuild (files the repo lacks) are charged
//! to the uploader's quota over a rolling day ([`charge`],
//! `HUB_XET_DAILY_BYTES`), so that reshuffling stored chunks into new
//! files cannot make the hub write without end either.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;

use super::hash::XetHash;
use super::reconstruct::{self, StoredXorb};
use super::shard::ShardFile;
use crate::error::{Error, Result};

/// The largest file a shard may describe (the size Hugging Face allows).
pub const MAX_FILE_SIZE: u64 = 50 << 30;

/// How many bytes a shard may rebuild per stored byte of the distinct
/// chunks it uses. Model weights compress to about 1:1.3, text to 1:5;
/// only long runs of one pattern go past this.
pub const MAX_EXPANSION: u64 = 16;

/// What any shard may rebuild beyond [`MAX_EXPANSION`].
pub const EXPANSION_ALLOWANCE: u64 = 64 << 20;

/// Chunk references per shard: a 50 GiB file has about 800,000 chunks.
pub const MAX_CHUNK_REFS: u64 = 4 << 20;

/// What a checked shard rebuilds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Each file's size, in the order given.
    pub sizes: Vec<u64>,
    /// Stored bytes of the distinct chunks the files use.
    pub sent: u64,
}

/// Checks `files` (one shard's, each sha256 once) against the xorbs the
/// uploader may use and the bounds above: `InvalidInput` for a file that
/// does not fit its xorbs (see [`reconstruct::measure`]), `PayloadTooLarge`
/// past a bound.
pub fn check(files: &[&ShardFile], xorbs: &HashMap<XetHash, StoredXorb>) -> Result<Checked> {
    let mut sizes = Vec::with_capacity(files.len());
    let mut chunks = 0u64;
    let mut used: HashMap<XetHash, Vec<(u32, u32)>> = HashMap::new();
    for file in files {
        let measure = reconstruct::measure(file, xorbs)?;
        if measure.size > MAX_FILE_SIZE {
            return Err(Error::too_large(format!(
                "file {} of the shard has {} bytes; at most {MAX_FILE_SIZE} are allowed",
                file.sha256, measure.size
            )));
        }
        sizes.push(measure.size);
        chunks += measure.chunks;
        for t in &file.terms {
            used.entry(t.xorb)
                .or_default()
                .push((t.chunk_start, t.chunk_end));
        }
    }
    if chunks > MAX_CHUNK_REFS {
        return Err(Error::too_large(format!(
            "the shard names {chunks} chunks; at most {MAX_CHUNK_REFS} per shard"
        )));
    }
    let sent = used
        .iter_mut()
        .map(|(hash, ranges)| distinct_stored_bytes(&xorbs[hash], ranges))
        .sum::<u64>();
    let total: u64 = sizes.iter().sum();
    let allowed = EXPANSION_ALLOWANCE.saturating_add(sent.saturating_mul(MAX_EXPANSION));
    if total > allowed {
        return Err(Error::too_large(format!(
            "the shard would rebuild {total} bytes from {sent} bytes of distinct uploaded \
             chunks; a shard may rebuild at most {MAX_EXPANSION} times what its chunks hold \
             plus {EXPANSION_ALLOWANCE} bytes"
        )));
    }
    Ok(Checked { sizes, sent })
}

/// The stored bytes of the chunks that `ranges` (checked, `[start, end)`)
/// cover, each chunk counted once.
fn distinct_stored_bytes(xorb: &StoredXorb, ranges: &mut [(u32, u32)]) -> u64 {
    ranges.sort_unstable();
    let mut total = 0;
    let mut covered_to = 0u32;
    for &(start, end) in ranges.iter() {
        let start = start.max(covered_to);
        if start < end {
            total += xorb.stored(start as usize, end as usize);
            covered_to = end;
        }
    }
    total
}

/// The advisory lock class of quota updates (the user id is the other half).
const QUOTA_LOCK: i32 = 0x7865_7471;

/// Charges `bytes` rebuilt for `user_id` against `daily_quota` bytes over a
/// rolling day, or refuses (`TooManyRequests`, with when to retry) without
/// charging anything. Charges are not refunded when the upload then fails:
/// the rebuilding that found the failure was done.
pub async fn charge(db: &PgPool, user_id: i64, bytes: u64, daily_quota: u64) -> Result<()> {
    if bytes == 0 {
        return Ok(());
    }
    let refuse = |used: u64, retry_after: Duration| Error::TooManyRequests {
        message: format!(
            "this upload would rebuild {bytes} bytes, and {used} of your {daily_quota} bytes \
             a day have been used"
        ),
        retry_after,
    };
    if bytes > daily_quota {
        return Err(refuse(0, Duration::from_secs(86_400)));
    }
    let mut tx = db.begin().await?;
    // Two uploads of one user must not both take the last of the quota.
    sqlx::query("SELECT pg_advisory_xact_lock($1, ($2 % 2147483647)::int4)")
        .bind(QUOTA_LOCK)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM xet_rebuilt_bytes WHERE user_id = $1 AND hour <= now() - interval '1 day'",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    let (used, wait): (i64, Option<f64>) = sqlx::query_as(
        "SELECT coalesce(sum(bytes), 0)::BIGINT,
                extract(epoch FROM min(hour) + interval '1 day' - now())::FLOAT8
         FROM xet_rebuilt_bytes WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    let used = used.max(0) as u64;
    if used + bytes > daily_quota {
        let wait = wait.unwrap_or(1.0).clamp(1.0, 86_400.0);
        return Err(refuse(used, Duration::from_secs(wait as u64)));
    }
    sqlx::query(
        "INSERT INTO xet_rebuilt_bytes (user_id, hour, bytes)
         VALUES ($1, date_trunc('hour', now()), $2)
         ON CONFLICT (user_id, hour) DO UPDATE SET bytes = xet_rebuilt_bytes.bytes + $2",
    )
    .bind(user_id)
    .bind(bytes as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::shard::Term;

    /// A xorb of `n` chunks of `unpacked` bytes, each stored in `stored`.
    fn xorb(n: u32, unpacked: u32, stored: u32) -> StoredXorb {
        StoredXorb::new(
            (0..=n).map(|i| i * stored).collect(),
            vec![unpacked; n as usize],
        )
    }

    fn file(terms: Vec<Term>) -> ShardFile {
        ShardFile {
            file_hash: XetHash::default(),
            sha256: "00".repeat(32),
            terms,
        }
    }

    fn term(x: u8, start: u32, end: u32, unpacked: u32) -> Term {
        Term {
            xorb: XetHash([x; 32]),
            unpacked_bytes: (end - start) * unpacked,
            chunk_start: start,
            chunk_end: end,
        }
    }

    #[test]
    fn one_chunk_named_thousands_of_times_is_refused_before_anything_is_read() {
        // The attack: 128 KiB of zeros stored in 540 bytes, named 8,192 times.
        let xorbs = HashMap::from([(XetHash([1; 32]), xorb(1, 128 << 10, 540))]);
        let bomb = file(vec![term(1, 0, 1, 128 << 10); 8192]);
        let err = check(&[&bomb], &xorbs).unwrap_err();
        assert!(matches!(err, Error::PayloadTooLarge(_)), "{err}");
        assert!(err.to_string().contains("from 540 bytes"), "{err}");
        // The same chunk a few hundred times (a small file of zeros) passes.
        let zeros = file(vec![term(1, 0, 1, 128 << 10); 400]);
        let checked = check(&[&zeros], &xorbs).unwrap();
        assert_eq!(checked.sizes, [400 * (128 << 10)]);
        assert_eq!(checked.sent, 540);
    }

    #[test]
    fn ordinary_files_pass_and_chunks_are_counted_once() {
        // 2,000 chunks of 64 KiB stored at 50 KiB: a 125 MiB file, and a
        // second file reusing half of it.
        let xorbs = HashMap::from([
            (XetHash([1; 32]), xorb(1000, 64 << 10, 50 << 10)),
            (XetHash([2; 32]), xorb(1000, 64 << 10, 50 << 10)),
        ]);
        let whole = file(vec![term(1, 0, 1000, 64 << 10), term(2, 0, 1000, 64 << 10)]);
        let edited = file(vec![term(2, 500, 1000, 64 << 10), term(1, 0, 10, 64 << 10)]);
        let checked = check(&[&whole, &edited], &xorbs).unwrap();
        assert_eq!(checked.sizes, [2000 * (64 << 10), 510 * (64 << 10)]);
        assert_eq!(checked.sent, 2000 * (50 << 10), "overlaps counted once");
    }

    #[test]
    fn overlapping_ranges_count_each_chunk_once() {
        let x = xorb(10, 100, 10);
        assert_eq!(distinct_stored_bytes(&x, &mut [(0, 3), (1, 2), (2, 5)]), 50);
        assert_eq!(
            distinct_stored_bytes(&x, &mut [(8, 10), (0, 1), (0, 1)]),
            30
        );
        assert_eq!(distinct_stored_bytes(&x, &mut []), 0);
    }

    #[test]
    fn bad_terms_are_refused_as_bad_input() {
        let xorbs = HashMap::from([(XetHash([1; 32]), xorb(2, 100, 10))]);
        let unknown = file(vec![term(2, 0, 1, 100)]);
        assert!(matches!(
            check(&[&unknown], &xorbs),
            Err(Error::InvalidInput(_))
        ));
        let past = file(vec![term(1, 1, 3, 100)]);
        assert!(matches!(
            check(&[&past], &xorbs),
            Err(Error::InvalidInput(_))
        ));
    }
}
