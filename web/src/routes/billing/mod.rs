//! The billing API (`/api/billing/…`, JSON, token or session).

mod statements;

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(statements::router())
}
