//! Users: sign-up, password log-in with lock-out, look-ups.

use std::time::Duration;

use sqlx::PgPool;

use super::{User, password};
use crate::error::{Error, Result, is_unique_violation};
use crate::names::validate_namespace;

/// Failed log-ins in a row after which an account is locked for a while.
pub const MAX_FAILED_LOGINS: i32 = 5;
pub const ACCOUNT_LOCK: Duration = Duration::from_secs(15 * 60);
/// Failed log-ins from one address within [`IP_WINDOW`] before it is slowed down.
pub const MAX_FAILURES_PER_IP: i64 = 20;
pub const IP_WINDOW: Duration = Duration::from_secs(15 * 60);

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub is_admin: bool,
}

const USER_COLUMNS: &str = "u.id, n.name, u.email, u.full_name, u.is_admin";

pub async fn create_user(db: &PgPool, new: NewUser<'_>) -> Result<User> {
    validate_namespace(new.username)?;
    validate_email(new.email)?;
    password::validate(new.password)?;
    let hash = password::hash(new.password).await?;
    let mut tx = db.begin().await?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO namespaces (name, kind) VALUES ($1, 'user') RETURNING id")
            .bind(new.username)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match is_unique_violation(&e) {
                true => Error::conflict(format!("the name '{}' is already taken", new.username)),
                false => e.into(),
            })?;
    sqlx::query("INSERT INTO users (id, email, password_hash, is_admin) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(new.email)
        .bind(&hash)
        .bind(new.is_admin)
        .execute(&mut *tx)
        .await
        .map_err(|e| match is_unique_violation(&e) {
            true => Error::conflict("an account with this email already exists"),
            false => e.into(),
        })?;
    tx.commit().await?;
    Ok(User {
        id,
        name: new.username.to_owned(),
        email: new.email.to_owned(),
        full_name: String::new(),
        is_admin: new.is_admin,
    })
}

fn validate_email(email: &str) -> Result<()> {
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(Error::invalid("a valid email address is needed"));
    }
    Ok(())
}

pub async fn find_by_name(db: &PgPool, name: &str) -> Result<Option<User>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN namespaces n ON n.id = u.id WHERE lower(n.name) = lower($1)"
    ));
    Ok(sqlx::query_as(sql).bind(name).fetch_optional(db).await?)
}

pub async fn find_by_id(db: &PgPool, id: i64) -> Result<Option<User>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN namespaces n ON n.id = u.id WHERE u.id = $1"
    ));
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(db).await?)
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    id: i64,
    password_hash: String,
    locked: bool,
}

/// Checks a username (or email) and password. Repeated failures lock the
/// account for [`ACCOUNT_LOCK`]; many failures from one address slow that
/// address down. Both answer `TooManyRequests` with a retry delay.
pub async fn log_in(db: &PgPool, login: &str, password: &str, client_ip: &str) -> Result<User> {
    let recent_failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM login_failures WHERE ip = $1 AND at > now() - make_interval(secs => $2)",
    )
    .bind(client_ip)
    .bind(IP_WINDOW.as_secs_f64())
    .fetch_one(db)
    .await?;
    if recent_failures >= MAX_FAILURES_PER_IP {
        return Err(Error::TooManyRequests {
            message: "too many failed log-ins from this address; try again later".into(),
            retry_after: IP_WINDOW,
        });
    }
    let row: Option<LoginRow> = sqlx::query_as(
        "SELECT u.id, u.password_hash, coalesce(u.locked_until > now(), false) AS locked
         FROM users u JOIN namespaces n ON n.id = u.id
         WHERE lower(n.name) = lower($1) OR lower(u.email) = lower($1)",
    )
    .bind(login)
    .fetch_optional(db)
    .await?;
    if row.as_ref().is_some_and(|r| r.locked) {
        return Err(Error::TooManyRequests {
            message: "this account is locked after too many failed log-ins; try again later".into(),
            retry_after: ACCOUNT_LOCK,
        });
    }
    let ok = password::verify(password, row.as_ref().map(|r| r.password_hash.clone())).await?;
    match (row, ok) {
        (Some(row), true) => {
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
                .bind(row.id)
                .execute(db)
                .await?;
            find_by_id(db, row.id)
                .await?
                .ok_or(Error::InvalidCredentials)
        }
        (row, _) => {
            record_failure(db, row.map(|r| r.id), client_ip).await?;
            Err(Error::InvalidCredentials)
        }
    }
}

async fn record_failure(db: &PgPool, user_id: Option<i64>, client_ip: &str) -> Result<()> {
    sqlx::query("INSERT INTO login_failures (ip) VALUES ($1)")
        .bind(client_ip)
        .execute(db)
        .await?;
    if let Some(id) = user_id {
        sqlx::query(
            "UPDATE users SET
                failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
                locked_until = CASE WHEN failed_logins + 1 >= $2
                                    THEN now() + make_interval(secs => $3) ELSE locked_until END
             WHERE id = $1",
        )
        .bind(id)
        .bind(MAX_FAILED_LOGINS)
        .bind(ACCOUNT_LOCK.as_secs_f64())
        .execute(db)
        .await?;
    }
    // Old rows are only needed for the window; prune them as we go.
    sqlx::query("DELETE FROM login_failures WHERE at < now() - make_interval(secs => $1)")
        .bind(IP_WINDOW.as_secs_f64() * 2.0)
        .execute(db)
        .await?;
    Ok(())
}

/// Longest full name shown on a profile.
pub const MAX_FULL_NAME_CHARS: usize = 100;

/// Sets the name a profile shows next to the username.
pub async fn set_full_name(db: &PgPool, user_id: i64, full_name: &str) -> Result<()> {
    let full_name = full_name.trim();
    if full_name.chars().count() > MAX_FULL_NAME_CHARS {
        return Err(Error::invalid(format!(
            "a full name has at most {MAX_FULL_NAME_CHARS} characters"
        )));
    }
    if full_name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "a full name cannot contain control characters",
        ));
    }
    sqlx::query("UPDATE users SET full_name = $2 WHERE id = $1")
        .bind(user_id)
        .bind(full_name)
        .execute(db)
        .await?;
    Ok(())
}

/// Changes a password after checking the current one (a stolen session
/// alone cannot take the account over). Ends every session of the user.
pub async fn change_password(db: &PgPool, user_id: i64, current: &str, new: &str) -> Result<()> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    if !password::verify(current, stored).await? {
        return Err(Error::forbidden("the current password is wrong"));
    }
    set_password(db, user_id, new).await
}

pub async fn set_password(db: &PgPool, user_id: i64, new_password: &str) -> Result<()> {
    password::validate(new_password)?;
    let hash = password::hash(new_password).await?;
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(db)
        .await?;
    // A new password ends every other session.
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}
