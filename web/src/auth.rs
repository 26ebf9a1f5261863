//! Who is calling. Handlers state what they accept by the extractor they
//! take: [`Auth`] for API routes (token or browser session), [`Session`] for
//! pages (browser session, with its CSRF token and language), and the repo
//! extractors of [`crate::repo_path`], which add the repo and the access
//! check (and, for downloads only, a job's download token).

use axum::extract::FromRequestParts;
use axum::http::{Method, request::Parts};
use base64::Engine;
use hub_core::Error;
use hub_core::accounts::{Actor, Credential, Principal, sessions, tokens};
use hub_core::jobs::download::{self, JobGrant};

use crate::app::AppState;
use crate::errors::ApiError;
use crate::i18n::Lang;

pub const SESSION_COOKIE: &str = "ky_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The actor of an API request: a token (`Authorization: Bearer`, or the
/// password of HTTP Basic auth for git clients, any user name), or a browser
/// session. A session may change things only with its CSRF token in
/// `X-CSRF-Token`, so other sites cannot act through a visitor's cookie.
pub struct Auth(pub Actor);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match credentials(parts, state).await? {
            Credentials::Actor(actor) => Ok(Auth(actor)),
            // A job's download token is no user credential: only the routes
            // that take [`crate::repo_path::DownloadRepo`] accept it.
            Credentials::Job(_) => Err(Error::InvalidCredentials.into()),
        }
    }
}

/// What a request's credentials stand for, before a route says which it
/// accepts: an actor (as [`Auth`] takes them), or a job's download grant.
pub enum Credentials {
    Actor(Actor),
    Job(JobGrant),
}

/// Reads the credentials of an API request (see [`Auth`]).
pub async fn credentials(parts: &Parts, state: &AppState) -> Result<Credentials, ApiError> {
    if let Some(secret) = token_from_headers(parts)? {
        if download::is_download_token(&secret) {
            return Ok(Credentials::Job(
                download::authenticate(state, &secret).await?,
            ));
        }
        let principal = tokens::authenticate(&state.db, &secret).await?;
        return Ok(Credentials::Actor(Actor::User(principal)));
    }
    let Some((principal, csrf)) = session_from_cookie(parts, state).await? else {
        return Ok(Credentials::Actor(Actor::Anonymous));
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let header = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !safe && !constant_time_eq(header.unwrap_or(""), &csrf) {
        return Err(Error::forbidden("missing or wrong CSRF token").into());
    }
    Ok(Credentials::Actor(Actor::User(principal)))
}

/// A page request: the signed-in user (if any), their CSRF token, their language.
pub struct Session {
    pub actor: Actor,
    pub csrf: String,
    pub lang: Lang,
}

impl Session {
    /// Checks the CSRF token a form sent back.
    pub fn verify_csrf(&self, sent: &str) -> Result<(), Error> {
        if self.actor.is_anonymous() || constant_time_eq(sent, &self.csrf) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "the form has expired; reload the page and try again",
            ))
        }
    }

    pub fn username(&self) -> Option<&str> {
        self.actor.user().map(|u| u.name.as_str())
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_request(&parts.headers);
        Ok(match session_from_cookie(parts, state).await? {
            Some((principal, csrf)) => Session {
                actor: Actor::User(principal),
                csrf,
                lang,
            },
            None => Session {
                actor: Actor::Anonymous,
                csrf: String::new(),
                lang,
            },
        })
    }
}

fn token_from_headers(parts: &Parts) -> Result<Option<String>, Error> {
    let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::InvalidCredentials)?
        .trim();
    if let Some(token) = strip_scheme(value, "bearer") {
        return Ok(Some(token.trim().to_owned()));
    }
    if let Some(encoded) = strip_scheme(value, "basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| Error::InvalidCredentials)?;
        let decoded = String::from_utf8(decoded).map_err(|_| Error::InvalidCredentials)?;
        let (_user, password) = decoded.split_once(':').ok_or(Error::InvalidCredentials)?;
        return Ok(Some(password.to_owned()));
    }
    Err(Error::InvalidCredentials)
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (head, rest) = value.split_once(' ')?;
    head.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn session_from_cookie(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(Principal, String)>, Error> {
    let Some(cookie) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(sessions::find(&state.db, cookie)
        .await?
        .map(|(user, csrf)| {
            (
                Principal {
                    user,
                    credential: Credential::Session {
                        key: sessions::key_of(cookie),
                    },
                },
                csrf,
            )
        }))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
