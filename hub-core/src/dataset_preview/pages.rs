//! The page check that runs before the parquet crate decodes anything.
//!
//! The crate trusts a page header: it reserves `uncompressed_page_size`
//! bytes, and its zstd, gzip and LZ4-frame decoders read to the end of the
//! stream whatever the header says. So a 32 KB file holding one 1000 MiB
//! zstd page made each preview take 2 GB. Here every page of the column
//! chunks about to be decoded is walked first: its declared size counts
//! against a budget, and a compressed page is decompressed into a counter
//! (nothing kept) to prove it expands to no more than it declares.

use std::io::Read;

use parquet::basic::Compression;

use super::thrift::{Malformed, Reader};

/// Why a column chunk may not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Its pages would take more memory than the budget left.
    TooLarge,
    Malformed(String),
}

impl From<Malformed> for Refusal {
    fn from(m: Malformed) -> Refusal {
        Refusal::Malformed(m.0.to_owned())
    }
}

/// The sizes a page header declares.
#[derive(Debug, PartialEq, Eq)]
struct PageHeader {
    /// Bytes of the header itself.
    header_len: usize,
    uncompressed: u64,
    compressed: u64,
    /// Leading bytes stored uncompressed (a v2 data page's levels).
    plain_prefix: u64,
    /// False for a v2 data page stored without compression.
    compressed_body: bool,
}

fn read_header(bytes: &[u8]) -> Result<PageHeader, Refusal> {
    let mut r = Reader::new(bytes);
    let (mut uncompressed, mut compressed) = (None, None);
    let (mut plain_prefix, mut compressed_body) = (0u64, true);
    let mut last = 0;
    while let Some(field) = r.field(&mut last)? {
        match field.id {
            2 => uncompressed = Some(r.i32(&field)?),
            3 => compressed = Some(r.i32(&field)?),
            // DataPageHeaderV2: levels lengths (5, 6) and is_compressed (7).
            8 if field.kind == 12 => {
                let mut last = 0;
                while let Some(inner) = r.field(&mut last)? {
                    match inner.id {
                        5 | 6 => plain_prefix += size(r.i32(&inner)?)?,
                        7 => compressed_body = r.bool(&inner)?,
                        _ => r.skip(&inner)?,
                    }
                }
            }
            _ => r.skip(&field)?,
        }
    }
    let missing = || Refusal::Malformed("page header without its sizes".into());
    Ok(PageHeader {
        header_len: r.position(),
        uncompressed: size(uncompressed.ok_or_else(missing)?)?,
        compressed: size(compressed.ok_or_else(missing)?)?,
        plain_prefix,
        compressed_body,
    })
}

fn size(n: i32) -> Result<u64, Refusal> {
    u64::try_from(n).map_err(|_| Refusal::Malformed("negative page size".into()))
}

/// Walks the pages of one column chunk (`chunk` is its bytes, dictionary
/// page included), taking each page's uncompressed size from `budget`.
pub(super) fn check_chunk(
    chunk: &[u8],
    codec: Compression,
    budget: &mut u64,
) -> Result<(), Refusal> {
    let mut at = 0usize;
    while at < chunk.len() {
        let header = read_header(&chunk[at..])?;
        let body_start = at + header.header_len;
        let body_end = usize::try_from(header.compressed)
            .ok()
            .and_then(|len| body_start.checked_add(len))
            .filter(|&end| end <= chunk.len())
            .ok_or_else(|| Refusal::Malformed("a page runs past its column chunk".into()))?;
        *budget = budget
            .checked_sub(header.uncompressed)
            .ok_or(Refusal::TooLarge)?;
        let body = &chunk[body_start..body_end];
        if header.plain_prefix > header.uncompressed || header.plain_prefix > body.len() as u64 {
            return Err(Refusal::Malformed(
                "page levels longer than the page".into(),
            ));
        }
        if header.compressed_body {
            let prefix = header.plain_prefix as usize;
            check_expansion(
                &body[prefix..],
                codec,
                header.uncompressed - header.plain_prefix,
            )?;
        }
        at = body_end;
    }
    Ok(())
}

/// Proves that `data` decompresses to at most `declared` bytes, for the
/// codecs whose decoders in the parquet crate do not stop at the declared
/// size. (Snappy, LZ4_RAW and Hadoop-framed LZ4 decode into a buffer of the
/// declared size, which the budget already bounds.)
fn check_expansion(data: &[u8], codec: Compression, declared: u64) -> Result<(), Refusal> {
    let produced = match codec {
        Compression::ZSTD(_) => zstd::stream::read::Decoder::new(data)
            .map_err(|e| Refusal::Malformed(format!("zstd: {e}")))
            .and_then(|d| count(d, declared))?,
        Compression::GZIP(_) => count(flate2::read::MultiGzDecoder::new(data), declared)?,
        // The crate tries Hadoop framing, then an LZ4 frame: bound the frame.
        Compression::LZ4 => match count(lz4_flex::frame::FrameDecoder::new(data), declared) {
            Ok(n) => n,
            Err(Refusal::TooLarge) => return Err(Refusal::TooLarge),
            Err(Refusal::Malformed(_)) => 0,
        },
        Compression::UNCOMPRESSED
        | Compression::SNAPPY
        | Compression::LZ4_RAW
        | Compression::BROTLI(_)
        | Compression::LZO => 0,
    };
    if produced > declared {
        return Err(Refusal::TooLarge);
    }
    Ok(())
}

/// Bytes `reader` yields, reading at most one past `limit`.
fn count(reader: impl Read, limit: u64) -> Result<u64, Refusal> {
    std::io::copy(&mut reader.take(limit + 1), &mut std::io::sink())
        .map_err(|e| Refusal::Malformed(format!("page does not decompress: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v1 data page header: type 0, sizes, then a DataPageHeader.
    fn header(uncompressed: i32, compressed: i32) -> Vec<u8> {
        let zz = |v: i32| {
            let mut v = ((v << 1) ^ (v >> 31)) as u32;
            let mut out = Vec::new();
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    out.push(b);
                    return out;
                }
                out.push(b | 0x80);
            }
        };
        let mut h = vec![0x15, 0x00, 0x15];
        h.extend(zz(uncompressed));
        h.push(0x15);
        h.extend(zz(compressed));
        // field 5: DataPageHeader { 1: num_values = 1 }, then stop.
        h.extend([0x2c, 0x15, 0x02, 0x00, 0x00]);
        h
    }

    fn page(declared: i32, body: &[u8]) -> Vec<u8> {
        let mut p = header(declared, body.len() as i32);
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn honest_pages_pass_and_use_the_budget() {
        let data = vec![7u8; 10_000];
        let packed = zstd::encode_all(&data[..], 3).unwrap();
        let mut chunk = page(10_000, &packed);
        chunk.extend(page(10_000, &packed));
        let mut budget = 1 << 20;
        check_chunk(&chunk, Compression::ZSTD(Default::default()), &mut budget).unwrap();
        assert_eq!(budget, (1 << 20) - 20_000);
    }

    #[test]
    fn a_page_declared_larger_than_the_budget_is_refused_before_decoding() {
        let chunk = page(1_000 << 20, b"not even zstd");
        let mut budget = 64 << 20;
        assert_eq!(
            check_chunk(&chunk, Compression::ZSTD(Default::default()), &mut budget),
            Err(Refusal::TooLarge)
        );
    }

    #[test]
    fn a_page_that_expands_past_its_declared_size_is_refused() {
        // 100 MiB of zeros declared as 1 KiB: the lie the crate would follow.
        let packed = zstd::encode_all(std::io::repeat(0).take(100 << 20), 19).unwrap();
        assert!(packed.len() < 10_000);
        let chunk = page(1024, &packed);
        let mut budget = 64 << 20;
        assert_eq!(
            check_chunk(&chunk, Compression::ZSTD(Default::default()), &mut budget),
            Err(Refusal::TooLarge)
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::copy(&mut std::io::repeat(0).take(10 << 20), &mut gz).unwrap();
        let chunk = page(1024, &gz.finish().unwrap());
        assert_eq!(
            check_chunk(&chunk, Compression::GZIP(Default::default()), &mut budget),
            Err(Refusal::TooLarge)
        );
    }

    #[test]
    fn pages_past_the_chunk_and_bad_headers_are_malformed() {
        let mut chunk = page(10, b"0123456789");
        chunk.truncate(chunk.len() - 1);
        let mut budget = 1 << 20;
        assert!(matches!(
            check_chunk(&chunk, Compression::UNCOMPRESSED, &mut budget),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            check_chunk(&[0x15, 0x00, 0x00], Compression::UNCOMPRESSED, &mut budget),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            check_chunk(&page(-5, b""), Compression::UNCOMPRESSED, &mut budget),
            Err(Refusal::Malformed(_))
        ));
    }
}
