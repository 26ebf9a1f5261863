//! Likes and download counts, with Hugging Face's semantics: one like per
//! user; downloads counted per request of a counted file, at most once per
//! client, repo and [`DOWNLOAD_WINDOW`], shown as a sum over the last 30 days
//! (written in batches: [`super::download_counts`]).

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::access::Reader;
use super::{Repo, RepoType};
use crate::accounts::{Actor, Principal, users};
use crate::error::{Error, Result};

/// A client's downloads of one repo within this window count once, as on
/// Hugging Face ("all files downloaded by a user (based on their IP
/// address) within a 5-minute window"): repeating a download cannot
/// inflate the count that trending is built from.
pub const DOWNLOAD_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Who downloads, as downloads are told apart: a signed-in user (wherever
/// they are), else the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloader(String);

impl Downloader {
    /// `client_ip` must be the trusted client address (the forwarded one
    /// only from a trusted proxy), never a header a client sets freely.
    pub fn new(actor: &Actor, client_ip: IpAddr) -> Downloader {
        match actor.user() {
            Some(user) => Downloader(format!("user:{}", user.id)),
            None => Downloader(format!("ip:{client_ip}")),
        }
    }

    /// `user:<id>` or `ip:<address>`, as `download_windows.client` holds it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Likes a repo; liking twice changes nothing. Returns the new count.
pub async fn like(db: &PgPool, user: &Principal, repo: &Repo) -> Result<i64> {
    set_like(db, user, repo, true).await
}

pub async fn unlike(db: &PgPool, user: &Principal, repo: &Repo) -> Result<i64> {
    set_like(db, user, repo, false).await
}

async fn set_like(db: &PgPool, user: &Principal, repo: &Repo, liked: bool) -> Result<i64> {
    let mut tx = db.begin().await?;
    let changed = if liked {
        sqlx::query(
            "INSERT INTO repo_likes (repo_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
    } else {
        sqlx::query("DELETE FROM repo_likes WHERE repo_id = $1 AND user_id = $2")
    }
    .bind(repo.id)
    .bind(user.user.id)
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    let delta = if liked { changed } else { -changed };
    let likes: i64 =
        sqlx::query_scalar("UPDATE repos SET likes = likes + $2 WHERE id = $1 RETURNING likes")
            .bind(repo.id)
            .bind(delta)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(likes)
}

pub async fn has_liked(db: &PgPool, user_id: i64, repo_id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM repo_likes WHERE repo_id = $1 AND user_id = $2)",
    )
    .bind(repo_id)
    .bind(user_id)
    .fetch_one(db)
    .await?)
}

/// One repo a user likes, as their list of likes shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Like {
    pub repo_type: RepoType,
    /// `namespace/name`.
    pub repo_id: String,
    pub liked_at: DateTime<Utc>,
}

/// The repos user `username` likes, newest like first, as `actor` may see
/// them: a repo `actor` may not read is left out, as from every listing, so
/// a like tells nobody that a private repo exists. `NotFound` when there is
/// no such user (an organisation likes nothing).
pub async fn likes_of(db: &PgPool, actor: &Actor, username: &str) -> Result<Vec<Like>> {
    let user = users::find_by_name(db, username)
        .await?
        .ok_or_else(|| Error::not_found(format!("no user named {username:?}")))?;
    let reader = Reader::of(actor);
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT r.repo_type, n.name || '/' || r.name, l.created_at
         FROM repo_likes l JOIN repos r ON r.id = l.repo_id
         JOIN namespaces n ON n.id = r.namespace_id
         WHERE l.user_id = $1 AND {}
         ORDER BY l.created_at DESC, r.id DESC",
        reader.sql_condition("$2")
    ));
    let mut query = sqlx::query_as::<_, (String, String, DateTime<Utc>)>(sql).bind(user.id);
    if let Some(id) = reader.user_id() {
        query = query.bind(id);
    }
    query
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(kind, repo_id, liked_at)| {
            Ok(Like {
                repo_type: RepoType::parse(&kind)?,
                repo_id,
                liked_at,
            })
        })
        .collect()
}

/// Whether a file request counts as a download of its repo. As on Hugging
/// Face: `config.json` for models that have one (hard to tell here, so the
/// usual weights and config files count), any data file for datasets.
pub fn counts_as_download(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(name, "config.json" | "config.yaml" | "model_index.json")
        || [
            ".safetensors",
            ".gguf",
            ".parquet",
            ".csv",
            ".jsonl",
            ".json.gz",
            ".arrow",
        ]
        .iter()
        .any(|ext| name.ends_with(ext) && !name.ends_with(".index.json"))
}
