//! A Spaces runner's tunnel: `GET /api/workers/tunnel?session=S` with
//! `Upgrade: kaiyuan-tunnel`, upgraded to a connection on which the runner
//! serves HTTP/2 and the hub is the client ([`crate::spaces::tunnels`]).

use axum::Extension;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hub_core::Error;
use hub_core::jobs::protocol::TUNNEL_UPGRADE;
use hub_core::jobs::workers;
use uuid::Uuid;

use super::WorkerAuth;
use crate::app::AppState;
use crate::errors::ApiResult;
use crate::spaces::Tunnels;

#[derive(serde::Deserialize)]
pub(super) struct TunnelQuery {
    session: Uuid,
}

/// Handles `GET /api/workers/tunnel?session=S`: `101`, then the tunnel.
pub(super) async fn open(
    State(state): State<AppState>,
    Extension(tunnels): Extension<Tunnels>,
    WorkerAuth(worker): WorkerAuth,
    Query(query): Query<TunnelQuery>,
    mut request: Request,
) -> ApiResult<Response> {
    workers::require_session(&state.db, worker, query.session).await?;
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok());
    if !upgrade.is_some_and(|v| v.eq_ignore_ascii_case(TUNNEL_UPGRADE)) {
        return Err(Error::invalid(format!("the tunnel needs Upgrade: {TUNNEL_UPGRADE}")).into());
    }
    let upgraded = hyper::upgrade::on(&mut request);
    let session = query.session;
    tokio::spawn(async move {
        match upgraded.await {
            Ok(io) => tunnels.serve(session, io).await,
            Err(e) => tracing::warn!(%session, error = %e, "a Spaces tunnel was not upgraded"),
        }
    });
    Ok((
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static(TUNNEL_UPGRADE)),
        ],
    )
        .into_response())
}
