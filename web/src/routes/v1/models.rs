//! `GET /v1/models`.

use axum::Json;
use axum::extract::State;
use hub_core::inference::catalog;
use hub_core::jobs::task_str;
use serde_json::{Value, json};

use super::OpenAiError;
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiError;

/// Handles `GET /v1/models`: the models the caller may read that a live
/// worker can serve now.
pub async fn list(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
) -> Result<Json<Value>, OpenAiError> {
    let Auth(actor) = auth.map_err(|e| OpenAiError(e.0.into()))?;
    let models = catalog::servable_models(&state, &actor).await?;
    let data: Vec<Value> = models
        .iter()
        .map(|m| {
            json!({
                "id": m.repo_name(),
                "object": "model",
                "created": m.repo.created_at.timestamp(),
                "owned_by": m.repo.namespace,
                "task": task_str(m.task),
                "architecture": m.architecture,
                "revision": m.revision,
            })
        })
        .collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}
