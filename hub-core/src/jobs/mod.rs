//! The job queue of the inference tier and the worker registry behind it.
//!
//! Jobs live in PostgreSQL (`inference_jobs`): claimed with `FOR UPDATE SKIP
//! LOCKED` by capability, leased to a worker session and renewed by its
//! heartbeats, put back when a lease runs out (a bounded number of times,
//! then dead-lettered with the error), cancelled when the client goes away.
//! Workers speak `worker_protocol` over HTTP and never touch the database.
//! Hub nodes wake each other through `LISTEN/NOTIFY` ([`wake`]): nothing one
//! node keeps in memory is needed by another.

pub mod download;
pub mod events;
pub mod queue;
pub mod wake;
pub mod workers;

use std::time::Duration;

pub use worker_protocol as protocol;

/// Timing of the worker protocol, the same on every node.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a claimed job stays leased without a heartbeat.
    pub lease: Duration,
    /// How often workers send heartbeats: a third of the lease, so two may be lost.
    pub heartbeat_interval: Duration,
    /// The longest a claim request is held open.
    pub max_claim_wait: Duration,
}

impl Settings {
    /// `HUB_WORKER_LEASE_MS` (default 30 s) sets the lease; the rest follows.
    pub fn from_env() -> Settings {
        let lease_ms = std::env::var("HUB_WORKER_LEASE_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms >= 300)
            .unwrap_or(30_000);
        Settings {
            lease: Duration::from_millis(lease_ms),
            heartbeat_interval: Duration::from_millis(lease_ms / 3),
            max_claim_wait: Duration::from_secs(25),
        }
    }

    /// A session whose last heartbeat is older than this is gone.
    pub fn session_timeout(&self) -> Duration {
        self.lease
    }
}

/// The states of a job, as stored.
pub mod state {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
    pub const DEAD: &str = "dead";

    pub fn is_terminal(state: &str) -> bool {
        matches!(state, SUCCEEDED | FAILED | CANCELLED | DEAD)
    }
}

/// The text form of a task, as stored and as the Hub's pipeline tags spell it.
pub fn task_str(task: protocol::Task) -> &'static str {
    match task {
        protocol::Task::TextGeneration => "text-generation",
        protocol::Task::FeatureExtraction => "feature-extraction",
        protocol::Task::SpaceRun => "space-run",
        protocol::Task::FineTune => "fine-tune",
    }
}

pub fn parse_task(s: &str) -> Option<protocol::Task> {
    match s {
        "text-generation" => Some(protocol::Task::TextGeneration),
        "feature-extraction" => Some(protocol::Task::FeatureExtraction),
        "space-run" => Some(protocol::Task::SpaceRun),
        "fine-tune" => Some(protocol::Task::FineTune),
        _ => None,
    }
}

/// What every hub process runs beside its routes: the `LISTEN` connection
/// (and the lookup cache it keeps fresh), and the sweep that takes back
/// jobs whose lease ran out (so a dead worker's job is retried even while
/// no claim comes in).
pub async fn run_background(hub: std::sync::Arc<crate::Hub>) {
    // Subscribed before the listener starts, so no change goes unheard.
    let lookups = crate::repos::lookup_cache::follow(&hub.lookups, hub.wake.subscribe());
    let listen = hub.wake.clone().listen(hub.db.clone());
    let sweep = async {
        let mut tick = tokio::time::interval(hub.inference.jobs.heartbeat_interval / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if hub.db.is_closed() {
                return;
            }
            if let Err(e) = queue::expire_leases(&hub.db).await {
                tracing::warn!(error = %e, "sweeping expired leases failed");
            }
            // Holds of paid jobs that ended unpaid, and holds past their time.
            if let Err(e) = crate::billing::metering::sweep(&hub.db).await {
                tracing::warn!(error = %e, "releasing unsettled holds failed");
            }
            // Fine-tunes that trained to the end while no node published them.
            if let Err(e) = crate::finetune::publish::sweep(&hub).await {
                tracing::warn!(error = %e, "publishing finished fine-tunes failed");
            }
        }
    };
    tokio::join!(listen, sweep, lookups);
}
