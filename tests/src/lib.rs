//! Test harness: runs the real `hub` binary on an ephemeral port against a
//! fresh database on a real PostgreSQL server, and talks to it over HTTP.
//!
//! The server is `HUB_TEST_DATABASE_URL` (an admin URL; `.ci/run` points it
//! at the machine's PostgreSQL) or, when unset, a private cluster under
//! `target/test-postgres`, started through the hub's own launcher.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hub_core::db::launcher::PrivateCluster;
use serde_json::{Value, json};

pub mod browser;
pub mod cluster;
pub mod finetune;
pub mod proxy;
pub mod runner;
pub mod space_app;
pub mod worker;

/// The `hub` binary of this build (`target/<profile>/hub`).
pub fn hub_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("hub");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` first (the README's test command does)",
        bin.display()
    );
    bin
}

/// The admin URL of the PostgreSQL server the tests use.
fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("HUB_TEST_DATABASE_URL") {
            return url;
        }
        let dir = hub_binary().parent().unwrap().join("test-postgres");
        let cluster =
            PrivateCluster::ensure_running(&dir).expect("cannot start a PostgreSQL for the tests");
        let url = cluster.database_url("postgres");
        // Kept running for the rest of this test process (and adopted by the next).
        std::mem::forget(cluster);
        url
    })
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

/// A fresh, empty database; dropped with the value.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let name = format!("kyt_{}", uuid::Uuid::new_v4().simple());
        let admin = server_url();
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
            .await
            .expect("connect to the test server");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )))
        .execute(&mut conn)
        .await
        .expect("create test database");
        TestDatabase {
            url: with_database(admin, &name),
            name,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async code here; use a short-lived runtime of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(server_url()).await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The object store of test hubs: the data dir's own (local filesystem), or,
/// when `HUB_TEST_S3_ENDPOINT` names an S3-protocol server, a fresh bucket
/// there, passed to the hub in the environment a deployment would use.
async fn object_store_env() -> Vec<(String, String)> {
    match std::env::var("HUB_TEST_S3_ENDPOINT") {
        Ok(endpoint) => s3_bucket_env(&endpoint).await,
        Err(_) => Vec::new(),
    }
}

/// Creates a fresh bucket on the S3-protocol server at `endpoint` and
/// returns the hub's environment for it.
pub async fn s3_bucket_env(endpoint: &str) -> Vec<(String, String)> {
    let bucket = format!("kyt-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("S3 server reachable");
    assert!(
        created.status().is_success(),
        "cannot create bucket: {}",
        created.status()
    );
    [
        ("HUB_OBJECT_STORE", format!("s3://{bucket}")),
        ("AWS_ENDPOINT", endpoint.to_owned()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Whether test hubs store objects in S3 (see [`object_store_env`]).
pub fn uses_s3() -> bool {
    std::env::var("HUB_TEST_S3_ENDPOINT").is_ok()
}

/// A running `hub serve`.
pub struct TestHub {
    pub url: String,
    pub data_dir: PathBuf,
    /// `DATABASE_URL` given to the hub; `None` means its private cluster.
    pub database_url: Option<String>,
    /// Object store settings given to the hub and its CLI.
    pub env: Vec<(String, String)>,
    /// Where its stderr goes (`<data-dir>/hub.log` unless given).
    pub log_path: PathBuf,
    child: Option<Child>,
    _temp: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

impl TestHub {
    /// A hub on a fresh database and an empty data dir.
    pub async fn start() -> TestHub {
        let db = TestDatabase::create().await;
        let temp = tempfile::tempdir().unwrap();
        let env = object_store_env().await;
        let mut hub = TestHub::spawn_with(temp.path(), Some(db.url.clone()), env).await;
        hub._temp = Some(temp);
        hub._db = Some(db);
        hub
    }

    /// Starts `hub serve` on `data_dir` (with DATABASE_URL when given) and
    /// waits for its `listening on` line.
    pub async fn spawn(data_dir: &Path, database_url: Option<String>) -> TestHub {
        TestHub::spawn_with(data_dir, database_url, Vec::new()).await
    }

    /// [`TestHub::spawn`] with extra environment variables.
    pub async fn spawn_with(
        data_dir: &Path,
        database_url: Option<String>,
        env: Vec<(String, String)>,
    ) -> TestHub {
        TestHub::launch(data_dir, database_url, env, "127.0.0.1:0", &[], None).await
    }

    /// [`TestHub::spawn_with`] logging to `log` instead of the data dir's
    /// `hub.log`: one of several nodes that share a data dir.
    pub async fn spawn_node(
        data_dir: &Path,
        database_url: Option<String>,
        env: Vec<(String, String)>,
        log: &Path,
    ) -> TestHub {
        TestHub::launch(data_dir, database_url, env, "127.0.0.1:0", &[], Some(log)).await
    }

    /// [`TestHub::spawn_with`] listening on `listen` (a restarted hub
    /// that its workers must find again at the same address).
    pub async fn spawn_on(
        data_dir: &Path,
        database_url: Option<String>,
        env: Vec<(String, String)>,
        listen: &str,
    ) -> TestHub {
        TestHub::launch(data_dir, database_url, env, listen, &[], None).await
    }

    /// [`TestHub::start`] with extra `hub serve` arguments (e.g. TLS ones).
    pub async fn start_with_args(args: &[&str]) -> TestHub {
        TestHub::start_with(&[], args).await
    }

    /// [`TestHub::start`] with extra environment variables (e.g. shorter
    /// limits) and `hub serve` arguments.
    pub async fn start_with(extra_env: &[(&str, &str)], args: &[&str]) -> TestHub {
        let db = TestDatabase::create().await;
        let temp = tempfile::tempdir().unwrap();
        let mut env = object_store_env().await;
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let mut hub = TestHub::spawn_with_args(temp.path(), Some(db.url.clone()), env, args).await;
        hub._temp = Some(temp);
        hub._db = Some(db);
        hub
    }

    /// [`TestHub::spawn_with`] with extra `hub serve` arguments; `url` is
    /// the first address the hub logs (`http://` or `https://`).
    pub async fn spawn_with_args(
        data_dir: &Path,
        database_url: Option<String>,
        env: Vec<(String, String)>,
        args: &[&str],
    ) -> TestHub {
        TestHub::launch(data_dir, database_url, env, "127.0.0.1:0", args, None).await
    }

    async fn launch(
        data_dir: &Path,
        database_url: Option<String>,
        env: Vec<(String, String)>,
        listen: &str,
        args: &[&str],
        log: Option<&Path>,
    ) -> TestHub {
        let log = log.map_or_else(|| data_dir.join("hub.log"), Path::to_owned);
        std::fs::create_dir_all(data_dir).unwrap();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let offset = std::fs::metadata(&log).unwrap().len() as usize;
        let mut cmd = Command::new(hub_binary());
        cmd.args(["serve", "--listen", listen, "--data-dir"])
            .arg(data_dir)
            .args(args);
        cmd.env_remove("DATABASE_URL")
            .env("RUST_LOG", "info,sqlx=warn");
        if let Some(url) = &database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn hub");
        let deadline = Instant::now() + Duration::from_secs(90);
        let url = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(pos) = text[offset.min(text.len())..].find("listening on http") {
                let rest = &text[offset + pos + "listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_owned();
            }
            assert!(Instant::now() < deadline, "hub did not start; log:\n{text}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        TestHub {
            url,
            data_dir: data_dir.to_owned(),
            database_url,
            env,
            log_path: log,
            child: Some(child),
            _temp: None,
            _db: None,
        }
    }

    /// Runs a `hub` subcommand against this hub's data dir and database.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(hub_binary());
        cmd.args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env_remove("DATABASE_URL");
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.output().expect("run hub")
    }

    /// Runs a `hub` subcommand against this hub that must succeed; its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "hub {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Creates a user with the CLI and returns a write token for it.
    pub fn user_with_token(&self, name: &str) -> String {
        let out = self.cli(&[
            "user",
            "create",
            "--username",
            name,
            "--email",
            &format!("{name}@example.com"),
            "--password",
            "password-123",
        ]);
        assert!(
            out.status.success(),
            "user create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.token(name, true)
    }

    pub fn token(&self, user: &str, write: bool) -> String {
        let mut args = vec!["token", "create", "--username", user, "--name", "test"];
        if write {
            args.push("--write");
        }
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "token create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        child.wait().unwrap().success()
    }

    /// A figure of the hub process's memory in MiB, from
    /// `/proc/<pid>/status`: `VmHWM` (its peak resident set) or `VmRSS` (now).
    pub fn memory_mib(&self, field: &str) -> u64 {
        let pid = self.child.as_ref().expect("the hub is running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
        kib / 1024
    }

    /// The hub process's id (for figures from `/proc/<pid>/…`: open
    /// descriptors, bytes written).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the hub is running").id()
    }

    /// The bare git repository of repo `id`.
    pub fn git_dir(&self, id: i64) -> PathBuf {
        hub_core::git::repo_path(&self.data_dir.join("repos"), id)
    }

    pub fn api(&self, token: Option<&str>) -> Api {
        Api {
            base: self.url.clone(),
            token: token.map(str::to_owned),
            client: reqwest::Client::new(),
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A throwaway CA and a server certificate for localhost/127.0.0.1 in
/// `dir` (tests/make-test-cert): `(ca.pem, server.pem, server.key)`.
pub fn make_test_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("make-test-cert");
    let out = Command::new(script)
        .arg(dir)
        .output()
        .expect("run make-test-cert");
    assert!(
        out.status.success(),
        "make-test-cert: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// An HTTP client that trusts the CA in `ca` (PEM).
pub fn client_trusting(ca: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

/// A small client for the JSON API.
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    pub client: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn error_code(&self) -> Option<&str> {
        self.headers
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
    }
}

impl Api {
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn create_repo(
        &self,
        repo_type: &str,
        namespace: &str,
        name: &str,
        private: bool,
    ) -> Answer {
        let visibility = if private { "private" } else { "public" };
        self.post("/api/repos/create", json!({ "name": name, "organization": namespace, "type": repo_type, "visibility": visibility })).await
    }

    /// A commit through the NDJSON commit API.
    pub async fn commit(
        &self,
        repo: &str,
        summary: &str,
        ops: &[Value],
        parent: Option<&str>,
    ) -> Answer {
        self.commit_to("models", repo, summary, ops, parent).await
    }

    /// [`Self::commit`] to a repo of another type (`plural`: `models`,
    /// `datasets`, `spaces`).
    pub async fn commit_to(
        &self,
        plural: &str,
        repo: &str,
        summary: &str,
        ops: &[Value],
        parent: Option<&str>,
    ) -> Answer {
        let mut header = json!({ "summary": summary, "description": "" });
        if let Some(p) = parent {
            header["parentCommit"] = json!(p);
        }
        let mut body = json!({ "key": "header", "value": header }).to_string();
        for op in ops {
            body.push('\n');
            body.push_str(&op.to_string());
        }
        let mut req = self
            .client
            .post(format!("{}/api/{plural}/{repo}/commit/main", self.base))
            .header("content-type", "application/x-ndjson")
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// An NDJSON `file` line with inline content.
pub fn file_op(path: &str, content: &[u8]) -> Value {
    use base64::Engine;
    json!({ "key": "file", "value": { "path": path, "content": base64::engine::general_purpose::STANDARD.encode(content), "encoding": "base64" } })
}

/// A commit operation naming an LFS object already uploaded.
pub fn lfs_op(path: &str, oid: &str, size: usize) -> Value {
    json!({ "key": "lfsFile", "value": { "path": path, "algo": "sha256", "oid": oid, "size": size } })
}

/// Uploads `data` through the LFS batch API of `repo_path` (`alice/m` or
/// `datasets/alice/d`), as a client does: PUT and verify when the hub asks
/// for the object (it does not when the repo already has it); returns the
/// sha256.
pub async fn upload_lfs(hub: &TestHub, token: &str, repo_path: &str, data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    const LFS_TYPE: &str = "application/vnd.git-lfs+json";
    let oid = hex::encode(Sha256::digest(data));
    let client = reqwest::Client::new();
    let request = json!({ "operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
        "objects": [{ "oid": oid, "size": data.len() }] });
    let batch: Value = client
        .post(format!(
            "{}/{repo_path}.git/info/lfs/objects/batch",
            hub.url
        ))
        .bearer_auth(token)
        .header("accept", LFS_TYPE)
        .header("content-type", LFS_TYPE)
        .body(request.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions = &batch["objects"][0]["actions"];
    if let Some(href) = actions["upload"]["href"].as_str() {
        let put = client.put(href).body(data.to_vec()).send().await.unwrap();
        assert_eq!(put.status(), 200);
        let verify = actions["verify"]["href"].as_str().expect("verify action");
        let verified = client
            .post(verify)
            .bearer_auth(token)
            .header("content-type", LFS_TYPE)
            .body(json!({ "oid": oid, "size": data.len() }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(verified.status(), 200);
    }
    oid
}

/// A client builder whose requests come from the loopback address `ip`
/// (any `127.x.y.z` reaches the hub): another client address, as the hub
/// tells clients apart for throttles and download counts.
pub fn client_at(ip: &str) -> reqwest::ClientBuilder {
    reqwest::Client::builder().local_address(Some(ip.parse().expect("an IP address")))
}

pub fn delete_op(path: &str) -> Value {
    json!({ "key": "deletedFile", "value": { "path": path } })
}

/// Runs the real git in `dir` with an isolated HOME: no user config, no
/// credential helper, no prompts, a fixed identity.
pub fn git(home: &Path, dir: &Path, args: &[&str]) -> Output {
    git_command(home, dir).args(args).output().expect("run git")
}

/// `git` run in `dir` with its own HOME, no system config, no prompts and a
/// fixed identity: the base of every git client the tests run.
pub fn git_command(home: &Path, dir: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Tester")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "Tester")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    command
}

/// Runs a read-only git command on a bare repo of the hub (`hub.git_dir`)
/// and returns its output; panics with git's message when it fails.
pub fn git_bare(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The stdout of a git run that must succeed.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "git failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The stderr of a git run that must fail.
pub fn failed(out: Output) -> String {
    assert!(
        !out.status.success(),
        "git unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The page runs no inline script: every `<script>` tag loads one of the
/// hub's own files (the CSP's `script-src 'self'` would block the rest).
pub fn assert_no_inline_script(html: &str, page: &str) {
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap();
        assert!(
            tag.contains("src=\"/static/"),
            "inline script on {page}: {tag}"
        );
    }
}

/// Polls `probe` until it answers `want`, then checks it still does once
/// the hub has flushed at least twice more: counted downloads are written
/// in batches (`hub_core::repos::download_counts`, about once a second),
/// so a count arrives a moment after its download, and one counted twice
/// would show by then. Panics with the last answer after 15 s.
pub async fn settles_at<T, F, Fut>(want: T, mut probe: F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    arrives_at(&want, &mut probe).await;
    tokio::time::sleep(hub_core::repos::download_counts::FLUSH_INTERVAL * 5 / 2).await;
    assert_eq!(probe().await, want, "the count moved on after settling");
}

/// Polls `probe` until it answers `want` (see [`settles_at`]); panics with
/// the last answer after 15 s.
pub async fn arrives_at<T, F, Fut>(want: &T, probe: &mut F)
where
    T: PartialEq + std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = probe().await;
        if got == *want {
            return;
        }
        assert!(Instant::now() < deadline, "still {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A page as a browser signed in as `login` (password `password-123`, as
/// [`TestHub::user_with_token`] makes users) or nobody sees it, in English:
/// its status and HTML.
pub async fn page_as(base: &str, path: &str, login: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    if let Some(login) = login {
        let signed_in = client
            .post(format!("{base}/login"))
            .form(&[("login", login), ("password", "password-123")])
            .send()
            .await
            .unwrap();
        assert!(signed_in.status().is_success(), "{}", signed_in.status());
    }
    let r = client
        .get(format!("{base}{path}"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Writes `size` random bytes to `path` and returns their sha256.
pub fn random_file(path: &Path, size: usize) -> String {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};
    let mut random = std::fs::File::open("/dev/urandom").unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len());
        random.read_exact(&mut buf[..n]).unwrap();
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).unwrap();
        left -= n;
    }
    out.flush().unwrap();
    hex::encode(hasher.finalize())
}
