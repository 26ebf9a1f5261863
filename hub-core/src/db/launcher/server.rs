//! One cluster's server: `initdb`, start, stop, readiness, and its log.

use super::*;

/// One data dir's cluster, and how to run its binaries.
pub(super) struct Server {
    pub(super) layout: Layout,
    pub(super) binaries: Binaries,
    pub(super) account: Account,
}

impl Server {
    /// Makes the cluster, socket directory and log usable by the server's account,
    /// running initdb when the cluster is missing.
    pub(super) fn prepare_files(&self) -> Result<()> {
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
    pub(super) fn prepare_log_file(&self) -> Result<()> {
        let log = &self.layout.log_file;
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(log)
            .map_err(io_error("create", log))?;
        self.account.take_ownership_of(log)
    }

    pub(super) fn prepare_socket_dir(&self) -> Result<()> {
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
    pub(super) fn ensure_socket_dir_is_trusted(&self) -> Result<()> {
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
    pub(super) fn ensure_cluster_belongs_to_account(&self) -> Result<()> {
        let cluster = &self.layout.cluster_dir;
        let meta = fs::metadata(cluster).map_err(io_error("inspect", cluster))?;
        if !self.account.owns(&meta) {
            warn!(cluster = %cluster.display(), "handing the PostgreSQL cluster to its server user");
            self.account.take_ownership_of_tree(cluster)?;
        }
        Ok(())
    }

    pub(super) fn initialize(&self) -> Result<()> {
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
    pub(super) fn recreate_empty_cluster_dir(&self) -> Result<()> {
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
    pub(super) fn run_initdb(&self, locale: &str) -> Result<()> {
        let mut initdb = self.command(&self.binaries.initdb());
        initdb
            .arg("-D")
            .arg(&self.layout.cluster_dir)
            .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"])
            .arg(format!("--locale={locale}"));
        self.run_successfully(initdb)
    }

    pub(super) fn append_private_settings(&self) -> Result<()> {
        let config = self.layout.cluster_dir.join("postgresql.conf");
        let settings = private_settings(&self.layout.socket_dir);
        OpenOptions::new()
            .append(true)
            .open(&config)
            .and_then(|mut file| file.write_all(settings.as_bytes()))
            .map_err(io_error("append settings to", &config))
    }

    pub(super) fn is_running(&self) -> Result<bool> {
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
    pub(super) fn start(&self) -> Result<()> {
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

    pub(super) fn stop_if_running(&self) -> Result<bool> {
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
    pub(super) fn wait_until_accepting_connections(&self) -> Result<()> {
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
    pub(super) fn command(&self, program: &Path) -> Command {
        self.account.command(program, &self.layout.cluster_dir)
    }

    pub(super) fn run_successfully(&self, command: Command) -> Result<()> {
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
    pub(super) fn run_logged(&self, mut command: Command) -> Result<ExitStatus> {
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

    pub(super) fn command_failed(&self, command: String, status: ExitStatus) -> LauncherError {
        LauncherError::CommandFailed {
            command,
            status,
            log: self.layout.log_file.clone(),
            tail: self.log_tail(),
        }
    }

    pub(super) fn log_tail(&self) -> String {
        last_lines(&self.layout.log_file, LOG_TAIL_LINES)
            .unwrap_or_else(|error| format!("(could not read the log: {error})"))
    }
}

/// Written once, after initdb; the socket directory is repeated on every start.
pub(super) fn private_settings(socket_dir: &Path) -> String {
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
pub(super) fn config_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// pg_ctl splices `-o` into a `/bin/sh -c` command line.
pub(super) fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

pub(super) fn describe(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads only the end of the file: the server appends to the same log for ever.
pub(super) fn last_lines(path: &Path, count: usize) -> io::Result<String> {
    pub(super) const TAIL_BYTES: u64 = 16 * 1024;
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(count)..].join("\n"))
}
