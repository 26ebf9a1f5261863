//! Shards: the file reconstructions a Xet upload ends with.
//!
//! The upload body is an MDB shard without footer (`footer_size` 0):
//!
//! - a 48-byte header: a 32-byte magic tag, `version` (u64, 2),
//!   `footer_size` (u64);
//! - the file info section: per file a 48-byte `FileDataSequenceHeader`
//!   (`file_hash[32]`, `flags u32`, `num_entries u32`, 8 reserved bytes),
//!   `num_entries` terms of 48 bytes (`xorb_hash[32]`, `cas_flags u32`,
//!   `unpacked_bytes u32`, `chunk_start u32`, `chunk_end u32`, the range
//!   exclusive), then `num_entries` 48-byte verification entries if
//!   `flags & 1<<31`, then a 48-byte metadata extension whose first 32
//!   bytes are the file's sha256 (in Xet hash order) if `flags & 1<<30`;
//!   the section ends with a bookend (32 bytes of `0xff`, 16 of zeros);
//! - the CAS info section: per xorb a 48-byte header (`xorb_hash[32]`,
//!   `flags`, `num_entries`, `num_bytes_in_xorb`, `num_bytes_on_disk`, all
//!   u32) and `num_entries` 48-byte chunk entries; also closed by a bookend.
//!
//! All integers are little-endian. The hub needs only the file section
//! (which xorb chunks make up each file, and its sha256); the CAS section
//! is checked for shape and otherwise ignored, as is anything after it
//! (lookup tables and a footer, when a client sends them).
//!
//! The hub writes one kind of shard itself: the global dedupe answer
//! ([`xorb_index`]), a full shard with lookup tables and footer.

use crate::error::{Error, Result};
use crate::xet::hash::XetHash;

/// The magic tag every shard starts with.
pub const SHARD_TAG: [u8; 32] = [
    b'H', b'F', b'R', b'e', b'p', b'o', b'M', b'e', b't', b'a', b'D', b'a', b't', b'a', 0, 85, 105,
    103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169,
];

pub const SHARD_VERSION: u64 = 2;

/// The size of every record in the info sections.
pub const ENTRY_LEN: usize = 48;

/// The largest shard body the CAS accepts.
pub const MAX_SHARD_SIZE: usize = 64 * 1024 * 1024;

const FLAG_VERIFICATION: u32 = 1 << 31;
const FLAG_METADATA_EXT: u32 = 1 << 30;

/// A file as a shard describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFile {
    /// The Xet file hash (not checked by the hub).
    pub file_hash: XetHash,
    /// The sha256 the reconstructed bytes must have, as LFS hex.
    pub sha256: String,
    pub terms: Vec<Term>,
}

impl ShardFile {
    /// The file's length: the sum of its terms' unpacked bytes.
    pub fn size(&self) -> u64 {
        self.terms.iter().map(|t| u64::from(t.unpacked_bytes)).sum()
    }
}

/// A run of chunks `[chunk_start, chunk_end)` of one xorb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub xorb: XetHash,
    pub unpacked_bytes: u32,
    pub chunk_start: u32,
    pub chunk_end: u32,
}

/// What a shard upload carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shard {
    pub files: Vec<ShardFile>,
    /// The xorbs the CAS section lists (those the client created).
    pub xorbs: Vec<XetHash>,
}

/// Parses a shard upload body.
pub fn parse(body: &[u8]) -> Result<Shard> {
    if body.len() > MAX_SHARD_SIZE {
        return Err(Error::too_large(format!(
            "a shard has at most {MAX_SHARD_SIZE} bytes"
        )));
    }
    let mut r = Reader { body, at: 0 };
    let tag = r.take(32, "header")?;
    if tag != SHARD_TAG {
        return Err(bad("not a shard (wrong magic tag)"));
    }
    let version = r.u64("header")?;
    if version != SHARD_VERSION {
        return Err(bad(format!(
            "shard version {version}; only version {SHARD_VERSION} is supported"
        )));
    }
    let _footer_size = r.u64("header")?;
    let mut shard = Shard::default();
    loop {
        let header = r.take(ENTRY_LEN, "file section")?;
        let file_hash = hash_at(header);
        if file_hash == XetHash::BOOKEND {
            break;
        }
        shard.files.push(parse_file(&mut r, file_hash, header)?);
    }
    // The CAS section, when present, must be well formed up to its bookend.
    while r.remaining() > 0 {
        let header = r.take(ENTRY_LEN, "xorb section")?;
        let xorb = hash_at(header);
        if xorb == XetHash::BOOKEND {
            break;
        }
        let entries = u32_at(header, 36);
        r.take_entries(entries, "xorb section")?;
        shard.xorbs.push(xorb);
    }
    Ok(shard)
}

fn parse_file(r: &mut Reader<'_>, file_hash: XetHash, header: &[u8]) -> Result<ShardFile> {
    let flags = u32_at(header, 32);
    let count = u32_at(header, 36);
    let terms_bytes = r.take_entries(count, "file entries")?;
    let terms = terms_bytes
        .chunks_exact(ENTRY_LEN)
        .map(|e| Term {
            xorb: hash_at(e),
            unpacked_bytes: u32_at(e, 36),
            chunk_start: u32_at(e, 40),
            chunk_end: u32_at(e, 44),
        })
        .collect::<Vec<_>>();
    for t in &terms {
        if t.chunk_start >= t.chunk_end {
            return Err(bad(format!(
                "file {file_hash}: empty or reversed chunk range [{}, {}) of xorb {}",
                t.chunk_start, t.chunk_end, t.xorb
            )));
        }
    }
    if flags & FLAG_VERIFICATION != 0 {
        r.take_entries(count, "verification entries")?;
    }
    if flags & FLAG_METADATA_EXT == 0 {
        return Err(bad(format!(
            "file {file_hash} carries no sha256 (metadata extension); the hub needs it to \
             verify the file; upgrade hf_xet"
        )));
    }
    let ext = r.take(ENTRY_LEN, "metadata extension")?;
    Ok(ShardFile {
        file_hash,
        sha256: hash_at(ext).to_hex(),
        terms,
    })
}

struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.body.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.body.len())
            .ok_or_else(|| bad(format!("truncated in the {what}")))?;
        let out = &self.body[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// `count` records of [`ENTRY_LEN`] bytes, checked against what is left
    /// before anything is allocated.
    fn take_entries(&mut self, count: u32, what: &str) -> Result<&'a [u8]> {
        let n = (count as usize)
            .checked_mul(ENTRY_LEN)
            .ok_or_else(|| bad(format!("impossible count in the {what}")))?;
        self.take(n, what)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let b = self.take(8, what)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}

fn hash_at(entry: &[u8]) -> XetHash {
    XetHash::from_slice(entry).expect("entries are 48 bytes")
}

fn u32_at(entry: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(entry[at..at + 4].try_into().expect("4 bytes"))
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid(format!("invalid shard: {}", message.into()))
}

/// A xorb as a dedupe answer lists it: each chunk's uncompressed length,
/// and its hash where the answer offers that chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedXorb {
    pub hash: XetHash,
    /// Its stored length (chunks, footer excluded).
    pub stored_len: u32,
    pub chunks: Vec<(Option<XetHash>, u32)>,
}

/// The length of the footer at the end of a full shard.
pub const FOOTER_LEN: usize = 200;
const FOOTER_VERSION: u64 = 1;

/// Encodes a full shard that lists `xorbs` and no files, as Xet's global
/// dedupe answers: a header, an empty file section, the CAS section, the
/// lookup tables (xorbs and chunks by the first 8 bytes of their hash,
/// little-endian, sorted) and the 200-byte footer hf_xet reads from the end.
///
/// Chunk hashes are keyed with `key` (a blake3 keyed hash, the key in the
/// footer): a client can match only chunks whose hashes it computed from
/// content it holds, so the answer tells it nothing about other chunks.
/// A chunk the answer does not offer is listed under the zero hash (its
/// place must stay, since a match names chunks by position) and left out
/// of the lookup table. `created` and `expires` are Unix seconds; the
/// client forgets the answer after `expires`.
pub fn xorb_index(xorbs: &[IndexedXorb], key: &[u8; 32], created: u64, expires: u64) -> Vec<u8> {
    let mut sorted: Vec<&IndexedXorb> = xorbs.iter().collect();
    sorted.sort_by_key(|x| (truncated(&x.hash), x.hash.0));
    let mut out = SHARD_TAG.to_vec();
    out.extend_from_slice(&SHARD_VERSION.to_le_bytes());
    out.extend_from_slice(&(FOOTER_LEN as u64).to_le_bytes());
    let file_info_offset = out.len();
    out.extend_from_slice(&BOOKEND_ENTRY);
    let xorb_info_offset = out.len();
    let mut xorb_lookup = Vec::with_capacity(sorted.len());
    let mut chunk_lookup = Vec::new();
    let (mut on_disk, mut unpacked_total) = (0u64, 0u64);
    // A xorb's place: the index, in entries, of its header in the section.
    let mut place = 0u32;
    for x in sorted {
        xorb_lookup.push((truncated(&x.hash), place));
        let unpacked: u32 = x.chunks.iter().map(|&(_, n)| n).sum();
        out.extend_from_slice(&x.hash.0);
        for n in [0, x.chunks.len() as u32, unpacked, x.stored_len] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        let mut start = 0u32;
        for (i, &(hash, len)) in x.chunks.iter().enumerate() {
            let keyed = hash.map(|h| XetHash(*blake3::keyed_hash(key, &h.0).as_bytes()));
            if let Some(k) = &keyed {
                chunk_lookup.push((truncated(k), place, i as u32));
            }
            out.extend_from_slice(&keyed.unwrap_or_default().0);
            for n in [start, len, 0, 0] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            start += len;
        }
        place += 1 + x.chunks.len() as u32;
        on_disk += u64::from(x.stored_len);
        unpacked_total += u64::from(unpacked);
    }
    out.extend_from_slice(&BOOKEND_ENTRY);
    let file_lookup_offset = out.len();
    let xorb_lookup_offset = out.len();
    for (k, place) in &xorb_lookup {
        out.extend_from_slice(&k.to_le_bytes());
        out.extend_from_slice(&place.to_le_bytes());
    }
    chunk_lookup.sort_unstable();
    let chunk_lookup_offset = out.len();
    for (k, place, i) in &chunk_lookup {
        out.extend_from_slice(&k.to_le_bytes());
        out.extend_from_slice(&place.to_le_bytes());
        out.extend_from_slice(&i.to_le_bytes());
    }
    let footer_offset = out.len();
    for n in [
        FOOTER_VERSION,
        file_info_offset as u64,
        xorb_info_offset as u64,
        file_lookup_offset as u64,
        0,
        xorb_lookup_offset as u64,
        xorb_lookup.len() as u64,
        chunk_lookup_offset as u64,
        chunk_lookup.len() as u64,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(key);
    for n in [
        created,
        expires,
        0,
        0,
        0,
        0,
        0,
        0,
        on_disk,
        0,
        unpacked_total,
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&(footer_offset as u64).to_le_bytes());
    debug_assert_eq!(out.len(), footer_offset + FOOTER_LEN);
    out
}

/// A hash's first 8 bytes as the little-endian number lookup tables use.
fn truncated(hash: &XetHash) -> u64 {
    u64::from_le_bytes(hash.0[..8].try_into().expect("8 bytes"))
}

/// The entry that closes an info section.
const BOOKEND_ENTRY: [u8; ENTRY_LEN] = {
    let mut b = [0u8; ENTRY_LEN];
    let mut i = 0;
    while i < 32 {
        b[i] = 0xff;
        i += 1;
    }
    b
};

/// Builds shard bodies as hf_xet serializes them (for tests).
#[derive(Debug, Default)]
pub struct ShardBuilder {
    files: Vec<u8>,
    xorbs: Vec<u8>,
}

impl ShardBuilder {
    /// Adds a file with the given terms and sha256 (LFS hex).
    pub fn file(mut self, file_hash: XetHash, terms: &[Term], sha256_hex: &str) -> ShardBuilder {
        self.files.extend_from_slice(&file_hash.0);
        self.files
            .extend_from_slice(&(FLAG_METADATA_EXT | FLAG_VERIFICATION).to_le_bytes());
        self.files
            .extend_from_slice(&(terms.len() as u32).to_le_bytes());
        self.files.extend_from_slice(&[0; 8]);
        for t in terms {
            self.files.extend_from_slice(&t.xorb.0);
            self.files.extend_from_slice(&0u32.to_le_bytes());
            self.files
                .extend_from_slice(&t.unpacked_bytes.to_le_bytes());
            self.files.extend_from_slice(&t.chunk_start.to_le_bytes());
            self.files.extend_from_slice(&t.chunk_end.to_le_bytes());
        }
        for _ in terms {
            self.files.extend_from_slice(&[0x5a; ENTRY_LEN]);
        }
        let sha = XetHash::from_hex(sha256_hex).expect("64 hex digits");
        self.files.extend_from_slice(&sha.0);
        self.files.extend_from_slice(&[0; 16]);
        self
    }

    /// Lists a xorb with `chunks` chunks in the CAS section.
    pub fn xorb(mut self, hash: XetHash, chunks: u32) -> ShardBuilder {
        self.xorbs.extend_from_slice(&hash.0);
        self.xorbs.extend_from_slice(&0u32.to_le_bytes());
        self.xorbs.extend_from_slice(&chunks.to_le_bytes());
        self.xorbs.extend_from_slice(&[0; 8]);
        for i in 0..chunks {
            self.xorbs.extend_from_slice(&[i as u8; 32]);
            self.xorbs.extend_from_slice(&[0; 16]);
        }
        self
    }

    pub fn build(self) -> Vec<u8> {
        let mut out = SHARD_TAG.to_vec();
        out.extend_from_slice(&SHARD_VERSION.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&self.files);
        out.extend_from_slice(&BOOKEND_ENTRY);
        out.extend_from_slice(&self.xorbs);
        out.extend_from_slice(&BOOKEND_ENTRY);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "422e06281a68b6a268ef884c4bd2fea75bcbb20033a4051b3fec9880e38c54f2";

    fn term(x: u8, unpacked: u32, start: u32, end: u32) -> Term {
        Term {
            xorb: XetHash([x; 32]),
            unpacked_bytes: unpacked,
            chunk_start: start,
            chunk_end: end,
        }
    }

    #[test]
    fn files_and_xorbs_are_read_back() {
        let terms = [term(1, 300, 0, 3), term(2, 50, 4, 5)];
        let body = ShardBuilder::default()
            .file(XetHash([9; 32]), &terms, SHA)
            .file(XetHash([8; 32]), &[], &"e3".repeat(32))
            .xorb(XetHash([1; 32]), 3)
            .build();
        let shard = parse(&body).unwrap();
        assert_eq!(shard.files.len(), 2);
        assert_eq!(shard.files[0].terms, terms);
        assert_eq!(shard.files[0].sha256, SHA);
        assert_eq!(shard.files[0].size(), 350);
        assert_eq!(shard.files[0].file_hash, XetHash([9; 32]));
        assert_eq!(shard.files[1].terms, []);
        assert_eq!(shard.xorbs, [XetHash([1; 32])]);
        // Trailing lookup tables or a footer are ignored; a missing CAS section too.
        let mut longer = body.clone();
        longer.extend_from_slice(&[1, 2, 3]);
        assert_eq!(parse(&longer).unwrap(), shard);
        let files_only = body.len() - 48 - 48 * 4;
        assert_eq!(parse(&body[..files_only]).unwrap().files, shard.files);
    }

    #[test]
    fn the_sha256_is_stored_in_xet_order() {
        // The first group of the sha256 "422e0628 1a68b6a2" is stored reversed.
        let body = ShardBuilder::default()
            .file(XetHash::default(), &[term(1, 1, 0, 1)], SHA)
            .build();
        let at = 48 + 48 + 48 + 48;
        assert_eq!(
            &body[at..at + 8],
            &[0xa2, 0xb6, 0x68, 0x1a, 0x28, 0x06, 0x2e, 0x42]
        );
        assert_eq!(parse(&body).unwrap().files[0].sha256, SHA);
    }

    /// What hf_xet does with a dedupe answer: finds the first of `query`
    /// (unkeyed chunk hashes) through the chunk lookup table, then matches
    /// as many as follow in that xorb; returns the xorb and chunk range.
    fn client_match(shard: &[u8], query: &[XetHash]) -> Option<(XetHash, u32, u32, u32)> {
        let u64_at = |at: usize| u64::from_le_bytes(shard[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(shard[at..at + 4].try_into().unwrap());
        let footer = shard.len() - FOOTER_LEN;
        assert_eq!(u64_at(40), FOOTER_LEN as u64, "footer size in the header");
        assert_eq!(u64_at(footer), 1, "footer version");
        assert_eq!(u64_at(footer + 192), footer as u64, "footer offset");
        let xorb_info = u64_at(footer + 16) as usize;
        let (lookup, entries) = (u64_at(footer + 56) as usize, u64_at(footer + 64) as usize);
        let key: [u8; 32] = shard[footer + 72..footer + 104].try_into().unwrap();
        let keyed = |h: &XetHash| *blake3::keyed_hash(&key, &h.0).as_bytes();
        let first = keyed(&query[0]);
        let truncated = u64::from_le_bytes(first[..8].try_into().unwrap());
        let keys: Vec<u64> = (0..entries).map(|i| u64_at(lookup + 16 * i)).collect();
        assert!(keys.is_sorted());
        let i = keys.iter().position(|&k| k == truncated)?;
        let (place, offset) = (u32_at(lookup + 16 * i + 8), u32_at(lookup + 16 * i + 12));
        let header = xorb_info + ENTRY_LEN * place as usize;
        let count = u32_at(header + 36);
        let mut bytes = 0;
        let mut n = 0;
        while offset + n < count && (n as usize) < query.len() {
            let at = header + ENTRY_LEN * (1 + (offset + n) as usize);
            if shard[at..at + 32] != keyed(&query[n as usize]) {
                break;
            }
            bytes += u32_at(at + 36);
            n += 1;
        }
        Some((hash_at(&shard[header..]), offset, offset + n, bytes))
    }

    #[test]
    fn a_dedupe_answer_matches_held_chunks_only_and_parses_as_a_shard() {
        let c = |i: u8| XetHash([i; 32]);
        let xorbs = [
            IndexedXorb {
                hash: c(200),
                stored_len: 900,
                chunks: vec![
                    (Some(c(1)), 100),
                    (Some(c(2)), 200),
                    (None, 300),
                    (Some(c(4)), 400),
                ],
            },
            IndexedXorb {
                hash: c(100),
                stored_len: 50,
                chunks: vec![(Some(c(9)), 50)],
            },
        ];
        let body = xorb_index(&xorbs, &[7; 32], 1_000, 4_600);
        // A run stops where the answer leaves a chunk out, and where the
        // client's own chunks stop matching.
        assert_eq!(
            client_match(&body, &[c(1), c(2), c(3), c(4)]),
            Some((c(200), 0, 2, 300))
        );
        assert_eq!(
            client_match(&body, &[c(2), c(5)]),
            Some((c(200), 1, 2, 200))
        );
        assert_eq!(client_match(&body, &[c(4)]), Some((c(200), 3, 4, 400)));
        assert_eq!(client_match(&body, &[c(9), c(1)]), Some((c(100), 0, 1, 50)));
        assert_eq!(client_match(&body, &[c(3)]), None, "left out");
        assert_eq!(client_match(&body, &[c(8)]), None, "never stored");
        // Plain chunk hashes appear nowhere: only keyed ones.
        assert!(!body.windows(32).any(|w| w == c(1).0 || w == c(4).0));
        let parsed = parse(&body).unwrap();
        assert!(parsed.files.is_empty());
        assert_eq!(parsed.xorbs, [c(100), c(200)], "sorted by the lookup key");
        let footer = body.len() - FOOTER_LEN;
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().unwrap());
        assert_eq!((u64_at(footer + 104), u64_at(footer + 112)), (1_000, 4_600));
        assert_eq!((u64_at(footer + 168), u64_at(footer + 184)), (950, 1_050));
    }

    #[test]
    fn malformed_shards_are_refused_with_a_reason() {
        let good = ShardBuilder::default()
            .file(XetHash([9; 32]), &[term(1, 300, 0, 3)], SHA)
            .xorb(XetHash([1; 32]), 3)
            .build();
        let reason = |body: &[u8]| parse(body).unwrap_err().to_string();
        assert!(reason(&[]).contains("truncated"));
        let mut tag = good.clone();
        tag[0] = b'X';
        assert!(reason(&tag).contains("magic"));
        let mut version = good.clone();
        version[32] = 3;
        assert!(reason(&version).contains("version 3"));
        assert!(reason(&good[..48 + 48 + 20]).contains("truncated"));
        let mut no_ext = good.clone();
        no_ext[48 + 35] &= !0x40;
        assert!(reason(&no_ext).contains("sha256"));
        let mut reversed = good.clone();
        reversed[48 + 48 + 40] = 7; // chunk_start 7 > chunk_end 3
        assert!(reason(&reversed).contains("range"));
        let mut huge = good.clone();
        huge[48 + 36..48 + 40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(reason(&huge).contains("truncated"));
        // No bookend at all.
        let mut unended = SHARD_TAG.to_vec();
        unended.extend_from_slice(&2u64.to_le_bytes());
        unended.extend_from_slice(&0u64.to_le_bytes());
        assert!(reason(&unended).contains("truncated"));
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        let good = ShardBuilder::default()
            .file(
                XetHash([9; 32]),
                &[term(1, 300, 0, 3), term(2, 9, 1, 2)],
                SHA,
            )
            .file(XetHash([7; 32]), &[term(3, 1, 0, 1)], SHA)
            .xorb(XetHash([1; 32]), 3)
            .build();
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..5000 {
            let mut body = good.clone();
            for _ in 0..(1 + round % 6) {
                let i = (next() as usize) % body.len();
                body[i] = next() as u8;
            }
            let _ = parse(&body);
            let mut random = SHARD_TAG.to_vec();
            random.extend((0..(next() % 400)).map(|_| next() as u8));
            let _ = parse(&random);
        }
    }
}
