//! Creating, editing and deleting one file in the browser:
//! `/{ns}/{name}/new/{rev}`, `/{ns}/{name}/edit/{rev}/{path}` and
//! `/{ns}/{name}/delete/{rev}/{path}` (a confirmation page, then a POST).
//! Plain forms; the content goes through the same staging as uploads (so a
//! file the LFS rule sends to LFS goes there) and the one commit path.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use hub_core::Error;
use hub_core::commits::{self, NewCommit};
use hub_core::git::commit::Operation;
use hub_core::repos::RepoType;
use hub_core::repos::access::{Authorized, level::Write};
use hub_core::repos::content;
use hub_core::uploads;
use serde::Deserialize;

use super::repo_head::{encode_path, encode_segment};
use super::repo_routes::{branch_tip, each_kind, repo_url};
use super::upload::writable_repo;
use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;

/// Largest file the editor opens (a textarea is no place for more).
const MAX_EDIT_BYTES: u64 = 1024 * 1024;
/// A form carries the text percent-encoded: up to three bytes per byte.
const MAX_FORM_BYTES: usize = 3 * MAX_EDIT_BYTES as usize + 64 * 1024;

pub fn router() -> Router<AppState> {
    each_kind("/new/{rev}", |kind| {
        get(move |s, session, p| new_form(kind, s, session, p))
            .post(move |s, session, p, f| save_new(kind, s, session, p, f))
            .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
    })
    .merge(each_kind("/edit/{rev}/{*path}", |kind| {
        get(move |s, session, p| edit_form(kind, s, session, p))
            .post(move |s, session, p, f| save_edit(kind, s, session, p, f))
            .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
    }))
    .merge(each_kind("/delete/{rev}/{*path}", |kind| {
        get(move |s, session, p| delete_form(kind, s, session, p))
            .post(move |s, session, p, f| delete_file(kind, s, session, p, f))
    }))
}

#[derive(Template)]
#[template(path = "edit_file.html")]
struct EditPage {
    frame: Frame,
    repo: Authorized<Write>,
    repo_url: String,
    branch: String,
    /// `None` for a new file.
    existing: Option<String>,
    path: String,
    content: String,
    summary: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct FileForm {
    csrf: String,
    #[serde(default)]
    path: String,
    content: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: String,
}

/// Handles `GET /{ns}/{name}/new/{rev}`.
async fn new_form(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name, rev)): Path<(String, String, String)>,
) -> Response {
    let path = format!("/{}{ns}/{name}/new/{rev}", kind.url_prefix());
    let result = async {
        if session.actor.is_anonymous() {
            return Ok(Redirect::to("/login").into_response());
        }
        let repo = writable_repo(&state, &session.actor, kind, &ns, &name).await?;
        branch_tip(&state, &repo, &rev).await?;
        Ok(render(&EditPage {
            frame: Frame::new(&session, &path),
            repo_url: repo_url(&repo),
            repo,
            branch: rev,
            existing: None,
            path: String::new(),
            content: String::new(),
            summary: String::new(),
            error: None,
        }))
    }
    .await;
    page(&session, &path, result)
}

/// Handles `GET /{ns}/{name}/edit/{rev}/{path}`: text files in git only.
async fn edit_form(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name, rev, file)): Path<(String, String, String, String)>,
) -> Response {
    let path = format!("/{}{ns}/{name}/edit/{rev}/{file}", kind.url_prefix());
    let result = async {
        if session.actor.is_anonymous() {
            return Ok(Redirect::to("/login").into_response());
        }
        let repo = writable_repo(&state, &session.actor, kind, &ns, &name).await?;
        let content = editable_text(&state, &repo, &rev, &file).await?;
        Ok(render(&EditPage {
            frame: Frame::new(&session, &path),
            repo_url: repo_url(&repo),
            repo,
            branch: rev,
            existing: Some(file.clone()),
            path: file,
            content,
            summary: String::new(),
            error: None,
        }))
    }
    .await;
    page(&session, &path, result)
}

/// The text of a file the editor may open: in git (not LFS), UTF-8, small.
async fn editable_text(
    state: &AppState,
    repo: &Authorized<Write>,
    branch: &str,
    file: &str,
) -> Result<String, Error> {
    let tip = branch_tip(state, repo, branch).await?;
    let entry = content::file_at(state, repo, &tip, file).await?;
    if entry.lfs.is_some() || entry.size > MAX_EDIT_BYTES {
        return Err(Error::invalid(
            "this file is stored in LFS or too large to edit in the browser",
        ));
    }
    let bytes = content::read_small_file(state, repo, &tip, &entry.path)
        .await?
        .ok_or_else(|| Error::EntryNotFound(file.to_owned()))?;
    String::from_utf8(bytes).map_err(|_| Error::invalid("this file is not UTF-8 text"))
}

/// Handles `POST /{ns}/{name}/new/{rev}`.
async fn save_new(
    kind: RepoType,
    state: State<AppState>,
    session: Session,
    Path((ns, name, rev)): Path<(String, String, String)>,
    Form(form): Form<FileForm>,
) -> Response {
    let path = format!("/{}{ns}/{name}/new/{rev}", kind.url_prefix());
    save(kind, state, session, (ns, name, rev), None, form, path).await
}

/// Handles `POST /{ns}/{name}/edit/{rev}/{path}`.
async fn save_edit(
    kind: RepoType,
    state: State<AppState>,
    session: Session,
    Path((ns, name, rev, file)): Path<(String, String, String, String)>,
    Form(form): Form<FileForm>,
) -> Response {
    let path = format!("/{}{ns}/{name}/edit/{rev}/{file}", kind.url_prefix());
    save(
        kind,
        state,
        session,
        (ns, name, rev),
        Some(file),
        form,
        path,
    )
    .await
}

async fn save(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    (ns, name, rev): (String, String, String),
    existing: Option<String>,
    form: FileForm,
    path: String,
) -> Response {
    let repo = match async {
        session.verify_csrf(&form.csrf)?;
        writable_repo(&state, &session.actor, kind, &ns, &name).await
    }
    .await
    {
        Ok(repo) => repo,
        Err(e) => return page(&session, &path, Err(e)),
    };
    let target = existing
        .clone()
        .unwrap_or_else(|| form.path.trim().to_owned());
    // Browsers send a textarea's line breaks as CRLF; files keep the LF the
    // editor showed.
    let text = form.content.replace("\r\n", "\n");
    let summary = match form.summary.trim() {
        "" if existing.is_some() => format!("Update {target}"),
        "" => format!("Create {target}"),
        s => s.to_owned(),
    };
    let result = async {
        if text.len() as u64 > MAX_EDIT_BYTES {
            return Err(Error::PayloadTooLarge(
                "the file is too large for the browser editor; upload it instead".into(),
            ));
        }
        let tip = branch_tip(&state, &repo, &rev).await?;
        if existing.is_none() && content::file_at(&state, &repo, &tip, &target).await.is_ok() {
            return Err(Error::conflict(format!("{target} already exists")));
        }
        let patterns = uploads::lfs_patterns(&state, &repo, &tip).await?;
        let op = uploads::stage_file(
            &state,
            &repo,
            &patterns,
            &target,
            text.len() as u64,
            &mut text.as_bytes(),
        )
        .await?;
        let written = op.path().to_owned();
        commits::commit(
            &state,
            &repo,
            NewCommit {
                branch: Some(rev.clone()),
                summary: summary.clone(),
                description: form.description.clone(),
                operations: vec![op],
                expected_parent: Some(tip),
            },
        )
        .await?;
        Ok(written)
    }
    .await;
    match result {
        Ok(written) => Redirect::to(&format!(
            "{}/blob/{}/{}",
            repo_url(&repo),
            encode_segment(&rev),
            encode_path(&written)
        ))
        .into_response(),
        Err(e @ (Error::InvalidInput(_) | Error::Conflict(_) | Error::PayloadTooLarge(_))) => {
            let body = EditPage {
                frame: Frame::new(&session, &path),
                repo_url: repo_url(&repo),
                repo,
                branch: rev,
                existing,
                path: target,
                content: text,
                summary: form.summary,
                error: Some(e.to_string()),
            };
            (StatusCode::UNPROCESSABLE_ENTITY, render(&body)).into_response()
        }
        Err(e) => page(&session, &path, Err(e)),
    }
}

#[derive(Template)]
#[template(path = "delete_file.html")]
struct DeletePage {
    frame: Frame,
    repo: Authorized<Write>,
    repo_url: String,
    branch: String,
    path: String,
}

/// Handles `GET /{ns}/{name}/delete/{rev}/{path}`: asks for confirmation.
async fn delete_form(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name, rev, file)): Path<(String, String, String, String)>,
) -> Response {
    let path = format!("/{}{ns}/{name}/delete/{rev}/{file}", kind.url_prefix());
    let result = async {
        if session.actor.is_anonymous() {
            return Ok(Redirect::to("/login").into_response());
        }
        let repo = writable_repo(&state, &session.actor, kind, &ns, &name).await?;
        let tip = branch_tip(&state, &repo, &rev).await?;
        let entry = content::file_at(&state, &repo, &tip, &file).await?;
        Ok(render(&DeletePage {
            frame: Frame::new(&session, &path),
            repo_url: repo_url(&repo),
            repo,
            branch: rev,
            path: entry.path,
        }))
    }
    .await;
    page(&session, &path, result)
}

#[derive(Deserialize)]
struct DeleteForm {
    csrf: String,
    #[serde(default)]
    summary: String,
}

/// Handles `POST /{ns}/{name}/delete/{rev}/{path}`.
async fn delete_file(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name, rev, file)): Path<(String, String, String, String)>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let path = format!("/{}{ns}/{name}/delete/{rev}/{file}", kind.url_prefix());
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let repo = writable_repo(&state, &session.actor, kind, &ns, &name).await?;
        let tip = branch_tip(&state, &repo, &rev).await?;
        let entry = content::file_at(&state, &repo, &tip, &file).await?;
        let summary = match form.summary.trim() {
            "" => format!("Delete {}", entry.path),
            s => s.to_owned(),
        };
        commits::commit(
            &state,
            &repo,
            NewCommit {
                branch: Some(rev.clone()),
                summary,
                description: String::new(),
                operations: vec![Operation::Delete { path: entry.path }],
                expected_parent: Some(tip),
            },
        )
        .await?;
        Ok(Redirect::to(&repo_url(&repo)).into_response())
    }
    .await;
    page(&session, &path, result)
}
