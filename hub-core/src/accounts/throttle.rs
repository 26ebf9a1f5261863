//! Throttles for password log-in and sign-up, kept in PostgreSQL so that
//! every hub node sees the same counts.
//!
//! Log-in failures are counted per (account, client address) and per
//! client address, never per account alone: someone else's wrong passwords
//! must not keep the real user out from their own address. An attempt is
//! recorded *before* its password is checked (and removed again when it
//! succeeds), so parallel guesses cannot slip past the limit; the attempts
//! of one address are serialised by a transaction-scoped advisory lock.
//! An IPv6 address counts as its /64: one subscriber usually holds a whole
//! /64 and could otherwise rotate through it.

use std::time::Duration;

use sqlx::PgPool;

use crate::error::{Error, Result};

/// How long failed log-ins are remembered.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed log-ins into one account from one address within [`LOGIN_WINDOW`].
pub const MAX_LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS: i64 = 5;
/// Failed log-ins from one address, whatever the account, within [`LOGIN_WINDOW`].
pub const MAX_LOGIN_FAILURES_PER_ADDRESS: i64 = 20;
/// How long sign-up attempts are remembered.
pub const SIGNUP_WINDOW: Duration = Duration::from_secs(60 * 60);
/// Sign-up attempts (that passed the form checks) from one address within [`SIGNUP_WINDOW`].
pub const MAX_SIGNUPS_PER_ADDRESS: i64 = 10;

/// The one answer for a throttled log-in, whether the account exists or not.
pub fn login_throttled() -> Error {
    Error::TooManyRequests {
        message: "too many failed log-ins; try again later".into(),
        retry_after: LOGIN_WINDOW,
    }
}

/// What an attempt tries.
#[derive(Clone, Copy)]
enum Kind {
    Login,
    Signup,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::Signup => "signup",
        }
    }

    fn window(self) -> Duration {
        match self {
            Kind::Login => LOGIN_WINDOW,
            Kind::Signup => SIGNUP_WINDOW,
        }
    }

    /// Whether one more attempt is allowed after `pair` on its account and
    /// `all` from its address.
    fn allows(self, pair: i64, all: i64) -> bool {
        match self {
            Kind::Login => {
                pair < MAX_LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS
                    && all < MAX_LOGIN_FAILURES_PER_ADDRESS
            }
            Kind::Signup => all < MAX_SIGNUPS_PER_ADDRESS,
        }
    }

    fn throttled(self) -> Error {
        match self {
            Kind::Login => login_throttled(),
            Kind::Signup => Error::TooManyRequests {
                message: "too many sign-ups from this address; try again later".into(),
                retry_after: SIGNUP_WINDOW,
            },
        }
    }
}

/// Records a log-in attempt on `account_key` from `ip`, or refuses it with
/// [`login_throttled`] when that pair or that address has failed too often.
pub async fn begin_login(db: &PgPool, ip: &str, account_key: &str) -> Result<()> {
    record_attempt(db, Kind::Login, ip, account_key).await
}

/// Forgets the attempts of a pair after a successful log-in.
pub async fn login_succeeded(db: &PgPool, ip: &str, account_key: &str) -> Result<()> {
    sqlx::query("DELETE FROM auth_attempts WHERE kind = 'login' AND ip = $1 AND account_key = $2")
        .bind(address_key(ip))
        .bind(account_key)
        .execute(db)
        .await?;
    Ok(())
}

/// Records a sign-up attempt from `ip`, or refuses it when the address has
/// made too many within [`SIGNUP_WINDOW`].
pub async fn begin_signup(db: &PgPool, ip: &str) -> Result<()> {
    record_attempt(db, Kind::Signup, ip, "").await
}

/// Counts the attempts of `kind` from `ip` within its window (those on
/// `account_key`, and all) and records one more, or refuses it.
async fn record_attempt(db: &PgPool, kind: Kind, ip: &str, account_key: &str) -> Result<()> {
    let ip = &address_key(ip);
    let window = kind.window().as_secs_f64();
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("auth_attempts:{}:{ip}", kind.as_str()))
        .execute(&mut *tx)
        .await?;
    let (pair, all): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE account_key = $3), count(*) FROM auth_attempts
         WHERE kind = $1 AND ip = $2 AND at > now() - make_interval(secs => $4)",
    )
    .bind(kind.as_str())
    .bind(ip)
    .bind(account_key)
    .bind(window)
    .fetch_one(&mut *tx)
    .await?;
    if !kind.allows(pair, all) {
        return Err(kind.throttled());
    }
    sqlx::query("INSERT INTO auth_attempts (kind, ip, account_key) VALUES ($1, $2, $3)")
        .bind(kind.as_str())
        .bind(ip)
        .bind(account_key)
        .execute(&mut *tx)
        .await?;
    // Old rows only matter within their window; prune them as we go.
    sqlx::query(
        "DELETE FROM auth_attempts WHERE kind = $1 AND at < now() - make_interval(secs => $2)",
    )
    .bind(kind.as_str())
    .bind(window)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What attempts from `ip` are counted under: the address itself, or for
/// IPv6 its /64 (written `prefix::/64`).
fn address_key(ip: &str) -> String {
    use std::net::{IpAddr, Ipv6Addr};
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                format!("{}/64", Ipv6Addr::from(prefix))
            }
        },
        _ => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("::1"), "::/64");
    }
}
