//! End to end in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven through chromedriver's W3C WebDriver HTTP API
//! by the small client below: sign up, create a model, upload two files
//! through the upload page (one large enough for LFS), see the rendered
//! README and the file list, open a file, switch language, search, preview
//! a CSV in a dataset; and an XSS corpus of hostile READMEs that must render
//! harmlessly (no dialog, no script). PNG screenshots of the main pages go
//! to `<cargo target dir>/e2e-screenshots/` for review.
//!
//! Under `CI=true` a missing browser or driver fails the test; elsewhere it
//! is skipped with a visible message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tests::TestHub;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// W3C's key for element references in WebDriver JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The browser and driver, or `None` (skip) when they are missing outside CI.
fn browser_available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "CI=true: {CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver fonts-noto-cjk)"
        );
        eprintln!("SKIPPED e2e_browser: {CHROMIUM} or {CHROMEDRIVER} is missing");
    }
    present
}

/// A chromedriver process and one browser session in it.
struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closes Chromium; then the driver itself.
        // On a thread of its own with its own runtime and client: the
        // test's runtime is blocked here and cannot drive its connections.
        let url = self.session.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    reqwest::Client::new()
                        .delete(url)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await
                })
        })
        .join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    async fn start(lang: &str) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                    format!("--lang={lang}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": { "intl.accept_languages": lang },
            },
            // The console, read back by `console_errors`.
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"));
        let screenshots = tests::hub_binary()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("e2e-screenshots");
        std::fs::create_dir_all(&screenshots).unwrap();
        Browser {
            driver,
            http,
            session: format!("{base}/session/{id}"),
            screenshots,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let r: Value = request.send().await.unwrap().json().await.unwrap();
        r["value"].clone()
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let v = self.call(method, path, body).await;
        assert!(
            v.get("error").is_none(),
            "WebDriver {path}: {v}; page: {}",
            self.url().await
        );
        v
    }

    /// Opens `url`, first checking that the page before it logged no error
    /// to the console (a script error, a refused resource, a failed load).
    async fn goto(&self, url: &str) {
        self.assert_no_console_errors().await;
        self.ok(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The console's errors since the last call (chromedriver's log of the
    /// browser; reading it empties it).
    async fn console_errors(&self) -> Vec<String> {
        let v = self
            .ok(
                reqwest::Method::POST,
                "/se/log",
                Some(json!({ "type": "browser" })),
            )
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn assert_no_console_errors(&self) {
        let errors = self.console_errors().await;
        assert!(
            errors.is_empty(),
            "console errors on {}: {errors:#?}",
            self.url().await
        );
    }

    async fn url(&self) -> String {
        let v = self.call(reqwest::Method::GET, "/url", None).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn find_all(&self, css: &str) -> Vec<String> {
        let v = self
            .ok(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT].as_str().unwrap().to_owned())
            .collect()
    }

    /// The first element matching `css`, waiting up to 30 s for it.
    async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.ok(reqwest::Method::POST, &format!("/element/{e}/click"), None)
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.ok(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        let v = self
            .ok(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await;
        v.as_str().unwrap().to_owned()
    }

    async fn script(&self, script: &str) -> Value {
        self.ok(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Waits until `script` returns `expected`. After a click that posts a
    /// form and reloads the same URL, the old page may still be there (or an
    /// element found on it go stale), so the path alone proves nothing.
    async fn wait_for_script(&self, script: &str, expected: Value, timeout: Duration) {
        if !self
            .wait_for_script_or(script, expected.clone(), timeout)
            .await
        {
            let v = self.script(script).await;
            panic!(
                "`{script}` gave {v}, not {expected}, on {}",
                self.url().await
            );
        }
    }

    /// [`Self::wait_for_script`], answering whether it came (the caller
    /// says what went wrong).
    async fn wait_for_script_or(&self, script: &str, expected: Value, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self
                .call(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({ "script": script, "args": [] })),
                )
                .await;
            if v == expected {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's URL path is `path`.
    async fn wait_for_path(&self, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let url = self.url().await;
            let at = url.splitn(4, '/').nth(3).map(|p| format!("/{p}"));
            if at.as_deref() == Some(path) {
                return;
            }
            assert!(Instant::now() < deadline, "still at {url}, not {path}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of an open alert/confirm/prompt dialog, if one is open.
    async fn open_dialog(&self) -> Option<String> {
        let v = self.call(reqwest::Method::GET, "/alert/text", None).await;
        v.as_str().map(str::to_owned)
    }

    async fn screenshot(&self, name: &str) {
        let v = self.ok(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(self.screenshots.join(format!("{name}.png")), png).unwrap();
    }
}

/// Signs up through the form and ends on the home page.
async fn sign_up(b: &Browser, hub: &TestHub, name: &str) {
    b.goto(&format!("{}/signup", hub.url)).await;
    b.type_into("input[name=username]", name).await;
    b.type_into("input[name=email]", &format!("{name}@example.com"))
        .await;
    b.type_into("input[name=password]", "long-enough").await;
    b.screenshot("signup").await;
    b.click("form[action='/signup'] button[type=submit]").await;
    b.wait_for_path("/", Duration::from_secs(20)).await;
}

/// Creates a repo through the form and ends on its page.
async fn create_repo(b: &Browser, hub: &TestHub, kind: &str, name: &str) {
    b.goto(&format!("{}/new", hub.url)).await;
    b.click(&format!("select[name=repo_type] option[value={kind}]"))
        .await;
    b.type_into("input[name=name]", name).await;
    b.click("form[action='/new'] button[type=submit]").await;
}

/// Chooses `files` in the upload page's file picker and commits them.
async fn upload(b: &Browser, hub: &TestHub, repo_path: &str, files: &[&Path], screenshot: &str) {
    b.goto(&format!("{}{repo_path}/upload/main", hub.url)).await;
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    b.type_into("#files", &paths.join("\n")).await;
    let listed = b.find_all("#file-list li").await.len();
    assert_eq!(listed, files.len(), "every chosen file is listed");
    b.screenshot(screenshot).await;
    b.click("#upload-submit").await;
    b.wait_for_path(repo_path, Duration::from_secs(120)).await;
}

#[tokio::test]
async fn a_person_uses_the_hub_in_a_browser() {
    if !browser_available() {
        return;
    }
    let hub = TestHub::start().await;
    let b = Browser::start("en-US").await;
    let work = tempfile::tempdir().unwrap();

    // Sign up and create a model.
    sign_up(&b, &hub, "alice").await;
    b.screenshot("home").await;
    create_repo(&b, &hub, "model", "demo-model").await;
    b.wait_for_path("/alice/demo-model", Duration::from_secs(20))
        .await;

    // Upload a README and a file over the LFS threshold (10 MB).
    let readme = work.path().join("README.md");
    std::fs::write(
        &readme,
        "---\nlicense: apache-2.0\nlanguage: [zh, en]\n---\n# Demo model\n\n\
         A model card with a table.\n\n| metric | value |\n|---|---|\n| accuracy | 0.91 |\n\n\
         ```python\nprint(\"你好\")\n```\n",
    )
    .unwrap();
    let weights = work.path().join("weights.bin");
    let big: Vec<u8> = (0..11 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&weights, &big).unwrap();
    upload(
        &b,
        &hub,
        "/alice/demo-model",
        &[&readme, &weights],
        "upload",
    )
    .await;

    // The repo page: the rendered README and the file list with the LFS file.
    assert_eq!(b.text("article.markdown h1").await, "Demo model");
    assert!(!b.find_all("article.markdown table").await.is_empty());
    let page = b.script("return document.body.innerText").await;
    let page = page.as_str().unwrap();
    assert!(
        page.contains("weights.bin") && page.contains("README.md"),
        "{page}"
    );
    b.screenshot("repo-en").await;

    // Like it: the button toggles and counts.
    b.click("form.like button").await;
    b.wait_for_script(
        "const c = document.querySelector('form.like .count'); return c && c.textContent.trim()",
        json!("1"),
        Duration::from_secs(20),
    )
    .await;
    b.wait_for_path("/alice/demo-model", Duration::from_secs(20))
        .await;

    // Open files from the Files tab: the README as text, the LFS file's facts.
    b.click("nav.tabs a[href='/alice/demo-model/tree/main']")
        .await;
    let listing = b.text("table.tree").await;
    assert!(
        listing.contains("weights.bin") && listing.contains("LFS"),
        "the large file is marked as LFS: {listing}"
    );
    b.screenshot("tree").await;
    b.click("a[href='/alice/demo-model/blob/main/README.md']")
        .await;
    b.wait_for_path(
        "/alice/demo-model/blob/main/README.md",
        Duration::from_secs(20),
    )
    .await;
    // Markdown is rendered on its page, as on the card.
    assert!(
        b.text("section.blob article.markdown")
            .await
            .contains("Demo model")
    );
    b.screenshot("file").await;
    b.goto(&format!(
        "{}/alice/demo-model/blob/main/weights.bin",
        hub.url
    ))
    .await;
    let oid = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&big));
    assert!(
        b.text(".lfs-facts").await.contains(&oid),
        "LFS sha256 shown"
    );

    // Search for it from the models listing.
    b.goto(&format!("{}/models", hub.url)).await;
    b.type_into("form.search input[name=search]", "demo").await;
    b.click("form.search button[type=submit]").await;
    b.find("a[href='/alice/demo-model']").await;
    b.screenshot("search").await;
    b.goto(&format!("{}/alice/demo-model", hub.url)).await;

    // Switch language with the toggle: Chinese labels, remembered.
    b.click("a[href^='/lang/zh']").await;
    b.wait_for_script(
        "return document.documentElement.lang",
        json!("zh-CN"),
        Duration::from_secs(20),
    )
    .await;
    b.wait_for_path("/alice/demo-model", Duration::from_secs(20))
        .await;
    let page = b.script("return document.body.innerText").await;
    assert!(page.as_str().unwrap().contains("文件"), "Chinese labels");
    b.screenshot("repo-zh").await;
    b.goto(&format!("{}/alice/demo-model/upload/main", hub.url))
        .await;
    assert!(b.text("h1").await.contains("上传文件"), "remembered");
    b.screenshot("upload-zh").await;
    b.goto(&format!("{}/alice/demo-model/settings", hub.url))
        .await;
    b.screenshot("settings-zh").await;
    b.goto(&format!("{}/alice", hub.url)).await;
    b.screenshot("profile-zh").await;
    b.click("a[href^='/lang/en']").await;
    b.wait_for_script(
        "return document.documentElement.lang",
        json!("en"),
        Duration::from_secs(20),
    )
    .await;

    // A dataset with a CSV file, uploaded the same way.
    create_repo(&b, &hub, "dataset", "demo-data").await;
    b.wait_for_path("/datasets/alice/demo-data", Duration::from_secs(20))
        .await;
    let csv = work.path().join("train.csv");
    std::fs::write(&csv, "text,label\n你好世界,1\nhello world,0\n").unwrap();
    upload(
        &b,
        &hub,
        "/datasets/alice/demo-data",
        &[&csv],
        "upload-dataset",
    )
    .await;
    let page = b.script("return document.body.innerText").await;
    assert!(page.as_str().unwrap().contains("train.csv"));

    // Preview the CSV in the dataset viewer: columns and rows.
    b.click("nav.tabs a[href='/datasets/alice/demo-data/viewer']")
        .await;
    let header = b.text("table.data thead").await;
    assert!(
        header.contains("text") && header.contains("label"),
        "{header}"
    );
    let rows = b.text("table.data tbody").await;
    assert!(
        rows.contains("你好世界") && rows.contains("hello world"),
        "{rows}"
    );
    b.screenshot("viewer").await;

    assert_eq!(b.open_dialog().await, None);
    b.assert_no_console_errors().await;
}

/// Hostile READMEs: each payload would open a dialog or set a marker if any
/// of it ran. Rendered in the real browser, nothing may run.
#[tokio::test]
async fn hostile_readmes_render_harmlessly() {
    if !browser_available() {
        return;
    }
    let hub = TestHub::start().await;
    let token = hub.user_with_token("mallory");
    let api = hub.api(Some(&token));
    let corpus = [
        "<script>window.pwned=1;alert('script')</script>",
        "<img src=x onerror=\"window.pwned=1;alert('img')\">",
        "<svg onload=\"window.pwned=1;alert('svg')\"></svg>",
        "[click](javascript:window.pwned=1;alert('link'))",
        "<a href=\"javascript:alert('a')\">a</a>",
        "<iframe src=\"javascript:alert('iframe')\"></iframe>",
        "<iframe srcdoc=\"<script>parent.pwned=1</script>\"></iframe>",
        "<object data=\"javascript:alert('object')\"></object>",
        "<embed src=\"javascript:alert('embed')\">",
        "<details open ontoggle=\"window.pwned=1;alert('details')\">x</details>",
        "<body onload=\"window.pwned=1\">",
        "<style>body{background:url(javascript:alert('css'))}</style>",
        "<form action=\"javascript:alert('form')\"><button>go</button></form>",
        "<math><mtext><table><mglyph><style><img src=x onerror=\"window.pwned=1\">",
        "<noscript><p title=\"</noscript><img src=x onerror=window.pwned=1>\">",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert('meta')\">",
        "<base href=\"javascript:alert('base')//\">",
        "<a href=\"&#106;avascript:alert('entity')\">entity</a>",
        "<a href=\"jav&#x09;ascript:alert('tab')\">tab</a>",
        "![x](x\" onerror=\"window.pwned=1)",
        "<div style=\"background-image:url(javascript:alert('style'))\">s</div>",
        "<input autofocus onfocus=\"window.pwned=1\">",
        "<video><source onerror=\"window.pwned=1\"></video>",
        "<scr<script>ipt>window.pwned=1</scr</script>ipt>",
        "```html\n<script>window.pwned=1</script>\n```",
        "---\nlicense: \"<img src=x onerror=window.pwned=1>\"\ntags: [\"<script>window.pwned=1</script>\"]\n---\n# front matter",
    ];
    let b = Browser::start("en-US").await;
    for (i, payload) in corpus.iter().enumerate() {
        let name = format!("xss-{i}");
        assert_eq!(
            api.create_repo("model", "mallory", &name, false)
                .await
                .status,
            200
        );
        let readme = format!("# Hostile {i}\n\n{payload}\n\nafter\n");
        let r = api
            .commit(
                &format!("mallory/{name}"),
                "hostile README",
                &[tests::file_op("README.md", readme.as_bytes())],
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{payload}: {:?}", r.body);
        b.goto(&format!("{}/mallory/{name}", hub.url)).await;
        b.find("main").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(b.open_dialog().await, None, "a dialog opened for {payload}");
        let ran = b.script("return window.pwned === undefined").await;
        assert_eq!(ran, true, "script ran for {payload}");
        let bad_links = b
            .script(
                "return Array.from(document.querySelectorAll('[href],[src],[action],[data],[srcdoc]'))\
                 .filter(e => /^\\s*javascript:/i.test(e.getAttribute('href') || e.getAttribute('src') \
                 || e.getAttribute('action') || e.getAttribute('data') || '') || e.hasAttribute('srcdoc')).length",
            )
            .await;
        assert_eq!(bad_links, 0, "javascript: URL survived for {payload}");
        let handlers = b
            .script(
                "return Array.from(document.querySelectorAll('main *')).filter(e => \
                 Array.from(e.attributes).some(a => a.name.startsWith('on'))).length",
            )
            .await;
        assert_eq!(
            handlers, 0,
            "event handler attribute survived for {payload}"
        );
        if i == 0 {
            b.screenshot("xss-repo").await;
        }
        // The corpus's own images and links point nowhere (`src=x`): their
        // failed loads are the only console errors these pages may have.
        let errors = b.console_errors().await;
        assert!(
            errors
                .iter()
                .all(|e| e.contains("/mallory/") && e.contains("Failed to load resource")),
            "{payload}: {errors:#?}"
        );
    }
}

/// Copy buttons on the repo page's snippets and on the card's code blocks
/// (made by `/static/copy.js`: the HTML itself has plain blocks), and LaTeX
/// in the card left as written, not turned into emphasis.
#[tokio::test]
async fn snippets_and_code_blocks_have_copy_buttons() {
    if !browser_available() {
        return;
    }
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let card = "# M\n\nThe loss is $a*b*c$.\n\n```python\nprint(\"copy me\")\n```\n";
    let c = api
        .commit_to(
            "models",
            "alice/m",
            "card",
            &[tests::file_op("README.md", card.as_bytes())],
            None,
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    let html = reqwest::get(format!("{}/alice/m", hub.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("copy-block"),
        "buttons are made by the script"
    );
    assert!(html.contains("src=\"/static/copy.js\""));

    let b = Browser::start("en-US").await;
    b.goto(&format!("{}/alice/m", hub.url)).await;
    b.wait_for_script(
        "const blocks = document.querySelectorAll('[data-copy-label] pre').length; \
         return blocks >= 2 && document.querySelectorAll('button.copy-block').length === blocks",
        json!(true),
        Duration::from_secs(20),
    )
    .await;
    b.click("article.markdown button.copy-block").await;
    b.wait_for_script(
        "return window.getSelection().toString().trim()",
        json!("print(\"copy me\")"),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(b.text(".math-inline").await, "$a*b*c$");
    b.screenshot("copy-buttons").await;
    b.assert_no_console_errors().await;
}

/// On a phone-sized window (390 px) the header folds into one row behind a
/// menu button and the listing's filters behind theirs; repo names wrap at
/// `/` and `-`; a failed upload turns its bar into an error state.
#[tokio::test]
async fn small_screens_fold_the_header_and_filters() {
    if !browser_available() {
        return;
    }
    let hub = TestHub::start().await;
    let b = Browser::start("zh-CN").await;
    sign_up(&b, &hub, "alice").await;
    create_repo(&b, &hub, "model", "a-rather-long-model-name").await;
    b.wait_for_path("/alice/a-rather-long-model-name", Duration::from_secs(20))
        .await;
    b.ok(
        reqwest::Method::POST,
        "/window/rect",
        Some(json!({ "width": 390, "height": 844 })),
    )
    .await;
    b.goto(&format!("{}/", hub.url)).await;
    let inner = b.script("return window.innerWidth").await;
    assert!(inner.as_i64().unwrap() <= 390, "{inner}");
    // Collapsed: brand and menu button on one row, nothing else shown.
    let header = b
        .script(
            "const h = document.querySelector('header.top'); \
             const row = (e) => e.getBoundingClientRect().top; \
             const button = document.querySelector('.menu-button'); \
             return { height: h.getBoundingClientRect().height, \
                      width: h.scrollWidth, \
                      button: button.offsetParent !== null, \
                      same_row: Math.abs(row(button) - row(document.querySelector('.brand'))) < 20, \
                      search: document.querySelector('.header-search').offsetParent !== null, \
                      account: document.querySelector('nav.account').offsetParent !== null }",
        )
        .await;
    b.screenshot("small-header").await;
    assert!(header["height"].as_f64().unwrap() < 64.0, "{header}");
    assert!(header["width"].as_f64().unwrap() <= 390.0, "{header}");
    assert_eq!(header["button"], true, "{header}");
    assert_eq!(header["same_row"], true, "{header}");
    assert_eq!(header["search"], false, "{header}");
    assert_eq!(header["account"], false, "{header}");
    // Opened: the menu's links and the search box.
    b.click(".menu-button").await;
    b.wait_for_script(
        "return document.querySelector('.header-search').offsetParent !== null \
         && document.querySelector('nav.account').offsetParent !== null",
        json!(true),
        Duration::from_secs(5),
    )
    .await;
    b.screenshot("small-header-open").await;

    // The listing: filters folded behind their button; names wrap at - and /.
    b.goto(&format!("{}/models", hub.url)).await;
    assert_eq!(
        b.script("return document.querySelector('aside.filters').offsetParent !== null")
            .await,
        json!(false)
    );
    b.click(".filters-button").await;
    b.wait_for_script(
        "return document.querySelector('aside.filters').offsetParent !== null",
        json!(true),
        Duration::from_secs(5),
    )
    .await;
    let name = b
        .script("return document.querySelector('.repo-name').innerHTML")
        .await;
    assert_eq!(
        name.as_str().unwrap(),
        "alice/<wbr>a-<wbr>rather-<wbr>long-<wbr>model-<wbr>name"
    );
    b.screenshot("small-listing").await;

    // A failed upload: the bar turns into an error state, the message in Chinese.
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("a.txt");
    std::fs::write(&file, "一").unwrap();
    b.goto(&format!(
        "{}/alice/a-rather-long-model-name/upload/main",
        hub.url
    ))
    .await;
    b.type_into("#files", &file.display().to_string()).await;
    b.type_into("#folder", "../上级").await;
    b.click("#upload-submit").await;
    b.wait_for_script(
        "return document.querySelector('#progress').classList.contains('failed')",
        json!(true),
        Duration::from_secs(20),
    )
    .await;
    let status = b.text("#status").await;
    assert!(
        status.contains("上传失败") && status.contains("“..”"),
        "{status}"
    );
    b.screenshot("upload-failed").await;
    // The refused upload's 400 is the one console entry the page causes.
    let errors = b.console_errors().await;
    assert!(errors.iter().all(|e| e.contains("400")), "{errors:#?}");
}

/// Charges `user` `cost` micro-yuan for an inference job today, through the
/// ledger as metering does (a hold, then its post) with the priced usage
/// record.
async fn charge_today(hub: &TestHub, user: &str, cost: i64) {
    use hub_core::billing::Credits;
    use hub_core::billing::ledger::{self, SystemAccount, Transfer};
    let pool = sqlx::PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let namespace: i64 = sqlx::query_scalar("SELECT id FROM namespaces WHERE name = $1")
        .bind(user)
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let wallet = ledger::wallet(&mut conn, namespace).await.unwrap();
    let revenue = ledger::system(&mut conn, SystemAccount::Revenue)
        .await
        .unwrap();
    let job = uuid::Uuid::new_v4();
    let (hold, charge, reference) = (
        format!("inference/{job}/hold"),
        format!("inference/{job}/charge"),
        job.to_string(),
    );
    let t = Transfer {
        id: &hold,
        debit: wallet,
        credit: revenue,
        amount: Credits(cost * 2),
        code: "inference",
        memo: "",
        reference: Some(&reference),
        created_by: None,
    };
    ledger::hold(&mut conn, &t, Duration::from_secs(600))
        .await
        .unwrap();
    ledger::post(&mut conn, &charge, &hold, Credits(cost))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO usage_records (kind, account_id, job_id, generated_tokens, device_ms,
                                    namespace_id, device_class, cost, transfer_id)
         VALUES ('inference', $1, $2, 100, 1000, $1, 'gpu-small', $3, $4)",
    )
    .bind(namespace)
    .bind(job)
    .bind(cost)
    .bind(&charge)
    .execute(&pool)
    .await
    .unwrap();
}

/// Logs `name` in through the form and ends on the home page.
async fn log_in(b: &Browser, hub: &TestHub, name: &str, password: &str) {
    b.goto(&format!("{}/login", hub.url)).await;
    b.type_into("input[name=login]", name).await;
    b.type_into("input[name=password]", password).await;
    b.click("form[action='/login'] button[type=submit]").await;
    b.wait_for_path("/", Duration::from_secs(20)).await;
}

#[tokio::test]
async fn billing_pages_in_a_browser() {
    if !browser_available() {
        return;
    }
    let hub = TestHub::start().await;
    let out = hub.cli(&[
        "user",
        "create",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--password",
        "password-123",
        "--admin",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    hub.user_with_token("payer");

    // A site admin grants credits through the desk.
    let b = Browser::start("en").await;
    log_in(&b, &hub, "root", "password-123").await;
    b.goto(&format!("{}/admin/billing", hub.url)).await;
    b.find("#ledger-check.check-sound").await;
    b.type_into("#grant-form input[name=name]", "payer").await;
    b.type_into("#grant-form input[name=amount]", "25").await;
    b.type_into("#grant-form input[name=reason]", "Welcome to the paid tier")
        .await;
    b.click("#grant-form button[type=submit]").await;
    let granted = b.text("#new-transfer").await;
    assert!(granted.starts_with("grant/"), "{granted}");
    b.screenshot("billing-admin").await;
    b.click("form[action='/logout'] button[type=submit]").await;
    b.wait_for_path("/", Duration::from_secs(20)).await;

    // A paid job charges ¥1 today, as metering does: a hold, its post,
    // the priced usage record.
    charge_today(&hub, "payer", 1_000_000).await;

    // The payer sees the balance, the chart and the receipt, in English...
    log_in(&b, &hub, "payer", "password-123").await;
    b.goto(&format!("{}/settings/profile", hub.url)).await;
    b.click("a[href='/settings/billing']").await;
    b.wait_for_path("/settings/billing", Duration::from_secs(20))
        .await;
    assert_eq!(b.text("#balance-available").await, "¥24.00 (≈ $3.36)");
    let bars = "return document.querySelectorAll('#usage-chart svg.usage-chart rect.bar').length";
    b.wait_for_script(bars, json!(30), Duration::from_secs(10))
        .await;
    // Today's bar (the last) is the one drawn, at full height.
    let drawn = "const bars = [...document.querySelectorAll('#usage-chart rect.bar')];\
        return bars.filter(r => r.getBoundingClientRect().height > 50)\
        .map(r => r.dataset.day).join() === bars[bars.length - 1].dataset.day";
    b.wait_for_script(drawn, json!(true), Duration::from_secs(10))
        .await;
    assert!(b.text("table.billing-jobs").await.contains("gpu-small"));
    // The chart is drawn: the SVG has a size on the page.
    let width = b
        .script("return document.querySelector('#usage-chart svg').getBoundingClientRect().width")
        .await;
    assert!(width.as_f64().unwrap() > 100.0, "chart width {width}");
    assert!(
        b.text("#transactions")
            .await
            .contains("Welcome to the paid tier")
    );
    b.screenshot("billing-en").await;
    b.click("#transactions tr.line-grant a.receipt-link").await;
    b.find("#receipt").await;
    assert_eq!(b.text("#receipt-id").await, granted);
    assert_eq!(b.text("#receipt-amount").await, "+¥25.00 (≈ $3.50)");
    assert_eq!(b.text("#receipt-payer").await, "payer");
    b.screenshot("billing-receipt-en").await;

    // ... and in Chinese.
    b.goto(&format!("{}/lang/zh?next=/settings/billing", hub.url))
        .await;
    b.wait_for_path("/settings/billing", Duration::from_secs(20))
        .await;
    assert_eq!(b.text("#balance-available").await, "¥24.00");
    assert!(b.text("h1").await.contains("账单与余额"));
    b.wait_for_script(bars, json!(30), Duration::from_secs(10))
        .await;
    b.screenshot("billing-zh").await;
    b.click("#transactions tr.line-grant a.receipt-link").await;
    b.find("#receipt").await;
    assert!(b.text("#receipt h1").await.contains("收据"));
    assert_eq!(b.text("#receipt-amount").await, "+¥25.00");
    b.screenshot("billing-receipt-zh").await;
    b.assert_no_console_errors().await;
}

/// The top-up page in the browser, through a stand-in for Stripe: the
/// page's script opens the order, goes to the "provider's page" (the
/// stand-in sends the customer straight back, as a paid Checkout does),
/// waits for the payment, and shows "paid" once the signed webhook arrives.
#[tokio::test]
async fn a_top_up_turns_from_waiting_to_paid() {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::extract::State;
    use hmac::{Hmac, Mac};

    if !browser_available() {
        return;
    }
    // The stand-in: a Checkout Session whose page is the success URL.
    let orders: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/v1/checkout/sessions",
            axum::routing::post(
                |State(orders): State<Arc<Mutex<Vec<String>>>>, body: Bytes| async move {
                    let form: Vec<(String, String)> =
                        form_urlencoded::parse(&body).into_owned().collect();
                    let field = |k: &str| {
                        form.iter()
                            .find(|(n, _)| n == k)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    orders.lock().unwrap().push(field("client_reference_id"));
                    axum::Json(json!({ "id": "cs_browser", "url": field("success_url") }))
                },
            ),
        )
        .with_state(orders.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stand_in = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let secret = "whsec_browser_test_secret";
    let hub = TestHub::start_with(
        &[
            ("HUB_STRIPE_SECRET_KEY", "sk_test_browser"),
            ("HUB_STRIPE_WEBHOOK_SECRET", secret),
            ("HUB_STRIPE_API_BASE", &stand_in),
        ],
        &[],
    )
    .await;
    for lang in ["zh-CN", "en-US"] {
        let b = Browser::start(lang).await;
        let name = if lang == "en-US" { "tess" } else { "tao" };
        sign_up(&b, &hub, name).await;
        b.goto(&format!("{}/settings/billing/topup", hub.url)).await;
        b.screenshot(&format!("topup-form-{lang}")).await;
        b.click("#topup-form button[type=submit]").await;
        let state = "return document.getElementById('topup-status').dataset.state || null";
        b.wait_for_script(state, json!("waiting"), Duration::from_secs(20))
            .await;
        b.screenshot(&format!("topup-waiting-{lang}")).await;
        let order = orders.lock().unwrap().last().unwrap().clone();
        assert!(b.url().await.contains(&order));
        let event = json!({
            "id": format!("evt_{order}"), "type": "checkout.session.completed",
            "data": { "object": { "id": format!("cs_{order}"), "client_reference_id": order,
                "amount_total": 5000, "currency": "cny", "payment_status": "paid" } },
        })
        .to_string();
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{event}").as_bytes());
        let header = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
        let r = reqwest::Client::new()
            .post(format!("{}/api/billing/notify/stripe", hub.url))
            .header("Stripe-Signature", header)
            .body(event)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        b.wait_for_script(state, json!("paid"), Duration::from_secs(20))
            .await;
        assert!(b.text("#topup-status").await.contains("50.00"));
        b.screenshot(&format!("topup-paid-{lang}")).await;
        b.assert_no_console_errors().await;
    }
}

/// A Streamlit app in a Space, built and run by a real runner, loads in the
/// browser inside the hub's Space page: its page, scripts and WebSocket
/// come from the Space's own origin through the hub's proxy and the
/// runner's tunnel (pip installs Streamlit from PyPI).
#[tokio::test]
async fn a_streamlit_space_runs_inside_its_page() {
    if !browser_available() {
        return;
    }
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("space", "alice", "st", false).await.status,
        200
    );
    let out = hub.cli(&["worker-token", "create", "--name", "runner"]);
    assert!(out.status.success());
    let dir = tests::runner::runner_dir();
    let runner = tests::runner::Runner::start(
        &hub.url,
        String::from_utf8(out.stdout).unwrap().trim(),
        dir.path(),
    );
    let files = [
        tests::file_op(
            "README.md",
            b"---\ntitle: Streamlit\nsdk: streamlit\nsdk_version: 1.67.0\napp_file: app.py\n---\n",
        ),
        tests::file_op(
            "app.py",
            "import streamlit as st\nst.title(\"你好，Streamlit\")\nst.write(\"served through the hub\")\n"
                .as_bytes(),
        ),
    ];
    let r = api
        .commit_to("spaces", "alice/st", "app", &files, None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let rt = api.get("/api/spaces/alice/st/runtime").await.body;
        match rt["stage"].as_str() {
            Some("RUNNING") => break,
            Some("BUILDING" | "APP_STARTING") => {}
            _ => panic!("{rt}\n{}", runner.log()),
        }
        assert!(Instant::now() < deadline, "{rt}\n{}", runner.log());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let b = Browser::start("zh-CN").await;
    b.goto(&format!("{}/spaces/alice/st", hub.url)).await;
    let frame = b.find("iframe.space-app").await;
    b.ok(
        reqwest::Method::POST,
        "/frame",
        Some(json!({ "id": { ELEMENT: frame } })),
    )
    .await;
    // Streamlit renders from its WebSocket: the text proves the socket too.
    b.wait_for_script(
        "return document.body.innerText.includes('你好，Streamlit')",
        json!(true),
        Duration::from_secs(90),
    )
    .await;
    b.ok(reqwest::Method::POST, "/frame/parent", Some(json!({})))
        .await;
    b.screenshot("space-streamlit").await;
}

/// The fine-tuning pages, with a real trainer (`HUB_TEST_TRAINER_ENVS`,
/// built by tests/run): from the base model's page to the form, its data
/// check and estimate, the job page whose loss curve the hub redraws live,
/// and a chat with the adapter in the same page once it is published.
#[tokio::test]
async fn a_person_fine_tunes_from_the_web_page() {
    if !browser_available() {
        return;
    }
    let Some(envs) = tests::finetune::trainer_envs() else {
        return;
    };
    let hub = TestHub::start_with(&[("HUB_FINETUNE_CHECKPOINT_STEPS", "5")], &[]).await;
    let token = tests::finetune::paying_user(&hub, "alice", "20");
    tests::finetune::tiny_base(&hub, &token, "alice/tiny-base").await;
    let chats = tests::finetune::chats(40);
    tests::finetune::dataset(&hub, &token, "alice/chat", "train.jsonl", chats.as_bytes()).await;
    let work = tempfile::tempdir().unwrap();
    let worker = tests::finetune::trainer(&hub, "trainer", work.path(), &envs);

    let b = Browser::start("zh-CN").await;
    log_in(&b, &hub, "alice", "password-123").await;
    b.goto(&format!("{}/alice/tiny-base", hub.url)).await;
    b.click("#fine-tune-this").await;
    b.wait_for_script(
        "return location.pathname",
        json!("/fine-tuning/new"),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        b.script("return document.querySelector('input[name=model]').value")
            .await,
        json!("alice/tiny-base")
    );
    b.type_into(
        "input[name=training_file]",
        "datasets/alice/chat/train.jsonl",
    )
    .await;
    b.type_into("input[name=suffix]", "web").await;
    b.type_into("input[name=n_epochs]", "2").await;
    b.type_into("input[name=batch_size]", "2").await;
    b.type_into("input[name=learning_rate_multiplier]", "50")
        .await;
    b.click("#check").await;
    let estimate = b.text("#plan-estimate").await;
    assert!(estimate.contains('¥'), "{estimate}");
    assert!(b.text("#plan-examples").await.contains("40"));
    b.screenshot("fine-tune-form").await;
    b.click("#start").await;
    b.wait_for_script(
        "return location.pathname.startsWith('/fine-tuning/ftjob-')",
        json!(true),
        Duration::from_secs(20),
    )
    .await;

    // The curve grows in place (server-sent events), then the page shows
    // the published adapter and its chat box.
    let finished = b
        .wait_for_script_or(
            "return document.querySelector('#job-status').dataset.status",
            json!("succeeded"),
            Duration::from_secs(300),
        )
        .await;
    assert!(
        finished,
        "the job did not succeed; worker log:\n{}\nhub log:\n{}",
        worker.log(),
        hub.log()
    );
    let lines = b
        .script("return document.querySelectorAll('#loss-curve svg polyline').length")
        .await;
    assert!(
        lines.as_u64().unwrap() >= 1,
        "a loss line is drawn: {lines}"
    );
    assert!(b.text("#result").await.contains("alice/tiny-base-web"));
    assert!(b.text("#charged").await.contains('¥'));
    b.screenshot("fine-tune-job").await;
    b.wait_for_script(
        "return !!document.querySelector('#inference-widget textarea')",
        json!(true),
        Duration::from_secs(60),
    )
    .await;
    b.type_into("#inference-widget textarea", "3 加一等于几？")
        .await;
    b.click("#inference-widget .widget-form button[type=submit]")
        .await;
    b.wait_for_script(
        "var a = document.querySelector('#inference-widget .widget-assistant'); return !!a && a.textContent.length > 0",
        json!(true),
        Duration::from_secs(60),
    )
    .await;
    b.assert_no_console_errors().await;
}
