//! Route families. Each handler is a few lines: parse, call one core
//! function, answer; the route it serves is in its doc comment.

pub mod git_http;
pub mod health;
pub mod hf;
pub mod internal;
pub mod lfs;
pub mod ms;
pub mod ui;
pub mod xet;
// The inference tier: the worker protocol and admin page, TGI-style and OpenAI-compatible APIs.
pub mod inference;
pub mod v1;
pub mod workers;

use axum::Router;
use axum::http::Uri;
use axum::response::Response;
use hub_core::Error;
use hub_core::repos::RepoType;

use crate::app::AppState;
use crate::auth::Session;

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
        .merge(hf::router())
        .merge(ms::router())
        .merge(git_http::router())
        .merge(lfs::router())
        .merge(ui::router())
        .merge(xet::router())
        .merge(inference::router())
        .merge(v1::router())
        .merge(workers::router())
        .fallback(not_found)
}

/// Unknown routes: a JSON error under `/api` and `/v1`, a page elsewhere.
async fn not_found(uri: Uri, session: Session) -> Response {
    let path = uri.path();
    ui::page(
        &session,
        path,
        Err(Error::not_found(format!("no route for {path}"))),
    )
}
