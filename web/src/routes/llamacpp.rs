//! The manifest `llama.cpp -hf ns/name[:TAG]` asks for before it downloads
//! (`GET {HF_ENDPOINT}/v2/{ns}/{name}/manifests/{tag}`, `Accept:
//! application/json`; the tag is `latest` when the user gave none). The
//! answer names the chosen GGUF file as Hugging Face's does
//! (`ggufFile.rfilename`, with its size and LFS hash); llama.cpp then
//! fetches `resolve/main/{rfilename}`, and the other parts of a split file
//! by their names.
//!
//! The same path with a container-registry `Accept` is Ollama's pull,
//! which this hub does not serve: that gets a clear 404 (what a registry
//! answers for a manifest it lacks), not a manifest Ollama cannot read.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::routing::get;
use axum::{Json, Router};
use hub_core::Error;
use hub_core::inference::quantization;
use serde_json::{Value, json};

use super::hf::siblings_json;
use crate::app::AppState;
use crate::errors::ApiResult;
use crate::repo_path::ApiRepo;

pub fn router() -> Router<AppState> {
    Router::new().route("/v2/{namespace}/{name}/manifests/{tag}", get(manifest))
}

/// Handles `GET /v2/{namespace}/{name}/manifests/{tag}`.
async fn manifest(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, tag)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("vnd.docker.distribution") || accept.contains("vnd.oci.image") {
        return Err(Error::not_found(
            "this hub does not serve Ollama's registry protocol: download the .gguf file \
             (see the model page) and import it with `ollama create`",
        )
        .into());
    }
    let files = quantization::manifest(&state, &repo, &tag).await?;
    let siblings = siblings_json(&files, true);
    Ok(Json(json!({ "ggufFile": siblings[0] })))
}
