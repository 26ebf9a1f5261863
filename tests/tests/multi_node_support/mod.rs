//! Shared by the multi-node tests: a ledger of what the clients were told,
//! the clients (NDJSON commits, a browser session, `git` checkouts,
//! huggingface_hub in a subprocess), each able to aim at one node through
//! the proxy, and the check that a repo holds exactly what was acknowledged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::cluster::{Cluster, python};
use tests::proxy::{PIN_HEADER, SERVED_BY_HEADER};
use tests::{file_op, git, ok};

pub const NODES: usize = 3;
/// The password of users made by the harness's `user_with_token`.
pub const PASSWORD: &str = "password-123";
/// Every write of these tests says so in its summary, so the checks can
/// tell them from the repo's own first commit.
pub const MARK: &str = "mn:";

// ---------------------------------------------------------------------------
// The ledger: what the clients were told.

/// One write a client made, and what it was told.
#[derive(Debug, Clone)]
pub struct Write {
    /// The commit summary, unique per write (`mn:<who> <n>`).
    pub summary: String,
    /// The commit the client was told about, if any.
    pub commit: Option<String>,
    /// The files it wrote, with their content.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Acknowledged writes, and the summaries of writes whose fate the client
/// never heard (the node died, the connection broke): those may or may not
/// have landed, but at most once.
#[derive(Default, Clone)]
pub struct Ledger {
    pub acked: Arc<Mutex<Vec<Write>>>,
    pub unknown: Arc<Mutex<Vec<String>>>,
}

impl Ledger {
    pub fn ack(&self, write: Write) {
        self.acked.lock().unwrap().push(write);
    }

    pub fn unknown(&self, summary: String) {
        self.unknown.lock().unwrap().push(summary);
    }

    pub fn acked(&self) -> Vec<Write> {
        self.acked.lock().unwrap().clone()
    }

    pub fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }
}

/// Distinct bytes for a file: text, or binary (which the hub puts in LFS).
pub fn content(label: &str, len: usize, binary: bool) -> Vec<u8> {
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
pub struct Committer {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

pub enum Outcome {
    Acked(String),
    /// 409: the branch moved too often; nothing landed, try again.
    Conflict,
    /// No answer from a hub (the node died, or the proxy said 502).
    Unknown(String),
}

impl Committer {
    pub fn new(cluster: &Cluster, token: &str, pin: Option<usize>) -> Committer {
        Committer {
            client: client_pinned(pin),
            base: cluster.url.clone(),
            token: token.to_owned(),
        }
    }

    pub async fn commit(&self, repo: &str, summary: &str, ops: &[Value]) -> Outcome {
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
    pub async fn run(&self, repo: &str, who: &str, count: usize, ledger: &Ledger) {
        for n in 0..count {
            self.one(repo, who, n, ledger).await;
        }
    }

    pub async fn one(&self, repo: &str, who: &str, n: usize, ledger: &Ledger) {
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
pub fn client_pinned(pin: Option<usize>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(node) = pin {
        headers.insert(PIN_HEADER, node.into());
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A browser session through the proxy (the harness's browser), each view
/// of it optionally pinned to one node; pages say which node served them.
#[derive(Clone)]
pub struct Browser(tests::browser::Browser);

impl std::ops::Deref for Browser {
    type Target = tests::browser::Browser;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Browser {
    pub fn new(cluster: &Cluster) -> Browser {
        Browser(tests::browser::Browser::new(&cluster.url))
    }

    /// The same session, its requests sent to node `node`.
    pub fn on(&self, node: usize) -> Browser {
        Browser(self.0.with_header(PIN_HEADER, node))
    }

    /// A page: status, the node that served it, the HTML.
    pub async fn get(&self, path: &str) -> (StatusCode, usize, String) {
        let (status, headers, html) = self.0.page(path).await;
        (status, served_by(&headers), html)
    }

    /// The upload route's streamed body (manifest line, then the files).
    pub async fn upload(
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

    /// Browser uploads of one text and one binary (LFS) file each, in turn.
    pub async fn run_uploads(&self, repo: &str, who: &str, count: usize, ledger: &Ledger) {
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

pub fn served_by(headers: &reqwest::header::HeaderMap) -> usize {
    headers[SERVED_BY_HEADER].to_str().unwrap().parse().unwrap()
}

/// A `git` working clone with `git lfs`, in its own HOME.
pub struct Checkout {
    pub home: PathBuf,
    pub dir: PathBuf,
    /// `-c` options for every command (e.g. headers the proxy reads).
    pub options: Vec<String>,
}

impl Checkout {
    pub fn new(root: &Path, name: &str, url: &str) -> Checkout {
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

    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = Vec::new();
        for option in &self.options {
            all.extend(["-c", option]);
        }
        all.extend(args);
        git(&self.home, &self.dir, &all)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        ok(self.run(args))
    }

    /// Commits `files` with `summary`.
    pub fn commit(&self, summary: &str, files: &[(String, Vec<u8>)]) {
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
    pub fn push_rebasing(&self, tries: usize) -> Option<String> {
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
    pub fn run_pushes(&self, who: &str, rounds: usize, ledger: &Ledger) {
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
pub fn git_url(cluster: &Cluster, token: &str, repo: &str) -> String {
    format!("{}/{repo}.git", cluster.url).replacen("http://", &format!("http://user:{token}@"), 1)
}

/// huggingface_hub's `upload_file`, once per file, in one Python process;
/// prints one JSON line per acknowledged commit.
pub const HF_UPLOAD: &str = r#"
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
pub async fn hf_uploads(
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
pub async fn check_repo(cluster: &Cluster, repo: &str, ledger: &Ledger) {
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
pub fn lock_files(dir: &Path) -> Vec<PathBuf> {
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
pub async fn until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A cluster with user alice (write token) and her public model `alice/shared`.
pub async fn cluster_with_repo() -> (Cluster, String) {
    let cluster = Cluster::start(NODES).await;
    let token = cluster.user_with_token("alice");
    let created = cluster
        .api(Some(&token))
        .create_repo("model", "alice", "shared", false)
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    (cluster, token)
}
