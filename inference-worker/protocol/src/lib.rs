//! The hub ⇄ inference-worker protocol.
//!
//! Workers never touch the database: everything below travels as JSON over
//! HTTP, authenticated with `Authorization: Bearer <worker token>` (made by
//! `hub worker-token create --name N`). The worker token only lets a worker
//! speak this protocol; each claimed job carries its own short-lived,
//! read-only `download_token` for the one repo it needs (least privilege).
//!
//! ```text
//! POST /api/workers/register            RegisterRequest  -> RegisterResponse
//! POST /api/workers/heartbeat           Heartbeat        -> HeartbeatResponse
//! POST /api/workers/claim               ClaimRequest     -> 200 Job | 204 (nothing within wait_ms)
//! POST /api/workers/jobs/{id}/events    NDJSON of Event, streamed (chunked) while the job runs
//!                                                        -> EventsAck
//! ```
//!
//! Rules both sides rely on:
//! - `register` starts a new *session*: leases held by an earlier session of
//!   the same worker are released at once (the worker restarted; its jobs are
//!   retried), so a restarted worker never waits for a lease to run out.
//! - A claimed job is leased to the session for `lease_ms`; every heartbeat
//!   (sent each `heartbeat_interval_ms`) renews the leases of the jobs it
//!   lists in `running`. A lease that runs out puts the job back in the queue
//!   (bounded retries, then dead-lettered with the last error).
//! - Events carry a per-attempt sequence number starting at 0. The hub stores
//!   each `(job, attempt, seq)` once, so a worker whose events request broke
//!   may open a new one and resend from any seq; duplicates are ignored.
//!   Events of an attempt that is no longer the job's current one are
//!   refused with 409.
//! - `Token.text` is the text that token adds to the output, never part of a
//!   UTF-8 character: a worker holds bytes back until they decode (Chinese
//!   text arrives whole).
//! - A job ends with exactly one terminal event: `Finished`, `Embeddings` or
//!   `Failed`. After a terminal event the worker closes the request.
//! - Cancellation (the client went away) reaches the worker in
//!   `HeartbeatResponse::cancel` and in `EventsAck::cancelled`; the worker
//!   stops the job and sends nothing more for it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod hop_by_hop;

/// Path prefix of the protocol's routes.
pub const PREFIX: &str = "/api/workers";

/// Content type of the streamed events body.
pub const NDJSON: &str = "application/x-ndjson";

/// What a worker does with a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    /// Causal language models: completions and chat.
    TextGeneration,
    /// Sentence embeddings (also serves `sentence-similarity`).
    FeatureExtraction,
    /// Building and running one commit of a Space app ([`SpaceRunInput`]),
    /// for as long as the lease is renewed: a runner's job, not a model's.
    SpaceRun,
    /// Training a LoRA adapter on a base model ([`FineTuneInput`]): a
    /// trainer's job, claimed only by workers that list [`TRAIN_PREFIX`]
    /// architectures.
    FineTune,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub kind: DeviceKind,
    /// Human-readable, e.g. "cpu (16 threads)" or "NVIDIA H100 80GB HBM3".
    pub name: String,
    /// Memory the worker may fill with model weights, in bytes.
    pub memory_bytes: u64,
}

/// What a worker can run; the hub matches jobs to workers with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    pub device: Device,
    /// `model_type` values of config.json the worker can load: "qwen2",
    /// "qwen3", "llama", "bert", "xlm-roberta", …, and the GGUF
    /// architectures it runs, prefixed with [`GGUF_PREFIX`] ("gguf:qwen2").
    pub architectures: Vec<String>,
    pub tasks: Vec<Task>,
    /// Jobs the worker runs at once; it claims only while below this.
    pub max_concurrent_jobs: u32,
    /// The worker's version, shown on the admin page.
    pub version: String,
    /// Whether this worker can run Spaces in its sandbox, and if not why
    /// (shown on the admin page). A worker that cannot sandbox never lists
    /// [`Task::SpaceRun`] in `tasks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spaces: Option<SpacesCapability>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpacesCapability {
    pub available: bool,
    /// e.g. "bubblewrap 0.8.0, rlimits" or why the probe failed.
    pub detail: String,
}

/// A model the worker has in memory, so the hub can prefer it for that model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedModel {
    pub repo_id: String,
    /// Commit sha.
    pub revision: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub capabilities: Capabilities,
    #[serde(default)]
    pub loaded_models: Vec<LoadedModel>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub worker_id: Uuid,
    /// Identifies this run of the worker; sent with every later call.
    pub session: Uuid,
    pub heartbeat_interval_ms: u64,
    /// Longest a claim waits before answering 204.
    pub max_claim_wait_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub session: Uuid,
    /// Jobs the worker is running: their leases are renewed.
    #[serde(default)]
    pub running: Vec<Uuid>,
    #[serde(default)]
    pub loaded_models: Vec<LoadedModel>,
    #[serde(default)]
    pub memory_used_bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// Jobs among `running` to stop now (cancelled, or no longer leased to
    /// this session).
    #[serde(default)]
    pub cancel: Vec<Uuid>,
    /// The session is unknown (e.g. the hub's records were reset): register again.
    #[serde(default)]
    pub reregister: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimRequest {
    pub session: Uuid,
    /// How long the hub may hold the request open waiting for a job; the hub
    /// caps it at `max_claim_wait_ms`. A new job wakes the claim at once.
    pub wait_ms: u64,
}

/// A job leased to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: Uuid,
    /// 1 for the first try; events are numbered per attempt.
    pub attempt: u32,
    pub lease_ms: u64,
    pub model: ModelRef,
    pub task: Task,
    pub input: JobInput,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRef {
    /// `namespace/name` of a model repo.
    pub repo_id: String,
    /// The commit sha the request resolved to: files are fetched at it with
    /// `GET /{repo_id}/resolve/{revision}/{path}` and cached under it.
    pub revision: String,
    /// Bearer token that may read this repo only, until the lease ends.
    pub download_token: String,
    /// `model_type` from config.json, as the hub matched it; for a GGUF
    /// model, [`GGUF_PREFIX`] and the file's `general.architecture`.
    pub architecture: String,
    /// For a GGUF model: the `.gguf` file to load (all parts, in order, for
    /// a split file). Empty for safetensors models.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gguf_files: Vec<String>,
    /// This repo is a LoRA adapter (PEFT layout: `adapter_config.json`,
    /// `adapter_model.safetensors`) of `base`: the worker loads the base and
    /// merges the adapter into its weights (W + alpha/r · B·A). The
    /// architecture is the base's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Box<ModelRef>>,
}

/// Architectures of GGUF models carry this prefix (`gguf:qwen2`), in jobs
/// and in a worker's capabilities alike: a worker that does not know GGUF
/// never advertises it, so the claim (which matches architectures) never
/// hands it a GGUF job it would fail on as a safetensors checkpoint.
pub const GGUF_PREFIX: &str = "gguf:";

/// Space hardware classes carry this prefix among a runner's architectures
/// (`space:cpu-basic`), and a space-run job's architecture is the class the
/// Space asks for: a GPU Space waits for a runner that offers it.
pub const SPACE_PREFIX: &str = "space:";

/// The base models a trainer can fine-tune carry this prefix among its
/// architectures (`train:qwen2`), and a fine-tune job's architecture is its
/// base model's `model_type` with it: serving a model and training it are
/// different abilities.
pub const TRAIN_PREFIX: &str = "train:";

/// The tunnel a Spaces runner opens to the hub (it needs no inbound port):
/// `GET {TUNNEL_PATH}?session=S` with the worker token and
/// `Upgrade: {TUNNEL_UPGRADE}`; after `101 Switching Protocols` the runner
/// serves HTTP/2 on that connection and the hub is its client. Each request
/// names the space-run job it is for in [`SPACE_JOB_HEADER`]; the runner
/// forwards it to that app.
pub const TUNNEL_PATH: &str = "/api/workers/tunnel";
pub const TUNNEL_UPGRADE: &str = "kaiyuan-tunnel";
pub const SPACE_JOB_HEADER: &str = "kaiyuan-space-job";
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobInput {
    Generate(GenerateInput),
    Embed(EmbedInput),
    SpaceRun(SpaceRunInput),
    FineTune(FineTuneInput),
}

/// A LoRA fine-tune of the job's model (the base, read with the job's
/// download token). The examples are canonical chat JSONL (one
/// `{"messages": [{"role", "content", "weight"?}, …]}` per line, already
/// validated and converted by the hub), fetched with the worker token from
/// `{PREFIX}/jobs/{id}/data/{name}` ([`TRAIN_FILE`], [`VALIDATION_FILE`]).
///
/// Files the trainer writes travel the same way: `PUT
/// {PREFIX}/jobs/{id}/checkpoints/{step}/{file}` then a
/// [`EventBody::Checkpoint`] naming them; `PUT {PREFIX}/jobs/{id}/output/{file}`
/// then the terminal [`EventBody::Trained`]. A job claimed again after a lost
/// lease carries `resume`: the worker downloads that checkpoint (`GET` on
/// the same path) and goes on from its step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneInput {
    pub hyperparameters: TrainHyperparameters,
    /// A validation file was given: its loss is reported beside the training loss.
    pub has_validation: bool,
    /// Examples longer than this many tokens are cut (the hub counted and
    /// reported them at validation).
    pub max_length: u32,
    /// A checkpoint is saved and uploaded every this many optimizer steps
    /// (and at the end of each epoch).
    pub checkpoint_every_steps: u32,
    /// Filled in by the hub at claim time: the last checkpoint uploaded by
    /// an earlier attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<CheckpointRef>,
}

/// Already resolved by the hub ("auto" replaced by numbers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainHyperparameters {
    pub n_epochs: u32,
    pub batch_size: u32,
    pub learning_rate: f64,
    pub seed: u64,
    /// LoRA rank, alpha (scale = alpha / r), dropout and the module names
    /// adapted (`q_proj`, `v_proj`, …; `all-linear` as PEFT spells it).
    pub lora_r: u32,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    pub target_modules: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRef {
    pub step: u64,
    pub files: Vec<String>,
}

/// The training examples of a fine-tune job, and its validation examples.
pub const TRAIN_FILE: &str = "train.jsonl";
pub const VALIDATION_FILE: &str = "validation.jsonl";
/// One commit of a Space to build and run (`ModelRef` names the repo, the
/// commit and the token its files are read with). Already validated by the
/// hub: a configuration error never reaches a runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceRunInput {
    /// How the app is run.
    pub sdk: SpaceSdk,
    /// Version of the SDK package to install (`gradio==5.9.1`); None: the
    /// newest the index has.
    #[serde(default)]
    pub sdk_version: Option<String>,
    /// From the card; the runner uses its own Python when it has no other.
    #[serde(default)]
    pub python_version: Option<String>,
    /// Path of the app in the repo (`app.py`; for static spaces the page
    /// served, e.g. `index.html` or `dist/index.html`).
    pub app_file: String,
    /// The port the app listens on inside its sandbox.
    pub app_port: u16,
    /// Static spaces only: built by the runner, whose output it serves.
    #[serde(default)]
    pub app_build_command: Option<String>,
    /// Rebuild from nothing: no reused environment.
    #[serde(default)]
    pub factory: bool,
    /// Variables and secrets, for the app's environment only (secrets are
    /// never logged by the runner, and only the run phase sees them).
    #[serde(default)]
    pub variables: Vec<(String, String)>,
    #[serde(default)]
    pub secrets: Vec<(String, String)>,
    pub limits: SpaceLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceSdk {
    Gradio,
    Streamlit,
    /// Plain Python: `python app_file`, listening on `app_port`.
    Python,
    /// A static space with a build command: the runner serves the output.
    Static,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceLimits {
    pub memory_bytes: u64,
    /// Processes and threads of the app.
    pub pids: u32,
    /// Bytes the app may write to `/data` and `/tmp`, each.
    pub disk_bytes: u64,
    /// From `startup_duration_timeout` (default 30 min): the app must
    /// answer on its port within this.
    pub startup_timeout_s: u64,
    pub build_timeout_s: u64,
}

/// The stages a runner reports (Hugging Face's names). The hub owns the
/// others (`NO_APP_FILE`, `CONFIG_ERROR`, `STOPPED`, `PAUSED`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SpaceStage {
    Building,
    BuildError,
    AppStarting,
    Running,
    RuntimeError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Build,
    Run,
    /// A fine-tune's trainer output.
    Train,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateInput {
    pub prompt: Prompt,
    pub params: GenerationParams,
}

/// Raw text, or chat messages the worker renders with the repo's chat
/// template (tokenizer_config.json), adding the generation prompt.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// Already validated and bounded by the hub's policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    pub max_new_tokens: u32,
    /// None or 0 means greedy.
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<u32>,
    #[serde(default)]
    pub repetition_penalty: Option<f32>,
    /// Sampling is reproducible for a given seed.
    pub seed: u64,
    /// Generation stops when the output ends with one of these; the stop
    /// text itself is not sent.
    #[serde(default)]
    pub stop: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbedInput {
    pub inputs: Vec<String>,
    /// L2-normalise each vector (sentence-transformers' Normalize module
    /// asks for it too; either one is enough).
    #[serde(default)]
    pub normalize: bool,
    /// Cut inputs longer than the model's limit instead of failing.
    #[serde(default = "yes")]
    pub truncate: bool,
}

fn yes() -> bool {
    true
}

/// The longest log line a runner sends, in bytes.
pub const MAX_LOG_LINE: usize = 8 * 1024;

/// One line of the events body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventBody {
    /// The model is being downloaded or loaded (shown as "loading model").
    Loading,
    /// Prefill done; generation begins.
    Started {
        prompt_tokens: u32,
    },
    Token(Token),
    /// Terminal, for generation.
    Finished {
        finish_reason: FinishReason,
        usage: Usage,
    },
    /// Terminal, for embeddings: one vector per input, in order.
    Embeddings {
        data: Vec<Vec<f32>>,
        usage: Usage,
    },
    /// A Space run moved to `stage`; with the reason for the error stages.
    /// `BUILD_ERROR` and `RUNTIME_ERROR` are followed by a `Failed`.
    Stage {
        stage: SpaceStage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// One line of a Space's build or run output (at most [`MAX_LOG_LINE`]
    /// bytes; longer lines are cut), with when it was written.
    Log {
        stream: LogStream,
        line: String,
        /// Unix time in milliseconds.
        at_ms: u64,
    },
    /// A fine-tune's progress, after an optimizer step (not every step:
    /// the trainer reports every few seconds and at each logged loss).
    TrainProgress(TrainProgress),
    /// A fine-tune's checkpoint at `step`, its files already uploaded.
    Checkpoint {
        step: u64,
        files: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        train_loss: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        valid_loss: Option<f64>,
    },
    /// Terminal, for a fine-tune: the adapter's files are uploaded (to
    /// `output/`).
    Trained {
        files: Vec<String>,
        usage: TrainUsage,
    },
    /// Terminal. `retryable`: the fault is the worker's (out of memory,
    /// download failed), so another attempt may succeed; otherwise it is
    /// the request's (prompt too long, template error) and the client gets it.
    Failed {
        message: String,
        retryable: bool,
    },
}

impl EventBody {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EventBody::Finished { .. }
                | EventBody::Embeddings { .. }
                | EventBody::Trained { .. }
                | EventBody::Failed { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: u32,
    /// Text this token adds (may be empty while a character is incomplete,
    /// or for special tokens that are not shown).
    pub text: String,
    pub logprob: f32,
    pub special: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Length,
    EosToken,
    StopSequence,
}

/// What the job consumed; the hub records it per request (the paid tier
/// bills from these records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
    /// Wall time the job held the device, model loading excluded.
    pub device_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainProgress {
    /// Optimizer steps done, counted over all attempts (a resumed run goes
    /// on from its checkpoint's step).
    pub step: u64,
    pub total_steps: u64,
    pub epoch: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_second: Option<f64>,
    /// Tokens trained on so far (every epoch counts), over all attempts: what
    /// a fine-tune is billed by.
    pub trained_tokens: u64,
}

/// What a fine-tune consumed in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainUsage {
    pub trained_tokens: u64,
    pub steps: u64,
    /// Wall time of this attempt's training, model loading included.
    pub device_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventsAck {
    /// Highest seq stored for this attempt.
    pub stored_through: Option<u64>,
    /// The job was cancelled: stop it.
    #[serde(default)]
    pub cancelled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_flat_json_lines() {
        let event = Event {
            seq: 3,
            body: EventBody::Token(Token {
                id: 7,
                text: "你".into(),
                logprob: -0.5,
                special: false,
            }),
        };
        let line = serde_json::to_string(&event).unwrap();
        assert_eq!(
            line,
            r#"{"seq":3,"type":"token","id":7,"text":"你","logprob":-0.5,"special":false}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), event);
    }

    #[test]
    fn job_input_is_tagged() {
        let input = JobInput::Generate(GenerateInput {
            prompt: Prompt::Chat(vec![ChatMessage {
                role: "user".into(),
                content: "hi".into(),
            }]),
            params: GenerationParams {
                max_new_tokens: 8,
                temperature: None,
                top_p: None,
                top_k: None,
                repetition_penalty: None,
                seed: 1,
                stop: vec![],
            },
        });
        let json = serde_json::to_value(&input).unwrap();
        assert_eq!(json["kind"], "generate");
        assert_eq!(json["prompt"]["type"], "chat");
        assert!(
            EventBody::Failed {
                message: String::new(),
                retryable: false
            }
            .is_terminal()
        );
    }
}
