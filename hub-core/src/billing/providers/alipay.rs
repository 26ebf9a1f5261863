//! Alipay: `alipay.trade.precreate` for a QR code, and the asynchronous
//! notification, form-encoded and signed RSA2 (SHA256withRSA) over its
//! sorted parameters without `sign` and `sign_type`, verified with the
//! Alipay public key and answered with exactly `success`.

use base64::Engine;
use serde::Deserialize;

use super::{
    Ack, Checkout, CheckoutRequest, Headers, Notification, PaymentProvider, Refusal,
    VerifiedPayment, provider_error, rsa_sha256_sign, rsa_sha256_verifies,
};
use crate::error::Result;

/// An Alipay app's keys.
pub struct Alipay {
    pub app_id: String,
    /// The app's private key: signs our requests.
    pub app_private_key: rsa::PrivateKey,
    /// Alipay's public key: verifies what Alipay sends.
    pub alipay_public_key: rsa::PublicKey,
    /// `https://openapi.alipay.com/gateway.do` unless a test points elsewhere.
    pub gateway: String,
    /// The merchant's Alipay user id (`seller_id`), checked when given.
    pub seller_id: Option<String>,
}

#[derive(Deserialize)]
struct PrecreateAnswer {
    alipay_trade_precreate_response: PrecreateResponse,
}

#[derive(Deserialize)]
struct PrecreateResponse {
    code: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    sub_msg: String,
    qr_code: Option<String>,
}

impl PaymentProvider for Alipay {
    const NAME: &'static str = "alipay";

    async fn create_checkout(
        &self,
        http: &reqwest::Client,
        r: &CheckoutRequest<'_>,
    ) -> Result<Checkout> {
        if r.currency != "CNY" {
            return Err(provider_error(Self::NAME, "Alipay takes CNY only"));
        }
        let biz = serde_json::json!({
            "out_trade_no": r.order_id,
            "total_amount": fen_to_yuan(r.amount_minor),
            "subject": r.description,
        })
        .to_string();
        // Alipay's timestamps are Beijing time.
        let timestamp = (chrono::Utc::now() + chrono::Duration::hours(8))
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        let mut params = vec![
            ("app_id", self.app_id.as_str()),
            ("method", "alipay.trade.precreate"),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", "RSA2"),
            ("timestamp", timestamp.as_str()),
            ("version", "1.0"),
            ("notify_url", r.notify_url),
            ("biz_content", biz.as_str()),
        ];
        let sign = rsa_sha256_sign(
            &self.app_private_key,
            signed_content(&params, true).as_bytes(),
        )?;
        params.push(("sign", sign.as_str()));
        let form: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let response = http
            .post(&self.gateway)
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
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
                format!("precreate: {status}: {text}"),
            ));
        }
        self.verify_answer(&text, "alipay_trade_precreate_response")?;
        let answer: PrecreateAnswer =
            serde_json::from_str(&text).map_err(|e| provider_error(Self::NAME, e))?;
        let response = answer.alipay_trade_precreate_response;
        if response.code != "10000" {
            return Err(provider_error(
                Self::NAME,
                format!(
                    "precreate: {} {} {}",
                    response.code, response.msg, response.sub_msg
                ),
            ));
        }
        response
            .qr_code
            .map(Checkout::QrCode)
            .ok_or_else(|| provider_error(Self::NAME, "precreate answered no qr_code"))
    }

    fn verify_notification(
        &self,
        _headers: &Headers,
        body: &[u8],
        _now: i64,
    ) -> Result<Notification, Refusal> {
        // Alipay retries a notification for about a day with the same
        // notify_id: no time window, the event id deduplicates.
        let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let sign = get("sign").ok_or_else(|| Refusal::Signature("no sign".into()))?;
        if get("sign_type") != Some("RSA2") {
            return Err(Refusal::Signature("sign_type is not RSA2".into()));
        }
        let signature = base64::engine::general_purpose::STANDARD
            .decode(sign)
            .map_err(|_| Refusal::Signature("sign is not base64".into()))?;
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let content = signed_content(&pairs, false);
        if !rsa_sha256_verifies(&self.alipay_public_key, content.as_bytes(), &signature) {
            return Err(Refusal::Signature("RSA2 signature does not verify".into()));
        }
        let required = |key: &str| {
            get(key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Refusal::Invalid(format!("no {key}")))
        };
        if required("app_id")? != self.app_id {
            return Err(Refusal::Invalid("app_id is not ours".into()));
        }
        if let (Some(ours), Some(theirs)) = (&self.seller_id, get("seller_id"))
            && ours != theirs
        {
            return Err(Refusal::Invalid("seller_id is not ours".into()));
        }
        let amount_minor = yuan_to_fen(required("total_amount")?)
            .ok_or_else(|| Refusal::Invalid("total_amount is not an amount in yuan".into()))?;
        let paid = matches!(
            required("trade_status")?,
            "TRADE_SUCCESS" | "TRADE_FINISHED"
        );
        Ok(Notification::Payment(VerifiedPayment {
            provider_event_id: required("notify_id")?.to_owned(),
            order_id: required("out_trade_no")?.to_owned(),
            provider_txn_id: required("trade_no")?.to_owned(),
            amount_minor,
            currency: "CNY".into(),
            paid,
        }))
    }

    fn acknowledge(&self) -> Ack {
        Ack {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: "success".into(),
        }
    }

    fn refuse(&self, status: u16, _message: &str) -> Ack {
        Ack {
            status,
            content_type: "text/plain; charset=utf-8",
            body: "failure".into(),
        }
    }
}

impl Alipay {
    /// Checks the `sign` of a gateway answer: RSA2 over the raw text of the
    /// `{method}_response` member, as Alipay's SDKs check it.
    fn verify_answer(&self, text: &str, member: &str) -> Result<()> {
        #[derive(Deserialize)]
        struct Signed<'a> {
            #[serde(borrow)]
            sign: Option<&'a str>,
        }
        let signed: Signed<'_> =
            serde_json::from_str(text).map_err(|e| provider_error(Self::NAME, e))?;
        let raw = raw_member(text, member)
            .ok_or_else(|| provider_error(Self::NAME, format!("no {member} in the answer")))?;
        let signature = signed
            .sign
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .ok_or_else(|| provider_error(Self::NAME, "the answer is not signed"))?;
        if !rsa_sha256_verifies(&self.alipay_public_key, raw.as_bytes(), &signature) {
            return Err(provider_error(
                Self::NAME,
                "the answer's signature does not verify",
            ));
        }
        Ok(())
    }
}

/// The raw JSON text of top-level member `name` of object `text`.
fn raw_member<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\"");
    let start = text.find(&key)? + key.len();
    let rest = text[start..].trim_start().strip_prefix(':')?.trim_start();
    let offset = text.len() - rest.len();
    // Walk the value: an object, counting braces outside strings.
    let bytes = rest.as_bytes();
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[offset..offset + i + 1]);
                }
            }
            _ => {}
        }
    }
    None
}

/// What Alipay signs: the parameters sorted by name, `name=value` joined by
/// `&`, without `sign` (and without `sign_type` in notifications), empty
/// values left out.
pub fn signed_content(params: &[(&str, &str)], keep_sign_type: bool) -> String {
    let mut kept: Vec<&(&str, &str)> = params
        .iter()
        .filter(|(k, v)| *k != "sign" && (keep_sign_type || *k != "sign_type") && !v.is_empty())
        .collect();
    kept.sort_by(|a, b| a.0.cmp(b.0));
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `"12.34"` → 1234 fen. At most two decimals; nothing else accepted.
pub fn yuan_to_fen(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(fraction.is_empty() || digits(fraction)) || fraction.len() > 2 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    whole.checked_mul(100)?.checked_add(fraction)
}

/// 1234 fen → `"12.34"`.
pub fn fen_to_yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (rsa::PrivateKey, rsa::PublicKey) {
        super::super::test_keys()
    }

    fn alipay(alipay_public_key: rsa::PublicKey) -> Alipay {
        let (app_private_key, _) = keys();
        Alipay {
            app_id: "2021000000000001".into(),
            app_private_key,
            alipay_public_key,
            gateway: "http://127.0.0.1:9".into(),
            seller_id: Some("2088000000000001".into()),
        }
    }

    fn notification(key: &rsa::PrivateKey, overrides: &[(&str, &str)]) -> String {
        let mut params = vec![
            ("notify_time", "2026-12-04 10:00:00"),
            ("notify_type", "trade_status_sync"),
            ("notify_id", "ac05099524730693a8b330c5ecf72da9786"),
            ("app_id", "2021000000000001"),
            ("charset", "utf-8"),
            ("version", "1.0"),
            ("trade_no", "2026120422001400000000000001"),
            ("out_trade_no", "kyorder"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "12.00"),
            ("seller_id", "2088000000000001"),
            ("subject", "Kaiyuan 充值 ¥12"),
        ];
        for (k, v) in overrides {
            params.retain(|(name, _)| name != k);
            params.push((k, v));
        }
        let sign = rsa_sha256_sign(key, signed_content(&params, false).as_bytes()).unwrap();
        params.push(("sign_type", "RSA2"));
        params.push(("sign", &sign));
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
    }

    #[test]
    fn a_good_signature_verifies_and_reads_the_payment() {
        let (alipay_key, alipay_public) = keys();
        let provider = alipay(alipay_public);
        let body = notification(&alipay_key, &[]);
        let got = provider
            .verify_notification(&Headers::default(), body.as_bytes(), 0)
            .unwrap();
        assert_eq!(
            got,
            Notification::Payment(VerifiedPayment {
                provider_event_id: "ac05099524730693a8b330c5ecf72da9786".into(),
                order_id: "kyorder".into(),
                provider_txn_id: "2026120422001400000000000001".into(),
                amount_minor: 1200,
                currency: "CNY".into(),
                paid: true,
            })
        );
        let waiting = notification(&alipay_key, &[("trade_status", "WAIT_BUYER_PAY")]);
        let Ok(Notification::Payment(p)) =
            provider.verify_notification(&Headers::default(), waiting.as_bytes(), 0)
        else {
            panic!()
        };
        assert!(!p.paid);
    }

    #[test]
    fn a_forged_signature_is_refused() {
        let (alipay_key, alipay_public) = keys();
        let (someone_else, _) = keys();
        let provider = alipay(alipay_public);
        let forged = notification(&someone_else, &[]);
        assert!(matches!(
            provider.verify_notification(&Headers::default(), forged.as_bytes(), 0),
            Err(Refusal::Signature(_))
        ));
        // A parameter changed after signing.
        let body = notification(&alipay_key, &[]).replace("12.00", "1200.00");
        assert!(matches!(
            provider.verify_notification(&Headers::default(), body.as_bytes(), 0),
            Err(Refusal::Signature(_))
        ));
        // RSA (SHA-1) is not accepted.
        let rsa1 = notification(&alipay_key, &[]).replace("sign_type=RSA2", "sign_type=RSA");
        assert!(
            provider
                .verify_notification(&Headers::default(), rsa1.as_bytes(), 0)
                .is_err()
        );
        // Signed by Alipay, but for another app.
        let other_app = notification(&alipay_key, &[("app_id", "2021000000000002")]);
        assert!(matches!(
            provider.verify_notification(&Headers::default(), other_app.as_bytes(), 0),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn amounts_are_yuan_with_at_most_two_decimals() {
        assert_eq!(yuan_to_fen("12.00"), Some(1200));
        assert_eq!(yuan_to_fen("0.5"), Some(50));
        assert_eq!(yuan_to_fen("7"), Some(700));
        for bad in ["", "1.234", "-1", "1e2", ".5", "1,00"] {
            assert_eq!(yuan_to_fen(bad), None, "{bad}");
        }
        assert_eq!(fen_to_yuan(1205), "12.05");
    }

    #[test]
    fn raw_members_are_found_as_written() {
        let text = r#"{"alipay_trade_precreate_response":{"code":"10000","msg":"Success","qr_code":"https://qr.example/x}"},"sign":"abc"}"#;
        assert_eq!(
            raw_member(text, "alipay_trade_precreate_response"),
            Some(r#"{"code":"10000","msg":"Success","qr_code":"https://qr.example/x}"}"#)
        );
    }
}
