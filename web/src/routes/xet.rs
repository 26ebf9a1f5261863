//! The Xet CAS, as `hf_xet` calls it (hf-hub-api.md §7): the token
//! endpoints under `/api`, the CAS under `/cas` (authorised by the token
//! they hand out), and the client's telemetry. Uploads: global dedupe
//! queries, xorbs and shards (the grant and v2 shard calls answer 404 so
//! the client falls back to those). Downloads: reconstructions (v1 and v2, with `Range`),
//! and xorb byte ranges from the signed links they carry.

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::TryStreamExt;
use hub_core::Error;
use hub_core::xet::cas::{self, CasWriter, IssuedToken};
use hub_core::xet::dedupe;
use hub_core::xet::hash::XetHash;
use hub_core::xet::range_link::LinkParams;
use hub_core::xet::read::{self, CasReader, ReadAnswer, Reconstruction, Requested};
use serde_json::json;

use super::hf::repo_type;
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::{ApiError, ApiResult};
use crate::params::Params;
use crate::repo_path::ApiRepo;
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
        .route("/cas/v1/chunks/{prefix}/{hash}", get(global_dedupe))
        .route("/cas/v1/xorb-grants/{prefix}/{hash}", post(not_offered))
        .route("/cas/v1/xorbs/{prefix}/{hash}", post(upload_xorb))
        .route("/cas/v2/shards", post(not_offered))
        .route("/cas/v1/shards", post(upload_shard))
        .route("/cas/v1/reconstructions/{hash}", get(reconstruction_v1))
        .route("/cas/v2/reconstructions/{hash}", get(reconstruction_v2))
        .route("/cas/v1/xorb-ranges/{prefix}/{hash}", get(xorb_range))
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
    token_response(issued, &origin)
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/xet-read-token/{revision}`:
/// for whoever may read the repo (the one visibility rule: a private repo
/// is not found for others, and asks anonymous callers to sign in).
async fn read_token(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    origin: Origin,
) -> ApiResult<Response> {
    let issued = read::issue_read_token(&state, &repo)?;
    token_response(issued, &origin)
}

/// A token as both hf_xet (the JSON body) and huggingface_hub (the
/// headers) read it.
fn token_response(issued: IssuedToken, origin: &Origin) -> ApiResult<Response> {
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

/// Handles `POST /cas/v1/xorb-grants/{prefix}/{hash}` and `POST
/// /cas/v2/shards`: not offered, so the client goes on without them.
async fn not_offered() -> ApiError {
    Error::not_found("not offered by this hub").into()
}

/// Handles `GET /cas/v1/chunks/{prefix}/{hash}`: the global dedupe
/// answer for a chunk (a shard), or 404 when the writer's scope holds none.
async fn global_dedupe(
    State(state): State<AppState>,
    CasAuth(writer): CasAuth,
    Path((prefix, hash)): Path<(String, String)>,
) -> ApiResult<Response> {
    known_prefix(&prefix)?;
    let chunk = XetHash::from_hex(&hash)
        .ok_or_else(|| Error::invalid("a chunk hash is 64 hexadecimal digits"))?;
    match dedupe::answer(&state, &writer, &chunk).await? {
        Some(shard) => Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )],
            shard,
        )
            .into_response()),
        None => Err(Error::not_found("no stored chunk of that hash to dedupe against").into()),
    }
}

/// The writer a CAS request's `Authorization: Bearer <accessToken>` stands for.
pub struct CasAuth(pub CasWriter);

impl FromRequestParts<AppState> for CasAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = bearer(parts).ok_or(Error::Unauthenticated)?;
        Ok(CasAuth(cas::writer(state, token).await?))
    }
}

/// The reader a CAS request's `Authorization: Bearer <accessToken>` stands
/// for (any scope reads, by the token's holder's read access).
pub struct CasReadAuth(pub CasReader);

impl FromRequestParts<AppState> for CasReadAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let token = bearer(parts).ok_or(Error::Unauthenticated)?;
        Ok(CasReadAuth(read::reader(state, token).await?))
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// Handles `GET /cas/v1/reconstructions/{hash}` (with `Range: bytes=` for
/// part of the file): terms, and `fetch_info` per xorb.
async fn reconstruction_v1(
    State(state): State<AppState>,
    CasReadAuth(reader): CasReadAuth,
    origin: Origin,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    reconstruct(&state, &reader, &origin, &hash, &headers, |answer| {
        let fetch_info = fetch_lists(answer, |fetch, url| {
            json!({
                "range": { "start": fetch.chunks.start, "end": fetch.chunks.end },
                "url": url,
                "url_range": { "start": fetch.bytes.start, "end": fetch.bytes.end - 1 },
            })
        });
        json!({
            "offset_into_first_range": answer.offset_into_first_range,
            "terms": terms_json(answer),
            "fetch_info": fetch_info,
        })
    })
    .await
}

/// Handles `GET /cas/v2/reconstructions/{hash}`: as v1, with each xorb's
/// fetches as `xorbs` entries of one range each.
async fn reconstruction_v2(
    State(state): State<AppState>,
    CasReadAuth(reader): CasReadAuth,
    origin: Origin,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    reconstruct(&state, &reader, &origin, &hash, &headers, |answer| {
        let xorbs = fetch_lists(answer, |fetch, url| {
            json!({
                "url": url,
                "ranges": [{
                    "chunks": { "start": fetch.chunks.start, "end": fetch.chunks.end },
                    "bytes": { "start": fetch.bytes.start, "end": fetch.bytes.end - 1 },
                }],
            })
        });
        json!({
            "offset_into_first_range": answer.offset_into_first_range,
            "terms": terms_json(answer),
            "xorbs": xorbs,
        })
    })
    .await
}

/// The reconstruction the request asks for, rendered by `render`, or the
/// 416 answer to a range past the end of the file.
async fn reconstruct(
    state: &AppState,
    reader: &CasReader,
    origin: &Origin,
    hash: &str,
    headers: &HeaderMap,
    render: impl FnOnce(&ReadAnswer) -> serde_json::Value,
) -> ApiResult<Response> {
    let cas_url = format!("{}/cas", origin.base_url);
    let requested = requested_range(headers)?;
    match read::reconstruction(state, reader, hash, requested, &cas_url).await? {
        Reconstruction::Found(answer) => Ok(Json(render(&answer)).into_response()),
        Reconstruction::Unsatisfiable { size } => {
            let range = HeaderValue::from_str(&format!("bytes */{size}"))
                .map_err(|e| Error::Internal(e.into()))?;
            let body = Json(json!({ "error": "the range starts past the end of the file" }));
            Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, range)],
                body,
            )
                .into_response())
        }
    }
}

fn terms_json(answer: &ReadAnswer) -> Vec<serde_json::Value> {
    answer
        .terms
        .iter()
        .map(|t| {
            json!({
                "hash": t.xorb.to_hex(),
                "unpacked_length": t.unpacked_length,
                "range": { "start": t.chunks.start, "end": t.chunks.end },
            })
        })
        .collect()
}

/// Each xorb's fetches, rendered by `entry`, keyed by the xorb's hash.
fn fetch_lists(
    answer: &ReadAnswer,
    entry: impl Fn(&hub_core::xet::reconstruction::Fetch, &str) -> serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    answer
        .fetches
        .iter()
        .map(|(xorb, list)| {
            let entries = list.iter().map(|(f, url)| entry(f, url)).collect();
            (xorb.to_hex(), serde_json::Value::Array(entries))
        })
        .collect()
}

/// Handles `GET /cas/v1/xorb-ranges/{prefix}/{hash}?range=&exp=&sig=`: the
/// stored bytes a signed link from a reconstruction grants (all of them,
/// or the `Range` asked for inside them), streamed.
async fn xorb_range(
    State(state): State<AppState>,
    Path((prefix, hash)): Path<(String, String)>,
    Query(params): Query<LinkParams>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    known_prefix(&prefix)?;
    let requested = requested_range(&headers)?;
    let (range, bytes) = read::xorb_range(&state, &hash, &params, requested).await?;
    let content_range =
        HeaderValue::from_str(&format!("bytes {}-{}/*", range.start, range.end - 1))
            .map_err(|e| Error::Internal(e.into()))?;
    Ok((
        StatusCode::PARTIAL_CONTENT,
        [
            (header::CONTENT_RANGE, content_range),
            (
                header::CONTENT_LENGTH,
                HeaderValue::from(range.end - range.start),
            ),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
        ],
        Body::from_stream(bytes),
    )
        .into_response())
}

/// The one range a CAS read asks for (`Range: bytes=first-[last]`), if any;
/// any other form is refused (400): hf_xet sends only this one.
fn requested_range(headers: &HeaderMap) -> Result<Option<Requested>, ApiError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || Error::invalid("expected one range: Range: bytes=first-last");
    let spec = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().strip_prefix("bytes="))
        .ok_or_else(bad)?;
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let first: u64 = first.trim().parse().map_err(|_| bad())?;
    let last = match last.trim() {
        "" => None,
        l => Some(l.parse::<u64>().map_err(|_| bad())?),
    };
    if last.is_some_and(|l| l < first) {
        return Err(bad().into());
    }
    Ok(Some(Requested { first, last }))
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
