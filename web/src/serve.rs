//! `hub serve`: open everything, listen, and shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use hub_core::Hub;
use hub_core::config::Config;
use hub_core::db::Database;
use hub_core::repos::refs;
use hub_core::secret::Secret;
use hub_core::storage::Storage;

pub async fn serve(config: Config, listen: SocketAddr) -> anyhow::Result<()> {
    hub_core::git::enable_durability();
    let db = Database::open(&config).await?;
    let storage = Storage::open(&config)?;
    let secret = Secret::load(config.secret.as_deref(), &config.data_dir)?;
    let hub = Arc::new(Hub::new(config, db.pool.clone(), storage, secret));
    // Git is the truth for refs; catch up on anything a crash left unrecorded.
    let reconciling = tokio::spawn({
        let hub = hub.clone();
        async move {
            match refs::reconcile_all(&hub).await {
                Ok(n) => tracing::debug!(repos = n, "reconciled repos with git"),
                Err(e) => tracing::warn!(error = %e, "reconciling repos with git failed"),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    let app = crate::app::router(hub.clone());
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("shutting down");
    reconciling.abort();
    drop(hub);
    db.close().await
}

/// Resolves on SIGTERM or SIGINT; in-flight requests then finish.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("cannot install SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
