//! Where one data dir's cluster, socket and log live, and the socket-path
//! rules that decide it.

use super::*;

/// Where everything of one data dir's cluster lives.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) data_dir: PathBuf,
    pub(super) cluster_dir: PathBuf,
    pub(super) socket_dir: PathBuf,
    pub(super) log_file: PathBuf,
    pub(super) start_lock: PathBuf,
    pub(super) users_lock: PathBuf,
}

impl Layout {
    pub(super) fn for_data_dir(data_dir: &Path) -> Result<Layout> {
        fs::create_dir_all(data_dir).map_err(io_error("create data dir", data_dir))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_error("resolve data dir", data_dir))?;
        ensure_data_dir_path_is_usable(&data_dir)?;
        Ok(Layout::for_canonical_data_dir(data_dir))
    }

    pub(super) fn for_canonical_data_dir(data_dir: PathBuf) -> Layout {
        Layout {
            cluster_dir: data_dir.join("postgres"),
            socket_dir: socket_dir_for(&data_dir),
            log_file: data_dir.join("postgres.log"),
            start_lock: data_dir.join("postgres.start.lock"),
            users_lock: data_dir.join("postgres.users.lock"),
            data_dir,
        }
    }

    pub(super) fn socket_file(&self) -> PathBuf {
        self.socket_dir.join(format!(".s.PGSQL.{PORT}"))
    }

    pub(super) fn is_initialized(&self) -> bool {
        self.cluster_dir.join("PG_VERSION").is_file()
    }
}

/// pg_ctl runs the server through `/bin/sh -c` with the data dir and log paths inside
/// double quotes, where these characters would be interpreted rather than kept; and
/// postgresql.conf is UTF-8 text.
pub(super) fn ensure_data_dir_path_is_usable(data_dir: &Path) -> Result<()> {
    let Some(text) = data_dir.to_str() else {
        return Err(LauncherError::UnsupportedDataDir(data_dir.to_path_buf()));
    };
    if text.contains(['"', '$', '`', '\\', '\n', '\r']) {
        return Err(LauncherError::UnsupportedDataDir(data_dir.to_path_buf()));
    }
    Ok(())
}

/// Decided from the data dir alone, so every start of the same data dir agrees.
pub(super) fn socket_dir_for(data_dir: &Path) -> PathBuf {
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
pub(super) fn is_usable_socket_dir(dir: &Path) -> bool {
    let socket_path_len = dir.as_os_str().len() + format!("/.s.PGSQL.{PORT}").len();
    let has_comma = dir.as_os_str().as_encoded_bytes().contains(&b',');
    socket_path_len <= MAX_SOCKET_PATH_BYTES && !has_comma
}

/// FNV-1a: tiny and, unlike std's `DefaultHasher`, guaranteed stable across Rust
/// releases, which the socket directory name must be.
pub(super) fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `keep`. `+` is
/// encoded too: query strings are decoded form-style, where `+` means a space.
pub(super) fn percent_encode(bytes: &[u8], keep: &[u8]) -> String {
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
