//! Sign-up, log-in, log-out, lock-out and repo creation through the pages,
//! as a browser submits them (cookies, CSRF tokens, redirects).

use tests::TestHub;

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token embedded in a page's forms.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("page has a CSRF field")
        + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn sign_up_create_repo_log_out_and_in() {
    let hub = TestHub::start().await;
    let b = browser();
    let url = |p: &str| format!("{}{p}", hub.url);
    let form = b
        .get(url("/signup"))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("注册") && form.contains("lang=\"zh-CN\""));
    let r = b
        .post(url("/signup"))
        .form(&[
            ("username", "alice"),
            ("email", "alice@example.com"),
            ("password", "long-enough"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // Create a repo through the form; without the CSRF token it is refused.
    let new = b
        .get(url("/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&new);
    let forged = b
        .post(url("/new"))
        .form(&[
            ("csrf", "forged"),
            ("owner", "alice"),
            ("name", "m"),
            ("repo_type", "model"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let r = b
        .post(url("/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("owner", "alice"),
            ("name", "m"),
            ("repo_type", "model"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/alice/m");
    let page = b.get(url("/alice/m")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(
        html.contains(".gitattributes"),
        "the repo page lists its files"
    );
    tests::assert_no_inline_script(&html, "the repo page");

    // The JSON API refuses a cookie-authenticated change without the CSRF header.
    let r = b
        .post(url("/api/repos/create"))
        .json(&serde_json::json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = b
        .post(url("/api/repos/create"))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Log out: the session is gone server-side, not only in the browser.
    let home = b.get(url("/")).send().await.unwrap().text().await.unwrap();
    let r = b
        .post(url("/logout"))
        .form(&[("csrf", csrf_of(&home))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = cookie.split(';').next().unwrap().to_owned();
    let replay = reqwest::Client::new()
        .get(url("/api/whoami-v2"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        replay.status(),
        401,
        "a logged-out session cookie no longer works"
    );

    // Log in again, by name or email, in English.
    let r = b
        .post(url("/login"))
        .header("accept-language", "en")
        .form(&[("login", "wrong"), ("password", "long-enough")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Wrong username or password")
    );
    let r = b
        .post(url("/login"))
        .form(&[("login", "ALICE@example.com"), ("password", "long-enough")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        b.get(url("/"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("/alice")
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account() {
    let hub = TestHub::start().await;
    hub.user_with_token("victim");
    let b = browser();
    let login = |password: &'static str| {
        let b = b.clone();
        let url = format!("{}/login", hub.url);
        async move {
            b.post(url)
                .form(&[("login", "victim"), ("password", password)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..5 {
        assert_eq!(login("wrong-password").await, 401);
    }
    // Locked: even the right password is refused for now.
    assert_eq!(login("password-123").await, 429);
    // The lock is per account: another account still signs in.
    hub.user_with_token("other");
    let r = b
        .post(format!("{}/login", hub.url))
        .form(&[("login", "other"), ("password", "password-123")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_slowed_down() {
    let hub = TestHub::start().await;
    let b = browser();
    let mut statuses = Vec::new();
    for i in 0..21 {
        let r = b
            .post(format!("{}/login", hub.url))
            .form(&[("login", format!("nobody{i}")), ("password", "x".repeat(8))])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses[..20].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[20], 429);
}
