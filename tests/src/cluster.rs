//! Several hub nodes as one hub, as the design's "scaling past one machine"
//! runs them: N `hub serve` processes on one PostgreSQL database, one S3
//! bucket and one data dir (git repos, hooks), sharing `HUB_SECRET`, behind
//! the harness's reverse proxy ([`crate::proxy`]), which they trust through
//! `HUB_TRUSTED_PROXIES`.
//!
//! The S3 store is `HUB_TEST_S3_ENDPOINT` when set (tests/run's moto), else
//! a `moto_server` of the test venv started here. Without either, outside CI
//! the nodes share the data dir's own object store instead; under `CI=true`
//! a missing prerequisite fails the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::proxy::Proxy;
use crate::{Api, TestDatabase, TestHub};

/// Whether this is a CI run, where nothing may be skipped.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `found`, or: under CI a failure naming what is missing, elsewhere `None`
/// (the caller skips) after a note on stderr.
pub fn prerequisite<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_none() {
        assert!(!is_ci(), "CI=true: {what} is missing");
        eprintln!("skipped: {what} is missing");
    }
    found
}

/// A program of the test venv: `$HUB_TEST_PYTHON`'s folder, else
/// `<repo>/.venv/bin` (tests/run creates it).
pub fn venv_bin(name: &str) -> Option<PathBuf> {
    let bin_dir = match std::env::var_os("HUB_TEST_PYTHON") {
        Some(python) => PathBuf::from(python).parent()?.to_owned(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin"),
    };
    let path = bin_dir.join(name);
    path.exists().then_some(path)
}

/// The venv's Python (huggingface_hub, hf_xet, moto).
pub fn python() -> Option<PathBuf> {
    venv_bin("python")
}

/// An S3-protocol server of our own (`moto_server`), stopped when dropped.
struct MotoServer {
    child: Child,
    endpoint: String,
}

impl MotoServer {
    async fn start() -> Option<MotoServer> {
        let moto = venv_bin("moto_server")?;
        let port = {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            socket.local_addr().unwrap().port()
        };
        let child = Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let server = MotoServer {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        while client.get(&server.endpoint).send().await.is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(server)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Hub nodes on shared storage behind one proxy; stopped when dropped.
pub struct Cluster {
    /// The proxy's URL: what clients use.
    pub url: String,
    pub proxy: Proxy,
    pub nodes: Vec<TestHub>,
    /// The one data dir of every node.
    pub data_dir: PathBuf,
    pub db: TestDatabase,
    /// Whether objects live in S3 (else in the shared data dir).
    pub s3: bool,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
    _moto: Option<MotoServer>,
}

impl Cluster {
    /// `count` nodes, started together on a fresh database and data dir.
    pub async fn start(count: usize) -> Cluster {
        let db = TestDatabase::create().await;
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let proxy = Proxy::start();
        let (moto, endpoint) = match std::env::var("HUB_TEST_S3_ENDPOINT") {
            Ok(endpoint) => (None, Some(endpoint)),
            Err(_) => match MotoServer::start().await {
                Some(moto) => {
                    let endpoint = moto.endpoint.clone();
                    (Some(moto), Some(endpoint))
                }
                None => (None, None),
            },
        };
        if endpoint.is_none() {
            assert!(
                !is_ci(),
                "CI=true: no S3 server (HUB_TEST_S3_ENDPOINT unset, no moto_server in the venv)"
            );
            eprintln!("note: no S3 server; the nodes share the data dir's object store");
        }
        let mut env = match &endpoint {
            Some(endpoint) => crate::s3_bucket_env(endpoint).await,
            None => Vec::new(),
        };
        env.extend(
            [
                ("HUB_SECRET", uuid::Uuid::new_v4().simple().to_string()),
                ("HUB_TRUSTED_PROXIES", crate::proxy::SOURCE_IP.to_owned()),
                ("HUB_PUBLIC_URL", proxy.url.clone()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let logs: Vec<PathBuf> = (0..count)
            .map(|i| dir.path().join(format!("node-{i}.log")))
            .collect();
        let nodes = futures::future::join_all(
            logs.iter()
                .map(|log| TestHub::spawn_node(&data_dir, Some(db.url.clone()), env.clone(), log)),
        )
        .await;
        for (i, node) in nodes.iter().enumerate() {
            proxy.set_node(i, &node.url);
        }
        Cluster {
            url: proxy.url.clone(),
            proxy,
            nodes,
            data_dir,
            db,
            s3: endpoint.is_some(),
            env,
            dir,
            _moto: moto,
        }
    }

    pub fn node(&self, i: usize) -> &TestHub {
        &self.nodes[i]
    }

    /// A JSON API client that goes through the proxy.
    pub fn api(&self, token: Option<&str>) -> Api {
        Api {
            base: self.url.clone(),
            token: token.map(str::to_owned),
            client: reqwest::Client::new(),
        }
    }

    /// Creates a user (through node 0's CLI) and returns a write token.
    pub fn user_with_token(&self, name: &str) -> String {
        self.nodes[0].user_with_token(name)
    }

    /// SIGKILLs node `i`; the proxy finds out on its next connection attempt.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on the same database, store and data dir.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].kill();
        let node = TestHub::spawn_node(
            &self.data_dir,
            Some(self.db.url.clone()),
            self.env.clone(),
            &self.dir.path().join(format!("node-{i}.log")),
        )
        .await;
        self.proxy.set_node(i, &node.url);
        self.nodes[i] = node;
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.db.url).await.unwrap()
    }

    /// The bare git repository of repo `id`, in the shared data dir.
    pub fn git_dir(&self, id: i64) -> PathBuf {
        self.nodes[0].git_dir(id)
    }

    /// Every node's log, for a failure message.
    pub fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("--- node {i}\n{}", n.log()))
            .collect()
    }
}
