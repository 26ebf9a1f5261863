//! Top-ups: orders paid through a payment provider, and the providers'
//! notifications (authenticated by the provider's signature only).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_core::billing::orders::{self, NewOrder, OrderView};
use hub_core::billing::providers::Headers;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiError;
use crate::request::Origin;

/// The largest notification body read: providers send a few KiB.
pub const NOTIFICATION_LIMIT: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/billing/notify/{provider}",
            post(notify).layer(DefaultBodyLimit::max(NOTIFICATION_LIMIT)),
        )
        .route("/api/billing/orders", post(create_order))
        .route("/api/billing/orders/{id}", get(show_order))
}

/// Handles `POST /api/billing/notify/{provider}`: the raw body, checked
/// against the provider's signature before anything is read from it.
async fn notify(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers = Headers::new(
        headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );
    let ack = orders::receive_notification(&state, &provider, &headers, &body).await;
    let status = StatusCode::from_u16(ack.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response()
}

#[derive(Deserialize)]
struct OrderRequest {
    provider: String,
    /// Yuan, as a string: `"12.50"`.
    amount: String,
    org: Option<String>,
}

/// Handles `POST /api/billing/orders`: opens a top-up order and answers
/// where to pay (`checkout_url`, or `qr_svg` to scan).
async fn create_order(
    State(state): State<AppState>,
    Auth(actor): Auth,
    origin: Origin,
    Json(request): Json<OrderRequest>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let new = NewOrder {
        provider: &request.provider,
        amount: &request.amount,
        org: request.org.as_deref().filter(|o| !o.is_empty()),
    };
    let order = orders::create(&state, &actor, &new, &origin.base_url).await?;
    Ok((StatusCode::CREATED, Json(order)))
}

/// Handles `GET /api/billing/orders/{id}`: the order's state, for its owner.
async fn show_order(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    Ok(Json(orders::show(&state, &actor, &id).await?))
}
