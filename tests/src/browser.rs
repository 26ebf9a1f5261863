//! A browser at the HTTP level, for the tests of pages and forms: a cookie
//! jar, no automatic redirects (the tests check them), the headers a browser
//! sends with a form post, and the CSRF token taken from the pages.

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};

/// The password [`Browser::sign_up`] gives every account.
pub const PASSWORD: &str = "long-enough";

/// A client with a cookie jar that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token in a page's forms, if it has one.
pub fn csrf_of(html: &str) -> Option<String> {
    let field = "name=\"csrf\" value=\"";
    let at = html.find(field)? + field.len();
    Some(html[at..].split('"').next()?.to_owned())
}

/// One browser session on a hub (or on a proxy in front of several).
#[derive(Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    /// A header every request of this view carries (e.g. a node pin).
    header: Option<(&'static str, String)>,
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        Browser {
            client: client(),
            base: base.to_owned(),
            header: None,
        }
    }

    /// The same session (same cookies), its requests carrying `name: value`.
    pub fn with_header(&self, name: &'static str, value: impl ToString) -> Browser {
        Browser {
            header: Some((name, value.to_string())),
            ..self.clone()
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request as a browser on this site sends it: English pages, and
    /// the site's own origin (what a form post carries).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("accept-language", "en")
            .header("origin", &self.base);
        if let Some((name, value)) = &self.header {
            request = request.header(*name, value);
        }
        request
    }

    /// A page: its status, headers and HTML.
    pub async fn page(&self, path: &str) -> (StatusCode, HeaderMap, String) {
        let r = self.request(Method::GET, path).send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.text().await.unwrap())
    }

    /// A page's status and HTML.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let (status, _, html) = self.page(path).await;
        (status, html)
    }

    /// The session's CSRF token, from the token page (signed in only).
    pub async fn csrf(&self) -> String {
        let (status, html) = self.get("/settings/tokens").await;
        assert_eq!(status, 200, "signed in");
        csrf_of(&html).expect("the page has a CSRF field")
    }

    /// Posts a form with the session's CSRF token (signed in only).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf().await;
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.request(Method::POST, path)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form to `action` with the CSRF token of the page it comes
    /// from, as a browser does (signed in or not).
    pub async fn submit(&self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let (_, html) = self.get(form_page).await;
        let csrf = csrf_of(&html);
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(csrf) = &csrf {
            form.push(("csrf", csrf));
        }
        self.request(Method::POST, action)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Signs `name` up (email `{name}@example.com`, password [`PASSWORD`])
    /// through the form; the session stays signed in.
    pub async fn sign_up(&self, name: &str) {
        let email = format!("{name}@example.com");
        let r = self
            .submit(
                "/signup",
                "/signup",
                &[
                    ("username", name),
                    ("email", &email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "sign-up of {name}");
    }

    pub async fn log_in(&self, name: &str, password: &str) {
        let r = self
            .submit(
                "/login",
                "/login",
                &[("login", name), ("password", password)],
            )
            .await;
        assert_eq!(r.status(), 303, "log-in of {name}");
    }

    /// Creates `owner/name` of `kind` (`model`, `dataset`, `space`) through `/new`.
    pub async fn create_repo(&self, owner: &str, name: &str, kind: &str, private: bool) {
        let mut fields = vec![("owner", owner), ("name", name), ("repo_type", kind)];
        if private {
            fields.push(("private", "1"));
        }
        let r = self.post("/new", &fields).await;
        assert_eq!(r.status(), 303, "create {owner}/{name}");
    }
}
