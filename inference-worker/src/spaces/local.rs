//! The bubblewrap backend: builds with [`super::build`], runs the app and
//! its socket bridge in one sandbox (see [`super::sandbox`] for what the
//! sandbox allows), limited by a cgroup when the machine has one.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use worker_protocol::SpaceSdk;

use super::build::{Builder, Prepared};
use super::cgroup::Cgroup;
use super::logs::{LogSink, pump};
use super::sandbox::{Jail, Rlimits, Sandbox, give};
use super::{AppExit, Backend, Dirs, Failure, KeyedLocks, RunSpec, RunningApp};

/// Inside the sandbox: the bridge binary and the socket directory.
const BRIDGE: &str = "/run/kaiyuan/bridge";
const SOCKET_DIR: &str = "/run/space";
const SOCKET: &str = "app.sock";
/// Longest Unix socket path (sun_path is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Time an app has to stop after SIGTERM.
const GRACE: Duration = Duration::from_secs(5);

pub struct LocalBackend {
    pub sandbox: Sandbox,
    pub dirs: Dirs,
    pub allowed_packages: Vec<String>,
    pub bridge_exe: PathBuf,
    /// Device nodes every app gets (a GPU runner's /dev/nvidia*).
    pub devices: Vec<PathBuf>,
    locks: KeyedLocks,
}

impl LocalBackend {
    pub fn new(
        sandbox: Sandbox,
        dirs: Dirs,
        allowed_packages: Vec<String>,
        bridge_exe: PathBuf,
    ) -> LocalBackend {
        LocalBackend {
            sandbox,
            dirs,
            allowed_packages,
            bridge_exe,
            devices: vec![],
            locks: KeyedLocks::default(),
        }
    }

    fn make_dir(&self, dir: &Path, mode: u32, sandbox_owned: bool) -> Result<(), Failure> {
        let fault =
            |e: anyhow::Error| Failure::Worker(e.context(format!("preparing {}", dir.display())));
        std::fs::create_dir_all(dir).map_err(|e| fault(e.into()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| fault(e.into()))?;
        if sandbox_owned {
            give(dir, self.sandbox.ids).map_err(fault)?;
        }
        Ok(())
    }
}

/// `app_file` as a path under /app, refusing escapes.
fn app_path(app_file: &str) -> Result<String, Failure> {
    let clean = app_file.trim_start_matches("./");
    let ok = !clean.is_empty()
        && !clean.starts_with('/')
        && clean
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if !ok {
        return Err(Failure::Build(format!(
            "app_file {app_file:?} is not a path in the repo"
        )));
    }
    Ok(clean.to_string())
}

/// The app's command line inside the sandbox.
fn app_command(spec: &RunSpec<'_>, python: &str, app_file: &str) -> Vec<String> {
    let input = spec.input;
    let port = input.app_port.to_string();
    let file = format!("/app/{app_file}");
    match input.sdk {
        SpaceSdk::Gradio | SpaceSdk::Python => vec![python.into(), file],
        SpaceSdk::Streamlit => [
            python,
            "-m",
            "streamlit",
            "run",
            file.as_str(),
            "--server.address=127.0.0.1",
            format!("--server.port={port}").as_str(),
            "--server.headless=true",
            "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none",
            // Served in a cross-site iframe, where Streamlit's XSRF cookie
            // is blocked.
            "--server.enableXsrfProtection=false",
        ]
        .map(str::to_string)
        .to_vec(),
        SpaceSdk::Static => {
            let dir = match app_file.rsplit_once('/') {
                Some((dir, _)) => format!("/app/{dir}"),
                None => "/app".into(),
            };
            [
                "/usr/bin/python3",
                "-m",
                "http.server",
                port.as_str(),
                "--bind",
                "127.0.0.1",
                "--directory",
                dir.as_str(),
            ]
            .map(str::to_string)
            .to_vec()
        }
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['=', '\0'])
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

impl Backend for LocalBackend {
    type App = LocalApp;

    async fn prepare(
        &self,
        run: &RunSpec<'_>,
        log: LogSink,
        cancel: Arc<AtomicBool>,
    ) -> Result<Prepared, Failure> {
        let run_dir = self.dirs.run(run.job);
        self.make_dir(&run_dir, 0o755, false)?;
        let app_file = app_path(&run.input.app_file)?;
        let builder = Builder {
            sandbox: &self.sandbox,
            dirs: &self.dirs,
            log,
            cancel,
            allowed_packages: &self.allowed_packages,
            locks: &self.locks,
        };
        let result = builder.prepare(run.input, run.code, &run_dir).await;
        let result = result.and_then(|p| {
            if p.app_dir.join(&app_file).is_file() {
                Ok(p)
            } else {
                Err(Failure::Build(format!(
                    "{app_file} is not in the repo (app_file)"
                )))
            }
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&run_dir);
        }
        result
    }

    async fn start(
        &self,
        run: &RunSpec<'_>,
        prepared: &Prepared,
        log: LogSink,
    ) -> Result<LocalApp, Failure> {
        let input = run.input;
        let app_file = app_path(&input.app_file)?;
        let run_dir = self.dirs.run(run.job);
        let socket_dir = run_dir.join("sock");
        let socket = socket_dir.join(SOCKET);
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(Failure::Worker(anyhow::anyhow!(
                "the app's socket path {} is too long for a Unix socket: use a shorter --spaces-dir",
                socket.display()
            )));
        }
        // Only the sandbox uid (and root) may reach the socket.
        self.make_dir(&socket_dir, 0o700, true)?;
        let data = self.dirs.data(run.space_id);
        self.make_dir(&data, 0o700, true)?;

        let python = if prepared.venv.is_some() {
            "/venv/bin/python"
        } else {
            "/usr/bin/python3"
        };
        let (namespace, name) = run.space_id.split_once('/').unwrap_or(("", run.space_id));
        let mut env: Vec<(String, String)> = [
            ("HOME", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("PYTHONUNBUFFERED", "1"),
            ("SPACE_ID", run.space_id),
            ("SPACE_AUTHOR_NAME", namespace),
            ("SPACE_REPO_NAME", name),
            ("GRADIO_SERVER_NAME", "127.0.0.1"),
            ("GRADIO_ANALYTICS_ENABLED", "False"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec();
        env.push(("GRADIO_SERVER_PORT".into(), input.app_port.to_string()));
        let path = if prepared.venv.is_some() {
            "/venv/bin:/usr/local/bin:/usr/bin:/bin"
        } else {
            "/usr/local/bin:/usr/bin:/bin"
        };
        env.push(("PATH".into(), path.into()));
        for (key, value) in input.variables.iter().chain(&input.secrets) {
            if valid_env_name(key) && !value.contains('\0') {
                env.retain(|(k, _)| k != key);
                env.push((key.clone(), value.clone()));
            } else {
                log.line(
                    format!("skipped the variable {key:?}: not a valid environment variable")
                        .as_bytes(),
                );
            }
        }

        let mut argv = vec![
            BRIDGE.to_string(),
            super::bridge::SUBCOMMAND.into(),
            "--listen".into(),
            format!("{SOCKET_DIR}/{SOCKET}"),
            "--connect".into(),
            format!("127.0.0.1:{}", input.app_port),
            "--".into(),
        ];
        argv.extend(app_command(run, python, &app_file));
        let mut ro = vec![
            (prepared.app_dir.clone(), "/app".to_string()),
            (self.bridge_exe.clone(), BRIDGE.to_string()),
        ];
        if let Some(venv) = &prepared.venv {
            ro.push((venv.clone(), "/venv".into()));
        }
        let jail = Jail {
            ro,
            rw: vec![(data, "/data".into()), (socket_dir, SOCKET_DIR.into())],
            env,
            share_net: false,
            devices: self.devices.clone(),
            cwd: "/app".into(),
            tmp_bytes: input.limits.disk_bytes,
            argv,
        };
        let cgroup = Cgroup::create(
            &self.sandbox.cgroups,
            &format!("run-{}", run.job.simple()),
            input.limits.memory_bytes,
            input.limits.pids,
        )
        .context("creating the app's cgroup")
        .map_err(Failure::Worker)?;
        let rlimits = Rlimits {
            nofile: 4096,
            fsize: input.limits.disk_bytes,
            nproc: cgroup.is_none().then_some(u64::from(input.limits.pids)),
            // Without a memory cgroup nothing else bounds the app's memory:
            // a crude backstop, generous because address space is not memory.
            address_space: cgroup
                .is_none()
                .then_some(input.limits.memory_bytes.saturating_mul(4)),
        };
        let mut child = self
            .sandbox
            .command(&jail, cgroup.as_ref(), Some(rlimits))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting the app's sandbox")
            .map_err(Failure::Worker)?;
        let pumps = vec![
            tokio::spawn(pump(child.stdout.take().expect("piped"), log.clone())),
            tokio::spawn(pump(child.stderr.take().expect("piped"), log)),
        ];
        Ok(LocalApp {
            child,
            socket,
            cgroup,
            pumps,
            run_dir,
            exit: None,
        })
    }
}

pub struct LocalApp {
    child: tokio::process::Child,
    socket: PathBuf,
    cgroup: Option<Cgroup>,
    pumps: Vec<JoinHandle<()>>,
    run_dir: PathBuf,
    exit: Option<AppExit>,
}

impl RunningApp for LocalApp {
    fn endpoint(&self) -> &Path {
        &self.socket
    }

    async fn wait(&mut self) -> AppExit {
        if let Some(exit) = self.exit {
            return exit;
        }
        let status = self.child.wait().await;
        // The rest of its output (the traceback) before the verdict. This
        // future may be dropped and asked again (it is raced against a
        // timer): the pumps stay until they are done.
        let pumps = &mut self.pumps;
        let _ = tokio::time::timeout(Duration::from_secs(2), async move {
            for pump in pumps.iter_mut() {
                if !pump.is_finished() {
                    let _ = pump.await;
                }
            }
        })
        .await;
        use std::os::unix::process::ExitStatusExt;
        let code = match status {
            Ok(s) => s
                .code()
                .or_else(|| s.signal().map(|n| 128 + n))
                .unwrap_or(1),
            Err(_) => 1,
        };
        let exit = AppExit {
            code,
            out_of_memory: self.cgroup.as_ref().is_some_and(Cgroup::oom_killed),
        };
        self.exit = Some(exit);
        exit
    }

    async fn stop(&mut self) {
        if self.exit.is_none() {
            if let Some(pid) = self.child.id() {
                // bwrap's own processes (the outer one and the namespace's
                // init) die with SIGKILL only; the bridge and the app, one
                // level below the init, get SIGTERM first.
                for pid in descendants(pid, 2) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
            }
            if tokio::time::timeout(GRACE, self.child.wait())
                .await
                .is_err()
            {
                let _ = self.child.kill().await;
            }
        }
        // Whatever is left in the group is killed, the group removed.
        self.cgroup = None;
        for pump in self.pumps.drain(..) {
            pump.abort();
        }
        let _ = std::fs::remove_dir_all(&self.run_dir);
    }
}

/// Processes below `root` at depth `min_depth` or more (children are 1).
fn descendants(root: u32, min_depth: usize) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut level = vec![root as i32];
    let mut depth = 0;
    while !level.is_empty() && depth < 64 {
        depth += 1;
        let next: Vec<i32> = parents
            .iter()
            .filter(|(_, ppid)| level.contains(ppid))
            .map(|(pid, _)| *pid)
            .collect();
        if depth >= min_depth {
            out.extend(&next);
        }
        level = next;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn app_files_stay_in_the_repo() {
        assert_eq!(super::app_path("./src/app.py").unwrap(), "src/app.py");
        for bad in ["", "/etc/passwd", "../x.py", "a/../../x.py", "a//b.py"] {
            assert!(super::app_path(bad).is_err(), "{bad}");
        }
    }
}
