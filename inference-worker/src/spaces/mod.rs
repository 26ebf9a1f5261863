//! The Spaces runner: builds and runs one commit of a Space per
//! `space-run` job, in a sandbox, for as long as the job's lease lasts.
//!
//! - [`fetch`]: the Space's files, through the hub's tree and resolve API.
//! - [`build`]: the venv (or a static Space's build) — `BUILDING`.
//! - [`local`]: the bubblewrap [`Backend`] ([`sandbox`], [`cgroup`]), whose
//!   app is reached through a Unix socket ([`bridge`] runs inside).
//! - [`supervise`]: the stages (`APP_STARTING` → `RUNNING`, or the error
//!   stages), logs, cancellation, and the [`Apps`] registry the tunnel
//!   reads to find an app's socket.

pub mod bridge;
pub mod build;
pub mod cgroup;
pub mod fetch;
pub mod local;
pub mod logs;
pub mod sandbox;
pub mod supervise;
pub mod tunnel;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;
use worker_protocol::SpaceRunInput;

pub use build::Prepared;
pub use local::LocalBackend;
pub use logs::LogSink;

/// How the runner is set up (`--spaces-*` flags).
#[derive(Debug, Clone)]
pub struct SpacesConfig {
    /// Code, venvs, data and sockets live here. It must be reachable by the
    /// sandbox uid (no 0700 directory such as /root above it).
    pub dir: PathBuf,
    pub uid: u32,
    pub gid: u32,
    /// Spaces run at once.
    pub max: u32,
    /// apt packages a Space's packages.txt may name (they must be installed).
    pub allowed_packages: Vec<String>,
    /// Largest Space (all its files) the runner downloads.
    pub max_download_bytes: u64,
    /// The binary bound into each sandbox as the socket bridge: this one.
    pub bridge_exe: PathBuf,
    /// Give apps the machine's NVIDIA devices (a runner on a CUDA device,
    /// offering `space:gpu`).
    pub gpu: bool,
}

impl SpacesConfig {
    pub fn new(dir: PathBuf) -> std::io::Result<SpacesConfig> {
        Ok(SpacesConfig {
            dir,
            uid: 65534,
            gid: 65534,
            max: 2,
            allowed_packages: vec![],
            max_download_bytes: 1 << 30,
            bridge_exe: std::env::current_exe()?,
            gpu: false,
        })
    }
}

/// The layout of the spaces dir.
pub struct Dirs {
    root: PathBuf,
}

impl Dirs {
    pub fn new(root: PathBuf) -> Dirs {
        Dirs { root }
    }
    pub fn venvs(&self) -> PathBuf {
        self.root.join("venvs")
    }
    /// pip's and uv's download caches (written by the sandbox uid).
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
    /// One commit's files: `code/{ns}--{name}/{commit}`.
    pub fn code(&self, space: &str, revision: &str) -> PathBuf {
        self.root
            .join("code")
            .join(space.replace('/', "--"))
            .join(revision)
    }
    /// The Space's persistent `/data`.
    pub fn data(&self, space: &str) -> PathBuf {
        self.root.join("data").join(space.replace('/', "--"))
    }
    /// Every run's scratch.
    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }
    /// One run's scratch (its socket directory, a static build's output).
    pub fn run(&self, job: Uuid) -> PathBuf {
        self.runs().join(job.simple().to_string())
    }
}

/// How a run ended, when not with the app serving until cancelled.
#[derive(Debug)]
pub enum Failure {
    /// `BUILD_ERROR`, with the reason (pip's last lines).
    Build(String),
    /// `RUNTIME_ERROR`, with the app's last lines.
    Runtime(String),
    /// The job was cancelled: nothing more is sent.
    Cancelled,
    /// The runner's fault (disk, download): another attempt may succeed.
    Worker(anyhow::Error),
}

/// The running apps' sockets by job id: filled when an app reaches
/// `RUNNING`, emptied when it stops. The runner's tunnel looks up the job
/// named in a request's `kaiyuan-space-job` header here.
#[derive(Clone, Default)]
pub struct Apps(Arc<RwLock<HashMap<Uuid, PathBuf>>>);

impl Apps {
    /// The Unix socket of the app `job` runs, if it is running.
    pub fn get(&self, job: Uuid) -> Option<PathBuf> {
        self.0.read().expect("apps lock").get(&job).cloned()
    }
    /// [`Apps::get`] as a shareable function (what the tunnel takes).
    pub fn resolver(&self) -> Arc<dyn Fn(Uuid) -> Option<PathBuf> + Send + Sync> {
        let apps = self.clone();
        Arc::new(move |job| apps.get(job))
    }
    /// Jobs whose apps are running.
    pub fn jobs(&self) -> Vec<Uuid> {
        self.0.read().expect("apps lock").keys().copied().collect()
    }
    fn insert(&self, job: Uuid, socket: PathBuf) {
        self.0.write().expect("apps lock").insert(job, socket);
    }
    fn remove(&self, job: Uuid) {
        self.0.write().expect("apps lock").remove(&job);
    }
}

/// One async lock per key (e.g. per venv being built).
#[derive(Default)]
pub struct KeyedLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl KeyedLocks {
    pub fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.0
            .lock()
            .expect("locks")
            .entry(key.to_string())
            .or_default()
            .clone()
    }
}

/// One run to build and start.
pub struct RunSpec<'a> {
    pub job: Uuid,
    /// `ns/name`.
    pub space_id: &'a str,
    /// The commit's files (read-only for the app).
    pub code: &'a Path,
    pub input: &'a SpaceRunInput,
}

/// How the app process ended.
#[derive(Debug, Clone, Copy)]
pub struct AppExit {
    /// As a shell reports it (128 + signal when killed).
    pub code: i32,
    /// The kernel killed it for memory (cgroup OOM).
    pub out_of_memory: bool,
}

/// Where apps are built and run: bubblewrap on this machine
/// ([`LocalBackend`]); a Kubernetes backend (a pod per Space, the pod as the
/// sandbox, a Service instead of a socket) would implement the same.
pub trait Backend: Send + Sync {
    type App: RunningApp;

    /// Builds what the app needs; build output goes to `log`.
    fn prepare(
        &self,
        run: &RunSpec<'_>,
        log: LogSink,
        cancel: Arc<AtomicBool>,
    ) -> impl Future<Output = Result<Prepared, Failure>> + Send;

    /// Starts the app; its output goes to `log`.
    fn start(
        &self,
        run: &RunSpec<'_>,
        prepared: &Prepared,
        log: LogSink,
    ) -> impl Future<Output = Result<Self::App, Failure>> + Send;
}

/// A started app.
pub trait RunningApp: Send {
    /// The Unix socket its port is reached through.
    fn endpoint(&self) -> &Path;
    /// Waits for the app to end (its output read to the end).
    fn wait(&mut self) -> impl Future<Output = AppExit> + Send;
    /// Stops it: SIGTERM, then SIGKILL after a grace period; frees its
    /// resources.
    fn stop(&mut self) -> impl Future<Output = ()> + Send;
}

pub use supervise::Spaces;
