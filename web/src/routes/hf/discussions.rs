//! Discussions and pull requests (`/api/{repo_type}/{namespace}/{name}/discussions…`),
//! in the shapes huggingface_hub's `get_repo_discussions`,
//! `get_discussion_details` and `deserialize_event` read. The rules are in
//! `hub_core::community`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_core::Error;
use hub_core::community::discussions::{self, Discussion, Filter, StatusFilter};
use hub_core::community::events::{self, Event};
use hub_core::community::{self, Status, merge};
use hub_core::repos::Repo;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::hf_date;
use crate::app::AppState;
use crate::errors::ApiResult;
use crate::params::Params;
use crate::repo_path::ApiRepo;

pub fn router() -> Router<AppState> {
    let base = "/api/{repo_type}/{namespace}/{name}/discussions";
    Router::new()
        .route(base, get(list).post(create))
        .route(&format!("{base}/{{num}}"), get(details))
        .route(&format!("{base}/{{num}}/comment"), post(comment))
        .route(&format!("{base}/{{num}}/title"), post(rename))
        .route(&format!("{base}/{{num}}/status"), post(change_status))
        .route(&format!("{base}/{{num}}/merge"), post(merge_pull_request))
        .route(
            &format!("{base}/{{num}}/comment/{{comment_id}}/edit"),
            post(edit_comment),
        )
        .route(
            &format!("{base}/{{num}}/comment/{{comment_id}}/hide"),
            post(hide_comment),
        )
}

type NumPath = Path<(String, String, String, String)>;
type CommentPath = Path<(String, String, String, String, String)>;

/// A discussion number from the path: a missing discussion for anything
/// that is not one.
fn num(text: &str) -> Result<i64, Error> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::not_found(format!("Discussion {text} not found")))
}

/// A JSON body; `null` or nothing mean the default.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::invalid("the body is not UTF-8"))?;
    match text.trim() {
        "" | "null" => Ok(T::default()),
        json => serde_json::from_str(json).map_err(|e| Error::invalid(format!("bad body: {e}"))),
    }
}

fn author_json(name: &Option<String>) -> Option<Value> {
    name.as_ref().map(|n| json!({ "name": n, "type": "user" }))
}

fn discussion_json(d: &Discussion, repo: &Repo) -> Value {
    let mut out = json!({
        "num": d.num,
        "title": d.title,
        "status": d.status.as_str(),
        "isPullRequest": d.is_pull_request,
        "createdAt": hf_date(&d.created_at),
        "pinned": false,
        "repo": { "name": repo.full_name(), "type": repo.kind().as_str() },
    });
    if let Some(author) = author_json(&d.author) {
        out["author"] = author;
    }
    out
}

fn event_json(e: &Event) -> Value {
    let data = match e.kind.as_str() {
        "comment" => {
            let raw = e.content.clone().unwrap_or_default();
            let latest = json!({
                "raw": raw,
                "html": hub_core::markdown::render(&raw),
                "updatedAt": hf_date(&e.updated_at),
                "author": author_json(&e.author),
            });
            json!({
                "edited": e.edited,
                "hidden": e.hidden,
                "numEdits": u8::from(e.edited),
                "editors": [],
                "history": if e.edited { vec![latest.clone()] } else { vec![] },
                "latest": latest,
            })
        }
        _ => e.data.clone(),
    };
    let mut out = json!({
        "id": e.id.to_string(),
        "type": e.kind,
        "createdAt": hf_date(&e.created_at),
        "data": data,
    });
    if let Some(author) = author_json(&e.author) {
        out["author"] = author;
    }
    out
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/discussions[?p=&type=&status=&author=]`.
async fn list(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    params: Params,
) -> ApiResult<Json<Value>> {
    let filter = Filter {
        pull_requests: params
            .get("type")
            .map(Filter::parse_type)
            .transpose()?
            .flatten(),
        status: params
            .get("status")
            .map(StatusFilter::parse)
            .transpose()?
            .unwrap_or_default(),
        author: params.get("author").map(str::to_owned),
    };
    let page = params.number::<i64>("p")?.unwrap_or(0);
    let page = discussions::list(&state, &repo, &filter, page).await?;
    let items: Vec<Value> = page
        .discussions
        .iter()
        .map(|d| discussion_json(d, &repo))
        .collect();
    Ok(Json(json!({
        "count": page.count,
        "start": page.start,
        "discussions": items,
    })))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NewDiscussion {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    pull_request: bool,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/discussions`.
async fn create(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let new: NewDiscussion = body(&bytes)?;
    let d = discussions::create(
        &state,
        &repo,
        &new.title,
        &new.description,
        new.pull_request,
    )
    .await?;
    let mut out = discussion_json(&d, &repo);
    out["url"] = json!(format!("discussions/{}", d.num));
    Ok(Json(out))
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/discussions/{num}[?diff=1]`.
async fn details(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, _, n)): NumPath,
    params: Params,
) -> ApiResult<Json<Value>> {
    let with_diff = params.flag("diff")?.unwrap_or(false);
    let view = community::view(&state, &repo, num(&n)?).await?;
    let d = &view.discussion;
    let mut out = discussion_json(d, &repo);
    out["events"] = view.events.iter().map(event_json).collect();
    if let (Some(changes), Some(target)) = (&view.changes, &d.target_branch) {
        out["changes"] = json!({
            "base": format!("refs/heads/{target}"),
            "mergeCommitId": d.merge_commit,
        });
        out["filesWithConflicts"] = json!(changes.conflicts);
        if with_diff {
            out["diff"] = json!(changes.unified());
        }
    }
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
struct CommentBody {
    #[serde(default)]
    comment: Option<String>,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/discussions/{num}/comment`.
async fn comment(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, _, n)): NumPath,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let b: CommentBody = body(&bytes)?;
    let text = b.comment.unwrap_or_default();
    let event = events::comment(&state, &repo, num(&n)?, &text).await?;
    Ok(Json(json!({ "newMessage": event_json(&event) })))
}

#[derive(Deserialize, Default)]
struct TitleBody {
    #[serde(default)]
    title: String,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/discussions/{num}/title`.
async fn rename(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, _, n)): NumPath,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let b: TitleBody = body(&bytes)?;
    let event = discussions::rename(&state, &repo, num(&n)?, &b.title).await?;
    Ok(Json(json!({ "newTitle": event_json(&event) })))
}

#[derive(Deserialize, Default)]
struct StatusBody {
    #[serde(default)]
    status: String,
    #[serde(default)]
    comment: Option<String>,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/discussions/{num}/status`.
async fn change_status(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, _, n)): NumPath,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let b: StatusBody = body(&bytes)?;
    let status = Status::parse(&b.status)?;
    let event =
        discussions::change_status(&state, &repo, num(&n)?, status, b.comment.as_deref()).await?;
    Ok(Json(json!({ "newStatus": event_json(&event) })))
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/discussions/{num}/merge`.
async fn merge_pull_request(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, _, n)): NumPath,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let b: CommentBody = body(&bytes)?;
    let d = merge::merge(&state, &repo, num(&n)?, b.comment.as_deref()).await?;
    let mut out = discussion_json(&d, &repo);
    out["mergeCommitId"] = json!(d.merge_commit);
    Ok(Json(out))
}

#[derive(Deserialize, Default)]
struct EditBody {
    #[serde(default)]
    content: String,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/discussions/{num}/comment/{comment_id}/edit`.
async fn edit_comment(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, _, n, id)): CommentPath,
    bytes: Bytes,
) -> ApiResult<Json<Value>> {
    let b: EditBody = body(&bytes)?;
    let id = events::parse_event_id(&id)?;
    let event = events::edit_comment(&state, &repo, num(&n)?, id, &b.content).await?;
    Ok(Json(json!({ "updatedComment": event_json(&event) })))
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/discussions/{num}/comment/{comment_id}/hide`.
async fn hide_comment(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    Path((_, _, _, n, id)): CommentPath,
) -> ApiResult<Json<Value>> {
    let id = events::parse_event_id(&id)?;
    let event = events::hide_comment(&state, &repo, num(&n)?, id).await?;
    Ok(Json(json!({ "updatedComment": event_json(&event) })))
}
