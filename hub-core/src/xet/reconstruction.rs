//! Answering hf_xet's reconstruction query: which chunks of which xorbs
//! make up bytes `[start, end)` of a file, and which stored byte ranges to
//! fetch for them.
//!
//! The answer is cut to chunks: the first term starts at the chunk that
//! holds `start` (`offset_into_first_range` says how far into it `start`
//! is), the last ends with the chunk that holds `end - 1`, so a small
//! ranged read fetches a few chunks, not whole terms. Each xorb's chunk
//! ranges are merged where they overlap or touch into fetches, each a
//! chunk range and the stored bytes that hold it (what the client asks the
//! signed URL for, with an inclusive end as HTTP ranges have). A term
//! always lies inside one fetch, as the client requires.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::files::PlacedTerm;
use super::hash::XetHash;
use super::reconstruct::StoredXorb;
use crate::error::{Error, Result};

/// Chunks `[start, end)` of a xorb in a file's reconstruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerTerm {
    pub xorb: XetHash,
    pub chunks: Range<u32>,
    pub unpacked_length: u32,
}

/// A range of one xorb's chunks and the stored bytes that hold them
/// (`bytes` end exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub chunks: Range<u32>,
    pub bytes: Range<u64>,
}

/// The reconstruction of a byte range of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub offset_into_first_range: u64,
    pub terms: Vec<AnswerTerm>,
    /// Per xorb, its fetches by chunk start.
    pub fetches: BTreeMap<XetHash, Vec<Fetch>>,
}

/// The reconstruction of bytes `range` (non-empty, within the file) from
/// `terms`, the file's terms that hold bytes of it (in order), with the
/// layouts of the xorbs they name. A term that does not fit its xorb's
/// layout (the records disagree) is an internal error.
pub fn answer(
    range: Range<u64>,
    terms: &[PlacedTerm],
    xorbs: &HashMap<XetHash, StoredXorb>,
) -> Result<Answer> {
    let broken = |what: String| Error::Internal(anyhow::anyhow!("xet file records: {what}"));
    let mut out = Answer {
        offset_into_first_range: 0,
        terms: Vec::with_capacity(terms.len()),
        fetches: BTreeMap::new(),
    };
    let mut wanted: BTreeMap<XetHash, Vec<Range<u32>>> = BTreeMap::new();
    for (i, placed) in terms.iter().enumerate() {
        let term = &placed.term;
        let layout = xorbs
            .get(&term.xorb)
            .ok_or_else(|| broken(format!("xorb {} is not recorded", term.xorb)))?;
        let (mut first, mut last) = (term.chunk_start as usize, term.chunk_end as usize);
        if layout.unpacked(first, last) != Some(u64::from(term.unpacked_bytes)) {
            return Err(broken(format!("a term does not fit xorb {}", term.xorb)));
        }
        let size = |c: usize| u64::from(layout.chunk_sizes[c]);
        // Skip the chunks before the range's start (first term only).
        let mut at = placed.file_offset;
        while first < last && at + size(first) <= range.start {
            at += size(first);
            first += 1;
        }
        if i == 0 {
            out.offset_into_first_range = range.start.saturating_sub(at);
        }
        // Keep chunks up to the one holding the range's last byte.
        let mut end_at = at;
        let mut keep = first;
        while keep < last && end_at < range.end {
            end_at += size(keep);
            keep += 1;
        }
        last = keep;
        if first >= last {
            continue;
        }
        let unpacked = layout.unpacked(first, last).expect("inside the term");
        out.terms.push(AnswerTerm {
            xorb: term.xorb,
            chunks: first as u32..last as u32,
            unpacked_length: unpacked as u32,
        });
        wanted
            .entry(term.xorb)
            .or_default()
            .push(first as u32..last as u32);
    }
    for (xorb, mut ranges) in wanted {
        let layout = &xorbs[&xorb];
        ranges.sort_by_key(|r| (r.start, r.end));
        let mut merged: Vec<Range<u32>> = Vec::new();
        for r in ranges {
            match merged.last_mut() {
                Some(m) if r.start <= m.end => m.end = m.end.max(r.end),
                _ => merged.push(r),
            }
        }
        let fetches = merged
            .into_iter()
            .map(|chunks| Fetch {
                bytes: u64::from(layout.chunk_offsets[chunks.start as usize])
                    ..u64::from(layout.chunk_offsets[chunks.end as usize]),
                chunks,
            })
            .collect();
        out.fetches.insert(xorb, fetches);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xet::shard::Term;

    /// A xorb of chunks of `sizes` bytes, stored at half their size.
    fn layout(sizes: &[u32]) -> StoredXorb {
        let mut offsets = vec![0u32];
        for s in sizes {
            offsets.push(offsets.last().unwrap() + s / 2 + 8);
        }
        StoredXorb::new(offsets, sizes.to_vec())
    }

    fn placed(at: u64, xorb: XetHash, l: &StoredXorb, start: u32, end: u32) -> PlacedTerm {
        PlacedTerm {
            file_offset: at,
            term: Term {
                xorb,
                unpacked_bytes: l.unpacked(start as usize, end as usize).unwrap() as u32,
                chunk_start: start,
                chunk_end: end,
            },
        }
    }

    const A: XetHash = XetHash([1; 32]);
    const B: XetHash = XetHash([2; 32]);

    /// A file of 4 chunks of A (100 bytes each), 2 of B (50 each), then A's
    /// chunks 1..3 again: 700 bytes.
    fn file() -> (Vec<PlacedTerm>, HashMap<XetHash, StoredXorb>) {
        let a = layout(&[100, 100, 100, 100]);
        let b = layout(&[50, 50]);
        let terms = vec![
            placed(0, A, &a, 0, 4),
            placed(400, B, &b, 0, 2),
            placed(500, A, &a, 1, 3),
        ];
        (terms, HashMap::from([(A, a), (B, b)]))
    }

    #[test]
    fn the_whole_file_fetches_each_xorb_range_once() {
        let (terms, xorbs) = file();
        let got = answer(0..700, &terms, &xorbs).unwrap();
        assert_eq!(got.offset_into_first_range, 0);
        assert_eq!(got.terms.len(), 3);
        assert_eq!(got.terms[2].chunks, 1..3);
        assert_eq!(got.terms[2].unpacked_length, 200);
        // A's chunks 1..3 lie inside 0..4: one fetch of all of A.
        assert_eq!(
            got.fetches[&A],
            [Fetch {
                chunks: 0..4,
                bytes: 0..232
            }]
        );
        assert_eq!(got.fetches[&B][0].bytes, 0..66);
    }

    #[test]
    fn a_range_is_cut_to_the_chunks_that_hold_it() {
        let (terms, xorbs) = file();
        // Bytes 150..420: chunk 1 of A (offset 50 into it) to chunk 0 of B.
        let within: Vec<PlacedTerm> = terms[..2].to_vec();
        let got = answer(150..420, &within, &xorbs).unwrap();
        assert_eq!(got.offset_into_first_range, 50);
        assert_eq!(
            got.terms,
            [
                AnswerTerm {
                    xorb: A,
                    chunks: 1..4,
                    unpacked_length: 300
                },
                AnswerTerm {
                    xorb: B,
                    chunks: 0..1,
                    unpacked_length: 50
                },
            ]
        );
        assert_eq!(
            got.fetches[&A],
            [Fetch {
                chunks: 1..4,
                bytes: 58..232
            }]
        );
        assert_eq!(got.fetches[&B][0].chunks, 0..1);
        // One byte in the middle of a chunk: that chunk only.
        let got = answer(250..251, &terms[..1], &xorbs).unwrap();
        assert_eq!(got.offset_into_first_range, 50);
        assert_eq!(got.terms[0].chunks, 2..3);
    }

    #[test]
    fn disjoint_ranges_of_a_xorb_are_fetched_apart() {
        let a = layout(&[10, 10, 10, 10, 10]);
        let terms = vec![placed(0, A, &a, 0, 1), placed(10, A, &a, 3, 5)];
        let xorbs = HashMap::from([(A, a)]);
        let got = answer(0..30, &terms, &xorbs).unwrap();
        let chunks: Vec<_> = got.fetches[&A].iter().map(|f| f.chunks.clone()).collect();
        assert_eq!(chunks, [0..1, 3..5]);
    }

    #[test]
    fn records_that_disagree_with_the_xorb_are_an_error() {
        let (mut terms, xorbs) = file();
        terms[0].term.unpacked_bytes += 1;
        assert!(answer(0..700, &terms, &xorbs).is_err());
        let (terms, _) = file();
        assert!(answer(0..700, &terms, &HashMap::new()).is_err());
    }
}
