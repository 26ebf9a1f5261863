//! Workers: their tokens (a worker token only lets a worker speak the
//! protocol), their sessions (one per run: capabilities, loaded models,
//! heartbeats), and what the admin page shows of them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::protocol::{self, Heartbeat, HeartbeatResponse, RegisterRequest, RegisterResponse};
use super::{Settings, queue, task_str};
use crate::error::{Error, Result};
use crate::secret::{random_token, sha256};

/// Worker tokens start with this, so they are never mistaken for API tokens.
pub const WORKER_TOKEN_PREFIX: &str = "kyw_";

/// A worker, as its token authenticates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerId(pub i64);

/// Creates a worker and its token; returns the token in clear, the only time it is seen.
pub async fn create_token(db: &PgPool, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "a worker needs a name of 1 to 100 characters",
        ));
    }
    let secret = format!("{WORKER_TOKEN_PREFIX}{}", random_token(30));
    sqlx::query("INSERT INTO workers (name, token_hash, prefix) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(sha256(secret.as_bytes()))
        .bind(&secret[..WORKER_TOKEN_PREFIX.len() + 4])
        .execute(db)
        .await?;
    Ok(secret)
}

/// The worker a token stands for; `InvalidCredentials` otherwise.
pub async fn authenticate(db: &PgPool, secret: &str) -> Result<WorkerId> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM workers WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(sha256(secret.trim().as_bytes()))
            .fetch_optional(db)
            .await?;
    id.map(WorkerId).ok_or(Error::InvalidCredentials)
}

/// Starts a new session of `worker`. Jobs leased to its earlier sessions are
/// released at once: the worker restarted and will not finish them.
pub async fn register(
    db: &PgPool,
    settings: &Settings,
    worker: WorkerId,
    request: &RegisterRequest,
) -> Result<RegisterResponse> {
    let caps = &request.capabilities;
    // A runner that cannot sandbox runs nothing, but registers all the
    // same, so that the admin page says why (`spaces: unavailable`).
    let says_why = caps.spaces.as_ref().is_some_and(|s| !s.available);
    if (caps.architectures.is_empty() || caps.tasks.is_empty()) && !says_why {
        return Err(Error::invalid(
            "capabilities must name at least one architecture and one task",
        ));
    }
    let session = Uuid::new_v4();
    let mut tx = db.begin().await?;
    let old: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE worker_sessions SET state = 'replaced', ended_at = now()
         WHERE worker_id = $1 AND state = 'active' RETURNING id",
    )
    .bind(worker.0)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO worker_sessions (id, worker_id, capabilities, device_kind, memory_bytes,
             architectures, tasks, max_concurrent, loaded_models)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(session)
    .bind(worker.0)
    .bind(serde_json::to_value(caps).map_err(anyhow::Error::from)?)
    .bind(match caps.device.kind {
        protocol::DeviceKind::Cpu => "cpu",
        protocol::DeviceKind::Cuda => "cuda",
    })
    .bind(i64::try_from(caps.device.memory_bytes).unwrap_or(i64::MAX))
    .bind(
        caps.architectures
            .iter()
            .map(|a| crate::inference::model::normalise_model_type(a))
            .collect::<Vec<_>>(),
    )
    .bind(caps.tasks.iter().map(|t| task_str(*t)).collect::<Vec<_>>())
    .bind(caps.max_concurrent_jobs.clamp(1, 1024) as i32)
    .bind(serde_json::to_value(&request.loaded_models).map_err(anyhow::Error::from)?)
    .execute(&mut *tx)
    .await?;
    queue::release_sessions(&mut tx, &old, "the worker restarted").await?;
    tx.commit().await?;
    Ok(RegisterResponse {
        worker_id: worker_uuid(worker),
        session,
        heartbeat_interval_ms: settings.heartbeat_interval.as_millis() as u64,
        max_claim_wait_ms: settings.max_claim_wait.as_millis() as u64,
    })
}

/// A stable UUID for a worker's numeric id (the protocol names workers by UUID).
fn worker_uuid(worker: WorkerId) -> Uuid {
    Uuid::from_u64_pair(0x6b79_776f_726b_6572, worker.0 as u64)
}

/// Records a heartbeat: renews the leases of the jobs the worker runs and
/// tells it which of them to stop.
pub async fn heartbeat(
    db: &PgPool,
    settings: &Settings,
    worker: WorkerId,
    beat: &Heartbeat,
) -> Result<HeartbeatResponse> {
    let known: Option<Uuid> = sqlx::query_scalar(
        "UPDATE worker_sessions SET last_heartbeat = now(), loaded_models = $3, memory_used_bytes = $4
         WHERE id = $1 AND worker_id = $2 AND state = 'active' RETURNING id",
    )
    .bind(beat.session)
    .bind(worker.0)
    .bind(serde_json::to_value(&beat.loaded_models).map_err(anyhow::Error::from)?)
    .bind(i64::try_from(beat.memory_used_bytes).unwrap_or(i64::MAX))
    .fetch_optional(db)
    .await?;
    if known.is_none() {
        return Ok(HeartbeatResponse {
            cancel: beat.running.clone(),
            reregister: true,
        });
    }
    let cancel = queue::renew_leases(db, settings, beat.session, &beat.running).await?;
    Ok(HeartbeatResponse {
        cancel,
        reregister: false,
    })
}

/// The active session of `worker` named `session`, or `InvalidInput` telling
/// the worker to register again.
pub async fn require_session(db: &PgPool, worker: WorkerId, session: Uuid) -> Result<()> {
    let ok: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM worker_sessions WHERE id = $1 AND worker_id = $2 AND state = 'active')",
    )
    .bind(session)
    .bind(worker.0)
    .fetch_one(db)
    .await?;
    if ok {
        Ok(())
    } else {
        Err(Error::conflict(
            "unknown or replaced session: register again",
        ))
    }
}

/// What the admin page shows of a worker.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct WorkerStatus {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub session: Option<Uuid>,
    pub device: Option<String>,
    pub version: Option<String>,
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// `online`, `lost` (no heartbeat within the lease) or `offline` (never registered, or replaced).
    pub state: String,
    pub loaded_models: Vec<String>,
    pub current_jobs: Vec<String>,
    /// Whether it runs Spaces: `available: …` or `unavailable: why`
    /// (None: it does not try).
    pub spaces: Option<String>,
}

/// Every worker with its latest session.
pub async fn list(db: &PgPool, settings: &Settings) -> Result<Vec<WorkerStatus>> {
    Ok(sqlx::query_as(
        "SELECT w.id, w.name, w.created_at, s.id AS session,
                s.capabilities #>> '{device,name}' AS device,
                s.capabilities ->> 'version' AS version,
                s.last_heartbeat,
                CASE WHEN s.id IS NULL THEN 'offline'
                     WHEN s.last_heartbeat > now() - make_interval(secs => $1) THEN 'online'
                     ELSE 'lost' END AS state,
                coalesce((SELECT array_agg((m ->> 'repo_id') || '@' || left(m ->> 'revision', 12))
                          FROM jsonb_array_elements(s.loaded_models) m), '{}') AS loaded_models,
                coalesce((SELECT array_agg(j.repo_name || ' (' || j.task || ', ' || j.id || ')' ORDER BY j.started_at)
                          FROM inference_jobs j WHERE j.leased_to = s.id AND j.state = 'running'), '{}')
                    AS current_jobs,
                CASE WHEN s.capabilities ? 'spaces' THEN
                    CASE WHEN (s.capabilities #>> '{spaces,available}')::boolean THEN 'available: '
                         ELSE 'unavailable: ' END || (s.capabilities #>> '{spaces,detail}')
                END AS spaces
         FROM workers w
         LEFT JOIN LATERAL (SELECT * FROM worker_sessions s WHERE s.worker_id = w.id AND s.state = 'active'
                            ORDER BY started_at DESC LIMIT 1) s ON true
         WHERE w.revoked_at IS NULL
         ORDER BY w.name, w.id",
    )
    .bind(settings.session_timeout().as_secs_f64())
    .fetch_all(db)
    .await?)
}

/// The condition "session `s` is alive and can run a job needing
/// `$arch`, `$task` and `$memory`", shared by the 503 check and `/v1/models`.
pub(crate) const LIVE_SESSION: &str =
    "s.state = 'active' AND s.last_heartbeat > now() - make_interval(secs => $1)";

/// Whether some live worker can run this architecture and task within its memory.
pub async fn can_serve(
    db: &PgPool,
    settings: &Settings,
    architecture: &str,
    task: protocol::Task,
    memory_bytes: i64,
) -> Result<bool> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM worker_sessions s WHERE {LIVE_SESSION}
             AND $2 = ANY(s.architectures) AND $3 = ANY(s.tasks) AND s.memory_bytes >= $4)"
    ));
    Ok(sqlx::query_scalar(sql)
        .bind(settings.session_timeout().as_secs_f64())
        .bind(architecture)
        .bind(task_str(task))
        .bind(memory_bytes)
        .fetch_one(db)
        .await?)
}
