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

/// Where everything of one data dir's cluster lives.
#[derive(Debug)]
struct Layout {
    data_dir: PathBuf,
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    start_lock: PathBuf,
    users_lock: PathBuf,
}

impl Layout {
    fn for_data_dir(data_dir: &Path) -> Result<Layout> {
        fs::create_dir_all(data_dir).map_err(io_error("create data dir", data_dir))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_error("resolve data dir", data_dir))?;
        ensure_data_dir_path_is_usable(&data_dir)?;
        Ok(Layout::for_canonical_data_dir(data_dir))
    }

    fn for_canonical_data_dir(data_dir: PathBuf) -> Layout {
        Layout {
            cluster_dir: data_dir.join("postgres"),
            socket_dir: socket_dir_for(&data_dir),
            log_file: data_dir.join("postgres.log"),
            start_lock: data_dir.join("postgres.start.lock"),
            users_lock: data_dir.join("postgres.users.lock"),
            data_dir,
        }
    }

    fn socket_file(&self) -> PathBuf {
        self.socket_dir.join(format!(".s.PGSQL.{PORT}"))
    }

    fn is_initialized(&self) -> bool {
        self.cluster_dir.join("PG_VERSION").is_file()
    }
}

/// pg_ctl runs the server through `/bin/sh -c` with the data dir and log paths inside
/// double quotes, where these characters would be interpreted rather than kept; and
/// postgresql.conf is UTF-8 text.
fn ensure_data_dir_path_is_usable(data_dir: &Path) -> Result<()> {
    let Some(text) = data_dir.to_str() else {
        return Err(LauncherError::UnsupportedDataDir(data_dir.to_path_buf()));
    };
    if text.contains(['"', '$', '`', '\\', '\n', '\r']) {
        return Err(LauncherError::UnsupportedDataDir(data_dir.to_path_buf()));
    }
    Ok(())
}

/// Decided from the data dir alone, so every start of the same data dir agrees.
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let preferred = data_dir.join("postgres-run");
    if is_usable_socket_dir(&preferred) {
        preferred
    } else {
        let hash = fnv1a_64(data_dir.as_os_str().as_encoded_bytes());
        PathBuf::from(format!("{FALLBACK_SOCKET_DIR_PREFIX}{hash:016x}"))
    }
}

/// A socket path must fit `sun_path`, and PostgreSQL splits its socket directory
/// setting at commas.
fn is_usable_socket_dir(dir: &Path) -> bool {
    let socket_path_len = dir.as_os_str().len() + format!("/.s.PGSQL.{PORT}").len();
    let has_comma = dir.as_os_str().as_encoded_bytes().contains(&b',');
    socket_path_len <= MAX_SOCKET_PATH_BYTES && !has_comma
}

/// FNV-1a: tiny and, unlike std's `DefaultHasher`, guaranteed stable across Rust
/// releases, which the socket directory name must be.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `keep`. `+` is
/// encoded too: query strings are decoded form-style, where `+` means a space.
fn percent_encode(bytes: &[u8], keep: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The directory holding `initdb`, `pg_ctl` and `postgres` of one PostgreSQL version.
#[derive(Debug)]
struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    fn find() -> Result<Binaries> {
        Self::on_path()
            .or_else(Self::highest_packaged_version)
            .ok_or(LauncherError::BinariesNotFound)
    }

    /// Debian puts only client wrappers on PATH, so a `pg_ctl` there counts only if
    /// its real directory also holds the server.
    fn on_path() -> Option<Binaries> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("pg_ctl"))
            .filter(|pg_ctl| is_executable(pg_ctl))
            .filter_map(|pg_ctl| Some(pg_ctl.canonicalize().ok()?.parent()?.to_path_buf()))
            .map(|dir| Binaries { dir })
            .find(Binaries::are_complete)
    }

    fn highest_packaged_version() -> Option<Binaries> {
        fs::read_dir(PACKAGED_VERSIONS_DIR)
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let version = parse_version(&entry.file_name())?;
                Some((
                    version,
                    Binaries {
                        dir: entry.path().join("bin"),
                    },
                ))
            })
            .filter(|(_, binaries)| binaries.are_complete())
            .max_by(|(a, _), (b, _)| a.cmp(b))
            .map(|(_, binaries)| binaries)
    }

    fn are_complete(&self) -> bool {
        [self.initdb(), self.pg_ctl(), self.postgres()]
            .iter()
            .all(|binary| is_executable(binary))
    }

    fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    fn pg_ctl(&self) -> PathBuf {
        self.dir.join("pg_ctl")
    }

    fn postgres(&self) -> PathBuf {
        self.dir.join("postgres")
    }
}

/// `15` → `[15]`, `9.6` → `[9, 6]`, so versions compare numerically.
fn parse_version(name: &OsStr) -> Option<Vec<u32>> {
    name.to_str()?
        .split('.')
        .map(|part| part.parse().ok())
        .collect()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
}

/// Who the PostgreSQL processes run as.
#[derive(Debug)]
enum Account {
    Ourselves,
    /// The `postgres` system user, because we are root.
    ServerUser {
        uid: Uid,
        gid: Gid,
        home: PathBuf,
    },
}

impl Account {
    fn for_current_user() -> Result<Account> {
        if !geteuid().is_root() {
            return Ok(Account::Ourselves);
        }
        let user = User::from_name(SERVER_USER)
            .map_err(LauncherError::ServerUserLookup)?
            .ok_or(LauncherError::ServerUserMissing)?;
        Ok(Account::ServerUser {
            uid: user.uid,
            gid: user.gid,
            home: user.dir,
        })
    }

    /// A command running as this account in `cwd`, with little of the hub's
    /// environment: the server would keep the hub's secrets (storage keys, say) in its
    /// own environment for ever, and `PG*` variables meant for the hub's clients
    /// (`PGPORT`, say) would reconfigure the server.
    fn command(&self, program: &Path, cwd: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(std::env::vars_os().filter(|(name, _)| is_passed_to_server(name)))
            .current_dir(cwd)
            .env("PWD", cwd)
            .stdin(Stdio::null());
        if let Account::ServerUser { uid, gid, home } = self {
            // std also drops root's supplementary groups when it sets the uid.
            command
                .uid(uid.as_raw())
                .gid(gid.as_raw())
                .env("HOME", home)
                .env("USER", SERVER_USER)
                .env("LOGNAME", SERVER_USER);
        }
        command
    }

    fn take_ownership_of(&self, path: &Path) -> Result<()> {
        match self {
            Account::Ourselves => Ok(()),
            Account::ServerUser { uid, gid, .. } => {
                std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw()))
                    .map_err(io_error("change owner of", path))
            }
        }
    }

    fn take_ownership_of_tree(&self, root: &Path) -> Result<()> {
        match self {
            Account::Ourselves => Ok(()),
            Account::ServerUser { uid, gid, .. } => chown_tree(root, uid.as_raw(), gid.as_raw())
                .map_err(io_error("change owner of", root)),
        }
    }

    fn owns(&self, meta: &fs::Metadata) -> bool {
        match self {
            Account::Ourselves => meta.uid() == geteuid().as_raw(),
            Account::ServerUser { uid, .. } => meta.uid() == uid.as_raw(),
        }
    }

    /// The server user must be able to walk down to the cluster; a root-only home
    /// such as `/root` would otherwise stop it.
    fn make_ancestors_traversable(&self, dir: &Path) -> Result<()> {
        let Account::ServerUser { uid, gid, .. } = self else {
            return Ok(());
        };
        for ancestor in dir.ancestors() {
            let meta = fs::metadata(ancestor).map_err(io_error("inspect", ancestor))?;
            if let Some(bit) = missing_search_bit(&meta, *uid, *gid) {
                let mode = meta.mode() | bit;
                fs::set_permissions(ancestor, fs::Permissions::from_mode(mode))
                    .map_err(io_error("make traversable", ancestor))?;
                warn!(
                    directory = %ancestor.display(),
                    mode = format!("{:o}", mode & 0o7777),
                    "added execute permission so the `{SERVER_USER}` user can reach the private PostgreSQL cluster"
                );
            }
        }
        Ok(())
    }
}

/// Where to find programs, who we are, and what language and time zone to speak.
fn is_passed_to_server(name: &OsStr) -> bool {
    const PASSED: [&str; 7] = ["PATH", "HOME", "USER", "LOGNAME", "TZ", "LANG", "LANGUAGE"];
    PASSED.iter().any(|passed| name == *passed) || name.as_encoded_bytes().starts_with(b"LC_")
}

/// The execute bit `uid`/`gid` lacks on a directory, if any. POSIX consults exactly
/// one class: owner if the uid matches, else group if the gid matches, else other.
/// (std clears supplementary groups when switching user, so only the primary gid counts.)
fn missing_search_bit(meta: &fs::Metadata, uid: Uid, gid: Gid) -> Option<u32> {
    let bit = if meta.uid() == uid.as_raw() {
        0o100
    } else if meta.gid() == gid.as_raw() {
        0o010
    } else {
        0o001
    };
    (meta.mode() & bit == 0).then_some(bit)
}

/// Does not follow symlinks, so a link inside the cluster cannot hand out files
/// elsewhere.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// One data dir's cluster, and how to run its binaries.
struct Server {
    layout: Layout,
    binaries: Binaries,
    account: Account,
}

impl Server {
    /// Makes the cluster, socket directory and log usable by the server's account,
    /// running initdb when the cluster is missing.
    fn prepare_files(&self) -> Result<()> {
        self.account
            .make_ancestors_traversable(&self.layout.data_dir)?;
        self.prepare_log_file()?;
        self.prepare_socket_dir()?;
        if self.layout.is_initialized() {
            self.ensure_cluster_belongs_to_account()
        } else {
            self.initialize()
        }
    }

    /// pg_ctl `-l` makes the server append to the log itself, as the server's user.
    fn prepare_log_file(&self) -> Result<()> {
        let log = &self.layout.log_file;
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(log)
            .map_err(io_error("create", log))?;
        self.account.take_ownership_of(log)
    }

    fn prepare_socket_dir(&self) -> Result<()> {
        let dir = &self.layout.socket_dir;
        match DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                self.ensure_socket_dir_is_trusted()?;
            }
            Err(error) => return Err(io_error("create socket directory", dir)(error)),
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_error("restrict permissions of", dir))?;
        self.account.take_ownership_of(dir)
    }

    /// The `/tmp` fallback could have been planted by another local user.
    fn ensure_socket_dir_is_trusted(&self) -> Result<()> {
        let dir = &self.layout.socket_dir;
        let meta = fs::symlink_metadata(dir).map_err(io_error("inspect", dir))?;
        let owned_by_us = meta.uid() == geteuid().as_raw();
        if meta.is_dir() && (owned_by_us || self.account.owns(&meta)) {
            Ok(())
        } else {
            Err(LauncherError::UntrustedSocketDir {
                path: dir.clone(),
                owner: meta.uid(),
            })
        }
    }

    /// A cluster restored or copied by root would otherwise make the server refuse
    /// to start.
    fn ensure_cluster_belongs_to_account(&self) -> Result<()> {
        let cluster = &self.layout.cluster_dir;
        let meta = fs::metadata(cluster).map_err(io_error("inspect", cluster))?;
        if !self.account.owns(&meta) {
            warn!(cluster = %cluster.display(), "handing the PostgreSQL cluster to its server user");
            self.account.take_ownership_of_tree(cluster)?;
        }
        Ok(())
    }

    fn initialize(&self) -> Result<()> {
        info!(cluster = %self.layout.cluster_dir.display(), "initializing a private PostgreSQL cluster");
        self.recreate_empty_cluster_dir()?;
        if let Err(error) = self.run_initdb("C.UTF-8") {
            warn!(%error, "initdb with locale C.UTF-8 failed; retrying with locale C");
            self.recreate_empty_cluster_dir()?;
            self.run_initdb("C")?;
        }
        self.append_private_settings()
    }

    /// A cluster dir without PG_VERSION is what an interrupted initdb leaves behind.
    fn recreate_empty_cluster_dir(&self) -> Result<()> {
        let cluster = &self.layout.cluster_dir;
        if cluster.exists() {
            warn!(cluster = %cluster.display(), "removing an incomplete PostgreSQL cluster");
            fs::remove_dir_all(cluster).map_err(io_error("remove", cluster))?;
        }
        DirBuilder::new()
            .mode(0o700)
            .create(cluster)
            .map_err(io_error("create", cluster))?;
        self.account.take_ownership_of(cluster)
    }

    /// UTF8 whatever the locale: the hub stores Chinese text.
    fn run_initdb(&self, locale: &str) -> Result<()> {
        let mut initdb = self.command(&self.binaries.initdb());
        initdb
            .arg("-D")
            .arg(&self.layout.cluster_dir)
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"])
            .arg(format!("--locale={locale}"));
        self.run_successfully(initdb)
    }

    fn append_private_settings(&self) -> Result<()> {
        let config = self.layout.cluster_dir.join("postgresql.conf");
        let settings = private_settings(&self.layout.socket_dir);
        OpenOptions::new()
            .append(true)
            .open(&config)
            .and_then(|mut file| file.write_all(settings.as_bytes()))
            .map_err(io_error("append settings to", &config))
    }

    fn is_running(&self) -> Result<bool> {
        let mut status = self.command(&self.binaries.pg_ctl());
        status.arg("status").arg("-D").arg(&self.layout.cluster_dir);
        let description = describe(&status);
        let exit = self.run_logged(status)?;
        // pg_ctl status: 0 = running, 3 = not running (a stale postmaster.pid included).
        match exit.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => Err(self.command_failed(description, exit)),
        }
    }

    /// The socket directory goes on the command line too, so a data dir moved since
    /// initdb still gets its socket where `database_url` points.
    fn start(&self) -> Result<()> {
        info!(cluster = %self.layout.cluster_dir.display(), "starting private PostgreSQL");
        let server_options = format!("-k {} -p {PORT}", shell_quote(&self.layout.socket_dir));
        let mut start = self.command(&self.binaries.pg_ctl());
        start
            .args(["start", "-w", "-t", PG_CTL_TIMEOUT_SECS, "-D"])
            .arg(&self.layout.cluster_dir)
            .arg("-l")
            .arg(&self.layout.log_file)
            .arg("-o")
            .arg(server_options);
        self.run_successfully(start)
    }

    fn stop_if_running(&self) -> Result<bool> {
        if !self.is_running()? {
            warn!(cluster = %self.layout.cluster_dir.display(), "private PostgreSQL was already stopped");
            return Ok(false);
        }
        info!(cluster = %self.layout.cluster_dir.display(), "stopping private PostgreSQL");
        let mut stop = self.command(&self.binaries.pg_ctl());
        stop.args(["stop", "-m", "fast", "-w", "-t", PG_CTL_TIMEOUT_SECS, "-D"])
            .arg(&self.layout.cluster_dir);
        self.run_successfully(stop)?;
        Ok(true)
    }

    /// Connects rather than checking that the socket file exists: a killed server
    /// leaves its socket file behind, and `pg_ctl status` trusts any live process
    /// with the pid in `postmaster.pid`, even an unrelated one after a reboot.
    fn wait_until_accepting_connections(&self) -> Result<()> {
        let socket = self.layout.socket_file();
        let deadline = Instant::now() + CONNECT_WAIT;
        // Closing without a startup packet is something PostgreSQL does not log.
        while UnixStream::connect(&socket).is_err() {
            if Instant::now() >= deadline {
                return Err(LauncherError::NotAcceptingConnections {
                    socket,
                    cluster: self.layout.cluster_dir.clone(),
                    log: self.layout.log_file.clone(),
                    tail: self.log_tail(),
                });
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The cluster dir is the one directory the server user can surely enter;
    /// root's own working directory may be closed to it.
    fn command(&self, program: &Path) -> Command {
        self.account.command(program, &self.layout.cluster_dir)
    }

    fn run_successfully(&self, command: Command) -> Result<()> {
        let description = describe(&command);
        let exit = self.run_logged(command)?;
        if exit.success() {
            Ok(())
        } else {
            Err(self.command_failed(description, exit))
        }
    }

    /// Logs to a file rather than a pipe: the server pg_ctl leaves behind would hold a
    /// pipe open, and its output belongs in the log anyway.
    fn run_logged(&self, mut command: Command) -> Result<ExitStatus> {
        let log = &self.layout.log_file;
        let stdout = OpenOptions::new()
            .append(true)
            .open(log)
            .map_err(io_error("open", log))?;
        let stderr = stdout.try_clone().map_err(io_error("open", log))?;
        let program = command.get_program().to_owned();
        command
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .map_err(io_error("run", Path::new(&program)))
    }

    fn command_failed(&self, command: String, status: ExitStatus) -> LauncherError {
        LauncherError::CommandFailed {
            command,
            status,
            log: self.layout.log_file.clone(),
            tail: self.log_tail(),
        }
    }

    fn log_tail(&self) -> String {
        last_lines(&self.layout.log_file, LOG_TAIL_LINES)
            .unwrap_or_else(|error| format!("(could not read the log: {error})"))
    }
}

/// Written once, after initdb; the socket directory is repeated on every start.
fn private_settings(socket_dir: &Path) -> String {
    format!(
        "\n# Kaiyuan Hub private cluster: reachable only through its own unix socket.\n\
         listen_addresses = ''\n\
         unix_socket_directories = {}\n\
         unix_socket_permissions = 0700\n\
         max_connections = 200\n",
        config_quote(socket_dir)
    )
}

/// A postgresql.conf string literal: `'` is doubled and `\` starts an escape.
fn config_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// pg_ctl splices `-o` into a `/bin/sh -c` command line.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads only the end of the file: the server appends to the same log for ever.
fn last_lines(path: &Path, count: usize) -> io::Result<String> {
    const TAIL_BYTES: u64 = 16 * 1024;
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(count)..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::FileTypeExt;
    use std::sync::atomic::{AtomicU32, Ordering};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    const PSQL: &str = "/usr/bin/psql";

    fn is_socket(path: &Path) -> bool {
        fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_socket())
    }

    /// A unique data dir under the temp dir that stops any server left in it and
    /// removes itself, so a failing test leaves no postmaster behind.
    struct TempDataDir {
        root: PathBuf,
        data_dir: PathBuf,
    }

    impl TempDataDir {
        fn new(name: &str) -> TempDataDir {
            Self::with_subdir(name, "data")
        }

        fn with_subdir(name: &str, subdir: &str) -> TempDataDir {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let unique = format!(
                "kaiyuan-launcher-{name}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let root = std::env::temp_dir().join(unique);
            let data_dir = root.join(subdir);
            TempDataDir { root, data_dir }
        }

        fn server(&self) -> Server {
            self.try_server()
                .expect("data dir, binaries and server account")
        }

        fn try_server(&self) -> Option<Server> {
            Some(Server {
                layout: Layout::for_canonical_data_dir(self.data_dir.canonicalize().ok()?),
                binaries: Binaries::find().ok()?,
                account: Account::for_current_user().ok()?,
            })
        }

        fn is_running(&self) -> bool {
            self.server().is_running().expect("pg_ctl status")
        }

        fn postmaster_pid(&self) -> String {
            let pid_file = self.data_dir.join("postgres/postmaster.pid");
            let text = fs::read_to_string(pid_file).expect("postmaster.pid");
            text.lines().next().expect("pid line").to_owned()
        }
    }

    impl Drop for TempDataDir {
        fn drop(&mut self) {
            // No panics here: this also runs while a failed test unwinds.
            if let Some(server) = self.try_server() {
                let mut stop = server.command(&server.binaries.pg_ctl());
                stop.args(["stop", "-m", "immediate", "-D"])
                    .arg(&server.layout.cluster_dir);
                let _ = server.run_logged(stop);
                if is_fallback_socket_dir(&server.layout.socket_dir) {
                    let _ = fs::remove_dir_all(&server.layout.socket_dir);
                }
            }
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    fn is_fallback_socket_dir(dir: &Path) -> bool {
        let dir = dir.to_string_lossy();
        dir.starts_with(FALLBACK_SOCKET_DIR_PREFIX)
            && !dir[FALLBACK_SOCKET_DIR_PREFIX.len()..].contains('/')
    }

    fn psql(cluster: &PrivateCluster, sql: &str) -> String {
        let output = Command::new(PSQL)
            .arg("-h")
            .arg(cluster.socket_dir())
            .args(["-U", SUPERUSER, "-d", "postgres", "-Atc", sql])
            .env("PGCLIENTENCODING", "UTF8")
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("UTF-8")
            .trim()
            .to_owned()
    }

    #[test]
    fn starts_from_empty_and_stops_on_release() {
        let dir = TempDataDir::new("fresh");
        let cluster = PrivateCluster::ensure_running(&dir.data_dir).expect("start");

        assert!(is_socket(&cluster.socket_dir().join(".s.PGSQL.5432")));
        assert_eq!(psql(&cluster, "select 1"), "1");
        assert_eq!(psql(&cluster, "show server_encoding"), "UTF8");
        assert_eq!(psql(&cluster, "select length('开源模型')"), "4");
        assert_eq!(psql(&cluster, "select '开源模型'"), "开源模型");
        assert_eq!(psql(&cluster, "show listen_addresses"), "");

        assert!(cluster.release().expect("release"), "last user stops");
        assert!(!dir.is_running());
    }

    #[test]
    fn database_url_connects_with_libpq() {
        let dir = TempDataDir::new("url");
        let cluster = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        let url = cluster.database_url("postgres");
        assert!(url.starts_with("postgres://postgres@localhost/postgres?host=/"));

        let output = Command::new(PSQL)
            .args([&url, "-Atc", "select current_database()"])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "postgres");

        assert!(cluster.release().expect("release"));
    }

    #[test]
    fn server_stops_only_when_the_last_user_releases() {
        let dir = TempDataDir::new("shared");
        let first = PrivateCluster::ensure_running(&dir.data_dir).expect("first start");
        let second = PrivateCluster::ensure_running(&dir.data_dir).expect("second start");
        assert_eq!(first.socket_dir(), second.socket_dir());

        assert!(
            !first.release().expect("first release"),
            "second still uses it"
        );
        assert!(dir.is_running());
        assert_eq!(psql(&second, "select 1"), "1");

        assert!(second.release().expect("second release"));
        assert!(!dir.is_running());
    }

    #[test]
    fn adopts_the_server_of_a_hub_that_vanished_without_releasing() {
        let dir = TempDataDir::new("adopt");
        let abandoned = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        let pid = dir.postmaster_pid();
        // What a SIGKILL leaves: our lock gone (the kernel drops it), the server up.
        drop(abandoned);
        assert!(dir.is_running(), "Drop must not stop the server");

        let adopted = PrivateCluster::ensure_running(&dir.data_dir).expect("adopt");
        assert_eq!(dir.postmaster_pid(), pid, "no second server");
        assert_eq!(psql(&adopted, "select 1"), "1");

        assert!(adopted.release().expect("release"));
        assert!(!dir.is_running());
    }

    #[test]
    fn concurrent_hubs_start_exactly_one_server_and_stop_it_once() {
        let dir = TempDataDir::new("race");
        let start_all = || {
            thread::scope(|scope| {
                let starts: Vec<_> = (0..4)
                    .map(|_| scope.spawn(|| PrivateCluster::ensure_running(&dir.data_dir)))
                    .collect();
                starts
                    .into_iter()
                    .map(|start| start.join().expect("thread").expect("start"))
                    .collect::<Vec<_>>()
            })
        };
        // flock locks belong to open files, not processes, so threads race here
        // just as separate hub processes would.
        let clusters = start_all();
        let log = fs::read_to_string(dir.data_dir.join("postgres.log")).expect("log");
        assert_eq!(log.matches("ready to accept connections").count(), 1);

        let stopped: Vec<bool> = thread::scope(|scope| {
            let releases: Vec<_> = clusters
                .into_iter()
                .map(|cluster| scope.spawn(|| cluster.release()))
                .collect();
            releases
                .into_iter()
                .map(|release| release.join().expect("thread").expect("release"))
                .collect()
        });
        assert_eq!(stopped.iter().filter(|&&stopped| stopped).count(), 1);
        assert!(!dir.is_running());
    }

    #[test]
    fn starts_a_new_server_when_the_old_one_was_killed() {
        let dir = TempDataDir::new("killed");
        let first = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        let old_pid = dir.postmaster_pid();
        let pid = Pid::from_raw(old_pid.parse().expect("numeric pid"));
        // Leaves postmaster.pid, the socket file and its lock file behind.
        kill(pid, Signal::SIGKILL).expect("kill postmaster");
        let deadline = Instant::now() + Duration::from_secs(10);
        while dir.is_running() {
            assert!(Instant::now() < deadline, "killed postmaster lingers");
            thread::sleep(Duration::from_millis(100));
        }

        let second = PrivateCluster::ensure_running(&dir.data_dir).expect("restart");
        assert_ne!(dir.postmaster_pid(), old_pid);
        assert_eq!(psql(&second, "select 1"), "1");

        assert!(!second.release().expect("release"), "first still uses it");
        assert!(first.release().expect("release"));
        assert!(!dir.is_running());
    }

    #[test]
    fn opens_closed_ancestors_to_the_server_user_with_execute_only() {
        if !geteuid().is_root() {
            return; // Only root runs the server as another user.
        }
        let dir = TempDataDir::with_subdir("closed", "home/data");
        let home = dir.root.join("home");
        fs::create_dir_all(&home).expect("home");
        fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).expect("chmod");

        let cluster = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        let mode = fs::metadata(&home).expect("home").mode() & 0o777;
        assert_eq!(mode, 0o701);
        assert!(cluster.release().expect("release"));
    }

    #[test]
    fn restarts_an_initialized_cluster_after_a_clean_stop() {
        let dir = TempDataDir::new("restart");
        let first = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        psql(
            &first,
            "create table kept (note text); insert into kept values ('你好')",
        );
        assert!(first.release().expect("release"));

        let again = PrivateCluster::ensure_running(&dir.data_dir).expect("restart");
        assert_eq!(psql(&again, "select note from kept"), "你好");
        assert!(again.release().expect("release"));
    }

    #[test]
    fn reinitializes_a_cluster_whose_initdb_was_interrupted() {
        let dir = TempDataDir::new("interrupted");
        fs::create_dir_all(dir.data_dir.join("postgres/base")).expect("half a cluster");

        let cluster = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        assert_eq!(psql(&cluster, "select 1"), "1");
        assert!(cluster.release().expect("release"));
    }

    #[test]
    fn long_data_dir_gets_its_socket_under_tmp() {
        let long = "a-rather-long-directory-name-for-a-data-dir/".repeat(3);
        let dir = TempDataDir::with_subdir("long", &long);
        assert!(dir.data_dir.as_os_str().len() > 110);

        let cluster = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        assert!(is_fallback_socket_dir(cluster.socket_dir()));
        assert_eq!(psql(&cluster, "select 1"), "1");
        assert!(cluster.release().expect("release"));
        assert!(!dir.is_running());
    }

    #[test]
    fn a_failed_start_reports_the_end_of_the_log() {
        let dir = TempDataDir::new("broken");
        let cluster = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        assert!(cluster.release().expect("release"));
        let config = dir.data_dir.join("postgres/postgresql.conf");
        let mut file = OpenOptions::new()
            .append(true)
            .open(config)
            .expect("config");
        writeln!(file, "max_connections = plenty").expect("break config");

        let error = PrivateCluster::ensure_running(&dir.data_dir)
            .err()
            .expect("start must fail");
        assert!(
            matches!(error, LauncherError::CommandFailed { .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.starts_with("`pg_ctl start"), "{message}");
        assert!(message.contains("max_connections"), "{message}");
    }

    #[test]
    fn fallback_locale_c_still_stores_utf8() {
        let dir = TempDataDir::new("locale-c");
        fs::create_dir_all(&dir.data_dir).expect("data dir");
        let server = dir.server();
        server.prepare_log_file().expect("log");
        server.prepare_socket_dir().expect("socket dir");
        server.recreate_empty_cluster_dir().expect("cluster dir");
        server.run_initdb("C").expect("initdb --locale=C");
        server.append_private_settings().expect("settings");

        let cluster = PrivateCluster::ensure_running(&dir.data_dir).expect("start");
        assert_eq!(psql(&cluster, "show lc_collate"), "C");
        assert_eq!(psql(&cluster, "show server_encoding"), "UTF8");
        assert_eq!(
            psql(&cluster, "select upper('kaiyuan 开源')"),
            "KAIYUAN 开源"
        );
        assert!(cluster.release().expect("release"));
    }

    #[test]
    fn missing_binaries_error_says_what_to_do() {
        let message = LauncherError::BinariesNotFound.to_string();
        assert!(message.contains("apt-get install postgresql"));
        assert!(message.contains("DATABASE_URL"));
    }

    #[test]
    fn socket_dir_is_inside_the_data_dir_when_short_enough() {
        let layout = Layout::for_canonical_data_dir(PathBuf::from("/srv/hub"));
        assert_eq!(layout.socket_dir, Path::new("/srv/hub/postgres-run"));
    }

    #[test]
    fn fallback_socket_dir_is_stable_and_distinct_per_data_dir() {
        let long = PathBuf::from(format!("/srv/{}", "x".repeat(100)));
        let other = PathBuf::from(format!("/srv/{}", "y".repeat(100)));
        let dir = socket_dir_for(&long);
        assert_eq!(dir, socket_dir_for(&long));
        assert_ne!(dir, socket_dir_for(&other));
        let name = dir.file_name().and_then(OsStr::to_str).expect("name");
        assert!(is_fallback_socket_dir(&dir));
        let hash = name.strip_prefix("kaiyuan-pg-").expect("prefix");
        assert_eq!(hash.len(), 16);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn commas_send_the_socket_to_tmp() {
        assert!(is_fallback_socket_dir(&socket_dir_for(Path::new(
            "/srv/a,b"
        ))));
    }

    #[test]
    fn url_percent_encodes_socket_dir_and_database() {
        assert_eq!(
            percent_encode(b"/srv/my hub+x/postgres-run", b"/"),
            "/srv/my%20hub%2Bx/postgres-run"
        );
        assert_eq!(percent_encode("库/a".as_bytes(), b""), "%E5%BA%93%2Fa");
    }

    #[test]
    fn quoting_survives_quotes_in_paths() {
        assert_eq!(shell_quote(Path::new("/a'b")), r"'/a'\''b'");
        assert_eq!(config_quote(Path::new("/a'b\\c")), r"'/a''b\\c'");
    }

    #[test]
    fn data_dirs_postgres_cannot_be_given_are_refused() {
        assert!(ensure_data_dir_path_is_usable(Path::new("/srv/$HOME")).is_err());
        assert!(ensure_data_dir_path_is_usable(Path::new("/srv/hub data")).is_ok());
        let not_utf8 = OsStr::from_bytes(b"/srv/\xff");
        assert!(ensure_data_dir_path_is_usable(Path::new(not_utf8)).is_err());
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version(OsStr::new("10")) > parse_version(OsStr::new("9.6")));
        assert_eq!(parse_version(OsStr::new("common")), None);
    }

    #[test]
    fn finds_server_binaries() {
        let binaries = Binaries::find().expect("binaries");
        assert!(is_executable(&binaries.postgres()));
    }
}
