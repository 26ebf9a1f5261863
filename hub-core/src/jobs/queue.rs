//! The queue itself: enqueue, claim by capability, leases, retries, the
//! dead letter, cancellation. Every change that someone may wait on is
//! `NOTIFY`'d in its own transaction (see [`super::wake`]).

use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::protocol::{self, ClaimRequest, Job, JobInput, ModelRef};
use super::wake::{self, JOB_CHANGED, JOBS_QUEUED, Wake};
use super::workers::WorkerId;
use super::{download, parse_task, state, task_str};
use crate::error::{Error, Result};
use crate::hub::Hub;

/// A job to queue, already admitted by the policy.
pub struct NewJob<'a> {
    pub task: protocol::Task,
    pub repo_id: i64,
    pub repo_name: &'a str,
    pub revision: &'a str,
    pub architecture: &'a str,
    pub memory_bytes: i64,
    /// The .gguf file(s) of a GGUF model; empty for safetensors.
    pub gguf_files: &'a [String],
    /// The base model a LoRA adapter is merged into.
    pub base: Option<&'a crate::inference::model::Base>,
    pub input: &'a JobInput,
    pub account_id: Option<i64>,
    pub client_ip: &'a str,
    pub max_attempts: i32,
}

/// Queues a job inside the caller's transaction and wakes waiting claims.
pub async fn enqueue(conn: &mut PgConnection, job: NewJob<'_>) -> Result<Uuid> {
    enqueue_as(conn, Uuid::new_v4(), job).await
}

/// [`enqueue`] under an id chosen beforehand (a fine-tune's files are
/// stored under its run's id before the run is queued).
pub async fn enqueue_as(conn: &mut PgConnection, id: Uuid, job: NewJob<'_>) -> Result<Uuid> {
    sqlx::query(
        "INSERT INTO inference_jobs (id, task, repo_id, repo_name, revision, architecture,
             memory_bytes, input, account_id, client_ip, max_attempts, gguf_files,
             base_repo_id, base_repo_name, base_revision)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(id)
    .bind(task_str(job.task))
    .bind(job.repo_id)
    .bind(job.repo_name)
    .bind(job.revision)
    .bind(job.architecture)
    .bind(job.memory_bytes)
    .bind(serde_json::to_string(job.input).map_err(anyhow::Error::from)?)
    .bind(job.account_id)
    .bind(job.client_ip)
    .bind(job.max_attempts.max(1))
    .bind((!job.gguf_files.is_empty()).then_some(job.gguf_files))
    .bind(job.base.map(|b| b.repo_id))
    .bind(job.base.map(|b| &b.repo_name))
    .bind(job.base.map(|b| &b.revision))
    .execute(&mut *conn)
    .await?;
    notify_queued(conn).await?;
    Ok(id)
}

async fn notify_queued(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(JOBS_QUEUED)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn notify_job(conn: &mut PgConnection, job: Uuid) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(JOB_CHANGED)
        .bind(job.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Handles a claim: a job this session can run, waiting up to the request's
/// `wait_ms` (capped) for one to be queued. `None`: nothing came.
pub async fn claim(hub: &Hub, worker: WorkerId, request: &ClaimRequest) -> Result<Option<Job>> {
    super::workers::require_session(&hub.db, worker, request.session).await?;
    let settings = &hub.inference.jobs;
    let wait = Duration::from_millis(request.wait_ms).min(settings.max_claim_wait);
    let deadline = Instant::now() + wait;
    loop {
        // Subscribe first: a job queued after the attempt below still wakes us.
        let mut wakeups = hub.wake.subscribe();
        if let Some(job) = try_claim(hub, request.session).await? {
            return Ok(Some(job));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || hub.wake.is_shutting_down() {
            return Ok(None);
        }
        // A lease may run out while nobody queues anything: look again now and then.
        wake::wait_for(&mut wakeups, left.min(Duration::from_secs(2)), |w| {
            w == Wake::JobsQueued
        })
        .await;
        expire_leases(&hub.db).await?;
    }
}

/// One attempt at claiming, in one statement: the oldest queued job this
/// session can run, models it has loaded first; `SKIP LOCKED` lets
/// concurrent claims pass each other instead of queueing on a row.
async fn try_claim(hub: &Hub, session: Uuid) -> Result<Option<Job>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        attempt: i32,
        task: String,
        repo_id: i64,
        repo_name: String,
        revision: String,
        architecture: String,
        input: String,
        gguf_files: Option<Vec<String>>,
        base_repo_id: Option<i64>,
        base_repo_name: Option<String>,
        base_revision: Option<String>,
    }
    let lease = hub.inference.jobs.lease;
    let row: Option<Row> = sqlx::query_as(
        "WITH me AS (
             SELECT s.id, s.architectures, s.tasks, s.memory_bytes, s.max_concurrent,
                    coalesce((SELECT array_agg((m ->> 'repo_id') || '@' || (m ->> 'revision'))
                              FROM jsonb_array_elements(s.loaded_models) m), '{}') AS loaded
             FROM worker_sessions s WHERE s.id = $1 AND s.state = 'active'
         ), candidate AS (
             SELECT j.id FROM inference_jobs j, me
             WHERE j.state = 'queued' AND j.task = ANY(me.tasks)
               AND j.architecture = ANY(me.architectures) AND j.memory_bytes <= me.memory_bytes
               AND (SELECT count(*) FROM inference_jobs r WHERE r.leased_to = me.id AND r.state = 'running')
                   < me.max_concurrent
             ORDER BY (j.repo_name || '@' || j.revision) = ANY(me.loaded) DESC, j.created_at
             LIMIT 1
             FOR UPDATE OF j SKIP LOCKED
         )
         UPDATE inference_jobs j SET state = 'running', attempt = j.attempt + 1, leased_to = $1,
             lease_expires_at = now() + make_interval(secs => $2),
             started_at = coalesce(j.started_at, now())
         FROM candidate WHERE j.id = candidate.id
         RETURNING j.id, j.attempt, j.task, j.repo_id, j.repo_name, j.revision, j.architecture,
                   j.input, j.gguf_files, j.base_repo_id, j.base_repo_name, j.base_revision",
    )
    .bind(session)
    .bind(lease.as_secs_f64())
    .fetch_optional(&hub.db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut conn = hub.db.acquire().await?;
    notify_job(&mut conn, row.id).await?;
    let task = parse_task(&row.task)
        .ok_or_else(|| anyhow::anyhow!("job {} has an unknown task {}", row.id, row.task))?;
    let mut input: JobInput = serde_json::from_str(&row.input).map_err(anyhow::Error::from)?;
    crate::spaces::runtime::fill_claim(hub, row.repo_id, &mut input).await?;
    crate::finetune::training::fill_claim(hub, row.id, &mut input).await?;
    let base = match (row.base_repo_id, row.base_repo_name, row.base_revision) {
        (Some(id), Some(name), Some(revision)) => Some(Box::new(ModelRef {
            download_token: download::issue(hub, row.id, id),
            repo_id: name,
            revision,
            architecture: row.architecture.clone(),
            gguf_files: Vec::new(),
            base: None,
        })),
        _ => None,
    };
    Ok(Some(Job {
        id: row.id,
        attempt: row.attempt as u32,
        lease_ms: lease.as_millis() as u64,
        model: ModelRef {
            download_token: download::issue(hub, row.id, row.repo_id),
            repo_id: row.repo_name,
            revision: row.revision,
            architecture: row.architecture,
            gguf_files: row.gguf_files.unwrap_or_default(),
            base,
        },
        task,
        input,
    }))
}

/// Renews the leases of `running` that this session still holds; returns
/// the others (cancelled, or no longer its own), which the worker must stop.
pub async fn renew_leases(
    db: &PgPool,
    settings: &super::Settings,
    session: Uuid,
    running: &[Uuid],
) -> Result<Vec<Uuid>> {
    if running.is_empty() {
        return Ok(Vec::new());
    }
    let renewed: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE inference_jobs SET lease_expires_at = now() + make_interval(secs => $3)
         WHERE id = ANY($1) AND leased_to = $2 AND state = 'running' RETURNING id",
    )
    .bind(running)
    .bind(session)
    .bind(settings.lease.as_secs_f64())
    .fetch_all(db)
    .await?;
    Ok(running
        .iter()
        .filter(|id| !renewed.contains(id))
        .copied()
        .collect())
}

/// Puts the running jobs of ended sessions back in the queue (or in the
/// dead letter when they have had all their attempts).
pub async fn release_sessions(
    tx: &mut Transaction<'_, Postgres>,
    sessions: &[Uuid],
    reason: &str,
) -> Result<()> {
    if sessions.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM inference_jobs WHERE leased_to = ANY($1) AND state = 'running' FOR UPDATE",
    )
    .bind(sessions)
    .fetch_all(&mut **tx)
    .await?;
    requeue(tx, &ids, reason).await
}

/// Requeues `ids` (running jobs, locked by the caller) or dead-letters those
/// out of attempts, with `reason` as their last error.
pub(crate) async fn requeue(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[Uuid],
    reason: &str,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let states: Vec<(Uuid, String)> = sqlx::query_as(
        "UPDATE inference_jobs SET
             state = CASE WHEN attempt >= max_attempts THEN 'dead' ELSE 'queued' END,
             finished_at = CASE WHEN attempt >= max_attempts THEN now() END,
             leased_to = NULL, lease_expires_at = NULL, last_error = $2
         WHERE id = ANY($1) AND state = 'running' RETURNING id, state",
    )
    .bind(ids)
    .bind(reason)
    .fetch_all(&mut **tx)
    .await?;
    crate::spaces::runtime::on_requeue(tx, &states, reason).await?;
    crate::finetune::training::on_requeue(tx, &states, reason).await?;
    for (id, new_state) in &states {
        if new_state == state::DEAD {
            tracing::warn!(job = %id, reason, "job dead-lettered");
        }
        notify_job(tx, *id).await?;
    }
    if states.iter().any(|(_, s)| s == state::QUEUED) {
        notify_queued(tx).await?;
    }
    Ok(())
}

/// Takes back the jobs whose lease ran out (their worker died or hangs).
/// Any node may run it at any time; `SKIP LOCKED` keeps two from fighting.
pub async fn expire_leases(db: &PgPool) -> Result<()> {
    let mut tx = db.begin().await?;
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM inference_jobs WHERE state = 'running' AND lease_expires_at < now()
         FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    if ids.is_empty() {
        return Ok(());
    }
    requeue(
        &mut tx,
        &ids,
        "the worker stopped reporting before the job finished",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Cancels a job that has not ended (the client went away). The worker
/// learns it from its next heartbeat or events answer.
pub async fn cancel(db: &PgPool, job: Uuid) -> Result<bool> {
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "UPDATE inference_jobs SET state = 'cancelled', finished_at = now(), lease_expires_at = NULL
         WHERE id = $1 AND state IN ('queued', 'running')",
    )
    .bind(job)
    .execute(&mut *tx)
    .await?;
    let cancelled = done.rows_affected() > 0;
    if cancelled {
        notify_job(&mut tx, job).await?;
    }
    tx.commit().await?;
    Ok(cancelled)
}

/// Cancels a job only while it still waits in the queue (its wait ran out).
pub async fn cancel_if_queued(db: &PgPool, job: Uuid) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE inference_jobs SET state = 'cancelled', finished_at = now(), last_error = 'queue wait exceeded'
         WHERE id = $1 AND state = 'queued'",
    )
    .bind(job)
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The job's state, for a worker's events request: `(attempt, state, worker)`.
pub(crate) async fn lock_for_events(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
) -> Result<(i32, String, Option<WorkerId>)> {
    let row: Option<(i32, String, Option<i64>)> = sqlx::query_as(
        "SELECT j.attempt, j.state, s.worker_id FROM inference_jobs j
         LEFT JOIN worker_sessions s ON s.id = j.leased_to AND s.state = 'active'
         WHERE j.id = $1 FOR UPDATE OF j",
    )
    .bind(job)
    .fetch_optional(&mut **tx)
    .await?;
    let (attempt, state, worker) = row.ok_or_else(|| Error::not_found("no such job"))?;
    Ok((attempt, state, worker.map(WorkerId)))
}
