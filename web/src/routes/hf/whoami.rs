//! Who the caller is, as `huggingface_hub.whoami()` reads it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use hub_core::accounts::{Credential, orgs};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiResult;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/whoami-v2", get(whoami))
}

/// Handles `GET /api/whoami-v2`.
async fn whoami(State(state): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Value>> {
    let principal = actor.require_user()?;
    let user = &principal.user;
    let orgs: Vec<Value> = orgs::of_user(&state.db, user.id)
        .await?
        .into_iter()
        .map(|m| json!({ "type": "org", "name": m.name, "roleInOrg": m.role }))
        .collect();
    let auth = match &principal.credential {
        Credential::Token { name, role, .. } => json!({
            "type": "access_token",
            "accessToken": { "displayName": name, "role": role.as_str() }
        }),
        Credential::Session { .. } | Credential::Internal => {
            json!({ "type": "session" })
        }
    };
    Ok(Json(json!({
        "type": "user",
        "id": user.id.to_string(),
        "name": user.name,
        "fullname": user.full_name,
        "email": user.email,
        "isPro": false,
        "canPay": false,
        "orgs": orgs,
        "auth": auth,
    })))
}
