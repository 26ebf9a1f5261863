//! Tag creation as the `modelscope` SDK makes it (`create_model_tag`, the
//! 1.40 `create_tag`): `POST /api/v1/{models|datasets}/{o}/{n}/repo/tag`
//! with `{"TagName", "Ref"}`, through hub-core's one tag path (which records
//! the tag's creation time, the `CreatedAt` that the SDK's release-mode
//! revision choice reads from `/revisions`).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use hub_core::Error;
use hub_core::repos::access::level::Write;
use hub_core::repos::branches;
use serde::Deserialize;
use serde_json::json;

use super::{MsJson, MsRepo, MsResult, ok, resolve};
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/models/{namespace}/{name}/repo/tag", post(create))
        .route("/api/v1/datasets/{namespace}/{name}/repo/tag", post(create))
}

#[derive(Deserialize)]
struct NewTag {
    #[serde(rename = "TagName")]
    tag: String,
    /// The revision to tag; `master` (the SDK's default) is the default branch.
    #[serde(rename = "Ref", default)]
    target: String,
}

/// Handles `POST /api/v1/{models|datasets}/{namespace}/{name}/repo/tag`.
async fn create(
    State(state): State<AppState>,
    MsRepo(repo): MsRepo<Write>,
    MsJson(body): MsJson<NewTag>,
) -> MsResult<Response> {
    if body.tag.trim().is_empty() {
        return Err(Error::invalid("TagName is required").into());
    }
    let commit = resolve(&state, &repo, &body.target).await?;
    let target = branches::create_tag(&state, &repo, &body.tag, &commit, None).await?;
    Ok(ok(json!({ "TagName": body.tag, "Revision": target })))
}
