//! Branches and tags: listing (`refs`), creating and deleting them, and
//! squashing a branch's history.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_core::Error;
use hub_core::community::{self, pulls};
use hub_core::repos::access::level::Write;
use hub_core::repos::branches;
use hub_core::repos::content::{self, RefKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::errors::ApiResult;
use crate::params::Params;
use crate::repo_path::ApiRepo;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/{repo_type}/{namespace}/{name}/refs", get(list_refs))
        .route(
            "/api/{repo_type}/{namespace}/{name}/branch/{branch}",
            post(create_branch).delete(delete_branch),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/tag/{revision}",
            post(create_tag).delete(delete_tag),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/super-squash/{branch}",
            post(super_squash),
        )
}

/// The last segment of a ref route: the branch, tag or revision.
type RefPath = Path<(String, String, String, String)>;

fn ref_json(kind: RefKind, name: &str, target: &str) -> Value {
    json!({ "name": name, "ref": format!("{}{name}", kind.prefix()), "targetCommit": target })
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/refs[?include_prs=1]`.
async fn list_refs(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    params: Params,
) -> ApiResult<Json<Value>> {
    let mut refs = content::refs(&state, &repo).await?;
    refs.sort_by(|a, b| a.1.cmp(&b.1));
    let of_kind = |kind: RefKind| -> Vec<Value> {
        refs.iter()
            .filter(|(k, _, _)| *k == kind)
            .map(|(k, n, t)| ref_json(*k, n, t))
            .collect()
    };
    let mut body = json!({
        "branches": of_kind(RefKind::Branch),
        "tags": of_kind(RefKind::Tag),
        "converts": [],
    });
    if params.flag("include_prs")?.unwrap_or(false) {
        let pulls = pulls::refs(&state, &repo).await?;
        body["pullRequests"] = pulls
            .iter()
            .map(|(num, target)| {
                let name = community::pull_request_ref(*num);
                json!({ "name": name, "ref": name, "targetCommit": target })
            })
            .collect();
    }
    Ok(Json(body))
}

/// A JSON body that may be empty (`{}` and nothing mean the same).
fn optional_json<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| Error::invalid(format!("bad request body: {e}")))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NewBranch {
    starting_point: Option<String>,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/branch/{branch}`.
async fn create_branch(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo<Write>,
    Path((_, _, _, branch)): RefPath,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let new: NewBranch = optional_json(&body)?;
    let target =
        branches::create_branch(&state, &repo, &branch, new.starting_point.as_deref()).await?;
    Ok(Json(ref_json(RefKind::Branch, &branch, &target)))
}

/// Handles `DELETE /api/{repo_type}/{namespace}/{name}/branch/{branch}`.
async fn delete_branch(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo<Write>,
    Path((_, _, _, branch)): RefPath,
) -> ApiResult<Json<Value>> {
    branches::delete_branch(&state, &repo, &branch).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize, Default)]
struct Squash {
    message: Option<String>,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/super-squash/{branch}`.
async fn super_squash(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo<Write>,
    Path((_, _, _, branch)): RefPath,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let squash: Squash = optional_json(&body)?;
    let message = squash
        .message
        .unwrap_or_else(|| format!("Super-squash branch '{branch}'"));
    let commit = branches::squash_branch(&state, &repo, &branch, &message).await?;
    Ok(Json(json!({ "commitId": commit })))
}

#[derive(Deserialize, Default)]
struct NewTag {
    tag: Option<String>,
    message: Option<String>,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/tag/{revision}` (the
/// path names the revision to tag; the body names the tag).
async fn create_tag(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo<Write>,
    Path((_, _, _, revision)): RefPath,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let new: NewTag = optional_json(&body)?;
    let tag = new
        .tag
        .ok_or_else(|| Error::invalid("the body must name the tag: {\"tag\": ...}"))?;
    let target =
        branches::create_tag(&state, &repo, &tag, &revision, new.message.as_deref()).await?;
    Ok(Json(ref_json(RefKind::Tag, &tag, &target)))
}

/// Handles `DELETE /api/{repo_type}/{namespace}/{name}/tag/{tag}`.
async fn delete_tag(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo<Write>,
    Path((_, _, _, tag)): RefPath,
) -> ApiResult<Json<Value>> {
    branches::delete_tag(&state, &repo, &tag).await?;
    Ok(Json(json!({})))
}
