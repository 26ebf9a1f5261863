//! Wake-ups across hub nodes: one `LISTEN` connection per process, fanned
//! out to in-process waiters over a broadcast channel.
//!
//! Writers `NOTIFY` in the same transaction as the change (PostgreSQL sends
//! it at commit), so a waiter that subscribes *before* reading the table
//! never misses a change: either its read sees the row, or the wake-up
//! arrives afterwards. After the listener loses its connection (and with it
//! any notifications sent meanwhile) it wakes everybody to re-read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Channel: a job was queued (or put back); waiting claims look again.
pub const JOBS_QUEUED: &str = "ky_jobs_queued";
/// Channel: something happened to the job named in the payload.
pub const JOB_CHANGED: &str = "ky_job_changed";
/// Channel: rows of `repos`, `namespaces`, `repo_redirects` or
/// `repo_downloads_daily` changed (sent by triggers; see
/// `repos::lookup_cache`).
pub const REPOS_CHANGED: &str = "ky_repos_changed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    JobsQueued,
    Job(Uuid),
    ReposChanged,
    /// Notifications may have been lost: everyone re-reads.
    All,
}

#[derive(Clone)]
pub struct Wakeups {
    sender: broadcast::Sender<Wake>,
    shutting_down: Arc<AtomicBool>,
    /// Whether the `LISTEN` connection is up, so that changes are heard.
    listening: Arc<AtomicBool>,
}

impl Default for Wakeups {
    fn default() -> Self {
        Wakeups {
            sender: broadcast::channel(4096).0,
            shutting_down: Arc::default(),
            listening: Arc::default(),
        }
    }
}

impl Wakeups {
    /// The process is stopping: long waits (claims, queued requests) end now
    /// instead of holding the graceful shutdown open.
    pub fn shut_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.send(Wake::All);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Whether notifications are being heard right now: what is kept
    /// because nothing was heard to change it may be used only then.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    #[cfg(test)]
    pub(crate) fn set_listening_for_tests(&self, on: bool) {
        self.listening.store(on, Ordering::SeqCst);
    }

    /// Subscribe before reading the state you wait on.
    pub fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.sender.subscribe()
    }

    fn send(&self, wake: Wake) {
        // No receivers is fine: nobody on this node waits.
        let _ = self.sender.send(wake);
    }

    /// Listens until the pool closes; run it as one task per hub process.
    pub async fn listen(self, db: PgPool) {
        loop {
            match self.listen_once(&db).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                    self.listening.store(false, Ordering::SeqCst);
                    self.send(Wake::All);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    async fn listen_once(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(db).await?;
        listener
            .listen_all([JOBS_QUEUED, JOB_CHANGED, REPOS_CHANGED])
            .await?;
        // Anything sent before LISTEN took effect is unknown to us.
        self.listening.store(true, Ordering::SeqCst);
        self.send(Wake::All);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match n.channel() {
                    JOBS_QUEUED => self.send(Wake::JobsQueued),
                    REPOS_CHANGED => self.send(Wake::ReposChanged),
                    JOB_CHANGED => match n.payload().parse() {
                        Ok(id) => self.send(Wake::Job(id)),
                        Err(_) => self.send(Wake::All),
                    },
                    _ => {}
                },
                // Reconnected: notifications sent meanwhile are lost.
                Ok(None) => self.send(Wake::All),
                Err(sqlx::Error::PoolClosed) => {
                    self.listening.store(false, Ordering::SeqCst);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Waits for a wake-up that `wanted` accepts (or `All`, or a lag that may
/// have dropped one), at most `timeout`.
pub async fn wait_for(
    rx: &mut broadcast::Receiver<Wake>,
    timeout: Duration,
    wanted: impl Fn(Wake) -> bool,
) {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(Wake::All) | Err(broadcast::error::RecvError::Lagged(_)) => return,
                Ok(w) if wanted(w) => return,
                Ok(_) => continue,
                // The hub is shutting down; fall back on the timeout.
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    };
    let _ = tokio::time::timeout(timeout, wait).await;
}
