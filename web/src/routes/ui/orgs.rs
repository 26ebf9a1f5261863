//! Organisations in the browser: `/organizations/new` to create one, and
//! `/organizations/{org}/members`, where members see who belongs and the
//! org's admins add people, change roles and remove members. The rules
//! (who may, at least one admin left) are hub-core's `accounts::orgs`.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use hub_core::Error;
use hub_core::accounts::orgs::{self, Member, OrgRole};
use serde::Deserialize;

use super::{ConfirmPage, Frame, page, render, to_login};
use crate::app::AppState;
use crate::auth::Session;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/organizations/new", get(new_org_form).post(create_org))
        .route(
            "/organizations/{org}/members",
            get(members_page).post(set_member),
        )
        .route(
            "/organizations/{org}/members/{user}/remove",
            get(confirm_remove).post(remove_member),
        )
}

#[derive(Template)]
#[template(path = "new_org.html")]
struct NewOrgPage {
    frame: Frame,
    name: String,
    full_name: String,
    error: Option<String>,
}

/// Handles `GET /organizations/new`.
async fn new_org_form(session: Session) -> Response {
    if session.actor.is_anonymous() {
        return to_login("/organizations/new");
    }
    render(&NewOrgPage {
        frame: Frame::new(&session, "/organizations/new"),
        name: String::new(),
        full_name: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
struct NewOrgForm {
    csrf: String,
    name: String,
    #[serde(default)]
    full_name: String,
}

/// Handles `POST /organizations/new`: the creator becomes its first admin.
async fn create_org(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<NewOrgForm>,
) -> Response {
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let user = session.actor.require_writer()?;
        orgs::create(&state.db, user, form.name.trim(), form.full_name.trim()).await
    }
    .await;
    match result {
        Ok(org) => Redirect::to(&format!("/{}", org.name)).into_response(),
        Err(e @ (Error::InvalidInput(_) | Error::Conflict(_))) => {
            let body = NewOrgPage {
                frame: Frame::new(&session, "/organizations/new"),
                name: form.name,
                full_name: form.full_name,
                error: Some(session.lang.error(&e)),
            };
            (StatusCode::UNPROCESSABLE_ENTITY, render(&body)).into_response()
        }
        Err(e) => page(&session, "/organizations/new", Err(e)),
    }
}

#[derive(Template)]
#[template(path = "org_members.html")]
struct MembersPage {
    frame: Frame,
    org: String,
    members: Vec<Member>,
    is_admin: bool,
    /// An admin of the organisation itself, who sees its billing page.
    sees_billing: bool,
    error: Option<String>,
}

/// Handles `GET /organizations/{org}/members`: members only.
async fn members_page(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
) -> Response {
    let path = format!("/organizations/{org}/members");
    let result = show_members(&state, &session, &org, None).await;
    page(&session, &path, result)
}

async fn show_members(
    state: &AppState,
    session: &Session,
    org_name: &str,
    error: Option<String>,
) -> Result<Response, Error> {
    let not_found = || Error::not_found(format!("organization '{org_name}' not found"));
    let user = session.actor.user().ok_or_else(not_found)?;
    let org = orgs::find(&state.db, org_name)
        .await?
        .ok_or_else(not_found)?;
    let role = orgs::role_of(&state.db, org.id, user.id).await?;
    if role.is_none() && !user.is_admin {
        return Err(not_found());
    }
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = MembersPage {
        frame: Frame::new(session, &format!("/organizations/{}/members", org.name)),
        members: orgs::members(&state.db, org.id).await?,
        is_admin: role == Some(OrgRole::Admin) || user.is_admin,
        sees_billing: role == Some(OrgRole::Admin),
        org: org.name,
        error,
    };
    Ok((status, render(&body)).into_response())
}

#[derive(Deserialize)]
struct MemberForm {
    csrf: String,
    username: String,
    role: String,
}

/// Handles `POST /organizations/{org}/members`: adds a member or changes a role.
async fn set_member(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
    Form(form): Form<MemberForm>,
) -> Response {
    let path = format!("/organizations/{org}/members");
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let actor = session.actor.require_writer()?;
        let role = OrgRole::parse(&form.role)?;
        match orgs::set_member(&state.db, actor, &org, form.username.trim(), role).await {
            Ok(()) => Ok(Redirect::to(&path).into_response()),
            // A mistyped user name or the last admin's demotion: said on the
            // page (which itself is "not found" for outsiders).
            Err(e @ (Error::InvalidInput(_) | Error::Conflict(_) | Error::NotFound(_))) => {
                show_members(&state, &session, &org, Some(session.lang.error(&e))).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    page(&session, &path, result)
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// Handles `POST /organizations/{org}/members/{user}/remove`.
/// Handles `GET /organizations/{org}/members/{user}/remove`: asks before
/// removing (the removal itself checks who may do it).
async fn confirm_remove(session: Session, Path((org, user)): Path<(String, String)>) -> Response {
    let path = format!("/organizations/{org}/members/{user}/remove");
    if session.username().is_none() {
        return to_login(&path);
    }
    render(&ConfirmPage {
        frame: Frame::new(&session, &path),
        title: session.lang.t("org.remove").to_owned(),
        question: session.lang.tf("org.remove_question", &[&user, &org]),
        action: path.clone(),
        button: session.lang.t("org.remove").to_owned(),
        cancel: format!("/organizations/{org}/members"),
    })
}

async fn remove_member(
    State(state): State<AppState>,
    session: Session,
    Path((org, user)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let path = format!("/organizations/{org}/members");
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let actor = session.actor.require_writer()?;
        match orgs::remove_member(&state.db, actor, &org, &user).await {
            Ok(()) => Ok(Redirect::to(&path).into_response()),
            Err(e @ (Error::InvalidInput(_) | Error::Conflict(_))) => {
                show_members(&state, &session, &org, Some(session.lang.error(&e))).await
            }
            Err(e) => Err(e),
        }
    }
    .await;
    page(&session, &path, result)
}
