//! Listing a repo's files: `tree` (paginated with `Link`) and `paths-info`.
//! Entries are in the HF client's shape: paths from the repo root, git blob
//! ids as `oid`, `lfs: {oid, size, pointerSize}` for LFS files, and, with
//! `expand`, `lastCommit` and `securityFileStatus`; `xetHash` for LFS files
//! with a Xet representation (the client then downloads them with hf_xet).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_core::Error;
use hub_core::repos::access::Authorized;
use hub_core::repos::content::{self, CommitInfo, EntryKind, TreeEntry};
use hub_core::xet::hash::XetHash;
use hub_core::xet::read;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{hf_date, link_next, urlencode};
use crate::app::AppState;
use crate::errors::{ApiError, ApiResult};
use crate::params::Params;
use crate::repo_path::DownloadRepo;
use crate::request::Origin;

/// Entries per page, as Hugging Face pages them (fewer when each entry
/// needs a history walk for its last commit).
const PAGE: usize = 1000;
const EXPANDED_PAGE: usize = 50;
/// Most paths in one `paths-info` request (the client sends up to 500).
const MAX_PATHS: usize = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/{repo_type}/{namespace}/{name}/tree/{revision}",
            get(tree_root),
        )
        // The root with a trailing slash (olah asks so; Hugging Face answers).
        .route(
            "/api/{repo_type}/{namespace}/{name}/tree/{revision}/",
            get(tree_root),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/tree/{revision}/{*path}",
            get(tree_at_path),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/paths-info/{revision}",
            post(paths_info),
        )
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/tree/{revision}[/]`.
async fn tree_root(
    state: State<AppState>,
    repo: DownloadRepo,
    origin: Origin,
    Path((_, _, _, revision)): Path<(String, String, String, String)>,
    params: Params,
) -> ApiResult<Response> {
    tree(state, repo, origin, (revision, String::new()), params).await
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/tree/{revision}/{*path}`
/// (the path arrives `%2F`-encoded from the HF client, raw from others).
async fn tree_at_path(
    state: State<AppState>,
    repo: DownloadRepo,
    origin: Origin,
    Path((_, _, _, revision, folder)): Path<(String, String, String, String, String)>,
    params: Params,
) -> ApiResult<Response> {
    tree(state, repo, origin, (revision, folder), params).await
}

async fn tree(
    State(state): State<AppState>,
    DownloadRepo(repo): DownloadRepo,
    origin: Origin,
    (revision, folder): (String, String),
    params: Params,
) -> ApiResult<Response> {
    let commit = content::resolve(&state, &repo, &revision).await?;
    let recursive = params.flag("recursive")?.unwrap_or(false);
    let expand = params.flag("expand")?.unwrap_or(false);
    let default_page = if expand { EXPANDED_PAGE } else { PAGE };
    let limit = params
        .number("limit")?
        .unwrap_or(default_page)
        .clamp(1, PAGE);
    let offset = params.number("cursor")?.unwrap_or(0);
    let page =
        match content::list_page(&state, &repo, &commit, &folder, recursive, offset, limit).await {
            Ok(page) => page,
            Err(e @ Error::EntryNotFound(_)) => return Ok(ApiError(e).at_commit(&commit)),
            Err(e) => return Err(e.into()),
        };
    let items = describe(&state, &repo, &commit, page.entries, expand).await?;
    let mut response = Json(items).into_response();
    if let Some(next) = page.next {
        // Later pages list the same commit, even if the branch moves meanwhile.
        let path = match folder.trim_matches('/') {
            "" => String::new(),
            f => format!("/{}", urlencode(f)),
        };
        let url = format!(
            "{}/api/{}/{}/tree/{commit}{path}?recursive={recursive}&expand={expand}&limit={limit}&cursor={next}",
            origin.base_url,
            repo.kind().plural(),
            repo.full_name(),
        );
        link_next(&mut response, &url);
    }
    Ok(response)
}

#[derive(Deserialize)]
struct PathsInfoJson {
    paths: Vec<String>,
    #[serde(default)]
    expand: bool,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/paths-info/{revision}`
/// (a form with repeated `paths`, as the HF client sends it, or JSON).
async fn paths_info(
    State(state): State<AppState>,
    DownloadRepo(repo): DownloadRepo,
    Path((_, _, _, revision)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Vec<Value>>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let (paths, expand) = if is_json {
        let parsed: PathsInfoJson = serde_json::from_slice(&body)
            .map_err(|e| Error::invalid(format!("bad paths-info request: {e}")))?;
        (parsed.paths, parsed.expand)
    } else {
        let form = Params::parse(&body);
        let paths = form.all("paths").map(str::to_owned).collect();
        (paths, form.flag("expand")?.unwrap_or(false))
    };
    if paths.len() > MAX_PATHS {
        return Err(Error::invalid(format!("at most {MAX_PATHS} paths per request")).into());
    }
    let commit = content::resolve(&state, &repo, &revision).await?;
    let entries = content::entries_at(&state, &repo, &commit, paths).await?;
    Ok(Json(
        describe(&state, &repo, &commit, entries, expand).await?,
    ))
}

/// Entries in the client's shape; with `expand`, each with its last commit.
async fn describe(
    state: &AppState,
    repo: &Authorized,
    commit: &str,
    entries: Vec<TreeEntry>,
    expand: bool,
) -> Result<Vec<Value>, ApiError> {
    let last: HashMap<String, CommitInfo> = if expand {
        let paths = entries.iter().map(|e| e.path.clone()).collect();
        content::last_commits(state, repo, commit, paths).await?
    } else {
        HashMap::new()
    };
    let oids: Vec<String> = entries
        .iter()
        .filter_map(|e| e.lfs.as_ref().map(|l| l.oid.clone()))
        .collect();
    let xet = read::advertised(state, repo, &oids).await?;
    Ok(entries
        .iter()
        .map(|e| {
            let last_commit = expand.then(|| last.get(&e.path)).flatten();
            let xet_hash = e.lfs.as_ref().and_then(|l| xet.get(&l.oid));
            entry_json(e, last_commit, xet_hash, expand)
        })
        .collect())
}

fn entry_json(
    entry: &TreeEntry,
    last_commit: Option<&CommitInfo>,
    xet_hash: Option<&XetHash>,
    expand: bool,
) -> Value {
    let mut item = match entry.kind {
        EntryKind::Directory => {
            json!({ "type": "directory", "oid": entry.oid, "size": 0, "path": entry.path })
        }
        EntryKind::File => {
            let mut file = json!({
                "type": "file",
                "oid": entry.oid,
                "size": entry.content_size(),
                "path": entry.path,
            });
            if let Some(lfs) = &entry.lfs {
                file["lfs"] =
                    json!({ "oid": lfs.oid, "size": lfs.size, "pointerSize": entry.size });
            }
            if let Some(hash) = xet_hash {
                file["xetHash"] = json!(hash.to_hex());
            }
            if expand {
                // Files are not scanned here; say so rather than claim "safe".
                file["securityFileStatus"] =
                    json!({ "status": "unscanned", "avScan": null, "pickleImportScan": null });
            }
            file
        }
    };
    if let Some(c) = last_commit {
        item["lastCommit"] = json!({ "id": c.id, "title": c.title, "date": hf_date(&c.date) });
    }
    item
}
