//! The Hugging Face-shaped API (`/api/...`), as `huggingface_hub` calls it.

pub mod commit;
pub mod misc;
pub mod orgs;
pub mod preupload;
pub mod refs;
pub mod repos;
pub mod resolve;
pub mod tree;
pub mod unsupported;
pub mod whoami;

use axum::Router;
use chrono::{DateTime, Utc};
use hub_core::repos::{Repo, RepoType};

use crate::app::AppState;
use crate::errors::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(repos::router())
        .merge(commit::router())
        .merge(resolve::router())
        .merge(whoami::router())
        .merge(orgs::router())
        .merge(tree::router())
        .merge(refs::router())
        .merge(preupload::router())
        .merge(misc::router())
        .merge(unsupported::router())
}

/// Dates as the HF client parses them: `YYYY-MM-DDTHH:MM:SS.fffZ`.
pub fn hf_date(d: &DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The `{models|datasets|spaces}` path segment.
pub fn repo_type(segment: &str) -> Result<RepoType, ApiError> {
    match segment {
        "models" | "datasets" | "spaces" => Ok(RepoType::parse(segment)?),
        _ => Err(hub_core::Error::not_found(format!("no such API: /api/{segment}")).into()),
    }
}

/// The web URL of a repo, on the host the client used.
pub fn repo_url(base_url: &str, repo: &Repo) -> String {
    format!(
        "{base_url}/{}{}",
        repo.kind().url_prefix(),
        repo.full_name()
    )
}

/// Percent-encodes one path segment, `/` included, as the HF client quotes
/// revisions and tree paths (`quote(s, safe="")`).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `Link` header of a paginated answer, pointing at the next page.
pub fn link_next(response: &mut axum::response::Response, next_url: &str) {
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("<{next_url}>; rel=\"next\"")) {
        response.headers_mut().insert(axum::http::header::LINK, v);
    }
}
