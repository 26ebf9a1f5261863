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
            .and_then(|list| list.split(',').next().and_then(|ip| ip.trim().parse().ok()))
            .unwrap_or(peer);
        let host = forwarded("x-forwarded-host")
            .or_else(|| header("host"))
            .filter(|h| is_plausible_host(h));
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
        })
    }
}

/// A Host header goes into URLs we hand out: accept only host[:port].
fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}
