//! Facts about the request that depend on who may be trusted: the client's
//! address and the public base URL, honouring `X-Forwarded-*` only from
//! `HUB_TRUSTED_PROXIES`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::app::AppState;
use crate::tls::ViaTls;

#[derive(Debug, Clone)]
pub struct Origin {
    pub client_ip: IpAddr,
    /// `scheme://host[:port]` as the client addressed us: absolute URLs in
    /// answers must use the client's own host (the HF client checks it).
    pub base_url: String,
    /// Whether a browser sent this request from a page of another site
    /// (see [`is_cross_site`]): refused where a request signs someone in.
    pub cross_site: bool,
}

impl FromRequestParts<AppState> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let trusted = state.config.is_trusted_proxy(peer);
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.trim().to_owned())
        };
        let forwarded = |name: &str| if trusted { header(name) } else { None };
        let client_ip = forwarded("x-forwarded-for")
            .and_then(|list| client_of(&list, |ip| state.config.is_trusted_proxy(ip)))
            .unwrap_or(peer);
        let host = forwarded("x-forwarded-host")
            .or_else(|| header("host"))
            .filter(|h| is_plausible_host(h));
        let cross_site = is_cross_site(
            header("sec-fetch-site").as_deref(),
            header("origin").as_deref(),
            host.as_deref(),
            state.config.public_url.as_deref(),
        );
        // A trusted proxy says how the client reached it; else the
        // connection itself does (the hub's own TLS listener marks its requests).
        let direct = match parts.extensions.get::<ViaTls>() {
            Some(_) => "https",
            None => "http",
        };
        let scheme = forwarded("x-forwarded-proto")
            .filter(|p| p == "http" || p == "https")
            .unwrap_or_else(|| direct.to_owned());
        let base_url = match host {
            Some(host) => format!("{scheme}://{host}"),
            None => state
                .config
                .public_url
                .clone()
                .unwrap_or_else(|| "http://localhost".into()),
        };
        Ok(Origin {
            client_ip,
            base_url,
            cross_site,
        })
    }
}

/// The client's address in an `X-Forwarded-For` list. Each proxy appends
/// the address it was reached from, so the list is read from the right:
/// past our own proxies, the first address is the one the outermost of them
/// saw. What lies left of it the client wrote itself, and may be anything.
fn client_of(list: &str, trusted: impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let mut outermost_proxy = None;
    for hop in list.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break; // garbage: trust nothing further left
        };
        if !trusted(ip) {
            return Some(ip);
        }
        outermost_proxy = Some(ip);
    }
    outermost_proxy
}

/// A Host header goes into URLs we hand out: accept only host[:port].
fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// Whether a request comes from a page of another site, as browsers tell:
/// `Sec-Fetch-Site` other than `same-origin` or `none` (typed or bookmarked)
/// says so; where it is missing (older browsers), an `Origin` whose host is
/// neither the host addressed nor the public URL's says so. A request with
/// neither header is no browser's cross-site request (browsers send `Origin`
/// on every cross-site POST), as in Go's `CrossOriginProtection`.
pub fn is_cross_site(
    fetch_site: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
    public_url: Option<&str>,
) -> bool {
    if let Some(site) = fetch_site {
        return !matches!(site.trim(), "same-origin" | "none");
    }
    let Some(origin) = origin else {
        return false;
    };
    let Some(origin_host) = authority(origin) else {
        // `null` (sandboxed pages, some redirects) and anything unparsable.
        return true;
    };
    let ours = host
        .map(|h| strip_default_port(&h.to_ascii_lowercase()))
        .into_iter()
        .chain(public_url.and_then(authority));
    !ours.into_iter().any(|h| h == origin_host)
}

/// `host[:port]` of an `http(s)://` URL, lower-cased, without a default port.
fn authority(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    (!authority.is_empty()).then(|| strip_default_port(&authority))
}

fn strip_default_port(authority: &str) -> String {
    authority
        .strip_suffix(":80")
        .or_else(|| authority.strip_suffix(":443"))
        .unwrap_or(authority)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_requests_are_told_by_fetch_metadata_or_origin() {
        let host = Some("hub.example:8080");
        // Programs send neither header.
        assert!(!is_cross_site(None, None, host, None));
        assert!(!is_cross_site(Some("same-origin"), None, host, None));
        assert!(!is_cross_site(Some("none"), None, host, None));
        assert!(is_cross_site(Some("cross-site"), None, host, None));
        assert!(is_cross_site(Some("same-site"), None, host, None));
        // Fetch metadata wins over Origin.
        assert!(is_cross_site(
            Some("cross-site"),
            Some("http://hub.example:8080"),
            host,
            None
        ));
        assert!(!is_cross_site(
            None,
            Some("http://hub.example:8080"),
            host,
            None
        ));
        assert!(!is_cross_site(
            None,
            Some("https://HUB.example:8080"),
            host,
            None
        ));
        assert!(is_cross_site(None, Some("http://evil.example"), host, None));
        assert!(is_cross_site(
            None,
            Some("http://hub.example:8081"),
            host,
            None
        ));
        assert!(is_cross_site(None, Some("null"), host, None));
        // Default ports, and the public URL behind a proxy.
        assert!(!is_cross_site(
            None,
            Some("https://hub.example"),
            Some("hub.example:443"),
            None
        ));
        assert!(!is_cross_site(
            None,
            Some("https://hub.example"),
            Some("10.0.0.5:8080"),
            Some("https://hub.example")
        ));
        assert!(is_cross_site(None, Some("https://hub.example"), None, None));
    }

    #[test]
    fn the_client_is_the_last_address_no_trusted_proxy_added() {
        let ours = |ip: IpAddr| ip.to_string().starts_with("10.");
        let client = |list: &str| client_of(list, ours).map(|ip| ip.to_string());
        assert_eq!(client("198.51.100.1").as_deref(), Some("198.51.100.1"));
        // The client's own header is kept by the proxy, left of what it adds.
        assert_eq!(
            client("203.0.113.7, 198.51.100.1").as_deref(),
            Some("198.51.100.1")
        );
        assert_eq!(
            client("203.0.113.7, 198.51.100.1, 10.0.0.5").as_deref(),
            Some("198.51.100.1")
        );
        assert_eq!(client("x, 198.51.100.1").as_deref(), Some("198.51.100.1"));
        assert_eq!(client("10.0.0.9, 10.0.0.5").as_deref(), Some("10.0.0.9"));
        assert_eq!(client("198.51.100.1, garbage").as_deref(), None);
    }
}
