//! Dataset downloads as the `modelscope` SDK makes them
//! (`dataset_snapshot_download`, `MsDataset` file access): repo info with the
//! integer `Id` and `Type: 4`, the file tree addressed by that id or by
//! `{owner}/{name}`, the file endpoint, and the download counter. The
//! listing and the file endpoint are the models' ([`super::models`]).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{get, post};
use hub_core::Error;
use hub_core::repos::access;
use hub_core::repos::counters::Downloader;
use hub_core::repos::{self, RepoType};
use serde_json::json;

use super::auth::MsAuth;
use super::models::{list_files, repo_info, serve_file};
use super::{MsRepo, MsResult, ok};
use crate::app::AppState;
use crate::params::Params;
use crate::request::Origin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/datasets/{namespace}/{name}", get(info))
        .route("/api/v1/datasets/{namespace}/repo/tree", get(tree_by_id))
        .route("/api/v1/datasets/{namespace}/{name}/repo/tree", get(tree))
        .route("/api/v1/datasets/{namespace}/{name}/repo", get(file))
        .route(
            "/api/v1/datasets/{namespace}/{name}/download/increase",
            post(download_increase),
        )
}

/// Handles `GET /api/v1/datasets/{namespace}/{name}`: the repo info with the
/// integer `Id` the SDK addresses the tree by, and `Type: 4` ("general").
async fn info(MsRepo(repo): MsRepo) -> MsResult<Response> {
    let mut data = repo_info(&repo);
    data["Type"] = json!(4);
    Ok(ok(data))
}

/// Handles `GET /api/v1/datasets/{id}/repo/tree?Revision=&Root=&Recursive=&PageNumber=&PageSize=`
/// (1.37 and `MsDataset`): the tree of the dataset whose integer id is `id`.
async fn tree_by_id(
    State(state): State<AppState>,
    MsAuth(actor): MsAuth,
    Path(id): Path<String>,
    params: Params,
) -> MsResult<Response> {
    let not_found = || Error::RepoNotFound {
        anonymous: actor.is_anonymous(),
    };
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let repo = repos::find_by_id(&state.db, id)
        .await?
        .filter(|r| r.kind() == RepoType::Dataset)
        .ok_or_else(not_found)?;
    let repo = access::authorize_repo(&state.db, &actor, repo).await?;
    list_files(&state, &repo, &params).await
}

/// Handles `GET /api/v1/datasets/{namespace}/{name}/repo/tree?Revision=&Root=&Recursive=&PageNumber=&PageSize=`
/// (1.40 `dataset_snapshot_download`).
async fn tree(
    State(state): State<AppState>,
    MsRepo(repo): MsRepo,
    params: Params,
) -> MsResult<Response> {
    list_files(&state, &repo, &params).await
}

/// Handles `GET|HEAD /api/v1/datasets/{namespace}/{name}/repo?Revision=&FilePath=`
/// (extra `Source=SDK`, `View=False` ignored): as for models. A download is
/// counted once, as ModelScope counts it: the snapshot downloads (whose
/// requests carry `snapshot-identifier`) count here, while `MsDataset`,
/// which fetches without it, reports its download with `download/increase`.
async fn file(
    State(state): State<AppState>,
    MsRepo(repo): MsRepo,
    origin: Origin,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> MsResult<Response> {
    let client = Downloader::new(repo.actor(), origin.client_ip);
    let counted_for = headers
        .contains_key("snapshot-identifier")
        .then_some(&client);
    serve_file(&state, &repo, &method, &headers, &params, counted_for).await
}

/// Handles `POST /api/v1/datasets/{namespace}/{name}/download/increase`:
/// records one download of the dataset (once per client and window, as
/// every download).
async fn download_increase(
    State(state): State<AppState>,
    MsRepo(repo): MsRepo,
    origin: Origin,
) -> MsResult<Response> {
    let client = Downloader::new(repo.actor(), origin.client_ip);
    state.downloads.record(&state.db, repo.id, &client).await?;
    Ok(ok(json!(null)))
}
