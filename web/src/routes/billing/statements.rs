//! A wallet's statements as JSON: `GET /api/billing/balance`,
//! `/transactions?page=&per_page=`, `/transactions.csv`,
//! `/usage?group=day|job&days=`, `/holds` and `/orders`. Each takes
//! `?org=NAME` for an organisation's wallet (its admins only; anyone else
//! gets 404). Money is an object: integer micro-yuan and a display string.
//! Who may read what is hub-core's `billing::statements::open`, run by the
//! [`ApiStatement`] extractor.

use axum::body::Body;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hub_core::Error;
use hub_core::billing::statements::{self, Line, Statement};
use hub_core::billing::{Credits, Payer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/billing/balance", get(balance))
        .route("/api/billing/transactions", get(transactions))
        .route("/api/billing/transactions.csv", get(transactions_csv))
        .route("/api/billing/usage", get(usage))
        .route("/api/billing/holds", get(holds))
        .route("/api/billing/orders", get(orders))
        .route("/api/billing/paid-inference", put(set_paid_inference))
        .route("/api/billing/storage", get(storage))
}

/// Handles `GET /api/billing/storage`: what the payer's repos take.
async fn storage(
    State(state): State<AppState>,
    ApiStatement(statement): ApiStatement,
) -> ApiResult<Json<hub_core::repos::storage::StorageUse>> {
    Ok(Json(statements::storage(&state.db, &statement).await?))
}

#[derive(Deserialize)]
struct PaidInference {
    enabled: bool,
}

/// Handles `PUT /api/billing/paid-inference` (`{"enabled": bool}`): whether
/// requests past the free quota are paid from this wallet.
async fn set_paid_inference(
    State(state): State<AppState>,
    Auth(actor): Auth,
    ApiStatement(statement): ApiStatement,
    Json(request): Json<PaidInference>,
) -> ApiResult<Json<Value>> {
    statements::set_paid_inference(&state.db, &actor, &statement, request.enabled).await?;
    Ok(Json(json!({ "paid_inference": request.enabled })))
}

/// The wallet the request asks for (`?org=NAME`, else the caller's own),
/// once hub-core has said the caller may read it.
pub struct ApiStatement(pub Statement);

#[derive(Deserialize)]
struct OrgQuery {
    org: Option<String>,
}

impl FromRequestParts<AppState> for ApiStatement {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Auth(actor) = Auth::from_request_parts(parts, state).await?;
        let Query(query) = Query::<OrgQuery>::from_request_parts(parts, state)
            .await
            .map_err(|e| Error::invalid(e.body_text()))?;
        let org = query.org.as_deref().filter(|o| !o.is_empty());
        Ok(ApiStatement(
            statements::open(&state.db, &actor, org).await?,
        ))
    }
}

/// Money in JSON: exact micro-yuan, and yuan for people.
#[derive(Serialize)]
struct Money {
    micro_yuan: i64,
    display: String,
}

fn money(c: Credits) -> Money {
    let sign = if c.0 < 0 { "-" } else { "" };
    Money {
        micro_yuan: c.0,
        display: format!("{sign}¥{}", Credits(c.0.saturating_abs()).yuan_exact()),
    }
}

fn payer_json(p: &Payer) -> Value {
    json!({ "name": p.name, "kind": if p.is_org { "org" } else { "user" } })
}

fn line_json(l: &Line) -> Value {
    json!({
        "id": l.id,
        "date": l.at,
        "code": l.code,
        "memo": l.memo,
        "reference": l.reference,
        "amount": money(l.amount),
        "flow": l.flow,
        "state": l.state,
    })
}

/// Handles `GET /api/billing/balance`.
async fn balance(
    State(state): State<AppState>,
    ApiStatement(s): ApiStatement,
) -> ApiResult<Json<Value>> {
    let b = statements::balance(&state.db, &s).await?;
    Ok(Json(json!({
        "payer": payer_json(s.payer()),
        "posted": money(b.posted),
        "held": money(b.held),
        "available": money(b.available),
    })))
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<i64>,
    per_page: Option<i64>,
}

/// Handles `GET /api/billing/transactions?page=&per_page=` (newest first;
/// `per_page` 1 to 100, 20 unless given).
async fn transactions(
    State(state): State<AppState>,
    ApiStatement(s): ApiStatement,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let page = statements::transactions(
        &state.db,
        &s,
        q.page.unwrap_or(1),
        q.per_page.unwrap_or(statements::PAGE_LINES),
    )
    .await?;
    Ok(Json(json!({
        "payer": payer_json(s.payer()),
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "transactions": page.lines.iter().map(line_json).collect::<Vec<_>>(),
    })))
}

/// Handles `GET /api/billing/transactions.csv`: every transaction, newest
/// first, streamed.
async fn transactions_csv(
    State(state): State<AppState>,
    ApiStatement(s): ApiStatement,
) -> Response {
    let filename = format!("kaiyuan-{}-transactions.csv", s.payer().name);
    let body = statements::csv(state.db.clone(), s).map(|chunk| {
        chunk.map_err(|e| {
            tracing::error!(error = %e, "CSV export failed");
            std::io::Error::other("CSV export failed")
        })
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[derive(Deserialize)]
struct UsageQuery {
    group: Option<String>,
    days: Option<i64>,
}

/// Handles `GET /api/billing/usage?group=day|job&days=N` (30 days unless
/// given, at most 366): priced usage only.
async fn usage(
    State(state): State<AppState>,
    ApiStatement(s): ApiStatement,
    Query(q): Query<UsageQuery>,
) -> ApiResult<Json<Value>> {
    let days = q.days.unwrap_or(statements::CHART_DAYS);
    match q.group.as_deref().unwrap_or("day") {
        "day" => {
            let list = statements::usage_by_day(&state.db, &s, days).await?;
            Ok(Json(json!({
                "payer": payer_json(s.payer()),
                "group": "day",
                "days": days,
                "total": money(statements::total_cost(&list)),
                "usage": list.iter().map(|d| json!({
                    "day": d.day,
                    "cost": money(d.cost),
                    "tokens": d.tokens,
                    "device_ms": d.device_ms,
                    "records": d.records,
                })).collect::<Vec<_>>(),
            })))
        }
        "job" => {
            let list = statements::usage_by_job(&state.db, &s, days).await?;
            Ok(Json(json!({
                "payer": payer_json(s.payer()),
                "group": "job",
                "days": days,
                "usage": list.iter().map(|j| json!({
                    "job_id": j.job_id,
                    "kind": j.kind,
                    "repo": j.repo,
                    "device_class": j.device_class,
                    "first_at": j.first_at,
                    "last_at": j.last_at,
                    "tokens": j.tokens,
                    "device_ms": j.device_ms,
                    "cost": money(j.cost),
                })).collect::<Vec<_>>(),
            })))
        }
        other => Err(Error::invalid(format!("group is day or job, not {other:?}")).into()),
    }
}

/// Handles `GET /api/billing/holds`: holds not yet posted, voided or expired.
async fn holds(
    State(state): State<AppState>,
    ApiStatement(s): ApiStatement,
) -> ApiResult<Json<Value>> {
    let list = statements::holds(&state.db, &s).await?;
    Ok(Json(json!({
        "payer": payer_json(s.payer()),
        "holds": list.iter().map(|h| json!({
            "id": h.id,
            "date": h.at,
            "code": h.code,
            "memo": h.memo,
            "reference": h.reference,
            "amount": money(h.amount),
            "timeout_at": h.timeout_at,
        })).collect::<Vec<_>>(),
    })))
}

/// Handles `GET /api/billing/orders`: top-up orders and their state.
async fn orders(
    State(state): State<AppState>,
    ApiStatement(s): ApiStatement,
) -> ApiResult<Json<Value>> {
    let list = statements::orders(&state.db, &s).await?;
    let date = |d: &Option<DateTime<Utc>>| d.map(|d| d.to_rfc3339());
    Ok(Json(json!({
        "payer": payer_json(s.payer()),
        "orders": list.iter().map(|o| json!({
            "id": o.id,
            "provider": o.provider,
            "amount_minor": o.amount_minor,
            "currency": o.currency,
            "credits": money(o.credits),
            "state": o.state,
            "created_at": o.created_at,
            "paid_at": date(&o.paid_at),
            "transfer_id": o.transfer_id,
        })).collect::<Vec<_>>(),
    })))
}
