//! A space-run job from claim to end: fetch, build (`BUILDING`, or
//! `BUILD_ERROR`), start (`APP_STARTING` until the app answers on its
//! socket, within the startup timeout), serve (`RUNNING`, the app in
//! [`Apps`]) until cancelled or until the app ends (`RUNTIME_ERROR` with its
//! last lines). The error stages are followed by a non-retryable `Failed`
//! (sent by the worker from the error returned here); a cancelled job sends
//! nothing more.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use uuid::Uuid;
use worker_protocol::{EventBody, Job, LogStream, SpaceRunInput, SpaceStage};

use super::logs::{LogSink, TAIL_LINES};
use super::sandbox::Sandbox;
use super::{
    AppExit, Apps, Backend, Dirs, Failure, KeyedLocks, LocalBackend, RunSpec, RunningApp,
    SpacesConfig,
};
use crate::files::NotServable;

/// Longest error-stage message (the end of the app's output is kept).
const MAX_MESSAGE: usize = 16 * 1024;
const POLL: Duration = Duration::from_millis(200);

pub struct Spaces<B: Backend = LocalBackend> {
    backend: B,
    apps: Apps,
    http: reqwest::Client,
    hub: String,
    dirs: Dirs,
    fetch_locks: KeyedLocks,
    max_download_bytes: u64,
    max: u32,
    running: AtomicU32,
    /// Held while the runner lives (see [`Spaces::local`]).
    _lock: Option<nix::fcntl::Flock<std::fs::File>>,
}

impl Spaces<LocalBackend> {
    /// The bubblewrap runner, or why this machine cannot sandbox.
    pub fn local(
        config: &SpacesConfig,
        hub: &str,
        http: reqwest::Client,
    ) -> Result<Spaces, String> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| format!("cannot create {}: {e}", config.dir.display()))?;
        // Only the runner that holds the dir's lock clears what an earlier
        // one left: another live runner's sockets are not touched.
        let lock = std::fs::File::create(config.dir.join(".runner.lock"))
            .ok()
            .and_then(|f| {
                nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).ok()
            });
        if lock.is_some() {
            clean_up(&Dirs::new(config.dir.clone()));
        } else {
            tracing::warn!("another runner uses {}", config.dir.display());
        }
        let sandbox =
            Sandbox::probe(config.uid, config.gid, &config.dir).map_err(|e| format!("{e:#}"))?;
        let mut backend = LocalBackend::new(
            sandbox,
            Dirs::new(config.dir.clone()),
            config.allowed_packages.clone(),
            config.bridge_exe.clone(),
        );
        if config.gpu {
            backend.devices = nvidia_devices();
        }
        let mut spaces = Spaces::new(backend, config, hub, http);
        spaces._lock = lock;
        Ok(spaces)
    }

    /// The capability's detail: the sandbox and the limits it enforces.
    pub fn describe(&self) -> String {
        self.backend.sandbox.describe()
    }
}

impl<B: Backend> Spaces<B> {
    pub fn new(backend: B, config: &SpacesConfig, hub: &str, http: reqwest::Client) -> Spaces<B> {
        Spaces {
            backend,
            apps: Apps::default(),
            http,
            hub: hub.trim_end_matches('/').to_string(),
            dirs: Dirs::new(config.dir.clone()),
            fetch_locks: KeyedLocks::default(),
            max_download_bytes: config.max_download_bytes,
            max: config.max.max(1),
            running: AtomicU32::new(0),
            _lock: None,
        }
    }

    /// The running apps' sockets, for the tunnel.
    pub fn apps(&self) -> Apps {
        self.apps.clone()
    }

    /// Runs a claimed space-run job until it is cancelled or the app ends.
    pub async fn run(
        &self,
        job: &Job,
        input: &SpaceRunInput,
        events: &mpsc::UnboundedSender<EventBody>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<()> {
        let _slot = Slot::take(&self.running, self.max)?;
        let fetched = super::fetch::fetch(
            &self.http,
            &self.hub,
            &self.dirs,
            &self.fetch_locks,
            &job.model,
            self.max_download_bytes,
        )
        .await;
        let code = match fetched {
            Ok(code) => code,
            // The Space itself is the problem (too large, a bad file name):
            // the owner sees it as the build's error.
            Err(e) if e.is::<NotServable>() && !cancel.load(Ordering::SeqCst) => {
                let _ = events.send(EventBody::Stage {
                    stage: SpaceStage::BuildError,
                    message: Some(bounded(format!("{e:#}"))),
                });
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.run_code(job.id, &job.model.repo_id, &code, input, events, cancel)
            .await
    }

    /// Builds and runs the Space whose files are in `code` (what [`run`]
    /// does once they are downloaded).
    ///
    /// [`run`]: Spaces::run
    pub async fn run_code(
        &self,
        job: Uuid,
        space_id: &str,
        code: &Path,
        input: &SpaceRunInput,
        events: &mpsc::UnboundedSender<EventBody>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<()> {
        let spec = RunSpec {
            job,
            space_id,
            code,
            input,
        };
        let result = self.supervise(&spec, events, cancel).await;
        if cancel.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (stage, message) = match result {
            Ok(()) | Err(Failure::Cancelled) => return Ok(()),
            Err(Failure::Worker(e)) => return Err(e),
            Err(Failure::Build(m)) => (SpaceStage::BuildError, bounded(m)),
            Err(Failure::Runtime(m)) => (SpaceStage::RuntimeError, bounded(m)),
        };
        tracing::info!(%job, space = space_id, ?stage, "space run failed");
        let _ = events.send(EventBody::Stage {
            stage,
            message: Some(message.clone()),
        });
        Err(NotServable(message).into())
    }

    async fn supervise(
        &self,
        spec: &RunSpec<'_>,
        events: &mpsc::UnboundedSender<EventBody>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(), Failure> {
        let stage = |stage: SpaceStage| {
            if !cancel.load(Ordering::SeqCst) {
                let _ = events.send(EventBody::Stage {
                    stage,
                    message: None,
                });
            }
        };
        let secrets = &spec.input.secrets;
        stage(SpaceStage::Building);
        let build_log = LogSink::new(events.clone(), LogStream::Build, secrets, cancel.clone());
        let prepared = self
            .backend
            .prepare(spec, build_log, cancel.clone())
            .await?;
        if cancel.load(Ordering::SeqCst) {
            return Err(Failure::Cancelled);
        }
        stage(SpaceStage::AppStarting);
        let run_log = LogSink::new(events.clone(), LogStream::Run, secrets, cancel.clone());
        let started = Instant::now();
        let mut app = self.backend.start(spec, &prepared, run_log.clone()).await?;
        let result = async {
            self.wait_until_serving(&mut app, spec, cancel, &run_log, started).await?;
            tracing::info!(job = %spec.job, space = spec.space_id, startup_ms = started.elapsed().as_millis() as u64, "space running");
            // Registered before the hub hears of it: a request it then
            // sends through the tunnel finds the app.
            self.apps.insert(spec.job, app.endpoint().to_path_buf());
            stage(SpaceStage::Running);
            loop {
                tokio::select! {
                    exit = app.wait() => return Err(runtime_error(exit, spec.input, &run_log)),
                    _ = tokio::time::sleep(POLL) => {
                        if cancel.load(Ordering::SeqCst) {
                            return Err(Failure::Cancelled);
                        }
                    }
                }
            }
        }
        .await;
        self.apps.remove(spec.job);
        app.stop().await;
        result
    }

    async fn wait_until_serving(
        &self,
        app: &mut B::App,
        spec: &RunSpec<'_>,
        cancel: &AtomicBool,
        log: &LogSink,
        started: Instant,
    ) -> Result<(), Failure> {
        let limit = Duration::from_secs(spec.input.limits.startup_timeout_s.max(1));
        // Often in the first seconds (a small app answers within tens of
        // milliseconds, and waking a sleeping Space waits on this), then
        // every POLL.
        let mut every = Duration::from_millis(20);
        loop {
            tokio::select! {
                exit = app.wait() => return Err(runtime_error(exit, spec.input, log)),
                _ = tokio::time::sleep(every) => {}
            }
            if started.elapsed() > Duration::from_secs(3) {
                every = POLL;
            }
            if cancel.load(Ordering::SeqCst) {
                return Err(Failure::Cancelled);
            }
            if answers(app.endpoint()).await {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(Failure::Runtime(format!(
                    "the app did not answer on port {} within {} s\n{}",
                    spec.input.app_port,
                    limit.as_secs(),
                    log.tail(TAIL_LINES)
                )));
            }
        }
    }
}

/// The NVIDIA device nodes (`/dev/nvidia0`, `nvidiactl`, `nvidia-uvm`…);
/// the driver's libraries are under /usr, which every sandbox sees.
fn nvidia_devices() -> Vec<std::path::PathBuf> {
    let mut devices: Vec<_> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
        .map(|e| e.path())
        .filter(|p| !p.is_dir())
        .collect();
    devices.sort();
    devices
}

/// What an earlier run of the worker left: run directories (their
/// sandboxes died with it) and venvs half built or half replaced.
fn clean_up(dirs: &Dirs) {
    let _ = std::fs::remove_dir_all(dirs.runs());
    if let Ok(entries) = std::fs::read_dir(dirs.venvs()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(".building-") || name.contains(".old-") {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Whether something answers an HTTP request on the app's socket (any
/// answer counts: the app is up).
pub async fn answers(socket: &Path) -> bool {
    let probe = async {
        let mut stream = tokio::net::UnixStream::connect(socket).await?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut byte = [0u8; 1];
        Ok::<bool, std::io::Error>(stream.read(&mut byte).await? > 0)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(5), probe).await,
        Ok(Ok(true))
    )
}

fn runtime_error(exit: AppExit, input: &SpaceRunInput, log: &LogSink) -> Failure {
    let why = if exit.out_of_memory {
        format!(
            "the app ran out of memory (limit {} MiB) and was killed",
            input.limits.memory_bytes >> 20
        )
    } else if exit.code > 128 {
        format!("the app was killed by signal {}", exit.code - 128)
    } else {
        format!("the app exited with code {}", exit.code)
    };
    Failure::Runtime(format!("{why}\n{}", log.tail(TAIL_LINES)))
}

/// At most [`MAX_MESSAGE`] bytes: the first line (the verdict) and the end.
fn bounded(message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let boundary = |mut i: usize, forward: bool| {
        while !message.is_char_boundary(i) {
            if forward { i += 1 } else { i -= 1 }
        }
        i
    };
    let first = message.lines().next().unwrap_or("");
    let head = boundary(first.len().min(1024), false);
    let tail = boundary(message.len() - (MAX_MESSAGE - 2048), true);
    format!("{}\n…\n{}", &message[..head], &message[tail..])
}

/// One of the runner's `max` places; the hub hands out no more than the
/// worker's `max_concurrent_jobs`, but a worker that also runs models
/// shares those between both kinds.
struct Slot<'a>(&'a AtomicU32);

impl<'a> Slot<'a> {
    fn take(count: &'a AtomicU32, max: u32) -> Result<Slot<'a>> {
        let before = count.fetch_add(1, Ordering::SeqCst);
        if before >= max {
            count.fetch_sub(1, Ordering::SeqCst);
            anyhow::bail!("this runner already runs {max} spaces");
        }
        Ok(Slot(count))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
