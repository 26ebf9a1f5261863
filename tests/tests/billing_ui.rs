//! The billing pages and the billing API through the real hub: a site admin
//! grants credits and adds a rate on `/admin/billing`, a charge goes through
//! the ledger as paid inference makes it (a hold, then its post, and the
//! priced usage record), and the payer sees balance, usage chart, usage per
//! job, transactions, a printable receipt and a CSV export, in Chinese and
//! in English; the same for an organisation, for its admins only. Anyone
//! else gets 404.

use std::time::Duration;

use hub_core::billing::Credits;
use hub_core::billing::ledger::{self, SystemAccount, Transfer};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;
use tests::TestHub;
use tests::browser::Browser;

const ADMIN_PASSWORD: &str = "password-123";

/// A site admin made with the CLI, signed in through the log-in form.
async fn site_admin(hub: &TestHub) -> Browser {
    let out = hub.cli(&[
        "user",
        "create",
        "--username",
        "root",
        "--email",
        "root@example.com",
        "--password",
        ADMIN_PASSWORD,
        "--admin",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b = Browser::new(&hub.url);
    b.log_in("root", ADMIN_PASSWORD).await;
    b
}

async fn signed_up(hub: &TestHub, name: &str) -> Browser {
    let b = Browser::new(&hub.url);
    b.sign_up(name).await;
    b
}

async fn pool(hub: &TestHub) -> PgPool {
    PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap()
}

async fn namespace_id(pool: &PgPool, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM namespaces WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Grants `amount` yuan through the admin desk; returns the transfer id.
async fn grant(admin: &Browser, kind: &str, name: &str, amount: &str, reason: &str) -> String {
    let r = admin
        .submit(
            "/admin/billing",
            "/admin/billing/grant",
            &[
                ("kind", kind),
                ("name", name),
                ("amount", amount),
                ("reason", reason),
            ],
        )
        .await;
    assert_eq!(r.status(), 303, "grant to {name}");
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&format!("http://hub{to}")).unwrap();
    let id = url.query_pairs().find(|(k, _)| k == "transfer");
    id.expect("the transfer's id").1.into_owned()
}

/// A charge as paid inference makes one: a hold for the worst case, posted
/// for what was used, and the priced usage record naming the charge.
/// Returns the charge's transfer id.
async fn charge(
    pool: &PgPool,
    namespace: i64,
    job: uuid::Uuid,
    held: i64,
    used: i64,
    days_ago: i32,
) -> String {
    let mut conn = pool.acquire().await.unwrap();
    let wallet = ledger::wallet(&mut conn, namespace).await.unwrap();
    let revenue = ledger::system(&mut conn, SystemAccount::Revenue)
        .await
        .unwrap();
    let reference = job.to_string();
    let hold_id = format!("inference/{job}/hold");
    ledger::hold(
        &mut conn,
        &Transfer {
            id: &hold_id,
            debit: wallet,
            credit: revenue,
            amount: Credits(held),
            code: "inference",
            memo: "alice/tiny",
            reference: Some(&reference),
            created_by: None,
        },
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    let id = format!("inference/{job}/charge");
    ledger::post(&mut conn, &id, &hold_id, Credits(used))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO usage_records (kind, account_id, job_id, prompt_tokens, generated_tokens,
                                    device_ms, namespace_id, device_class, cost, transfer_id,
                                    created_at)
         VALUES ('inference', $1, $2, 100, 500, 2500, $1, 'gpu-small', $3, $4,
                 now() - make_interval(days => $5))",
    )
    .bind(namespace)
    .bind(job)
    .bind(used)
    .bind(&id)
    .bind(days_ago)
    .execute(pool)
    .await
    .unwrap();
    id
}

/// A hold that is still in force.
async fn open_hold(pool: &PgPool, namespace: i64, amount: i64) -> String {
    let mut conn = pool.acquire().await.unwrap();
    let wallet = ledger::wallet(&mut conn, namespace).await.unwrap();
    let revenue = ledger::system(&mut conn, SystemAccount::Revenue)
        .await
        .unwrap();
    let id = format!("inference/{}/hold", uuid::Uuid::new_v4());
    ledger::hold(
        &mut conn,
        &Transfer {
            id: &id,
            debit: wallet,
            credit: revenue,
            amount: Credits(amount),
            code: "inference",
            memo: "",
            reference: None,
            created_by: None,
        },
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    id
}

async fn json(b: &Browser, path: &str) -> (StatusCode, Value) {
    let r = b.request(reqwest::Method::GET, path).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The same page in Chinese.
async fn page_zh(b: &Browser, path: &str) -> (StatusCode, String) {
    let r = b
        .client
        .get(b.url(path))
        .header("accept-language", "zh-CN")
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Each `<form method="post">` carries the CSRF field.
fn forms_have_csrf(html: &str) {
    for form in html.split("<form").skip(1) {
        let form = form.split("</form>").next().unwrap();
        if form.contains("method=\"post\"") {
            assert!(form.contains("name=\"csrf\""), "form without CSRF: {form}");
        }
    }
    tests::assert_no_inline_script(html, "billing page");
}

#[tokio::test]
async fn a_payer_sees_balance_usage_transactions_and_receipts() {
    let hub = TestHub::start().await;
    let admin = site_admin(&hub).await;
    let alice = signed_up(&hub, "alice").await;
    let pool = pool(&hub).await;
    let alice_id = namespace_id(&pool, "alice").await;

    // Before any money: zero, no transactions, a chart of empty days.
    let (status, html) = alice.get("/settings/billing").await;
    assert_eq!(status, 200);
    assert!(html.contains("¥0.00 (≈ $0.00)"), "{html}");
    assert!(html.contains("No transactions yet."));

    // The admin desk: a rate and a grant, with CSRF; the check is sound.
    let (status, desk) = admin.get("/admin/billing").await;
    assert_eq!(status, 200);
    forms_have_csrf(&desk);
    let r = admin
        .submit(
            "/admin/billing",
            "/admin/billing/rates",
            &[
                ("device_class", "gpu-small"),
                ("per_second", "0.0005"),
                ("per_thousand_tokens", "0.002"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let granted = grant(&admin, "user", "alice", "50", "welcome, \"friend\"").await;
    assert!(granted.starts_with("grant/"), "{granted}");
    let (_, desk) = admin.get("/admin/billing").await;
    assert!(desk.contains("<code>gpu-small</code>"), "{desk}");
    assert!(desk.contains("¥0.0005") && desk.contains("¥0.002"));
    assert!(
        desk.contains("id=\"ledger-check\" class=\"check-sound\""),
        "{desk}"
    );
    // A form with a wrong CSRF token changes nothing.
    let r = admin
        .request(reqwest::Method::POST, "/admin/billing/grant")
        .form(&[
            ("csrf", "forged"),
            ("kind", "user"),
            ("name", "alice"),
            ("amount", "1000"),
            ("reason", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Bad input is said on the desk.
    let r = admin
        .submit(
            "/admin/billing",
            "/admin/billing/grant",
            &[
                ("kind", "user"),
                ("name", "alice"),
                ("amount", "-5"),
                ("reason", "x"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);

    // Two charges (one three days ago), and a hold still in force.
    let job = uuid::Uuid::new_v4();
    let charged = charge(&pool, alice_id, job, 5_000, 1_200, 0).await;
    charge(&pool, alice_id, uuid::Uuid::new_v4(), 2_000, 800, 3).await;
    let held = open_hold(&pool, alice_id, 999).await;

    // ¥50 − ¥0.0012 − ¥0.0008 posted; ¥0.000999 held.
    let (status, balance) = json(&alice, "/api/billing/balance").await;
    assert_eq!(status, 200);
    assert_eq!(balance["posted"]["micro_yuan"], 49_998_000);
    assert_eq!(balance["posted"]["display"], "¥49.998");
    assert_eq!(balance["held"]["micro_yuan"], 999);
    assert_eq!(balance["available"]["micro_yuan"], 49_997_001);
    assert_eq!(balance["payer"]["name"], "alice");

    // English: ¥ with ≈ $ (0.14 by default).
    let (status, html) = alice.get("/settings/billing").await;
    assert_eq!(status, 200);
    forms_have_csrf(&html);
    assert!(html.contains("¥49.997001 (≈ $7.00)"), "{html}");
    assert!(html.contains("href=\"/settings/billing/topup\""));
    assert!(html.contains("href=\"/api/billing/transactions.csv\""));
    // Paid inference is off until the payer turns it on here.
    assert!(html.contains("Turn on paid inference"), "{html}");
    let r = alice
        .submit(
            "/settings/billing",
            "/settings/billing/paid-inference",
            &[("enabled", "true")],
        )
        .await;
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    let (_, html) = alice.get("/settings/billing").await;
    assert!(html.contains("Turn off paid inference"), "{html}");
    // Without the form's token, nothing changes.
    let r = alice
        .request(reqwest::Method::POST, "/settings/billing/paid-inference")
        .form(&[("csrf", "forged"), ("enabled", "false")])
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_success(), "{}", r.status());
    let (_, html) = alice.get("/settings/billing").await;
    assert!(html.contains("Turn off paid inference"), "{html}");
    assert_eq!(
        html.matches("<rect class=\"bar\"").count(),
        30,
        "a bar per day"
    );
    assert!(
        html.contains(&format!("<code>{job}</code>")),
        "usage per job"
    );
    assert!(html.contains("+¥50.00 (≈ $7.00)"));
    assert!(
        html.contains("welcome, &quot;friend&quot;") || html.contains("welcome, &#34;friend&#34;")
    );
    assert!(
        html.contains("-¥0.0012 (&lt; $0.01)") || html.contains("-¥0.0012 (&#60; $0.01)"),
        "{html}"
    );
    assert!(html.contains(">Held<"), "the hold shows as held");
    let receipt_url = format!("/settings/billing/receipts/{charged}");
    assert!(html.contains(&format!("href=\"{receipt_url}\"")), "{html}");
    // Chinese: ¥ only.
    let (status, zh) = page_zh(&alice, "/settings/billing").await;
    assert_eq!(status, 200);
    assert!(
        zh.contains("账单与余额") && zh.contains("¥49.997001<"),
        "{zh}"
    );
    assert!(!zh.contains("≈"));
    assert!(zh.contains("冻结") && zh.contains("收据"));

    // The receipt, printable, in both languages.
    let (status, receipt) = alice.get(&receipt_url).await;
    assert_eq!(status, 200);
    assert!(receipt.contains("Kaiyuan Hub") && receipt.contains("id=\"receipt-payer\">alice"));
    assert!(receipt.contains(&charged) && receipt.contains(&job.to_string()));
    assert!(receipt.contains("-¥0.0012"));
    let (status, receipt_zh) =
        page_zh(&alice, &format!("/settings/billing/receipts/{granted}")).await;
    assert_eq!(status, 200);
    assert!(
        receipt_zh.contains("开源 Hub")
            && receipt_zh.contains("+¥50.00")
            && receipt_zh.contains("赠送额度")
    );
    // A hold has no receipt; nor has a transfer that does not exist.
    assert_eq!(
        alice
            .get(&format!("/settings/billing/receipts/{held}"))
            .await
            .0,
        404
    );
    assert_eq!(
        alice
            .get("/settings/billing/receipts/grant/nothing")
            .await
            .0,
        404
    );

    // Transactions, paged and bounded.
    let (status, page) = json(&alice, "/api/billing/transactions?per_page=2").await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 4);
    let lines = page["transactions"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], held.as_str());
    assert_eq!(lines[0]["state"], "held");
    assert_eq!(lines[0]["amount"]["micro_yuan"], -999);
    let (_, last) = json(&alice, "/api/billing/transactions?per_page=2&page=2").await;
    let last = last["transactions"].as_array().unwrap();
    assert_eq!(last[1]["id"], granted.as_str());
    assert_eq!(last[1]["amount"]["micro_yuan"], 50_000_000);
    assert_eq!(last[1]["memo"], "welcome, \"friend\"");
    assert_eq!(
        json(&alice, "/api/billing/transactions?per_page=1000")
            .await
            .0,
        400
    );

    // Usage by day and by job, only priced records.
    let (status, by_day) = json(&alice, "/api/billing/usage?group=day&days=7").await;
    assert_eq!(status, 200);
    let days = by_day["usage"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[6]["cost"]["micro_yuan"], 1_200);
    assert_eq!(days[3]["cost"]["micro_yuan"], 800);
    assert_eq!(by_day["total"]["micro_yuan"], 2_000);
    let (_, by_job) = json(&alice, "/api/billing/usage?group=job").await;
    let jobs = by_job["usage"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["job_id"], job.to_string());
    assert_eq!(jobs[0]["tokens"], 600);
    assert_eq!(jobs[0]["cost"]["display"], "¥0.0012");
    assert_eq!(json(&alice, "/api/billing/usage?group=week").await.0, 400);
    assert_eq!(json(&alice, "/api/billing/usage?days=5000").await.0, 400);
    let (_, holds) = json(&alice, "/api/billing/holds").await;
    assert_eq!(holds["holds"].as_array().unwrap().len(), 1);
    assert_eq!(holds["holds"][0]["id"], held.as_str());
    let (_, orders) = json(&alice, "/api/billing/orders").await;
    assert_eq!(orders["orders"], serde_json::json!([]));

    // The CSV export: a header and a record per line, RFC 4180 quoting.
    let r = alice
        .request(reqwest::Method::GET, "/api/billing/transactions.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let csv = r.text().await.unwrap();
    let records: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(records.len(), 5, "{csv}");
    assert_eq!(
        records[0],
        "date,id,code,memo,reference,amount_yuan,amount_micro_yuan,state"
    );
    assert!(
        records[4].contains(&format!(
            ",{granted},grant,\"welcome, \"\"friend\"\"\",,50.00,50000000,posted"
        )),
        "{csv}"
    );
    assert!(records[1].ends_with(",-0.000999,-999,held"), "{csv}");

    // A token reads the same; the ledger stays sound.
    let token = hub.token("alice", false);
    let r = reqwest::Client::new()
        .get(format!("{}/api/billing/balance", hub.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["available"]["micro_yuan"],
        49_997_001
    );
    let (_, desk) = admin.get("/admin/billing").await;
    assert!(desk.contains("class=\"check-sound\""));
}

#[tokio::test]
async fn only_the_payer_and_an_organisations_admins_see_its_money() {
    let hub = TestHub::start().await;
    let admin = site_admin(&hub).await;
    let alice = signed_up(&hub, "alice").await;
    let bob = signed_up(&hub, "bob").await;
    let carol = signed_up(&hub, "carol").await;

    // alice's money is hers alone.
    let granted = grant(&admin, "user", "alice", "10", "hello").await;
    let receipt = format!("/settings/billing/receipts/{granted}");
    assert_eq!(alice.get(&receipt).await.0, 200);
    assert_eq!(bob.get(&receipt).await.0, 404);
    let (_, bobs) = json(&bob, "/api/billing/balance").await;
    assert_eq!(bobs["available"]["micro_yuan"], 0);
    let (_, bob_lines) = json(&bob, "/api/billing/transactions").await;
    assert_eq!(bob_lines["total"], 0);

    // An organisation: alice is its admin, bob writes, carol is no member.
    assert_eq!(
        alice
            .post("/organizations/new", &[("name", "acme")])
            .await
            .status(),
        303
    );
    let r = alice
        .post(
            "/organizations/acme/members",
            &[("username", "bob"), ("role", "write")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let org_grant = grant(&admin, "org", "acme", "20", "for the team").await;
    // Its admins find the page from the members page; other members do not.
    let link = "href=\"/organizations/acme/settings/billing\"";
    assert!(
        alice
            .get("/organizations/acme/members")
            .await
            .1
            .contains(link)
    );
    assert!(
        !bob.get("/organizations/acme/members")
            .await
            .1
            .contains(link)
    );
    let page = "/organizations/acme/settings/billing";
    let (status, html) = alice.get(page).await;
    assert_eq!(status, 200);
    assert!(html.contains("¥20.00 (≈ $2.80)"), "{html}");
    assert!(html.contains("href=\"/api/billing/transactions.csv?org=acme\""));
    assert!(html.contains(&format!("href=\"{page}/receipts/{org_grant}\"")));
    let (status, zh) = page_zh(&alice, page).await;
    assert_eq!(status, 200);
    assert!(zh.contains("¥20.00<") && zh.contains("acme"));
    let (status, org_balance) = json(&alice, "/api/billing/balance?org=acme").await;
    assert_eq!(status, 200);
    assert_eq!(org_balance["payer"]["kind"], "org");
    assert_eq!(org_balance["available"]["micro_yuan"], 20_000_000);
    let csv = alice
        .request(
            reqwest::Method::GET,
            "/api/billing/transactions.csv?org=acme",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains(",for the team,") && !csv.contains("hello"),
        "{csv}"
    );
    // The org's receipt is not alice's own, and the reverse.
    assert_eq!(
        alice
            .get(&format!("/settings/billing/receipts/{org_grant}"))
            .await
            .0,
        404
    );
    assert_eq!(
        alice.get(&format!("{page}/receipts/{granted}")).await.0,
        404
    );

    // A member who is not an admin, an outsider, a missing org: 404 alike.
    for (who, b) in [("bob", &bob), ("carol", &carol)] {
        assert_eq!(b.get(page).await.0, 404, "{who}");
        assert_eq!(
            b.get(&format!("{page}/receipts/{org_grant}")).await.0,
            404,
            "{who}"
        );
        for api in [
            "balance",
            "transactions",
            "usage",
            "holds",
            "orders",
            "transactions.csv",
        ] {
            let (status, _) = json(b, &format!("/api/billing/{api}?org=acme")).await;
            assert_eq!(status, 404, "{who} {api}");
        }
    }
    assert_eq!(
        alice.get("/organizations/nope/settings/billing").await.0,
        404
    );
    assert_eq!(json(&alice, "/api/billing/balance?org=nope").await.0, 404);

    // Anonymous: the log-in page, and 401 from the API.
    let anonymous = Browser::new(&hub.url);
    let (status, headers, _) = anonymous.page("/settings/billing").await;
    assert_eq!(status, 303);
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );
    assert_eq!(json(&anonymous, "/api/billing/balance").await.0, 401);

    // The desk is for site admins only; a form posted by anyone else does nothing.
    assert_eq!(alice.get("/admin/billing").await.0, 404);
    let r = alice
        .post(
            "/admin/billing/grant",
            &[
                ("kind", "user"),
                ("name", "alice"),
                ("amount", "1000"),
                ("reason", "me"),
            ],
        )
        .await;
    assert_eq!(r.status(), 404);
    let (_, mine) = json(&alice, "/api/billing/balance").await;
    assert_eq!(mine["available"]["micro_yuan"], 10_000_000);
}

/// A top-up order as a provider's verified notification leaves it: the
/// order row, and when paid the transfer from the provider's clearing
/// account that credited the wallet.
async fn order(pool: &PgPool, namespace: i64, id: &str, fen: i64, paid: bool) {
    sqlx::query(
        "INSERT INTO billing_orders (id, namespace_id, provider, amount_minor, currency, credits, state)
         VALUES ($1, $2, 'stripe', $3, 'CNY', $4, 'pending')",
    )
    .bind(id)
    .bind(namespace)
    .bind(fen)
    .bind(fen * 10_000)
    .execute(pool)
    .await
    .unwrap();
    if !paid {
        return;
    }
    let mut tx = pool.begin().await.unwrap();
    let clearing = ledger::clearing(&mut tx, "stripe").await.unwrap();
    let wallet = ledger::wallet(&mut tx, namespace).await.unwrap();
    let transfer = format!("topup/{id}");
    ledger::transfer(
        &mut tx,
        &Transfer {
            id: &transfer,
            debit: clearing,
            credit: wallet,
            amount: Credits(fen * 10_000),
            code: "topup",
            memo: "stripe",
            reference: Some(id),
            created_by: None,
        },
    )
    .await
    .unwrap();
    sqlx::query(
        "UPDATE billing_orders SET state = 'paid', paid_at = now(), transfer_id = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(&transfer)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn orders_show_their_state_and_a_paid_one_has_a_receipt() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    let bob = signed_up(&hub, "bob").await;
    let pool = pool(&hub).await;
    let alice_id = namespace_id(&pool, "alice").await;
    order(&pool, alice_id, "ord_waiting", 1_000, false).await;
    order(&pool, alice_id, "ord_paid", 3_000, true).await;

    let (status, orders) = json(&alice, "/api/billing/orders").await;
    assert_eq!(status, 200);
    let list = orders["orders"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], "ord_paid");
    assert_eq!(list[0]["state"], "paid");
    assert_eq!(list[0]["credits"]["display"], "¥30.00");
    assert_eq!(list[0]["transfer_id"], "topup/ord_paid");
    assert_eq!(list[1]["state"], "pending");
    assert_eq!(list[1]["paid_at"], Value::Null);

    let (status, html) = alice.get("/settings/billing").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Waiting for payment") && html.contains(">Paid<"),
        "{html}"
    );
    assert!(html.contains("href=\"/settings/billing/receipts/ord_paid\""));
    assert!(html.contains("¥30.00 (≈ $4.20)"));
    let (_, zh) = page_zh(&alice, "/settings/billing").await;
    assert!(zh.contains("待支付") && zh.contains("已支付"), "{zh}");

    // The receipt of a paid order is its top-up's; a pending order has none.
    let (status, receipt) = alice.get("/settings/billing/receipts/ord_paid").await;
    assert_eq!(status, 200);
    assert!(receipt.contains("topup/ord_paid") && receipt.contains("+¥30.00"));
    assert!(
        receipt.contains("<code>ord_paid</code>"),
        "the order as reference"
    );
    assert_eq!(
        alice.get("/settings/billing/receipts/ord_waiting").await.0,
        404
    );
    assert_eq!(bob.get("/settings/billing/receipts/ord_paid").await.0, 404);
    assert_eq!(
        bob.get("/settings/billing/receipts/topup/ord_paid").await.0,
        404
    );
    let (_, bobs) = json(&bob, "/api/billing/orders").await;
    assert_eq!(bobs["orders"], serde_json::json!([]));
}

#[tokio::test]
async fn a_refund_gives_back_at_most_what_a_charge_took() {
    let hub = TestHub::start().await;
    let admin = site_admin(&hub).await;
    let alice = signed_up(&hub, "alice").await;
    let pool = pool(&hub).await;
    let alice_id = namespace_id(&pool, "alice").await;
    grant(&admin, "user", "alice", "1", "start").await;
    let charged = charge(&pool, alice_id, uuid::Uuid::new_v4(), 5_000, 1_200, 0).await;
    let refund = |amount: &'static str, reference: String| {
        let admin = admin.clone();
        async move {
            admin
                .submit(
                    "/admin/billing",
                    "/admin/billing/refund",
                    &[
                        ("kind", "user"),
                        ("name", "alice"),
                        ("amount", amount),
                        ("reason", "the job failed"),
                        ("reference", &reference),
                    ],
                )
                .await
                .status()
        }
    };
    // More than the charge, or something that is no charge of hers: refused.
    assert_eq!(refund("0.0013", charged.clone()).await, 422);
    assert_eq!(refund("0.0001", "inference/none/charge".into()).await, 422);
    // Part, then the rest, then nothing more.
    assert_eq!(refund("0.001", charged.clone()).await, 303);
    assert_eq!(refund("0.0002", charged.clone()).await, 303);
    assert_eq!(refund("0.000001", charged.clone()).await, 422);
    let (_, balance) = json(&alice, "/api/billing/balance").await;
    assert_eq!(balance["available"]["micro_yuan"], 1_000_000);
    let (_, page) = json(&alice, "/api/billing/transactions").await;
    let refunds: Vec<&Value> = page["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["code"] == "refund")
        .collect();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[0]["reference"], charged.as_str());
    assert_eq!(refunds[0]["amount"]["micro_yuan"], 200);
    let (_, desk) = admin.get("/admin/billing").await;
    assert!(desk.contains("class=\"check-sound\""));
}

#[tokio::test]
async fn the_csv_export_streams_every_line_once() {
    let hub = TestHub::start().await;
    let alice = signed_up(&hub, "alice").await;
    let pool = pool(&hub).await;
    let alice_id = namespace_id(&pool, "alice").await;
    // More lines than one batch of the export reads, all with the same
    // time (one transaction): the export's cursor must not skip or repeat.
    let mut tx = pool.begin().await.unwrap();
    let promo = ledger::system(&mut tx, SystemAccount::Promo).await.unwrap();
    let wallet = ledger::wallet(&mut tx, alice_id).await.unwrap();
    for i in 0..1_234 {
        let id = format!("grant/bulk-{i:04}");
        let t = Transfer {
            id: &id,
            debit: promo,
            credit: wallet,
            amount: Credits(1),
            code: "grant",
            memo: "bulk",
            reference: None,
            created_by: None,
        };
        ledger::transfer(&mut tx, &t).await.unwrap();
    }
    tx.commit().await.unwrap();
    let csv = alice
        .request(reqwest::Method::GET, "/api/billing/transactions.csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut ids: Vec<&str> = csv
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(ids.len(), 1_234);
    assert_eq!(
        ids[0], "grant/bulk-1233",
        "newest (by id among equals) first"
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1_234, "each line once");
}
