//! Small endpoints the HF client calls along the way: the model-card check
//! before uploads (`validate-yaml`), the agent registry every process asks
//! for once (`agent-harnesses`), and `auth-check`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_core::cards::check_card;
use hub_core::repos::access::level::{Read, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::repo_path::ApiRepo;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/validate-yaml", post(validate_yaml))
        .route("/api/agent-harnesses", get(agent_harnesses))
        .route(
            "/api/{repo_type}/{namespace}/{name}/auth-check",
            get(auth_check_read),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/auth-check/write",
            get(auth_check_write),
        )
}

#[derive(Deserialize)]
struct ValidateYaml {
    content: String,
}

/// Handles `POST /api/validate-yaml`: always JSON (the client reads the body
/// before the status); 400 with `errors` when the front matter is not YAML.
async fn validate_yaml(Json(body): Json<ValidateYaml>) -> Response {
    let check = check_card(&body.content);
    let message = |m: &String| json!({ "message": m });
    let answer = json!({
        "errors": check.errors.iter().map(message).collect::<Vec<_>>(),
        "warnings": check.warnings.iter().map(message).collect::<Vec<_>>(),
    });
    let status = if check.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(answer)).into_response()
}

/// Handles `GET /api/agent-harnesses`: this hub knows no agent harnesses.
async fn agent_harnesses() -> Json<Value> {
    Json(json!({ "standardEnvVars": [], "harnesses": {} }))
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/auth-check`: the
/// extractor's check is the answer.
async fn auth_check_read(_: ApiRepo<Read>) -> Json<Value> {
    Json(json!({}))
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/auth-check/write`.
async fn auth_check_write(_: ApiRepo<Write>) -> Json<Value> {
    Json(json!({}))
}
