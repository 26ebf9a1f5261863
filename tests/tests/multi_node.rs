//! Several hub nodes as one hub: three `hub serve` processes on one
//! PostgreSQL database, one S3 store and one data dir, behind a round-robin
//! reverse proxy (tests/src/cluster.rs, tests/src/proxy.rs), driven by the
//! real clients — `git push` with `git lfs`, huggingface_hub (Xet and LFS),
//! the browser upload route, the NDJSON commit API and the worker protocol.
//!
//! The promise checked: every acknowledged write lands exactly once, the
//! repositories stay sound (`git fsck`), PostgreSQL's view of a repo agrees
//! with git, and a node SIGKILLed mid-upload and mid-push loses only what
//! it had not acknowledged, blocking nobody.

mod inference_support;
mod multi_node_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_core::jobs::protocol::{EventBody, FinishReason, Task, Usage};
use inference_support::{
    ProtocolWorker, Sse, capabilities, chat_text, config_only_model, event, tok,
};
use multi_node_support::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tests::cluster::{Cluster, prerequisite, python};
use tests::proxy::{PIN_HEADER, THROTTLE_HEADER};
use tests::{git, ok};

/// A browser session is PostgreSQL's, not a node's: signed up through one
/// node, it works on the others — the CSRF token a page on one node gave
/// is accepted by another — and signing out on one ends it on all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_move_between_nodes() {
    let cluster = Cluster::start(NODES).await;
    let browser = Browser::new(&cluster);
    browser.on(0).sign_up("alice").await;
    for node in 0..NODES {
        let (status, served, html) = browser.on(node).get("/settings/tokens").await;
        assert_eq!((status, served), (StatusCode::OK, node));
        assert!(html.contains("alice"), "signed in on node {node}");
    }
    // The CSRF token of node 1's page, used on node 2 to create a repo and
    // on node 0 to upload to it.
    let csrf = browser.on(1).csrf().await;
    let created = browser
        .on(2)
        .request(reqwest::Method::POST, "/new")
        .form(&[
            ("owner", "alice"),
            ("name", "m"),
            ("repo_type", "model"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303, "repo created on node 2");
    let files = vec![("README.md".to_owned(), b"# hello\n".to_vec())];
    let (status, answer) = browser
        .on(0)
        .upload("alice/m", &format!("{MARK}web"), &files, &csrf)
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    // Links the nodes hand out name the proxy (the trusted forwarded host),
    // whichever node made them: the clients refuse any other host.
    let token = cluster.node(0).token("alice", true);
    for node in 0..NODES {
        let request = json!({ "operation": "upload", "transfers": ["basic"],
            "objects": [{ "oid": "a".repeat(64), "size": 1 }] });
        let r = client_pinned(Some(node))
            .post(format!(
                "{}/alice/m.git/info/lfs/objects/batch",
                cluster.url
            ))
            .bearer_auth(&token)
            .header("accept", "application/vnd.git-lfs+json")
            .header("content-type", "application/vnd.git-lfs+json")
            .body(request.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!((r.status().as_u16(), served_by(r.headers())), (200, node));
        let batch: Value = r.json().await.unwrap();
        let href = batch["objects"][0]["actions"]["upload"]["href"]
            .as_str()
            .unwrap_or_else(|| panic!("an upload action: {batch}"));
        assert!(href.starts_with(&format!("{}/", cluster.url)), "{href}");
    }

    // A second session of alice, signed in on node 2, signed out on node 0:
    // over on every node. The first session is untouched.
    let second = Browser::new(&cluster);
    second.on(2).log_in("alice", "long-enough").await;
    let csrf2 = second.on(1).csrf().await;
    let out = second
        .on(0)
        .request(reqwest::Method::POST, "/logout")
        .form(&[("csrf", csrf2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    for node in 0..NODES {
        let (status, _, _) = second.on(node).get("/settings/tokens").await;
        assert_ne!(status, 200, "signed out on node {node} too");
        let (status, _, _) = browser.on(node).get("/settings/tokens").await;
        assert_eq!(status, 200, "the other session lives on node {node}");
    }
}

/// Every kind of writer at once, on one branch, through all three nodes:
/// git pushes with LFS files, huggingface_hub uploads through Xet and
/// through LFS, browser uploads and NDJSON commits. Each acknowledged write
/// lands exactly once and reads back through every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_every_node_land_each_write_once() {
    let Some(_) = prerequisite(python(), "the test venv's Python (tests/run creates .venv)") else {
        return;
    };
    let (cluster, token) = cluster_with_repo().await;
    let repo = "alice/shared";
    let ledger = Ledger::default();
    let browser = Browser::new(&cluster);
    browser.log_in("alice", PASSWORD).await;
    let work = tempfile::tempdir().unwrap();
    let url = git_url(&cluster, &token, repo);
    let clones: Vec<Checkout> = (0..2)
        .map(|i| Checkout::new(work.path(), &format!("pusher{i}"), &url))
        .collect();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, clone) in clones.into_iter().enumerate() {
        let ledger = ledger.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            clone.run_pushes(&format!("git{i}"), 3, &ledger)
        }));
    }
    for i in 0..2 {
        let (committer, ledger) = (Committer::new(&cluster, &token, None), ledger.clone());
        tasks.push(tokio::spawn(async move {
            committer.run(repo, &format!("api{i}"), 6, &ledger).await
        }));
    }
    {
        let (browser, ledger) = (browser.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            browser.run_uploads(repo, "web", 4, &ledger).await
        }));
    }
    for (who, xet) in [("xet", true), ("lfs", false)] {
        let (url, token, ledger) = (cluster.url.clone(), token.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            hf_uploads(&url, &token, repo, who, 3, xet, &ledger).await
        }));
    }
    for task in tasks {
        task.await.expect("a writer failed");
    }
    eprintln!(
        "{} writes in {:?}; requests per node {:?}",
        ledger.acked_count(),
        started.elapsed(),
        cluster.proxy.served()
    );
    assert!(
        ledger.unknown.lock().unwrap().is_empty(),
        "with every node up, every write is answered"
    );
    assert_eq!(ledger.acked_count(), 2 * 3 + 2 * 6 + 4 + 2 * 3);
    let served = cluster.proxy.served();
    assert!(
        served.iter().all(|&n| n > 20),
        "every node did its share: {served:?}"
    );
    // The Xet uploads went through Xet (their xorbs are recorded).
    let xorbs: i64 = sqlx::query_scalar("SELECT count(*) FROM xet_xorbs")
        .fetch_one(&cluster.pool().await)
        .await
        .unwrap();
    assert!(xorbs > 0, "huggingface_hub used Xet");
    check_repo(&cluster, repo, &ledger).await;
}

/// Inference across nodes: clients stream from one node each while the
/// worker claims through another and reports each job's tokens through the
/// two others; every stream gets its tokens, in order, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_streams_are_relayed_across_nodes() {
    let cluster = Cluster::start(NODES).await;
    let token = cluster.user_with_token("alice");
    config_only_model(cluster.node(0), &token, "alice/tiny", "qwen2", false).await;
    let out = cluster
        .node(0)
        .cli(&["worker-token", "create", "--name", "w1"]);
    assert!(out.status.success());
    let wtoken = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let mut caps = capabilities(&["qwen2"], &[Task::TextGeneration]);
    caps.max_concurrent_jobs = NODES as u32;
    let worker = ProtocolWorker::register(&cluster.url, &wtoken, caps).await;
    let worker_on = |node: usize| ProtocolWorker {
        client: client_pinned(Some(node)),
        ..worker.clone()
    };

    // One streaming client per node.
    let mut streams = Vec::new();
    for node in 0..NODES {
        let body = json!({
            "model": "alice/tiny",
            "messages": [{ "role": "user", "content": format!("stream {node}") }],
            "stream": true,
            "max_tokens": 8,
        });
        let request = client_pinned(Some(node))
            .post(format!("{}/v1/chat/completions", cluster.url))
            .bearer_auth(&token)
            .json(&body)
            .send();
        streams.push(tokio::spawn(request));
    }
    let mut jobs = HashMap::new();
    let claimer = worker_on(1);
    while jobs.len() < NODES {
        let Some(job) = claimer.claim(Duration::from_secs(20)).await else {
            for stream in streams {
                let r = stream.await.unwrap().unwrap();
                eprintln!("{} {}", r.status(), r.text().await.unwrap());
            }
            panic!("no job queued; {}", cluster.logs());
        };
        let hub_core::jobs::protocol::JobInput::Generate(input) = &job.input else {
            panic!("a generation job")
        };
        let hub_core::jobs::protocol::Prompt::Chat(messages) = &input.prompt else {
            panic!("chat messages")
        };
        let node: usize = messages[0]
            .content
            .trim_start_matches("stream ")
            .parse()
            .unwrap();
        jobs.insert(node, job.id);
    }
    // Each job's first tokens through one other node, the rest through the third.
    for (&node, &job) in &jobs {
        worker_on((node + 1) % NODES)
            .ack(
                job,
                &[
                    event(0, EventBody::Started { prompt_tokens: 3 }),
                    tok(1, 5, "你"),
                ],
            )
            .await;
    }
    let mut sse = HashMap::new();
    for (node, stream) in streams.into_iter().enumerate() {
        let response = stream.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(served_by(response.headers()), node);
        let mut events = Sse::new(response);
        let (_, role) = events.next().await.unwrap();
        assert!(role.contains("assistant"), "{role}");
        let (_, first) = events.next().await.unwrap();
        assert!(first.contains("\"content\":\"你\""), "{first}");
        sse.insert(node, events);
    }
    for (&node, &job) in &jobs {
        let sent = Instant::now();
        worker_on((node + 2) % NODES)
            .ack(job, &[tok(2, 6, "好")])
            .await;
        let (_, second) = sse.get_mut(&node).unwrap().next().await.unwrap();
        assert!(second.contains("\"content\":\"好\""), "{second}");
        let after = sent.elapsed();
        assert!(after < Duration::from_secs(2), "relayed after {after:?}");
        worker_on((node + 2) % NODES)
            .ack(
                job,
                &[event(
                    3,
                    EventBody::Finished {
                        finish_reason: FinishReason::EosToken,
                        usage: Usage {
                            prompt_tokens: 3,
                            generated_tokens: 2,
                            device_ms: 1,
                        },
                    },
                )],
            )
            .await;
        let (text, done) = chat_text(&sse.get_mut(&node).unwrap().rest().await);
        assert_eq!((text.as_str(), done), ("", true));
    }
    let succeeded: i64 =
        sqlx::query_scalar("SELECT count(*) FROM inference_jobs WHERE state = 'succeeded'")
            .fetch_one(&cluster.pool().await)
            .await
            .unwrap();
    assert_eq!(succeeded, NODES as i64);
}

/// A node SIGKILLed while it receives a browser upload and a `git push`:
/// those two may be lost, nothing else is; the other nodes keep taking
/// writes to the same branch at once (no lock left behind blocks them);
/// the node comes back and serves the same repo.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_upload_and_mid_push_loses_only_those() {
    let (mut cluster, token) = cluster_with_repo().await;
    let repo = "alice/shared";
    let victim = 2;
    let ledger = Ledger::default();
    let work = tempfile::tempdir().unwrap();
    let url = git_url(&cluster, &token, repo);
    let pusher = Checkout::new(work.path(), "pusher", &url);
    let mut slow_pusher = Checkout::new(work.path(), "slow", &url);

    // Writers that keep going through every node until told to stop.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = {
        let (committer, ledger, stop) = (
            Committer::new(&cluster, &token, None),
            ledger.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 300 {
                committer.one(repo, "api", n, &ledger).await;
                n += 1;
                // A steady stream, not a flood: the checks read every file back.
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };

    // An upload that stalls halfway on the victim: its body comes from here.
    let browser = Browser::new(&cluster);
    browser.log_in("alice", PASSWORD).await;
    let csrf = browser.csrf().await;
    let upload_summary = format!("{MARK}web victim");
    let big = content(&upload_summary, 4 << 20, true);
    let (feed, body) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let manifest = json!({
        "summary": upload_summary,
        "files": [{ "path": "victim/upload.bin", "size": big.len() }],
    });
    let mut first = serde_json::to_vec(&manifest).unwrap();
    first.push(b'\n');
    first.extend_from_slice(&big[..1 << 20]);
    feed.send(Ok(first)).await.unwrap();
    let stalled_upload = tokio::spawn(
        browser
            .on(victim)
            .request(reqwest::Method::POST, &format!("/{repo}/upload/main"))
            .header("x-csrf-token", &csrf)
            .body(reqwest::Body::wrap_stream(tokio_stream(body)))
            .send(),
    );

    // A push that trickles its pack to the victim (about 8 s for 1.6 MB).
    let push_summary = format!("{MARK}git victim");
    let push_files = vec![(
        "victim/pack.dat".to_owned(),
        content(&push_summary, 1_600_000, true),
    )];
    slow_pusher.commit(&push_summary, &push_files);
    slow_pusher.options = vec![
        format!("http.extraHeader={PIN_HEADER}: {victim}"),
        format!("http.extraHeader={THROTTLE_HEADER}: 200000"),
    ];
    let slow_push = tokio::task::spawn_blocking(move || {
        // To a branch of its own: with main moving all the time, a push to
        // main would be refused before its pack went out.
        let out = slow_pusher.run(&["push", "--quiet", "origin", "HEAD:refs/heads/victim"]);
        (slow_pusher, out)
    });

    // Kill it once both are under way on the victim, with writes landing elsewhere.
    let in_flight = |suffix: &str, bytes: u64| {
        cluster.proxy.in_flight().iter().any(|r| {
            r.node == victim && r.method == "POST" && r.path.ends_with(suffix) && r.sent >= bytes
        })
    };
    until(
        "the upload and the push on the victim",
        Duration::from_secs(60),
        || {
            slow_push.is_finished()
                || (in_flight("/upload/main", 1 << 20) && in_flight("/git-receive-pack", 100_000))
        },
    )
    .await;
    assert!(!slow_push.is_finished(), "the push ended before the kill");
    until("some commits", Duration::from_secs(60), || {
        ledger.acked_count() >= 3
    })
    .await;
    cluster.kill(victim);
    let killed_at = ledger.acked_count();

    // Both were cut off: the client hears of it (or of nothing at all).
    drop(feed);
    if let Ok(r) = stalled_upload.await.unwrap() {
        assert!(
            r.status() == StatusCode::BAD_GATEWAY || r.text().await.is_err(),
            "the upload was not acknowledged"
        );
    }
    ledger.unknown(upload_summary);
    let (slow_pusher, out) = slow_push.await.unwrap();
    assert!(!out.status.success(), "the push to a dead node failed");

    // The others take writes to the same branch at once: the API writer
    // goes on; then pushes (the cut-off one again, rebased) and a browser
    // upload, side by side.
    until("commits after the kill", Duration::from_secs(60), || {
        ledger.acked_count() >= killed_at + 5
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    background.await.unwrap();
    let after = Instant::now();
    let pushes = tokio::task::spawn_blocking({
        let ledger = ledger.clone();
        move || pusher.run_pushes("git", 2, &ledger)
    });
    let mut slow_pusher = slow_pusher;
    slow_pusher.options.clear();
    let again = tokio::task::spawn_blocking(move || {
        slow_pusher.ok(&["pull", "--quiet", "--rebase", "origin", "main"]);
        slow_pusher.push_rebasing(40)
    });
    browser.run_uploads(repo, "web", 2, &ledger).await;
    pushes.await.unwrap();
    ledger.ack(Write {
        summary: push_summary,
        commit: Some(
            again
                .await
                .unwrap()
                .expect("the victim's push goes through another node"),
        ),
        files: push_files,
    });
    let survivors_took = after.elapsed();
    assert!(
        survivors_took < Duration::from_secs(60),
        "writes after the kill took {survivors_took:?}"
    );

    // The node comes back on the same storage and serves the same repo.
    cluster.restart(victim).await;
    let committer = Committer::new(&cluster, &token, Some(victim));
    committer.run(repo, "back", 2, &ledger).await;
    eprintln!(
        "{} acknowledged, {} unknown; requests per node {:?}",
        ledger.acked_count(),
        ledger.unknown.lock().unwrap().len(),
        cluster.proxy.served()
    );
    check_repo(&cluster, repo, &ledger).await;
}

/// A stream of the chunks sent into `rx`.
fn tokio_stream(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

/// A node killed between taking a ref's lock and releasing it leaves
/// `refs/heads/main.lock` behind, which git never removes: once it is old
/// enough to be a dead writer's, API commits and pushes through the other
/// nodes go through instead of failing on it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ref_lock_left_by_a_killed_node_blocks_nobody() {
    let (cluster, token) = cluster_with_repo().await;
    let repo = "alice/shared";
    let repo_id: i64 = sqlx::query_scalar("SELECT id FROM repos WHERE name = 'shared'")
        .fetch_one(&cluster.pool().await)
        .await
        .unwrap();
    let lock = cluster.git_dir(repo_id).join("refs/heads/main.lock");
    let leave_lock = || {
        let file = std::fs::File::create(&lock).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(600))
            .unwrap();
    };
    let ledger = Ledger::default();

    leave_lock();
    Committer::new(&cluster, &token, None)
        .one(repo, "api", 0, &ledger)
        .await;
    assert_eq!(ledger.acked_count(), 1, "the API commit landed");
    assert!(!lock.exists());

    let work = tempfile::tempdir().unwrap();
    let checkout = Checkout::new(work.path(), "pusher", &git_url(&cluster, &token, repo));
    leave_lock();
    tokio::task::spawn_blocking({
        let ledger = ledger.clone();
        move || checkout.run_pushes("git", 1, &ledger)
    })
    .await
    .unwrap();
    assert_eq!(ledger.acked_count(), 2, "the push landed");
    check_repo(&cluster, repo, &ledger).await;
}

/// What PostgreSQL records of a repo (listing head, refs) follows git when
/// commits land through several nodes at once: each node's after-commit
/// step reads git and records it, and the last to record must not be the
/// one that read an older head. Checked after every round of three
/// simultaneous commits, one through each node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recorded_head_follows_git_when_nodes_commit_at_once() {
    const ROUNDS: usize = 30;
    let (cluster, token) = cluster_with_repo().await;
    let repo = "alice/shared";
    let repo_id: i64 = sqlx::query_scalar("SELECT id FROM repos WHERE name = 'shared'")
        .fetch_one(&cluster.pool().await)
        .await
        .unwrap();
    let pool = cluster.pool().await;
    let bare = cluster.git_dir(repo_id);
    let ledger = Ledger::default();
    let committers: Vec<Committer> = (0..NODES)
        .map(|node| Committer::new(&cluster, &token, Some(node)))
        .collect();
    for round in 0..ROUNDS {
        let writes = committers.iter().enumerate().map(|(node, c)| {
            let ledger = ledger.clone();
            async move { c.one(repo, &format!("n{node}"), round, &ledger).await }
        });
        futures::future::join_all(writes).await;
        let home = tempfile::tempdir().unwrap();
        let head = ok(git(home.path(), &bare, &["rev-parse", "refs/heads/main"]));
        let (recorded, main): (Option<String>, Option<String>) = sqlx::query_as(
            "SELECT r.head_sha, f.target FROM repos r
             LEFT JOIN repo_refs f ON f.repo_id = r.id AND f.kind = 'branch' AND f.name = 'main'
             WHERE r.id = $1",
        )
        .bind(repo_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(
            recorded.as_deref(),
            Some(head.trim()),
            "round {round}: head"
        );
        assert_eq!(main.as_deref(), Some(head.trim()), "round {round}: refs");
    }
    assert_eq!(ledger.acked_count(), ROUNDS * NODES);
}

/// Behind the balancer, a client's address is the one the balancer saw:
/// `X-Forwarded-For` is read from the right, where the trusted proxy put
/// it, never from what the client wrote on the left — or anyone could pick
/// the address that per-address limits (the anonymous inference tier,
/// sign-in throttles) count against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_addresses_come_from_the_balancer_not_the_client() {
    let cluster = Cluster::start(NODES).await;
    let token = cluster.user_with_token("alice");
    config_only_model(cluster.node(0), &token, "alice/tiny", "qwen2", false).await;
    let out = cluster
        .node(0)
        .cli(&["worker-token", "create", "--name", "w1"]);
    assert!(out.status.success());
    let wtoken = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let _worker = ProtocolWorker::register(
        &cluster.url,
        &wtoken,
        capabilities(&["qwen2"], &[Task::TextGeneration]),
    )
    .await;
    let pool = cluster.pool().await;
    // Anonymous requests, each naming an address of its own choosing: one
    // through the proxy, one straight to a node (which trusts only the proxy).
    let mut pending = Vec::new();
    for base in [cluster.url.clone(), cluster.node(1).url.clone()] {
        let body = json!({ "model": "alice/tiny", "max_tokens": 2,
            "messages": [{ "role": "user", "content": "hi" }] });
        let request = reqwest::Client::new()
            .post(format!("{base}/v1/chat/completions"))
            .header("x-forwarded-for", "203.0.113.7, 198.51.100.1")
            .json(&body)
            .send();
        pending.push(tokio::spawn(request));
    }
    // Both queued (no worker claims them): their records are what counts.
    let deadline = Instant::now() + Duration::from_secs(20);
    let recorded: Vec<String> = loop {
        let ips = sqlx::query_scalar("SELECT client_ip FROM inference_jobs")
            .fetch_all(&pool)
            .await
            .unwrap();
        if ips.len() == 2 {
            break ips;
        }
        assert!(Instant::now() < deadline, "jobs queued: {ips:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(recorded, ["127.0.0.1", "127.0.0.1"]);
    for request in pending {
        request.abort();
    }
}
