//! Paid inference: a request past the free quota, from a payer who opted
//! in, is admitted with a hold for its worst case (every prompt byte a
//! token, plus `max_new_tokens`, at the dearest price per thousand tokens
//! in force) and settled, when it succeeds, at the tokens it used and the
//! price of the device class that ran it. A request that fails, is
//! cancelled or dies has its hold voided: nobody pays for nothing.
//!
//! Settlement happens in the transaction that records the job's usage, so a
//! job is charged exactly once; the voiding of holds of unsuccessful jobs is
//! swept (and each hold's own timeout backs that up).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::ledger::{self, SystemAccount, Transfer};
use super::money::{self, Credits};
use super::rates;
use crate::error::{Error, Result};

/// Tokens a chat template may add around the messages, counted in the hold.
const TEMPLATE_TOKENS: i64 = 256;

/// How long a paid request's hold lasts if nothing settles or voids it: past
/// any queue wait and generation the tier allows.
pub const HOLD_TIMEOUT: Duration = Duration::from_secs(3600);

/// The class a worker's device is priced as: `cpu`, or `gpu-large` for a
/// GPU with 40 GiB or more, else `gpu-small`.
pub fn device_class(device_kind: &str, memory_bytes: i64) -> &'static str {
    match device_kind {
        "cpu" => "cpu",
        _ if memory_bytes >= 40 << 30 => "gpu-large",
        _ => "gpu-small",
    }
}

/// Whether a user or organisation pays for inference past the free quota.
pub async fn paid_inference(conn: &mut PgConnection, namespace_id: i64) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT paid_inference FROM billing_settings WHERE namespace_id = $1")
            .bind(namespace_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(false),
    )
}

/// Turns paying for inference past the free quota on or off.
pub async fn set_paid_inference(db: &PgPool, namespace_id: i64, on: bool) -> Result<()> {
    sqlx::query(
        "INSERT INTO billing_settings (namespace_id, paid_inference) VALUES ($1, $2)
         ON CONFLICT (namespace_id) DO UPDATE SET paid_inference = $2, updated_at = now()",
    )
    .bind(namespace_id)
    .bind(on)
    .execute(db)
    .await?;
    Ok(())
}

/// The most tokens a request can be charged for.
pub fn worst_case_tokens(prompt_bytes: usize, max_new_tokens: u32) -> i64 {
    i64::try_from(prompt_bytes).unwrap_or(i64::MAX / 2)
        + TEMPLATE_TOKENS
        + i64::from(max_new_tokens)
}

/// Holds the worst case of job `job` on `namespace_id`'s wallet, inside the
/// admission's transaction, and marks the job as paid for. Fails with
/// `InsufficientCredits`, or `NotFound` when no price is set.
pub async fn hold_for_job(
    conn: &mut PgConnection,
    job: Uuid,
    namespace_id: i64,
    worst_case_tokens: i64,
) -> Result<()> {
    let price = rates::dearest_per_thousand_tokens(&mut *conn)
        .await?
        .ok_or_else(|| Error::not_found("paid inference has no price set"))?;
    let amount = money::charge(worst_case_tokens, price.0, 1000)
        .ok_or_else(|| Error::invalid("the request is too large to price"))?;
    let wallet = ledger::wallet(&mut *conn, namespace_id).await?;
    let revenue = ledger::system(&mut *conn, SystemAccount::Revenue).await?;
    let hold_id = hold_id(job);
    let reference = job.to_string();
    ledger::hold_releasing_expired(
        &mut *conn,
        &Transfer {
            id: &hold_id,
            debit: wallet,
            credit: revenue,
            amount,
            code: "inference",
            memo: "",
            reference: Some(&reference),
            created_by: None,
        },
        HOLD_TIMEOUT,
    )
    .await?;
    sqlx::query("UPDATE inference_jobs SET billed_to = $2, hold_id = $3 WHERE id = $1")
        .bind(job)
        .bind(namespace_id)
        .bind(&hold_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn hold_id(job: Uuid) -> String {
    format!("inference/{job}/hold")
}

/// Charges job `job` for the usage just recorded for it (when it was paid
/// for), inside the transaction that recorded it: the price of the class of
/// the device that ran it, in force when it started; never more than held.
pub async fn settle_job(conn: &mut PgConnection, job: Uuid, worker_id: i64) -> Result<()> {
    let row: Option<(String, i64, DateTime<Utc>, i64, i64)> = sqlx::query_as(
        "SELECT j.hold_id, j.billed_to, coalesce(j.started_at, j.created_at),
                u.prompt_tokens + u.generated_tokens, u.id
         FROM inference_jobs j JOIN usage_records u ON u.kind = 'inference' AND u.job_id = j.id
         WHERE j.id = $1 AND j.hold_id IS NOT NULL AND u.transfer_id IS NULL",
    )
    .bind(job)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((hold_id, payer, started, tokens, usage_id)) = row else {
        return Ok(());
    };
    let device: Option<(String, i64)> = sqlx::query_as(
        "SELECT device_kind, memory_bytes FROM worker_sessions
         WHERE worker_id = $1 ORDER BY started_at DESC LIMIT 1",
    )
    .bind(worker_id)
    .fetch_optional(&mut *conn)
    .await?;
    let class = device.map_or("cpu", |(kind, memory)| device_class(&kind, memory));
    let held: i64 = sqlx::query_scalar("SELECT amount FROM ledger_transfers WHERE id = $1")
        .bind(&hold_id)
        .fetch_one(&mut *conn)
        .await?;
    let rate = rates::in_force(&mut *conn, class, started).await?;
    let cost = rate
        .as_ref()
        .and_then(|r| money::charge(tokens, r.per_thousand_tokens.0, 1000))
        .unwrap_or(Credits::ZERO)
        .min(Credits(held));
    let charge_id = format!("inference/{job}/charge");
    match ledger::post(&mut *conn, &charge_id, &hold_id, cost).await {
        Ok(_) => {}
        // The hold ran out before the job ended: it is released, and the
        // job goes unpaid rather than charged without a hold.
        Err(Error::Conflict(m)) => {
            tracing::warn!(%job, "paid job not charged: {m}");
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    sqlx::query(
        "UPDATE usage_records SET namespace_id = $2, device_class = $3, rate_id = $4, cost = $5,
             transfer_id = $6
         WHERE id = $1",
    )
    .bind(usage_id)
    .bind(payer)
    .bind(class)
    .bind(rate.map(|r| r.id))
    .bind(cost.0)
    .bind(&charge_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Voids the holds of paid jobs that ended without success, and releases
/// holds whose time ran out. Run by every node's background sweep.
pub async fn sweep(db: &PgPool) -> Result<u64> {
    let unsettled: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT j.id, j.hold_id FROM inference_jobs j
         WHERE j.hold_id IS NOT NULL AND j.state IN ('failed', 'cancelled', 'dead')
           AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = j.hold_id)
         LIMIT 500",
    )
    .fetch_all(db)
    .await?;
    let mut released = 0;
    for (job, hold_id) in unsettled {
        let mut conn = db.acquire().await?;
        match ledger::void(&mut conn, &format!("inference/{job}/void"), &hold_id).await {
            Ok(_) => released += 1,
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(released + ledger::expire_due(db, 500).await?)
}
