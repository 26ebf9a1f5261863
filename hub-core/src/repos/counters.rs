//! Likes and download counts, with Hugging Face's semantics: one like per
//! user, downloads counted per request of a counted file, shown as a sum
//! over the last 30 days.

use sqlx::PgPool;

use super::Repo;
use crate::accounts::Principal;
use crate::error::Result;

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

pub async fn record_download(db: &PgPool, repo_id: i64) -> Result<()> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO repo_downloads_daily (repo_id, day, count) VALUES ($1, current_date, 1)
         ON CONFLICT (repo_id, day) DO UPDATE SET count = repo_downloads_daily.count + 1",
    )
    .bind(repo_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE repos SET downloads_total = downloads_total + 1 WHERE id = $1")
        .bind(repo_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
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
