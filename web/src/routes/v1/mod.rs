//! The OpenAI-compatible API: `POST /v1/chat/completions`,
//! `POST /v1/completions`, `POST /v1/embeddings`, `GET /v1/models`; and
//! OpenAI's fine-tuning API ([`fine_tuning`]).
//! `model` is a repo id, optionally `@revision`. Errors are OpenAI's
//! `{"error": {"message", "type", "code"}}`, with the statuses of
//! [`super::inference::status_of`].

mod chat;
mod completions;
mod embeddings;
mod fine_tuning;
mod models;
mod sse;

use axum::Router;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hub_core::Error;
use hub_core::inference::InferenceError;
use hub_core::jobs::protocol::FinishReason;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::inference::{message_of, status_of, with_retry_after};
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/chat/completions", post(chat::create))
        .route("/v1/completions", post(completions::create))
        .route("/v1/embeddings", post(embeddings::create))
        .route("/v1/models", get(models::list))
        .route(
            "/v1/files",
            post(fine_tuning::upload_file)
                .get(fine_tuning::list_files)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/files/{id}",
            get(fine_tuning::get_file).delete(fine_tuning::delete_file),
        )
        .route("/v1/files/{id}/content", get(fine_tuning::file_content))
        .route(
            "/v1/fine_tuning/jobs",
            post(fine_tuning::create_job).get(fine_tuning::list_jobs),
        )
        .route("/v1/fine_tuning/jobs/{id}", get(fine_tuning::get_job))
        .route(
            "/v1/fine_tuning/jobs/{id}/cancel",
            post(fine_tuning::cancel_job),
        )
        .route(
            "/v1/fine_tuning/jobs/{id}/events",
            get(fine_tuning::job_events),
        )
        .route(
            "/v1/fine_tuning/jobs/{id}/checkpoints",
            get(fine_tuning::job_checkpoints),
        )
}

/// An error of this family.
pub struct OpenAiError(pub InferenceError);

impl<E: Into<InferenceError>> From<E> for OpenAiError {
    fn from(e: E) -> Self {
        OpenAiError(e.into())
    }
}

impl OpenAiError {
    pub fn body(&self) -> serde_json::Value {
        let (status, kind) = status_of(&self.0);
        let error_type = match status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            500 => "server_error",
            503 => "service_unavailable",
            424 => "generation_error",
            _ => "invalid_request_error",
        };
        json!({ "error": { "message": message_of(&self.0), "type": error_type, "code": kind } })
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let (status, _) = status_of(&self.0);
        let response = (status, axum::Json(self.body())).into_response();
        with_retry_after(&self.0, response)
    }
}

/// The request body as `T`; anything else is a 422 with the reason.
pub fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, OpenAiError> {
    serde_json::from_slice(body)
        .map_err(|e| Error::invalid(format!("invalid request body: {e}")).into())
}

/// OpenAI's names for why generation stopped.
pub fn finish_reason(reason: Option<FinishReason>) -> &'static str {
    match reason {
        Some(FinishReason::Length) => "length",
        _ => "stop",
    }
}

/// Seconds since the epoch, for `created`.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `stop` is a string or a list of them.
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(stop: Option<Stop>) -> Vec<String> {
        match stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}
