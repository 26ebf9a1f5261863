//! A Space's variables and secrets, which its app gets as environment
//! variables. Variables are public (shown to readers, copied by duplicate);
//! secrets are write-only: sealed with a key derived from the hub's secret,
//! never shown again, never copied, and opened only for the runner that
//! starts the app (`for_run`).

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::hub::Hub;

const SEAL_PURPOSE: &str = "space-secret";
/// Entries (variables and secrets together) per Space.
const MAX_ENTRIES: i64 = 100;
const MAX_VALUE: usize = 64 * 1024;
const MAX_DESCRIPTION: usize = 1000;

/// Names the hub sets itself, which an entry may not replace.
const RESERVED: &[&str] = &["HOME", "PATH", "PYTHONUNBUFFERED", "SYSTEM"];
const RESERVED_PREFIXES: &[&str] = &["SPACE_", "GRADIO_", "STREAMLIT_SERVER_"];

/// Whether `key` can name an environment variable of an app.
pub fn valid_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok && key.len() <= 128 && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(crate) fn check_key(key: &str) -> Result<()> {
    if !valid_key(key) {
        return Err(Error::invalid(format!(
            "`{key}` cannot name an environment variable (letters, digits and _, not starting with a digit)"
        )));
    }
    let upper = key.to_ascii_uppercase();
    if RESERVED.contains(&upper.as_str()) || RESERVED_PREFIXES.iter().any(|p| upper.starts_with(p))
    {
        return Err(Error::invalid(format!(
            "`{key}` is set by the hub for every Space"
        )));
    }
    Ok(())
}

/// One variable, or one secret (whose value is never read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// None for a secret.
    pub value: Option<String>,
    pub description: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Adds or replaces a variable (`secret` false) or a secret. A key is one
/// or the other: setting a variable named like a secret replaces it.
pub async fn set(
    hub: &Hub,
    repo_id: i64,
    key: &str,
    value: &str,
    description: Option<&str>,
    secret: bool,
) -> Result<Entry> {
    check_key(key)?;
    if value.len() > MAX_VALUE {
        return Err(Error::too_large(format!(
            "a value may have at most {MAX_VALUE} bytes"
        )));
    }
    let description = description
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| crate::text::truncate(d, MAX_DESCRIPTION).to_string());
    let stored = if secret {
        hub.secret.seal(SEAL_PURPOSE, value.as_bytes())
    } else {
        value.to_string()
    };
    let mut tx = hub.db.begin().await?;
    // One writer per Space at a time, so the count below holds.
    sqlx::query("SELECT 1 FROM repos WHERE id = $1 FOR NO KEY UPDATE")
        .bind(repo_id)
        .execute(&mut *tx)
        .await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM space_env WHERE repo_id = $1 AND key <> $2")
            .bind(repo_id)
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
    if count >= MAX_ENTRIES {
        return Err(Error::invalid(format!(
            "a Space may have at most {MAX_ENTRIES} variables and secrets"
        )));
    }
    let updated_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO space_env (repo_id, key, secret, value, description) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (repo_id, key) DO UPDATE SET secret = excluded.secret, value = excluded.value,
             description = excluded.description, updated_at = now()
         RETURNING updated_at",
    )
    .bind(repo_id)
    .bind(key)
    .bind(secret)
    .bind(&stored)
    .bind(&description)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Entry {
        key: key.to_string(),
        value: (!secret).then(|| value.to_string()),
        description,
        updated_at,
    })
}

/// Removes a variable or a secret; false when there was none.
pub async fn delete(hub: &Hub, repo_id: i64, key: &str, secret: bool) -> Result<bool> {
    let done = sqlx::query("DELETE FROM space_env WHERE repo_id = $1 AND key = $2 AND secret = $3")
        .bind(repo_id)
        .bind(key)
        .bind(secret)
        .execute(&hub.db)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The variables (with values) or the secrets (without), by key.
pub async fn list(hub: &Hub, repo_id: i64, secret: bool) -> Result<Vec<Entry>> {
    let rows: Vec<(String, String, Option<String>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT key, value, description, updated_at FROM space_env
         WHERE repo_id = $1 AND secret = $2 ORDER BY key",
    )
    .bind(repo_id)
    .bind(secret)
    .fetch_all(&hub.db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key, value, description, updated_at)| Entry {
            key,
            value: (!secret).then_some(value),
            description,
            updated_at,
        })
        .collect())
}

/// Copies the variables of one Space to another (duplicating a Space
/// copies its variables, never its secrets).
pub async fn copy_variables(hub: &Hub, from: i64, to: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO space_env (repo_id, key, secret, value, description)
         SELECT $2, key, false, value, description FROM space_env WHERE repo_id = $1 AND NOT secret
         ON CONFLICT (repo_id, key) DO NOTHING",
    )
    .bind(from)
    .bind(to)
    .execute(&hub.db)
    .await?;
    Ok(())
}

/// The variables and the opened secrets of a Space, for the runner that
/// starts its app. A secret that no longer opens (the hub's secret
/// changed) is left out, with a warning.
pub(crate) async fn for_run(
    hub: &Hub,
    repo_id: i64,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let rows: Vec<(String, bool, String)> =
        sqlx::query_as("SELECT key, secret, value FROM space_env WHERE repo_id = $1 ORDER BY key")
            .bind(repo_id)
            .fetch_all(&hub.db)
            .await?;
    let (mut variables, mut secrets) = (Vec::new(), Vec::new());
    for (key, secret, value) in rows {
        if !secret {
            variables.push((key, value));
            continue;
        }
        match hub
            .secret
            .open(SEAL_PURPOSE, &value)
            .and_then(|v| String::from_utf8(v).ok())
        {
            Some(value) => secrets.push((key, value)),
            None => tracing::warn!(repo_id, key, "a Space secret no longer opens; left out"),
        }
    }
    Ok((variables, secrets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(valid_key("OPENAI_API_KEY") && valid_key("_x1"));
        assert!(!valid_key("1X") && !valid_key("A-B") && !valid_key("") && !valid_key("a b"));
        assert!(check_key("SPACE_ID").is_err() && check_key("path").is_err());
        assert!(check_key("MY_TOKEN").is_ok());
    }
}
