//! ModelScope sign-in: `POST /api/v1/login` with an access token (the hub's
//! API tokens), `GET /openapi/v1/users/me`, and [`MsAuth`], the credential
//! of every ms route: `Authorization: Bearer` (as the hub's other APIs) or
//! the `m_session_id` cookie, which the SDK sends (1.37 sends only it).
//!
//! The `m_session_id` cookie holds the API token itself: the 1.40 SDK builds
//! exactly that cookie from its token on every call, so a separate session
//! secret would add nothing. The login answer sets it host-only (no
//! `Domain`, so 1.37 sends it back on any port), `HttpOnly` (no script can
//! read it), `Secure` when the login came over https, and `SameSite=Strict` (no other site can make a browser send it,
//! so these routes need no CSRF token). It is accepted by the ms routes only.

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hub_core::Error;
use hub_core::accounts::{Actor, tokens};
use serde::Deserialize;
use serde_json::json;

use super::{MsError, MsJson, MsResult, ok, request_id};
use crate::app::AppState;
use crate::auth::{Auth, cookie};
use crate::request::Origin;

/// The cookie the SDK keeps its credential in.
pub const MS_SESSION_COOKIE: &str = "m_session_id";

/// ModelScope's business code for "AccessToken invalid" on login.
const ACCESS_TOKEN_INVALID: i64 = 10010103009;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/login", post(login))
        .route("/openapi/v1/users/me", get(me))
}

/// The actor of an ms request: a token from `Authorization` (or the
/// hub's own browser session, as [`Auth`] reads them), else the token in
/// the `m_session_id` cookie, else anonymous.
pub struct MsAuth(pub Actor);

impl FromRequestParts<AppState> for MsAuth {
    type Rejection = MsError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION)
            && let Some(secret) = cookie(&parts.headers, MS_SESSION_COOKIE)
            && !secret.is_empty()
        {
            let principal = tokens::authenticate(&state.db, secret).await?;
            return Ok(MsAuth(Actor::User(principal)));
        }
        let Auth(actor) = Auth::from_request_parts(parts, state)
            .await
            .map_err(|e| MsError(e.0))?;
        Ok(MsAuth(actor))
    }
}

#[derive(Deserialize)]
struct LoginBody {
    #[serde(rename = "AccessToken", default)]
    access_token: String,
}

/// Handles `POST /api/v1/login`: a valid access token answers the user and
/// the token again as the git token, and sets `m_session_id`; an invalid one
/// answers 401 with the business code the SDK reads as "AccessToken invalid".
/// A browser's request from another site's page is refused (403): it could
/// sign the visitor in as someone else (the body is taken whatever its
/// `Content-Type`, so a `text/plain` form could carry it). The SDK sends
/// neither `Origin` nor `Sec-Fetch-Site`.
async fn login(
    State(state): State<AppState>,
    origin: Origin,
    body: Result<MsJson<LoginBody>, MsError>,
) -> Response {
    if origin.cross_site {
        return MsError(Error::forbidden(
            "sign-in from another site's page is refused",
        ))
        .into_response();
    }
    let body = match body {
        Ok(MsJson(body)) => body,
        Err(e) => return e.into_response(),
    };
    let secret = body.access_token.trim();
    let principal = match tokens::authenticate(&state.db, secret).await {
        Ok(p) => p,
        Err(Error::InvalidCredentials) => {
            let body = json!({
                "Code": ACCESS_TOKEN_INVALID,
                "Data": null,
                "Message": "AccessToken invalid",
                "RequestId": request_id(),
                "Success": false,
            });
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
        Err(e) => return MsError(e).into_response(),
    };
    let mut response = ok(json!({
        "AccessToken": secret,
        "Username": principal.user.name,
        "Email": principal.user.email,
    }));
    // Over https the cookie is `Secure`: it never travels in clear text.
    let secure = if origin.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{MS_SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict{secure}");
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Handles `GET /openapi/v1/users/me`: the caller in the OpenAPI envelope,
/// or 401 for an anonymous caller or an invalid token.
async fn me(auth: Result<MsAuth, MsError>) -> MsResult<Response> {
    let user = match auth {
        Ok(MsAuth(Actor::User(p))) => p.user,
        Ok(_) => return Ok(openapi_error(StatusCode::UNAUTHORIZED, "not signed in")),
        Err(MsError(Error::InvalidCredentials)) => {
            return Ok(openapi_error(StatusCode::UNAUTHORIZED, "invalid token"));
        }
        Err(e) => return Err(e),
    };
    Ok(Json(json!({
        "success": true,
        "data": {
            "id": user.id,
            "username": user.name,
            "email": user.email,
            "nickname": user.full_name,
        },
        "request_id": request_id(),
    }))
    .into_response())
}

fn openapi_error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "success": false,
        "message": message,
        "request_id": request_id(),
    });
    (status, Json(body)).into_response()
}
