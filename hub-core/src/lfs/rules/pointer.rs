//! The small text file git stores in place of an LFS object.

/// Blobs of this size or more are never LFS pointers (the spec requires a
/// pointer to be smaller than 1024 bytes), so callers can skip reading them.
pub const MAX_POINTER_SIZE: usize = 1024;

/// A Git LFS pointer file
/// (spec: <https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md>).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LfsPointer {
    /// SHA-256 of the object, 64 lowercase hex digits.
    pub oid: String,
    pub size: u64,
}

const SPEC_V1: &str = "https://git-lfs.github.com/spec/v1";
/// The pre-release URL; old pointers still carry it and git-lfs accepts it.
const LEGACY_SPEC_V1: &str = "https://hawser.github.com/spec/v1";

impl LfsPointer {
    /// Strict parse of the exact form git-lfs writes: `version <spec url>`,
    /// `oid sha256:<64 lowercase hex>`, `size <decimal>`, in that order, each
    /// line ending in `\n`, nothing else, smaller than [`MAX_POINTER_SIZE`].
    /// The legacy `https://hawser.github.com/spec/v1` version is accepted.
    /// Anything else is not a pointer (None), including pointers with
    /// extension keys (`ext-0-...`, whose objects only a client-side
    /// extension program can restore) and sizes with a sign or leading
    /// zeros, so a parsed pointer re-serializes to the same bytes apart from
    /// a legacy version URL.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<LfsPointer> {
        if bytes.len() >= MAX_POINTER_SIZE {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?.strip_suffix('\n')?;
        let mut lines = text.split('\n');
        let version = lines.next()?.strip_prefix("version ")?;
        let oid = lines.next()?.strip_prefix("oid sha256:")?;
        let size = lines.next()?.strip_prefix("size ")?;
        if lines.next().is_some() || !matches!(version, SPEC_V1 | LEGACY_SPEC_V1) {
            return None;
        }
        if !is_sha256_hex(oid) {
            return None;
        }
        Some(LfsPointer {
            oid: oid.to_owned(),
            size: parse_size(size)?,
        })
    }

    /// Canonical text: `version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n`.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "version {SPEC_V1}\noid sha256:{}\nsize {}\n",
            self.oid, self.size
        )
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Canonical decimal only. git-lfs reads sizes as a signed 64-bit number, so
/// anything larger is not a pointer a client could use.
fn parse_size(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return None;
    }
    text.parse::<i64>()
        .ok()
        .and_then(|size| u64::try_from(size).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lfs::rules::LFS_SIZE_THRESHOLD;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

    #[test]
    fn parses_a_real_git_lfs_pointer() {
        let text =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n");
        let pointer = LfsPointer::parse(text.as_bytes()).expect("pointer");
        assert_eq!(
            pointer,
            LfsPointer {
                oid: OID.to_owned(),
                size: 12345
            }
        );
        assert_eq!(pointer.to_text(), text);
    }

    #[test]
    fn accepts_the_legacy_version_url() {
        let text = format!("version https://hawser.github.com/spec/v1\noid sha256:{OID}\nsize 0\n");
        let pointer = LfsPointer::parse(text.as_bytes()).expect("pointer");
        assert_eq!(pointer.size, 0);
        assert!(
            pointer
                .to_text()
                .starts_with("version https://git-lfs.github.com/spec/v1\n")
        );
    }

    #[test]
    fn rejects_anything_but_the_strict_form() {
        let upper = OID.to_uppercase();
        let short = &OID[..63];
        let long = format!("{OID}0");
        let ok = |oid: &str, size: &str| {
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
        };
        let bad = [
            ok(OID, "12").replace("spec/v1", "spec/v2"),
            ok(OID, "12").replace("https://", "http://"),
            ok(short, "12"),
            ok(&long, "12"),
            ok(&upper, "12"),
            ok(&OID.replace('a', "g"), "12"),
            ok(OID, "12").replace("sha256", "sha1"),
            ok(OID, "-1"),
            ok(OID, "+1"),
            ok(OID, "012"),
            ok(OID, ""),
            ok(OID, "1 "),
            ok(OID, "99999999999999999999"),
            ok(OID, "9223372036854775808"),
            ok(OID, "12").trim_end().to_owned(),
            ok(OID, "12").replace('\n', "\r\n"),
            ok(OID, "12") + "\n",
            ok(OID, "12") + "zzz x\n",
            format!("oid sha256:{OID}\nversion https://git-lfs.github.com/spec/v1\nsize 12\n"),
            format!("version https://git-lfs.github.com/spec/v1\nsize 12\noid sha256:{OID}\n"),
            format!(
                "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:{OID}\noid sha256:{OID}\nsize 12\n"
            ),
            format!("version https://git-lfs.github.com/spec/v1\noid  sha256:{OID}\nsize 12\n"),
            format!("\nversion https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12\n"),
            String::new(),
            "version https://git-lfs.github.com/spec/v1\n".to_owned(),
        ];
        for text in &bad {
            assert_eq!(LfsPointer::parse(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(LfsPointer::parse(&[0xff, 0xfe, b'\n']), None);
        assert!(LfsPointer::parse(ok(OID, "9223372036854775807").as_bytes()).is_some());
    }

    #[test]
    fn rejects_oversize_pointers() {
        let mut text =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 1\n")
                .into_bytes();
        text.resize(MAX_POINTER_SIZE, b' ');
        assert_eq!(LfsPointer::parse(&text), None);
    }

    #[test]
    fn to_text_round_trips() {
        for size in [0, 1, 12345, LFS_SIZE_THRESHOLD, i64::MAX as u64] {
            let pointer = LfsPointer {
                oid: OID.to_owned(),
                size,
            };
            let text = pointer.to_text();
            assert!(text.len() < MAX_POINTER_SIZE);
            assert_eq!(LfsPointer::parse(text.as_bytes()), Some(pointer));
        }
    }
}
