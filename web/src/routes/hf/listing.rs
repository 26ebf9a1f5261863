//! Listings: `GET /api/models`, `/api/datasets`, `/api/spaces`, with
//! `search`, `author`, `filter`, `sort`, `direction`, `limit`, `full`,
//! `cardData`, `expand`, and `Link` pagination to absolute URLs.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hub_core::Error;
use hub_core::repos::content;
use hub_core::search::{self, ListQuery, Listed, MAX_PAGE, Sort};
use serde_json::{Value, json};

use super::{link_next, repo_json, repo_type, siblings_json};
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiResult;
use crate::params::Params;
use crate::request::Origin;

/// Entries per page when the client names no limit.
const DEFAULT_PAGE: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/{repo_type}", get(list_repos))
}

/// Handles `GET /api/{models|datasets|spaces}`.
async fn list_repos(
    State(state): State<AppState>,
    Auth(actor): Auth,
    origin: Origin,
    Path(segment): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let kind = repo_type(&segment)?;
    let query = list_query(kind, &params)?;
    let (listed, more) = search::list(&state.db, &actor, &query).await?;
    let expand: Vec<&str> = params.all("expand").collect();
    let full = params.flag("full")?.unwrap_or(false);
    let card_data = params.flag("cardData")?.unwrap_or(false) || full;
    let siblings = full || expand.contains(&"siblings");
    let mut items = Vec::with_capacity(listed.len());
    for entry in &listed {
        items.push(item_json(&state, entry, siblings, card_data, &expand).await?);
    }
    let mut response = Json(items).into_response();
    if more {
        link_next(
            &mut response,
            &next_page(&origin, &segment, &params, &query),
        );
    }
    Ok(response)
}

/// The query the parameters ask for; unknown values are a clear 400.
fn list_query(kind: hub_core::repos::RepoType, params: &Params) -> Result<ListQuery, Error> {
    let mut filters: Vec<String> = params.all("filter").map(str::to_owned).collect();
    filters.extend(params.all("pipeline_tag").map(str::to_owned));
    let ascending = match params.get("direction") {
        None | Some("-1") => false,
        Some("1") => true,
        Some(other) => {
            return Err(Error::invalid(format!(
                "direction must be -1 or 1, not '{other}'"
            )));
        }
    };
    Ok(ListQuery {
        search: params.all("search").map(str::to_owned).collect(),
        author: params.get("author").map(str::to_owned),
        filters,
        gated: params.flag("gated")?,
        sort: params
            .get("sort")
            .map(Sort::parse)
            .transpose()?
            .unwrap_or(Sort::Trending),
        ascending,
        limit: params
            .number("limit")?
            .unwrap_or(DEFAULT_PAGE)
            .clamp(1, MAX_PAGE),
        offset: params.number("offset")?.unwrap_or(0),
        ..ListQuery::new(kind)
    })
}

/// The same URL with the offset of the next page.
fn next_page(origin: &Origin, segment: &str, params: &Params, query: &ListQuery) -> String {
    let mut url = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params
        .pairs()
        .filter(|(k, _)| !matches!(*k, "offset" | "limit"))
    {
        url.append_pair(key, value);
    }
    url.append_pair("limit", &query.limit.to_string());
    url.append_pair("offset", &(query.offset + query.limit).to_string());
    format!("{}/api/{segment}?{}", origin.base_url, url.finish())
}

/// One repo as listed. With `expand`, only the properties it names (and the
/// ids); `siblings` read the default branch's tree.
async fn item_json(
    state: &AppState,
    entry: &Listed,
    siblings: bool,
    card_data: bool,
    expand: &[&str],
) -> Result<Value, Error> {
    let repo = &entry.repo;
    let files = match (&repo.head_sha, siblings) {
        (Some(head), true) => Some(content::list(state, repo, head, "", true).await?.1),
        _ => None,
    };
    let has_config = files
        .iter()
        .flat_map(|f| f.iter())
        .any(|f| f.path == "config.json");
    let mut item = repo_json(repo, repo.head_sha.as_deref(), has_config);
    item["trendingScore"] = json!(entry.trending_score);
    if let Some(files) = &files {
        item["siblings"] = siblings_json(files, false);
    }
    if let Some(fields) = item.as_object_mut() {
        if !card_data && !expand.contains(&"cardData") {
            fields.remove("cardData");
        }
        if !expand.is_empty() {
            fields
                .retain(|k, _| matches!(k.as_str(), "_id" | "id") || expand.contains(&k.as_str()));
        }
    }
    Ok(item)
}
