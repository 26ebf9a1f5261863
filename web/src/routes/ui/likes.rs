//! Likes from the browser: a button on the repo page (the partial
//! `templates/like_button.html`, filled from [`LikeButton`]) that posts to
//! `/{ns}/{name}/like` and toggles the visitor's like.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use hub_core::Error;
use hub_core::accounts::Actor;
use hub_core::repos::access::{self, Authorized};
use hub_core::repos::{Repo, RepoType, counters};
use serde::Deserialize;

use super::page;
use super::repo_routes::{each_kind, repo_url, to_repo_page};
use crate::app::AppState;
use crate::auth::Session;

pub fn router() -> Router<AppState> {
    each_kind("/like", |kind| {
        post(move |s, session, p, f| toggle(kind, s, session, p, f))
            .get(move |p| to_repo_page(kind, p, ""))
    })
}

/// What the like button shows: where it posts, the count, and whether the
/// visitor likes the repo (anonymous visitors see the count and a link to
/// log in).
pub struct LikeButton {
    pub action: String,
    pub likes: i64,
    pub liked: bool,
    pub signed_in: bool,
}

impl LikeButton {
    pub async fn of(state: &AppState, actor: &Actor, repo: &Repo) -> Result<LikeButton, Error> {
        let liked = match actor.user() {
            Some(user) => counters::has_liked(&state.db, user.id, repo.id).await?,
            None => false,
        };
        Ok(LikeButton {
            action: format!("{}/like", repo_url(repo)),
            likes: repo.likes,
            liked,
            signed_in: !actor.is_anonymous(),
        })
    }
}

#[derive(Deserialize)]
struct LikeForm {
    csrf: String,
}

/// Handles `POST /{ns}/{name}/like`: likes, or unlikes when already liked.
async fn toggle(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
    Form(form): Form<LikeForm>,
) -> Response {
    let path = format!("/{}{ns}/{name}/like", kind.url_prefix());
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let user = session.actor.require_user()?;
        let repo: Authorized = access::authorize(&state, &session.actor, kind, &ns, &name).await?;
        if counters::has_liked(&state.db, user.user.id, repo.id).await? {
            counters::unlike(&state.db, user, &repo).await?;
        } else {
            counters::like(&state.db, user, &repo).await?;
        }
        Ok(Redirect::to(&repo_url(&repo)).into_response())
    }
    .await;
    page(&session, &path, result)
}
