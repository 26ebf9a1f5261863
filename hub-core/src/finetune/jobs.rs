//! Fine-tuning jobs in OpenAI's shape: created (the data validated and
//! converted, the cost estimated and held), listed, read, cancelled; their
//! events and checkpoints. States: `validating_files → queued → running →
//! succeeded | failed | cancelled`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::artifacts;
use super::base::{base_model, token_counter};
use super::dataset::Report;
use super::files::unix_seconds;
use super::hyperparameters::{self, BASE_LEARNING_RATE, Requested};
use super::intake::convert;
use crate::accounts::Actor;
use crate::billing::ledger::{self, SystemAccount, Transfer};
use crate::billing::{Credits, Payer, money, rates};
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::inference::model::Model;
use crate::jobs::protocol::{
    FineTuneInput, JobInput, TRAIN_FILE, TRAIN_PREFIX, Task, TrainHyperparameters, VALIDATION_FILE,
};
use crate::jobs::queue::{self, NewJob};

/// A new job, as `POST /v1/fine_tuning/jobs` or the new-job form gives it.
#[derive(Debug, Clone, Default)]
pub struct NewFineTune {
    /// `ns/name`, optionally `@revision`.
    pub model: String,
    /// A file id, or `datasets/{ns}/{name}/{path}[@{rev}]`.
    pub training_file: String,
    pub validation_file: Option<String>,
    pub suffix: Option<String>,
    pub seed: Option<u64>,
    pub hyperparameters: Requested,
    pub metadata: Option<BTreeMap<String, String>>,
    /// For CSV and Parquet files: our field → their column.
    pub column_mapping: BTreeMap<String, String>,
    /// Cut examples at this many tokens (at most the hub's limit).
    pub max_length: Option<u32>,
    /// Also publish the merged full checkpoint.
    pub merge: bool,
}

/// The job as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub namespace_id: i64,
    pub model: String,
    pub base_revision: String,
    pub training_file: String,
    pub validation_file: Option<String>,
    pub suffix: Option<String>,
    pub seed: i64,
    pub hyperparameters: Value,
    pub metadata: Option<Value>,
    pub merge: bool,
    pub status: String,
    pub error: Option<Value>,
    pub report: Option<Value>,
    pub epoch_tokens: Option<i64>,
    pub estimate: Option<i64>,
    pub charge: Option<i64>,
    pub trained_tokens: Option<i64>,
    pub queue_job: Option<Uuid>,
    pub fine_tuned_model: Option<String>,
    pub merged_model: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub estimated_finish: Option<DateTime<Utc>>,
    /// The owner's name (user or organisation).
    pub owner: String,
}

pub(crate) const JOB_COLUMNS: &str =
    "j.id, j.namespace_id, j.model, j.base_revision, j.training_file,
    j.validation_file, j.suffix, j.seed, j.hyperparameters, j.metadata, j.merge, j.status, j.error,
    j.report, j.epoch_tokens, j.estimate, j.charge, j.trained_tokens, j.queue_job,
    j.fine_tuned_model, j.merged_model, j.created_at, j.started_at, j.finished_at,
    j.estimated_finish, n.name AS owner";

impl JobRow {
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "succeeded" | "failed" | "cancelled")
    }

    /// The resolved hyperparameters.
    pub fn train(&self) -> Option<TrainHyperparameters> {
        serde_json::from_value(self.hyperparameters.clone()).ok()
    }

    /// OpenAI's `fine_tuning.job` object, with our fields beside.
    pub fn to_openai(&self) -> Value {
        let h = self.train();
        let openai_h = h.as_ref().map(|h| {
            json!({
                "n_epochs": h.n_epochs,
                "batch_size": h.batch_size,
                "learning_rate_multiplier": h.learning_rate / BASE_LEARNING_RATE,
            })
        });
        json!({
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at.timestamp(),
            "finished_at": self.finished_at.map(|t| t.timestamp()),
            "estimated_finish": self.estimated_finish.map(|t| t.timestamp()),
            "model": self.model,
            "fine_tuned_model": self.fine_tuned_model,
            "organization_id": self.owner,
            "status": self.status,
            "error": self.error,
            "hyperparameters": openai_h,
            "method": {
                "type": "supervised",
                "supervised": { "hyperparameters": openai_h },
            },
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "result_files": [],
            "trained_tokens": self.trained_tokens,
            "seed": self.seed,
            "metadata": self.metadata,
            "integrations": [],
            "user_provided_suffix": self.suffix,
            // Ours: the LoRA settings, the money, the base commit.
            "lora": h.as_ref().map(|h| json!({
                "r": h.lora_r, "alpha": h.lora_alpha, "dropout": h.lora_dropout,
                "target_modules": h.target_modules,
            })),
            "base_revision": self.base_revision,
            "estimated_tokens": self.epoch_tokens.zip(h.as_ref()).map(|(t, h)| t * i64::from(h.n_epochs)),
            "estimated_cost": self.estimate.map(|c| Credits(c).to_string()),
            "charged": self.charge.map(|c| Credits(c).to_string()),
            "merged_model": self.merged_model,
        })
    }
}

/// What validating a job's data came to, before anything is held or queued.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub base: String,
    pub base_revision: String,
    pub architecture: String,
    pub train: Report,
    pub validation: Option<Report>,
    pub hyperparameters: TrainHyperparameters,
    pub max_length: u32,
    /// Tokens of one epoch, and of the whole job.
    pub epoch_tokens: u64,
    pub total_tokens: u64,
    /// What the job is held for (the dearest class's price), and the
    /// price per thousand tokens it used; zero when no price is set.
    pub estimate: Credits,
    pub price_per_thousand: Credits,
    /// The payer's available balance.
    pub balance: Credits,
    /// Where the converted examples wait until the job is queued.
    #[serde(skip)]
    spooled: Option<Spooled>,
    /// The base model as resolved (at `base_revision`), for queueing.
    #[serde(skip)]
    model: Option<Model>,
}

#[derive(Debug, Clone)]
struct Spooled {
    train: std::sync::Arc<tempfile::NamedTempFile>,
    validation: Option<std::sync::Arc<tempfile::NamedTempFile>>,
}

/// Validates the data of `new` against its base model and prices it,
/// without holding or queueing anything (the new-job form's preview, and
/// the first half of [`create`]).
pub async fn plan(hub: &Hub, actor: &Actor, owner: &Payer, new: &NewFineTune) -> Result<Plan> {
    let base = base_model(hub, actor, &new.model).await?;
    let counter = token_counter(hub, actor, &base).await?;
    let max_length = new
        .max_length
        .unwrap_or(hub.finetune.max_length)
        .clamp(16, hub.finetune.max_length);
    let (train, train_file) = convert(
        hub,
        actor,
        owner,
        &new.training_file,
        &new.column_mapping,
        &counter,
        max_length,
        "training_file",
    )
    .await?;
    let (validation, validation_file) = match &new.validation_file {
        Some(source) => {
            let (report, file) = convert(
                hub,
                actor,
                owner,
                source,
                &new.column_mapping,
                &counter,
                max_length,
                "validation_file",
            )
            .await?;
            (Some(report), Some(file))
        }
        None => (None, None),
    };
    let hyperparameters = hyperparameters::resolve(&new.hyperparameters, new.seed, train.examples)?;
    let epoch_tokens = train.tokens.as_ref().map_or(0, |t| t.total);
    let total_tokens = epoch_tokens.saturating_mul(u64::from(hyperparameters.n_epochs));
    let mut conn = hub.db.acquire().await?;
    let price = rates::dearest_per_thousand_tokens(&mut conn)
        .await?
        .unwrap_or(Credits::ZERO);
    let estimate = money::charge(
        i64::try_from(total_tokens).unwrap_or(i64::MAX),
        price.0,
        1000,
    )
    .ok_or_else(|| Error::invalid("the job is too large to price"))?;
    let balance = ledger::wallet_balance(&hub.db, owner.namespace_id).await?;
    Ok(Plan {
        base: base.repo_name(),
        base_revision: base.revision.clone(),
        architecture: base.architecture.clone(),
        train,
        validation,
        hyperparameters,
        max_length,
        epoch_tokens,
        total_tokens,
        estimate,
        price_per_thousand: price,
        balance: balance.available,
        model: Some(base.clone()),
        spooled: Some(Spooled {
            train: std::sync::Arc::new(train_file),
            validation: validation_file.map(std::sync::Arc::new),
        }),
    })
}

/// Creates a job: validates and converts its data ([`plan`]), holds its
/// estimate on the owner's wallet (402 without enough credits: nothing is
/// queued) and queues the training run.
pub async fn create(hub: &Hub, actor: &Actor, owner: &Payer, new: NewFineTune) -> Result<JobRow> {
    let user = actor.require_writer()?.user.clone();
    if new.merge {
        // The merged checkpoint is not produced yet: say so rather than
        // publish an adapter to someone who asked for full weights.
        return Err(Error::invalid(
            "merge: publishing the merged full checkpoint is not supported yet; the adapter is served merged by the demo tier",
        ));
    }
    check_suffix(new.suffix.as_deref())?;
    check_metadata(new.metadata.as_ref())?;
    let plan = plan(hub, actor, owner, &new).await?;
    // The commit the data was checked against, even if the branch moved since.
    let base = plan.model.clone().expect("a fresh plan");
    let id = super::new_id("ftjob");
    let run = Uuid::new_v4();
    // The converted examples go to the store first: a run never starts
    // without them. (A failure below leaves them unreferenced.)
    let spooled = plan.spooled.clone().expect("a fresh plan");
    store_data(hub, run, TRAIN_FILE, &spooled.train).await?;
    if let Some(validation) = &spooled.validation {
        store_data(hub, run, VALIDATION_FILE, validation).await?;
    }
    let input = JobInput::FineTune(FineTuneInput {
        hyperparameters: plan.hyperparameters.clone(),
        has_validation: spooled.validation.is_some(),
        max_length: plan.max_length,
        checkpoint_every_steps: hub.finetune.checkpoint_every_steps,
        resume: None,
    });
    let report = json!({ "train": plan.train, "validation": plan.validation });
    let mut tx = hub.db.begin().await?;
    sqlx::query(
        "INSERT INTO finetune_jobs (id, namespace_id, created_by, base_repo_id, model, base_revision,
             training_file, validation_file, suffix, seed, hyperparameters, max_length, metadata, merge,
             status, report, epoch_tokens, estimate)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'queued', $15, $16, $17)",
    )
    .bind(&id)
    .bind(owner.namespace_id)
    .bind(user.id)
    .bind(base.repo.id)
    .bind(base.repo_name())
    .bind(&base.revision)
    .bind(&new.training_file)
    .bind(&new.validation_file)
    .bind(&new.suffix)
    .bind(plan.hyperparameters.seed as i64)
    .bind(serde_json::to_value(&plan.hyperparameters).map_err(anyhow::Error::from)?)
    .bind(plan.max_length as i32)
    .bind(new.metadata.as_ref().map(|m| json!(m)))
    .bind(new.merge)
    .bind(report)
    .bind(plan.epoch_tokens as i64)
    .bind(plan.estimate.0)
    .execute(&mut *tx)
    .await?;
    if plan.estimate > Credits::ZERO {
        let wallet = ledger::wallet(&mut tx, owner.namespace_id).await?;
        let revenue = ledger::system(&mut tx, SystemAccount::Revenue).await?;
        let hold_id = hold_id(&id);
        ledger::hold_releasing_expired(
            &mut tx,
            &Transfer {
                id: &hold_id,
                debit: wallet,
                credit: revenue,
                amount: plan.estimate,
                code: "finetune",
                memo: "",
                reference: Some(&id),
                created_by: None,
            },
            hub.finetune.hold_timeout,
        )
        .await
        .map_err(top_up_hint)?;
        sqlx::query("UPDATE finetune_jobs SET hold_id = $2 WHERE id = $1")
            .bind(&id)
            .bind(&hold_id)
            .execute(&mut *tx)
            .await?;
    }
    queue::enqueue_as(
        &mut tx,
        run,
        NewJob {
            task: Task::FineTune,
            repo_id: base.repo.id,
            repo_name: &base.repo_name(),
            revision: &base.revision,
            architecture: &format!("{TRAIN_PREFIX}{}", base.architecture),
            // The frozen weights and the activations of a batch.
            memory_bytes: base.memory_bytes.saturating_mul(2),
            gguf_files: &[],
            base: None,
            input: &input,
            account_id: Some(user.id),
            client_ip: "",
            max_attempts: hub.finetune.max_attempts,
        },
    )
    .await?;
    sqlx::query("UPDATE finetune_jobs SET queue_job = $2 WHERE id = $1")
        .bind(&id)
        .bind(run)
        .execute(&mut *tx)
        .await?;
    super::training::message(
        &mut tx,
        &id,
        "info",
        &format!(
            "Validated {} training examples ({} tokens per epoch); job queued",
            plan.train.examples, plan.epoch_tokens
        ),
    )
    .await?;
    tx.commit().await?;
    get(hub, owner, &id).await
}

fn hold_id(job: &str) -> String {
    format!("finetune/{job}/hold")
}

/// The 402 says where credits come from.
fn top_up_hint(e: Error) -> Error {
    match e {
        Error::InsufficientCredits(_) => Error::insufficient_credits(Message::coded(
            "finetune.insufficient_credits",
            "insufficient credits for this fine-tune; top up at /settings/billing",
        )),
        e => e,
    }
}

async fn store_data(
    hub: &Hub,
    run: Uuid,
    name: &str,
    file: &tempfile::NamedTempFile,
) -> Result<()> {
    let reader = tokio::fs::File::open(file.path()).await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20);
    artifacts::put_limited(
        hub,
        &artifacts::location(run, "data", name),
        u64::MAX,
        stream,
    )
    .await?;
    Ok(())
}

fn check_suffix(suffix: Option<&str>) -> Result<()> {
    match suffix {
        Some(s)
            if s.is_empty()
                || s.len() > 64
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
        {
            Err(Error::invalid(
                "suffix is 1 to 64 letters, digits, '-', '_' or '.' (it names the new repo)",
            ))
        }
        _ => Ok(()),
    }
}

fn check_metadata(metadata: Option<&BTreeMap<String, String>>) -> Result<()> {
    match metadata {
        Some(m) if m.len() > 16 || m.iter().any(|(k, v)| k.len() > 64 || v.len() > 512) => {
            Err(Error::invalid(
                "metadata is at most 16 pairs, keys up to 64 and values up to 512 characters",
            ))
        }
        _ => Ok(()),
    }
}

/// A page of `limit` rows from a query that asked for one more: the rows,
/// and whether there are more.
fn page<T>(mut rows: Vec<T>, limit: i64) -> (Vec<T>, bool) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    (rows, more)
}

fn job_not_found(id: &str) -> Error {
    Error::not_found(
        Message::coded("finetune.no_such_job", "no fine-tuning job {id}").with("id", id),
    )
}

/// Job `id` of `owner` (anyone else's is not found).
pub async fn get(hub: &Hub, owner: &Payer, id: &str) -> Result<JobRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM finetune_jobs j JOIN namespaces n ON n.id = j.namespace_id
         WHERE j.id = $1 AND j.namespace_id = $2"
    )))
    .bind(id)
    .bind(owner.namespace_id)
    .fetch_optional(&hub.db)
    .await?
    .ok_or_else(|| job_not_found(id))
}

/// A page of `owner`'s jobs, newest first, after job `after`; and whether
/// there are more.
pub async fn list(
    hub: &Hub,
    owner: &Payer,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<JobRow>, bool)> {
    let limit = limit.clamp(1, 100);
    let rows: Vec<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS} FROM finetune_jobs j JOIN namespaces n ON n.id = j.namespace_id
         WHERE j.namespace_id = $1
           AND ($2::TEXT IS NULL OR (j.created_at, j.id) < (
                SELECT created_at, id FROM finetune_jobs WHERE id = $2))
         ORDER BY j.created_at DESC, j.id DESC LIMIT $3"
    )))
    .bind(owner.namespace_id)
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&hub.db)
    .await?;
    Ok(page(rows, limit))
}

/// Cancels a job that has not ended. The worker stops within a step; the
/// tokens trained so far are charged, and nothing is published.
pub async fn cancel(hub: &Hub, owner: &Payer, id: &str) -> Result<JobRow> {
    let job = get(hub, owner, id).await?;
    if job.is_finished() {
        return Err(Error::conflict(format!(
            "the job has already {}",
            job.status
        )));
    }
    if let Some(run) = job.queue_job {
        queue::cancel(&hub.db, run).await?;
    }
    let mut tx = hub.db.begin().await?;
    let updated = sqlx::query(
        "UPDATE finetune_jobs SET status = 'cancelled', finished_at = now()
         WHERE id = $1 AND status IN ('validating_files', 'queued', 'running')",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() > 0 {
        super::training::message(&mut tx, id, "info", "The job was cancelled").await?;
        super::publish::settle(&mut tx, id).await?;
    }
    tx.commit().await?;
    get(hub, owner, id).await
}

/// One event of a job, OpenAI's `fine_tuning.job.event`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EventRow {
    #[serde(skip)]
    pub seq: i64,
    pub id: String,
    #[serde(serialize_with = "unix_seconds")]
    pub created_at: DateTime<Utc>,
    pub level: String,
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Option<Value>,
}

/// Events of a job, newest first as OpenAI lists them, older than event
/// `after` when given.
pub async fn events(
    hub: &Hub,
    owner: &Payer,
    id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<EventRow>, bool)> {
    get(hub, owner, id).await?;
    let before: Option<i64> = after
        .and_then(|a| a.strip_prefix("ftevent-"))
        .and_then(|n| n.parse().ok());
    let limit = limit.clamp(1, 1000);
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT e.id AS seq, 'ftevent-' || e.id AS id, e.created_at, e.level, e.message,
                e.type AS kind, e.data
         FROM finetune_events e WHERE e.job_id = $1 AND ($2::BIGINT IS NULL OR e.id < $2)
         ORDER BY e.id DESC LIMIT $3",
    )
    .bind(id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&hub.db)
    .await?;
    Ok(page(rows, limit))
}

/// One checkpoint, OpenAI's `fine_tuning.job.checkpoint`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CheckpointRow {
    pub id: String,
    #[serde(serialize_with = "unix_seconds")]
    pub created_at: DateTime<Utc>,
    pub fine_tuned_model_checkpoint: String,
    pub fine_tuning_job_id: String,
    pub step_number: i64,
    pub metrics: Value,
}

pub async fn checkpoints(
    hub: &Hub,
    owner: &Payer,
    id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<CheckpointRow>, bool)> {
    let job = get(hub, owner, id).await?;
    let limit = limit.clamp(1, 100);
    let rows: Vec<CheckpointRow> = sqlx::query_as(
        "SELECT c.id, c.created_at, $2 || ':ckpt-step-' || c.step AS fine_tuned_model_checkpoint,
                c.job_id AS fine_tuning_job_id, c.step AS step_number, c.metrics
         FROM finetune_checkpoints c WHERE c.job_id = $1
           AND ($3::TEXT IS NULL OR c.step < (SELECT step FROM finetune_checkpoints WHERE id = $3))
         ORDER BY c.step DESC LIMIT $4",
    )
    .bind(id)
    .bind(job.fine_tuned_model.as_deref().unwrap_or(&job.model))
    .bind(after)
    .bind(limit + 1)
    .fetch_all(&hub.db)
    .await?;
    Ok(page(rows, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_name_a_repo() {
        assert!(check_suffix(Some("../../etc")).is_err());
        assert!(check_suffix(Some("")).is_err());
        assert!(check_suffix(Some("support-v2.1")).is_ok());
    }
}
