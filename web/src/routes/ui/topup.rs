//! The top-up page, `/settings/billing/topup` and
//! `/organizations/{org}/settings/billing/topup` (the organisation's admins
//! only): amount and provider, then the QR code to scan or the provider's
//! page, and "waiting for payment" until the order is paid. The page's
//! script (`/static/topup.js`) talks to the orders API.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use hub_core::billing::orders::{self, TopupOptions};
use serde::Deserialize;

use super::{Frame, page, render, to_login};
use crate::app::AppState;
use crate::auth::Session;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/billing/topup", get(own_topup))
        .route(
            "/organizations/{org}/settings/billing/topup",
            get(org_topup),
        )
}

#[derive(Template)]
#[template(path = "billing_topup.html")]
struct TopupPage {
    frame: Frame,
    options: TopupOptions,
    /// The organisation paid for, if any (sent with the order).
    org: String,
    /// An order to resume watching (back from the provider's page).
    order: String,
}

#[derive(Deserialize)]
struct TopupQuery {
    order: Option<String>,
}

/// Handles `GET /settings/billing/topup[?order=ID]`.
async fn own_topup(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<TopupQuery>,
) -> Response {
    show(
        &state,
        &session,
        None,
        query,
        "/settings/billing/topup".into(),
    )
    .await
}

/// Handles `GET /organizations/{org}/settings/billing/topup[?order=ID]`.
async fn org_topup(
    State(state): State<AppState>,
    session: Session,
    Path(org): Path<String>,
    Query(query): Query<TopupQuery>,
) -> Response {
    let path = format!("/organizations/{org}/settings/billing/topup");
    show(&state, &session, Some(&org), query, path).await
}

async fn show(
    state: &AppState,
    session: &Session,
    org: Option<&str>,
    query: TopupQuery,
    path: String,
) -> Response {
    if session.actor.is_anonymous() {
        return to_login(&path);
    }
    let result = orders::topup_options(state, &session.actor, org)
        .await
        .map(|options| {
            render(&TopupPage {
                frame: Frame::new(session, &path),
                org: if options.is_org {
                    options.payer.clone()
                } else {
                    String::new()
                },
                options,
                order: query
                    .order
                    .filter(|o| o.len() <= 64 && o.bytes().all(|b| b.is_ascii_alphanumeric()))
                    .unwrap_or_default(),
            })
        });
    page(session, &path, result)
}
