//! Server-rendered pages (askama templates in `templates/`), in zh-CN and en.

mod account;
mod billing;
mod home;
mod repo;
// Browsing pages.
mod community;
mod files;
mod history;
mod listing;
mod paging;
mod repo_head;
mod viewer;

// Upload and edit, repo settings, profiles, organisations, likes (ui-manage).
mod edit;
mod fine_tuning;
mod likes;
mod orgs;
mod profiles;
mod repo_routes;
mod scripts;
mod settings;
mod space_settings;
// Top-ups (billing): the page that pays through a provider.
mod topup;
mod upload;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use hub_core::Error;

use crate::app::AppState;
use crate::auth::Session;
use crate::errors::{ApiError, status_and_code};
use crate::i18n::{LANG_COOKIE, Lang};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(home::router())
        .merge(account::router())
        .merge(repo::router())
        // Browsing pages.
        .merge(listing::router())
        .merge(files::router())
        .merge(history::router())
        .merge(viewer::router())
        .merge(community::router())
        // ui-manage pages
        .merge(upload::router())
        .merge(edit::router())
        .merge(settings::router())
        .merge(space_settings::router())
        .merge(likes::router())
        .merge(profiles::router())
        .merge(orgs::router())
        .merge(scripts::router())
        .merge(billing::router())
        .merge(topup::router())
        .merge(fine_tuning::router())
        .route("/static/style.css", get(stylesheet))
        .route("/lang/{code}", get(switch_language))
}

/// What every page's frame needs: language, who is signed in, the CSRF token.
pub struct Frame {
    pub lang: Lang,
    pub user: Option<String>,
    pub csrf: String,
    pub path: String,
}

impl Frame {
    pub fn new(session: &Session, path: &str) -> Frame {
        Frame {
            lang: session.lang,
            user: session.username().map(str::to_owned),
            csrf: session.csrf.clone(),
            path: path.to_owned(),
        }
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    /// A repo name as HTML that may wrap after `/`, `-`, `_` and `.` (a
    /// `<wbr>` there), not in the middle of a word.
    pub fn breakable(&self, name: impl AsRef<str>) -> String {
        let name = name.as_ref();
        let mut out = String::with_capacity(name.len() + 16);
        for c in name.chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
            if matches!(c, '/' | '-' | '_' | '.') {
                out.push_str("<wbr>");
            }
        }
        out
    }
}

/// Renders a template to a response.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    frame: Frame,
    message: String,
    status: u16,
    /// A visitor who is not signed in and did not find a repo: it may be
    /// private (the page cannot say which), so offer to log in.
    offer_log_in: bool,
}

/// A page's answer: its content, or the error page in the visitor's language.
pub fn page(session: &Session, path: &str, result: Result<Response, Error>) -> Response {
    match result {
        Ok(response) => response,
        // Paths under the API prefixes that fell through to a page route.
        Err(e) if path.starts_with("/api/") || path.starts_with("/v1/") => {
            ApiError(e).into_response()
        }
        Err(e) => {
            let (status, _) = status_and_code(&e);
            // A page never answers 401 with a Basic challenge: show "not found" alike.
            let status =
                if status == StatusCode::UNAUTHORIZED && matches!(e, Error::RepoNotFound { .. }) {
                    StatusCode::NOT_FOUND
                } else {
                    status
                };
            let offer_log_in =
                matches!(e, Error::RepoNotFound { .. }) && session.username().is_none();
            let message = match &e {
                Error::NotFound(m) if m.code().is_none() => {
                    session.lang.t("error.not_found").to_owned()
                }
                other => session.lang.error(other),
            };
            let body = ErrorPage {
                frame: Frame::new(session, path),
                message,
                status: status.as_u16(),
                offer_log_in,
            };
            (status, render(&body)).into_response()
        }
    }
}

/// Handles `GET /static/style.css`: the one stylesheet, served by the hub itself.
async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../../static/style.css"),
    )
        .into_response()
}

/// Handles `GET /lang/{code}?next=PATH`: remembers the language and goes
/// back to `next` (see [`safe_next`]).
async fn switch_language(Path(code): Path<String>, RawQuery(query): RawQuery) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::Zh);
    let next = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned());
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.short()
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&safe_next(next.as_deref())),
    )
        .into_response()
}

/// The page that asks before a one-click action that cannot be undone
/// (revoking a token, removing a member): its form posts to `action`.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub frame: Frame,
    pub title: String,
    pub question: String,
    pub action: String,
    pub button: String,
    /// Where "cancel" goes back to.
    pub cancel: String,
}

/// Sends an anonymous visitor of a page that needs an account to the log-in
/// page, which brings them back to `path` afterwards.
pub fn to_login(path: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// Where a `next=` parameter (already percent-decoded) may send a browser:
/// a path on this site, else `/`. Refused: anything not starting with one
/// `/` (`//host` and `/\host` are other sites to a browser), any `\`, and
/// any control character or whitespace (browsers drop tabs and newlines, so
/// `/\t/evil.example` becomes `//evil.example`; CR, LF and NUL cannot go
/// into a header). Characters outside ASCII are percent-encoded, so the
/// answer is always a valid `Location`.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(path) = next else {
        return "/".to_owned();
    };
    let local = path.starts_with('/')
        && !path[1..].starts_with('/')
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c.is_whitespace());
    if !local {
        return "/".to_owned();
    }
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_is_a_local_path_or_home() {
        for (given, expected) in [
            (None, "/"),
            (Some(""), "/"),
            (Some("/"), "/"),
            (Some("/alice/m?tab=files#x"), "/alice/m?tab=files#x"),
            (
                Some("/datasets/a/b/blob/main/%E6%95%B0.txt"),
                "/datasets/a/b/blob/main/%E6%95%B0.txt",
            ),
            (Some("/a/数"), "/a/%E6%95%B0"),
            (Some("//evil.example"), "/"),
            (Some("/\\evil.example"), "/"),
            (Some("/a\\b"), "/"),
            (Some("/\t/evil.example"), "/"),
            (Some("/\n/evil.example"), "/"),
            (Some("/a\r\nSet-Cookie: x=1"), "/"),
            (Some("/a\0b"), "/"),
            (Some("/a b"), "/"),
            (Some("/a\u{3000}b"), "/"),
            (Some("/a\u{2028}b"), "/"),
            (Some("/a\u{7f}"), "/"),
            (Some("https://evil.example"), "/"),
            (Some("evil.example"), "/"),
            (Some("javascript:alert(1)"), "/"),
        ] {
            assert_eq!(safe_next(given), expected, "{given:?}");
        }
    }
}
