//! Discussions and pull requests (issue 12), end to end: pull requests from
//! users without write access through the commit API and `git push`,
//! merges (clean and conflicting), who may do what, numbering under
//! concurrency, and the visibility of a private repo's discussions.

use serde_json::{Value, json};
use tests::{Api, TestHub, failed, file_op, git, ok};

fn authed(url: &str, token: &str) -> String {
    url.replacen("http://", &format!("http://user:{token}@"), 1)
}

/// A commit through the NDJSON API to `revision` (percent-encoded as the
/// client sends it), optionally asking for a new pull request.
async fn commit_at(
    api: &Api,
    repo: &str,
    revision: &str,
    create_pr: bool,
    ops: &[Value],
) -> (u16, Value) {
    let mut body = json!({ "key": "header", "value": { "summary": "Propose a change", "description": "Why: because." } })
        .to_string();
    for op in ops {
        body.push('\n');
        body.push_str(&op.to_string());
    }
    let revision = revision.replace('/', "%2F");
    let query = if create_pr { "?create_pr=1" } else { "" };
    let resp = api
        .client
        .post(format!(
            "{}/api/models/{repo}/commit/{revision}{query}",
            api.base
        ))
        .bearer_auth(api.token.as_deref().unwrap())
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn sha(api: &Api, repo: &str) -> Value {
    api.get(&format!("/api/models/{repo}")).await.body["sha"].clone()
}

async fn raw(hub: &TestHub, repo: &str, revision: &str, path: &str) -> (u16, String) {
    let revision = revision.replace('/', "%2F");
    let resp = reqwest::get(format!("{}/{repo}/resolve/{revision}/{path}", hub.url))
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// alice owns `alice/m` (with `a.txt`); bob and carol can only read it.
async fn setup() -> (TestHub, Api, Api, Api) {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    let carol = hub.api(Some(&hub.user_with_token("carol")));
    assert_eq!(
        alice.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let r = alice
        .commit(
            "alice/m",
            "a",
            &[file_op("a.txt", b"one\ntwo\nthree\n")],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (hub, alice, bob, carol)
}

#[tokio::test]
async fn a_reader_opens_a_pull_request_and_the_owner_merges_it() {
    let (hub, alice, bob, carol) = setup().await;
    let main_before = sha(&alice, "alice/m").await;

    // bob cannot write to alice/m, but may propose a change to it.
    let (status, _) = commit_at(&bob, "alice/m", "main", false, &[file_op("b.txt", b"b")]).await;
    assert_eq!(status, 403);
    let (status, body) = commit_at(&bob, "alice/m", "main", true, &[file_op("b.txt", b"b")]).await;
    assert_eq!(status, 200, "{body:?}");
    let url = body["pullRequestUrl"].as_str().unwrap();
    assert_eq!(url, format!("{}/alice/m/discussions/1", hub.url));
    assert_eq!(
        sha(&alice, "alice/m").await,
        main_before,
        "main is untouched"
    );
    assert_eq!(
        raw(&hub, "alice/m", "refs/pr/1", "b.txt").await,
        (200, "b".into())
    );

    let pr = alice.get("/api/models/alice/m/discussions/1?diff=1").await;
    assert_eq!(pr.status, 200, "{:?}", pr.body);
    assert_eq!(pr.body["isPullRequest"], true);
    assert_eq!(pr.body["status"], "open");
    assert_eq!(pr.body["title"], "Propose a change");
    assert_eq!(pr.body["author"]["name"], "bob");
    assert_eq!(pr.body["changes"]["base"], "refs/heads/main");
    assert_eq!(pr.body["filesWithConflicts"], json!([]));
    assert!(
        pr.body["diff"].as_str().unwrap().contains("+++ b/b.txt"),
        "{:?}",
        pr.body
    );
    let kinds: Vec<&str> = pr.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["comment", "commit"]);
    assert_eq!(
        pr.body["events"][0]["data"]["latest"]["raw"],
        "Why: because."
    );

    // bob adds to his pull request; carol (a reader too) may not, nor close it.
    let (status, body) = commit_at(
        &bob,
        "alice/m",
        "refs/pr/1",
        false,
        &[file_op("c.txt", b"c")],
    )
    .await;
    assert_eq!(status, 200, "{body:?}");
    assert!(
        body["pullRequestUrl"]
            .as_str()
            .unwrap()
            .ends_with("/discussions/1")
    );
    let (status, _) = commit_at(
        &carol,
        "alice/m",
        "refs/pr/1",
        false,
        &[file_op("d.txt", b"d")],
    )
    .await;
    assert_eq!(status, 403);
    let close = carol
        .post(
            "/api/models/alice/m/discussions/1/status",
            json!({ "status": "closed" }),
        )
        .await;
    assert_eq!(close.status, 403);
    let rename = carol
        .post(
            "/api/models/alice/m/discussions/1/title",
            json!({ "title": "Hijacked" }),
        )
        .await;
    assert_eq!(rename.status, 403);
    // Only writers merge.
    let merge = bob
        .post("/api/models/alice/m/discussions/1/merge", json!(null))
        .await;
    assert_eq!(merge.status, 403);

    // Anyone who reads may comment; the author edits, writers hide.
    let said = carol
        .post(
            "/api/models/alice/m/discussions/1/comment",
            json!({ "comment": "Looks **good**" }),
        )
        .await;
    assert_eq!(said.status, 200, "{:?}", said.body);
    let event = &said.body["newMessage"];
    assert_eq!(
        event["data"]["latest"]["html"].as_str().unwrap().trim(),
        "<p>Looks <strong>good</strong></p>"
    );
    let id = event["id"].as_str().unwrap();
    let edit_path = format!("/api/models/alice/m/discussions/1/comment/{id}/edit");
    assert_eq!(
        bob.post(&edit_path, json!({ "content": "x" })).await.status,
        403
    );
    let edited = carol
        .post(&edit_path, json!({ "content": "Looks fine" }))
        .await;
    assert_eq!(edited.status, 200);
    assert_eq!(edited.body["updatedComment"]["data"]["edited"], true);
    let hide_path = format!("/api/models/alice/m/discussions/1/comment/{id}/hide");
    assert_eq!(carol.post(&hide_path, json!(null)).await.status, 403);
    let hidden = alice.post(&hide_path, json!(null)).await;
    assert_eq!(hidden.status, 200);
    assert_eq!(hidden.body["updatedComment"]["data"]["hidden"], true);
    assert_eq!(hidden.body["updatedComment"]["data"]["latest"]["raw"], "");

    let renamed = bob
        .post(
            "/api/models/alice/m/discussions/1/title",
            json!({ "title": "Add b and c" }),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(
        renamed.body["newTitle"]["data"],
        json!({ "from": "Propose a change", "to": "Add b and c" })
    );

    // The owner merges: main moves forward (main had not moved: a fast-forward).
    let merged = alice
        .post(
            "/api/models/alice/m/discussions/1/merge",
            json!({ "comment": "Thanks!" }),
        )
        .await;
    assert_eq!(merged.status, 200, "{:?}", merged.body);
    assert_eq!(merged.body["status"], "merged");
    let main_after = sha(&alice, "alice/m").await;
    assert_ne!(main_after, main_before);
    assert_eq!(merged.body["mergeCommitId"], main_after);
    assert_eq!(
        raw(&hub, "alice/m", "main", "b.txt").await,
        (200, "b".into())
    );
    assert_eq!(
        raw(&hub, "alice/m", "main", "c.txt").await,
        (200, "c".into())
    );
    let pr = alice.get("/api/models/alice/m/discussions/1").await;
    assert_eq!(pr.body["status"], "merged");
    assert_eq!(pr.body["changes"]["mergeCommitId"], main_after);
    // Merged, it still shows what it changed (now on main).
    let diff = alice.get("/api/models/alice/m/discussions/1?diff=1").await;
    let diff = diff.body["diff"].as_str().unwrap();
    assert!(
        diff.contains("+++ b/b.txt") && diff.contains("+++ b/c.txt"),
        "{diff}"
    );
    let last = pr.body["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["type"].as_str(), &last["data"]),
        (Some("status-change"), &json!({ "status": "merged" }))
    );
    // A merged pull request takes no more commits and does not reopen.
    let (status, _) = commit_at(
        &bob,
        "alice/m",
        "refs/pr/1",
        false,
        &[file_op("e.txt", b"e")],
    )
    .await;
    assert_eq!(status, 403);
    let reopen = bob
        .post(
            "/api/models/alice/m/discussions/1/status",
            json!({ "status": "open" }),
        )
        .await;
    assert_eq!(reopen.status, 409);

    // The refs answer lists the pull request.
    let refs = alice.get("/api/models/alice/m/refs?include_prs=1").await;
    let prs = refs.body["pullRequests"].as_array().unwrap();
    assert_eq!(prs.len(), 1);
    assert_eq!(prs[0]["ref"], "refs/pr/1");
}

#[tokio::test]
async fn merging_moved_branches_and_refusing_conflicts() {
    let (hub, alice, bob, _carol) = setup().await;
    // Two pull requests from bob: one touching a.txt's first line, one another file.
    let (s, _) = commit_at(
        &bob,
        "alice/m",
        "main",
        true,
        &[file_op("a.txt", b"ONE\ntwo\nthree\n")],
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = commit_at(&bob, "alice/m", "main", true, &[file_op("other.txt", b"o")]).await;
    assert_eq!(s, 200);
    // Meanwhile alice changes the same line on main.
    let r = alice
        .commit(
            "alice/m",
            "mine",
            &[file_op("a.txt", b"uno\ntwo\nthree\n")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let main_before = sha(&alice, "alice/m").await;

    let pr = alice.get("/api/models/alice/m/discussions/1?diff=1").await;
    assert_eq!(pr.body["filesWithConflicts"], json!(["a.txt"]));
    let refused = alice
        .post("/api/models/alice/m/discussions/1/merge", json!(null))
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    let message = refused.body["error"].as_str().unwrap();
    assert!(
        message.contains("conflicts") && message.contains("a.txt"),
        "{message}"
    );
    assert_eq!(sha(&alice, "alice/m").await, main_before, "nothing changed");
    assert_eq!(
        alice.get("/api/models/alice/m/discussions/1").await.body["status"],
        "open"
    );

    // The other one merges with a real merge commit (main has moved).
    let merged = alice
        .post("/api/models/alice/m/discussions/2/merge", json!(null))
        .await;
    assert_eq!(merged.status, 200, "{:?}", merged.body);
    let commits = alice.get("/api/models/alice/m/commits/main").await;
    let head = &commits.body[0];
    assert!(
        head["title"]
            .as_str()
            .unwrap()
            .starts_with("Merge pull request #2"),
        "{head:?}"
    );
    // Merged with a merge commit, it shows its own change only, not main's.
    let diff = alice.get("/api/models/alice/m/discussions/2?diff=1").await;
    let diff = diff.body["diff"].as_str().unwrap();
    assert!(
        diff.contains("+++ b/other.txt") && !diff.contains("a.txt"),
        "{diff}"
    );
    assert_eq!(
        raw(&hub, "alice/m", "main", "other.txt").await,
        (200, "o".into())
    );
    assert_eq!(
        raw(&hub, "alice/m", "main", "a.txt").await.1,
        "uno\ntwo\nthree\n"
    );

    // A closed pull request can be reopened by its author.
    let closed = bob
        .post(
            "/api/models/alice/m/discussions/1/status",
            json!({ "status": "closed", "comment": "later" }),
        )
        .await;
    assert_eq!(closed.status, 200, "{:?}", closed.body);
    assert_eq!(closed.body["newStatus"]["data"]["status"], "closed");
    let refused = alice
        .post("/api/models/alice/m/discussions/1/merge", json!(null))
        .await;
    assert_eq!(refused.status, 409);
    let reopened = bob
        .post(
            "/api/models/alice/m/discussions/1/status",
            json!({ "status": "open" }),
        )
        .await;
    assert_eq!(reopened.status, 200);
}

#[tokio::test]
async fn pushing_to_a_pull_request_with_git() {
    let (hub, alice, bob, carol) = setup().await;
    let bob_token = bob.token.clone().unwrap();
    let carol_token = carol.token.clone().unwrap();
    let opened = bob
        .post(
            "/api/models/alice/m/discussions",
            json!({ "title": "Via git", "description": "d", "pullRequest": true }),
        )
        .await;
    assert_eq!(opened.status, 200, "{:?}", opened.body);
    assert_eq!(opened.body["num"], 1);
    assert_eq!(opened.body["status"], "draft");

    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    let url = format!("{}/alice/m.git", hub.url);
    ok(git(
        h,
        work.path(),
        &["clone", &authed(&url, &bob_token), "p"],
    ));
    let p = work.path().join("p");
    std::fs::write(p.join("g.txt"), "from git").unwrap();
    ok(git(h, &p, &["add", "g.txt"]));
    ok(git(h, &p, &["commit", "-m", "Add g"]));
    // Not to main (bob reads only), nor to a pull request that is not there.
    let refused = failed(git(h, &p, &["push", "origin", "HEAD:main"]));
    assert!(refused.contains("write access"), "{refused}");
    let refused = failed(git(h, &p, &["push", "origin", "HEAD:refs/pr/2"]));
    assert!(refused.contains("open the pull request first"), "{refused}");
    ok(git(h, &p, &["push", "origin", "HEAD:refs/pr/1"]));
    assert_eq!(
        raw(&hub, "alice/m", "refs/pr/1", "g.txt").await,
        (200, "from git".into())
    );
    let pr = alice.get("/api/models/alice/m/discussions/1").await;
    let commit = pr.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "commit")
        .cloned()
        .unwrap();
    assert_eq!(commit["data"]["subject"], "Add g");
    assert_eq!(commit["author"]["name"], "bob");

    // carol may not push to bob's pull request, nor delete its ref.
    ok(git(
        h,
        &p,
        &["remote", "set-url", "origin", &authed(&url, &carol_token)],
    ));
    std::fs::write(p.join("h.txt"), "carol").unwrap();
    ok(git(h, &p, &["add", "h.txt"]));
    ok(git(h, &p, &["commit", "-m", "Add h"]));
    let refused = failed(git(h, &p, &["push", "origin", "HEAD:refs/pr/1"]));
    assert!(refused.contains("only its author"), "{refused}");
    ok(git(
        h,
        &p,
        &["remote", "set-url", "origin", &authed(&url, &bob_token)],
    ));
    let refused = failed(git(h, &p, &["push", "origin", ":refs/pr/1"]));
    assert!(refused.contains("cannot be deleted"), "{refused}");
    // A fetch reads the pull request's ref.
    let fetched = ok(git(h, &p, &["ls-remote", "origin", "refs/pr/1"]));
    assert!(fetched.contains("refs/pr/1"), "{fetched}");
    // A read token cannot push at all.
    let read_token = hub.token("bob", false);
    ok(git(
        h,
        &p,
        &["remote", "set-url", "origin", &authed(&url, &read_token)],
    ));
    let refused = failed(git(h, &p, &["push", "origin", "HEAD:refs/pr/1"]));
    assert!(
        refused.contains("403") || refused.contains("read role"),
        "{refused}"
    );
}

#[tokio::test]
async fn numbers_are_unique_under_concurrency_and_listings_filter_and_page() {
    let (_hub, alice, bob, _carol) = setup().await;
    let alice = std::sync::Arc::new(alice);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let api = alice.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({ "title": format!("Question {i}"), "pullRequest": i % 3 == 0 });
            let r = api.post("/api/models/alice/m/discussions", body).await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            r.body["num"].as_i64().unwrap()
        }));
    }
    let mut nums = Vec::new();
    for t in tasks {
        nums.push(t.await.unwrap());
    }
    nums.sort();
    assert_eq!(nums, (1..=12).collect::<Vec<i64>>());
    let by_bob = bob
        .post(
            "/api/models/alice/m/discussions",
            json!({ "title": "From bob" }),
        )
        .await;
    assert_eq!(by_bob.body["num"], 13);

    let list = |q: &'static str| {
        let api = alice.clone();
        async move {
            let r = api
                .get(&format!("/api/models/alice/m/discussions?{q}"))
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
            r.body
        }
    };
    let all = list("p=0").await;
    assert_eq!(
        (all["count"].as_i64(), all["start"].as_i64()),
        (Some(13), Some(0))
    );
    let nums: Vec<i64> = all["discussions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["num"].as_i64().unwrap())
        .collect();
    assert_eq!(nums, (1..=13).rev().collect::<Vec<i64>>(), "newest first");
    assert_eq!(list("type=pull_request").await["count"], 4);
    assert_eq!(list("type=discussion").await["count"], 9);
    assert_eq!(list("author=bob").await["count"], 1);
    assert_eq!(list("author=nobody").await["count"], 0);
    let closed = alice
        .post(
            "/api/models/alice/m/discussions/13/status",
            json!({ "status": "closed" }),
        )
        .await;
    assert_eq!(closed.status, 200);
    assert_eq!(list("status=closed").await["count"], 1);
    assert_eq!(list("status=open").await["count"], 12);
    let page = list("p=1").await;
    assert_eq!(
        (
            page["start"].as_i64(),
            page["discussions"].as_array().unwrap().len()
        ),
        (Some(50), 0)
    );
    assert_eq!(
        alice
            .get("/api/models/alice/m/discussions?status=nope")
            .await
            .status,
        400
    );
    // Bounded inputs.
    let long = alice
        .post(
            "/api/models/alice/m/discussions",
            json!({ "title": "x".repeat(201) }),
        )
        .await;
    assert_eq!(long.status, 400);
    let huge = alice
        .post(
            "/api/models/alice/m/discussions/1/comment",
            json!({ "comment": "x".repeat(64 * 1024 + 1) }),
        )
        .await;
    assert_eq!(huge.status, 413);
}

#[tokio::test]
async fn a_private_repos_discussions_are_invisible_to_outsiders() {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    assert_eq!(
        alice
            .create_repo("model", "alice", "secret", true)
            .await
            .status,
        200
    );
    let opened = alice
        .post(
            "/api/models/alice/secret/discussions",
            json!({ "title": "Internal" }),
        )
        .await;
    assert_eq!(opened.status, 200);
    for path in [
        "/api/models/alice/secret/discussions",
        "/api/models/alice/secret/discussions/1",
    ] {
        let r = bob.get(path).await;
        assert_eq!(
            (r.status, r.error_code()),
            (404, Some("RepoNotFound")),
            "{path}"
        );
        let r = hub.api(None).get(path).await;
        assert_eq!(
            (r.status, r.error_code()),
            (401, Some("RepoNotFound")),
            "{path}"
        );
    }
    let r = bob
        .post(
            "/api/models/alice/secret/discussions/1/comment",
            json!({ "comment": "hi" }),
        )
        .await;
    assert_eq!((r.status, r.error_code()), (404, Some("RepoNotFound")));
    // Anonymous callers may read a public repo's discussions but not write.
    assert_eq!(
        alice
            .create_repo("model", "alice", "pub", false)
            .await
            .status,
        200
    );
    let anon = hub.api(None);
    assert_eq!(
        anon.get("/api/models/alice/pub/discussions").await.status,
        200
    );
    assert_eq!(
        anon.post(
            "/api/models/alice/pub/discussions",
            json!({ "title": "Hello" })
        )
        .await
        .status,
        401
    );
    // A read token may read but not take part.
    let reader = hub.api(Some(&hub.token("bob", false)));
    assert_eq!(
        reader
            .post(
                "/api/models/alice/pub/discussions",
                json!({ "title": "Hello" })
            )
            .await
            .status,
        403
    );
}

/// An LFS batch upload request for one made-up object, to `git_ref` if any.
fn lfs_upload(git_ref: Option<&str>) -> Value {
    let mut body = json!({
        "operation": "upload",
        "transfers": ["basic"],
        "objects": [{ "oid": "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393", "size": 5 }],
        "hash_algo": "sha256",
    });
    if let Some(name) = git_ref {
        body["ref"] = json!({ "name": name });
    }
    body
}

#[tokio::test]
async fn a_reader_pushes_large_files_to_a_pull_request_through_git_lfs() {
    let (hub, _alice, bob, carol) = setup().await;
    let bob_token = bob.token.clone().unwrap();
    let opened = bob
        .post(
            "/api/models/alice/m/discussions",
            json!({ "title": "Weights via git", "description": "d", "pullRequest": true }),
        )
        .await;
    assert_eq!(opened.status, 200, "{:?}", opened.body);

    // The batch API: a reader uploads for their own pull request (or a new
    // one, named by no ref), never for a branch, a tag or another's pull request.
    let batch = "/alice/m.git/info/lfs/objects/batch";
    for (who, git_ref, status) in [
        (&bob, Some("refs/pr/1"), 200),
        (&bob, None, 200),
        (&bob, Some("refs/heads/main"), 403),
        (&bob, Some("main"), 403),
        (&bob, Some("refs/tags/v1"), 403),
        (&bob, Some("refs/pr/2"), 404),
        (&carol, Some("refs/pr/1"), 403),
    ] {
        let answer = who.post(batch, lfs_upload(git_ref)).await;
        assert_eq!(answer.status, status, "{git_ref:?}: {:?}", answer.body);
    }
    let read_only = hub.api(Some(&hub.token("bob", false)));
    assert_eq!(
        read_only
            .post(batch, lfs_upload(Some("refs/pr/1")))
            .await
            .status,
        403
    );

    // With git and git-lfs: the pre-push hook uploads the objects for refs/pr/1.
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(git(h, h, &["lfs", "install", "--skip-repo"]));
    let url = format!("{}/alice/m.git", hub.url);
    ok(git(
        h,
        work.path(),
        &["clone", &authed(&url, &bob_token), "p"],
    ));
    let p = work.path().join("p");
    let weights: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(p.join("w.bin"), &weights).unwrap();
    ok(git(h, &p, &["add", "w.bin"]));
    ok(git(h, &p, &["commit", "-m", "Add weights"]));
    let pointer = ok(git(h, &p, &["show", "HEAD:w.bin"]));
    assert!(pointer.starts_with("version https://git-lfs"), "{pointer}");
    let refused = failed(git(h, &p, &["push", "origin", "HEAD:main"]));
    assert!(refused.contains("write access"), "{refused}");
    ok(git(h, &p, &["push", "origin", "HEAD:refs/pr/1"]));
    let resp = reqwest::get(format!("{}/alice/m/resolve/refs%2Fpr%2F1/w.bin", hub.url))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), weights.as_slice());

    // carol's objects for bob's pull request are refused at the batch API
    // (git-lfs names the pushed ref): none reaches the repo.
    let carol_token = carol.token.clone().unwrap();
    ok(git(
        h,
        &p,
        &["remote", "set-url", "origin", &authed(&url, &carol_token)],
    ));
    let hers: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 241) as u8).collect();
    std::fs::write(p.join("c.bin"), &hers).unwrap();
    ok(git(h, &p, &["add", "c.bin"]));
    ok(git(h, &p, &["commit", "-m", "Add hers"]));
    let refused = failed(git(h, &p, &["push", "origin", "HEAD:refs/pr/1"]));
    assert!(refused.contains("only its author"), "{refused}");
    let oid = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&hers));
    let download = json!({
        "operation": "download",
        "objects": [{ "oid": oid, "size": hers.len() }],
    });
    let answer = bob.post(batch, download).await;
    assert_eq!(
        answer.body["objects"][0]["error"]["code"], 404,
        "{:?}",
        answer.body
    );
}
