//! Git smart HTTP: `info/refs`, `git-upload-pack` and `git-receive-pack`
//! for `/{ns}/{name}[.git]`, `/datasets/...` and `/spaces/...`. One entry
//! authenticates and checks access; the real git processes do the protocol,
//! with both bodies streamed (never a whole pack in memory).

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{StreamExt, TryStreamExt};
use hub_core::Error;
use hub_core::accounts::Actor;
use hub_core::git::hooks;
use hub_core::git::service::{self, Service};
use hub_core::repos::access;
use hub_core::repos::{Repo, RepoType};
use serde::Deserialize;
use tokio::io::AsyncRead;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::app::AppState;
use crate::auth::Auth;
use crate::errors::{ApiError, public_message, status_and_code};

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for (prefix, kind) in crate::routes::REPO_PREFIXES {
        router = router.route(
            &format!("{prefix}/{{namespace}}/{{name}}/info/refs"),
            get(move |s, a, h, p, q| info_refs(s, a, h, kind, p, q)),
        );
        for service in [Service::UploadPack, Service::ReceivePack] {
            router = router.route(
                &format!("{prefix}/{{namespace}}/{{name}}/{}", service.name()),
                post(move |s, a, h, p, b| rpc(s, a, h, (kind, service), p, b))
                    .layer(DefaultBodyLimit::disable()),
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

/// The repo of a git URL (`name` may carry the `.git` suffix), if the actor
/// may use `service` on it.
async fn git_repo(
    state: &AppState,
    actor: &Actor,
    kind: RepoType,
    ns: &str,
    name: &str,
    service: Service,
) -> Result<Repo, GitError> {
    let name = name.strip_suffix(".git").unwrap_or(name);
    Ok(access::authorize(&state.db, actor, kind, ns, name, service.needed_access()).await?)
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
    auth: Result<Auth, ApiError>,
    headers: HeaderMap,
    kind: RepoType,
    Path((ns, name)): Path<(String, String)>,
    Query(query): Query<ServiceQuery>,
) -> Result<Response, GitError> {
    let Auth(actor) = auth?;
    let service = query
        .service
        .as_deref()
        .ok_or_else(|| {
            Error::forbidden("only the smart HTTP protocol is served; please update git")
        })
        .and_then(Service::parse)?;
    let repo = git_repo(&state, &actor, kind, &ns, &name, service).await?;
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
    auth: Result<Auth, ApiError>,
    headers: HeaderMap,
    (kind, service): (RepoType, Service),
    Path((ns, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response, GitError> {
    let Auth(actor) = auth?;
    let repo = git_repo(&state, &actor, kind, &ns, &name, service).await?;
    let expected = format!("application/x-{}-request", service.name());
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return Err(Error::invalid(format!("expected Content-Type {expected}")).into());
    }
    let hook_env = match (service, actor.user()) {
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
