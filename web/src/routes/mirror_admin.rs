//! The mirror page for site admins (`/admin/mirror`): upstreams, the
//! policy, mirrored repos with their sync progress and errors, what the
//! cache holds and what eviction removed. Everyone else gets "not found".

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use hub_core::Error;
use hub_core::mirror::{self, Overview};

use crate::app::AppState;
use crate::auth::Session;
use crate::routes::ui::{Frame, page, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/mirror", get(mirror_page))
}

#[derive(Template)]
#[template(path = "admin_mirror.html")]
struct MirrorPage {
    frame: Frame,
    mirror: Overview,
}

impl MirrorPage {
    fn bytes(&self, n: &i64) -> String {
        self.frame.lang.size(&u64::try_from(*n).unwrap_or(0))
    }

    /// Done of total, in percent, for a sync under way.
    fn percent(&self, done: &i64, total: &i64) -> i64 {
        if *total <= 0 { 100 } else { done * 100 / total }
    }
}

/// Handles `GET /admin/mirror`.
pub async fn mirror_page(State(state): State<AppState>, session: Session) -> Response {
    let path = "/admin/mirror";
    let result = async {
        if !session.actor.user().is_some_and(|u| u.is_admin) {
            return Err(Error::not_found("no such page"));
        }
        Ok(render(&MirrorPage {
            frame: Frame::new(&session, path),
            mirror: mirror::overview(&state.db).await?,
        }))
    }
    .await;
    page(&session, path, result)
}
