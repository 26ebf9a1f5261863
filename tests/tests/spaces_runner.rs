//! The Spaces runner's download of a Space through the real hub: the file
//! list from the tree API (with its pages), each file from resolve (an LFS
//! one too), with the token the runner is given, into the layout the
//! sandbox binds at /app; the runner's size cap. The sandbox itself is
//! tested in inference-worker/tests/spaces_sandbox.rs, the whole run
//! through the hub in spaces_e2e.rs.

use inference_worker::files::NotServable;
use inference_worker::spaces::fetch::fetch;
use inference_worker::spaces::{Dirs, KeyedLocks};
use tests::{TestHub, file_op, lfs_op, upload_lfs};
use worker_protocol::ModelRef;

#[tokio::test]
async fn a_space_is_fetched_through_the_hub_with_the_runners_token() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("space", "alice", "demo", true).await.status,
        200
    );
    let weights: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let oid = upload_lfs(&hub, &token, "spaces/alice/demo", &weights).await;
    let commit = api
        .commit_to(
            "spaces",
            "alice/demo",
            "an app",
            &[
                file_op("app.py", b"print('hello')\n"),
                file_op("requirements.txt", b"six==1.16.0\n"),
                file_op("assets/a b#1.txt", "你好".as_bytes()),
                lfs_op("model/weights.bin", &oid, weights.len()),
            ],
            None,
        )
        .await;
    assert_eq!(commit.status, 200, "{:?}", commit.body);
    let revision = commit.body["commitOid"].as_str().unwrap().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let dirs = Dirs::new(dir.path().join("spaces"));
    let locks = KeyedLocks::default();
    let http = reqwest::Client::new();
    let space = |download_token: &str| ModelRef {
        repo_id: "alice/demo".into(),
        revision: revision.clone(),
        download_token: download_token.into(),
        architecture: "space:cpu-basic".into(),
        gguf_files: vec![],
        base: None,
    };

    // Over the runner's cap: refused before anything is written, and not
    // worth another attempt.
    let err = fetch(&http, &hub.url, &dirs, &locks, &space(&token), 100_000)
        .await
        .unwrap_err();
    assert!(err.is::<NotServable>(), "{err:#}");
    assert!(
        format!("{err:#}").contains("more than this runner's limit of 100000"),
        "{err:#}"
    );
    assert!(!dirs.code("alice/demo", &revision).exists());

    // A token that does not read the (private) Space: the worker's fault
    // as far as the job goes (retryable), nothing kept.
    let err = fetch(&http, &hub.url, &dirs, &locks, &space("hf_nope"), 1 << 30)
        .await
        .unwrap_err();
    assert!(!err.is::<NotServable>(), "{err:#}");

    let code = fetch(&http, &hub.url, &dirs, &locks, &space(&token), 1 << 30)
        .await
        .unwrap();
    assert_eq!(code, dirs.code("alice/demo", &revision));
    assert_eq!(
        std::fs::read_to_string(code.join("app.py")).unwrap(),
        "print('hello')\n"
    );
    assert_eq!(
        std::fs::read_to_string(code.join("assets/a b#1.txt")).unwrap(),
        "你好"
    );
    assert_eq!(
        std::fs::read(code.join("model/weights.bin")).unwrap(),
        weights
    );
    // A second run of the same commit downloads nothing.
    let again = fetch(&http, &hub.url, &dirs, &locks, &space("hf_nope"), 1 << 30)
        .await
        .unwrap();
    assert_eq!(again, code);
}
