//! Who a private Space's origin lets in: a visitor with a pass the hub's
//! Space page signed (`hub_core::spaces::origin::issue_pass`), given in the
//! iframe's address as `?__sign=` and kept from then on in a cookie of the
//! Space's own origin. Everyone else is told there is no such Space. The
//! pass never reaches the app (see [`super::proxy`]).

use axum::http::{HeaderMap, HeaderValue};
use hub_core::Hub;
use hub_core::spaces::origin::{Site, verify_pass};

/// The cookie that keeps a pass on a Space's origin.
pub const PASS_COOKIE: &str = "kaiyuan_space_pass";
/// The query parameter that brings a pass.
pub const PASS_PARAM: &str = "__sign";

/// Whether the visitor may see `site`: `None` if not; else the cookie to
/// set, when the pass came in the address.
pub fn admit(
    hub: &Hub,
    site: &Site,
    headers: &HeaderMap,
    query: Option<&str>,
    https: bool,
) -> Option<Option<HeaderValue>> {
    if !site.private {
        return Some(None);
    }
    if let Some(pass) = query.and_then(pass_in_query)
        && verify_pass(hub, site.repo_id, &pass)
    {
        return Some(Some(cookie_for(&pass, https)?));
    }
    crate::auth::cookie(headers, PASS_COOKIE)
        .filter(|pass| verify_pass(hub, site.repo_id, pass))
        .map(|_| None)
}

fn pass_in_query(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == PASS_PARAM)
        .map(|(_, v)| v.into_owned())
}

/// The query without its pass, as the app gets it (the rest untouched).
pub fn query_without_pass(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| pair.split('=').next() != Some(PASS_PARAM))
        .collect::<Vec<_>>()
        .join("&")
}

/// The origin's own cookie for `pass`. Over HTTPS it is sent in the hub's
/// iframe (another site: `SameSite=None; Secure`), in that embedding only
/// (`Partitioned`); browsers refuse `SameSite=None` without HTTPS.
fn cookie_for(pass: &str, https: bool) -> Option<HeaderValue> {
    let attributes = if https {
        "Path=/; HttpOnly; Secure; SameSite=None; Partitioned"
    } else {
        "Path=/; HttpOnly; SameSite=Lax"
    };
    HeaderValue::from_str(&format!("{PASS_COOKIE}={pass}; {attributes}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pass_is_taken_out_of_the_query_and_nothing_else() {
        assert_eq!(
            query_without_pass("__sign=1.2.ab&x=1&__signed=2"),
            "x=1&__signed=2"
        );
        assert_eq!(query_without_pass("__sign=1"), "");
        assert_eq!(
            pass_in_query("a=b&__sign=1.2.ab").as_deref(),
            Some("1.2.ab")
        );
    }

    #[test]
    fn the_cookie_is_cross_site_only_over_https() {
        let c = cookie_for("1.2.ab", true).unwrap();
        assert!(c.to_str().unwrap().contains("SameSite=None; Partitioned"));
        let c = cookie_for("1.2.ab", false).unwrap();
        assert!(!c.to_str().unwrap().contains("Secure"));
    }
}
