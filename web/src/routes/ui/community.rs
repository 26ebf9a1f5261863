//! The Community tab: a repo's discussions and pull requests
//! (`/{ns}/{name}/discussions`, filtered and paged), the form that opens a
//! discussion (`…/discussions/new`), one discussion with its comments and,
//! for a pull request, its commits and changes (`…/discussions/{num}`), and
//! the actions posted from that page (comment, close or reopen, merge).
//! Who may do what is decided by hub-core (`hub_core::community`); the page
//! only leaves out the buttons that would be refused.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hub_core::Error;
use hub_core::community::{
    self, Discussion, Event, Filter, Status, StatusFilter, discussions, events, merge, pulls,
};
use hub_core::repos::RepoType;
use hub_core::repos::access::{self, Authorized};
use hub_core::repos::content::CommitInfo;
use serde::Deserialize;

use super::history::{DiffView, diff_views};
use super::repo_head::{self, RepoHead, Tab};
use super::repo_routes::each_kind;
use super::{Frame, page, render, to_login};
use crate::app::AppState;
use crate::auth::Session;

pub fn router() -> Router<AppState> {
    each_kind("/discussions", |kind| {
        get(move |s, se, p, q| list(kind, s, se, p, q))
    })
    .merge(each_kind("/discussions/new", |kind| {
        get(move |s, se, p| new_form(kind, s, se, p))
            .post(move |s, se, p, f| create(kind, s, se, p, f))
    }))
    .merge(each_kind("/discussions/{num}", |kind| {
        get(move |s, se, p| show(kind, s, se, p))
    }))
    .merge(each_kind("/discussions/{num}/{action}", |kind| {
        post(move |s, se, p, f| act(kind, s, se, p, f)).get(move |p| to_discussion(kind, p))
    }))
}

/// `/{prefix}{ns}/{name}/discussions`.
fn discussions_url(kind: RepoType, ns: &str, name: &str) -> String {
    format!("/{}{ns}/{name}/discussions", kind.url_prefix())
}

fn parse_num(num: &str) -> Result<i64, Error> {
    num.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::not_found(format!("Discussion {num} not found")))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
    p: Option<String>,
}

#[derive(Template)]
#[template(path = "discussions.html")]
struct ListPage {
    frame: Frame,
    head: RepoHead,
    discussions: Vec<Discussion>,
    count: i64,
    /// The filters as given (`all`, `discussion`, `pull_request`; `open`,
    /// `closed`, `all`), for the filter links.
    kind: String,
    status: String,
    page_no: i64,
    pages: i64,
}

impl ListPage {
    /// The listing with one filter changed (and back to its first page).
    fn with(&self, kind: &str, status: &str) -> String {
        format!("{}/discussions?type={kind}&status={status}", self.head.base)
    }

    fn page_link(&self, page: i64) -> String {
        format!("{}&p={page}", self.with(&self.kind, &self.status))
    }
}

/// Handles `GET /{[datasets/|spaces/]}{ns}/{name}/discussions`.
async fn list(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    let path = discussions_url(kind, &ns, &name);
    let result = async {
        let head = match repo_head::open(
            &state,
            &session,
            kind,
            (&ns, &name),
            Tab::Community,
            "/discussions",
        )
        .await?
        {
            Ok(head) => head,
            Err(redirect) => return Ok(redirect),
        };
        let kind_filter = q.kind.unwrap_or_else(|| "all".to_owned());
        let status = q.status.unwrap_or_else(|| "open".to_owned());
        let filter = Filter {
            pull_requests: Filter::parse_type(&kind_filter)?,
            status: StatusFilter::parse(&status)?,
            author: None,
        };
        let page_no = super::paging::parse(q.p.as_deref()).unwrap_or(0) as i64;
        let listed = discussions::list(&state, &head.repo, &filter, page_no).await?;
        Ok(render(&ListPage {
            frame: Frame::new(&session, &path),
            pages: (listed.count as u64)
                .div_ceil(community::PAGE_SIZE as u64)
                .max(1) as i64,
            count: listed.count,
            discussions: listed.discussions,
            head,
            kind: kind_filter,
            status,
            page_no,
        }))
    }
    .await;
    page(&session, &path, result)
}

#[derive(Template)]
#[template(path = "new_discussion.html")]
struct NewPage {
    frame: Frame,
    head: RepoHead,
    title: String,
    description: String,
    error: Option<String>,
}

/// Handles `GET /{[datasets/|spaces/]}{ns}/{name}/discussions/new`.
async fn new_form(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    let path = format!("{}/new", discussions_url(kind, &ns, &name));
    if session.username().is_none() {
        return to_login(&path);
    }
    let result = async {
        let head = match repo_head::open(
            &state,
            &session,
            kind,
            (&ns, &name),
            Tab::Community,
            "/discussions/new",
        )
        .await?
        {
            Ok(head) => head,
            Err(redirect) => return Ok(redirect),
        };
        Ok(render(&NewPage {
            frame: Frame::new(&session, &path),
            head,
            title: String::new(),
            description: String::new(),
            error: None,
        }))
    }
    .await;
    page(&session, &path, result)
}

#[derive(Deserialize)]
struct NewForm {
    csrf: String,
    title: String,
    #[serde(default)]
    description: String,
}

/// Handles `POST /{[datasets/|spaces/]}{ns}/{name}/discussions/new`.
async fn create(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name)): Path<(String, String)>,
    Form(form): Form<NewForm>,
) -> Response {
    let path = format!("{}/new", discussions_url(kind, &ns, &name));
    if session.username().is_none() {
        return to_login(&path);
    }
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let head = match repo_head::open(
            &state,
            &session,
            kind,
            (&ns, &name),
            Tab::Community,
            "/discussions/new",
        )
        .await?
        {
            Ok(head) => head,
            Err(redirect) => return Ok(redirect),
        };
        match discussions::create(&state, &head.repo, &form.title, &form.description, false).await {
            Ok(created) => Ok(
                Redirect::to(&format!("{}/discussions/{}", head.base, created.num)).into_response(),
            ),
            // Shown in place, with what was typed.
            Err(e @ (Error::InvalidInput(_) | Error::PayloadTooLarge(_))) => {
                let form_again = render(&NewPage {
                    frame: Frame::new(&session, &path),
                    head,
                    title: form.title,
                    description: form.description,
                    error: Some(session.lang.error(&e)),
                });
                Ok((StatusCode::UNPROCESSABLE_ENTITY, form_again).into_response())
            }
            Err(e) => Err(e),
        }
    }
    .await;
    page(&session, &path, result)
}

#[derive(Template)]
#[template(path = "discussion.html")]
struct ShowPage {
    frame: Frame,
    head: RepoHead,
    discussion: Discussion,
    events: Vec<EventView>,
    /// A pull request's commits (newest first) and changed files.
    commits: Vec<CommitInfo>,
    files: Vec<DiffView>,
    conflicts: Vec<String>,
    signed_in: bool,
    /// The visitor may close or reopen it (its author, or a repo writer).
    may_change_status: bool,
    may_merge: bool,
}

/// One event as the page shows it.
struct EventView {
    event: Event,
    /// A comment's markdown, rendered and sanitized.
    html: String,
    /// A comment the visitor may edit (theirs, not hidden).
    may_edit: bool,
    /// A comment the visitor may hide (a repo writer; not hidden yet).
    may_hide: bool,
}

impl EventView {
    fn data(&self, key: &str) -> String {
        self.event
            .data
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    }

    fn short_oid(&self) -> String {
        self.data("oid").chars().take(7).collect()
    }

    fn author(&self) -> &str {
        self.event.author.as_deref().unwrap_or("?")
    }

    /// A comment's markdown source, for its edit form.
    fn source(&self) -> &str {
        self.event.content.as_deref().unwrap_or_default()
    }
}

impl ShowPage {
    fn status_key(&self) -> &'static str {
        status_key(self.discussion.status)
    }

    fn author(&self) -> &str {
        self.discussion.author.as_deref().unwrap_or("?")
    }

    fn is_open(&self) -> bool {
        self.discussion.status.is_open()
    }

    fn action(&self, action: &str) -> String {
        format!(
            "{}/discussions/{}/{action}",
            self.head.base, self.discussion.num
        )
    }

    fn event_status_key(&self, event: &EventView) -> &'static str {
        Status::parse(&event.data("status")).map_or("community.status.open", status_key)
    }

    fn file_count(&self) -> i64 {
        self.files.len() as i64
    }

    fn short(&self, sha: &str) -> String {
        sha.chars().take(7).collect()
    }
}

fn status_key(status: Status) -> &'static str {
    match status {
        Status::Open => "community.status.open",
        Status::Closed => "community.status.closed",
        Status::Merged => "community.status.merged",
        Status::Draft => "community.status.draft",
    }
}

/// Handles `GET /{[datasets/|spaces/]}{ns}/{name}/discussions/{num}`.
async fn show(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name, num)): Path<(String, String, String)>,
) -> Response {
    let rest = format!("/discussions/{num}");
    let path = format!("/{}{ns}/{name}{rest}", kind.url_prefix());
    let result = async {
        let num = parse_num(&num)?;
        let head =
            match repo_head::open(&state, &session, kind, (&ns, &name), Tab::Community, &rest)
                .await?
            {
                Ok(head) => head,
                Err(redirect) => return Ok(redirect),
            };
        let view = community::view(&state, &head.repo, num).await?;
        let commits = match view.discussion.is_pull_request {
            true => pulls::commits(&state, &head.repo, num).await?,
            false => Vec::new(),
        };
        let (files, conflicts) = match view.changes {
            Some(changes) => (
                diff_views(&head.base, &changes.head, changes.files),
                changes.conflicts,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let me = session.actor.user().map(|u| u.id);
        let is_author = me.is_some() && me == view.discussion.author_id;
        let may_change_status =
            (is_author || head.can_write) && view.discussion.status != Status::Merged;
        let may_merge = view.discussion.is_pull_request
            && head.can_write
            && view.discussion.status.is_open()
            && conflicts.is_empty()
            && !files.is_empty();
        let events = view
            .events
            .into_iter()
            .map(|event| {
                let shown_comment = event.kind == "comment" && !event.hidden;
                EventView {
                    html: event
                        .content
                        .as_deref()
                        .map(hub_core::markdown::render)
                        .unwrap_or_default(),
                    may_edit: shown_comment && me.is_some() && event.author_id == me,
                    may_hide: shown_comment && head.can_write,
                    event,
                }
            })
            .collect();
        Ok(render(&ShowPage {
            frame: Frame::new(&session, &path),
            signed_in: session.username().is_some(),
            head,
            discussion: view.discussion,
            events,
            commits,
            files,
            conflicts,
            may_change_status,
            may_merge,
        }))
    }
    .await;
    page(&session, &path, result)
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    #[serde(default)]
    comment: String,
    /// For `status`: `open` or `closed`.
    #[serde(default)]
    status: String,
    /// For `edit` and `hide`: the comment's event id.
    #[serde(default)]
    event: String,
}

/// Handles `POST /{[datasets/|spaces/]}{ns}/{name}/discussions/{num}/{action}`
/// for the actions `comment`, `status`, `merge`, `edit` and `hide` (a
/// comment's, named by `event`); back to the discussion.
async fn act(
    kind: RepoType,
    State(state): State<AppState>,
    session: Session,
    Path((ns, name, num, action)): Path<(String, String, String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let back = format!("{}/{num}", discussions_url(kind, &ns, &name));
    if session.username().is_none() {
        return to_login(&back);
    }
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let num = parse_num(&num)?;
        let repo: Authorized = access::authorize(&state, &session.actor, kind, &ns, &name).await?;
        let comment = Some(form.comment.as_str()).filter(|c| !c.trim().is_empty());
        match action.as_str() {
            "comment" => {
                events::comment(&state, &repo, num, &form.comment).await?;
            }
            "status" => {
                let status = Status::parse(&form.status)?;
                discussions::change_status(&state, &repo, num, status, comment).await?;
            }
            "merge" => {
                merge::merge(&state, &repo, num, comment).await?;
            }
            "edit" => {
                let id = events::parse_event_id(&form.event)?;
                events::edit_comment(&state, &repo, num, id, &form.comment).await?;
            }
            "hide" => {
                let id = events::parse_event_id(&form.event)?;
                events::hide_comment(&state, &repo, num, id).await?;
            }
            _ => return Err(Error::not_found(format!("no action {action}"))),
        }
        Ok(Redirect::to(&back).into_response())
    }
    .await;
    page(&session, &back, result)
}

/// A GET of an action URL (a bookmark, a retyped address): the discussion.
async fn to_discussion(
    kind: RepoType,
    Path((ns, name, num, _)): Path<(String, String, String, String)>,
) -> Redirect {
    Redirect::to(&format!("{}/{num}", discussions_url(kind, &ns, &name)))
}
