//! What the fine-tuning tests share: the trainer's environments (built by
//! tests/run), a user with credits and a price, a tiny random base model,
//! a chat dataset, and a trainer worker that also serves what it trained.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::worker::{Worker, upload_folder};
use crate::{TestHub, file_op};

/// The trainer venvs tests/run builds (`HUB_TEST_TRAINER_ENVS`); `None`
/// (the test skips, visibly) when unset, a failure under CI=true.
pub fn trainer_envs() -> Option<PathBuf> {
    match std::env::var_os("HUB_TEST_TRAINER_ENVS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "CI=true: HUB_TEST_TRAINER_ENVS is unset (tests/run sets it)"
            );
            eprintln!("SKIPPED: HUB_TEST_TRAINER_ENVS is unset (tests/run sets it)");
            None
        }
    }
}

/// A user with `yuan` of credits, and a price of ¥0.01 per thousand tokens
/// on the CPU; returns their write token.
pub fn paying_user(hub: &TestHub, name: &str, yuan: &str) -> String {
    let token = hub.user_with_token(name);
    hub.cli_ok(&[
        "billing", "grant", "--user", name, "--amount", yuan, "--reason", "test",
    ]);
    cpu_price(hub, "0.01");
    token
}

/// Sets the CPU class's price per thousand tokens (in yuan) from now on.
pub fn cpu_price(hub: &TestHub, per_thousand_tokens: &str) {
    hub.cli_ok(&[
        "billing",
        "rate",
        "--class",
        "cpu",
        "--per-second",
        "0",
        "--per-1k-tokens",
        per_thousand_tokens,
    ]);
}

/// A tiny random Qwen2 (the worker crate's testing module) uploaded as `repo`.
pub async fn tiny_base(hub: &TestHub, token: &str, repo: &str) {
    use inference_worker::testing::{Arch, Spec, write_checkpoint};
    let files = tempfile::tempdir().unwrap();
    write_checkpoint(files.path(), &Spec::tiny(Arch::Qwen2)).unwrap();
    upload_folder(hub, token, repo, files.path(), false).await;
}

/// `n` short chats in OpenAI's format, one per line: question `i`, answer
/// `i + 1` (an adapter learns it fast).
pub fn chats(n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({ "messages": [
                { "role": "user", "content": format!("{i} 加一等于几？ What is {i} plus one?") },
                { "role": "assistant", "content": format!("{i} 加一等于 {}。The answer is {}.", i + 1, i + 1) },
            ]})
            .to_string()
                + "\n"
        })
        .collect()
}

/// A dataset repo `repo` holding `path` with `content`.
pub async fn dataset(hub: &TestHub, token: &str, repo: &str, path: &str, content: &[u8]) {
    let api = hub.api(Some(token));
    let (ns, name) = repo.split_once('/').unwrap();
    let created = api.create_repo("dataset", ns, name, false).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let committed = api
        .commit_to("datasets", repo, "data", &[file_op(path, content)], None)
        .await;
    assert_eq!(committed.status, 200, "{:?}", committed.body);
}

/// An `inference-worker --trainer` that also serves text generation (so
/// the adapters it trains chat at once), its cache under `dir`.
pub fn trainer(hub: &TestHub, name: &str, dir: &Path, envs: &Path) -> Worker {
    let token = hub.cli_ok(&["worker-token", "create", "--name", name]);
    Worker::start_with(
        &hub.url,
        token.trim(),
        dir,
        &[
            "--trainer",
            "--trainer-envs",
            envs.to_str().unwrap(),
            "--tasks",
            "text-generation",
        ],
    )
}
