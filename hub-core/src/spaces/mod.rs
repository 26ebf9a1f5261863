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

pub mod config;
pub mod duplicate;
pub mod env;
pub mod logs;
pub mod origin;
pub mod runtime;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// `HUB_SPACES_SLEEP_SECS` [48 h, as Hugging Face's free tier]: a Space
    /// nobody visits this long is put to sleep (its own setting wins).
    pub sleep_after: Duration,
    /// `HUB_SPACES_MEMORY_MB` [2048], `HUB_SPACES_PIDS` [256],
    /// `HUB_SPACES_DISK_MB` [1024]: each app's limits.
    pub memory_bytes: u64,
    pub pids: u32,
    pub disk_bytes: u64,
    /// `HUB_SPACES_BUILD_TIMEOUT_SECS` [1800].
    pub build_timeout: Duration,
    /// `HUB_SPACES_SWEEP_MS` [10000]: how often sleepers are looked for.
    pub sweep_every: Duration,
}

impl Settings {
    pub fn from_env() -> Settings {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let number = |name: &str, default: u64| {
            var(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let domain = var("HUB_SPACES_DOMAIN")
            .map(|d| d.trim().trim_matches('.').to_ascii_lowercase())
            .filter(|d| {
                let ok = !d.is_empty()
                    && d.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                    });
                if !ok {
                    tracing::warn!(
                        domain = d,
                        "HUB_SPACES_DOMAIN is no domain name; using localhost"
                    );
                }
                ok
            })
            .unwrap_or_else(|| "localhost".to_string());
        Settings {
            domain,
            sleep_after: Duration::from_secs(number("HUB_SPACES_SLEEP_SECS", 48 * 3600)),
            memory_bytes: number("HUB_SPACES_MEMORY_MB", 2048) << 20,
            pids: number("HUB_SPACES_PIDS", 256) as u32,
            disk_bytes: number("HUB_SPACES_DISK_MB", 1024) << 20,
            build_timeout: Duration::from_secs(number("HUB_SPACES_BUILD_TIMEOUT_SECS", 1800)),
            sweep_every: Duration::from_millis(number("HUB_SPACES_SWEEP_MS", 10_000)),
        }
    }
}

/// What `create_repo` may ask of a new Space besides its SDK (Hugging
/// Face's `space_hardware`, `space_sleep_time`, `space_secrets`,
/// `space_variables`).
#[derive(Debug, Clone, Default)]
pub struct NewSpaceOptions {
    pub hardware: Option<String>,
    pub sleep_time_s: Option<i64>,
    /// `(key, value, description)`.
    pub variables: Vec<(String, String, Option<String>)>,
    pub secrets: Vec<(String, String, Option<String>)>,
}

/// Creates a Space (see `repos::manage::create`) and applies `options`
/// to it. The options are checked first: a bad one creates nothing.
pub async fn create(
    hub: &crate::Hub,
    actor: &crate::accounts::Actor,
    namespace: &str,
    name: &str,
    private: bool,
    sdk: Option<&str>,
    options: &NewSpaceOptions,
) -> crate::error::Result<crate::repos::Repo> {
    check_options(options)?;
    let repo = crate::repos::manage::create(
        hub,
        actor,
        crate::repos::RepoType::Space,
        namespace,
        name,
        private,
        sdk,
    )
    .await?;
    apply_options(hub, &repo, options).await?;
    Ok(repo)
}

fn check_options(options: &NewSpaceOptions) -> crate::error::Result<()> {
    if let Some(seconds) = options.sleep_time_s {
        runtime::check_sleep_time(seconds)?;
    }
    if let Some(flavor) = &options.hardware {
        runtime::check_hardware(flavor)?;
    }
    for (key, _, _) in options.variables.iter().chain(&options.secrets) {
        env::check_key(key)?;
    }
    Ok(())
}

async fn apply_options(
    hub: &crate::Hub,
    repo: &crate::repos::Repo,
    options: &NewSpaceOptions,
) -> crate::error::Result<()> {
    for (key, value, description) in &options.variables {
        env::set(hub, repo.id, key, value, description.as_deref(), false).await?;
    }
    for (key, value, description) in &options.secrets {
        env::set(hub, repo.id, key, value, description.as_deref(), true).await?;
    }
    runtime::configure(hub, repo, options.hardware.as_deref(), options.sleep_time_s).await
}

/// The Spaces `actor` may see whose card names `repo` in its `models:` or
/// `datasets:` list (Hugging Face's "Spaces using this model"), most liked
/// first, at most `limit`: `(namespace/name, stage)`.
pub async fn using(
    hub: &crate::Hub,
    actor: &crate::accounts::Actor,
    repo: &crate::repos::Repo,
    limit: i64,
) -> crate::error::Result<Vec<(String, Option<String>)>> {
    let key = match repo.kind() {
        crate::repos::RepoType::Model => "models",
        crate::repos::RepoType::Dataset => "datasets",
        crate::repos::RepoType::Space => return Ok(Vec::new()),
    };
    let reader = crate::repos::access::Reader::of(actor);
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT n.name || '/' || r.name, s.stage
         FROM repos r JOIN namespaces n ON n.id = r.namespace_id
         LEFT JOIN space_runtimes s ON s.repo_id = r.id
         WHERE r.repo_type = 'space' AND jsonb_typeof(r.card_data -> '{key}') = 'array'
           AND r.card_data -> '{key}' @> jsonb_build_array($1::text) AND {}
         ORDER BY r.likes DESC, r.id LIMIT $2",
        reader.sql_condition("$3")
    ));
    let mut query = sqlx::query_as::<_, (String, Option<String>)>(sql)
        .bind(repo.full_name())
        .bind(limit);
    if let Some(id) = reader.user_id() {
        query = query.bind(id);
    }
    Ok(query.fetch_all(&hub.db).await?)
}
