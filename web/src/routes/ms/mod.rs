//! The ModelScope-shaped API (`/api/v1/...`), as the `modelscope` SDK 1.40
//! (through `modelscope-hub`) calls it to download models and datasets: the
//! `{Code, Data, Message, RequestId, Success}` envelope, `master` as an alias
//! of the default branch, and the one mapping of core errors to the answers
//! the SDK reads (below).

pub mod auth;
pub mod datasets;
pub mod models;
pub mod tags;
pub mod upload;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use hub_core::Error;
use hub_core::repos::access::{Authorized, level, level::Level};
use hub_core::repos::{RepoType, master_alias};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::errors::{public_message, status_and_code};
use crate::repo_path::RepoPath;
use auth::MsAuth;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(datasets::router())
        .merge(models::router())
        .merge(tags::router())
        .merge(upload::router())
}

/// A request id for the envelope (the SDK only logs it).
pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A success in the legacy envelope: `Code` is the integer 200.
pub fn ok(data: Value) -> Response {
    Json(json!({
        "Code": 200,
        "Data": data,
        "Message": "success",
        "RequestId": request_id(),
        "Success": true,
    }))
    .into_response()
}

/// An error from an `/api/v1` route. The HTTP status is the hub's (404 for
/// a missing repo, revision or file; 401 for an anonymous caller of a
/// private repo; 403 forbidden), which the SDK maps to its exceptions; the
/// envelope repeats it in `Code` with `Success: false` and the `Message`.
#[derive(Debug)]
pub struct MsError(pub Error);

impl<E: Into<Error>> From<E> for MsError {
    fn from(e: E) -> Self {
        MsError(e.into())
    }
}

pub type MsResult<T> = Result<T, MsError>;

impl IntoResponse for MsError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            // 422 is Hugging Face's answer; ModelScope's clients get the 400
            // they get for any other bad input.
            Error::RefusedPath(_) => StatusCode::BAD_REQUEST,
            other => status_and_code(other).0,
        };
        let message = public_message(&self.0);
        envelope_error(status, &message)
    }
}

fn envelope_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "Code": status.as_u16(),
        "Data": null,
        "Message": message,
        "RequestId": request_id(),
        "Success": false,
    });
    (status, Json(body)).into_response()
}

/// A JSON body whatever the `Content-Type` says: 1.37 posts `json.dumps`
/// output as form data (no JSON media type). Errors in the envelope; the
/// route's body limit applies.
pub struct MsJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for MsJson<T> {
    type Rejection = MsError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Error::too_large(e.body_text()),
                _ => Error::invalid(format!("cannot read the request body: {}", e.body_text())),
            })?;
        serde_json::from_slice(&bytes)
            .map(MsJson)
            .map_err(|e| MsError(Error::invalid(format!("invalid JSON body: {e}"))))
    }
}

/// The repo an ms route's path names (`/api/v1/{models|datasets}/{ns}/{name}/…`,
/// or `/api/v1/repos/{models|datasets}/…`), with the caller's access at level
/// `L` (see [`crate::repo_path`]); refusals in the envelope.
pub struct MsRepo<L: Level = level::Read>(pub Authorized<L>);

impl<L: Level> FromRequestParts<AppState> for MsRepo<L> {
    type Rejection = MsError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> MsResult<Self> {
        let MsAuth(actor) = MsAuth::from_request_parts(parts, state).await?;
        let path = RepoPath::of(parts, state, repo_type, false).await?;
        Ok(MsRepo(path.authorize(state, &actor).await?))
    }
}

/// The repo type a `/api/v1/repos/{models|datasets}/...` route names.
pub(super) fn repo_type(plural: &str) -> Result<RepoType, Error> {
    match plural {
        "models" => Ok(RepoType::Model),
        "datasets" => Ok(RepoType::Dataset),
        other => Err(Error::not_found(format!("unknown repo type {other:?}"))),
    }
}

/// The commit a ModelScope revision names (`master` may alias the default
/// branch: see hub-core's `master_alias`).
pub async fn resolve(
    state: &AppState,
    repo: &Authorized<impl Level>,
    revision: &str,
) -> MsResult<String> {
    Ok(master_alias::resolve(state, repo, revision).await?)
}
