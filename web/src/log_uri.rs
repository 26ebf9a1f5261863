//! Request URIs as they go into the log: the path and the query string,
//! with the values of parameters that carry secrets (signed links' `sig`,
//! tokens, S3 presigned `X-Amz-*`) replaced, so that a log reader cannot
//! replay a signed link or a token.

use axum::http::Uri;

/// What replaces a secret parameter's value.
const REDACTED: &str = "REDACTED";

/// `path?query` of `uri` with secret parameter values redacted.
pub fn loggable(uri: &Uri) -> String {
    let path = uri.path();
    match uri.query() {
        None => path.to_owned(),
        Some(query) => format!("{path}?{}", redact_query(query)),
    }
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            if is_secret(key) {
                format!("{key}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether a parameter named `key` (still percent-encoded) may hold a
/// secret. Generous on purpose: a redacted harmless value costs nothing.
fn is_secret(key: &str) -> bool {
    let key: String = form_urlencoded::parse(key.as_bytes())
        .next()
        .map(|(k, _)| k.to_ascii_lowercase())
        .unwrap_or_default();
    key.starts_with("x-amz-")
        || ["sig", "token", "secret", "password", "credential", "key"]
            .iter()
            .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::loggable;

    #[test]
    fn secrets_in_query_strings_are_redacted() {
        let uri = |s: &str| s.parse().unwrap();
        assert_eq!(loggable(&uri("/a/b")), "/a/b");
        assert_eq!(
            loggable(&uri("/api/models?search=bert&limit=5")),
            "/api/models?search=bert&limit=5"
        );
        assert_eq!(
            loggable(&uri(
                "/x/info/lfs/objects/ab?op=download&size=3&exp=9&sig=c2VjcmV0"
            )),
            "/x/info/lfs/objects/ab?op=download&size=3&exp=9&sig=REDACTED"
        );
        assert_eq!(
            loggable(&uri(
                "/o?X-Amz-Algorithm=A&X-Amz-Credential=K%2F1&X-Amz-Signature=f00&Signature=s&access_token=t&Token=u&%73ig=v"
            )),
            "/o?X-Amz-Algorithm=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED\
             &Signature=REDACTED&access_token=REDACTED&Token=REDACTED&%73ig=REDACTED"
        );
        assert_eq!(loggable(&uri("/o?sig&a=1")), "/o?sig=REDACTED&a=1");
    }
}
