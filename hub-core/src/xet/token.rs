//! The Xet CAS access token: a signed, expiring credential that lets one
//! user upload xorbs and shards for one repo. No database row: the token is
//! `kyxet1.{user_id}.{repo_id}.{scope}.{expires}.{hmac}`, the HMAC (with
//! the hub's secret) covering every field, so it can be neither forged nor
//! moved to another user, repo or scope, nor extended.
//!
//! It is issued only to callers with write access to the repo, and the CAS
//! checks that access again on every write (a token outlives neither a
//! revoked membership nor a deleted repo).

use crate::error::{Error, Result};
use crate::secret::Secret;

/// How long a token is valid, in seconds. hf_xet asks for a fresh one when
/// less than a minute is left, so long uploads go on past it.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

const PREFIX: &str = "kyxet1";

/// What a token allows. The hub serves no Xet reads, so only writes exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Write,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Write => "write",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasToken {
    pub user_id: i64,
    pub repo_id: i64,
    pub scope: Scope,
    /// Unix seconds.
    pub expires: i64,
}

impl CasToken {
    /// A write token for `user_id` on `repo_id`, valid from `now` (unix seconds).
    pub fn write(user_id: i64, repo_id: i64, now: i64) -> CasToken {
        CasToken {
            user_id,
            repo_id,
            scope: Scope::Write,
            expires: now + TOKEN_LIFETIME_SECS,
        }
    }

    fn payload(&self) -> String {
        format!(
            "{PREFIX}.{}.{}.{}.{}",
            self.user_id,
            self.repo_id,
            self.scope.as_str(),
            self.expires
        )
    }

    /// The token as handed to the client.
    pub fn encode(&self, secret: &Secret) -> String {
        let payload = self.payload();
        let sig = secret.sign(format!("xet-cas:{payload}").as_bytes());
        format!("{payload}.{sig}")
    }

    /// The token `text` stands for, if its signature holds and it has not
    /// expired at `now`; `InvalidCredentials` otherwise.
    pub fn verify(secret: &Secret, text: &str, now: i64) -> Result<CasToken> {
        let (payload, sig) = text.rsplit_once('.').ok_or(Error::InvalidCredentials)?;
        if !secret.verify(format!("xet-cas:{payload}").as_bytes(), sig) {
            return Err(Error::InvalidCredentials);
        }
        let mut fields = payload.split('.');
        let (Some(PREFIX), Some(user), Some(repo), Some("write"), Some(exp), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(Error::InvalidCredentials);
        };
        let parse = |s: &str| s.parse::<i64>().map_err(|_| Error::InvalidCredentials);
        let token = CasToken {
            user_id: parse(user)?,
            repo_id: parse(repo)?,
            scope: Scope::Write,
            expires: parse(exp)?,
        };
        if token.expires <= now {
            return Err(Error::InvalidCredentials);
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn secret(s: &str) -> Secret {
        Secret::load(Some(s), std::path::Path::new("/nonexistent")).unwrap()
    }

    #[test]
    fn a_token_names_its_user_repo_and_expiry() {
        let s = secret("k");
        let token = CasToken::write(3, 42, NOW);
        assert!(token.expires >= NOW + 600, "at least ten minutes");
        let text = token.encode(&s);
        assert!(text.starts_with("kyxet1.3.42.write."), "{text}");
        assert_eq!(CasToken::verify(&s, &text, NOW + 1).unwrap(), token);
        assert_eq!(
            CasToken::verify(&s, &text, token.expires - 1).unwrap(),
            token
        );
    }

    #[test]
    fn expired_forged_or_altered_tokens_are_refused() {
        let s = secret("k");
        let token = CasToken::write(3, 42, NOW);
        let text = token.encode(&s);
        let refused =
            |t: &str| matches!(CasToken::verify(&s, t, NOW), Err(Error::InvalidCredentials));
        assert!(matches!(
            CasToken::verify(&s, &text, token.expires),
            Err(Error::InvalidCredentials)
        ));
        assert!(!refused(&text));
        assert!(refused(&text.replace(".42.", ".43.")), "another repo");
        assert!(refused(&text.replacen(".3.", ".4.", 1)), "another user");
        let later = text.replace(
            &token.expires.to_string(),
            &(token.expires + 9999).to_string(),
        );
        assert!(refused(&later), "extended");
        assert!(refused(&token.encode(&secret("other"))), "another hub");
        for junk in [
            "",
            ".",
            "kyxet1",
            "a.b.c.d.e.f",
            &format!("{text}.x"),
            "ky_abc",
        ] {
            assert!(refused(junk), "{junk:?}");
        }
    }
}
