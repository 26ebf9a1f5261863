//! What the Spaces proxy costs, in one run: the same small app
//! (`tests::space_app`, on a Unix socket) asked straight through its socket,
//! and through the hub (a Space's origin → the runner's tunnel, HTTP/2 →
//! the socket). Not a test: run it with `bench/spaces_proxy`.
//!
//! - requests/s of `GET /` from `BENCH_CLIENTS` (16) keep-alive clients
//!   for `BENCH_SECONDS` (5) per round, two rounds per side, interleaved;
//! - the median latency of one client's sequential `GET /`;
//! - the median time to the first SSE event (a new connection each time);
//! - the median round trip of a small WebSocket frame.
//!
//! The runner's end of the tunnel runs in this process (the worker would
//! run it in its own), with the clients: on a small machine they all share
//! the cores with the hub.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hub_core::jobs::protocol::{
    Capabilities, Device, DeviceKind, RegisterRequest, RegisterResponse, Task,
};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tests::TestHub;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use uuid::Uuid;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Where a request goes: the app's socket, or the hub.
#[derive(Clone)]
enum Target {
    App(PathBuf),
    Hub(std::net::SocketAddr),
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

impl Target {
    async fn stream(&self) -> Box<dyn Io> {
        match self {
            Target::App(path) => Box::new(tokio::net::UnixStream::connect(path).await.unwrap()),
            Target::Hub(addr) => {
                let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                tcp.set_nodelay(true).unwrap();
                Box::new(tcp)
            }
        }
    }

    async fn client(&self) -> SendRequest<Empty<Bytes>> {
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(self.stream().await))
                .await
                .unwrap();
        tokio::spawn(connection);
        sender
    }
}

fn get(host: &str, path: &str) -> Request<Empty<Bytes>> {
    Request::get(path)
        .header("host", host)
        .body(Empty::new())
        .unwrap()
}

/// One `GET /`, its whole answer read.
async fn page(sender: &mut SendRequest<Empty<Bytes>>, host: &str) {
    sender.ready().await.unwrap();
    let response = sender.send_request(get(host, "/")).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
}

async fn throughput(target: &Target, host: &str, clients: u64, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (target, host, done) = (target.clone(), host.to_owned(), done.clone());
            tokio::spawn(async move {
                let mut sender = target.client().await;
                while Instant::now() < until {
                    page(&mut sender, &host).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn latency(target: &Target, host: &str, n: usize) -> Duration {
    let mut sender = target.client().await;
    page(&mut sender, host).await;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        page(&mut sender, host).await;
        samples.push(t.elapsed());
    }
    median(samples)
}

async fn sse_first_event(target: &Target, host: &str, n: usize) -> Duration {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut sender = target.client().await;
        let response = sender.send_request(get(host, "/sse")).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        loop {
            let frame = body.frame().await.expect("an event").unwrap();
            if frame.data_ref().is_some_and(|d| !d.is_empty()) {
                break;
            }
        }
        samples.push(t.elapsed());
    }
    median(samples)
}

async fn websocket_round_trip(target: &Target, host: &str, n: usize) -> Duration {
    let mut ws = target.stream().await;
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    ws.write_all(handshake.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(ws.read_u8().await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let frame = [
        0x81,
        0x85,
        1,
        2,
        3,
        4,
        b'h' ^ 1,
        b'e' ^ 2,
        b'l' ^ 3,
        b'l' ^ 4,
        b'o' ^ 1,
    ];
    let mut back = [0u8; 11];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        ws.write_all(&frame).await.unwrap();
        ws.read_exact(&mut back).await.unwrap();
        samples.push(t.elapsed());
    }
    assert_eq!(back, frame);
    median(samples)
}

/// A hub with a running Space `alice/bench` whose run is leased to a runner
/// session, served by this process's tunnel from `socket`.
async fn space(hub: &TestHub, socket: PathBuf) -> String {
    let token = hub.user_with_token("alice");
    let worker_token = hub
        .cli_ok(&["worker-token", "create", "--name", "runner"])
        .trim()
        .to_owned();
    let registered: RegisterResponse = reqwest::Client::new()
        .post(format!("{}/api/workers/register", hub.url))
        .bearer_auth(&worker_token)
        .json(&RegisterRequest {
            capabilities: Capabilities {
                spaces: None,
                device: Device {
                    kind: DeviceKind::Cpu,
                    name: "bench".into(),
                    memory_bytes: 1 << 30,
                },
                architectures: vec!["space:cpu-basic".into()],
                tasks: vec![Task::SpaceRun],
                max_concurrent_jobs: 1,
                version: "bench".into(),
            },
            loaded_models: vec![],
        })
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = hub
        .api(Some(&token))
        .post(
            "/api/repos/create",
            json!({ "name": "bench", "organization": "alice", "type": "space", "sdk": "gradio" }),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let repo_id: i64 = created.body["id"].as_str().unwrap().parse().unwrap();
    let db = sqlx::PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let job = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO inference_jobs (id, state, task, repo_id, repo_name, revision, architecture,
             memory_bytes, input, client_ip, max_attempts, leased_to, lease_expires_at, started_at)
         VALUES ($1, 'running', 'space-run', $2, 'alice/bench', 'main', 'space:cpu-basic', 0, '{}',
             '127.0.0.1', 1, $3, now() + interval '1 hour', now())",
    )
    .bind(job)
    .bind(repo_id)
    .bind(registered.session)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO space_runtimes (repo_id, subdomain, stage, sdk, job_id)
         VALUES ($1, 'alice-bench', 'RUNNING', 'gradio', $2)
         ON CONFLICT (repo_id) DO UPDATE SET subdomain = 'alice-bench', stage = 'RUNNING',
             sdk = 'gradio', job_id = $2",
    )
    .bind(repo_id)
    .bind(job)
    .execute(&db)
    .await
    .unwrap();
    let resolve: inference_worker::spaces::tunnel::Resolve =
        Arc::new(move |asked| (asked == job).then(|| socket.clone()));
    tokio::spawn(inference_worker::spaces::tunnel::run(
        hub.url.clone(),
        worker_token,
        registered.session,
        resolve,
    ));
    let port = hub.url.rsplit(':').next().unwrap();
    format!("alice-bench.localhost:{port}")
}

#[tokio::main]
async fn main() {
    let clients = env_or("BENCH_CLIENTS", 16);
    let seconds = env_or("BENCH_SECONDS", 5);
    let hub = TestHub::start().await;
    let app_dir = tempfile::tempdir().unwrap();
    let socket = tests::space_app::start(app_dir.path());
    let host = space(&hub, socket.clone()).await;
    let app = Target::App(socket);
    let via_hub = Target::Hub(hub.url.trim_start_matches("http://").parse().unwrap());
    // Until the tunnel is open.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut sender = via_hub.client().await;
        let response = sender.send_request(get(&host, "/")).await.unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the Space was never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("warming up");
    throughput(&app, &host, clients, 1).await;
    throughput(&via_hub, &host, clients, 1).await;
    let (mut direct, mut proxied) = (0.0, 0.0);
    for round in 0..2 {
        eprintln!("throughput, round {}", round + 1);
        direct += throughput(&app, &host, clients, seconds).await / 2.0;
        proxied += throughput(&via_hub, &host, clients, seconds).await / 2.0;
    }
    eprintln!("latency");
    let lat_direct = latency(&app, &host, 500).await;
    let lat_proxied = latency(&via_hub, &host, 500).await;
    eprintln!("SSE");
    let sse_direct = sse_first_event(&app, &host, 50).await;
    let sse_proxied = sse_first_event(&via_hub, &host, 50).await;
    eprintln!("WebSocket");
    let ws_direct = websocket_round_trip(&app, &host, 1000).await;
    let ws_proxied = websocket_round_trip(&via_hub, &host, 1000).await;

    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1000.0);
    let added = lat_proxied.saturating_sub(lat_direct);
    println!("| figure | through the hub | straight to the app | result | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| `GET /`, {clients} clients, requests/s | {proxied:.0} | {direct:.0} | ratio {:.2} | ≥ 0.8 |",
        proxied / direct
    );
    println!(
        "| `GET /` median latency, 1 client | {} | {} | +{} | ≤ +2 ms |",
        ms(lat_proxied),
        ms(lat_direct),
        ms(added)
    );
    println!(
        "| SSE first event (new connection), median | {} | {} | +{} | — |",
        ms(sse_proxied),
        ms(sse_direct),
        ms(sse_proxied.saturating_sub(sse_direct))
    );
    println!(
        "| WebSocket round trip, median | {} | {} | +{} | — |",
        ms(ws_proxied),
        ms(ws_direct),
        ms(ws_proxied.saturating_sub(ws_direct))
    );
}
