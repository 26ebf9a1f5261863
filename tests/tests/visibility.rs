//! The one visibility rule over every route family: to a caller who may
//! not see it, a private repo answers exactly as a missing one (status,
//! error code, challenge, body), for reads and writes alike, through the
//! Hugging Face API, the ModelScope API, git, LFS and the pages. The owner,
//! meanwhile, gets something else from each API route (so each route does
//! reach the repo).

use reqwest::Method;
use serde_json::{Value, json};
use tests::{TestHub, file_op};

/// A route: method, path (`{m}` a model repo, `{d}` a dataset repo), body.
type Route = (Method, &'static str, Option<Body>);

#[derive(Clone)]
enum Body {
    Json(Value),
    Ndjson(&'static str),
}

const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn routes() -> Vec<Route> {
    use Method as M;
    let json = |v: Value| Some(Body::Json(v));
    vec![
        // Hugging Face API: reads.
        (M::GET, "/api/models/{m}", None),
        (M::GET, "/api/models/{m}/revision/main", None),
        (M::GET, "/api/models/{m}/tree/main", None),
        (M::GET, "/api/models/{m}/tree/main/sub", None),
        (
            M::POST,
            "/api/models/{m}/paths-info/main",
            json(json!({ "paths": ["config.json"] })),
        ),
        (M::GET, "/api/models/{m}/refs", None),
        (M::GET, "/api/models/{m}/commits/main", None),
        (M::GET, "/api/models/{m}/auth-check", None),
        (M::GET, "/api/models/{m}/discussions", None),
        (M::GET, "/api/models/{m}/discussions/1?diff=1", None),
        (M::GET, "/{m}/resolve/main/config.json", None),
        (M::HEAD, "/{m}/resolve/main/config.json", None),
        (M::GET, "/api/datasets/{d}/tree/main", None),
        (M::GET, "/datasets/{d}/resolve/main/data.csv", None),
        (M::GET, "/api/models/{m}/xet-read-token/main", None),
        // Hugging Face API: writes.
        (M::GET, "/api/models/{m}/auth-check/write", None),
        (M::GET, "/api/models/{m}/xet-write-token/main", None),
        (
            M::POST,
            "/api/models/{m}/preupload/main",
            json(json!({ "files": [] })),
        ),
        (
            M::POST,
            "/api/models/{m}/commit/main",
            Some(Body::Ndjson(
                "{\"key\":\"header\",\"value\":{\"summary\":\"x\"}}\n",
            )),
        ),
        (M::POST, "/api/models/{m}/branch/other", None),
        (M::DELETE, "/api/models/{m}/tag/v1", None),
        (
            M::PUT,
            "/api/models/{m}/settings",
            json(json!({ "private": true })),
        ),
        (M::POST, "/api/models/{m}/like", None),
        (
            M::POST,
            "/api/models/{m}/discussions",
            json(json!({ "title": "A question" })),
        ),
        (
            M::POST,
            "/api/models/{m}/discussions/1/comment",
            json(json!({ "comment": "hi" })),
        ),
        // ModelScope API.
        (M::GET, "/api/v1/models/{m}", None),
        (M::GET, "/api/v1/models/{m}/revisions", None),
        (M::GET, "/api/v1/models/{m}/repo/files", None),
        (M::GET, "/api/v1/models/{m}/repo?FilePath=config.json", None),
        (M::GET, "/api/v1/datasets/{d}", None),
        (M::GET, "/api/v1/datasets/{d}/repo/tree", None),
        (M::GET, "/api/v1/datasets/{d}/repo?FilePath=data.csv", None),
        (
            M::POST,
            "/api/v1/models/{m}/repo/tag",
            json(json!({ "TagName": "v1", "Ref": "master" })),
        ),
        // git and LFS.
        (M::GET, "/{m}.git/info/refs?service=git-upload-pack", None),
        (M::GET, "/{m}/info/refs?service=git-receive-pack", None),
        (
            M::POST,
            "/{m}.git/info/lfs/objects/batch",
            json(json!({ "operation": "download", "objects": [{ "oid": ZEROS, "size": 1 }] })),
        ),
        (M::GET, "/{m}.git/info/lfs/locks", None),
        (M::GET, "/{m}.git/info/lfs/objects/{oid}", None),
        (M::GET, "/{m}/raw/main/config.json", None),
    ]
}

/// Pages (read by their session cookie alone, so here as anonymous visitors).
fn pages() -> Vec<Route> {
    use Method as M;
    vec![
        (M::GET, "/{m}", None),
        (M::GET, "/{m}/tree/main", None),
        (M::GET, "/{m}/blob/main/config.json", None),
        (M::GET, "/{m}/commits/main", None),
        (M::GET, "/{m}/settings", None),
        (M::GET, "/datasets/{d}/viewer", None),
    ]
}

/// What a caller can tell from an answer, with the per-request ids taken out.
#[derive(Debug, PartialEq)]
struct Seen {
    status: u16,
    error_code: Option<String>,
    challenge: Option<String>,
    body: Value,
}

async fn ask(hub: &TestHub, token: Option<&str>, route: &Route, (m, d): (&str, &str)) -> Seen {
    let (method, path, body) = route;
    let path = path
        .replace("{m}", m)
        .replace("{d}", d)
        .replace("{oid}", ZEROS);
    let mut request = reqwest::Client::new().request(method.clone(), format!("{}{path}", hub.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request = match body {
        Some(Body::Json(v)) => request.json(v),
        Some(Body::Ndjson(text)) => request
            .header("content-type", "application/x-ndjson")
            .body(*text),
        None => request,
    };
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (status, error_code, challenge) = (
        response.status().as_u16(),
        header("x-error-code"),
        header("www-authenticate"),
    );
    let text = response.text().await.unwrap();
    let mut body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if let Some(fields) = body.as_object_mut() {
        fields.remove("RequestId");
        fields.remove("request_id");
    }
    Seen {
        status,
        error_code,
        challenge,
        body,
    }
}

#[tokio::test]
async fn private_repos_answer_as_missing_ones_on_every_route() {
    let hub = TestHub::start().await;
    let alice = hub.user_with_token("alice");
    let bob_write = hub.user_with_token("bob");
    let bob_read = hub.token("bob", false);
    let owner = hub.api(Some(&alice));
    for (kind, plural, name) in [
        ("model", "models", "secret"),
        ("dataset", "datasets", "secret"),
    ] {
        assert_eq!(
            owner.create_repo(kind, "alice", name, true).await.status,
            200
        );
        let files = [
            file_op("config.json", b"{}"),
            file_op("data.csv", b"a,b\n1,2\n"),
        ];
        let commit = owner
            .commit_to(plural, &format!("alice/{name}"), "files", &files, None)
            .await;
        assert_eq!(commit.status, 200, "{:?}", commit.body);
    }
    let private = ("alice/secret", "alice/secret");
    let missing = ("alice/nothing", "alice/nothing");

    let callers = [
        ("anonymous", None),
        ("an outsider's write token", Some(bob_write.as_str())),
        ("an outsider's read token", Some(bob_read.as_str())),
    ];
    let pages = pages();
    for route in routes().into_iter().chain(pages.iter().cloned()) {
        let what = format!("{} {}", route.0, route.1);
        for (caller, token) in &callers {
            let seen_private = ask(&hub, *token, &route, private).await;
            let mut seen_missing = ask(&hub, *token, &route, missing).await;
            // Pages echo their own path; the name is all that differs.
            let text = serde_json::to_string(&seen_missing.body).unwrap();
            let text = text.replace("alice/nothing", "alice/secret");
            seen_missing.body = serde_json::from_str(&text).unwrap();
            assert_eq!(seen_private, seen_missing, "{what}, {caller}");
            assert!(
                [401, 404].contains(&seen_private.status),
                "{what}, {caller}: {seen_private:?}"
            );
        }
        if pages.iter().any(|p| p.1 == route.1) {
            continue;
        }
        let owned = ask(&hub, Some(&alice), &route, private).await;
        let absent = ask(&hub, Some(&alice), &route, missing).await;
        assert_ne!(owned, absent, "{what}: the owner reaches the repo");
    }
}
