//! What a training run's worker events mean for its fine-tuning job, inside
//! the transaction that stores them: progress becomes metrics events (and
//! the job `running`), checkpoints are recorded for resumption, the
//! trainer's output becomes message events; the end of the run hands over
//! to [`super::publish`]. A claimed run gets its last checkpoint.

use serde_json::json;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::error::Result;
use crate::hub::Hub;
use crate::jobs::protocol::{CheckpointRef, Event, EventBody, JobInput, LogStream, TrainUsage};

/// Adds a message event to job `job`.
pub(crate) async fn message(
    conn: &mut PgConnection,
    job: &str,
    level: &str,
    text: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO finetune_events (job_id, level, type, message) VALUES ($1, $2, 'message', $3)",
    )
    .bind(job)
    .bind(level)
    .bind(text)
    .execute(conn)
    .await?;
    Ok(())
}

/// The fine-tuning job that run `run` trains, while it has not ended.
async fn job_of(conn: &mut PgConnection, run: Uuid) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM finetune_jobs WHERE queue_job = $1
         AND status IN ('validating_files', 'queued', 'running')",
    )
    .bind(run)
    .fetch_optional(conn)
    .await?)
}

/// Records newly stored events of run `run` (each event once: the caller
/// passes only those it had not stored before).
pub(crate) async fn on_events(
    tx: &mut Transaction<'_, Postgres>,
    run: Uuid,
    events: &[&Event],
) -> Result<()> {
    let relevant = events.iter().any(|e| {
        matches!(
            e.body,
            EventBody::TrainProgress(_)
                | EventBody::Checkpoint { .. }
                | EventBody::Log {
                    stream: LogStream::Train,
                    ..
                }
        )
    });
    if !relevant {
        return Ok(());
    }
    let Some(job) = job_of(tx, run).await? else {
        return Ok(());
    };
    for event in events {
        match &event.body {
            EventBody::TrainProgress(p) => {
                let text = match p.train_loss {
                    Some(loss) => format!(
                        "Step {}/{}: training loss={loss:.4}{}",
                        p.step,
                        p.total_steps,
                        p.valid_loss
                            .map(|v| format!(", validation loss={v:.4}"))
                            .unwrap_or_default()
                    ),
                    None => format!("Step {}/{}", p.step, p.total_steps),
                };
                sqlx::query(
                    "INSERT INTO finetune_events (job_id, level, type, message, data)
                     VALUES ($1, 'info', 'metrics', $2, $3)",
                )
                .bind(&job)
                .bind(&text)
                .bind(serde_json::to_value(p).map_err(anyhow::Error::from)?)
                .execute(&mut **tx)
                .await?;
                // The finish is estimated from the pace so far.
                sqlx::query(
                    "UPDATE finetune_jobs SET status = 'running',
                         started_at = coalesce(started_at, now()),
                         trained_tokens = greatest(coalesce(trained_tokens, 0), $2),
                         estimated_finish = CASE WHEN $3 > 0 AND $4 >= $3 THEN
                             now() + (now() - coalesce(started_at, now())) * (($4 - $3)::FLOAT8 / $3)
                         END
                     WHERE id = $1",
                )
                .bind(&job)
                .bind(p.trained_tokens as i64)
                .bind(p.step as i64)
                .bind(p.total_steps as i64)
                .execute(&mut **tx)
                .await?;
            }
            EventBody::Checkpoint {
                step,
                files,
                train_loss,
                valid_loss,
            } => {
                sqlx::query(
                    "INSERT INTO finetune_checkpoints (id, job_id, step, files, metrics)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (job_id, step) DO UPDATE SET files = EXCLUDED.files,
                         metrics = EXCLUDED.metrics, created_at = now()",
                )
                .bind(super::new_id("ftckpt"))
                .bind(&job)
                .bind(*step as i64)
                .bind(files)
                .bind(json!({ "step": step, "train_loss": train_loss, "valid_loss": valid_loss }))
                .execute(&mut **tx)
                .await?;
                message(
                    tx,
                    &job,
                    "info",
                    &format!("Checkpoint saved at step {step}"),
                )
                .await?;
            }
            EventBody::Log {
                stream: LogStream::Train,
                line,
                ..
            } => {
                let level = if line.contains("Error") || line.contains("error:") {
                    "warn"
                } else {
                    "info"
                };
                message(tx, &job, level, line).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The run trained to the end and uploaded its adapter: the job waits for
/// publishing (done after this transaction, see [`super::publish`]).
pub(crate) async fn on_trained(
    tx: &mut Transaction<'_, Postgres>,
    run: Uuid,
    usage: &TrainUsage,
) -> Result<()> {
    let Some(job) = job_of(tx, run).await? else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE finetune_jobs SET status = 'running', started_at = coalesce(started_at, now()),
             trained_tokens = $2, estimated_finish = NULL
         WHERE id = $1",
    )
    .bind(&job)
    .bind(usage.trained_tokens as i64)
    .execute(&mut **tx)
    .await?;
    message(
        tx,
        &job,
        "info",
        &format!(
            "Training finished after {} steps ({} tokens); publishing the adapter",
            usage.steps, usage.trained_tokens
        ),
    )
    .await
}

/// The run failed for good (`message` says why): the job fails, its hold
/// is released (nobody pays for a failed job).
pub(crate) async fn on_failed(
    tx: &mut Transaction<'_, Postgres>,
    run: Uuid,
    message_text: &str,
) -> Result<()> {
    let Some(job) = job_of(tx, run).await? else {
        return Ok(());
    };
    sqlx::query(
        "UPDATE finetune_jobs SET status = 'failed', finished_at = now(), estimated_finish = NULL,
             error = $2
         WHERE id = $1",
    )
    .bind(&job)
    .bind(json!({ "code": "training_failed", "message": message_text, "param": null }))
    .execute(&mut **tx)
    .await?;
    message(
        tx,
        &job,
        "error",
        &format!("The job failed: {message_text}"),
    )
    .await?;
    super::publish::void(tx, &job).await
}

/// Runs put back in the queue (their worker was lost) or dead-lettered.
pub(crate) async fn on_requeue(
    tx: &mut Transaction<'_, Postgres>,
    runs: &[(Uuid, String)],
    reason: &str,
) -> Result<()> {
    for (run, state) in runs {
        if state == crate::jobs::state::DEAD {
            on_failed(tx, *run, reason).await?;
        } else if let Some(job) = job_of(tx, *run).await? {
            message(
                tx,
                &job,
                "warn",
                &format!("The run was interrupted ({reason}); it resumes from its last checkpoint"),
            )
            .await?;
        }
    }
    Ok(())
}

/// A claimed run resumes from the last checkpoint an earlier attempt uploaded.
pub(crate) async fn fill_claim(hub: &Hub, run: Uuid, input: &mut JobInput) -> Result<()> {
    let JobInput::FineTune(fine_tune) = input else {
        return Ok(());
    };
    let last: Option<(i64, Vec<String>)> = sqlx::query_as(
        "SELECT c.step, c.files FROM finetune_checkpoints c JOIN finetune_jobs j ON j.id = c.job_id
         WHERE j.queue_job = $1 ORDER BY c.step DESC LIMIT 1",
    )
    .bind(run)
    .fetch_optional(&hub.db)
    .await?;
    fine_tune.resume = last.map(|(step, files)| CheckpointRef {
        step: step as u64,
        files,
    });
    Ok(())
}
