//! Branches and tags: listing (`refs`), creating and deleting them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_core::Error;
use hub_core::accounts::Actor;
use hub_core::repos::access::{self, Access};
use hub_core::repos::content::{self, RefKind};
use hub_core::repos::{Repo, branches};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::repo_type;
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiResult;
use crate::params::Params;

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
}

type RepoPath = Path<(String, String, String)>;
type RefPath = Path<(String, String, String, String)>;

async fn find(
    state: &AppState,
    actor: &Actor,
    (segment, ns, name): (&str, &str, &str),
    needed: Access,
) -> ApiResult<Repo> {
    Ok(access::authorize(&state.db, actor, repo_type(segment)?, ns, name, needed).await?)
}

fn ref_json(kind: RefKind, name: &str, target: &str) -> Value {
    json!({ "name": name, "ref": format!("{}{name}", kind.prefix()), "targetCommit": target })
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/refs[?include_prs=1]`.
async fn list_refs(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((segment, ns, name)): RepoPath,
    params: Params,
) -> ApiResult<Json<Value>> {
    let repo = find(&state, &actor, (&segment, &ns, &name), Access::Read).await?;
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
    // This hub has no pull requests, so there are never refs/pr/N.
    if params.flag("include_prs")?.unwrap_or(false) {
        body["pullRequests"] = json!([]);
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
    Auth(actor): Auth,
    Path((segment, ns, name, branch)): RefPath,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let repo = find(&state, &actor, (&segment, &ns, &name), Access::Read).await?;
    let new: NewBranch = optional_json(&body)?;
    let target = branches::create_branch(
        &state,
        &actor,
        &repo,
        &branch,
        new.starting_point.as_deref(),
    )
    .await?;
    Ok(Json(ref_json(RefKind::Branch, &branch, &target)))
}

/// Handles `DELETE /api/{repo_type}/{namespace}/{name}/branch/{branch}`.
async fn delete_branch(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((segment, ns, name, branch)): RefPath,
) -> ApiResult<Json<Value>> {
    let repo = find(&state, &actor, (&segment, &ns, &name), Access::Read).await?;
    branches::delete_branch(&state, &actor, &repo, &branch).await?;
    Ok(Json(json!({})))
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
    Auth(actor): Auth,
    Path((segment, ns, name, revision)): RefPath,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let repo = find(&state, &actor, (&segment, &ns, &name), Access::Read).await?;
    let new: NewTag = optional_json(&body)?;
    let tag = new
        .tag
        .ok_or_else(|| Error::invalid("the body must name the tag: {\"tag\": ...}"))?;
    let target = branches::create_tag(
        &state,
        &actor,
        &repo,
        &tag,
        &revision,
        new.message.as_deref(),
    )
    .await?;
    Ok(Json(ref_json(RefKind::Tag, &tag, &target)))
}

/// Handles `DELETE /api/{repo_type}/{namespace}/{name}/tag/{tag}`.
async fn delete_tag(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((segment, ns, name, tag)): RefPath,
) -> ApiResult<Json<Value>> {
    let repo = find(&state, &actor, (&segment, &ns, &name), Access::Read).await?;
    branches::delete_tag(&state, &actor, &repo, &tag).await?;
    Ok(Json(json!({})))
}
