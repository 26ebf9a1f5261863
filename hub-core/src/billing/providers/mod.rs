//! Payment providers: where a top-up is paid. Each provider creates a
//! checkout for an order (a page to redirect to, or a QR code's content),
//! verifies the notification it later sends (signature, time window,
//! merchant), reads the payment out of it, and says how it wants that
//! notification answered. Crediting the wallet is [`super::orders`]'s job.
//!
//! Keys and secrets come from the environment or from
//! `<data-dir>/billing-providers.toml` (mode 0600), never from the
//! database; see [`config`].

pub mod alipay;
pub mod config;
pub mod stripe;
pub mod wechat;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::error::Result;

pub use alipay::Alipay;
pub use stripe::Stripe;
pub use wechat::Wechat;

/// A notification's headers, names in lower case.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Headers {
        Headers(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect(),
        )
    }

    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a checkout is created for.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    /// Our order id: the provider's `out_trade_no` / `client_reference_id`.
    pub order_id: &'a str,
    /// In the minor unit of `currency` (fen for CNY).
    pub amount_minor: i64,
    pub currency: &'a str,
    /// What the customer sees on the provider's page.
    pub description: &'a str,
    /// Where the provider posts its notification.
    pub notify_url: &'a str,
    /// Where the customer comes back to after paying (or giving up).
    pub return_url: &'a str,
}

/// Where the customer pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkout {
    /// A page of the provider's (Stripe Checkout).
    Redirect(String),
    /// The content of a QR code to scan with the provider's app.
    QrCode(String),
}

/// A payment as a verified notification states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPayment {
    /// The notification's own id: the same delivery repeated has the same one.
    pub provider_event_id: String,
    pub order_id: String,
    /// The provider's id of the payment itself.
    pub provider_txn_id: String,
    pub amount_minor: i64,
    /// Upper case, as ISO 4217 writes it.
    pub currency: String,
    /// Whether the money is in (a notification may say "not yet").
    pub paid: bool,
}

/// A notification that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    Payment(VerifiedPayment),
    /// An event of a kind we do not act on; acknowledged all the same.
    Other {
        provider_event_id: String,
        kind: String,
    },
}

/// Why a notification was not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Missing, malformed or wrong signature, or a key we do not know.
    Signature(String),
    /// Signed too long ago (or in the future): perhaps a replay.
    Stale,
    /// WeChat Pay's deliberate probe (`WECHATPAY/SIGNTEST/…`).
    Probe,
    /// Signed, but not for us (another merchant or app) or unreadable.
    Invalid(String),
}

impl Refusal {
    /// The HTTP status the notification is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Signature(_) | Refusal::Stale | Refusal::Probe => 401,
            Refusal::Invalid(_) => 400,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Signature(why) => write!(f, "signature not verified: {why}"),
            Refusal::Stale => f.write_str("timestamp outside the allowed window"),
            Refusal::Probe => f.write_str("signature probe refused"),
            Refusal::Invalid(why) => write!(f, "notification refused: {why}"),
        }
    }
}

/// How a notification is answered: what the provider expects to hear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// A payment provider (see the module doc).
pub trait PaymentProvider {
    /// The provider's name in URLs, orders and clearing accounts.
    const NAME: &'static str;

    /// Creates the provider's checkout for an order.
    fn create_checkout(
        &self,
        http: &reqwest::Client,
        request: &CheckoutRequest<'_>,
    ) -> impl Future<Output = Result<Checkout>> + Send;

    /// Verifies a notification from its headers and raw body, `now` in Unix
    /// seconds, and reads what it says.
    fn verify_notification(
        &self,
        headers: &Headers,
        body: &[u8],
        now: i64,
    ) -> Result<Notification, Refusal>;

    /// The answer to a notification that was taken (credited, or known).
    fn acknowledge(&self) -> Ack;

    /// The answer to a notification that was not.
    fn refuse(&self, status: u16, message: &str) -> Ack;
}

/// The providers this hub is configured for.
#[derive(Default)]
pub struct Providers {
    pub stripe: Option<Stripe>,
    pub alipay: Option<Alipay>,
    pub wechat: Option<Wechat>,
    http: reqwest::Client,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys.
        f.debug_struct("Providers")
            .field("configured", &self.names())
            .finish()
    }
}

/// How long a call to a provider's API may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(20);

impl Providers {
    pub fn new(stripe: Option<Stripe>, alipay: Option<Alipay>, wechat: Option<Wechat>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Providers {
            stripe,
            alipay,
            wechat,
            http,
        }
    }

    /// The configured providers' names, in the order the top-up page offers them.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.wechat.is_some() {
            names.push(Wechat::NAME);
        }
        if self.alipay.is_some() {
            names.push(Alipay::NAME);
        }
        if self.stripe.is_some() {
            names.push(Stripe::NAME);
        }
        names
    }

    pub fn is_configured(&self, name: &str) -> bool {
        self.names().contains(&name)
    }

    /// Creates a checkout with provider `name` (which must be configured).
    pub async fn create_checkout(
        &self,
        name: &str,
        request: &CheckoutRequest<'_>,
    ) -> Result<Checkout> {
        match name {
            Stripe::NAME if let Some(p) = &self.stripe => {
                p.create_checkout(&self.http, request).await
            }
            Alipay::NAME if let Some(p) = &self.alipay => {
                p.create_checkout(&self.http, request).await
            }
            Wechat::NAME if let Some(p) = &self.wechat => {
                p.create_checkout(&self.http, request).await
            }
            _ => Err(not_configured(name)),
        }
    }

    /// Verifies a notification for provider `name`; `None` when it is not
    /// configured.
    pub fn verify_notification(
        &self,
        name: &str,
        headers: &Headers,
        body: &[u8],
        now: i64,
    ) -> Option<Result<Notification, Refusal>> {
        Some(match name {
            Stripe::NAME => self
                .stripe
                .as_ref()?
                .verify_notification(headers, body, now),
            Alipay::NAME => self
                .alipay
                .as_ref()?
                .verify_notification(headers, body, now),
            Wechat::NAME => self
                .wechat
                .as_ref()?
                .verify_notification(headers, body, now),
            _ => return None,
        })
    }

    /// The acknowledgement provider `name` expects.
    pub fn acknowledge(&self, name: &str) -> Ack {
        match name {
            Stripe::NAME if let Some(p) = &self.stripe => p.acknowledge(),
            Alipay::NAME if let Some(p) = &self.alipay => p.acknowledge(),
            Wechat::NAME if let Some(p) = &self.wechat => p.acknowledge(),
            _ => plain(404, "no such payment provider"),
        }
    }

    /// A refusal worded as provider `name` expects.
    pub fn refuse(&self, name: &str, status: u16, message: &str) -> Ack {
        match name {
            Stripe::NAME if let Some(p) = &self.stripe => p.refuse(status, message),
            Alipay::NAME if let Some(p) = &self.alipay => p.refuse(status, message),
            Wechat::NAME if let Some(p) = &self.wechat => p.refuse(status, message),
            _ => plain(404, "no such payment provider"),
        }
    }
}

/// The error for a provider this hub has no keys for.
pub fn not_configured(name: &str) -> crate::Error {
    crate::Error::invalid(
        crate::error::Message::coded(
            "billing.provider_not_configured",
            "payment provider '{provider}' is not configured on this hub",
        )
        .with("provider", name),
    )
}

fn plain(status: u16, body: &str) -> Ack {
    Ack {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_owned(),
    }
}

/// A provider's answer to a call we made, as an error worth logging.
fn provider_error(provider: &str, what: impl fmt::Display) -> crate::Error {
    crate::Error::Internal(anyhow::anyhow!("{provider}: {what}"))
}

/// Reads an RSA public key given as PEM (SPKI or PKCS#1) or as the bare
/// base64 of its DER, as Alipay's console hands it out.
pub fn parse_public_key(text: &str) -> anyhow::Result<rsa::PublicKey> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    let text = text.trim();
    if text.starts_with("-----BEGIN RSA PUBLIC KEY") {
        return Ok(rsa::PublicKey::from_pkcs1_pem(text)?);
    }
    if text.starts_with("-----BEGIN") {
        return Ok(rsa::PublicKey::from_public_key_pem(text)?);
    }
    let der = b64(text).map_err(|_| anyhow::anyhow!("not PEM, nor base64 DER"))?;
    rsa::PublicKey::from_public_key_der(&der)
        .or_else(|_| rsa::PublicKey::from_pkcs1_der(&der))
        .map_err(|e| anyhow::anyhow!("not an RSA public key: {e}"))
}

/// Reads an RSA private key given as PEM (PKCS#8 or PKCS#1) or as the bare
/// base64 of its DER.
pub fn parse_private_key(text: &str) -> anyhow::Result<rsa::PrivateKey> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let text = text.trim();
    if text.starts_with("-----BEGIN RSA PRIVATE KEY") {
        return Ok(rsa::PrivateKey::from_pkcs1_pem(text)?);
    }
    if text.starts_with("-----BEGIN") {
        return Ok(rsa::PrivateKey::from_pkcs8_pem(text)?);
    }
    let der = b64(text).map_err(|_| anyhow::anyhow!("not PEM, nor base64 DER"))?;
    rsa::PrivateKey::from_pkcs8_der(&der)
        .or_else(|_| rsa::PrivateKey::from_pkcs1_der(&der))
        .map_err(|e| anyhow::anyhow!("not an RSA private key: {e}"))
}

fn b64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine;
    let compact: String = text.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(compact)
}

/// SHA256withRSA (PKCS#1 v1.5) over `message`, checked against `key`.
fn rsa_sha256_verifies(key: &rsa::PublicKey, message: &[u8], signature: &[u8]) -> bool {
    key.pkcs1v15_verify::<rsa::sha2::Sha256>(message, signature)
        .is_ok()
}

/// SHA256withRSA (PKCS#1 v1.5) signature of `message`, base64.
fn rsa_sha256_sign(key: &rsa::PrivateKey, message: &[u8]) -> Result<String> {
    use base64::Engine;
    let signature = key
        .pkcs1v15_sign::<rsa::sha2::Sha256>(message)
        .map_err(|e| crate::Error::Internal(anyhow::anyhow!("signing failed: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(signature))
}

/// A fresh 2048-bit RSA key pair, for tests.
#[cfg(test)]
fn test_keys() -> (rsa::PrivateKey, rsa::PublicKey) {
    let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("RSA key");
    let public = private.to_public_key();
    (private, public)
}
