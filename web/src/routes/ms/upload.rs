//! Uploads as the `modelscope` SDK (1.37 and 1.40) makes them:
//! `create_model` / `create_repo` (`POST /api/v1/models`, or the
//! `/api/v1/datasets` form of `create_dataset`), then for
//! `upload_file` / `upload_folder` the LFS batch call, a PUT of each blob to
//! the signed link the batch answered, and one commit through hub-core's
//! commit path. The link is this module's own PUT route, not the git-LFS
//! one: 1.37 reads a `{"Code": 200, "Message"}` body from the PUT, and
//! both go through hub-core's LFS transfer (which checks sha256 and size).

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use futures::TryStreamExt;
use hub_core::Error;
use hub_core::commits::modelscope::{self, CommitBody};
use hub_core::lfs::batch::{self, BatchRequest, Decision};
use hub_core::lfs::signing::SignedParams;
use hub_core::lfs::transfer::{self, RepoAddress};
use hub_core::repos::access::level::Write;
use hub_core::repos::{RepoType, manage};
use serde::Deserialize;
use serde_json::json;

use super::auth::MsAuth;
use super::{MsError, MsJson, MsRepo, MsResult, ok, request_id};
use crate::app::AppState;
use crate::request::Origin;
use crate::routes::lfs::batch::object_href;

/// ModelScope's business codes for "the model / dataset already exists",
/// which the SDK's `exist_ok` paths swallow.
const MODEL_ALREADY_EXISTS: i64 = 10010101001;
const DATASET_ALREADY_EXISTS: i64 = 10020101001;

/// The SDK packs commits into about 8 MiB of JSON (base64 inline content
/// included); this leaves room for that and no more.
const MAX_COMMIT_BODY: usize = 16 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/models", post(create_model))
        .route("/api/v1/datasets", post(create_dataset))
        .route(
            "/api/v1/repos/{repo_type}/{namespace}/{name}/info/lfs/objects/batch",
            post(lfs_batch),
        )
        .route(
            "/api/v1/repos/{repo_type}/{namespace}/{name}/info/lfs/objects/{oid}",
            put(put_blob).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/repos/{repo_type}/{namespace}/{name}/commit/{revision}",
            post(commit).layer(DefaultBodyLimit::max(MAX_COMMIT_BODY)),
        )
}

#[derive(Deserialize)]
struct CreateModel {
    #[serde(rename = "Path")]
    namespace: String,
    #[serde(rename = "Name")]
    name: String,
    /// 1 private, 3 internal, 5 public; only 5 is public here.
    #[serde(rename = "Visibility", default)]
    visibility: Option<i64>,
}

/// Handles `POST /api/v1/models`: creates the model repo; an existing one
/// answers 400 with the "already exists" business code.
async fn create_model(
    State(state): State<AppState>,
    MsAuth(actor): MsAuth,
    MsJson(body): MsJson<CreateModel>,
) -> MsResult<Response> {
    let (ns, name) = (&body.namespace, &body.name);
    create_repo(&state, &actor, RepoType::Model, ns, name, body.visibility).await
}

/// Handles `POST /api/v1/datasets` (`create_dataset`; a multipart form with
/// `Owner`, `Name`, `Visibility`, and `License`, `ChineseName`,
/// `Description`, which the hub takes from the dataset card instead).
async fn create_dataset(
    State(state): State<AppState>,
    MsAuth(actor): MsAuth,
    form: Result<Multipart, MultipartRejection>,
) -> MsResult<Response> {
    let invalid = |e: String| MsError(Error::invalid(format!("invalid form: {e}")));
    let mut form = form.map_err(|e| invalid(e.body_text()))?;
    let mut fields = std::collections::HashMap::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| invalid(e.body_text()))?
    {
        let key = field.name().unwrap_or_default().to_owned();
        let value = field.text().await.map_err(|e| invalid(e.body_text()))?;
        fields.insert(key, value.trim().to_owned());
    }
    let field = |key: &str| {
        fields
            .get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| MsError(Error::invalid(format!("{key} is required"))))
    };
    let (ns, name) = (field("Owner")?, field("Name")?);
    let visibility = match fields.get("Visibility").map(String::as_str) {
        None | Some("") => None,
        Some(v) => Some(
            v.parse()
                .map_err(|_| invalid(format!("Visibility {v:?} is not a number")))?,
        ),
    };
    create_repo(&state, &actor, RepoType::Dataset, ns, name, visibility).await
}

/// Creates a repo for `create_model` / `create_dataset`: private unless
/// `visibility` is 5 (ModelScope's public); an existing repo answers 400 with
/// the "already exists" business code.
async fn create_repo(
    state: &AppState,
    actor: &hub_core::accounts::Actor,
    kind: RepoType,
    ns: &str,
    name: &str,
    visibility: Option<i64>,
) -> MsResult<Response> {
    let private = visibility != Some(5);
    match manage::create(state, actor, kind, ns, name, private, None).await {
        Ok(repo) => Ok(ok(
            json!({ "Id": repo.id, "Path": repo.namespace, "Name": repo.name }),
        )),
        Err(Error::Conflict(message)) => {
            let code = match kind {
                RepoType::Dataset => DATASET_ALREADY_EXISTS,
                _ => MODEL_ALREADY_EXISTS,
            };
            let body = json!({
                "Code": code,
                "Data": null,
                "Message": message,
                "RequestId": request_id(),
                "Success": false,
            });
            Ok((StatusCode::BAD_REQUEST, Json(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Handles `POST /api/v1/repos/{models|datasets}/{namespace}/{name}/info/lfs/objects/batch`:
/// the hub's LFS batch decision, in the envelope; objects to send carry
/// `actions.upload.href`, a signed link to [`put_blob`] on the host the
/// client addressed (https when it came over TLS).
async fn lfs_batch(
    State(state): State<AppState>,
    MsRepo(repo): MsRepo<Write>,
    origin: Origin,
    Path((repo_type, _, _)): Path<(String, String, String)>,
    MsJson(request): MsJson<BatchRequest>,
) -> MsResult<Response> {
    let planned = batch::plan(&state, &repo, &request).await?;
    let base = format!(
        "{}/api/v1/repos/{repo_type}/{}/info/lfs",
        origin.base_url,
        repo.full_name()
    );
    let mut objects = Vec::with_capacity(planned.len());
    for p in &planned {
        objects.push(match &p.decision {
            Decision::Present => json!({ "oid": p.oid, "size": p.size }),
            Decision::Transfer(grant) => json!({
                "oid": p.oid,
                "size": p.size,
                "actions": { "upload": { "href": object_href(&base, &p.oid, grant, &state) } },
            }),
            Decision::Error { message, .. } => return Err(Error::invalid(message.clone()).into()),
        });
    }
    Ok(ok(json!({ "objects": objects })))
}

/// Handles `PUT /api/v1/repos/{models|datasets}/{namespace}/{name}/info/lfs/objects/{oid}?<signed>`:
/// the blob streamed into the LFS store (which verifies its sha256 and
/// size against the signed link), answered in the envelope 1.37 reads.
async fn put_blob(
    State(state): State<AppState>,
    Path((plural, ns, name, oid)): Path<(String, String, String, String)>,
    link: Result<Query<SignedParams>, QueryRejection>,
    body: Body,
) -> MsResult<Response> {
    let Query(link) =
        link.map_err(|e| Error::invalid(format!("invalid link: {}", e.body_text())))?;
    let address = RepoAddress {
        kind: super::repo_type(&plural)?,
        namespace: &ns,
        name: &name,
    };
    let body = body.into_data_stream().map_err(std::io::Error::other);
    transfer::upload(&state, address, &oid, &link, body).await?;
    Ok(ok(json!(null)))
}

/// Handles `POST /api/v1/repos/{models|datasets}/{namespace}/{name}/commit/{revision}`:
/// one commit through hub-core's ModelScope commit workflow.
async fn commit(
    State(state): State<AppState>,
    MsRepo(repo): MsRepo<Write>,
    Path((_, _, _, revision)): Path<(String, String, String, String)>,
    MsJson(body): MsJson<CommitBody>,
) -> MsResult<Response> {
    let outcome = modelscope::commit(&state, &repo, &revision, body).await?;
    Ok(ok(json!({ "oid": outcome.commit })))
}
