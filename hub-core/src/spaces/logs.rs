//! A Space's build and run logs: the `log` events of its run (the job the
//! runtime names), read by the logs API and page, and followed live.
//! Bounded: a runner cuts each line, and the sweep keeps the newest
//! lines of each run (`runtime::sweep`).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;
use worker_protocol::{EventBody, LogStream};

use crate::error::Result;
use crate::hub::Hub;
use crate::jobs::wake::{self, Wake};

/// Lines read from the table at once.
const PAGE: i64 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The line's place in its run (for de-duplication by clients).
    pub index: u64,
    pub line: String,
    pub at: DateTime<Utc>,
}

/// Where a reader of one stream of one run is.
#[derive(Debug, Clone)]
pub struct Cursor {
    repo_id: i64,
    stream: LogStream,
    /// The run followed; None: the Space has no run (yet).
    job: Option<Uuid>,
    attempt: i32,
    next_seq: i64,
}

impl Cursor {
    /// A reader of the Space's current run, from its first line, or from
    /// the last `tail` lines.
    pub async fn open(
        hub: &Hub,
        repo_id: i64,
        stream: LogStream,
        tail: Option<u32>,
    ) -> Result<Cursor> {
        let current: Option<(Option<Uuid>, Option<i32>)> = sqlx::query_as(
            "SELECT s.job_id, j.attempt FROM space_runtimes s
             LEFT JOIN inference_jobs j ON j.id = s.job_id WHERE s.repo_id = $1",
        )
        .bind(repo_id)
        .fetch_optional(&hub.db)
        .await?;
        let (job, attempt) = current.unwrap_or((None, None));
        let mut cursor = Cursor {
            repo_id,
            stream,
            job,
            attempt: attempt.unwrap_or(0),
            next_seq: 0,
        };
        if let (Some(tail), Some(job)) = (tail, job) {
            let from: Option<i64> = sqlx::query_scalar(
                "SELECT min(seq) FROM (SELECT seq FROM inference_job_events
                     WHERE job_id = $1 AND attempt = $2 AND body::jsonb ->> 'type' = 'log'
                       AND body::jsonb ->> 'stream' = $3
                     ORDER BY seq DESC LIMIT $4) t",
            )
            .bind(job)
            .bind(cursor.attempt)
            .bind(stream_name(stream))
            .bind(i64::from(tail))
            .fetch_one(&hub.db)
            .await?;
            cursor.next_seq = from.unwrap_or(i64::MAX);
        }
        Ok(cursor)
    }

    /// The lines that have arrived since the last call (at most a page).
    pub async fn read(&mut self, hub: &Hub) -> Result<Vec<LogLine>> {
        let Some(job) = self.job else {
            return Ok(Vec::new());
        };
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, body FROM inference_job_events
             WHERE job_id = $1 AND attempt = $2 AND seq >= $3
               AND body::jsonb ->> 'type' = 'log' AND body::jsonb ->> 'stream' = $4
             ORDER BY seq LIMIT $5",
        )
        .bind(job)
        .bind(self.attempt)
        .bind(self.next_seq)
        .bind(stream_name(self.stream))
        .bind(PAGE)
        .fetch_all(&hub.db)
        .await?;
        let mut lines = Vec::with_capacity(rows.len());
        for (seq, body) in rows {
            self.next_seq = seq + 1;
            if let Ok(EventBody::Log { line, at_ms, .. }) = serde_json::from_str(&body) {
                lines.push(LogLine {
                    index: seq as u64,
                    line,
                    at: Utc
                        .timestamp_millis_opt(at_ms as i64)
                        .single()
                        .unwrap_or_else(Utc::now),
                });
            }
        }
        Ok(lines)
    }

    /// Whether more lines may come: the run followed is still the Space's,
    /// at the same attempt, and queued or running.
    pub async fn is_live(&self, hub: &Hub) -> Result<bool> {
        let Some(job) = self.job else {
            return Ok(false);
        };
        let live: Option<bool> = sqlx::query_scalar(
            "SELECT j.state IN ('queued', 'running') AND j.attempt = $3 FROM space_runtimes s
             JOIN inference_jobs j ON j.id = s.job_id WHERE s.repo_id = $1 AND s.job_id = $2",
        )
        .bind(self.repo_id)
        .bind(job)
        .bind(self.attempt)
        .fetch_optional(&hub.db)
        .await?;
        Ok(live.unwrap_or(false))
    }

    /// Waits (at most `at_most`) until the run followed reports something.
    pub async fn wait(&self, hub: &Hub, at_most: Duration) {
        let Some(job) = self.job else {
            return;
        };
        let mut wakeups = hub.wake.subscribe();
        wake::wait_for(&mut wakeups, at_most, |w| w == Wake::Job(job)).await;
    }
}

fn stream_name(stream: LogStream) -> &'static str {
    match stream {
        LogStream::Build => "build",
        LogStream::Run => "run",
        LogStream::Train => "train",
    }
}
