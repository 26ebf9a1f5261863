//! Route families. Each handler is a few lines: parse, call one core
//! function, answer; the route it serves is in its doc comment.

pub mod health;
pub mod hf;
pub mod ui;

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(hf::router())
        .merge(ui::router())
}
