//! The ledger: double-entry and append-only, after TigerBeetle.
//!
//! Every movement of money is one immutable row of `ledger_transfers`,
//! debiting one account and crediting another by the same amount, so debits
//! equal credits by construction. Each account keeps four counters
//! (`debits_pending`, `debits_posted`, `credits_pending`, `credits_posted`),
//! updated in the same transaction as the transfer; they are caches that
//! [`check`] recomputes from the transfers.
//!
//! A wallet's rule "what is held or spent never exceeds what came in" is one
//! conditional `UPDATE … WHERE credits_posted >= debits_posted +
//! debits_pending + amount`: under Read Committed a concurrent update of the
//! same row makes PostgreSQL wait and evaluate the condition again on the
//! new row, so two transfers can never both take the last yuan. A CHECK
//! constraint on the table is the backstop.
//!
//! Transfer ids are chosen by the caller and are the idempotency key: the
//! same transfer submitted again is [`Recorded::Exists`]; the same id with
//! other fields is a conflict.
//!
//! Every function takes a connection, so a caller can make a transfer part
//! of its own transaction (crediting an order, settling a job). A transfer
//! or hold is one statement (the `ledger_move` function of migration 0019):
//! one round trip, and a refused one writes nothing and leaves the caller's
//! transaction usable. Resolving a hold works in a savepoint of its own.

use std::time::Duration;

use sqlx::{Acquire, PgConnection, PgPool};

use super::money::Credits;
use crate::error::{Error, Message, Result};

/// A row of `ledger_accounts`.
pub type AccountId = i64;

/// The accounts that are not a customer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemAccount {
    /// Where charges for usage go.
    Revenue,
    /// Where granted (promotional, goodwill) credits come from.
    Promo,
}

impl SystemAccount {
    fn kind(self) -> &'static str {
        match self {
            SystemAccount::Revenue => "revenue",
            SystemAccount::Promo => "promo",
        }
    }
}

/// The wallet of a user or organisation (made on first use).
pub async fn wallet(conn: &mut PgConnection, namespace_id: i64) -> Result<AccountId> {
    sqlx::query(
        "INSERT INTO ledger_accounts (kind, namespace_id, debits_must_not_exceed_credits)
         VALUES ('wallet', $1, true)
         ON CONFLICT (namespace_id) WHERE kind = 'wallet' DO NOTHING",
    )
    .bind(namespace_id)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar(
        "SELECT id FROM ledger_accounts WHERE kind = 'wallet' AND namespace_id = $1",
    )
    .bind(namespace_id)
    .fetch_one(&mut *conn)
    .await?)
}

/// A system account (made on first use). Its balance may go either way: the
/// promo account's debits are the credits granted so far.
pub async fn system(conn: &mut PgConnection, which: SystemAccount) -> Result<AccountId> {
    sqlx::query(
        "INSERT INTO ledger_accounts (kind, debits_must_not_exceed_credits) VALUES ($1, false)
         ON CONFLICT (kind) WHERE kind IN ('revenue', 'promo') DO NOTHING",
    )
    .bind(which.kind())
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT id FROM ledger_accounts WHERE kind = $1")
            .bind(which.kind())
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The clearing account of a payment provider: money the provider says it
/// received for us, before (and as) it is credited to a wallet.
pub async fn clearing(conn: &mut PgConnection, provider: &str) -> Result<AccountId> {
    sqlx::query(
        "INSERT INTO ledger_accounts (kind, provider, debits_must_not_exceed_credits)
         VALUES ('clearing', $1, false)
         ON CONFLICT (provider) WHERE kind = 'clearing' DO NOTHING",
    )
    .bind(provider)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_scalar(
        "SELECT id FROM ledger_accounts WHERE kind = 'clearing' AND provider = $1",
    )
    .bind(provider)
    .fetch_one(&mut *conn)
    .await?)
}

/// What moves, between which accounts, and why.
#[derive(Debug, Clone)]
pub struct Transfer<'a> {
    /// The idempotency key: at most one transfer has it, ever.
    pub id: &'a str,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: Credits,
    /// Why: `grant`, `topup`, `inference`, `finetune`, `refund`, `correction`…
    pub code: &'a str,
    pub memo: &'a str,
    /// What it is about: an order id, a job id.
    pub reference: Option<&'a str>,
    /// The site admin behind a grant, refund or correction.
    pub created_by: Option<i64>,
}

/// What submitting a transfer came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Written now.
    Created,
    /// Written before, with the same fields: nothing more happened.
    Exists,
}

/// A wallet's money as the counters have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    /// Credits in minus debits out, holds not counted.
    pub posted: Credits,
    /// Held for work in progress.
    pub held: Credits,
    /// What can be held or spent now: posted minus held.
    pub available: Credits,
}

/// Moves `amount` at once. A wallet on the debit side must have it available.
pub async fn transfer(conn: &mut PgConnection, t: &Transfer<'_>) -> Result<Recorded> {
    submit(conn, t, None).await
}

/// Reserves `amount` (a hold) until it is posted, voided, or `timeout` runs
/// out and it releases by itself. A wallet on the debit side must have it
/// available; so a later [`post`] can never fail for want of money.
pub async fn hold(
    conn: &mut PgConnection,
    t: &Transfer<'_>,
    timeout: Duration,
) -> Result<Recorded> {
    submit(conn, t, Some(timeout)).await
}

/// A posted transfer, or a pending one with its timeout, in one statement
/// (`ledger_move`, migration 0019): a refused transfer writes nothing and
/// leaves a caller's transaction usable.
async fn submit(
    conn: &mut PgConnection,
    t: &Transfer<'_>,
    timeout: Option<Duration>,
) -> Result<Recorded> {
    check_fields(t)?;
    let flow = if timeout.is_some() {
        "pending"
    } else {
        "posted"
    };
    let seconds = timeout.map(|t| t.as_secs_f64().max(1.0));
    let outcome: String =
        sqlx::query_scalar("SELECT ledger_move($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
            .bind(t.id)
            .bind(t.debit)
            .bind(t.credit)
            .bind(t.amount.0)
            .bind(flow)
            .bind(seconds)
            .bind(t.code)
            .bind(t.memo)
            .bind(t.reference)
            .bind(t.created_by)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| {
                if crate::error::is_unique_violation(&e) {
                    // Another submission of the same id got there first, between
                    // this one's look and its insert.
                    Error::conflict(format!(
                        "transfer {:?} is being written by another request; submit it again",
                        t.id
                    ))
                } else {
                    e.into()
                }
            })?;
    match outcome.as_str() {
        "created" => Ok(Recorded::Created),
        "exists" => same_as_recorded(conn, t, flow, None).await,
        _ => Err(Error::insufficient_credits(Message::coded(
            "billing.insufficient_credits",
            "insufficient credits",
        ))),
    }
}

/// Settles the hold `pending_id` for `amount` (at most what it holds; the
/// rest is released) with a transfer of id `id`.
pub async fn post(
    conn: &mut PgConnection,
    id: &str,
    pending_id: &str,
    amount: Credits,
) -> Result<Recorded> {
    resolve(conn, id, pending_id, Resolution::Post(amount)).await
}

/// Releases the hold `pending_id` in full with a transfer of id `id`.
pub async fn void(conn: &mut PgConnection, id: &str, pending_id: &str) -> Result<Recorded> {
    resolve(conn, id, pending_id, Resolution::Void).await
}

/// Releases holds whose time ran out (at most `limit` of them, oldest first)
/// and says how many it released.
pub async fn expire_due(db: &PgPool, limit: i64) -> Result<u64> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT p.id FROM ledger_transfers p
         WHERE p.flow = 'pending' AND p.timeout_at <= now()
           AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = p.id)
         ORDER BY p.timeout_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    let mut released = 0;
    for pending_id in due {
        let mut conn = db.acquire().await?;
        let id = format!("{pending_id}/expired");
        match resolve(&mut conn, &id, &pending_id, Resolution::Expire).await {
            Ok(Recorded::Created) => released += 1,
            // Posted or voided meanwhile, or expired by another node.
            Ok(Recorded::Exists) | Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(released)
}

/// Releases the expired holds on one account: a hold refused for want of
/// money tries once more after this, so a hold past its time never blocks.
async fn expire_on_account(conn: &mut PgConnection, account: AccountId) -> Result<u64> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT p.id FROM ledger_transfers p
         WHERE p.flow = 'pending' AND p.debit_account = $1 AND p.timeout_at <= now()
           AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = p.id)",
    )
    .bind(account)
    .fetch_all(&mut *conn)
    .await?;
    let mut released = 0;
    for pending_id in due {
        let id = format!("{pending_id}/expired");
        if let Ok(Recorded::Created) =
            resolve(&mut *conn, &id, &pending_id, Resolution::Expire).await
        {
            released += 1;
        }
    }
    Ok(released)
}

/// Like [`hold`], but when the wallet is short, releases its expired holds
/// first and tries again once.
pub async fn hold_releasing_expired(
    conn: &mut PgConnection,
    t: &Transfer<'_>,
    timeout: Duration,
) -> Result<Recorded> {
    match hold(&mut *conn, t, timeout).await {
        Err(Error::InsufficientCredits(m)) => {
            if expire_on_account(&mut *conn, t.debit).await? == 0 {
                return Err(Error::InsufficientCredits(m));
            }
            hold(conn, t, timeout).await
        }
        other => other,
    }
}

/// An account's counters read as a balance.
pub async fn balance(conn: &mut PgConnection, account: AccountId) -> Result<Balance> {
    let (debits_pending, debits_posted, credits_posted): (i64, i64, i64) = sqlx::query_as(
        "SELECT debits_pending, debits_posted, credits_posted FROM ledger_accounts WHERE id = $1",
    )
    .bind(account)
    .fetch_one(&mut *conn)
    .await?;
    let posted = credits_posted - debits_posted;
    Ok(Balance {
        posted: Credits(posted),
        held: Credits(debits_pending),
        available: Credits(posted - debits_pending),
    })
}

/// The balance of a user's or organisation's wallet; zero when it has none.
pub async fn wallet_balance(db: &PgPool, namespace_id: i64) -> Result<Balance> {
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT debits_pending, debits_posted, credits_posted FROM ledger_accounts
         WHERE kind = 'wallet' AND namespace_id = $1",
    )
    .bind(namespace_id)
    .fetch_optional(db)
    .await?;
    Ok(
        row.map_or_else(Balance::default, |(held, debits, credits)| Balance {
            posted: Credits(credits - debits),
            held: Credits(held),
            available: Credits(credits - debits - held),
        }),
    )
}

/// One counter of one account that does not equal what its transfers say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub account: AccountId,
    pub counter: &'static str,
    pub stored: i64,
    pub from_transfers: i64,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    pub accounts: i64,
    pub transfers: i64,
    /// Posted debits and credits over all accounts (equal when sound).
    pub debits_posted: i64,
    pub credits_posted: i64,
    pub differences: Vec<Difference>,
    /// Wallets whose holds and spending exceed what came in.
    pub overdrawn: Vec<AccountId>,
}

impl CheckReport {
    pub fn is_sound(&self) -> bool {
        self.differences.is_empty()
            && self.overdrawn.is_empty()
            && self.debits_posted == self.credits_posted
    }
}

/// An account's stored counters, then the same four from its transfers.
#[derive(sqlx::FromRow)]
struct CheckedAccount(i64, i64, i64, i64, i64, i64, i64, i64, i64);

/// Recomputes every account's counters from the transfers, in one snapshot
/// (REPEATABLE READ), and reports each counter that differs.
pub async fn check(db: &PgPool) -> Result<CheckReport> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    // Each transfer's effect on its two accounts; a resolution undoes its
    // hold's pending amount and (for a post) adds the posted amount.
    let rows: Vec<CheckedAccount> = sqlx::query_as(
        "WITH effects AS (
            SELECT t.debit_account AS account,
                   CASE t.flow WHEN 'pending' THEN t.amount
                               WHEN 'posted' THEN 0 ELSE -p.amount END AS debits_pending,
                   CASE WHEN t.flow IN ('posted', 'post') THEN t.amount ELSE 0 END AS debits_posted,
                   0::BIGINT AS credits_pending, 0::BIGINT AS credits_posted
            FROM ledger_transfers t LEFT JOIN ledger_transfers p ON p.id = t.pending_id
            UNION ALL
            SELECT t.credit_account, 0, 0,
                   CASE t.flow WHEN 'pending' THEN t.amount
                               WHEN 'posted' THEN 0 ELSE -p.amount END,
                   CASE WHEN t.flow IN ('posted', 'post') THEN t.amount ELSE 0 END
            FROM ledger_transfers t LEFT JOIN ledger_transfers p ON p.id = t.pending_id
         ), sums AS (
            SELECT account, sum(debits_pending)::BIGINT AS dpe, sum(debits_posted)::BIGINT AS dpo,
                   sum(credits_pending)::BIGINT AS cpe, sum(credits_posted)::BIGINT AS cpo
            FROM effects GROUP BY account
         )
         SELECT a.id, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
                coalesce(s.dpe, 0), coalesce(s.dpo, 0), coalesce(s.cpe, 0), coalesce(s.cpo, 0)
         FROM ledger_accounts a LEFT JOIN sums s ON s.account = a.id
         ORDER BY a.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut report = CheckReport {
        accounts: rows.len() as i64,
        ..CheckReport::default()
    };
    for CheckedAccount(account, dpe, dpo, cpe, cpo, xdpe, xdpo, xcpe, xcpo) in rows {
        for (counter, stored, from_transfers) in [
            ("debits_pending", dpe, xdpe),
            ("debits_posted", dpo, xdpo),
            ("credits_pending", cpe, xcpe),
            ("credits_posted", cpo, xcpo),
        ] {
            if stored != from_transfers {
                report.differences.push(Difference {
                    account,
                    counter,
                    stored,
                    from_transfers,
                });
            }
        }
        report.debits_posted += xdpo;
        report.credits_posted += xcpo;
    }
    report.overdrawn = sqlx::query_scalar(
        "SELECT id FROM ledger_accounts WHERE debits_must_not_exceed_credits
           AND debits_pending + debits_posted > credits_posted ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    report.transfers = sqlx::query_scalar("SELECT count(*) FROM ledger_transfers")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(report)
}

// --- inside -----------------------------------------------------------------

fn check_fields(t: &Transfer<'_>) -> Result<()> {
    if t.id.is_empty() || t.id.len() > 200 {
        return Err(Error::invalid("a transfer id has 1 to 200 characters"));
    }
    if t.amount.0 < 0 {
        return Err(Error::invalid("a transfer's amount is never negative"));
    }
    if t.debit == t.credit {
        return Err(Error::invalid(
            "a transfer moves money between two accounts",
        ));
    }
    Ok(())
}

/// Writes a resolution's transfer row; false when the id is taken.
async fn insert(
    conn: &mut PgConnection,
    t: &Transfer<'_>,
    flow: &str,
    pending_id: &str,
) -> Result<bool> {
    let written = sqlx::query(
        "INSERT INTO ledger_transfers
             (id, debit_account, credit_account, amount, flow, pending_id, code, memo, reference,
              created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(t.id)
    .bind(t.debit)
    .bind(t.credit)
    .bind(t.amount.0)
    .bind(flow)
    .bind(pending_id)
    .bind(t.code)
    .bind(t.memo)
    .bind(t.reference)
    .bind(t.created_by)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        if crate::error::is_unique_violation(&e) {
            // The one other unique index: a hold is resolved once.
            Error::conflict("this hold is already posted, voided or expired")
        } else {
            e.into()
        }
    })?;
    Ok(written.rows_affected() == 1)
}

/// The id is taken: the same transfer again is `Exists`, another is an error.
async fn same_as_recorded(
    conn: &mut PgConnection,
    t: &Transfer<'_>,
    flow: &str,
    pending_id: Option<&str>,
) -> Result<Recorded> {
    let (debit, credit, amount, recorded_flow, recorded_pending, code): (
        i64,
        i64,
        i64,
        String,
        Option<String>,
        String,
    ) = sqlx::query_as(
        "SELECT debit_account, credit_account, amount, flow, pending_id, code
         FROM ledger_transfers WHERE id = $1",
    )
    .bind(t.id)
    .fetch_one(&mut *conn)
    .await?;
    if (
        debit,
        credit,
        amount,
        recorded_flow.as_str(),
        recorded_pending.as_deref(),
        code.as_str(),
    ) == (t.debit, t.credit, t.amount.0, flow, pending_id, t.code)
    {
        Ok(Recorded::Exists)
    } else {
        Err(Error::conflict(format!(
            "transfer {:?} exists with different fields",
            t.id
        )))
    }
}

/// What a resolution does to its hold's two accounts: the held amount
/// leaves `pending`, the posted part (if any) joins `posted`.
#[derive(Debug, Clone, Copy)]
struct Counters {
    pending: i64,
    posted: i64,
}

/// Applies a resolution to the debit side of `debit` and the credit side of
/// `credit`, locking the rows in id order (as `ledger_move` does, so the two
/// cannot deadlock). It never adds to what a wallet holds or spends, so it
/// needs no condition: the hold already reserved the money.
async fn move_counters(
    conn: &mut PgConnection,
    debit: AccountId,
    credit: AccountId,
    change: Counters,
) -> Result<()> {
    sqlx::query("SELECT 1 FROM ledger_accounts WHERE id IN ($1, $2) ORDER BY id FOR NO KEY UPDATE")
        .bind(debit)
        .bind(credit)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE ledger_accounts
         SET debits_pending = debits_pending + $2, debits_posted = debits_posted + $3
         WHERE id = $1",
    )
    .bind(debit)
    .bind(change.pending)
    .bind(change.posted)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE ledger_accounts
         SET credits_pending = credits_pending + $2, credits_posted = credits_posted + $3
         WHERE id = $1",
    )
    .bind(credit)
    .bind(change.pending)
    .bind(change.posted)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

enum Resolution {
    Post(Credits),
    Void,
    Expire,
}

async fn resolve(
    conn: &mut PgConnection,
    id: &str,
    pending_id: &str,
    resolution: Resolution,
) -> Result<Recorded> {
    let mut tx = conn.begin().await?;
    // Locking the hold serialises its resolutions: the loser of a race sees
    // the winner's row.
    let held: Option<(i64, i64, i64, String, bool)> = sqlx::query_as(
        "SELECT debit_account, credit_account, amount, code, timeout_at <= now()
         FROM ledger_transfers WHERE id = $1 AND flow = 'pending' FOR UPDATE",
    )
    .bind(pending_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((debit, credit, held, code, timed_out)) = held else {
        return Err(Error::not_found(format!("no hold {pending_id:?}")));
    };
    let (flow, amount) = match resolution {
        Resolution::Post(amount) => ("post", amount),
        Resolution::Void => ("void", Credits::ZERO),
        Resolution::Expire => ("expire", Credits::ZERO),
    };
    let t = Transfer {
        id,
        debit,
        credit,
        amount,
        code: &code,
        memo: "",
        reference: None,
        created_by: None,
    };
    if let Some(existing) = resolution_of(&mut tx, pending_id).await? {
        if existing == id {
            return same_as_recorded(&mut tx, &t, flow, Some(pending_id)).await;
        }
        let how: String = sqlx::query_scalar("SELECT flow FROM ledger_transfers WHERE id = $1")
            .bind(&existing)
            .fetch_one(&mut *tx)
            .await?;
        let how = match how.as_str() {
            "post" => "posted",
            "void" => "voided",
            _ => "expired",
        };
        return Err(Error::conflict(format!("this hold is already {how}")));
    }
    if amount.0 > held {
        return Err(Error::invalid(format!(
            "cannot post {amount} against a hold of {}",
            Credits(held)
        )));
    }
    if matches!(resolution, Resolution::Post(_)) && timed_out {
        return Err(Error::conflict("this hold has expired"));
    }
    if matches!(resolution, Resolution::Expire) && !timed_out {
        return Err(Error::conflict("this hold has not expired"));
    }
    if !insert(&mut tx, &t, flow, pending_id).await? {
        return same_as_recorded(&mut tx, &t, flow, Some(pending_id)).await;
    }
    let change = Counters {
        pending: -held,
        posted: amount.0,
    };
    move_counters(&mut tx, debit, credit, change).await?;
    tx.commit().await?;
    Ok(Recorded::Created)
}

/// The id of the transfer that resolved a hold, if one did.
async fn resolution_of(conn: &mut PgConnection, pending_id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM ledger_transfers WHERE pending_id = $1")
            .bind(pending_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}
