//! File downloads: `/{[datasets/|spaces/]}{ns}/{name}/resolve/{revision}/{path}`,
//! served directly (never redirected, never compressed), with the headers
//! `huggingface_hub` relies on and single-range support. What is served and
//! counted is hub-core's `repos::download`, as for ModelScope's file route.
//!
//! A file with a Xet representation is also advertised as such
//! (`X-Xet-Hash`, and the read-token route as `Link: <…>; rel="xet-auth"`):
//! huggingface_hub then downloads it with hf_xet, unless Xet is disabled.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::get;
use hub_core::Error;
use hub_core::repos::counters::Downloader;
use hub_core::repos::{content, download};
use hub_core::xet::read;

use crate::app::AppState;
use crate::errors::{ApiError, ApiResult};
use crate::repo_path::DownloadRepo;
use crate::request::Origin;

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
    origin: Origin,
    method: Method,
    headers: HeaderMap,
    Path((_, _, revision, path)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let commit = content::resolve(&state, &repo, &revision).await?;
    let file = match download::find(&state, &repo, &commit, &path).await {
        Ok(file) => file,
        // The client caches "absent at this commit" only with X-Repo-Commit.
        Err(e @ Error::EntryNotFound(_)) => return Ok(ApiError(e).at_commit(&commit)),
        Err(e) => return Err(e.into()),
    };
    let etag = format!("\"{}\"", file.etag());
    let mut out = HeaderMap::new();
    out.insert("x-repo-commit", header_value(&commit));
    out.insert(header::ETAG, header_value(&etag));
    if let Some(oid) = file.lfs_oid() {
        out.insert("x-linked-etag", header_value(&etag));
        out.insert("x-linked-size", HeaderValue::from(file.size()));
        let advertised = read::advertised(&state, &repo, &[oid.to_owned()]).await?;
        if let Some(hash) = advertised.get(oid) {
            out.insert("x-xet-hash", header_value(&hash.to_hex()));
            let token_url = format!(
                "{}/api/{}/{}/xet-read-token/{commit}",
                origin.base_url,
                repo.kind().plural(),
                repo.full_name(),
            );
            out.insert(
                header::LINK,
                header_value(&format!("<{token_url}>; rel=\"xet-auth\"")),
            );
        }
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let disposition = format!("inline; filename=\"{}\"", file.file_name());
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        out.insert(header::CONTENT_DISPOSITION, v);
    }
    let client = Downloader::new(repo.actor(), origin.client_ip);
    let response =
        crate::download::respond(&state, &repo, &file, &method, &headers, out, Some(&client))
            .await?;
    Ok(response)
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}
