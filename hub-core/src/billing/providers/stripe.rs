//! Stripe: a Checkout Session to redirect to, and the webhook signed with
//! `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 of `t.body` with the
//! endpoint's secret), as stripe-python's `WebhookSignature` checks it.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::{
    Ack, Checkout, CheckoutRequest, Headers, Notification, PaymentProvider, Refusal,
    VerifiedPayment, provider_error,
};
use crate::error::Result;

/// How old (or how far ahead) a signature's timestamp may be, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// A Stripe account's keys.
pub struct Stripe {
    /// `sk_…`: creates Checkout Sessions.
    pub secret_key: String,
    /// `whsec_…`: signs the webhook; several while one is being rotated.
    pub webhook_secrets: Vec<String>,
    /// `https://api.stripe.com` unless a test points elsewhere.
    pub api_base: String,
}

#[derive(Deserialize)]
struct Session {
    url: Option<String>,
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

#[derive(Deserialize)]
struct CheckoutSession {
    id: String,
    client_reference_id: Option<String>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    amount_total: Option<i64>,
    currency: Option<String>,
    payment_status: Option<String>,
}

impl PaymentProvider for Stripe {
    const NAME: &'static str = "stripe";

    async fn create_checkout(
        &self,
        http: &reqwest::Client,
        r: &CheckoutRequest<'_>,
    ) -> Result<Checkout> {
        let amount = r.amount_minor.to_string();
        let currency = r.currency.to_ascii_lowercase();
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("mode", "payment")
            .append_pair("success_url", r.return_url)
            .append_pair("cancel_url", r.return_url)
            .append_pair("client_reference_id", r.order_id)
            .append_pair("metadata[order_id]", r.order_id)
            .append_pair("line_items[0][quantity]", "1")
            .append_pair("line_items[0][price_data][currency]", &currency)
            .append_pair("line_items[0][price_data][unit_amount]", &amount)
            .append_pair(
                "line_items[0][price_data][product_data][name]",
                r.description,
            )
            .finish();
        let url = format!(
            "{}/v1/checkout/sessions",
            self.api_base.trim_end_matches('/')
        );
        let response = http
            .post(url)
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", r.order_id)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| provider_error(Self::NAME, e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| provider_error(Self::NAME, e))?;
        if !status.is_success() {
            return Err(provider_error(
                Self::NAME,
                format!("creating a Checkout Session: {status}: {text}"),
            ));
        }
        let session: Session =
            serde_json::from_str(&text).map_err(|e| provider_error(Self::NAME, e))?;
        let url = session
            .url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or_else(|| provider_error(Self::NAME, "the Checkout Session has no url"))?;
        Ok(Checkout::Redirect(url))
    }

    fn verify_notification(
        &self,
        headers: &Headers,
        body: &[u8],
        now: i64,
    ) -> Result<Notification, Refusal> {
        let header = headers
            .get("stripe-signature")
            .ok_or_else(|| Refusal::Signature("no Stripe-Signature header".into()))?;
        verify_signature(header, body, &self.webhook_secrets, now)?;
        let event: Event = serde_json::from_slice(body)
            .map_err(|e| Refusal::Invalid(format!("not a Stripe event: {e}")))?;
        let paid_if = match event.kind.as_str() {
            "checkout.session.completed" => None,
            "checkout.session.async_payment_succeeded" => Some(true),
            "checkout.session.async_payment_failed" | "checkout.session.expired" => Some(false),
            _ => {
                return Ok(Notification::Other {
                    provider_event_id: event.id,
                    kind: event.kind,
                });
            }
        };
        let session: CheckoutSession = serde_json::from_value(event.data.object)
            .map_err(|e| Refusal::Invalid(format!("not a Checkout Session: {e}")))?;
        let order_id = session
            .client_reference_id
            .clone()
            .or_else(|| session.metadata.get("order_id").cloned())
            .ok_or_else(|| Refusal::Invalid("the session names no order".into()))?;
        let paid = paid_if.unwrap_or_else(|| session.payment_status.as_deref() == Some("paid"));
        Ok(Notification::Payment(VerifiedPayment {
            provider_event_id: event.id,
            order_id,
            provider_txn_id: session.id,
            amount_minor: session
                .amount_total
                .ok_or_else(|| Refusal::Invalid("the session has no amount_total".into()))?,
            currency: session.currency.unwrap_or_default().to_ascii_uppercase(),
            paid,
        }))
    }

    fn acknowledge(&self) -> Ack {
        Ack {
            status: 200,
            content_type: "application/json",
            body: r#"{"received":true}"#.into(),
        }
    }

    fn refuse(&self, status: u16, message: &str) -> Ack {
        Ack {
            status,
            content_type: "application/json",
            body: serde_json::json!({ "error": message }).to_string(),
        }
    }
}

/// Checks a `Stripe-Signature` header against the raw body: one of its
/// `v1` signatures must be the HMAC-SHA256 of `"{t}.{body}"` under one of
/// `secrets`, and `t` within [`TOLERANCE_SECS`] of `now`.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secrets: &[String],
    now: i64,
) -> Result<(), Refusal> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => {
                if let Ok(bytes) = hex::decode(value) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| Refusal::Signature("no timestamp in Stripe-Signature".into()))?;
    if signatures.is_empty() {
        return Err(Refusal::Signature(
            "no v1 signature in Stripe-Signature".into(),
        ));
    }
    let matches = secrets.iter().any(|secret| {
        signatures.iter().any(|sig| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            mac.verify_slice(sig).is_ok()
        })
    });
    if !matches {
        return Err(Refusal::Signature(
            "no signature matches the payload".into(),
        ));
    }
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(Refusal::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    fn sign(t: i64, body: &str, secret: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn stripe() -> Stripe {
        Stripe {
            secret_key: "sk_test".into(),
            webhook_secrets: vec!["whsec_old".into(), SECRET.into()],
            api_base: "http://127.0.0.1:9".into(),
        }
    }

    const COMPLETED: &str = r#"{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"id":"cs_1","client_reference_id":"kyorder","amount_total":1200,"currency":"cny","payment_status":"paid"}}}"#;

    #[test]
    fn a_good_signature_verifies_and_reads_the_session() {
        let now = 1_700_000_000;
        let header = format!("t={now},v1={},v0=ignored", sign(now, COMPLETED, SECRET));
        let got = stripe()
            .verify_notification(
                &Headers::new([("Stripe-Signature", header.as_str())]),
                COMPLETED.as_bytes(),
                now + 10,
            )
            .unwrap();
        assert_eq!(
            got,
            Notification::Payment(VerifiedPayment {
                provider_event_id: "evt_1".into(),
                order_id: "kyorder".into(),
                provider_txn_id: "cs_1".into(),
                amount_minor: 1200,
                currency: "CNY".into(),
                paid: true,
            })
        );
        // Any of several v1 values may match (a secret being rotated).
        let two = format!(
            "t={now},v1={},v1={}",
            "00".repeat(32),
            sign(now, COMPLETED, "whsec_old")
        );
        assert!(
            verify_signature(&two, COMPLETED.as_bytes(), &stripe().webhook_secrets, now).is_ok()
        );
    }

    #[test]
    fn a_forged_signature_is_refused() {
        let now = 1_700_000_000;
        let forged = format!("t={now},v1={}", sign(now, COMPLETED, "whsec_someone_else"));
        let err =
            verify_signature(&forged, COMPLETED.as_bytes(), &[SECRET.into()], now).unwrap_err();
        assert!(matches!(err, Refusal::Signature(_)), "{err:?}");
        // A body changed after signing.
        let header = format!("t={now},v1={}", sign(now, COMPLETED, SECRET));
        let changed = COMPLETED.replace("1200", "120000");
        assert!(verify_signature(&header, changed.as_bytes(), &[SECRET.into()], now).is_err());
        // A header with no v1, or none at all.
        assert!(
            verify_signature(
                &format!("t={now}"),
                COMPLETED.as_bytes(),
                &[SECRET.into()],
                now
            )
            .is_err()
        );
        let none = stripe().verify_notification(&Headers::default(), COMPLETED.as_bytes(), now);
        assert!(matches!(none, Err(Refusal::Signature(_))));
    }

    #[test]
    fn a_stale_timestamp_is_refused() {
        let then = 1_700_000_000;
        let header = format!("t={then},v1={}", sign(then, COMPLETED, SECRET));
        assert!(
            verify_signature(&header, COMPLETED.as_bytes(), &[SECRET.into()], then + 300).is_ok()
        );
        assert_eq!(
            verify_signature(&header, COMPLETED.as_bytes(), &[SECRET.into()], then + 301),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify_signature(&header, COMPLETED.as_bytes(), &[SECRET.into()], then - 301),
            Err(Refusal::Stale)
        );
    }

    #[test]
    fn other_events_and_unpaid_sessions_credit_nothing() {
        let now = 1_700_000_000;
        let verify = |body: &str| {
            let header = format!("t={now},v1={}", sign(now, body, SECRET));
            stripe()
                .verify_notification(
                    &Headers::new([("stripe-signature", header.as_str())]),
                    body.as_bytes(),
                    now,
                )
                .unwrap()
        };
        let other = verify(r#"{"id":"evt_2","type":"charge.refunded","data":{"object":{}}}"#);
        assert!(matches!(other, Notification::Other { .. }));
        let unpaid =
            COMPLETED.replace(r#""payment_status":"paid""#, r#""payment_status":"unpaid""#);
        let Notification::Payment(p) = verify(&unpaid) else {
            panic!()
        };
        assert!(!p.paid);
    }
}
