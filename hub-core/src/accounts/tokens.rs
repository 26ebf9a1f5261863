//! API tokens: named, `read` or `write`, shown once, stored as a sha256
//! (they are long random secrets, so a slow hash would only add latency),
//! last use recorded, revocable.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{Credential, Principal, TokenRole, User};
use crate::error::{Error, Result};
use crate::secret::{random_token, sha256};

/// Tokens start with this, so secret scanners and people can recognise them.
pub const TOKEN_PREFIX: &str = "ky_";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Creates a token and returns it in clear, the only time it is ever seen.
pub async fn create(
    db: &PgPool,
    user_id: i64,
    name: &str,
    role: TokenRole,
) -> Result<(String, ApiToken)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "a token needs a name of 1 to 100 characters",
        ));
    }
    let secret = format!("{TOKEN_PREFIX}{}", random_token(30));
    let token: ApiToken = sqlx::query_as(
        "INSERT INTO api_tokens (user_id, name, role, token_hash, prefix) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, name, role, prefix, created_at, last_used_at",
    )
    .bind(user_id)
    .bind(name)
    .bind(role.as_str())
    .bind(sha256(secret.as_bytes()))
    .bind(&secret[..TOKEN_PREFIX.len() + 4])
    .fetch_one(db)
    .await?;
    Ok((secret, token))
}

/// The principal a token stands for; `InvalidCredentials` for an unknown or revoked one.
pub async fn authenticate(db: &PgPool, secret: &str) -> Result<Principal> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        token_id: i64,
        token_name: String,
        role: String,
        stale: bool,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT u.id, n.name, u.email, u.full_name, u.is_admin,
                t.id AS token_id, t.name AS token_name, t.role,
                coalesce(t.last_used_at < now() - interval '1 minute', true) AS stale
         FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN namespaces n ON n.id = u.id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(sha256(secret.trim().as_bytes()))
    .fetch_optional(db)
    .await?;
    let row = row.ok_or(Error::InvalidCredentials)?;
    // One write a minute at most per token: exact enough, and no write per request.
    if row.stale {
        sqlx::query("UPDATE api_tokens SET last_used_at = now() WHERE id = $1")
            .bind(row.token_id)
            .execute(db)
            .await?;
    }
    let role = TokenRole::parse(&row.role).ok_or(Error::InvalidCredentials)?;
    Ok(Principal {
        user: row.user,
        credential: Credential::Token {
            id: row.token_id,
            name: row.token_name,
            role,
        },
    })
}

/// Whether API token `token_id` of `user_id` is still live (not revoked).
/// Credentials derived from a token (Xet CAS tokens) check it on every use,
/// so revoking a token ends them too.
pub async fn is_live(db: &PgPool, token_id: i64, user_id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM api_tokens
                        WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL)",
    )
    .bind(token_id)
    .bind(user_id)
    .fetch_one(db)
    .await?)
}

pub async fn list(db: &PgPool, user_id: i64) -> Result<Vec<ApiToken>> {
    Ok(sqlx::query_as(
        "SELECT id, name, role, prefix, created_at, last_used_at FROM api_tokens
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?)
}

pub async fn revoke(db: &PgPool, user_id: i64, token_id: i64) -> Result<()> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(token_id)
    .bind(user_id)
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found("no such token"));
    }
    Ok(())
}
