//! Models kept loaded between jobs, within a memory budget: the least
//! recently used one is unloaded to make room. Jobs hold an `Arc`, so a
//! model unloaded while a job still runs on it lives until that job ends.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Result, bail};
use candle_core::Device;
use worker_protocol::{LoadedModel, ModelRef, Task};

use crate::embeddings::EmbeddingModel;
use crate::llm::{TextModel, safetensors_files};

#[derive(Clone)]
pub enum Loaded {
    Text(Arc<TextModel>),
    Embedding(Arc<EmbeddingModel>),
}

struct Entry {
    repo_id: String,
    revision: String,
    /// Which GGUF file(s) of the commit; empty for a safetensors checkpoint.
    gguf_files: Vec<String>,
    model: Loaded,
    bytes: u64,
    last_used: Instant,
}

pub struct ModelRegistry {
    device: Device,
    budget: u64,
    entries: Mutex<Vec<Entry>>,
    /// Loads run one at a time: two jobs for the same cold model load it once.
    loading: Mutex<()>,
}

impl ModelRegistry {
    pub fn new(device: Device, budget: u64) -> ModelRegistry {
        ModelRegistry {
            device,
            budget,
            entries: Mutex::new(Vec::new()),
            loading: Mutex::new(()),
        }
    }

    /// The model if it is loaded (and marks it used).
    pub fn get(&self, model: &ModelRef) -> Option<Loaded> {
        let mut entries = self.entries.lock().expect("registry lock");
        let e = entries.iter_mut().find(|e| {
            e.repo_id == model.repo_id
                && e.revision == model.revision
                && e.gguf_files == model.gguf_files
        })?;
        e.last_used = Instant::now();
        Some(e.model.clone())
    }

    /// Loads the checkpoint in `dir` unless loaded; blocking (call it on a
    /// blocking thread).
    pub fn load(&self, model_ref: &ModelRef, dir: &Path, task: Task) -> Result<Loaded> {
        let _one_at_a_time = self.loading.lock().expect("loading lock");
        if let Some(m) = self.get(model_ref) {
            return Ok(m);
        }
        let gguf = &model_ref.gguf_files;
        let bytes = if gguf.is_empty() {
            self.estimate(dir)?
        } else {
            crate::gguf_model::memory(dir, gguf)?
        };
        if bytes > self.budget {
            bail!(
                "the model needs about {} MiB, more than this worker's memory budget ({} MiB)",
                bytes >> 20,
                self.budget >> 20
            );
        }
        self.make_room(bytes);
        let model = match task {
            Task::TextGeneration if !gguf.is_empty() => {
                Loaded::Text(Arc::new(crate::gguf_model::load(dir, gguf, &self.device)?))
            }
            Task::TextGeneration => Loaded::Text(Arc::new(TextModel::load(dir, &self.device)?)),
            Task::FeatureExtraction => {
                Loaded::Embedding(Arc::new(EmbeddingModel::load(dir, &self.device)?))
            }
            Task::SpaceRun => anyhow::bail!("a Space is no model to load"),
            Task::FineTune => anyhow::bail!("a fine-tune is no model to serve"),
        };
        self.entries.lock().expect("registry lock").push(Entry {
            repo_id: model_ref.repo_id.clone(),
            revision: model_ref.revision.clone(),
            gguf_files: gguf.clone(),
            model: model.clone(),
            bytes,
            last_used: Instant::now(),
        });
        Ok(model)
    }

    fn make_room(&self, bytes: u64) {
        let mut entries = self.entries.lock().expect("registry lock");
        while !entries.is_empty()
            && entries.iter().map(|e| e.bytes).sum::<u64>() + bytes > self.budget
        {
            let (i, _) = entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .expect("not empty");
            let e = entries.remove(i);
            tracing::info!(repo = e.repo_id, revision = e.revision, "unloading model");
        }
    }

    /// Memory the weights take once loaded: file size, scaled when the
    /// files' dtype is narrower or wider than the one we load.
    fn estimate(&self, dir: &Path) -> Result<u64> {
        let files: u64 = safetensors_files(dir)?
            .iter()
            .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json"))?)?;
        let file_bytes_per_param = match config.get("torch_dtype").and_then(|v| v.as_str()) {
            Some("bfloat16" | "float16") => 2,
            _ => 4,
        };
        let loaded_bytes_per_param = if self.device.is_cpu() { 4 } else { 2 };
        Ok(files * loaded_bytes_per_param / file_bytes_per_param)
    }

    pub fn loaded(&self) -> Vec<LoadedModel> {
        self.entries
            .lock()
            .expect("registry lock")
            .iter()
            .map(|e| LoadedModel {
                repo_id: e.repo_id.clone(),
                revision: e.revision.clone(),
            })
            .collect()
    }

    pub fn memory_used(&self) -> u64 {
        self.entries
            .lock()
            .expect("registry lock")
            .iter()
            .map(|e| e.bytes)
            .sum()
    }
}
