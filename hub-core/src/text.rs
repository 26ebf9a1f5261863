//! Small rules about text shared by several modules.

/// At most `max` bytes of `text`, cut at a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A size as people write it (a part size for removable media, a cache
/// cap): bytes, or with a `K`, `M`, `G` or `T` suffix (powers of 1024;
/// `4G`, `700M`, `512k`, `1GiB` and `1GB` alike). Zero is refused.
pub fn parse_size(text: &str) -> crate::error::Result<u64> {
    let refuse = || {
        crate::error::Error::invalid(format!(
            "{text:?} is not a size: give bytes, or a number with K, M, G or T (4G, 700M)"
        ))
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let number: u64 = digits.parse().map_err(|_| refuse())?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(refuse()),
    };
    let size = number.checked_mul(1u64 << shift).ok_or_else(refuse)?;
    if size == 0 {
        return Err(crate::error::Error::invalid(
            "a size must be at least one byte",
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::{parse_size, truncate};

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(truncate("开源hub", 4), "开");
        assert_eq!(truncate("开源hub", 100), "开源hub");
        assert_eq!(truncate("", 3), "");
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("700M").unwrap(), 700 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        for bad in ["", "0", "-1", "1X", "G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
