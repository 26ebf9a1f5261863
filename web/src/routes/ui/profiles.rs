//! Profiles: `/{name}` shows a user or an organisation with the repos the
//! visitor may see (private ones only for those allowed to read them).
//! Memberships are shown to the people concerned only: a user's orgs to
//! that user, an org's members to its members (hub-core keeps membership
//! lists from outsiders).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use hub_core::Error;
use hub_core::accounts::orgs::{self, Member};
use hub_core::accounts::users;
use hub_core::repos::{Repo, RepoType, manage};

use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;

pub fn router() -> Router<AppState> {
    Router::new().route("/{name}", get(profile))
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    frame: Frame,
    name: String,
    full_name: String,
    is_org: bool,
    /// The visitor's role in this org, if any.
    my_role: Option<String>,
    /// Orgs of the user (own profile) or members of the org (members only).
    people: Vec<Member>,
    sections: Vec<(&'static str, Vec<Repo>)>,
    is_me: bool,
}

/// Handles `GET /{name}`.
async fn profile(
    State(state): State<AppState>,
    session: Session,
    Path(name): Path<String>,
) -> Response {
    let path = format!("/{name}");
    let result = async {
        let me = session.actor.user();
        let (canonical, full_name, is_org, my_role, people, is_me) =
            if let Some(user) = users::find_by_name(&state.db, &name).await? {
                let is_me = me.is_some_and(|m| m.id == user.id);
                let orgs = if is_me {
                    orgs::of_user(&state.db, user.id).await?
                } else {
                    Vec::new()
                };
                (user.name, user.full_name, false, None, orgs, is_me)
            } else if let Some(org) = orgs::find(&state.db, &name).await? {
                let role = match me {
                    Some(m) => orgs::role_of(&state.db, org.id, m.id).await?,
                    None => None,
                };
                let members = if role.is_some() || me.is_some_and(|m| m.is_admin) {
                    orgs::members(&state.db, org.id).await?
                } else {
                    Vec::new()
                };
                let role = role.map(|r| r.as_str().to_owned());
                (org.name, org.full_name, true, role, members, false)
            } else {
                return Err(Error::not_found(format!(
                    "no user or organization '{name}'"
                )));
            };
        let repos = manage::list_in_namespace(&state, &session.actor, &canonical).await?;
        let mut sections: Vec<(&'static str, Vec<Repo>)> = vec![
            ("nav.models", Vec::new()),
            ("nav.datasets", Vec::new()),
            ("nav.spaces", Vec::new()),
        ];
        for repo in repos {
            let slot = match repo.kind() {
                RepoType::Model => 0,
                RepoType::Dataset => 1,
                RepoType::Space => 2,
            };
            sections[slot].1.push(repo);
        }
        Ok(render(&ProfilePage {
            frame: Frame::new(&session, &path),
            name: canonical,
            full_name,
            is_org,
            my_role,
            people,
            sections,
            is_me,
        }))
    }
    .await;
    page(&session, &path, result)
}
