//! TGI-style inference on a model: `POST /api/inference/{ns}/{name}`
//! (`{"inputs", "parameters"}`, generation or feature extraction by the
//! model's task) and `POST /api/inference/{ns}/{name}/stream` (TGI's
//! `generate_stream` events); `GET /api/inference/{ns}/{name}` says whether
//! and as what the model can be served (the model page's widget asks it);
//! `GET /static/widget.js` is that widget. Errors are TGI's
//! `{"error", "error_type"}`; the status of each kind of failure is decided
//! once, in [`status_of`], for this family and `/v1` alike.

mod generate;
mod widget;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hub_core::Error;
use hub_core::inference::{Caller, InferenceError, Update, Watch};

use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::{ApiError, public_message};
use crate::request::Origin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/inference/{ns}/{name}",
            get(widget::availability).post(generate::infer),
        )
        .route("/api/inference/{ns}/{name}/stream", post(generate::stream))
        .route("/static/widget.js", get(widget::script))
}

/// The caller of an inference request; a bad token is the family's error.
pub fn caller(
    auth: Result<Auth, ApiError>,
    origin: &Origin,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, InferenceError> {
    let Auth(actor) = auth.map_err(|e| InferenceError::Core(e.0))?;
    let bill_to = headers
        .get("x-hf-bill-to")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    Ok(Caller {
        actor,
        ip: origin.client_ip,
        bill_to,
    })
}

/// Status and TGI's `error_type` for each kind of failure.
pub fn status_of(e: &InferenceError) -> (StatusCode, &'static str) {
    match e {
        InferenceError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        InferenceError::Generation(_) => (StatusCode::FAILED_DEPENDENCY, "generation"),
        InferenceError::Core(core) => match core {
            Error::InvalidInput(_) | Error::RefusedPath(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation")
            }
            Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            Error::Unauthenticated | Error::InvalidCredentials => {
                (StatusCode::UNAUTHORIZED, "authentication")
            }
            Error::RepoNotFound { anonymous: true } => (StatusCode::UNAUTHORIZED, "not_found"),
            Error::RepoNotFound { anonymous: false }
            | Error::RevisionNotFound(_)
            | Error::EntryNotFound(_)
            | Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "validation"),
            Error::InsufficientCredits(_) => (StatusCode::PAYMENT_REQUIRED, "insufficient_credits"),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::Conflict(_) | Error::PreconditionFailed(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation")
            }
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        },
    }
}

/// The message a client sees (internal details stay in the log).
pub fn message_of(e: &InferenceError) -> String {
    match e {
        InferenceError::Core(core) => public_message(core),
        other => other.to_string(),
    }
}

/// Adds `Retry-After` to an overload answer.
pub fn with_retry_after(e: &InferenceError, mut response: Response) -> Response {
    if let InferenceError::Core(Error::TooManyRequests { retry_after, .. }) = e {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after.as_secs().max(1)),
        );
    }
    response
}

/// An error of this family: `{"error": message, "error_type": kind}`.
pub struct TgiError(pub InferenceError);

impl<E: Into<InferenceError>> From<E> for TgiError {
    fn from(e: E) -> Self {
        TgiError(e.into())
    }
}

impl TgiError {
    /// The body, also sent as a data event when a stream fails midway.
    pub fn body(&self) -> serde_json::Value {
        let (_, kind) = status_of(&self.0);
        serde_json::json!({ "error": message_of(&self.0), "error_type": kind })
    }
}

impl IntoResponse for TgiError {
    fn into_response(self) -> Response {
        let (status, _) = status_of(&self.0);
        let response = (status, axum::Json(self.body())).into_response();
        with_retry_after(&self.0, response)
    }
}

/// Waits for a job's first output, past the queue and the model load, so
/// that a request refused meanwhile (queue wait, no worker, a failure while
/// loading) still gets its own status instead of a broken stream.
pub async fn first_output(watch: &mut Watch) -> Result<Option<Update>, InferenceError> {
    loop {
        match watch.next().await {
            Some(Ok(Update::Queued { .. } | Update::Loading)) => continue,
            Some(Ok(update)) => return Ok(Some(update)),
            Some(Err(e)) => return Err(e),
            None => return Ok(None),
        }
    }
}
