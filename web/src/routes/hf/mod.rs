//! The Hugging Face-shaped API (`/api/...`), as `huggingface_hub` calls it.

pub mod commit;
pub mod orgs;
pub mod repos;
pub mod resolve;
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
