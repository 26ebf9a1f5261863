//! Counted downloads on their way to the database, off the request path.
//!
//! A download that counts ([`super::counters`]: once per client, repo and
//! window) used to cost a transaction of its own on the request — three
//! round trips even when the window was already taken. Now the request only
//! notes `(repo, client, when)` in memory, and [`run`] writes what was noted
//! every [`FLUSH_INTERVAL`] in one statement; the window rule is still
//! decided by PostgreSQL (race-free across nodes: one upsert claims each
//! window row), with the request's own time.
//!
//! Durability: what a request noted is written at the next flush, and at a
//! clean shutdown after the last request has been answered ([`run`] ends
//! with a flush); a crash (SIGKILL, power) loses what was noted since the
//! last flush, at most [`FLUSH_INTERVAL`] of counts (plus a flush in
//! flight). A flush that fails is kept for the next one.
//!
//! Memory is bounded: at most [`MAX_PENDING`] noted pairs (a request that
//! finds it full writes them itself before going on), and at most
//! [`MAX_RECENT`] remembered windows this node claimed, which spare a
//! client's repeats within its window any database work at all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::Notify;

use super::counters::{DOWNLOAD_WINDOW, Downloader};
use crate::error::Result;
use crate::hub::Hub;

/// How often noted downloads are written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Noted (repo, client) pairs held at most before a request writes them.
pub const MAX_PENDING: usize = 50_000;
/// Windows this node remembers having claimed.
pub const MAX_RECENT: usize = 100_000;

type Key = (i64, String);

#[derive(Default)]
pub struct DownloadCounts {
    /// Noted, not yet written: when each pair's first request came.
    pending: Mutex<HashMap<Key, (DateTime<Utc>, Instant)>>,
    /// Windows claimed through this node: when each began.
    recent: Mutex<HashMap<Key, Instant>>,
    /// One flush at a time in this process.
    flushing: tokio::sync::Mutex<()>,
    stopping: AtomicBool,
    stop: Notify,
}

impl DownloadCounts {
    /// Notes one counted download of repo `repo_id` by `client`, to be
    /// written at the next flush. Repeats within a window this node has
    /// claimed, or already noted, cost nothing.
    pub async fn record(&self, db: &PgPool, repo_id: i64, client: &Downloader) -> Result<()> {
        let key = (repo_id, client.as_str().to_owned());
        let counted = self
            .recent
            .lock()
            .expect("download windows poisoned")
            .get(&key)
            .is_some_and(|since| since.elapsed() < DOWNLOAD_WINDOW);
        if counted {
            return Ok(());
        }
        let full = {
            let mut pending = self.pending.lock().expect("pending downloads poisoned");
            pending
                .entry(key)
                .or_insert_with(|| (Utc::now(), Instant::now()));
            pending.len() >= MAX_PENDING
        };
        if full {
            self.flush(db).await?;
        }
        Ok(())
    }

    /// Writes every noted download now (one statement, one transaction).
    pub async fn flush(&self, db: &PgPool) -> Result<()> {
        let _one_at_a_time = self.flushing.lock().await;
        let batch: Vec<(Key, (DateTime<Utc>, Instant))> = {
            let mut pending = self.pending.lock().expect("pending downloads poisoned");
            std::mem::take(&mut *pending).into_iter().collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        match write(db, &batch).await {
            Ok(claimed) => {
                self.remember(&batch, claimed);
                Ok(())
            }
            Err(e) => {
                // Kept for the next flush (a newer note of a pair wins).
                let mut pending = self.pending.lock().expect("pending downloads poisoned");
                for (key, at) in batch {
                    pending.entry(key).or_insert(at);
                }
                Err(e)
            }
        }
    }

    /// Remembers the windows the batch claimed, so that repeats skip the
    /// database; a pair whose window another node holds is not remembered
    /// (its next request is noted again, and PostgreSQL decides).
    fn remember(&self, batch: &[(Key, (DateTime<Utc>, Instant))], claimed: Vec<Key>) {
        let claimed: std::collections::HashSet<Key> = claimed.into_iter().collect();
        let mut recent = self.recent.lock().expect("download windows poisoned");
        if recent.len() + claimed.len() > MAX_RECENT {
            recent.retain(|_, since| since.elapsed() < DOWNLOAD_WINDOW);
            if recent.len() + claimed.len() > MAX_RECENT {
                // Forgetting only costs database work: PostgreSQL decides.
                recent.clear();
            }
        }
        for (key, (_, since)) in batch {
            if claimed.contains(key) {
                recent.insert(key.clone(), *since);
            }
        }
    }

    /// Downloads noted and not yet written.
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .expect("pending downloads poisoned")
            .len()
    }

    /// Ends [`run`] (which flushes a last time).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_one();
    }
}

/// Writes noted downloads every [`FLUSH_INTERVAL`] until
/// [`DownloadCounts::stop`], then once more: run it for as long as
/// requests are served, and stop it after the last one was answered.
pub async fn run(hub: std::sync::Arc<Hub>) {
    let counts = &hub.downloads;
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !counts.stopping.load(Ordering::SeqCst) {
        tokio::select! {
            _ = tick.tick() => {}
            _ = counts.stop.notified() => {}
        }
        if let Err(e) = counts.flush(&hub.db).await {
            tracing::warn!(error = %e, pending = counts.pending(), "writing download counts failed; kept for the next try");
        }
    }
    if let Err(e) = counts.flush(&hub.db).await {
        tracing::error!(error = %e, lost = counts.pending(), "writing the last download counts failed");
    }
}

/// Claims each pair's window and adds what was claimed to the daily and
/// total counts, in one transaction; returns the pairs claimed.
async fn write(db: &PgPool, batch: &[(Key, (DateTime<Utc>, Instant))]) -> Result<Vec<Key>> {
    let mut sorted: Vec<&(Key, (DateTime<Utc>, Instant))> = batch.iter().collect();
    // One order on every node, so that concurrent flushes lock rows alike.
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let repo_ids: Vec<i64> = sorted.iter().map(|(k, _)| k.0).collect();
    let clients: Vec<&str> = sorted.iter().map(|(k, _)| k.1.as_str()).collect();
    let ats: Vec<DateTime<Utc>> = sorted.iter().map(|(_, (at, _))| *at).collect();
    let window = DOWNLOAD_WINDOW.as_secs_f64();
    let mut tx = db.begin().await?;
    // A window is claimed when its row is new or its last count is a whole
    // window older than this request; a repo deleted meanwhile is skipped.
    let claimed: Vec<(i64, String)> = sqlx::query_as(
        "WITH batch AS (
             SELECT b.repo_id, b.client, b.at
             FROM UNNEST($1::bigint[], $2::text[], $3::timestamptz[]) AS b (repo_id, client, at)
             WHERE EXISTS (SELECT 1 FROM repos r WHERE r.id = b.repo_id)
             ORDER BY b.repo_id, b.client
         ), claimed AS (
             INSERT INTO download_windows AS w (repo_id, client, counted_at)
             SELECT repo_id, client, at FROM batch
             ON CONFLICT (repo_id, client) DO UPDATE SET counted_at = excluded.counted_at
             WHERE w.counted_at <= excluded.counted_at - make_interval(secs => $4)
             RETURNING w.repo_id, w.client, w.counted_at
         ), per_day AS (
             SELECT repo_id, counted_at::date AS day, count(*) AS n FROM claimed GROUP BY 1, 2
         ), daily AS (
             INSERT INTO repo_downloads_daily AS d (repo_id, day, count)
             SELECT repo_id, day, n FROM per_day ORDER BY repo_id, day
             ON CONFLICT (repo_id, day) DO UPDATE SET count = d.count + excluded.count
         ), totals AS (
             UPDATE repos r SET downloads_total = r.downloads_total + t.n
             FROM (SELECT repo_id, sum(n)::bigint AS n FROM per_day GROUP BY repo_id) t
             WHERE r.id = t.repo_id
         )
         SELECT repo_id, client FROM claimed",
    )
    .bind(&repo_ids)
    .bind(&clients)
    .bind(&ats)
    .bind(window)
    .fetch_all(&mut *tx)
    .await?;
    // Expired windows are dead weight: each flush removes some, so the
    // table stays near the number of clients active in one window. Rows
    // another flush holds are skipped (no lock waits, no deadlocks).
    sqlx::query(
        "DELETE FROM download_windows WHERE ctid = ANY(ARRAY(
             SELECT ctid FROM download_windows
             WHERE counted_at < now() - make_interval(secs => $1)
             LIMIT 1000 FOR UPDATE SKIP LOCKED))",
    )
    .bind(window)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}
