//! The billing pages: `/settings/billing` (a user's own wallet) and
//! `/organizations/{org}/settings/billing` (an organisation's, for its
//! admins), each with printable receipts under `…/receipts/{transfer id}`;
//! and the site admins' desk, `/admin/billing` ([`admin`]). What a page
//! shows and who may see it are hub-core's `billing::statements`.

mod admin;
pub mod chart;
pub mod money;

use std::collections::HashMap;

use askama::Template;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::Redirect;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hub_core::billing::Payer;
use hub_core::billing::statements::{self, Line, Overview, Statement};
use serde::Deserialize;

use super::{Frame, page, render, to_login};
use crate::app::AppState;
use crate::auth::Session;
use money::Money;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/billing", get(billing_page))
        .route("/settings/billing/receipts/{*id}", get(receipt_page))
        .route("/settings/billing/paid-inference", post(paid_inference))
        .route(
            "/organizations/{org}/settings/billing/paid-inference",
            post(paid_inference),
        )
        .route("/organizations/{org}/settings/billing", get(billing_page))
        .route(
            "/organizations/{org}/settings/billing/receipts/{*id}",
            get(receipt_page),
        )
        .merge(admin::router())
}

/// The wallet a billing page is about, once hub-core's `statements::open`
/// has said the visitor may see it: their own, or (with `{org}` in the
/// path) an organisation they administer. Anonymous visitors go to the
/// log-in page; others get "not found" in their language.
pub struct BillingOf {
    pub session: Session,
    pub statement: Statement,
    /// The page's own address: `/settings/billing` or
    /// `/organizations/{org}/settings/billing`.
    pub base: String,
}

impl FromRequestParts<AppState> for BillingOf {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let path = parts.uri.path().to_owned();
        if session.actor.is_anonymous() {
            return Err(to_login(&path));
        }
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| p)
            .unwrap_or_default();
        let org = params.get("org").map(String::as_str);
        match statements::open(&state.db, &session.actor, org).await {
            Ok(statement) => Ok(BillingOf {
                base: base_of(statement.payer()),
                session,
                statement,
            }),
            Err(e) => Err(page(&session, &path, Err(e))),
        }
    }
}

/// Where a payer's billing page is.
pub fn base_of(payer: &Payer) -> String {
    if payer.is_org {
        format!("/organizations/{}/settings/billing", payer.name)
    } else {
        "/settings/billing".to_owned()
    }
}

/// A transfer id as a path (ids may hold `/`, which stays).
pub fn id_path(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn money_for(state: &AppState, session: &Session) -> Money {
    Money {
        lang: session.lang,
        usd_per_cny: state.config.usd_per_cny,
    }
}

#[derive(Template)]
#[template(path = "billing.html")]
struct BillingPage {
    frame: Frame,
    money: Money,
    payer: Payer,
    base: String,
    /// `?org=NAME` for the API links of an organisation's page.
    api_query: String,
    overview: Overview,
    chart: String,
}

impl BillingPage {
    fn receipt_url(&self, l: &Line) -> String {
        format!("{}/receipts/{}", self.base, id_path(&l.id))
    }

    fn code_name(&self, code: &str) -> String {
        code_name(self.frame.lang, code)
    }

    fn order_state(&self, state: &str) -> String {
        let key = format!("billing.order_state.{state}");
        match self.frame.lang.t(&key) {
            "??" => state.to_owned(),
            name => name.to_owned(),
        }
    }

    /// `credit` for money in, `debit` for money out (a class of the cell).
    fn direction(&self, l: &Line) -> &'static str {
        if l.amount.0 < 0 { "debit" } else { "credit" }
    }

    fn id_path(&self, id: &str) -> String {
        id_path(id)
    }

    fn usage_total(&self) -> hub_core::billing::Credits {
        statements::total_cost(&self.overview.days)
    }

    /// Device time in seconds, one decimal.
    fn seconds(&self, ms: &i64) -> String {
        format!("{:.1}", *ms as f64 / 1000.0)
    }
}

/// The name of a transfer's code in the page's language (unknown codes as
/// they are).
fn code_name(lang: crate::i18n::Lang, code: &str) -> String {
    let key = format!("billing.code.{code}");
    match lang.t(&key) {
        "??" => code.to_owned(),
        name => name.to_owned(),
    }
}

#[derive(Deserialize)]
struct PaidInferenceForm {
    csrf: String,
    enabled: bool,
}

/// Handles `POST …/settings/billing/paid-inference`: turns paying for
/// inference past the free quota on or off, then shows the page again.
async fn paid_inference(
    State(state): State<AppState>,
    billing: BillingOf,
    Form(form): Form<PaidInferenceForm>,
) -> Response {
    let BillingOf {
        session,
        statement,
        base,
    } = billing;
    let result = match session.verify_csrf(&form.csrf) {
        Ok(()) => {
            statements::set_paid_inference(&state.db, &session.actor, &statement, form.enabled)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Redirect::to(&base).into_response(),
        Err(e) => page(&session, &base, Err(e)),
    }
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
}

/// Handles `GET /settings/billing[?page=N]` and
/// `GET /organizations/{org}/settings/billing[?page=N]`.
async fn billing_page(
    State(state): State<AppState>,
    billing: BillingOf,
    Query(query): Query<PageQuery>,
) -> Response {
    let BillingOf {
        session,
        statement,
        base,
    } = billing;
    let result = statements::overview(&state.db, &statement, query.page.unwrap_or(1)).await;
    let result = result.map(|overview| {
        let money = money_for(&state, &session);
        let payer = statement.payer().clone();
        render(&BillingPage {
            frame: Frame::new(&session, &base),
            chart: chart::usage_svg(&overview.days, session.lang, &money),
            api_query: if payer.is_org {
                format!("?org={}", payer.name)
            } else {
                String::new()
            },
            money,
            payer,
            base: base.clone(),
            overview,
        })
    });
    page(&session, &base, result)
}

#[derive(Template)]
#[template(path = "billing_receipt.html")]
struct ReceiptPage {
    frame: Frame,
    money: Money,
    payer: Payer,
    base: String,
    line: Line,
    code: String,
}

/// Handles `GET /settings/billing/receipts/{id}` and
/// `GET /organizations/{org}/settings/billing/receipts/{id}`: a printable
/// receipt for a transfer on the wallet, or for a paid top-up order.
async fn receipt_page(
    State(state): State<AppState>,
    billing: BillingOf,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let BillingOf {
        session,
        statement,
        base,
    } = billing;
    let id = params.get("id").cloned().unwrap_or_default();
    let path = format!("{base}/receipts/{}", id_path(&id));
    let result = statements::receipt(&state.db, &statement, &id).await;
    let result = result.map(|line| {
        render(&ReceiptPage {
            frame: Frame::new(&session, &path),
            money: money_for(&state, &session),
            payer: statement.payer().clone(),
            base,
            code: code_name(session.lang, &line.code),
            line,
        })
    });
    page(&session, &path, result)
}

#[cfg(test)]
mod tests {
    use super::id_path;

    #[test]
    fn transfer_ids_become_paths() {
        assert_eq!(id_path("grant/0b1c-2d"), "grant/0b1c-2d");
        assert_eq!(id_path("a b?#%"), "a%20b%3F%23%25");
        assert_eq!(id_path("订单"), "%E8%AE%A2%E5%8D%95");
    }
}
