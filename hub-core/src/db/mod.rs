//! The database: a pool over `DATABASE_URL`, or over a private PostgreSQL
//! cluster in the data dir when none is configured; migrations are embedded.

pub mod launcher;

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::config::Config;
use launcher::PrivateCluster;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Name of the hub's database inside a private cluster.
const PRIVATE_DB_NAME: &str = "kaiyuan";

/// An open database, and the private cluster behind it if there is one.
pub struct Database {
    pub pool: PgPool,
    cluster: Option<PrivateCluster>,
}

impl Database {
    /// Connects (starting or adopting the private cluster if `DATABASE_URL`
    /// is unset) and applies pending migrations.
    pub async fn open(config: &Config) -> anyhow::Result<Database> {
        let (url, cluster) = match &config.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let data_dir = config.data_dir.clone();
                let cluster =
                    tokio::task::spawn_blocking(move || PrivateCluster::ensure_running(&data_dir))
                        .await??;
                create_database_if_missing(&cluster.database_url("postgres"), PRIVATE_DB_NAME)
                    .await?;
                (cluster.database_url(PRIVATE_DB_NAME), Some(cluster))
            }
        };
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .context("cannot connect to PostgreSQL")?;
        // sqlx takes an advisory lock, so concurrent hub processes migrate once.
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot apply migrations")?;
        Ok(Database { pool, cluster })
    }

    /// Closes the pool and lets go of the private cluster; the last process
    /// using it stops it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.cluster {
            tokio::task::spawn_blocking(move || cluster.release()).await??;
        }
        Ok(())
    }
}

async fn create_database_if_missing(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(admin_url)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&pool)
            .await?;
    if !exists {
        // Template0 with an explicit encoding: the hub stores Chinese text.
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'");
        match sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await {
            Ok(_) => {}
            // Another hub process created it between our check and now.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    pool.close().await;
    Ok(())
}
