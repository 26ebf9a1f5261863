//! `preupload`: before uploading, the client asks per file whether it goes
//! to LFS or inline, whether git would ignore it, and what is there now.

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hub_core::Error;
use hub_core::commits::preupload::{self, PlannedFile};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::errors::ApiResult;
use crate::params::Params;
use crate::repo_path::ApiRepo;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/{repo_type}/{namespace}/{name}/preupload/{revision}",
        post(preupload),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreuploadRequest {
    files: Vec<FileSample>,
    git_ignore: Option<String>,
}

#[derive(Deserialize)]
struct FileSample {
    path: String,
    /// Base64 of the file's first bytes (up to 512).
    #[serde(default)]
    sample: String,
    #[serde(default)]
    size: u64,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/preupload/{revision}`.
async fn preupload(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, _, revision)): Path<(String, String, String, String)>,
    params: Params,
    Json(body): Json<PreuploadRequest>,
) -> ApiResult<Json<Value>> {
    let create_pr = params.flag("create_pr")?.unwrap_or(false);
    let files = body
        .files
        .into_iter()
        .map(|f| {
            let sample = base64::engine::general_purpose::STANDARD
                .decode(f.sample.as_bytes())
                .map_err(|_| Error::invalid(format!("{}: sample is not base64", f.path)))?;
            Ok(PlannedFile {
                path: f.path,
                size: f.size,
                sample,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let (commit, plans) =
        preupload::plan(&state, &repo, &revision, create_pr, files, body.git_ignore).await?;
    let files: Vec<Value> = plans
        .into_iter()
        .map(|p| {
            json!({
                "path": p.path,
                "uploadMode": p.mode.as_str(),
                "shouldIgnore": p.should_ignore,
                "oid": p.oid,
            })
        })
        .collect();
    Ok(Json(json!({ "files": files, "commitOid": commit })))
}
