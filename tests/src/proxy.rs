//! A small reverse proxy for the multi-node tests: what a load balancer in
//! front of several `hub serve` nodes does, in a few hundred lines of hyper.
//!
//! - Round-robin per request over the nodes that are up (a keep-alive
//!   connection from a client does not stick to one node).
//! - `X-Forwarded-For` (the peer appended), `-Proto` and `-Host` set, as the
//!   nodes expect from a proxy listed in `HUB_TRUSTED_PROXIES`; it reaches
//!   them from its own address ([`SOURCE_IP`]), so that they can trust it
//!   and not its clients.
//! - A node that refuses the connection is marked down and the request goes
//!   to the next one (nothing was sent yet, so even a POST may be retried:
//!   nginx's `proxy_next_upstream error`). A node that dies mid-request
//!   breaks that request, as it would behind a real balancer.
//! - Bodies are streamed both ways, never buffered.
//!
//! For the tests, two request headers (removed before forwarding):
//! `X-Test-Node: N` pins a request to node N, and `X-Test-Throttle: B`
//! forwards its body at about B bytes a second, so that a test can hold an
//! upload or a push in flight on a node it is about to kill. Every answer
//! says which node served it in `X-Served-By`, and [`Proxy::in_flight`]
//! shows the requests under way with how much of their bodies went out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Pins a request to one node (`X-Test-Node: 2`).
pub const PIN_HEADER: &str = "x-test-node";
/// Slows a request's body down to about this many bytes a second.
pub const THROTTLE_HEADER: &str = "x-test-throttle";
/// Which node served an answer.
pub const SERVED_BY_HEADER: &str = "x-served-by";
/// The address the proxy connects to the nodes from: not the clients'
/// 127.0.0.1, so that the nodes can trust the proxy and not the clients.
pub const SOURCE_IP: &str = "127.0.0.2";

/// Headers that describe one hop, not the request (RFC 9110 §7.6.1), and
/// `Expect`, which the proxy has already answered itself.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

struct Backend {
    addr: SocketAddr,
    up: bool,
}

/// A request on its way through the proxy.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub node: usize,
    pub method: String,
    pub path: String,
    /// Bytes of the request body forwarded to the node so far.
    pub sent: u64,
}

/// A request on the in-flight list, its body's progress counted as it goes.
struct Tracked {
    node: usize,
    method: String,
    path: String,
    sent: Arc<AtomicU64>,
}

#[derive(Default)]
struct Shared {
    backends: Mutex<Vec<Backend>>,
    next: AtomicUsize,
    request_ids: AtomicU64,
    in_flight: Mutex<HashMap<u64, Tracked>>,
    /// Requests served, per node.
    served: Mutex<Vec<u64>>,
}

/// The running proxy; stops when dropped.
pub struct Proxy {
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port. It runs on a runtime of its own, so
    /// a test that blocks its own threads (a `git` child, say) never stalls it.
    pub fn start() -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn({
            let shared = shared.clone();
            move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    tokio::select! {
                        _ = accept_loop(listener, shared) => {}
                        _ = stopped => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            }
        });
        Proxy {
            url,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Sets node `index`'s address (adding it when new) and marks it up.
    pub fn set_node(&self, index: usize, url: &str) {
        let addr: SocketAddr = url
            .trim_start_matches("http://")
            .parse()
            .expect("a node URL of the form http://IP:PORT");
        let mut backends = self.shared.backends.lock().unwrap();
        let mut served = self.shared.served.lock().unwrap();
        while backends.len() <= index {
            backends.push(Backend { addr, up: false });
            served.push(0);
        }
        backends[index] = Backend { addr, up: true };
    }

    /// Marks node `index` down, as a balancer's health check would.
    pub fn set_down(&self, index: usize) {
        self.shared.backends.lock().unwrap()[index].up = false;
    }

    /// Requests served so far, per node.
    pub fn served(&self) -> Vec<u64> {
        self.shared.served.lock().unwrap().clone()
    }

    /// The requests under way now.
    pub fn in_flight(&self) -> Vec<InFlight> {
        self.shared
            .in_flight
            .lock()
            .unwrap()
            .values()
            .map(|t| InFlight {
                node: t.node,
                method: t.method.clone(),
                path: t.path.clone(),
                sent: t.sent.load(Ordering::Relaxed),
            })
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, hyper::Error>(forward(shared, peer, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Sends one request on to a node and hands back its answer.
async fn forward(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let pinned = header(PIN_HEADER).map(|n| n as usize);
    let throttle = header(THROTTLE_HEADER);
    for name in HOP_BY_HOP
        .iter()
        .chain(&["expect", PIN_HEADER, THROTTLE_HEADER])
    {
        parts.headers.remove(*name);
    }
    let forwarded_for = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(list) => format!("{list}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    let host = parts.headers.get("host").cloned();
    let set = |headers: &mut hyper::HeaderMap, name: &'static str, value: HeaderValue| {
        headers.insert(HeaderName::from_static(name), value);
    };
    set(
        &mut parts.headers,
        "x-forwarded-for",
        HeaderValue::from_str(&forwarded_for).unwrap(),
    );
    set(
        &mut parts.headers,
        "x-forwarded-proto",
        HeaderValue::from_static("http"),
    );
    if let Some(host) = host {
        set(&mut parts.headers, "x-forwarded-host", host);
    }

    // Connect first: a node that is not there gets nothing, so the request
    // may go to the next one whatever its method.
    let Some((node, stream)) = connect(&shared, pinned).await else {
        return error(StatusCode::BAD_GATEWAY, "no hub node answered");
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake::<_, ProxyBody>(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("handshake: {e}")),
        };
    tokio::spawn(connection);

    // Under way until both the answer's head has come back and the body
    // has gone out (a node may answer before it has read all of it).
    let id = shared.request_ids.fetch_add(1, Ordering::Relaxed);
    let sent = Arc::new(AtomicU64::new(0));
    let tracked = Tracked {
        node,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        sent: sent.clone(),
    };
    shared.in_flight.lock().unwrap().insert(id, tracked);
    let guard = Arc::new(InFlightGuard {
        shared: shared.clone(),
        id,
    });
    let upstream = Request::from_parts(parts, metered(body, throttle, sent, guard.clone()));
    let answer = sender.send_request(upstream).await;
    drop(guard);
    shared.served.lock().unwrap()[node] += 1;
    match answer {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            for name in HOP_BY_HOP {
                parts.headers.remove(name);
            }
            parts.headers.insert(
                HeaderName::from_static(SERVED_BY_HEADER),
                HeaderValue::from(node),
            );
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &format!("node {node}: {e}")),
    }
}

/// A connection to the pinned node, or to the next node in turn that
/// accepts one (marking those that refuse down).
async fn connect(shared: &Shared, pinned: Option<usize>) -> Option<(usize, tokio::net::TcpStream)> {
    if let Some(node) = pinned {
        let addr = shared.backends.lock().unwrap().get(node)?.addr;
        return open(addr).await.ok().map(|s| (node, s));
    }
    let count = shared.backends.lock().unwrap().len();
    for _ in 0..count {
        let node = shared.next.fetch_add(1, Ordering::Relaxed) % count;
        let addr = {
            let backends = shared.backends.lock().unwrap();
            if !backends[node].up {
                continue;
            }
            backends[node].addr
        };
        match open(addr).await {
            Ok(stream) => return Some((node, stream)),
            Err(_) => shared.backends.lock().unwrap()[node].up = false,
        }
    }
    None
}

/// A connection to a node from [`SOURCE_IP`].
async fn open(addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(SOURCE_IP.parse().unwrap(), 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Takes a request off the in-flight list when the last of its holders
/// (the forwarding task, the body on its way out) lets go.
struct InFlightGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.shared.in_flight.lock().unwrap().remove(&self.id);
    }
}

/// The request body as it goes out: counted, and slowed down when asked.
fn metered(
    body: Incoming,
    throttle: Option<u64>,
    sent: Arc<AtomicU64>,
    guard: Arc<InFlightGuard>,
) -> ProxyBody {
    use hyper::body::Body;
    if body.is_end_stream() {
        // No body (a GET): none upstream either, rather than an empty chunked one.
        return http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed();
    }
    // With a throttle, at most a tenth of a second's worth at a time.
    let piece = throttle.map(|rate| (rate / 10).max(1) as usize);
    let frames = futures::stream::unfold(
        (body, Bytes::new(), guard),
        move |(mut body, mut rest, guard)| {
            let sent = sent.clone();
            async move {
                loop {
                    if !rest.is_empty() {
                        let n = piece.map_or(rest.len(), |p| p.min(rest.len()));
                        let chunk = rest.split_to(n);
                        if let Some(rate) = throttle {
                            let secs = n as f64 / rate.max(1) as f64;
                            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                        }
                        sent.fetch_add(n as u64, Ordering::Relaxed);
                        return Some((Ok(Frame::data(chunk)), (body, rest, guard)));
                    }
                    match body.frame().await? {
                        Ok(frame) => match frame.into_data() {
                            Ok(data) => rest = data,
                            Err(frame) => return Some((Ok(frame), (body, rest, guard))),
                        },
                        Err(e) => return Some((Err(e), (body, rest, guard))),
                    }
                }
            }
        },
    );
    StreamBody::new(frames).boxed()
}

fn error(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(format!("proxy: {message}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}
