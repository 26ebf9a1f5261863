//! `POST /api/inference/{ns}/{name}` and `.../stream`, in TGI's shapes.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use hub_core::Error;
use hub_core::inference::{self, Caller, EmbedRequest, GenerateRequest, Update, Watch, model};
use hub_core::jobs::protocol::{FinishReason, Prompt, Task, Token};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{TgiError, caller, first_output};
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiError;
use crate::request::Origin;
use crate::sse::EventSource;

#[derive(Deserialize)]
#[serde(untagged)]
enum Inputs {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct TgiRequest {
    inputs: Inputs,
    #[serde(default)]
    parameters: Parameters,
    #[serde(default)]
    stream: bool,
}

#[derive(Deserialize, Default)]
struct Parameters {
    max_new_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    repetition_penalty: Option<f32>,
    seed: Option<u64>,
    #[serde(default)]
    stop: Vec<String>,
    do_sample: Option<bool>,
    #[serde(default)]
    details: bool,
    #[serde(default)]
    return_full_text: bool,
    /// Feature extraction: L2-normalise the vectors.
    normalize: Option<bool>,
}

fn parse(body: &Bytes) -> Result<TgiRequest, TgiError> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("invalid request body: {e}")).into())
}

/// TGI's sampling rule: greedy unless `do_sample` or a sampling parameter asks otherwise.
fn generate_request(prompt: String, p: &Parameters) -> GenerateRequest {
    let temperature = match (p.do_sample, p.temperature) {
        (Some(false), _) => None,
        (Some(true), None) => Some(1.0),
        (_, t) => t,
    };
    GenerateRequest {
        prompt: Some(Prompt::Text(prompt)),
        max_new_tokens: p.max_new_tokens,
        temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        repetition_penalty: p.repetition_penalty,
        seed: p.seed,
        stop: p.stop.clone(),
    }
}

fn one_prompt(inputs: Inputs) -> Result<String, TgiError> {
    match inputs {
        Inputs::One(s) => Ok(s),
        Inputs::Many(mut v) if v.len() == 1 => Ok(v.remove(0)),
        Inputs::Many(_) => Err(Error::invalid("text generation takes one input string").into()),
    }
}

/// Handles `POST /api/inference/{ns}/{name}`: generation or feature
/// extraction, as the model does; `"stream": true` streams generation.
pub async fn infer(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    auth: Result<Auth, ApiError>,
    origin: Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TgiError> {
    let caller = caller(auth, &origin, &headers)?;
    let request = parse(&body)?;
    let model = model::resolve(&state, &caller.actor, &ns, &name, None, None).await?;
    let model_id = model.repo_name();
    if model.task == Task::FeatureExtraction {
        let inputs = match request.inputs {
            Inputs::One(s) => vec![s],
            Inputs::Many(v) => v,
        };
        let embed = EmbedRequest {
            inputs,
            normalize: request.parameters.normalize.unwrap_or(false),
            truncate: true,
        };
        let submission = inference::embed(&state.0, &caller, &model_id, embed).await?;
        let out = submission.watch.collect().await?;
        return Ok(Json(out.embeddings).into_response());
    }
    if request.stream {
        return stream_generation(&state.0, &caller, &model_id, request, &headers).await;
    }
    let prompt = one_prompt(request.inputs)?;
    let p = &request.parameters;
    let submission = inference::generate(
        &state.0,
        &caller,
        &model_id,
        generate_request(prompt.clone(), p),
    )
    .await?;
    let seed = submission.seed;
    let out = submission.watch.collect().await?;
    let text = if p.return_full_text {
        format!("{prompt}{}", out.text)
    } else {
        out.text.clone()
    };
    let mut answer = json!({ "generated_text": text });
    if p.details {
        answer["details"] = json!({
            "finish_reason": out.finish_reason,
            "generated_tokens": out.usage.generated_tokens,
            "seed": p.temperature.map(|_| seed),
            "prefill": [],
            "tokens": out.tokens,
        });
    }
    let mut response = Json(json!([answer])).into_response();
    let h = response.headers_mut();
    h.insert("x-prompt-tokens", out.usage.prompt_tokens.into());
    h.insert("x-generated-tokens", out.usage.generated_tokens.into());
    Ok(response)
}

/// Handles `POST /api/inference/{ns}/{name}/stream`: TGI's `generate_stream`.
pub async fn stream(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    auth: Result<Auth, ApiError>,
    origin: Origin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TgiError> {
    let caller = caller(auth, &origin, &headers)?;
    let request = parse(&body)?;
    stream_generation(
        &state.0,
        &caller,
        &format!("{ns}/{name}"),
        request,
        &headers,
    )
    .await
}

async fn stream_generation(
    hub: &Arc<hub_core::Hub>,
    caller: &Caller,
    model_id: &str,
    request: TgiRequest,
    headers: &HeaderMap,
) -> Result<Response, TgiError> {
    let prompt = one_prompt(request.inputs)?;
    let p = request.parameters;
    let submission =
        inference::generate(hub, caller, model_id, generate_request(prompt.clone(), &p)).await?;
    // The widget asks for queue and loading events; TGI clients would choke
    // on them, so they get none, and the answer's status waits for the
    // first output (a request refused while queued is still a 429).
    let queue_events = crate::sse::wants_queue_events(headers);
    let mut watch = submission.watch;
    let first = if queue_events {
        None
    } else {
        first_output(&mut watch).await?
    };
    let state = TgiStream {
        watch,
        first,
        held: None,
        index: 0,
        text: if p.return_full_text {
            prompt
        } else {
            String::new()
        },
        seed: p.temperature.map(|_| submission.seed),
        input_length: 0,
        ended: false,
    };
    Ok(crate::sse::response(state))
}

/// The SSE events of one generation. TGI puts the whole text and the
/// details on the last token's event, so one token is held back until the
/// next update shows whether it was the last.
struct TgiStream {
    watch: Watch,
    first: Option<Update>,
    held: Option<Token>,
    index: u32,
    text: String,
    seed: Option<u64>,
    input_length: u32,
    ended: bool,
}

impl EventSource for TgiStream {
    async fn next_event(&mut self) -> Option<Event> {
        self.advance().await
    }
}

impl TgiStream {
    async fn advance(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            let update = match self.first.take() {
                Some(u) => Some(Ok(u)),
                None => self.watch.next().await,
            };
            match update {
                Some(Ok(Update::Queued { position })) => {
                    return Some(
                        Event::default()
                            .event("queue")
                            .data(json!({ "position": position }).to_string()),
                    );
                }
                Some(Ok(Update::Loading)) => {
                    return Some(Event::default().event("loading").data("{}"));
                }
                Some(Ok(Update::Started { prompt_tokens })) => self.input_length = prompt_tokens,
                Some(Ok(Update::Token(token))) => {
                    if let Some(previous) = self.held.replace(token) {
                        return Some(self.token_event(previous, None));
                    }
                }
                Some(Ok(Update::Finished {
                    finish_reason,
                    usage,
                })) => {
                    self.ended = true;
                    let last = self.held.take().unwrap_or(Token {
                        id: 0,
                        text: String::new(),
                        logprob: 0.0,
                        special: true,
                    });
                    return Some(
                        self.token_event(last, Some((finish_reason, usage.generated_tokens))),
                    );
                }
                Some(Ok(Update::Embeddings { .. })) | None => {
                    self.ended = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.ended = true;
                    return Some(Event::default().data(TgiError(e).body().to_string()));
                }
            }
        }
    }

    fn token_event(&mut self, token: Token, end: Option<(FinishReason, u32)>) -> Event {
        self.text.push_str(&token.text);
        let index = self.index;
        self.index += 1;
        let (generated_text, details) = match end {
            Some((finish_reason, generated_tokens)) => (
                Value::String(self.text.clone()),
                json!({
                    "finish_reason": finish_reason,
                    "generated_tokens": generated_tokens,
                    "seed": self.seed,
                    "input_length": self.input_length,
                }),
            ),
            None => (Value::Null, Value::Null),
        };
        Event::default().data(
            json!({
                "index": index,
                "token": token,
                "top_tokens": null,
                "generated_text": generated_text,
                "details": details,
            })
            .to_string(),
        )
    }
}
