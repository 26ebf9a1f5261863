//! HTTPS served by the hub itself (`hub serve --tls-cert/--tls-key`, with
//! `--tls-listen` next to plain HTTP, or alone on `--listen`), with a
//! throwaway CA made at test time (tests/make-test-cert): the API over TLS,
//! links handed out over TLS saying https, git clone and push (LFS
//! included) with ModelScope-style `oauth2:TOKEN` credentials, and clear
//! errors for bad TLS options.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};
use tests::{TestHub, client_trusting, file_op, hub_binary, make_test_cert, ok};

/// The `https://` address the hub logged.
async fn https_url(hub: &TestHub) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = hub.log();
        if let Some(pos) = log.find("listening on https://") {
            let rest = &log[pos + "listening on ".len()..];
            return rest.split_whitespace().next().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no https listener; log:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `tests::git` with the test CA as git's (and git-lfs's) only trust
/// anchor: GIT_SSL_CAINFO, which wins over any http.sslCAInfo setting.
fn git(home: &Path, dir: &Path, ca: &Path, args: &[&str]) -> Output {
    tests::git_command(home, dir)
        .env("GIT_SSL_CAINFO", ca)
        .args(args)
        .output()
        .expect("run git")
}

#[tokio::test]
async fn https_next_to_http_serves_the_api_links_and_git_with_oauth2_credentials() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_test_cert(certs.path());
    let hub = TestHub::start_with_args(&[
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
    .await;
    assert!(hub.url.starts_with("http://"), "{}", hub.url);
    // Clients address the hub by the certificate's name.
    let tls_url = https_url(&hub).await.replace("127.0.0.1", "localhost");
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    api.create_repo("model", "alice", "tiny", false).await;
    api.commit(
        "alice/tiny",
        "add",
        &[file_op("config.json", b"{\"v\": 1}\n")],
        None,
    )
    .await;

    // The ModelScope API over TLS.
    let client = client_trusting(&ca);
    let info = client
        .get(format!("{tls_url}/api/v1/models/alice/tiny"))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    let info: serde_json::Value = info.json().await.unwrap();
    assert_eq!(info["Data"]["Name"], "tiny");

    // Upload links are built from how the client came: https over TLS,
    // http over the plain listener.
    let oid = hex::encode(Sha256::digest(b"tls blob"));
    let batch = json!({"operation": "upload", "objects": [{"oid": oid, "size": 8}]});
    let path = "/api/v1/repos/models/alice/tiny/info/lfs/objects/batch";
    for (base, client) in [(&tls_url, &client), (&hub.url, &reqwest::Client::new())] {
        let answer: serde_json::Value = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&batch)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let href = answer["Data"]["objects"][0]["actions"]["upload"]["href"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(href.starts_with(&format!("{base}/")), "{href} from {base}");
    }

    // Login over https sets a Secure cookie; over plain HTTP it cannot.
    for (base, client, secure) in [
        (&tls_url, &client, true),
        (&hub.url, &reqwest::Client::new(), false),
    ] {
        let login = client
            .post(format!("{base}/api/v1/login"))
            .json(&json!({ "AccessToken": token }))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200);
        let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("m_session_id="), "{cookie}");
        assert_eq!(cookie.contains("; Secure"), secure, "{cookie}");
    }

    // Without the test CA the certificate is refused, and plain HTTP to the
    // TLS port gets no HTTP answer: this really is TLS.
    let untrusted = reqwest::Client::new()
        .get(format!("{tls_url}/api/v1/models/alice/tiny"))
        .send()
        .await;
    assert!(untrusted.is_err(), "{untrusted:?}");
    let plain = reqwest::Client::new()
        .get(tls_url.replace("https://", "http://") + "/api/v1/models/alice/tiny")
        .send()
        .await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));

    // git clone and push (with an LFS file) as ModelScope's git helpers do:
    // user name oauth2, the API token as password.
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let h = home.path();
    ok(git(h, h, &ca, &["lfs", "install", "--skip-repo"]));
    let url = format!(
        "{}/alice/tiny.git",
        tls_url.replacen("https://", &format!("https://oauth2:{token}@"), 1)
    );
    ok(git(h, work.path(), &ca, &["clone", &url, "a"]));
    let a = work.path().join("a");
    assert_eq!(
        std::fs::read(a.join("config.json")).unwrap(),
        b"{\"v\": 1}\n"
    );
    let weights: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(a.join("model.safetensors"), &weights).unwrap();
    std::fs::write(a.join("notes.txt"), "pushed over TLS\n").unwrap();
    ok(git(h, &a, &ca, &["add", "."]));
    ok(git(h, &a, &ca, &["commit", "-m", "over tls"]));
    ok(git(h, &a, &ca, &["push", "origin", "main"]));

    let files: serde_json::Value = client
        .get(format!(
            "{tls_url}/api/v1/models/alice/tiny/repo/files?Revision=master&Recursive=True"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = files["Data"]["Files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["Path"] == "model.safetensors")
        .unwrap_or_else(|| panic!("{files}"))
        .clone();
    assert_eq!(entry["IsLFS"], true);
    assert_eq!(entry["Sha256"], hex::encode(Sha256::digest(&weights)));
    let got = client
        .get(format!(
            "{tls_url}/api/v1/models/alice/tiny/repo?Revision=master&FilePath=model.safetensors"
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), weights.as_slice());

    // A wrong password is refused over TLS as over HTTP.
    let bad = url.replace(&token, "ky_not_a_token");
    let out = git(h, work.path(), &ca, &["clone", &bad, "b"]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn tls_alone_on_listen() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_test_cert(certs.path());
    let hub = TestHub::start_with_args(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
    .await;
    assert!(hub.url.starts_with("https://"), "{}", hub.url);
    let url = hub.url.replace("127.0.0.1", "localhost");
    let health = client_trusting(&ca)
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(!hub.log().contains("listening on http://"));
}

/// `hub serve` with bad TLS options: a clear error, nothing served.
#[tokio::test]
async fn bad_tls_options_are_refused() {
    let certs = tempfile::tempdir().unwrap();
    let (_, cert, key) = make_test_cert(certs.path());
    let data = tempfile::tempdir().unwrap();
    let serve = |args: &[&str]| {
        let out = Command::new(hub_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args(args)
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let cert = cert.to_str().unwrap();
    let key = key.to_str().unwrap();
    let missing = certs.path().join("missing.pem");
    let missing = missing.to_str().unwrap();

    let err = serve(&["--tls-cert", cert]);
    assert!(err.contains("--tls-key"), "{err}");
    let err = serve(&["--tls-listen", "127.0.0.1:0"]);
    assert!(err.contains("--tls-cert"), "{err}");
    let err = serve(&["--tls-cert", missing, "--tls-key", key]);
    assert!(
        err.contains("cannot read the TLS certificate") && err.contains("missing.pem"),
        "{err}"
    );
    // A key given as the certificate holds no certificate.
    let err = serve(&["--tls-cert", key, "--tls-key", key]);
    assert!(err.contains("holds no PEM certificate"), "{err}");
    // A certificate given as the key.
    let err = serve(&["--tls-cert", cert, "--tls-key", cert]);
    assert!(err.contains("cannot read the TLS private key"), "{err}");
    // An address in use: refused before the database is even opened (the
    // DATABASE_URL here leads nowhere).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let err = serve(&["--tls-cert", cert, "--tls-key", key, "--tls-listen", &taken]);
    assert!(err.contains(&format!("cannot listen on {taken}")), "{err}");
    // A key of another certificate.
    let other = tempfile::tempdir().unwrap();
    let (_, _, other_key) = make_test_cert(other.path());
    let err = serve(&["--tls-cert", cert, "--tls-key", other_key.to_str().unwrap()]);
    assert!(err.contains("do not belong together"), "{err}");
}
