//! Talking git to an upstream: the real `git` binary (`ls-remote`,
//! `fetch`) over smart HTTP, so that every commit keeps its upstream sha.
//! The token travels in the environment of the git process (never in its
//! arguments, which other users of the machine can read), and every call
//! has a time limit.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::Error;
use crate::hub::Hub;

/// A repo on an upstream, as git reaches it.
#[derive(Clone)]
pub struct Remote {
    /// The upstream's name, for messages.
    pub upstream: String,
    pub url: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("upstream", &self.upstream)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// How a call to an upstream ended when it did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The upstream answered that it has no such repo (or not for us).
    Missing,
    /// The upstream could not be reached or failed; the text says how.
    Unreachable(String),
}

impl Failure {
    /// As the hub reports it: an upstream that is down is `Unavailable`,
    /// naming it.
    pub fn into_error(self, remote: &Remote) -> Error {
        match self {
            Failure::Missing => Error::not_found(format!(
                "{} has no such repo (or does not show it to this mirror)",
                remote.upstream
            )),
            Failure::Unreachable(why) => Error::unavailable(format!(
                "the mirror's upstream {} cannot be reached: {why}",
                remote.upstream
            )),
        }
    }
}

/// Time for a look at the refs, and for a whole fetch (pointers only: the
/// large files are fetched apart, so a history is small).
const LS_REMOTE_TIMEOUT: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// The upstream's default branch (what its `HEAD` points at), if it has
/// any commits; `Err(Missing)` when there is no such repo.
pub async fn default_branch(
    hub: &Hub,
    remote: &Remote,
) -> std::result::Result<Option<String>, Failure> {
    let out = run(
        hub,
        remote,
        None,
        &["ls-remote", "--symref", &remote.url, "HEAD"],
        LS_REMOTE_TIMEOUT,
    )
    .await?;
    Ok(out.lines().find_map(|line| {
        line.strip_prefix("ref: refs/heads/")
            .and_then(|rest| rest.split('\t').next())
            .map(str::to_owned)
    }))
}

/// Fetches every branch and tag of the upstream into the bare repository
/// at `dir`, exactly (forced, pruned): the local refs become the upstream's.
pub async fn fetch(hub: &Hub, remote: &Remote, dir: &Path) -> std::result::Result<(), Failure> {
    run(
        hub,
        remote,
        Some(dir),
        &[
            "fetch",
            "--prune",
            "--no-write-fetch-head",
            "--quiet",
            &remote.url,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ],
        FETCH_TIMEOUT,
    )
    .await
    .map(|_| ())
}

async fn run(
    hub: &Hub,
    remote: &Remote,
    dir: Option<&Path>,
    args: &[&str],
    limit: Duration,
) -> std::result::Result<String, Failure> {
    let mut command = Command::new("git");
    command
        .env_clear()
        .envs(hub.git_env.vars())
        // Give up on a stalled transfer rather than hold a request forever.
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1024")
        .env("GIT_HTTP_LOW_SPEED_TIME", "30")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = dir {
        command.current_dir(dir).env("GIT_DIR", dir);
    }
    if let Some(token) = &remote.token {
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Bearer {token}"),
            );
    }
    let out = match tokio::time::timeout(limit, command.output()).await {
        Err(_) => {
            return Err(Failure::Unreachable(format!(
                "git {} took longer than {} s",
                args[0],
                limit.as_secs()
            )));
        }
        Ok(Err(e)) => return Err(Failure::Unreachable(format!("cannot run git: {e}"))),
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = stderr.lines().last().unwrap_or("").trim().to_owned();
    Err(classify(&stderr, said))
}

/// git tells a repo that is not there (or not for these credentials) from
/// a server that is not there only in its words.
fn classify(stderr: &str, said: String) -> Failure {
    let lower = stderr.to_lowercase();
    let missing = [
        "not found",
        "the requested url returned error: 404",
        "the requested url returned error: 401",
        "the requested url returned error: 403",
        "authentication failed",
        "could not read username",
    ];
    if missing.iter().any(|m| lower.contains(m)) {
        Failure::Missing
    } else {
        Failure::Unreachable(said)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_words_tell_missing_repos_from_unreachable_hubs() {
        for missing in [
            "remote: Repository not found.\nfatal: repository 'http://h/a/b.git/' not found",
            "fatal: could not read Username for 'http://h': terminal prompts disabled",
            "fatal: unable to access 'http://h/a.git/': The requested URL returned error: 401",
        ] {
            assert!(matches!(classify(missing, String::new()), Failure::Missing));
        }
        let down = "fatal: unable to access 'http://127.0.0.1:9/a.git/': Failed to connect to 127.0.0.1 port 9";
        assert!(matches!(
            classify(down, "x".into()),
            Failure::Unreachable(s) if s == "x"
        ));
    }
}
