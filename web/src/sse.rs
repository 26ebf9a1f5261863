//! The one way the hub answers with server-sent events (the TGI stream of
//! `/api/inference/…/stream` and OpenAI's streamed completions): a source
//! of events polled one at a time, keep-alive comments while it waits, and
//! no buffering by a proxy in front.

use std::convert::Infallible;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

/// A stream's state: the next event, or `None` when the stream ends.
pub trait EventSource: Send + 'static {
    fn next_event(&mut self) -> impl Future<Output = Option<Event>> + Send;
}

/// The `text/event-stream` response that sends `source`'s events.
pub fn response(source: impl EventSource) -> Response {
    let events = futures::stream::unfold(source, |mut s| async move {
        s.next_event().await.map(|e| (Ok::<_, Infallible>(e), s))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Whether the request asked for the widget's named `queue` and `loading`
/// events (`X-Queue-Events: 1`), which plain TGI and OpenAI clients would
/// not understand.
pub fn wants_queue_events(headers: &HeaderMap) -> bool {
    headers
        .get("x-queue-events")
        .is_some_and(|v| v.as_bytes() == b"1")
}
