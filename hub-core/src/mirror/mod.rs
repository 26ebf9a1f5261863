//! Mirror mode: serving repos of upstream hubs (huggingface.co, a public
//! mirror, another Kaiyuan hub, ModelScope) as if they were ours, with the
//! upstream's exact commits.
//!
//! How: a mirrored repo is an ordinary repo of this hub whose git history
//! is fetched from upstream with `git fetch` (so every sha is the
//! upstream's) and whose large files are fetched from upstream's Git LFS by
//! content hash when first read ([`objects`]), verified, and kept in the
//! hub's own storage, where dedupe, GC and S3 apply. Everything that serves
//! repos (the Hugging Face and ModelScope APIs, git, the pages) then serves
//! mirrors unchanged; a mirrored repo is read-only.
//!
//! - [`upstreams`]: the upstream hubs and their sealed tokens.
//! - [`policy`]: what may be fetched, by whom, and the cache's caps.
//! - [`remote`]: git against an upstream.
//! - [`repos`]: a repo fetched on first request, kept fresh on later ones.
//! - [`objects`]: large files fetched on first read, one transfer shared.
//! - [`sync`]: repos kept whole and refreshed on a schedule.
//! - [`evict`]: the cache kept under its caps, least recently read first.

pub mod evict;
pub mod objects;
pub mod policy;
pub mod remote;
pub mod repos;
pub mod sync;
pub mod upstreams;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the mirror keeps in a hub process: one fetch at a time per repo
/// and per large file, shared by everyone who asks meanwhile.
pub struct State {
    /// Repos being created or refreshed from upstream, by `type/ns/name`.
    repo_fetches: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Repos no upstream had, by `type/ns/name`, and when that was learnt:
    /// asked again only after the freshness time, so that clients probing
    /// for missing repos do not each cost a round trip upstream.
    missing: Mutex<HashMap<String, std::time::Instant>>,
    /// Large files on their way from upstream, by oid.
    pub(crate) fills: objects::Fills,
    /// For upstreams' Git LFS: bounded connects and reads (a body may take
    /// long, but never stall).
    pub(crate) http: reqwest::Client,
}

impl Default for State {
    fn default() -> State {
        State {
            repo_fetches: Default::default(),
            missing: Default::default(),
            fills: Default::default(),
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .read_timeout(std::time::Duration::from_secs(60))
                .user_agent(concat!("kaiyuan-hub-mirror/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the mirror's HTTP client builds"),
        }
    }
}

impl State {
    /// The lock of one repo's fetches, made on first use.
    /// Whether no upstream had `key` less than `fresh` ago.
    fn known_missing(&self, key: &str, fresh: std::time::Duration) -> bool {
        let mut missing = self.missing.lock().expect("mirror cache poisoned");
        missing.retain(|_, at| at.elapsed() < fresh);
        missing.contains_key(key)
    }

    fn remember_missing(&self, key: &str) {
        let mut missing = self.missing.lock().expect("mirror cache poisoned");
        // Bounded: a flood of made-up names cannot grow it without end.
        if missing.len() >= 10_000 {
            missing.clear();
        }
        missing.insert(key.to_owned(), std::time::Instant::now());
    }

    fn repo_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.repo_fetches.lock().expect("mirror locks poisoned");
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(key.to_owned()).or_default().clone()
    }
}

/// What the admin page shows of mirror mode.
#[derive(Debug, serde::Serialize)]
pub struct Overview {
    pub upstreams: Vec<upstreams::Upstream>,
    pub policy: policy::Policy,
    pub repos: Vec<sync::MirroredRepo>,
    pub cached_files: i64,
    pub cached_bytes: i64,
    pub evictions: Vec<evict::Eviction>,
}

pub async fn overview(db: &sqlx::PgPool) -> crate::error::Result<Overview> {
    let repos = sync::list(db).await?;
    Ok(Overview {
        upstreams: upstreams::list(db).await?,
        policy: policy::Policy::load(db).await?,
        cached_files: repos.iter().map(|r| r.cached_files).sum(),
        cached_bytes: repos.iter().map(|r| r.cached_bytes).sum(),
        repos,
        evictions: evict::recent(db, 50).await?,
    })
}
