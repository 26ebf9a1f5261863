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

/// What to send for a request's `Range` header over a body of `size` bytes.
pub enum Answer {
    /// 200 or 206 with these bytes (`None`: all of them).
    Send(axum::http::StatusCode, Option<std::ops::Range<u64>>),
    /// 416, with the headers already set.
    Unsatisfiable,
}

/// Reads `Range` from `request` and sets `Accept-Ranges`, `Content-Range`
/// and `Content-Length` in `out` accordingly: the one place both file
/// download routes (resolve, LFS) answer ranges.
pub fn answer(
    request: &axum::http::HeaderMap,
    size: u64,
    out: &mut axum::http::HeaderMap,
) -> Answer {
    use axum::http::{HeaderValue, StatusCode, header};
    let text = |s: String| HeaderValue::from_str(&s).expect("digits and ASCII only");
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let requested = request.get(header::RANGE).and_then(|v| v.to_str().ok());
    match parse(requested, size) {
        RangeRequest::Whole => {
            out.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            Answer::Send(StatusCode::OK, None)
        }
        RangeRequest::Part(r) => {
            out.insert(
                header::CONTENT_RANGE,
                text(format!("bytes {}-{}/{size}", r.start, r.end - 1)),
            );
            out.insert(header::CONTENT_LENGTH, HeaderValue::from(r.end - r.start));
            Answer::Send(StatusCode::PARTIAL_CONTENT, Some(r))
        }
        RangeRequest::Unsatisfiable => {
            out.insert(header::CONTENT_RANGE, text(format!("bytes */{size}")));
            Answer::Unsatisfiable
        }
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
