//! Paths inside a repo. Every path that reaches git goes through
//! [`normalize_repo_path`] first: one function, so no route can forget a rule.

use crate::error::{Error, Result};

/// Longest accepted path in bytes (git itself has no limit, filesystems do).
pub const MAX_PATH_LEN: usize = 1024;
const MAX_COMPONENT_LEN: usize = 255;

/// Validates a path as given by a client and returns its canonical form:
/// components joined by `/`, no leading, trailing or doubled slashes, no `.`.
///
/// Refused: empty paths, absolute paths, `..`, any `.git` component (in any
/// case: it would be a path git itself refuses on checkout), backslashes
/// (a Windows client would read them as separators), NUL and other control
/// characters, and overlong paths or components.
pub fn normalize_repo_path(raw: &str) -> Result<String> {
    if raw.is_empty() {
        return Err(Error::invalid("empty path"));
    }
    if raw.len() > MAX_PATH_LEN {
        return Err(Error::invalid(format!(
            "path longer than {MAX_PATH_LEN} bytes"
        )));
    }
    if raw.starts_with('/') {
        return Err(Error::invalid(format!(
            "absolute path not allowed: {raw:?}"
        )));
    }
    if let Some(c) = raw.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(format!(
            "path contains a control character {:?}",
            c
        )));
    }
    if raw.contains('\\') {
        return Err(Error::invalid(format!(
            "path contains a backslash: {raw:?}"
        )));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => continue,
            ".." => {
                return Err(Error::invalid(format!(
                    "path may not contain '..': {raw:?}"
                )));
            }
            p if p.eq_ignore_ascii_case(".git") => {
                return Err(Error::invalid(format!(
                    "path may not contain a .git component: {raw:?}"
                )));
            }
            p if p.len() > MAX_COMPONENT_LEN => {
                return Err(Error::invalid(format!(
                    "path component longer than {MAX_COMPONENT_LEN} bytes"
                )));
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(Error::invalid(format!("path names no file: {raw:?}")));
    }
    Ok(parts.join("/"))
}

/// Like [`normalize_repo_path`] for a folder, where the empty string means the root.
pub fn normalize_folder_path(raw: &str) -> Result<String> {
    if raw.trim_matches('/').is_empty() {
        return Ok(String::new());
    }
    normalize_repo_path(raw.trim_end_matches('/'))
}

/// Validates bytes that claim to be a path (from a git tree or a wire format).
pub fn normalize_repo_path_bytes(raw: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(raw).map_err(|_| Error::invalid("path is not valid UTF-8"))?;
    normalize_repo_path(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(normalize_repo_path("a/b.txt").unwrap(), "a/b.txt");
        assert_eq!(normalize_repo_path("./a//b/").unwrap(), "a/b");
        assert_eq!(normalize_repo_path("模型/说明.md").unwrap(), "模型/说明.md");
        assert_eq!(normalize_folder_path("/").unwrap(), "");
        assert_eq!(normalize_folder_path("sub/").unwrap(), "sub");
    }

    #[test]
    fn hostile_paths() {
        let long = "a/".repeat(600);
        let long_component = "x".repeat(256);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/..",
            ".git/config",
            "a/.GIT/x",
            ".Git",
            "a\0b",
            "a\nb",
            "a\u{7f}b",
            "a\\b",
            "..\\x",
            ".",
            "./",
            long.as_str(),
            long_component.as_str(),
        ] {
            assert!(normalize_repo_path(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_repo_path_bytes(b"a\xffb").is_err());
    }
}
