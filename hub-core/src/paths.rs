//! Paths inside a repo. Every path that reaches git goes through
//! [`normalize_repo_path`] first: one function, so no route can forget a rule.

use crate::error::{Error, Message, Result};

/// Longest accepted path in bytes (git itself has no limit, filesystems do).
pub const MAX_PATH_LEN: usize = 1024;
const MAX_COMPONENT_LEN: usize = 255;

/// Validates a path as given by a client and returns its canonical form:
/// components joined by `/`, no leading, trailing or doubled slashes, no `.`.
///
/// Refused: empty paths, absolute paths, `..`, any `.git` component or a
/// name that some filesystem reads as `.git` (see [`is_dotgit_alias`]: git
/// refuses such paths on checkout, and `fsck` flags them), backslashes
/// (a Windows client would read them as separators), NUL and other control
/// characters, and overlong paths or components.
pub fn normalize_repo_path(raw: &str) -> Result<String> {
    if raw.is_empty() {
        return Err(Error::invalid(Message::coded("path.empty", "empty path")));
    }
    if raw.len() > MAX_PATH_LEN {
        return Err(Error::invalid(
            Message::coded("path.too_long", "path longer than {max} bytes")
                .with("max", MAX_PATH_LEN),
        ));
    }
    if raw.starts_with('/') {
        return Err(Error::invalid(
            Message::coded("path.absolute", "absolute path not allowed: {path}")
                .with("path", format!("{raw:?}")),
        ));
    }
    if let Some(c) = raw.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            Message::coded("path.control", "path contains a control character {char}")
                .with("char", format!("{c:?}")),
        ));
    }
    if raw.contains('\\') {
        return Err(Error::invalid(
            Message::coded("path.backslash", "path contains a backslash: {path}")
                .with("path", format!("{raw:?}")),
        ));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => continue,
            ".." => {
                return Err(Error::invalid(
                    Message::coded("path.dot_dot", "path may not contain '..': {path}")
                        .with("path", format!("{raw:?}")),
                ));
            }
            p if is_dotgit_alias(p) => {
                return Err(Error::invalid(
                    Message::coded(
                        "path.dot_git",
                        "path may not contain a .git component (or a name Windows or macOS reads as .git): {path}",
                    )
                    .with("path", format!("{raw:?}")),
                ));
            }
            p if p.len() > MAX_COMPONENT_LEN => {
                return Err(Error::invalid(
                    Message::coded(
                        "path.component_too_long",
                        "path component longer than {max} bytes",
                    )
                    .with("max", MAX_COMPONENT_LEN),
                ));
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(Error::invalid(
            Message::coded("path.no_file", "path names no file: {path}")
                .with("path", format!("{raw:?}")),
        ));
    }
    Ok(parts.join("/"))
}

/// Whether a path component names `.git` on some filesystem, as git's
/// `verify_path` decides with `core.protectHFS` and `core.protectNTFS` (the
/// defaults of the clients that will check the repo out):
/// - any ASCII case (`.GIT`), on case-insensitive filesystems;
/// - HFS+ ignores some zero-width and direction code points in names
///   (`.git\u{200c}` is `.git` there; git's `is_hfs_dotgit`);
/// - NTFS drops trailing dots and spaces, reads `name:stream` as `name`, and
///   answers the 8.3 short name `GIT~1` for `.git` (git's `is_ntfs_dotgit`).
pub fn is_dotgit_alias(component: &str) -> bool {
    let hfs: String = component
        .chars()
        .filter(|&c| !is_hfs_ignorable(c))
        .collect();
    if hfs.eq_ignore_ascii_case(".git") {
        return true;
    }
    let lower = component.to_ascii_lowercase();
    let rest = lower
        .strip_prefix(".git")
        .or_else(|| lower.strip_prefix("git~1"));
    rest.is_some_and(|rest| {
        let before_stream = rest.split(':').next().unwrap_or_default();
        before_stream.bytes().all(|b| b == b'.' || b == b' ')
    })
}

/// The code points HFS+ leaves out when it compares names (git's `next_hfs_char`).
fn is_hfs_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{200c}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{206a}'..='\u{206f}' | '\u{feff}'
    )
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

    #[test]
    fn names_filesystems_read_as_dot_git() {
        for alias in [
            ".git\u{200c}/config",
            "\u{feff}.g\u{200d}it/x",
            "a/.GIT\u{206f}",
            "GIT~1/x",
            "git~1",
            ".git /x",
            ".git./x",
            ".git. . /x",
            ".git::$INDEX_ALLOCATION/x",
            "sub/Git~1./x",
        ] {
            assert!(normalize_repo_path(alias).is_err(), "{alias:?}");
        }
        for fine in [
            ".github/x",
            ".gitignore",
            "git~2/x",
            ".git-x/y",
            "x.git",
            "GIT~1x/y",
            ".gitkeep",
        ] {
            assert_eq!(normalize_repo_path(fine).unwrap(), fine);
        }
    }
}
