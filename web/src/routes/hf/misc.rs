//! Small endpoints the HF client calls along the way: the model-card check
//! before uploads (`validate-yaml`), the agent registry every process asks
//! for once (`agent-harnesses`), and `auth-check`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_core::cards::check_card;
use hub_core::repos::RepoType;
use hub_core::repos::access::level::{Read, Write};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::errors::ApiResult;
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
    #[serde(rename = "repoType")]
    repo_type: Option<String>,
}

/// Handles `POST /api/validate-yaml`: 400 when the card has errors, with
/// the errors and warnings as JSON (`HfApi` reads them), or as `- Error: …`
/// lines to `RepoCard.validate`, which asks for text and shows it as is.
async fn validate_yaml(headers: HeaderMap, Json(body): Json<ValidateYaml>) -> ApiResult<Response> {
    let kind = RepoType::parse(body.repo_type.as_deref().unwrap_or("model"))?;
    let check = check_card(&body.content, kind);
    let status = if check.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let wants_text = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.starts_with("text/plain"));
    if wants_text {
        let lines: Vec<String> = (check.errors.iter().map(|m| format!("- Error: {m}")))
            .chain(check.warnings.iter().map(|m| format!("- Warning: {m}")))
            .collect();
        return Ok((status, lines.join("\n")).into_response());
    }
    let message = |m: &str| json!({ "message": m });
    let answer = json!({
        "errors": check.errors.iter().map(|m| message(m)).collect::<Vec<_>>(),
        "warnings": check.warnings.iter().map(|m| message(m)).collect::<Vec<_>>(),
    });
    Ok((status, Json(answer)).into_response())
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
