//! Sign-up, log-in, log-out, account settings (profile, password) and
//! access tokens in the browser.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use hub_core::Error;
use hub_core::accounts::tokens::{self, ApiToken};
use hub_core::accounts::{TokenRole, sessions, users};
use serde::Deserialize;

use super::{ConfirmPage, Frame, page, render, safe_next, to_login};
use crate::app::AppState;
use crate::auth::{SESSION_COOKIE, Session};
use crate::request::Origin;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup_form).post(signup))
        .route("/login", get(login_form).post(login))
        // GETs of the form-only actions go to the page with their form.
        .route("/logout", post(logout).get(|| async { Redirect::to("/") }))
        .route("/settings/tokens", get(token_list).post(create_token))
        .route(
            "/settings/tokens/{id}/revoke",
            get(confirm_revoke).post(revoke_token),
        )
        .route(
            "/settings",
            get(|| async { Redirect::to("/settings/profile") }),
        )
        .route("/settings/profile", get(profile_form).post(save_profile))
        .route(
            "/settings/password",
            post(change_password).get(|| async { Redirect::to("/settings/profile") }),
        )
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    frame: Frame,
    error: Option<String>,
    username: String,
    email: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    error: Option<String>,
    login: String,
    /// Where the form sends the browser once signed in.
    next: String,
}

/// Handles `GET /signup`.
async fn signup_form(session: Session) -> Response {
    render(&SignupPage {
        frame: Frame::new(&session, "/signup"),
        error: None,
        username: String::new(),
        email: String::new(),
    })
}

#[derive(Deserialize)]
struct SignupForm {
    username: String,
    email: String,
    password: String,
}

/// Handles `POST /signup`: creates the account and signs in. Refused from
/// other sites' pages; throttled per client address.
async fn signup(
    State(state): State<AppState>,
    session: Session,
    origin: Origin,
    Form(form): Form<SignupForm>,
) -> Response {
    if origin.cross_site {
        return cross_site_refused(&session, "/signup");
    }
    let new = users::NewUser {
        username: form.username.trim(),
        email: form.email.trim(),
        password: &form.password,
        full_name: "",
        is_admin: false,
    };
    let ip = origin.client_ip.to_string();
    match users::sign_up(&state.db, new, &ip).await {
        Ok(user) => signed_in(&state, user.id, "/")
            .await
            .unwrap_or_else(|e| page(&session, "/signup", Err(e))),
        Err(e @ (Error::InvalidInput(_) | Error::Conflict(_) | Error::TooManyRequests { .. })) => {
            let (status, message) = match &e {
                Error::TooManyRequests { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    session.lang.t("account.signup_throttled").to_owned(),
                ),
                other => (StatusCode::UNPROCESSABLE_ENTITY, session.lang.error(other)),
            };
            let body = SignupPage {
                frame: Frame::new(&session, "/signup"),
                error: Some(message),
                username: form.username,
                email: form.email,
            };
            with_retry_after(&e, (status, render(&body)).into_response())
        }
        Err(e) => page(&session, "/signup", Err(e)),
    }
}

/// The answer to a sign-in or sign-up form posted from another site's page.
fn cross_site_refused(session: &Session, path: &str) -> Response {
    let message = session.lang.t("account.cross_site");
    page(session, path, Err(Error::forbidden(message)))
}

/// Adds `Retry-After` to a throttled answer.
fn with_retry_after(e: &Error, mut response: Response) -> Response {
    if let Error::TooManyRequests { retry_after, .. } = e {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(retry_after.as_secs()),
        );
    }
    response
}

/// Where a signed-in visitor goes: `next` if it is a local page other than
/// the log-in and sign-up forms themselves, else the home page.
fn after_login(next: Option<&str>) -> String {
    let next = safe_next(next);
    let form = ["/login", "/signup"].iter().any(|f| {
        next.strip_prefix(f)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('?'))
    });
    if form { "/".to_owned() } else { next }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Handles `GET /login?next=PATH`: the form, which carries `next` along.
async fn login_form(session: Session, Query(query): Query<NextQuery>) -> Response {
    render(&LoginPage {
        frame: Frame::new(&session, "/login"),
        error: None,
        login: String::new(),
        next: after_login(query.next.as_deref()),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    /// Where to go once signed in (a local path, see [`safe_next`]).
    next: Option<String>,
}

/// Handles `POST /login`. A missing account and a wrong password get one
/// answer, a throttled attempt another whatever the account; refused from
/// other sites' pages (login CSRF).
async fn login(
    State(state): State<AppState>,
    session: Session,
    origin: Origin,
    Form(form): Form<LoginForm>,
) -> Response {
    if origin.cross_site {
        return cross_site_refused(&session, "/login");
    }
    let ip = origin.client_ip.to_string();
    let next = after_login(form.next.as_deref());
    match users::log_in(&state.db, form.login.trim(), &form.password, &ip).await {
        Ok(user) => signed_in(&state, user.id, &next)
            .await
            .unwrap_or_else(|e| page(&session, "/login", Err(e))),
        Err(e @ (Error::InvalidCredentials | Error::TooManyRequests { .. })) => {
            let (status, key) = match e {
                Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "account.wrong_login"),
                _ => (StatusCode::TOO_MANY_REQUESTS, "account.login_throttled"),
            };
            let body = LoginPage {
                frame: Frame::new(&session, "/login"),
                error: Some(session.lang.t(key).to_owned()),
                login: form.login,
                next,
            };
            with_retry_after(&e, (status, render(&body)).into_response())
        }
        Err(e) => page(&session, "/login", Err(e)),
    }
}

/// Starts a session and sends the browser on.
async fn signed_in(state: &AppState, user_id: i64, next: &str) -> Result<Response, Error> {
    let new = sessions::create(&state.db, user_id).await?;
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        new.cookie,
        sessions::SESSION_LIFETIME.as_secs()
    );
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response())
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// Handles `POST /logout`.
async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let result = async {
        session.verify_csrf(&form.csrf)?;
        if let Some(cookie) = crate::auth::cookie(&headers, SESSION_COOKIE) {
            sessions::delete(&state.db, cookie).await?;
        }
        let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
        Ok(([(header::SET_COOKIE, clear)], Redirect::to("/")).into_response())
    }
    .await;
    page(&session, "/logout", result)
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    frame: Frame,
    tokens: Vec<ApiToken>,
    created: Option<String>,
}

/// Handles `GET /settings/tokens`.
async fn token_list(State(state): State<AppState>, session: Session) -> Response {
    tokens_page(&state, &session, None).await
}

async fn tokens_page(state: &AppState, session: &Session, created: Option<String>) -> Response {
    let result = async {
        let Some(user) = session.actor.user() else {
            return Ok(to_login("/settings/tokens"));
        };
        let list = tokens::list(&state.db, user.id).await?;
        Ok(render(&TokensPage {
            frame: Frame::new(session, "/settings/tokens"),
            tokens: list,
            created,
        }))
    }
    .await;
    page(session, "/settings/tokens", result)
}

#[derive(Deserialize)]
struct NewTokenForm {
    csrf: String,
    name: String,
    role: String,
}

/// Handles `POST /settings/tokens`: the new token is shown once.
async fn create_token(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<NewTokenForm>,
) -> Response {
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let user = session.actor.require_user()?;
        let role = TokenRole::parse(&form.role)
            .ok_or_else(|| Error::invalid("role must be read or write"))?;
        let (secret, _) = tokens::create(&state.db, user.user.id, &form.name, role).await?;
        Ok(secret)
    }
    .await;
    match result {
        Ok(secret) => tokens_page(&state, &session, Some(secret)).await,
        Err(e) => page(&session, "/settings/tokens", Err(e)),
    }
}

/// Handles `POST /settings/tokens/{id}/revoke`.
/// Handles `GET /settings/tokens/{id}/revoke`: asks before revoking.
async fn confirm_revoke(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Response {
    let path = format!("/settings/tokens/{id}/revoke");
    let result = async {
        let Some(user) = session.actor.user() else {
            return Ok(to_login(&path));
        };
        let token = tokens::list(&state.db, user.id)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| Error::not_found(format!("token {id}")))?;
        Ok(render(&ConfirmPage {
            frame: Frame::new(&session, &path),
            title: session.lang.t("tokens.revoke").to_owned(),
            question: session.lang.tf("tokens.revoke_question", &[&token.name]),
            action: path.clone(),
            button: session.lang.t("tokens.revoke").to_owned(),
            cancel: "/settings/tokens".to_owned(),
        }))
    }
    .await;
    page(&session, &path, result)
}

async fn revoke_token(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let user = session.actor.require_user()?;
        tokens::revoke(&state.db, user.user.id, id).await?;
        Ok(Redirect::to("/settings/tokens").into_response())
    }
    .await;
    page(&session, "/settings/tokens", result)
}

#[derive(Template)]
#[template(path = "account_settings.html")]
struct AccountPage {
    frame: Frame,
    full_name: String,
    email: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ProfileQuery {
    changed: Option<String>,
}

/// Handles `GET /settings/profile` (`?changed=1` after a password change).
async fn profile_form(
    State(state): State<AppState>,
    session: Session,
    axum::extract::Query(query): axum::extract::Query<ProfileQuery>,
) -> Response {
    let notice = query.changed.map(|_| "account.password_changed");
    account_page(&state, &session, notice, None).await
}

async fn account_page(
    state: &AppState,
    session: &Session,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Response {
    let result = async {
        let Some(user) = session.actor.user() else {
            return Ok(to_login("/settings/profile"));
        };
        // Read afresh: the session's copy predates a change just saved.
        let user = users::find_by_id(&state.db, user.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let status = if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        let body = AccountPage {
            frame: Frame::new(session, "/settings/profile"),
            full_name: user.full_name,
            email: user.email,
            notice,
            error,
        };
        Ok((status, render(&body)).into_response())
    }
    .await;
    page(session, "/settings/profile", result)
}

#[derive(Deserialize)]
struct ProfileForm {
    csrf: String,
    full_name: String,
}

/// Handles `POST /settings/profile`.
async fn save_profile(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<ProfileForm>,
) -> Response {
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let user = session.actor.require_user()?;
        users::set_full_name(&state.db, user.user.id, &form.full_name).await
    }
    .await;
    match result {
        Ok(()) => account_page(&state, &session, Some("account.saved"), None).await,
        Err(e @ Error::InvalidInput(_)) => {
            account_page(&state, &session, None, Some(session.lang.error(&e))).await
        }
        Err(e) => page(&session, "/settings/profile", Err(e)),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
}

/// Handles `POST /settings/password`: needs the current password. Every
/// session of the account ends; this browser gets a fresh one.
async fn change_password(
    State(state): State<AppState>,
    session: Session,
    origin: Origin,
    Form(form): Form<PasswordForm>,
) -> Response {
    let result = async {
        session.verify_csrf(&form.csrf)?;
        let user = session.actor.require_user()?;
        if !matches!(
            user.credential,
            hub_core::accounts::Credential::Session { .. }
        ) {
            return Err(Error::forbidden("sign in with a password to change it"));
        }
        let ip = origin.client_ip.to_string();
        users::change_password(&state.db, user.user.id, &form.current, &form.new, &ip).await?;
        Ok(user.user.id)
    }
    .await;
    match result {
        Ok(user_id) => signed_in(&state, user_id, "/settings/profile?changed=1")
            .await
            .unwrap_or_else(|e| page(&session, "/settings/password", Err(e))),
        Err(e @ (Error::InvalidInput(_) | Error::Forbidden(_))) => {
            let message = match e {
                Error::Forbidden(_) => session.lang.t("account.wrong_password").to_owned(),
                other => session.lang.error(&other),
            };
            account_page(&state, &session, None, Some(message)).await
        }
        Err(e) => page(&session, "/settings/password", Err(e)),
    }
}
