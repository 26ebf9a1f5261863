//! A Spaces runner for tests: the real `inference-worker --spaces`
//! process against a test hub, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Runner {
    child: Option<Child>,
    log: PathBuf,
}

impl Runner {
    /// Starts a runner with its cache and Spaces under `dir`, which the
    /// sandbox's uid must be able to reach (not under a 0700 directory).
    pub fn start(hub_url: &str, token: &str, dir: &Path) -> Runner {
        let binary = crate::hub_binary().with_file_name("inference-worker");
        assert!(binary.exists(), "{} is missing", binary.display());
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join("runner.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .args(["--hub", hub_url, "--token", token, "--spaces"])
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .arg("--spaces-dir")
            .arg(dir.join("spaces"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start the runner");
        Runner {
            child: Some(child),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A directory the sandbox's uid can reach, removed when dropped.
pub fn runner_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("kaiyuan-runner-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}
