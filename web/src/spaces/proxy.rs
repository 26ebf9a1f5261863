//! Forwarding a visitor's request to a Space's app, through the tunnel of
//! the runner that runs it: bodies streamed both ways (SSE flows event by
//! event), no total timeout (SSE and WebSockets last), a timeout for the
//! answer's headers, a cap on request bodies.
//!
//! The app sees the request as the visitor sent it to the Space's origin,
//! less what is the hub's: `Authorization`, the hub's session cookies and
//! the Space pass; with `X-Forwarded-Host/Proto/For` set by the hub (apps
//! such as Gradio build their URLs from them).
//!
//! A WebSocket (`Upgrade: websocket`) goes through as an extended CONNECT
//! (RFC 8441) with the browser's `Sec-WebSocket-*` headers; on the runner's
//! `200` the visitor gets `101` with the app's answer, then raw bytes flow.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use http_body_util::Limited;
use hub_core::jobs::protocol::SPACE_JOB_HEADER;
use hub_core::jobs::protocol::hop_by_hop::{self, is_hop_by_hop};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::TokioIo;
use uuid::Uuid;

use super::pages;
use super::pass::PASS_COOKIE;

/// The largest request body an app is sent (uploads included).
pub const MAX_REQUEST_BODY: u64 = 100 * 1024 * 1024;
/// How long the app has to start answering (an SSE stream starts at once
/// and may then last as long as it likes).
const HEADER_TIMEOUT: Duration = Duration::from_secs(100);

/// Cookies that are the hub's, never the app's (an app on its own origin
/// never receives them from a browser, but a hub on the same host as its
/// Spaces would be a mistake the proxy does not pass on).
const HUB_COOKIES: [&str; 3] = [
    crate::auth::SESSION_COOKIE,
    crate::routes::ms::auth::MS_SESSION_COOKIE,
    PASS_COOKIE,
];

/// Who sent the request, and where to, as the app is told.
pub struct Visitor {
    pub client_ip: IpAddr,
    /// The Space's host as the visitor addressed it.
    pub host: String,
    /// `http` or `https`.
    pub scheme: &'static str,
}

/// The app's answer to `request` (whose target is already `path_and_query`,
/// with the pass taken out), for job `job` through tunnel `tunnel`.
pub async fn forward(
    tunnel: SendRequest<Body>,
    job: Uuid,
    visitor: &Visitor,
    path_and_query: &str,
    request: Request,
) -> Response {
    let visitor_headers = request.headers().clone();
    let answer = if is_websocket(&request) {
        websocket(tunnel, job, visitor, path_and_query, request).await
    } else {
        plain(tunnel, job, visitor, path_and_query, request).await
    };
    answer.unwrap_or_else(|failure| match failure {
        Failure::TooLarge => {
            (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response()
        }
        Failure::Timeout => pages::unreachable(&visitor_headers, StatusCode::GATEWAY_TIMEOUT),
        Failure::Tunnel(e) => {
            tracing::debug!(%job, error = %e, "a Space request through the tunnel failed");
            pages::unreachable(&visitor_headers, StatusCode::BAD_GATEWAY)
        }
    })
}

enum Failure {
    TooLarge,
    Timeout,
    Tunnel(String),
}

async fn plain(
    tunnel: SendRequest<Body>,
    job: Uuid,
    visitor: &Visitor,
    path_and_query: &str,
    request: Request,
) -> Result<Response, Failure> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY) {
        return Err(Failure::TooLarge);
    }
    let (parts, body) = request.into_parts();
    let body = Body::new(Limited::new(body, MAX_REQUEST_BODY as usize));
    let mut upstream = upstream_request(parts.method, visitor, path_and_query, body)?;
    *upstream.headers_mut() = headers_for_app(&parts.headers, job, visitor);
    let response = send(tunnel, upstream).await?;
    Ok(from_app(response))
}

async fn websocket(
    tunnel: SendRequest<Body>,
    job: Uuid,
    visitor: &Visitor,
    path_and_query: &str,
    mut request: Request,
) -> Result<Response, Failure> {
    let mut connect = upstream_request(Method::CONNECT, visitor, path_and_query, Body::empty())?;
    *connect.headers_mut() = headers_for_app(request.headers(), job, visitor);
    connect
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let mut response = send(tunnel, connect).await?;
    if response.status() != StatusCode::OK {
        // The app refused (or is not there): its answer, as it is.
        return Ok(from_app(response));
    }
    let mut accepted = Response::new(Body::empty());
    *accepted.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (name, value) in response.headers() {
        if !is_hop_by_hop(name) && name != header::CONTENT_LENGTH {
            accepted.headers_mut().append(name, value.clone());
        }
    }
    let headers = accepted.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let from_app = hyper::upgrade::on(&mut response);
    let from_visitor = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let (app, visitor) = match tokio::try_join!(from_app, from_visitor) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(%job, error = %e, "a Space WebSocket did not open");
                return;
            }
        };
        let (mut app, mut visitor) = (TokioIo::new(app), TokioIo::new(visitor));
        if let Err(e) = tokio::io::copy_bidirectional(&mut app, &mut visitor).await {
            tracing::debug!(%job, error = %e, "a Space WebSocket ended");
        }
    });
    Ok(accepted)
}

/// An HTTP/2 request to the runner: absolute form, the Space's host as
/// authority (the runner makes it the app's `Host`).
fn upstream_request(
    method: Method,
    visitor: &Visitor,
    path_and_query: &str,
    body: Body,
) -> Result<hyper::Request<Body>, Failure> {
    hyper::Request::builder()
        .method(method)
        .uri(format!("http://{}{path_and_query}", visitor.host))
        .version(Version::HTTP_2)
        .body(body)
        .map_err(|e| Failure::Tunnel(e.to_string()))
}

async fn send(
    mut tunnel: SendRequest<Body>,
    request: hyper::Request<Body>,
) -> Result<hyper::Response<hyper::body::Incoming>, Failure> {
    let sent = async {
        tunnel.ready().await?;
        tunnel.send_request(request).await
    };
    match tokio::time::timeout(HEADER_TIMEOUT, sent).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(e)) => Err(Failure::Tunnel(e.to_string())),
        Ok(Ok(response)) => Ok(response),
    }
}

fn from_app(response: hyper::Response<hyper::body::Incoming>) -> Response {
    let (mut parts, body) = response.into_parts();
    hop_by_hop::strip(&mut parts.headers);
    Response::from_parts(parts, Body::new(body))
}

fn is_websocket(request: &Request) -> bool {
    let has_token = |name: HeaderName, token: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    request.method() == Method::GET
        && has_token(header::CONNECTION, "upgrade")
        && has_token(header::UPGRADE, "websocket")
}

/// The visitor's headers as the app gets them.
fn headers_for_app(from: &HeaderMap, job: Uuid, visitor: &Visitor) -> HeaderMap {
    let mut to = from.clone();
    hop_by_hop::strip(&mut to);
    for name in [
        header::HOST,
        header::AUTHORIZATION,
        header::COOKIE,
        header::FORWARDED,
        HeaderName::from_static("x-forwarded-host"),
        HeaderName::from_static("x-forwarded-proto"),
        HeaderName::from_static("x-forwarded-for"),
        HeaderName::from_static(SPACE_JOB_HEADER),
    ] {
        to.remove(name);
    }
    if let Some(cookies) = app_cookies(from) {
        to.insert(header::COOKIE, cookies);
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            to.insert(HeaderName::from_static(name), value);
        }
    };
    set("x-forwarded-host", &visitor.host);
    set("x-forwarded-proto", visitor.scheme);
    set("x-forwarded-for", &visitor.client_ip.to_string());
    set(SPACE_JOB_HEADER, &job.to_string());
    to
}

/// The visitor's cookies less the hub's, if any are left.
fn app_cookies(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("").trim();
            !pair.is_empty() && !HUB_COOKIES.contains(&name)
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor() -> Visitor {
        Visitor {
            client_ip: IpAddr::from([192, 0, 2, 7]),
            host: "a-b.localhost:8080".into(),
            scheme: "http",
        }
    }

    #[test]
    fn the_app_gets_no_hub_credentials_and_is_told_where_the_visitor_came_from() {
        let mut from = HeaderMap::new();
        from.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer ky_x"),
        );
        from.append(
            header::COOKIE,
            HeaderValue::from_static("ky_session=s; app=1; kaiyuan_space_pass=p"),
        );
        from.append(
            header::COOKIE,
            HeaderValue::from_static("m_session_id=m; theme=dark"),
        );
        from.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        from.insert(SPACE_JOB_HEADER, HeaderValue::from_static("forged"));
        from.insert(header::CONNECTION, HeaderValue::from_static("x-secret"));
        from.insert("x-secret", HeaderValue::from_static("1"));
        from.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        let job = Uuid::new_v4();
        let to = headers_for_app(&from, job, &visitor());
        assert!(!to.contains_key(header::AUTHORIZATION));
        assert!(!to.contains_key("x-secret"));
        assert_eq!(to[header::COOKIE], "app=1; theme=dark");
        assert_eq!(to["x-forwarded-for"], "192.0.2.7");
        assert_eq!(to["x-forwarded-host"], "a-b.localhost:8080");
        assert_eq!(to["x-forwarded-proto"], "http");
        assert_eq!(to[SPACE_JOB_HEADER], job.to_string().as_str());
        assert_eq!(to[header::ACCEPT], "text/html");
    }

    #[test]
    fn only_hub_cookies_means_no_cookie_header() {
        let mut from = HeaderMap::new();
        from.insert(header::COOKIE, HeaderValue::from_static("ky_session=s"));
        assert!(app_cookies(&from).is_none());
    }
}
