//! The hub's internal API, served only on its local unix socket: push hooks
//! report ref updates here and get the verdict of the core rules.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hub_core::Error;
use hub_core::accounts::{Actor, Credential, Principal, users};
use hub_core::commits::push;
use hub_core::git::hooks;
use hub_core::git::receive::{Quarantine, RefUpdate};
use hub_core::repos;
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::errors::{public_message, status_and_code};

pub fn router() -> Router<AppState> {
    Router::new().route("/internal/hooks/{hook}", post(hook))
}

#[derive(Deserialize)]
pub struct HookCall {
    pub token: String,
    pub updates: Vec<RefUpdate>,
    #[serde(default)]
    pub quarantine: Quarantine,
}

/// Handles `POST /internal/hooks/{hook}` (pre-receive, post-receive).
async fn hook(
    State(state): State<AppState>,
    Path(hook): Path<String>,
    Json(call): Json<HookCall>,
) -> Response {
    match run_hook(&state, &hook, call).await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => {
            let (status, _) = status_and_code(&e);
            let status = if status.is_success() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                status
            };
            (status, Json(json!({ "message": public_message(&e) }))).into_response()
        }
    }
}

async fn run_hook(state: &AppState, hook: &str, call: HookCall) -> Result<(), Error> {
    let (repo_id, pusher_id) = hooks::verify_token(&state.secret, &call.token)?;
    let repo = repos::find_by_id(&state.db, repo_id)
        .await?
        .ok_or(Error::RepoNotFound { anonymous: false })?;
    match hook {
        "pre-receive" => {
            let user = users::find_by_id(&state.db, pusher_id)
                .await?
                .ok_or(Error::InvalidCredentials)?;
            let actor = Actor::User(Principal {
                user,
                credential: Credential::Internal,
            });
            push::pre_receive(
                state,
                &state.git_env,
                &actor,
                &repo,
                &call.updates,
                &call.quarantine,
            )
            .await
        }
        "post-receive" => push::post_receive(state, &repo, pusher_id, &call.updates).await,
        other => Err(Error::not_found(format!("no hook named {other}"))),
    }
}
