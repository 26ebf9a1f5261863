//! What a payer sees of their money: the balance, the transactions on their
//! wallet (newest first), holds in force, usage by day and by job with its
//! cost, top-up orders, a receipt for one payment, and a CSV export.
//!
//! Who may look is decided here, once: a user sees their own wallet, an
//! organisation's wallet is seen by its admins only; anyone else gets "not
//! found", exactly as for an organisation that does not exist. Every read
//! takes the [`Statement`] proof that [`open`] makes.
//!
//! Reading a wallet's transfers: a transfer that credits the wallet counts
//! plus, one that debits it minus. A hold (`pending`) shows as "held" until
//! it is resolved; then its resolution stands for it: a `post` shows what
//! was actually charged, a `void` or `expire` moved nothing and shows no
//! row (the hold's row is left out as well).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::Stream;
use serde::Serialize;
use sqlx::PgPool;

use super::ledger::{self, Balance};
use super::metering;
use super::{Credits, Payer};
use crate::accounts::Actor;
use crate::accounts::orgs;
use crate::error::{Error, Result};
use crate::repos::storage::StorageUse;

/// Most transactions on one page.
pub const MAX_PER_PAGE: i64 = 100;
/// Most days of usage one request groups.
pub const MAX_DAYS: i64 = 366;
/// Most jobs, holds or orders one list shows (newest first).
pub const MAX_LIST: i64 = 200;
/// Transactions read per batch of the CSV export.
const CSV_BATCH: i64 = 500;

/// Proof that the viewer may read this payer's statements; made only by [`open`].
#[derive(Debug, Clone)]
pub struct Statement {
    payer: Payer,
}

impl Statement {
    pub fn payer(&self) -> &Payer {
        &self.payer
    }
}

/// The wallet `viewer` asks for: their own (`org` is `None`), or the
/// organisation `org`'s if they are one of its admins. Anonymous viewers
/// are `Unauthenticated`; anyone else asking for an organisation they do not
/// administer gets the same "not found" as for one that does not exist.
pub async fn open(db: &PgPool, viewer: &Actor, org: Option<&str>) -> Result<Statement> {
    let principal = viewer.require_user()?;
    // Statements hide an organisation's money from its other members too:
    // refused is answered as not found.
    let payer = match Payer::acting(db, &principal.user, org).await {
        Err(Error::Forbidden(_)) => return Err(orgs::org_not_found(org.unwrap_or_default())),
        other => other?,
    };
    Ok(Statement { payer })
}

/// The wallet's balance (zero before its first transfer).
pub async fn balance(db: &PgPool, s: &Statement) -> Result<Balance> {
    ledger::wallet_balance(db, s.payer.namespace_id).await
}

/// What a transaction line stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineState {
    /// Money moved.
    Posted,
    /// Reserved by a hold that is not resolved yet.
    Held,
}

/// One line of a wallet's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The transfer's id (a post's own id, not its hold's).
    pub id: String,
    pub at: DateTime<Utc>,
    /// Why: grant, topup, inference, finetune, refund, correction…
    pub code: String,
    pub memo: String,
    pub reference: Option<String>,
    /// Plus into the wallet, minus out of it.
    pub amount: Credits,
    /// The ledger's flow: posted, pending or post.
    pub flow: String,
    pub state: LineState,
}

/// The signed amount and state of a transfer as seen from one wallet:
/// credits count plus, debits minus; a `pending` transfer is held, a
/// `posted` or `post` one moved money. `None` for flows that move nothing
/// on their own (`void`, `expire`).
pub fn signed(flow: &str, wallet_is_debited: bool, amount: i64) -> Option<(Credits, LineState)> {
    let state = match flow {
        "posted" | "post" => LineState::Posted,
        "pending" => LineState::Held,
        _ => return None,
    };
    let amount = if wallet_is_debited { -amount } else { amount };
    Some((Credits(amount), state))
}

/// One page of lines, newest first, with how many there are in all.
#[derive(Debug, Clone)]
pub struct Page {
    pub lines: Vec<Line>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

impl Page {
    pub fn pages(&self) -> i64 {
        ((self.total + self.per_page - 1) / self.per_page).max(1)
    }
}

// The SQL below is put together from these constants only (never from
// input), hence `AssertSqlSafe`.

/// The transfers of the wallet that a statement shows: every posted one and
/// every post, and holds not yet resolved. `$1` is the wallet's namespace.
const LINES: &str = "
    FROM ledger_transfers t
    JOIN ledger_accounts a ON a.kind = 'wallet' AND a.namespace_id = $1
                          AND (t.debit_account = a.id OR t.credit_account = a.id)
    LEFT JOIN ledger_transfers p ON p.id = t.pending_id
    WHERE (t.flow IN ('posted', 'post')
           OR (t.flow = 'pending'
               AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id)))";

const LINE_COLUMNS: &str = "SELECT t.id, t.created_at, t.code,
           coalesce(nullif(t.memo, ''), p.memo, ''), coalesce(t.reference, p.reference),
           t.amount, t.flow, t.debit_account = a.id";

type LineRow = (
    String,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    i64,
    String,
    bool,
);

fn line(row: LineRow) -> Option<Line> {
    let (id, at, code, memo, reference, amount, flow, debited) = row;
    let (amount, state) = signed(&flow, debited, amount)?;
    Some(Line {
        id,
        at,
        code,
        memo,
        reference,
        amount,
        flow,
        state,
    })
}

/// Page `page` (from 1) of the wallet's lines, `per_page` (1 to
/// [`MAX_PER_PAGE`]) at a time, newest first.
pub async fn transactions(db: &PgPool, s: &Statement, page: i64, per_page: i64) -> Result<Page> {
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(Error::invalid(format!(
            "per_page is 1 to {MAX_PER_PAGE}, not {per_page}"
        )));
    }
    if !(1..=1_000_000).contains(&page) {
        return Err(Error::invalid("page counts from 1"));
    }
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {LINES}")))
        .bind(s.payer.namespace_id)
        .fetch_one(db)
        .await?;
    let rows: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{LINE_COLUMNS} {LINES} ORDER BY t.created_at DESC, t.id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(s.payer.namespace_id)
    .bind(per_page)
    .bind((page - 1) * per_page)
    .fetch_all(db)
    .await?;
    Ok(Page {
        lines: rows.into_iter().filter_map(line).collect(),
        page,
        per_page,
        total,
    })
}

/// The receipt for transfer `id` on this wallet (money that moved, not a
/// hold), or for the paid top-up order `id`. Anything else — another
/// wallet's transfer included — is "not found".
pub async fn receipt(db: &PgPool, s: &Statement, id: &str) -> Result<Line> {
    let not_found = || Error::not_found(format!("no receipt {id:?}"));
    if id.is_empty() || id.len() > 200 {
        return Err(not_found());
    }
    let transfer_id: Option<String> = sqlx::query_scalar(
        "SELECT coalesce(
            (SELECT id FROM ledger_transfers WHERE id = $1),
            (SELECT transfer_id FROM billing_orders
             WHERE id = $1 AND namespace_id = $2 AND state = 'paid'))",
    )
    .bind(id)
    .bind(s.payer.namespace_id)
    .fetch_one(db)
    .await?;
    let transfer_id = transfer_id.ok_or_else(not_found)?;
    let row: Option<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{LINE_COLUMNS} {LINES} AND t.id = $2 AND t.flow IN ('posted', 'post')"
    )))
    .bind(s.payer.namespace_id)
    .bind(&transfer_id)
    .fetch_optional(db)
    .await?;
    row.and_then(line).ok_or_else(not_found)
}

/// A hold in force on the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: String,
    pub at: DateTime<Utc>,
    pub code: String,
    pub memo: String,
    pub reference: Option<String>,
    pub amount: Credits,
    /// When it releases by itself if not posted or voided first.
    pub timeout_at: DateTime<Utc>,
}

/// The wallet's unresolved holds, newest first (at most [`MAX_LIST`]).
pub async fn holds(db: &PgPool, s: &Statement) -> Result<Vec<Hold>> {
    type Row = (
        String,
        DateTime<Utc>,
        String,
        String,
        Option<String>,
        i64,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT t.id, t.created_at, t.code, t.memo, t.reference, t.amount, t.timeout_at
             FROM ledger_transfers t
             JOIN ledger_accounts a ON a.kind = 'wallet' AND a.namespace_id = $1
                                   AND t.debit_account = a.id
             WHERE t.flow = 'pending'
               AND NOT EXISTS (SELECT 1 FROM ledger_transfers r WHERE r.pending_id = t.id)
             ORDER BY t.created_at DESC, t.id DESC LIMIT $2",
    )
    .bind(s.payer.namespace_id)
    .bind(MAX_LIST)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, at, code, memo, reference, amount, timeout_at)| Hold {
            id,
            at,
            code,
            memo,
            reference,
            amount: Credits(amount),
            timeout_at,
        })
        .collect())
}

/// Priced usage of one day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayUsage {
    pub day: NaiveDate,
    pub cost: Credits,
    pub tokens: i64,
    pub device_ms: i64,
    pub records: i64,
}

/// The days from `first` to `last` (inclusive), each with its usage from
/// `sums` or nothing: a chart's bars, one per day, gaps included. Sums for
/// days outside the range are left out; two sums of one day add up.
pub fn fill_days(first: NaiveDate, last: NaiveDate, sums: &[DayUsage]) -> Vec<DayUsage> {
    let mut days = Vec::new();
    let mut day = first;
    while day <= last {
        days.push(DayUsage {
            day,
            cost: Credits::ZERO,
            tokens: 0,
            device_ms: 0,
            records: 0,
        });
        day = match day.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    for sum in sums {
        if let Some(slot) = days.iter_mut().find(|d| d.day == sum.day) {
            slot.cost = Credits(slot.cost.0 + sum.cost.0);
            slot.tokens += sum.tokens;
            slot.device_ms += sum.device_ms;
            slot.records += sum.records;
        }
    }
    days
}

/// What a list of usages adds up to.
pub fn total_cost(days: &[DayUsage]) -> Credits {
    Credits(days.iter().map(|d| d.cost.0).sum())
}

/// Priced usage of the last `days` days (today included, UTC), one entry
/// per day, oldest first. Only charged records (with a cost) count.
pub async fn usage_by_day(db: &PgPool, s: &Statement, days: i64) -> Result<Vec<DayUsage>> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Error::invalid(format!("days is 1 to {MAX_DAYS}")));
    }
    let last = Utc::now().date_naive();
    let first = last - Duration::days(days - 1);
    let rows: Vec<(NaiveDate, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, sum(cost)::BIGINT,
                sum(prompt_tokens + generated_tokens)::BIGINT, sum(device_ms)::BIGINT, count(*)
         FROM usage_records
         WHERE namespace_id = $1 AND cost IS NOT NULL
           AND created_at >= ($2::date)::timestamp AT TIME ZONE 'UTC'
         GROUP BY 1",
    )
    .bind(s.payer.namespace_id)
    .bind(first)
    .fetch_all(db)
    .await?;
    let sums: Vec<DayUsage> = rows
        .into_iter()
        .map(|(day, cost, tokens, device_ms, records)| DayUsage {
            day,
            cost: Credits(cost),
            tokens,
            device_ms,
            records,
        })
        .collect();
    Ok(fill_days(first, last, &sums))
}

/// Priced usage of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobUsage {
    /// The job's id; `None` gathers records that name no job.
    pub job_id: Option<String>,
    pub kind: String,
    /// The repo the job ran (`namespace/name`), if it still exists.
    pub repo: Option<String>,
    pub device_class: Option<String>,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub tokens: i64,
    pub device_ms: i64,
    pub cost: Credits,
}

/// Priced usage of the last `days` days per job, most recent first (at most
/// [`MAX_LIST`] jobs).
pub async fn usage_by_job(db: &PgPool, s: &Statement, days: i64) -> Result<Vec<JobUsage>> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Error::invalid(format!("days is 1 to {MAX_DAYS}")));
    }
    let first = Utc::now().date_naive() - Duration::days(days - 1);
    type Row = (
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        DateTime<Utc>,
        DateTime<Utc>,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT u.job_id::TEXT, u.kind, max(n.name || '/' || r.name), max(u.device_class),
                min(u.created_at), max(u.created_at),
                sum(u.prompt_tokens + u.generated_tokens)::BIGINT, sum(u.device_ms)::BIGINT,
                sum(u.cost)::BIGINT
         FROM usage_records u
         LEFT JOIN repos r ON r.id = u.repo_id
         LEFT JOIN namespaces n ON n.id = r.namespace_id
         WHERE u.namespace_id = $1 AND u.cost IS NOT NULL
           AND u.created_at >= ($2::date)::timestamp AT TIME ZONE 'UTC'
         GROUP BY u.job_id, u.kind
         ORDER BY max(u.created_at) DESC LIMIT $3",
    )
    .bind(s.payer.namespace_id)
    .bind(first)
    .bind(MAX_LIST)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(job_id, kind, repo, device_class, first_at, last_at, tokens, device_ms, cost)| {
                JobUsage {
                    job_id,
                    kind,
                    repo,
                    device_class,
                    first_at,
                    last_at,
                    tokens,
                    device_ms,
                    cost: Credits(cost),
                }
            },
        )
        .collect())
}

/// A top-up order and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub provider: String,
    /// In the provider's minor unit of `currency` (fen for CNY).
    pub amount_minor: i64,
    pub currency: String,
    pub credits: Credits,
    /// pending, paid, expired or failed.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub transfer_id: Option<String>,
}

/// The wallet's top-up orders, newest first (at most [`MAX_LIST`]).
pub async fn orders(db: &PgPool, s: &Statement) -> Result<Vec<Order>> {
    type Row = (
        String,
        String,
        i64,
        String,
        i64,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, provider, amount_minor, currency, credits, state, created_at, paid_at,
                transfer_id
         FROM billing_orders WHERE namespace_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(s.payer.namespace_id)
    .bind(MAX_LIST)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                provider,
                amount_minor,
                currency,
                credits,
                state,
                created_at,
                paid_at,
                transfer_id,
            )| {
                Order {
                    id,
                    provider,
                    amount_minor,
                    currency,
                    credits: Credits(credits),
                    state,
                    created_at,
                    paid_at,
                    transfer_id,
                }
            },
        )
        .collect())
}

/// Transactions on one page of the billing page.
pub const PAGE_LINES: i64 = 20;
/// Days of usage the billing page charts.
pub const CHART_DAYS: i64 = 30;

/// Everything the billing page shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub balance: Balance,
    /// Whether requests past the free quota are paid from this wallet.
    pub paid_inference: bool,
    /// What the payer's repos take in the store, all together.
    pub storage: StorageUse,
    /// The last [`CHART_DAYS`] days, oldest first.
    pub days: Vec<DayUsage>,
    pub jobs: Vec<JobUsage>,
    pub holds: Vec<Hold>,
    pub orders: Vec<Order>,
    pub transactions: Page,
}

/// The billing page's content: balance, usage by day and by job over the
/// last [`CHART_DAYS`] days, holds, orders, and page `page` of the
/// transactions ([`PAGE_LINES`] a page).
pub async fn overview(db: &PgPool, s: &Statement, page: i64) -> Result<Overview> {
    Ok(Overview {
        balance: balance(db, s).await?,
        paid_inference: metering::paid_inference(&mut *db.acquire().await?, s.payer.namespace_id)
            .await?,
        storage: storage(db, s).await?,
        days: usage_by_day(db, s, CHART_DAYS).await?,
        jobs: usage_by_job(db, s, CHART_DAYS).await?,
        holds: holds(db, s).await?,
        orders: orders(db, s).await?,
        transactions: transactions(db, s, page, PAGE_LINES).await?,
    })
}

/// What the payer's repos take in the store: the logical size of their
/// large files and the bytes stored for them, a file or chunk shared by
/// several of its repos counted once.
pub async fn storage(db: &PgPool, s: &Statement) -> Result<StorageUse> {
    crate::repos::storage::of_namespace(db, s.payer.namespace_id).await
}

/// Turns paying for inference past the free quota from this wallet on or
/// off. Changing it needs a credential that may write (a read token may
/// only look).
pub async fn set_paid_inference(db: &PgPool, actor: &Actor, s: &Statement, on: bool) -> Result<()> {
    actor.require_writer()?;
    metering::set_paid_inference(db, s.payer.namespace_id, on).await
}

/// The header of the CSV export.
pub const CSV_HEADER: &str = "date,id,code,memo,reference,amount_yuan,amount_micro_yuan,state\r\n";

/// One transaction as a CSV record (RFC 4180: CRLF, fields quoted when they
/// hold a comma, a quote or a line break, quotes doubled). A field that a
/// spreadsheet would read as a formula gets a leading `'`.
pub fn csv_record(l: &Line) -> String {
    let state = match l.state {
        LineState::Posted => "posted",
        LineState::Held => "held",
    };
    let fields = [
        l.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        l.id.clone(),
        l.code.clone(),
        l.memo.clone(),
        l.reference.clone().unwrap_or_default(),
        l.amount.yuan_exact(),
        l.amount.0.to_string(),
        state.to_owned(),
    ];
    let mut out = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_field(field, i >= 5));
    }
    out.push_str("\r\n");
    out
}

fn csv_field(value: &str, numeric: bool) -> String {
    let value = if !numeric && value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Every line of the wallet as CSV, newest first: the header, then the
/// records, read from the database [`CSV_BATCH`] at a time (by date and id,
/// not by offset) so the export streams in bounded memory.
pub fn csv(db: PgPool, s: Statement) -> impl Stream<Item = Result<String>> + Send + 'static {
    enum Cursor {
        Header,
        After(Option<(DateTime<Utc>, String)>),
        Done,
    }
    futures::stream::unfold(Cursor::Header, move |cursor| {
        let db = db.clone();
        let namespace_id = s.payer.namespace_id;
        async move {
            let after = match cursor {
                Cursor::Header => {
                    return Some((Ok(CSV_HEADER.to_owned()), Cursor::After(None)));
                }
                Cursor::Done => return None,
                Cursor::After(after) => after,
            };
            let (at, id) = match after {
                Some((at, id)) => (Some(at), id),
                None => (None, String::new()),
            };
            let rows: Result<Vec<LineRow>> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{LINE_COLUMNS} {LINES}
                   AND ($2::timestamptz IS NULL OR (t.created_at, t.id) < ($2, $3))
                 ORDER BY t.created_at DESC, t.id DESC LIMIT $4"
            )))
            .bind(namespace_id)
            .bind(at)
            .bind(&id)
            .bind(CSV_BATCH)
            .fetch_all(&db)
            .await
            .map_err(Error::from);
            match rows {
                Err(e) => Some((Err(e), Cursor::Done)),
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let next = rows.last().map(|r| (r.1, r.0.clone()));
                    let full = rows.len() as i64 == CSV_BATCH;
                    let text: String = rows
                        .into_iter()
                        .filter_map(line)
                        .map(|l| csv_record(&l))
                        .collect();
                    Some((
                        Ok(text),
                        if full {
                            Cursor::After(next)
                        } else {
                            Cursor::Done
                        },
                    ))
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn usage(d: &str, cost: i64, tokens: i64) -> DayUsage {
        DayUsage {
            day: day(d),
            cost: Credits(cost),
            tokens,
            device_ms: 10,
            records: 1,
        }
    }

    #[test]
    fn amounts_are_signed_from_the_wallets_side() {
        assert_eq!(
            signed("posted", false, 5_000_000),
            Some((Credits(5_000_000), LineState::Posted))
        );
        assert_eq!(
            signed("posted", true, 1_200),
            Some((Credits(-1_200), LineState::Posted))
        );
        assert_eq!(
            signed("pending", true, 300),
            Some((Credits(-300), LineState::Held))
        );
        assert_eq!(
            signed("post", true, 0),
            Some((Credits(0), LineState::Posted))
        );
        assert_eq!(signed("void", true, 0), None);
        assert_eq!(signed("expire", true, 0), None);
        // A statement's lines add up to the posted balance: a grant of ¥10,
        // a charge of ¥0.0012, a refund of ¥0.0012 (the hold not counted).
        let lines = [
            signed("posted", false, 10_000_000),
            signed("post", true, 1_200),
            signed("posted", false, 1_200),
            signed("pending", true, 999),
        ];
        let posted: i64 = lines
            .iter()
            .flatten()
            .filter(|(_, state)| *state == LineState::Posted)
            .map(|(c, _)| c.0)
            .sum();
        assert_eq!(posted, 10_000_000);
    }

    #[test]
    fn usage_is_grouped_into_every_day_of_the_range() {
        let days = fill_days(
            day("2026-11-29"),
            day("2026-12-02"),
            &[
                usage("2026-11-30", 1_500, 100),
                usage("2026-12-02", 2, 1),
                usage("2026-11-30", 500, 20),
                // Outside the range: left out.
                usage("2026-11-28", 7, 7),
                usage("2026-12-03", 7, 7),
            ],
        );
        let listed: Vec<_> = days.iter().map(|d| (d.day.to_string(), d.cost.0)).collect();
        assert_eq!(
            listed,
            [
                ("2026-11-29".to_owned(), 0),
                ("2026-11-30".to_owned(), 2_000),
                ("2026-12-01".to_owned(), 0),
                ("2026-12-02".to_owned(), 2),
            ]
        );
        assert_eq!(days[1].tokens, 120);
        assert_eq!(days[1].records, 2);
        assert_eq!(total_cost(&days), Credits(2_002));
        // A range of one day; an empty range.
        assert_eq!(
            fill_days(day("2026-12-01"), day("2026-12-01"), &[]).len(),
            1
        );
        assert!(fill_days(day("2026-12-02"), day("2026-12-01"), &[]).is_empty());
        // Across a month and a leap day.
        assert_eq!(
            fill_days(day("2028-02-27"), day("2028-03-01"), &[]).len(),
            4
        );
    }

    #[test]
    fn csv_records_quote_as_rfc_4180_says() {
        let line = Line {
            id: "grant/1".to_owned(),
            at: "2026-12-04T01:02:03Z".parse().unwrap(),
            code: "grant".to_owned(),
            memo: "welcome, \"friend\"\nline two".to_owned(),
            reference: None,
            amount: Credits(-1_200),
            flow: "posted".to_owned(),
            state: LineState::Posted,
        };
        assert_eq!(
            csv_record(&line),
            "2026-12-04T01:02:03Z,grant/1,grant,\"welcome, \"\"friend\"\"\nline two\",,-0.0012,-1200,posted\r\n"
        );
        let formula = Line {
            memo: "=HYPERLINK(\"x\")".to_owned(),
            state: LineState::Held,
            ..line
        };
        assert!(
            csv_record(&formula).contains(",\"'=HYPERLINK(\"\"x\"\")\",,-0.0012,-1200,held\r\n"),
            "{}",
            csv_record(&formula)
        );
        assert_eq!(CSV_HEADER.matches(',').count(), 7);
    }
}
