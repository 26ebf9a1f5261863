//! The write-only Xet CAS, as `hf_xet` calls it (hf-hub-api.md §7.2): the
//! token endpoint under `/api`, the CAS under `/cas` (authorised by the
//! token it hands out), and the client's telemetry. Downloads never use
//! Xet: no read tokens, and the chunk, grant and v2 shard calls answer 404
//! so the client falls back to the calls below.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::TryStreamExt;
use hub_core::Error;
use hub_core::xet::cas::{self, CasWriter};
use serde_json::json;

use super::hf::repo_type;
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::{ApiError, ApiResult};
use crate::params::Params;
use crate::request::Origin;

/// The Xet prefixes clients use: hf_xet 1.8 says `default`, the docs
/// `default-merkledb`.
const PREFIXES: [&str; 2] = ["default", "default-merkledb"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/{repo_type}/{namespace}/{name}/xet-write-token/{revision}",
            get(write_token),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/xet-read-token/{revision}",
            get(read_token),
        )
        .route("/cas/v1/chunks/{prefix}/{hash}", get(not_offered))
        .route("/cas/v1/xorb-grants/{prefix}/{hash}", post(not_offered))
        .route("/cas/v1/xorbs/{prefix}/{hash}", post(upload_xorb))
        .route("/cas/v2/shards", post(not_offered))
        .route("/cas/v1/shards", post(upload_shard))
        .route("/v1/telemetry", post(telemetry))
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/xet-write-token/{revision}[?create_pr=1]`.
async fn write_token(
    State(state): State<AppState>,
    Auth(actor): Auth,
    origin: Origin,
    Path((segment, ns, name, _revision)): Path<(String, String, String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let kind = repo_type(&segment)?;
    let create_pr = params.flag("create_pr")?.unwrap_or(false);
    let issued = cas::issue_write_token(&state, &actor, kind, &ns, &name, create_pr).await?;
    let cas_url = format!("{}/cas", origin.base_url);
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-xet-cas-url", cas_url.clone()),
        ("x-xet-access-token", issued.access_token.clone()),
        ("x-xet-token-expiration", issued.expires.to_string()),
    ] {
        let value = HeaderValue::from_str(&value).map_err(|e| Error::Internal(e.into()))?;
        headers.insert(name, value);
    }
    let body = json!({
        "accessToken": issued.access_token,
        "exp": issued.expires,
        "casUrl": cas_url,
    });
    Ok((headers, Json(body)).into_response())
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/xet-read-token/{revision}`.
async fn read_token() -> ApiError {
    cas::refuse_read_token().into()
}

/// Handles `GET /cas/v1/chunks/{prefix}/{hash}` (global dedupe),
/// `POST /cas/v1/xorb-grants/{prefix}/{hash}` and `POST /cas/v2/shards`:
/// not offered, so the client goes on without them.
async fn not_offered() -> ApiError {
    Error::not_found("not offered by this hub").into()
}

/// The writer a CAS request's `Authorization: Bearer <accessToken>` stands for.
pub struct CasAuth(pub CasWriter);

impl FromRequestParts<AppState> for CasAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(Error::Unauthenticated)?;
        Ok(CasAuth(cas::writer(state, token).await?))
    }
}

/// Handles `POST /cas/v1/xorbs/{prefix}/{hash}` (the body is read, with its
/// size capped, by core).
async fn upload_xorb(
    State(state): State<AppState>,
    CasAuth(writer): CasAuth,
    Path((prefix, hash)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<serde_json::Value>> {
    known_prefix(&prefix)?;
    let body = body.into_data_stream().map_err(std::io::Error::other);
    let was_inserted =
        cas::upload_xorb(&state, &writer, &hash, declared_length(&headers), body).await?;
    Ok(Json(json!({ "was_inserted": was_inserted })))
}

/// Handles `POST /cas/v1/shards` (the body is read, with its size capped,
/// by core).
async fn upload_shard(
    State(state): State<AppState>,
    CasAuth(writer): CasAuth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<serde_json::Value>> {
    let body = body.into_data_stream().map_err(std::io::Error::other);
    let outcome = cas::upload_shard(&state, &writer, declared_length(&headers), body).await?;
    tracing::info!(
        repo = writer.repo.id,
        stored = outcome.files_stored,
        present = outcome.files_present,
        "xet shard"
    );
    Ok(Json(json!({ "result": 1 })))
}

/// Handles `POST /v1/telemetry` (hf_xet's upload summary): accepted, not kept.
async fn telemetry() -> StatusCode {
    StatusCode::NO_CONTENT
}

fn known_prefix(prefix: &str) -> Result<(), ApiError> {
    if PREFIXES.contains(&prefix) {
        Ok(())
    } else {
        Err(Error::not_found(format!("no Xet prefix {prefix:?}")).into())
    }
}

/// The body length a request announces, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
}
