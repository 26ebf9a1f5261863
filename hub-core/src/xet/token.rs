//! The Xet CAS access token: a signed, expiring credential that lets one
//! user upload xorbs and shards for one repo ([`Scope::Write`],
//! [`Scope::Propose`]), or anyone who may read one repo read its files
//! ([`Scope::Read`]). No database row: the token is
//! `kyxet2.{user_id}.{repo_id}.{via}.{scope}.{expires}.{hmac}`, the HMAC
//! (with the hub's secret) covering every field, so it can be neither
//! forged nor moved to another user, repo, credential or scope, nor
//! extended.
//!
//! `via` names the credential it was issued against ([`Via`]): the CAS
//! checks on every use that this API token is not revoked (or this browser
//! session not ended), so a CAS token never outlives what it was issued
//! for. (Version 1 tokens carried no `via` and are refused: the client asks
//! for a fresh one.)
//!
//! A write token is issued only to callers with write access to the repo,
//! and the CAS checks that access again on every write (a token outlives
//! neither a revoked membership nor a deleted repo). A read token is issued
//! to whoever may read the repo, anonymous callers of a public repo
//! included (user 0, [`Via::Anonymous`]); the CAS checks read access again
//! on every use, and never lets it write.

use crate::accounts::Credential;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// How long a token is valid, in seconds. hf_xet asks for a fresh one when
/// less than a minute is left, so long uploads go on past it.
pub const TOKEN_LIFETIME_SECS: i64 = 3600;

const PREFIX: &str = "kyxet2";

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Reads of the repo's files (reconstructions), nothing else.
    Read,
    Write,
    /// Uploads for a pull request by someone who may only read the repo
    /// (`Authorized::participant`): what they upload becomes readable
    /// through the repo only once a pull request's commit names it.
    Propose,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Propose => "propose",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "propose" => Some(Scope::Propose),
            _ => None,
        }
    }
}

/// The credential a CAS token was issued against, which must still be live
/// when the token is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// The API token with this id.
    Token(i64),
    /// The browser session with this key (see `accounts::sessions::key_of`).
    Session(String),
    /// No credential: a read token for an anonymous reader of a public repo.
    Anonymous,
}

impl Via {
    /// What `credential` is, for a CAS token; `None` for the hub's own
    /// processes, which never ask for one.
    pub fn of(credential: &Credential) -> Option<Via> {
        match credential {
            Credential::Token { id, .. } => Some(Via::Token(*id)),
            Credential::Session { key } => Some(Via::Session(key.clone())),
            Credential::Internal => None,
        }
    }

    fn encode(&self) -> String {
        match self {
            Via::Token(id) => format!("t{id}"),
            Via::Session(key) => format!("s{key}"),
            Via::Anonymous => "a".to_owned(),
        }
    }

    fn decode(text: &str) -> Option<Via> {
        if text == "a" {
            return Some(Via::Anonymous);
        }
        if let Some(id) = text.strip_prefix('t') {
            return id.parse().ok().map(Via::Token);
        }
        let key = text.strip_prefix('s')?;
        let is_key = key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit());
        is_key.then(|| Via::Session(key.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasToken {
    pub user_id: i64,
    pub repo_id: i64,
    pub via: Via,
    pub scope: Scope,
    /// Unix seconds.
    pub expires: i64,
}

impl CasToken {
    /// A write token for `user_id` on `repo_id`, issued against `via`, valid
    /// from `now` (unix seconds).
    pub fn write(user_id: i64, repo_id: i64, via: Via, now: i64) -> CasToken {
        CasToken {
            user_id,
            repo_id,
            via,
            scope: Scope::Write,
            expires: now + TOKEN_LIFETIME_SECS,
        }
    }

    /// A read token for `user_id` (0: anonymous, with [`Via::Anonymous`])
    /// on `repo_id`, valid from `now`.
    pub fn read(user_id: i64, repo_id: i64, via: Via, now: i64) -> CasToken {
        CasToken {
            scope: Scope::Read,
            ..CasToken::write(user_id, repo_id, via, now)
        }
    }

    fn payload(&self) -> String {
        format!(
            "{PREFIX}.{}.{}.{}.{}.{}",
            self.user_id,
            self.repo_id,
            self.via.encode(),
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
    /// expired at `now`; `InvalidCredentials` otherwise. (Whether its
    /// credential is still live is the caller's check: it needs the database.)
    pub fn verify(secret: &Secret, text: &str, now: i64) -> Result<CasToken> {
        let (payload, sig) = text.rsplit_once('.').ok_or(Error::InvalidCredentials)?;
        if !secret.verify(format!("xet-cas:{payload}").as_bytes(), sig) {
            return Err(Error::InvalidCredentials);
        }
        let mut fields = payload.split('.');
        let (Some(PREFIX), Some(user), Some(repo), Some(via), Some(scope), Some(exp), None) = (
            fields.next(),
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
            via: Via::decode(via).ok_or(Error::InvalidCredentials)?,
            scope: Scope::parse(scope).ok_or(Error::InvalidCredentials)?,
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
    fn a_proposal_token_keeps_its_scope() {
        let s = secret("k");
        let mut token = CasToken::write(3, 42, Via::Token(7), NOW);
        token.scope = Scope::Propose;
        let text = token.encode(&s);
        assert_eq!(CasToken::verify(&s, &text, NOW).unwrap(), token);
        let widened = text.replacen(".propose.", ".write.", 1);
        assert!(CasToken::verify(&s, &widened, NOW).is_err());
    }

    #[test]
    fn a_token_names_its_user_repo_credential_and_expiry() {
        let s = secret("k");
        let token = CasToken::write(3, 42, Via::Token(7), NOW);
        assert!(token.expires >= NOW + 600, "at least ten minutes");
        let text = token.encode(&s);
        assert!(text.starts_with("kyxet2.3.42.t7.write."), "{text}");
        assert_eq!(CasToken::verify(&s, &text, NOW + 1).unwrap(), token);
        assert_eq!(
            CasToken::verify(&s, &text, token.expires - 1).unwrap(),
            token
        );
        let session = CasToken::write(3, 42, Via::Session("ab".repeat(32)), NOW);
        let text = session.encode(&s);
        assert!(text.starts_with("kyxet2.3.42.sabab"), "{text}");
        assert_eq!(CasToken::verify(&s, &text, NOW).unwrap(), session);
    }

    #[test]
    fn expired_forged_or_altered_tokens_are_refused() {
        let s = secret("k");
        let token = CasToken::write(3, 42, Via::Token(7), NOW);
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
        assert!(refused(&text.replace(".t7.", ".t8.")), "another API token");
        let later = text.replace(
            &token.expires.to_string(),
            &(token.expires + 9999).to_string(),
        );
        assert!(refused(&later), "extended");
        assert!(refused(&token.encode(&secret("other"))), "another hub");
        // A version 1 token (no credential) is refused even when signed.
        let v1 = format!("kyxet1.3.42.write.{}", token.expires);
        let v1 = format!("{v1}.{}", s.sign(format!("xet-cas:{v1}").as_bytes()));
        assert!(refused(&v1), "version 1");
        for junk in [
            "",
            ".",
            "kyxet2",
            "a.b.c.d.e.f.g",
            &format!("{text}.x"),
            "ky_abc",
        ] {
            assert!(refused(junk), "{junk:?}");
        }
    }

    #[test]
    fn a_read_token_cannot_be_turned_into_a_write_token() {
        let s = secret("k");
        let token = CasToken::read(0, 42, Via::Anonymous, NOW);
        let text = token.encode(&s);
        assert!(text.starts_with("kyxet2.0.42.a.read."), "{text}");
        assert_eq!(CasToken::verify(&s, &text, NOW).unwrap(), token);
        for widened in [
            text.replacen(".read.", ".write.", 1),
            text.replacen(".read.", ".propose.", 1),
            text.replacen(".a.", ".t7.", 1),
            text.replacen(".0.", ".3.", 1),
        ] {
            assert!(CasToken::verify(&s, &widened, NOW).is_err(), "{widened}");
        }
    }

    #[test]
    fn credentials_round_trip_and_junk_is_refused() {
        for via in [
            Via::Anonymous,
            Via::Token(0),
            Via::Token(123),
            Via::Session("0f".repeat(32)),
        ] {
            assert_eq!(Via::decode(&via.encode()), Some(via));
        }
        for junk in [
            "",
            "t",
            "tx",
            "s",
            "sab",
            &format!("s{}", "zz".repeat(32)),
            "x1",
            "aa",
            "a1",
        ] {
            assert_eq!(Via::decode(junk), None, "{junk:?}");
        }
    }
}
