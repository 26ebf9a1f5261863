//! What happens in a discussion: comments (edited and hidden in place),
//! status changes, title changes and the commits pushed to a pull request.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::discussions;
use super::{Status, check_comment};
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;

/// Most events one read of a discussion carries (oldest first): with
/// comments bounded by [`super::MAX_COMMENT_BYTES`], a page stays bounded
/// however long a discussion runs.
pub const MAX_EVENTS_SHOWN: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Comment,
    StatusChange,
    TitleChange,
    Commit,
    /// A writer hid a comment (`data: {"comment": its id}`), as Hugging
    /// Face shows "comment hidden" in the discussion's history.
    CommentHidden,
}

impl EventKind {
    /// As stored, and as Hugging Face's clients name it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Comment => "comment",
            EventKind::StatusChange => "status-change",
            EventKind::TitleChange => "title-change",
            EventKind::Commit => "commit",
            EventKind::CommentHidden => "comment-hidden",
        }
    }
}

/// One event. `content` is a comment's latest markdown source, `None` once
/// the comment is hidden (and for other kinds); `data` holds the other
/// kinds' fields: `{"status"}`, `{"from", "to"}`, `{"oid", "subject"}`,
/// `{"comment"}`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub author_id: Option<i64>,
    /// The author's name; `None` once their account is deleted.
    pub author: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub content: Option<String>,
    pub edited: bool,
    pub hidden: bool,
    pub data: Value,
}

/// Columns for [`Event`] from `discussion_events e` (or a CTE named so).
const EVENT_SELECT: &str = "SELECT e.id, e.kind, e.author_id, n.name AS author, e.created_at,
    e.updated_at, CASE WHEN e.hidden THEN NULL ELSE e.content END AS content, e.edited,
    e.hidden, e.data";

/// Records an event (in the caller's transaction, or on a connection).
pub(super) async fn insert(
    conn: &mut PgConnection,
    discussion_id: i64,
    kind: EventKind,
    author_id: Option<i64>,
    content: Option<&str>,
    data: Value,
) -> Result<Event> {
    let sql = sqlx::AssertSqlSafe(format!(
        "WITH e AS (INSERT INTO discussion_events (discussion_id, kind, author_id, content, data)
                    VALUES ($1, $2, $3, $4, $5) RETURNING *)
         {EVENT_SELECT} FROM e LEFT JOIN namespaces n ON n.id = e.author_id"
    ));
    Ok(sqlx::query_as(sql)
        .bind(discussion_id)
        .bind(kind.as_str())
        .bind(author_id)
        .bind(content)
        .bind(data)
        .fetch_one(conn)
        .await?)
}

pub(super) fn status_data(status: Status) -> Value {
    json!({ "status": status.as_str() })
}

/// The events of a discussion, oldest first (at most [`MAX_EVENTS_SHOWN`]).
pub(super) async fn list(hub: &Hub, discussion_id: i64) -> Result<Vec<Event>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{EVENT_SELECT} FROM discussion_events e LEFT JOIN namespaces n ON n.id = e.author_id
         WHERE e.discussion_id = $1 ORDER BY e.id LIMIT $2"
    ));
    Ok(sqlx::query_as(sql)
        .bind(discussion_id)
        .bind(MAX_EVENTS_SHOWN)
        .fetch_all(&hub.db)
        .await?)
}

/// Adds a comment to discussion `num` (any participant; closed and merged
/// discussions take comments too).
pub async fn comment(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
    text: &str,
) -> Result<Event> {
    let principal = repo.participant()?;
    let text = check_comment(text)?;
    let discussion = discussions::get(hub, repo, num).await?;
    let mut conn = hub.db.acquire().await?;
    insert(
        &mut conn,
        discussion.id,
        EventKind::Comment,
        Some(principal.user.id),
        Some(text),
        json!({}),
    )
    .await
}

/// A comment of discussion `num` by its id, locked for a change.
async fn comment_for_update(
    conn: &mut PgConnection,
    discussion_id: i64,
    event_id: i64,
) -> Result<(Option<i64>, bool)> {
    let row: Option<(String, Option<i64>, bool)> = sqlx::query_as(
        "SELECT kind, author_id, hidden FROM discussion_events
         WHERE id = $1 AND discussion_id = $2 FOR UPDATE",
    )
    .bind(event_id)
    .bind(discussion_id)
    .fetch_optional(conn)
    .await?;
    match row {
        Some((kind, author, hidden)) if kind == EventKind::Comment.as_str() => Ok((author, hidden)),
        _ => Err(comment_not_found(event_id)),
    }
}

/// An event id as clients send it back (the decimal id we gave them).
pub fn parse_event_id(id: &str) -> Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| comment_not_found(id))
}

fn comment_not_found(id: impl std::fmt::Display) -> Error {
    Error::not_found(
        Message::coded("community.comment_not_found", "comment {id} not found").with("id", id),
    )
}

async fn fetch(conn: &mut PgConnection, event_id: i64) -> Result<Event> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{EVENT_SELECT} FROM discussion_events e LEFT JOIN namespaces n ON n.id = e.author_id
         WHERE e.id = $1"
    ));
    Ok(sqlx::query_as(sql).bind(event_id).fetch_one(conn).await?)
}

/// Replaces the text of a comment (its author only; the latest text is
/// kept, with the `edited` flag). A hidden comment stays hidden.
pub async fn edit_comment(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
    event_id: i64,
    text: &str,
) -> Result<Event> {
    repo.participant()?;
    let text = check_comment(text)?;
    let discussion = discussions::get(hub, repo, num).await?;
    let mut tx = hub.db.begin().await?;
    let (author, hidden) = comment_for_update(&mut tx, discussion.id, event_id).await?;
    repo.check_author(author)?;
    if hidden {
        return Err(Error::invalid(Message::coded(
            "community.hidden_not_editable",
            "a hidden comment cannot be edited",
        )));
    }
    sqlx::query(
        "UPDATE discussion_events SET content = $2, edited = true, updated_at = now() WHERE id = $1",
    )
    .bind(event_id)
    .bind(text)
    .execute(&mut *tx)
    .await?;
    let event = fetch(&mut tx, event_id).await?;
    tx.commit().await?;
    Ok(event)
}

/// Hides a comment for good (repo writers): its text is dropped, not only
/// withheld, so nothing can serve it again; the hiding is recorded as a
/// [`EventKind::CommentHidden`] event by the writer (once: hiding a hidden
/// comment changes nothing).
pub async fn hide_comment(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
    event_id: i64,
) -> Result<Event> {
    let principal = repo.participant()?;
    repo.check(crate::repos::access::Access::Write)?;
    let discussion = discussions::get(hub, repo, num).await?;
    let mut tx = hub.db.begin().await?;
    let (_, already_hidden) = comment_for_update(&mut tx, discussion.id, event_id).await?;
    if !already_hidden {
        sqlx::query(
            "UPDATE discussion_events SET content = '', hidden = true, updated_at = now() WHERE id = $1",
        )
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
        insert(
            &mut tx,
            discussion.id,
            EventKind::CommentHidden,
            Some(principal.user.id),
            None,
            json!({ "comment": event_id.to_string() }),
        )
        .await?;
    }
    let event = fetch(&mut tx, event_id).await?;
    tx.commit().await?;
    Ok(event)
}
