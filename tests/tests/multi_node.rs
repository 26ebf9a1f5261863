//! Several hub nodes as one hub: three `hub serve` processes on one
//! PostgreSQL database, one S3 store and one data dir, behind a round-robin
//! reverse proxy (tests/src/cluster.rs, tests/src/proxy.rs), driven by the
//! real clients — `git push` with `git lfs`, huggingface_hub (Xet and LFS),
//! the browser upload route, the NDJSON commit API and the worker protocol.
//!
//! The promise checked: every acknowledged write lands exactly once, the
//! repositories stay sound (`git fsck`), PostgreSQL's view of a repo agrees
//! with git, and a node SIGKILLed mid-upload and mid-push loses only what
//! it had not acknowledged, blocking nobody.

mod inference_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hub_core::jobs::protocol::{EventBody, FinishReason, Task, Usage};
use inference_support::{
    ProtocolWorker, Sse, capabilities, chat_text, config_only_model, event, tok,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::cluster::{Cluster, prerequisite, python};
use tests::proxy::{PIN_HEADER, SERVED_BY_HEADER, THROTTLE_HEADER};
use tests::{file_op, git, ok};

const NODES: usize = 3;
/// The password of users made by the harness's `user_with_token`.
const PASSWORD: &str = "password-123";
/// Every write of these tests says so in its summary, so the checks can
/// tell them from the repo's own first commit.
const MARK: &str = "mn:";

// ---------------------------------------------------------------------------
// The ledger: what the clients were told.

/// One write a client made, and what it was told.
#[derive(Debug, Clone)]
struct Write {
    /// The commit summary, unique per write (`mn:<who> <n>`).
    summary: String,
    /// The commit the client was told about, if any.
    commit: Option<String>,
    /// The files it wrote, with their content.
    files: Vec<(String, Vec<u8>)>,
}

/// Acknowledged writes, and the summaries of writes whose fate the client
/// never heard (the node died, the connection broke): those may or may not
/// have landed, but at most once.
#[derive(Default, Clone)]
struct Ledger {
    acked: Arc<Mutex<Vec<Write>>>,
    unknown: Arc<Mutex<Vec<String>>>,
}

impl Ledger {
    fn ack(&self, write: Write) {
        self.acked.lock().unwrap().push(write);
    }

    fn unknown(&self, summary: String) {
        self.unknown.lock().unwrap().push(summary);
    }

    fn acked(&self) -> Vec<Write> {
        self.acked.lock().unwrap().clone()
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

/// Distinct bytes for a file: text, or binary (which the hub puts in LFS).
fn content(label: &str, len: usize, binary: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let seed = uuid::Uuid::new_v4();
    let mut block = 0u64;
    while out.len() < len {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{label}{seed}{block}"));
        if binary {
            out.extend_from_slice(&digest);
        } else {
            out.extend_from_slice(hex::encode(digest).as_bytes());
            out.push(b'\n');
        }
        block += 1;
    }
    out.truncate(len);
    if binary {
        out[0] = 0; // a NUL: binary by any rule
    }
    out
}

// ---------------------------------------------------------------------------
// Clients.

/// A client of the NDJSON commit API that reports transport failures
/// instead of panicking (a node may die under it).
#[derive(Clone)]
struct Committer {
    client: reqwest::Client,
    base: String,
    token: String,
}

enum Outcome {
    Acked(String),
    /// 409: the branch moved too often; nothing landed, try again.
    Conflict,
    /// No answer from a hub (the node died, or the proxy said 502).
    Unknown(String),
}

impl Committer {
    fn new(cluster: &Cluster, token: &str, pin: Option<usize>) -> Committer {
        Committer {
            client: client_pinned(pin),
            base: cluster.url.clone(),
            token: token.to_owned(),
        }
    }

    async fn commit(&self, repo: &str, summary: &str, ops: &[Value]) -> Outcome {
        let header = json!({ "key": "header", "value": { "summary": summary, "description": "" } });
        let body: String = std::iter::once(&header)
            .chain(ops)
            .map(|line| line.to_string() + "\n")
            .collect();
        let sent = self
            .client
            .post(format!("{}/api/models/{repo}/commit/main", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Outcome::Unknown(e.to_string()),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Outcome::Unknown(e.to_string()),
        };
        match status.as_u16() {
            200 => {
                let answer: Value = serde_json::from_str(&text).unwrap();
                Outcome::Acked(answer["commitOid"].as_str().unwrap().to_owned())
            }
            409 => Outcome::Conflict,
            502 => Outcome::Unknown(text),
            other => panic!("commit {summary:?}: {other} {text}"),
        }
    }

    /// `count` commits of one small text file each, in turn; a 409 is retried.
    async fn run(&self, repo: &str, who: &str, count: usize, ledger: &Ledger) {
        for n in 0..count {
            self.one(repo, who, n, ledger).await;
        }
    }

    async fn one(&self, repo: &str, who: &str, n: usize, ledger: &Ledger) {
        let summary = format!("{MARK}{who} {n}");
        let path = format!("{who}/{n}.txt");
        let bytes = content(&summary, 64, false);
        for _ in 0..50 {
            match self.commit(repo, &summary, &[file_op(&path, &bytes)]).await {
                Outcome::Acked(commit) => {
                    return ledger.ack(Write {
                        summary,
                        commit: Some(commit),
                        files: vec![(path, bytes)],
                    });
                }
                Outcome::Conflict => tokio::time::sleep(Duration::from_millis(20)).await,
                Outcome::Unknown(why) => {
                    eprintln!("{summary}: no answer ({why})");
                    return ledger.unknown(summary);
                }
            }
        }
        panic!("{summary}: still 409 after 50 tries");
    }
}

/// A reqwest client, sending every request to node `pin` when given.
fn client_pinned(pin: Option<usize>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(node) = pin {
        headers.insert(PIN_HEADER, node.into());
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A browser session through the proxy: a cookie jar shared by every view
/// of it, each view optionally pinned to one node.
#[derive(Clone)]
struct Browser {
    client: reqwest::Client,
    base: String,
    pin: Option<usize>,
}

impl Browser {
    fn new(cluster: &Cluster) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: cluster.url.clone(),
            pin: None,
        }
    }

    /// The same session, its requests sent to node `node`.
    fn on(&self, node: usize) -> Browser {
        Browser {
            pin: Some(node),
            ..self.clone()
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("accept-language", "en")
            // What a browser sends with a form post to this site.
            .header("origin", &self.base);
        if let Some(node) = self.pin {
            request = request.header(PIN_HEADER, node);
        }
        request
    }

    /// A page: status, the node that served it, the HTML.
    async fn get(&self, path: &str) -> (StatusCode, usize, String) {
        let r = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        let node = served_by(r.headers());
        (r.status(), node, r.text().await.unwrap())
    }

    /// Posts a form with the CSRF token of the page it comes from (taken
    /// from that page, on whichever node serves it).
    async fn submit(
        &self,
        form_page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let (_, _, html) = self.get(form_page).await;
        let csrf = csrf_of(&html);
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(csrf) = &csrf {
            form.push(("csrf", csrf));
        }
        self.request(reqwest::Method::POST, action)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The session's CSRF token, from the token page.
    async fn csrf(&self) -> String {
        let (status, _, html) = self.get("/settings/tokens").await;
        assert_eq!(status, 200, "signed in");
        csrf_of(&html).expect("the page has a CSRF field")
    }

    /// The upload route's streamed body (manifest line, then the files).
    async fn upload(
        &self,
        repo: &str,
        summary: &str,
        files: &[(String, Vec<u8>)],
        csrf: &str,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let manifest = json!({
            "summary": summary,
            "files": files.iter().map(|(p, b)| json!({ "path": p, "size": b.len() })).collect::<Vec<_>>(),
        });
        let mut body = serde_json::to_vec(&manifest).unwrap();
        body.push(b'\n');
        for (_, bytes) in files {
            body.extend_from_slice(bytes);
        }
        let r = self
            .request(reqwest::Method::POST, &format!("/{repo}/upload/main"))
            .header("x-csrf-token", csrf)
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Signs `name` up (password `long-enough`) and leaves the session signed in.
    async fn sign_up(&self, name: &str) {
        let email = format!("{name}@example.com");
        let r = self
            .submit(
                "/signup",
                "/signup",
                &[
                    ("username", name),
                    ("email", &email),
                    ("password", "long-enough"),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "sign-up of {name}");
    }

    async fn log_in(&self, name: &str, password: &str) {
        let r = self
            .submit(
                "/login",
                "/login",
                &[("login", name), ("password", password)],
            )
            .await;
        assert_eq!(r.status(), 303, "login of {name}");
    }

    /// Browser uploads of one text and one binary (LFS) file each, in turn.
    async fn run_uploads(&self, repo: &str, who: &str, count: usize, ledger: &Ledger) {
        let csrf = self.csrf().await;
        for n in 0..count {
            let summary = format!("{MARK}{who} {n}");
            let files = vec![
                (format!("{who}/{n}.txt"), content(&summary, 300, false)),
                (format!("{who}/{n}.bin"), content(&summary, 20_000, true)),
            ];
            match self.upload(repo, &summary, &files, &csrf).await {
                Ok((StatusCode::OK, answer)) => ledger.ack(Write {
                    summary,
                    commit: answer["commit"].as_str().map(str::to_owned),
                    files,
                }),
                Ok((StatusCode::BAD_GATEWAY, _)) | Err(_) => ledger.unknown(summary),
                Ok((status, answer)) => panic!("upload {summary}: {status} {answer}"),
            }
        }
    }
}

fn served_by(headers: &reqwest::header::HeaderMap) -> usize {
    headers[SERVED_BY_HEADER].to_str().unwrap().parse().unwrap()
}

/// The CSRF token in a page's forms, if it has one.
fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next().unwrap().to_owned())
}

/// A `git` working clone with `git lfs`, in its own HOME.
struct Checkout {
    home: PathBuf,
    dir: PathBuf,
    /// `-c` options for every command (e.g. headers the proxy reads).
    options: Vec<String>,
}

impl Checkout {
    fn new(root: &Path, name: &str, url: &str) -> Checkout {
        let home = root.join(format!("home-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        ok(git(&home, &home, &["lfs", "install", "--skip-repo"]));
        ok(git(&home, root, &["clone", "--quiet", url, name]));
        Checkout {
            home,
            dir: root.join(name),
            options: Vec::new(),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = Vec::new();
        for option in &self.options {
            all.extend(["-c", option]);
        }
        all.extend(args);
        git(&self.home, &self.dir, &all)
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.run(args))
    }

    /// Commits `files` with `summary`.
    fn commit(&self, summary: &str, files: &[(String, Vec<u8>)]) {
        for (path, bytes) in files {
            let full = self.dir.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, bytes).unwrap();
        }
        self.ok(&["add", "-A"]);
        self.ok(&["commit", "--quiet", "-m", summary]);
    }

    /// Pushes HEAD to main, rebasing on what others pushed meanwhile; the
    /// commit pushed, or `None` when a push failed for another reason than
    /// a moved branch (a dead node: the outcome is unknown).
    fn push_rebasing(&self, tries: usize) -> Option<String> {
        for _ in 0..tries {
            let out = self.run(&["push", "--quiet", "origin", "HEAD:main"]);
            if out.status.success() {
                return Some(self.ok(&["rev-parse", "HEAD"]).trim().to_owned());
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            // Another writer moved main between our fetch and our push:
            // seen by the client ("fetch first"), or by the hub under git's
            // ref lock ("failed to update ref", "cannot lock ref").
            let moved = [
                "fetch first",
                "non-fast-forward",
                "failed to update ref",
                "cannot lock ref",
                "failed to lock",
            ]
            .iter()
            .any(|m| stderr.contains(m));
            if !moved {
                eprintln!("push failed: {stderr}");
                return None;
            }
            self.ok(&["pull", "--quiet", "--rebase", "origin", "main"]);
        }
        panic!("push still rejected after {tries} rebases");
    }

    /// `rounds` commits of a text and an LFS file each, pushed one by one.
    fn run_pushes(&self, who: &str, rounds: usize, ledger: &Ledger) {
        for n in 0..rounds {
            let summary = format!("{MARK}{who} {n}");
            let files = vec![
                (format!("{who}/{n}.txt"), content(&summary, 500, false)),
                (format!("{who}/{n}.bin"), content(&summary, 40_000, true)),
            ];
            self.commit(&summary, &files);
            match self.push_rebasing(40) {
                Some(commit) => ledger.ack(Write {
                    summary,
                    commit: Some(commit),
                    files,
                }),
                None => {
                    ledger.unknown(summary);
                    self.ok(&["pull", "--quiet", "--rebase", "origin", "main"]);
                }
            }
        }
    }
}

/// `http://user:TOKEN@proxy/repo.git`.
fn git_url(cluster: &Cluster, token: &str, repo: &str) -> String {
    format!("{}/{repo}.git", cluster.url).replacen("http://", &format!("http://user:{token}@"), 1)
}

/// huggingface_hub's `upload_file`, once per file, in one Python process;
/// prints one JSON line per acknowledged commit.
const HF_UPLOAD: &str = r#"
import json, os, sys
from huggingface_hub import HfApi
api = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"])
for local, path, summary in json.loads(sys.argv[1]):
    info = api.upload_file(path_or_fileobj=local, path_in_repo=path,
                           repo_id=os.environ["REPO"], commit_message=summary)
    print(json.dumps({"summary": summary, "commit": info.oid}), flush=True)
"#;

/// Uploads `count` binary files with huggingface_hub (through Xet, or
/// through LFS with `xet` false) and records what it was told.
async fn hf_uploads(
    cluster_url: &str,
    token: &str,
    repo: &str,
    who: &str,
    count: usize,
    xet: bool,
    ledger: &Ledger,
) {
    let python = python().expect("checked by the caller");
    let dir = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    let mut planned = HashMap::new();
    for n in 0..count {
        let summary = format!("{MARK}{who} {n}");
        let path = format!("{who}/{n}.bin");
        let bytes = content(&summary, 150_000, true);
        let local = dir.path().join(format!("{n}.bin"));
        std::fs::write(&local, &bytes).unwrap();
        jobs.push(json!([local, path, summary]));
        planned.insert(summary, (path, bytes));
    }
    let mut command = tokio::process::Command::new(python);
    command
        .arg("-c")
        .arg(HF_UPLOAD)
        .arg(Value::Array(jobs).to_string())
        .env("HF_ENDPOINT", cluster_url)
        .env("HF_TOKEN", token)
        .env("REPO", repo)
        .env("HF_HOME", dir.path().join("hf-home"))
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env("HF_HUB_DISABLE_XET", if xet { "0" } else { "1" })
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(240), command.output())
        .await
        .expect("huggingface_hub finished in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "huggingface_hub ({who}) failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in stdout.lines() {
        let told: Value = serde_json::from_str(line).unwrap();
        let summary = told["summary"].as_str().unwrap().to_owned();
        let (path, bytes) = planned.remove(&summary).unwrap();
        ledger.ack(Write {
            summary,
            commit: told["commit"].as_str().map(str::to_owned),
            files: vec![(path, bytes)],
        });
    }
    assert!(planned.is_empty(), "not acknowledged: {planned:?}");
}

// ---------------------------------------------------------------------------
// The checks.

/// Everything the clients were told holds, through every node and in git.
async fn check_repo(cluster: &Cluster, repo: &str, ledger: &Ledger) {
    let acked = ledger.acked();
    let unknown = ledger.unknown.lock().unwrap().clone();
    let repo_id: i64 = sqlx::query_scalar(
        "SELECT r.id FROM repos r JOIN namespaces n ON n.id = r.namespace_id
         WHERE n.name || '/' || r.name = $1",
    )
    .bind(repo)
    .fetch_one(&cluster.pool().await)
    .await
    .unwrap();
    let bare = cluster.git_dir(repo_id);
    let home = tempfile::tempdir().unwrap();
    let h = home.path();

    // git's own check of the shared repository.
    let fsck = git(h, &bare, &["fsck", "--full", "--strict", "--no-dangling"]);
    assert!(
        fsck.status.success(),
        "git fsck: {}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    // No lock file left behind to block the next writer.
    let locks = lock_files(&bare);
    assert!(locks.is_empty(), "lock files left: {locks:?}");

    // Every acknowledged write exactly once; an unacknowledged one at most once.
    let head = ok(git(h, &bare, &["rev-parse", "refs/heads/main"]))
        .trim()
        .to_owned();
    let log = ok(git(h, &bare, &["log", "--format=%H %s", "refs/heads/main"]));
    let mut landed: HashMap<&str, usize> = HashMap::new();
    let mut commits = std::collections::HashSet::new();
    for line in log.lines() {
        let (commit, summary) = line.split_once(' ').unwrap();
        commits.insert(commit);
        *landed.entry(summary).or_default() += 1;
    }
    for write in &acked {
        assert_eq!(
            landed.get(write.summary.as_str()),
            Some(&1),
            "acknowledged {:?} is in main exactly once",
            write.summary
        );
        if let Some(commit) = &write.commit {
            assert!(
                commits.contains(commit.as_str()),
                "the commit {commit} the client was told about ({}) is in main",
                write.summary
            );
        }
    }
    for (summary, times) in &landed {
        if summary.starts_with(MARK) && !acked.iter().any(|w| w.summary == *summary) {
            assert!(
                unknown.iter().any(|u| u == summary),
                "{summary:?} landed but nobody wrote it"
            );
            assert_eq!(*times, 1, "{summary:?} landed {times} times");
        }
    }

    // Every acknowledged file reads back through the proxy (so through
    // every node in turn), byte for byte.
    let client = reqwest::Client::new();
    let mut nodes_seen = std::collections::HashSet::new();
    for write in &acked {
        for (path, bytes) in &write.files {
            let r = client
                .get(format!("{}/{repo}/resolve/main/{path}", cluster.url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            nodes_seen.insert(served_by(r.headers()));
            assert!(r.bytes().await.unwrap() == bytes[..], "content of {path}");
        }
    }
    assert!(
        nodes_seen.len() > 1 || acked.len() < 3,
        "reads spread over the nodes"
    );

    // PostgreSQL's view of the repo (listings, refs) agrees with git: the
    // after-commit steps of concurrent writers on several nodes did not
    // leave an older head recorded.
    let api = cluster.api(None);
    let (owner, _) = repo.split_once('/').unwrap();
    let listed = api.get(&format!("/api/models?author={owner}")).await.body;
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == repo)
        .unwrap_or_else(|| panic!("{repo} listed: {listed}"));
    assert_eq!(entry["sha"], head.as_str(), "listing's head");
    let refs = api.get(&format!("/api/models/{repo}/refs")).await.body;
    let main = refs["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "main")
        .unwrap();
    assert_eq!(main["targetCommit"], head.as_str(), "recorded refs");

    // A fresh clone through the proxy (git + git lfs) has every file.
    let clone = Checkout::new(h, "check", &format!("{}/{repo}.git", cluster.url));
    clone.ok(&["fsck", "--full", "--no-dangling"]);
    clone.ok(&["lfs", "fsck"]);
    for write in &acked {
        for (path, bytes) in &write.files {
            let got = std::fs::read(clone.dir.join(path)).unwrap();
            assert!(got == *bytes, "{path} in a fresh clone");
        }
    }
}

/// `*.lock` files anywhere in a bare repository.
fn lock_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "lock") {
                found.push(path);
            }
        }
    }
    found
}

/// Waits until `ready` holds, polling; panics after `limit`.
async fn until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A cluster with user alice (write token) and her public model `alice/shared`.
async fn cluster_with_repo() -> (Cluster, String) {
    let cluster = Cluster::start(NODES).await;
    let token = cluster.user_with_token("alice");
    let created = cluster
        .api(Some(&token))
        .create_repo("model", "alice", "shared", false)
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    (cluster, token)
}

// ---------------------------------------------------------------------------
// The tests.

/// A browser session is PostgreSQL's, not a node's: signed up through one
/// node, it works on the others — the CSRF token a page on one node gave
/// is accepted by another — and signing out on one ends it on all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_move_between_nodes() {
    let cluster = Cluster::start(NODES).await;
    let browser = Browser::new(&cluster);
    browser.on(0).sign_up("alice").await;
    for node in 0..NODES {
        let (status, served, html) = browser.on(node).get("/settings/tokens").await;
        assert_eq!((status, served), (StatusCode::OK, node));
        assert!(html.contains("alice"), "signed in on node {node}");
    }
    // The CSRF token of node 1's page, used on node 2 to create a repo and
    // on node 0 to upload to it.
    let csrf = browser.on(1).csrf().await;
    let created = browser
        .on(2)
        .request(reqwest::Method::POST, "/new")
        .form(&[
            ("owner", "alice"),
            ("name", "m"),
            ("repo_type", "model"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303, "repo created on node 2");
    let files = vec![("README.md".to_owned(), b"# hello\n".to_vec())];
    let (status, answer) = browser
        .on(0)
        .upload("alice/m", &format!("{MARK}web"), &files, &csrf)
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    // Links the nodes hand out name the proxy (the trusted forwarded host),
    // whichever node made them: the clients refuse any other host.
    let token = cluster.node(0).token("alice", true);
    for node in 0..NODES {
        let request = json!({ "operation": "upload", "transfers": ["basic"],
            "objects": [{ "oid": "a".repeat(64), "size": 1 }] });
        let r = client_pinned(Some(node))
            .post(format!(
                "{}/alice/m.git/info/lfs/objects/batch",
                cluster.url
            ))
            .bearer_auth(&token)
            .header("accept", "application/vnd.git-lfs+json")
            .header("content-type", "application/vnd.git-lfs+json")
            .body(request.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!((r.status().as_u16(), served_by(r.headers())), (200, node));
        let batch: Value = r.json().await.unwrap();
        let href = batch["objects"][0]["actions"]["upload"]["href"]
            .as_str()
            .unwrap_or_else(|| panic!("an upload action: {batch}"));
        assert!(href.starts_with(&format!("{}/", cluster.url)), "{href}");
    }

    // A second session of alice, signed in on node 2, signed out on node 0:
    // over on every node. The first session is untouched.
    let second = Browser::new(&cluster);
    second.on(2).log_in("alice", "long-enough").await;
    let csrf2 = second.on(1).csrf().await;
    let out = second
        .on(0)
        .request(reqwest::Method::POST, "/logout")
        .form(&[("csrf", csrf2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    for node in 0..NODES {
        let (status, _, _) = second.on(node).get("/settings/tokens").await;
        assert_ne!(status, 200, "signed out on node {node} too");
        let (status, _, _) = browser.on(node).get("/settings/tokens").await;
        assert_eq!(status, 200, "the other session lives on node {node}");
    }
}

/// Every kind of writer at once, on one branch, through all three nodes:
/// git pushes with LFS files, huggingface_hub uploads through Xet and
/// through LFS, browser uploads and NDJSON commits. Each acknowledged write
/// lands exactly once and reads back through every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_every_node_land_each_write_once() {
    let Some(_) = prerequisite(python(), "the test venv's Python (tests/run creates .venv)") else {
        return;
    };
    let (cluster, token) = cluster_with_repo().await;
    let repo = "alice/shared";
    let ledger = Ledger::default();
    let browser = Browser::new(&cluster);
    browser.log_in("alice", PASSWORD).await;
    let work = tempfile::tempdir().unwrap();
    let url = git_url(&cluster, &token, repo);
    let clones: Vec<Checkout> = (0..2)
        .map(|i| Checkout::new(work.path(), &format!("pusher{i}"), &url))
        .collect();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, clone) in clones.into_iter().enumerate() {
        let ledger = ledger.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            clone.run_pushes(&format!("git{i}"), 3, &ledger)
        }));
    }
    for i in 0..2 {
        let (committer, ledger) = (Committer::new(&cluster, &token, None), ledger.clone());
        tasks.push(tokio::spawn(async move {
            committer.run(repo, &format!("api{i}"), 6, &ledger).await
        }));
    }
    {
        let (browser, ledger) = (browser.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            browser.run_uploads(repo, "web", 4, &ledger).await
        }));
    }
    for (who, xet) in [("xet", true), ("lfs", false)] {
        let (url, token, ledger) = (cluster.url.clone(), token.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            hf_uploads(&url, &token, repo, who, 3, xet, &ledger).await
        }));
    }
    for task in tasks {
        task.await.expect("a writer failed");
    }
    eprintln!(
        "{} writes in {:?}; requests per node {:?}",
        ledger.acked_count(),
        started.elapsed(),
        cluster.proxy.served()
    );
    assert!(
        ledger.unknown.lock().unwrap().is_empty(),
        "with every node up, every write is answered"
    );
    assert_eq!(ledger.acked_count(), 2 * 3 + 2 * 6 + 4 + 2 * 3);
    let served = cluster.proxy.served();
    assert!(
        served.iter().all(|&n| n > 20),
        "every node did its share: {served:?}"
    );
    // The Xet uploads went through Xet (their xorbs are recorded).
    let xorbs: i64 = sqlx::query_scalar("SELECT count(*) FROM xet_xorbs")
        .fetch_one(&cluster.pool().await)
        .await
        .unwrap();
    assert!(xorbs > 0, "huggingface_hub used Xet");
    check_repo(&cluster, repo, &ledger).await;
}

/// Inference across nodes: clients stream from one node each while the
/// worker claims through another and reports each job's tokens through the
/// two others; every stream gets its tokens, in order, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_streams_are_relayed_across_nodes() {
    let cluster = Cluster::start(NODES).await;
    let token = cluster.user_with_token("alice");
    config_only_model(cluster.node(0), &token, "alice/tiny", "qwen2", false).await;
    let out = cluster
        .node(0)
        .cli(&["worker-token", "create", "--name", "w1"]);
    assert!(out.status.success());
    let wtoken = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let mut caps = capabilities(&["qwen2"], &[Task::TextGeneration]);
    caps.max_concurrent_jobs = NODES as u32;
    let worker = ProtocolWorker::register(&cluster.url, &wtoken, caps).await;
    let worker_on = |node: usize| ProtocolWorker {
        client: client_pinned(Some(node)),
        ..worker.clone()
    };

    // One streaming client per node.
    let mut streams = Vec::new();
    for node in 0..NODES {
        let body = json!({
            "model": "alice/tiny",
            "messages": [{ "role": "user", "content": format!("stream {node}") }],
            "stream": true,
            "max_tokens": 8,
        });
        let request = client_pinned(Some(node))
            .post(format!("{}/v1/chat/completions", cluster.url))
            .bearer_auth(&token)
            .json(&body)
            .send();
        streams.push(tokio::spawn(request));
    }
    let mut jobs = HashMap::new();
    let claimer = worker_on(1);
    while jobs.len() < NODES {
        let Some(job) = claimer.claim(Duration::from_secs(20)).await else {
            for stream in streams {
                let r = stream.await.unwrap().unwrap();
                eprintln!("{} {}", r.status(), r.text().await.unwrap());
            }
            panic!("no job queued; {}", cluster.logs());
        };
        let hub_core::jobs::protocol::JobInput::Generate(input) = &job.input else {
            panic!("a generation job")
        };
        let hub_core::jobs::protocol::Prompt::Chat(messages) = &input.prompt else {
            panic!("chat messages")
        };
        let node: usize = messages[0]
            .content
            .trim_start_matches("stream ")
            .parse()
            .unwrap();
        jobs.insert(node, job.id);
    }
    // Each job's first tokens through one other node, the rest through the third.
    for (&node, &job) in &jobs {
        worker_on((node + 1) % NODES)
            .ack(
                job,
                &[
                    event(0, EventBody::Started { prompt_tokens: 3 }),
                    tok(1, 5, "你"),
                ],
            )
            .await;
    }
    let mut sse = HashMap::new();
    for (node, stream) in streams.into_iter().enumerate() {
        let response = stream.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(served_by(response.headers()), node);
        let mut events = Sse::new(response);
        let (_, role) = events.next().await.unwrap();
        assert!(role.contains("assistant"), "{role}");
        let (_, first) = events.next().await.unwrap();
        assert!(first.contains("\"content\":\"你\""), "{first}");
        sse.insert(node, events);
    }
    for (&node, &job) in &jobs {
        let sent = Instant::now();
        worker_on((node + 2) % NODES)
            .ack(job, &[tok(2, 6, "好")])
            .await;
        let (_, second) = sse.get_mut(&node).unwrap().next().await.unwrap();
        assert!(second.contains("\"content\":\"好\""), "{second}");
        let after = sent.elapsed();
        assert!(after < Duration::from_secs(2), "relayed after {after:?}");
        worker_on((node + 2) % NODES)
            .ack(
                job,
                &[event(
                    3,
                    EventBody::Finished {
                        finish_reason: FinishReason::EosToken,
                        usage: Usage {
                            prompt_tokens: 3,
                            generated_tokens: 2,
                            device_ms: 1,
                        },
                    },
                )],
            )
            .await;
        let (text, done) = chat_text(&sse.get_mut(&node).unwrap().rest().await);
        assert_eq!((text.as_str(), done), ("", true));
    }
    let succeeded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM inference_jobs WHERE state = 'succeeded'")
            .fetch_one(&cluster.pool().await)
            .await
            .unwrap();
    assert_eq!(succeeded, NODES as i64);
}

/// A node SIGKILLed while it receives a browser upload and a `git push`:
/// those two may be lost, nothing else is; the other nodes keep taking
/// writes to the same branch at once (no lock left behind blocks them);
/// the node comes back and serves the same repo.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_upload_and_mid_push_loses_only_those() {
    let (mut cluster, token) = cluster_with_repo().await;
    let repo = "alice/shared";
    let victim = 2;
    let ledger = Ledger::default();
    let work = tempfile::tempdir().unwrap();
    let url = git_url(&cluster, &token, repo);
    let pusher = Checkout::new(work.path(), "pusher", &url);
    let mut slow_pusher = Checkout::new(work.path(), "slow", &url);

    // Writers that keep going through every node until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (committer, ledger, stop) = (
            Committer::new(&cluster, &token, None),
            ledger.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 300 {
                committer.one(repo, "api", n, &ledger).await;
                n += 1;
                // A steady stream, not a flood: the checks read every file back.
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };

    // An upload that stalls halfway on the victim: its body comes from here.
    let browser = Browser::new(&cluster);
    browser.log_in("alice", PASSWORD).await;
    let csrf = browser.csrf().await;
    let upload_summary = format!("{MARK}web victim");
    let big = content(&upload_summary, 4 << 20, true);
    let (feed, body) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let manifest = json!({
        "summary": upload_summary,
        "files": [{ "path": "victim/upload.bin", "size": big.len() }],
    });
    let mut first = serde_json::to_vec(&manifest).unwrap();
    first.push(b'\n');
    first.extend_from_slice(&big[..1 << 20]);
    feed.send(Ok(first)).await.unwrap();
    let stalled_upload = tokio::spawn(
        browser
            .on(victim)
            .request(reqwest::Method::POST, &format!("/{repo}/upload/main"))
            .header("x-csrf-token", &csrf)
            .body(reqwest::Body::wrap_stream(tokio_stream(body)))
            .send(),
    );

    // A push that trickles its pack to the victim (about 8 s for 1.6 MB).
    let push_summary = format!("{MARK}git victim");
    let push_files = vec![(
        "victim/pack.dat".to_owned(),
        content(&push_summary, 1_600_000, true),
    )];
    slow_pusher.commit(&push_summary, &push_files);
    slow_pusher.options = vec![
        format!("http.extraHeader={PIN_HEADER}: {victim}"),
        format!("http.extraHeader={THROTTLE_HEADER}: 200000"),
    ];
    let slow_push = tokio::task::spawn_blocking(move || {
        // To a branch of its own: with main moving all the time, a push to
        // main would be refused before its pack went out.
        let out = slow_pusher.run(&["push", "--quiet", "origin", "HEAD:refs/heads/victim"]);
        (slow_pusher, out)
    });

    // Kill it once both are under way on the victim, with writes landing elsewhere.
    let in_flight = |suffix: &str, bytes: u64| {
        cluster.proxy.in_flight().iter().any(|r| {
            r.node == victim && r.method == "POST" && r.path.ends_with(suffix) && r.sent >= bytes
        })
    };
    until(
        "the upload and the push on the victim",
        Duration::from_secs(60),
        || {
            slow_push.is_finished()
                || (in_flight("/upload/main", 1 << 20) && in_flight("/git-receive-pack", 100_000))
        },
    )
    .await;
    assert!(!slow_push.is_finished(), "the push ended before the kill");
    until("some commits", Duration::from_secs(60), || {
        ledger.acked_count() >= 3
    })
    .await;
    cluster.kill(victim);
    let killed_at = ledger.acked_count();

    // Both were cut off: the client hears of it (or of nothing at all).
    drop(feed);
    match stalled_upload.await.unwrap() {
        Ok(r) => assert!(
            r.status() == StatusCode::BAD_GATEWAY || r.text().await.is_err(),
            "the upload was not acknowledged"
        ),
        Err(_) => {}
    }
    ledger.unknown(upload_summary);
    let (slow_pusher, out) = slow_push.await.unwrap();
    assert!(!out.status.success(), "the push to a dead node failed");

    // The others take writes to the same branch at once: the API writer
    // goes on; then pushes (the cut-off one again, rebased) and a browser
    // upload, side by side.
    until("commits after the kill", Duration::from_secs(60), || {
        ledger.acked_count() >= killed_at + 5
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    background.await.unwrap();
    let after = Instant::now();
    let pushes = tokio::task::spawn_blocking({
        let ledger = ledger.clone();
        move || pusher.run_pushes("git", 2, &ledger)
    });
    let mut slow_pusher = slow_pusher;
    slow_pusher.options.clear();
    let again = tokio::task::spawn_blocking(move || {
        slow_pusher.ok(&["pull", "--quiet", "--rebase", "origin", "main"]);
        slow_pusher.push_rebasing(40)
    });
    browser.run_uploads(repo, "web", 2, &ledger).await;
    pushes.await.unwrap();
    ledger.ack(Write {
        summary: push_summary,
        commit: Some(
            again
                .await
                .unwrap()
                .expect("the victim's push goes through another node"),
        ),
        files: push_files,
    });
    let survivors_took = after.elapsed();
    assert!(
        survivors_took < Duration::from_secs(60),
        "writes after the kill took {survivors_took:?}"
    );

    // The node comes back on the same storage and serves the same repo.
    cluster.restart(victim).await;
    let committer = Committer::new(&cluster, &token, Some(victim));
    committer.run(repo, "back", 2, &ledger).await;
    eprintln!(
        "{} acknowledged, {} unknown; requests per node {:?}",
        ledger.acked_count(),
        ledger.unknown.lock().unwrap().len(),
        cluster.proxy.served()
    );
    check_repo(&cluster, repo, &ledger).await;
}

/// A stream of the chunks sent into `rx`.
fn tokio_stream(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// A node killed between taking a ref's lock and releasing it leaves
/// `refs/heads/main.lock` behind, which git never removes: once it is old
/// enough to be a dead writer's, API commits and pushes through the other
/// nodes go through instead of failing on it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ref_lock_left_by_a_killed_node_blocks_nobody() {
    let (cluster, token) = cluster_with_repo().await;
    let repo = "alice/shared";
    let repo_id: i64 = sqlx::query_scalar("SELECT id FROM repos WHERE name = 'shared'")
        .fetch_one(&cluster.pool().await)
        .await
        .unwrap();
    let lock = cluster.git_dir(repo_id).join("refs/heads/main.lock");
    let leave_lock = || {
        let file = std::fs::File::create(&lock).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(600))
            .unwrap();
    };
    let ledger = Ledger::default();

    leave_lock();
    Committer::new(&cluster, &token, None)
        .one(repo, "api", 0, &ledger)
        .await;
    assert_eq!(ledger.acked_count(), 1, "the API commit landed");
    assert!(!lock.exists());

    let work = tempfile::tempdir().unwrap();
    let checkout = Checkout::new(work.path(), "pusher", &git_url(&cluster, &token, repo));
    leave_lock();
    tokio::task::spawn_blocking({
        let ledger = ledger.clone();
        move || checkout.run_pushes("git", 1, &ledger)
    })
    .await
    .unwrap();
    assert_eq!(ledger.acked_count(), 2, "the push landed");
    check_repo(&cluster, repo, &ledger).await;
}

/// What PostgreSQL records of a repo (listing head, refs) follows git when
/// commits land through several nodes at once: each node's after-commit
/// step reads git and records it, and the last to record must not be the
/// one that read an older head. Checked after every round of three
/// simultaneous commits, one through each node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recorded_head_follows_git_when_nodes_commit_at_once() {
    const ROUNDS: usize = 30;
    let (cluster, token) = cluster_with_repo().await;
    let repo = "alice/shared";
    let repo_id: i64 = sqlx::query_scalar("SELECT id FROM repos WHERE name = 'shared'")
        .fetch_one(&cluster.pool().await)
        .await
        .unwrap();
    let pool = cluster.pool().await;
    let bare = cluster.git_dir(repo_id);
    let ledger = Ledger::default();
    let committers: Vec<Committer> = (0..NODES)
        .map(|node| Committer::new(&cluster, &token, Some(node)))
        .collect();
    for round in 0..ROUNDS {
        let writes = committers.iter().enumerate().map(|(node, c)| {
            let ledger = ledger.clone();
            async move { c.one(repo, &format!("n{node}"), round, &ledger).await }
        });
        futures::future::join_all(writes).await;
        let home = tempfile::tempdir().unwrap();
        let head = ok(git(home.path(), &bare, &["rev-parse", "refs/heads/main"]));
        let (recorded, main): (Option<String>, Option<String>) = sqlx::query_as(
            "SELECT r.head_sha, f.target FROM repos r
             LEFT JOIN repo_refs f ON f.repo_id = r.id AND f.kind = 'branch' AND f.name = 'main'
             WHERE r.id = $1",
        )
        .bind(repo_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            recorded.as_deref(),
            Some(head.trim()),
            "round {round}: head"
        );
        assert_eq!(main.as_deref(), Some(head.trim()), "round {round}: refs");
    }
    assert_eq!(ledger.acked_count(), ROUNDS * NODES);
}
