//! The metadata and management endpoints of the Hugging Face API, as
//! `huggingface_hub` 2.4 calls them: tree, paths-info, refs, branches and
//! tags, listings with search and filters, preupload, validate-yaml, the
//! small endpoints, and the features this hub refuses. Each pins the shape
//! of its answers and the error model (§1.5 of hf-hub-api.md).

use reqwest::Method;
use serde_json::{Value, json};
use tests::{Answer, Api, TestHub, file_op, lfs_op, upload_lfs};

/// The git blob id of `content`, as `git hash-object` computes it.
fn git_blob_id(content: &[u8]) -> String {
    git2::Oid::hash_object(git2::ObjectType::Blob, content)
        .unwrap()
        .to_string()
}

fn paths(answer: &Answer) -> Vec<String> {
    answer
        .body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {:?}", answer.body))
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect()
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(answer: &Answer) -> Option<String> {
    let link = answer.headers.get("link")?.to_str().unwrap();
    let start = link.find('<')? + 1;
    let end = link.find('>')?;
    assert!(link.ends_with("rel=\"next\""), "{link}");
    Some(link[start..end].to_owned())
}

/// GET an absolute URL with the API's token.
async fn get_url(api: &Api, url: &str) -> Answer {
    let path = url
        .strip_prefix(&api.base)
        .unwrap_or_else(|| panic!("{url} not on {}", api.base));
    api.get(path).await
}

/// A model repo `alice/m` with nested folders, Chinese names and an LFS file.
struct Fixture {
    hub: TestHub,
    token: String,
    api: Api,
    sha: String,
    weights_oid: String,
    weights: Vec<u8>,
}

async fn fixture() -> Fixture {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let weights: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let weights_oid = upload_lfs(&hub, &token, "alice/m", &weights).await;
    let commit = api
        .commit(
            "alice/m",
            "add files",
            &[
                file_op("README.md", b"# m\n"),
                file_op("config.json", b"{}"),
                file_op("sub/dir/a.txt", b"a"),
                file_op("sub/b.txt", b"bb"),
                file_op("中文/说明.txt", "你好".as_bytes()),
                lfs_op("model.safetensors", &weights_oid, weights.len()),
            ],
            None,
        )
        .await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
    let sha = commit.body["commitOid"].as_str().unwrap().to_owned();
    Fixture {
        hub,
        token,
        api,
        sha,
        weights_oid,
        weights,
    }
}

#[tokio::test]
async fn tree_lists_folders_files_and_lfs_entries() {
    let f = fixture().await;
    let api = &f.api;
    let root = api.get("/api/models/alice/m/tree/main").await;
    assert_eq!(root.status, 200, "{:?}", root.body);
    assert_eq!(
        paths(&root),
        [
            "sub",
            "中文",
            ".gitattributes",
            "README.md",
            "config.json",
            "model.safetensors"
        ]
    );
    assert!(root.headers.get("link").is_none());
    let entries = root.body.as_array().unwrap();
    assert_eq!(entries[0]["type"], "directory");
    assert_eq!(entries[0]["size"], 0);
    assert_eq!(entries[0]["oid"].as_str().unwrap().len(), 40);
    let config = &entries[4];
    assert_eq!(
        config,
        &json!({ "type": "file", "oid": git_blob_id(b"{}"), "size": 2, "path": "config.json" })
    );
    let weights = &entries[5];
    assert_eq!(weights["size"], f.weights.len());
    assert_eq!(weights["lfs"]["oid"], f.weights_oid);
    assert_eq!(weights["lfs"]["size"], f.weights.len());
    let pointer_size = weights["lfs"]["pointerSize"].as_u64().unwrap();
    assert!((100..200).contains(&pointer_size), "{pointer_size}");
    assert_eq!(weights["oid"].as_str().unwrap().len(), 40);
    for entry in entries {
        assert!(entry.get("xetHash").is_none(), "{entry}");
        assert!(entry.get("lastCommit").is_none(), "{entry}");
    }

    // Recursive listings hold the folders too, paths from the repo root.
    let all = api
        .get(&format!(
            "/api/models/alice/m/tree/{}?recursive=true&expand=false",
            f.sha
        ))
        .await;
    assert_eq!(
        paths(&all),
        [
            "sub",
            "sub/dir",
            "sub/dir/a.txt",
            "sub/b.txt",
            "中文",
            "中文/说明.txt",
            ".gitattributes",
            "README.md",
            "config.json",
            "model.safetensors"
        ]
    );

    // The root with a trailing slash, as olah asks for it (Hugging Face
    // answers it as the root).
    let slash = api
        .get(&format!(
            "/api/models/alice/m/tree/{}/?recursive=true&expand=false",
            f.sha
        ))
        .await;
    assert_eq!(slash.status, 200, "{:?}", slash.body);
    assert_eq!(paths(&slash), paths(&all));

    // A sub-folder, %2F-encoded as the HF client sends it, or raw.
    for url in [
        "/api/models/alice/m/tree/main/sub%2Fdir",
        "/api/models/alice/m/tree/main/sub/dir",
        "/api/models/alice/m/tree/main/sub/dir/",
    ] {
        let sub = api.get(url).await;
        assert_eq!(sub.status, 200, "{url}");
        assert_eq!(paths(&sub), ["sub/dir/a.txt"], "{url}");
    }
    let chinese = api
        .get("/api/models/alice/m/tree/main/%E4%B8%AD%E6%96%87")
        .await;
    assert_eq!(paths(&chinese), ["中文/说明.txt"]);

    // A missing folder, or a file, is EntryNotFound with the commit; a
    // missing revision is RevisionNotFound.
    for missing in [
        "additional_chat_templates",
        "config.json",
        "sub%2Fnope",
        "..%2Fx",
    ] {
        let r = api
            .get(&format!(
                "/api/models/alice/m/tree/main/{missing}?recursive=false&expand=false"
            ))
            .await;
        assert_eq!(
            (r.status, r.error_code()),
            (404, Some("EntryNotFound")),
            "{missing}"
        );
        assert_eq!(r.headers["x-repo-commit"], f.sha.as_str());
        assert!(r.body["error"].is_string());
    }
    let r = api.get("/api/models/alice/m/tree/nope").await;
    assert_eq!((r.status, r.error_code()), (404, Some("RevisionNotFound")));
    let r = api.get("/api/datasets/alice/m/tree/main").await;
    assert_eq!((r.status, r.error_code()), (404, Some("RepoNotFound")));
}

#[tokio::test]
async fn tree_pages_follow_absolute_links_on_one_commit() {
    let f = fixture().await;
    let api = &f.api;
    let mut url = format!(
        "{}/api/models/alice/m/tree/main?recursive=true&limit=3",
        f.hub.url
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = get_url(api, &url).await;
        assert_eq!(page.status, 200, "{url}: {:?}", page.body);
        pages += 1;
        seen.extend(paths(&page));
        match next_link(&page) {
            Some(next) => {
                assert!(
                    next.starts_with(&format!("{}/api/models/alice/m/tree/{}", f.hub.url, f.sha)),
                    "{next}"
                );
                url = next;
            }
            None => break,
        }
        // The branch moves between pages; the listing stays on its commit.
        if pages == 1 {
            let moved = api
                .commit("alice/m", "more", &[file_op("sub/zzz.txt", b"z")], None)
                .await;
            assert_eq!(moved.status, 200);
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 10);
    assert!(!seen.contains(&"sub/zzz.txt".to_owned()));

    // Sub-folder pages keep the folder, encoded.
    let first = api
        .get("/api/models/alice/m/tree/main/sub?recursive=true&limit=1")
        .await;
    let next = next_link(&first).unwrap();
    assert!(next.contains("/tree/") && next.contains("/sub?"), "{next}");
    let second = get_url(api, &next).await;
    assert_eq!(second.status, 200);
    assert_eq!(paths(&second), ["sub/dir/a.txt"]);

    // A bad cursor or flag is a clear 400.
    let bad = api.get("/api/models/alice/m/tree/main?cursor=x").await;
    assert_eq!(bad.status, 400);
    let bad = api
        .get("/api/models/alice/m/tree/main?recursive=perhaps")
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn tree_and_paths_info_expand_last_commits() {
    let f = fixture().await;
    let api = &f.api;
    let second = api
        .commit(
            "alice/m",
            "touch b\n\nbody",
            &[file_op("sub/b.txt", b"changed")],
            None,
        )
        .await;
    let second = second.body["commitOid"].as_str().unwrap().to_owned();
    let listed = api.get("/api/models/alice/m/tree/main?expand=true").await;
    assert_eq!(listed.status, 200);
    for entry in listed.body.as_array().unwrap() {
        let last = &entry["lastCommit"];
        let expected = match entry["path"].as_str().unwrap() {
            "sub" => &second,
            ".gitattributes" => continue,
            _ => &f.sha,
        };
        assert_eq!(&last["id"], expected, "{entry}");
        assert!(last["date"].as_str().unwrap().ends_with('Z'));
        if entry["type"] == "file" {
            assert_eq!(entry["securityFileStatus"]["status"], "unscanned");
            assert!(entry["securityFileStatus"]["avScan"].is_null());
        }
    }
    let sub = api
        .get("/api/models/alice/m/tree/main/sub?expand=true")
        .await;
    let b = &sub.body.as_array().unwrap()[1];
    assert_eq!(b["path"], "sub/b.txt");
    assert_eq!(
        b["lastCommit"],
        json!({ "id": second, "title": "touch b", "date": b["lastCommit"]["date"] })
    );

    // paths-info as the HF client sends it: a form with repeated keys.
    let form = "paths=sub%2Fb.txt&paths=missing.txt&paths=sub&paths=model.safetensors&expand=true";
    let info = api
        .client
        .post(format!("{}/api/models/alice/m/paths-info/main", f.hub.url))
        .bearer_auth(&f.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let info: Value = info.json().await.unwrap();
    let listed: Vec<&str> = info
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["sub/b.txt", "sub", "model.safetensors"]);
    assert_eq!(info[0]["oid"], git_blob_id(b"changed"));
    assert_eq!(info[0]["size"], 7);
    assert_eq!(info[0]["lastCommit"]["id"], second.as_str());
    assert_eq!(info[1]["type"], "directory");
    assert_eq!(info[2]["lfs"]["oid"], f.weights_oid);

    // JSON works too; without expand there is no lastCommit.
    let by_json = api
        .post(
            &format!("/api/models/alice/m/paths-info/{}", f.sha),
            json!({ "paths": ["sub/b.txt", "中文/说明.txt"] }),
        )
        .await;
    assert_eq!(by_json.status, 200);
    assert_eq!(paths(&by_json), ["sub/b.txt", "中文/说明.txt"]);
    assert_eq!(
        by_json.body[0]["oid"],
        git_blob_id(b"bb"),
        "the old commit's blob"
    );
    assert!(by_json.body[0].get("lastCommit").is_none());

    let missing_rev = api
        .post(
            "/api/models/alice/m/paths-info/nope",
            json!({ "paths": ["a"] }),
        )
        .await;
    assert_eq!(
        (missing_rev.status, missing_rev.error_code()),
        (404, Some("RevisionNotFound"))
    );
}

#[tokio::test]
async fn private_repos_answer_401_anonymous_and_404_signed_in() {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    let anonymous = hub.api(None);
    assert_eq!(
        alice
            .create_repo("model", "alice", "secret", true)
            .await
            .status,
        200
    );
    let urls = [
        (Method::GET, "/api/models/alice/secret/tree/main"),
        (Method::POST, "/api/models/alice/secret/paths-info/main"),
        (Method::GET, "/api/models/alice/secret/refs"),
        (Method::POST, "/api/models/alice/secret/branch/dev"),
        (Method::DELETE, "/api/models/alice/secret/branch/dev"),
        (Method::POST, "/api/models/alice/secret/tag/main"),
        (Method::DELETE, "/api/models/alice/secret/tag/v1"),
        (Method::POST, "/api/models/alice/secret/preupload/main"),
        (Method::GET, "/api/models/alice/secret/auth-check"),
        (Method::GET, "/api/models/alice/secret/auth-check/write"),
        (Method::GET, "/api/models/alice/secret/discussions"),
    ];
    for (method, url) in urls {
        let body = Some(json!({ "paths": [], "files": [], "tag": "v1" }));
        let a = anonymous.send(method.clone(), url, body.clone()).await;
        assert_eq!(
            (a.status, a.error_code()),
            (401, Some("RepoNotFound")),
            "{method} {url}"
        );
        let b = bob.send(method.clone(), url, body.clone()).await;
        assert_eq!(
            (b.status, b.error_code()),
            (404, Some("RepoNotFound")),
            "{method} {url}"
        );
        // Exactly what a missing repo answers.
        let missing = bob
            .send(method.clone(), &url.replace("secret", "nothing"), body)
            .await;
        assert_eq!(
            (missing.status, missing.error_code(), &missing.body),
            (b.status, b.error_code(), &b.body)
        );
    }
    let own = alice.get("/api/models/alice/secret/tree/main").await;
    assert_eq!(own.status, 200);
}

#[tokio::test]
async fn repo_ids_without_a_namespace_are_repos_not_found_on_every_route() {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let anonymous = hub.api(None);
    let urls = [
        (Method::GET, "/api/models/gpt2"),
        (Method::GET, "/api/datasets/squad"),
        (Method::GET, "/api/spaces/demo"),
        (Method::GET, "/api/models/gpt2/revision/main"),
        (Method::GET, "/api/datasets/squad/revision/v1.0"),
        (Method::GET, "/api/models/gpt2/tree/main"),
        (Method::GET, "/api/models/gpt2/tree/main/sub/dir"),
        (Method::POST, "/api/models/gpt2/paths-info/main"),
        (Method::POST, "/api/models/gpt2/preupload/main"),
        (Method::POST, "/api/models/gpt2/commit/main"),
        (Method::POST, "/api/models/gpt2/like"),
        (Method::DELETE, "/api/datasets/squad/like"),
        (Method::PUT, "/api/models/gpt2/settings"),
        (Method::POST, "/api/models/gpt2/branch/dev"),
        (Method::GET, "/api/models/gpt2/xet-write-token/main"),
        (Method::GET, "/api/models/gpt2/xet-read-token/main"),
        (Method::GET, "/gpt2/resolve/main/config.json"),
        (Method::HEAD, "/gpt2/resolve/main/config.json"),
        (Method::GET, "/datasets/squad/resolve/main/data/train.csv"),
        (Method::GET, "/spaces/demo/resolve/main/app.py"),
    ];
    for (method, url) in urls {
        let body = Some(json!({ "paths": [], "files": [] }));
        let a = alice.send(method.clone(), url, body.clone()).await;
        assert_eq!(
            (a.status, a.error_code()),
            (404, Some("RepoNotFound")),
            "{method} {url}: {}",
            a.body
        );
        // Exactly what a missing repo with a namespace answers.
        let with_namespace = url
            .replacen("gpt2", "alice/nothing", 1)
            .replacen("squad", "alice/nothing", 1)
            .replacen("demo", "alice/nothing", 1);
        let missing = alice
            .send(method.clone(), &with_namespace, body.clone())
            .await;
        assert_eq!(
            (missing.status, missing.error_code()),
            (a.status, a.error_code()),
            "{method} {with_namespace}"
        );
        if method != Method::HEAD {
            assert_eq!(a.body, missing.body, "{method} {url}");
        }
        let anon = anonymous.send(method.clone(), url, body).await;
        assert_eq!(
            (anon.status, anon.error_code()),
            (401, Some("RepoNotFound")),
            "{method} {url}"
        );
    }
    // Bad credentials are refused as such, before any repo is looked up.
    let forged = hub.api(Some("hf_forged"));
    assert_eq!(forged.get("/api/models/gpt2").await.status, 401);
    assert_eq!(forged.get("/api/models/gpt2").await.error_code(), None);
    // Other unknown routes and methods are unchanged.
    let unknown = alice.get("/api/models/alice/m/no-such-api/x").await;
    assert_eq!((unknown.status, unknown.error_code()), (404, None));
    let wrong_method = alice
        .send(Method::POST, "/api/models/alice/m", Some(json!({})))
        .await;
    assert_eq!(wrong_method.status, 405);
}

#[tokio::test]
async fn refs_branches_and_tags() {
    let f = fixture().await;
    let api = &f.api;
    let refs = api.get("/api/models/alice/m/refs").await;
    assert_eq!(refs.status, 200);
    assert_eq!(
        refs.body,
        json!({ "branches": [{ "name": "main", "ref": "refs/heads/main", "targetCommit": f.sha }],
                "tags": [], "converts": [] })
    );
    let with_prs = api.get("/api/models/alice/m/refs?include_prs=1").await;
    assert_eq!(with_prs.body["pullRequests"], json!([]));

    // A branch from the default head, one from a revision; then a tag.
    let first: String = {
        let commits = api.get("/api/models/alice/m/commits/main").await;
        commits.body.as_array().unwrap().last().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let created = api.post("/api/models/alice/m/branch/dev", json!({})).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    assert_eq!(created.body["targetCommit"], f.sha.as_str());
    let old = api
        .post(
            "/api/models/alice/m/branch/feature%2Fold",
            json!({ "startingPoint": first }),
        )
        .await;
    assert_eq!(old.status, 200, "{:?}", old.body);
    assert_eq!(old.body["ref"], "refs/heads/feature/old");
    let empty_body = api
        .client
        .post(format!("{}/api/models/alice/m/branch/bare", f.hub.url))
        .bearer_auth(&f.token)
        .send()
        .await
        .unwrap();
    assert_eq!(empty_body.status(), 200);
    let tagged = api
        .post(
            &format!("/api/models/alice/m/tag/{first}"),
            json!({ "tag": "v1", "message": "first" }),
        )
        .await;
    assert_eq!(tagged.status, 200, "{:?}", tagged.body);
    assert_eq!(
        tagged.body,
        json!({ "name": "v1", "ref": "refs/tags/v1", "targetCommit": first })
    );
    let light = api
        .post("/api/models/alice/m/tag/dev", json!({ "tag": "v2" }))
        .await;
    assert_eq!(light.status, 200);

    let refs = api.get("/api/models/alice/m/refs").await;
    let names = |kind: &str| -> Vec<(String, String)> {
        refs.body[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["targetCommit"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        names("branches"),
        [
            ("bare".to_owned(), f.sha.clone()),
            ("dev".to_owned(), f.sha.clone()),
            ("feature/old".to_owned(), first.clone()),
            ("main".to_owned(), f.sha.clone())
        ]
    );
    assert_eq!(
        names("tags"),
        [
            ("v1".to_owned(), first.clone()),
            ("v2".to_owned(), f.sha.clone())
        ]
    );

    // Branches and tags are revisions everywhere.
    for rev in [
        "dev",
        "v1",
        "feature%2Fold",
        "refs%2Fheads%2Fdev",
        "refs%2Ftags%2Fv1",
    ] {
        let info = api
            .get(&format!("/api/models/alice/m/revision/{rev}"))
            .await;
        assert_eq!(info.status, 200, "{rev}");
    }
    let at_tag = api.get("/api/models/alice/m/revision/v1").await;
    assert_eq!(at_tag.body["sha"], first.as_str());
    // Commits land on a new branch without touching main.
    let on_dev = api
        .client
        .post(format!("{}/api/models/alice/m/commit/dev", f.hub.url))
        .bearer_auth(&f.token)
        .header("content-type", "application/x-ndjson")
        .body(format!(
            "{}\n{}",
            json!({ "key": "header", "value": { "summary": "on dev", "description": "" } }),
            file_op("dev.txt", b"d")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(on_dev.status(), 200);
    assert_eq!(
        api.get("/api/models/alice/m/revision/main").await.body["sha"],
        f.sha.as_str()
    );

    // Creation times are recorded for each ref.
    let recorded: i64 = {
        let db = f.hub.database_url.clone().unwrap();
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT count(*) FROM repo_refs WHERE created_at IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    assert_eq!(recorded, 6, "main, dev, bare, feature/old, v1, v2");

    // Conflicts: 409 for a name taken by a ref of the same kind, or a folder
    // clash (a branch may share a tag's name: `branch_and_tag_may_share_a_name`).
    for (url, body) in [
        ("/api/models/alice/m/branch/dev", json!({})),
        ("/api/models/alice/m/branch/feature", json!({})),
        ("/api/models/alice/m/branch/dev%2Fsub", json!({})),
        ("/api/models/alice/m/tag/main", json!({ "tag": "v1" })),
        ("/api/models/alice/m/tag/main", json!({ "tag": "v1/sub" })),
    ] {
        let r = api.post(url, body.clone()).await;
        assert_eq!(r.status, 409, "{url} {body}: {:?}", r.body);
        assert!(
            r.body["error"].as_str().unwrap().contains("exists"),
            "{:?}",
            r.body
        );
    }
    // Invalid names: 400 with a message; missing revisions: RevisionNotFound.
    for name in [
        "refs%2Fpr%2F5",
        "a..b",
        "a%20b",
        "x.lock",
        "HEAD",
        "%2Fa",
        "a~1",
    ] {
        let r = api
            .post(&format!("/api/models/alice/m/branch/{name}"), json!({}))
            .await;
        assert_eq!(r.status, 400, "{name}: {:?}", r.body);
        assert!(
            r.body["error"]
                .as_str()
                .unwrap()
                .contains("invalid branch name")
        );
        let r = api
            .post(
                "/api/models/alice/m/tag/main",
                json!({ "tag": name.replace("%2F", "/").replace("%20", " ") }),
            )
            .await;
        assert_eq!(r.status, 400, "tag {name}: {:?}", r.body);
    }
    let r = api.post("/api/models/alice/m/tag/main", json!({})).await;
    assert_eq!(r.status, 400);
    let r = api
        .post(
            "/api/models/alice/m/branch/x",
            json!({ "startingPoint": "nope" }),
        )
        .await;
    assert_eq!((r.status, r.error_code()), (404, Some("RevisionNotFound")));
    let r = api
        .post("/api/models/alice/m/tag/nope", json!({ "tag": "v3" }))
        .await;
    assert_eq!((r.status, r.error_code()), (404, Some("RevisionNotFound")));

    // Deleting: the default branch is refused; missing refs are RevisionNotFound.
    let r = api
        .send(Method::DELETE, "/api/models/alice/m/branch/main", None)
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body["error"].as_str().unwrap().contains("default branch"));
    for url in [
        "/api/models/alice/m/branch/dev",
        "/api/models/alice/m/tag/v1",
    ] {
        assert_eq!(
            api.send(Method::DELETE, url, None).await.status,
            200,
            "{url}"
        );
        let again = api.send(Method::DELETE, url, None).await;
        assert_eq!(
            (again.status, again.error_code()),
            (404, Some("RevisionNotFound")),
            "{url}"
        );
    }
    let r = api.get("/api/models/alice/m/revision/dev").await;
    assert_eq!((r.status, r.error_code()), (404, Some("RevisionNotFound")));
    let refs = api.get("/api/models/alice/m/refs").await;
    assert_eq!(refs.body["branches"].as_array().unwrap().len(), 3);
    assert_eq!(refs.body["tags"].as_array().unwrap().len(), 1);

    // Others: anonymous callers need to sign in, read tokens and strangers may not write.
    let anonymous = f.hub.api(None);
    let r = anonymous
        .post("/api/models/alice/m/branch/x", json!({}))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(anonymous.get("/api/models/alice/m/refs").await.status, 200);
    let bob = f.hub.api(Some(&f.hub.user_with_token("bob")));
    let r = bob.post("/api/models/alice/m/branch/x", json!({})).await;
    assert_eq!(r.status, 403);
    let reader = f.hub.api(Some(&f.hub.token("alice", false)));
    let r = reader
        .send(Method::DELETE, "/api/models/alice/m/tag/v2", None)
        .await;
    assert_eq!(r.status, 403);
}

/// As on Hugging Face: a branch may share a tag's name, either way round (a
/// bare revision then means the branch), and `create_tag` checks the
/// revision before the tag's name.
#[tokio::test]
async fn branch_and_tag_may_share_a_name() {
    let f = fixture().await;
    let api = &f.api;
    let first: String = {
        let commits = api.get("/api/models/alice/m/commits/main").await;
        commits.body.as_array().unwrap().last().unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_ne!(first, f.sha);
    let sha_of = |rev: &'static str| async move {
        let r = api
            .get(&format!("/api/models/alice/m/revision/{rev}"))
            .await;
        assert_eq!(r.status, 200, "{rev}: {:?}", r.body);
        r.body["sha"].as_str().unwrap().to_owned()
    };
    // A tag first, then a branch of the same name.
    let tag = api
        .post(
            &format!("/api/models/alice/m/tag/{first}"),
            json!({ "tag": "v1" }),
        )
        .await;
    assert_eq!(tag.status, 200, "{:?}", tag.body);
    let branch = api.post("/api/models/alice/m/branch/v1", json!({})).await;
    assert_eq!(branch.status, 200, "{:?}", branch.body);
    assert_eq!(sha_of("v1").await, f.sha, "the branch wins");
    assert_eq!(sha_of("refs%2Ftags%2Fv1").await, first);
    // A branch first, then a tag of the same name.
    let branch = api
        .post(
            "/api/models/alice/m/branch/release",
            json!({ "startingPoint": first }),
        )
        .await;
    assert_eq!(branch.status, 200, "{:?}", branch.body);
    let tag = api
        .post("/api/models/alice/m/tag/main", json!({ "tag": "release" }))
        .await;
    assert_eq!(tag.status, 200, "{:?}", tag.body);
    assert_eq!(sha_of("release").await, first, "the branch wins");
    let refs = api.get("/api/models/alice/m/refs").await;
    let names = |kind: &str| -> Vec<String> {
        refs.body[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("branches"), ["main", "release", "v1"]);
    assert_eq!(names("tags"), ["release", "v1"]);
    // Deleting one kind leaves the other.
    let deleted = api
        .send(Method::DELETE, "/api/models/alice/m/branch/release", None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(sha_of("release").await, f.sha, "now the tag");
    let deleted = api
        .send(Method::DELETE, "/api/models/alice/m/tag/v1", None)
        .await;
    assert_eq!(deleted.status, 200);
    assert_eq!(sha_of("v1").await, f.sha);

    // create_tag: a missing revision is RevisionNotFound, whatever the name.
    for tag in ["invalid tag", "release", "a..b"] {
        let r = api
            .post("/api/models/alice/m/tag/foobar", json!({ "tag": tag }))
            .await;
        assert_eq!(
            (r.status, r.error_code()),
            (404, Some("RevisionNotFound")),
            "{tag}: {:?}",
            r.body
        );
    }
    let r = api
        .post(
            "/api/models/alice/m/tag/main",
            json!({ "tag": "invalid tag" }),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

#[tokio::test]
async fn preupload_plans_every_path() {
    use base64::Engine;
    let f = fixture().await;
    let api = &f.api;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let files = json!([
        { "path": "README.md", "sample": b64(b"# m\n"), "size": 4 },
        { "path": "config.json", "sample": b64(b"{\"a\": 1}"), "size": 8 },
        { "path": "model.safetensors", "sample": b64(&f.weights[..512]), "size": f.weights.len() },
        { "path": "data/train-00000-of-00001.parquet", "sample": b64(b"PAR1"), "size": 4 },
        { "path": "notes/big.txt", "sample": b64(b"text"), "size": 20 * 1024 * 1024 },
        { "path": "blob.dat", "sample": b64(b"a\0b"), "size": 3 },
        { "path": ".git/config", "sample": b64(b"[core]"), "size": 6 },
        { "path": "logs/run.log", "sample": b64(b"x"), "size": 1 },
        { "path": "./sub//b.txt", "sample": b64(b"bb"), "size": 2 },
    ]);
    let answer = api
        .post(
            "/api/models/alice/m/preupload/main",
            json!({ "files": files, "gitIgnore": "*.log\n" }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["commitOid"], f.sha.as_str());
    let expected = [
        ("README.md", "regular", false, json!(git_blob_id(b"# m\n"))),
        ("config.json", "regular", false, json!(git_blob_id(b"{}"))),
        ("model.safetensors", "lfs", false, json!(f.weights_oid)),
        (
            "data/train-00000-of-00001.parquet",
            "lfs",
            false,
            Value::Null,
        ),
        ("notes/big.txt", "lfs", false, Value::Null),
        ("blob.dat", "lfs", false, Value::Null),
        (".git/config", "regular", true, Value::Null),
        ("logs/run.log", "regular", true, Value::Null),
        ("./sub//b.txt", "regular", false, json!(git_blob_id(b"bb"))),
    ];
    let got = answer.body["files"].as_array().unwrap();
    assert_eq!(got.len(), expected.len());
    for (file, (path, mode, ignore, oid)) in got.iter().zip(expected) {
        assert_eq!(
            file,
            &json!({ "path": path, "uploadMode": mode, "shouldIgnore": ignore, "oid": oid })
        );
    }

    // Without gitIgnore, the revision's own .gitignore applies; .gitattributes too.
    let rules = api
        .commit(
            "alice/m",
            "rules",
            &[
                file_op(".gitignore", b"secret/\n"),
                file_op(
                    ".gitattributes",
                    b"*.txt filter=lfs diff=lfs merge=lfs -text\n",
                ),
            ],
            None,
        )
        .await;
    assert_eq!(rules.status, 200);
    let answer = api
        .post(
            "/api/models/alice/m/preupload/main",
            json!({ "files": [
                { "path": "secret/key.pem", "sample": b64(b"k"), "size": 1 },
                { "path": "notes.txt", "sample": b64(b"n"), "size": 1 },
                { "path": "model.safetensors", "sample": "", "size": 1 },
            ] }),
        )
        .await;
    let modes: Vec<(bool, &str)> = answer.body["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["shouldIgnore"].as_bool().unwrap(),
                f["uploadMode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        modes,
        [(true, "regular"), (false, "lfs"), (false, "regular")]
    );

    // Refusals: a path the commit would refuse is a 422 (the commit's own answer,
    // as on Hugging Face), a bad sample a 400, an unknown revision RevisionNotFound,
    // read tokens and anonymous callers may not upload (to a branch or a pull request).
    let bad = api
        .post(
            "/api/models/alice/m/preupload/main",
            json!({ "files": [{ "path": "../x", "sample": "", "size": 1 }] }),
        )
        .await;
    assert_eq!(bad.status, 422);
    let bad = api
        .post(
            "/api/models/alice/m/preupload/main",
            json!({ "files": [{ "path": "x", "sample": "!!", "size": 1 }] }),
        )
        .await;
    assert_eq!(bad.status, 400);
    let missing = api
        .post("/api/models/alice/m/preupload/nope", json!({ "files": [] }))
        .await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (404, Some("RevisionNotFound"))
    );
    let pr = api
        .post(
            "/api/models/alice/m/preupload/main?create_pr=1",
            json!({ "files": [] }),
        )
        .await;
    assert_eq!(pr.status, 200, "{:?}", pr.body);
    let reader = f.hub.api(Some(&f.hub.token("alice", false)));
    assert_eq!(
        reader
            .post("/api/models/alice/m/preupload/main", json!({ "files": [] }))
            .await
            .status,
        403
    );
    assert_eq!(
        f.hub
            .api(None)
            .post("/api/models/alice/m/preupload/main", json!({ "files": [] }))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn validate_yaml_agent_harnesses_and_auth_check() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let anonymous = hub.api(None);

    let good = anonymous
        .post(
            "/api/validate-yaml",
            json!({ "content": "---\nlicense: mit\n---\n# hi\n", "repoType": "model" }),
        )
        .await;
    assert_eq!(
        (good.status, &good.body),
        (200, &json!({ "errors": [], "warnings": [] }))
    );
    // A card without metadata is fine, with a warning.
    let plain = api
        .post("/api/validate-yaml", json!({ "content": "# 中文说明\n" }))
        .await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.body["errors"], json!([]));
    let warning = plain.body["warnings"][0]["message"].as_str().unwrap();
    assert!(
        warning.starts_with("empty or missing yaml metadata"),
        "{warning}"
    );
    let broken = api
        .post(
            "/api/validate-yaml",
            json!({ "content": "---\nlicense: [mit\n---\n", "repoType": "dataset" }),
        )
        .await;
    assert_eq!(broken.status, 400);
    assert!(
        broken.body["errors"][0]["message"].is_string(),
        "{:?}",
        broken.body
    );
    // Metadata of the wrong shape is an error that names the field.
    for (content, error) in [
        (
            "---\nlicense: {a: 1}\n---\n",
            "\"license\" must be a string",
        ),
        (
            "---\nmodel-index: foo\n---\n",
            "\"model-index\" must be an array",
        ),
        (
            "---\ntags: [[a]]\n---\n",
            "\"tags\" must be a string or an array of strings",
        ),
    ] {
        let typed = api
            .post("/api/validate-yaml", json!({ "content": content }))
            .await;
        assert_eq!(typed.status, 400, "{content}");
        assert_eq!(
            typed.body,
            json!({ "errors": [{ "message": error }], "warnings": [] })
        );
    }
    // Fields are checked per repo type: a dataset may have several licenses.
    let licenses =
        json!({ "content": "---\nlicense: [mit, cc-by-4.0]\n---\n", "repoType": "dataset" });
    assert_eq!(api.post("/api/validate-yaml", licenses).await.status, 200);
    let unknown = json!({ "content": "# x\n", "repoType": "bucket" });
    assert_eq!(api.post("/api/validate-yaml", unknown).await.status, 400);
    // RepoCard.validate asks for text, and shows it as is.
    let text = reqwest::Client::new()
        .post(format!("{}/api/validate-yaml", hub.url))
        .header("accept", "text/plain")
        .json(&json!({ "content": "---\nlicense: [mit]\n---\n", "repoType": "model" }))
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 400);
    assert_eq!(
        text.text().await.unwrap(),
        "- Error: \"license\" must be a string"
    );

    let harnesses = anonymous.get("/api/agent-harnesses").await;
    assert_eq!(
        (harnesses.status, &harnesses.body),
        (200, &json!({ "standardEnvVars": [], "harnesses": {} }))
    );

    assert_eq!(
        api.create_repo("dataset", "alice", "d", true).await.status,
        200
    );
    assert_eq!(
        api.get("/api/datasets/alice/d/auth-check").await.status,
        200
    );
    assert_eq!(
        api.get("/api/datasets/alice/d/auth-check/write")
            .await
            .status,
        200
    );
    let reader = hub.api(Some(&hub.token("alice", false)));
    assert_eq!(
        reader.get("/api/datasets/alice/d/auth-check").await.status,
        200
    );
    assert_eq!(
        reader
            .get("/api/datasets/alice/d/auth-check/write")
            .await
            .status,
        403
    );
    let r = anonymous.get("/api/datasets/alice/d/auth-check").await;
    assert_eq!((r.status, r.error_code()), (401, Some("RepoNotFound")));
    assert_eq!(
        api.create_repo("model", "alice", "pub", false).await.status,
        200
    );
    assert_eq!(
        anonymous
            .get("/api/models/alice/pub/auth-check")
            .await
            .status,
        200
    );
    assert_eq!(
        anonymous
            .get("/api/models/alice/pub/auth-check/write")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn unsupported_features_fail_clearly() {
    let hub = TestHub::start().await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    assert_eq!(
        api.create_repo("space", "alice", "s", false).await.status,
        200
    );
    assert_eq!(
        api.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let cases = [
        (
            Method::GET,
            "/api/models/alice/m/user-access-request/pending",
            404,
            "gated",
        ),
        (
            Method::POST,
            "/api/models/alice/m/user-access-request/grant",
            400,
            "gated",
        ),
        // The Space routes belong to Spaces: a model has none of them.
        (
            Method::POST,
            "/api/models/alice/m/hardware",
            400,
            "only Spaces",
        ),
        (
            Method::POST,
            "/api/models/alice/m/secrets",
            400,
            "only Spaces",
        ),
        (
            Method::GET,
            "/api/models/alice/m/runtime",
            404,
            "only Spaces",
        ),
        (
            Method::POST,
            "/api/models/alice/m/restart",
            400,
            "only Spaces",
        ),
        (Method::POST, "/api/spaces/alice/s/volumes", 400, "volumes"),
        (
            Method::POST,
            "/api/spaces/alice/s/dev-mode",
            400,
            "dev mode",
        ),
    ];
    for (method, url, status, words) in cases {
        let r = api
            .send(method.clone(), url, Some(json!({ "title": "t" })))
            .await;
        assert_eq!(r.status, status, "{method} {url}: {:?}", r.body);
        let message = r.body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{url}: {:?}", r.body));
        assert!(message.contains(words), "{url}: {message}");
    }
    // Volumes and templates cannot be asked for at creation, and Space
    // settings not for a model: refused, and nothing is created.
    for (body, words, missing) in [
        (
            json!({ "name": "vol", "type": "space", "sdk": "gradio", "volumes": [{ "path": "/x" }] }),
            "volumes",
            "/api/spaces/alice/vol",
        ),
        (
            json!({ "name": "gpu", "type": "model", "hardware": "t4-small",
                    "secrets": [{ "key": "K", "value": "v" }] }),
            "hardware, secrets",
            "/api/models/alice/gpu",
        ),
    ] {
        let refused = api.post("/api/repos/create", body).await;
        assert_eq!(refused.status, 400);
        let message = refused.body["error"].as_str().unwrap();
        assert!(message.contains(words), "{message}");
        let r = api.get(missing).await;
        assert_eq!((r.status, r.error_code()), (404, Some("RepoNotFound")));
    }
    let plain = api
        .post(
            "/api/repos/create",
            json!({ "name": "gpu", "type": "space", "sdk": "gradio" }),
        )
        .await;
    assert_eq!(plain.status, 200);
}

/// A commit to any repo type (`models`, `datasets`, `spaces`).
async fn commit_to(api: &Api, plural: &str, repo: &str, ops: &[Value]) -> Value {
    let mut body =
        json!({ "key": "header", "value": { "summary": "files", "description": "" } }).to_string();
    for op in ops {
        body.push('\n');
        body.push_str(&op.to_string());
    }
    let resp = api
        .client
        .post(format!("{}/api/{plural}/{repo}/commit/main", api.base))
        .bearer_auth(api.token.as_deref().unwrap())
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn ids(answer: &Answer) -> Vec<String> {
    answer
        .body
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {:?}", answer.body))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Repos for the listing tests: alice's public `qwen-chat` (Chinese chat
/// card) and `bert-base` (English, MIT), her private `secret`, the private
/// `lab/internal` of her organisation, bob's `tiny`, and alice's dataset
/// `zh-data`.
struct Listings {
    hub: TestHub,
    alice: Api,
    bob: Api,
    anonymous: Api,
}

async fn listings() -> Listings {
    let hub = TestHub::start().await;
    let alice = hub.api(Some(&hub.user_with_token("alice")));
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    let anonymous = hub.api(None);
    assert_eq!(
        alice
            .post("/api/organizations/new", json!({ "name": "lab" }))
            .await
            .status,
        200
    );
    for (api, kind, ns, name, private) in [
        (&alice, "model", "alice", "qwen-chat", false),
        (&alice, "model", "alice", "bert-base", false),
        (&alice, "model", "alice", "secret", true),
        (&alice, "model", "lab", "internal", true),
        (&bob, "model", "bob", "tiny", false),
        (&alice, "dataset", "alice", "zh-data", false),
    ] {
        assert_eq!(
            api.create_repo(kind, ns, name, private).await.status,
            200,
            "{name}"
        );
    }
    let qwen_card = "---\nlicense: apache-2.0\nlanguage: [zh]\ntags: [chat]\n\
        pipeline_tag: text-generation\nlibrary_name: transformers\n---\n# Qwen\n一个中文对话模型。\n";
    commit_to(
        &alice,
        "models",
        "alice/qwen-chat",
        &[file_op("README.md", qwen_card.as_bytes())],
    )
    .await;
    commit_to(
        &alice,
        "models",
        "alice/bert-base",
        &[
            file_op(
                "README.md",
                b"---\nlicense: mit\nlanguage: en\n---\n# BERT for English\n",
            ),
            file_op("config.json", b"{}"),
        ],
    )
    .await;
    commit_to(
        &alice,
        "datasets",
        "alice/zh-data",
        &[file_op(
            "README.md",
            b"---\nlanguage: [zh]\ntask_categories: [text-classification]\n---\n# data\n",
        )],
    )
    .await;
    Listings {
        hub,
        alice,
        bob,
        anonymous,
    }
}

/// Visibility: public repos for everyone; private ones for their owners and org members.
#[tokio::test]
async fn listings_show_public_repos_and_private_ones_to_their_owners_and_members() {
    let Listings {
        hub: _hub,
        alice,
        bob,
        anonymous,
    } = listings().await;
    let all = anonymous.get("/api/models").await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    let mut public = ids(&all);
    public.sort();
    assert_eq!(public, ["alice/bert-base", "alice/qwen-chat", "bob/tiny"]);
    let mut mine = ids(&alice.get("/api/models").await);
    mine.sort();
    assert_eq!(
        mine,
        [
            "alice/bert-base",
            "alice/qwen-chat",
            "alice/secret",
            "bob/tiny",
            "lab/internal"
        ]
    );
    let mut by_alice = ids(&bob.get("/api/models?author=ALICE").await);
    by_alice.sort();
    assert_eq!(by_alice, ["alice/bert-base", "alice/qwen-chat"]);
    assert_eq!(
        ids(&anonymous.get("/api/datasets").await),
        ["alice/zh-data"]
    );
    assert!(ids(&anonymous.get("/api/spaces").await).is_empty());
}

/// The shape of one entry, and repo info carrying the same tags.
#[tokio::test]
async fn a_listing_entry_has_the_hub_shape() {
    let Listings {
        hub: _hub,
        anonymous,
        ..
    } = listings().await;
    let all = anonymous.get("/api/models").await;
    let qwen = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "alice/qwen-chat")
        .unwrap();
    assert_eq!(qwen["author"], "alice");
    assert_eq!(qwen["modelId"], "alice/qwen-chat");
    assert_eq!(qwen["private"], false);
    assert_eq!(qwen["likes"], 0);
    assert_eq!(qwen["downloads"], 0);
    assert_eq!(qwen["trendingScore"], 0);
    assert_eq!(qwen["pipeline_tag"], "text-generation");
    assert_eq!(qwen["library_name"], "transformers");
    assert_eq!(qwen["sha"].as_str().unwrap().len(), 40);
    assert_eq!(
        qwen["tags"],
        json!([
            "chat",
            "text-generation",
            "transformers",
            "zh",
            "license:apache-2.0"
        ])
    );
    assert!(qwen["createdAt"].as_str().unwrap().ends_with('Z'));
    assert!(qwen["lastModified"].as_str().unwrap().ends_with('Z'));
    assert!(qwen.get("cardData").is_none() && qwen.get("siblings").is_none());
    // Repo info carries the same tags.
    assert_eq!(
        anonymous.get("/api/models/alice/qwen-chat").await.body["tags"],
        qwen["tags"]
    );
}

/// Search: name or card text, case-insensitive, Chinese too; terms combine.
#[tokio::test]
async fn search_matches_names_and_card_text_in_any_case_and_in_chinese() {
    let Listings {
        hub: _hub,
        alice,
        anonymous,
        ..
    } = listings().await;
    assert_eq!(
        ids(&anonymous.get("/api/models?search=QWEN").await),
        ["alice/qwen-chat"]
    );
    assert_eq!(
        ids(&anonymous
            .get("/api/models?search=%E4%B8%AD%E6%96%87%E5%AF%B9%E8%AF%9D")
            .await),
        ["alice/qwen-chat"]
    );
    assert_eq!(
        ids(&anonymous.get("/api/models?search=english").await),
        ["alice/bert-base"]
    );
    assert_eq!(
        ids(&anonymous.get("/api/models?search=bob%2Ft").await),
        ["bob/tiny"]
    );
    assert!(
        ids(&anonymous.get("/api/models?search=secret").await).is_empty(),
        "private repos are never found"
    );
    assert_eq!(
        ids(&alice.get("/api/models?search=secret").await),
        ["alice/secret"]
    );
    assert!(ids(&anonymous.get("/api/models?search=100%25").await).is_empty());
    assert_eq!(
        ids(&anonymous.get("/api/datasets?search=zh&search=data").await),
        ["alice/zh-data"]
    );
}

/// Filters: every value must be a tag.
#[tokio::test]
async fn filters_keep_repos_that_have_every_tag() {
    let Listings {
        hub: _hub,
        anonymous,
        ..
    } = listings().await;
    assert_eq!(
        ids(&anonymous.get("/api/models?filter=license:mit").await),
        ["alice/bert-base"]
    );
    assert_eq!(
        ids(&anonymous
            .get("/api/models?filter=zh&filter=text-generation")
            .await),
        ["alice/qwen-chat"]
    );
    assert!(
        ids(&anonymous
            .get("/api/models?filter=zh&filter=license:mit")
            .await)
        .is_empty()
    );
    assert_eq!(
        ids(&anonymous
            .get("/api/models?pipeline_tag=text-generation")
            .await),
        ["alice/qwen-chat"]
    );
    assert_eq!(
        ids(&anonymous.get("/api/models?filter=transformers").await),
        ["alice/qwen-chat"]
    );
    assert!(ids(&anonymous.get("/api/models?gated=true").await).is_empty());
    assert_eq!(
        ids(&anonymous.get("/api/models?gated=false&author=bob").await),
        ["bob/tiny"]
    );
    let zh = anonymous
        .get("/api/datasets?filter=language:zh&filter=task_categories:text-classification")
        .await;
    assert_eq!(ids(&zh), ["alice/zh-data"]);
}

/// Sorts: likes, downloads, trending, dates; descending unless direction=1.
#[tokio::test]
async fn sorts_by_likes_downloads_trending_and_dates() {
    let Listings {
        hub,
        alice,
        bob,
        anonymous,
    } = listings().await;
    for api in [&alice, &bob] {
        assert_eq!(
            api.post("/api/models/bob/tiny/like", json!({}))
                .await
                .status,
            200
        );
    }
    assert_eq!(
        alice
            .post("/api/models/alice/bert-base/like", json!({}))
            .await
            .status,
        200
    );
    let by_likes = ids(&anonymous.get("/api/models?sort=likes").await);
    assert_eq!(by_likes[..2], ["bob/tiny", "alice/bert-base"]);
    let ascending = ids(&anonymous.get("/api/models?sort=likes&direction=1").await);
    assert_eq!(
        ascending,
        ["alice/qwen-chat", "alice/bert-base", "bob/tiny"]
    );
    // 25 clients (a client's repeats within a window count once).
    for i in 0..25 {
        let got = tests::client_at(&format!("127.0.1.{}", i + 1))
            .build()
            .unwrap()
            .get(format!(
                "{}/alice/bert-base/resolve/main/config.json",
                hub.url
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
    }
    // Counts are written in batches: wait for them (and that they stay).
    tests::settles_at(json!(25), || async {
        anonymous.get("/api/models/alice/bert-base").await.body["downloads"].clone()
    })
    .await;
    let by_downloads = anonymous.get("/api/models?sort=downloads").await;
    assert_eq!(ids(&by_downloads)[0], "alice/bert-base");
    assert_eq!(by_downloads.body[0]["downloads"], 25);
    let trending = anonymous.get("/api/models?sort=trendingScore").await;
    assert_eq!(
        ids(&trending),
        ["alice/bert-base", "bob/tiny", "alice/qwen-chat"]
    );
    assert_eq!(
        trending.body[0]["trendingScore"], 35,
        "one like (10) and 25 downloads"
    );
    assert_eq!(trending.body[1]["trendingScore"], 20);
    assert_eq!(
        ids(&anonymous.get("/api/models?sort=createdAt").await)[0],
        "bob/tiny"
    );
    commit_to(
        &alice,
        "models",
        "alice/qwen-chat",
        &[file_op("a.txt", b"a")],
    )
    .await;
    assert_eq!(
        ids(&anonymous.get("/api/models?sort=lastModified").await)[0],
        "alice/qwen-chat"
    );
    assert_eq!(
        ids(&anonymous
            .get("/api/models?sort=last_modified&direction=-1")
            .await)[0],
        "alice/qwen-chat"
    );
}

/// `full`, `cardData` and `expand`.
#[tokio::test]
async fn full_card_data_and_expand_add_fields() {
    let Listings {
        hub: _hub,
        anonymous,
        ..
    } = listings().await;
    let full = anonymous.get("/api/models?search=bert&full=true").await;
    assert_eq!(
        full.body[0]["siblings"],
        json!([
            { "rfilename": ".gitattributes" }, { "rfilename": "README.md" }, { "rfilename": "config.json" }
        ])
    );
    assert_eq!(
        full.body[0]["cardData"],
        json!({ "license": "mit", "language": "en" })
    );
    let card = anonymous.get("/api/models?search=bert&cardData=true").await;
    assert_eq!(card.body[0]["cardData"]["license"], "mit");
    assert!(card.body[0].get("siblings").is_none());
    let expanded = anonymous
        .get("/api/models?search=bert&expand=likes&expand=downloads")
        .await;
    let keys: Vec<&String> = expanded.body[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["_id", "downloads", "id", "likes"]);
}

/// Pages of `limit`, linked with absolute URLs on the host the client used.
#[tokio::test]
async fn pages_are_linked_with_absolute_urls_on_the_clients_host() {
    let Listings { hub, alice, .. } = listings().await;
    let port = hub.url.rsplit(':').next().unwrap();
    let mut url = format!("http://localhost:{port}/api/models?sort=likes&limit=2");
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        let page = alice
            .client
            .get(&url)
            .bearer_auth(alice.token.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        pages += 1;
        let link = page
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let body: Vec<Value> = page.json().await.unwrap();
        assert!(body.len() <= 2);
        paged.extend(body.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match link {
            Some(link) => {
                let next = link
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_owned();
                assert!(
                    next.starts_with(&format!("http://localhost:{port}/api/models?")),
                    "{next}"
                );
                assert!(next.contains("sort=likes"), "{next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(paged, ids(&alice.get("/api/models?sort=likes").await));
}

/// Bad parameters are clear 400s; unknown listings 404.
#[tokio::test]
async fn bad_listing_parameters_are_400_and_unknown_listings_404() {
    let Listings {
        hub: _hub,
        anonymous,
        ..
    } = listings().await;
    for bad in ["sort=name", "limit=many", "direction=2", "full=maybe"] {
        let r = anonymous.get(&format!("/api/models?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.body["error"].is_string());
    }
    assert_eq!(anonymous.get("/api/kernels").await.status, 404);
}
