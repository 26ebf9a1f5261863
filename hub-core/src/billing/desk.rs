//! The site admins' billing desk: the rate card, grants and refunds, and the
//! ledger's consistency check, each behind one check that the actor is a
//! site admin (anyone else gets "not found", as for a page that does not
//! exist). Amounts come as people type them, in yuan.

use sqlx::PgPool;

use super::ledger::{self, CheckReport};
use super::rates::{self, Rate};
use super::{Credits, Payer, PayerKind, grants};
use crate::accounts::{Actor, Principal};
use crate::error::{Error, Result};

/// What the desk shows: the rates in force and the consistency check.
#[derive(Debug, Clone)]
pub struct Desk {
    pub rates: Vec<Rate>,
    pub check: CheckReport,
}

/// A site admin with a credential that may make changes; "not found" for
/// everyone else.
pub fn site_admin(actor: &Actor) -> Result<&Principal> {
    match actor.principal() {
        Some(p) if p.user.is_admin && p.may_write() => Ok(p),
        _ => Err(Error::not_found("no such page")),
    }
}

/// The rates in force and the ledger's consistency check, for a site admin.
pub async fn overview(db: &PgPool, actor: &Actor) -> Result<Desk> {
    site_admin(actor)?;
    Ok(Desk {
        rates: rates::list(db).await?,
        check: ledger::check(db).await?,
    })
}

/// Adds a price for `device_class` from now on (both prices in yuan).
pub async fn add_rate(
    db: &PgPool,
    actor: &Actor,
    device_class: &str,
    per_second_yuan: &str,
    per_thousand_tokens_yuan: &str,
) -> Result<Rate> {
    let admin = site_admin(actor)?;
    let per_second = Credits::parse_yuan(per_second_yuan)?;
    let per_thousand = Credits::parse_yuan(per_thousand_tokens_yuan)?;
    rates::add(
        db,
        device_class.trim(),
        per_second,
        per_thousand,
        Some(admin.user.id),
    )
    .await
}

/// Whose wallet a desk form names: `user` or `org`, and the name.
pub fn payer_kind(kind: &str) -> Result<PayerKind> {
    match kind {
        "user" => Ok(PayerKind::User),
        "org" => Ok(PayerKind::Org),
        other => Err(Error::invalid(format!(
            "a payer is a user or an org, not {other:?}"
        ))),
    }
}

/// Grants `amount_yuan` to a user's or organisation's wallet; returns the
/// transfer's id.
pub async fn grant(
    db: &PgPool,
    actor: &Actor,
    kind: &str,
    name: &str,
    amount_yuan: &str,
    reason: &str,
) -> Result<(Payer, String)> {
    let admin = site_admin(actor)?;
    let amount = Credits::parse_yuan(amount_yuan)?;
    let payer = Payer::find(db, payer_kind(kind)?, name.trim()).await?;
    let id = grants::grant(db, &payer, amount, reason, Some(admin.user.id)).await?;
    Ok((payer, id))
}

/// Refunds `amount_yuan` of the charge `reference` (the id of a transfer
/// that took money from the wallet) to a user's or organisation's wallet;
/// returns the transfer's id. At most what was charged, less what was
/// refunded of it before, can be refunded.
pub async fn refund(
    db: &PgPool,
    actor: &Actor,
    kind: &str,
    name: &str,
    amount_yuan: &str,
    reason: &str,
    reference: &str,
) -> Result<(Payer, String)> {
    let admin = site_admin(actor)?;
    let amount = Credits::parse_yuan(amount_yuan)?;
    let reference = reference.trim();
    let payer = Payer::find(db, payer_kind(kind)?, name.trim()).await?;
    // Checked before the refund's own transaction: two admins refunding
    // the same charge at the same moment could both pass. Refunds come
    // from revenue, never from a customer's wallet, so no balance can go
    // wrong; `hub billing check` and the statements show both.
    let left = refundable(db, &payer, reference).await?;
    if amount > left {
        return Err(Error::invalid(format!(
            "at most {left} of {reference:?} can still be refunded"
        )));
    }
    let id = grants::refund(db, &payer, amount, reason, Some(admin.user.id), reference).await?;
    Ok((payer, id))
}

/// What is left to refund of charge `reference` on `payer`'s wallet: the
/// charge (money that left the wallet) less the refunds that name it.
pub async fn refundable(db: &PgPool, payer: &Payer, reference: &str) -> Result<Credits> {
    let charged: Option<i64> = sqlx::query_scalar(
        "SELECT t.amount FROM ledger_transfers t
         JOIN ledger_accounts a ON a.kind = 'wallet' AND a.namespace_id = $1
                               AND t.debit_account = a.id
         WHERE t.id = $2 AND t.flow IN ('posted', 'post')",
    )
    .bind(payer.namespace_id)
    .bind(reference)
    .fetch_optional(db)
    .await?;
    let Some(charged) = charged else {
        return Err(Error::invalid(format!(
            "{reference:?} is no charge on {}'s wallet (name the charge's transfer id)",
            payer.name
        )));
    };
    let refunded: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(t.amount), 0)::BIGINT FROM ledger_transfers t
         JOIN ledger_accounts a ON a.kind = 'wallet' AND a.namespace_id = $1
                               AND t.credit_account = a.id
         WHERE t.code = 'refund' AND t.reference = $2 AND t.flow = 'posted'",
    )
    .bind(payer.namespace_id)
    .bind(reference)
    .fetch_one(db)
    .await?;
    Ok(Credits(charged - refunded))
}
