//! Sign-up, log-in, log-out, lock-out and repo creation through the pages,
//! as a browser submits them (cookies, CSRF tokens, redirects).

use tests::TestHub;
use tests::browser::client as browser;

/// The CSRF token embedded in a page's forms.
fn csrf_of(html: &str) -> String {
    tests::browser::csrf_of(html).expect("page has a CSRF field")
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

/// A browser at client address `ip` (a loopback address: see `tests::client_at`).
fn browser_at(ip: &str) -> reqwest::Client {
    tests::client_at(ip)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts the log-in form; returns the status and the page's error message.
async fn log_in(b: &reqwest::Client, hub: &TestHub, login: &str, password: &str) -> (u16, String) {
    let r = b
        .post(format!("{}/login", hub.url))
        .header("accept-language", "en")
        .form(&[("login", login), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let html = r.text().await.unwrap();
    let error = html
        .split("role=\"alert\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or("")
        .to_owned();
    (status, error)
}

#[tokio::test]
async fn failures_from_one_address_throttle_that_address_not_the_user() {
    let hub = TestHub::start().await;
    hub.user_with_token("victim");
    let attacker = browser_at("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(
            log_in(&attacker, &hub, "victim", "wrong-password").await.0,
            401
        );
    }
    // The attacker's address is throttled for this account, right password or not.
    assert_eq!(
        log_in(&attacker, &hub, "victim", "password-123").await.0,
        429
    );
    // The user, from their own address, is not locked out.
    let user = browser_at("127.0.0.3");
    assert_eq!(log_in(&user, &hub, "victim", "password-123").await.0, 303);
    // Nor is another account from the attacker's address.
    hub.user_with_token("other");
    assert_eq!(
        log_in(&attacker, &hub, "other", "password-123").await.0,
        303
    );
}

#[tokio::test]
async fn missing_accounts_and_wrong_passwords_get_the_same_answers() {
    let hub = TestHub::start().await;
    hub.user_with_token("victim");
    let b = browser_at("127.0.0.4");
    let (mut existing, mut missing) = (Vec::new(), Vec::new());
    let (mut existing_time, mut missing_time) = (Vec::new(), Vec::new());
    for _ in 0..6 {
        let started = std::time::Instant::now();
        existing.push(log_in(&b, &hub, "victim", "wrong-password").await);
        existing_time.push(started.elapsed());
        let started = std::time::Instant::now();
        missing.push(log_in(&b, &hub, "ghost", "wrong-password").await);
        missing_time.push(started.elapsed());
    }
    // Five refusals alike, then one throttled answer alike.
    assert_eq!(existing, missing);
    assert!(existing[..5].iter().all(|(s, _)| *s == 401), "{existing:?}");
    assert_eq!(existing[5].0, 429);
    assert!(!existing[5].1.is_empty());
    // A missing account costs the same password check as an existing one
    // (loose bound: the machine is shared).
    let fastest = |times: &[std::time::Duration]| *times[..5].iter().min().unwrap();
    assert!(
        fastest(&missing_time) * 3 >= fastest(&existing_time),
        "missing {missing_time:?} vs existing {existing_time:?}"
    );
}

#[tokio::test]
async fn sign_up_does_not_say_which_email_exists_and_is_throttled() {
    let hub = TestHub::start().await;
    let sign_up = |b: reqwest::Client, name: String, email: String| {
        let url = format!("{}/signup", hub.url);
        async move {
            let r = b
                .post(url)
                .header("accept-language", "en")
                .form(&[
                    ("username", name.as_str()),
                    ("email", email.as_str()),
                    ("password", "long-enough"),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let b = browser_at("127.0.0.5");
    let (status, _) = sign_up(b.clone(), "alice".into(), "alice@example.com".into()).await;
    assert_eq!(status, 303);
    let (status, html) = sign_up(b.clone(), "alice2".into(), "ALICE@example.com".into()).await;
    assert_eq!(status, 422);
    assert!(
        !html.contains("already exists") && html.contains("cannot be used for a new account"),
        "{html}"
    );
    // Ten attempts an hour from one address, then 429 with Retry-After.
    for i in 2..10 {
        let (status, _) = sign_up(b.clone(), format!("user{i}"), format!("u{i}@example.com")).await;
        assert_eq!(status, 303, "sign-up {i}");
    }
    let r = b
        .post(format!("{}/signup", hub.url))
        .form(&[
            ("username", "user10"),
            ("email", "u10@example.com"),
            ("password", "long-enough"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Form errors are not counted; another address is not affected.
    let (status, _) = sign_up(b.clone(), "bad name".into(), "x@example.com".into()).await;
    assert_eq!(status, 422);
    let (status, _) = sign_up(
        browser_at("127.0.0.6"),
        "user10".into(),
        "u10@example.com".into(),
    )
    .await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn sign_in_and_sign_up_from_another_site_are_refused() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let b = browser();
    let post =
        |path: &str, header: (&'static str, String), form: Vec<(&'static str, &'static str)>| {
            b.post(format!("{}{path}", hub.url))
                .header(header.0, header.1)
                .form(&form)
                .send()
        };
    let login = || vec![("login", "alice"), ("password", "password-123")];
    for header in [
        ("origin", "http://evil.example".to_owned()),
        ("origin", "null".to_owned()),
        ("sec-fetch-site", "cross-site".to_owned()),
        ("sec-fetch-site", "same-site".to_owned()),
    ] {
        let r = post("/login", header.clone(), login()).await.unwrap();
        assert_eq!(r.status(), 403, "{header:?}");
        assert!(r.headers().get("set-cookie").is_none(), "{header:?}");
    }
    let forged_signup = vec![
        ("username", "mallory"),
        ("email", "m@example.com"),
        ("password", "long-enough"),
    ];
    let r = post(
        "/signup",
        ("origin", "http://evil.example".into()),
        forged_signup,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    // The hub's own pages sign in as before.
    let r = post("/login", ("origin", hub.url.clone()), login())
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = post("/login", ("sec-fetch-site", "same-origin".into()), login())
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // The ModelScope login reads any body as JSON, so a cross-site
    // `text/plain` form could carry a token: refused from browsers' pages,
    // answered to the SDK (no Origin, no Sec-Fetch-Site).
    let ms_login = |origin: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(format!("{}/api/v1/login", hub.url))
            .header("content-type", "text/plain")
            .body(format!(r#"{{"AccessToken": "{token}"}}"#));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let r = ms_login(Some("http://evil.example")).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("set-cookie").is_none());
    let r = ms_login(None).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_some());
}

#[tokio::test]
async fn the_language_switch_goes_back_to_local_paths_only() {
    let hub = TestHub::start().await;
    let b = browser();
    for (next, expected) in [
        ("/alice/m%3Ftab%3Dfiles", "/alice/m?tab=files"),
        ("/%09/evil.example", "/"),
        ("/%0A/evil.example", "/"),
        ("//evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example", "/"),
        ("/a%0D%0ASet-Cookie:%20x=1", "/"),
        ("/a%00b", "/"),
        ("/a%E3%80%80b", "/"),
        ("/%E6%95%B0", "/%E6%95%B0"),
    ] {
        let r = b
            .get(format!("{}/lang/en?next={next}", hub.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next}");
        assert_eq!(r.headers()["location"], expected, "{next}");
    }
    // Repeated or missing parameters are no error either.
    for query in ["next=/a&next=//evil.example", "", "next"] {
        let r = b
            .get(format!("{}/lang/zh?{query}", hub.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{query}");
    }
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

/// Issue 13 (no dead ends): a visitor sent to log in from a page that needs
/// an account comes back to it; the header's and the like button's log-in
/// links carry the page; `next` goes to local pages only.
#[tokio::test]
async fn log_in_returns_to_the_page_that_asked_for_it() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let b = browser();
    let r = b
        .get(format!("{}/alice/m/upload/main", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login?next=%2Falice%2Fm%2Fupload%2Fmain"
    );
    let form = b
        .get(format!(
            "{}/login?next=%2Falice%2Fm%2Fupload%2Fmain",
            hub.url
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("name=\"next\" value=\"/alice/m/upload/main\""),
        "{form}"
    );
    let log_in = |next: &'static str| {
        let b = browser();
        let url = hub.url.clone();
        async move {
            b.post(format!("{url}/login"))
                .form(&[
                    ("login", "alice"),
                    ("password", "password-123"),
                    ("next", next),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = log_in("/alice/m/upload/main").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/alice/m/upload/main");
    for (hostile, to) in [
        ("//evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/login", "/"),
        ("https://evil.example/", "/"),
    ] {
        let r = log_in(hostile).await;
        assert_eq!(r.headers()["location"], to, "{hostile:?}");
    }
    let page = browser()
        .get(format!("{}/alice/m", hub.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The header's link and the like button's.
    assert_eq!(
        page.matches("href=\"/login?next=/alice/m\"").count(),
        2,
        "{page}"
    );
}
