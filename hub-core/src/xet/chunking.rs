//! Content-defined chunking exactly as hf_xet does it, and the file hash.
//!
//! A file the hub chunks itself (one uploaded through Git LFS or the
//! browser) must cut into the same chunks, with the same hashes, as the
//! same bytes uploaded by hf_xet: only then does a Git LFS upload share
//! chunks with a Xet upload of a nearby revision, and only then is the
//! file's Xet hash the one hf_xet computes for it locally (it compares the
//! two when it downloads).
//!
//! The rule (xet-core's `Chunker`): a gear hash rolls over the bytes of the
//! current chunk, fresh (zero) at its start; a chunk ends after the first
//! byte at which `hash & MASK == 0`, as long as it is at least
//! [`MIN_CHUNK`] long, and at [`MAX_CHUNK`] in any case; the last chunk is
//! whatever is left. The first `MIN_CHUNK - 65` bytes of a chunk are never
//! hashed: the hash only depends on the last 64 bytes fed to it, so skipping
//! them cannot move a boundary, and at least 65 bytes are hashed before a
//! chunk may end.
//!
//! A file's Xet hash then comes from its chunks: [`of_file`](super::hash::XetHash::of_file).

/// The chunk size the mask aims at.
pub const TARGET_CHUNK: usize = 64 * 1024;
/// No boundary is taken before this many bytes.
pub const MIN_CHUNK: usize = TARGET_CHUNK / 8;
/// A chunk is cut here whatever the hash says.
pub const MAX_CHUNK: usize = TARGET_CHUNK * 2;

/// `TARGET_CHUNK - 1` shifted to the top bits: the low bits of a gear hash
/// depend on the last few bytes only.
const MASK: u64 = ((TARGET_CHUNK - 1) as u64) << ((TARGET_CHUNK - 1) as u64).leading_zeros();

/// Bytes a gear hash depends on.
const HASH_WINDOW: usize = 64;

/// Bytes at the start of a chunk that need not be hashed.
const SKIP: usize = MIN_CHUNK - HASH_WINDOW - 1;

/// Cuts a stream of bytes into chunks. Feed it pieces of any size with
/// [`Chunker::push`]; it keeps at most one chunk's worth of bytes.
pub struct Chunker {
    hasher: gearhash::Hasher<'static>,
    /// The bytes of the chunk being cut.
    pending: Vec<u8>,
}

impl Default for Chunker {
    fn default() -> Self {
        Chunker::new()
    }
}

impl Chunker {
    pub fn new() -> Chunker {
        Chunker {
            hasher: gearhash::Hasher::default(),
            pending: Vec::with_capacity(MAX_CHUNK),
        }
    }

    /// Takes `data`, calling `chunk` with each chunk it completes.
    pub fn push(&mut self, mut data: &[u8], mut chunk: impl FnMut(&[u8])) {
        while !data.is_empty() {
            match self.boundary(data) {
                Some(end) => {
                    if self.pending.is_empty() {
                        chunk(&data[..end]);
                    } else {
                        self.pending.extend_from_slice(&data[..end]);
                        chunk(&self.pending);
                        self.pending.clear();
                    }
                    self.hasher.set_hash(0);
                    data = &data[end..];
                }
                None => {
                    self.pending.extend_from_slice(data);
                    return;
                }
            }
        }
    }

    /// Ends the stream: the bytes left, if any, are the last chunk.
    pub fn finish(mut self, mut chunk: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            chunk(&self.pending);
            self.pending.clear();
        }
    }

    /// Where in `data` the current chunk ends, if it ends in `data`.
    fn boundary(&mut self, data: &[u8]) -> Option<usize> {
        let before = self.pending.len();
        // Hash from SKIP bytes into the chunk, never past MAX_CHUNK.
        let mut at = SKIP.saturating_sub(before).min(data.len());
        let end = data.len().min(MAX_CHUNK - before);
        while at < end {
            match self.hasher.next_match(&data[at..end], MASK) {
                Some(n) => {
                    at += n;
                    if before + at >= MIN_CHUNK {
                        return Some(at);
                    }
                }
                None => at = end,
            }
        }
        (before + end == MAX_CHUNK).then_some(end)
    }
}

/// The chunks of `data`, as `(start, end)` byte ranges.
pub fn chunk_ranges(data: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut chunker = Chunker::new();
    let mut record = |c: &[u8]| {
        ranges.push((start, start + c.len()));
        start += c.len();
    };
    chunker.push(data, &mut record);
    chunker.finish(&mut record);
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn chunks_are_within_bounds_and_cover_the_data() {
        let data = noise(3 * 1024 * 1024 + 17, 7);
        let ranges = chunk_ranges(&data);
        assert_eq!(ranges.first().unwrap().0, 0);
        assert_eq!(ranges.last().unwrap().1, data.len());
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
        let (last, rest) = ranges.split_last().unwrap();
        for (s, e) in rest {
            assert!((MIN_CHUNK..=MAX_CHUNK).contains(&(e - s)), "{}", e - s);
        }
        assert!(last.1 - last.0 <= MAX_CHUNK);
        // Random bytes average near the target.
        let mean = data.len() / ranges.len();
        assert!(
            (TARGET_CHUNK / 2..TARGET_CHUNK * 2).contains(&mean),
            "{mean}"
        );
    }

    #[test]
    fn boundaries_do_not_depend_on_how_the_bytes_arrive() {
        let data = noise(1024 * 1024, 3);
        let whole = chunk_ranges(&data);
        for piece in [1usize, 63, 64, 65, 4096, 8127, 8128, 70_000, 131_072] {
            let mut chunker = Chunker::new();
            let mut lens = Vec::new();
            for p in data.chunks(piece) {
                chunker.push(p, |c| lens.push(c.len()));
            }
            chunker.finish(|c| lens.push(c.len()));
            let expected: Vec<usize> = whole.iter().map(|(s, e)| e - s).collect();
            assert_eq!(lens, expected, "pieces of {piece}");
        }
    }

    #[test]
    fn a_local_change_moves_only_nearby_boundaries() {
        let data = noise(2 * 1024 * 1024, 11);
        let mut changed = data.clone();
        for b in &mut changed[1_000_000..1_000_100] {
            *b = !*b;
        }
        let a = chunk_ranges(&data);
        let b = chunk_ranges(&changed);
        let shared = a.iter().filter(|r| b.contains(r)).count();
        assert!(shared + 3 >= a.len(), "{shared} of {} chunks kept", a.len());
    }

    #[test]
    fn uniform_data_is_cut_at_the_maximum() {
        let data = vec![0u8; MAX_CHUNK * 3 + 5];
        let lens: Vec<usize> = chunk_ranges(&data).iter().map(|(s, e)| e - s).collect();
        assert_eq!(lens, [MAX_CHUNK, MAX_CHUNK, MAX_CHUNK, 5]);
    }

    #[test]
    fn nothing_has_no_chunks() {
        assert!(chunk_ranges(&[]).is_empty());
    }
}
