//! A repo's settings page, `/{ns}/{name}/settings`, for its admins only
//! (everyone else gets "not found"): visibility, rename or move, and delete
//! with the repo's full name typed as confirmation. Each form posts to its
//! own URL and calls one function of `hub_core::repos::manage`.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hub_core::Error;
use hub_core::accounts::Actor;
use hub_core::repos::access::level::{Admin, Read};
use hub_core::repos::access::{self, Authorized};
use hub_core::repos::{RepoType, manage};
use serde::Deserialize;

use super::repo_routes::{each_kind, repo_url, to_repo_page};
use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;

pub fn router() -> Router<AppState> {
    each_kind("/settings", |kind| {
        get(move |s, session, p, q| settings_page(kind, s, session, p, q))
    })
    .merge(each_kind("/settings/visibility", |kind| {
        post(move |s, session, p, f| set_visibility(kind, s, session, p, f))
            .get(move |p| to_repo_page(kind, p, "/settings"))
    }))
    .merge(each_kind("/settings/rename", |kind| {
        post(move |s, session, p, f| rename(kind, s, session, p, f))
            .get(move |p| to_repo_page(kind, p, "/settings"))
    }))
    .merge(each_kind("/settings/delete", |kind| {
        post(move |s, session, p, f| delete(kind, s, session, p, f))
            .get(move |p| to_repo_page(kind, p, "/settings"))
    }))
}

#[derive(Template)]
#[template(path = "repo_settings.html")]
struct SettingsPage {
    frame: Frame,
    repo: Authorized<Admin>,
    repo_url: String,
    owners: Vec<String>,
    error: Option<String>,
    /// After a change: "saved".
    saved: bool,
    /// Spaces: their runtime, variables and secrets.
    space: Option<super::space_settings::SpaceSettings>,
}

/// The repo if `actor` is one of its admins; "not found" for everyone else,
/// so the page does not reveal that a private repo exists.
pub(super) async fn administered(
    state: &AppState,
    actor: &Actor,
    kind: RepoType,
    ns: &str,
    name: &str,
) -> Result<Authorized<Admin>, Error> {
    access::authorize::<Read>(state, actor, kind, ns, name)
        .await?
        .hide_unless()
}

async fn show(
    state: &AppState,
    session: &Session,
    repo: Authorized<Admin>,
    error: Option<String>,
    saved: bool,
) -> Result<Response, Error> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let url = repo_url(&repo);
    let space = super::space_settings::view(state, &repo).await?;
    let body = SettingsPage {
        space,
        frame: Frame::new(session, &format!("{url}/settings")),
        owners: access::writable_namespaces(&state.db, &session.actor).await?,
        repo_url: url,
        repo,
        error,
        saved,
    };
    Ok((status, render(&body)).into_response())
}

#[derive(Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

/// Handles `GET /{ns}/{name}/settings[?saved=1]`.
async fn settings_page(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<SavedQuery>,
) -> Response {
    let path = format!("/{}{ns}/{name}/settings", kind.url_prefix());
    let result = async {
        let repo = administered(&state, &session.actor, kind, &ns, &name).await?;
        show(&state, &session, repo, None, query.saved.is_some()).await
    }
    .await;
    page(&session, &path, result)
}

#[derive(Deserialize)]
struct VisibilityForm {
    csrf: String,
    visibility: String,
}

/// Handles `POST /{ns}/{name}/settings/visibility`.
async fn set_visibility(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
    Form(form): Form<VisibilityForm>,
) -> Response {
    let path = format!("/{}{ns}/{name}/settings", kind.url_prefix());
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let repo = administered(&state, &session.actor, kind, &ns, &name).await?;
        let private = match form.visibility.as_str() {
            "private" => true,
            "public" => false,
            _ => return Err(Error::invalid("visibility must be public or private")),
        };
        let repo = manage::update_settings(&state, &repo, Some(private)).await?;
        Ok(Redirect::to(&format!("{}/settings?saved=1", repo_url(&repo))).into_response())
    }
    .await;
    page(&session, &path, result)
}

#[derive(Deserialize)]
struct RenameForm {
    csrf: String,
    owner: String,
    name: String,
}

/// Handles `POST /{ns}/{name}/settings/rename`: the old URL redirects.
async fn rename(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
    Form(form): Form<RenameForm>,
) -> Response {
    let path = format!("/{}{ns}/{name}/settings", kind.url_prefix());
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let repo = administered(&state, &session.actor, kind, &ns, &name).await?;
        let renamed = manage::rename(&state, &repo, (form.owner.trim(), form.name.trim())).await;
        match renamed {
            Ok(repo) => Ok(Redirect::to(&repo_url(&repo)).into_response()),
            Err(e @ (Error::InvalidInput(_) | Error::Conflict(_) | Error::Forbidden(_))) => {
                show(&state, &session, repo, Some(session.lang.error(&e)), false).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    page(&session, &path, result)
}

#[derive(Deserialize)]
struct DeleteForm {
    csrf: String,
    confirm: String,
}

/// Handles `POST /{ns}/{name}/settings/delete`: only with the repo's full
/// name typed into the confirmation field.
async fn delete(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let path = format!("/{}{ns}/{name}/settings", kind.url_prefix());
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let repo = administered(&state, &session.actor, kind, &ns, &name).await?;
        if form.confirm.trim() != repo.full_name() {
            let message = session.lang.t("settings.confirm_mismatch").to_owned();
            return show(&state, &session, repo, Some(message), false).await;
        }
        let namespace = repo.namespace.clone();
        manage::delete(&state, repo).await?;
        Ok(Redirect::to(&format!("/{namespace}")).into_response())
    }
    .await;
    page(&session, &path, result)
}
