//! A fine-tune job from claim to end: the base model through the model
//! cache, the examples and the checkpoint to resume from through the hub
//! (`{PREFIX}/jobs/{id}/data/…`, `…/checkpoints/{step}/…`, with the worker
//! token), the trainer run, each checkpoint uploaded then announced, the
//! adapter uploaded to `…/output/` then the terminal `Trained`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::future::BoxFuture;
use tokio::sync::{OnceCell, mpsc};
use worker_protocol::{
    EventBody, FineTuneInput, Job, LogStream, TRAIN_FILE, Task, TrainUsage, VALIDATION_FILE,
};

use super::env::{self, TrainerEnv};
use super::trainer::{self, Outcome, Report, TrainerConfig};
use crate::client::HubClient;
use crate::files::{ModelCache, download_file};
use crate::generation::BadRequest;
use crate::spaces::logs::LogSink;

/// `--trainer-*` flags.
#[derive(Debug, Clone)]
pub struct FineTuneConfig {
    /// Where trainer environments are built.
    pub envs: PathBuf,
    /// The interpreter a new environment is made from.
    pub python: String,
    /// Each job's scratch (examples, checkpoints, the adapter).
    pub work: PathBuf,
}

pub struct FineTuner {
    config: FineTuneConfig,
    client: HubClient,
    env: OnceCell<TrainerEnv>,
}

const UPLOAD_TRIES: u32 = 4;

impl FineTuner {
    pub fn new(config: FineTuneConfig, client: HubClient) -> FineTuner {
        FineTuner {
            config,
            client,
            env: OnceCell::new(),
        }
    }

    async fn env(&self) -> Result<&TrainerEnv> {
        self.env
            .get_or_try_init(|| async {
                let (envs, python) = (self.config.envs.clone(), self.config.python.clone());
                tokio::task::spawn_blocking(move || env::ensure(&envs, &python)).await?
            })
            .await
    }

    /// Runs the job; an error is sent as `Failed` by the caller (a
    /// [`BadRequest`] as not retryable). A cancelled job sends nothing more.
    pub async fn run(
        &self,
        job: &Job,
        input: &FineTuneInput,
        cache: &ModelCache,
        events: &mpsc::UnboundedSender<EventBody>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<()> {
        let started = Instant::now();
        let _ = events.send(EventBody::Loading);
        let env = self.env().await?;
        let base = cache.fetch(&job.model, Task::FineTune).await?;
        let work = self
            .config
            .work
            .join(format!("{}-{}", job.id.simple(), job.attempt));
        let _ = tokio::fs::remove_dir_all(&work).await;
        tokio::fs::create_dir_all(&work).await?;
        let result = self
            .train(job, input, env, &base, &work, events, cancel, started)
            .await;
        if let Err(e) = tokio::fs::remove_dir_all(&work).await {
            tracing::warn!(job = %job.id, "removing {}: {e}", work.display());
        }
        // A cancelled job sends nothing more, not even why it stopped.
        if cancel.load(Ordering::SeqCst) {
            return Ok(());
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn train(
        &self,
        job: &Job,
        input: &FineTuneInput,
        env: &TrainerEnv,
        base: &Path,
        work: &Path,
        events: &mpsc::UnboundedSender<EventBody>,
        cancel: &Arc<AtomicBool>,
        started: Instant,
    ) -> Result<()> {
        let jobs = format!("/jobs/{}", job.id);
        let data = |name: &str| self.client.url(&format!("{jobs}/data/{name}"));
        let train_file = work.join(TRAIN_FILE);
        self.get(&data(TRAIN_FILE), &train_file).await?;
        let validation_file = if input.has_validation {
            let path = work.join(VALIDATION_FILE);
            self.get(&data(VALIDATION_FILE), &path).await?;
            Some(path)
        } else {
            None
        };
        let resume_dir = match &input.resume {
            Some(checkpoint) => {
                let dir = work.join("resume");
                for file in &checkpoint.files {
                    file_name_is_flat(file)?;
                    let url = self
                        .client
                        .url(&format!("{jobs}/checkpoints/{}/{file}", checkpoint.step));
                    self.get(&url, &dir.join(file)).await?;
                }
                Some(dir)
            }
            None => None,
        };
        let config = TrainerConfig {
            base_model: base.to_path_buf(),
            train_file,
            validation_file,
            output_dir: work.join("output"),
            checkpoints_dir: work.join("checkpoints"),
            resume_dir,
            hyperparameters: input.hyperparameters.clone(),
            max_length: input.max_length,
            checkpoint_every_steps: input.checkpoint_every_steps.max(1),
            progress_every_seconds: None,
            base_model_id: Some(job.model.repo_id.clone()),
            base_revision: Some(job.model.revision.clone()),
        };
        let logs = LogSink::new(events.clone(), LogStream::Train, &[], cancel.clone());
        let (jobs, checkpoints_dir) = (&jobs, &config.checkpoints_dir);
        let on_report = |report| -> BoxFuture<'_, Result<()>> {
            Box::pin(async move {
                match report {
                    Report::Progress(progress) => {
                        let _ = events.send(EventBody::TrainProgress(progress));
                    }
                    Report::Checkpoint {
                        step,
                        dir,
                        files,
                        train_loss,
                        valid_loss,
                    } => {
                        if !dir.starts_with(checkpoints_dir) {
                            bail!("the trainer saved a checkpoint outside its directory");
                        }
                        for file in &files {
                            file_name_is_flat(file)?;
                            let path = format!("{jobs}/checkpoints/{step}/{file}");
                            self.put(&path, &dir.join(file), cancel).await?;
                        }
                        // Only the latest checkpoint matters to a later attempt.
                        let _ = tokio::fs::remove_dir_all(&dir).await;
                        let _ = events.send(EventBody::Checkpoint {
                            step,
                            files,
                            train_loss,
                            valid_loss,
                        });
                    }
                    Report::Done { .. } | Report::Error { .. } => {}
                }
                Ok(())
            })
        };
        let outcome = trainer::run(env, &config, work, logs, cancel, on_report).await?;
        match outcome {
            Outcome::Done {
                files,
                trained_tokens,
                steps,
            } => {
                for file in &files {
                    file_name_is_flat(file)?;
                    let path = format!("{jobs}/output/{file}");
                    self.put(&path, &config.output_dir.join(file), cancel)
                        .await?;
                }
                if !cancel.load(Ordering::SeqCst) {
                    let _ = events.send(EventBody::Trained {
                        files,
                        usage: TrainUsage {
                            trained_tokens,
                            steps,
                            device_ms: started.elapsed().as_millis() as u64,
                        },
                    });
                }
                Ok(())
            }
            Outcome::Failed {
                message,
                retryable: false,
            } => Err(BadRequest(message).into()),
            Outcome::Failed { message, .. } => bail!("{message}"),
            Outcome::Cancelled => Ok(()),
        }
    }

    async fn get(&self, url: &str, dest: &Path) -> Result<()> {
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        if !download_file(
            &self.client.http,
            url,
            self.client.token(),
            dest,
            &name,
            None,
        )
        .await?
        {
            bail!("the hub has no {name} for this job");
        }
        Ok(())
    }

    /// Uploads one file, streamed from disk, retrying what may be transient.
    async fn put(&self, path: &str, file: &Path, cancel: &AtomicBool) -> Result<()> {
        let url = self.client.url(path);
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=UPLOAD_TRIES {
            if cancel.load(Ordering::SeqCst) {
                bail!("cancelled");
            }
            let body = tokio::fs::File::open(file)
                .await
                .with_context(|| format!("opening {}", file.display()))?;
            let len = body.metadata().await?.len();
            let response = self
                .client
                .http
                .put(&url)
                .bearer_auth(self.client.token())
                .header(reqwest::header::CONTENT_LENGTH, len)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(reqwest::Body::wrap_stream(
                    tokio_util::io::ReaderStream::new(body),
                ))
                .send()
                .await;
            let why = match response {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) if r.status().is_client_error() && r.status().as_u16() != 408 => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    bail!("PUT {path}: the hub answered {status}: {}", text.trim());
                }
                Ok(r) => format!("the hub answered {}", r.status()),
                Err(e) => e.to_string(),
            };
            tracing::warn!(attempt, "PUT {path}: {why}");
            if attempt == UPLOAD_TRIES {
                bail!("PUT {path}: {why}");
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        unreachable!("the last try returns")
    }
}

/// Names of trainer files travel in URLs and name files here: one flat
/// component of safe characters.
fn file_name_is_flat(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        bail!("unexpected trainer file name {name:?}");
    }
    Ok(())
}
