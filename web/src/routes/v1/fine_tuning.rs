//! OpenAI's fine-tuning API, so that the unmodified `openai` client works:
//! `/v1/files` (purpose `fine-tune`) and `/v1/fine_tuning/jobs…`. The
//! caller acts for themselves, or for an organisation they administer when
//! `OpenAI-Organization` names it (its wallet pays).

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use hub_core::Error;
use hub_core::accounts::Actor;
use hub_core::billing::Payer;
use hub_core::finetune::files;
use hub_core::finetune::hyperparameters::Requested;
use hub_core::finetune::jobs::{self, NewFineTune};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{OpenAiError, parse};
use crate::app::AppState;
use crate::auth::Auth;

type Result<T> = std::result::Result<T, FineTuningError>;

/// OpenAI answers a bad fine-tuning request with 400 (the `openai` client's
/// `BadRequestError`), where the hub's other `/v1` routes say 422.
pub struct FineTuningError(OpenAiError);

impl<E: Into<OpenAiError>> From<E> for FineTuningError {
    fn from(e: E) -> Self {
        FineTuningError(e.into())
    }
}

impl IntoResponse for FineTuningError {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        if response.status() == axum::http::StatusCode::UNPROCESSABLE_ENTITY {
            *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        }
        response
    }
}

/// The signed-in caller of a fine-tuning route and the wallet they act
/// for: their own, or with `OpenAI-Organization: ORG` an organisation they
/// administer.
pub struct Caller {
    pub actor: Actor,
    pub payer: Payer,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = FineTuningError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, Self::Rejection> {
        let Auth(actor) = Auth::from_request_parts(parts, state)
            .await
            .map_err(|e| FineTuningError::from(e.0))?;
        let user = actor.require_user()?.user.clone();
        let org = parts
            .headers
            .get("openai-organization")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && *v != user.name);
        let payer = Payer::acting(&state.db, &user, org).await?;
        Ok(Caller { actor, payer })
    }
}

/// OpenAI's list: each item as JSON with its `object` name.
fn listed<T: serde::Serialize>(items: &[T], object: &str, has_more: bool) -> Value {
    let data: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut v = serde_json::to_value(item).unwrap_or_default();
            v["object"] = json!(object);
            v
        })
        .collect();
    list_envelope(data, has_more)
}

fn list_envelope(data: Vec<Value>, has_more: bool) -> Value {
    json!({
        "object": "list",
        "first_id": data.first().and_then(|d| d["id"].as_str()).map(str::to_owned),
        "last_id": data.last().and_then(|d| d["id"].as_str()).map(str::to_owned),
        "data": data,
        "has_more": has_more,
    })
}

fn file_json(file: &files::FileObject) -> Value {
    let mut value = serde_json::to_value(file).unwrap_or_default();
    value["object"] = json!("file");
    value["status"] = json!("processed");
    value["status_details"] = Value::Null;
    value["expires_at"] = Value::Null;
    value
}

/// Handles `POST /v1/files`: a multipart form with `purpose` and then
/// `file`, whose bytes stream to storage.
pub async fn upload_file(
    State(state): State<AppState>,
    caller: Caller,
    form: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>> {
    let Caller { actor, payer } = caller;
    let user_id = actor.require_user()?.user.id;
    let invalid = |e: String| FineTuningError::from(Error::invalid(format!("invalid form: {e}")));
    let mut form = form.map_err(|e| invalid(e.body_text()))?;
    let mut purpose = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| invalid(e.body_text()))?
    {
        match field.name().unwrap_or_default() {
            "purpose" => purpose = Some(field.text().await.map_err(|e| invalid(e.body_text()))?),
            "file" => {
                let purpose = purpose
                    .clone()
                    .ok_or_else(|| invalid("purpose must come before file in the form".into()))?;
                let filename = field.file_name().unwrap_or("upload.jsonl").to_owned();
                let body = field.map_err(std::io::Error::other);
                let file =
                    files::upload(&state, &payer, user_id, &filename, &purpose, body).await?;
                return Ok(Json(file_json(&file)));
            }
            _ => {}
        }
    }
    Err(invalid("the form has no file".into()))
}

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    limit: Option<i64>,
    purpose: Option<String>,
}

/// Handles `GET /v1/files`.
pub async fn list_files(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>> {
    let payer = caller.payer;
    let list = files::list(
        &state,
        &payer,
        query.purpose.as_deref(),
        query.limit.unwrap_or(10_000),
    )
    .await?;
    Ok(Json(list_envelope(
        list.iter().map(file_json).collect(),
        false,
    )))
}

/// Handles `GET /v1/files/{id}`.
pub async fn get_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let payer = caller.payer;
    Ok(Json(file_json(&files::get(&state, &payer, &id).await?)))
}

/// Handles `GET /v1/files/{id}/content`.
pub async fn file_content(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let payer = caller.payer;
    let file = files::get(&state, &payer, &id).await?;
    let stream = files::content(&state, &file).await?;
    Ok((
        [("content-type", "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Handles `DELETE /v1/files/{id}`.
pub async fn delete_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let payer = caller.payer;
    files::delete(&state, &payer, &id).await?;
    Ok(Json(json!({ "id": id, "object": "file", "deleted": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateJob {
    model: String,
    training_file: String,
    validation_file: Option<String>,
    suffix: Option<String>,
    seed: Option<u64>,
    /// Deprecated by OpenAI in favour of `method`, still sent by old code.
    hyperparameters: Option<Requested>,
    method: Option<Method>,
    metadata: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    integrations: Option<Value>,
    // Ours.
    #[serde(default)]
    column_mapping: std::collections::BTreeMap<String, String>,
    max_length: Option<u32>,
    #[serde(default)]
    merge: bool,
}

#[derive(Deserialize)]
struct Method {
    #[serde(rename = "type")]
    kind: String,
    supervised: Option<Supervised>,
}

#[derive(Deserialize)]
struct Supervised {
    #[serde(default)]
    hyperparameters: Requested,
}

/// Handles `POST /v1/fine_tuning/jobs`.
pub async fn create_job(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Json<Value>> {
    let Caller { actor, payer } = caller;
    let request: CreateJob = parse(&body).map_err(FineTuningError)?;
    if request
        .integrations
        .as_ref()
        .is_some_and(|i| !i.is_null() && i != &json!([]))
    {
        return Err(Error::invalid("integrations are not supported").into());
    }
    let hyperparameters = match request.method {
        Some(Method { kind, .. }) if kind != "supervised" => {
            return Err(Error::invalid(format!(
                "method {kind:?} is not supported; only \"supervised\" (LoRA)"
            ))
            .into());
        }
        Some(Method { supervised, .. }) => supervised.map(|s| s.hyperparameters),
        None => None,
    }
    .or(request.hyperparameters)
    .unwrap_or_default();
    let new = NewFineTune {
        model: request.model,
        training_file: request.training_file,
        validation_file: request.validation_file,
        suffix: request.suffix,
        seed: request.seed,
        hyperparameters,
        metadata: request.metadata,
        column_mapping: request.column_mapping,
        max_length: request.max_length,
        merge: request.merge,
    };
    let job = jobs::create(&state, &actor, &payer, new).await?;
    Ok(Json(job.to_openai()))
}

/// Handles `GET /v1/fine_tuning/jobs`.
pub async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>> {
    let payer = caller.payer;
    let (rows, more) = jobs::list(
        &state,
        &payer,
        query.after.as_deref(),
        query.limit.unwrap_or(20),
    )
    .await?;
    Ok(Json(list_envelope(
        rows.iter().map(|j| j.to_openai()).collect(),
        more,
    )))
}

/// Handles `GET /v1/fine_tuning/jobs/{id}`.
pub async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let payer = caller.payer;
    Ok(Json(jobs::get(&state, &payer, &id).await?.to_openai()))
}

/// Handles `POST /v1/fine_tuning/jobs/{id}/cancel`.
pub async fn cancel_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let payer = caller.payer;
    Ok(Json(jobs::cancel(&state, &payer, &id).await?.to_openai()))
}

/// Handles `GET /v1/fine_tuning/jobs/{id}/events`.
pub async fn job_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>> {
    let (rows, more) = jobs::events(
        &state,
        &caller.payer,
        &id,
        query.after.as_deref(),
        query.limit.unwrap_or(20),
    )
    .await?;
    Ok(Json(listed(&rows, "fine_tuning.job.event", more)))
}

/// Handles `GET /v1/fine_tuning/jobs/{id}/checkpoints`.
pub async fn job_checkpoints(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>> {
    let (rows, more) = jobs::checkpoints(
        &state,
        &caller.payer,
        &id,
        query.after.as_deref(),
        query.limit.unwrap_or(10),
    )
    .await?;
    Ok(Json(listed(&rows, "fine_tuning.job.checkpoint", more)))
}
