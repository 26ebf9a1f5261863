//! Model files, downloaded through the hub's resolve API
//! (`GET {hub}/{repo}/resolve/{commit}/{path}` with the job's download
//! token), verified against the ETag, and cached per repo and commit under
//! the cache dir; least recently used snapshots are evicted to stay within
//! a disk budget.
//!
//! Layout: `{cache}/models/{ns}--{name}/{commit}/{path}`, with a `.complete`
//! marker written once every file is in place (its mtime is the last use).
//! A GGUF model is the job's .gguf file(s) and the tokenizer files if the
//! repo has them, in `{commit}.{digest of the file names}`: each
//! quantisation of a commit is a snapshot of its own.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use reqwest::StatusCode;
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;
use worker_protocol::{ModelRef, Task};

use crate::gguf_model::gguf_name_is_safe;
use crate::llm::shard_name_is_safe;

const COMPLETE: &str = ".complete";

/// Files a task needs; `None` in the second field: optional.
fn wanted(task: Task) -> Vec<(&'static str, bool)> {
    let mut files = vec![
        ("config.json", true),
        ("tokenizer.json", true),
        ("tokenizer_config.json", false),
    ];
    match task {
        Task::TextGeneration => files.push(("generation_config.json", false)),
        Task::FeatureExtraction => files.extend([
            ("modules.json", false),
            ("sentence_bert_config.json", false),
            ("1_Pooling/config.json", false),
        ]),
        Task::SpaceRun | Task::FineTune => {}
    }
    files
}

pub struct ModelCache {
    root: PathBuf,
    hub: String,
    http: reqwest::Client,
    disk_budget: u64,
    /// One download at a time per snapshot (two jobs for the same model).
    locks: std::sync::Mutex<
        std::collections::HashMap<PathBuf, std::sync::Arc<tokio::sync::Mutex<()>>>,
    >,
}

/// The download failed in a way that another attempt will not fix (the
/// repo lacks a required file, a file is malformed).
#[derive(Debug)]
pub struct NotServable(pub String);

impl std::fmt::Display for NotServable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotServable {}

impl ModelCache {
    pub fn new(root: PathBuf, hub: &str, http: reqwest::Client, disk_budget: u64) -> ModelCache {
        ModelCache {
            root,
            hub: hub.trim_end_matches('/').to_string(),
            http,
            disk_budget,
            locks: Default::default(),
        }
    }

    fn dir(&self, model: &ModelRef) -> Result<PathBuf> {
        let (ns, name) = model
            .repo_id
            .split_once('/')
            .ok_or_else(|| anyhow!("bad repo id {:?}", model.repo_id))?;
        let ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !ok(ns) || !ok(name) || !model.revision.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("bad model reference {}@{}", model.repo_id, model.revision);
        }
        let snapshot = if model.gguf_files.is_empty() {
            model.revision.clone()
        } else {
            let digest = sha2::Sha256::digest(model.gguf_files.join("\n").as_bytes());
            format!("{}.{}", model.revision, &hex::encode(digest)[..16])
        };
        Ok(self
            .root
            .join("models")
            .join(format!("{ns}--{name}"))
            .join(snapshot))
    }

    /// The snapshot directory when it is already complete.
    pub fn cached(&self, model: &ModelRef) -> Option<PathBuf> {
        let dir = self.dir(model).ok()?;
        dir.join(COMPLETE).exists().then_some(dir)
    }

    /// Makes sure every file `task` needs is on disk; returns the directory.
    pub async fn fetch(&self, model: &ModelRef, task: Task) -> Result<PathBuf> {
        let dir = self.dir(model)?;
        let marker = dir.join(COMPLETE);
        if marker.exists() {
            touch(&marker);
            return Ok(dir);
        }
        let lock = self
            .locks
            .lock()
            .expect("lock")
            .entry(dir.clone())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if marker.exists() {
            return Ok(dir);
        }
        tokio::fs::create_dir_all(&dir).await?;
        if model.gguf_files.is_empty() {
            self.fetch_checkpoint(model, &dir, task).await?;
        } else {
            self.fetch_gguf(model, &dir).await?;
        }
        tokio::fs::write(&marker, b"").await?;
        self.evict(&dir).await;
        Ok(dir)
    }

    /// The job's .gguf file(s), and the repo's tokenizer if it has one (it
    /// wins over the one in the GGUF metadata, as llama.cpp's converter
    /// made that one from it).
    async fn fetch_gguf(&self, model: &ModelRef, dir: &Path) -> Result<()> {
        for file in &model.gguf_files {
            gguf_name_is_safe(file).map_err(|e| NotServable(e.to_string()))?;
            if !self.download(model, dir, file).await? {
                return Err(NotServable(format!("{} has no {file}", model.repo_id)).into());
            }
        }
        for optional in ["tokenizer.json", "tokenizer_config.json"] {
            self.download(model, dir, optional).await?;
        }
        Ok(())
    }

    async fn fetch_checkpoint(&self, model: &ModelRef, dir: &Path, task: Task) -> Result<()> {
        let dir = dir.to_path_buf();
        for (path, required) in wanted(task) {
            let found = self.download(model, &dir, path).await?;
            if !found && required {
                return Err(NotServable(format!("{} has no {path}", model.repo_id)).into());
            }
        }
        // Weights: the shards an index names, or the single file.
        if self
            .download(model, &dir, "model.safetensors.index.json")
            .await?
        {
            let index: serde_json::Value = serde_json::from_slice(
                &tokio::fs::read(dir.join("model.safetensors.index.json")).await?,
            )
            .map_err(|_| NotServable("model.safetensors.index.json is not JSON".into()))?;
            let mut shards: Vec<String> = index
                .get("weight_map")
                .and_then(|m| m.as_object())
                .map(|m| {
                    m.values()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            for shard in shards {
                shard_name_is_safe(&shard).map_err(|e| NotServable(e.to_string()))?;
                if !self.download(model, &dir, &shard).await? {
                    return Err(NotServable(format!("{} has no {shard}", model.repo_id)).into());
                }
            }
        } else if !self.download(model, &dir, "model.safetensors").await? {
            return Err(NotServable(format!(
                "{} has no model.safetensors (only safetensors weights are served)",
                model.repo_id
            ))
            .into());
        }
        Ok(())
    }

    /// Downloads one file unless present; false when the repo lacks it.
    async fn download(&self, model: &ModelRef, dir: &Path, path: &str) -> Result<bool> {
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.hub, model.repo_id, model.revision, path
        );
        download_file(
            &self.http,
            &url,
            &model.download_token,
            &dir.join(path),
            path,
            None,
        )
        .await
    }

    /// Removes least recently used complete snapshots until the cache fits
    /// the disk budget; `keep` (in use now) is never removed.
    async fn evict(&self, keep: &Path) {
        let root = self.root.join("models");
        let keep = keep.to_path_buf();
        let budget = self.disk_budget;
        let result = tokio::task::spawn_blocking(move || -> Result<()> {
            let mut snapshots = Vec::new();
            let mut total_in_progress = 0;
            for repo in std::fs::read_dir(&root)? {
                let repo = repo?.path();
                for snap in std::fs::read_dir(&repo)? {
                    let snap = snap?.path();
                    let marker = snap.join(COMPLETE);
                    if !marker.exists() {
                        // Being downloaded: it counts, but is not removed.
                        total_in_progress += dir_size(&snap);
                        continue;
                    }
                    let used = marker
                        .metadata()
                        .and_then(|m| m.modified())
                        .unwrap_or(SystemTime::UNIX_EPOCH);
                    snapshots.push((used, dir_size(&snap), snap));
                }
            }
            let mut total: u64 = total_in_progress + snapshots.iter().map(|s| s.1).sum::<u64>();
            snapshots.sort_by_key(|s| s.0);
            for (_, size, snap) in snapshots {
                if total <= budget {
                    break;
                }
                if snap == keep {
                    continue;
                }
                tracing::info!(snapshot = %snap.display(), size, "evicting from the model cache");
                std::fs::remove_dir_all(&snap)?;
                total -= size;
            }
            Ok(())
        })
        .await;
        if let Ok(Err(e)) | Err(e) = result.map_err(anyhow::Error::from) {
            tracing::warn!("model cache eviction: {e:#}");
        }
    }
}

/// Downloads `url` (with `token`) to `dest` unless it is there, streamed
/// through a `.part` file and verified against the ETag; false when the hub
/// has no such file (404). `limit`: the most bytes accepted, beyond which
/// the download stops with an error ([`TooLarge`]). `path` names the file
/// in errors.
pub async fn download_file(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    dest: &Path,
    path: &str,
    limit: Option<u64>,
) -> Result<bool> {
    if dest.exists() {
        return Ok(true);
    }
    let response = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("downloading {path}"))?;
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(false);
    }
    if !response.status().is_success() {
        bail!("downloading {path}: the hub answered {}", response.status());
    }
    let expected = Expected::from_headers(response.headers());
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let part = dest.with_extension(format!(
        "{}part",
        dest.extension()
            .map(|e| format!("{}.", e.to_string_lossy()))
            .unwrap_or_default()
    ));
    let mut file = tokio::fs::File::create(&part).await?;
    let mut sha256 = sha2::Sha256::new();
    let mut bytes = Vec::new(); // small files only, for the git blob hash
    let mut size = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.with_context(|| format!("downloading {path}"))?;
        size += chunk.len() as u64;
        if limit.is_some_and(|l| size > l) {
            drop(file);
            let _ = tokio::fs::remove_file(&part).await;
            return Err(TooLarge(format!(
                "{path} is larger than {} bytes",
                limit.unwrap_or(0)
            ))
            .into());
        }
        sha256.update(&chunk);
        if matches!(expected, Expected::GitBlob(_)) {
            bytes.extend_from_slice(&chunk);
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    drop(file);
    let ok = match &expected {
        Expected::Sha256(h) => hex::encode(sha256.finalize()) == *h,
        Expected::GitBlob(h) => git_blob_sha1(&bytes) == *h,
        Expected::Unknown => true,
    };
    if !ok {
        let _ = tokio::fs::remove_file(&part).await;
        bail!("{path}: the downloaded file does not match its ETag ({size} bytes)");
    }
    tokio::fs::rename(&part, dest).await?;
    Ok(true)
}

/// A download went over its size limit.
#[derive(Debug)]
pub struct TooLarge(pub String);

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TooLarge {}

enum Expected {
    Sha256(String),
    GitBlob(String),
    Unknown,
}

impl Expected {
    /// LFS files: `X-Linked-Etag` is the sha256 of the content; other files:
    /// the ETag is their git blob id (sha1 of `blob {len}\0{content}`).
    fn from_headers(headers: &reqwest::header::HeaderMap) -> Expected {
        let value = |name: &str| {
            headers.get(name).and_then(|v| v.to_str().ok()).map(|v| {
                v.trim_start_matches("W/")
                    .trim_matches('"')
                    .to_ascii_lowercase()
            })
        };
        let tag = value("x-linked-etag").or_else(|| value("etag"));
        match tag {
            Some(t) if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) => {
                Expected::Sha256(t)
            }
            Some(t) if t.len() == 40 && t.chars().all(|c| c.is_ascii_hexdigit()) => {
                Expected::GitBlob(t)
            }
            _ => Expected::Unknown,
        }
    }
}

pub fn git_blob_sha1(content: &[u8]) -> String {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", content.len()).as_bytes());
    h.update(content);
    hex::encode(h.finalize())
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn git_blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(
            super::git_blob_sha1(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
    }
}
