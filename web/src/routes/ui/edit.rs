//! Creating, editing and deleting one file in the browser:
//! `/{ns}/{name}/new/{rev}`, `/{ns}/{name}/edit/{rev}/{path}` and
//! `/{ns}/{name}/delete/{rev}/{path}` (a confirmation page, then a POST).
//! Plain forms; hub-core's editor workflow ([`editor`]) stages the text
//! like an upload and commits it on the branch tip the form was made from.
//! Someone who may not write to the repo gets the same editor, and saving
//! opens a pull request with the change (writers may choose to as well).

use askama::Template;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use hub_core::Error;
use hub_core::repos::access::{Authorized, level::Write};
use hub_core::repos::{RepoType, content};
use hub_core::uploads::editor::{self, FileEdit, MAX_EDIT_BYTES};
use serde::Deserialize;

use super::repo_head::{encode_path, encode_segment};
use super::repo_routes::{each_kind, repo_url};
use super::upload::{editable_repo, writable_repo};
use super::{Frame, page, render, to_login};
use crate::app::AppState;
use crate::auth::Session;

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
    repo: Authorized,
    /// The visitor may not write here: saving opens a pull request.
    proposes: bool,
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
    /// Open a pull request with the change instead of committing it.
    create_pr: Option<String>,
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
            return Ok(to_login(&path));
        }
        let (repo, may_write) = editable_repo(&state, &session.actor, kind, &ns, &name).await?;
        content::branch_tip(&state, &repo, &rev).await?;
        Ok(render(&EditPage {
            frame: Frame::new(&session, &path),
            repo_url: repo_url(&repo),
            repo,
            proposes: !may_write,
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
            return Ok(to_login(&path));
        }
        let (repo, may_write) = editable_repo(&state, &session.actor, kind, &ns, &name).await?;
        let content = editor::editable_text(&state, &repo, &rev, &file).await?;
        Ok(render(&EditPage {
            frame: Frame::new(&session, &path),
            repo_url: repo_url(&repo),
            repo,
            proposes: !may_write,
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
    let (repo, may_write) = match async {
        session.verify_csrf(&form.csrf)?;
        editable_repo(&state, &session.actor, kind, &ns, &name).await
    }
    .await
    {
        Ok(found) => found,
        Err(e) => return page(&session, &path, Err(e)),
    };
    let as_pull_request = !may_write || form.create_pr.is_some();
    let edit = FileEdit::new(
        rev,
        existing,
        &form.path,
        &form.content,
        form.summary,
        form.description,
    );
    match editor::save(&state, &repo, &edit, as_pull_request).await {
        Ok(editor::Saved {
            pull_request: Some(num),
            ..
        }) => Redirect::to(&format!("{}/discussions/{num}", repo_url(&repo))).into_response(),
        Ok(saved) => Redirect::to(&format!(
            "{}/blob/{}/{}",
            repo_url(&repo),
            encode_segment(&edit.branch),
            encode_path(&saved.path)
        ))
        .into_response(),
        Err(
            e @ (Error::InvalidInput(_)
            | Error::RefusedPath(_)
            | Error::Conflict(_)
            | Error::PayloadTooLarge(_)),
        ) => {
            let body = EditPage {
                frame: Frame::new(&session, &path),
                repo_url: repo_url(&repo),
                repo,
                proposes: !may_write,
                branch: edit.branch,
                existing: edit.existing,
                path: edit.path,
                content: edit.content,
                summary: edit.summary,
                error: Some(session.lang.error(&e)),
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
            return Ok(to_login(&path));
        }
        let repo = writable_repo(&state, &session.actor, kind, &ns, &name).await?;
        let file = editor::deletable_file(&state, &repo, &rev, &file).await?;
        Ok(render(&DeletePage {
            frame: Frame::new(&session, &path),
            repo_url: repo_url(&repo),
            repo,
            branch: rev,
            path: file,
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
        editor::delete(&state, &repo, &rev, &file, &form.summary).await?;
        Ok(Redirect::to(&repo_url(&repo)).into_response())
    }
    .await;
    page(&session, &path, result)
}
