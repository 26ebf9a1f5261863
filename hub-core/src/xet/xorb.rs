//! Xorbs: the serialized chunk containers hf_xet uploads.
//!
//! A xorb is a plain sequence of chunks, each an 8-byte header followed by
//! its (possibly compressed) bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, 0 |
//! | 3 | compressed length, little-endian |
//! | 1 | compression scheme: 0 none, 1 LZ4 frame, 2 BG4 (LZ4 frame of the bytes grouped by position mod 4) |
//! | 3 | uncompressed length, little-endian |
//!
//! Clients upload xorbs without a footer; one that carries xet-core's
//! storage footer (starting with `XETBLOB`) is accepted and the footer
//! dropped. Every chunk is decoded and checked on upload, and the xorb's
//! name must be the Merkle hash of its chunks ([`XetHash::of_xorb`]), so a
//! stored xorb is exactly the content its hash names.
//!
//! Nothing here panics on hostile input: lengths are checked before use and
//! decoded sizes are bounded by [`MAX_CHUNK_SIZE`].

use std::io::Read;

use crate::error::{Error, Result};
use crate::xet::hash::XetHash;

/// The Xet protocol's limit on a xorb: 64 MiB of chunk data.
pub const MAX_XORB_SIZE: usize = 64 * 1024 * 1024;

/// Room beyond [`MAX_XORB_SIZE`] for what comes with the data: hf_xet fills
/// a xorb with up to 64 MiB of chunks (possibly one chunk more) and adds 8
/// header bytes per chunk, so incompressible data goes a little past 64 MiB;
/// a storage footer adds about 40 bytes per chunk.
pub const MAX_FOOTER_SIZE: usize = 1024 * 1024;

/// The largest xorb body the CAS accepts.
pub const MAX_XORB_BODY: usize = MAX_XORB_SIZE + MAX_FOOTER_SIZE;

/// The largest uncompressed chunk: chunking targets 64 KiB and cuts at
/// twice that at most.
pub const MAX_CHUNK_SIZE: usize = 128 * 1024;

pub const CHUNK_HEADER_LEN: usize = 8;

/// The start of xet-core's storage footer.
const FOOTER_IDENT: &[u8] = b"XETBLOB";

/// How a chunk's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    None,
    Lz4,
    /// Byte grouping by 4, then LZ4: good for floats.
    Bg4Lz4,
}

impl Scheme {
    fn parse(byte: u8) -> Option<Scheme> {
        match byte {
            0 => Some(Scheme::None),
            1 => Some(Scheme::Lz4),
            2 => Some(Scheme::Bg4Lz4),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Scheme::None => 0,
            Scheme::Lz4 => 1,
            Scheme::Bg4Lz4 => 2,
        }
    }
}

/// One chunk's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub compressed_len: usize,
    pub scheme: Scheme,
    pub uncompressed_len: usize,
}

impl ChunkHeader {
    /// Reads a header from the first 8 bytes of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<ChunkHeader> {
        let Some(h) = bytes.get(..CHUNK_HEADER_LEN) else {
            return Err(bad(format!(
                "truncated chunk header ({} bytes)",
                bytes.len()
            )));
        };
        if h[0] != 0 {
            return Err(bad(format!("unknown chunk header version {}", h[0])));
        }
        let u24 = |b: &[u8]| usize::from(b[0]) | usize::from(b[1]) << 8 | usize::from(b[2]) << 16;
        let scheme = Scheme::parse(h[4])
            .ok_or_else(|| bad(format!("unknown compression scheme {}", h[4])))?;
        let header = ChunkHeader {
            compressed_len: u24(&h[1..4]),
            scheme,
            uncompressed_len: u24(&h[5..8]),
        };
        if header.uncompressed_len > MAX_CHUNK_SIZE {
            return Err(bad(format!(
                "chunk of {} bytes; chunks are at most {MAX_CHUNK_SIZE}",
                header.uncompressed_len
            )));
        }
        if header.scheme == Scheme::None && header.compressed_len != header.uncompressed_len {
            return Err(bad("uncompressed chunk with two different lengths"));
        }
        Ok(header)
    }

    /// The 8 header bytes (for building xorbs in tests and tools).
    #[must_use]
    pub fn to_bytes(&self) -> [u8; CHUNK_HEADER_LEN] {
        let c = (self.compressed_len as u32).to_le_bytes();
        let u = (self.uncompressed_len as u32).to_le_bytes();
        [0, c[0], c[1], c[2], self.scheme.code(), u[0], u[1], u[2]]
    }
}

/// What the hub keeps about a valid xorb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XorbLayout {
    /// The Merkle hash of its chunks: the xorb's name.
    pub hash: XetHash,
    /// Where each chunk's header starts, then where the last chunk ends
    /// (one more entry than there are chunks).
    pub chunk_offsets: Vec<u32>,
    /// Each chunk's uncompressed length.
    pub chunk_sizes: Vec<u32>,
    /// Each chunk's hash (for the hub's chunk index).
    pub chunk_hashes: Vec<XetHash>,
}

impl XorbLayout {
    pub fn chunk_count(&self) -> usize {
        self.chunk_sizes.len()
    }

    /// The length of the chunks, footer excluded: what is stored.
    pub fn stored_len(&self) -> usize {
        self.chunk_offsets.last().map_or(0, |&end| end as usize)
    }
}

/// Parses and decodes every chunk of `body`, and computes the xorb's hash.
/// Fails on anything malformed: a truncated or unknown header, a chunk that
/// does not decode to its announced length, trailing bytes that are not a
/// storage footer, an empty or oversized xorb.
pub fn validate(body: &[u8]) -> Result<XorbLayout> {
    if body.len() > MAX_XORB_BODY {
        return Err(Error::too_large(format!(
            "a xorb has at most {MAX_XORB_BODY} bytes"
        )));
    }
    let mut offsets = Vec::new();
    let mut sizes = Vec::new();
    let mut hashes = Vec::new();
    let mut at = 0usize;
    let mut scratch = Vec::with_capacity(MAX_CHUNK_SIZE);
    while at < body.len() {
        let rest = &body[at..];
        if rest.starts_with(FOOTER_IDENT) {
            break;
        }
        let (header, data) = split_chunk(rest).map_err(|e| in_chunk(e, offsets.len()))?;
        let decoded = if header.scheme == Scheme::None {
            data
        } else {
            scratch.clear();
            decode_into(&header, data, &mut scratch).map_err(|e| in_chunk(e, offsets.len()))?;
            &scratch
        };
        hashes.push((XetHash::of_chunk(decoded), decoded.len() as u64));
        offsets.push(at as u32);
        sizes.push(header.uncompressed_len as u32);
        at += CHUNK_HEADER_LEN + header.compressed_len;
    }
    if sizes.is_empty() {
        return Err(bad("a xorb needs at least one chunk"));
    }
    offsets.push(at as u32);
    Ok(XorbLayout {
        hash: XetHash::of_xorb(&hashes),
        chunk_offsets: offsets,
        chunk_sizes: sizes,
        chunk_hashes: hashes.into_iter().map(|(h, _)| h).collect(),
    })
}

/// Decodes consecutive chunks from `bytes` (a range of a stored xorb that
/// starts at a chunk header), appending their data to `out`; there must be
/// exactly `expected.len()` chunks with those uncompressed lengths.
pub fn decode_chunks(bytes: &[u8], expected: &[u32], out: &mut Vec<u8>) -> Result<()> {
    let mut rest = bytes;
    for (i, &size) in expected.iter().enumerate() {
        let (header, data) = split_chunk(rest).map_err(|e| in_chunk(e, i))?;
        if header.uncompressed_len != size as usize {
            return Err(in_chunk(
                bad(format!(
                    "{} bytes where {size} were recorded",
                    header.uncompressed_len
                )),
                i,
            ));
        }
        decode_into(&header, data, out).map_err(|e| in_chunk(e, i))?;
        rest = &rest[CHUNK_HEADER_LEN + header.compressed_len..];
    }
    if !rest.is_empty() {
        return Err(bad(format!(
            "{} bytes after the expected chunks",
            rest.len()
        )));
    }
    Ok(())
}

/// [`decode_chunks`] without copying what needs no decoding: the data of
/// each chunk stored as it is comes back as a slice of `bytes`, the others
/// decoded each into a buffer of their own. Whether any chunk needs
/// decoding (CPU work: callers do it off the async runtime) is
/// [`needs_decoding`].
pub fn decode_pieces(bytes: &bytes::Bytes, expected: &[u32]) -> Result<Vec<bytes::Bytes>> {
    let mut pieces = Vec::with_capacity(expected.len());
    let mut at = 0;
    for (i, &size) in expected.iter().enumerate() {
        let (header, data) = split_chunk(&bytes[at..]).map_err(|e| in_chunk(e, i))?;
        if header.uncompressed_len != size as usize {
            return Err(in_chunk(
                bad(format!(
                    "{} bytes where {size} were recorded",
                    header.uncompressed_len
                )),
                i,
            ));
        }
        let start = at + CHUNK_HEADER_LEN;
        if header.scheme == Scheme::None {
            pieces.push(bytes.slice(start..start + data.len()));
        } else {
            let mut out = Vec::with_capacity(header.uncompressed_len);
            decode_into(&header, data, &mut out).map_err(|e| in_chunk(e, i))?;
            pieces.push(bytes::Bytes::from(out));
        }
        at = start + header.compressed_len;
    }
    if at != bytes.len() {
        return Err(bad(format!(
            "{} bytes after the expected chunks",
            bytes.len() - at
        )));
    }
    Ok(pieces)
}

/// Whether any of the chunks at the start of `bytes` is compressed (stops
/// at the first malformed header: decoding then reports it).
pub fn needs_decoding(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Ok((header, _)) = split_chunk(rest) {
        if header.scheme != Scheme::None {
            return true;
        }
        rest = &rest[CHUNK_HEADER_LEN + header.compressed_len..];
    }
    false
}

/// One chunk's header and its stored bytes, from the start of `bytes`.
fn split_chunk(bytes: &[u8]) -> Result<(ChunkHeader, &[u8])> {
    let header = ChunkHeader::parse(bytes)?;
    let data = bytes
        .get(CHUNK_HEADER_LEN..CHUNK_HEADER_LEN + header.compressed_len)
        .ok_or_else(|| {
            bad(format!(
                "truncated chunk: {} bytes announced, {} present",
                header.compressed_len,
                bytes.len() - CHUNK_HEADER_LEN
            ))
        })?;
    Ok((header, data))
}

/// Appends the decoded bytes of one chunk to `out`.
fn decode_into(header: &ChunkHeader, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    match header.scheme {
        Scheme::None => out.extend_from_slice(data),
        Scheme::Lz4 => lz4_frame(data, header.uncompressed_len, out)?,
        Scheme::Bg4Lz4 => {
            let mut grouped = Vec::with_capacity(header.uncompressed_len);
            lz4_frame(data, header.uncompressed_len, &mut grouped)?;
            bg4_ungroup(&grouped, out);
        }
    }
    let decoded = out.len() - start;
    if decoded != header.uncompressed_len {
        return Err(bad(format!(
            "decodes to {decoded} bytes, not the announced {}",
            header.uncompressed_len
        )));
    }
    Ok(())
}

/// Decompresses one LZ4 frame, reading at most one byte more than `limit`
/// (so an oversized frame is noticed without being inflated).
fn lz4_frame(data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<()> {
    let decoder = lz4_flex::frame::FrameDecoder::new(data);
    decoder
        .take(limit as u64 + 1)
        .read_to_end(out)
        .map_err(|e| bad(format!("invalid LZ4 data: {e}")))?;
    Ok(())
}

/// Undoes byte grouping: `grouped` holds 4 groups (sizes `n/4`, plus one
/// for the first `n % 4`); output byte `j` is taken from group `j % 4`.
pub fn bg4_ungroup(grouped: &[u8], out: &mut Vec<u8>) {
    let n = grouped.len();
    let (base, extra) = (n / 4, n % 4);
    let mut starts = [0usize; 4];
    for g in 1..4 {
        starts[g] = starts[g - 1] + base + usize::from(g - 1 < extra);
    }
    out.reserve(n);
    out.extend((0..n).map(|j| grouped[starts[j % 4] + j / 4]));
}

/// Byte grouping, the inverse of [`bg4_ungroup`] (for tests and tools).
#[must_use]
pub fn bg4_group(data: &[u8]) -> Vec<u8> {
    (0..4)
        .flat_map(|g| data.iter().skip(g).step_by(4).copied())
        .collect()
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid(format!("invalid xorb: {}", message.into()))
}

fn in_chunk(e: Error, index: usize) -> Error {
    match e {
        Error::InvalidInput(m) => Error::invalid(format!("{m} (chunk {index})")),
        other => other,
    }
}

/// Builds a xorb chunk by chunk, serialized as hf_xet does it: the hub's
/// own xorbs (files it chunks itself) and tests' xorbs.
#[derive(Debug, Default)]
pub struct XorbBuilder {
    pub bytes: Vec<u8>,
    chunks: Vec<(XetHash, u64)>,
    offsets: Vec<u32>,
}

impl XorbBuilder {
    /// Appends `data` as one chunk stored with `scheme`.
    pub fn chunk(mut self, data: &[u8], scheme: Scheme) -> XorbBuilder {
        self.push(data, XetHash::of_chunk(data), scheme);
        self
    }

    /// Appends `data`, whose chunk hash is `hash`, stored with `scheme`;
    /// returns its index in the xorb.
    pub fn push(&mut self, data: &[u8], hash: XetHash, scheme: Scheme) -> u32 {
        let stored = match scheme {
            Scheme::None => None,
            Scheme::Lz4 => Some(lz4_compress(data)),
            Scheme::Bg4Lz4 => Some(lz4_compress(&bg4_group(data))),
        };
        let (stored, scheme) = match &stored {
            Some(s) => (s.as_slice(), scheme),
            None => (data, Scheme::None),
        };
        let header = ChunkHeader {
            compressed_len: stored.len(),
            scheme,
            uncompressed_len: data.len(),
        };
        self.offsets.push(self.bytes.len() as u32);
        self.bytes.extend_from_slice(&header.to_bytes());
        self.bytes.extend_from_slice(stored);
        self.chunks.push((hash, data.len() as u64));
        (self.chunks.len() - 1) as u32
    }

    /// Appends `data` LZ4-compressed if that saves an eighth, else as it is.
    pub fn push_compressible(&mut self, data: &[u8], hash: XetHash) -> u32 {
        let compressed = lz4_compress(data);
        let start = self.bytes.len();
        if compressed.len() < data.len() - data.len() / 8 {
            let header = ChunkHeader {
                compressed_len: compressed.len(),
                scheme: Scheme::Lz4,
                uncompressed_len: data.len(),
            };
            self.offsets.push(start as u32);
            self.bytes.extend_from_slice(&header.to_bytes());
            self.bytes.extend_from_slice(&compressed);
            self.chunks.push((hash, data.len() as u64));
            (self.chunks.len() - 1) as u32
        } else {
            self.push(data, hash, Scheme::None)
        }
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The hash the xorb's chunks give it.
    pub fn hash(&self) -> XetHash {
        XetHash::of_xorb(&self.chunks)
    }

    /// The serialized xorb and its layout.
    pub fn finish(self) -> (Vec<u8>, XorbLayout) {
        let mut chunk_offsets = self.offsets;
        chunk_offsets.push(self.bytes.len() as u32);
        let layout = XorbLayout {
            hash: XetHash::of_xorb(&self.chunks),
            chunk_offsets,
            chunk_sizes: self.chunks.iter().map(|&(_, n)| n as u32).collect(),
            chunk_hashes: self.chunks.iter().map(|&(h, _)| h).collect(),
        };
        (self.bytes, layout)
    }
}

fn lz4_compress(data: &[u8]) -> Vec<u8> {
    let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
    std::io::Write::write_all(&mut encoder, data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| ((i as f32) * 0.25).to_le_bytes())
            .collect()
    }

    fn text(n: usize) -> Vec<u8> {
        b"the quick brown fox jumps over the lazy dog. "
            .iter()
            .cycle()
            .take(n)
            .copied()
            .collect()
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn decoded(body: &[u8], layout: &XorbLayout) -> Vec<u8> {
        let mut out = Vec::new();
        let end = layout.stored_len();
        decode_chunks(&body[..end], &layout.chunk_sizes, &mut out).unwrap();
        out
    }

    #[test]
    fn raw_lz4_and_bg4_chunks_decode() {
        let (a, b, c) = (noise(1000, 1), text(70_000), floats(10_001));
        let xorb = XorbBuilder::default()
            .chunk(&a, Scheme::None)
            .chunk(&b, Scheme::Lz4)
            .chunk(&c, Scheme::Bg4Lz4);
        let layout = validate(&xorb.bytes).unwrap();
        assert_eq!(layout.hash, xorb.hash());
        assert_eq!(layout.chunk_count(), 3);
        assert_eq!(
            layout.chunk_sizes,
            vec![a.len() as u32, b.len() as u32, c.len() as u32]
        );
        assert_eq!(layout.chunk_offsets[0], 0);
        assert_eq!(layout.chunk_offsets[1], 8 + 1000);
        assert_eq!(layout.stored_len(), xorb.bytes.len());
        assert!(xorb.bytes.len() < a.len() + b.len() + c.len(), "compressed");
        assert_eq!(decoded(&xorb.bytes, &layout), [a, b, c].concat());
    }

    #[test]
    fn a_range_of_chunks_decodes_alone() {
        let parts: Vec<Vec<u8>> = (0..5).map(|i| noise(3000 + i, i as u64)).collect();
        let mut xorb = XorbBuilder::default();
        for p in &parts {
            xorb = xorb.chunk(p, Scheme::Lz4);
        }
        let layout = validate(&xorb.bytes).unwrap();
        let (s, e) = (1usize, 4usize);
        let range = layout.chunk_offsets[s] as usize..layout.chunk_offsets[e] as usize;
        let mut out = Vec::new();
        decode_chunks(
            &xorb.bytes[range.clone()],
            &layout.chunk_sizes[s..e],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, parts[s..e].concat());
        // Recorded sizes that disagree with the stored chunks are an error.
        let mut wrong = layout.chunk_sizes[s..e].to_vec();
        wrong[1] += 1;
        assert!(decode_chunks(&xorb.bytes[range.clone()], &wrong, &mut Vec::new()).is_err());
        assert!(decode_chunks(&xorb.bytes[range], &wrong[..2], &mut Vec::new()).is_err());
    }

    #[test]
    fn bg4_grouping_round_trips_for_every_remainder() {
        for n in 0..40 {
            let data = noise(n, n as u64 + 7);
            let grouped = bg4_group(&data);
            assert_eq!(grouped.len(), n);
            let mut back = Vec::new();
            bg4_ungroup(&grouped, &mut back);
            assert_eq!(back, data, "n = {n}");
        }
        // Group 0 holds bytes 0, 4, 8; group 1 bytes 1, 5, 9; ...
        assert_eq!(
            bg4_group(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            [0, 4, 8, 1, 5, 9, 2, 6, 3, 7]
        );
    }

    #[test]
    fn full_xorbs_of_incompressible_data_fit() {
        // hf_xet fills xorbs with 64 MiB of chunks and may add one more:
        // with raw chunks the body passes 64 MiB by the headers and that chunk.
        let chunk = noise(MAX_CHUNK_SIZE, 9);
        let mut xorb = XorbBuilder::default();
        for _ in 0..=MAX_XORB_SIZE / MAX_CHUNK_SIZE {
            xorb = xorb.chunk(&chunk, Scheme::None);
        }
        assert!(xorb.bytes.len() > MAX_XORB_SIZE + MAX_CHUNK_SIZE);
        let layout = validate(&xorb.bytes).unwrap();
        assert_eq!(layout.chunk_count(), 513);
        let mut too_big = xorb.bytes;
        too_big.resize(MAX_XORB_BODY + 1, 0);
        assert!(matches!(validate(&too_big), Err(Error::PayloadTooLarge(_))));
    }

    #[test]
    fn a_storage_footer_is_dropped() {
        let xorb = XorbBuilder::default().chunk(&text(5000), Scheme::Lz4);
        let mut body = xorb.bytes.clone();
        body.extend_from_slice(b"XETBLOB\x01");
        body.extend_from_slice(&[0u8; 100]);
        body.extend_from_slice(&108u32.to_le_bytes());
        let layout = validate(&body).unwrap();
        assert_eq!(layout.stored_len(), xorb.bytes.len());
        assert_eq!(layout.hash, xorb.hash());
    }

    #[test]
    fn malformed_xorbs_are_refused_with_a_reason() {
        let good = XorbBuilder::default()
            .chunk(&text(3000), Scheme::Lz4)
            .chunk(&noise(2000, 3), Scheme::None)
            .bytes;
        let reason = |body: &[u8]| validate(body).unwrap_err().to_string();
        assert!(reason(&[]).contains("at least one chunk"));
        assert!(reason(&good[..good.len() - 1]).contains("truncated chunk"));
        assert!(reason(&good[..5]).contains("truncated chunk header"));
        let mut version = good.clone();
        version[0] = 1;
        assert!(reason(&version).contains("version"));
        let mut scheme = good.clone();
        scheme[4] = 9;
        assert!(reason(&scheme).contains("scheme"));
        let mut longer = good.clone();
        longer[5] = longer[5].wrapping_add(1);
        assert!(
            reason(&longer).contains("decodes to"),
            "{}",
            reason(&longer)
        );
        let mut garbage = good.clone();
        garbage[20] ^= 0xff;
        garbage[30] ^= 0xff;
        assert!(validate(&garbage).is_err());
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"junk");
        assert!(validate(&trailing).is_err());
        let big = ChunkHeader {
            compressed_len: 200_000,
            scheme: Scheme::None,
            uncompressed_len: 200_000,
        };
        let mut oversized = big.to_bytes().to_vec();
        oversized.resize(8 + 200_000, 0);
        assert!(reason(&oversized).contains("at most"));
    }

    #[test]
    fn an_lz4_bomb_is_not_inflated() {
        // 128 KiB of zeros announced as 10 bytes: refused without decoding it all.
        let zeros = vec![0u8; MAX_CHUNK_SIZE];
        let stored = lz4_compress(&zeros);
        let header = ChunkHeader {
            compressed_len: stored.len(),
            scheme: Scheme::Lz4,
            uncompressed_len: 10,
        };
        let body = [header.to_bytes().as_slice(), &stored].concat();
        assert!(
            validate(&body)
                .unwrap_err()
                .to_string()
                .contains("decodes to 11")
        );
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        let good = XorbBuilder::default()
            .chunk(&text(4000), Scheme::Lz4)
            .chunk(&floats(900), Scheme::Bg4Lz4)
            .chunk(&noise(700, 5), Scheme::None)
            .bytes;
        for cut in 0..good.len() {
            let _ = validate(&good[..cut]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..3000 {
            let mut body = good.clone();
            for _ in 0..(1 + round % 8) {
                let i = (next() as usize) % body.len();
                body[i] = next() as u8;
            }
            let _ = validate(&body);
            let _ = decode_chunks(&body, &[4000, 3600, 700], &mut Vec::new());
            let len = (next() % 64) as usize;
            let random: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = validate(&random);
        }
    }

    #[test]
    fn a_built_xorb_has_the_layout_validation_finds() {
        let mut builder = XorbBuilder::default();
        for data in [text(70_000), noise(65_536, 5), floats(9_000), text(1)] {
            builder.push_compressible(&data, XetHash::of_chunk(&data));
        }
        let expected_hash = builder.hash();
        let (bytes, layout) = builder.finish();
        assert_eq!(layout.hash, expected_hash);
        assert_eq!(validate(&bytes).unwrap(), layout);
        // Text compresses; noise is kept as it is.
        assert!(bytes.len() < 70_000 + 65_536 + 36_000 + 1 + 4 * CHUNK_HEADER_LEN);
        assert_eq!(
            layout.chunk_offsets[2] - layout.chunk_offsets[1],
            (65_536 + CHUNK_HEADER_LEN) as u32
        );
    }
}
