//! Basic transfers of one object: the PUT of a signed upload link (body
//! streamed to the store, never buffered), the GET of a download (with
//! single ranges, or a redirect to a presigned store URL where configured),
//! and the `verify` that follows an upload.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures::TryStreamExt;
use hub_core::lfs::signing::SignedParams;
use hub_core::lfs::transfer;
use serde::Deserialize;
use serde_json::json;

use super::{LfsAuth, LfsJson, LfsPath, LfsQuery, LfsRepo, LfsResult, lfs_json};
use crate::app::AppState;
use crate::range;

/// Handles `PUT /{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/objects/{oid}`
/// (a signed upload link from the batch API).
pub async fn upload(
    State(state): State<AppState>,
    path: LfsPath,
    LfsQuery(link): LfsQuery<SignedParams>,
    body: Body,
) -> LfsResult<Response> {
    let body = body.into_data_stream().map_err(std::io::Error::other);
    transfer::upload(&state, path.address(), &path.item, &link, body).await?;
    Ok(StatusCode::OK.into_response())
}

/// Handles `GET|HEAD /{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/objects/{oid}`
/// (a signed download link, or the caller's read access).
pub async fn download(
    State(state): State<AppState>,
    LfsAuth(actor): LfsAuth,
    path: LfsPath,
    LfsQuery(link): LfsQuery<SignedParams>,
    method: Method,
    headers: HeaderMap,
) -> LfsResult<Response> {
    let oid = &path.item;
    let (repo, size) = transfer::download(&state, &actor, path.address(), oid, &link).await?;
    if let Some(url) = transfer::redirect_url(&state, &repo, oid).await? {
        return Ok(Redirect::temporary(&url).into_response());
    }
    let mut out = HeaderMap::new();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let (status, part) = match range::answer(&headers, size, &mut out) {
        range::Answer::Send(status, part) => (status, part),
        range::Answer::Unsatisfiable => {
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, out).into_response());
        }
    };
    if method == Method::HEAD {
        return Ok((status, out).into_response());
    }
    let stream = transfer::read(&state, &repo, oid, size, part).await?;
    Ok((status, out, Body::from_stream(stream)).into_response())
}

#[derive(Deserialize)]
pub struct VerifyRequest {
    oid: String,
    size: u64,
}

/// Handles `POST /{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/verify`.
pub async fn verify(
    State(state): State<AppState>,
    LfsRepo(repo): LfsRepo,
    LfsJson(request): LfsJson<VerifyRequest>,
) -> LfsResult<Response> {
    transfer::verify(&state, &repo, &request.oid, request.size).await?;
    Ok(lfs_json(StatusCode::OK, json!({ "message": "verified" })))
}
