//! Each Space on its own origin, `{subdomain}.{domain}`, never the hub's:
//! the app can set no cookie and run no script on the hub. This module
//! names origins, finds the Space behind one, and signs the short-lived
//! passes with which the hub's page lets a private Space's origin in.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::Settings;
use crate::error::Result;
use crate::hub::Hub;
use crate::repos::access::Authorized;
use crate::repos::download::Download;

/// The longest DNS label.
const MAX_LABEL: usize = 63;

/// The subdomain a new Space gets: `{owner}-{name}` in lowercase, every run
/// of other characters one `-` (Hugging Face's form). Unique per hub: a
/// clash is settled by the caller (see `runtime::ensure`).
pub fn subdomain_for(namespace: &str, name: &str) -> String {
    let mut out = String::new();
    for c in format!("{namespace}-{name}").chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    let mut out: String = out.chars().take(MAX_LABEL).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "space".into() } else { out }
}

/// The Space subdomain a request's `Host` names, if it is on the Spaces
/// domain: `alice-demo` for `alice-demo.localhost:8080`.
pub fn subdomain_of<'h>(settings: &Settings, host: &'h str) -> Option<&'h str> {
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let label = host
        .strip_suffix(settings.domain.as_str())?
        .strip_suffix('.')?;
    let valid = !label.is_empty()
        && label.len() <= MAX_LABEL
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then_some(label)
}

/// The Space's origin as seen by a browser that reached the hub at
/// `hub_host` (`127.0.0.1:8080`, `hub.example`): the Spaces domain, with the
/// hub's port when the domain is `localhost` (the same server answers it).
pub fn url(settings: &Settings, scheme: &str, hub_host: &str, subdomain: &str) -> String {
    let port = match hub_host.rsplit_once(':') {
        Some((_, port))
            if settings.domain == "localhost" && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!(":{port}")
        }
        _ => String::new(),
    };
    format!("{scheme}://{subdomain}.{}{port}", settings.domain)
}

/// A Space as its origin serves it.
#[derive(Debug, Clone)]
pub struct Site {
    pub repo_id: i64,
    /// `namespace/name`.
    pub repo_name: String,
    /// Visitors need a pass ([`verify_pass`]).
    pub private: bool,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A static Space: the hub serves the repo's files at this commit.
    Static { commit: String, app_file: String },
    /// A running app: proxied through the tunnel of runner session
    /// `session`, naming `job` in `SPACE_JOB_HEADER`.
    App { job: Uuid, session: Uuid },
    /// Nothing to proxy to yet (or any more): a page with the stage, which
    /// reloads itself while the stage is a passing one.
    Waiting {
        stage: String,
        message: Option<String>,
    },
}

/// The Space behind `subdomain`, and where its requests go. A sleeping
/// Space is woken (a visit is what wakes it) and answers `Waiting`.
pub async fn resolve(hub: &Hub, subdomain: &str) -> Result<Option<Site>> {
    super::runtime::resolve(hub, subdomain).await
}

/// A pass for visitors of private Space `repo_id`, valid for `ttl`: the
/// hub's Space page puts it in the iframe's address after checking the
/// visitor may read the Space; the Space's origin turns it into a cookie of
/// its own (the hub's cookies never reach it).
pub fn issue_pass(hub: &Hub, repo_id: i64, ttl: Duration) -> String {
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_add(ttl)
        .as_secs();
    let body = format!("{repo_id}.{expires}");
    let sig = hub.secret.sign(format!("space-pass:{body}").as_bytes());
    format!("{body}.{sig}")
}

/// Whether `pass` is an unexpired pass for Space `repo_id`.
pub fn verify_pass(hub: &Hub, repo_id: i64, pass: &str) -> bool {
    let Some((body, sig)) = pass.rsplit_once('.') else {
        return false;
    };
    let Some((id, expires)) = body.split_once('.') else {
        return false;
    };
    if id.parse::<i64>().ok() != Some(repo_id) {
        return false;
    }
    let Ok(expires) = expires.parse::<u64>() else {
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    expires > now
        && hub
            .secret
            .verify(format!("space-pass:{body}").as_bytes(), sig)
}

/// Notes a visit to Space `repo_id` (it keeps the app awake). Cheap: at
/// most one write per Space every few seconds per process.
pub async fn touch(hub: &Hub, repo_id: i64) {
    super::runtime::touch(hub, repo_id).await
}

/// File `path` of static Space `site` at `commit` (the commit its target
/// names), with the proof its bytes are read with
/// (`repos::download::body`). Only that commit of that repo can be read:
/// `EntryNotFound` for anything else.
pub async fn static_file(
    hub: &Hub,
    site: &Site,
    commit: &str,
    path: &str,
) -> Result<(Authorized, Download)> {
    let repo = crate::repos::access::authorize_space_origin(&hub.db, site.repo_id, commit).await?;
    let file = crate::repos::download::find(hub, &repo, commit, path).await?;
    Ok((repo, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(domain: &str) -> Settings {
        Settings {
            domain: domain.into(),
            ..Settings::from_env()
        }
    }

    #[test]
    fn subdomains_are_dns_labels() {
        assert_eq!(subdomain_for("Alice", "my_demo.v2"), "alice-my-demo-v2");
        assert_eq!(subdomain_for("开源", "--x--"), "x");
        assert_eq!(subdomain_for("a".repeat(70).as_str(), "b").len(), 63);
    }

    #[test]
    fn hosts_name_spaces_only_on_the_spaces_domain() {
        let s = settings("localhost");
        assert_eq!(
            subdomain_of(&s, "alice-demo.localhost:8080"),
            Some("alice-demo")
        );
        assert_eq!(subdomain_of(&s, "alice-demo.localhost"), Some("alice-demo"));
        assert_eq!(subdomain_of(&s, "localhost:8080"), None);
        assert_eq!(subdomain_of(&s, "a.b.localhost"), None);
        assert_eq!(subdomain_of(&s, "evil-localhost"), None);
        assert_eq!(subdomain_of(&s, "Alice.localhost"), None);
        let s = settings("spaces.example");
        assert_eq!(subdomain_of(&s, "x.spaces.example"), Some("x"));
        assert_eq!(subdomain_of(&s, "x.example"), None);
    }

    #[test]
    fn urls_keep_the_port_only_for_localhost() {
        let s = settings("localhost");
        assert_eq!(
            url(&s, "http", "127.0.0.1:8080", "a-b"),
            "http://a-b.localhost:8080"
        );
        let s = settings("spaces.example");
        assert_eq!(
            url(&s, "https", "hub.example:443", "a-b"),
            "https://a-b.spaces.example"
        );
    }
}
