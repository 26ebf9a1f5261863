//! Paid fine-tuning: LoRA adapters trained by the worker fleet on a base
//! model from the hub and a dataset, in the shape of OpenAI's fine-tuning
//! API.
//!
//! - [`files`]: training files uploaded for it (`/v1/files`).
//! - [`dataset`], [`tokens`]: validation and conversion of a training file
//!   into canonical chat JSONL, its tokens counted as the trainer sees them.
//! - [`jobs`]: creating a job (its [`base`] model, its data through
//!   [`intake`], its [`hyperparameters`], the estimate, the hold, the
//!   queue), reading and cancelling it.
//! - [`training`]: what the queue's worker events mean for a job (metrics,
//!   checkpoints, the end), and the files a worker reads and writes
//!   ([`artifacts`]).
//! - [`publish`]: the adapter repo, its card and loss curve ([`card`]), and
//!   the settlement of the charge.
//!
//! The training itself is a `fine-tune` job on the one queue; a fine-tune
//! job follows it. Nothing here trains: the worker runs the field's own
//! trainer (PyTorch + transformers + PEFT) in its own venv.

pub mod artifacts;
pub mod base;
pub mod card;
pub mod dataset;
pub mod files;
pub mod hyperparameters;
pub mod intake;
pub mod jobs;
pub mod publish;
pub mod tokens;
pub mod training;

use std::time::Duration;

/// Limits and defaults, from `HUB_FINETUNE_*`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest training or validation file, in bytes.
    pub max_file_bytes: u64,
    /// Largest file a worker uploads (a checkpoint's optimizer state, an
    /// adapter).
    pub max_artifact_bytes: u64,
    /// Examples are cut at this many tokens unless the job asks for fewer.
    pub max_length: u32,
    pub checkpoint_every_steps: u32,
    /// How long a job's hold lasts if nothing settles it.
    pub hold_timeout: Duration,
    /// Attempts (leases) a job gets before it fails.
    pub max_attempts: i32,
}

impl Settings {
    pub fn from_env() -> Settings {
        let number = |key: &str, default: u64| {
            std::env::var(key)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
        };
        Settings {
            max_file_bytes: number("HUB_FINETUNE_MAX_FILE_MB", 512) << 20,
            max_artifact_bytes: number("HUB_FINETUNE_MAX_ARTIFACT_MB", 8192) << 20,
            max_length: number("HUB_FINETUNE_MAX_LENGTH", 2048) as u32,
            checkpoint_every_steps: number("HUB_FINETUNE_CHECKPOINT_STEPS", 50).max(1) as u32,
            hold_timeout: Duration::from_secs(number("HUB_FINETUNE_HOLD_HOURS", 72) * 3600),
            max_attempts: number("HUB_FINETUNE_MAX_ATTEMPTS", 3).clamp(1, 20) as i32,
        }
    }
}

/// A random id with OpenAI's prefixes (`file-…`, `ftjob-…`, `ftckpt-…`):
/// 24 lowercase letters and digits.
pub(crate) fn new_id(prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}-{tail}")
}
