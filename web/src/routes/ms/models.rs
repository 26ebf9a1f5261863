//! Model downloads as the `modelscope` SDK makes them: repo info, revisions,
//! the file listing and the file endpoint under `/api/v1/models/{o}/{n}`,
//! and the acceleration probe (answered 404: the hub has no internal region).

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use hub_core::Error;
use hub_core::repos::access::Authorized;
use hub_core::repos::content::{self, EntryKind};
use hub_core::repos::counters::Downloader;
use hub_core::repos::{Repo, download, refs};
use serde_json::{Value, json};

use super::{MsRepo, MsResult, envelope_error, ok, resolve};
use crate::app::AppState;
use crate::params::Params;
use crate::request::Origin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/models/{namespace}/{name}", get(info))
        .route(
            "/api/v1/models/{namespace}/{name}/revisions",
            get(revisions),
        )
        .route("/api/v1/models/{namespace}/{name}/repo/files", get(files))
        .route("/api/v1/models/{namespace}/{name}/repo", get(file))
        .route(
            "/api/v1/repos/internalAccelerationInfo",
            get(acceleration_info),
        )
}

/// Handles `GET /api/v1/models/{namespace}/{name}`.
async fn info(MsRepo(repo): MsRepo) -> MsResult<Response> {
    Ok(ok(repo_info(&repo)))
}

/// The repo-info `Data` shared by models and datasets; `Id` is the
/// immutable integer repo id (datasets are addressed by it).
pub(super) fn repo_info(repo: &Repo) -> Value {
    json!({
        "Id": repo.id,
        "Path": repo.namespace,
        "Name": repo.name,
        "Visibility": if repo.private { 1 } else { 5 },
        "License": repo.card_license,
        "Tags": repo.card_tags,
        "Downloads": repo.downloads_total,
        "Likes": repo.likes,
        "CreatedTime": repo.created_at.timestamp(),
        "LastUpdatedTime": repo.last_modified.timestamp(),
        "DefaultBranch": repo.default_branch,
    })
}

/// Handles `GET /api/v1/models/{namespace}/{name}/revisions`: branches (with
/// `master` standing for the default branch unless a real one exists) and
/// tags newest first, each with `CreatedAt` in epoch seconds.
async fn revisions(State(state): State<AppState>, MsRepo(repo): MsRepo) -> MsResult<Response> {
    let mut records = refs::list(&state.db, repo.id).await?;
    records.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.name.cmp(&b.name)));
    let item = |r: &refs::RefRecord, revision: &str| json!({ "Revision": revision, "CreatedAt": r.created_at.timestamp(), "Id": r.target });
    let mut branches: Vec<Value> = Vec::new();
    let mut tags: Vec<Value> = Vec::new();
    for r in &records {
        match r.kind.as_str() {
            "branch" => branches.push(item(r, &r.name)),
            "tag" => tags.push(item(r, &r.name)),
            _ => {}
        }
    }
    let has_master = records
        .iter()
        .any(|r| r.kind == "branch" && r.name == "master");
    let default = records
        .iter()
        .find(|r| r.kind == "branch" && r.name == repo.default_branch);
    if let (false, Some(default)) = (has_master, default) {
        branches.insert(0, item(default, "master"));
    }
    Ok(ok(
        json!({ "RevisionMap": { "Branches": branches, "Tags": tags } }),
    ))
}

/// Handles `GET /api/v1/models/{namespace}/{name}/repo/files?Revision=&Root=&Recursive=[&PageNumber=&PageSize=]`:
/// full repo paths, folders as `Type: "tree"`, and for files the size and
/// sha256 of the content (the LFS object's for LFS files).
async fn files(
    State(state): State<AppState>,
    MsRepo(repo): MsRepo,
    params: Params,
) -> MsResult<Response> {
    list_files(&state, &repo, &params).await
}

/// A `Revision`/`Root`/`Recursive`/`PageNumber`/`PageSize` listing of
/// `repo` in the `{Files: [...]}` shape, shared by models and datasets
/// (pages follow `content::list_page`'s stable order, which the SDK's paging needs).
pub(super) async fn list_files(
    state: &AppState,
    repo: &Authorized,
    params: &Params,
) -> MsResult<Response> {
    let commit = resolve(state, repo, params.get("Revision").unwrap_or("")).await?;
    let root = params
        .get("Root")
        .unwrap_or("")
        .trim_matches('/')
        .to_owned();
    let recursive = params.flag("Recursive")?.unwrap_or(false);
    let (offset, limit) = match (
        params.number::<usize>("PageNumber")?,
        params.number::<usize>("PageSize")?,
    ) {
        (Some(n), Some(size)) if size > 0 => (n.saturating_sub(1) * size, size),
        _ => (0, usize::MAX),
    };
    let page = content::list_page(state, repo, &commit, &root, recursive, offset, limit).await?;
    let plain = page
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.lfs.is_none())
        .map(|e| e.oid.clone())
        .collect();
    let sha256s: HashMap<String, String> = content::blob_sha256s(state, repo, plain).await?;
    let (history, _) = content::history(state, repo, &commit, 0, 1).await?;
    let committed = history.first().map(|c| c.date.timestamp());
    let entries: Vec<Value> = page
        .entries
        .iter()
        .map(|e| {
            let name = e.path.rsplit('/').next().unwrap_or(&e.path);
            let mut v = json!({
                "Name": name,
                "Path": e.path,
                "Id": e.oid,
                "Revision": commit,
                "CommittedDate": committed,
                "IsLFS": e.lfs.is_some(),
            });
            match e.kind {
                EntryKind::File => {
                    let sha = e
                        .lfs
                        .as_ref()
                        .map(|p| &p.oid)
                        .or_else(|| sha256s.get(&e.oid));
                    v["Type"] = json!("blob");
                    v["Size"] = json!(e.content_size());
                    v["Sha256"] = json!(sha);
                }
                _ => {
                    // MsDataset reads `Sha256` of every entry, folders too.
                    v["Type"] = json!("tree");
                    v["Size"] = json!(0);
                    v["Sha256"] = json!("");
                }
            }
            v
        })
        .collect();
    Ok(ok(json!({ "Files": entries, "IsVisual": 0 })))
}

/// Handles `GET|HEAD /api/v1/models/{namespace}/{name}/repo?Revision=&FilePath=`:
/// the bytes, answered here (HEAD too, never redirected, never compressed),
/// one range with 206, and the sha256 in `X-Linked-ETag`.
async fn file(
    State(state): State<AppState>,
    MsRepo(repo): MsRepo,
    origin: Origin,
    method: Method,
    headers: HeaderMap,
    params: Params,
) -> MsResult<Response> {
    let client = Downloader::new(repo.actor(), origin.client_ip);
    serve_file(&state, &repo, &method, &headers, &params, Some(&client)).await
}

/// The file endpoint's answer for `repo`, shared by models and datasets;
/// `counted_for`: who a download of a data or weights file is counted for
/// here (`None` where the SDK reports downloads by another call).
pub(super) async fn serve_file(
    state: &AppState,
    repo: &Authorized,
    method: &Method,
    headers: &HeaderMap,
    params: &Params,
    counted_for: Option<&Downloader>,
) -> MsResult<Response> {
    let commit = resolve(state, repo, params.get("Revision").unwrap_or("")).await?;
    let path = params
        .get("FilePath")
        .ok_or_else(|| Error::invalid("FilePath is required"))?;
    let file = download::find(state, repo, &commit, path).await?;
    let sha256 = file.sha256(state, repo).await?;
    let mut out = HeaderMap::new();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{sha256}\"")) {
        out.insert(header::ETAG, v.clone());
        out.insert("x-linked-etag", v);
    }
    out.insert("x-linked-size", HeaderValue::from(file.size()));
    if let Ok(v) = HeaderValue::from_str(&commit) {
        out.insert("x-repo-commit", v);
    }
    let response =
        crate::download::respond(state, repo, &file, method, headers, out, counted_for).await?;
    Ok(response)
}

/// Handles `GET /api/v1/repos/internalAccelerationInfo`: 404, which both SDK
/// generations take as "no acceleration" (a 200 without an address crashes 1.37).
async fn acceleration_info() -> Response {
    envelope_error(
        StatusCode::NOT_FOUND,
        "no internal acceleration on this hub",
    )
}
