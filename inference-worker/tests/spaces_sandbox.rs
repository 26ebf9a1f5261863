//! The Spaces runner's sandbox, without a hub: real apps (stdlib Python,
//! and pip for the build tests) built and run in bubblewrap by the same
//! code a runner uses for a claimed job ([`Spaces::run_code`]), reached over
//! the app's Unix socket, and hostile apps that must stay contained.
//!
//! Needs bwrap and /usr/bin/python3 (a failure under CI=true); the build
//! tests reach PyPI. Run as root they exercise the uid drop and cgroups.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inference_worker::spaces::{Spaces, SpacesConfig};
use inference_worker::worker::{Worker, WorkerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use uuid::Uuid;
use worker_protocol::{
    EventBody, LogStream, SPACE_PREFIX, SpaceLimits, SpaceRunInput, SpaceSdk, SpaceStage, Task,
};

/// A runner with its own spaces dir, or None (a visible skip) outside CI
/// when the machine has no bubblewrap.
struct Runner {
    spaces: Arc<Spaces>,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

fn config(dir: PathBuf) -> SpacesConfig {
    let mut config = SpacesConfig::new(dir).unwrap();
    config.bridge_exe = PathBuf::from(env!("CARGO_BIN_EXE_inference-worker"));
    config
}

/// A temporary directory the sandbox uid can traverse.
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("kys")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn runner() -> Option<Runner> {
    let have = |p: &str| Path::new(p).exists();
    let bwrap = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("bwrap").is_file()));
    if !bwrap || !have("/usr/bin/python3") {
        let why = "bubblewrap (bwrap) or /usr/bin/python3 is missing";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{why}");
        }
        eprintln!("SKIPPED: {why}");
        return None;
    }
    let dir = open_tempdir();
    let root = dir.path().to_path_buf();
    let spaces = Spaces::local(
        &config(root.join("spaces")),
        "http://127.0.0.1:9",
        reqwest::Client::new(),
    )
    .unwrap_or_else(|why| panic!("this machine cannot sandbox: {why}"));
    Some(Runner {
        spaces: Arc::new(spaces),
        root,
        _dir: dir,
    })
}

fn input(sdk: SpaceSdk) -> SpaceRunInput {
    SpaceRunInput {
        sdk,
        sdk_version: None,
        python_version: None,
        app_file: "app.py".into(),
        app_port: 7860,
        app_build_command: None,
        factory: false,
        variables: vec![],
        secrets: vec![],
        limits: SpaceLimits {
            memory_bytes: 256 << 20,
            pids: 64,
            disk_bytes: 64 << 20,
            startup_timeout_s: 60,
            build_timeout_s: 300,
        },
    }
}

/// A Space being run, and what it has sent.
struct Run {
    job: Uuid,
    events: mpsc::UnboundedReceiver<EventBody>,
    seen: Vec<EventBody>,
    cancel: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    spaces: Arc<Spaces>,
}

impl Runner {
    fn start(&self, files: &[(&str, &str)], input: SpaceRunInput) -> Run {
        let code = self.root.join(format!("code-{}", Uuid::new_v4().simple()));
        for (path, content) in files {
            let file = code.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let job = Uuid::new_v4();
        let spaces = self.spaces.clone();
        let flag = cancel.clone();
        let task = tokio::spawn(async move {
            spaces
                .run_code(job, "alice/demo", &code, &input, &tx, &flag)
                .await
        });
        Run {
            job,
            events: rx,
            seen: vec![],
            cancel,
            task,
            spaces: self.spaces.clone(),
        }
    }
}

impl Run {
    /// Waits for `stage`; panics on an error stage that was not asked for.
    async fn stage(&mut self, want: SpaceStage, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = tokio::time::timeout(left, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no {want:?} within {within:?}: {:#?}", self.seen))
                .unwrap_or_else(|| panic!("the run ended before {want:?}: {:#?}", self.seen));
            self.seen.push(event.clone());
            if let EventBody::Stage { stage, message } = event {
                if stage == want {
                    return message;
                }
                assert!(
                    !matches!(stage, SpaceStage::BuildError | SpaceStage::RuntimeError),
                    "{stage:?}: {message:?}"
                );
            }
        }
    }

    fn socket(&self) -> PathBuf {
        self.spaces
            .apps()
            .get(self.job)
            .expect("the running app is registered")
    }

    fn logs(&self, stream: LogStream) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                EventBody::Log {
                    stream: s, line, ..
                } if *s == stream => Some(line.clone()),
                _ => None,
            })
            .collect()
    }

    /// Cancels the job and checks that the app is gone and nothing more came.
    async fn stop(mut self) {
        let socket = self.socket();
        self.cancel.store(true, Ordering::SeqCst);
        let result = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the run stops within 20 s after cancellation")
            .unwrap();
        result.expect("a cancelled run ends without error");
        assert!(self.spaces.apps().get(self.job).is_none());
        assert!(!socket.exists(), "the run's directory is removed");
        while let Ok(event) = self.events.try_recv() {
            assert!(
                !matches!(event, EventBody::Stage { .. } | EventBody::Failed { .. }),
                "sent after cancellation: {event:?}"
            );
        }
    }

    /// Waits for the run to end by itself, with its error.
    async fn failure(self) -> String {
        let result = tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the run ends")
            .unwrap();
        format!("{:#}", result.expect_err("the run fails"))
    }
}

/// One HTTP/1.1 request over the app's Unix socket: (status, body).
async fn get(socket: &Path, path: &str) -> (u16, String) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: space\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut response))
        .await
        .expect("the app answers within 60 s")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A stdlib app: `/` is a page with a variable's value; it logs a secret.
const PAGE_APP: &str = r#"
import http.server, os
print("the token is", os.environ.get("HF_TOKEN"), flush=True)
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("<h1>hello from %s: %s</h1>" % (os.environ["SPACE_ID"], os.environ.get("GREETING"))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        print("request", self.path, flush=True)
port = int(os.environ["GRADIO_SERVER_PORT"])
http.server.ThreadingHTTPServer(("127.0.0.1", port), Page).serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdlib_app_serves_its_page_over_the_socket() {
    let Some(runner) = runner() else { return };
    let mut space = input(SpaceSdk::Python);
    space.variables = vec![("GREETING".into(), "你好".into())];
    space.secrets = vec![("HF_TOKEN".into(), "kaiyuan-secret-value-123".into())];
    let mut run = runner.start(&[("app.py", PAGE_APP)], space);
    run.stage(SpaceStage::Building, Duration::from_secs(10))
        .await;
    run.stage(SpaceStage::AppStarting, Duration::from_secs(30))
        .await;
    let starting = Instant::now();
    run.stage(SpaceStage::Running, Duration::from_secs(60))
        .await;
    eprintln!(
        "MEASURE sandbox start to app answering (stdlib app): {} ms",
        starting.elapsed().as_millis()
    );
    let (status, body) = get(&run.socket(), "/").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "<h1>hello from alice/demo: 你好</h1>");
    // The request's log line arrives as a run log line.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !run.logs(LogStream::Run).iter().any(|l| l == "request /") {
        assert!(Instant::now() < deadline, "{:?}", run.logs(LogStream::Run));
        if let Ok(Some(e)) =
            tokio::time::timeout(Duration::from_millis(200), run.events.recv()).await
        {
            run.seen.push(e);
        }
    }
    let logs = run.logs(LogStream::Run);
    assert!(logs.iter().any(|l| l == "the token is ***"), "{logs:?}");
    assert!(
        !format!("{:?}", run.seen).contains("kaiyuan-secret-value-123"),
        "a secret was sent"
    );
    run.stop().await;
}

/// Tries what a hostile app would, and serves the results: `/` as JSON,
/// `/fork` a fork bomb, `/hog` a memory hog.
const HOSTILE_APP: &str = r#"
import http.server, json, os, socket, time
results = {}
def attempt(name, action):
    try:
        action()
        results[name] = "ok"
    except Exception as e:
        results[name] = "%s: %s" % (type(e).__name__, e)
    print("attempt", name, "->", results[name], flush=True)
def connect(host, port):
    socket.create_connection((host, port), timeout=3).close()
def read(path):
    open(path).read()
def write(path):
    with open(path, "w") as f:
        f.write("x")
attempt("postgres", lambda: connect("127.0.0.1", 5432))
attempt("host_listener", lambda: connect("127.0.0.1", int(os.environ["HOST_PORT"])))
attempt("internet", lambda: connect("1.1.1.1", 443))
attempt("other_space", lambda: read(os.environ["OTHER_SPACE_FILE"]))
attempt("hub_data", lambda: read(os.environ["HUB_DATA_FILE"]))
attempt("root_home", lambda: os.listdir("/root"))
def new_user_namespace():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER) failed")
attempt("nested_userns", new_user_namespace)
for target in ["/app/x", "/usr/x", "/x", "/etc/x", "/run/x", "/data/ok", "/tmp/ok"]:
    attempt("write " + target, lambda: write(target))

def fork_bomb():
    children, error = [], None
    for _ in range(1000):
        try:
            pid = os.fork()
        except OSError as e:
            error = str(e)
            break
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    return {"forked": len(children), "error": error}

def memory_hog():
    chunks = []
    try:
        while True:
            chunks.append(bytearray(16 << 20))
    except MemoryError:
        # Where only rlimits hold (no memory cgroup) the app is told no.
        count = len(chunks)
        chunks.clear()
        print("MemoryError after %d MiB" % (count * 16), flush=True)
        os._exit(1)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/fork":
            answer = fork_bomb()
        elif self.path == "/hog":
            answer = memory_hog()
        else:
            answer = results
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", 7860), Handler).serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_apps_are_contained() {
    let Some(runner) = runner() else { return };
    // Files the app must not reach, readable by everyone on the host: only
    // the sandbox's filesystem keeps them out.
    let other_space = runner.root.join("spaces/data/bob--other/secret.txt");
    let hub_data = runner.root.join("hub-data/lfs/objects.txt");
    for file in [&other_space, &hub_data] {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, "private").unwrap();
    }
    // A service on the host's loopback (as the hub and PostgreSQL are),
    // which the host itself reaches.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = listener.local_addr().unwrap().port();
    std::net::TcpStream::connect(("127.0.0.1", host_port)).unwrap();
    let mut space = input(SpaceSdk::Python);
    space.variables = vec![
        ("HOST_PORT".into(), host_port.to_string()),
        ("OTHER_SPACE_FILE".into(), other_space.display().to_string()),
        ("HUB_DATA_FILE".into(), hub_data.display().to_string()),
    ];
    let mut run = runner.start(&[("app.py", HOSTILE_APP)], space);
    run.stage(SpaceStage::Running, Duration::from_secs(60))
        .await;
    let socket = run.socket();
    let (status, body) = get(&socket, "/").await;
    assert_eq!(status, 200, "{body}");
    let results: serde_json::Value = serde_json::from_str(&body).unwrap();
    eprintln!("hostile attempts: {results:#}");
    let outcome = |name: &str| results[name].as_str().unwrap_or_default().to_string();
    for blocked in [
        "postgres",
        "host_listener",
        "internet",
        "other_space",
        "hub_data",
        "root_home",
        "nested_userns",
        "write /app/x",
        "write /usr/x",
        "write /x",
        "write /etc/x",
        "write /run/x",
    ] {
        assert_ne!(outcome(blocked), "ok", "{blocked} succeeded: {results:#}");
        assert!(
            !outcome(blocked).is_empty(),
            "{blocked} not tried: {results:#}"
        );
    }
    for refused in ["postgres", "host_listener"] {
        assert!(
            outcome(refused).starts_with("ConnectionRefusedError"),
            "{results:#}"
        );
    }
    assert_eq!(outcome("write /data/ok"), "ok");
    assert_eq!(outcome("write /tmp/ok"), "ok");
    // The attempts are in the run log.
    assert!(
        run.logs(LogStream::Run)
            .iter()
            .any(|l| l.starts_with("attempt postgres -> ")),
        "{:?}",
        run.logs(LogStream::Run)
    );

    // A fork bomb runs into the pids limit; the app and the runner live on.
    let (status, body) = get(&socket, "/fork").await;
    assert_eq!(status, 200, "{body}");
    let fork: serde_json::Value = serde_json::from_str(&body).unwrap();
    eprintln!("fork bomb: {fork}");
    assert!(fork["forked"].as_u64().unwrap() < 64, "{fork}");
    assert!(
        fork["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Resource temporarily unavailable"),
        "{fork}"
    );
    assert_eq!(
        get(&socket, "/").await.0,
        200,
        "the app serves on after the fork bomb"
    );
    let host = std::process::Command::new("/usr/bin/true")
        .status()
        .unwrap();
    assert!(host.success(), "the host can still start processes");

    // A memory hog is killed; the runner reports it and lives on.
    let _ = get(&socket, "/hog").await;
    let failure = run.failure().await;
    eprintln!("memory hog: {}", failure.lines().next().unwrap_or_default());
    assert!(
        failure.contains("out of memory") || failure.contains("MemoryError"),
        "{failure}"
    );
    assert_eq!(std::fs::read_to_string(&other_space).unwrap(), "private");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_app_ends_in_runtime_error_with_its_traceback() {
    let Some(runner) = runner() else { return };
    let app = "print('starting', flush=True)\ndef main():\n    raise ValueError('kaiyuan test crash')\nmain()\n";
    let mut run = runner.start(&[("app.py", app)], input(SpaceSdk::Python));
    let message = run
        .stage(SpaceStage::RuntimeError, Duration::from_secs(60))
        .await
        .expect("a message");
    assert!(
        message.starts_with("the app exited with code 1\n"),
        "{message}"
    );
    assert!(
        message.contains("Traceback (most recent call last):"),
        "{message}"
    );
    assert!(
        message.contains("ValueError: kaiyuan test crash"),
        "{message}"
    );
    let failure = run.failure().await;
    assert!(
        failure.contains("ValueError: kaiyuan test crash"),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_never_listens_times_out() {
    let Some(runner) = runner() else { return };
    let mut space = input(SpaceSdk::Python);
    space.limits.startup_timeout_s = 2;
    let app = "import time\nprint('thinking', flush=True)\ntime.sleep(600)\n";
    let mut run = runner.start(&[("app.py", app)], space);
    let message = run
        .stage(SpaceStage::RuntimeError, Duration::from_secs(30))
        .await
        .expect("a message");
    assert!(
        message.starts_with("the app did not answer on port 7860 within 2 s"),
        "{message}"
    );
    assert!(message.contains("thinking"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_txt_off_the_allow_list_is_a_build_error() {
    let Some(runner) = runner() else { return };
    let files = [("app.py", PAGE_APP), ("packages.txt", "ffmpeg\nlibsm6\n")];
    let mut run = runner.start(&files, input(SpaceSdk::Python));
    let message = run
        .stage(SpaceStage::BuildError, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        message
            .starts_with("packages.txt asks for apt packages ffmpeg, libsm6; this runner has only"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_requirements_txt_is_a_build_error_with_pips_message() {
    let Some(runner) = runner() else { return };
    let files = [
        ("app.py", PAGE_APP),
        ("requirements.txt", "kaiyuan-no-such-package-xyz==0.0.1\n"),
    ];
    let mut run = runner.start(&files, input(SpaceSdk::Python));
    let message = run
        .stage(SpaceStage::BuildError, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(message.contains("kaiyuan-no-such-package-xyz"), "{message}");
    assert!(
        message.contains("No matching distribution") || message.contains("not found"),
        "{message}"
    );
    assert!(!run.logs(LogStream::Build).is_empty());
    let failure = run.failure().await;
    assert!(failure.contains("kaiyuan-no-such-package-xyz"), "{failure}");
}

/// The venv is built once per requirements and reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn venvs_are_built_in_the_sandbox_and_reused() {
    let Some(runner) = runner() else { return };
    let app = PAGE_APP.replace(
        "import http.server, os",
        "import http.server, os, six\nprint('six', six.__version__, flush=True)",
    );
    let files = [
        ("app.py", app.as_str()),
        ("requirements.txt", "six==1.16.0\n"),
    ];
    let mut timings = Vec::new();
    // A factory rebuild builds again, with pip's or uv's cache warm.
    for round in ["cold", "warm", "factory"] {
        let mut space = input(SpaceSdk::Python);
        space.factory = round == "factory";
        let mut run = runner.start(&files, space);
        let started = Instant::now();
        run.stage(SpaceStage::AppStarting, Duration::from_secs(300))
            .await;
        timings.push(format!("{round} {} ms", started.elapsed().as_millis()));
        run.stage(SpaceStage::Running, Duration::from_secs(60))
            .await;
        assert!(
            run.logs(LogStream::Run).contains(&"six 1.16.0".to_string()),
            "{:?}",
            run.logs(LogStream::Run)
        );
        let reused = run
            .logs(LogStream::Build)
            .contains(&"reusing the environment built for these requirements".to_string());
        assert_eq!(reused, round == "warm", "{:?}", run.logs(LogStream::Build));
        run.stop().await;
    }
    let uv = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("uv").is_file()));
    eprintln!(
        "MEASURE venv build (six==1.16.0, {}): {}",
        if uv { "uv" } else { "pip" },
        timings.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_space_is_built_and_served() {
    let Some(runner) = runner() else { return };
    let mut space = input(SpaceSdk::Static);
    space.app_file = "dist/index.html".into();
    space.app_build_command =
        Some("mkdir -p dist && echo \"<p>built $(cat src.txt)</p>\" > dist/index.html".into());
    let mut run = runner.start(&[("src.txt", "here")], space);
    run.stage(SpaceStage::Running, Duration::from_secs(60))
        .await;
    let (status, body) = get(&run.socket(), "/index.html").await;
    assert_eq!((status, body.trim()), (200, "<p>built here</p>"));
    run.stop().await;
}

#[tokio::test]
async fn a_worker_that_cannot_sandbox_takes_no_space_jobs() {
    if runner().is_none() {
        return;
    }
    let make = |spaces_dir: PathBuf, cache: &Path| {
        Worker::new(WorkerConfig {
            hub: "http://127.0.0.1:9".into(),
            token: "t".into(),
            device: "cpu".into(),
            cache_dir: cache.to_path_buf(),
            memory_budget: Some(1 << 30),
            disk_budget: 1 << 30,
            max_concurrent_jobs: 2,
            batch: Default::default(),
            tasks: vec![Task::SpaceRun],
            spaces: Some(config(spaces_dir)),
            trainer: None,
        })
        .unwrap()
    };
    let dir = open_tempdir();
    let worker = make(dir.path().join("spaces"), dir.path());
    let caps = worker.capabilities();
    assert_eq!(caps.tasks, vec![Task::SpaceRun]);
    assert!(caps.spaces.as_ref().unwrap().available, "{:?}", caps.spaces);
    assert!(
        caps.architectures
            .contains(&format!("{SPACE_PREFIX}cpu-basic"))
    );

    // A spaces dir the sandbox uid cannot reach (below a 0700 directory)
    // when the worker is root; a missing bwrap is the same case.
    if nix::unistd::geteuid().is_root() {
        let private = dir.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let worker = make(private.join("spaces"), dir.path());
        let caps = worker.capabilities();
        assert!(caps.tasks.is_empty(), "{:?}", caps.tasks);
        let spaces = caps.spaces.as_ref().unwrap();
        assert!(!spaces.available);
        assert!(
            spaces.detail.contains("is not reachable by uid 65534"),
            "{}",
            spaces.detail
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_takes_too_long_is_a_build_error() {
    let Some(runner) = runner() else { return };
    let mut space = input(SpaceSdk::Static);
    space.app_file = "index.html".into();
    space.app_build_command = Some("echo building; sleep 60".into());
    space.limits.build_timeout_s = 1;
    let started = Instant::now();
    let mut run = runner.start(&[("index.html", "<p>x</p>")], space);
    let message = run
        .stage(SpaceStage::BuildError, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        message.starts_with("the build took longer than 1 s"),
        "{message}"
    );
    assert!(message.contains("building"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Stopping sends SIGTERM first (an app may save its state to /data), and
/// kills an app that ignores it after the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_app_gets_sigterm_then_sigkill() {
    let Some(runner) = runner() else { return };
    let graceful = PAGE_APP.replace(
        "import http.server, os",
        "import http.server, os, signal, sys\n\
         def stop(*_):\n    open('/data/stopped', 'w').write('saved')\n    sys.exit(0)\n\
         signal.signal(signal.SIGTERM, stop)",
    );
    let mut run = runner.start(&[("app.py", &graceful)], input(SpaceSdk::Python));
    run.stage(SpaceStage::Running, Duration::from_secs(60))
        .await;
    run.stop().await;
    let saved = runner.root.join("spaces/data/alice--demo/stopped");
    assert_eq!(std::fs::read_to_string(saved).unwrap(), "saved");

    let stubborn = PAGE_APP.replace(
        "import http.server, os",
        "import http.server, os, signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)",
    );
    let mut run = runner.start(&[("app.py", &stubborn)], input(SpaceSdk::Python));
    run.stage(SpaceStage::Running, Duration::from_secs(60))
        .await;
    let stopping = Instant::now();
    run.stop().await;
    let took = stopping.elapsed();
    assert!(took >= Duration::from_secs(4), "{took:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");
}
