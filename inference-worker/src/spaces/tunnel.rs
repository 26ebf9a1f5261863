//! The runner's end of the Spaces tunnel: the runner has no inbound port,
//! so it opens one connection to the hub (`GET {TUNNEL_PATH}?session=S`,
//! `Upgrade: kaiyuan-tunnel`) and, after `101`, serves HTTP/2 on it. The hub
//! is the client: each request names its app's job in `SPACE_JOB_HEADER`,
//! and is forwarded over HTTP/1.1 to that app's Unix socket (on
//! connections kept open), bodies streamed both ways (an SSE response flows event by event).
//!
//! A WebSocket arrives as an extended CONNECT (RFC 8441, `:protocol
//! websocket`): the runner makes the real `Upgrade: websocket` handshake
//! with the app, answers `200` with the app's `Sec-WebSocket-*` answer, and
//! then copies raw bytes both ways (extensions and subprotocols stay
//! between the browser and the app).
//!
//! A broken tunnel is opened again with backoff; HTTP/2 pings notice a
//! silently dead one.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::UnixStream;
use uuid::Uuid;
use worker_protocol::hop_by_hop::{self, is_hop_by_hop};
use worker_protocol::{SPACE_JOB_HEADER, TUNNEL_PATH, TUNNEL_UPGRADE};

use crate::client::UnknownSession;

/// Finds the Unix socket of the app a space-run job serves on this runner
/// (`None`: no such app runs here, or not yet).
pub type Resolve = Arc<dyn Fn(Uuid) -> Option<PathBuf> + Send + Sync>;

type Body = BoxBody<Bytes, hyper::Error>;

/// HTTP/2 pings on an idle tunnel, and how long one may go unanswered.
const KEEPALIVE: Duration = Duration::from_secs(20);
/// Idle connections kept to each app, and for how long.
const APP_MAX_IDLE: usize = 32;
const APP_IDLE: Duration = Duration::from_secs(30);
/// Requests and WebSockets in flight on one tunnel.
const MAX_STREAMS: u32 = 1024;
/// Waiting between attempts to open the tunnel, doubled after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A tunnel that stayed up this long starts the backoff from the beginning.
const STABLE: Duration = Duration::from_secs(30);
/// For connecting to an app's socket (a live app accepts at once).
const APP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the tunnel of worker session `session` open to the hub at
/// `hub_url` (`http://host:port`), with worker token `token`, serving the
/// apps `resolve` finds. Runs until the hub no longer knows the session
/// (then fails with [`UnknownSession`]: register again and start another);
/// abort the task to stop it.
pub async fn run(hub_url: String, token: String, session: Uuid, resolve: Resolve) -> Result<()> {
    // HTTP/1.1 only: an upgrade is an HTTP/1.1 thing.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http1_only()
        .build()?;
    let url = format!(
        "{}{TUNNEL_PATH}?session={session}",
        hub_url.trim_end_matches('/')
    );
    let mut backoff = FIRST_BACKOFF;
    loop {
        let opened = Instant::now();
        match serve_once(&http, &url, &token, resolve.clone()).await {
            Ok(()) => tracing::info!(%session, "the Spaces tunnel closed"),
            Err(e) if e.is::<UnknownSession>() => return Err(e),
            Err(e) => {
                tracing::warn!(%session, error = %format!("{e:#}"), "the Spaces tunnel failed")
            }
        }
        if opened.elapsed() > STABLE {
            backoff = FIRST_BACKOFF;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Opens the tunnel once and serves it until it ends.
async fn serve_once(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    resolve: Resolve,
) -> Result<()> {
    let response = http
        .get(url)
        .bearer_auth(token)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, TUNNEL_UPGRADE)
        .send()
        .await
        .context("opening the tunnel")?;
    let status = response.status();
    if matches!(
        status,
        StatusCode::NOT_FOUND | StatusCode::CONFLICT | StatusCode::GONE
    ) {
        return Err(UnknownSession.into());
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let body = response.text().await.unwrap_or_default();
        bail!("the hub answered {status} to the tunnel: {body}");
    }
    let upgraded = response.upgrade().await.context("upgrading the tunnel")?;
    tracing::info!("the Spaces tunnel is open");
    let apps = Apps::new(resolve);
    let service = hyper::service::service_fn(move |request| apps.clone().handle(request));
    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .adaptive_window(true)
        // Each open SSE stream or WebSocket holds one.
        .max_concurrent_streams(MAX_STREAMS)
        .enable_connect_protocol()
        .serve_connection(TokioIo::new(upgraded), service)
        .await
        .context("serving the tunnel")
}

/// The apps of this runner, and the connections kept open to them.
#[derive(Clone)]
struct Apps {
    resolve: Resolve,
    /// Keep-alive HTTP/1.1 connections to the apps, by job: a request's URI
    /// names its job as host, and the connector finds that app's socket.
    pool: Client<Connector, Incoming>,
}

type Connector = tower::util::BoxCloneSyncService<hyper::Uri, TokioIo<UnixStream>, std::io::Error>;

impl Apps {
    fn new(resolve: Resolve) -> Apps {
        let find = resolve.clone();
        let connector = tower::service_fn(move |uri: hyper::Uri| {
            let socket = uri
                .host()
                .and_then(|h| h.parse::<Uuid>().ok())
                .and_then(|job| find(job));
            async move {
                let socket =
                    socket.ok_or_else(|| std::io::Error::other("this app does not run here"))?;
                let stream = tokio::time::timeout(APP_CONNECT_TIMEOUT, UnixStream::connect(socket))
                    .await
                    .map_err(|_| std::io::Error::other("connecting to the app timed out"))??;
                Ok(TokioIo::new(stream))
            }
        });
        let pool = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(APP_IDLE)
            .pool_max_idle_per_host(APP_MAX_IDLE)
            .build(tower::util::BoxCloneSyncService::new(connector));
        Apps { resolve, pool }
    }

    /// One request from the hub, for the app its job header names.
    async fn handle(self, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let job = request
            .headers()
            .get(SPACE_JOB_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Uuid>().ok());
        let Some(job) = job else {
            return Ok(plain(StatusCode::BAD_REQUEST, "no space job named"));
        };
        let Some(socket) = (self.resolve)(job) else {
            return Ok(plain(StatusCode::BAD_GATEWAY, "this app does not run here"));
        };
        let answer = if request.method() == Method::CONNECT {
            websocket(&socket, request).await
        } else {
            self.forward(job, request).await
        };
        Ok(answer.unwrap_or_else(|e| {
            tracing::debug!(%job, error = %format!("{e:#}"), "the app did not answer");
            plain(StatusCode::BAD_GATEWAY, "the app did not answer")
        }))
    }

    /// A plain request: to the app and back, bodies streamed.
    async fn forward(&self, job: Uuid, request: Request<Incoming>) -> Result<Response<Body>> {
        let (mut parts, body) = request.into_parts();
        let host = parts.uri.authority().map(|a| a.to_string());
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        // The pool's key: the job (the connector finds its socket).
        parts.uri = format!("http://{job}{path}").parse()?;
        parts.version = Version::HTTP_11;
        hop_by_hop::strip(&mut parts.headers);
        parts.headers.remove(SPACE_JOB_HEADER);
        if let Some(host) = host {
            parts
                .headers
                .insert(header::HOST, HeaderValue::from_str(&host)?);
        }
        let response = self.pool.request(Request::from_parts(parts, body)).await?;
        let (mut parts, body) = response.into_parts();
        hop_by_hop::strip(&mut parts.headers);
        Ok(Response::from_parts(parts, body.boxed()))
    }
}

/// An extended CONNECT for a WebSocket: the app's own upgrade handshake,
/// then raw bytes both ways.
async fn websocket(socket: &Path, mut request: Request<Incoming>) -> Result<Response<Body>> {
    let mut upstream = Request::builder()
        .method(Method::GET)
        .uri(origin_form(request.uri())?)
        .body(Empty::<Bytes>::new())?;
    let headers = upstream.headers_mut();
    for (name, value) in request.headers() {
        if !is_hop_by_hop(name) && name != SPACE_JOB_HEADER {
            headers.append(name, value.clone());
        }
    }
    if let Some(host) = request.uri().authority() {
        headers.insert(header::HOST, HeaderValue::from_str(host.as_str())?);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let mut app = connect(socket).await?;
    let mut response = app.send_request(upstream).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // A refusal (403, 404, …): the hub passes it on as it is.
        let (mut parts, body) = response.into_parts();
        hop_by_hop::strip(&mut parts.headers);
        return Ok(Response::from_parts(parts, body.boxed()));
    }
    let mut accepted = Response::new(empty());
    for (name, value) in response.headers() {
        if !is_hop_by_hop(name) {
            accepted.headers_mut().append(name, value.clone());
        }
    }
    let from_app = hyper::upgrade::on(&mut response);
    let from_hub = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let (app, hub) = match tokio::try_join!(from_app, from_hub) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(error = %e, "a WebSocket through the tunnel did not open");
                return;
            }
        };
        let (mut app, mut hub) = (TokioIo::new(app), TokioIo::new(hub));
        if let Err(e) = tokio::io::copy_bidirectional(&mut app, &mut hub).await {
            tracing::debug!(error = %e, "a WebSocket through the tunnel ended");
        }
    });
    Ok(accepted)
}

/// An HTTP/1.1 connection to the app listening on `socket`.
async fn connect<B>(socket: &Path) -> Result<hyper::client::conn::http1::SendRequest<B>>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::time::timeout(APP_CONNECT_TIMEOUT, UnixStream::connect(socket))
        .await
        .context("connecting to the app timed out")?
        .with_context(|| format!("connecting to {}", socket.display()))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!(error = %e, "a connection to an app ended");
        }
    });
    Ok(sender)
}

/// `/path?query` of a request the hub sent in absolute form.
fn origin_form(uri: &hyper::Uri) -> Result<hyper::Uri> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Ok(path.parse()?)
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn plain(status: StatusCode, message: &'static str) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(message.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_reach_the_app_in_origin_form() {
        let uri: hyper::Uri = "http://a-b.localhost:8080/x/y?q=1".parse().unwrap();
        assert_eq!(origin_form(&uri).unwrap(), "/x/y?q=1");
    }
}
