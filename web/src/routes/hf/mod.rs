//! The Hugging Face-shaped API (`/api/...`), as `huggingface_hub` calls it.

pub mod commit;
pub mod discussions;
pub mod listing;
pub mod misc;
pub mod orgs;
pub mod preupload;
pub mod refs;
pub mod repos;
pub mod resolve;
pub mod spaces;
pub mod tree;
pub mod unsupported;
pub mod whoami;

use axum::Router;
use chrono::{DateTime, Utc};
use hub_core::repos::content::{EntryKind, TreeEntry};
use hub_core::repos::{Repo, RepoType};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::errors::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(repos::router())
        .merge(commit::router())
        .merge(discussions::router())
        .merge(resolve::router())
        .merge(whoami::router())
        .merge(orgs::router())
        .merge(tree::router())
        .merge(refs::router())
        .merge(preupload::router())
        .merge(misc::router())
        .merge(unsupported::router())
        .merge(listing::router())
        .merge(spaces::router())
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

/// A repo in the shape of HF's `ModelInfo` / `DatasetInfo` / `SpaceInfo`, as
/// repo info and listings share it (all but `siblings`). `sha` is the commit
/// described; with `has_config` (it holds `config.json`) a model without a
/// `library_name` in its card is a transformers model.
pub fn repo_json(repo: &Repo, sha: Option<&str>, has_config: bool) -> Value {
    let full_name = repo.full_name();
    let mut body = json!({
        "_id": repo.id.to_string(),
        "id": full_name,
        "author": repo.namespace,
        "sha": sha,
        "lastModified": hf_date(&repo.last_modified),
        "createdAt": hf_date(&repo.created_at),
        "private": repo.private,
        "gated": false,
        "disabled": false,
        "downloads": repo.downloads,
        "downloadsAllTime": repo.downloads_total,
        "likes": repo.likes,
        "tags": repo.tags,
        "cardData": repo.card_data,
    });
    match repo.kind() {
        RepoType::Model => {
            let library_name = repo
                .card_library_name
                .clone()
                .or_else(|| has_config.then(|| "transformers".to_owned()));
            body["modelId"] = json!(full_name);
            body["pipeline_tag"] = json!(repo.card_pipeline_tag);
            body["library_name"] = json!(library_name);
        }
        RepoType::Space => {
            body["sdk"] = repo
                .card_data
                .as_ref()
                .and_then(|c| c.get("sdk"))
                .cloned()
                .unwrap_or(Value::Null);
            body["runtime"] = Value::Null;
        }
        RepoType::Dataset => {}
    }
    body
}

/// `siblings`: the files of a listing; with `blobs`, their sizes, blob ids
/// and LFS objects (`lfs.sha256`, unlike the tree API's `lfs.oid`).
pub fn siblings_json(entries: &[TreeEntry], blobs: bool) -> Value {
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| {
            let mut s = json!({ "rfilename": e.path });
            if blobs {
                s["size"] = json!(e.content_size());
                s["blobId"] = json!(e.oid);
                if let Some(lfs) = &e.lfs {
                    s["lfs"] =
                        json!({ "sha256": lfs.oid, "size": lfs.size, "pointerSize": e.size });
                }
            }
            s
        })
        .collect()
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
