//! Uploading files from the browser: `/{ns}/{name}/upload/{rev}`.
//!
//! The page's script (`/static/upload.js`) sends one streaming POST to the
//! same URL: a first line of JSON naming the files, their sizes and the
//! commit message, then the files' bytes back to back. The browser builds
//! the body as a `Blob` of the `File`s, so it never reads them into memory,
//! and reports progress as the body goes out. The server stages each file
//! by hub-core's rules ([`uploads::stage_file`]: hashed while read, large
//! and binary files to LFS) and commits them all at once through the one
//! commit path.

use askama::Template;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::TryStreamExt;
use hub_core::Error;
use hub_core::commits::{self, NewCommit};
use hub_core::repos::RepoType;
use hub_core::repos::access::level::{Read, Write};
use hub_core::repos::access::{self, Authorized};
use hub_core::uploads;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio_util::io::StreamReader;

use super::repo_routes::{branch_tip, each_kind, repo_url};
use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;
use crate::errors::ApiResult;
use crate::repo_path::ApiRepo;

/// Most bytes of the JSON line that starts an upload.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// Most files in one upload (one commit).
const MAX_FILES: usize = 1000;

pub fn router() -> Router<AppState> {
    each_kind("/upload/{rev}", |kind| {
        get(move |state, session, path| upload_page(kind, state, session, path))
            .post(upload)
            // The body is streamed to storage file by file, never buffered.
            .layer(DefaultBodyLimit::disable())
    })
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    frame: Frame,
    repo: Authorized<Write>,
    repo_url: String,
    branch: String,
}

/// Handles `GET /{ns}/{name}/upload/{rev}`: the page, for writers only.
async fn upload_page(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name, rev)): Path<(String, String, String)>,
) -> Response {
    let path = format!("/{}{ns}/{name}/upload/{rev}", kind.url_prefix());
    let result = async {
        if session.actor.is_anonymous() {
            return Ok(Redirect::to("/login").into_response());
        }
        let repo = writable_repo(&state, &session.actor, kind, &ns, &name).await?;
        branch_tip(&state, &repo, &rev).await?;
        Ok(render(&UploadPage {
            frame: Frame::new(&session, &path),
            repo_url: repo_url(&repo),
            repo,
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
    access::authorize::<Read>(&state.db, actor, kind, ns, name)
        .await?
        .hide_unless()
}

#[derive(Deserialize)]
struct Manifest {
    summary: String,
    #[serde(default)]
    description: String,
    files: Vec<ManifestFile>,
}

#[derive(Deserialize)]
struct ManifestFile {
    path: String,
    size: u64,
}

/// Handles `POST /{ns}/{name}/upload/{rev}`: the streamed body described
/// above; answers `{"commit": sha, "url": repo page}` as JSON.
async fn upload(
    State(state): State<AppState>,
    ApiRepo(repo): ApiRepo<Write>,
    Path((_, _, rev)): Path<(String, String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let tip = branch_tip(&state, &repo, &rev).await?;
    let patterns = uploads::lfs_patterns(&state, &repo, &tip).await?;
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut reader = BufReader::with_capacity(1 << 20, StreamReader::new(stream));

    let mut line = Vec::new();
    (&mut reader)
        .take(MAX_MANIFEST_BYTES)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| Error::invalid(format!("cannot read the upload: {e}")))?;
    if line.last() != Some(&b'\n') {
        return Err(Error::invalid("the upload does not start with a manifest line").into());
    }
    let manifest: Manifest = serde_json::from_slice(&line)
        .map_err(|e| Error::invalid(format!("the upload manifest is not valid: {e}")))?;
    if manifest.files.is_empty() {
        return Err(Error::invalid("choose at least one file to upload").into());
    }
    if manifest.files.len() > MAX_FILES {
        return Err(Error::invalid(format!("at most {MAX_FILES} files per upload")).into());
    }
    if manifest.summary.trim().is_empty() {
        return Err(Error::invalid("a commit needs a summary").into());
    }

    let mut operations = Vec::with_capacity(manifest.files.len());
    for file in &manifest.files {
        let op = uploads::stage_file(&state, &repo, &patterns, &file.path, file.size, &mut reader)
            .await?;
        operations.push(op);
    }
    let mut rest = [0u8; 1];
    if reader.read(&mut rest).await.unwrap_or(0) != 0 {
        return Err(Error::invalid("the upload is longer than its manifest says").into());
    }
    let outcome = commits::commit(
        &state,
        &repo,
        NewCommit {
            branch: Some(rev),
            summary: manifest.summary,
            description: manifest.description,
            operations,
            expected_parent: None,
        },
    )
    .await?;
    Ok(Json(
        json!({ "commit": outcome.commit, "url": repo_url(&repo) }),
    ))
}
