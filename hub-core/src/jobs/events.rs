//! What workers report about a job: stored once per `(job, attempt, seq)`,
//! then `NOTIFY`'d so that whichever node holds the client's stream reads
//! them from the table. A terminal event ends the job (and records its
//! usage) in the same transaction.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::protocol::{Event, EventBody, EventsAck, Usage};
use super::queue::{self, lock_for_events};
use super::state;
use super::workers::WorkerId;
use crate::error::{Error, Result};
use crate::hub::Hub;

/// What storing a batch of events came to.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub ack: EventsAck,
    /// A terminal event is stored: the worker sends nothing more.
    pub finished: bool,
}

/// Stores a batch of events of `worker`'s current attempt at `job`.
/// Events of an attempt that is no longer current are refused (`Conflict`):
/// the job must be leased to this worker and, when the request names its
/// attempt (`?attempt=N`), be at that attempt. Those of a cancelled job are
/// dropped and the answer says so.
pub async fn store(
    hub: &Hub,
    worker: WorkerId,
    job: Uuid,
    claimed_attempt: Option<u32>,
    events: &[Event],
) -> Result<Stored> {
    let mut tx = hub.db.begin().await?;
    let (attempt, job_state, holder) = lock_for_events(&mut tx, job).await?;
    if claimed_attempt.is_some_and(|a| i64::from(a) != i64::from(attempt)) {
        return Err(Error::conflict(
            "events of an attempt that is no longer the job's current one",
        ));
    }
    if job_state == state::CANCELLED {
        return Ok(Stored {
            ack: EventsAck {
                stored_through: None,
                cancelled: true,
            },
            finished: true,
        });
    }
    if job_state != state::RUNNING || holder != Some(worker) {
        return Err(Error::conflict(
            "this job is not leased to this worker any more",
        ));
    }
    let seqs: Vec<i64> = events.iter().map(|e| e.seq as i64).collect();
    let bodies: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(&e.body))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::from)?;
    // The seqs stored now for the first time: a resent event is not news.
    let mut new_seqs: Vec<i64> = Vec::new();
    if !events.is_empty() {
        new_seqs = sqlx::query_scalar(
            "INSERT INTO inference_job_events (job_id, attempt, seq, body)
             SELECT $1, $2, * FROM UNNEST($3::BIGINT[], $4::TEXT[])
             ON CONFLICT DO NOTHING RETURNING seq",
        )
        .bind(job)
        .bind(attempt)
        .bind(&seqs)
        .bind(&bodies)
        .fetch_all(&mut *tx)
        .await?;
    }
    let fresh: Vec<&Event> = events
        .iter()
        .filter(|e| new_seqs.contains(&(e.seq as i64)))
        .collect();
    crate::finetune::training::on_events(&mut tx, job, &fresh).await?;
    for event in events {
        if let EventBody::Stage { stage, message } = &event.body {
            crate::spaces::runtime::on_stage(&mut tx, job, *stage, message.as_deref()).await?;
        }
    }
    let mut finished = false;
    let mut trained = false;
    if let Some(terminal) = events.iter().find(|e| e.body.is_terminal()) {
        finish(&mut tx, worker, job, &terminal.body).await?;
        finished = true;
        trained = matches!(terminal.body, EventBody::Trained { .. });
    }
    queue::notify_job(&mut tx, job).await?;
    let stored_through: Option<i64> = sqlx::query_scalar(
        "SELECT max(seq) FROM inference_job_events WHERE job_id = $1 AND attempt = $2",
    )
    .bind(job)
    .bind(attempt)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    if trained {
        crate::finetune::publish::spawn(hub, job);
    }
    Ok(Stored {
        ack: EventsAck {
            stored_through: stored_through.map(|s| s as u64),
            cancelled: false,
        },
        finished,
    })
}

/// Ends the job by its terminal event: success records usage; a retryable
/// failure puts it back (or dead-letters it); any other failure is the
/// request's and ends it.
async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    worker: WorkerId,
    job: Uuid,
    body: &EventBody,
) -> Result<()> {
    match body {
        EventBody::Finished { usage, .. } | EventBody::Embeddings { usage, .. } => {
            succeed(tx, job).await?;
            record_usage(tx, worker, job, usage).await
        }
        EventBody::Trained { usage, .. } => {
            succeed(tx, job).await?;
            crate::finetune::training::on_trained(tx, job, usage).await
        }
        EventBody::Failed {
            message,
            retryable: true,
        } => queue::requeue(tx, &[job], message).await,
        EventBody::Failed { message, .. } => {
            sqlx::query(
                "UPDATE inference_jobs SET state = 'failed', finished_at = now(), lease_expires_at = NULL,
                     last_error = $2
                 WHERE id = $1",
            )
            .bind(job)
            .bind(message)
            .execute(&mut **tx)
            .await?;
            crate::finetune::training::on_failed(tx, job, message).await
        }
        _ => Ok(()),
    }
}

async fn succeed(tx: &mut Transaction<'_, Postgres>, job: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE inference_jobs SET state = 'succeeded', finished_at = now(), lease_expires_at = NULL
         WHERE id = $1",
    )
    .bind(job)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One usage record per job (the paid tier bills from these).
async fn record_usage(
    tx: &mut Transaction<'_, Postgres>,
    worker: WorkerId,
    job: Uuid,
    usage: &Usage,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO usage_records (kind, account_id, client_ip, job_id, repo_id, revision,
             prompt_tokens, generated_tokens, worker_id, device_ms)
         SELECT 'inference', j.account_id, j.client_ip, j.id, j.repo_id, j.revision, $2, $3, $4, $5
         FROM inference_jobs j WHERE j.id = $1
         ON CONFLICT (kind, job_id) DO NOTHING",
    )
    .bind(job)
    .bind(i64::from(usage.prompt_tokens))
    .bind(i64::from(usage.generated_tokens))
    .bind(worker.0)
    .bind(i64::try_from(usage.device_ms).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?;
    crate::billing::metering::settle_job(tx, job, worker.0).await
}

/// A job as its client's stream sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobView {
    pub state: String,
    pub attempt: i32,
    pub last_error: Option<String>,
    /// Jobs queued before this one, while it waits.
    pub position: Option<i64>,
}

pub async fn view(db: &PgPool, job: Uuid) -> Result<JobView> {
    let row: Option<JobView> = sqlx::query_as(
        "SELECT j.state, j.attempt, j.last_error,
                CASE WHEN j.state = 'queued' THEN
                    (SELECT count(*) FROM inference_jobs q WHERE q.state = 'queued' AND q.created_at < j.created_at)
                END AS position
         FROM inference_jobs j WHERE j.id = $1",
    )
    .bind(job)
    .fetch_optional(db)
    .await?;
    row.ok_or_else(|| Error::not_found("no such job"))
}

/// The events of one attempt from `from_seq` on, in order.
pub async fn read(db: &PgPool, job: Uuid, attempt: i32, from_seq: i64) -> Result<Vec<Event>> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, body FROM inference_job_events WHERE job_id = $1 AND attempt = $2 AND seq >= $3
         ORDER BY seq",
    )
    .bind(job)
    .bind(attempt)
    .bind(from_seq)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(seq, body)| {
            Ok(Event {
                seq: seq as u64,
                body: serde_json::from_str(&body).map_err(anyhow::Error::from)?,
            })
        })
        .collect()
}
