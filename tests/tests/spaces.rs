//! Spaces on the hub's side, end to end against the real `hub` binary: the
//! configuration decides the stage; a runner (driven here over the real
//! worker protocol) claims a run per commit, gets the Space's variables and
//! secrets only then, and reports stages and log lines that the runtime
//! API and the logs stream follow; restart, pause, sleep and wake.
//! `spaces_runner.rs` runs real apps in the real sandbox.

mod inference_support;

use std::time::Duration;

use hub_core::jobs::protocol::{
    EventBody, Job, JobInput, LogStream, SPACE_PREFIX, SpaceSdk, SpaceStage, Task,
};
use inference_support::{ProtocolWorker, Sse, capabilities, event, hub_with};
use serde_json::{Value, json};
use tests::{Api, file_op};

/// Apps small enough for the test runner's 1 GiB.
const SMALL: &[(&str, &str)] = &[("HUB_SPACES_MEMORY_MB", "512")];

const GRADIO_CARD: &str = "---\ntitle: Demo\nsdk: gradio\nsdk_version: 5.9.1\n---\n# Demo\n";

async fn runtime(api: &Api, space: &str) -> Value {
    let r = api.get(&format!("/api/spaces/{space}/runtime")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn commit(api: &Api, space: &str, files: &[(&str, &str)]) {
    let ops: Vec<Value> = files
        .iter()
        .map(|(path, text)| file_op(path, text.as_bytes()))
        .collect();
    let r = api.commit_to("spaces", space, "update", &ops, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn runner(hub: &inference_support::Hub) -> ProtocolWorker {
    let token = hub.worker_token("runner");
    ProtocolWorker::register(
        &hub.url,
        &token,
        capabilities(&[&format!("{SPACE_PREFIX}cpu-basic")], &[Task::SpaceRun]),
    )
    .await
}

async fn claim(runner: &ProtocolWorker) -> Job {
    runner
        .claim(Duration::from_secs(10))
        .await
        .expect("a queued Space run")
}

fn stage(seq: u64, stage: SpaceStage, message: Option<&str>) -> hub_core::jobs::protocol::Event {
    event(
        seq,
        EventBody::Stage {
            stage,
            message: message.map(str::to_owned),
        },
    )
}

fn log(seq: u64, stream: LogStream, line: &str) -> hub_core::jobs::protocol::Event {
    event(
        seq,
        EventBody::Log {
            stream,
            line: line.to_owned(),
            at_ms: 1_700_000_000_000 + seq,
        },
    )
}

/// The configuration decides what runs: a static Space is the hub's at
/// once; docker and a missing app file say why nothing runs; an app Space
/// queues a run per commit, which a runner claims with the variables and
/// opened secrets (the queue never holds them), and whose stages and log
/// lines the runtime API and the logs stream follow.
#[tokio::test]
async fn a_space_runs_what_its_configuration_says() {
    let hub = hub_with(SMALL).await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("space", "alice", "demo", false)
            .await
            .status,
        200
    );
    // A new Space is static, without its index.html yet: it says so.
    let rt = runtime(&api, "alice/demo").await;
    assert_eq!(rt["stage"], "NO_APP_FILE", "{rt}");
    assert!(
        rt["errorMessage"].as_str().unwrap().contains("index.html"),
        "{rt}"
    );
    commit(&api, "alice/demo", &[("index.html", "<h1>hi</h1>")]).await;
    let rt = runtime(&api, "alice/demo").await;
    assert_eq!(
        (rt["stage"].as_str(), rt["sdk"].as_str()),
        (Some("RUNNING"), Some("static"))
    );
    assert!(
        rt["domains"][0]["domain"]
            .as_str()
            .unwrap()
            .starts_with("alice-demo.localhost:"),
        "{rt}"
    );

    commit(
        &api,
        "alice/demo",
        &[("README.md", "---\nsdk: docker\n---\n")],
    )
    .await;
    let rt = runtime(&api, "alice/demo").await;
    assert_eq!(rt["stage"], "CONFIG_ERROR");
    assert!(
        rt["errorMessage"]
            .as_str()
            .unwrap()
            .contains("cannot build container images"),
        "{rt}"
    );
    commit(&api, "alice/demo", &[("README.md", GRADIO_CARD)]).await;
    assert_eq!(runtime(&api, "alice/demo").await["stage"], "NO_APP_FILE");

    // Variables are readable; secrets only by key.
    let r = api
        .post(
            "/api/spaces/alice/demo/variables",
            json!({ "key": "MODE", "value": "demo", "description": "how it runs" }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["MODE"]["value"], "demo");
    let r = api
        .post(
            "/api/spaces/alice/demo/secrets",
            json!({ "key": "API_KEY", "value": "s3cr3t-value" }),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let secrets = api.get("/api/spaces/alice/demo/secrets").await;
    assert!(secrets.body.get("API_KEY").is_some(), "{:?}", secrets.body);
    assert!(!secrets.body.to_string().contains("s3cr3t"), "write-only");
    let bad = api
        .post(
            "/api/spaces/alice/demo/secrets",
            json!({ "key": "SPACE_ID", "value": "x" }),
        )
        .await;
    assert_eq!(bad.status, 400, "the hub's own names are refused");
    let pool = hub.pool().await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT value FROM space_env WHERE secret")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        stored.len() == 1 && !stored[0].contains("s3cr3t"),
        "sealed at rest"
    );

    commit(&api, "alice/demo", &[("app.py", "print('hi')\n")]).await;
    let rt = runtime(&api, "alice/demo").await;
    assert_eq!(rt["stage"], "BUILDING");
    let head = rt["sha"].as_str().unwrap().to_owned();
    let inputs: Vec<String> =
        sqlx::query_scalar("SELECT input FROM inference_jobs WHERE task = 'space-run'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(
        inputs.iter().all(|i| !i.contains("s3cr3t")),
        "the queue never holds a secret"
    );

    let runner = runner(&hub).await;
    let job = claim(&runner).await;
    assert_eq!(
        (job.task, job.model.repo_id.as_str()),
        (Task::SpaceRun, "alice/demo")
    );
    assert_eq!(job.model.revision, head);
    let JobInput::SpaceRun(run) = &job.input else {
        panic!("{:?}", job.input)
    };
    assert_eq!((run.sdk, run.app_port), (SpaceSdk::Gradio, 7860));
    assert_eq!(run.sdk_version.as_deref(), Some("5.9.1"));
    assert_eq!(run.variables, vec![("MODE".into(), "demo".into())]);
    assert_eq!(run.secrets, vec![("API_KEY".into(), "s3cr3t-value".into())]);

    // The run reports; the runtime and the logs follow.
    runner
        .ack(
            job.id,
            &[
                stage(0, SpaceStage::Building, None),
                log(1, LogStream::Build, "Collecting gradio==5.9.1"),
                log(2, LogStream::Build, "Successfully installed gradio"),
                stage(3, SpaceStage::AppStarting, None),
                log(
                    4,
                    LogStream::Run,
                    "* Running on local URL:  http://127.0.0.1:7860",
                ),
                stage(5, SpaceStage::Running, None),
            ],
        )
        .await;
    assert_eq!(runtime(&api, "alice/demo").await["stage"], "RUNNING");
    let response = api
        .client
        .get(format!("{}/api/spaces/alice/demo/logs/build", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "logs are server-sent events"
    );
    let mut sse = Sse::new(response);
    let mut lines = Vec::new();
    for _ in 0..2 {
        let (_, data) = tokio::time::timeout(Duration::from_secs(10), sse.next())
            .await
            .expect("a build line")
            .expect("the stream goes on");
        let line: Value = serde_json::from_str(&data).unwrap();
        assert!(line["timestamp"].as_str().unwrap().starts_with("2023-"));
        lines.push(line["data"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        lines,
        ["Collecting gradio==5.9.1", "Successfully installed gradio"]
    );
    // Live: a line reported now reaches the open stream.
    runner
        .ack(job.id, &[log(6, LogStream::Build, "late line")])
        .await;
    let (_, data) = tokio::time::timeout(Duration::from_secs(10), sse.next())
        .await
        .expect("the live line")
        .unwrap();
    assert!(data.contains("late line"), "{data}");

    // A push starts the new head: the old run is stopped (its runner hears
    // it on the next heartbeat), a new one is queued.
    commit(
        &api,
        "alice/demo",
        &[("app.py", "raise SystemExit('boom')\n")],
    )
    .await;
    assert_eq!(runtime(&api, "alice/demo").await["stage"], "BUILDING");
    assert_eq!(runner.heartbeat(&[job.id]).await.cancel, vec![job.id]);
    let second = claim(&runner).await;
    assert_ne!(second.id, job.id);
    runner
        .ack(
            second.id,
            &[
                stage(0, SpaceStage::AppStarting, None),
                log(1, LogStream::Run, "Traceback (most recent call last):"),
                log(2, LogStream::Run, "SystemExit: boom"),
                stage(
                    3,
                    SpaceStage::RuntimeError,
                    Some("the app exited: SystemExit: boom"),
                ),
                event(
                    4,
                    EventBody::Failed {
                        message: "the app exited".into(),
                        retryable: false,
                    },
                ),
            ],
        )
        .await;
    let rt = runtime(&api, "alice/demo").await;
    assert_eq!(rt["stage"], "RUNTIME_ERROR");
    assert!(
        rt["errorMessage"].as_str().unwrap().contains("boom"),
        "{rt}"
    );
    // The run log of an ended run is all there, and the stream ends.
    let response = api
        .client
        .get(format!("{}/api/spaces/alice/demo/logs/run", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let lines = tokio::time::timeout(Duration::from_secs(10), Sse::new(response).rest())
        .await
        .expect("an ended run's log ends");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("SystemExit: boom"));

    // Restart, pause, restart again; the runtime says each.
    let r = api
        .post("/api/spaces/alice/demo/restart?factory=true", json!({}))
        .await;
    assert_eq!(
        (r.status, r.body["stage"].as_str()),
        (200, Some("BUILDING")),
        "{:?}",
        r.body
    );
    let third = claim(&runner).await;
    let JobInput::SpaceRun(run) = &third.input else {
        panic!()
    };
    assert!(run.factory, "a factory rebuild reuses nothing");
    let r = api.post("/api/spaces/alice/demo/pause", json!({})).await;
    assert_eq!(r.body["stage"], "PAUSED");
    assert_eq!(runner.heartbeat(&[third.id]).await.cancel, vec![third.id]);
    commit(&api, "alice/demo", &[("app.py", "print('again')\n")]).await;
    assert_eq!(
        runtime(&api, "alice/demo").await["stage"],
        "PAUSED",
        "a push does not unpause"
    );
    let r = api.post("/api/spaces/alice/demo/restart", json!({})).await;
    assert_eq!(r.body["stage"], "BUILDING");

    // Only writers may act; readers see the runtime; the secret appeared
    // nowhere a reader can look.
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    assert_eq!(
        bob.post("/api/spaces/alice/demo/restart", json!({}))
            .await
            .status,
        403
    );
    assert_eq!(bob.get("/api/spaces/alice/demo/secrets").await.status, 403);
    assert_eq!(bob.get("/api/spaces/alice/demo/runtime").await.status, 200);
    let info = bob.get("/api/spaces/alice/demo").await;
    assert_eq!(info.body["runtime"]["stage"], "BUILDING");
    assert!(!info.body.to_string().contains("s3cr3t"));
    // A static Space has nothing to restart.
    assert_eq!(
        api.create_repo("space", "alice", "page", false)
            .await
            .status,
        200
    );
    let r = api.post("/api/spaces/alice/page/restart", json!({})).await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

/// A private Space is invisible to outsiders on every Space route.
#[tokio::test]
async fn a_private_space_is_not_found_by_outsiders() {
    let hub = hub_with(&[]).await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    assert_eq!(
        api.create_repo("space", "alice", "secret", true)
            .await
            .status,
        200
    );
    let bob = hub.api(Some(&hub.user_with_token("bob")));
    for path in ["runtime", "logs/run", "variables"] {
        let r = bob.get(&format!("/api/spaces/alice/secret/{path}")).await;
        assert_eq!(
            (r.status, r.error_code()),
            (404, Some("RepoNotFound")),
            "{path}"
        );
    }
    let r = bob
        .post("/api/spaces/alice/secret/restart", json!({}))
        .await;
    assert_eq!(r.status, 404);
}

/// A Space nobody visits for its sleep time sleeps (its run is stopped);
/// the next visit to its origin wakes it (a new run is queued).
#[tokio::test]
async fn an_idle_space_sleeps_and_a_visit_wakes_it() {
    let hub = hub_with(&[("HUB_SPACES_SWEEP_MS", "200"), SMALL[0]]).await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    assert_eq!(
        api.create_repo("space", "alice", "nap", false).await.status,
        200
    );
    commit(
        &api,
        "alice/nap",
        &[("README.md", GRADIO_CARD), ("app.py", "print('hi')\n")],
    )
    .await;
    let r = api
        .post("/api/spaces/alice/nap/sleeptime", json!({ "seconds": 60 }))
        .await;
    assert_eq!(
        (r.status, r.body["gcTimeout"].as_i64()),
        (200, Some(60)),
        "{:?}",
        r.body
    );
    let runner = runner(&hub).await;
    let job = claim(&runner).await;
    runner
        .ack(job.id, &[stage(0, SpaceStage::Running, None)])
        .await;
    // A minute without visits, as the sweep sees it.
    let pool = hub.pool().await;
    sqlx::query("UPDATE space_runtimes SET last_activity_at = now() - interval '2 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    let mut slept = false;
    for _ in 0..50 {
        if runtime(&api, "alice/nap").await["stage"] == "SLEEPING" {
            slept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(slept, "the Space did not go to sleep");
    assert_eq!(runner.heartbeat(&[job.id]).await.cancel, vec![job.id]);
    // A visit to the Space's origin wakes it, and says so.
    let host = runtime(&api, "alice/nap").await["domains"][0]["domain"]
        .as_str()
        .unwrap()
        .to_owned();
    let visit = reqwest::Client::new()
        .get(format!("{}/", hub.url))
        .header("host", &host)
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), 503, "a passing stage answers 503");
    assert_eq!(runtime(&api, "alice/nap").await["stage"], "BUILDING");
    let woken = claim(&runner).await;
    assert_ne!(woken.id, job.id);
}

/// The Space page frames the app on its own origin (a private Space's
/// frame carries a pass); the settings page lets admins restart, pause,
/// set variables and secrets (never shown back); outsiders get 404; the
/// Spaces listing shows each Space's stage.
#[tokio::test]
async fn the_space_page_frames_the_app_and_admins_manage_it() {
    use tests::browser::Browser;
    let hub = hub_with(SMALL).await;
    let alice = Browser::new(&hub.url);
    alice.sign_up("alice").await;
    let bob = Browser::new(&hub.url);
    bob.sign_up("bob").await;
    alice.create_repo("alice", "site", "space", false).await;
    alice.create_repo("alice", "hidden", "space", true).await;
    let token = hub.token("alice", true);
    let api = hub.api(Some(&token));
    for space in ["alice/site", "alice/hidden"] {
        commit(&api, space, &[("index.html", "<h1>hi</h1>")]).await;
    }

    let (status, html) = alice.get("/spaces/alice/site").await;
    assert_eq!(status, 200);
    let port = hub.url.rsplit(':').next().unwrap();
    assert!(
        html.contains(&format!(
            "<iframe class=\"space-app\" src=\"http://alice-site.localhost:{port}/\""
        )),
        "{html}"
    );
    assert!(html.contains("stage-running"), "{html}");
    let (_, html) = alice.get("/spaces/alice/hidden").await;
    assert!(
        html.contains(&format!(
            "src=\"http://alice-hidden.localhost:{port}/?__sign="
        )),
        "a private Space's frame carries a pass: {html}"
    );
    assert_eq!(bob.get("/spaces/alice/hidden").await.0, 404);

    // The settings: a variable and a secret through the forms.
    let (status, html) = alice.get("/spaces/alice/site/settings").await;
    assert_eq!(status, 200);
    assert!(html.contains("/spaces/alice/site/settings/space"), "{html}");
    for (action, key, value) in [
        ("variable", "MODE", "demo"),
        ("secret", "TOKEN", "hush-123"),
    ] {
        let r = alice
            .post(
                "/spaces/alice/site/settings/space",
                &[
                    ("action", action),
                    ("key", key),
                    ("value", value),
                    ("description", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), 303, "{action}");
    }
    let (_, html) = alice.get("/spaces/alice/site/settings").await;
    assert!(
        html.contains("<code>MODE</code> = <code>demo</code>"),
        "{html}"
    );
    assert!(
        html.contains("<code>TOKEN</code>") && !html.contains("hush-123"),
        "{html}"
    );
    let r = alice
        .post(
            "/spaces/alice/site/settings/space",
            &[("action", "variable"), ("key", "SPACE_ID"), ("value", "x")],
        )
        .await;
    assert_eq!(r.status(), 400, "the hub's own names are refused");
    assert_eq!(bob.get("/spaces/alice/site/settings").await.0, 404);
    let r = bob
        .post("/spaces/alice/site/settings/space", &[("action", "pause")])
        .await;
    assert_eq!(r.status(), 404);

    // The listing shows stages.
    let (_, html) = bob.get("/spaces").await;
    assert!(html.contains("stage-running"), "{html}");
    assert!(!html.contains("alice/hidden"));
}
