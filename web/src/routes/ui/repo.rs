//! Creating a repo and its page (card and files).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use hub_core::accounts::orgs;
use hub_core::repos::access::{self, Access};
use hub_core::repos::content::{self, EntryKind, TreeEntry};
use hub_core::repos::{Repo, RepoType, manage};
use hub_core::{Error, markdown};
use serde::Deserialize;

use super::{Frame, page, render};
use crate::app::AppState;
use crate::auth::Session;
use crate::request::Origin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/new", get(new_repo_form).post(create_repo))
        .route("/{namespace}/{name}", get(model_page))
        .route("/datasets/{namespace}/{name}", get(dataset_page))
        .route("/spaces/{namespace}/{name}", get(space_page))
}

#[derive(Template)]
#[template(path = "new_repo.html")]
struct NewRepoPage {
    frame: Frame,
    owners: Vec<String>,
    error: Option<String>,
}

/// Handles `GET /new`.
async fn new_repo_form(State(state): State<AppState>, session: Session) -> Response {
    new_repo_page(&state, &session, None).await
}

async fn new_repo_page(state: &AppState, session: &Session, error: Option<String>) -> Response {
    let result = async {
        let Some(user) = session.actor.user() else {
            return Ok(Redirect::to("/login").into_response());
        };
        let mut owners = vec![user.name.clone()];
        owners.extend(
            orgs::of_user(&state.db, user.id)
                .await?
                .into_iter()
                .filter(|m| m.role != "read")
                .map(|m| m.name),
        );
        let status = if error.is_some() {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        } else {
            axum::http::StatusCode::OK
        };
        Ok((
            status,
            render(&NewRepoPage {
                frame: Frame::new(session, "/new"),
                owners,
                error,
            }),
        )
            .into_response())
    }
    .await;
    page(session, "/new", result)
}

#[derive(Deserialize)]
struct NewRepoForm {
    csrf: String,
    owner: String,
    name: String,
    repo_type: String,
    private: Option<String>,
}

/// Handles `POST /new`.
async fn create_repo(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<NewRepoForm>,
) -> Response {
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let kind = RepoType::parse(&form.repo_type)?;
        manage::create(
            &state,
            &session.actor,
            kind,
            &form.owner,
            form.name.trim(),
            form.private.is_some(),
        )
        .await
    }
    .await;
    match result {
        Ok(repo) => Redirect::to(&format!(
            "/{}{}",
            repo.kind().url_prefix(),
            repo.full_name()
        ))
        .into_response(),
        Err(e @ (Error::InvalidInput(_) | Error::Conflict(_))) => {
            new_repo_page(&state, &session, Some(e.to_string())).await
        }
        Err(e) => page(&session, "/new", Err(e)),
    }
}

#[derive(Template)]
#[template(path = "repo.html")]
struct RepoPage {
    frame: Frame,
    repo: Repo,
    kind_key: &'static str,
    files: Vec<TreeEntry>,
    card_html: Option<String>,
    clone_url: String,
}

impl RepoPage {
    fn is_dir(&self, e: &TreeEntry) -> bool {
        e.kind == EntryKind::Directory
    }

    fn human_size(&self, e: &TreeEntry) -> String {
        human_size(e.content_size())
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// Handles `GET /{namespace}/{name}`.
async fn model_page(
    state: State<AppState>,
    session: Session,
    origin: Origin,
    Path(p): Path<(String, String)>,
) -> Response {
    repo_page(state, session, origin, RepoType::Model, p).await
}

/// Handles `GET /datasets/{namespace}/{name}`.
async fn dataset_page(
    state: State<AppState>,
    session: Session,
    origin: Origin,
    Path(p): Path<(String, String)>,
) -> Response {
    repo_page(state, session, origin, RepoType::Dataset, p).await
}

/// Handles `GET /spaces/{namespace}/{name}`.
async fn space_page(
    state: State<AppState>,
    session: Session,
    origin: Origin,
    Path(p): Path<(String, String)>,
) -> Response {
    repo_page(state, session, origin, RepoType::Space, p).await
}

async fn repo_page(
    State(state): State<AppState>,
    session: Session,
    origin: Origin,
    kind: RepoType,
    (ns, name): (String, String),
) -> Response {
    let path = format!("/{}{ns}/{name}", kind.url_prefix());
    let result = async {
        let repo =
            access::authorize(&state.db, &session.actor, kind, &ns, &name, Access::Read).await?;
        if repo.full_name() != format!("{ns}/{name}") {
            // Renamed: send the browser to the current name.
            return Ok(
                Redirect::permanent(&format!("/{}{}", kind.url_prefix(), repo.full_name()))
                    .into_response(),
            );
        }
        let (sha, files) = content::list(&state, &repo, &repo.default_branch, "", false).await?;
        let readme = content::read_small_file(&state, &repo, &sha, "README.md").await?;
        let card_html = readme.map(|bytes| {
            let text = String::from_utf8_lossy(&bytes);
            markdown::render(hub_core::cards::parse_card(&text).body)
        });
        let kind_key = match kind {
            RepoType::Model => "type.model",
            RepoType::Dataset => "type.dataset",
            RepoType::Space => "type.space",
        };
        let clone_url = format!(
            "{}/{}{}",
            origin.base_url,
            kind.url_prefix(),
            repo.full_name()
        );
        Ok(render(&RepoPage {
            frame: Frame::new(&session, &path),
            repo,
            kind_key,
            files,
            card_html,
            clone_url,
        }))
    }
    .await;
    page(&session, &path, result)
}
