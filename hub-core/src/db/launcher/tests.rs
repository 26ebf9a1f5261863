//! The private cluster against the real PostgreSQL binaries.

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
