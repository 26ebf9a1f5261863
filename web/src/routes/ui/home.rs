//! The home page.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use hub_core::repos::{Repo, RepoType, manage};

use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    frame: Frame,
    sections: Vec<(&'static str, Vec<Repo>)>,
}

/// Handles `GET /`.
async fn home(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        let mut sections = Vec::new();
        for (key, kind) in [
            ("home.recent_models", RepoType::Model),
            ("home.recent_datasets", RepoType::Dataset),
            ("home.recent_spaces", RepoType::Space),
        ] {
            sections.push((key, manage::recent_public(&state, kind, 12).await?));
        }
        Ok(render(&Home {
            frame: Frame::new(&session, "/"),
            sections,
        }))
    }
    .await;
    page(&session, "/", result)
}
