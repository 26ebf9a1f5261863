//! WeChat Pay API v3: Native pay (a `code_url` for a QR code) and the
//! payment notification, signed SHA256withRSA over
//! `"{timestamp}\n{nonce}\n{body}\n"` with the platform key named by
//! `Wechatpay-Serial`, its resource encrypted with AES-256-GCM under the
//! merchant's APIv3 key. Requests we send are signed with the merchant key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use serde::Deserialize;

use super::{
    Ack, Checkout, CheckoutRequest, Headers, Notification, PaymentProvider, Refusal,
    VerifiedPayment, provider_error, rsa_sha256_sign, rsa_sha256_verifies,
};
use crate::error::Result;

/// How far a signature's timestamp may be from now, in seconds (the Go SDK's
/// `FiveMinute`): at that distance or more it is refused.
pub const TOLERANCE_SECS: i64 = 300;

/// What WeChat Pay puts before the signatures it sends to test that
/// merchants really verify them.
pub const PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// A WeChat Pay merchant's keys.
pub struct Wechat {
    pub mchid: String,
    pub appid: String,
    /// The serial number of the merchant's API certificate.
    pub merchant_serial: String,
    /// The merchant's API private key: signs our requests.
    pub merchant_key: rsa::PrivateKey,
    /// The APIv3 key (32 bytes): decrypts notifications' resources.
    pub apiv3_key: [u8; 32],
    /// WeChat Pay's platform public keys by serial (or `PUB_KEY_ID_…`).
    pub platform_keys: Vec<(String, rsa::PublicKey)>,
    /// `https://api.mch.weixin.qq.com` unless a test points elsewhere.
    pub api_base: String,
}

#[derive(Deserialize)]
struct NativeAnswer {
    code_url: String,
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    event_type: String,
    resource: Resource,
}

#[derive(Deserialize)]
struct Resource {
    algorithm: String,
    ciphertext: String,
    nonce: String,
    #[serde(default)]
    associated_data: String,
}

#[derive(Deserialize)]
struct Transaction {
    mchid: String,
    appid: String,
    out_trade_no: String,
    transaction_id: String,
    trade_state: String,
    amount: Amount,
}

#[derive(Deserialize)]
struct Amount {
    total: i64,
    currency: String,
}

const NATIVE_PATH: &str = "/v3/pay/transactions/native";

impl PaymentProvider for Wechat {
    const NAME: &'static str = "wechat";

    async fn create_checkout(
        &self,
        http: &reqwest::Client,
        r: &CheckoutRequest<'_>,
    ) -> Result<Checkout> {
        let body = serde_json::json!({
            "appid": self.appid,
            "mchid": self.mchid,
            "description": r.description,
            "out_trade_no": r.order_id,
            "notify_url": r.notify_url,
            "amount": { "total": r.amount_minor, "currency": r.currency },
        })
        .to_string();
        let authorization = self.authorization("POST", NATIVE_PATH, &body)?;
        let url = format!("{}{NATIVE_PATH}", self.api_base.trim_end_matches('/'));
        let response = http
            .post(url)
            .header("Authorization", authorization)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| provider_error(Self::NAME, e))?;
        let status = response.status();
        let headers = Headers::new(
            response
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
        );
        let text = response
            .text()
            .await
            .map_err(|e| provider_error(Self::NAME, e))?;
        if !status.is_success() {
            return Err(provider_error(
                Self::NAME,
                format!("native pay: {status}: {text}"),
            ));
        }
        // The answer is signed like a notification.
        self.verify_signature(&headers, text.as_bytes(), chrono::Utc::now().timestamp())
            .map_err(|e| provider_error(Self::NAME, format!("native pay answer: {e}")))?;
        let answer: NativeAnswer =
            serde_json::from_str(&text).map_err(|e| provider_error(Self::NAME, e))?;
        Ok(Checkout::QrCode(answer.code_url))
    }

    fn verify_notification(
        &self,
        headers: &Headers,
        body: &[u8],
        now: i64,
    ) -> Result<Notification, Refusal> {
        self.verify_signature(headers, body, now)?;
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| Refusal::Invalid(format!("not a WeChat Pay notification: {e}")))?;
        if envelope.event_type != "TRANSACTION.SUCCESS" {
            return Ok(Notification::Other {
                provider_event_id: envelope.id,
                kind: envelope.event_type,
            });
        }
        let plain = decrypt_resource(&self.apiv3_key, &envelope.resource)?;
        let txn: Transaction = serde_json::from_slice(&plain)
            .map_err(|e| Refusal::Invalid(format!("not a transaction: {e}")))?;
        if txn.mchid != self.mchid || txn.appid != self.appid {
            return Err(Refusal::Invalid("mchid or appid is not ours".into()));
        }
        Ok(Notification::Payment(VerifiedPayment {
            provider_event_id: envelope.id,
            order_id: txn.out_trade_no,
            provider_txn_id: txn.transaction_id,
            amount_minor: txn.amount.total,
            currency: txn.amount.currency,
            paid: txn.trade_state == "SUCCESS",
        }))
    }

    fn acknowledge(&self) -> Ack {
        Ack {
            status: 204,
            content_type: "application/json",
            body: String::new(),
        }
    }

    fn refuse(&self, status: u16, message: &str) -> Ack {
        Ack {
            status,
            content_type: "application/json",
            body: serde_json::json!({ "code": "FAIL", "message": message }).to_string(),
        }
    }
}

impl Wechat {
    /// Checks the `Wechatpay-*` headers of a notification or an answer.
    pub fn verify_signature(
        &self,
        headers: &Headers,
        body: &[u8],
        now: i64,
    ) -> Result<(), Refusal> {
        let header = |name: &str| {
            headers
                .get(name)
                .ok_or_else(|| Refusal::Signature(format!("no {name} header")))
        };
        let signature = header("Wechatpay-Signature")?;
        if signature.starts_with(PROBE_PREFIX) {
            return Err(Refusal::Probe);
        }
        if let Some(kind) = headers.get("Wechatpay-Signature-Type")
            && kind != "WECHATPAY2-SHA256-RSA2048"
        {
            return Err(Refusal::Signature(format!(
                "signature type {kind} not supported"
            )));
        }
        let serial = header("Wechatpay-Serial")?;
        let key = self
            .platform_keys
            .iter()
            .find(|(s, _)| s == serial)
            .map(|(_, k)| k)
            .ok_or_else(|| Refusal::Signature(format!("no platform key {serial:?}")))?;
        let timestamp: i64 = header("Wechatpay-Timestamp")?
            .parse()
            .map_err(|_| Refusal::Signature("Wechatpay-Timestamp is not a number".into()))?;
        let nonce = header("Wechatpay-Nonce")?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| Refusal::Signature("Wechatpay-Signature is not base64".into()))?;
        let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        if !rsa_sha256_verifies(key, &message, &signature) {
            return Err(Refusal::Signature("signature does not verify".into()));
        }
        if (now - timestamp).abs() >= TOLERANCE_SECS {
            return Err(Refusal::Stale);
        }
        Ok(())
    }

    /// The `Authorization` header of a request to the API.
    fn authorization(&self, method: &str, path: &str, body: &str) -> Result<String> {
        let timestamp = chrono::Utc::now().timestamp();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let message = format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body}\n");
        let signature = rsa_sha256_sign(&self.merchant_key, message.as_bytes())?;
        Ok(format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce}\",signature=\"{signature}\",timestamp=\"{timestamp}\",serial_no=\"{}\"",
            self.mchid, self.merchant_serial
        ))
    }
}

/// Decrypts a notification's resource (AEAD_AES_256_GCM; the tag is the
/// ciphertext's last 16 bytes; nonce and associated data used as bytes).
fn decrypt_resource(key: &[u8; 32], resource: &Resource) -> Result<Vec<u8>, Refusal> {
    if resource.algorithm != "AEAD_AES_256_GCM" {
        return Err(Refusal::Invalid(format!(
            "resource algorithm {} not supported",
            resource.algorithm
        )));
    }
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(&resource.ciphertext)
        .map_err(|_| Refusal::Invalid("ciphertext is not base64".into()))?;
    let nonce = Nonce::try_from(resource.nonce.as_bytes())
        .map_err(|_| Refusal::Invalid("the nonce is not 12 bytes".into()))?;
    let cipher = Aes256Gcm::new_from_slice(key).expect("a 32-byte key");
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: &ciphertext,
                aad: resource.associated_data.as_bytes(),
            },
        )
        .map_err(|_| Refusal::Invalid("the resource does not decrypt with our APIv3 key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APIV3_KEY: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

    fn wechat(platform: rsa::PublicKey) -> Wechat {
        let (merchant_key, _) = super::super::test_keys();
        Wechat {
            mchid: "1900000001".into(),
            appid: "wx0000000000000001".into(),
            merchant_serial: "MERCHANTSERIAL".into(),
            merchant_key,
            apiv3_key: *APIV3_KEY,
            platform_keys: vec![("PUB_KEY_ID_0001".into(), platform)],
            api_base: "http://127.0.0.1:9".into(),
        }
    }

    fn body(key: &[u8; 32], total: i64) -> String {
        let txn = serde_json::json!({
            "mchid": "1900000001", "appid": "wx0000000000000001",
            "out_trade_no": "kyorder", "transaction_id": "4200000000000001",
            "trade_type": "NATIVE", "trade_state": "SUCCESS",
            "amount": { "total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY" },
        });
        let nonce = "fedcba987654";
        let cipher = Aes256Gcm::new_from_slice(key).unwrap();
        let sealed = cipher
            .encrypt(
                &Nonce::try_from(nonce.as_bytes()).unwrap(),
                Payload {
                    msg: txn.to_string().as_bytes(),
                    aad: b"transaction",
                },
            )
            .unwrap();
        serde_json::json!({
            "id": "EV-2018022511223320873",
            "create_time": "2026-12-04T10:00:00+08:00",
            "event_type": "TRANSACTION.SUCCESS",
            "resource_type": "encrypt-resource",
            "summary": "支付成功",
            "resource": {
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64::engine::general_purpose::STANDARD.encode(sealed),
                "nonce": nonce,
                "associated_data": "transaction",
                "original_type": "transaction",
            },
        })
        .to_string()
    }

    fn headers(key: &rsa::PrivateKey, serial: &str, ts: i64, body: &str) -> Headers {
        let signature =
            rsa_sha256_sign(key, format!("{ts}\nnonce123\n{body}\n").as_bytes()).unwrap();
        let ts = ts.to_string();
        Headers::new([
            ("Wechatpay-Timestamp", ts.as_str()),
            ("Wechatpay-Nonce", "nonce123"),
            ("Wechatpay-Signature", signature.as_str()),
            ("Wechatpay-Serial", serial),
            ("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048"),
        ])
    }

    #[test]
    fn a_good_signature_verifies_and_the_resource_decrypts() {
        let (platform_key, platform_public) = super::super::test_keys();
        let provider = wechat(platform_public);
        let now = 1_764_800_000;
        let body = body(APIV3_KEY, 1200);
        let got = provider
            .verify_notification(
                &headers(&platform_key, "PUB_KEY_ID_0001", now, &body),
                body.as_bytes(),
                now + 5,
            )
            .unwrap();
        assert_eq!(
            got,
            Notification::Payment(VerifiedPayment {
                provider_event_id: "EV-2018022511223320873".into(),
                order_id: "kyorder".into(),
                provider_txn_id: "4200000000000001".into(),
                amount_minor: 1200,
                currency: "CNY".into(),
                paid: true,
            })
        );
    }

    #[test]
    fn forged_signatures_unknown_serials_and_wrong_keys_are_refused() {
        let (platform_key, platform_public) = super::super::test_keys();
        let (someone_else, _) = super::super::test_keys();
        let provider = wechat(platform_public);
        let now = 1_764_800_000;
        let body = body(APIV3_KEY, 1200);
        let forged = headers(&someone_else, "PUB_KEY_ID_0001", now, &body);
        assert!(matches!(
            provider.verify_notification(&forged, body.as_bytes(), now),
            Err(Refusal::Signature(_))
        ));
        let unknown = headers(&platform_key, "PUB_KEY_ID_9999", now, &body);
        assert!(matches!(
            provider.verify_notification(&unknown, body.as_bytes(), now),
            Err(Refusal::Signature(_))
        ));
        let changed = body.replace("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESS ");
        let signed = headers(&platform_key, "PUB_KEY_ID_0001", now, &body);
        assert!(
            provider
                .verify_notification(&signed, changed.as_bytes(), now)
                .is_err()
        );
        // Signed by the platform, sealed with another APIv3 key.
        let other = body_with(b"ffffffffffffffffffffffffffffffff");
        let signed = headers(&platform_key, "PUB_KEY_ID_0001", now, &other);
        assert!(matches!(
            provider.verify_notification(&signed, other.as_bytes(), now),
            Err(Refusal::Invalid(_))
        ));
    }

    fn body_with(key: &[u8; 32]) -> String {
        body(key, 1200)
    }

    #[test]
    fn a_stale_timestamp_is_refused() {
        let (platform_key, platform_public) = super::super::test_keys();
        let provider = wechat(platform_public);
        let then = 1_764_800_000;
        let body = body(APIV3_KEY, 1200);
        let signed = headers(&platform_key, "PUB_KEY_ID_0001", then, &body);
        assert!(
            provider
                .verify_notification(&signed, body.as_bytes(), then + 299)
                .is_ok()
        );
        assert_eq!(
            provider.verify_notification(&signed, body.as_bytes(), then + 300),
            Err(Refusal::Stale)
        );
        assert_eq!(
            provider.verify_notification(&signed, body.as_bytes(), then - 300),
            Err(Refusal::Stale)
        );
    }

    #[test]
    fn a_signature_probe_is_refused() {
        let (_, platform_public) = super::super::test_keys();
        let provider = wechat(platform_public);
        let now = 1_764_800_000;
        let body = body(APIV3_KEY, 1200);
        let ts = now.to_string();
        let probe = Headers::new([
            ("Wechatpay-Timestamp", ts.as_str()),
            ("Wechatpay-Nonce", "nonce123"),
            (
                "Wechatpay-Signature",
                "WECHATPAY/SIGNTEST/LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t",
            ),
            ("Wechatpay-Serial", "PUB_KEY_ID_0001"),
        ]);
        assert_eq!(
            provider.verify_notification(&probe, body.as_bytes(), now),
            Err(Refusal::Probe)
        );
    }
}
