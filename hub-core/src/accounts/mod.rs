//! Accounts: users, organisations, browser sessions and API tokens, and the
//! actor type every other module takes to say who is acting.

pub mod orgs;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod tokens;
pub mod users;

use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub full_name: String,
    pub is_admin: bool,
}

/// What a token allows. Browser sessions carry full rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    Read,
    Write,
}

impl TokenRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRole::Read => "read",
            TokenRole::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<TokenRole> {
        match s {
            "read" => Some(TokenRole::Read),
            "write" => Some(TokenRole::Write),
            _ => None,
        }
    }
}

/// How a signed-in actor proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session; `key` names it (see [`sessions::key_of`]).
    Session { key: String },
    Token {
        id: i64,
        name: String,
        role: TokenRole,
    },
    /// The hub's own processes (git hooks, CLI): full rights.
    Internal,
}

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub credential: Credential,
}

impl Principal {
    /// Whether the credential allows changes at all (a read token does not).
    pub fn may_write(&self) -> bool {
        !matches!(
            self.credential,
            Credential::Token {
                role: TokenRole::Read,
                ..
            }
        )
    }
}

/// Who is acting: nobody, or a signed-in user with a given credential.
#[derive(Debug, Clone)]
pub enum Actor {
    Anonymous,
    User(Principal),
}

impl Actor {
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Actor::Anonymous => None,
            Actor::User(p) => Some(p),
        }
    }

    pub fn user(&self) -> Option<&User> {
        self.principal().map(|p| &p.user)
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Actor::Anonymous)
    }

    /// The signed-in principal, or `Unauthenticated`.
    pub fn require_user(&self) -> crate::Result<&Principal> {
        self.principal().ok_or(crate::Error::Unauthenticated)
    }

    /// A signed-in principal whose credential may make changes.
    pub fn require_writer(&self) -> crate::Result<&Principal> {
        let p = self.require_user()?;
        if !p.may_write() {
            return Err(crate::Error::forbidden(
                "this token has the read role; a write token is needed",
            ));
        }
        Ok(p)
    }
}
