//! The inference worker: claims jobs from a Kaiyuan Hub over HTTP (see the
//! `worker-protocol` crate), downloads the model through the hub's resolve
//! API, runs it with candle and streams the results back.
//!
//! The library half is what the binary is made of, and what tests and
//! benchmarks call in-process ([`generate_local`], [`embed_local`],
//! [`testing`]).

pub mod batch;
pub mod client;
pub mod config;
pub mod decoder;
pub mod device;
pub mod embeddings;
pub mod files;
pub mod finetune;
pub mod generation;
pub mod gguf_model;
pub mod llm;
pub mod lora;
pub mod models;
pub mod sampling;
pub mod spaces;
pub mod testing;
pub mod text_stream;
pub mod worker;

pub use embeddings::{EmbeddingModel, embed_local};
pub use generation::{GenerateOutput, generate_local};
pub use llm::TextModel;

/// Architectures (config.json `model_type`) this build can load, per task.
/// Spelt as the hub spells `model_type` (lower case, `_` as `-`).
pub const TEXT_GENERATION_ARCHITECTURES: &[&str] = &[
    "qwen2",
    "qwen3",
    "llama",
    "glm4",
    "qwen2-moe",
    "qwen3-moe",
    "mistral",
    "gemma2",
    "gemma3-text",
    "deepseek-v2",
];
pub const EMBEDDING_ARCHITECTURES: &[&str] = &["bert", "xlm-roberta"];
/// `general.architecture` values of GGUF files this build runs (advertised
/// with `worker_protocol::GGUF_PREFIX`).
pub const GGUF_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3"];
