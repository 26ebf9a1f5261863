//! The home page: trending and recently updated models, datasets and spaces.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use hub_core::repos::RepoType;
use hub_core::search::{self, ListQuery, Listed, Sort};

use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;

/// Repos in each list of the home page.
const PER_LIST: usize = 6;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

/// One list on the home page.
struct Section {
    title_key: &'static str,
    more_href: String,
    repos: Vec<Listed>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    frame: Frame,
    sections: Vec<Section>,
}

/// Handles `GET /`.
async fn home(State(state): State<AppState>, session: Session) -> Response {
    let result = async {
        let mut sections = Vec::new();
        for (kind, trending_key, recent_key) in [
            (
                RepoType::Model,
                "home.trending_models",
                "home.recent_models",
            ),
            (
                RepoType::Dataset,
                "home.trending_datasets",
                "home.recent_datasets",
            ),
            (
                RepoType::Space,
                "home.trending_spaces",
                "home.recent_spaces",
            ),
        ] {
            for (key, sort, sort_name) in [
                (trending_key, Sort::Trending, "trending"),
                (recent_key, Sort::LastModified, "modified"),
            ] {
                let query = ListQuery {
                    sort,
                    limit: PER_LIST,
                    ..ListQuery::new(kind)
                };
                let (repos, _) = search::list(&state.db, &session.actor, &query).await?;
                sections.push(Section {
                    title_key: key,
                    more_href: format!("/{}?sort={sort_name}", kind.plural()),
                    repos,
                });
            }
        }
        Ok(render(&Home {
            frame: Frame::new(&session, "/"),
            sections,
        }))
    }
    .await;
    page(&session, "/", result)
}
