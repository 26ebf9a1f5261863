//! Xet hashes: 32 bytes, written as "Xet hash strings".
//!
//! Xet reads the 32 bytes of a hash as four little-endian `u64`s and prints
//! each as 16 hex digits, so every 8-byte group appears byte-reversed
//! compared with a plain hex dump. URLs (`/v1/xorbs/default/{hash}`) and the
//! sha256 in a shard's metadata extension use that form; the sha256 comes
//! out as the ordinary sha256 hex that LFS names objects by.
//!
//! Also the two hash functions the hub needs to verify a xorb's name: the
//! chunk hash (BLAKE3 keyed with `DATA_KEY`) and the aggregated xorb hash
//! (a Merkle tree whose nodes hash `"{hash} : {size}\n"` lines with BLAKE3
//! keyed with `INTERNAL_NODE_KEY`, cut where a child hash is 0 mod 4).

use std::fmt;
use std::fmt::Write as _;

/// A Xet hash in its binary form (as stored in shards and xorb footers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct XetHash(pub [u8; 32]);

/// The key of chunk hashes.
const DATA_KEY: [u8; 32] = [
    102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16,
    155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41,
];

/// The key of internal Merkle nodes.
const INTERNAL_NODE_KEY: [u8; 32] = [
    1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55,
    199, 109, 210, 248, 99, 82, 230, 74, 83, 113, 63,
];

/// Mean branching factor of the aggregated-hash tree.
const BRANCHING: u64 = 4;

impl XetHash {
    /// All ones: the bookend that closes a shard section.
    pub const BOOKEND: XetHash = XetHash([0xff; 32]);

    /// The hash of `bytes[..32]`, if there are that many.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<XetHash> {
        bytes.get(..32)?.try_into().ok().map(XetHash)
    }

    /// Parses a Xet hash string: exactly 64 hex digits (either case).
    #[must_use]
    pub fn from_hex(s: &str) -> Option<XetHash> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 32];
        for (group, digits) in out.chunks_exact_mut(8).zip(s.as_bytes().chunks_exact(16)) {
            let digits = std::str::from_utf8(digits).ok()?;
            let value = u64::from_str_radix(digits, 16).ok()?;
            group.copy_from_slice(&value.to_le_bytes());
        }
        Some(XetHash(out))
    }

    /// The Xet hash string: lowercase, each 8-byte group reversed.
    #[must_use]
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for group in self.0.chunks_exact(8) {
            let value = u64::from_le_bytes(group.try_into().expect("8-byte group"));
            write!(s, "{value:016x}").expect("writing to a String");
        }
        s
    }

    /// The hash of one chunk's (uncompressed) bytes.
    #[must_use]
    pub fn of_chunk(data: &[u8]) -> XetHash {
        XetHash(*blake3::keyed_hash(&DATA_KEY, data).as_bytes())
    }

    /// The hash of a xorb: the root of the aggregated Merkle tree over its
    /// chunks' `(hash, uncompressed size)`; all zeros for no chunks.
    #[must_use]
    pub fn of_xorb(chunks: &[(XetHash, u64)]) -> XetHash {
        if chunks.is_empty() {
            return XetHash::default();
        }
        let mut level = chunks.to_vec();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len() / 2 + 1);
            let mut rest = &level[..];
            while !rest.is_empty() {
                let cut = next_cut(rest);
                next.push(merge(&rest[..cut]));
                rest = &rest[cut..];
            }
            level = next;
        }
        level[0].0
    }

    /// The Xet hash of a file: the aggregated Merkle root over its chunks'
    /// `(hash, uncompressed size)`, as for a xorb, then hashed again with
    /// BLAKE3 keyed with 32 zero bytes (xet-core's `file_hash`); all zeros
    /// for an empty file. hf_xet names a file by it in shards and asks for
    /// its reconstruction by it.
    #[must_use]
    pub fn of_file(chunks: &[(XetHash, u64)]) -> XetHash {
        if chunks.is_empty() {
            return XetHash::default();
        }
        let root = XetHash::of_xorb(chunks);
        XetHash(*blake3::keyed_hash(&[0; 32], &root.0).as_bytes())
    }

    /// The number the tree cuts on: the last 8 bytes as a little-endian u64.
    fn low_word(&self) -> u64 {
        u64::from_le_bytes(self.0[24..].try_into().expect("8 bytes"))
    }
}

/// How many of `nodes` become children of the next parent: at least 2, at
/// most `2 * BRANCHING + 1`, ending after the first (from the third on)
/// whose hash is 0 mod `BRANCHING`.
fn next_cut(nodes: &[(XetHash, u64)]) -> usize {
    if nodes.len() <= 2 {
        return nodes.len();
    }
    let end = (2 * BRANCHING as usize + 1).min(nodes.len());
    (2..end)
        .find(|&i| nodes[i].0.low_word().is_multiple_of(BRANCHING))
        .map_or(end, |i| i + 1)
}

fn merge(nodes: &[(XetHash, u64)]) -> (XetHash, u64) {
    let mut text = String::with_capacity(nodes.len() * 80);
    let mut total = 0u64;
    for (hash, size) in nodes {
        writeln!(text, "{} : {size}", hash.to_hex()).expect("writing to a String");
        total = total.saturating_add(*size);
    }
    let digest = blake3::keyed_hash(&INTERNAL_NODE_KEY, text.as_bytes());
    (XetHash(*digest.as_bytes()), total)
}

impl fmt::Display for XetHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for XetHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XetHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> XetHash {
        XetHash::from_hex(s).unwrap()
    }

    #[test]
    fn hex_groups_are_byte_reversed() {
        // The example of the Xet docs: raw bytes and their hash string.
        let raw: [u8; 32] = [
            22, 175, 58, 132, 4, 75, 131, 214, 190, 153, 138, 66, 226, 3, 153, 242, 204, 86, 80,
            234, 249, 153, 80, 99, 159, 80, 65, 138, 236, 231, 149, 78,
        ];
        let text = "d6834b04843aaf16f29903e2428a99be635099f9ea5056cc4e95e7ec8a41509f";
        assert_eq!(XetHash(raw).to_hex(), text);
        assert_eq!(XetHash::from_hex(text), Some(XetHash(raw)));
        assert_eq!(XetHash::from_hex(&text.to_uppercase()), Some(XetHash(raw)));
        assert_eq!(XetHash(raw).to_string(), text);
        // A sha256 stored in Xet order reads back as its ordinary hex.
        let sha = hex::decode(text).unwrap();
        let mut stored = [0u8; 32];
        for (dst, src) in stored.chunks_exact_mut(8).zip(sha.chunks_exact(8)) {
            dst.copy_from_slice(src);
            dst.reverse();
        }
        assert_eq!(XetHash(stored).to_hex(), text);
    }

    #[test]
    fn file_hashes_match_hf_xet() {
        // What hf_xet 1.8.0 named a one-chunk file of these 4000 bytes when
        // it uploaded it (the hub recorded the same hash, so advertised it).
        let data: Vec<u8> = (0..4000u32).map(|i| ((i * 7 + 3) % 251) as u8).collect();
        let chunks = [(XetHash::of_chunk(&data), data.len() as u64)];
        assert_eq!(
            XetHash::of_file(&chunks).to_hex(),
            "5629f1fb3f77d7b9fafb7607b91fcfbf216ef149c9ba778d419e8fa68a67bc75"
        );
        assert_ne!(XetHash::of_file(&chunks), XetHash::of_xorb(&chunks));
        assert_eq!(XetHash::of_file(&[]), XetHash::default());
    }

    #[test]
    fn malformed_hash_strings_are_refused() {
        let good = "ab".repeat(32);
        assert!(XetHash::from_hex(&good).is_some());
        for bad in [
            String::new(),
            "ab".repeat(31),
            "ab".repeat(33),
            format!("{}zz", "ab".repeat(31)),
            format!("+{}", &"ab".repeat(32)[1..]),
            format!("{}é", &"ab".repeat(32)[2..]),
            "../".repeat(22),
        ] {
            assert!(XetHash::from_hex(&bad).is_none(), "{bad:?}");
        }
        assert!(XetHash::from_slice(&[0u8; 31]).is_none());
        assert_eq!(XetHash::from_slice(&[7u8; 40]), Some(XetHash([7; 32])));
    }

    #[test]
    fn xorb_hashes_match_the_reference_implementation() {
        // Reference values from xet-core's aggregated-hash correctness test.
        let a = h("cfc5d07f6f03c29bbf424132963fe08d19a37d5757aaf520bf08119f05cd56d6");
        let b = h("c3e67584b5c4fc2a89837ec39e40f2c8a6bb0b2987ac94cd4b31e5fbdd210a72");
        let c = h("0d2beb91b9196929a5ddec9f6e306924ddf4a24268e3e59fd8464738d525af37");
        let d = h("adf8773496a9b7319b2e50dc98093f344053b17d8ad37100b9c07d9805988784");
        assert_eq!(XetHash::of_xorb(&[]), XetHash::default());
        assert_eq!(XetHash::of_xorb(&[(a, 100)]), a);
        let cases: [(&[(XetHash, u64)], &str); 4] = [
            (
                &[(a, 100), (b, 200), (c, 300)],
                "71ec1275fca074724e2dd666921b3277c7cee603e4d025bcab2d4050015be2bc",
            ),
            (
                &[(a, 100), (a, 100), (a, 100), (a, 100)],
                "89f2ada89ff8c96763c6b25010e6dd76a4c05b1466207633ea559acf2093211b",
            ),
            (
                &[(a, 100), (b, 200), (a, 100), (b, 200)],
                "90f8313ef12df385d237a067aded02562c35ded12116e32eba401dbc86c38031",
            ),
            (
                &[(a, 100), (b, 200), (a, 100), (b, 200), (c, 300), (d, 400)],
                "52c826f99507aa05d0b45e9837fa1709e0485425cfbcb1e80db3905cf98b3ee9",
            ),
        ];
        for (chunks, expected) in cases {
            assert_eq!(XetHash::of_xorb(chunks).to_hex(), expected);
        }
    }

    #[test]
    fn large_trees_collapse_to_one_root() {
        let chunks: Vec<(XetHash, u64)> = (0..1000u32)
            .map(|i| (XetHash::of_chunk(&i.to_le_bytes()), 1000))
            .collect();
        let root = XetHash::of_xorb(&chunks);
        assert_eq!(root, XetHash::of_xorb(&chunks), "deterministic");
        assert_ne!(root, XetHash::of_xorb(&chunks[1..]));
    }
}
