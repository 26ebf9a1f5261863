//! Streamed completions: OpenAI's `data: {chunk}` events ending with
//! `data: [DONE]`, for chat (`chat.completion.chunk`, text in `delta`) and
//! plain completions (`text_completion`, text in `text`).

use std::collections::VecDeque;

use axum::response::Response;
use axum::response::sse::Event;
use hub_core::inference::{Update, Watch};
use serde_json::{Value, json};

use super::{OpenAiError, finish_reason};
use crate::sse::EventSource;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Chat,
    Completion,
}

/// What every chunk repeats.
pub struct Header {
    pub id: String,
    pub model: String,
    pub fingerprint: String,
    pub created: i64,
    pub shape: Shape,
    pub include_usage: bool,
    /// The widget's `X-Queue-Events: 1`: named `queue` and `loading` events
    /// (which the `openai` client would not understand) before the text.
    pub queue_events: bool,
}

impl Header {
    fn chunk(&self, text: Option<&str>, role: bool, finish: Option<&str>) -> Value {
        let choice = match self.shape {
            Shape::Chat => {
                let mut delta = json!({});
                if role {
                    delta["role"] = json!("assistant");
                    delta["content"] = json!("");
                }
                if let Some(t) = text {
                    delta["content"] = json!(t);
                }
                json!({ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish })
            }
            Shape::Completion => {
                json!({ "index": 0, "text": text.unwrap_or(""), "logprobs": null, "finish_reason": finish })
            }
        };
        json!({
            "id": self.id,
            "object": match self.shape { Shape::Chat => "chat.completion.chunk", Shape::Completion => "text_completion" },
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.fingerprint,
            "choices": [choice],
        })
    }
}

struct ChunkStream {
    header: Header,
    watch: Watch,
    first: Option<Update>,
    pending: VecDeque<Event>,
    prompt_tokens: u32,
    ended: bool,
}

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

impl EventSource for ChunkStream {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            let update = match self.first.take() {
                Some(u) => Some(Ok(u)),
                None => self.watch.next().await,
            };
            match update {
                Some(Ok(Update::Token(token))) => {
                    if !token.text.is_empty() {
                        return Some(data(&self.header.chunk(Some(&token.text), false, None)));
                    }
                }
                Some(Ok(Update::Started { prompt_tokens })) => self.prompt_tokens = prompt_tokens,
                Some(Ok(Update::Finished {
                    finish_reason: reason,
                    usage,
                })) => {
                    self.ended = true;
                    let last = self
                        .header
                        .chunk(None, false, Some(finish_reason(Some(reason))));
                    self.pending.push_back(data(&last));
                    if self.header.include_usage {
                        let mut chunk = self.header.chunk(None, false, None);
                        chunk["choices"] = json!([]);
                        chunk["usage"] = json!({
                            "prompt_tokens": usage.prompt_tokens,
                            "completion_tokens": usage.generated_tokens,
                            "total_tokens": usage.prompt_tokens + usage.generated_tokens,
                        });
                        self.pending.push_back(data(&chunk));
                    }
                    self.pending.push_back(Event::default().data("[DONE]"));
                }
                Some(Ok(Update::Queued { position })) if self.header.queue_events => {
                    return Some(
                        Event::default()
                            .event("queue")
                            .data(json!({ "position": position }).to_string()),
                    );
                }
                Some(Ok(Update::Loading)) if self.header.queue_events => {
                    return Some(Event::default().event("loading").data("{}"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    self.ended = true;
                    self.pending.push_back(data(&OpenAiError(e).body()));
                }
                None => {
                    self.ended = true;
                    self.pending.push_back(Event::default().data("[DONE]"));
                }
            }
        }
    }
}

/// The streamed answer. Unless queue events were asked for, the headers
/// wait for the first output (so a request refused while queued still gets
/// its own status); that output is `first`.
pub async fn respond(header: Header, mut watch: Watch) -> Result<Response, OpenAiError> {
    let first = if header.queue_events {
        None
    } else {
        crate::routes::inference::first_output(&mut watch).await?
    };
    let mut pending = VecDeque::new();
    if header.shape == Shape::Chat {
        pending.push_back(data(&header.chunk(None, true, None)));
    }
    let state = ChunkStream {
        header,
        watch,
        first,
        pending,
        prompt_tokens: 0,
        ended: false,
    };
    Ok(crate::sse::response(state))
}
