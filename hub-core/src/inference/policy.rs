//! The free tier's rules: anonymous callers limited per address, signed-in
//! users by a daily token quota and a concurrency limit, a global cap on
//! jobs in flight, bounded `max_new_tokens` and a bounded queue wait.
//! Admission counts and the insert happen under one advisory lock, so two
//! requests cannot both take the last place.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Caller;
use super::model::Model;
use crate::billing::{Payer, metering};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::jobs::protocol::{JobInput, Prompt};
use crate::jobs::queue::{self, NewJob};

#[derive(Debug, Clone)]
pub struct Policy {
    /// Requests per rolling hour from one address without an account.
    pub anonymous_per_hour: i64,
    /// Jobs in flight at once from one address without an account.
    pub anonymous_concurrency: i64,
    /// Prompt plus generated tokens per account over a rolling day.
    pub daily_tokens: i64,
    /// Jobs in flight at once per account.
    pub user_concurrency: i64,
    /// Jobs queued or running, for everyone together.
    pub global_cap: i64,
    pub max_new_tokens: u32,
    /// When the request says nothing.
    pub default_max_new_tokens: u32,
    /// Inputs per embeddings request.
    pub max_inputs: usize,
    /// Characters of prompt (or of all embedding inputs together).
    pub max_input_chars: usize,
    /// How long a request may wait in the queue before it gets a 429.
    pub queue_wait: Duration,
    /// Attempts per job before it is dead-lettered.
    pub max_attempts: i32,
}

impl Policy {
    /// Defaults, each overridable by an `HUB_INFERENCE_*` variable.
    pub fn from_env() -> Policy {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        }
        Policy {
            anonymous_per_hour: var("HUB_INFERENCE_ANONYMOUS_PER_HOUR", 100),
            anonymous_concurrency: var("HUB_INFERENCE_ANONYMOUS_CONCURRENCY", 2),
            daily_tokens: var("HUB_INFERENCE_DAILY_TOKENS", 200_000),
            user_concurrency: var("HUB_INFERENCE_USER_CONCURRENCY", 4),
            global_cap: var("HUB_INFERENCE_GLOBAL_CAP", 256),
            max_new_tokens: var("HUB_INFERENCE_MAX_NEW_TOKENS", 1024),
            default_max_new_tokens: var("HUB_INFERENCE_DEFAULT_MAX_NEW_TOKENS", 256),
            max_inputs: var("HUB_INFERENCE_MAX_INPUTS", 256),
            max_input_chars: var("HUB_INFERENCE_MAX_INPUT_CHARS", 100_000),
            queue_wait: Duration::from_secs(var("HUB_INFERENCE_QUEUE_WAIT_SECS", 60)),
            max_attempts: var("HUB_INFERENCE_MAX_ATTEMPTS", 3),
        }
    }
}

/// Any one lock number: admissions are short, so one lock for all is cheap.
const ADMISSION_LOCK: i64 = 0x6b79_6a6f_6273;

/// Checks the caller's limits and queues the job, or says when to retry.
pub async fn admit(hub: &Hub, caller: &Caller, model: &Model, input: &JobInput) -> Result<Uuid> {
    let policy = &hub.inference.policy;
    let ip = caller.ip.to_string();
    let account = caller.actor.user().map(|u| u.id);
    // Past the free quota: whose wallet pays (see `payer_past_quota`).
    let mut paid: Option<Payer> = None;
    let mut tx = hub.db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(ADMISSION_LOCK)
        .execute(&mut *tx)
        .await?;
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM inference_jobs WHERE state IN ('queued', 'running')",
    )
    .fetch_one(&mut *tx)
    .await?;
    if in_flight >= policy.global_cap {
        return Err(overloaded(
            "the free inference tier is at capacity; try again shortly",
            Duration::from_secs(5),
        ));
    }
    match account {
        Some(account) => {
            let mine: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM inference_jobs WHERE account_id = $1 AND state IN ('queued', 'running')",
            )
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
            if mine >= policy.user_concurrency {
                return Err(overloaded(
                    format!(
                        "at most {} requests at once per account on the free tier",
                        policy.user_concurrency
                    ),
                    Duration::from_secs(1),
                ));
            }
            let (used, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
                "SELECT coalesce(sum(prompt_tokens + generated_tokens), 0)::BIGINT, min(created_at)
                 FROM usage_records WHERE account_id = $1 AND created_at > now() - interval '1 day'",
            )
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
            if used >= policy.daily_tokens {
                let retry = until_out_of_window(oldest, chrono::Duration::days(1));
                let payer = payer_past_quota(hub, &mut tx, caller, policy, retry).await?;
                paid = Some(payer);
            }
        }
        None => {
            let (active, recent, oldest): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
                "SELECT count(*) FILTER (WHERE state IN ('queued', 'running')),
                        count(*) FILTER (WHERE created_at > now() - interval '1 hour'),
                        min(created_at) FILTER (WHERE created_at > now() - interval '1 hour')
                 FROM inference_jobs WHERE client_ip = $1 AND account_id IS NULL",
            )
            .bind(&ip)
            .fetch_one(&mut *tx)
            .await?;
            if active >= policy.anonymous_concurrency {
                return Err(overloaded(
                    format!(
                        "at most {} requests at once without signing in",
                        policy.anonymous_concurrency
                    ),
                    Duration::from_secs(1),
                ));
            }
            if recent >= policy.anonymous_per_hour {
                return Err(overloaded(
                    format!(
                        "at most {} requests an hour without signing in; sign in for more",
                        policy.anonymous_per_hour
                    ),
                    until_out_of_window(oldest, chrono::Duration::hours(1)),
                ));
            }
        }
    }
    let repo_name = model.repo_name();
    let id = queue::enqueue(
        &mut tx,
        NewJob {
            task: model.task,
            repo_id: model.repo.id,
            repo_name: &repo_name,
            revision: &model.revision,
            architecture: &model.architecture,
            memory_bytes: model.memory_bytes,
            gguf_files: model.gguf.as_ref().map_or(&[], |g| &g.files),
            input,
            account_id: account,
            client_ip: &ip,
            max_attempts: policy.max_attempts,
        },
    )
    .await?;
    if let Some(payer) = paid {
        let worst_case = metering::worst_case_tokens(input_bytes(input), max_new_tokens(input));
        match metering::hold_for_job(&mut tx, id, payer.namespace_id, worst_case).await {
            Ok(()) => {}
            Err(Error::InsufficientCredits(_)) => {
                return Err(overloaded(
                    format!(
                        "daily free-tier quota of {} tokens used up and {} has too few credits \
                         for this request; top up at /settings/billing",
                        policy.daily_tokens, payer.name
                    ),
                    Duration::from_secs(60),
                ));
            }
            Err(Error::NotFound(_)) => {
                return Err(overloaded(
                    format!(
                        "daily free-tier quota of {} tokens used up, and paid inference has \
                         no price set on this hub",
                        policy.daily_tokens
                    ),
                    Duration::from_secs(3600),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    tx.commit().await?;
    Ok(id)
}

/// The wallet that pays for a request past the free quota: the caller's,
/// or the organisation's named by `X-HF-Bill-To` (its admins only), once
/// its owner has turned paid inference on. Otherwise the answer is 429,
/// saying how to go on.
async fn payer_past_quota(
    hub: &Hub,
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    policy: &Policy,
    retry: Duration,
) -> Result<Payer> {
    let user = caller.actor.user().ok_or(Error::Unauthenticated)?;
    let payer = Payer::acting(&hub.db, user, caller.bill_to.as_deref()).await?;
    if !metering::paid_inference(tx, payer.namespace_id).await? {
        return Err(overloaded(
            format!(
                "daily free-tier quota of {} tokens used up; to go on now, add credits at \
                 /settings/billing and turn on paid inference",
                policy.daily_tokens
            ),
            retry,
        ));
    }
    Ok(payer)
}

fn input_bytes(input: &JobInput) -> usize {
    match input {
        JobInput::Generate(generate) => match &generate.prompt {
            Prompt::Text(text) => text.len(),
            Prompt::Chat(messages) => messages
                .iter()
                .map(|m| m.content.len() + m.role.len())
                .sum(),
        },
        JobInput::Embed(embed) => embed.inputs.iter().map(String::len).sum(),
        // Not admitted by this policy: Spaces have their own.
        JobInput::SpaceRun(_) | JobInput::FineTune(_) => 0,
    }
}

fn max_new_tokens(input: &JobInput) -> u32 {
    match input {
        JobInput::Generate(generate) => generate.params.max_new_tokens,
        JobInput::Embed(_) | JobInput::SpaceRun(_) | JobInput::FineTune(_) => 0,
    }
}

pub(crate) fn overloaded(message: impl Into<String>, retry_after: Duration) -> Error {
    Error::TooManyRequests {
        message: message.into(),
        retry_after,
    }
}

/// When the oldest counted item leaves a rolling window (at least a second).
fn until_out_of_window(oldest: Option<DateTime<Utc>>, window: chrono::Duration) -> Duration {
    let left = oldest.map_or(chrono::Duration::seconds(1), |t| t + window - Utc::now());
    Duration::from_secs(left.num_seconds().max(1) as u64)
}
