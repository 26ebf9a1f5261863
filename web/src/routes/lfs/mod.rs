//! The Git LFS server, for model, dataset and space repos, under
//! `/{[datasets/|spaces/]}{namespace}/{name}[.git]/info/lfs/`: the batch API,
//! basic transfers (PUT and GET of one object, and `verify`) and file locks.
//! Errors use LFS's own shape (`{"message", "request_id"}` as
//! `application/vnd.git-lfs+json`, with a Basic challenge on 401 so git-lfs
//! asks its credential helper).

pub(crate) mod batch;
mod locks;
mod objects;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hub_core::Error;
use hub_core::accounts::Actor;
use hub_core::lfs::transfer::RepoAddress;
use hub_core::repos::RepoType;
use hub_core::repos::access::{Authorized, level, level::Level};
use serde::de::DeserializeOwned;

use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::{public_message, status_and_code};
use crate::repo_path::RepoPath;

/// The media type of every LFS request and answer.
pub const LFS_MEDIA_TYPE: &str = "application/vnd.git-lfs+json";

const CHALLENGE: &str = "Basic realm=\"Kaiyuan Hub\"";

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (prefix, _) in crate::routes::REPO_PREFIXES {
        let base = format!("{prefix}/{{namespace}}/{{name}}/info/lfs");
        router = router
            .route(&format!("{base}/objects/batch"), post(batch::batch))
            .route(
                &format!("{base}/objects/{{oid}}"),
                get(objects::download)
                    .put(objects::upload)
                    .layer(DefaultBodyLimit::disable()),
            )
            .route(&format!("{base}/verify"), post(objects::verify))
            .route(
                &format!("{base}/locks"),
                get(locks::list).post(locks::create),
            )
            .route(&format!("{base}/locks/verify"), post(locks::verify))
            .route(&format!("{base}/locks/{{id}}/unlock"), post(locks::unlock));
    }
    router.layer(middleware::from_fn(with_request_id))
}

tokio::task_local! {
    /// The request id of the LFS request being answered, for error bodies.
    static REQUEST_ID: String;
}

async fn with_request_id(request: axum::extract::Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    REQUEST_ID.scope(id, next.run(request)).await
}

/// A JSON answer with LFS's media type.
pub fn lfs_json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(LFS_MEDIA_TYPE),
    );
    response
}

/// An error answered the way git-lfs reads it. Input that breaks a rule is
/// a validation error (422), as the LFS API names it.
#[derive(Debug)]
pub struct LfsError(pub Error);

pub type LfsResult<T> = Result<T, LfsError>;

impl<E: Into<Error>> From<E> for LfsError {
    fn from(e: E) -> Self {
        LfsError(e.into())
    }
}

impl IntoResponse for LfsError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::InvalidInput(_) => StatusCode::UNPROCESSABLE_ENTITY,
            other => status_and_code(other).0,
        };
        let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
        let body = serde_json::json!({
            "message": public_message(&self.0),
            "request_id": request_id,
        });
        let mut response = lfs_json(status, body);
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGE),
            );
            headers.insert("lfs-authenticate", HeaderValue::from_static(CHALLENGE));
        }
        if let Error::TooManyRequests { retry_after, .. } = &self.0 {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs()),
            );
        }
        response
    }
}

/// The caller, as [`Auth`] finds them, with failures in LFS's shape.
pub struct LfsAuth(pub Actor);

impl FromRequestParts<AppState> for LfsAuth {
    type Rejection = LfsError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> LfsResult<Self> {
        let Auth(actor) = Auth::from_request_parts(parts, state)
            .await
            .map_err(|e| LfsError(e.0))?;
        Ok(LfsAuth(actor))
    }
}

/// The repo an LFS URL names (its type from the route's prefix, a `.git`
/// suffix dropped from the name), and the `{oid}` or `{id}` segment if any.
pub struct LfsPath {
    pub kind: RepoType,
    pub namespace: String,
    pub name: String,
    pub item: String,
}

impl LfsPath {
    pub fn address(&self) -> RepoAddress<'_> {
        RepoAddress {
            kind: self.kind,
            namespace: &self.namespace,
            name: &self.name,
        }
    }
}

/// The repo of an LFS URL with the caller's access at level `L` (see
/// [`crate::repo_path`]); refusals in LFS's shape.
pub struct LfsRepo<L: Level = level::Read>(pub Authorized<L>);

impl<L: Level> FromRequestParts<AppState> for LfsRepo<L> {
    type Rejection = LfsError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> LfsResult<Self> {
        let LfsAuth(actor) = LfsAuth::from_request_parts(parts, state).await?;
        // LFS routes name the type by their prefix alone.
        let no_plural: fn(&str) -> Result<RepoType, Error> =
            |_| Err(Error::not_found("no such LFS endpoint"));
        let path = RepoPath::of(parts, state, no_plural, true).await?;
        Ok(LfsRepo(path.authorize(state, &actor).await?))
    }
}

impl FromRequestParts<AppState> for LfsPath {
    type Rejection = LfsError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> LfsResult<Self> {
        let not_found = || LfsError(Error::not_found("no such LFS endpoint"));
        let matched = MatchedPath::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let kind = if matched.as_str().starts_with("/datasets/") {
            RepoType::Dataset
        } else if matched.as_str().starts_with("/spaces/") {
            RepoType::Space
        } else {
            RepoType::Model
        };
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_owned())
        };
        let name = param("name").ok_or_else(not_found)?;
        Ok(LfsPath {
            kind,
            namespace: param("namespace").ok_or_else(not_found)?,
            name: name.strip_suffix(".git").unwrap_or(&name).to_owned(),
            item: param("oid").or_else(|| param("id")).unwrap_or_default(),
        })
    }
}

/// A JSON body, whatever JSON media type the client names (git-lfs sends
/// LFS's own, `huggingface_hub` plain JSON); an empty body reads as `{}`.
pub struct LfsJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for LfsJson<T> {
    type Rejection = LfsError;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> LfsResult<Self> {
        let bytes = bytes::Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => Error::too_large(e.body_text()),
                _ => Error::invalid(format!("cannot read the request body: {}", e.body_text())),
            })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text)
            .map(LfsJson)
            .map_err(|e| LfsError(Error::invalid(format!("invalid request body: {e}"))))
    }
}

/// Query parameters, with malformed ones answered in LFS's shape.
pub struct LfsQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for LfsQuery<T> {
    type Rejection = LfsError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> LfsResult<Self> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|q| LfsQuery(q.0))
            .map_err(|e| LfsError(Error::invalid(format!("invalid query: {e}"))))
    }
}
