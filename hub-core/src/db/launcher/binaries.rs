//! Finding the system's PostgreSQL server binaries.

use super::*;

/// The directory holding `initdb`, `pg_ctl` and `postgres` of one PostgreSQL version.
#[derive(Debug)]
pub(super) struct Binaries {
    pub(super) dir: PathBuf,
}

impl Binaries {
    pub(super) fn find() -> Result<Binaries> {
        Self::on_path()
            .or_else(Self::highest_packaged_version)
            .ok_or(LauncherError::BinariesNotFound)
    }

    /// Debian puts only client wrappers on PATH, so a `pg_ctl` there counts only if
    /// its real directory also holds the server.
    pub(super) fn on_path() -> Option<Binaries> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("pg_ctl"))
            .filter(|pg_ctl| is_executable(pg_ctl))
            .filter_map(|pg_ctl| Some(pg_ctl.canonicalize().ok()?.parent()?.to_path_buf()))
            .map(|dir| Binaries { dir })
            .find(Binaries::are_complete)
    }

    pub(super) fn highest_packaged_version() -> Option<Binaries> {
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

    pub(super) fn are_complete(&self) -> bool {
        [self.initdb(), self.pg_ctl(), self.postgres()]
            .iter()
            .all(|binary| is_executable(binary))
    }

    pub(super) fn initdb(&self) -> PathBuf {
        self.dir.join("initdb")
    }

    pub(super) fn pg_ctl(&self) -> PathBuf {
        self.dir.join("pg_ctl")
    }

    pub(super) fn postgres(&self) -> PathBuf {
        self.dir.join("postgres")
    }
}

/// `15` → `[15]`, `9.6` → `[9, 6]`, so versions compare numerically.
pub(super) fn parse_version(name: &OsStr) -> Option<Vec<u32>> {
    name.to_str()?
        .split('.')
        .map(|part| part.parse().ok())
        .collect()
}

pub(super) fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
}
