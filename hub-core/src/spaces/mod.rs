//! Hosted Spaces: a Space repo's configuration, its runtime (stage, sleep,
//! pause, hardware), its variables and secrets, and its runs.
//!
//! A run is a `space-run` job on the one queue (`jobs`): a runner (a mode of
//! `inference-worker`) claims it for one commit, builds and runs the app in
//! its sandbox, reports stages and log lines as the job's events, and keeps
//! the lease for as long as the app runs. Stopping a Space (sleep, pause, a
//! newer commit) cancels its job. The hub reaches the app through the
//! runner's tunnel (`web`'s spaces proxy), on the Space's own origin
//! ([`origin`]).

pub mod origin;
pub mod runtime;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// What one hub process keeps for Spaces.
#[derive(Debug)]
pub struct State {
    pub settings: Settings,
    /// When each Space's last visit was written down by this process.
    touched: Mutex<HashMap<i64, Instant>>,
}

impl State {
    pub fn new(settings: Settings) -> State {
        State {
            settings,
            touched: Mutex::new(HashMap::new()),
        }
    }
}

/// Spaces settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HUB_SPACES_DOMAIN` [`localhost`]: Spaces are served on
    /// `{subdomain}.{domain}` (with the hub's own port when the domain is
    /// `localhost`, whose subdomains browsers resolve to loopback).
    pub domain: String,
}

impl Settings {
    pub fn from_env() -> Settings {
        let domain = std::env::var("HUB_SPACES_DOMAIN")
            .ok()
            .map(|d| d.trim().trim_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "localhost".to_string());
        Settings { domain }
    }
}
