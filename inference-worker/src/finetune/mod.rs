//! Fine-tuning: LoRA adapters trained by `trainer/train.py` (PyTorch and
//! PEFT, in an environment of its own) on a base model, for `fine-tune`
//! jobs.
//!
//! - [`env`]: the trainer's pinned Python environment.
//! - [`trainer`]: one run of the trainer, its reports, its cancellation.
//! - [`job`]: a job's files to and from the hub around a run.

pub mod env;
pub mod job;
pub mod trainer;

pub use env::TrainerEnv;
pub use job::{FineTuneConfig, FineTuner};
pub use trainer::{Outcome, Report, TrainerConfig};

/// The architectures (`model_type`) the trainer fine-tunes: all that
/// transformers and PEFT handle and the worker then serves with the adapter
/// merged.
pub const TRAIN_ARCHITECTURES: &[&str] = &["qwen2", "qwen3", "llama", "mistral"];
