//! Discussion records: numbering, opening, listing, reading, renaming and
//! changing status.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;

use super::events::{self, Event, EventKind};
use super::{PAGE_SIZE, Status, check_comment, check_title, pull_request_ref};
use crate::error::{Error, Message, Result, is_unique_violation};
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::access::level::Level;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Discussion {
    /// The row's id (not shown: clients name a discussion by `num`).
    pub id: i64,
    pub repo_id: i64,
    pub num: i64,
    pub title: String,
    pub author_id: Option<i64>,
    /// The author's name; `None` once their account is deleted.
    pub author: Option<String>,
    pub is_pull_request: bool,
    #[sqlx(try_from = "String")]
    pub status: Status,
    /// A pull request's target branch (short name).
    pub target_branch: Option<String>,
    /// The commit a merged pull request left on its target branch.
    pub merge_commit: Option<String>,
    /// The head of the target branch a pull request was merged onto (its
    /// changes are shown from there once merged).
    pub merged_onto: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Discussion {
    /// `refs/pr/{num}` for a pull request.
    pub fn git_ref(&self) -> Option<String> {
        self.is_pull_request.then(|| pull_request_ref(self.num))
    }
}

const DISCUSSION_SELECT: &str = "SELECT d.id, d.repo_id, d.num, d.title, d.author_id,
    n.name AS author, d.is_pull_request, d.status, d.target_branch, d.merge_commit, d.merged_onto, d.created_at
    FROM discussions d LEFT JOIN namespaces n ON n.id = d.author_id";

/// Which statuses a listing shows, as Hugging Face's `status=` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    All,
    /// Open and draft.
    Open,
    /// Closed and merged.
    Closed,
}

impl StatusFilter {
    pub fn parse(s: &str) -> Result<StatusFilter> {
        match s {
            "all" => Ok(StatusFilter::All),
            "open" => Ok(StatusFilter::Open),
            "closed" => Ok(StatusFilter::Closed),
            other => Err(Error::invalid(format!(
                "unknown status filter '{other}' (all, open, closed)"
            ))),
        }
    }

    fn statuses(self) -> Option<Vec<&'static str>> {
        match self {
            StatusFilter::All => None,
            StatusFilter::Open => Some(vec!["open", "draft"]),
            StatusFilter::Closed => Some(vec!["closed", "merged"]),
        }
    }
}

/// What a listing shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `Some(true)`: pull requests only; `Some(false)`: discussions only.
    pub pull_requests: Option<bool>,
    pub status: StatusFilter,
    /// Opened by this user (name, any case).
    pub author: Option<String>,
}

impl Filter {
    /// Hugging Face's `type=` (`all`, `discussion`, `pull_request`).
    pub fn parse_type(s: &str) -> Result<Option<bool>> {
        match s {
            "all" => Ok(None),
            "discussion" => Ok(Some(false)),
            "pull_request" => Ok(Some(true)),
            other => Err(Error::invalid(format!(
                "unknown discussion type '{other}' (all, discussion, pull_request)"
            ))),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub discussions: Vec<Discussion>,
    /// How many match the filter, over all pages.
    pub count: i64,
    /// The index of the page's first discussion.
    pub start: i64,
}

/// The last page a listing serves (beyond it, pages are empty).
const MAX_PAGE: i64 = 100_000;

/// Page `page` (from 0) of the repo's discussions that match `filter`,
/// newest first, [`PAGE_SIZE`] per page.
pub async fn list(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    filter: &Filter,
    page: i64,
) -> Result<Page> {
    repo.check_whole_repo()?;
    let start = page.clamp(0, MAX_PAGE) * PAGE_SIZE;
    let condition = "d.repo_id = $1 AND ($2::boolean IS NULL OR d.is_pull_request = $2)
        AND ($3::text[] IS NULL OR d.status = ANY($3))
        AND ($4::text IS NULL OR lower(n.name) = lower($4))";
    let statuses = filter.status.statuses();
    let sql = sqlx::AssertSqlSafe(format!(
        "{DISCUSSION_SELECT} WHERE {condition} ORDER BY d.num DESC LIMIT $5 OFFSET $6"
    ));
    let discussions: Vec<Discussion> = sqlx::query_as(sql)
        .bind(repo.id)
        .bind(filter.pull_requests)
        .bind(&statuses)
        .bind(&filter.author)
        .bind(PAGE_SIZE)
        .bind(start)
        .fetch_all(&hub.db)
        .await?;
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM discussions d LEFT JOIN namespaces n ON n.id = d.author_id
         WHERE {condition}"
    ));
    let count: i64 = sqlx::query_scalar(sql)
        .bind(repo.id)
        .bind(filter.pull_requests)
        .bind(&statuses)
        .bind(&filter.author)
        .fetch_one(&hub.db)
        .await?;
    Ok(Page {
        discussions,
        count,
        start,
    })
}

/// The open (and draft) discussions and pull requests of a repo.
pub async fn open_count(hub: &Hub, repo: &Authorized<impl Level>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM discussions WHERE repo_id = $1 AND status IN ('open', 'draft')",
    )
    .bind(repo.id)
    .fetch_one(&hub.db)
    .await?)
}

pub(super) fn not_found(num: i64) -> Error {
    Error::not_found(
        Message::coded("community.not_found", "Discussion {num} not found").with("num", num),
    )
}

/// Discussion `num` of the repo.
pub async fn get(hub: &Hub, repo: &Authorized<impl Level>, num: i64) -> Result<Discussion> {
    repo.check_whole_repo()?;
    let sql = sqlx::AssertSqlSafe(format!(
        "{DISCUSSION_SELECT} WHERE d.repo_id = $1 AND d.num = $2"
    ));
    sqlx::query_as(sql)
        .bind(repo.id)
        .bind(num)
        .fetch_optional(&hub.db)
        .await?
        .ok_or_else(|| not_found(num))
}

/// Discussion `num` locked for a change, in the caller's transaction.
pub(super) async fn lock(conn: &mut PgConnection, repo_id: i64, num: i64) -> Result<Discussion> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{DISCUSSION_SELECT} WHERE d.repo_id = $1 AND d.num = $2 FOR UPDATE OF d"
    ));
    sqlx::query_as(sql)
        .bind(repo_id)
        .bind(num)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found(num))
}

/// Discussion `num` and its events.
pub async fn details(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
) -> Result<(Discussion, Vec<Event>)> {
    let discussion = get(hub, repo, num).await?;
    let events = events::list(hub, discussion.id).await?;
    Ok((discussion, events))
}

/// What a new discussion is.
pub(super) struct NewDiscussion<'a> {
    pub title: &'a str,
    pub author_id: i64,
    pub status: Status,
    /// For a pull request: its target branch.
    pub target_branch: Option<&'a str>,
}

/// Takes the repo's next number and records the discussion, in the caller's
/// transaction: concurrent openings wait on the counter row, so each gets
/// its own number, and a rolled-back opening gives its number back.
pub(super) async fn insert(
    conn: &mut PgConnection,
    repo_id: i64,
    new: NewDiscussion<'_>,
) -> Result<(i64, i64)> {
    let num: i64 = sqlx::query_scalar(
        "INSERT INTO discussion_counters (repo_id, last_num) VALUES ($1, 1)
         ON CONFLICT (repo_id) DO UPDATE SET last_num = discussion_counters.last_num + 1
         RETURNING last_num",
    )
    .bind(repo_id)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO discussions (repo_id, num, title, author_id, is_pull_request, status, target_branch)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(repo_id)
    .bind(num)
    .bind(new.title)
    .bind(new.author_id)
    .bind(new.target_branch.is_some())
    .bind(new.status.as_str())
    .bind(new.target_branch)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::conflict("another discussion took this number; try again")
        } else {
            e.into()
        }
    })?;
    Ok((id, num))
}

/// Opens a discussion, or a pull request against the default branch (a
/// draft, its `refs/pr/{num}` made at the branch head), by a participant;
/// a non-empty `description` is its first comment.
pub async fn create(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    title: &str,
    description: &str,
    pull_request: bool,
) -> Result<Discussion> {
    let principal = repo.participant()?;
    let title = check_title(title)?;
    let description = match description.trim() {
        "" => None,
        _ => Some(check_comment(description)?),
    };
    let target = pull_request.then(|| repo.default_branch.clone());
    let mut tx = hub.db.begin().await?;
    let (id, num) = insert(
        &mut tx,
        repo.id,
        NewDiscussion {
            title: &title,
            author_id: principal.user.id,
            status: if pull_request {
                Status::Draft
            } else {
                Status::Open
            },
            target_branch: target.as_deref(),
        },
    )
    .await?;
    if let Some(description) = description {
        events::insert(
            &mut tx,
            id,
            EventKind::Comment,
            Some(principal.user.id),
            Some(description),
            json!({}),
        )
        .await?;
    }
    if let Some(branch) = &target {
        // Last, so that only the commit of the record can fail after the
        // ref exists (and then the ref goes, giving the number back whole).
        super::pulls::create_ref(hub, repo.id, num, branch).await?;
    }
    if let Err(e) = tx.commit().await {
        if target.is_some() {
            super::pulls::delete_ref(hub, repo.id, num).await?;
        }
        return Err(e.into());
    }
    get(hub, repo, num).await
}

/// Renames discussion `num` (its author or a repo writer).
pub async fn rename(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
    title: &str,
) -> Result<Event> {
    let principal = repo.participant()?;
    let title = check_title(title)?;
    let mut tx = hub.db.begin().await?;
    let discussion = lock(&mut tx, repo.id, num).await?;
    repo.check_author_or_writer(discussion.author_id)?;
    sqlx::query("UPDATE discussions SET title = $2 WHERE id = $1")
        .bind(discussion.id)
        .bind(&title)
        .execute(&mut *tx)
        .await?;
    let event = events::insert(
        &mut tx,
        discussion.id,
        EventKind::TitleChange,
        Some(principal.user.id),
        None,
        json!({ "from": discussion.title, "to": title }),
    )
    .await?;
    tx.commit().await?;
    Ok(event)
}

/// Closes or reopens discussion `num` (its author or a repo writer), with
/// an optional comment posted first. A draft pull request opens too; a
/// merged one changes no more.
pub async fn change_status(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    num: i64,
    status: Status,
    comment: Option<&str>,
) -> Result<Event> {
    let principal = repo.participant()?;
    if !matches!(status, Status::Open | Status::Closed) {
        return Err(Error::invalid(Message::coded(
            "community.status_change",
            "a discussion's status changes to open or closed (pull requests merge through merge)",
        )));
    }
    let comment = comment
        .filter(|c| !c.trim().is_empty())
        .map(check_comment)
        .transpose()?;
    let mut tx = hub.db.begin().await?;
    let discussion = lock(&mut tx, repo.id, num).await?;
    repo.check_author_or_writer(discussion.author_id)?;
    if discussion.status == Status::Merged {
        return Err(Error::conflict(Message::coded(
            "community.merged",
            "this pull request is merged",
        )));
    }
    if discussion.status == status {
        return Err(Error::conflict(
            Message::coded(
                "community.already_status",
                "this discussion is already {status}",
            )
            .with("status", status.as_str()),
        ));
    }
    sqlx::query("UPDATE discussions SET status = $2 WHERE id = $1")
        .bind(discussion.id)
        .bind(status.as_str())
        .execute(&mut *tx)
        .await?;
    if let Some(comment) = comment {
        events::insert(
            &mut tx,
            discussion.id,
            EventKind::Comment,
            Some(principal.user.id),
            Some(comment),
            json!({}),
        )
        .await?;
    }
    let event = events::insert(
        &mut tx,
        discussion.id,
        EventKind::StatusChange,
        Some(principal.user.id),
        None,
        events::status_data(status),
    )
    .await?;
    tx.commit().await?;
    Ok(event)
}
