//! The Community tab as a browser uses it: a user who cannot write to a
//! repo proposes a change from the web editor (a pull request), the owner
//! sees it counted on the repo page, reviews its diff and merges it; a
//! discussion is opened, commented (markdown sanitized like cards), closed
//! and found again with the filters; a private repo's community is as
//! invisible as the repo.

use reqwest::StatusCode;
use tests::TestHub;
use tests::browser::Browser;

async fn signed_up(hub: &TestHub, name: &str) -> Browser {
    let b = Browser::new(&hub.url);
    b.sign_up(name).await;
    b
}

async fn raw(b: &Browser, repo: &str, path: &str) -> String {
    let r = b
        .client
        .get(b.url(&format!("/{repo}/resolve/main/{path}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_pull_request_from_the_editor_is_reviewed_and_merged() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;
    let r = alice
        .post(
            "/alice/m/new/main",
            &[("path", "notes.md"), ("content", "first line\n")],
        )
        .await;
    assert_eq!(r.status(), 303);

    // Bob may not write: the file page offers to propose a change, and the
    // editor says his change opens a pull request.
    let bob = signed_up(&hub, "bob").await;
    let (_, html) = bob.get("/alice/m/blob/main/notes.md").await;
    assert!(
        html.contains("href=\"/alice/m/edit/main/notes.md\""),
        "{html}"
    );
    assert!(!html.contains("/alice/m/delete/"));
    let (status, html) = bob.get("/alice/m/edit/main/notes.md").await;
    assert_eq!(status, 200);
    assert!(html.contains("name=\"create_pr\""), "{html}");
    let r = bob
        .post(
            "/alice/m/edit/main/notes.md",
            &[
                ("content", "first line\nsecond line from bob\n"),
                ("summary", "Add a second line"),
                ("create_pr", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/alice/m/discussions/1");
    // Main is untouched until the owner merges.
    assert_eq!(raw(&bob, "alice/m", "notes.md").await, "first line\n");

    // The owner sees one open discussion on the repo page.
    let (_, html) = alice.get("/alice/m").await;
    assert!(
        html.contains("href=\"/alice/m/discussions\"") && html.contains("class=\"count\""),
        "{html}"
    );
    let (status, html) = alice.get("/alice/m/discussions").await;
    assert_eq!(status, 200);
    assert!(html.contains("Add a second line") && html.contains("/alice/m/discussions/1"));
    // The pull request's page: its commit, its diff, and a merge button for the owner.
    let (status, html) = alice.get("/alice/m/discussions/1").await;
    assert_eq!(status, 200);
    assert!(html.contains("+second line from bob"), "{html}");
    assert!(html.contains("refs/pr/1"));
    assert!(html.contains("/alice/m/discussions/1/merge"));
    // ...which bob, who cannot write, does not get (and cannot post).
    let (_, html) = bob.get("/alice/m/discussions/1").await;
    assert!(!html.contains("/alice/m/discussions/1/merge"));
    let r = bob.post("/alice/m/discussions/1/merge", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(raw(&bob, "alice/m", "notes.md").await, "first line\n");

    let r = alice
        .post("/alice/m/discussions/1/merge", &[("comment", "Thanks!")])
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        raw(&alice, "alice/m", "notes.md").await,
        "first line\nsecond line from bob\n"
    );
    let (_, html) = alice.get("/alice/m/discussions/1").await;
    assert!(html.contains("class=\"chip merged\"") && html.contains("Thanks!"));
    // Merged, its page still shows what it changed.
    assert!(html.contains("+second line from bob"), "{html}");
    assert!(!html.contains("/alice/m/discussions/1/merge\""));
}

#[tokio::test]
async fn discussions_are_opened_commented_closed_and_filtered() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "d", "dataset", false).await;
    let bob = signed_up(&hub, "bob").await;

    // Anonymous visitors read, and are asked to log in to take part.
    let anonymous = Browser::new(&hub.url);
    let (status, _) = anonymous.get("/datasets/alice/d/discussions").await;
    assert_eq!(status, 200);
    let r = anonymous
        .client
        .get(anonymous.url("/datasets/alice/d/discussions/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );

    // A title is required: the form comes back with the error and the text.
    let r = bob
        .post(
            "/datasets/alice/d/discussions/new",
            &[("title", " "), ("description", "kept text")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("kept text"));

    let r = bob
        .post(
            "/datasets/alice/d/discussions/new",
            &[
                ("title", "Where does the data come from?"),
                ("description", "Please document the **source**."),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/datasets/alice/d/discussions/1");
    let r = alice
        .post(
            "/datasets/alice/d/discussions/1/comment",
            &[(
                "comment",
                "From the census <script>alert(1)</script> [x](javascript:alert(1))",
            )],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = anonymous.get("/datasets/alice/d/discussions/1").await;
    assert!(html.contains("<strong>source</strong>") && html.contains("From the census"));
    assert!(!html.contains("<script>alert") && !html.contains("javascript:alert"));
    assert!(html.contains("Log in") || html.contains("登录"));

    // The author closes it; the open list no longer shows it, the closed one does.
    let r = bob
        .post(
            "/datasets/alice/d/discussions/1/status",
            &[("status", "closed")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, open) = bob.get("/datasets/alice/d/discussions").await;
    assert!(!open.contains("Where does the data come from?"));
    let (_, closed) = bob
        .get("/datasets/alice/d/discussions?type=all&status=closed")
        .await;
    assert!(closed.contains("Where does the data come from?"));
    let (_, html) = bob.get("/datasets/alice/d/discussions/1").await;
    assert!(html.contains("class=\"chip closed\""));

    // Another user cannot reopen it; a GET of an action goes to the page.
    let carol = signed_up(&hub, "carol").await;
    let r = carol
        .post(
            "/datasets/alice/d/discussions/1/status",
            &[("status", "open")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = carol
        .client
        .get(carol.url("/datasets/alice/d/discussions/1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/datasets/alice/d/discussions/1");
    assert_eq!(carol.get("/datasets/alice/d/discussions/99").await.0, 404);
    assert_eq!(carol.get("/datasets/alice/d/discussions/x").await.0, 404);
}

#[tokio::test]
async fn a_private_repos_community_is_invisible() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "secret", "model", true).await;
    let r = alice
        .post(
            "/alice/secret/discussions/new",
            &[("title", "Internal note"), ("description", "")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = alice.get("/alice/secret/discussions").await;
    assert!(html.contains("Internal note"));

    let bob = signed_up(&hub, "bob").await;
    for path in [
        "/alice/secret/discussions",
        "/alice/secret/discussions/1",
        "/alice/secret/discussions/new",
    ] {
        let (status, html) = bob.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!html.contains("Internal note"));
    }
    let r = bob
        .post("/alice/secret/discussions/1/comment", &[("comment", "hi")])
        .await;
    assert_eq!(r.status(), 404);
}

/// The id of the event whose text contains `text` (its `id="event-N"`).
fn event_id(html: &str, text: &str) -> String {
    let at = html.find(text).unwrap_or_else(|| panic!("{text}: {html}"));
    let start = html[..at].rfind("id=\"event-").unwrap() + "id=\"event-".len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn comments_are_edited_by_their_author_and_hidden_by_writers() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;
    let bob = signed_up(&hub, "bob").await;
    let r = bob
        .post(
            "/alice/m/discussions/new",
            &[("title", "A question"), ("description", "first draft")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (edit, hide) = ("/alice/m/discussions/1/edit", "/alice/m/discussions/1/hide");

    // Its author may edit the comment (not hide it); the owner may hide it.
    let (_, html) = bob.get("/alice/m/discussions/1").await;
    let id = event_id(&html, "first draft");
    assert!(html.contains(edit) && !html.contains(hide), "{html}");
    let (_, html) = alice.get("/alice/m/discussions/1").await;
    assert!(!html.contains(edit) && html.contains(hide), "{html}");
    let r = alice
        .post(edit, &[("event", &id), ("comment", "not mine")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = bob
        .post(edit, &[("event", &id), ("comment", "second draft")])
        .await;
    assert_eq!(r.status(), 303);
    let (_, html) = bob.get("/alice/m/discussions/1").await;
    assert!(html.contains("second draft") && !html.contains("first draft"));
    assert!(html.contains("edited"));

    let r = bob.post(hide, &[("event", &id)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = alice.post(hide, &[("event", &id)]).await;
    assert_eq!(r.status(), 303);
    // Hidden: the text is gone, and the hiding shows in the history, once.
    let (_, html) = bob.get("/alice/m/discussions/1").await;
    assert!(!html.contains("second draft") && !html.contains(edit));
    assert!(html.contains("This comment has been hidden."));
    assert!(
        html.contains("<strong>alice</strong> hid a comment"),
        "{html}"
    );
    let r = alice.post(hide, &[("event", &id)]).await;
    assert_eq!(r.status(), 303);
    let (_, html) = bob.get("/alice/m/discussions/1").await;
    assert_eq!(html.matches("hid a comment").count(), 1);
}

#[tokio::test]
async fn community_errors_are_in_the_visitors_language() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;
    let bob = signed_up(&hub, "bob").await;
    let r = bob
        .post(
            "/alice/m/discussions/new",
            &[("title", "A question"), ("description", "d")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let carol = signed_up(&hub, "carol").await;
    for b in [&bob, &carol] {
        b.get("/lang/zh-CN").await;
    }
    let r = bob
        .post("/alice/m/discussions/new", &[("title", "ab")])
        .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("标题须为 3 到 200 个字符。"), "{html}");
    let r = carol
        .post("/alice/m/discussions/1/status", &[("status", "closed")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("只有作者或对此仓库有写权限的人才能这样做。"),
        "{html}"
    );
    let r = bob
        .post("/alice/m/discussions/1/comment", &[("comment", " ")])
        .await;
    let html = r.text().await.unwrap();
    assert!(html.contains("评论不能为空。"), "{html}");
}

/// Sends the upload page's streamed body (a manifest line, then the files).
async fn upload(
    b: &Browser,
    repo_path: &str,
    files: &[(&str, &[u8])],
    create_pr: bool,
) -> (StatusCode, serde_json::Value) {
    let (_, html) = b.get(&format!("{repo_path}/upload/main")).await;
    let csrf = tests::browser::csrf_of(&html).expect("the upload page has a CSRF token");
    let manifest = serde_json::json!({
        "summary": "Add files",
        "create_pr": create_pr,
        "files": files.iter().map(|(path, bytes)| serde_json::json!({
            "path": path, "size": bytes.len(),
        })).collect::<Vec<_>>(),
    });
    let mut body = serde_json::to_vec(&manifest).unwrap();
    body.push(b'\n');
    for (_, bytes) in files {
        body.extend_from_slice(bytes);
    }
    let r = b
        .client
        .post(b.url(&format!("{repo_path}/upload/main")))
        .header("x-csrf-token", csrf)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn an_upload_from_someone_who_cannot_write_opens_a_pull_request() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    alice.create_repo("alice", "m", "model", false).await;
    let bob = signed_up(&hub, "bob").await;

    // The files page offers bob an upload as a pull request; the page says so.
    let (_, html) = bob.get("/alice/m/tree/main").await;
    assert!(html.contains("href=\"/alice/m/upload/main\""), "{html}");
    let (status, html) = bob.get("/alice/m/upload/main").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"create_pr\" name=\"create_pr\" value=\"1\""));

    // Straight onto the branch is refused before any file is read, and
    // nothing is written. (A small body: the hub answers without reading
    // the rest, and a large one would still be on its way.)
    let small: &[(&str, &[u8])] = &[("notes.txt", b"from bob\n")];
    let (status, _) = upload(&bob, "/alice/m", small, false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let weights: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let files: &[(&str, &[u8])] = &[("weights.bin", &weights), ("notes.txt", b"from bob\n")];

    let (status, answer) = upload(&bob, "/alice/m", files, true).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["url"], "/alice/m/discussions/1");
    let r = bob
        .client
        .get(bob.url("/alice/m/resolve/main/notes.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "main is untouched");

    let (_, html) = alice.get("/alice/m/discussions/1").await;
    assert!(html.contains("weights.bin") && html.contains("notes.txt"));
    let r = alice.post("/alice/m/discussions/1/merge", &[]).await;
    assert_eq!(r.status(), 303);
    let r = alice
        .client
        .get(alice.url("/alice/m/resolve/main/weights.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), weights);
}
