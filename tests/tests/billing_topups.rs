//! Top-ups end to end, offline: for each payment provider a stand-in for
//! its servers (a small HTTP server on loopback, with keys and secrets made
//! for the test) answers the hub's checkout call, checking the hub signed
//! it as the provider requires, and later posts a correctly signed
//! notification to the hub. The wallet is credited once; replays,
//! out-of-order deliveries, forged signatures, stale timestamps, wrong
//! amounts, unknown orders and WeChat Pay's signature probe credit nothing
//! more. Stripe's signature format is cross-checked with the official
//! `stripe` Python SDK.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};
use sqlx::PgPool;
use tests::TestHub;
use tests::browser::Browser;
use tests::cluster::{prerequisite, python};

// ---------------------------------------------------------------- helpers

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rsa_keys() -> (rsa::PrivateKey, rsa::PublicKey) {
    let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let public = private.to_public_key();
    (private, public)
}

fn private_pem(key: &rsa::PrivateKey) -> String {
    key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

fn public_pem(key: &rsa::PublicKey) -> String {
    key.to_public_key_pem(LineEnding::LF).unwrap()
}

fn sign_rsa(key: &rsa::PrivateKey, message: &[u8]) -> String {
    B64.encode(key.pkcs1v15_sign::<rsa::sha2::Sha256>(message).unwrap())
}

fn verify_rsa(key: &rsa::PublicKey, message: &[u8], signature_b64: &str) -> bool {
    let Ok(signature) = B64.decode(signature_b64) else {
        return false;
    };
    key.pkcs1v15_verify::<rsa::sha2::Sha256>(message, &signature)
        .is_ok()
}

fn random_text(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[*b as usize % 36]))
        .collect()
}

/// What a stand-in saw of the hub's checkout calls.
#[derive(Default)]
struct Seen {
    /// Per call: our order id, the amount in fen, the notify URL.
    checkouts: Vec<(String, i64, String)>,
}

type Shared<P> = State<Arc<(P, Mutex<Seen>)>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// The wallet balance of `name` (posted micro-yuan), read from the ledger.
async fn balance(db: &PgPool, name: &str) -> i64 {
    let id: i64 = sqlx::query_scalar("SELECT id FROM namespaces WHERE name = $1")
        .bind(name)
        .fetch_one(db)
        .await
        .unwrap();
    hub_core::billing::ledger::wallet_balance(db, id)
        .await
        .unwrap()
        .posted
        .units()
}

async fn database(hub: &TestHub) -> PgPool {
    PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap()
}

/// Posts a notification to the hub as the provider would.
async fn notify(
    hub: &TestHub,
    provider: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/billing/notify/{provider}", hub.url))
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn order(hub: &TestHub, token: &str, provider: &str, amount: &str) -> Value {
    let answer = hub
        .api(Some(token))
        .post(
            "/api/billing/orders",
            json!({ "provider": provider, "amount": amount }),
        )
        .await;
    assert_eq!(answer.status, 201, "order: {}", answer.body);
    assert_eq!(answer.body["state"], "pending");
    answer.body
}

async fn order_state(hub: &TestHub, token: &str, id: &str) -> String {
    let answer = hub
        .api(Some(token))
        .get(&format!("/api/billing/orders/{id}"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["state"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------- Stripe

struct StripeKeys {
    secret_key: String,
    webhook_secret: String,
}

/// A stand-in for api.stripe.com: `POST /v1/checkout/sessions`.
async fn stripe_sessions(
    State(state): Shared<StripeKeys>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (keys, seen) = &*state;
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {}", keys.secret_key)) {
        return (StatusCode::UNAUTHORIZED, "bad key").into_response();
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("mode"), "payment");
    assert_eq!(field("line_items[0][price_data][currency]"), "cny");
    assert_eq!(field("metadata[order_id]"), field("client_reference_id"));
    let order = field("client_reference_id");
    let fen: i64 = field("line_items[0][price_data][unit_amount]")
        .parse()
        .unwrap();
    seen.lock()
        .unwrap()
        .checkouts
        .push((order, fen, String::new()));
    let id = format!("cs_test_{}", random_text(24));
    Json(json!({ "id": id, "object": "checkout.session", "url": format!("https://checkout.stripe.test/c/pay/{id}") }))
        .into_response()
}

use axum::Json;

fn stripe_header(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn stripe_event(
    event_id: &str,
    kind: &str,
    order: &str,
    session: &str,
    fen: i64,
    status: &str,
) -> String {
    json!({
        "id": event_id,
        "object": "event",
        "type": kind,
        "data": { "object": {
            "id": session, "object": "checkout.session",
            "client_reference_id": order, "metadata": { "order_id": order },
            "amount_total": fen, "currency": "cny", "payment_status": status, "mode": "payment",
        }},
    })
    .to_string()
}

async fn stripe_hub() -> (TestHub, Arc<(StripeKeys, Mutex<Seen>)>) {
    let keys = StripeKeys {
        secret_key: format!("sk_test_{}", random_text(24)),
        webhook_secret: format!("whsec_{}", random_text(32)),
    };
    let state = Arc::new((keys, Mutex::new(Seen::default())));
    let base = serve(
        Router::new()
            .route("/v1/checkout/sessions", post(stripe_sessions))
            .with_state(state.clone()),
    )
    .await;
    let hub = TestHub::start_with(
        &[
            ("HUB_STRIPE_SECRET_KEY", &state.0.secret_key),
            ("HUB_STRIPE_WEBHOOK_SECRET", &state.0.webhook_secret),
            ("HUB_STRIPE_API_BASE", &base),
        ],
        &[],
    )
    .await;
    (hub, state)
}

#[tokio::test]
async fn stripe_top_up_credits_once_and_refuses_forgeries() {
    let (hub, stand_in) = stripe_hub().await;
    let secret = stand_in.0.webhook_secret.clone();
    let db = database(&hub).await;
    let token = hub.user_with_token("alice");
    let ord = order(&hub, &token, "stripe", "12.50").await;
    let id = ord["id"].as_str().unwrap().to_owned();
    assert!(
        ord["checkout_url"]
            .as_str()
            .unwrap()
            .starts_with("https://checkout.stripe.test/")
    );
    assert_eq!(stand_in.1.lock().unwrap().checkouts[0].0, id);
    assert_eq!(stand_in.1.lock().unwrap().checkouts[0].1, 1250);
    assert_eq!(balance(&db, "alice").await, 0);

    // Paid: the wallet rises by ¥12.50, once.
    let body = stripe_event(
        "evt_1",
        "checkout.session.completed",
        &id,
        "cs_1",
        1250,
        "paid",
    );
    let header = stripe_header(&secret, now(), &body);
    let (status, text) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", header.clone())],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(balance(&db, "alice").await, 12_500_000);
    assert_eq!(order_state(&hub, &token, &id).await, "paid");
    // The same delivery five more times.
    for _ in 0..5 {
        let (status, _) = notify(
            &hub,
            "stripe",
            &[("Stripe-Signature", header.clone())],
            &body,
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(balance(&db, "alice").await, 12_500_000);
    // Another event for the same session (async success after completion).
    let again = stripe_event(
        "evt_2",
        "checkout.session.async_payment_succeeded",
        &id,
        "cs_1",
        1250,
        "paid",
    );
    let (status, _) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", stripe_header(&secret, now(), &again))],
        &again,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(balance(&db, "alice").await, 12_500_000);

    // Out of order: the async success arrives before the (unpaid) completion.
    let second = order(&hub, &token, "stripe", "3").await;
    let second_id = second["id"].as_str().unwrap();
    let succeeded = stripe_event(
        "evt_3b",
        "checkout.session.async_payment_succeeded",
        second_id,
        "cs_2",
        300,
        "paid",
    );
    let completed = stripe_event(
        "evt_3a",
        "checkout.session.completed",
        second_id,
        "cs_2",
        300,
        "unpaid",
    );
    for body in [&succeeded, &completed, &succeeded] {
        let (status, _) = notify(
            &hub,
            "stripe",
            &[("Stripe-Signature", stripe_header(&secret, now(), body))],
            body,
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(balance(&db, "alice").await, 15_500_000);

    // Refused or ignored, each on a fresh pending order so that a mistake would show.
    let third = order(&hub, &token, "stripe", "5").await;
    let third_id = third["id"].as_str().unwrap();
    let good = stripe_event(
        "evt_4",
        "checkout.session.completed",
        third_id,
        "cs_3",
        500,
        "paid",
    );
    // A forged signature (another secret).
    let forged = stripe_header("whsec_not_the_secret", now(), &good);
    let (status, _) = notify(&hub, "stripe", &[("Stripe-Signature", forged)], &good).await;
    assert_eq!(status, 401);
    // No signature at all.
    let (status, _) = notify(&hub, "stripe", &[], &good).await;
    assert_eq!(status, 401);
    // A body changed after signing.
    let richer = good.replace("500", "50000");
    let (status, _) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", stripe_header(&secret, now(), &good))],
        &richer,
    )
    .await;
    assert_eq!(status, 401);
    // A body over the limit is refused before it is read.
    let huge = format!("{good}{}", " ".repeat(100 * 1024));
    let (status, _) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", stripe_header(&secret, now(), &huge))],
        &huge,
    )
    .await;
    assert_eq!(status, 413);
    // A stale timestamp (a replay from ten minutes ago).
    let stale = stripe_header(&secret, now() - 600, &good);
    let (status, _) = notify(&hub, "stripe", &[("Stripe-Signature", stale)], &good).await;
    assert_eq!(status, 401);
    // A wrong amount, correctly signed: acknowledged, not credited.
    let cheap = stripe_event(
        "evt_5",
        "checkout.session.completed",
        third_id,
        "cs_3",
        1,
        "paid",
    );
    let (status, _) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", stripe_header(&secret, now(), &cheap))],
        &cheap,
    )
    .await;
    assert_eq!(status, 200);
    // An unknown order.
    let unknown = stripe_event(
        "evt_6",
        "checkout.session.completed",
        "kyffffffffffffffffffffffffffffff",
        "cs_9",
        500,
        "paid",
    );
    let (status, _) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", stripe_header(&secret, now(), &unknown))],
        &unknown,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(balance(&db, "alice").await, 15_500_000);
    assert_eq!(order_state(&hub, &token, third_id).await, "pending");
    // The right notification still credits it.
    let (status, _) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", stripe_header(&secret, now(), &good))],
        &good,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(balance(&db, "alice").await, 20_500_000);

    // Orders are their owner's: another user gets 404.
    let bob = hub.user_with_token("bob");
    let answer = hub
        .api(Some(&bob))
        .get(&format!("/api/billing/orders/{id}"))
        .await;
    assert_eq!(answer.status, 404);
    let answer = hub
        .api(None)
        .get(&format!("/api/billing/orders/{id}"))
        .await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn stripe_signatures_match_the_official_sdk() {
    let Some(python) = prerequisite(python(), "the test venv's Python (tests/run creates .venv)")
    else {
        return;
    };
    let (hub, stand_in) = stripe_hub().await;
    let secret = stand_in.0.webhook_secret.clone();
    let db = database(&hub).await;
    let token = hub.user_with_token("carol");
    let ord = order(&hub, &token, "stripe", "8").await;
    let id = ord["id"].as_str().unwrap();
    let body = stripe_event(
        "evt_sdk",
        "checkout.session.completed",
        id,
        "cs_sdk",
        800,
        "paid",
    );
    let t = now();
    // The SDK verifies the header this test (the stand-in) makes, and makes
    // the same header itself.
    let script = r#"
import sys, stripe
payload, secret, t, ours = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
stripe.Webhook.construct_event(payload, ours, secret)
print(stripe.WebhookSignature.generate_signature_header(payload, secret, t))
"#;
    let ours = stripe_header(&secret, t, &body);
    let out = std::process::Command::new(&python)
        .args(["-c", script, &body, &secret, &t.to_string(), &ours])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "stripe SDK: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(theirs.starts_with(&format!("t={t},v1=")), "{theirs}");
    assert!(
        theirs.contains(ours.split_once(",v1=").unwrap().1),
        "{theirs} vs {ours}"
    );
    // The hub takes the SDK's header.
    let (status, text) = notify(&hub, "stripe", &[("Stripe-Signature", theirs)], &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(balance(&db, "carol").await, 8_000_000);
}

// ---------------------------------------------------------------- Alipay

struct AlipayKeys {
    app_id: String,
    /// Verifies the hub's requests.
    app_public: rsa::PublicKey,
    /// Signs Alipay's answers and notifications.
    alipay_private: rsa::PrivateKey,
}

/// Alipay's signed content: sorted `k=v` pairs joined by `&`, without
/// `sign` (and, in notifications, `sign_type`), empty values left out.
fn alipay_content(params: &[(String, String)], with_sign_type: bool) -> String {
    let mut kept: Vec<_> = params
        .iter()
        .filter(|(k, v)| k != "sign" && (with_sign_type || k != "sign_type") && !v.is_empty())
        .collect();
    kept.sort();
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A stand-in for Alipay's gateway: `alipay.trade.precreate`.
async fn alipay_gateway(State(state): Shared<AlipayKeys>, body: Bytes) -> Response {
    let (keys, seen) = &*state;
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if !verify_rsa(
        &keys.app_public,
        alipay_content(&params, true).as_bytes(),
        &field("sign"),
    ) {
        return Json(json!({"error_response": {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}})).into_response();
    }
    assert_eq!(field("method"), "alipay.trade.precreate");
    assert_eq!(field("app_id"), keys.app_id);
    assert_eq!(field("sign_type"), "RSA2");
    let biz: Value = serde_json::from_str(&field("biz_content")).unwrap();
    let order = biz["out_trade_no"].as_str().unwrap().to_owned();
    let yuan = biz["total_amount"].as_str().unwrap();
    let (whole, fen) = yuan.split_once('.').unwrap();
    let fen = whole.parse::<i64>().unwrap() * 100 + fen.parse::<i64>().unwrap();
    seen.lock()
        .unwrap()
        .checkouts
        .push((order.clone(), fen, field("notify_url")));
    let inner = json!({
        "code": "10000", "msg": "Success", "out_trade_no": order,
        "qr_code": format!("https://qr.alipay.test/{}", random_text(20)),
    })
    .to_string();
    let sign = sign_rsa(&keys.alipay_private, inner.as_bytes());
    let text = format!(r#"{{"alipay_trade_precreate_response":{inner},"sign":"{sign}"}}"#);
    ([("content-type", "application/json;charset=utf-8")], text).into_response()
}

fn alipay_notification(key: &rsa::PrivateKey, app_id: &str, fields: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = vec![
        ("notify_time".into(), "2026-12-04 10:00:00".into()),
        ("notify_type".into(), "trade_status_sync".into()),
        ("app_id".into(), app_id.into()),
        ("charset".into(), "utf-8".into()),
        ("version".into(), "1.0".into()),
        ("subject".into(), "Kaiyuan Hub 额度".into()),
        ("gmt_payment".into(), "2026-12-04 09:59:58".into()),
    ];
    for (k, v) in fields {
        params.push(((*k).into(), (*v).into()));
    }
    params.push(("sign_type".into(), "RSA2".into()));
    let sign = sign_rsa(key, alipay_content(&params, false).as_bytes());
    params.push(("sign".into(), sign));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

#[tokio::test]
async fn alipay_top_up_credits_once_and_refuses_forgeries() {
    let (app_private, app_public) = rsa_keys();
    let (alipay_private, alipay_public) = rsa_keys();
    let keys = AlipayKeys {
        app_id: "2021000000000042".into(),
        app_public,
        alipay_private,
    };
    let state = Arc::new((keys, Mutex::new(Seen::default())));
    let base = serve(
        Router::new()
            .route("/gateway.do", post(alipay_gateway))
            .with_state(state.clone()),
    )
    .await;
    // Alipay's console hands out its public key as bare base64 DER.
    let alipay_public_b64 = B64.encode(alipay_public.to_public_key_der().unwrap().as_bytes());
    let hub = TestHub::start_with(
        &[
            ("HUB_ALIPAY_APP_ID", "2021000000000042"),
            ("HUB_ALIPAY_PRIVATE_KEY", &private_pem(&app_private)),
            ("HUB_ALIPAY_PUBLIC_KEY", &alipay_public_b64),
            ("HUB_ALIPAY_GATEWAY", &format!("{base}/gateway.do")),
        ],
        &[],
    )
    .await;
    let key = &state.0.alipay_private;
    let app = "2021000000000042";
    let db = database(&hub).await;
    let token = hub.user_with_token("dave");
    let ord = order(&hub, &token, "alipay", "20").await;
    let id = ord["id"].as_str().unwrap().to_owned();
    assert!(ord["qr_svg"].as_str().unwrap().contains("<svg"), "{ord}");
    {
        let seen = state.1.lock().unwrap();
        assert_eq!(seen.checkouts[0].0, id);
        assert_eq!(seen.checkouts[0].1, 2000);
        assert!(seen.checkouts[0].2.ends_with("/api/billing/notify/alipay"));
    }

    let paid = |notify_id: &str, order: &str, amount: &str, status: &str| {
        alipay_notification(
            key,
            app,
            &[
                ("notify_id", notify_id),
                ("trade_no", "2026120422001400001"),
                ("out_trade_no", order),
                ("total_amount", amount),
                ("receipt_amount", amount),
                ("trade_status", status),
            ],
        )
    };
    let body = paid("n-1", &id, "20.00", "TRADE_SUCCESS");
    let (status, text) = notify(
        &hub,
        "alipay",
        &[("content-type", "application/x-www-form-urlencoded".into())],
        &body,
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "success"));
    assert_eq!(balance(&db, "dave").await, 20_000_000);
    assert_eq!(order_state(&hub, &token, &id).await, "paid");
    for _ in 0..5 {
        let (status, text) = notify(&hub, "alipay", &[], &body).await;
        assert_eq!((status, text.as_str()), (200, "success"));
    }
    // TRADE_FINISHED later (another notify_id, the same trade): no more money.
    let finished = paid("n-2", &id, "20.00", "TRADE_FINISHED");
    assert_eq!(notify(&hub, "alipay", &[], &finished).await.1, "success");
    assert_eq!(balance(&db, "dave").await, 20_000_000);

    // Out of order: WAIT_BUYER_PAY arrives after TRADE_SUCCESS.
    let second = order(&hub, &token, "alipay", "1.5").await;
    let second_id = second["id"].as_str().unwrap();
    let success = alipay_notification(
        key,
        app,
        &[
            ("notify_id", "n-3b"),
            ("trade_no", "T2"),
            ("out_trade_no", second_id),
            ("total_amount", "1.50"),
            ("trade_status", "TRADE_SUCCESS"),
        ],
    );
    let waiting = alipay_notification(
        key,
        app,
        &[
            ("notify_id", "n-3a"),
            ("trade_no", "T2"),
            ("out_trade_no", second_id),
            ("total_amount", "1.50"),
            ("trade_status", "WAIT_BUYER_PAY"),
        ],
    );
    for body in [&success, &waiting] {
        assert_eq!(notify(&hub, "alipay", &[], body).await.1, "success");
    }
    assert_eq!(balance(&db, "dave").await, 21_500_000);
    assert_eq!(order_state(&hub, &token, second_id).await, "paid");

    let third = order(&hub, &token, "alipay", "7").await;
    let third_id = third["id"].as_str().unwrap();
    let good = alipay_notification(
        key,
        app,
        &[
            ("notify_id", "n-4"),
            ("trade_no", "T3"),
            ("out_trade_no", third_id),
            ("total_amount", "7.00"),
            ("trade_status", "TRADE_SUCCESS"),
        ],
    );
    // Forged: signed with a key that is not Alipay's.
    let (mallory, _) = rsa_keys();
    let forged = alipay_notification(
        &mallory,
        app,
        &[
            ("notify_id", "n-5"),
            ("trade_no", "T3"),
            ("out_trade_no", third_id),
            ("total_amount", "7.00"),
            ("trade_status", "TRADE_SUCCESS"),
        ],
    );
    let (status, text) = notify(&hub, "alipay", &[], &forged).await;
    assert_eq!((status, text.as_str()), (401, "failure"));
    // Changed after signing.
    let (status, _) = notify(
        &hub,
        "alipay",
        &[],
        &good.replace("total_amount=7.00", "total_amount=700.00"),
    )
    .await;
    assert_eq!(status, 401);
    // Signed by Alipay for another app.
    let other_app = alipay_notification(
        key,
        "2021000000000099",
        &[
            ("notify_id", "n-6"),
            ("trade_no", "T3"),
            ("out_trade_no", third_id),
            ("total_amount", "7.00"),
            ("trade_status", "TRADE_SUCCESS"),
        ],
    );
    assert_eq!(notify(&hub, "alipay", &[], &other_app).await.0, 400);
    // A wrong amount; an unknown order: acknowledged, not credited.
    let cheap = alipay_notification(
        key,
        app,
        &[
            ("notify_id", "n-7"),
            ("trade_no", "T3"),
            ("out_trade_no", third_id),
            ("total_amount", "0.07"),
            ("trade_status", "TRADE_SUCCESS"),
        ],
    );
    assert_eq!(notify(&hub, "alipay", &[], &cheap).await.1, "success");
    let unknown = alipay_notification(
        key,
        app,
        &[
            ("notify_id", "n-8"),
            ("trade_no", "T9"),
            ("out_trade_no", "kyffffffffffffffffffffffffffffff"),
            ("total_amount", "7.00"),
            ("trade_status", "TRADE_SUCCESS"),
        ],
    );
    assert_eq!(notify(&hub, "alipay", &[], &unknown).await.1, "success");
    assert_eq!(balance(&db, "dave").await, 21_500_000);
    assert_eq!(order_state(&hub, &token, third_id).await, "pending");
    assert_eq!(notify(&hub, "alipay", &[], &good).await.1, "success");
    assert_eq!(balance(&db, "dave").await, 28_500_000);
}

// ---------------------------------------------------------------- WeChat Pay

struct WechatKeys {
    mchid: String,
    appid: String,
    /// Verifies the hub's requests.
    merchant_public: rsa::PublicKey,
    merchant_serial: String,
    /// Signs answers and notifications.
    platform_private: rsa::PrivateKey,
    platform_serial: String,
    apiv3_key: String,
}

fn wechat_signed_headers(
    key: &rsa::PrivateKey,
    serial: &str,
    ts: i64,
    body: &str,
) -> Vec<(&'static str, String)> {
    let nonce = random_text(32);
    let signature = sign_rsa(key, format!("{ts}\n{nonce}\n{body}\n").as_bytes());
    vec![
        ("Wechatpay-Timestamp", ts.to_string()),
        ("Wechatpay-Nonce", nonce),
        ("Wechatpay-Signature", signature),
        ("Wechatpay-Serial", serial.to_owned()),
        (
            "Wechatpay-Signature-Type",
            "WECHATPAY2-SHA256-RSA2048".to_owned(),
        ),
        ("Request-ID", random_text(16)),
    ]
}

/// A stand-in for api.mch.weixin.qq.com: `POST /v3/pay/transactions/native`.
async fn wechat_native(
    State(state): Shared<WechatKeys>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (keys, seen) = &*state;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(params) = auth.strip_prefix("WECHATPAY2-SHA256-RSA2048 ") else {
        return (StatusCode::UNAUTHORIZED, "no auth").into_response();
    };
    let param = |name: &str| {
        params
            .split(',')
            .find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_owned())
            })
            .unwrap_or_default()
    };
    let body = String::from_utf8(body.to_vec()).unwrap();
    let message = format!(
        "POST\n/v3/pay/transactions/native\n{}\n{}\n{body}\n",
        param("timestamp"),
        param("nonce_str")
    );
    if param("mchid") != keys.mchid
        || param("serial_no") != keys.merchant_serial
        || !verify_rsa(
            &keys.merchant_public,
            message.as_bytes(),
            &param("signature"),
        )
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": "SIGN_ERROR", "message": "签名错误"})),
        )
            .into_response();
    }
    let request: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(request["appid"], keys.appid.as_str());
    assert_eq!(request["amount"]["currency"], "CNY");
    seen.lock().unwrap().checkouts.push((
        request["out_trade_no"].as_str().unwrap().to_owned(),
        request["amount"]["total"].as_i64().unwrap(),
        request["notify_url"].as_str().unwrap().to_owned(),
    ));
    let answer = json!({ "code_url": format!("weixin://wxpay/bizpayurl?pr={}", random_text(12)) })
        .to_string();
    let mut response = (StatusCode::OK, answer.clone()).into_response();
    for (k, v) in wechat_signed_headers(
        &keys.platform_private,
        &keys.platform_serial,
        now(),
        &answer,
    ) {
        response.headers_mut().insert(k, v.parse().unwrap());
    }
    response
}

fn wechat_notification(
    keys: &WechatKeys,
    event_id: &str,
    order: &str,
    txn: &str,
    fen: i64,
    state: &str,
) -> String {
    let transaction = json!({
        "mchid": keys.mchid, "appid": keys.appid, "out_trade_no": order, "transaction_id": txn,
        "trade_type": "NATIVE", "trade_state": state, "trade_state_desc": "支付成功",
        "bank_type": "OTHERS", "attach": "", "success_time": "2026-12-04T10:00:00+08:00",
        "payer": { "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
        "amount": { "total": fen, "payer_total": fen, "currency": "CNY", "payer_currency": "CNY" },
    });
    let nonce = random_text(12);
    let cipher = Aes256Gcm::new_from_slice(keys.apiv3_key.as_bytes()).unwrap();
    let sealed = cipher
        .encrypt(
            &Nonce::try_from(nonce.as_bytes()).unwrap(),
            Payload {
                msg: transaction.to_string().as_bytes(),
                aad: b"transaction",
            },
        )
        .unwrap();
    json!({
        "id": event_id, "create_time": "2026-12-04T10:00:01+08:00",
        "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
        "resource": {
            "original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": B64.encode(sealed), "associated_data": "transaction", "nonce": nonce,
        },
    })
    .to_string()
}

#[tokio::test]
async fn wechat_top_up_credits_once_and_refuses_forgeries() {
    let (merchant_private, merchant_public) = rsa_keys();
    let (platform_private, platform_public) = rsa_keys();
    let keys = WechatKeys {
        mchid: "1900000109".into(),
        appid: "wxd678efh567hg6787".into(),
        merchant_public,
        merchant_serial: "5157F09EFDC096DE15EBE81A47057A72".into(),
        platform_private,
        platform_serial: "PUB_KEY_ID_0114232134912410000000000000".into(),
        apiv3_key: random_text(32),
    };
    let state = Arc::new((keys, Mutex::new(Seen::default())));
    let base = serve(
        Router::new()
            .route("/v3/pay/transactions/native", post(wechat_native))
            .with_state(state.clone()),
    )
    .await;
    let k = &state.0;
    let hub = TestHub::start_with(
        &[
            ("HUB_WECHAT_MCHID", k.mchid.as_str()),
            ("HUB_WECHAT_APPID", &k.appid),
            ("HUB_WECHAT_MERCHANT_SERIAL", &k.merchant_serial),
            ("HUB_WECHAT_MERCHANT_KEY", &private_pem(&merchant_private)),
            ("HUB_WECHAT_APIV3_KEY", &k.apiv3_key),
            ("HUB_WECHAT_PLATFORM_SERIAL", &k.platform_serial),
            ("HUB_WECHAT_PLATFORM_KEY", &public_pem(&platform_public)),
            ("HUB_WECHAT_API_BASE", &base),
        ],
        &[],
    )
    .await;
    let db = database(&hub).await;
    let token = hub.user_with_token("erin");
    let ord = order(&hub, &token, "wechat", "30").await;
    let id = ord["id"].as_str().unwrap().to_owned();
    assert!(ord["qr_svg"].as_str().unwrap().contains("<svg"));
    assert_eq!(state.1.lock().unwrap().checkouts[0].1, 3000);
    let send = |body: String, ts: i64| {
        let headers = wechat_signed_headers(&k.platform_private, &k.platform_serial, ts, &body);
        let hub = &hub;
        async move { notify(hub, "wechat", &headers, &body).await }
    };

    let body = wechat_notification(k, "EV-1", &id, "4200000001", 3000, "SUCCESS");
    let (status, text) = send(body.clone(), now()).await;
    assert!(status == 200 || status == 204, "{status} {text}");
    assert_eq!(balance(&db, "erin").await, 30_000_000);
    assert_eq!(order_state(&hub, &token, &id).await, "paid");
    // Replayed five times, also from "several servers" at once.
    let replays: Vec<_> = (0..5).map(|_| send(body.clone(), now())).collect();
    for (status, _) in futures::future::join_all(replays).await {
        assert_eq!(status, 204);
    }
    assert_eq!(balance(&db, "erin").await, 30_000_000);

    // Out of order: a later delivery id for the same transaction first.
    let second = order(&hub, &token, "wechat", "2").await;
    let second_id = second["id"].as_str().unwrap();
    for event in ["EV-2b", "EV-2a"] {
        let body = wechat_notification(k, event, second_id, "4200000002", 200, "SUCCESS");
        assert_eq!(send(body, now()).await.0, 204);
    }
    assert_eq!(balance(&db, "erin").await, 32_000_000);

    let third = order(&hub, &token, "wechat", "9").await;
    let third_id = third["id"].as_str().unwrap();
    let good = wechat_notification(k, "EV-3", third_id, "4200000003", 900, "SUCCESS");
    // Forged: signed with another key under the platform's serial.
    let (mallory, _) = rsa_keys();
    let forged = wechat_signed_headers(&mallory, &k.platform_serial, now(), &good);
    assert_eq!(notify(&hub, "wechat", &forged, &good).await.0, 401);
    // An unknown serial.
    let unknown_serial =
        wechat_signed_headers(&k.platform_private, "PUB_KEY_ID_9999", now(), &good);
    assert_eq!(notify(&hub, "wechat", &unknown_serial, &good).await.0, 401);
    // Stale: signed ten minutes ago.
    let (status, text) = send(good.clone(), now() - 600).await;
    assert_eq!(status, 401);
    assert!(text.contains("FAIL"), "{text}");
    // The signature probe.
    let mut probe = wechat_signed_headers(&k.platform_private, &k.platform_serial, now(), &good);
    probe[2].1 = format!("WECHATPAY/SIGNTEST/{}", probe[2].1);
    assert_eq!(notify(&hub, "wechat", &probe, &good).await.0, 401);
    // A wrong amount; another currency; an unknown order: acknowledged, not credited.
    let cheap = wechat_notification(k, "EV-4", third_id, "4200000003", 9, "SUCCESS");
    assert_eq!(send(cheap, now()).await.0, 204);
    let unknown = wechat_notification(
        k,
        "EV-5",
        "kyffffffffffffffffffffffffffffff",
        "4200000009",
        900,
        "SUCCESS",
    );
    assert_eq!(send(unknown, now()).await.0, 204);
    assert_eq!(balance(&db, "erin").await, 32_000_000);
    assert_eq!(order_state(&hub, &token, third_id).await, "pending");
    assert_eq!(send(good, now()).await.0, 204);
    assert_eq!(balance(&db, "erin").await, 41_000_000);
}

// ---------------------------------------------------------------- without a provider, orgs

#[tokio::test]
async fn without_a_provider_the_top_up_page_says_admins_grant_credits() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("frank");
    let answer = hub
        .api(Some(&token))
        .post(
            "/api/billing/orders",
            json!({ "provider": "stripe", "amount": "10" }),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.body["error"]
            .as_str()
            .unwrap()
            .contains("site admin"),
        "{}",
        answer.body
    );
    // Nobody can be credited through an unconfigured provider's endpoint.
    let (status, _) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", "t=1,v1=00".into())],
        "{}",
    )
    .await;
    assert_eq!(status, 404);
    let browser = Browser::new(&hub.url);
    browser.log_in("frank", "password-123").await;
    let (status, html) = browser.get("/settings/billing/topup").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("站点管理员") || html.contains("Site admins"),
        "{html}"
    );
    let response = browser
        .request(reqwest::Method::GET, "/settings/billing/topup")
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Site admins grant credits")
    );
}

#[tokio::test]
async fn only_an_organizations_admins_top_up_its_wallet() {
    let (hub, stand_in) = stripe_hub().await;
    let secret = stand_in.0.webhook_secret.clone();
    let db = database(&hub).await;
    let owner = Browser::new(&hub.url);
    owner.sign_up("grace").await;
    let r = owner
        .submit(
            "/organizations/new",
            "/organizations/new",
            &[("name", "acme"), ("full_name", "Acme")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let member = hub.user_with_token("heidi");
    let r = owner
        .submit(
            "/organizations/acme/members",
            "/organizations/acme/members",
            &[("username", "heidi"), ("role", "write")],
        )
        .await;
    assert!(r.status().is_redirection(), "{}", r.status());
    let outsider = hub.user_with_token("ivan");
    let new = json!({ "provider": "stripe", "amount": "100", "org": "acme" });
    let answer = hub
        .api(Some(&member))
        .post("/api/billing/orders", new.clone())
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let answer = hub
        .api(Some(&outsider))
        .post("/api/billing/orders", new.clone())
        .await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    // The admin pays for the organisation; its wallet, not hers, rises.
    let admin = hub.token("grace", true);
    let answer = hub.api(Some(&admin)).post("/api/billing/orders", new).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap();
    assert_eq!(answer.body["payer"], "acme");
    let body = stripe_event(
        "evt_org",
        "checkout.session.completed",
        id,
        "cs_org",
        10000,
        "paid",
    );
    let (status, _) = notify(
        &hub,
        "stripe",
        &[("Stripe-Signature", stripe_header(&secret, now(), &body))],
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(balance(&db, "acme").await, 100_000_000);
    assert_eq!(balance(&db, "grace").await, 0);
    // The member cannot watch the organisation's order; the admin can.
    assert_eq!(
        hub.api(Some(&member))
            .get(&format!("/api/billing/orders/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(order_state(&hub, &admin, id).await, "paid");
    let (status, html) = owner
        .get("/organizations/acme/settings/billing/topup")
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("data-org=\"acme\""), "{html}");
    assert!(html.contains(r#"name="provider" value="stripe""#), "{html}");
    assert!(html.contains("/static/topup.js"), "{html}");
    let (status, script) = owner.get("/static/topup.js").await;
    assert_eq!(status, 200);
    assert!(script.contains("/api/billing/orders"));
}

/// Payment keys in a file others may read: `hub serve` refuses to start,
/// and says how to fix it.
#[tokio::test]
async fn a_providers_file_others_may_read_stops_the_hub() {
    use std::os::unix::fs::PermissionsExt;
    let db = tests::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("billing-providers.toml");
    std::fs::write(
        &file,
        "[stripe]\nsecret_key = \"sk_test_x\"\nwebhook_secrets = [\"whsec_x\"]\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = tokio::process::Command::new(tests::hub_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("DATABASE_URL", &db.url)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
        .await
        .expect("the hub should stop at once")
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
}
