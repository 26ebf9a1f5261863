//! A private PostgreSQL cluster for `hub serve` when `DATABASE_URL` is unset.
//!
//! Running the hub should not require setting up a database server first, so the hub
//! runs its own cluster in `<data-dir>/postgres` with the system's PostgreSQL server
//! binaries. This module owns everything about that cluster: finding the binaries,
//! `initdb`, starting, adopting and stopping the server, and the files around it:
//!
//! - `<data-dir>/postgres/`: the cluster itself.
//! - `<data-dir>/postgres-run/`: the unix socket directory, or
//!   `/tmp/kaiyuan-pg-<hash>` when the data dir path is too long for a socket path.
//! - `<data-dir>/postgres.log`: everything `initdb`, `pg_ctl` and the server print,
//!   so none of it lands on the hub's own stdout.
//! - `<data-dir>/postgres.start.lock`, `<data-dir>/postgres.users.lock`: see below.
//!
//! The server listens on nothing but its unix socket, with socket permissions 0700, so
//! only the server's own user (and root) can connect; that is why `trust`
//! authentication is acceptable here.
//!
//! **Root.** PostgreSQL refuses to run as root, and hubs are often run as root in
//! containers. When we are root, every `initdb`/`pg_ctl`/`postgres` process runs as
//! the `postgres` system user instead, the cluster and socket directories belong to
//! that user, and every directory above the cluster gets the execute (never read) bit
//! that user needs to reach it.
//!
//! **Locking.** Several `hub` processes may share a data dir, and a hub may die by
//! SIGKILL, leaving its server running. Two `flock`s keep this sound without pid
//! files of our own, because the kernel drops a dead process's locks:
//!
//! - `postgres.start.lock` is held exclusively while deciding whether to start or
//!   stop the server, so two hubs never start two servers, and a hub never starts
//!   one while another is stopping it.
//! - `postgres.users.lock` is held shared by every process using the cluster. The
//!   process releasing it last can take it exclusively, and only that one stops the
//!   server.
//!
//! A server left behind by a killed hub is adopted: `pg_ctl status` says it runs, so
//! we use it instead of starting another.

mod account;
mod binaries;
mod layout;
mod server;

use std::ffi::OsStr;
use std::fs::{self, DirBuilder, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::unistd::{Gid, Uid, User, geteuid};
use tracing::{info, warn};

use account::*;
use binaries::*;
use layout::*;
use server::*;

/// The system user PostgreSQL runs as when we are root.
const SERVER_USER: &str = "postgres";
/// The database superuser `initdb` creates and the hub connects as.
const SUPERUSER: &str = "postgres";
/// Only names the socket file: the server listens on no TCP port at all.
const PORT: u16 = 5432;
/// `sun_path` holds 108 bytes including the NUL; stay well below it.
const MAX_SOCKET_PATH_BYTES: usize = 100;
const LOG_TAIL_LINES: usize = 20;
const PG_CTL_TIMEOUT_SECS: &str = "60";
/// `pg_ctl start -w` waits for readiness already; this mostly guards adoption.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
const PACKAGED_VERSIONS_DIR: &str = "/usr/lib/postgresql";
/// Followed by a hash of the data dir path, for data dirs too deep for a socket path.
const FALLBACK_SOCKET_DIR_PREFIX: &str = "/tmp/kaiyuan-pg-";

/// Why the private cluster could not be started, adopted or stopped.
#[derive(Debug, thiserror::Error)]
pub enum LauncherError {
    #[error(
        "PostgreSQL server binaries not found (looked on PATH and in \
         {PACKAGED_VERSIONS_DIR}/*/bin); install them, e.g. `apt-get install postgresql` \
         (Debian/Ubuntu), or set DATABASE_URL to use an existing server"
    )]
    BinariesNotFound,

    #[error(
        "running as root, but there is no `{SERVER_USER}` system user to run PostgreSQL as \
         (PostgreSQL refuses to run as root); create one (e.g. `useradd --system \
         {SERVER_USER}`), run the hub as a non-root user, or set DATABASE_URL"
    )]
    ServerUserMissing,

    #[error("could not look up the `{SERVER_USER}` system user: {0}")]
    ServerUserLookup(nix::Error),

    #[error(
        "the data dir {} contains characters the private PostgreSQL cannot be given \
         (\" $ ` \\, a line break, or bytes that are not UTF-8); choose another data dir \
         or set DATABASE_URL", .0.display()
    )]
    UnsupportedDataDir(PathBuf),

    #[error(
        "refusing to use socket directory {path}: it is not a directory owned by us or \
         by the `{SERVER_USER}` user (owner uid {owner}); remove it and retry"
    )]
    UntrustedSocketDir { path: PathBuf, owner: u32 },

    #[error("could not {action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: io::Error,
    },

    #[error("`{command}` failed ({status}); last lines of {}:\n{tail}", log.display())]
    CommandFailed {
        command: String,
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },

    #[error(
        "pg_ctl says PostgreSQL runs, but nothing accepted a connection on {} within {}s; \
         if no server runs, {}/postmaster.pid is stale (its pid now belongs to another \
         process): remove it and retry; last lines of {}:\n{tail}",
        socket.display(), CONNECT_WAIT.as_secs(), cluster.display(), log.display()
    )]
    NotAcceptingConnections {
        socket: PathBuf,
        cluster: PathBuf,
        log: PathBuf,
        tail: String,
    },
}

type Result<T, E = LauncherError> = std::result::Result<T, E>;

/// Builds a `map_err` adapter that names the failed action and its path.
fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LauncherError {
    let path = path.to_path_buf();
    move |error| LauncherError::Io {
        action,
        path,
        error,
    }
}

/// This process's use of the private cluster of one data dir.
///
/// Holding one keeps the server running for us; [`PrivateCluster::release`] gives it
/// up and stops the server if no other process uses it.
pub struct PrivateCluster {
    server: Server,
    /// Our shared lock on `postgres.users.lock`; `None` once released.
    users_lock: Option<File>,
}

impl PrivateCluster {
    /// Starts (running initdb first if needed) or adopts the cluster of `data_dir`
    /// (cluster in `<data_dir>/postgres`), and registers this process as a user of it.
    pub fn ensure_running(data_dir: &Path) -> Result<PrivateCluster> {
        let layout = Layout::for_data_dir(data_dir)?;
        let server = Server {
            binaries: Binaries::find()?,
            account: Account::for_current_user()?,
            layout,
        };
        let start_lock = lock_exclusively(&server.layout.start_lock)?;
        server.prepare_files()?;
        if server.is_running()? {
            info!(cluster = %server.layout.cluster_dir.display(), "adopting running PostgreSQL");
        } else {
            server.start()?;
        }
        server.wait_until_accepting_connections()?;
        let users_lock = register_as_user(&server.layout.users_lock)?;
        drop(start_lock);
        Ok(PrivateCluster {
            server,
            users_lock: Some(users_lock),
        })
    }

    /// libpq/sqlx-style URL for database `db` over the unix socket, e.g.
    /// `postgres://postgres@localhost/hub?host=/data/postgres-run&port=5432`.
    ///
    /// The `host` query parameter overrides `localhost` in both libpq and sqlx; a value
    /// starting with `/` names the socket directory.
    pub fn database_url(&self, db: &str) -> String {
        let socket_dir = self.socket_dir().as_os_str().as_encoded_bytes();
        format!(
            "postgres://{SUPERUSER}@localhost/{}?host={}&port={PORT}",
            percent_encode(db.as_bytes(), b""),
            percent_encode(socket_dir, b"/"),
        )
    }

    pub fn socket_dir(&self) -> &Path {
        &self.server.layout.socket_dir
    }

    /// Releases this process's use; the last user stops the server (pg_ctl stop -m fast).
    /// Returns whether it stopped the server.
    pub fn release(mut self) -> Result<bool> {
        let start_lock = lock_exclusively(&self.server.layout.start_lock)?;
        let Some(users_lock) = self.users_lock.take() else {
            return Ok(false);
        };
        let users_lock_path = &self.server.layout.users_lock;
        // Only once our own shared lock is gone does a failed exclusive try_lock mean
        // that another process still uses the cluster.
        users_lock
            .unlock()
            .map_err(io_error("unlock", users_lock_path))?;
        let stopped = match users_lock.try_lock() {
            Ok(()) => self.server.stop_if_running()?,
            Err(TryLockError::WouldBlock) => false,
            Err(TryLockError::Error(error)) => {
                return Err(io_error("lock", users_lock_path)(error));
            }
        };
        drop(start_lock);
        Ok(stopped)
    }
}

impl Drop for PrivateCluster {
    /// Gives up our use without stopping the server: stopping is a decision, and a
    /// forgotten `release` (or a panic) should leave the server to the other users.
    fn drop(&mut self) {
        if let Some(users_lock) = self.users_lock.take() {
            // Closing the fd would release the lock too, unless a child forked in the
            // meantime still holds a duplicate of it; unlocking covers that case.
            let _ = users_lock.unlock();
        }
    }
}

fn lock_exclusively(path: &Path) -> Result<File> {
    let file = open_lock_file(path)?;
    file.lock().map_err(io_error("lock", path))?;
    Ok(file)
}

fn register_as_user(users_lock: &Path) -> Result<File> {
    let file = open_lock_file(users_lock)?;
    file.lock_shared().map_err(io_error("lock", users_lock))?;
    Ok(file)
}

/// Rust opens files close-on-exec, which matters here: a postmaster inheriting a lock
/// fd would hold that lock for as long as it runs.
fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io_error("open lock file", path))
}

#[cfg(test)]
mod tests;
