//! Password hashing with argon2id. Hashing is slow on purpose, so callers
//! run it off the async executor with [`hash`] and [`verify`].

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::{Error, Message, Result};

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Bounds the work an attacker can make us do per log-in attempt.
pub const MAX_PASSWORD_BYTES: usize = 1024;

pub fn validate(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            Message::coded(
                "password.short",
                "a password needs at least {min} characters",
            )
            .with("min", MIN_PASSWORD_CHARS),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(Message::coded(
            "password.long",
            "password too long",
        )));
    }
    Ok(())
}

/// Argon2id PHC string of `password`, with a fresh random salt.
pub async fn hash(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(anyhow::anyhow!("argon2: {e}")))
    })
    .await?
}

/// Checks `password` against a stored PHC string. With no stored hash (an
/// unknown user) it still spends the time of one verification, so response
/// times do not reveal which accounts exist.
pub async fn verify(password: &str, stored: Option<String>) -> Result<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.get_or_init(dummy_hash).clone());
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored password hash: {e}")))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn dummy_hash() -> String {
    Argon2::default()
        .hash_password(b"not a real password")
        .map(|h| h.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse", Some(h.clone())).await.unwrap());
        assert!(!verify("wrong horse", Some(h)).await.unwrap());
        // An unknown user never signs in, whatever the password.
        assert!(!verify("not a real password", None).await.unwrap());
        assert!(validate("short").is_err());
        assert!(validate("长密码长密码长密码").is_ok());
    }
}
