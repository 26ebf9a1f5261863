//! Mapping the core error to answers: one mapping for the Hugging
//! Face-shaped API (status, `X-Error-Code`, `{"error": ...}`), one for pages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hub_core::Error;

/// An error from an `/api` route, answered the way `huggingface_hub` reads it.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Status and, where the HF client keys on one, the `X-Error-Code`.
pub fn status_and_code(e: &Error) -> (StatusCode, Option<&'static str>) {
    match e {
        Error::InvalidInput(_) => (StatusCode::BAD_REQUEST, None),
        Error::RefusedPath(_) => (StatusCode::UNPROCESSABLE_ENTITY, None),
        Error::Unauthenticated | Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, None),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, None),
        Error::RepoNotFound { anonymous: true } => (StatusCode::UNAUTHORIZED, Some("RepoNotFound")),
        Error::RepoNotFound { anonymous: false } => (StatusCode::NOT_FOUND, Some("RepoNotFound")),
        Error::RevisionNotFound(_) => (StatusCode::NOT_FOUND, Some("RevisionNotFound")),
        Error::EntryNotFound(_) => (StatusCode::NOT_FOUND, Some("EntryNotFound")),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, None),
        Error::Conflict(_) => (StatusCode::CONFLICT, None),
        Error::PreconditionFailed(_) => (StatusCode::PRECONDITION_FAILED, None),
        Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, None),
        Error::InsufficientCredits(_) => (StatusCode::PAYMENT_REQUIRED, None),
        Error::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, None),
        Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
        Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

/// The message shown to clients; internal details stay in the log.
pub fn public_message(e: &Error) -> String {
    match e {
        Error::Internal(inner) => {
            tracing::error!(error = ?inner, "internal error");
            "internal error".to_owned()
        }
        Error::RepoNotFound { .. } => "Repository not found".to_owned(),
        other => other.to_string(),
    }
}

impl ApiError {
    /// The answer with `X-Repo-Commit`: the HF client caches "absent at this
    /// commit" for an `EntryNotFound` only when it names the commit.
    pub fn at_commit(self, commit: &str) -> Response {
        let mut response = self.into_response();
        if let Ok(v) = HeaderValue::from_str(commit) {
            response.headers_mut().insert("x-repo-commit", v);
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = status_and_code(&self.0);
        let message = public_message(&self.0);
        let mut response =
            (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
        let headers = response.headers_mut();
        if let Some(code) = code {
            headers.insert("x-error-code", HeaderValue::from_static(code));
        }
        match &self.0 {
            Error::InvalidCredentials => {
                headers.insert(
                    "x-error-message",
                    HeaderValue::from_static("Invalid credentials in Authorization header"),
                );
            }
            Error::TooManyRequests { retry_after, .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs()),
                );
            }
            _ => {}
        }
        response
    }
}
