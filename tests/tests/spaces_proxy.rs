//! Spaces' origins end to end: a real hub, a runner's tunnel made by
//! `inference_worker::spaces::tunnel::run` (as the worker runs it), and a
//! small app on a Unix socket in the test (a page, an echo of what it was
//! sent, SSE with pauses, a WebSocket that echoes bytes, an upload counter).
//! The Space's runtime rows are written straight into the database (what
//! the hub's runtime writes when a runner claims the Space's run).

mod inference_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use hub_core::jobs::protocol::Task;
use inference_support::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

// ---- the Space ---------------------------------------------------------

/// A hub with alice, a runner session and its tunnel to an app.
struct Setup {
    hub: Hub,
    token: String,
    worker_token: String,
    session: Uuid,
    socket: PathBuf,
    _app_dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let hub = hub_with(&[]).await;
    let token = hub.user_with_token("alice");
    let worker_token = hub.worker_token("runner");
    let worker = ProtocolWorker::register(
        &hub.url,
        &worker_token,
        capabilities(&["space:cpu-basic"], &[Task::SpaceRun]),
    )
    .await;
    let app_dir = tempfile::tempdir().unwrap();
    let socket = tests::space_app::start(app_dir.path());
    Setup {
        hub,
        token,
        worker_token,
        session: worker.session,
        socket,
        _app_dir: app_dir,
    }
}

impl Setup {
    /// Starts the runner's tunnel, serving `job` from the test's app.
    fn runner(&self, job: Uuid) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        let socket = self.socket.clone();
        let resolve: inference_worker::spaces::tunnel::Resolve =
            Arc::new(move |asked| (asked == job).then(|| socket.clone()));
        tokio::spawn(inference_worker::spaces::tunnel::run(
            self.hub.url.clone(),
            self.worker_token.clone(),
            self.session,
            resolve,
        ))
    }

    /// Space `alice/{name}` on subdomain `alice-{name}`: its repo through the
    /// API, its runtime row as `stage`, and with `job` (a running space-run
    /// job leased to the runner's session) when given.
    async fn space(
        &self,
        name: &str,
        private: bool,
        sdk: &str,
        stage: &str,
        job: Option<Uuid>,
    ) -> i64 {
        let api = self.hub.api(Some(&self.token));
        let visibility = if private { "private" } else { "public" };
        let created = api
            .post(
                "/api/repos/create",
                json!({ "name": name, "organization": "alice", "type": "space",
                        "visibility": visibility, "sdk": sdk }),
            )
            .await;
        assert_eq!(created.status, 200, "{:?}", created.body);
        let repo_id: i64 = created.body["id"].as_str().unwrap().parse().unwrap();
        let db = self.hub.pool().await;
        if let Some(job) = job {
            sqlx::query(
                "INSERT INTO inference_jobs (id, state, task, repo_id, repo_name, revision,
                     architecture, memory_bytes, input, client_ip, max_attempts, leased_to,
                     lease_expires_at, started_at)
                 VALUES ($1, 'running', 'space-run', $2, $3, 'main', 'space:cpu-basic', 0, '{}',
                     '127.0.0.1', 1, $4, now() + interval '1 hour', now())",
            )
            .bind(job)
            .bind(repo_id)
            .bind(format!("alice/{name}"))
            .bind(self.session)
            .execute(&db)
            .await
            .unwrap();
        }
        set_runtime(
            &db,
            repo_id,
            &format!("alice-{name}"),
            stage,
            sdk,
            None,
            job,
        )
        .await;
        repo_id
    }

    fn port(&self) -> u16 {
        self.hub.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port()))
    }

    /// A browser-like client for `{sub}.localhost` (resolved to the hub),
    /// keeping cookies; and the origin's base URL.
    fn visitor(&self, sub: &str) -> (reqwest::Client, String) {
        let client = reqwest::Client::builder()
            .resolve(&format!("{sub}.localhost"), self.addr())
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        (client, format!("http://{sub}.localhost:{}", self.port()))
    }

    /// A pass for Space `repo_id` as the hub's Space page signs one
    /// (`hub_core::spaces::origin::issue_pass`), with the hub's secret.
    fn pass(&self, repo_id: i64, ttl_s: i64) -> String {
        let secret = hub_core::secret::Secret::load(None, &self.hub.data_dir).unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let body = format!("{repo_id}.{}", now + ttl_s);
        let sig = secret.sign(format!("space-pass:{body}").as_bytes());
        format!("{body}.{sig}")
    }
}

async fn set_runtime(
    db: &sqlx::PgPool,
    repo_id: i64,
    subdomain: &str,
    stage: &str,
    sdk: &str,
    sha: Option<&str>,
    job: Option<Uuid>,
) {
    sqlx::query(
        "INSERT INTO space_runtimes (repo_id, subdomain, stage, sdk, sha, job_id, error_message)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (repo_id) DO UPDATE SET subdomain = $2, stage = $3, sdk = $4, sha = $5,
             job_id = $6, error_message = $7",
    )
    .bind(repo_id)
    .bind(subdomain)
    .bind(stage)
    .bind(sdk)
    .bind(sha)
    .bind(job)
    .bind((stage == "RUNTIME_ERROR").then_some("Traceback: <boom>"))
    .execute(db)
    .await
    .unwrap();
}

/// Waits until the origin answers `/` with 200 (the tunnel is open).
async fn until_served(client: &reqwest::Client, base: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = client.get(format!("{base}/")).send().await.unwrap();
        if response.status() == 200 {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "never served: {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads from `stream` until the end of an HTTP head; returns it in lower case.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

// ---- the tests ---------------------------------------------------------

#[tokio::test]
async fn a_running_app_is_served_through_its_runners_tunnel() {
    let setup = setup().await;
    let job = Uuid::new_v4();
    setup
        .space("demo", false, "gradio", "RUNNING", Some(job))
        .await;
    let (client, base) = setup.visitor("alice-demo");

    // No tunnel yet: the runner cannot be reached.
    let down = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(down.status(), 502);
    let runner = setup.runner(job);

    // The page, with the app's own headers and none of the hub's.
    let page = until_served(&client, &base).await;
    assert_eq!(page.headers()["x-app"], "yes");
    assert!(page.headers().get("x-frame-options").is_none());
    assert!(page.headers().get("content-security-policy").is_none());
    assert_eq!(page.text().await.unwrap(), "<h1>hello from the app</h1>");

    // The hub's credentials stay with the hub; the app is told who asked.
    let echo: Value = client
        .get(format!("{base}/echo?x=1"))
        .header("authorization", format!("Bearer {}", setup.token))
        .header(
            "cookie",
            "ky_session=secret; theme=dark; kaiyuan_space_pass=p",
        )
        .header("kaiyuan-space-job", Uuid::new_v4().to_string())
        .header("x-forwarded-for", "10.9.9.9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headers = &echo["headers"];
    assert_eq!(echo["uri"], "/echo?x=1");
    assert!(headers.get("authorization").is_none(), "{echo}");
    assert_eq!(headers["cookie"], "theme=dark", "{echo}");
    assert!(headers.get("kaiyuan-space-job").is_none(), "{echo}");
    assert_eq!(
        headers["x-forwarded-host"],
        format!("alice-demo.localhost:{}", setup.port())
    );
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(
        headers["host"],
        format!("alice-demo.localhost:{}", setup.port())
    );

    // The hub's own routes do not answer on a Space's origin: the app does.
    let api = client
        .get(format!("{base}/api/whoami-v2"))
        .bearer_auth(&setup.token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    let api: Value = api.json().await.unwrap();
    assert_eq!(api["app"], true, "{api}");
    assert_eq!(api["uri"], "/api/whoami-v2");
    let login = client
        .post(format!("{base}/login"))
        .form(&[("username", "alice"), ("password", "x")])
        .send()
        .await
        .unwrap();
    let login: Value = login.json().await.unwrap();
    assert_eq!(login["method"], "POST", "{login}");

    // SSE flows event by event: the first arrives long before the last.
    let started = Instant::now();
    let sse = client.get(format!("{base}/sse")).send().await.unwrap();
    assert_eq!(sse.headers()["content-type"], "text/event-stream");
    let mut stream = sse.bytes_stream();
    let mut seen = String::new();
    let mut arrivals = Vec::new();
    while let Some(chunk) = stream.next().await {
        seen.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while arrivals.len() < seen.matches("\n\n").count() {
            arrivals.push(started.elapsed());
        }
    }
    assert_eq!(seen, "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n");
    assert!(
        arrivals[0] < tests::space_app::SSE_GAP,
        "first event after {:?}",
        arrivals[0]
    );
    assert!(
        arrivals[2] - arrivals[0] >= tests::space_app::SSE_GAP,
        "events bunched: {arrivals:?}"
    );

    // A request body streams to the app; too large a one is refused at once.
    let upload = client
        .post(format!("{base}/upload"))
        .body(vec![7u8; 5 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(upload.text().await.unwrap(), (5u32 << 20).to_string());
    let mut raw = TcpStream::connect(setup.addr()).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: alice-demo.localhost:{}\r\nContent-Length: {}\r\n\r\n",
        setup.port(),
        200u64 << 20
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    assert!(read_head(&mut raw).await.starts_with("http/1.1 413"));

    // A WebSocket: the app's handshake answer, then bytes both ways.
    let mut ws = TcpStream::connect(setup.addr()).await.unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: alice-demo.localhost:{}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
        setup.port()
    );
    ws.write_all(handshake.as_bytes()).await.unwrap();
    let head = read_head(&mut ws).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(head.contains("sec-websocket-protocol: chat"), "{head}");
    for round in 0..3u8 {
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
            round,
        ];
        ws.write_all(&frame).await.unwrap();
        let mut back = [0u8; 11];
        tokio::time::timeout(Duration::from_secs(5), ws.read_exact(&mut back))
            .await
            .expect("the echo")
            .unwrap();
        assert_eq!(back, frame);
    }
    drop(ws);

    // The tunnel goes down: 502; the runner comes back: served again.
    runner.abort();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = client
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 502 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after the runner stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _runner = setup.runner(job);
    until_served(&client, &base).await;

    // No Space there: 404, as for one the visitor may not see.
    let (nobody, nobody_base) = setup.visitor("nobody-here");
    let missing = nobody.get(format!("{nobody_base}/")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_private_space_lets_in_visitors_with_a_pass_only() {
    let setup = setup().await;
    let job = Uuid::new_v4();
    let repo_id = setup
        .space("secret", true, "gradio", "RUNNING", Some(job))
        .await;
    let other_id = setup.space("other", true, "gradio", "BUILDING", None).await;
    let _runner = setup.runner(job);
    let (client, base) = setup.visitor("alice-secret");
    let (_, nobody) = setup.visitor("nobody-here");

    // Without a pass, with a forged, expired or another Space's one: as if
    // there were no such Space.
    let not_found = reqwest::Client::builder()
        .resolve("nobody-here.localhost", setup.addr())
        .build()
        .unwrap()
        .get(format!("{nobody}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for query in [
        String::new(),
        format!("?__sign={}", setup.pass(other_id, 60)),
        format!("?__sign={}", setup.pass(repo_id, -5)),
        format!("?__sign={repo_id}.99999999999.00"),
    ] {
        let answer = client.get(format!("{base}/{query}")).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{query}");
        assert!(answer.headers().get("set-cookie").is_none());
        assert_eq!(answer.text().await.unwrap(), not_found);
    }

    // With the pass the hub's page gives: in, and a cookie of the origin's own.
    let pass = setup.pass(repo_id, 300);
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        let answer = client
            .get(format!("{base}/echo?__sign={pass}&x=1"))
            .send()
            .await
            .unwrap();
        if answer.status() == 200 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(first.status(), 200);
    let cookies: Vec<&str> = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("kaiyuan_space_pass=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    let echo: Value = first.json().await.unwrap();
    assert_eq!(echo["uri"], "/echo?x=1", "the pass never reaches the app");

    // From then on the cookie lets the visitor in; it never reaches the app
    // either (the app's own cookie does).
    let echo: Value = client
        .get(format!("{base}/echo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["headers"]["cookie"], "app_session=1", "{echo}");
}

#[tokio::test]
async fn a_static_space_is_served_from_its_repo_at_its_commit() {
    let setup = setup().await;
    let repo_id = setup.space("site", false, "static", "RUNNING", None).await;
    let api = setup.hub.api(Some(&setup.token));
    let files = [
        tests::file_op("index.html", b"<h1>static</h1>"),
        tests::file_op("css/style.css", b"h1 { color: red }"),
        tests::file_op("docs/index.html", b"docs"),
        tests::file_op("a b.txt", b"spaced"),
    ];
    let commit = api
        .commit_to("spaces", "alice/site", "site", &files, None)
        .await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
    let sha = commit.body["commitOid"].as_str().unwrap().to_owned();
    let db = setup.hub.pool().await;
    set_runtime(
        &db,
        repo_id,
        "alice-site",
        "RUNNING",
        "static",
        Some(&sha),
        None,
    )
    .await;
    // A static Space follows its default branch: a later commit is
    // served once it lands.
    api.commit_to(
        "spaces",
        "alice/site",
        "next",
        &[tests::file_op("new.html", b"new")],
        None,
    )
    .await;
    let (client, base) = setup.visitor("alice-site");

    let get = |path: &str| client.get(format!("{base}{path}")).send();
    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(index.text().await.unwrap(), "<h1>static</h1>");
    let css = get("/css/style.css").await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(css.text().await.unwrap(), "h1 { color: red }");
    assert_eq!(get("/docs/").await.unwrap().text().await.unwrap(), "docs");
    assert_eq!(
        get("/a%20b.txt").await.unwrap().text().await.unwrap(),
        "spaced"
    );
    assert_eq!(get("/new.html").await.unwrap().text().await.unwrap(), "new");
    for missing in [
        "/nope.html",
        "/css/",
        "/css/..%2Findex.html",
        "/README.md/x",
    ] {
        assert_eq!(get(missing).await.unwrap().status(), 404, "{missing}");
    }
    let head = client.head(format!("{base}/")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "15");
    let post = client.post(format!("{base}/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
}

#[tokio::test]
async fn a_space_without_a_running_app_says_why() {
    let setup = setup().await;
    let repo_id = setup.space("wip", false, "gradio", "BUILDING", None).await;
    let (client, base) = setup.visitor("alice-wip");
    let building = client
        .get(format!("{base}/"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(building.status(), 503);
    let html = building.text().await.unwrap();
    assert!(html.contains("Building…"), "{html}");
    assert!(html.contains("http-equiv=\"refresh\""), "{html}");
    tests::assert_no_inline_script(&html, "building");

    let db = setup.hub.pool().await;
    set_runtime(
        &db,
        repo_id,
        "alice-wip",
        "RUNTIME_ERROR",
        "gradio",
        None,
        None,
    )
    .await;
    // (The origin may go on with what it knew for a second.)
    let deadline = Instant::now() + Duration::from_secs(5);
    let failed = loop {
        let answer = client
            .get(format!("{base}/"))
            .header("accept-language", "zh-CN")
            .send()
            .await
            .unwrap();
        if answer.status() != 503 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(failed.status(), 502);
    let html = failed.text().await.unwrap();
    assert!(html.contains("运行错误"), "{html}");
    assert!(html.contains("Traceback: &lt;boom&gt;"), "{html}");
    assert!(!html.contains("http-equiv=\"refresh\""), "{html}");
}

#[tokio::test]
async fn only_a_runner_session_may_open_a_tunnel() {
    let setup = setup().await;
    let tunnel = |token: Option<String>, session: Uuid| {
        let mut request = reqwest::Client::new()
            .get(format!(
                "{}/api/workers/tunnel?session={session}",
                setup.hub.url
            ))
            .header("connection", "upgrade")
            .header("upgrade", "kaiyuan-tunnel");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let anonymous = tunnel(None, setup.session).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    // A user's API token is no worker token.
    let user = tunnel(Some(setup.token.clone()), setup.session)
        .await
        .unwrap();
    assert_eq!(user.status(), 401);
    let unknown = tunnel(Some(setup.worker_token.clone()), Uuid::new_v4())
        .await
        .unwrap();
    assert_eq!(unknown.status(), 409);
    // The runner's loop gives up on a session the hub does not know.
    let resolve: inference_worker::spaces::tunnel::Resolve = Arc::new(|_| None);
    let gave_up = tokio::time::timeout(
        Duration::from_secs(10),
        inference_worker::spaces::tunnel::run(
            setup.hub.url.clone(),
            setup.worker_token.clone(),
            Uuid::new_v4(),
            resolve,
        ),
    )
    .await
    .expect("the runner gives up");
    assert!(
        gave_up
            .unwrap_err()
            .is::<inference_worker::client::UnknownSession>()
    );
    let opened = tunnel(Some(setup.worker_token.clone()), setup.session)
        .await
        .unwrap();
    assert_eq!(opened.status(), 101);
}
