//! Fine-tuning jobs in OpenAI's shape: created (the data validated and
//! converted, the cost estimated and held), listed, read, cancelled; their
//! events and checkpoints. States: `validating_files → queued → running →
//! succeeded | failed | cancelled`.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::artifacts;
use super::dataset::{self, ColumnMapping, FileFormat, Options, Report};
use super::files::{self, unix_seconds};
use super::tokens::TokenCounter;
use crate::accounts::Actor;
use crate::billing::ledger::{self, SystemAccount, Transfer};
use crate::billing::{Credits, Payer, money, rates};
use crate::error::{Error, Message, Result};
use crate::hub::Hub;
use crate::inference::model::{self, Model};
use crate::jobs::protocol::{
    FineTuneInput, JobInput, TRAIN_FILE, TRAIN_PREFIX, Task, TrainHyperparameters, VALIDATION_FILE,
};
use crate::jobs::queue::{self, NewJob};
use crate::repos::access::{self, level::Read};
use crate::repos::{RepoType, content};

/// The architectures the trainer (transformers + PEFT) fine-tunes.
pub const TRAINABLE: &[&str] = &["qwen2", "qwen3", "llama", "mistral"];

/// A hyperparameter as OpenAI takes it: `"auto"` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, Default)]
#[serde(untagged)]
pub enum Auto<T> {
    #[default]
    #[serde(skip)]
    Unset,
    Value(T),
    Word(AutoWord),
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoWord {
    Auto,
}

impl<T: Copy> Auto<T> {
    fn or(self, default: T) -> T {
        match self {
            Auto::Value(v) => v,
            _ => default,
        }
    }
}

/// The hyperparameters a request may set (`method.supervised.hyperparameters`,
/// or the deprecated top-level `hyperparameters`), with our LoRA fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requested {
    #[serde(default)]
    pub n_epochs: Auto<u32>,
    #[serde(default)]
    pub batch_size: Auto<u32>,
    #[serde(default)]
    pub learning_rate_multiplier: Auto<f64>,
    #[serde(default, alias = "lora_r")]
    pub r: Option<u32>,
    #[serde(default, alias = "lora_alpha")]
    pub alpha: Option<f64>,
    #[serde(default, alias = "lora_dropout")]
    pub dropout: Option<f64>,
    #[serde(default)]
    pub target_modules: Option<Vec<String>>,
}

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

/// LoRA learning rate that a multiplier of 1 stands for.
const BASE_LEARNING_RATE: f64 = 2e-4;
use dataset::MIN_EXAMPLES;

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
    let hyperparameters = resolve_hyperparameters(new, train.examples)?;
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
    let base = base_model(hub, actor, &format!("{}@{}", plan.base, plan.base_revision)).await?;
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

/// The base model, readable by `actor`, of an architecture the trainer
/// handles, as safetensors (not GGUF).
async fn base_model(hub: &Hub, actor: &Actor, id: &str) -> Result<Model> {
    let parsed = model::parse_model_id(id)?;
    if parsed.quantization.is_some() {
        return Err(unsupported_base(
            id,
            "a quantised GGUF file cannot be fine-tuned",
        ));
    }
    let base = model::resolve(
        hub,
        actor,
        &parsed.namespace,
        &parsed.name,
        parsed.revision.as_deref(),
        None,
    )
    .await
    .map_err(|e| match e {
        Error::InvalidInput(m) => unsupported_base(id, &m.to_string()),
        e => e,
    })?;
    if base.gguf.is_some() {
        return Err(unsupported_base(
            id,
            "it holds GGUF files only; fine-tune its safetensors original",
        ));
    }
    if !TRAINABLE.contains(&base.architecture.as_str()) {
        return Err(unsupported_base(
            id,
            &format!(
                "the trainer handles {} models, not {}",
                TRAINABLE.join(", "),
                base.architecture
            ),
        ));
    }
    Ok(base)
}

fn unsupported_base(id: &str, why: &str) -> Error {
    Error::invalid(
        Message::coded(
            "finetune.unsupported_base",
            "{model} cannot be fine-tuned: {why}",
        )
        .with("model", id)
        .with("why", why),
    )
}

/// Largest tokenizer file read to count tokens.
const MAX_TOKENIZER_BYTES: u64 = 64 << 20;

/// The base model's tokenizer and chat template, to count tokens as the
/// trainer will.
async fn token_counter(
    hub: &Hub,
    actor: &Actor,
    base: &Model,
) -> Result<std::sync::Arc<TokenCounter>> {
    let repo = access::authorize::<Read>(
        hub,
        actor,
        RepoType::Model,
        &base.repo.namespace,
        &base.repo.name,
    )
    .await?;
    let tokenizer = read_whole(
        hub,
        &repo,
        &base.revision,
        "tokenizer.json",
        MAX_TOKENIZER_BYTES,
    )
    .await?
    .ok_or_else(|| unsupported_base(&base.repo_name(), "it has no tokenizer.json"))?;
    let config = read_whole(
        hub,
        &repo,
        &base.revision,
        "tokenizer_config.json",
        MAX_TOKENIZER_BYTES,
    )
    .await?;
    // Newer checkpoints keep the template beside the config, in its own file.
    let jinja = read_whole(hub, &repo, &base.revision, "chat_template.jinja", 1 << 20).await?;
    let config = match jinja {
        Some(jinja) => {
            let mut config: serde_json::Map<String, Value> = config
                .as_deref()
                .and_then(|c| serde_json::from_slice(c).ok())
                .unwrap_or_default();
            config.insert(
                "chat_template".into(),
                Value::String(String::from_utf8_lossy(&jinja).into_owned()),
            );
            Some(serde_json::to_vec(&config).map_err(anyhow::Error::from)?)
        }
        None => config,
    };
    let name = base.repo_name();
    // Chat fine-tuning needs the model's chat template (the trainer renders
    // every example with it).
    tokio::task::spawn_blocking(move || TokenCounter::new(&tokenizer, config.as_deref(), false))
        .await?
        .map(std::sync::Arc::new)
        .map_err(|e| unsupported_base(&name, &e.to_string()))
}

/// A file of `repo` at `commit`, whole, when it exists and is at most `max` bytes.
async fn read_whole(
    hub: &Hub,
    repo: &access::Authorized<Read>,
    commit: &str,
    path: &str,
    max: u64,
) -> Result<Option<Vec<u8>>> {
    let entry = match content::file_at(hub, repo, commit, path).await {
        Ok(entry) => entry,
        Err(Error::EntryNotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    if entry.content_size() > max {
        return Err(Error::too_large(format!(
            "{path} is larger than {max} bytes"
        )));
    }
    let mut stream = content::read(hub, repo, &entry, None).await?;
    let mut bytes = Vec::with_capacity(entry.content_size() as usize);
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(Some(bytes))
}

/// Reads a training or validation source (a file id, or a file of a
/// dataset repo) into a temporary file, then validates and converts it
/// into canonical chat JSONL. A file with errors is refused with its report.
#[allow(clippy::too_many_arguments)]
async fn convert(
    hub: &Hub,
    actor: &Actor,
    owner: &Payer,
    source: &str,
    mapping: &BTreeMap<String, String>,
    counter: &std::sync::Arc<TokenCounter>,
    max_length: u32,
    param: &'static str,
) -> Result<(Report, tempfile::NamedTempFile)> {
    let (name, mut stream) = open_source(hub, actor, owner, source, param).await?;
    let format = FileFormat::of(&name).ok_or_else(|| {
        invalid_file(
            param,
            format!("{name}: a training file is .jsonl, .json, .csv or .parquet"),
        )
    })?;
    let dir = hub.config.data_dir.join("tmp").join("finetune");
    tokio::fs::create_dir_all(&dir).await?;
    let mut raw = tempfile::tempfile_in(&dir)?;
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        if size > hub.finetune.max_file_bytes {
            return Err(Error::too_large(format!(
                "{name} is larger than {} MiB",
                hub.finetune.max_file_bytes >> 20
            )));
        }
        raw.write_all(&chunk)?;
    }
    raw.seek(SeekFrom::Start(0))?;
    let out = tempfile::NamedTempFile::new_in(&dir)?;
    let (counter, columns) = (counter.clone(), ColumnMapping(mapping.clone()));
    let mut writer = std::io::BufWriter::new(out.reopen()?);
    let min_examples = match param {
        "training_file" => MIN_EXAMPLES,
        _ => 1,
    };
    let report = tokio::task::spawn_blocking(move || -> Result<Report> {
        let options = Options {
            columns: &columns,
            counter: Some(&counter),
            max_length,
            min_examples,
        };
        let report = dataset::convert_file(format, raw, &mut writer, &options)?;
        writer.flush()?;
        Ok(report)
    })
    .await??;
    if !report.accepted {
        return Err(invalid_file(param, format!("{name}: {}", summary(&report))));
    }
    Ok((report, out))
}

/// The errors of a refused file, each category with the lines it was
/// found on (the first few).
fn summary(report: &Report) -> String {
    report
        .errors
        .iter()
        .map(|(category, issue)| {
            let lines: Vec<String> = issue.lines.iter().map(|l| format!("line {l}")).collect();
            match lines.is_empty() {
                true => format!("{} ({})", category.describe(), issue.count),
                false => format!(
                    "{} ({}: {}{})",
                    category.describe(),
                    issue.count,
                    lines.join(", "),
                    if issue.count > lines.len() as u64 {
                        ", …"
                    } else {
                        ""
                    }
                ),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn invalid_file(param: &'static str, message: String) -> Error {
    Error::invalid(
        Message::coded("finetune.invalid_file", "{message}")
            .with("message", message)
            .with("param", param),
    )
}

/// A source's name and bytes: an uploaded file of `owner`, or
/// `datasets/{ns}/{name}/{path}[@{rev}]` that `actor` may read.
async fn open_source(
    hub: &Hub,
    actor: &Actor,
    owner: &Payer,
    source: &str,
    param: &'static str,
) -> Result<(String, content::ByteStream)> {
    if let Some(rest) = source.strip_prefix("datasets/") {
        let (path, rev) = match rest.rsplit_once('@') {
            Some((p, r)) if !r.is_empty() => (p, Some(r)),
            _ => (rest, None),
        };
        let mut parts = path.splitn(3, '/');
        let (Some(ns), Some(name), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid_file(
                param,
                format!(
                    "{source:?} is not datasets/{{namespace}}/{{name}}/{{path}}[@{{revision}}]"
                ),
            ));
        };
        let repo = access::authorize::<Read>(hub, actor, RepoType::Dataset, ns, name).await?;
        let commit = content::resolve(hub, &repo, rev.unwrap_or(&repo.default_branch)).await?;
        let entry = content::file_at(hub, &repo, &commit, file).await?;
        let stream = content::read(hub, &repo, &entry, None).await?;
        return Ok((file.rsplit('/').next().unwrap_or(file).to_owned(), stream));
    }
    let file = files::get(hub, owner, source).await?;
    let stream = files::content(hub, &file).await?;
    Ok((file.filename, stream))
}

/// "auto" made numbers, and the ranges checked.
fn resolve_hyperparameters(new: &NewFineTune, examples: u64) -> Result<TrainHyperparameters> {
    let h = &new.hyperparameters;
    let n_epochs = h.n_epochs.or(3);
    // OpenAI's auto batch grows with the data; small data, small batches.
    let batch_size = h.batch_size.or((examples / 50).clamp(1, 8) as u32);
    let multiplier = h.learning_rate_multiplier.or(1.0);
    let r = h.r.unwrap_or(8);
    let alpha = h.alpha.unwrap_or(f64::from(r) * 2.0);
    let dropout = h.dropout.unwrap_or(0.05);
    let target_modules = h
        .target_modules
        .clone()
        .unwrap_or_else(|| vec!["q_proj".into(), "v_proj".into()]);
    let bad = |what: &str| Err(Error::invalid(format!("hyperparameters: {what}")));
    if !(1..=50).contains(&n_epochs) {
        return bad("n_epochs is between 1 and 50");
    }
    if !(1..=256).contains(&batch_size) {
        return bad("batch_size is between 1 and 256");
    }
    if !(multiplier.is_finite() && multiplier > 0.0 && multiplier <= 1000.0) {
        return bad("learning_rate_multiplier is above 0 and at most 1000");
    }
    if !(1..=256).contains(&r) {
        return bad("r is between 1 and 256");
    }
    if !(alpha.is_finite() && alpha > 0.0 && alpha <= 4096.0) {
        return bad("alpha is above 0 and at most 4096");
    }
    if !(dropout.is_finite() && (0.0..1.0).contains(&dropout)) {
        return bad("dropout is at least 0 and below 1");
    }
    let plain = |m: &String| {
        !m.is_empty()
            && m.len() <= 64
            && m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if target_modules.is_empty() || target_modules.len() > 32 || !target_modules.iter().all(plain) {
        return bad("target_modules is 1 to 32 module names (q_proj, v_proj, ...; or all-linear)");
    }
    Ok(TrainHyperparameters {
        n_epochs,
        batch_size,
        learning_rate: BASE_LEARNING_RATE * multiplier,
        seed: new.seed.unwrap_or_else(|| rand::random::<u32>().into()),
        lora_r: r,
        lora_alpha: alpha,
        lora_dropout: dropout,
        target_modules,
    })
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

    fn new_with(h: Requested) -> NewFineTune {
        NewFineTune {
            hyperparameters: h,
            seed: Some(7),
            ..NewFineTune::default()
        }
    }

    #[test]
    fn auto_hyperparameters_follow_the_data() {
        let h = resolve_hyperparameters(&new_with(Requested::default()), 20).unwrap();
        assert_eq!((h.n_epochs, h.batch_size, h.seed), (3, 1, 7));
        assert_eq!(h.learning_rate, BASE_LEARNING_RATE);
        assert_eq!((h.lora_r, h.lora_alpha), (8, 16.0));
        assert_eq!(h.target_modules, ["q_proj", "v_proj"]);
        let big = resolve_hyperparameters(&new_with(Requested::default()), 10_000).unwrap();
        assert_eq!(big.batch_size, 8);
        let asked: Requested = serde_json::from_value(serde_json::json!({
            "n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": 0.5, "r": 16,
        }))
        .unwrap();
        let h = resolve_hyperparameters(&new_with(asked), 100).unwrap();
        assert_eq!(
            (h.n_epochs, h.batch_size, h.lora_r, h.lora_alpha),
            (2, 2, 16, 32.0)
        );
        assert_eq!(h.learning_rate, BASE_LEARNING_RATE * 0.5);
    }

    #[test]
    fn hostile_hyperparameters_are_refused() {
        for bad in [
            serde_json::json!({ "n_epochs": 0 }),
            serde_json::json!({ "batch_size": 100_000 }),
            serde_json::json!({ "learning_rate_multiplier": -1.0 }),
            serde_json::json!({ "dropout": 1.0 }),
            serde_json::json!({ "target_modules": ["q_proj; rm -rf /"] }),
            serde_json::json!({ "target_modules": [] }),
        ] {
            let asked: Requested = serde_json::from_value(bad.clone()).unwrap();
            assert!(
                resolve_hyperparameters(&new_with(asked), 50).is_err(),
                "{bad}"
            );
        }
        assert!(
            serde_json::from_value::<Requested>(serde_json::json!({ "n_epochs": "many" })).is_err()
        );
        assert!(serde_json::from_value::<Requested>(serde_json::json!({ "bogus": 1 })).is_err());
        assert!(check_suffix(Some("../../etc")).is_err());
        assert!(check_suffix(Some("support-v2.1")).is_ok());
    }
}
