//! The commit API (NDJSON, stream-parsed) and the commit history.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{StreamExt, TryStreamExt};
use hub_core::Error;
use hub_core::commits::Target;
use hub_core::commits::ndjson::{self, Committed, MAX_LINE_BYTES};
use hub_core::repos::content;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::{hf_date, link_next, repo_url, urlencode};
use crate::app::AppState;
use crate::errors::ApiResult;
use crate::params::Params;
use crate::repo_path::ApiRepo;
use crate::request::Origin;

/// Largest commit body: inline files are bounded per file (10 MB) and in
/// total (hub-core's `ndjson::MAX_INLINE_BYTES`).
const MAX_COMMIT_BODY: usize = 512 * 1024 * 1024;
const COMMITS_PER_PAGE: usize = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/{repo_type}/{namespace}/{name}/commit/{revision}",
            post(create_commit).layer(DefaultBodyLimit::max(MAX_COMMIT_BODY)),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/commits/{revision}",
            get(list_commits),
        )
}

#[derive(Deserialize)]
struct CommitQuery {
    create_pr: Option<String>,
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/commit/{revision}[?create_pr=1]`.
async fn create_commit(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    origin: Origin,
    Path((_, _, _, revision)): Path<(String, String, String, String)>,
    Query(query): Query<CommitQuery>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let create_pr = query
        .create_pr
        .as_deref()
        .is_some_and(|v| v == "1" || v == "true");
    let target = Target::of_revision(&revision, create_pr)?;
    let reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let lines = FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE_BYTES))
        .enumerate()
        .map(|(i, line)| {
            line.map_err(|e| match e {
                LinesCodecError::MaxLineLengthExceeded => {
                    Error::too_large(format!("commit payload line {} is too long", i + 1))
                }
                LinesCodecError::Io(e) => {
                    Error::invalid(format!("cannot read the commit payload: {e}"))
                }
            })
        });
    let Committed {
        outcome,
        summary,
        pull_request,
    } = ndjson::commit(&state, &repo, target, lines).await?;
    let url = repo_url(&origin.base_url, &repo);
    Ok(Json(json!({
        "success": true,
        "commitOid": outcome.commit,
        "commitUrl": format!("{url}/commit/{}", outcome.commit),
        "commitMessage": summary,
        "hookOutput": "",
        "pullRequestUrl": pull_request.map(|num| format!("{url}/discussions/{num}")),
    })))
}

#[derive(Deserialize)]
struct Page {
    p: Option<usize>,
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/commits/{revision}`.
async fn list_commits(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo,
    origin: Origin,
    Path((segment, _, _, revision)): Path<(String, String, String, String)>,
    Query(page): Query<Page>,
    params: Params,
) -> ApiResult<Response> {
    let p = page.p.unwrap_or(0);
    // `expand[]=formatted` (list_repo_commits(formatted=True)): each commit
    // also as HTML, `formatted.title` and `formatted.message`.
    let formatted = params
        .all("expand[]")
        .chain(params.all("expand"))
        .any(|e| e == "formatted");
    let (commits, total) = content::history(
        &state,
        &repo,
        &revision,
        p * COMMITS_PER_PAGE,
        COMMITS_PER_PAGE,
    )
    .await?;
    let items: Vec<Value> = commits
        .into_iter()
        .map(|c| {
            let mut item = json!({
                "id": c.id,
                "title": c.title,
                "message": c.message,
                "date": hf_date(&c.date),
                "authors": c.authors.iter().map(|a| json!({ "user": a })).collect::<Vec<_>>(),
            });
            if formatted {
                item["formatted"] = json!({
                    "title": hub_core::highlight::escape(&c.title),
                    "message": hub_core::markdown::render(&c.message),
                });
            }
            item
        })
        .collect();
    let mut response = Json(items).into_response();
    if (p + 1) * COMMITS_PER_PAGE < total {
        let next = format!(
            "{}/api/{segment}/{}/commits/{}?p={}",
            origin.base_url,
            repo.full_name(),
            urlencode(&revision),
            p + 1
        );
        link_next(&mut response, &next);
    }
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    Ok(response)
}
