//! The build phase: the Python environment an app runs with, and the
//! output of a static Space's build command.
//!
//! A venv per (pre-requirements.txt, requirements.txt, SDK, SDK version,
//! Python) under `{spaces}/venvs/{key}`, reused by every Space and commit
//! with the same inputs unless the run is a factory rebuild. It is built in
//! the sandbox as the sandbox uid, with `uv` when the runner has it (bound
//! into the sandbox) else `python3 -m venv` + pip, always with the system's
//! /usr/bin/python3: the sandbox sees /usr only. The build shares the
//! host's network to reach the package index; egress is not restricted to
//! the index yet (an egress proxy would do it).
//!
//! `packages.txt` (apt packages) cannot be installed without root: it is
//! refused unless every package is on the runner's allow-list and installed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use sha2::Digest as _;
use worker_protocol::{SpaceRunInput, SpaceSdk};

use super::logs::{LogSink, pump};
use super::sandbox::{Jail, Rlimits, Sandbox, give};
use super::{Dirs, Failure};

/// What the run phase needs from the build.
pub struct Prepared {
    /// The venv (bound read-only at /venv), if the app needs packages.
    pub venv: Option<PathBuf>,
    /// The code as the app sees it at /app: the repo, or for a static
    /// Space with a build command, the built copy.
    pub app_dir: PathBuf,
}

/// The venv's inputs, hashed into its directory name.
fn venv_key(input: &SpaceRunInput, pre: &[u8], requirements: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    let sdk = sdk_requirement(input).unwrap_or_default();
    for part in [
        b"kaiyuan-venv-1".as_slice(),
        sdk.as_bytes(),
        input.python_version.as_deref().unwrap_or("").as_bytes(),
        pre,
        requirements,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())[..32].to_string()
}

/// `gradio==5.9.1`, `streamlit` (newest), or None for plain Python.
fn sdk_requirement(input: &SpaceRunInput) -> Option<String> {
    let name = match input.sdk {
        SpaceSdk::Gradio => "gradio",
        SpaceSdk::Streamlit => "streamlit",
        SpaceSdk::Python | SpaceSdk::Static => return None,
    };
    Some(match &input.sdk_version {
        Some(v) => format!("{name}=={v}"),
        None => name.to_string(),
    })
}

/// Refuses `packages.txt` unless each package is allowed and installed.
pub fn check_packages(code: &Path, allowed: &[String]) -> Result<(), Failure> {
    let Ok(text) = std::fs::read_to_string(code.join("packages.txt")) else {
        return Ok(());
    };
    let wanted: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|p| !allowed.iter().any(|a| a == p) || !installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let have = if allowed.is_empty() {
        "none (no apt packages are installed for Spaces)".to_string()
    } else {
        allowed.join(", ")
    };
    Err(Failure::Build(format!(
        "packages.txt asks for apt packages {}; this runner has only {have}",
        missing.join(", ")
    )))
}

fn installed(package: &str) -> bool {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("ok installed")
        })
}

pub struct Builder<'a> {
    pub sandbox: &'a Sandbox,
    pub dirs: &'a Dirs,
    pub log: LogSink,
    pub cancel: Arc<AtomicBool>,
    pub allowed_packages: &'a [String],
    /// Serialises builds of one venv.
    pub locks: &'a super::KeyedLocks,
}

impl Builder<'_> {
    pub async fn prepare(
        &self,
        input: &SpaceRunInput,
        code: &Path,
        run_dir: &Path,
    ) -> Result<Prepared, Failure> {
        check_packages(code, self.allowed_packages)?;
        let timeout = Duration::from_secs(input.limits.build_timeout_s.max(1));
        let work = async {
            if input.sdk == SpaceSdk::Static {
                return self.static_build(input, code, run_dir).await;
            }
            let venv = self.venv(input, code).await?;
            Ok(Prepared {
                venv,
                app_dir: code.to_path_buf(),
            })
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Build(format!(
                "the build took longer than {} s\n{}",
                timeout.as_secs(),
                self.log.tail(20)
            ))),
        }
    }

    async fn venv(&self, input: &SpaceRunInput, code: &Path) -> Result<Option<PathBuf>, Failure> {
        let pre = std::fs::read(code.join("pre-requirements.txt")).unwrap_or_default();
        let requirements = std::fs::read(code.join("requirements.txt")).unwrap_or_default();
        let sdk = sdk_requirement(input);
        let nothing_to_install = sdk.is_none()
            && String::from_utf8_lossy(&pre).trim().is_empty()
            && String::from_utf8_lossy(&requirements).trim().is_empty();
        if nothing_to_install {
            self.log
                .line(b"no requirements: the app runs with the system's Python");
            return Ok(None);
        }
        if let Some(v) = &input.python_version {
            self.log.line(
                format!("python_version {v} asked; this runner builds with /usr/bin/python3")
                    .as_bytes(),
            );
        }
        let key = venv_key(input, &pre, &requirements);
        let dest = self.dirs.venvs().join(&key);
        let lock = self.locks.get(&key);
        let _guard = lock.lock().await;
        if dest.exists() && !input.factory {
            self.log
                .line(b"reusing the environment built for these requirements");
            return Ok(Some(dest));
        }
        let building = self
            .dirs
            .venvs()
            .join(format!("{key}.building-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&building).map_err(worker_fault)?;
        give(&building, self.sandbox.ids).map_err(Failure::Worker)?;
        let result = self
            .install(
                input,
                code,
                &building,
                sdk,
                !pre.is_empty(),
                !requirements.is_empty(),
            )
            .await;
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&building);
            return Err(e);
        }
        if dest.exists() {
            // A factory rebuild replaces the old environment.
            let old = self
                .dirs
                .venvs()
                .join(format!("{key}.old-{}", uuid::Uuid::new_v4().simple()));
            std::fs::rename(&dest, &old).map_err(worker_fault)?;
            let _ = std::fs::remove_dir_all(&old);
        }
        std::fs::rename(&building, &dest).map_err(worker_fault)?;
        Ok(Some(dest))
    }

    async fn install(
        &self,
        input: &SpaceRunInput,
        code: &Path,
        venv: &Path,
        sdk: Option<String>,
        has_pre: bool,
        has_requirements: bool,
    ) -> Result<(), Failure> {
        let cache = self.dirs.cache();
        std::fs::create_dir_all(&cache).map_err(worker_fault)?;
        give(&cache, self.sandbox.ids).map_err(Failure::Worker)?;
        let uv = super::sandbox::which("uv");
        // The build trusts what the runner's machine trusts (/etc/ssl is
        // bound in): an index behind the site's TLS-inspecting proxy works
        // for uv and pip alike.
        let bundle = "/etc/ssl/certs/ca-certificates.crt";
        let certs: Vec<(String, String)> = if std::path::Path::new(bundle).is_file() {
            vec![
                ("SSL_CERT_FILE".into(), bundle.into()),
                ("PIP_CERT".into(), bundle.into()),
            ]
        } else {
            vec![]
        };
        let mut jail = Jail {
            ro: vec![(code.to_path_buf(), "/app".into())],
            rw: vec![
                (venv.to_path_buf(), "/venv".into()),
                (cache, "/cache".into()),
            ],
            env: vec![
                ("HOME".into(), "/tmp".into()),
                (
                    "PATH".into(),
                    "/venv/bin:/usr/local/bin:/usr/bin:/bin".into(),
                ),
                ("PIP_CACHE_DIR".into(), "/cache/pip".into()),
                ("UV_CACHE_DIR".into(), "/cache/uv".into()),
                ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
                ("PIP_NO_INPUT".into(), "1".into()),
                ("PIP_PROGRESS_BAR".into(), "off".into()),
                ("PYTHONUNBUFFERED".into(), "1".into()),
                ("UV_SYSTEM_CERTS".into(), "1".into()),
                // The cache and the venv are different mounts: no hardlinks.
                ("UV_LINK_MODE".into(), "copy".into()),
                ("SDK_REQUIREMENT".into(), sdk.unwrap_or_default()),
                ("HAS_PRE".into(), if has_pre { "1" } else { "" }.into()),
                (
                    "HAS_REQUIREMENTS".into(),
                    if has_requirements { "1" } else { "" }.into(),
                ),
            ],
            share_net: true,
            devices: vec![],
            cwd: "/app".into(),
            tmp_bytes: input.limits.disk_bytes,
            argv: vec![],
        };
        jail.env.extend(certs);
        // The inputs travel as variables, never spliced into the script.
        let script = if let Some(uv) = uv {
            jail.ro.push((uv, "/opt/kaiyuan/uv".into()));
            r#"set -e
/opt/kaiyuan/uv venv --python /usr/bin/python3 /venv
if [ -n "$HAS_PRE" ]; then /opt/kaiyuan/uv pip install --python /venv/bin/python -r /app/pre-requirements.txt; fi
set --
if [ -n "$HAS_REQUIREMENTS" ]; then set -- "$@" -r /app/requirements.txt; fi
if [ -n "$SDK_REQUIREMENT" ]; then set -- "$@" "$SDK_REQUIREMENT"; fi
/opt/kaiyuan/uv pip install --python /venv/bin/python "$@"
"#
        } else {
            r#"set -e
/usr/bin/python3 -m venv /venv
if [ -n "$HAS_PRE" ]; then /venv/bin/python -m pip install -r /app/pre-requirements.txt; fi
set --
if [ -n "$HAS_REQUIREMENTS" ]; then set -- "$@" -r /app/requirements.txt; fi
if [ -n "$SDK_REQUIREMENT" ]; then set -- "$@" "$SDK_REQUIREMENT"; fi
/venv/bin/python -m pip install "$@"
"#
        };
        jail.argv = vec!["/bin/sh".into(), "-c".into(), script.into()];
        self.run(&jail, input, "installing the requirements").await
    }

    /// Copies the code to a writable directory, runs the build command in
    /// it, and serves the result.
    async fn static_build(
        &self,
        input: &SpaceRunInput,
        code: &Path,
        run_dir: &Path,
    ) -> Result<Prepared, Failure> {
        let Some(command) = input
            .app_build_command
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        else {
            return Ok(Prepared {
                venv: None,
                app_dir: code.to_path_buf(),
            });
        };
        let site = run_dir.join("site");
        let (from, to, ids) = (code.to_path_buf(), site.clone(), self.sandbox.ids);
        tokio::task::spawn_blocking(move || copy_tree(&from, &to, ids))
            .await
            .map_err(|e| Failure::Worker(e.into()))?
            .map_err(Failure::Worker)?;
        let jail = Jail {
            ro: vec![],
            rw: vec![(site.clone(), "/app".into())],
            env: vec![
                ("HOME".into(), "/tmp".into()),
                ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
                ("BUILD_COMMAND".into(), command.into()),
            ],
            share_net: true,
            devices: vec![],
            cwd: "/app".into(),
            tmp_bytes: input.limits.disk_bytes,
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "eval \"$BUILD_COMMAND\"".into(),
            ],
        };
        self.log.line(format!("$ {command}").as_bytes());
        self.run(&jail, input, "the build command").await?;
        Ok(Prepared {
            venv: None,
            app_dir: site,
        })
    }

    /// Runs one build step in the sandbox, its output as build log lines.
    async fn run(&self, jail: &Jail, input: &SpaceRunInput, what: &str) -> Result<(), Failure> {
        let rlimits = Rlimits {
            nofile: 4096,
            fsize: input.limits.disk_bytes,
            nproc: None,
            address_space: None,
        };
        let mut child = self
            .sandbox
            .command(jail, None, Some(rlimits))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("starting the build sandbox")
            .map_err(Failure::Worker)?;
        let out = tokio::spawn(pump(child.stdout.take().expect("piped"), self.log.clone()));
        let err = tokio::spawn(pump(child.stderr.take().expect("piped"), self.log.clone()));
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.map_err(|e| Failure::Worker(e.into()))?,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if self.cancel.load(Ordering::SeqCst) {
                        let _ = child.kill().await;
                        return Err(Failure::Cancelled);
                    }
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = out.await;
            let _ = err.await;
        })
        .await;
        if status.success() {
            Ok(())
        } else {
            Err(Failure::Build(format!(
                "{what} failed ({status}):\n{}",
                self.log.tail(20)
            )))
        }
    }
}

fn worker_fault(e: std::io::Error) -> Failure {
    Failure::Worker(e.into())
}

/// Copies a directory tree (files and directories; links are skipped),
/// owned by `ids`.
fn copy_tree(from: &Path, to: &Path, ids: Option<(u32, u32)>) -> Result<()> {
    std::fs::create_dir_all(to)?;
    give(to, ids)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest, ids)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &dest)?;
            give(&dest, ids)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use worker_protocol::SpaceLimits;

    fn input(sdk: SpaceSdk, version: Option<&str>) -> SpaceRunInput {
        SpaceRunInput {
            sdk,
            sdk_version: version.map(str::to_string),
            python_version: None,
            app_file: "app.py".into(),
            app_port: 7860,
            app_build_command: None,
            factory: false,
            variables: vec![],
            secrets: vec![],
            limits: SpaceLimits {
                memory_bytes: 1 << 30,
                pids: 256,
                disk_bytes: 1 << 30,
                startup_timeout_s: 60,
                build_timeout_s: 600,
            },
        }
    }

    #[test]
    fn venvs_are_keyed_by_what_they_hold() {
        let a = venv_key(&input(SpaceSdk::Gradio, Some("5.9.1")), b"", b"numpy\n");
        assert_eq!(
            a,
            venv_key(&input(SpaceSdk::Gradio, Some("5.9.1")), b"", b"numpy\n")
        );
        assert_ne!(
            a,
            venv_key(&input(SpaceSdk::Gradio, Some("5.9.2")), b"", b"numpy\n")
        );
        assert_ne!(
            a,
            venv_key(&input(SpaceSdk::Gradio, Some("5.9.1")), b"", b"pandas\n")
        );
        assert_ne!(
            a,
            venv_key(&input(SpaceSdk::Streamlit, Some("5.9.1")), b"", b"numpy\n")
        );
        // The boundary between inputs counts.
        assert_ne!(
            venv_key(&input(SpaceSdk::Python, None), b"a", b"b"),
            venv_key(&input(SpaceSdk::Python, None), b"", b"ab")
        );
    }

    #[test]
    fn packages_off_the_allow_list_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("packages.txt"),
            "# tools\nffmpeg\nkaiyuan-no-such-deb\n",
        )
        .unwrap();
        let Err(Failure::Build(message)) = check_packages(dir.path(), &[]) else {
            panic!("packages.txt accepted");
        };
        assert_eq!(
            message,
            "packages.txt asks for apt packages ffmpeg, kaiyuan-no-such-deb; this runner has only none (no apt packages are installed for Spaces)"
        );
        // Allowed but not installed is refused too.
        let allowed = vec!["ffmpeg".to_string(), "kaiyuan-no-such-deb".to_string()];
        assert!(check_packages(dir.path(), &allowed).is_err());
    }
}
