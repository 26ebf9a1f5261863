//! `hub serve` with nothing configured: its private PostgreSQL cluster,
//! survival of a SIGKILL, and a clean stop on SIGTERM.

use std::time::{Duration, Instant};

use tests::{TestHub, file_op};

#[tokio::test]
async fn private_cluster_survives_sigkill_and_stops_on_sigterm() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let started = Instant::now();
    let mut hub = TestHub::spawn(&data, None).await;
    let health = reqwest::get(format!("{}/healthz", hub.url)).await.unwrap();
    assert_eq!(health.status(), 200);
    // Printed for the closing note: empty data dir to healthy /healthz.
    eprintln!(
        "MEASURED empty data dir -> healthy /healthz: {:.2?}",
        started.elapsed()
    );
    assert!(data.join("postgres/PG_VERSION").exists());
    let secret = data.join("secret");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions())
            & 0o777,
        0o600
    );

    // The CLI reaches the same database while the server runs.
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "m", true).await.status,
        200
    );
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let r = api
            .commit(
                "alice/m",
                &format!("c{i}"),
                &[file_op(&format!("{i}.txt"), "中文内容".as_bytes())],
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        acknowledged.push(r.body["commitOid"].as_str().unwrap().to_owned());
    }

    // Crash: the postmaster outlives the hub and must be adopted, not duplicated.
    hub.kill();
    let pid_line = std::fs::read_to_string(data.join("postgres/postmaster.pid")).unwrap();
    let postmaster: i32 = pid_line.lines().next().unwrap().parse().unwrap();
    let mut hub = TestHub::spawn(&data, None).await;
    let pid_after: i32 = std::fs::read_to_string(data.join("postgres/postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(postmaster, pid_after, "the running cluster was adopted");
    let api = hub.api(Some(&token));
    let info = api.get("/api/models/alice/m").await;
    assert_eq!(info.status, 200, "{:?}", info.body);
    assert_eq!(info.body["sha"], acknowledged.last().unwrap().as_str());
    let commits = api.get("/api/models/alice/m/commits/main").await;
    let ids: Vec<&str> = commits
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for sha in &acknowledged {
        assert!(
            ids.contains(&sha.as_str()),
            "acknowledged commit {sha} lost"
        );
    }
    assert_eq!(
        hub.api(None).get("/api/models/alice/m").await.status,
        401,
        "still private"
    );

    // SIGTERM: the hub exits cleanly and stops its cluster.
    assert!(hub.stop(), "hub exited with an error:\n{}", hub.log());
    let deadline = Instant::now() + Duration::from_secs(20);
    while data.join("postgres/postmaster.pid").exists() {
        assert!(
            Instant::now() < deadline,
            "the private cluster was not stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // What initdb and pg_ctl print goes to the launcher's own log, not ours.
    assert!(
        !hub.log()
            .contains("Success. You can now start the database server")
    );
}

#[tokio::test]
async fn cli_alone_starts_and_stops_the_private_cluster() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("d");
    let out = std::process::Command::new(tests::hub_binary())
        .args([
            "user",
            "create",
            "--username",
            "solo",
            "--email",
            "solo@example.com",
            "--password",
            "password-123",
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !data.join("postgres/postmaster.pid").exists(),
        "the last user stops the cluster"
    );
    let token = std::process::Command::new(tests::hub_binary())
        .args([
            "token",
            "create",
            "--username",
            "solo",
            "--write",
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap();
    assert!(
        token.starts_with("ky_") && token.trim_end().lines().count() == 1,
        "{token:?}"
    );
}
