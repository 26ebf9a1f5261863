//! Git smart HTTP: `info/refs`, `git-upload-pack` and `git-receive-pack`
//! for `/{ns}/{name}[.git]`, `/datasets/...` and `/spaces/...`. One entry
//! authenticates and checks access; the real git processes do the protocol,
//! with both bodies streamed (never a whole pack in memory).

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{StreamExt, TryStreamExt};
use hub_core::Error;
use hub_core::git::hooks;
use hub_core::git::service::{self, Service};
use hub_core::repos::RepoType;
use hub_core::repos::access::Authorized;
use serde::Deserialize;
use tokio::io::AsyncRead;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::{ApiError, public_message, status_and_code};
use crate::repo_path::RepoPath;

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (prefix, _) in crate::routes::REPO_PREFIXES {
        router = router.route(
            &format!("{prefix}/{{namespace}}/{{name}}/info/refs"),
            get(info_refs),
        );
        for service in [Service::UploadPack, Service::ReceivePack] {
            router = router.route(
                &format!("{prefix}/{{namespace}}/{{name}}/{}", service.name()),
                post(move |s, r, h, b| rpc(s, r, h, service, b)).layer(DefaultBodyLimit::disable()),
            );
        }
    }
    router
}

/// Errors as git clients understand them: 401 with a Basic challenge (git
/// then asks its credential helper), otherwise a status and a plain message.
struct GitError(Error);

impl From<Error> for GitError {
    fn from(e: Error) -> Self {
        GitError(e)
    }
}

impl From<ApiError> for GitError {
    fn from(e: ApiError) -> Self {
        GitError(e.0)
    }
}

impl IntoResponse for GitError {
    fn into_response(self) -> Response {
        let (status, _) = status_and_code(&self.0);
        let message = format!("{}\n", public_message(&self.0));
        let mut response = (status, message).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Kaiyuan Hub\""),
            );
        }
        response
    }
}

/// The repo of a git URL (`name` may carry the `.git` suffix) that the
/// caller may read; the service's own level is checked once it is known
/// (see [`crate::repo_path`]).
struct GitRepo(Authorized);

impl FromRequestParts<AppState> for GitRepo {
    type Rejection = GitError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, GitError> {
        let Auth(actor) = Auth::from_request_parts(parts, state).await?;
        let no_plural: fn(&str) -> Result<RepoType, Error> =
            |_| Err(Error::not_found("no such git endpoint"));
        let path = RepoPath::of(parts, state, no_plural, true).await?;
        Ok(GitRepo(path.authorize(state, &actor).await?))
    }
}

fn git_protocol(headers: &HeaderMap) -> Option<&str> {
    headers.get("git-protocol").and_then(|v| v.to_str().ok())
}

#[derive(Deserialize)]
struct ServiceQuery {
    service: Option<String>,
}

/// Handles `GET /{namespace}/{name}[.git]/info/refs?service=...`.
async fn info_refs(
    State(state): State<AppState>,
    GitRepo(repo): GitRepo,
    headers: HeaderMap,
    Query(query): Query<ServiceQuery>,
) -> Result<Response, GitError> {
    let service = query
        .service
        .as_deref()
        .ok_or_else(|| {
            Error::forbidden("only the smart HTTP protocol is served; please update git")
        })
        .and_then(Service::parse)?;
    service.check(&repo)?;
    let body = service::advertise_refs(
        &state.git_env,
        &state.repo_dir(repo.id),
        service,
        git_protocol(&headers),
    )
    .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                format!("application/x-{}-advertisement", service.name()),
            ),
            (
                header::CACHE_CONTROL,
                "no-cache, max-age=0, must-revalidate".to_owned(),
            ),
        ],
        body,
    )
        .into_response())
}

/// Handles `POST /{namespace}/{name}[.git]/git-upload-pack` and `.../git-receive-pack`.
async fn rpc(
    State(state): State<AppState>,
    GitRepo(repo): GitRepo,
    headers: HeaderMap,
    service: Service,
    body: Body,
) -> Result<Response, GitError> {
    service.check(&repo)?;
    let expected = format!("application/x-{}-request", service.name());
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return Err(Error::invalid(format!("expected Content-Type {expected}")).into());
    }
    let hook_env = match (service, repo.actor().user()) {
        (Service::ReceivePack, Some(user)) => vec![
            (hooks::ENV_SOCKET, state.hook_socket.display().to_string()),
            (
                hooks::ENV_TOKEN,
                hooks::issue_token(&state.secret, repo.id, user.id),
            ),
            (hooks::ENV_REPO_ID, repo.id.to_string()),
            (hooks::ENV_PUSHER_ID, user.id.to_string()),
        ],
        _ => Vec::new(),
    };
    let mut child = service::spawn_rpc(
        &state.git_env,
        &state.repo_dir(repo.id),
        service,
        git_protocol(&headers),
        &hook_env,
    )?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let request = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let mut request: Box<dyn AsyncRead + Send + Unpin> = if gzip {
        Box::new(async_compression::tokio::bufread::GzipDecoder::new(request))
    } else {
        Box::new(request)
    };
    // Feed the request to git while its answer streams back; if the client
    // goes away, the response is dropped and with it the child (killed).
    tokio::spawn(async move {
        if let Err(e) = tokio::io::copy(&mut request, &mut stdin).await {
            tracing::debug!(error = %e, "git request body ended early");
        }
    });
    tokio::spawn(log_stderr(stderr, service));
    let output =
        ReaderStream::with_capacity(stdout, 64 << 10).chain(futures::stream::once(async move {
            // Keep the child alive until its output is done, then reap it.
            match child.wait().await {
                Ok(status) if !status.success() => {
                    tracing::debug!(%status, "git exited with an error")
                }
                Err(e) => tracing::warn!(error = %e, "cannot wait for git"),
                _ => {}
            }
            Ok(bytes::Bytes::new())
        }));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                format!("application/x-{}-result", service.name()),
            ),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        Body::from_stream(output),
    )
        .into_response())
}

async fn log_stderr(stderr: tokio::process::ChildStderr, service: Service) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(service = service.name(), "git: {line}");
    }
}
