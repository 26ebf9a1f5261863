//! Uploading files from the browser: `/{ns}/{name}/upload/{rev}`.
//!
//! The page's script (`/static/upload.js`) sends one streaming POST to the
//! same URL: a first line of JSON naming the files, their sizes and the
//! commit message, then the files' bytes back to back. The browser builds
//! the body as a `Blob` of the `File`s, so it never reads them into memory,
//! and reports progress as the body goes out. hub-core reads, bounds and
//! commits it ([`browser::upload`]: each file spooled to disk, large and
//! binary files to LFS, all in one commit). Someone who may not write to
//! the repo gets the same page, and their upload opens a pull request.

use askama::Template;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::TryStreamExt;
use hub_core::Error;
use hub_core::repos::access::level::{Read, Write};
use hub_core::repos::access::{self, Access, Authorized};
use hub_core::repos::{RepoType, content};
use hub_core::uploads::browser;
use serde_json::json;
use tokio_util::io::StreamReader;

use super::repo_routes::{each_kind, repo_url};
use super::{Frame, page, render, to_login};
use crate::app::AppState;
use crate::auth::Session;
use crate::errors::status_and_code;
use crate::i18n::Lang;
use crate::repo_path::ApiRepo;

pub fn router() -> Router<AppState> {
    each_kind("/upload/{rev}", |kind| {
        get(move |state, session, path| upload_page(kind, state, session, path))
            .post(upload)
            // The body is streamed to storage file by file, never buffered;
            // hub-core bounds it by what its manifest declares.
            .layer(DefaultBodyLimit::disable())
    })
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    frame: Frame,
    repo: Authorized,
    /// The visitor may not write here: the upload opens a pull request.
    proposes: bool,
    repo_url: String,
    branch: String,
}

/// Handles `GET /{ns}/{name}/upload/{rev}`: the page, for anyone signed in
/// who may read the repo.
async fn upload_page(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name, rev)): Path<(String, String, String)>,
) -> Response {
    let path = format!("/{}{ns}/{name}/upload/{rev}", kind.url_prefix());
    let result = async {
        if session.actor.is_anonymous() {
            return Ok(to_login(&path));
        }
        let (repo, may_write) = editable_repo(&state, &session.actor, kind, &ns, &name).await?;
        content::branch_tip(&state, &repo, &rev).await?;
        Ok(render(&UploadPage {
            frame: Frame::new(&session, &path),
            repo_url: repo_url(&repo),
            repo,
            proposes: !may_write,
            branch: rev,
        }))
    }
    .await;
    page(&session, &path, result)
}

/// The repo if `actor` may write to it; readers who may not write get
/// "not found" on these pages, like outsiders.
pub async fn writable_repo(
    state: &AppState,
    actor: &hub_core::accounts::Actor,
    kind: RepoType,
    ns: &str,
    name: &str,
) -> Result<Authorized<Write>, Error> {
    access::authorize::<Read>(state, actor, kind, ns, name)
        .await?
        .hide_unless()
}

/// The repo of an upload or editor page, for a signed-in visitor who may
/// read it; `true` when they may write to it too (else what they send is
/// proposed as a pull request).
pub async fn editable_repo(
    state: &AppState,
    actor: &hub_core::accounts::Actor,
    kind: RepoType,
    ns: &str,
    name: &str,
) -> Result<(Authorized, bool), Error> {
    let repo = access::authorize::<Read>(state, actor, kind, ns, name).await?;
    repo.participant()?;
    let may_write = repo.may(Access::Write);
    Ok((repo, may_write))
}

/// Handles `POST /{ns}/{name}/upload/{rev}`: the streamed body described
/// above; answers `{"commit": sha, "url": repo page}` (the pull request's
/// page when the upload opened one) as JSON, or the
/// error's status with `{"error": …}` in the page's language (the page's
/// script shows it as is).
async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiRepo(repo): ApiRepo,
    Path((_, _, rev)): Path<(String, String, String)>,
    body: Body,
) -> Response {
    let body = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    match browser::upload(&state, &repo, &rev, body).await {
        Ok(done) => {
            let url = match done.pull_request {
                Some(num) => format!("{}/discussions/{num}", repo_url(&repo)),
                None => repo_url(&repo),
            };
            Json(json!({ "commit": done.outcome.commit, "url": url })).into_response()
        }
        Err(e) => {
            let (status, _) = status_and_code(&e);
            let message = Lang::from_request(&headers).error(&e);
            (status, Json(json!({ "error": message }))).into_response()
        }
    }
}
