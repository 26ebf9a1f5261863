//! The hub ⇄ inference-worker protocol (`worker_protocol`), under
//! `/api/workers`, for worker tokens only; and the admin page of workers.

mod admin;
mod tunnel;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures::{FutureExt, StreamExt};
use hub_core::Error;
use hub_core::finetune::artifacts::{self, Area};
use hub_core::jobs::protocol::{
    ClaimRequest, Event, EventsAck, Heartbeat, HeartbeatResponse, RegisterRequest, RegisterResponse,
};
use hub_core::jobs::workers::{self, WorkerId};
use hub_core::jobs::{events, queue};
use uuid::Uuid;

use crate::app::AppState;
use crate::errors::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/workers/register", post(register))
        .route("/api/workers/heartbeat", post(heartbeat))
        .route("/api/workers/claim", post(claim))
        .route("/api/workers/jobs/{id}/events", post(job_events))
        .route("/api/workers/jobs/{id}/data/{name}", get(read_data))
        .route(
            "/api/workers/jobs/{id}/checkpoints/{step}/{name}",
            get(read_checkpoint)
                .put(write_checkpoint)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/workers/jobs/{id}/output/{name}",
            put(write_output).layer(DefaultBodyLimit::disable()),
        )
        .route(hub_core::jobs::protocol::TUNNEL_PATH, get(tunnel::open))
        .route("/admin/workers", get(admin::workers_page))
}

/// A worker, by its worker token (`Authorization: Bearer kyw_...`). Nothing
/// else is accepted here, and a worker token is accepted nowhere else.
pub struct WorkerAuth(pub WorkerId);

impl FromRequestParts<AppState> for WorkerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(Error::Unauthenticated)?
            .to_str()
            .map_err(|_| Error::InvalidCredentials)?;
        let (scheme, token) = header.split_once(' ').ok_or(Error::InvalidCredentials)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Error::InvalidCredentials.into());
        }
        Ok(WorkerAuth(workers::authenticate(&state.db, token).await?))
    }
}

/// Handles `POST /api/workers/register`: a new session for this worker.
async fn register(
    State(state): State<AppState>,
    WorkerAuth(worker): WorkerAuth,
    Json(request): Json<RegisterRequest>,
) -> ApiResult<Json<RegisterResponse>> {
    Ok(Json(
        workers::register(&state.db, &state.inference.jobs, worker, &request).await?,
    ))
}

/// Handles `POST /api/workers/heartbeat`: renews leases, answers cancellations.
async fn heartbeat(
    State(state): State<AppState>,
    WorkerAuth(worker): WorkerAuth,
    Json(beat): Json<Heartbeat>,
) -> ApiResult<Json<HeartbeatResponse>> {
    Ok(Json(
        workers::heartbeat(&state.db, &state.inference.jobs, worker, &beat).await?,
    ))
}

/// Handles `POST /api/workers/claim`: a job (200), or 204 after the wait.
async fn claim(
    State(state): State<AppState>,
    WorkerAuth(worker): WorkerAuth,
    Json(request): Json<ClaimRequest>,
) -> ApiResult<Response> {
    Ok(match queue::claim(&state, worker, &request).await? {
        Some(job) => Json(job).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// The longest NDJSON line accepted (an embeddings event of a large batch).
const MAX_LINE: usize = 256 * 1024 * 1024;

#[derive(serde::Deserialize)]
struct EventsQuery {
    /// The attempt the events belong to (optional; an addition to the
    /// protocol): a stale attempt is refused even within the same worker.
    attempt: Option<u32>,
}

/// Handles `POST /api/workers/jobs/{id}/events[?attempt=N]`: the job's
/// events as a streamed NDJSON body. Lines that have arrived are stored
/// together, so a hub that falls behind catches up in fewer transactions.
async fn job_events(
    State(state): State<AppState>,
    WorkerAuth(worker): WorkerAuth,
    Path(id): Path<Uuid>,
    Query(query): Query<EventsQuery>,
    body: Body,
) -> ApiResult<Json<EventsAck>> {
    let mut body = body.into_data_stream();
    let mut buffer: Vec<u8> = Vec::new();
    let mut ack = EventsAck::default();
    let mut ended = false;
    while !ended {
        match body.next().await {
            Some(Ok(chunk)) => {
                buffer.extend_from_slice(&chunk);
                // Take whatever else is already here without waiting.
                while let Some(next) = body.next().now_or_never() {
                    match next {
                        Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                        Some(Err(e)) => return broke_off(&e, ack),
                        None => {
                            ended = true;
                            break;
                        }
                    }
                }
            }
            Some(Err(e)) => return broke_off(&e, ack),
            None => ended = true,
        }
        if buffer.len() > MAX_LINE {
            return Err(Error::too_large("an events line is too long").into());
        }
        let batch = take_lines(&mut buffer, ended)?;
        if batch.is_empty() {
            continue;
        }
        let stored = events::store(&state, worker, id, query.attempt, &batch).await?;
        ack = stored.ack;
        if ack.cancelled || stored.finished {
            break;
        }
    }
    Ok(Json(ack))
}

/// A body that broke off (the worker's connection failed, or went silent
/// past the body timeout) ends the request with what is stored so far:
/// the worker goes on in a new one from there (the hub ignores lines it
/// already has). The part line it was sending is dropped, and resent.
fn broke_off(e: &axum::Error, ack: EventsAck) -> ApiResult<Json<EventsAck>> {
    tracing::debug!(error = %e, "an events body broke off");
    Ok(Json(ack))
}

/// Parses the complete lines of `buffer` (all of it at the end of the body).
fn take_lines(buffer: &mut Vec<u8>, at_end: bool) -> Result<Vec<Event>, ApiError> {
    let cut = if at_end {
        buffer.len()
    } else {
        match buffer.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None => return Ok(Vec::new()),
        }
    };
    let complete: Vec<u8> = buffer.drain(..cut).collect();
    complete
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| {
            serde_json::from_slice(line)
                .map_err(|e| Error::invalid(format!("bad event line: {e}")).into())
        })
        .collect()
}

/// Handles `GET /api/workers/jobs/{id}/data/{name}`: a fine-tune run's
/// examples, for the worker it is leased to.
async fn read_data(
    State(state): State<AppState>,
    WorkerAuth(worker): WorkerAuth,
    Path((id, name)): Path<(Uuid, String)>,
) -> ApiResult<Response> {
    let stream = artifacts::read(&state, worker, id, Area::Data, &name).await?;
    Ok(Body::from_stream(stream).into_response())
}

/// Handles `GET /api/workers/jobs/{id}/checkpoints/{step}/{name}`: a file
/// of a checkpoint an earlier attempt uploaded, to resume from.
async fn read_checkpoint(
    State(state): State<AppState>,
    WorkerAuth(worker): WorkerAuth,
    Path((id, step, name)): Path<(Uuid, u64, String)>,
) -> ApiResult<Response> {
    let stream = artifacts::read(&state, worker, id, Area::Checkpoint(step), &name).await?;
    Ok(Body::from_stream(stream).into_response())
}

/// Handles `PUT /api/workers/jobs/{id}/checkpoints/{step}/{name}`.
async fn write_checkpoint(
    State(state): State<AppState>,
    WorkerAuth(worker): WorkerAuth,
    Path((id, step, name)): Path<(Uuid, u64, String)>,
    body: Body,
) -> ApiResult<StatusCode> {
    let body = body
        .into_data_stream()
        .map(|c| c.map_err(std::io::Error::other));
    artifacts::write(&state, worker, id, Area::Checkpoint(step), &name, body).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Handles `PUT /api/workers/jobs/{id}/output/{name}`: the trained adapter.
async fn write_output(
    State(state): State<AppState>,
    WorkerAuth(worker): WorkerAuth,
    Path((id, name)): Path<(Uuid, String)>,
    body: Body,
) -> ApiResult<StatusCode> {
    let body = body
        .into_data_stream()
        .map(|c| c.map_err(std::io::Error::other));
    artifacts::write(&state, worker, id, Area::Output, &name, body).await?;
    Ok(StatusCode::NO_CONTENT)
}
