//! Organisations and their members.

use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hub_core::Error;
use hub_core::accounts::orgs::{self, OrgRole};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiResult;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/organizations/new", post(create_org))
        .route("/api/organizations/{org}/members", get(list_members))
        .route(
            "/api/organizations/{org}/members/{username}",
            put(set_member).delete(remove_member),
        )
}

#[derive(Deserialize)]
struct NewOrg {
    name: String,
    #[serde(default, alias = "fullName")]
    fullname: String,
}

/// Handles `POST /api/organizations/new`.
async fn create_org(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<NewOrg>,
) -> ApiResult<Json<Value>> {
    let org = orgs::create(
        &state.db,
        actor.require_writer()?,
        &body.name,
        body.fullname.trim(),
    )
    .await?;
    Ok(Json(json!({ "name": org.name, "fullname": org.full_name })))
}

/// Handles `GET /api/organizations/{org}/members`: visible to members only.
async fn list_members(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(org): Path<String>,
) -> ApiResult<Json<Value>> {
    let principal = actor.require_user()?;
    let not_found = || Error::not_found(format!("organization '{org}' not found"));
    let found = orgs::find(&state.db, &org).await?.ok_or_else(not_found)?;
    if !principal.user.is_admin
        && orgs::role_of(&state.db, found.id, principal.user.id)
            .await?
            .is_none()
    {
        return Err(not_found().into());
    }
    let members = orgs::members(&state.db, found.id).await?;
    Ok(Json(json!(
        members
            .into_iter()
            .map(|m| json!({ "user": m.name, "role": m.role }))
            .collect::<Vec<_>>()
    )))
}

#[derive(Deserialize)]
struct MemberRole {
    role: String,
}

/// Handles `PUT /api/organizations/{org}/members/{username}`: add or change a role.
async fn set_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((org, username)): Path<(String, String)>,
    Json(body): Json<MemberRole>,
) -> ApiResult<Json<Value>> {
    let role = OrgRole::parse(&body.role)?;
    orgs::set_member(&state.db, actor.require_writer()?, &org, &username, role).await?;
    Ok(Json(json!({ "user": username, "role": role.as_str() })))
}

/// Handles `DELETE /api/organizations/{org}/members/{username}`.
async fn remove_member(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path((org, username)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    orgs::remove_member(&state.db, actor.require_writer()?, &org, &username).await?;
    Ok(Json(json!({})))
}
