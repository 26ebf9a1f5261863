//! Names of users, organisations and repos: the rules Hugging Face applies,
//! plus the top-level path segments this hub uses (or will use) for itself.

use crate::error::{Error, Message, Result};

/// Maximum length of a repo name, and of a namespace, as on Hugging Face.
pub const MAX_NAME_LEN: usize = 96;

/// Top-level path segments owned by the hub. A user or organisation with one
/// of these names would shadow a route (`/api/...`, `/models`, `/v1/...`).
const RESERVED_NAMESPACES: &[&str] = &[
    "about",
    "account",
    "admin",
    "api",
    "assets",
    "auth",
    "billing",
    "blog",
    "cas",
    "collections",
    "datasets",
    "docs",
    "explore",
    "favicon.ico",
    "finetune",
    "git",
    "healthz",
    "help",
    "hub",
    "inference",
    "join",
    "jobs",
    "lfs",
    "login",
    "logout",
    "metrics",
    "models",
    "new",
    "notifications",
    "oauth",
    "openapi",
    "organizations",
    "orgs",
    "papers",
    "posts",
    "pricing",
    "privacy",
    "profile",
    "register",
    "repos",
    "robots.txt",
    "search",
    "settings",
    "signup",
    "spaces",
    "static",
    "status",
    "terms",
    "user",
    "users",
    "v1",
    "v2",
    "workers",
    "xet",
];

/// Usernames and organisation names: letters, digits and `-`, not starting or
/// ending with `-`, no `--`, at most 42 characters (as on Hugging Face), not reserved.
pub fn validate_namespace(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 42 {
        return Err(Error::invalid(Message::coded(
            "name.length",
            "a name must have between 1 and 42 characters",
        )));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Error::invalid(Message::coded(
            "name.characters",
            "a name may contain only letters, digits and '-'",
        )));
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return Err(Error::invalid(Message::coded(
            "name.dashes",
            "a name may not start or end with '-' nor contain '--'",
        )));
    }
    if is_reserved(name) {
        return Err(Error::invalid(
            Message::coded("name.reserved", "the name '{name}' is reserved").with("name", name),
        ));
    }
    Ok(())
}

pub fn is_reserved(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    RESERVED_NAMESPACES.contains(&lower.as_str())
}

/// Repo names: `[A-Za-z0-9._-]`, at most 96 characters, no `--` or `..`,
/// not starting or ending with `-` or `.`, not ending in `.git`.
pub fn validate_repo_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            Message::coded(
                "repo_name.length",
                "a repo name must have between 1 and {max} characters",
            )
            .with("max", MAX_NAME_LEN),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(Error::invalid(Message::coded(
            "repo_name.characters",
            "a repo name may contain only letters, digits, '.', '_' and '-'",
        )));
    }
    if name.contains("--") || name.contains("..") {
        return Err(Error::invalid(Message::coded(
            "repo_name.doubles",
            "a repo name may not contain '--' or '..'",
        )));
    }
    if name.starts_with(['-', '.']) || name.ends_with(['-', '.']) {
        return Err(Error::invalid(Message::coded(
            "repo_name.ends",
            "a repo name may not start or end with '-' or '.'",
        )));
    }
    if name.to_ascii_lowercase().ends_with(".git") {
        return Err(Error::invalid(Message::coded(
            "repo_name.git_suffix",
            "a repo name may not end with '.git'",
        )));
    }
    Ok(())
}

/// Splits `namespace/name` and validates both halves.
pub fn split_repo_id(id: &str) -> Result<(&str, &str)> {
    let Some((ns, name)) = id.split_once('/') else {
        return Err(Error::invalid(format!(
            "'{id}' is not a repo id of the form namespace/name"
        )));
    };
    validate_repo_name(name)?;
    // Namespaces are stricter than repo names when created; for look-ups the
    // repo-name rule is enough to keep hostile text out.
    validate_repo_name(ns)
        .map_err(|_| Error::invalid(format!("'{ns}' is not a valid namespace")))?;
    Ok((ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces() {
        for ok in ["alice", "Alice-2", "a", "qwen", "01-ai"] {
            assert!(validate_namespace(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a.b",
            "api",
            "Models",
            "settings",
            "v1",
            "cas",
            "openapi",
            "healthz",
            "static",
            "docs",
            "organizations",
            "new",
            "login",
            "spaces",
            "阿里",
            "a b",
            &"x".repeat(43),
        ] {
            assert!(validate_namespace(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repo_names() {
        for ok in [
            "gpt2",
            "Qwen2.5-7B-Instruct",
            "a_b",
            "x.y.z",
            &"x".repeat(96),
        ] {
            assert!(validate_repo_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a--b",
            "a..b",
            "a.git",
            "A.GIT",
            "a/b",
            "-a",
            "a-",
            ".a",
            "a.",
            "模型",
            "a b",
            "a%2Fb",
            &"x".repeat(97),
        ] {
            assert!(validate_repo_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repo_ids() {
        assert_eq!(split_repo_id("alice/m").unwrap(), ("alice", "m"));
        assert!(split_repo_id("m").is_err());
        assert!(split_repo_id("a/b/c").is_err());
        assert!(split_repo_id("../b").is_err());
    }
}
