//! Ledger throughput against its floor on the same PostgreSQL, in one run.
//! Not a test: run it with `bench/ledger` (release profile).
//!
//! 32 concurrent clients for a few seconds each:
//! - floor: one-row `INSERT` transactions into a plain table (one commit
//!   each, as a transfer has);
//! - (a) transfers between random pairs of 1,000 wallets;
//! - (b) transfers all debiting one hot wallet.
//!
//! Prints transfers/s, and (a) and (b) as a share of the floor (target for
//! (a): at least 0.5). (b) is bounded by the hot wallet's row lock: each
//! transfer holds it from its conditional update to its commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hub_core::billing::Credits;
use hub_core::billing::ledger::{self, AccountId, SystemAccount, Transfer};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tests::TestDatabase;

const CLIENTS: usize = 32;
const WALLETS: usize = 1_000;

fn seconds() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8),
    )
}

/// Runs `op` from `CLIENTS` tasks for the bench's duration; ops per second.
async fn run<F, Fut>(op: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + seconds();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (op, done) = (op.clone(), done.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < until {
                    op(client, n).await;
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

async fn transfers(
    pool: &PgPool,
    wallets: Arc<Vec<AccountId>>,
    hot: bool,
    tag: &'static str,
) -> f64 {
    let pool = pool.clone();
    run(move |client, n| {
        let (pool, wallets) = (pool.clone(), wallets.clone());
        async move {
            // A cheap spread of pairs; never the same account twice.
            let x = (client as u64 * 7_919 + n * 104_729) as usize;
            let debit = if hot {
                wallets[0]
            } else {
                wallets[x % WALLETS]
            };
            let mut credit = wallets[(x / 7 + 1 + client) % WALLETS];
            if credit == debit {
                credit = wallets[(x % (WALLETS - 1)) + 1];
            }
            let id = format!("{tag}/{client}/{n}");
            let mut conn = pool.acquire().await.unwrap();
            ledger::transfer(
                &mut conn,
                &Transfer {
                    id: &id,
                    debit,
                    credit,
                    amount: Credits(1),
                    code: "bench",
                    memo: "",
                    reference: None,
                    created_by: None,
                },
            )
            .await
            .unwrap();
        }
    })
    .await
}

#[tokio::main]
async fn main() {
    let db = TestDatabase::create().await;
    let pool = PgPoolOptions::new()
        .max_connections(CLIENTS as u32 + 2)
        .connect(&db.url)
        .await
        .unwrap();
    hub_core::db::MIGRATOR.run(&pool).await.unwrap();

    eprintln!("making {WALLETS} funded wallets");
    let mut conn = pool.acquire().await.unwrap();
    let promo = ledger::system(&mut conn, SystemAccount::Promo)
        .await
        .unwrap();
    let mut wallets = Vec::with_capacity(WALLETS);
    for i in 0..WALLETS {
        let namespace: i64 = sqlx::query_scalar(
            "INSERT INTO namespaces (name, kind) VALUES ($1, 'user') RETURNING id",
        )
        .bind(format!("bench-{i}"))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let wallet = ledger::wallet(&mut conn, namespace).await.unwrap();
        let id = format!("fund/{i}");
        ledger::transfer(
            &mut conn,
            &Transfer {
                id: &id,
                debit: promo,
                credit: wallet,
                amount: Credits(1 << 40),
                code: "bench",
                memo: "",
                reference: None,
                created_by: None,
            },
        )
        .await
        .unwrap();
        wallets.push(wallet);
    }
    sqlx::query("CREATE TABLE bench_floor (id TEXT PRIMARY KEY, amount BIGINT NOT NULL)")
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let wallets = Arc::new(wallets);

    eprintln!("floor: one-row INSERT transactions");
    let floor = {
        let pool = pool.clone();
        run(move |client, n| {
            let pool = pool.clone();
            async move {
                sqlx::query("INSERT INTO bench_floor (id, amount) VALUES ($1, 1)")
                    .bind(format!("{client}/{n}"))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        })
        .await
    };
    eprintln!("(a) transfers spread over {WALLETS} wallets");
    let spread = transfers(&pool, wallets.clone(), false, "a").await;
    eprintln!("(b) transfers from one hot wallet");
    let hot = transfers(&pool, wallets.clone(), true, "b").await;

    let report = ledger::check(&pool).await.unwrap();
    assert!(report.is_sound(), "{report:#?}");

    println!(
        "| {CLIENTS} clients, {}s each | per second | of the floor |",
        seconds().as_secs()
    );
    println!("|---|---:|---:|");
    println!("| floor: one-row INSERT transactions | {floor:.0} | 1.00 |");
    println!(
        "| (a) transfers, {WALLETS} wallets | {spread:.0} | {:.2} (target ≥ 0.50) |",
        spread / floor
    );
    println!(
        "| (b) transfers, one hot wallet | {hot:.0} | {:.2} |",
        hot / floor
    );
    println!(
        "\nledger check after the run: {} transfers, no difference",
        report.transfers
    );
}
