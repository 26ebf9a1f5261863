//! One run of `train.py`: its configuration written, the process started in
//! a process group of its own, its stdout read as reports (one JSON object
//! a line), its stderr sent as log lines, and stopped on cancellation
//! (SIGTERM, then SIGKILL after [`KILL_AFTER`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use worker_protocol::{TrainHyperparameters, TrainProgress};

use super::env::TrainerEnv;
use crate::spaces::logs::{LogSink, pump};

/// The trainer's time to stop after SIGTERM (it stops after its current
/// step) before it is killed.
pub const KILL_AFTER: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// train.py's CONFIG.json.
#[derive(Debug, Clone, Serialize)]
pub struct TrainerConfig {
    /// A local checkpoint directory (config.json, tokenizer, safetensors).
    pub base_model: PathBuf,
    pub train_file: PathBuf,
    pub validation_file: Option<PathBuf>,
    pub output_dir: PathBuf,
    pub checkpoints_dir: PathBuf,
    /// A checkpoint directory of an earlier run to go on from.
    pub resume_dir: Option<PathBuf>,
    pub hyperparameters: TrainHyperparameters,
    pub max_length: u32,
    pub checkpoint_every_steps: u32,
    /// Least time between progress reports (the trainer's default: 2 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_every_seconds: Option<f64>,
    /// The base as adapter_config.json names it (`base_model_name_or_path`,
    /// `revision`): the hub repo and commit, not the local directory, so
    /// that the adapter finds its base wherever it is loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_model_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_revision: Option<String>,
}

/// A line of the trainer's stdout.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Report {
    Progress(TrainProgress),
    /// Its files are written in `dir`.
    Checkpoint {
        step: u64,
        dir: PathBuf,
        files: Vec<String>,
        #[serde(default)]
        train_loss: Option<f64>,
        #[serde(default)]
        valid_loss: Option<f64>,
    },
    Done {
        files: Vec<String>,
        trained_tokens: u64,
        steps: u64,
    },
    Error {
        message: String,
        retryable: bool,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The adapter's `files` are in the output dir.
    Done {
        files: Vec<String>,
        trained_tokens: u64,
        steps: u64,
    },
    Failed {
        message: String,
        retryable: bool,
    },
    /// Stopped because `cancel` was set.
    Cancelled,
}

/// Runs the trainer to its end. Progress and checkpoint reports go to
/// `on_report` as they come (the trainer waits while it runs: its stdout
/// is not read meanwhile); an error there stops the trainer and is
/// returned. `work` receives the configuration file.
pub async fn run<'a>(
    env: &TrainerEnv,
    config: &TrainerConfig,
    work: &Path,
    logs: LogSink,
    cancel: &AtomicBool,
    // Boxed: an async closure borrowing the job would not be `Send`.
    mut on_report: impl FnMut(Report) -> BoxFuture<'a, Result<()>>,
) -> Result<Outcome> {
    let config_path = work.join("trainer.json");
    tokio::fs::write(&config_path, serde_json::to_vec_pretty(config)?).await?;
    let mut child = tokio::process::Command::new(env.python())
        .arg(env.script())
        .arg(&config_path)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: SIGTERM and SIGKILL reach whatever it started.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", env.python().display()))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = tokio::spawn(pump(child.stderr.take().expect("piped"), logs.clone()));
    let mut lines = BufReader::new(stdout).lines();
    let mut end = None;
    loop {
        if cancel.load(Ordering::SeqCst) {
            stop(&mut child).await;
            return Ok(Outcome::Cancelled);
        }
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                match serde_json::from_str::<Report>(&line) {
                    Ok(report @ (Report::Done { .. } | Report::Error { .. })) => end = Some(report),
                    Ok(report) => {
                        if let Err(e) = on_report(report).await {
                            stop(&mut child).await;
                            return Err(e);
                        }
                    }
                    // Not a report (a library printing to stdout): a log line.
                    Err(_) => logs.line(line.as_bytes()),
                }
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    let status = child.wait().await?;
    let _ = stderr.await;
    if cancel.load(Ordering::SeqCst) {
        return Ok(Outcome::Cancelled);
    }
    Ok(match end {
        Some(Report::Done {
            files,
            trained_tokens,
            steps,
        }) if status.success() => Outcome::Done {
            files,
            trained_tokens,
            steps,
        },
        Some(Report::Error { message, retryable }) => Outcome::Failed { message, retryable },
        // A crash (killed for memory, a segfault): the machine's fault
        // until shown otherwise.
        _ => Outcome::Failed {
            message: format!(
                "the trainer stopped ({status}) without a word; its last lines:\n{}",
                logs.tail(20)
            ),
            retryable: true,
        },
    })
}

/// SIGTERM to the trainer's group, SIGKILL if it is still there after
/// [`KILL_AFTER`].
async fn stop(child: &mut Child) {
    let Some(pid) = child.id() else {
        return; // already reaped
    };
    let group = Pid::from_raw(pid as i32);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(KILL_AFTER, child.wait())
        .await
        .is_err()
    {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait().await;
    }
}
