//! Credits given by the site's admins: grants from the promotional account,
//! and refunds of charges (a reversing transfer from revenue; the charge
//! itself stays as it was).

use sqlx::PgPool;
use uuid::Uuid;

use super::ledger::{self, Recorded, SystemAccount, Transfer};
use super::{Credits, Payer};
use crate::error::{Error, Message, Result};

/// Longest reason kept with a grant or refund.
const MAX_REASON_CHARS: usize = 500;

/// Credits `amount` to `payer`'s wallet from the promotional account and
/// returns the transfer's id.
pub async fn grant(
    db: &PgPool,
    payer: &Payer,
    amount: Credits,
    reason: &str,
    by: Option<i64>,
) -> Result<String> {
    give(
        db,
        payer,
        amount,
        reason,
        by,
        SystemAccount::Promo,
        "grant",
        None,
    )
    .await
}

/// Gives back `amount` of what `payer` was charged, from revenue, naming the
/// charge (or order) it refunds in `reference`.
pub async fn refund(
    db: &PgPool,
    payer: &Payer,
    amount: Credits,
    reason: &str,
    by: Option<i64>,
    reference: &str,
) -> Result<String> {
    give(
        db,
        payer,
        amount,
        reason,
        by,
        SystemAccount::Revenue,
        "refund",
        Some(reference),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn give(
    db: &PgPool,
    payer: &Payer,
    amount: Credits,
    reason: &str,
    by: Option<i64>,
    from: SystemAccount,
    code: &str,
    reference: Option<&str>,
) -> Result<String> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid(Message::coded(
            "billing.reason_required",
            "say why (a reason is kept with the transfer)",
        )));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::invalid(format!(
            "a reason has at most {MAX_REASON_CHARS} characters"
        )));
    }
    if amount.0 <= 0 {
        return Err(Error::invalid(Message::coded(
            "billing.amount_not_positive",
            "the amount must be more than zero",
        )));
    }
    let id = format!("{code}/{}", Uuid::new_v4());
    let mut tx = db.begin().await?;
    let debit = ledger::system(&mut tx, from).await?;
    let credit = ledger::wallet(&mut tx, payer.namespace_id).await?;
    let recorded = ledger::transfer(
        &mut tx,
        &Transfer {
            id: &id,
            debit,
            credit,
            amount,
            code,
            memo: reason,
            reference,
            created_by: by,
        },
    )
    .await?;
    debug_assert_eq!(recorded, Recorded::Created);
    tx.commit().await?;
    Ok(id)
}
