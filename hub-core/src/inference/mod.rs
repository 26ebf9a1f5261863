//! The free demo inference tier: what may be served to whom, and the path of
//! one request — resolve the model, validate and bound the request, admit it
//! under the free-tier policy, queue it as a job, and follow the job's events
//! until it ends. The API families in `web` only translate shapes.

pub mod catalog;
pub mod model;
pub mod policy;
pub mod quantization;
pub mod watch;

use std::net::IpAddr;
use std::sync::Arc;

use crate::accounts::Actor;
use crate::error::Error;
use crate::hub::Hub;
use crate::jobs::protocol::{
    ChatMessage, EmbedInput, GenerateInput, GenerationParams, JobInput, Prompt, Task,
};
use crate::jobs::{Settings as JobSettings, workers};

pub use model::Model;
pub use policy::Policy;
pub use watch::{Update, Watch};

/// The inference tier's settings, read from the environment at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub jobs: JobSettings,
    pub policy: Policy,
}

impl Settings {
    pub fn from_env() -> Settings {
        Settings {
            jobs: JobSettings::from_env(),
            policy: Policy::from_env(),
        }
    }
}

/// Who asks: the actor (for access and quotas) and the client's address
/// (for anonymous limits).
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub ip: IpAddr,
    /// The organisation that pays past the free quota (`X-HF-Bill-To`, as
    /// Hugging Face's inference clients send it); else the caller pays.
    pub bill_to: Option<String>,
}

/// How a request failed, in the terms every API family maps (TGI's).
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// Validation (`InvalidInput`: 422), access (`RepoNotFound`, ...),
    /// overload (`TooManyRequests`: 429) and internal errors.
    #[error(transparent)]
    Core(#[from] Error),
    /// No live worker can run this model (503).
    #[error("{0}")]
    Unavailable(String),
    /// The model failed on this request (424).
    #[error("{0}")]
    Generation(String),
}

impl From<sqlx::Error> for InferenceError {
    fn from(e: sqlx::Error) -> Self {
        InferenceError::Core(e.into())
    }
}

pub type InferenceResult<T> = Result<T, InferenceError>;

/// A generation request as the APIs parse it, before bounds.
#[derive(Debug, Clone, Default)]
pub struct GenerateRequest {
    pub prompt: Option<Prompt>,
    pub max_new_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub repetition_penalty: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
}

/// An embeddings request as the APIs parse it.
#[derive(Debug, Clone)]
pub struct EmbedRequest {
    pub inputs: Vec<String>,
    pub normalize: bool,
    pub truncate: bool,
}

/// A queued request and the means to follow it.
pub struct Submission {
    pub model: Model,
    pub watch: Watch,
    /// The seed generation uses (chosen by the hub when the request gave none).
    pub seed: u64,
}

/// Queues a text-generation request for `model_id` (`ns/name[@rev]`).
pub async fn generate(
    hub: &Arc<Hub>,
    caller: &Caller,
    model_id: &str,
    request: GenerateRequest,
) -> InferenceResult<Submission> {
    let model = servable(hub, caller, model_id, Task::TextGeneration).await?;
    let policy = &hub.inference.policy;
    let prompt = request
        .prompt
        .ok_or_else(|| Error::invalid("the request has no prompt"))?;
    validate_prompt(&prompt, policy)?;
    let max_new_tokens = request
        .max_new_tokens
        .unwrap_or(policy.default_max_new_tokens);
    if max_new_tokens == 0 || max_new_tokens > policy.max_new_tokens {
        return Err(Error::invalid(format!(
            "max_new_tokens must be between 1 and {} on the free tier, got {max_new_tokens}",
            policy.max_new_tokens
        ))
        .into());
    }
    check_range("temperature", request.temperature, 0.0, 100.0)?;
    check_range("top_p", request.top_p, f64::MIN_POSITIVE, 1.0)?;
    check_range(
        "repetition_penalty",
        request.repetition_penalty.map(f64::from),
        f64::MIN_POSITIVE,
        100.0,
    )?;
    if request.top_k == Some(0) {
        return Err(Error::invalid("top_k must be at least 1").into());
    }
    if request.stop.len() > 4 || request.stop.iter().any(|s| s.is_empty() || s.len() > 200) {
        return Err(Error::invalid("at most 4 stop sequences of 1 to 200 bytes each").into());
    }
    let seed = request.seed.unwrap_or_else(rand::random);
    let input = JobInput::Generate(GenerateInput {
        prompt,
        params: GenerationParams {
            max_new_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            top_k: request.top_k,
            repetition_penalty: request.repetition_penalty,
            seed,
            stop: request.stop,
        },
    });
    submit(hub, caller, model, &input, seed).await
}

/// Queues an embeddings request for `model_id`.
pub async fn embed(
    hub: &Arc<Hub>,
    caller: &Caller,
    model_id: &str,
    request: EmbedRequest,
) -> InferenceResult<Submission> {
    let model = servable(hub, caller, model_id, Task::FeatureExtraction).await?;
    let policy = &hub.inference.policy;
    if request.inputs.is_empty() {
        return Err(Error::invalid("input must not be empty").into());
    }
    if request.inputs.len() > policy.max_inputs {
        return Err(Error::invalid(format!(
            "at most {} inputs per request on the free tier",
            policy.max_inputs
        ))
        .into());
    }
    let chars: usize = request.inputs.iter().map(|s| s.chars().count()).sum();
    if chars > policy.max_input_chars {
        return Err(Error::invalid(format!(
            "the inputs are too long: at most {} characters together",
            policy.max_input_chars
        ))
        .into());
    }
    let input = JobInput::Embed(EmbedInput {
        inputs: request.inputs,
        normalize: request.normalize,
        truncate: request.truncate,
    });
    submit(hub, caller, model, &input, 0).await
}

/// Resolves the model, checks that it does `task` and that some live
/// worker can run it (else 503 at once rather than a wait in the queue).
async fn servable(
    hub: &Hub,
    caller: &Caller,
    model_id: &str,
    task: Task,
) -> InferenceResult<Model> {
    let id = model::parse_model_id(model_id)?;
    let model = model::resolve(
        hub,
        &caller.actor,
        &id.namespace,
        &id.name,
        id.revision.as_deref(),
        id.quantization.as_deref(),
    )
    .await?;
    if model.task != task {
        return Err(Error::invalid(format!(
            "{} is a {} model; this endpoint needs a {} model",
            model.repo_name(),
            crate::jobs::task_str(model.task),
            crate::jobs::task_str(task)
        ))
        .into());
    }
    if !workers::can_serve(
        &hub.db,
        &hub.inference.jobs,
        &model.architecture,
        model.task,
        model.memory_bytes,
    )
    .await?
    {
        return Err(InferenceError::Unavailable(format!(
            "no inference worker can serve {} ({}, {} bytes of weights) right now",
            model.repo_name(),
            model.architecture,
            model.memory_bytes
        )));
    }
    Ok(model)
}

async fn submit(
    hub: &Arc<Hub>,
    caller: &Caller,
    model: Model,
    input: &JobInput,
    seed: u64,
) -> InferenceResult<Submission> {
    // Subscribe before the job exists, so no event of it can be missed.
    let wakeups = hub.wake.subscribe();
    let job = policy::admit(hub, caller, &model, input).await?;
    let watch = Watch::new(hub.clone(), job, wakeups, model.clone());
    Ok(Submission { model, watch, seed })
}

fn validate_prompt(prompt: &Prompt, policy: &Policy) -> Result<(), Error> {
    let chars = match prompt {
        Prompt::Text(text) => {
            if text.is_empty() {
                return Err(Error::invalid("the prompt is empty"));
            }
            text.chars().count()
        }
        Prompt::Chat(messages) => {
            if messages.is_empty() {
                return Err(Error::invalid("messages must not be empty"));
            }
            for ChatMessage { role, .. } in messages {
                if !matches!(role.as_str(), "system" | "user" | "assistant" | "tool") {
                    return Err(Error::invalid(format!(
                        "unknown message role '{role}' (system, user, assistant or tool)"
                    )));
                }
            }
            messages.iter().map(|m| m.content.chars().count()).sum()
        }
    };
    if chars > policy.max_input_chars {
        return Err(Error::invalid(format!(
            "the prompt is too long: at most {} characters on the free tier",
            policy.max_input_chars
        )));
    }
    Ok(())
}

fn check_range(name: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), Error> {
    match value {
        Some(v) if !(min..=max).contains(&v) || v.is_nan() => Err(Error::invalid(format!(
            "{name} must be between {} and {max}, got {v}",
            if min == f64::MIN_POSITIVE { 0.0 } else { min }
        ))),
        _ => Ok(()),
    }
}
