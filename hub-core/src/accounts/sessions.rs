//! Server-side browser sessions. The cookie holds a random secret; the
//! database holds only its sha256, plus the session's CSRF token.

use std::time::Duration;

use sqlx::PgPool;

use super::User;
use crate::error::Result;
use crate::secret::{random_token, sha256};

pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

pub struct NewSession {
    /// The cookie value; never stored.
    pub cookie: String,
    pub csrf_token: String,
}

pub async fn create(db: &PgPool, user_id: i64) -> Result<NewSession> {
    let cookie = random_token(32);
    let csrf_token = random_token(24);
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
    )
    .bind(sha256(cookie.as_bytes()))
    .bind(user_id)
    .bind(&csrf_token)
    .bind(SESSION_LIFETIME.as_secs_f64())
    .execute(db)
    .await?;
    Ok(NewSession { cookie, csrf_token })
}

/// The user and CSRF token of a live session.
pub async fn find(db: &PgPool, cookie: &str) -> Result<Option<(User, String)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        csrf_token: String,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT u.id, n.name, u.email, u.full_name, u.is_admin, s.csrf_token
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN namespaces n ON n.id = u.id
         WHERE s.token_hash = $1 AND s.expires_at > now()",
    )
    .bind(sha256(cookie.as_bytes()))
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.user, r.csrf_token)))
}

/// The name of the session whose cookie is `cookie`: the hex of the key
/// the database holds (a digest, so it grants nothing by itself). Credentials
/// derived from a session (Xet CAS tokens) carry it, to end with it.
pub fn key_of(cookie: &str) -> String {
    hex::encode(sha256(cookie.as_bytes()))
}

/// Whether the session named `key` (see [`key_of`]) is still live for `user_id`.
pub async fn is_live(db: &PgPool, key: &str, user_id: i64) -> Result<bool> {
    let Ok(hash) = hex::decode(key) else {
        return Ok(false);
    };
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions
                        WHERE token_hash = $1 AND user_id = $2 AND expires_at > now())",
    )
    .bind(hash)
    .bind(user_id)
    .fetch_one(db)
    .await?)
}

pub async fn delete(db: &PgPool, cookie: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(sha256(cookie.as_bytes()))
        .execute(db)
        .await?;
    Ok(())
}
