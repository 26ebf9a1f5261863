//! Hugging Face features this hub does not have: gated-access requests,
//! Space volumes and dev mode, the Space routes for other repo types and LFS file
//! management. Each answers
//! a clear error, never a silent success: 404 to reads (so the HF client's
//! optional probes, such as transformers' safetensors conversion, stop
//! quietly), 400 to writes. The repo is looked up first, so a missing or
//! private repo answers `RepoNotFound` exactly as everywhere else.

use axum::http::Method;
use axum::routing::any;
use axum::{Json, Router};
use hub_core::Error;
use serde_json::Value;

use crate::app::AppState;
use crate::errors::ApiResult;
use crate::repo_path::ApiRepo;

const SPACES: &str = "Space volumes and dev mode are not supported by this hub";
const SPACES_ONLY: &str =
    "only Spaces have hardware, secrets, variables, sleep times, logs and restarts";

/// Route suffixes (after `/api/{repo_type}/{namespace}/{name}/`) and the answer's message.
const FEATURES: &[(&str, &str)] = &[
    (
        "user-access-request/{*rest}",
        "gated repos and access requests are not supported by this hub",
    ),
    ("hardware", SPACES_ONLY),
    ("secrets", SPACES_ONLY),
    ("variables", SPACES_ONLY),
    ("volumes", SPACES),
    ("sleeptime", SPACES_ONLY),
    ("restart", SPACES_ONLY),
    ("pause", SPACES_ONLY),
    ("runtime", SPACES_ONLY),
    ("dev-mode", SPACES),
    ("logs/{*rest}", SPACES_ONLY),
    (
        "duplicate",
        "duplicating repos is not supported by this hub",
    ),
    (
        "lfs-files",
        "managing LFS files is not supported by this hub",
    ),
    (
        "lfs-files/{*rest}",
        "managing LFS files is not supported by this hub",
    ),
];

pub fn router() -> Router<AppState> {
    FEATURES.iter().fold(Router::new(), |router, (suffix, _)| {
        router.route(
            &format!("/api/{{repo_type}}/{{namespace}}/{{name}}/{suffix}"),
            any(unsupported),
        )
    })
}

/// Handles every route in [`FEATURES`], for any method.
async fn unsupported(_: ApiRepo, method: Method, uri: axum::http::Uri) -> ApiResult<Json<Value>> {
    // The path is /api/{repo_type}/{namespace}/{name}/{feature}[/...].
    let feature = uri.path().split('/').nth(5).unwrap_or_default();
    let message = FEATURES
        .iter()
        .find(|(route, _)| route.split('/').next() == Some(feature))
        .map_or("this is not supported by this hub", |(_, message)| message);
    Err(if method == Method::GET || method == Method::HEAD {
        Error::not_found(message)
    } else {
        Error::invalid(message)
    }
    .into())
}
