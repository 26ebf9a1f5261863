//! A real `inference-worker` process against a test hub, and models
//! uploaded as the Hugging Face client uploads them: shared by the
//! end-to-end tests and the benchmarks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TestHub, file_op, hub_binary, lfs_op, upload_lfs};

/// A running `inference-worker`, killed when dropped.
pub struct Worker {
    child: Option<Child>,
    log: PathBuf,
}

impl Worker {
    pub fn start(hub_url: &str, token: &str, dir: &Path) -> Worker {
        Worker::start_with(hub_url, token, dir, &[])
    }

    /// A worker with more flags (`--trainer`, …).
    pub fn start_with(hub_url: &str, token: &str, dir: &Path, args: &[&str]) -> Worker {
        let binary = hub_binary().with_file_name("inference-worker");
        assert!(
            binary.exists(),
            "{} is missing: cargo build --workspace",
            binary.display()
        );
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("worker.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(binary)
            .args(["--hub", hub_url, "--token", token, "--cache-dir"])
            .arg(dir.join("cache"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start inference-worker");
        Worker {
            child: Some(child),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Uploads every file under `dir` as the HF client does: weights through
/// the LFS batch API, the rest inline, in one commit.
pub async fn upload_folder(hub: &TestHub, token: &str, repo: &str, dir: &Path, private: bool) {
    let api = hub.api(Some(token));
    let (ns, name) = repo.split_once('/').unwrap();
    let created = api.create_repo("model", ns, name, private).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let mut ops = Vec::new();
    for path in files_under(dir) {
        let rel = path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned();
        let data = std::fs::read(&path).unwrap();
        if rel.ends_with(".safetensors") || rel.ends_with(".gguf") {
            let oid = upload_lfs(hub, token, repo, &data).await;
            ops.push(lfs_op(&rel, &oid, data.len()));
        } else {
            ops.push(file_op(&rel, &data));
        }
    }
    let commit = api.commit(repo, "upload", &ops, None).await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Waits until the hub says a live worker can serve `repo`.
pub async fn until_servable(hub: &TestHub, token: &str, repo: &str, worker: &Worker) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = hub
            .api(Some(token))
            .get(&format!("/api/inference/{repo}"))
            .await;
        if info.body["available"] == true {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no worker came up for {repo}: {:?}\nworker log:\n{}",
            info.body,
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
