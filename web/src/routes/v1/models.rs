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
/// worker can serve now. A GGUF repo is listed as itself (its default
/// quantisation) and once per quantisation (`ns/name:Q8_0`), as Ollama
/// lists tags, so a client may pick any id it sees.
pub async fn list(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
) -> Result<Json<Value>, OpenAiError> {
    let Auth(actor) = auth.map_err(|e| OpenAiError(e.0.into()))?;
    let models = catalog::servable_models(&state, &actor).await?;
    let mut data: Vec<Value> = Vec::new();
    for m in &models {
        let entry = |id: String, quantization: Option<&str>| {
            let mut v = json!({
                "id": id,
                "object": "model",
                "created": m.repo.created_at.timestamp(),
                "owned_by": m.repo.namespace,
                "task": task_str(m.task),
                "architecture": m.architecture,
                "revision": m.revision,
            });
            if let Some(g) = &m.gguf {
                v["quantization"] = json!(quantization.unwrap_or(&g.tag));
                v["quantizations"] = json!(g.tags);
            }
            v
        };
        data.push(entry(m.repo_name(), None));
        for tag in m.gguf.iter().flat_map(|g| &g.tags) {
            data.push(entry(format!("{}:{tag}", m.repo_name()), Some(tag)));
        }
    }
    Ok(Json(json!({ "object": "list", "data": data })))
}
