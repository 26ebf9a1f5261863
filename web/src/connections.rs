//! Serving the app on a listener (plain or TLS), with the timeouts that
//! `axum::serve` does not set: 1,000 half-sent requests once held 1,000
//! descriptors for as long as their clients liked, and a chunked body that
//! never ended held its request open for ever.
//!
//! Each connection is HTTP/1.1 (hyper) with
//! - a header timeout: a connection must send a request's headers within
//!   [`Timeouts::header`] of opening, or of its last answer (which also
//!   closes idle keep-alive connections);
//! - a body timeout: a request body from which nothing arrives for
//!   [`Timeouts::body_idle`] while the handler reads it fails ([`IdleBody`]),
//!   so the handler answers with an error and the connection closes.
//!
//! An answer given without reading the whole request body (a refusal before
//! the upload, say) says `Connection: close`: hyper cannot reuse a
//! connection with unread bytes in it, and a client told nothing would send
//! its next request down a socket that is closing ("server disconnected
//! without sending a response", seen from huggingface_hub after a refused
//! upload).
//!
//! A connection may be upgraded (a Spaces runner's tunnel, a WebSocket to a
//! Space's app); from then on it is no longer HTTP/1.1 and none of this
//! applies to it, nor does shutdown wait for it.
//!
//! Each request carries `ConnectInfo<SocketAddr>` (the client's address) as
//! `axum::serve` gave it. Shutdown stops accepting and lets requests in
//! flight finish.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use axum::serve::Listener;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a client may keep the hub waiting.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a request's headers (`HUB_HEADER_TIMEOUT_SECS`).
    pub header: Duration,
    /// Between pieces of a request body (`HUB_BODY_TIMEOUT_SECS`).
    pub body_idle: Duration,
}

impl Timeouts {
    pub fn of(config: &hub_core::config::Config) -> Timeouts {
        Timeouts {
            header: config.header_timeout,
            body_idle: config.body_idle_timeout,
        }
    }
}

/// Serves `app` on every connection `listener` accepts until `shutdown`,
/// then waits for the requests in flight.
pub async fn serve<L>(mut listener: L, app: Router, timeouts: Timeouts, shutdown: CancellationToken)
where
    L: Listener<Addr = SocketAddr>,
{
    // Told to each connection at shutdown. (hyper-util's GracefulShutdown
    // cannot watch a connection that may be upgraded.)
    let (in_flight, _) = tokio::sync::watch::channel(());
    loop {
        // (The listener deals with accept errors: it waits and goes on.)
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let left_unread = Arc::new(AtomicBool::new(false));
            let request = request.map(|body| {
                Body::new(IdleBody::new(body, timeouts.body_idle).on_unread(left_unread.clone()))
            });
            let app = app.clone();
            async move {
                let mut response = app.oneshot(request).await?;
                // Dropped before its end by the time the answer is ready: nobody
                // will read the rest. (A body a handler still streams is not
                // dropped yet and keeps the connection.)
                if left_unread.load(Ordering::Acquire) {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeouts.header)
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        // Held until the connection ends: shutdown waits for every one.
        let mut watcher = in_flight.subscribe();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut shutting_down = false;
            let ended = loop {
                tokio::select! {
                    ended = connection.as_mut() => break ended,
                    _ = watcher.changed(), if !shutting_down => {
                        shutting_down = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
        });
    }
    // Stop accepting (and free the port) before waiting.
    drop(listener);
    let _ = in_flight.send(());
    in_flight.closed().await;
}

/// A request body that fails when no data arrives for `idle` while it is
/// being read. Time the handler spends elsewhere (say, waiting for its
/// turn before it reads) does not count: the clock starts when a read
/// finds nothing to take.
pub struct IdleBody {
    inner: Incoming,
    idle: Duration,
    /// Set while a read is waiting for data.
    waiting: Option<Pin<Box<Sleep>>>,
    /// Whether the end has been read.
    ended: bool,
    /// Set if the body is dropped before its end.
    left_unread: Option<Arc<AtomicBool>>,
}

impl IdleBody {
    pub fn new(inner: Incoming, idle: Duration) -> IdleBody {
        IdleBody {
            inner,
            idle,
            waiting: None,
            ended: false,
            left_unread: None,
        }
    }

    /// Sets `flag` if the body is dropped before its end was read.
    pub fn on_unread(mut self, flag: Arc<AtomicBool>) -> IdleBody {
        self.left_unread = Some(flag);
        self
    }
}

impl Drop for IdleBody {
    fn drop(&mut self) {
        if let Some(flag) = &self.left_unread
            && !self.ended
            && !http_body::Body::is_end_stream(&self.inner)
        {
            flag.store(true, Ordering::Release);
        }
    }
}

impl http_body::Body for IdleBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = None;
            this.ended = frame.is_none();
            return Poll::Ready(frame.map(|f| f.map_err(io::Error::other)));
        }
        let deadline = Instant::now() + this.idle;
        let timer = this
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        this.waiting = None;
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client sent no data for {} s", this.idle.as_secs_f32()),
        ))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
