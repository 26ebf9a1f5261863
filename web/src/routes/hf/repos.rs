//! Repo management and metadata: create, delete, move, settings, info, likes.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use hub_core::repos::access::{self, level::Admin};
use hub_core::repos::{RepoType, content, counters, manage, storage};
use hub_core::spaces;
use hub_core::{Error, names};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{hf_date, repo_json, repo_url, siblings_json};
use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::ApiResult;
use crate::params::Params;
use crate::repo_path::ApiRepo;
use crate::request::Origin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/repos/create", post(create_repo))
        .route("/api/repos/delete", delete(delete_repo))
        .route("/api/repos/move", post(move_repo))
        .route("/api/{repo_type}/{namespace}/{name}", get(repo_info))
        .route(
            "/api/{repo_type}/{namespace}/{name}/revision/{revision}",
            get(repo_info_at_revision),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/settings",
            put(update_settings),
        )
        .route(
            "/api/{repo_type}/{namespace}/{name}/like",
            post(like).delete(unlike),
        )
        .route("/api/users/{user}/likes", get(user_likes))
}

#[derive(Deserialize)]
struct CreateRepo {
    name: String,
    organization: Option<String>,
    #[serde(rename = "type")]
    repo_type: Option<String>,
    visibility: Option<String>,
    /// Older clients send `private` instead of `visibility`.
    private: Option<bool>,
    /// What a Space should run on and with.
    #[serde(flatten)]
    space: super::spaces::SpaceSettingsBody,
    volumes: Option<Value>,
    template: Option<Value>,
    /// A Space's SDK, written into its first README.
    sdk: Option<String>,
}

impl CreateRepo {
    /// The settings asked for that this hub cannot honour: volumes and
    /// templates, and any Space setting for a repo that is no Space.
    fn refused_settings(&self, repo_type: RepoType) -> Vec<&'static str> {
        let space_only = [
            ("hardware", &self.space.hardware),
            ("sleepTimeSeconds", &self.space.sleep_time_seconds),
            ("secrets", &self.space.secrets),
            ("variables", &self.space.variables),
        ];
        let never = [("volumes", &self.volumes), ("template", &self.template)];
        let asked =
            |(_, v): &(&'static str, &Option<Value>)| v.as_ref().is_some_and(|v| !v.is_null());
        let mut refused: Vec<&'static str> =
            never.into_iter().filter(asked).map(|(n, _)| n).collect();
        if repo_type != RepoType::Space {
            refused.extend(space_only.into_iter().filter(asked).map(|(n, _)| n));
        }
        refused
    }
}

/// Handles `POST /api/repos/create`.
async fn create_repo(
    State(state): State<AppState>,
    Auth(actor): Auth,
    origin: Origin,
    Json(body): Json<CreateRepo>,
) -> ApiResult<Response> {
    let repo_type = RepoType::parse(body.repo_type.as_deref().unwrap_or("model"))?;
    let private = parse_visibility(body.visibility.as_deref(), body.private)?.unwrap_or(false);
    let principal = actor.require_user()?;
    let refused = body.refused_settings(repo_type);
    if !refused.is_empty() {
        return Err(Error::invalid(format!(
            "{} cannot be set here; create the repo without them",
            refused.join(", ")
        ))
        .into());
    }
    let space_options = body.space.options()?;
    let (namespace, name) = match (&body.organization, body.name.split_once('/')) {
        (Some(org), _) => (org.clone(), body.name.clone()),
        (None, Some((ns, name))) => (ns.to_owned(), name.to_owned()),
        (None, None) => (principal.user.name.clone(), body.name.clone()),
    };
    let created = match repo_type {
        RepoType::Space => {
            spaces::create(
                &state,
                &actor,
                &namespace,
                &name,
                private,
                body.sdk.as_deref(),
                &space_options,
            )
            .await
        }
        _ => manage::create(&state, &actor, repo_type, &namespace, &name, private, None).await,
    };
    match created {
        Ok(repo) => {
            let url = repo_url(&origin.base_url, &repo);
            Ok(
                Json(json!({ "url": url, "name": repo.full_name(), "id": repo.id.to_string() }))
                    .into_response(),
            )
        }
        // The client reads `url` even from the 409 (its `exist_ok` path).
        Err(Error::Conflict(message)) => {
            let url = format!(
                "{}/{}{namespace}/{name}",
                origin.base_url,
                repo_type.url_prefix()
            );
            Ok((
                StatusCode::CONFLICT,
                Json(json!({ "error": message, "url": url })),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn parse_visibility(
    visibility: Option<&str>,
    private: Option<bool>,
) -> Result<Option<bool>, Error> {
    match (visibility, private) {
        (Some("private"), _) => Ok(Some(true)),
        (Some("public"), _) => Ok(Some(false)),
        (Some(other), _) => Err(Error::invalid(format!(
            "visibility must be 'public' or 'private', not '{other}'"
        ))),
        (None, private) => Ok(private),
    }
}

#[derive(Deserialize)]
struct RepoRef {
    name: String,
    organization: Option<String>,
    #[serde(rename = "type")]
    repo_type: Option<String>,
}

impl RepoRef {
    fn resolve(
        &self,
        actor: &hub_core::accounts::Actor,
    ) -> Result<(RepoType, String, String), Error> {
        let repo_type = RepoType::parse(self.repo_type.as_deref().unwrap_or("model"))?;
        let (ns, name) = match (&self.organization, self.name.split_once('/')) {
            (Some(org), _) => (org.clone(), self.name.clone()),
            (None, Some((ns, name))) => (ns.to_owned(), name.to_owned()),
            (None, None) => (actor.require_user()?.user.name.clone(), self.name.clone()),
        };
        Ok((repo_type, ns, name))
    }
}

/// Handles `DELETE /api/repos/delete`.
async fn delete_repo(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<RepoRef>,
) -> ApiResult<Json<Value>> {
    let (repo_type, ns, name) = body.resolve(&actor)?;
    let repo = access::authorize::<Admin>(&state, &actor, repo_type, &ns, &name).await?;
    manage::delete(&state, repo).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoveRepo {
    from_repo: String,
    to_repo: String,
    #[serde(rename = "type")]
    repo_type: Option<String>,
}

/// Handles `POST /api/repos/move`.
async fn move_repo(
    State(state): State<AppState>,
    Auth(actor): Auth,
    origin: Origin,
    Json(body): Json<MoveRepo>,
) -> ApiResult<Json<Value>> {
    let repo_type = RepoType::parse(body.repo_type.as_deref().unwrap_or("model"))?;
    let (ns, name) = names::split_repo_id(&body.from_repo)?;
    let to = names::split_repo_id(&body.to_repo)?;
    let repo = access::authorize::<Admin>(&state, &actor, repo_type, ns, name).await?;
    let repo = manage::rename(&state, &repo, to).await?;
    Ok(Json(
        json!({ "url": repo_url(&origin.base_url, &repo), "name": repo.full_name() }),
    ))
}

#[derive(Deserialize)]
struct Settings {
    visibility: Option<String>,
    private: Option<bool>,
    gated: Option<Value>,
}

/// Handles `PUT /api/{repo_type}/{namespace}/{name}/settings`.
async fn update_settings(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo<Admin>,
    Json(body): Json<Settings>,
) -> ApiResult<Json<Value>> {
    if !matches!(
        body.gated,
        None | Some(Value::Bool(false)) | Some(Value::Null)
    ) {
        return Err(Error::invalid("gated repos are not supported by this hub yet").into());
    }
    let private = parse_visibility(body.visibility.as_deref(), body.private)?;
    let repo = manage::update_settings(&state, &repo, private).await?;
    Ok(Json(json!({ "private": repo.private, "gated": false })))
}

#[derive(Deserialize, Default)]
struct InfoQuery {
    blobs: Option<bool>,
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}`.
async fn repo_info(
    state: State<AppState>,
    origin: Origin,
    repo: ApiRepo,
    query: Query<InfoQuery>,
    params: Params,
) -> ApiResult<Json<Value>> {
    info(state, origin, repo, None, query, params).await
}

/// Handles `GET /api/{repo_type}/{namespace}/{name}/revision/{revision}`.
async fn repo_info_at_revision(
    state: State<AppState>,
    origin: Origin,
    repo: ApiRepo,
    Path((_, _, _, revision)): Path<(String, String, String, String)>,
    query: Query<InfoQuery>,
    params: Params,
) -> ApiResult<Json<Value>> {
    info(state, origin, repo, Some(revision), query, params).await
}

async fn info(
    State(state): State<AppState>,
    origin: Origin,
    ApiRepo(repo): ApiRepo,
    revision: Option<String>,
    Query(query): Query<InfoQuery>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let revision = revision.unwrap_or_else(|| repo.default_branch.clone());
    let (sha, entries) = content::list(&state, &repo, &revision, "", true).await?;
    let has_config = entries.iter().any(|e| e.path == "config.json");
    let mut body = repo_json(&repo, Some(&sha), has_config);
    body["siblings"] = siblings_json(&entries, query.blobs.unwrap_or(false));
    if repo.kind() == RepoType::Space {
        // SpaceInfo's `runtime`, `subdomain` and `host`.
        let runtime = spaces::runtime::get(&state, &repo).await?;
        let runtime = super::spaces::runtime_json(&state, &origin, &runtime);
        let domain = runtime["domains"][0]["domain"].clone();
        body["subdomain"] = domain.as_str().and_then(|d| d.split('.').next()).into();
        body["host"] = format!(
            "{}://{}",
            origin.base_url.split("://").next().unwrap_or("http"),
            domain.as_str().unwrap_or_default()
        )
        .into();
        body["runtime"] = runtime;
    }
    // `expand=usedStorage` (huggingface_hub's `used_storage`): the logical
    // size of every large file of every revision; `storage` adds what the
    // store holds for them after deduplication.
    if params
        .all("expand")
        .chain(params.all("expand[]"))
        .any(|e| e == "usedStorage" || e == "storage")
    {
        let used = storage::of_repo(&state.db, repo.id).await?;
        body["usedStorage"] = used.logical_bytes.into();
        body["storage"] = serde_json::to_value(used).map_err(anyhow::Error::from)?;
    }
    Ok(Json(body))
}

/// Handles `POST /api/{repo_type}/{namespace}/{name}/like`.
async fn like(State(state): State<AppState>, ApiRepo(repo): ApiRepo) -> ApiResult<Json<Value>> {
    let likes = counters::like(&state.db, repo.actor().require_writer()?, &repo).await?;
    Ok(Json(json!({ "likes": likes })))
}

/// Handles `DELETE /api/{repo_type}/{namespace}/{name}/like`.
async fn unlike(State(state): State<AppState>, ApiRepo(repo): ApiRepo) -> ApiResult<Json<Value>> {
    let likes = counters::unlike(&state.db, repo.actor().require_writer()?, &repo).await?;
    Ok(Json(json!({ "likes": likes })))
}

/// Handles `GET /api/users/{user}/likes` (`HfApi.list_liked_repos`): the
/// repos the user likes that the caller may see, newest first, in one page.
async fn user_likes(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    let likes = counters::likes_of(&state.db, &actor, &user).await?;
    let likes: Vec<Value> = likes
        .iter()
        .map(|like| {
            json!({
                "createdAt": hf_date(&like.liked_at),
                "repo": { "name": like.repo_id, "type": like.repo_type.as_str() },
            })
        })
        .collect();
    Ok(Json(Value::Array(likes)))
}
