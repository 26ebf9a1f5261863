//! The pages' scripts, served by the hub itself (the CSP allows scripts
//! from this origin only, and no inline script at all).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/upload.js",
            get(|| async { script(include_str!("../../../static/upload.js")) }),
        )
        .route(
            "/static/copy.js",
            get(|| async { script(include_str!("../../../static/copy.js")) }),
        )
}

fn script(text: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        text,
    )
        .into_response()
}
