//! Who the PostgreSQL processes run as (ourselves, or the `postgres` user
//! when we are root) and the file ownership that follows from it.

use super::*;

/// Who the PostgreSQL processes run as.
#[derive(Debug)]
pub(super) enum Account {
    Ourselves,
    /// The `postgres` system user, because we are root.
    ServerUser {
        uid: Uid,
        gid: Gid,
        home: PathBuf,
    },
}

impl Account {
    pub(super) fn for_current_user() -> Result<Account> {
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
    pub(super) fn command(&self, program: &Path, cwd: &Path) -> Command {
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

    pub(super) fn take_ownership_of(&self, path: &Path) -> Result<()> {
        match self {
            Account::Ourselves => Ok(()),
            Account::ServerUser { uid, gid, .. } => {
                std::os::unix::fs::chown(path, Some(uid.as_raw()), Some(gid.as_raw()))
                    .map_err(io_error("change owner of", path))
            }
        }
    }

    pub(super) fn take_ownership_of_tree(&self, root: &Path) -> Result<()> {
        match self {
            Account::Ourselves => Ok(()),
            Account::ServerUser { uid, gid, .. } => chown_tree(root, uid.as_raw(), gid.as_raw())
                .map_err(io_error("change owner of", root)),
        }
    }

    pub(super) fn owns(&self, meta: &fs::Metadata) -> bool {
        match self {
            Account::Ourselves => meta.uid() == geteuid().as_raw(),
            Account::ServerUser { uid, .. } => meta.uid() == uid.as_raw(),
        }
    }

    /// The server user must be able to walk down to the cluster; a root-only home
    /// such as `/root` would otherwise stop it.
    pub(super) fn make_ancestors_traversable(&self, dir: &Path) -> Result<()> {
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
pub(super) fn is_passed_to_server(name: &OsStr) -> bool {
    pub(super) const PASSED: [&str; 7] =
        ["PATH", "HOME", "USER", "LOGNAME", "TZ", "LANG", "LANGUAGE"];
    PASSED.iter().any(|passed| name == *passed) || name.as_encoded_bytes().starts_with(b"LC_")
}

/// The execute bit `uid`/`gid` lacks on a directory, if any. POSIX consults exactly
/// one class: owner if the uid matches, else group if the gid matches, else other.
/// (std clears supplementary groups when switching user, so only the primary gid counts.)
pub(super) fn missing_search_bit(meta: &fs::Metadata, uid: Uid, gid: Gid) -> Option<u32> {
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
pub(super) fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}
