//! Top-up orders: an order is made for a payer and an amount, the
//! provider's checkout is created for it, and the provider's verified
//! notification credits the payer's wallet exactly once.
//!
//! Crediting is one transaction: the order row locked, the notification's
//! amount and currency compared with the order, a row in
//! `billing_payment_events` for (provider, event id) — a notification
//! delivered again finds it and changes nothing — then the ledger transfer
//! from the provider's clearing account to the wallet, whose id is derived
//! from (provider, the provider's payment id), and the order marked paid.

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sqlx::PgPool;

use super::ledger::{self, Recorded, Transfer};
use super::money::UNITS_PER_FEN;
use super::providers::{Ack, Checkout, CheckoutRequest, Headers, Notification, VerifiedPayment};
use super::{Credits, Payer};
use crate::Hub;
use crate::accounts::Actor;
use crate::accounts::orgs::{self, OrgRole};
use crate::error::{Error, Message, Result};

/// The smallest and the largest top-up, in yuan.
pub const MIN_YUAN: i64 = 1;
pub const MAX_YUAN: i64 = 50_000;
/// Orders one user may open per hour (each one calls the provider).
pub const ORDERS_PER_HOUR: i64 = 30;
/// Top-ups are paid in yuan.
pub const CURRENCY: &str = "CNY";

/// What a customer asks for.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub provider: &'a str,
    /// In yuan as people write it: `12`, `12.50`.
    pub amount: &'a str,
    /// Pay for this organisation (its admins only) instead of oneself.
    pub org: Option<&'a str>,
}

/// An order as its owner sees it.
#[derive(Debug, Clone, Serialize)]
pub struct OrderView {
    pub id: String,
    pub provider: String,
    /// `pending`, `paid`, `expired` or `failed`.
    pub state: String,
    /// In yuan, to the fen.
    pub amount: String,
    pub currency: String,
    /// Whose wallet: a user's or an organisation's name.
    pub payer: String,
    pub checkout_url: Option<String>,
    /// The QR code to scan, drawn as SVG.
    pub qr_svg: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct OrderRow {
    id: String,
    namespace_id: i64,
    provider: String,
    currency: String,
    credits: i64,
    state: String,
    checkout_url: Option<String>,
    qr_code: Option<String>,
    created_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    payer: String,
}

/// What the top-up page offers `actor` for a wallet.
#[derive(Debug, Clone, Serialize)]
pub struct TopupOptions {
    pub payer: String,
    pub is_org: bool,
    /// The configured providers; none means site admins grant credits.
    pub providers: Vec<&'static str>,
    pub min_yuan: i64,
    pub max_yuan: i64,
}

/// The top-up page's options for `actor` paying into their own wallet or
/// `org`'s (its admins only).
pub async fn topup_options(hub: &Hub, actor: &Actor, org: Option<&str>) -> Result<TopupOptions> {
    let payer = Payer::acting(&hub.db, &actor.require_user()?.user, org).await?;
    Ok(TopupOptions {
        payer: payer.name,
        is_org: payer.is_org,
        providers: hub.payments.names(),
        min_yuan: MIN_YUAN,
        max_yuan: MAX_YUAN,
    })
}

/// Opens an order and creates its checkout with the provider. `base_url`
/// is where the provider's notification and the customer's return go
/// (`HUB_PUBLIC_URL` when set).
pub async fn create(
    hub: &Hub,
    actor: &Actor,
    new: &NewOrder<'_>,
    base_url: &str,
) -> Result<OrderView> {
    let principal = actor.require_writer()?;
    let providers = &hub.payments;
    if providers.names().is_empty() {
        return Err(no_provider());
    }
    if !providers.is_configured(new.provider) {
        return Err(super::providers::not_configured(new.provider));
    }
    let fen = amount_in_fen(new.amount)?;
    let payer = Payer::acting(&hub.db, &principal.user, new.org).await?;
    let recent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM billing_orders
         WHERE created_by = $1 AND created_at > now() - interval '1 hour'",
    )
    .bind(principal.user.id)
    .fetch_one(&hub.db)
    .await?;
    if recent >= ORDERS_PER_HOUR {
        return Err(Error::TooManyRequests {
            message: format!("at most {ORDERS_PER_HOUR} top-up orders an hour; try again later"),
            retry_after: std::time::Duration::from_secs(600),
        });
    }
    let id = new_order_id();
    sqlx::query(
        "INSERT INTO billing_orders (id, namespace_id, created_by, provider, amount_minor, currency, credits)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(payer.namespace_id)
    .bind(principal.user.id)
    .bind(new.provider)
    .bind(fen)
    .bind(CURRENCY)
    .bind(fen * UNITS_PER_FEN)
    .execute(&hub.db)
    .await?;
    let public = hub.config.public_url.as_deref().unwrap_or(base_url);
    let description = format!(
        "Kaiyuan Hub credits ¥{}",
        Credits(fen * UNITS_PER_FEN).yuan_to_fen()
    );
    let notify_url = format!("{public}/api/billing/notify/{}", new.provider);
    let return_url = if payer.is_org {
        format!(
            "{public}/organizations/{}/settings/billing/topup?order={id}",
            payer.name
        )
    } else {
        format!("{public}/settings/billing/topup?order={id}")
    };
    let checkout = providers
        .create_checkout(
            new.provider,
            &CheckoutRequest {
                order_id: &id,
                amount_minor: fen,
                currency: CURRENCY,
                description: &description,
                notify_url: &notify_url,
                return_url: &return_url,
            },
        )
        .await;
    let checkout = match checkout {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(order = %id, provider = new.provider, error = %e, "checkout failed");
            sqlx::query(
                "UPDATE billing_orders SET state = 'failed' WHERE id = $1 AND state = 'pending'",
            )
            .bind(&id)
            .execute(&hub.db)
            .await?;
            return Err(Error::Internal(anyhow::anyhow!(
                "the payment provider did not accept the order; try again later"
            )));
        }
    };
    let (url, qr) = match checkout {
        Checkout::Redirect(url) => (Some(url), None),
        Checkout::QrCode(content) => (None, Some(content)),
    };
    sqlx::query("UPDATE billing_orders SET checkout_url = $2, qr_code = $3 WHERE id = $1")
        .bind(&id)
        .bind(&url)
        .bind(&qr)
        .execute(&hub.db)
        .await?;
    show(hub, actor, &id).await
}

/// An order, to its owner (the user, or an admin of the organisation);
/// "not found" to anyone else.
pub async fn show(hub: &Hub, actor: &Actor, id: &str) -> Result<OrderView> {
    let principal = actor.require_user()?;
    let row: Option<OrderRow> = sqlx::query_as(
        "SELECT o.id, o.namespace_id, o.provider, o.currency, o.credits, o.state,
                o.checkout_url, o.qr_code, o.created_at, o.paid_at, n.name AS payer
         FROM billing_orders o JOIN namespaces n ON n.id = o.namespace_id
         WHERE o.id = $1",
    )
    .bind(id)
    .fetch_optional(&hub.db)
    .await?;
    let not_found = || {
        Error::not_found(
            Message::coded("billing.order_not_found", "order '{order}' not found")
                .with("order", id),
        )
    };
    let row = row.ok_or_else(not_found)?;
    let owner = row.namespace_id == principal.user.id
        || orgs::role_of(&hub.db, row.namespace_id, principal.user.id).await?
            == Some(OrgRole::Admin);
    if !owner {
        return Err(not_found());
    }
    view(row)
}

fn view(row: OrderRow) -> Result<OrderView> {
    let qr_svg = match &row.qr_code {
        Some(content) if row.state == "pending" => Some(qr_svg(content)?),
        _ => None,
    };
    Ok(OrderView {
        id: row.id,
        provider: row.provider,
        state: row.state,
        amount: Credits(row.credits).yuan_to_fen(),
        currency: row.currency,
        payer: row.payer,
        checkout_url: row.checkout_url,
        qr_svg,
        created_at: row.created_at,
        paid_at: row.paid_at,
    })
}

/// The error a top-up meets on a hub with no provider.
pub fn no_provider() -> Error {
    Error::invalid(Message::coded(
        "billing.no_provider",
        "no payment provider is configured on this hub; ask a site admin to grant credits",
    ))
}

/// A yuan amount as a whole number of fen within the limits.
fn amount_in_fen(text: &str) -> Result<i64> {
    let credits = Credits::parse_yuan(text)?;
    if credits.0 % UNITS_PER_FEN != 0 {
        return Err(Error::invalid(
            "a top-up is a whole number of fen (at most two decimals)",
        ));
    }
    if credits.0 < MIN_YUAN * super::money::UNITS_PER_YUAN
        || credits.0 > MAX_YUAN * super::money::UNITS_PER_YUAN
    {
        return Err(Error::invalid(
            Message::coded("billing.topup_range", "a top-up is from ¥{min} to ¥{max}")
                .with("min", MIN_YUAN.to_string())
                .with("max", MAX_YUAN.to_string()),
        ));
    }
    Ok(credits.0 / UNITS_PER_FEN)
}

/// An unguessable order id that every provider accepts as its merchant
/// order number (WeChat Pay: 6–32 letters and digits): `ky` and 120 random bits.
fn new_order_id() -> String {
    let mut bytes = [0u8; 15];
    rand::rng().fill_bytes(&mut bytes);
    format!("ky{}", hex::encode(bytes))
}

/// The QR code for `content` as an SVG image.
pub fn qr_svg(content: &str) -> Result<String> {
    let code = qrcode::QrCode::new(content.as_bytes())
        .map_err(|e| Error::Internal(anyhow::anyhow!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build())
}

/// What a verified notification came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credited {
    /// The wallet was credited now.
    Credited,
    /// This event was seen before: nothing more happened.
    Duplicate,
    /// The order was paid before (another event for the same payment).
    AlreadyPaid,
    /// The notification says the money is not in (yet).
    NotPaid,
    /// The amount or currency differs from the order's: nothing credited.
    Mismatch,
    /// No such order (or another provider's): nothing credited.
    UnknownOrder,
}

impl Credited {
    fn as_str(self) -> &'static str {
        match self {
            Credited::Credited => "credited",
            Credited::Duplicate => "duplicate",
            Credited::AlreadyPaid => "already_paid",
            Credited::NotPaid => "not_paid",
            Credited::Mismatch => "mismatch",
            Credited::UnknownOrder => "unknown_order",
        }
    }
}

#[derive(sqlx::FromRow)]
struct Locked {
    namespace_id: i64,
    provider: String,
    amount_minor: i64,
    currency: String,
    credits: i64,
    state: String,
}

/// Credits the payment `p` from `provider`, exactly once (see the module doc).
pub async fn credit(db: &PgPool, provider: &str, p: &VerifiedPayment) -> Result<Credited> {
    let mut tx = db.begin().await?;
    let order: Option<Locked> = sqlx::query_as(
        "SELECT namespace_id, provider, amount_minor, currency, credits, state
         FROM billing_orders WHERE id = $1 FOR UPDATE",
    )
    .bind(&p.order_id)
    .fetch_optional(&mut *tx)
    .await?;
    let order = order.filter(|o| o.provider == provider);
    let outcome = match &order {
        None => Credited::UnknownOrder,
        Some(_) if !p.paid => Credited::NotPaid,
        Some(o) if o.amount_minor != p.amount_minor || o.currency != p.currency => {
            Credited::Mismatch
        }
        Some(o) if o.state == "paid" => Credited::AlreadyPaid,
        Some(_) => Credited::Credited,
    };
    let recorded = sqlx::query(
        "INSERT INTO billing_payment_events (provider, provider_event_id, order_id, outcome)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(provider)
    .bind(&p.provider_event_id)
    .bind(order.as_ref().map(|_| &p.order_id))
    .bind(outcome.as_str())
    .execute(&mut *tx)
    .await?;
    if recorded.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(Credited::Duplicate);
    }
    let Some(order) = order.filter(|_| outcome == Credited::Credited) else {
        tx.commit().await?;
        return Ok(outcome);
    };
    let transfer_id = transfer_id(provider, &p.provider_txn_id);
    let debit = ledger::clearing(&mut tx, provider).await?;
    let credit = ledger::wallet(&mut tx, order.namespace_id).await?;
    let memo = format!("top-up via {provider}");
    let recorded = ledger::transfer(
        &mut tx,
        &Transfer {
            id: &transfer_id,
            debit,
            credit,
            amount: Credits(order.credits),
            code: "topup",
            memo: &memo,
            reference: Some(&p.order_id),
            created_by: None,
        },
    )
    .await?;
    if recorded == Recorded::Exists {
        // The same payment credited under another order: never twice.
        tracing::warn!(order = %p.order_id, txn = %p.provider_txn_id, "payment already credited");
        tx.rollback().await?;
        return Ok(Credited::AlreadyPaid);
    }
    sqlx::query(
        "UPDATE billing_orders SET state = 'paid', provider_txn_id = $2, transfer_id = $3, paid_at = now()
         WHERE id = $1",
    )
    .bind(&p.order_id)
    .bind(&p.provider_txn_id)
    .bind(&transfer_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Credited::Credited)
}

/// The ledger transfer id of a provider's payment: the same payment can
/// only ever make one transfer.
fn transfer_id(provider: &str, txn_id: &str) -> String {
    let id = format!("topup/{provider}/{txn_id}");
    if id.len() <= 200 {
        return id;
    }
    use sha2::Digest;
    format!(
        "topup/{provider}/sha256:{}",
        hex::encode(sha2::Sha256::digest(txn_id))
    )
}

/// Takes a notification for `provider`: verifies it, credits what it says,
/// and answers as the provider expects. A notification that does not verify
/// changes nothing.
pub async fn receive_notification(
    hub: &Hub,
    provider: &str,
    headers: &Headers,
    body: &[u8],
) -> Ack {
    let providers = &hub.payments;
    let now = Utc::now().timestamp();
    let verified = match providers.verify_notification(provider, headers, body, now) {
        None => return providers.refuse(provider, 404, "no such payment provider"),
        Some(Err(refusal)) => {
            tracing::warn!(provider, %refusal, "payment notification refused");
            return providers.refuse(provider, refusal.status(), &refusal.to_string());
        }
        Some(Ok(n)) => n,
    };
    let payment = match verified {
        Notification::Payment(p) => p,
        Notification::Other {
            provider_event_id,
            kind,
        } => {
            tracing::info!(provider, event = %provider_event_id, kind, "notification not acted on");
            return providers.acknowledge(provider);
        }
    };
    match credit(&hub.db, provider, &payment).await {
        Ok(outcome) => {
            if !matches!(
                outcome,
                Credited::Credited
                    | Credited::Duplicate
                    | Credited::AlreadyPaid
                    | Credited::NotPaid
            ) {
                tracing::warn!(provider, order = %payment.order_id, event = %payment.provider_event_id, outcome = outcome.as_str(), "payment not credited");
            } else {
                tracing::info!(provider, order = %payment.order_id, event = %payment.provider_event_id, outcome = outcome.as_str(), "payment notification");
            }
            providers.acknowledge(provider)
        }
        Err(e) => {
            // The provider tries again later.
            tracing::error!(provider, order = %payment.order_id, error = %e, "crediting a payment failed");
            providers.refuse(
                provider,
                500,
                "temporarily unable to process the notification",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_unguessable_and_fit_every_provider() {
        let a = new_order_id();
        assert_ne!(a, new_order_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn amounts_are_whole_fen_within_limits() {
        assert_eq!(amount_in_fen("12").unwrap(), 1200);
        assert_eq!(amount_in_fen("¥12.34").unwrap(), 1234);
        for bad in ["0.5", "12.345", "50000.01", "-3", "abc"] {
            assert!(amount_in_fen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qr_codes_are_svg() {
        let svg = qr_svg("weixin://wxpay/bizpayurl?pr=abc").unwrap();
        assert!(svg.contains("<svg"), "{svg}");
    }

    #[test]
    fn long_payment_ids_still_make_short_transfer_ids() {
        assert_eq!(transfer_id("stripe", "cs_1"), "topup/stripe/cs_1");
        assert!(transfer_id("stripe", &"x".repeat(300)).len() <= 200);
    }
}
