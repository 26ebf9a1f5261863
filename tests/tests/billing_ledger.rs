//! The ledger against a real PostgreSQL: no wallet below zero under
//! concurrency, idempotent transfers, two-phase holds (post, void, expiry),
//! a randomised mix after which every counter equals its transfers; and the
//! `hub billing grant|check` commands against the real binary.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hub_core::Error;
use hub_core::billing::ledger::{self, AccountId, Recorded, SystemAccount, Transfer};
use hub_core::billing::{Credits, Payer, PayerKind};
use sqlx::PgPool;
use tests::{TestDatabase, TestHub};

async fn ledger_db() -> (TestDatabase, PgPool) {
    let db = TestDatabase::create().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(40)
        .connect(&db.url)
        .await
        .unwrap();
    hub_core::db::MIGRATOR.run(&pool).await.unwrap();
    (db, pool)
}

/// A namespace (what a wallet belongs to) and its wallet.
async fn new_wallet(pool: &PgPool, name: &str) -> AccountId {
    let id: i64 =
        sqlx::query_scalar("INSERT INTO namespaces (name, kind) VALUES ($1, 'user') RETURNING id")
            .bind(name)
            .fetch_one(pool)
            .await
            .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    ledger::wallet(&mut conn, id).await.unwrap()
}

fn transfer<'a>(id: &'a str, debit: AccountId, credit: AccountId, amount: i64) -> Transfer<'a> {
    Transfer {
        id,
        debit,
        credit,
        amount: Credits(amount),
        code: "test",
        memo: "",
        reference: None,
        created_by: None,
    }
}

async fn fund(pool: &PgPool, wallet: AccountId, amount: i64) {
    let mut conn = pool.acquire().await.unwrap();
    let promo = ledger::system(&mut conn, SystemAccount::Promo)
        .await
        .unwrap();
    let id = format!("fund/{}", uuid::Uuid::new_v4());
    ledger::transfer(&mut conn, &transfer(&id, promo, wallet, amount))
        .await
        .unwrap();
}

async fn available(pool: &PgPool, account: AccountId) -> i64 {
    let mut conn = pool.acquire().await.unwrap();
    ledger::balance(&mut conn, account)
        .await
        .unwrap()
        .available
        .0
}

async fn assert_sound(pool: &PgPool) {
    let report = ledger::check(pool).await.unwrap();
    assert!(report.is_sound(), "{report:#?}");
}

#[tokio::test]
async fn a_hundred_holds_of_one_against_ten_let_exactly_ten_through() {
    let (_db, pool) = ledger_db().await;
    let wallet = new_wallet(&pool, "alice").await;
    let mut conn = pool.acquire().await.unwrap();
    let revenue = ledger::system(&mut conn, SystemAccount::Revenue)
        .await
        .unwrap();
    drop(conn);
    fund(&pool, wallet, 10).await;

    // Someone keeps reading the balance while the holds race.
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (pool, done) = (pool.clone(), done.clone());
        tokio::spawn(async move {
            let mut lowest = i64::MAX;
            while !done.load(Ordering::Relaxed) {
                lowest = lowest.min(available(&pool, wallet).await);
            }
            lowest
        })
    };
    let holds = (0..100).map(|i| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let id = format!("hold/{i}");
            let mut conn = pool.acquire().await.unwrap();
            ledger::hold(
                &mut conn,
                &transfer(&id, wallet, revenue, 1),
                Duration::from_secs(600),
            )
            .await
        })
    });
    let outcomes = futures::future::join_all(holds).await;
    done.store(true, Ordering::Relaxed);
    let lowest = watcher.await.unwrap();

    let succeeded = outcomes
        .iter()
        .filter(|o| matches!(o.as_ref().unwrap(), Ok(Recorded::Created)))
        .count();
    assert_eq!(succeeded, 10);
    for outcome in outcomes {
        match outcome.unwrap() {
            Ok(_) => {}
            Err(Error::InsufficientCredits(m)) => {
                assert_eq!(m.to_string(), "insufficient credits")
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(lowest >= 0, "the balance read {lowest}");
    assert_eq!(available(&pool, wallet).await, 0);
    assert_sound(&pool).await;
}

#[tokio::test]
async fn a_transfer_id_is_its_idempotency_key() {
    let (_db, pool) = ledger_db().await;
    let (a, b) = (new_wallet(&pool, "a").await, new_wallet(&pool, "b").await);
    fund(&pool, a, 100).await;
    let mut conn = pool.acquire().await.unwrap();
    let t = transfer("pay-b-once", a, b, 30);
    assert_eq!(
        ledger::transfer(&mut conn, &t).await.unwrap(),
        Recorded::Created
    );
    for _ in 0..3 {
        assert_eq!(
            ledger::transfer(&mut conn, &t).await.unwrap(),
            Recorded::Exists
        );
    }
    let other = transfer("pay-b-once", a, b, 31);
    let err = ledger::transfer(&mut conn, &other).await.unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.to_string().contains("different fields")),
        "{err:?}"
    );
    // A hold with a posted transfer's id is also a different transfer.
    let err = ledger::hold(&mut conn, &t, Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    drop(conn);
    assert_eq!(available(&pool, a).await, 70);
    assert_eq!(available(&pool, b).await, 30);
    assert_sound(&pool).await;
}

#[tokio::test]
async fn a_transfer_larger_than_the_wallet_is_refused_and_changes_nothing() {
    let (_db, pool) = ledger_db().await;
    let (a, b) = (new_wallet(&pool, "a").await, new_wallet(&pool, "b").await);
    fund(&pool, a, 5).await;
    let mut conn = pool.acquire().await.unwrap();
    let err = ledger::transfer(&mut conn, &transfer("too-much", a, b, 6))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientCredits(_)), "{err:?}");
    // Nothing was written: the id is still free.
    assert_eq!(
        ledger::transfer(&mut conn, &transfer("too-much", a, b, 5))
            .await
            .unwrap(),
        Recorded::Created
    );
    drop(conn);
    assert_eq!(available(&pool, a).await, 0);
    assert_sound(&pool).await;
}

#[tokio::test]
async fn a_hold_is_posted_for_at_most_its_amount_and_resolved_once() {
    let (_db, pool) = ledger_db().await;
    let wallet = new_wallet(&pool, "a").await;
    fund(&pool, wallet, 100).await;
    let mut conn = pool.acquire().await.unwrap();
    let revenue = ledger::system(&mut conn, SystemAccount::Revenue)
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    ledger::hold(&mut conn, &transfer("job-1", wallet, revenue, 40), hour)
        .await
        .unwrap();
    let b = ledger::balance(&mut conn, wallet).await.unwrap();
    assert_eq!((b.posted.0, b.held.0, b.available.0), (100, 40, 60));

    let err = ledger::post(&mut conn, "job-1/post", "job-1", Credits(41))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert_eq!(
        ledger::post(&mut conn, "job-1/post", "job-1", Credits(25))
            .await
            .unwrap(),
        Recorded::Created
    );
    // Posting again with the same id is a replay; anything else is refused.
    assert_eq!(
        ledger::post(&mut conn, "job-1/post", "job-1", Credits(25))
            .await
            .unwrap(),
        Recorded::Exists
    );
    let err = ledger::void(&mut conn, "job-1/void", "job-1")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.to_string().contains("already posted")),
        "{err:?}"
    );
    let b = ledger::balance(&mut conn, wallet).await.unwrap();
    assert_eq!((b.posted.0, b.held.0, b.available.0), (75, 0, 75));

    // A voided hold gives everything back.
    ledger::hold(&mut conn, &transfer("job-2", wallet, revenue, 75), hour)
        .await
        .unwrap();
    assert_eq!(
        ledger::balance(&mut conn, wallet)
            .await
            .unwrap()
            .available
            .0,
        0
    );
    ledger::void(&mut conn, "job-2/void", "job-2")
        .await
        .unwrap();
    assert_eq!(
        ledger::balance(&mut conn, wallet)
            .await
            .unwrap()
            .available
            .0,
        75
    );
    let err = ledger::post(&mut conn, "job-2/post", "job-2", Credits(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    drop(conn);
    assert_sound(&pool).await;
}

#[tokio::test]
async fn an_expired_hold_releases_by_itself() {
    let (_db, pool) = ledger_db().await;
    let wallet = new_wallet(&pool, "a").await;
    fund(&pool, wallet, 10).await;
    let mut conn = pool.acquire().await.unwrap();
    let revenue = ledger::system(&mut conn, SystemAccount::Revenue)
        .await
        .unwrap();
    ledger::hold(
        &mut conn,
        &transfer("short", wallet, revenue, 10),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // Posting after the time ran out is refused.
    let err = ledger::post(&mut conn, "short/post", "short", Credits(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict(m) if m.to_string().contains("expired")),
        "{err:?}"
    );
    // A new hold finds the expired one released (before any sweep ran)...
    ledger::hold_releasing_expired(
        &mut conn,
        &transfer("next", wallet, revenue, 10),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    ledger::void(&mut conn, "next/void", "next").await.unwrap();
    // ...and the sweep has nothing left to do; a later expiry it does do.
    assert_eq!(ledger::expire_due(&pool, 100).await.unwrap(), 0);
    ledger::hold(
        &mut conn,
        &transfer("short-2", wallet, revenue, 4),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    assert_eq!(
        ledger::balance(&mut conn, wallet)
            .await
            .unwrap()
            .available
            .0,
        6
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(ledger::expire_due(&pool, 100).await.unwrap(), 1);
    assert_eq!(
        ledger::balance(&mut conn, wallet)
            .await
            .unwrap()
            .available
            .0,
        10
    );
    drop(conn);
    assert_sound(&pool).await;
}

/// A small deterministic generator, so a failing seed can be run again.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[tokio::test]
async fn a_random_mix_of_concurrent_operations_keeps_every_balance_equal_to_its_transfers() {
    let (_db, pool) = ledger_db().await;
    let mut wallets = Vec::new();
    for i in 0..5 {
        let w = new_wallet(&pool, &format!("w{i}")).await;
        fund(&pool, w, 50).await;
        wallets.push(w);
    }
    let mut conn = pool.acquire().await.unwrap();
    let revenue = ledger::system(&mut conn, SystemAccount::Revenue)
        .await
        .unwrap();
    let promo = ledger::system(&mut conn, SystemAccount::Promo)
        .await
        .unwrap();
    drop(conn);
    let wallets = Arc::new(wallets);
    for seed in 1..=12u64 {
        let clients = (0..8u64).map(|client| {
            let (pool, wallets) = (pool.clone(), wallets.clone());
            tokio::spawn(async move {
                let mut rng = Rng(seed * 7919 + client * 104_729 + 1);
                let mut holds: Vec<String> = Vec::new();
                for op in 0..40 {
                    let id = format!("s{seed}/c{client}/{op}");
                    let w = wallets[rng.below(wallets.len() as u64) as usize];
                    let other = wallets[rng.below(wallets.len() as u64) as usize];
                    let amount = Credits(rng.below(20) as i64);
                    let mut conn = pool.acquire().await.unwrap();
                    let outcome = match rng.below(7) {
                        0 => ledger::transfer(&mut conn, &transfer(&id, promo, w, amount.0)).await,
                        1 if w != other => {
                            ledger::transfer(&mut conn, &transfer(&id, w, other, amount.0)).await
                        }
                        2 | 3 => {
                            let timeout = Duration::from_secs(1 + rng.below(2));
                            let r = ledger::hold_releasing_expired(
                                &mut conn,
                                &transfer(&id, w, revenue, amount.0),
                                timeout,
                            )
                            .await;
                            if r.is_ok() {
                                holds.push(id.clone());
                            }
                            r
                        }
                        4 if !holds.is_empty() => {
                            let pending = holds.swap_remove(rng.below(holds.len() as u64) as usize);
                            let part = Credits(rng.below(10) as i64);
                            ledger::post(&mut conn, &format!("{pending}/post"), &pending, part)
                                .await
                        }
                        5 if !holds.is_empty() => {
                            let pending = holds.swap_remove(rng.below(holds.len() as u64) as usize);
                            ledger::void(&mut conn, &format!("{pending}/void"), &pending).await
                        }
                        6 => ledger::expire_due(&pool, 10)
                            .await
                            .map(|_| Recorded::Created),
                        _ => Ok(Recorded::Created),
                    };
                    match outcome {
                        Ok(_)
                        | Err(Error::InsufficientCredits(_))
                        | Err(Error::Conflict(_))
                        | Err(Error::InvalidInput(_)) => {}
                        Err(other) => panic!("seed {seed}: {other:?}"),
                    }
                }
            })
        });
        for client in futures::future::join_all(clients).await {
            client.unwrap();
        }
        let report = ledger::check(&pool).await.unwrap();
        assert!(report.is_sound(), "seed {seed}: {report:#?}");
        for &w in wallets.iter() {
            assert!(available(&pool, w).await >= 0, "seed {seed}");
        }
    }
}

#[tokio::test]
async fn the_database_refuses_an_overdraft_that_skips_the_ledger() {
    let (_db, pool) = ledger_db().await;
    let wallet = new_wallet(&pool, "a").await;
    fund(&pool, wallet, 5).await;
    let err = sqlx::query("UPDATE ledger_accounts SET debits_posted = 6 WHERE id = $1")
        .bind(wallet)
        .execute(&pool)
        .await
        .unwrap_err();
    assert_eq!(
        err.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("23514"),
        "{err}"
    );
}

#[tokio::test]
async fn hub_billing_grant_credits_a_wallet_and_check_finds_a_tampered_counter() {
    let hub = TestHub::start().await;
    hub.user_with_token("alice");
    let out = hub.cli(&[
        "billing", "grant", "--user", "alice", "--amount", "¥12.50", "--reason", "welcome",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = hub.cli(&[
        "billing", "grant", "--org", "nobody", "--amount", "1", "--reason", "x",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no organization"));
    for bad in ["-1", "0", "1.0000001", "lots"] {
        let out = hub.cli(&[
            "billing", "grant", "--user", "alice", "--amount", bad, "--reason", "x",
        ]);
        assert!(!out.status.success(), "{bad}");
    }

    let pool = PgPool::connect(hub.database_url.as_deref().unwrap())
        .await
        .unwrap();
    let alice = Payer::find(&pool, PayerKind::User, "alice").await.unwrap();
    let balance = ledger::wallet_balance(&pool, alice.namespace_id)
        .await
        .unwrap();
    assert_eq!(balance.available, Credits(12_500_000));

    let out = hub.cli(&[
        "billing",
        "rate",
        "--class",
        "gpu-small",
        "--per-second",
        "0.002",
        "--per-1k-tokens",
        "0.5",
    ]);
    assert!(out.status.success(), "{out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["device_class"], "gpu-small");
    assert_eq!(listed["per_second"], 2_000);
    assert_eq!(listed["per_thousand_tokens"], 500_000);
    let out = hub.cli(&[
        "billing",
        "rate",
        "--class",
        "GPU!",
        "--per-second",
        "1",
        "--per-1k-tokens",
        "1",
    ]);
    assert!(!out.status.success());

    let out = hub.cli(&["billing", "check"]);
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["differences"], serde_json::json!([]));
    assert_eq!(report["transfers"], 1);

    // A counter changed behind the ledger's back is found.
    sqlx::query(
        "UPDATE ledger_accounts SET credits_posted = credits_posted + 1
         WHERE kind = 'wallet' AND namespace_id = $1",
    )
    .bind(alice.namespace_id)
    .execute(&pool)
    .await
    .unwrap();
    let out = hub.cli(&["billing", "check"]);
    assert!(!out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["differences"][0]["counter"], "credits_posted");
    assert_eq!(report["differences"][0]["stored"], 12_500_001);
}
