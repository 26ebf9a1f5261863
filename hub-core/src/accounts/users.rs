//! Users: sign-up, password log-in (throttled by [`super::throttle`]), look-ups.

use sqlx::PgPool;

use super::{User, password, throttle};
use crate::error::{Error, Message, Result, is_unique_violation};
use crate::names::validate_namespace;
use crate::secret::sha256;

pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    /// The name shown next to the username (`fullname` in whoami); may be empty.
    pub full_name: &'a str,
    pub is_admin: bool,
}

const USER_COLUMNS: &str = "u.id, n.name, u.email, u.full_name, u.is_admin";

/// What sign-up says of an email address that already has an account. It
/// cannot be hidden without mailing the address (there is no mail here),
/// so it is said without naming an account, and sign-ups are throttled per
/// address ([`sign_up`]) so that addresses cannot be probed in bulk.
pub fn email_unavailable() -> Message {
    Message::coded(
        "email.unavailable",
        "this email address cannot be used for a new account; if it is yours, sign in",
    )
}

/// Creates an account from the sign-up form of a client at `client_ip`:
/// the form is checked first (that reveals nothing), then the attempt is
/// counted against the address's sign-up limit, then the account is made.
pub async fn sign_up(db: &PgPool, new: NewUser<'_>, client_ip: &str) -> Result<User> {
    validate_new_user(&new)?;
    throttle::begin_signup(db, client_ip).await?;
    create_user(db, new).await
}

fn validate_new_user(new: &NewUser<'_>) -> Result<()> {
    validate_namespace(new.username)?;
    validate_email(new.email)?;
    validate_full_name(new.full_name)?;
    password::validate(new.password)
}

/// Creates an account (the CLI, and [`sign_up`] after its checks).
pub async fn create_user(db: &PgPool, new: NewUser<'_>) -> Result<User> {
    validate_new_user(&new)?;
    let hash = password::hash(new.password).await?;
    let mut tx = db.begin().await?;
    let id: i64 =
        sqlx::query_scalar("INSERT INTO namespaces (name, kind) VALUES ($1, 'user') RETURNING id")
            .bind(new.username)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match is_unique_violation(&e) {
                true => Error::conflict(name_taken(new.username)),
                false => e.into(),
            })?;
    let full_name = new.full_name.trim();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, is_admin, full_name) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(new.email)
    .bind(&hash)
    .bind(new.is_admin)
    .bind(full_name)
        .execute(&mut *tx)
        .await
        .map_err(|e| match is_unique_violation(&e) {
            true => Error::conflict(email_unavailable()),
            false => e.into(),
        })?;
    tx.commit().await?;
    Ok(User {
        id,
        name: new.username.to_owned(),
        email: new.email.to_owned(),
        full_name: full_name.to_owned(),
        is_admin: new.is_admin,
    })
}

/// What creating a user or an organisation says of a name in use.
pub(crate) fn name_taken(name: &str) -> Message {
    Message::coded("name.taken", "the name '{name}' is already taken").with("name", name)
}

fn validate_email(email: &str) -> Result<()> {
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(Error::invalid(Message::coded(
            "email.invalid",
            "a valid email address is needed",
        )));
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
}

/// Checks a username (or email) and password from a client at `client_ip`.
///
/// A missing account, a wrong password and a throttled attempt each get one
/// answer whatever the account: `InvalidCredentials` for the first two
/// (after one argon2 verification either way, against a dummy hash when
/// there is no such user), `TooManyRequests` for the last, which counts
/// attempts per (name typed or account, address) and per address, so a
/// missing account is throttled exactly as an existing one and nobody else's
/// failures lock a user out of their own address.
pub async fn log_in(db: &PgPool, login: &str, password: &str, client_ip: &str) -> Result<User> {
    let row: Option<LoginRow> = sqlx::query_as(
        "SELECT u.id, u.password_hash FROM users u JOIN namespaces n ON n.id = u.id
         WHERE lower(n.name) = lower($1) OR lower(u.email) = lower($1)",
    )
    .bind(login)
    .fetch_optional(db)
    .await?;
    // The name and the email of one account share their budget; a name
    // that matches no account is counted under its own (hashed) spelling.
    let account_key = match &row {
        Some(row) => format!("user:{}", row.id),
        None => format!(
            "name:{}",
            hex::encode(sha256(login.to_lowercase().as_bytes()))
        ),
    };
    throttle::begin_login(db, client_ip, &account_key).await?;
    let ok = password::verify(password, row.as_ref().map(|r| r.password_hash.clone())).await?;
    match row {
        Some(row) if ok => {
            throttle::login_succeeded(db, client_ip, &account_key).await?;
            find_by_id(db, row.id)
                .await?
                .ok_or(Error::InvalidCredentials)
        }
        // The attempt recorded above stays: it is the failure.
        _ => Err(Error::InvalidCredentials),
    }
}

/// Longest full name shown on a profile.
pub const MAX_FULL_NAME_CHARS: usize = 100;

/// Sets the name a profile shows next to the username.
pub async fn set_full_name(db: &PgPool, user_id: i64, full_name: &str) -> Result<()> {
    let full_name = full_name.trim();
    validate_full_name(full_name)?;
    sqlx::query("UPDATE users SET full_name = $2 WHERE id = $1")
        .bind(user_id)
        .bind(full_name)
        .execute(db)
        .await?;
    Ok(())
}

/// The rule for a full name (set at creation or later), trimmed first.
fn validate_full_name(full_name: &str) -> Result<()> {
    let full_name = full_name.trim();
    if full_name.chars().count() > MAX_FULL_NAME_CHARS {
        return Err(Error::invalid(
            Message::coded(
                "full_name.length",
                "a full name has at most {max} characters",
            )
            .with("max", MAX_FULL_NAME_CHARS),
        ));
    }
    if full_name.chars().any(char::is_control) {
        return Err(Error::invalid(Message::coded(
            "full_name.characters",
            "a full name cannot contain control characters",
        )));
    }
    Ok(())
}

/// Changes a password after checking the current one (a stolen session
/// alone cannot take the account over; guesses at the current password are
/// throttled as log-ins are). Ends every session of the user.
pub async fn change_password(
    db: &PgPool,
    user_id: i64,
    current: &str,
    new: &str,
    client_ip: &str,
) -> Result<()> {
    let account_key = format!("user:{user_id}");
    throttle::begin_login(db, client_ip, &account_key).await?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    if !password::verify(current, stored).await? {
        return Err(Error::forbidden(Message::coded(
            "password.wrong",
            "the current password is wrong",
        )));
    }
    throttle::login_succeeded(db, client_ip, &account_key).await?;
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
