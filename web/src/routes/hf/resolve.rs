//! File downloads: `/{[datasets/|spaces/]}{ns}/{name}/resolve/{revision}/{path}`,
//! served directly (never redirected, never compressed), with the headers
//! `huggingface_hub` relies on and single-range support.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hub_core::Error;
use hub_core::repos::{content, counters};

use crate::app::AppState;
use crate::errors::{ApiError, ApiResult};
use crate::range;
use crate::repo_path::DownloadRepo;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (prefix, _) in crate::routes::REPO_PREFIXES {
        router = router.route(
            &format!("{prefix}/{{namespace}}/{{name}}/resolve/{{revision}}/{{*path}}"),
            get(resolve),
        );
    }
    router
}

/// Handles `GET|HEAD /{[datasets/|spaces/]}{namespace}/{name}/resolve/{revision}/{*path}`.
async fn resolve(
    State(state): State<AppState>,
    DownloadRepo(repo): DownloadRepo,
    method: Method,
    headers: HeaderMap,
    Path((_, _, revision, path)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let commit = content::resolve(&state, &repo, &revision).await?;
    let entry = match content::file_at(&state, &repo, &commit, &path).await {
        Ok(entry) => entry,
        // The client caches "absent at this commit" only with X-Repo-Commit.
        Err(e @ Error::EntryNotFound(_)) => return Ok(ApiError(e).at_commit(&commit)),
        Err(e) => return Err(e.into()),
    };
    let size = entry.content_size();
    let etag = entry
        .lfs
        .as_ref()
        .map_or(entry.oid.as_str(), |p| p.oid.as_str());
    let mut out = HeaderMap::new();
    out.insert("x-repo-commit", header_value(&commit));
    out.insert(header::ETAG, header_value(&format!("\"{etag}\"")));
    if entry.lfs.is_some() {
        out.insert("x-linked-etag", header_value(&format!("\"{etag}\"")));
        out.insert("x-linked-size", HeaderValue::from(size));
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let filename = entry
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&entry.path)
        .replace(['"', '\\'], "_");
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{filename}\"")) {
        out.insert(header::CONTENT_DISPOSITION, v);
    }
    let (status, part) = match range::answer(&headers, size, &mut out) {
        range::Answer::Send(status, part) => (status, part),
        range::Answer::Unsatisfiable => {
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, out).into_response());
        }
    };
    if method == Method::HEAD {
        return Ok((status, out).into_response());
    }
    if part.as_ref().is_none_or(|r| r.start == 0) && counters::counts_as_download(&entry.path) {
        counters::record_download(&state.db, repo.id).await?;
    }
    let stream = content::read(&state, &repo, &entry, part).await?;
    Ok((status, out, Body::from_stream(stream)).into_response())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}
