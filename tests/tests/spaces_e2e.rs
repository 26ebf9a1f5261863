//! Spaces end to end: the real `hub`, a real `inference-worker` runner
//! (bubblewrap sandbox, its tunnel to the hub), apps pushed to Space repos,
//! built and run, and reached on their own origin through the hub's proxy.

mod inference_support;

use std::time::{Duration, Instant};

use inference_support::{Hub, hub_with};
use serde_json::{Value, json};
use tests::runner::{Runner, runner_dir};
use tests::{Api, file_op};

pub async fn runtime(api: &Api, space: &str) -> Value {
    api.get(&format!("/api/spaces/{space}/runtime")).await.body
}

/// Waits for the Space to leave its passing stages; returns the runtime.
pub async fn settled(api: &Api, space: &str, runner: &Runner, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let rt = runtime(api, space).await;
        let stage = rt["stage"].as_str().unwrap_or_default().to_owned();
        if !matches!(stage.as_str(), "BUILDING" | "APP_STARTING") {
            return rt;
        }
        assert!(
            start.elapsed() < limit,
            "{space} still {stage} after {limit:?}; runner log:\n{}",
            runner.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A plain-Python app with only the standard library: a page, what it
/// got (its environment and the headers that reached it), a server-sent
/// event stream, and a WebSocket echo.
pub const STDLIB_APP: &str = r#"
import base64, hashlib, http.server, json, os, socket, time

class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, kind="text/html; charset=utf-8"):
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/":
            self.reply(200, "<h1>你好 from a Space</h1>".encode())
        elif self.path == "/seen":
            seen = {
                "secret": os.environ.get("API_KEY"),
                "mode": os.environ.get("MODE"),
                "space_id": os.environ.get("SPACE_ID"),
                "cookie": self.headers.get("cookie"),
                "authorization": self.headers.get("authorization"),
                "forwarded_host": self.headers.get("x-forwarded-host"),
                "forwarded_proto": self.headers.get("x-forwarded-proto"),
            }
            self.reply(200, json.dumps(seen).encode(), "application/json")
        elif self.path == "/events":
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            for i in range(3):
                self.wfile.write(f"data: {i}\n\n".encode())
                self.wfile.flush()
                time.sleep(1)
            self.close_connection = True
        elif self.path == "/ws":
            key = self.headers["sec-websocket-key"]
            accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            self.send_response(101)
            self.send_header("upgrade", "websocket")
            self.send_header("connection", "Upgrade")
            self.send_header("sec-websocket-accept", accept.decode())
            self.end_headers()
            self.wfile.flush()
            head = self.rfile.read(2)
            length = head[1] & 0x7F
            mask = self.rfile.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            self.wfile.write(bytes([0x81, len(data)]) + data)
            self.wfile.flush()
            self.close_connection = True
        else:
            self.reply(404, b"no such page")

print("starting; the secret is", os.environ.get("API_KEY"), flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", 7860), App).serve_forever()
"#;

pub const PYTHON_CARD: &str = "---\ntitle: Stdlib\nsdk: python\napp_port: 7860\n---\n";

/// A hub and a runner, and alice's API.
pub async fn hub_and_runner() -> (Hub, Runner, String, tempfile::TempDir) {
    let hub = hub_with(&[("HUB_SPACES_SWEEP_MS", "500")]).await;
    let token = hub.user_with_token("alice");
    let dir = runner_dir();
    let runner = Runner::start(&hub.url, &hub.worker_token("runner"), dir.path());
    (hub, runner, token, dir)
}

pub async fn push(api: &Api, space: &str, files: &[(&str, &str)]) {
    let ops: Vec<Value> = files
        .iter()
        .map(|(path, text)| file_op(path, text.as_bytes()))
        .collect();
    let r = api.commit_to("spaces", space, "update", &ops, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

/// A request to the Space's own origin (the hub's address, the Space's
/// `Host`: `*.localhost` is loopback).
pub fn on_origin(
    client: &reqwest::Client,
    hub: &Hub,
    host: &str,
    path: &str,
) -> reqwest::RequestBuilder {
    client
        .get(format!("{}{path}", hub.url))
        .header("host", host)
}

/// A stdlib app, built and run in the sandbox, reached through the hub's
/// proxy over the runner's tunnel: its page, SSE event by event, a
/// WebSocket round trip; the hub's cookies and credentials never reach it;
/// its secret does, and is masked in its log.
#[tokio::test]
async fn a_python_app_runs_behind_the_hubs_proxy() {
    let (hub, runner, token, _dir) = hub_and_runner().await;
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("space", "alice", "stdlib", false)
            .await
            .status,
        200
    );
    api.post(
        "/api/spaces/alice/stdlib/secrets",
        json!({ "key": "API_KEY", "value": "top-secret-42" }),
    )
    .await;
    api.post(
        "/api/spaces/alice/stdlib/variables",
        json!({ "key": "MODE", "value": "demo" }),
    )
    .await;
    push(
        &api,
        "alice/stdlib",
        &[("README.md", PYTHON_CARD), ("app.py", STDLIB_APP)],
    )
    .await;
    let rt = settled(&api, "alice/stdlib", &runner, Duration::from_secs(120)).await;
    assert_eq!(rt["stage"], "RUNNING", "{rt}\n{}", runner.log());
    let host = rt["domains"][0]["domain"].as_str().unwrap().to_owned();

    let client = reqwest::Client::new();
    let page = on_origin(&client, &hub, &host, "/").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("你好 from a Space"));

    let seen: Value = on_origin(&client, &hub, &host, "/seen")
        .header("cookie", "ky_session=hub-session; theirs=kept")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["secret"], "top-secret-42", "secrets reach the app");
    assert_eq!(
        (seen["mode"].as_str(), seen["space_id"].as_str()),
        (Some("demo"), Some("alice/stdlib"))
    );
    assert_eq!(seen["authorization"], Value::Null, "{seen}");
    assert!(
        !seen["cookie"]
            .as_str()
            .unwrap_or_default()
            .contains("hub-session"),
        "{seen}"
    );
    assert_eq!(seen["forwarded_host"], host.as_str());

    // SSE: the first event arrives before the stream ends.
    let started = Instant::now();
    let mut events = on_origin(&client, &hub, &host, "/events")
        .send()
        .await
        .unwrap();
    let first = events.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("data: 0"));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "streamed, not buffered"
    );

    // The secret is in no log the hub keeps.
    let logs = api
        .client
        .get(format!("{}/api/spaces/alice/stdlib/logs/run", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut sse = inference_support::Sse::new(logs);
    let (_, line) = tokio::time::timeout(Duration::from_secs(10), sse.next())
        .await
        .unwrap()
        .unwrap();
    assert!(line.contains("the secret is"), "{line}");
    assert!(!line.contains("top-secret-42"), "masked: {line}");
}
