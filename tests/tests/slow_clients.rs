//! Clients that connect and then keep the hub waiting: half-sent request
//! headers and request bodies that stop arriving are cut after the header
//! and body timeouts (`HUB_HEADER_TIMEOUT_SECS`, `HUB_BODY_TIMEOUT_SECS`,
//! set short here), on the plain and the TLS listener alike, and the
//! descriptors they held are released. An answer given before the request
//! body was read says that the connection closes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tests::{TestDatabase, TestHub, client_trusting, make_test_cert};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_SECS: u64 = 2;
const BODY_SECS: u64 = 2;

/// A hub with short timeouts, and what must outlive it.
async fn hub_with_timeouts(args: &[&str]) -> (TestHub, TestDatabase, tempfile::TempDir) {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "HUB_HEADER_TIMEOUT_SECS".to_owned(),
            HEADER_SECS.to_string(),
        ),
        ("HUB_BODY_TIMEOUT_SECS".to_owned(), BODY_SECS.to_string()),
    ];
    let hub = TestHub::spawn_with_args(dir.path(), Some(db.url.clone()), env, args).await;
    (hub, db, dir)
}

fn addr_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// Descriptors the hub process has open.
fn open_fds(hub: &TestHub) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", hub.pid()))
        .unwrap()
        .count()
}

/// Reads until the hub closes the connection (or `limit` passes: `None`);
/// returns what it sent.
async fn read_until_closed(conn: &mut (impl AsyncRead + Unpin), limit: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    let (hub, _db, _dir) = hub_with_timeouts(&[]).await;
    let addr = addr_of(&hub.url);
    let before = open_fds(&hub);
    const CLIENTS: usize = 300;
    let mut conns = Vec::new();
    for i in 0..CLIENTS {
        let mut conn = TcpStream::connect(&addr).await.unwrap();
        // Half of them send part of a request line and headers, the others nothing.
        if i % 2 == 0 {
            conn.write_all(b"GET /api/models HTTP/1.1\r\nHost: hub\r\nX-Slow: 1")
                .await
                .unwrap();
        }
        conns.push(conn);
    }
    let opened = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = open_fds(&hub);
    assert!(
        held >= before + CLIENTS,
        "the hub holds the connections at first ({before} → {held})"
    );
    // Each is closed once the header timeout has passed, not before.
    let closed = futures::future::join_all(
        conns
            .iter_mut()
            .map(|c| read_until_closed(c, Duration::from_secs(HEADER_SECS + 8))),
    )
    .await;
    let took = opened.elapsed();
    assert!(
        closed.iter().all(Option::is_some),
        "{} of {CLIENTS} connections still open after {took:?}",
        closed.iter().filter(|c| c.is_none()).count()
    );
    assert!(took >= Duration::from_secs(HEADER_SECS) - Duration::from_millis(600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = open_fds(&hub);
    println!(
        "{CLIENTS} half-sent connections: hub descriptors {before} → {held} → {after} \
         (closed after {took:?}, header timeout {HEADER_SECS} s)"
    );
    assert!(
        after < before + 10,
        "descriptors released: {before} → {after}"
    );

    // A client that sends its request in time is served as before, and a
    // kept-alive connection serves several requests.
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    for _ in 0..2 {
        conn.write_all(b"GET /api/models HTTP/1.1\r\nHost: hub\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        // (Read the rest of the small answer.)
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut rest = [0u8; 65536];
        let _ = tokio::time::timeout(Duration::from_millis(200), conn.read(&mut rest)).await;
    }
}

#[tokio::test]
async fn a_request_body_that_stops_arriving_is_cut() {
    let (hub, _db, _dir) = hub_with_timeouts(&[]).await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    let commits = || async {
        let listed = hub
            .api(Some(&token))
            .get("/api/models/alice/m/commits/main")
            .await;
        listed.body.as_array().map(Vec::len).unwrap()
    };
    let commits_before = commits().await;
    let mut conn = TcpStream::connect(addr_of(&hub.url)).await.unwrap();
    let header = br#"{"key":"header","value":{"summary":"never ends"}}"#;
    let request = format!(
        "POST /api/models/alice/m/commit/main HTTP/1.1\r\nHost: hub\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\n\r\n",
        header.len() + 1,
        String::from_utf8_lossy(header)
    );
    let started = Instant::now();
    conn.write_all(request.as_bytes()).await.unwrap();
    // ... and the final chunk never comes.
    let answer = read_until_closed(&mut conn, Duration::from_secs(BODY_SECS + 10))
        .await
        .expect("the hub cut the body that never ended");
    let took = started.elapsed();
    println!(
        "never-ending chunked commit body: cut after {took:?}: {:?}",
        answer.lines().next()
    );
    assert!(took >= Duration::from_secs(BODY_SECS) - Duration::from_millis(300));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "a client error, if anything: {answer}"
    );
    assert_eq!(commits().await, commits_before, "nothing was committed");

    // A slow body that keeps arriving within the timeout goes through.
    let mut conn = TcpStream::connect(addr_of(&hub.url)).await.unwrap();
    let lines = [
        r#"{"key":"header","value":{"summary":"slow but steady"}}"#.to_owned(),
        r#"{"key":"file","value":{"path":"a.txt","content":"aGk=","encoding":"base64"}}"#
            .to_owned(),
    ];
    let head = format!(
        "POST /api/models/alice/m/commit/main HTTP/1.1\r\nHost: hub\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for line in &lines {
        tokio::time::sleep(Duration::from_millis(BODY_SECS * 1000 * 3 / 4)).await;
        let piece = format!("{}\n", line);
        conn.write_all(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes())
            .await
            .unwrap();
    }
    conn.write_all(b"0\r\n\r\n").await.unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(20))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(commits().await, commits_before + 1);
}

#[tokio::test]
async fn an_answer_given_before_the_body_is_read_says_the_connection_closes() {
    let (hub, _db, _dir) = hub_with_timeouts(&[]).await;
    let token = hub.user_with_token("alice");
    hub.api(Some(&token))
        .create_repo("model", "alice", "m", false)
        .await;
    // Refused before the body is read (no such repo): the rest of the body
    // is still on its way, so the connection cannot serve another request,
    // and the answer says so instead of leaving the client to find out.
    let mut conn = TcpStream::connect(addr_of(&hub.url)).await.unwrap();
    let head = format!(
        "POST /api/models/alice/missing/preupload/main HTTP/1.1\r\nHost: hub\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: 100000\r\n\r\n{{\"files\": ["
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut conn, Duration::from_secs(BODY_SECS + 5))
        .await
        .expect("the hub closed the connection");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: close\r\n"), "{answer}");

    // Bodies that are read keep the connection: three requests on one
    // connection, a POST among them, all answered, none saying close.
    let mut conn = TcpStream::connect(addr_of(&hub.url)).await.unwrap();
    let body = r#"{"files":[{"path":"a.txt","size":2,"sample":"aGk="}]}"#;
    let requests = format!(
        "GET /api/models/alice/m HTTP/1.1\r\nHost: hub\r\n\r\n\
         POST /api/models/alice/m/preupload/main HTTP/1.1\r\nHost: hub\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}\
         GET /api/models/alice/m HTTP/1.1\r\nHost: hub\r\nX-Last: 1\r\n\r\n",
        body.len()
    );
    conn.write_all(requests.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 8192];
    while seen.matches("HTTP/1.1 200").count() < 3 {
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("three answers in time")
            .unwrap();
        assert!(n > 0, "the hub closed a connection it could reuse: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        !seen.to_ascii_lowercase().contains("connection: close"),
        "{seen}"
    );
}

/// A TLS connection to `addr` that trusts only `ca`.
async fn tls_connect(addr: &str, ca: &Path) -> impl AsyncRead + AsyncWrite + Unpin {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake")
}

#[tokio::test]
async fn the_tls_listener_has_the_same_timeouts() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_test_cert(certs.path());
    let (hub, _db, _dir) = hub_with_timeouts(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
    .await;
    assert!(hub.url.starts_with("https://"), "{}", hub.url);
    let addr = addr_of(&hub.url);

    // Handshake done, then half a request: closed after the header timeout.
    let mut slow = tls_connect(&addr, &ca).await;
    slow.write_all(b"GET /api/models HTTP/1.1\r\nHost: hub\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let closed = read_until_closed(&mut slow, Duration::from_secs(HEADER_SECS + 8)).await;
    let took = started.elapsed();
    println!("TLS half-sent request: closed after {took:?}");
    assert!(
        closed.is_some(),
        "the TLS connection is still open after {took:?}"
    );
    assert!(took >= Duration::from_secs(HEADER_SECS) - Duration::from_millis(600));

    // A body that stops arriving is cut there too.
    let token = hub.user_with_token("alice");
    let api = tests::Api {
        base: hub.url.clone(),
        token: Some(token.clone()),
        client: client_trusting(&ca),
    };
    api.create_repo("model", "alice", "m", false).await;
    let mut stalled = tls_connect(&addr, &ca).await;
    let request = format!(
        "POST /api/models/alice/m/commit/main HTTP/1.1\r\nHost: hub\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/x-ndjson\r\n\
         Content-Length: 100000\r\n\r\n{{\"key\":\"header\""
    );
    stalled.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let cut = read_until_closed(&mut stalled, Duration::from_secs(BODY_SECS + 8)).await;
    let took = started.elapsed();
    println!("TLS stalled body: cut after {took:?}");
    assert!(
        cut.is_some(),
        "the stalled TLS body is still open after {took:?}"
    );
    assert!(took >= Duration::from_secs(BODY_SECS) - Duration::from_millis(300));

    // A complete request is answered.
    let mut ok = tls_connect(&addr, &ca).await;
    ok.write_all(b"GET /api/models HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut ok, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
