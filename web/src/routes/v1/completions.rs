//! `POST /v1/completions`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hub_core::Error;
use hub_core::inference::{self, GenerateRequest};
use hub_core::jobs::protocol::Prompt;
use serde::Deserialize;
use serde_json::json;

use super::sse::{self, Header, Shape};
use super::{OpenAiError, Stop, StreamOptions, finish_reason, now, parse};
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiError;
use crate::request::Origin;
use crate::routes::inference::caller;

#[derive(Deserialize)]
struct CompletionRequest {
    model: String,
    prompt: PromptInput,
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    stop: Option<Stop>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    echo: bool,
    n: Option<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PromptInput {
    One(String),
    Many(Vec<String>),
}

/// Handles `POST /v1/completions`.
pub async fn create(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    origin: Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OpenAiError> {
    let caller = caller(auth, &origin, &headers)?;
    let request: CompletionRequest = parse(&body)?;
    if request.n.is_some_and(|n| n != 1) {
        return Err(Error::invalid("only n = 1 is supported").into());
    }
    if request.echo {
        return Err(Error::invalid("echo is not supported").into());
    }
    let prompt = match request.prompt {
        PromptInput::One(p) => p,
        PromptInput::Many(mut v) if v.len() == 1 => v.remove(0),
        PromptInput::Many(_) => {
            return Err(Error::invalid("one prompt per request on the free tier").into());
        }
    };
    let generate = GenerateRequest {
        prompt: Some(Prompt::Text(prompt)),
        max_new_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        top_k: None,
        repetition_penalty: None,
        seed: request.seed,
        stop: Stop::into_vec(request.stop),
    };
    let submission = inference::generate(&state.0, &caller, &request.model, generate).await?;
    let id = format!("cmpl-{}", submission.watch.job().simple());
    let fingerprint = submission.model.revision.clone();
    let watch = submission.watch;
    if request.stream {
        let header = Header {
            id,
            model: request.model,
            fingerprint,
            created: now(),
            shape: Shape::Completion,
            include_usage: request.stream_options.unwrap_or_default().include_usage,
            queue_events: crate::sse::wants_queue_events(&headers),
        };
        return sse::respond(header, watch).await;
    }
    let out = watch.collect().await?;
    Ok(Json(json!({
        "id": id,
        "object": "text_completion",
        "created": now(),
        "model": request.model,
        "system_fingerprint": fingerprint,
        "choices": [{
            "index": 0,
            "text": out.text,
            "logprobs": null,
            "finish_reason": finish_reason(out.finish_reason),
        }],
        "usage": {
            "prompt_tokens": out.usage.prompt_tokens,
            "completion_tokens": out.usage.generated_tokens,
            "total_tokens": out.usage.prompt_tokens + out.usage.generated_tokens,
        },
    }))
    .into_response())
}
