//! The site admins' billing desk, `/admin/billing`: the rate card (and a
//! form to add a rate), a grant form, a refund form, and the result of the
//! ledger's consistency check. Everyone else gets "not found". The rules
//! are hub-core's `billing::desk`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hub_core::Error;
use hub_core::billing::Credits;
use hub_core::billing::desk::{self, Desk};
use serde::Deserialize;

use super::money::Money;
use crate::app::AppState;
use crate::auth::Session;
use crate::routes::ui::{Frame, page, render};

const PATH: &str = "/admin/billing";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PATH, get(desk_page))
        .route(
            "/admin/billing/rates",
            post(add_rate).get(|| async { Redirect::to(PATH) }),
        )
        .route(
            "/admin/billing/grant",
            post(grant).get(|| async { Redirect::to(PATH) }),
        )
        .route(
            "/admin/billing/refund",
            post(refund).get(|| async { Redirect::to(PATH) }),
        )
}

#[derive(Template)]
#[template(path = "admin_billing.html")]
struct DeskPage {
    frame: Frame,
    money: Money,
    desk: Desk,
    /// After a change: what was done (a key of the UI strings).
    notice: Option<&'static str>,
    /// The transfer a grant or refund just made, for its receipt's id.
    transfer: Option<String>,
    error: Option<String>,
}

impl DeskPage {
    fn debits(&self) -> Credits {
        Credits(self.desk.check.debits_posted)
    }

    fn credits(&self) -> Credits {
        Credits(self.desk.check.credits_posted)
    }
}

#[derive(Deserialize)]
struct DoneQuery {
    done: Option<String>,
    transfer: Option<String>,
}

/// Handles `GET /admin/billing[?done=rate|grant|refund&transfer=ID]`.
async fn desk_page(
    State(state): State<AppState>,
    session: Session,
    Query(query): Query<DoneQuery>,
) -> Response {
    let notice = match query.done.as_deref() {
        Some("rate") => Some("billing.admin.rate_added"),
        Some("grant") => Some("billing.admin.granted"),
        Some("refund") => Some("billing.admin.refunded"),
        _ => None,
    };
    show(&state, &session, notice, query.transfer, None).await
}

async fn show(
    state: &AppState,
    session: &Session,
    notice: Option<&'static str>,
    transfer: Option<String>,
    error: Option<String>,
) -> Response {
    let result = async {
        let desk = desk::overview(&state.db, &session.actor).await?;
        let status = if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let body = DeskPage {
            frame: Frame::new(session, PATH),
            money: Money {
                lang: session.lang,
                usd_per_cny: state.config.usd_per_cny,
            },
            desk,
            notice,
            transfer,
            error,
        };
        Ok((status, render(&body)).into_response())
    }
    .await;
    page(session, PATH, result)
}

/// After a form: back to the desk with a notice, or the desk again with
/// the refusal said on it (bad input); other errors as an error page.
async fn after<T>(
    state: &AppState,
    session: &Session,
    result: Result<T, Error>,
    done: impl FnOnce(T) -> String,
) -> Response {
    match result {
        Ok(value) => Redirect::to(&done(value)).into_response(),
        Err(e @ (Error::InvalidInput(_) | Error::Conflict(_))) => {
            show(state, session, None, None, Some(session.lang.error(&e))).await
        }
        // A payer that does not exist, said on the desk (only admins get here).
        Err(e @ Error::NotFound(_)) if desk::site_admin(&session.actor).is_ok() => {
            show(state, session, None, None, Some(session.lang.error(&e))).await
        }
        Err(e) => page(session, PATH, Err(e)),
    }
}

fn done_with_transfer(kind: &str, transfer: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(transfer.as_bytes()).collect();
    format!("{PATH}?done={kind}&transfer={id}")
}

#[derive(Deserialize)]
struct RateForm {
    csrf: String,
    device_class: String,
    per_second: String,
    per_thousand_tokens: String,
}

/// Handles `POST /admin/billing/rates`: a new price for a device class.
async fn add_rate(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<RateForm>,
) -> Response {
    let result = match session.verify_csrf(&form.csrf) {
        Ok(()) => {
            desk::add_rate(
                &state.db,
                &session.actor,
                &form.device_class,
                &form.per_second,
                &form.per_thousand_tokens,
            )
            .await
        }
        Err(e) => Err(e),
    };
    after(&state, &session, result, |_| format!("{PATH}?done=rate")).await
}

#[derive(Deserialize)]
struct GrantForm {
    csrf: String,
    /// `user` or `org`.
    kind: String,
    name: String,
    amount: String,
    reason: String,
}

/// Handles `POST /admin/billing/grant`: credits from the promotional account.
async fn grant(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<GrantForm>,
) -> Response {
    let result = match session.verify_csrf(&form.csrf) {
        Ok(()) => {
            desk::grant(
                &state.db,
                &session.actor,
                &form.kind,
                &form.name,
                &form.amount,
                &form.reason,
            )
            .await
        }
        Err(e) => Err(e),
    };
    after(&state, &session, result, |(_, id)| {
        done_with_transfer("grant", &id)
    })
    .await
}

#[derive(Deserialize)]
struct RefundForm {
    csrf: String,
    kind: String,
    name: String,
    amount: String,
    reason: String,
    reference: String,
}

/// Handles `POST /admin/billing/refund`: gives back part or all of a charge.
async fn refund(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<RefundForm>,
) -> Response {
    let result = match session.verify_csrf(&form.csrf) {
        Ok(()) => {
            desk::refund(
                &state.db,
                &session.actor,
                &form.kind,
                &form.name,
                &form.amount,
                &form.reason,
                &form.reference,
            )
            .await
        }
        Err(e) => Err(e),
    };
    after(&state, &session, result, |(_, id)| {
        done_with_transfer("refund", &id)
    })
    .await
}
