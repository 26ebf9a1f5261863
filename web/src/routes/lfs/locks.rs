//! File locks: create, list, verify (before a push) and unlock.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use hub_core::lfs::locks::{self, Created, Lock, LockQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use hub_core::repos::access::level::Write;

use super::{LfsJson, LfsPath, LfsQuery, LfsRepo, LfsResult, REQUEST_ID, lfs_json};
use crate::app::AppState;

#[derive(Deserialize)]
pub struct CreateRequest {
    path: String,
}

/// Handles `POST /{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/locks`.
pub async fn create(
    State(state): State<AppState>,
    LfsRepo(repo): LfsRepo<Write>,
    LfsJson(request): LfsJson<CreateRequest>,
) -> LfsResult<Response> {
    Ok(match locks::create(&state, &repo, &request.path).await? {
        Created::Locked(lock) => lfs_json(StatusCode::CREATED, json!({ "lock": lock_json(&lock) })),
        Created::AlreadyLocked(lock) => lfs_json(
            StatusCode::CONFLICT,
            json!({
                "lock": lock_json(&lock),
                "message": format!("{} is already locked by {}", lock.path, lock.owner),
                "request_id": REQUEST_ID.try_with(Clone::clone).unwrap_or_default(),
            }),
        ),
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    path: Option<String>,
    id: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// Handles `GET /{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/locks`.
pub async fn list(
    State(state): State<AppState>,
    LfsRepo(repo): LfsRepo,
    LfsQuery(q): LfsQuery<ListQuery>,
) -> LfsResult<Response> {
    let query = LockQuery {
        path: q.path,
        id: q.id,
        cursor: q.cursor,
        limit: q.limit,
    };
    let page = locks::list(&state, &repo, &query).await?;
    let body = json!({ "locks": locks_json(&page.locks) });
    Ok(lfs_json(
        StatusCode::OK,
        with_cursor(body, page.next_cursor),
    ))
}

#[derive(Deserialize)]
pub struct VerifyRequest {
    cursor: Option<String>,
    limit: Option<i64>,
}

/// Handles `POST /{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/locks/verify`.
pub async fn verify(
    State(state): State<AppState>,
    LfsRepo(repo): LfsRepo<Write>,
    LfsJson(request): LfsJson<VerifyRequest>,
) -> LfsResult<Response> {
    let cursor = request.cursor.as_deref();
    let page = locks::verify(&state, &repo, cursor, request.limit).await?;
    let body = json!({ "ours": locks_json(&page.ours), "theirs": locks_json(&page.theirs) });
    Ok(lfs_json(
        StatusCode::OK,
        with_cursor(body, page.next_cursor),
    ))
}

#[derive(Deserialize)]
pub struct UnlockRequest {
    #[serde(default)]
    force: bool,
}

/// Handles `POST /{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/locks/{id}/unlock`.
pub async fn unlock(
    State(state): State<AppState>,
    LfsRepo(repo): LfsRepo<Write>,
    path: LfsPath,
    LfsJson(request): LfsJson<UnlockRequest>,
) -> LfsResult<Response> {
    let lock = locks::unlock(&state, &repo, &path.item, request.force).await?;
    Ok(lfs_json(
        StatusCode::OK,
        json!({ "lock": lock_json(&lock) }),
    ))
}

/// A lock as the LFS API shows it (ids are strings there).
fn lock_json(lock: &Lock) -> Value {
    json!({
        "id": lock.id.to_string(),
        "path": lock.path,
        "locked_at": lock.locked_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "owner": { "name": lock.owner },
    })
}

/// `next_cursor` only when there is a next page.
fn with_cursor(mut body: Value, cursor: Option<String>) -> Value {
    if let Some(cursor) = cursor {
        body["next_cursor"] = json!(cursor);
    }
    body
}

fn locks_json(locks: &[Lock]) -> Vec<Value> {
    locks.iter().map(lock_json).collect()
}
