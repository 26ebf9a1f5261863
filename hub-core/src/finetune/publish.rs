//! The end of a fine-tune: the adapter the run uploaded becomes a new
//! private model repo of the job's owner (`{base-name}-{suffix}`, made
//! unique), with the base's tokenizer files, a generated bilingual card and
//! its loss curve, committed through the one commit path as the user who
//! created the job; then the charge is settled at the tokens trained.
//!
//! Publishing runs after the transaction that stored the run's last event
//! (a commit is no work for a transaction), and again from the sweep for
//! any run that finished while no hub was there to publish it: it is
//! idempotent, keyed by the job.

use std::sync::Arc;

use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::artifacts::{self, Area};
use super::card::{self, CardInfo};
use crate::accounts::{Actor, Credential, Principal};
use crate::billing::ledger;
use crate::billing::metering::device_class;
use crate::billing::{Credits, money, rates};
use crate::commits::{self, NewCommit};
use crate::error::{Error, Result};
use crate::git::commit::{FileSource, Operation};
use crate::hub::Hub;
use crate::jobs::protocol::TrainHyperparameters;
use crate::repos::access::{self, level::Write};
use crate::repos::{RepoType, content, manage};
use crate::uploads::staging::Staging;

/// Publishes every run that trained to the end and is not published yet
/// (the sweep's share; normally [`publish`] ran at once).
pub async fn sweep(hub: &Arc<Hub>) -> Result<()> {
    let runs: Vec<Uuid> = sqlx::query_scalar(
        "SELECT q.id FROM finetune_jobs j JOIN inference_jobs q ON q.id = j.queue_job
         WHERE j.status = 'running' AND q.state = 'succeeded'
         ORDER BY q.finished_at LIMIT 20",
    )
    .fetch_all(&hub.db)
    .await?;
    for run in runs {
        if let Err(e) = publish(hub, run).await {
            tracing::warn!(%run, error = %e, "publishing a fine-tune failed");
        }
    }
    Ok(())
}

/// Starts publishing run `run` beside the caller (a worker's last event).
pub fn spawn(hub: &Hub, run: Uuid) {
    if let Some(hub) = hub.shared() {
        tokio::spawn(async move {
            if let Err(e) = publish(&hub, run).await {
                tracing::warn!(%run, error = %e, "publishing a fine-tune failed; the sweep retries");
            }
        });
    }
}

#[derive(sqlx::FromRow)]
struct ToPublish {
    id: String,
    owner: String,
    model: String,
    suffix: Option<String>,
    hyperparameters: serde_json::Value,
    max_length: i32,
    training_file: String,
    validation_file: Option<String>,
    trained_tokens: Option<i64>,
    fine_tuned_model: Option<String>,
    created_by: Option<i64>,
}

/// Publishes the adapter of run `run`, once.
pub async fn publish(hub: &Arc<Hub>, run: Uuid) -> Result<()> {
    let job: Option<ToPublish> = sqlx::query_as(
        "SELECT j.id, n.name AS owner, j.model, j.suffix, j.hyperparameters, j.max_length,
                j.training_file,
                j.validation_file, j.trained_tokens, j.fine_tuned_model, j.created_by
         FROM finetune_jobs j JOIN namespaces n ON n.id = j.namespace_id
         JOIN inference_jobs q ON q.id = j.queue_job
         WHERE j.queue_job = $1 AND j.status = 'running' AND q.state = 'succeeded'",
    )
    .bind(run)
    .fetch_optional(&hub.db)
    .await?;
    let Some(job) = job else {
        return Ok(());
    };
    let job_id = job.id.clone();
    // Two nodes (or a node and its sweep) may both try: a session lock on
    // the job lets one publish; the other finds it taken, or done. Held on
    // its own connection, which the database releases if this process dies.
    let mut guard = hub.db.acquire().await?;
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(&job.id)
        .fetch_one(&mut *guard)
        .await?;
    if !taken {
        return Ok(());
    }
    let published = publish_locked(hub, run, job).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(&job_id)
        .execute(&mut *guard)
        .await;
    if unlocked.is_err() {
        // Never hand a connection holding the lock back to the pool.
        drop(guard.detach());
    }
    published
}

async fn publish_locked(hub: &Arc<Hub>, run: Uuid, job: ToPublish) -> Result<()> {
    let still_running: Option<String> =
        sqlx::query_scalar("SELECT id FROM finetune_jobs WHERE id = $1 AND status = 'running'")
            .bind(&job.id)
            .fetch_optional(&hub.db)
            .await?;
    if still_running.is_none() {
        return Ok(());
    }
    let user = match job.created_by {
        Some(id) => crate::accounts::users::find_by_id(&hub.db, id).await?,
        None => None,
    }
    .ok_or_else(|| Error::conflict("the job's creator no longer exists"))?;
    let actor = Actor::User(Principal {
        user,
        credential: Credential::Internal,
    });
    let repo_name = match &job.fine_tuned_model {
        Some(name) => name.clone(),
        None => {
            let name = create_repo(hub, &actor, &job).await?;
            // Remembered before the commit: a retry commits to the same repo.
            sqlx::query("UPDATE finetune_jobs SET fine_tuned_model = $2 WHERE id = $1")
                .bind(&job.id)
                .bind(&name)
                .execute(&hub.db)
                .await?;
            name
        }
    };
    commit_adapter(hub, &actor, &job, run, &repo_name).await?;
    let mut tx = hub.db.begin().await?;
    let done = sqlx::query(
        "UPDATE finetune_jobs SET status = 'succeeded', finished_at = now(), estimated_finish = NULL
         WHERE id = $1 AND status = 'running'",
    )
    .bind(&job.id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(());
    }
    super::training::message(
        &mut tx,
        &job.id,
        "info",
        &format!("The job has successfully completed: {repo_name}"),
    )
    .await?;
    settle(&mut tx, &job.id).await?;
    tx.commit().await?;
    Ok(())
}

/// A new private model repo in the owner's namespace, named after the
/// base and the suffix, with `-2`, `-3`… when the name is taken.
async fn create_repo(hub: &Hub, actor: &Actor, job: &ToPublish) -> Result<String> {
    let base_name = job.model.rsplit('/').next().unwrap_or(&job.model);
    let suffix = job
        .suffix
        .clone()
        .unwrap_or_else(|| format!("ft-{}", &job.id["ftjob-".len().."ftjob-".len() + 8]));
    let stem: String = format!("{base_name}-{suffix}").chars().take(90).collect();
    for n in 1..=100 {
        let name = match n {
            1 => stem.clone(),
            n => format!("{stem}-{n}"),
        };
        match manage::create(hub, actor, RepoType::Model, &job.owner, &name, true, None).await {
            Ok(repo) => return Ok(repo.full_name()),
            Err(Error::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::conflict("no free name for the fine-tuned model"))
}

async fn commit_adapter(
    hub: &Hub,
    actor: &Actor,
    job: &ToPublish,
    run: Uuid,
    repo_name: &str,
) -> Result<()> {
    let (ns, name) = repo_name
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("a repo name without namespace: {repo_name}"))?;
    let repo = access::authorize::<Write>(hub, actor, RepoType::Model, ns, name).await?;
    let tip = content::branch_tip(hub, &repo, &repo.default_branch).await?;
    let staging = Staging::new(hub, &repo, &tip).await?;
    let mut operations = Vec::new();
    let produced: Vec<String> = sqlx::query_scalar(
        "SELECT e.body::jsonb -> 'files' FROM inference_job_events e
         WHERE e.job_id = $1 AND e.body::jsonb ->> 'type' = 'trained'
         ORDER BY e.attempt DESC LIMIT 1",
    )
    .bind(run)
    .fetch_optional(&hub.db)
    .await?
    .and_then(|files: serde_json::Value| serde_json::from_value(files).ok())
    .unwrap_or_default();
    for file in &produced {
        artifacts::check_name(file)?;
        let size = artifacts::size(hub, run, Area::Output, file)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the run's output lacks {file}"))?;
        let stream = artifacts::open(hub, run, Area::Output, file).await?;
        let mut reader = tokio_util::io::StreamReader::new(stream);
        operations.push(staging.file(file, size, &mut reader).await?);
    }
    if !produced.iter().any(|f| f == "adapter_model.safetensors") {
        return Err(Error::conflict(
            "the run uploaded no adapter_model.safetensors",
        ));
    }
    // The trainer wrote the base's tokenizer files beside the adapter, so
    // that the repo loads on its own (`AutoTokenizer.from_pretrained`).
    let license = base_license(hub, actor, &job.model).await?;
    let (train, valid) = loss_points(hub, &job.id).await?;
    let hyperparameters: TrainHyperparameters =
        serde_json::from_value(job.hyperparameters.clone()).map_err(anyhow::Error::from)?;
    let datasets = [Some(&job.training_file), job.validation_file.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|f| f.strip_prefix("datasets/"))
        .filter_map(|f| {
            let mut parts = f.splitn(3, '/');
            Some(format!("{}/{}", parts.next()?, parts.next()?))
        })
        .collect();
    let info = CardInfo {
        base_model: job.model.clone(),
        license,
        datasets,
        hyperparameters,
        train_loss: train.last().map(|p| p.1),
        valid_loss: valid.last().map(|p| p.1),
        max_length: job.max_length.max(0) as u32,
        hub_url: hub
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
        trained_tokens: job.trained_tokens.unwrap_or(0).max(0) as u64,
        job_id: job.id.clone(),
        repo_id: repo_name.to_owned(),
        merged: false,
        train_points: train.clone(),
        valid_points: valid.clone(),
    };
    operations.push(Operation::Put {
        path: "README.md".into(),
        source: FileSource::Bytes(card::model_card(&info).into_bytes()),
    });
    operations.push(Operation::Put {
        path: "loss_curve.svg".into(),
        source: FileSource::Bytes(card::loss_curve_svg(&train, &valid, 640, 320).into_bytes()),
    });
    let writer = repo.to_level::<Write>()?;
    commits::commit(
        hub,
        &writer,
        NewCommit {
            branch: None,
            summary: format!("LoRA adapter of {} (fine-tuning job {})", job.model, job.id),
            description: String::new(),
            operations,
            expected_parent: None,
        },
    )
    .await?;
    Ok(())
}

/// The base model's license, as its card gives it, when the creator can
/// still read the base.
async fn base_license(hub: &Hub, actor: &Actor, model: &str) -> Result<Option<String>> {
    let Some((ns, name)) = model.split_once('/') else {
        return Ok(None);
    };
    match access::authorize::<access::level::Read>(hub, actor, RepoType::Model, ns, name).await {
        Ok(repo) => Ok(repo.card_license.clone()),
        Err(Error::RepoNotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

type Points = Vec<(u64, f64)>;

/// The training and validation losses reported, by step.
pub async fn loss_points(hub: &Hub, job: &str) -> Result<(Points, Points)> {
    let rows: Vec<(i64, Option<f64>, Option<f64>)> = sqlx::query_as(
        "SELECT (data ->> 'step')::BIGINT, (data ->> 'train_loss')::FLOAT8,
                (data ->> 'valid_loss')::FLOAT8
         FROM finetune_events WHERE job_id = $1 AND type = 'metrics' ORDER BY id",
    )
    .bind(job)
    .fetch_all(&hub.db)
    .await?;
    let mut train = Vec::new();
    let mut valid = Vec::new();
    for (step, t, v) in rows {
        if let Some(t) = t {
            train.push((step as u64, t));
        }
        if let Some(v) = v {
            valid.push((step as u64, v));
        }
    }
    Ok((train, valid))
}

/// Charges job `job` for the tokens it trained, at the price (per thousand
/// tokens) of the class of the device that ran it, in force when it
/// started; never more than held; the rest of the hold is released. Also
/// writes the run's usage record. Runs once per job (the charge's id is
/// the job's).
pub(crate) async fn settle(tx: &mut Transaction<'_, Postgres>, job: &str) -> Result<()> {
    #[derive(sqlx::FromRow)]
    struct Row {
        hold_id: Option<String>,
        namespace_id: i64,
        created_by: Option<i64>,
        trained_tokens: Option<i64>,
        run: Option<Uuid>,
        base_repo_id: Option<i64>,
        base_revision: String,
        started: chrono::DateTime<chrono::Utc>,
        worker_id: Option<i64>,
        device_kind: Option<String>,
        memory_bytes: Option<i64>,
        device_ms: Option<i64>,
    }
    let row: Row = sqlx::query_as(
        "SELECT j.hold_id, j.namespace_id, j.created_by, j.trained_tokens, j.queue_job AS run,
                j.base_repo_id, j.base_revision, coalesce(j.started_at, j.created_at) AS started,
                s.worker_id, s.device_kind, s.memory_bytes,
                (extract(epoch FROM coalesce(q.finished_at, now()) - q.started_at) * 1000)::BIGINT
                    AS device_ms
         FROM finetune_jobs j LEFT JOIN inference_jobs q ON q.id = j.queue_job
         LEFT JOIN worker_sessions s ON s.id = q.leased_to
         WHERE j.id = $1",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?;
    let tokens = row.trained_tokens.unwrap_or(0).max(0);
    let class = match (&row.device_kind, row.memory_bytes) {
        (Some(kind), Some(memory)) => device_class(kind, memory),
        _ => "cpu",
    };
    let rate = rates::in_force(tx, class, row.started).await?;
    let mut cost = rate
        .as_ref()
        .and_then(|r| money::charge(tokens, r.per_thousand_tokens.0, 1000))
        .unwrap_or(Credits::ZERO);
    let charge_id = format!("finetune/{job}/charge");
    let mut transfer = None;
    if let Some(hold_id) = &row.hold_id {
        let held: i64 = sqlx::query_scalar("SELECT amount FROM ledger_transfers WHERE id = $1")
            .bind(hold_id)
            .fetch_one(&mut **tx)
            .await?;
        cost = cost.min(Credits(held));
        match ledger::post(tx, &charge_id, hold_id, cost).await {
            Ok(_) => transfer = Some(charge_id.clone()),
            // The hold ran out first: released, and the job goes unpaid.
            Err(Error::Conflict(m)) => {
                tracing::warn!(job, "fine-tune not charged: {m}");
                cost = Credits::ZERO;
            }
            Err(e) => return Err(e),
        }
    } else {
        cost = Credits::ZERO;
    }
    sqlx::query("UPDATE finetune_jobs SET charge = $2 WHERE id = $1")
        .bind(job)
        .bind(cost.0)
        .execute(&mut **tx)
        .await?;
    if let Some(run) = row.run {
        sqlx::query(
            "INSERT INTO usage_records (kind, account_id, job_id, repo_id, revision, trained_tokens,
                 worker_id, device_ms, namespace_id, device_class, rate_id, cost, transfer_id)
             VALUES ('finetune', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (kind, job_id) DO NOTHING",
        )
        .bind(row.created_by)
        .bind(run)
        .bind(row.base_repo_id)
        .bind(&row.base_revision)
        .bind(tokens)
        .bind(row.worker_id)
        .bind(row.device_ms.unwrap_or(0).max(0))
        .bind(row.namespace_id)
        .bind(class)
        .bind(rate.map(|r| r.id))
        .bind(cost.0)
        .bind(transfer)
        .execute(&mut **tx)
        .await?;
    }
    let note = format!("Charged {cost} for {tokens} trained tokens");
    super::training::message(tx, job, "info", &note).await
}

/// Releases job `job`'s hold in full (the job failed: nothing is charged).
pub(crate) async fn void(conn: &mut PgConnection, job: &str) -> Result<()> {
    let hold: Option<Option<String>> =
        sqlx::query_scalar("SELECT hold_id FROM finetune_jobs WHERE id = $1")
            .bind(job)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(Some(hold_id)) = hold {
        match ledger::void(conn, &format!("finetune/{job}/void"), &hold_id).await {
            Ok(_) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    sqlx::query("UPDATE finetune_jobs SET charge = 0 WHERE id = $1")
        .bind(job)
        .execute(conn)
        .await?;
    Ok(())
}
