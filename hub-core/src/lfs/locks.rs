//! Git LFS file locks (`lfs_locks`): at most one lock per path in a repo.
//! Anyone who may read a repo may list its locks; creating, verifying and
//! releasing one's own locks need write access; releasing another user's
//! lock needs `force` and admin access to the repo.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::paths::normalize_repo_path;
use crate::repos::access::level::Level;
use crate::repos::access::{Access, Authorized};

/// Locks per page when the client names no limit, and the most it may ask for.
pub const DEFAULT_PAGE: i64 = 100;
pub const MAX_PAGE: i64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Lock {
    pub id: i64,
    pub path: String,
    pub locked_at: DateTime<Utc>,
    pub owner_id: i64,
    /// The owner's user name.
    pub owner: String,
}

/// The outcome of asking for a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Locked(Lock),
    /// The path was already locked (by anyone, the caller included): this lock.
    AlreadyLocked(Lock),
}

/// Filters of the lock list, as the client sends them.
#[derive(Debug, Clone, Default)]
pub struct LockQuery {
    pub path: Option<String>,
    pub id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockPage {
    pub locks: Vec<Lock>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<String>,
}

/// The locks that matter to a push by the caller: their own, and others'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyPage {
    pub ours: Vec<Lock>,
    pub theirs: Vec<Lock>,
    pub next_cursor: Option<String>,
}

const LOCK_COLUMNS: &str = "l.id, l.path, l.locked_at, l.owner_id, n.name AS owner
    FROM lfs_locks l JOIN namespaces n ON n.id = l.owner_id";

/// Locks `path` in `repo` for `actor` (write access needed).
pub async fn create(hub: &Hub, repo: &Authorized<impl Level>, path: &str) -> Result<Created> {
    repo.check(Access::Write)?;
    let owner = repo.actor().require_writer()?.user.id;
    let path = normalize_repo_path(path)?;
    // The existing lock may be released between the two statements: try again.
    for _ in 0..3 {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO lfs_locks (repo_id, path, owner_id) VALUES ($1, $2, $3)
             ON CONFLICT (repo_id, path) DO NOTHING RETURNING id",
        )
        .bind(repo.id)
        .bind(&path)
        .bind(owner)
        .fetch_optional(&hub.db)
        .await?;
        if let Some(id) = id {
            let lock = find(&hub.db, repo.id, id).await?;
            return Ok(Created::Locked(lock.ok_or_else(|| lock_not_found(id))?));
        }
        if let Some(existing) = find_by_path(&hub.db, repo.id, &path).await? {
            return Ok(Created::AlreadyLocked(existing));
        }
    }
    Err(Error::conflict(format!(
        "{path} is being locked and unlocked concurrently; try again"
    )))
}

/// A page of `repo`'s locks, oldest first (read access needed).
pub async fn list(hub: &Hub, repo: &Authorized<impl Level>, query: &LockQuery) -> Result<LockPage> {
    let id = match query.id.as_deref() {
        None | Some("") => None,
        // No lock has an id that is not a number.
        Some(id) => match id.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                return Ok(LockPage {
                    locks: Vec::new(),
                    next_cursor: None,
                });
            }
        },
    };
    let path = match query.path.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        // Locks are kept under normalised paths; no lock has an invalid one.
        Some(p) => match normalize_repo_path(p) {
            Ok(p) => Some(p),
            Err(_) => {
                return Ok(LockPage {
                    locks: Vec::new(),
                    next_cursor: None,
                });
            }
        },
    };
    let cursor = query.cursor.as_deref();
    page(&hub.db, repo.id, path.as_deref(), id, cursor, query.limit).await
}

/// The locks of `repo` split into the caller's and others' (write access
/// needed: git-lfs asks before a push).
pub async fn verify(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<VerifyPage> {
    repo.check(Access::Write)?;
    let me = repo.actor().require_user()?.user.id;
    let LockPage { locks, next_cursor } = page(&hub.db, repo.id, None, None, cursor, limit).await?;
    let (ours, theirs) = locks.into_iter().partition(|l| l.owner_id == me);
    Ok(VerifyPage {
        ours,
        theirs,
        next_cursor,
    })
}

/// Releases lock `id` of `repo`: the caller's own lock, or with `force`
/// anyone's when the caller administers the repo. Returns the released lock.
pub async fn unlock(
    hub: &Hub,
    repo: &Authorized<impl Level>,
    id: &str,
    force: bool,
) -> Result<Lock> {
    repo.check(Access::Write)?;
    let granted = repo.granted();
    let me = repo.actor().require_writer()?.user.id;
    let id = id
        .parse::<i64>()
        .map_err(|_| Error::not_found(format!("lock {id:?} not found")))?;
    let lock = find(&hub.db, repo.id, id)
        .await?
        .ok_or_else(|| lock_not_found(id))?;
    if lock.owner_id != me {
        if !force {
            return Err(Error::forbidden(format!(
                "{} is locked by {}; unlock it with --force to release another user's lock",
                lock.path, lock.owner
            )));
        }
        if granted < Access::Admin {
            return Err(Error::forbidden(
                "only an admin of this repo can release another user's lock",
            ));
        }
    }
    let deleted = sqlx::query("DELETE FROM lfs_locks WHERE id = $1 AND repo_id = $2")
        .bind(id)
        .bind(repo.id)
        .execute(&hub.db)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(lock_not_found(id));
    }
    Ok(lock)
}

async fn page(
    db: &PgPool,
    repo_id: i64,
    path: Option<&str>,
    id: Option<i64>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<LockPage> {
    let cursor = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| Error::invalid(format!("bad cursor {c:?}")))?,
        ),
    };
    let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {LOCK_COLUMNS}
         WHERE l.repo_id = $1 AND ($2::TEXT IS NULL OR l.path = $2)
           AND ($3::BIGINT IS NULL OR l.id = $3) AND ($4::BIGINT IS NULL OR l.id >= $4)
         ORDER BY l.id LIMIT $5"
    ));
    let mut locks: Vec<Lock> = sqlx::query_as(sql)
        .bind(repo_id)
        .bind(path)
        .bind(id)
        .bind(cursor)
        .bind(limit + 1)
        .fetch_all(db)
        .await?;
    let next_cursor = if locks.len() as i64 > limit {
        locks.pop().map(|l| l.id.to_string())
    } else {
        None
    };
    Ok(LockPage { locks, next_cursor })
}

async fn find(db: &PgPool, repo_id: i64, id: i64) -> Result<Option<Lock>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {LOCK_COLUMNS} WHERE l.repo_id = $1 AND l.id = $2"
    ));
    Ok(sqlx::query_as(sql)
        .bind(repo_id)
        .bind(id)
        .fetch_optional(db)
        .await?)
}

async fn find_by_path(db: &PgPool, repo_id: i64, path: &str) -> Result<Option<Lock>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {LOCK_COLUMNS} WHERE l.repo_id = $1 AND l.path = $2"
    ));
    Ok(sqlx::query_as(sql)
        .bind(repo_id)
        .bind(path)
        .fetch_optional(db)
        .await?)
}

fn lock_not_found(id: i64) -> Error {
    Error::not_found(format!("lock {id} not found"))
}
