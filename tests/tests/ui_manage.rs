//! The management pages at the HTML level, as a browser uses them (cookies,
//! CSRF tokens, redirects): upload, new/edit/delete file, repo settings,
//! profiles, organisations and members, account settings, tokens, likes
//! and the language switch. Each checks status, key elements and who may
//! see the page; the browser-driven flow is in `e2e_browser.rs`.

use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tests::TestHub;
use tests::browser::Browser;

/// A browser signed up as `name` (password [`tests::browser::PASSWORD`]).
async fn signed_up(hub: &TestHub, name: &str) -> Browser {
    let b = Browser::new(&hub.url);
    b.sign_up(name).await;
    b
}

/// Sends the upload page's streamed body: a manifest line, then the files.
async fn upload(
    b: &Browser,
    repo_path: &str,
    files: &[(&str, &[u8])],
    csrf: Option<&str>,
    declared_extra: u64,
) -> (StatusCode, Value) {
    let manifest = serde_json::json!({
        "summary": "Upload from the page",
        "files": files.iter().enumerate().map(|(i, (path, bytes))| serde_json::json!({
            "path": path,
            "size": bytes.len() as u64 + if i == 0 { declared_extra } else { 0 },
        })).collect::<Vec<_>>(),
    });
    let mut body = serde_json::to_vec(&manifest).unwrap();
    body.push(b'\n');
    for (_, bytes) in files {
        body.extend_from_slice(bytes);
    }
    // As the English page's script sends it: its messages come back in English.
    let mut request = b
        .client
        .post(b.url(&format!("{repo_path}/upload/main")))
        .header("accept-language", "en")
        .body(body);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    let r = request.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Every `<form method="post">` of a page carries a CSRF field, and the
/// page has no inline script or inline event handler (the CSP forbids them).
fn assert_safe_page(html: &str) {
    for form in html.split("<form").skip(1) {
        let form = form.split("</form>").next().unwrap();
        if form.contains("method=\"post\"") {
            assert!(form.contains("name=\"csrf\""), "form without CSRF: {form}");
        }
    }
    tests::assert_no_inline_script(html, "this page");
    let lower = html.to_ascii_lowercase();
    for handler in [
        " onclick=",
        " onload=",
        " onerror=",
        " onsubmit=",
        "javascript:",
    ] {
        assert!(!lower.contains(handler), "inline handler {handler}");
    }
}

/// Whether `html` holds `text` HTML-escaped (named or numeric references).
fn is_escaped(html: &str, text: &str) -> bool {
    let named = text.replace('<', "&lt;").replace('>', "&gt;");
    let numeric = text.replace('<', "&#60;").replace('>', "&#62;");
    html.contains(&named) || html.contains(&numeric)
}

/// The files of a repo at main, from the HF tree API: path -> (size, lfs oid).
async fn tree(b: &Browser, kind: &str, repo: &str) -> Vec<(String, u64, Option<String>)> {
    let r = b
        .client
        .get(b.url(&format!("/api/{kind}/{repo}/tree/main?recursive=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Vec<Value> = r.json().await.unwrap();
    list.into_iter()
        .filter(|e| e["type"] == "file")
        .map(|e| {
            (
                e["path"].as_str().unwrap().to_owned(),
                e["size"].as_u64().unwrap(),
                e["lfs"]["oid"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

async fn raw(b: &Browser, repo: &str, path: &str) -> Vec<u8> {
    let r = b
        .client
        .get(b.url(&format!("/{repo}/resolve/main/{path}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn upload_page_commits_small_and_lfs_files() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;

    let (status, html) = alice.get("/alice/m/upload/main").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"upload-form\"") && html.contains("type=\"file\""));
    assert!(html.contains("<progress") && html.contains("src=\"/static/upload.js\""));
    assert!(html.contains("Upload files"), "English labels");
    assert_safe_page(&html);
    let js = alice
        .client
        .get(alice.url("/static/upload.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        js.text()
            .await
            .unwrap()
            .contains("upload.addEventListener('progress'")
    );

    // 11 MB of text: over the LFS threshold, so it goes to LFS.
    let big: Vec<u8> = (0..11 * 1024 * 1024)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let readme = "# Hello\n\n你好，世界\n".as_bytes();
    let csrf = alice.csrf().await;

    // Without the CSRF header the session may not upload; nothing changes.
    let (status, _) = upload(&alice, "/alice/m", &[("README.md", readme)], None, 0).await;
    assert_eq!(status, 403);
    // A body shorter than its manifest says is refused; nothing is committed.
    let (status, answer) =
        upload(&alice, "/alice/m", &[("README.md", readme)], Some(&csrf), 5).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("ended early"));
    // A hostile path is refused.
    let (status, _) = upload(&alice, "/alice/m", &[("../x.txt", b"x")], Some(&csrf), 0).await;
    assert_eq!(status, 400);
    assert_eq!(
        tree(&alice, "models", "alice/m").await.len(),
        1,
        "only .gitattributes"
    );

    let (status, answer) = upload(
        &alice,
        "/alice/m",
        &[("README.md", readme), ("weights/big.txt", &big)],
        Some(&csrf),
        0,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["url"], "/alice/m");
    assert_eq!(answer["commit"].as_str().unwrap().len(), 40);
    let files = tree(&alice, "models", "alice/m").await;
    let find = |p: &str| files.iter().find(|f| f.0 == p).cloned().unwrap();
    assert_eq!(find("README.md").2, None, "a small text file stays in git");
    let (_, size, oid) = find("weights/big.txt");
    assert_eq!(size, big.len() as u64);
    assert_eq!(
        oid.unwrap(),
        hex::encode(Sha256::digest(&big)),
        "stored in LFS"
    );
    assert_eq!(raw(&alice, "alice/m", "weights/big.txt").await, big);
    assert_eq!(raw(&alice, "alice/m", "README.md").await, readme);

    // Another user may not upload onto the branch (the page offers them a
    // pull request instead: tests/tests/ui_community.rs).
    let bob = signed_up(&hub, "bob").await;
    let (status, html) = bob.get("/alice/m/upload/main").await;
    assert_eq!(status, 200);
    assert!(html.contains("name=\"create_pr\" value=\"1\""));
    let bob_csrf = bob.csrf().await;
    let (status, _) = upload(&bob, "/alice/m", &[("x.txt", b"x")], Some(&bob_csrf), 0).await;
    assert_eq!(status, 403);
    // Anonymous visitors are sent to log in; an unknown branch is not found.
    let anon = Browser::new(&hub.url);
    let r = anon
        .client
        .get(anon.url("/alice/m/upload/main"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login?next=%2Falice%2Fm%2Fupload%2Fmain"
    );
    assert_eq!(alice.get("/alice/m/upload/nope").await.0, 404);

    // Datasets live under /datasets/.
    alice.create_repo("alice", "d", "dataset", false).await;
    assert_eq!(alice.get("/datasets/alice/d/upload/main").await.0, 200);
    let (status, _) = upload(
        &alice,
        "/datasets/alice/d",
        &[("train.csv", b"a,b\n1,2\n")],
        Some(&csrf),
        0,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        tree(&alice, "datasets", "alice/d")
            .await
            .iter()
            .any(|f| f.0 == "train.csv")
    );
}

/// Sends the upload page's body for `count` text files of `size` bytes
/// under `folder/`, generated while it is sent (the test holds none of it).
async fn upload_generated(
    b: &Browser,
    csrf: &str,
    repo_path: &str,
    folder: &str,
    count: usize,
    size: usize,
) -> (StatusCode, Value) {
    const CHUNK: usize = 64 * 1024;
    let manifest = serde_json::json!({
        "summary": format!("Upload {folder}"),
        "files": (0..count)
            .map(|i| serde_json::json!({ "path": format!("{folder}/{i}.txt"), "size": size }))
            .collect::<Vec<_>>(),
    });
    let mut first = serde_json::to_vec(&manifest).unwrap();
    first.push(b'\n');
    let folder = folder.to_owned();
    let alphabet: std::sync::Arc<Vec<u8>> = (0..CHUNK + 26)
        .map(|i| b'a' + (i % 26) as u8)
        .collect::<Vec<_>>()
        .into();
    let files = (0..count).flat_map(move |i| {
        // Each file differs from the others by its first line.
        let mut head = format!("{folder} {i}\n").into_bytes();
        head.resize(size.min(CHUNK), b'x');
        let alphabet = alphabet.clone();
        let rest = (head.len()..size).step_by(CHUNK).map(move |at| {
            let from = at % 26;
            alphabet[from..from + CHUNK.min(size - at)].to_vec()
        });
        std::iter::once(head).chain(rest)
    });
    let chunks = std::iter::once(first)
        .chain(files)
        .map(Ok::<_, std::io::Error>);
    let r = b
        .client
        .post(b.url(&format!("{repo_path}/upload/main")))
        .header("x-csrf-token", csrf)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn many_small_files_in_parallel_uploads_keep_the_hub_memory_bounded() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;
    let csrf = alice.csrf().await;

    // Four uploads at once of 20 text files of 10 MiB each (the largest a
    // file may be and stay in git): 800 MiB of bodies, none of it for LFS.
    const FILES: usize = 20;
    const SIZE: usize = 10 * 1024 * 1024;
    let folders: Vec<String> = (0..4).map(|k| format!("u{k}")).collect();
    let uploads = folders
        .iter()
        .map(|folder| upload_generated(&alice, &csrf, "/alice/m", folder, FILES, SIZE));
    for (status, answer) in futures::future::join_all(uploads).await {
        assert_eq!(status, 200, "{answer}");
    }
    let peak = hub.memory_mib("VmHWM");
    eprintln!("the hub's peak resident memory: {peak} MiB");
    assert!(peak < 300, "the hub's peak resident memory was {peak} MiB");

    let files = tree(&alice, "models", "alice/m").await;
    let in_git = files
        .iter()
        .filter(|(path, size, lfs)| path.starts_with('u') && *size == SIZE as u64 && lfs.is_none())
        .count();
    assert_eq!(in_git, 4 * FILES, "every file committed, in git");
    let sample = raw(&alice, "alice/m", "u3/7.txt").await;
    assert!(sample.starts_with(b"u3 7\nxx") && sample.len() == SIZE);
    // The spool is unnamed: nothing is left in the data dir's tmp.
    let spool = hub.data_dir.join("tmp").join("uploads");
    assert_eq!(std::fs::read_dir(spool).unwrap().count(), 0);
}

#[tokio::test]
async fn an_upload_is_bounded_by_its_manifest() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;
    let csrf = alice.csrf().await;
    let send = |body: Vec<u8>| {
        alice
            .client
            .post(alice.url("/alice/m/upload/main"))
            .header("x-csrf-token", &csrf)
            .header("accept-language", "en")
            .body(body)
            .send()
    };
    let manifest = |files: Value| {
        let mut line =
            serde_json::to_vec(&serde_json::json!({ "summary": "s", "files": files })).unwrap();
        line.push(b'\n');
        line
    };

    // A first line longer than a manifest may be: too large, read no further.
    let r = send(vec![b' '; 1024 * 1024 + 1]).await.unwrap();
    assert_eq!(r.status(), 413);
    // More declared than an upload may carry: refused before any file is read.
    let mut body = manifest(serde_json::json!([
        { "path": "a.bin", "size": 40u64 << 30 },
        { "path": "b.bin", "size": 40u64 << 30 },
    ]));
    body.extend_from_slice(b"some bytes");
    let r = send(body).await.unwrap();
    assert_eq!(r.status(), 413);
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("GiB per upload"),
        "{answer}"
    );
    // More bytes than declared, or the same path twice: refused.
    let mut body = manifest(serde_json::json!([{ "path": "a.txt", "size": 2 }]));
    body.extend_from_slice(b"abc");
    assert_eq!(send(body).await.unwrap().status(), 400);
    let mut body = manifest(serde_json::json!([
        { "path": "a.txt", "size": 1 },
        { "path": "./a.txt", "size": 1 },
    ]));
    body.extend_from_slice(b"ab");
    assert_eq!(send(body).await.unwrap().status(), 400);
    // Nothing was committed.
    assert_eq!(tree(&alice, "models", "alice/m").await.len(), 1);
}

#[tokio::test]
async fn new_edit_and_delete_a_file() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;

    let (status, html) = alice.get("/alice/m/new/main").await;
    assert_eq!(status, 200);
    assert!(html.contains("name=\"path\"") && html.contains("<textarea name=\"content\""));
    assert_safe_page(&html);
    let r = alice
        .post(
            "/alice/m/new/main",
            &[
                ("path", "notes/a.md"),
                ("content", "line one\r\nline two\r\n"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/alice/m/blob/main/notes/a.md");
    assert_eq!(
        raw(&alice, "alice/m", "notes/a.md").await,
        b"line one\nline two\n",
        "CRLF from the textarea is stored as LF"
    );
    // Creating it again is refused with the form kept.
    let r = alice
        .post(
            "/alice/m/new/main",
            &[("path", "notes/a.md"), ("content", "again")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("already exists") && html.contains(">again</textarea>"));
    // Without a valid CSRF token: refused, nothing written.
    let r = alice
        .client
        .post(alice.url("/alice/m/new/main"))
        .form(&[("csrf", "forged"), ("path", "b.md"), ("content", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Edit: the editor shows the text (escaped), saving commits the change.
    let (status, html) = alice.get("/alice/m/edit/main/notes/a.md").await;
    assert_eq!(status, 200);
    assert!(html.contains("line one\nline two\n</textarea>"));
    let r = alice
        .post(
            "/alice/m/edit/main/notes/a.md",
            &[("content", "<b>new</b>\n"), ("summary", "Edit notes")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(raw(&alice, "alice/m", "notes/a.md").await, b"<b>new</b>\n");
    let (_, html) = alice.get("/alice/m/edit/main/notes/a.md").await;
    assert!(
        !html.contains("<b>new") && is_escaped(&html, "<b>new</b>"),
        "escaped in the editor"
    );
    let commits: Vec<Value> = alice
        .client
        .get(alice.url("/api/models/alice/m/commits/main"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(commits[0]["title"], "Edit notes");
    // LFS files and missing files cannot be opened in the editor.
    assert_eq!(alice.get("/alice/m/edit/main/nope.md").await.0, 404);

    // Delete: a confirmation page, then the commit.
    let (status, html) = alice.get("/alice/m/delete/main/notes/a.md").await;
    assert_eq!(status, 200);
    assert!(html.contains("notes/a.md") && html.contains("class=\"danger\""));
    let r = alice.post("/alice/m/delete/main/notes/a.md", &[]).await;
    assert_eq!(r.status(), 303);
    assert!(
        !tree(&alice, "models", "alice/m")
            .await
            .iter()
            .any(|f| f.0 == "notes/a.md")
    );

    // Writers get the editing links on the files pages; readers do not.
    let (_, html) = alice.get("/alice/m/tree/main").await;
    assert!(
        html.contains("href=\"/alice/m/upload/main\"")
            && html.contains("href=\"/alice/m/new/main\"")
    );
    let (_, html) = alice.get("/alice/m/blob/main/.gitattributes").await;
    assert!(html.contains("href=\"/alice/m/edit/main/.gitattributes\""));
    assert!(html.contains("href=\"/alice/m/delete/main/.gitattributes\""));

    // Other users: the editor proposes their change as a pull request
    // (tests/tests/ui_community.rs); deleting stays the writers'.
    let bob = signed_up(&hub, "bob").await;
    for path in ["/alice/m/new/main", "/alice/m/edit/main/.gitattributes"] {
        let (status, html) = bob.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains("name=\"create_pr\" value=\"1\""), "{path}");
    }
    assert_eq!(bob.get("/alice/m/delete/main/.gitattributes").await.0, 404);
    let r = bob.post("/alice/m/delete/main/.gitattributes", &[]).await;
    assert_eq!(r.status(), 404);
    let (_, html) = bob.get("/alice/m/blob/main/.gitattributes").await;
    assert!(!html.contains("/alice/m/delete/"));
    // Anonymous visitors are sent to log in first.
    let anonymous = tests::browser::Browser::new(&hub.url);
    let r = anonymous
        .client
        .get(anonymous.url("/alice/m/edit/main/.gitattributes"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn repo_settings_are_for_admins_only() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    let bob = signed_up(&hub, "bob").await;
    let anon = Browser::new(&hub.url);
    alice.create_repo("alice", "m", "model", false).await;

    let (status, html) = alice.get("/alice/m/settings").await;
    assert_eq!(status, 200);
    for part in [
        "/alice/m/settings/visibility",
        "/alice/m/settings/rename",
        "/alice/m/settings/delete",
        "name=\"confirm\"",
    ] {
        assert!(html.contains(part), "{part}");
    }
    assert_safe_page(&html);
    assert_eq!(bob.get("/alice/m/settings").await.0, 404);
    assert_eq!(anon.get("/alice/m/settings").await.0, 404);
    let r = bob
        .post("/alice/m/settings/visibility", &[("visibility", "private")])
        .await;
    assert_eq!(r.status(), 404);

    // Private: outsiders no longer see it anywhere.
    let r = alice
        .post("/alice/m/settings/visibility", &[("visibility", "private")])
        .await;
    assert_eq!(r.status(), 303);
    // Back on the settings page, which says the change was saved.
    assert_eq!(r.headers()["location"], "/alice/m/settings?saved=1");
    let (_, html) = alice.get("/alice/m/settings?saved=1").await;
    assert!(
        html.contains("<p class=\"notice\" role=\"status\">Saved.</p>"),
        "{html}"
    );
    assert!(!alice.get("/alice/m/settings").await.1.contains("Saved."));
    assert_eq!(bob.get("/alice/m").await.0, 404);
    assert_eq!(anon.get("/alice/m").await.0, 404);
    assert_eq!(alice.get("/alice/m").await.0, 200);
    let (_, profile) = bob.get("/alice").await;
    assert!(
        !profile.contains("alice/m"),
        "private repo hidden on the profile"
    );
    let (_, profile) = alice.get("/alice").await;
    assert!(profile.contains("alice/m"), "the owner sees it");

    // Rename: the old URL redirects to the new one.
    let r = alice
        .post(
            "/alice/m/settings/rename",
            &[("owner", "alice"), ("name", "m2")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/alice/m2");
    let r = alice
        .client
        .get(alice.url("/alice/m"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/alice/m2");
    let r = alice
        .post(
            "/alice/m2/settings/rename",
            &[("owner", "alice"), ("name", "bad name")],
        )
        .await;
    assert_eq!(r.status(), 422);

    // Delete needs the full name typed in.
    let r = alice
        .post("/alice/m2/settings/delete", &[("confirm", "m2")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("does not match"));
    assert_eq!(alice.get("/alice/m2").await.0, 200);
    let r = alice
        .post("/alice/m2/settings/delete", &[("confirm", "alice/m2")])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(alice.get("/alice/m2").await.0, 404);
}

#[tokio::test]
async fn profiles_organisations_and_members() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    let bob = signed_up(&hub, "bob").await;
    let carol = signed_up(&hub, "carol").await;
    alice
        .create_repo("alice", "public-model", "model", false)
        .await;
    alice.create_repo("alice", "secret", "dataset", true).await;

    let (status, html) = carol.get("/alice").await;
    assert_eq!(status, 200);
    assert!(html.contains("/alice/public-model") && !html.contains("secret"));
    assert_safe_page(&html);
    let (_, html) = alice.get("/alice").await;
    assert!(html.contains("/datasets/alice/secret") && html.contains("/organizations/new"));
    assert_eq!(carol.get("/nobody-here").await.0, 404);

    // Create an org through the form; its creator is its admin.
    let (status, html) = alice.get("/organizations/new").await;
    assert_eq!(status, 200);
    assert_safe_page(&html);
    let r = alice
        .post(
            "/organizations/new",
            &[("name", "acme"), ("full_name", "Acme 研究院")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/acme");
    let r = alice
        .post("/organizations/new", &[("name", "acme"), ("full_name", "")])
        .await;
    assert_eq!(r.status(), 422, "name taken");
    alice.create_repo("acme", "org-model", "model", false).await;
    alice
        .create_repo("acme", "org-private", "model", true)
        .await;

    let (_, html) = alice.get("/organizations/acme/members").await;
    assert!(
        html.contains("Add member") && html.contains("/organizations/acme/members/alice/remove")
    );
    assert_safe_page(&html);
    let r = alice
        .post(
            "/organizations/acme/members",
            &[("username", "bob"), ("role", "write")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = alice
        .post(
            "/organizations/acme/members",
            &[("username", "nobody"), ("role", "write")],
        )
        .await;
    assert_eq!(r.status(), 422);
    // The last admin cannot leave.
    let r = alice
        .post("/organizations/acme/members/alice/remove", &[])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least one admin"));

    // Bob (write) sees members but no admin forms, and the private repo.
    let (status, html) = bob.get("/organizations/acme/members").await;
    assert_eq!(status, 200);
    assert!(html.contains(">bob</a>") && !html.contains("Add member"));
    let r = bob
        .post(
            "/organizations/acme/members",
            &[("username", "carol"), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let (_, html) = bob.get("/acme").await;
    assert!(html.contains("Acme 研究院") && html.contains("acme/org-private"));
    // Carol: the org profile without private repos or members; no members page.
    let (_, html) = carol.get("/acme").await;
    assert!(html.contains("acme/org-model") && !html.contains("org-private"));
    assert!(!html.contains(">bob</a>"));
    assert_eq!(carol.get("/organizations/acme/members").await.0, 404);

    // Removing bob takes the private repo away from him.
    let r = alice
        .post("/organizations/acme/members/bob/remove", &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(bob.get("/acme/org-private").await.0, 404);
}

#[tokio::test]
async fn account_settings_tokens_and_likes() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    let anon = Browser::new(&hub.url);

    let (status, html) = alice.get("/settings/profile").await;
    assert_eq!(status, 200);
    assert!(html.contains("name=\"full_name\"") && html.contains("name=\"current\""));
    assert_safe_page(&html);
    let r = anon
        .client
        .get(anon.url("/settings/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = alice
        .post(
            "/settings/profile",
            &[("full_name", "Alice <Liddell> 爱丽丝")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, html) = anon.get("/alice").await;
    assert!(
        !html.contains("<Liddell>") && is_escaped(&html, "Alice <Liddell> 爱丽丝"),
        "escaped"
    );

    // Password change: needs the current password; ends other sessions.
    let other = Browser::new(&hub.url);
    let r = other
        .client
        .post(other.url("/login"))
        .form(&[("login", "alice"), ("password", "long-enough")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = alice
        .post(
            "/settings/password",
            &[("current", "wrong-password"), ("new", "a-new-password")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("current password is wrong")
    );
    let r = alice
        .post(
            "/settings/password",
            &[("current", "long-enough"), ("new", "a-new-password")],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        alice.get("/settings/profile").await.0,
        200,
        "still signed in here"
    );
    let r = other
        .client
        .get(other.url("/settings/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the other session ended");
    let r = other
        .client
        .post(other.url("/login"))
        .form(&[("login", "alice"), ("password", "a-new-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // Tokens: created with a scope, shown once with a copy button, revocable.
    let r = alice
        .post("/settings/tokens", &[("name", "ci"), ("role", "read")])
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("data-copy=\"new-token\"") && html.contains("/static/copy.js"));
    assert_safe_page(&html);
    let at = html.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
    let secret = html[at..].split('<').next().unwrap().to_owned();
    let whoami = |token: String| {
        let url = alice.url("/api/whoami-v2");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(whoami(secret.clone()).await, 200);
    let (_, listing) = alice.get("/settings/tokens").await;
    assert!(!listing.contains(&secret), "shown once only");
    assert!(listing.contains(">Read</td>"));
    let at = listing.find("/settings/tokens/").unwrap() + "/settings/tokens/".len();
    let id = listing[at..].split('/').next().unwrap().to_owned();
    let r = alice
        .post(&format!("/settings/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(whoami(secret).await, 401);
    let r = alice
        .post("/settings/tokens", &[("name", "x"), ("role", "admin")])
        .await;
    assert_eq!(r.status(), 400, "only read or write");

    // Likes: a toggle; anonymous visitors cannot like.
    alice.create_repo("alice", "m", "model", false).await;
    let likes = |b: &Browser| {
        let url = b.url("/api/models/alice/m");
        let client = b.client.clone();
        async move {
            let info: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            info["likes"].as_i64().unwrap()
        }
    };
    let (_, html) = alice.get("/alice/m").await;
    assert!(html.contains("action=\"/alice/m/like\"") && html.contains("aria-pressed=\"false\""));
    let r = alice.post("/alice/m/like", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(likes(&alice).await, 1);
    let (_, html) = alice.get("/alice/m").await;
    assert!(
        html.contains("aria-pressed=\"true\""),
        "the button shows the like"
    );
    let (_, html) = anon.get("/alice/m").await;
    assert!(
        !html.contains("/alice/m/like"),
        "anonymous visitors get a log-in link"
    );
    let r = alice.post("/alice/m/like", &[]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(likes(&alice).await, 0);
    let r = anon
        .client
        .post(anon.url("/alice/m/like"))
        .form(&[("csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(likes(&alice).await, 0);
}

#[tokio::test]
async fn language_switch_is_remembered() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    let zh = |path: &'static str| {
        let client = alice.client.clone();
        let url = alice.url(path);
        async move {
            client
                .get(url)
                .header("accept-language", "zh-CN")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert!(zh("/settings/profile").await.contains("账号设置"));
    let r = alice
        .client
        .get(alice.url("/lang/en?next=/settings/profile"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/settings/profile");
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("lang=en") && cookie.contains("Max-Age=31536000"));
    // The cookie wins over Accept-Language on every page afterwards.
    for page in [
        "/settings/profile",
        "/organizations/new",
        "/alice",
        "/settings/tokens",
    ] {
        let html = zh(page).await;
        assert!(html.contains("lang=\"en\""), "{page}");
        assert!(
            html.contains("/lang/zh?next="),
            "{page} links back to Chinese"
        );
    }
    alice
        .client
        .get(alice.url("/lang/zh?next=/"))
        .send()
        .await
        .unwrap();
    let html = zh("/organizations/new").await;
    assert!(html.contains("新建组织") && html.contains("lang=\"zh-CN\""));
    // Only local paths are followed.
    let r = alice
        .client
        .get(alice.url("/lang/en?next=//evil.example/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");
}

/// Issue 13 (no dead ends): a URL that only takes form posts, opened
/// directly (a bookmark, a retyped address), sends the browser to the page
/// with its form instead of a bare 405; nothing is changed by the GET.
#[tokio::test]
async fn form_only_urls_opened_directly_go_to_their_form() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;
    alice.create_repo("alice", "d", "dataset", false).await;
    for (url, form) in [
        ("/logout", "/"),
        ("/settings/password", "/settings/profile"),
        ("/alice/m/like", "/alice/m"),
        ("/alice/m/settings/delete", "/alice/m/settings"),
        ("/alice/m/settings/rename", "/alice/m/settings"),
        (
            "/datasets/alice/d/settings/visibility",
            "/datasets/alice/d/settings",
        ),
    ] {
        let r = alice
            .request(reqwest::Method::GET, url)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{url}");
        assert_eq!(r.headers()["location"], form, "{url}");
    }
    // Still signed in, the repo still there and not liked.
    let (status, html) = alice.get("/alice/m").await;
    assert_eq!(status, 200);
    assert!(html.contains("aria-pressed=\"false\""), "{html}");
}

/// Issue 13: revoking a token and removing a member, one click each
/// before, now ask first on a page of their own; "cancel" goes back and
/// changes nothing, the page's button does it.
#[tokio::test]
async fn revoking_a_token_and_removing_a_member_ask_first() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    let _bob = signed_up(&hub, "bob").await;
    let r = alice
        .post("/settings/tokens", &[("name", "ci-bot"), ("role", "read")])
        .await;
    assert!(
        r.status().is_success() || r.status() == 303,
        "{}",
        r.status()
    );
    let (_, list) = alice.get("/settings/tokens").await;
    let at = list.find("/settings/tokens/").expect("a revoke link");
    let link: String = list[at..].split('"').next().unwrap().to_owned();
    assert!(link.ends_with("/revoke"), "{link}");
    assert!(
        !list.contains(&format!("action=\"{link}\"")),
        "no one-click revoke"
    );
    let (status, confirm) = alice.get(&link).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Revoke the token “ci-bot”?"), "{confirm}");
    assert!(confirm.contains(&format!("<form method=\"post\" action=\"{link}\"")));
    assert!(
        confirm.contains("href=\"/settings/tokens\""),
        "cancel goes back"
    );
    assert_eq!(alice.post(&link, &[]).await.status(), 303);
    assert!(
        !alice.get("/settings/tokens").await.1.contains(&link),
        "revoked"
    );
    assert_eq!(alice.get("/settings/tokens/999999/revoke").await.0, 404);

    alice.post("/organizations/new", &[("name", "lab")]).await;
    let r = alice
        .post(
            "/organizations/lab/members",
            &[("username", "bob"), ("role", "read")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, members) = alice.get("/organizations/lab/members").await;
    assert!(
        members.contains("href=\"/organizations/lab/members/bob/remove\""),
        "{members}"
    );
    let (status, confirm) = alice.get("/organizations/lab/members/bob/remove").await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains("Remove bob from the organisation lab?"),
        "{confirm}"
    );
    assert!(
        alice
            .get("/organizations/lab/members")
            .await
            .1
            .contains(">bob<"),
        "not yet removed"
    );
    assert_eq!(
        alice
            .post("/organizations/lab/members/bob/remove", &[])
            .await
            .status(),
        303
    );
    assert!(
        !alice
            .get("/organizations/lab/members")
            .await
            .1
            .contains(">bob<")
    );
    let anon = Browser::new(&hub.url);
    let r = anon
        .request(
            reqwest::Method::GET,
            "/organizations/lab/members/bob/remove",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

/// The message of a page's error box (`<p class="error" role="alert">`).
fn alert_of(html: &str) -> String {
    let start = html
        .find("<p class=\"error\" role=\"alert\">")
        .unwrap_or_else(|| panic!("no error box: {html}"));
    let text = &html[start..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</p>").unwrap()];
    text.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// A server message as a Chinese visitor reads it: some Chinese, and no
/// Latin letter once what the visitor typed is taken out.
fn assert_chinese(message: &str, typed: &[&str]) {
    let mut rest = message.to_owned();
    for t in typed {
        rest = rest.replace(t, "");
    }
    assert!(
        rest.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "not Chinese: {message:?}"
    );
    assert!(
        !rest.chars().any(|c| c.is_ascii_alphabetic()),
        "Latin script in a Chinese page's message: {message:?}"
    );
}

/// A visitor who chose Chinese meets every server message of sign-up, new
/// repo, organisations, upload and edit in Chinese (issue 13).
#[tokio::test]
async fn a_chinese_visitor_meets_server_messages_in_chinese() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    let visitor = Browser::new(&hub.url);
    // The language switch sets the `lang` cookie, which wins over the
    // browser's Accept-Language (the harness sends `en`).
    let (status, _) = visitor.get("/lang/zh?next=/").await;
    assert_eq!(status, 303);
    let (_, _) = alice.get("/lang/zh?next=/").await;

    // Sign-up: each refusal in Chinese, the form kept.
    let password = tests::browser::PASSWORD;
    for (name, email, pass) in [
        ("alice", "other@example.com", password),
        ("bob", "alice@example.com", password),
        ("bob", "bob@example.com", "short"),
        ("bad_name", "bob@example.com", password),
        ("-bob", "bob@example.com", password),
        ("admin", "bob@example.com", password),
        ("bob", "not-an-email", password),
    ] {
        let r = visitor
            .submit(
                "/signup",
                "/signup",
                &[("username", name), ("email", email), ("password", pass)],
            )
            .await;
        assert_eq!(r.status(), 422, "sign-up of {name}");
        let message = alert_of(&r.text().await.unwrap());
        assert_chinese(&message, &[name]);
    }

    // New repo: a name in use, bad names.
    alice.create_repo("alice", "m", "model", false).await;
    for name in ["m", "bad..name", "bad name", "x.git"] {
        let r = alice
            .post(
                "/new",
                &[("owner", "alice"), ("name", name), ("repo_type", "model")],
            )
            .await;
        assert_eq!(r.status(), 422, "new repo {name}");
        let message = alert_of(&r.text().await.unwrap());
        // The rule quotes the suffix the name was typed with.
        assert_chinese(&message, &["alice/m", ".git"]);
    }

    // Organisations: a name in use, an unknown user, the last admin.
    let r = alice.post("/organizations/new", &[("name", "acme")]).await;
    assert_eq!(r.status(), 303);
    for name in ["acme", "alice", "org!"] {
        let r = alice.post("/organizations/new", &[("name", name)]).await;
        assert_eq!(r.status(), 422, "new org {name}");
        assert_chinese(&alert_of(&r.text().await.unwrap()), &[name]);
    }
    for (user, role) in [("nobody", "read"), ("alice", "read")] {
        let r = alice
            .post(
                "/organizations/acme/members",
                &[("username", user), ("role", role)],
            )
            .await;
        assert_eq!(r.status(), 422, "member {user}");
        assert_chinese(&alert_of(&r.text().await.unwrap()), &[user]);
    }
    // The organisation's page names the visitor's role in Chinese.
    let (_, html) = alice.get("/acme").await;
    assert!(
        html.contains("<span class=\"chip\">管理员</span>"),
        "{html}"
    );

    // Upload: the page's script shows the server's message as it comes.
    let csrf = alice.csrf().await;
    for (manifest, typed) in [
        (serde_json::json!({"summary": "上传", "files": []}), ""),
        (
            serde_json::json!({"summary": "上传", "files": [{"path": "../数据", "size": 1}]}),
            "\"../数据\"",
        ),
    ] {
        let mut body = serde_json::to_vec(&manifest).unwrap();
        body.extend_from_slice(b"\nx");
        let r = alice
            .client
            .post(alice.url("/alice/m/upload/main"))
            .header("x-csrf-token", &csrf)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let answer: Value = r.json().await.unwrap();
        assert_chinese(answer["error"].as_str().unwrap(), &[typed]);
    }

    // Edit: a file that exists, a path that may not be written.
    let r = alice
        .post(
            "/alice/m/new/main",
            &[("path", "说明.txt"), ("content", "一")],
        )
        .await;
    assert_eq!(r.status(), 303);
    for path in ["说明.txt", "../钩子"] {
        let r = alice
            .post("/alice/m/new/main", &[("path", path), ("content", "二")])
            .await;
        assert_eq!(r.status(), 422, "edit {path}");
        let message = alert_of(&r.text().await.unwrap());
        assert_chinese(&message, &[&format!("{path:?}"), path]);
    }

    // The pager and the error page say it in Chinese too.
    let (_, html) = visitor.get("/models").await;
    assert!(html.contains("第 1 页"), "{html}");
}

/// The editor checks a card's front matter as the API's `validate-yaml`
/// does before it commits README.md: broken YAML or a field of the wrong
/// shape is shown in place, the text kept, and nothing is committed.
#[tokio::test]
async fn the_editor_refuses_a_card_with_broken_metadata() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;
    let card = "---\nlicense: mit\n---\n# M\n";
    let r = alice
        .post(
            "/alice/m/new/main",
            &[("path", "README.md"), ("content", card)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let commits = |b: Browser| async move {
        let r = b
            .client
            .get(b.url("/api/models/alice/m/commits/main"))
            .send()
            .await
            .unwrap();
        r.json::<Vec<Value>>().await.unwrap().len()
    };
    let before = commits(alice.clone()).await;
    for (content, expected) in [
        (
            "---\nlicense: mit\ntags: [a\n---\n# M\n",
            "The metadata is not valid YAML (line",
        ),
        (
            "---\nlicense: {name: mit}\n---\n# M\n",
            "“license” must be a string.",
        ),
        (
            "---\nmodel-index: foo\n---\n# M\n",
            "“model-index” must be a list.",
        ),
    ] {
        let r = alice
            .post(
                "/alice/m/edit/main/README.md",
                &[("path", "README.md"), ("content", content)],
            )
            .await;
        assert_eq!(r.status(), 422, "{content}");
        let html = r.text().await.unwrap();
        let alert = alert_of(&html);
        assert!(
            alert
                .replace("&#8220;", "“")
                .replace("&#8221;", "”")
                .contains(expected),
            "{alert}"
        );
        assert!(
            html.contains("model-index") || html.contains("license"),
            "text kept"
        );
    }
    assert_eq!(commits(alice.clone()).await, before, "nothing committed");
    assert_eq!(raw(&alice, "alice/m", "README.md").await, card.as_bytes());
    // In Chinese, the YAML error names its place.
    alice.get("/lang/zh?next=/").await;
    let r = alice
        .post(
            "/alice/m/edit/main/README.md",
            &[
                ("path", "README.md"),
                ("content", "---\nlicense: mit\ntags: [a\n---\n"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let alert = alert_of(&r.text().await.unwrap());
    assert!(alert.contains("元数据的 YAML 格式有误（第"), "{alert}");
    // Other files are not cards: any text goes.
    let r = alice
        .post(
            "/alice/m/new/main",
            &[
                ("path", "docs/README.md"),
                ("content", "---\ntags: [a\n---\n"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
}
