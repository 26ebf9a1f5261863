//! Route families. Each handler is a few lines: parse, call one core
//! function, answer; the route it serves is in its doc comment.

pub mod billing;
pub mod git_http;
pub mod health;
pub mod hf;
pub mod internal;
pub mod lfs;
pub mod llamacpp;
pub mod mirror_admin;
pub mod ms;
pub mod topups;
pub mod ui;
pub mod xet;
// The inference tier: the worker protocol and admin page, TGI-style and OpenAI-compatible APIs.
pub mod inference;
pub mod v1;
pub mod workers;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hub_core::Error;
use hub_core::repos::RepoType;
use hub_core::repos::access;

use crate::app::AppState;
use crate::auth::{Auth, Session};
use crate::errors::ApiError;
use crate::repo_path::names_repo_without_namespace;

/// Where each repo type's pages, git and file routes live: HF's URLs, with
/// no prefix for models.
pub const REPO_PREFIXES: [(&str, RepoType); 3] = [
    ("", RepoType::Model),
    ("/datasets", RepoType::Dataset),
    ("/spaces", RepoType::Space),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(billing::router())
        .merge(hf::router())
        .merge(ms::router())
        .merge(git_http::router())
        .merge(lfs::router())
        .merge(ui::router())
        .merge(xet::router())
        .merge(llamacpp::router())
        .merge(mirror_admin::router())
        .merge(inference::router())
        .merge(v1::router())
        .merge(workers::router())
        .merge(topups::router())
        .fallback(not_found)
        // After every route: it is set on the routes registered so far.
        .method_not_allowed_fallback(method_not_allowed)
}

/// Unknown routes: `RepoNotFound` for a repo id without a namespace (see
/// [`names_repo_without_namespace`]), else a JSON error under `/api` and
/// `/v1`, a page elsewhere.
async fn not_found(State(state): State<AppState>, session: Session, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if names_repo_without_namespace(&path) {
        return no_such_repo(&state, request).await;
    }
    ui::page(
        &session,
        &path,
        Err(Error::not_found(format!("no route for {path}"))),
    )
}

/// A route called with a method it lacks: 405, unless the path names a
/// repo id without a namespace (`POST /api/models/gpt2/like` matches
/// `/api/models/{namespace}/{name}`, which only reads).
async fn method_not_allowed(State(state): State<AppState>, request: Request) -> Response {
    if names_repo_without_namespace(request.uri().path()) {
        return no_such_repo(&state, request).await;
    }
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

/// `RepoNotFound` as a missing repo answers the caller (401 to anonymous
/// callers, as everywhere); bad credentials are refused first, as the
/// repo extractors refuse them.
async fn no_such_repo(state: &AppState, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    match Auth::from_request_parts(&mut parts, state).await {
        Ok(Auth(actor)) => ApiError(access::no_such_repo(&actor)).into_response(),
        Err(e) => e.into_response(),
    }
}
