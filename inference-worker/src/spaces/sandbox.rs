//! The bubblewrap sandbox: what a Space's build and app run in.
//!
//! - bwrap is exec'd as an unprivileged uid (the worker, when root, drops
//!   to `--spaces-uid` first: bwrap run by root maps the sandbox to host
//!   root), in the run's cgroup, with rlimits set.
//! - `--unshare-all`: own user, pid, ipc, uts, cgroup and network
//!   namespaces. The network namespace has only its own loopback, so the
//!   app reaches nothing on the host (PostgreSQL, the hub) or outside; its
//!   port is reached through the Unix-socket bridge (`bridge.rs`). The build
//!   phase alone shares the network (to install packages).
//! - The filesystem is an empty, read-only tmpfs with `/usr` (and the
//!   `/bin`, `/lib`… links), TLS certificates, and the run's own directories
//!   bound in: nothing of the hub's data, other Spaces, or the worker is
//!   visible. `/tmp` is a tmpfs of the Space's disk limit.
//! - The environment is only what the [`Jail`] lists (the bwrap process
//!   gets a cleared environment and passes it on; values are not put in
//!   bwrap's argv, where `ps` on the host would show secrets).
//!
//! [`Sandbox::probe`] runs a trivial sandbox when the worker starts: a
//! runner that cannot sandbox says why and takes no Space.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, Result, bail};

use super::cgroup::{Cgroup, Hierarchy};

pub struct Sandbox {
    bwrap: PathBuf,
    /// The uid and gid to become before exec'ing bwrap; None when the worker
    /// is not root (it then runs bwrap as itself).
    pub ids: Option<(u32, u32)>,
    pub cgroups: Hierarchy,
    pub version: String,
}

/// Limits applied to the sandbox's processes with setrlimit.
#[derive(Debug, Clone, Copy)]
pub struct Rlimits {
    pub nofile: u64,
    /// Largest file a process may write (bytes).
    pub fsize: u64,
    /// Processes of the sandbox uid, counted per *host* uid: every sandbox
    /// of this runner shares it, so it is only set when there is no pids
    /// cgroup (and is then a limit on all this runner's Spaces at once).
    pub nproc: Option<u64>,
    /// Address space: only set when there is no memory cgroup, and then
    /// generously (numpy, BLAS and JITs reserve far more than they use, and
    /// `import gradio` fails under 256 MiB).
    pub address_space: Option<u64>,
}

/// One sandboxed command.
pub struct Jail {
    /// (host path, path inside) bound read-only.
    pub ro: Vec<(PathBuf, String)>,
    /// (host path, path inside) bound read-write.
    pub rw: Vec<(PathBuf, String)>,
    pub env: Vec<(String, String)>,
    pub share_net: bool,
    /// Device nodes passed through (a GPU runner's /dev/nvidia*).
    pub devices: Vec<PathBuf>,
    pub cwd: String,
    /// Size of the tmpfs at /tmp.
    pub tmp_bytes: u64,
    pub argv: Vec<String>,
}

impl Sandbox {
    /// Checks that a sandbox can be made here, as the uid it will run as,
    /// and that `spaces_dir` is reachable by that uid.
    pub fn probe(uid: u32, gid: u32, spaces_dir: &Path) -> Result<Sandbox> {
        let bwrap = which("bwrap").context("bubblewrap (bwrap) is not installed")?;
        let version = std::process::Command::new(&bwrap)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "bubblewrap".into());
        let root = nix::unistd::geteuid().is_root();
        let sandbox = Sandbox {
            bwrap,
            ids: root.then_some((uid, gid)),
            cgroups: Hierarchy::detect(),
            version,
        };
        if root && uid == 0 {
            bail!("--spaces-uid 0 would run Spaces as host root");
        }
        if root {
            reachable(spaces_dir, uid)?;
        }
        if !Path::new("/usr/bin/python3").exists() {
            bail!("/usr/bin/python3 is missing (apps run with the system's Python)");
        }
        let jail = Jail {
            ro: vec![(spaces_dir.to_path_buf(), "/spaces".into())],
            rw: vec![],
            env: vec![],
            share_net: false,
            devices: vec![],
            cwd: "/".into(),
            tmp_bytes: 1 << 20,
            argv: vec!["/usr/bin/true".into()],
        };
        let output = sandbox
            .std_command(&jail, None, None)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .context("running bwrap")?;
        if !output.status.success() {
            bail!(
                "a test sandbox failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(sandbox)
    }

    /// What the capability's detail says.
    pub fn describe(&self) -> String {
        let who = match self.ids {
            Some((uid, _)) => format!("uid {uid}"),
            None => format!("uid {} (the worker's)", nix::unistd::geteuid()),
        };
        format!("{}, {who}, {}", self.version, self.cgroups.describe())
    }

    /// The bwrap command for `jail`, joining `cgroup` and with `rlimits`
    /// before bwrap starts. Killed when dropped.
    pub fn command(
        &self,
        jail: &Jail,
        cgroup: Option<&Cgroup>,
        rlimits: Option<Rlimits>,
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::from(self.std_command(jail, cgroup, rlimits));
        command.kill_on_drop(true);
        command
    }

    fn std_command(
        &self,
        jail: &Jail,
        cgroup: Option<&Cgroup>,
        rlimits: Option<Rlimits>,
    ) -> std::process::Command {
        let mut args: Vec<String> = vec![
            "--unshare-all".into(),
            // No user namespaces inside (the kernel's most exercised attack
            // surface for unprivileged code); it needs the user namespace
            // unshared explicitly.
            "--unshare-user".into(),
            "--disable-userns".into(),
            "--die-with-parent".into(),
            "--new-session".into(),
            "--ro-bind".into(),
            "/usr".into(),
            "/usr".into(),
        ];
        if jail.share_net {
            args.push("--share-net".into());
        }
        // /bin, /lib… are links into /usr on merged-/usr systems, real
        // directories on others.
        for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let host = Path::new("/").join(top);
            match std::fs::read_link(&host) {
                Ok(target) => args.extend([
                    "--symlink".into(),
                    target.to_string_lossy().into_owned(),
                    format!("/{top}"),
                ]),
                Err(_) if host.is_dir() => {
                    args.extend(["--ro-bind".into(), format!("/{top}"), format!("/{top}")])
                }
                Err(_) => {}
            }
        }
        // TLS roots (the build downloads packages; apps may call out when
        // egress exists one day); mime types for static file servers.
        for etc in [
            "/etc/ssl",
            "/etc/ca-certificates",
            "/etc/mime.types",
            "/etc/localtime",
        ] {
            args.extend(["--ro-bind-try".into(), etc.into(), etc.into()]);
        }
        if jail.share_net {
            // Name resolution for the build's downloads.
            for etc in ["/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"] {
                args.extend(["--ro-bind-try".into(), etc.into(), etc.into()]);
            }
        }
        args.extend([
            "--proc".into(),
            "/proc".into(),
            "--dev".into(),
            "/dev".into(),
        ]);
        args.extend([
            "--size".into(),
            jail.tmp_bytes.to_string(),
            "--tmpfs".into(),
            "/tmp".into(),
        ]);
        for (host, inside) in &jail.ro {
            args.extend([
                "--ro-bind".into(),
                host.to_string_lossy().into_owned(),
                inside.clone(),
            ]);
        }
        for device in &jail.devices {
            let path = device.to_string_lossy().into_owned();
            args.extend(["--dev-bind-try".into(), path.clone(), path]);
        }
        for (host, inside) in &jail.rw {
            args.extend([
                "--bind".into(),
                host.to_string_lossy().into_owned(),
                inside.clone(),
            ]);
        }
        // The root tmpfs bwrap builds on is read-only once everything is
        // mounted: the app writes to /tmp, /data and its socket directory
        // only (and /dev, bwrap's small device tmpfs, for /dev/shm).
        args.extend(["--remount-ro".into(), "/".into()]);
        args.extend(["--chdir".into(), jail.cwd.clone(), "--".into()]);
        args.extend(jail.argv.iter().cloned());

        let mut command = std::process::Command::new(&self.bwrap);
        command
            .args(&args)
            .env_clear()
            .envs(jail.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        let procs = cgroup.map(Cgroup::procs_files).unwrap_or_default();
        let ids = self.ids;
        let pre_exec = move || enter(&procs, rlimits, ids);
        // SAFETY: `enter` makes only async-signal-safe system calls and
        // allocates nothing (the paths were made before the fork).
        unsafe {
            command.pre_exec(pre_exec);
        }
        command
    }
}

/// In the forked child, before exec: join the cgroup (still as root), set
/// the rlimits, then drop to the sandbox's uid and gid, groups cleared.
fn enter(
    procs: &[CString],
    rlimits: Option<Rlimits>,
    ids: Option<(u32, u32)>,
) -> std::io::Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    let pid = nix::unistd::getpid().as_raw();
    let mut digits = [0u8; 16];
    let text = format_pid(pid, &mut digits);
    for path in procs {
        let fd = nix::fcntl::open(
            path.as_c_str(),
            nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        nix::unistd::write(&fd, text)?;
    }
    if let Some(r) = rlimits {
        setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
        setrlimit(Resource::RLIMIT_NOFILE, r.nofile, r.nofile)?;
        setrlimit(Resource::RLIMIT_FSIZE, r.fsize, r.fsize)?;
        if let Some(n) = r.nproc {
            setrlimit(Resource::RLIMIT_NPROC, n, n)?;
        }
        if let Some(a) = r.address_space {
            setrlimit(Resource::RLIMIT_AS, a, a)?;
        }
    }
    if let Some((uid, gid)) = ids {
        nix::unistd::setgroups(&[])?;
        nix::unistd::setgid(nix::unistd::Gid::from_raw(gid))?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(uid))?;
    }
    Ok(())
}

fn format_pid(pid: i32, buf: &mut [u8; 16]) -> &[u8] {
    let mut n = pid.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Checks that `uid` may traverse every directory down to `dir` (bwrap,
/// run as `uid`, opens the paths it binds): a spaces dir under /root, the
/// default cache dir of a root worker, is not.
fn reachable(dir: &Path, uid: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(ancestor) else {
            continue;
        };
        let searchable = if meta.uid() == uid {
            meta.mode() & 0o100 != 0
        } else {
            meta.mode() & 0o001 != 0
        };
        if !searchable {
            bail!(
                "the spaces dir {} is not reachable by uid {uid} ({} is private): choose another --spaces-dir",
                dir.display(),
                ancestor.display()
            );
        }
    }
    Ok(())
}

/// The first `name` on PATH that is a file.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Makes `path` (a directory the sandbox writes) owned by the sandbox's ids.
pub fn give(path: &Path, ids: Option<(u32, u32)>) -> Result<()> {
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .with_context(|| format!("chown {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn pids_are_formatted_without_allocating() {
        let mut buf = [0u8; 16];
        assert_eq!(super::format_pid(0, &mut buf), b"0");
        assert_eq!(super::format_pid(4194304, &mut buf), b"4194304");
    }
}
