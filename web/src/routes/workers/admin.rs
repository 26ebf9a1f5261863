//! The workers page for site admins: state, current jobs, last heartbeat,
//! models loaded. Everyone else gets "not found", as for a missing page.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use hub_core::Error;
use hub_core::jobs::workers::{self, WorkerStatus};

use crate::app::AppState;
use crate::auth::Session;
use crate::routes::ui::{Frame, page, render};

#[derive(Template)]
#[template(path = "admin_workers.html")]
struct WorkersPage {
    frame: Frame,
    workers: Vec<WorkerStatus>,
}

/// Handles `GET /admin/workers`.
pub async fn workers_page(State(state): State<AppState>, session: Session) -> Response {
    let path = "/admin/workers";
    let result = async {
        if !session.actor.user().is_some_and(|u| u.is_admin) {
            return Err(Error::not_found("no such page"));
        }
        let workers = workers::list(&state.db, &state.inference.jobs).await?;
        Ok(render(&WorkersPage {
            frame: Frame::new(&session, path),
            workers,
        }))
    }
    .await;
    page(&session, path, result)
}
