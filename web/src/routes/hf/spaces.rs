//! Hugging Face's Space API, as `huggingface_hub` calls it:
//! `get_space_runtime`, `restart_space(factory_reboot=)`, `pause_space`,
//! `set_space_sleep_time`, `request_space_hardware`, the variables and
//! secrets calls, and the build and run logs as server-sent events.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hub_core::Error;
use hub_core::jobs::protocol::LogStream;
use hub_core::repos::access::level::{Read, Write};
use hub_core::spaces::logs::Cursor;
use hub_core::spaces::runtime::{self, Runtime};
use hub_core::spaces::{NewSpaceOptions, duplicate, env, origin};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::hf_date;
use crate::app::AppState;
use crate::errors::ApiResult;
use crate::repo_path::ApiRepo;
use crate::request::Origin;

pub fn router() -> Router<AppState> {
    const SPACE: &str = "/api/spaces/{namespace}/{name}";
    Router::new()
        .route(&format!("{SPACE}/runtime"), get(get_runtime))
        .route(&format!("{SPACE}/restart"), post(restart))
        .route(&format!("{SPACE}/pause"), post(pause))
        .route(&format!("{SPACE}/sleeptime"), post(sleep_time))
        .route(&format!("{SPACE}/hardware"), post(hardware))
        .route(
            &format!("{SPACE}/variables"),
            get(list_variables)
                .post(add_variable)
                .delete(delete_variable),
        )
        .route(
            &format!("{SPACE}/secrets"),
            get(list_secrets).post(add_secret).delete(delete_secret),
        )
        .route(&format!("{SPACE}/logs/{{stream}}"), get(logs))
        .route(&format!("{SPACE}/duplicate"), post(duplicate_space))
}

/// The Space settings `create_repo` and `duplicate_space` send.
#[derive(Deserialize, Default)]
pub struct SpaceSettingsBody {
    pub hardware: Option<Value>,
    #[serde(rename = "sleepTimeSeconds")]
    pub sleep_time_seconds: Option<Value>,
    pub secrets: Option<Value>,
    pub variables: Option<Value>,
}

impl SpaceSettingsBody {
    pub fn options(&self) -> Result<NewSpaceOptions, Error> {
        let bad = |what: &str| {
            Error::invalid(format!(
                "`{what}` is not in the shape huggingface_hub sends"
            ))
        };
        let entries = |value: &Option<Value>, what: &str| match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned);
                    match (text("key"), text("value")) {
                        (Some(key), Some(value)) => Ok((key, value, text("description"))),
                        _ => Err(bad(what)),
                    }
                })
                .collect(),
            Some(_) => Err(bad(what)),
        };
        Ok(NewSpaceOptions {
            hardware: match &self.hardware {
                None | Some(Value::Null) => None,
                Some(Value::String(h)) => Some(h.clone()),
                Some(_) => return Err(bad("hardware")),
            },
            sleep_time_s: match &self.sleep_time_seconds {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().ok_or_else(|| bad("sleepTimeSeconds"))?),
            },
            variables: entries(&self.variables, "variables")?,
            secrets: entries(&self.secrets, "secrets")?,
        })
    }
}

/// A runtime in the shape of `huggingface_hub`'s `SpaceRuntime`.
pub fn runtime_json(state: &AppState, origin: &Origin, runtime: &Runtime) -> Value {
    let host = origin
        .base_url
        .split_once("://")
        .map_or(origin.base_url.as_str(), |(_, h)| h);
    let scheme = origin.base_url.split("://").next().unwrap_or("http");
    let url = origin::url(&state.spaces.settings, scheme, host, &runtime.subdomain);
    let domain = url.split_once("://").map_or(url.as_str(), |(_, d)| d);
    json!({
        "stage": runtime.stage,
        "hardware": { "current": runtime.hardware, "requested": runtime.hardware },
        "gcTimeout": runtime.gc_timeout(state),
        "storage": Value::Null,
        "devMode": false,
        "replicas": { "current": 1, "requested": 1 },
        "errorMessage": runtime.error_message,
        "sha": runtime.sha,
        "sdk": runtime.sdk,
        "domains": [{ "domain": domain, "stage": "READY" }],
        "stageChangedAt": hf_date(&runtime.stage_changed_at),
    })
}

/// Handles `GET /api/spaces/{namespace}/{name}/runtime`.
async fn get_runtime(
    State(state): State<AppState>,
    origin: Origin,
    ApiRepo(space): ApiRepo<Read>,
) -> ApiResult<Json<Value>> {
    let runtime = runtime::get(&state, &space).await?;
    Ok(Json(runtime_json(&state, &origin, &runtime)))
}

#[derive(Deserialize)]
struct RestartQuery {
    factory: Option<bool>,
}

/// Handles `POST /api/spaces/{namespace}/{name}/restart[?factory=true]`.
async fn restart(
    State(state): State<AppState>,
    origin: Origin,
    ApiRepo(space): ApiRepo<Write>,
    Query(query): Query<RestartQuery>,
) -> ApiResult<Json<Value>> {
    let runtime = runtime::restart(&state, &space, query.factory.unwrap_or(false)).await?;
    Ok(Json(runtime_json(&state, &origin, &runtime)))
}

/// Handles `POST /api/spaces/{namespace}/{name}/pause`.
async fn pause(
    State(state): State<AppState>,
    origin: Origin,
    ApiRepo(space): ApiRepo<Write>,
) -> ApiResult<Json<Value>> {
    let runtime = runtime::pause(&state, &space).await?;
    Ok(Json(runtime_json(&state, &origin, &runtime)))
}

#[derive(Deserialize)]
struct SleepTime {
    seconds: i64,
}

/// Handles `POST /api/spaces/{namespace}/{name}/sleeptime {"seconds": N}`.
async fn sleep_time(
    State(state): State<AppState>,
    origin: Origin,
    ApiRepo(space): ApiRepo<Write>,
    Json(body): Json<SleepTime>,
) -> ApiResult<Json<Value>> {
    let runtime = runtime::set_sleep_time(&state, &space, body.seconds).await?;
    Ok(Json(runtime_json(&state, &origin, &runtime)))
}

#[derive(Deserialize)]
struct Hardware {
    flavor: String,
    #[serde(rename = "sleepTimeSeconds")]
    sleep_time_seconds: Option<i64>,
}

/// Handles `POST /api/spaces/{namespace}/{name}/hardware {"flavor": F}`.
async fn hardware(
    State(state): State<AppState>,
    origin: Origin,
    ApiRepo(space): ApiRepo<Write>,
    Json(body): Json<Hardware>,
) -> ApiResult<Json<Value>> {
    if let Some(seconds) = body.sleep_time_seconds {
        runtime::set_sleep_time(&state, &space, seconds).await?;
    }
    let runtime = runtime::set_hardware(&state, &space, &body.flavor).await?;
    Ok(Json(runtime_json(&state, &origin, &runtime)))
}

#[derive(Deserialize)]
struct NewEntry {
    key: String,
    value: String,
    description: Option<String>,
}

#[derive(Deserialize)]
struct EntryKey {
    key: String,
}

/// Entries by key, as `get_space_variables` reads them.
fn entries_json(entries: &[env::Entry]) -> Value {
    let mut out = Map::new();
    for e in entries {
        let mut item = json!({
            "description": e.description,
            "updatedAt": hf_date(&e.updated_at),
        });
        if let Some(value) = &e.value {
            item["value"] = json!(value);
        }
        out.insert(e.key.clone(), item);
    }
    Value::Object(out)
}

/// Handles `GET /api/spaces/{namespace}/{name}/variables` (variables are
/// public, as on Hugging Face).
async fn list_variables(
    State(state): State<AppState>,
    ApiRepo(space): ApiRepo<Read>,
) -> ApiResult<Json<Value>> {
    Ok(Json(entries_json(
        &env::list(&state, space.id, false).await?,
    )))
}

/// Handles `POST /api/spaces/{namespace}/{name}/variables`.
async fn add_variable(
    State(state): State<AppState>,
    ApiRepo(space): ApiRepo<Write>,
    Json(body): Json<NewEntry>,
) -> ApiResult<Json<Value>> {
    env::set(
        &state,
        space.id,
        &body.key,
        &body.value,
        body.description.as_deref(),
        false,
    )
    .await?;
    Ok(Json(entries_json(
        &env::list(&state, space.id, false).await?,
    )))
}

/// Handles `DELETE /api/spaces/{namespace}/{name}/variables {"key": K}`.
async fn delete_variable(
    State(state): State<AppState>,
    ApiRepo(space): ApiRepo<Write>,
    Json(body): Json<EntryKey>,
) -> ApiResult<Json<Value>> {
    env::delete(&state, space.id, &body.key, false).await?;
    Ok(Json(entries_json(
        &env::list(&state, space.id, false).await?,
    )))
}

/// Handles `GET /api/spaces/{namespace}/{name}/secrets`: keys,
/// descriptions and dates, never values.
async fn list_secrets(
    State(state): State<AppState>,
    ApiRepo(space): ApiRepo<Write>,
) -> ApiResult<Json<Value>> {
    Ok(Json(entries_json(
        &env::list(&state, space.id, true).await?,
    )))
}

/// Handles `POST /api/spaces/{namespace}/{name}/secrets`.
async fn add_secret(
    State(state): State<AppState>,
    ApiRepo(space): ApiRepo<Write>,
    Json(body): Json<NewEntry>,
) -> ApiResult<Json<Value>> {
    env::set(
        &state,
        space.id,
        &body.key,
        &body.value,
        body.description.as_deref(),
        true,
    )
    .await?;
    Ok(Json(json!({})))
}

/// Handles `DELETE /api/spaces/{namespace}/{name}/secrets {"key": K}`.
async fn delete_secret(
    State(state): State<AppState>,
    ApiRepo(space): ApiRepo<Write>,
    Json(body): Json<EntryKey>,
) -> ApiResult<Json<Value>> {
    env::delete(&state, space.id, &body.key, true).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogsQuery {
    tail: Option<u32>,
}

/// Handles `GET /api/spaces/{namespace}/{name}/logs/{build|run}`: the
/// current run's lines as `data: {"data": line, "timestamp": …}` events,
/// from the first byte, then live while the run goes on.
async fn logs(
    State(state): State<AppState>,
    ApiRepo(space): ApiRepo<Read>,
    Path((_, _, stream)): Path<(String, String, String)>,
    Query(query): Query<LogsQuery>,
) -> ApiResult<Response> {
    let stream = match stream.as_str() {
        "build" => LogStream::Build,
        "run" => LogStream::Run,
        other => return Err(Error::not_found(format!("no `{other}` logs: build or run")).into()),
    };
    let cursor = Cursor::open(&state, space.id, stream, query.tail).await?;
    Ok(crate::sse::response(LogEvents {
        state,
        cursor,
        pending: Vec::new().into_iter(),
        ended: false,
    })
    .into_response())
}

/// How long a log stream waits between looks when nothing wakes it.
const LOG_POLL: Duration = Duration::from_secs(2);

struct LogEvents {
    state: AppState,
    cursor: Cursor,
    pending: std::vec::IntoIter<hub_core::spaces::logs::LogLine>,
    ended: bool,
}

impl crate::sse::EventSource for LogEvents {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(line) = self.pending.next() {
                let data = json!({ "data": line.line, "timestamp": hf_date(&line.at) });
                return Some(
                    Event::default()
                        .id(line.index.to_string())
                        .data(data.to_string()),
                );
            }
            if self.ended {
                return None;
            }
            // Whether the run goes on is looked at before reading, so the
            // last lines of a run that just ended are still sent.
            let live = self.cursor.is_live(&self.state).await.ok()?;
            let lines = self.cursor.read(&self.state).await.ok()?;
            if !lines.is_empty() {
                self.pending = lines.into_iter();
                continue;
            }
            if !live {
                self.ended = true;
                continue;
            }
            self.cursor.wait(&self.state, LOG_POLL).await;
        }
    }
}

#[derive(Deserialize)]
struct DuplicateBody {
    /// `namespace/name` of the copy.
    repository: String,
    /// `public` or `private` (newer clients), or `private` (older ones).
    visibility: Option<String>,
    private: Option<bool>,
    #[serde(flatten)]
    space: SpaceSettingsBody,
}

/// Handles `POST /api/spaces/{namespace}/{name}/duplicate`: `{"url"}` of
/// the copy; a name taken is 409 with the URL of the repo holding it
/// (the client's `exist_ok` reads it).
async fn duplicate_space(
    State(state): State<AppState>,
    origin: Origin,
    ApiRepo(space): ApiRepo<Read>,
    Json(body): Json<DuplicateBody>,
) -> ApiResult<Response> {
    let (namespace, name) = body
        .repository
        .split_once('/')
        .ok_or_else(|| Error::invalid("`repository` is `namespace/name`"))?;
    let private = match body.visibility.as_deref() {
        Some("private") => Some(true),
        Some("public") => Some(false),
        Some(other) => return Err(Error::invalid(format!("unknown visibility `{other}`")).into()),
        None => body.private,
    };
    let options = body.space.options()?;
    let actor = space.actor().clone();
    match duplicate::duplicate(&state, &space, &actor, (namespace, name), private, &options).await {
        Ok(copy) => {
            Ok(Json(json!({ "url": super::repo_url(&origin.base_url, &copy) })).into_response())
        }
        Err(Error::Conflict(message)) => {
            let url = format!("{}/spaces/{namespace}/{name}", origin.base_url);
            Ok((
                axum::http::StatusCode::CONFLICT,
                Json(json!({ "error": message, "url": url })),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}
