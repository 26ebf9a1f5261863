//! The pages' scripts and the site icon, served by the hub itself (the CSP allows scripts
//! from this origin only, and no inline script at all).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
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
        .route(
            "/static/topup.js",
            get(|| async { script(include_str!("../../../static/topup.js")) }),
        )
        .route(
            "/static/space.js",
            get(|| async { script(include_str!("../../../static/space.js")) }),
        )
        .route(
            "/static/finetune.js",
            get(|| async { script(include_str!("../../../static/finetune.js")) }),
        )
        .route("/static/favicon.svg", get(favicon))
        // Browsers that ignore the page's icon link ask for this path.
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/static/favicon.svg") }),
        )
}

/// Handles `GET /static/favicon.svg`: the site's icon (开 on the accent colour).
async fn favicon() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        include_str!("../../../static/favicon.svg"),
    )
        .into_response()
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
