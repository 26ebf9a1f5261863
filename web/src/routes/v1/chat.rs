//! `POST /v1/chat/completions`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hub_core::Error;
use hub_core::inference::{self, GenerateRequest};
use hub_core::jobs::protocol::{ChatMessage, Prompt};
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
struct ChatRequest {
    model: String,
    messages: Vec<Message>,
    #[serde(alias = "max_completion_tokens")]
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    stop: Option<Stop>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    n: Option<u32>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

/// A message's content: text, or parts of which only text is understood.
#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

fn messages(messages: Vec<Message>) -> Result<Vec<ChatMessage>, Error> {
    messages
        .into_iter()
        .map(|m| {
            let content = match m.content {
                None => String::new(),
                Some(Content::Text(t)) => t,
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        match (part.kind.as_str(), part.text) {
                            ("text", Some(t)) => text.push_str(&t),
                            (kind, _) => {
                                return Err(Error::invalid(format!(
                                    "content parts of type '{kind}' are not supported"
                                )));
                            }
                        }
                    }
                    text
                }
            };
            Ok(ChatMessage {
                role: m.role,
                content,
            })
        })
        .collect()
}

/// Handles `POST /v1/chat/completions`.
pub async fn create(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
    origin: Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OpenAiError> {
    let caller = caller(auth, &origin, &headers)?;
    let request: ChatRequest = parse(&body)?;
    if request.n.is_some_and(|n| n != 1) {
        return Err(Error::invalid("only n = 1 is supported").into());
    }
    let generate = GenerateRequest {
        prompt: Some(Prompt::Chat(messages(request.messages)?)),
        max_new_tokens: request.max_tokens,
        temperature: request.temperature,
        top_p: request.top_p,
        top_k: None,
        repetition_penalty: None,
        seed: request.seed,
        stop: Stop::into_vec(request.stop),
    };
    let submission = inference::generate(&state.0, &caller, &request.model, generate).await?;
    let id = format!("chatcmpl-{}", submission.watch.job().simple());
    let model = request.model.clone();
    let fingerprint = submission.model.revision.clone();
    let watch = submission.watch;
    if request.stream {
        let header = Header {
            id,
            model,
            fingerprint,
            created: now(),
            shape: Shape::Chat,
            include_usage: request.stream_options.unwrap_or_default().include_usage,
            queue_events: crate::sse::wants_queue_events(&headers),
        };
        return sse::respond(header, watch).await;
    }
    let out = watch.collect().await?;
    Ok(Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": out.text },
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
