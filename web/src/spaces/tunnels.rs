//! The hub's end of the runners' tunnels: after a runner's
//! `GET /api/workers/tunnel` is upgraded, the hub is the HTTP/2 client on
//! that connection. This registry maps each runner session to its open
//! tunnel; an entry lives exactly as long as its connection (a newer tunnel
//! of the same session replaces it).
//!
//! Tunnels live in this process only: a Space's requests reach the runner
//! through the hub node its tunnel is connected to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hyper::client::conn::http2::SendRequest;
use hyper::upgrade::Upgraded;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use uuid::Uuid;

/// HTTP/2 pings on a tunnel, and how long one may go unanswered before the
/// tunnel counts as dead (the runner then opens another).
const KEEPALIVE: Duration = Duration::from_secs(20);

/// The open tunnels, by runner session. Cheap to clone.
#[derive(Clone, Default)]
pub struct Tunnels {
    open: Arc<Mutex<HashMap<Uuid, Tunnel>>>,
    next_id: Arc<AtomicU64>,
}

struct Tunnel {
    /// Tells this connection from a newer one of the same session.
    id: u64,
    sender: SendRequest<Body>,
}

impl Tunnels {
    /// Where requests for session `session`'s apps go, if its tunnel is open.
    pub fn get(&self, session: Uuid) -> Option<SendRequest<Body>> {
        let open = self.open.lock().expect("tunnels lock");
        open.get(&session)
            .map(|t| t.sender.clone())
            .filter(|s| !s.is_closed())
    }

    /// Makes `io` (a runner's upgraded connection) session `session`'s
    /// tunnel, and drives it until it ends; then forgets it.
    pub async fn serve(&self, session: Uuid, io: Upgraded) {
        let handshake = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(KEEPALIVE)
            .keep_alive_timeout(KEEPALIVE)
            .keep_alive_while_idle(true)
            .adaptive_window(true)
            .handshake(io)
            .await;
        let (sender, connection) = match handshake {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(%session, error = %e, "a Spaces tunnel failed its HTTP/2 handshake");
                return;
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.open
            .lock()
            .expect("tunnels lock")
            .insert(session, Tunnel { id, sender });
        tracing::info!(%session, "a Spaces tunnel opened");
        if let Err(e) = connection.await {
            tracing::info!(%session, error = %e, "a Spaces tunnel broke");
        }
        let mut open = self.open.lock().expect("tunnels lock");
        if open.get(&session).is_some_and(|t| t.id == id) {
            open.remove(&session);
        }
        tracing::info!(%session, "a Spaces tunnel closed");
    }
}
