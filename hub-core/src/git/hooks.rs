//! How pushes reach the hub's rules: the environment every git process we
//! spawn runs in (a private git config, our hooks), and the credential a
//! hook presents when it calls back into the hub.
//!
//! `git receive-pack` runs the hooks in `<data-dir>/git/hooks` (via
//! `core.hooksPath`, so nothing is written per repo). Each hook is a
//! two-line script that runs `hub hook <name>`, which posts the ref updates
//! to the hub over a local unix socket with a token that binds the repo,
//! the pusher and an expiry, signed with the hub's secret.
//!
//! Several nodes share the data dir, and may reach it at different paths
//! and run `hub` from different places (or versions, mid-upgrade): so the
//! files there name no path of any one node. `core.hooksPath` is relative
//! (git resolves it from the repository), and each node hands its git
//! processes its own binary in the environment.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::secret::Secret;

/// Environment variables a hook reads.
pub const ENV_SOCKET: &str = "KY_HOOK_SOCKET";
pub const ENV_TOKEN: &str = "KY_HOOK_TOKEN";
pub const ENV_REPO_ID: &str = "KY_REPO_ID";
pub const ENV_PUSHER_ID: &str = "KY_PUSHER_ID";
/// The `hub` binary the hook scripts run: the one of the node that started git.
pub const ENV_HUB_BINARY: &str = "KY_HUB_BINARY";

/// How long a hook token is valid: a push may upload a big pack first.
const TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

pub const HOOK_NAMES: [&str; 2] = ["pre-receive", "post-receive"];

/// Where git runs: our own HOME and global config, hooks, no system config.
#[derive(Debug, Clone)]
pub struct GitEnvironment {
    pub home: PathBuf,
    pub global_config: PathBuf,
    pub hooks_dir: PathBuf,
    pub hub_binary: PathBuf,
}

impl GitEnvironment {
    /// Writes the private git config and the hook scripts under
    /// `<data-dir>/git` (the same bytes on every node). Idempotent; run at
    /// start-up. Git run with [`Self::vars`] runs these hooks with `hub_binary`.
    pub fn install(data_dir: &Path, hub_binary: &Path) -> Result<GitEnvironment> {
        let home = data_dir.join("git");
        let hooks_dir = home.join("hooks");
        std::fs::create_dir_all(&hooks_dir)?;
        let global_config = home.join("gitconfig");
        let config = format!(
            "[core]\n\thooksPath = {hooks}\n\tquotePath = false\n\
             [uploadpack]\n\tallowFilter = true\n\tallowAnySHA1InWant = true\n\
             [receive]\n\tfsckObjects = true\n\tadvertisePushOptions = false\n\
             [safe]\n\tdirectory = *\n\
             [gc]\n\tauto = 0\n",
            hooks = hooks_path_from_repos()
        );
        write_if_changed(&global_config, config.as_bytes(), 0o644)?;
        for name in HOOK_NAMES {
            let script = format!("#!/bin/sh\nexec \"${ENV_HUB_BINARY}\" hook {name}\n");
            write_if_changed(&hooks_dir.join(name), script.as_bytes(), 0o755)?;
        }
        Ok(GitEnvironment {
            home,
            global_config,
            hooks_dir,
            hub_binary: hub_binary.to_owned(),
        })
    }

    /// Variables for every git process the hub spawns (after `env_clear`).
    pub fn vars(&self) -> Vec<(String, String)> {
        vec![
            (
                "PATH".into(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            ),
            ("HOME".into(), self.home.display().to_string()),
            (
                "GIT_CONFIG_GLOBAL".into(),
                self.global_config.display().to_string(),
            ),
            ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
            ("GIT_TERMINAL_PROMPT".into(), "0".into()),
            ("LANG".into(), "C.UTF-8".into()),
            (ENV_HUB_BINARY.into(), self.hub_binary.display().to_string()),
        ]
    }
}

/// `<data-dir>/git/hooks` as seen from a repository in `<data-dir>/repos`
/// (git runs hooks in the repository, and resolves a relative hooks path
/// from there): the same on every node, wherever it mounts the data dir.
fn hooks_path_from_repos() -> String {
    let depth = super::repo_path(Path::new(""), 0).components().count() + 1;
    format!("{}git/hooks", "../".repeat(depth))
}

fn write_if_changed(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(content) {
        // Write beside and rename: a push running now sees the old or the new
        // file, whole. A name of its own: another node may be doing the same.
        let tmp = path.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            crate::secret::random_token(6)
        ));
        std::fs::write(&tmp, content)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(())
}

/// A credential for one push: repo, pusher, expiry, signed.
pub fn issue_token(secret: &Secret, repo_id: i64, pusher_id: i64) -> String {
    let expires = chrono::Utc::now().timestamp() + TOKEN_LIFETIME_SECS;
    let claim = format!("{repo_id}.{pusher_id}.{expires}");
    format!(
        "{claim}.{}",
        secret.sign(format!("hook:{claim}").as_bytes())
    )
}

/// Checks a hook token; returns the repo id and pusher id it was issued for.
pub fn verify_token(secret: &Secret, token: &str) -> Result<(i64, i64)> {
    let bad = || Error::forbidden("invalid hook credential");
    let mut parts = token.splitn(4, '.');
    let (repo, pusher, expires, sig) = (parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(repo), Some(pusher), Some(expires), Some(sig)) = (repo, pusher, expires, sig) else {
        return Err(bad());
    };
    if !secret.verify(format!("hook:{repo}.{pusher}.{expires}").as_bytes(), sig) {
        return Err(bad());
    }
    let expires: i64 = expires.parse().map_err(|_| bad())?;
    if expires < chrono::Utc::now().timestamp() {
        return Err(bad());
    }
    Ok((
        repo.parse().map_err(|_| bad())?,
        pusher.parse().map_err(|_| bad())?,
    ))
}

/// The unix socket the hub listens on for its hooks. One per process, and
/// not named by the process id alone: nodes on several machines share the
/// data dir, and in containers each of them is as likely as not PID 1 — a
/// second node would take over the first one's socket (which the first
/// node's hooks, on another machine, cannot reach). Short enough for the
/// 107-byte limit.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    let name = format!(
        "hub-{}-{}.sock",
        std::process::id(),
        crate::secret::random_token(6)
    );
    let preferred = data_dir.join("run").join(&name);
    if preferred.as_os_str().len() < 100 {
        preferred
    } else {
        std::env::temp_dir().join(format!("kaiyuan-{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_repo_and_pusher() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::load(None, dir.path()).unwrap();
        let token = issue_token(&secret, 7, 42);
        assert_eq!(verify_token(&secret, &token).unwrap(), (7, 42));
        let forged = token.replacen("7.", "8.", 1);
        assert!(verify_token(&secret, &forged).is_err());
        assert!(verify_token(&secret, "garbage").is_err());
        let other = Secret::load(Some("another secret"), dir.path()).unwrap();
        assert!(verify_token(&other, &token).is_err());
    }

    #[test]
    fn nodes_never_share_a_hook_socket() {
        // Two nodes on one data dir, as alike as they can be (one PID).
        let dir = Path::new("/srv/hub");
        assert_ne!(socket_path(dir), socket_path(dir));
        assert!(socket_path(dir).starts_with("/srv/hub/run"));
    }

    #[test]
    fn install_writes_hooks_and_config() {
        let dir = tempfile::tempdir().unwrap();
        let env = GitEnvironment::install(dir.path(), Path::new("/opt/it's/hub")).unwrap();
        let hook = std::fs::read_to_string(env.hooks_dir.join("pre-receive")).unwrap();
        assert_eq!(
            hook,
            "#!/bin/sh\nexec \"$KY_HUB_BINARY\" hook pre-receive\n"
        );
        let mode = std::fs::metadata(env.hooks_dir.join("post-receive"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        let vars = env.vars();
        let binary = vars.iter().find(|(k, _)| k == ENV_HUB_BINARY).unwrap();
        assert_eq!(binary.1, "/opt/it's/hub");
        // The hooks path leads from any repository to the hooks.
        let config = std::fs::read_to_string(&env.global_config).unwrap();
        let relative = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("hooksPath = "))
            .unwrap();
        let repo = super::super::repo_path(&dir.path().join("repos"), 123_456_789);
        std::fs::create_dir_all(&repo).unwrap();
        assert_eq!(
            repo.join(relative).canonicalize().unwrap(),
            env.hooks_dir.canonicalize().unwrap()
        );
    }

    #[test]
    fn every_node_writes_the_same_hooks() {
        // Two nodes on one data dir, reaching it by different paths and
        // running hub from different places: the last to start must not
        // point the other's pushes at a path that node does not have.
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        let mount = dir.path().join("mount");
        std::os::unix::fs::symlink(&shared, &mount).unwrap();
        let files = |env: &GitEnvironment| {
            [env.global_config.clone(), env.hooks_dir.join("pre-receive")]
                .map(|f| std::fs::read(f).unwrap())
        };
        let a = GitEnvironment::install(&shared, Path::new("/usr/bin/hub")).unwrap();
        let first = files(&a);
        let b = GitEnvironment::install(&mount, Path::new("/opt/hub-2/hub")).unwrap();
        assert_eq!(files(&b), first);
        assert_ne!(
            a.vars(),
            b.vars(),
            "each node's own paths, in its environment"
        );
    }
}
