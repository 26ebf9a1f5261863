//! The `Range` request header, for the one single-range form clients use.

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send the whole file (also for forms we do not serve,
    /// such as several ranges, which HTTP lets a server ignore).
    Whole,
    /// Bytes `start..end` (end exclusive).
    Part(std::ops::Range<u64>),
    /// The range starts past the end: 416.
    Unsatisfiable,
}

pub fn parse(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    match (first.parse::<u64>().ok(), last.parse::<u64>().ok()) {
        // bytes=-N: the last N bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || size == 0 {
                RangeRequest::Unsatisfiable
            } else {
                RangeRequest::Part(size.saturating_sub(n)..size)
            }
        }
        (Some(start), _) if start >= size => RangeRequest::Unsatisfiable,
        (Some(start), None) if last.is_empty() => RangeRequest::Part(start..size),
        (Some(start), Some(end)) if end >= start => RangeRequest::Part(start..(end + 1).min(size)),
        _ => RangeRequest::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::{RangeRequest::*, parse};

    #[test]
    fn forms() {
        assert_eq!(parse(None, 10), Whole);
        assert_eq!(parse(Some("bytes=0-4"), 10), Part(0..5));
        assert_eq!(parse(Some("bytes=5-"), 10), Part(5..10));
        assert_eq!(parse(Some("bytes=-3"), 10), Part(7..10));
        assert_eq!(parse(Some("bytes=-30"), 10), Part(0..10));
        assert_eq!(parse(Some("bytes=8-100"), 10), Part(8..10));
        assert_eq!(parse(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=5-2"), 10), Whole);
        assert_eq!(parse(Some("bytes=0-1,4-5"), 10), Whole);
        assert_eq!(parse(Some("items=0-1"), 10), Whole);
        assert_eq!(parse(Some("bytes=x-y"), 10), Whole);
    }
}
