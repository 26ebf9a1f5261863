//! The git smart protocol, served by the real `git upload-pack` and
//! `git receive-pack` in `--stateless-rpc` mode, as every mature forge does
//! (no Rust crate implements the server side with git's full semantics).
//! This module starts the processes; `web` pipes HTTP bodies through them.

use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::hooks::GitEnvironment;
use crate::error::{Error, Result};
use crate::repos::access::{Access, Authorized};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    /// From the `service` query parameter or the RPC path segment.
    pub fn parse(name: &str) -> Result<Service> {
        match name {
            "git-upload-pack" => Ok(Service::UploadPack),
            "git-receive-pack" => Ok(Service::ReceivePack),
            other => Err(Error::invalid(format!("unsupported git service '{other}'"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }

    fn subcommand(self) -> &'static str {
        match self {
            Service::UploadPack => "upload-pack",
            Service::ReceivePack => "receive-pack",
        }
    }

    /// Whether the caller may start this service: fetching reads; pushing
    /// takes a participant, and each pushed ref is then held to what it
    /// needs by the push rules (write access for branches and tags, the
    /// pull request's author or a writer for `refs/pr/N`: see
    /// `crate::commits::push`), since only the pre-receive hook knows the refs.
    pub fn check(self, repo: &Authorized) -> Result<()> {
        match self {
            Service::UploadPack => repo.check(Access::Read),
            Service::ReceivePack => repo.check_may_push(),
        }
    }
}

/// The `Git-Protocol` header is handed to git in `GIT_PROTOCOL`: accept only
/// `key=value(:key=value)*` with alphanumeric keys and values, so a client
/// cannot inject anything else into git's environment.
pub fn protocol_header_is_safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.split(':').all(|pair| {
            pair.split_once('=').is_some_and(|(k, v)| {
                !k.is_empty()
                    && !v.is_empty()
                    && (k.bytes().chain(v.bytes())).all(|b| b.is_ascii_alphanumeric())
            })
        })
}

fn wants_v2(protocol: Option<&str>) -> bool {
    protocol.is_some_and(|p| p.split(':').any(|kv| kv == "version=2"))
}

fn command(
    env: &GitEnvironment,
    repo_dir: &Path,
    service: Service,
    protocol: Option<&str>,
) -> Result<Command> {
    let mut cmd = Command::new("git");
    cmd.env_clear().envs(env.vars());
    if let Some(p) = protocol {
        if !protocol_header_is_safe(p) {
            return Err(Error::invalid("malformed Git-Protocol header"));
        }
        cmd.env("GIT_PROTOCOL", p);
    }
    cmd.arg(service.subcommand()).arg("--stateless-rpc");
    cmd.current_dir(repo_dir);
    Ok(cmd)
}

/// The ref advertisement for `GET info/refs?service=...`: small, so it is
/// returned whole, with the `# service=` preamble that protocol v0/v1
/// clients expect (and v2 clients do not, as in git's own http-backend).
pub async fn advertise_refs(
    env: &GitEnvironment,
    repo_dir: &Path,
    service: Service,
    protocol: Option<&str>,
) -> Result<Vec<u8>> {
    let mut cmd = command(env, repo_dir, service, protocol)?;
    cmd.arg("--advertise-refs").arg(".");
    let out = cmd.stdin(Stdio::null()).kill_on_drop(true).output().await?;
    if !out.status.success() {
        return Err(Error::Internal(anyhow::anyhow!(
            "git {} --advertise-refs failed: {}",
            service.subcommand(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let mut body = Vec::with_capacity(out.stdout.len() + 64);
    if !wants_v2(protocol) {
        let line = format!("# service={}\n", service.name());
        body.extend_from_slice(format!("{:04x}{line}0000", line.len() + 4).as_bytes());
    }
    body.extend_from_slice(&out.stdout);
    Ok(body)
}

/// Starts the RPC process for `POST .../git-<service>` with piped stdin,
/// stdout and stderr; `extra_env` carries the hook credential for pushes.
/// The child is killed when dropped (a client that goes away). A push
/// first clears the ref locks a dead writer left (see [`super::locks`]).
pub fn spawn_rpc(
    env: &GitEnvironment,
    repo_dir: &Path,
    service: Service,
    protocol: Option<&str>,
    extra_env: &[(&str, String)],
) -> Result<Child> {
    if service == Service::ReceivePack {
        // git would refuse the push on a lock a dead writer left behind.
        if let Err(e) = super::locks::break_stale_locks(repo_dir) {
            tracing::warn!(error = %e, "cannot look for stale git lock files");
        }
    }
    let mut cmd = command(env, repo_dir, service, protocol)?;
    cmd.arg(".")
        .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())));
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    Ok(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_header_guard() {
        assert!(protocol_header_is_safe("version=2"));
        assert!(
            !protocol_header_is_safe("version=2:object-format=sha1"),
            "only alphanumerics"
        );
        assert!(protocol_header_is_safe("version=1:foo=bar"));
        for bad in [
            "",
            "version",
            "version=",
            "=2",
            "version=2\nX=1",
            "version=2;rm",
            "a=b::c=d",
            "version=2 ",
        ] {
            assert!(!protocol_header_is_safe(bad), "{bad:?}");
        }
    }
}
