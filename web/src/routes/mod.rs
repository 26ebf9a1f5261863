//! Route families. Each handler is a few lines: parse, call one core
//! function, answer; the route it serves is in its doc comment.

pub mod health;
pub mod hf;
pub mod ui;

use axum::Router;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use hub_core::Error;

use crate::app::AppState;
use crate::auth::Session;
use crate::errors::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(hf::router())
        .merge(ui::router())
        .fallback(not_found)
}

/// Unknown routes: a JSON error under `/api` and `/v1`, a page elsewhere.
async fn not_found(uri: Uri, session: Session) -> Response {
    let path = uri.path();
    let error = Error::not_found(format!("no route for {path}"));
    if path.starts_with("/api/") || path.starts_with("/v1/") {
        ApiError(error).into_response()
    } else {
        ui::page(&session, path, Err(error))
    }
}
