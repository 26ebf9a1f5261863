//! `hub serve`: open everything, listen (plain HTTP, HTTPS, or both), and
//! shut down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Extension;
use axum::serve::{Listener, ListenerExt};
use futures::future::BoxFuture;
use hub_core::Hub;
use hub_core::config::Config;
use hub_core::db::Database;
use hub_core::git::hooks::GitEnvironment;
use hub_core::repos::refs;
use hub_core::secret::Secret;
use hub_core::storage::Storage;
use tokio_util::sync::CancellationToken;

use crate::connections::{self, Timeouts};
use crate::tls::{TlsArgs, TlsListener, ViaTls};

pub async fn serve(config: Config, listen: SocketAddr, tls: TlsArgs) -> anyhow::Result<()> {
    // A bad certificate or key, or an address in use, fails here, before
    // anything is opened. --listen is plain HTTP unless TLS is configured
    // without --tls-listen.
    let tls_config = match (&tls.tls_cert, &tls.tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
        _ => None,
    };
    let (plain, https) = match (&tls_config, tls.tls_listen) {
        (None, _) => (Some(listen), None),
        (Some(c), Some(tls_listen)) => (Some(listen), Some((tls_listen, c.clone()))),
        (Some(c), None) => (None, Some((listen, c.clone()))),
    };
    let plain = match plain {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let https = match https {
        Some((addr, config)) => Some((bind(addr).await?, config)),
        None => None,
    };
    hub_core::git::enable_durability();
    let db = Database::open(&config).await?;
    let hub = open_hub(config, &db)?.into_shared();
    let internal = serve_hooks(hub.clone()).await?;
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
    // Inference tier: LISTEN/NOTIFY wake-ups and the lease sweep.
    let jobs = tokio::spawn(hub_core::jobs::run_background(hub.clone()));
    // Spaces: nobody visits one for its sleep time, it sleeps.
    let spaces = tokio::spawn(hub_core::spaces::runtime::run_background(hub.clone()));
    // Mirror mode: repos kept in sync with their upstream, on schedule.
    let mirror_sync = tokio::spawn(hub_core::mirror::sync::run(hub.clone()));
    // Large files uploaded as plain objects become xorbs (one stored copy).
    let ingest = tokio::spawn({
        let hub = hub.clone();
        async move {
            if hub.config.xet_ingest {
                hub_core::xet::ingest::run(hub).await;
            }
        }
    });
    // Counted downloads are written in batches; the last after the last answer.
    let download_counts = tokio::spawn(hub_core::repos::download_counts::run(hub.clone()));
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        let hub = hub.clone();
        async move {
            shutdown_signal().await;
            hub.wake.shut_down();
            shutdown.cancel();
        }
    });
    let app = crate::app::router(hub.clone());
    let timeouts = Timeouts::of(&hub.config);
    let mut servers: Vec<BoxFuture<'static, ()>> = Vec::new();
    if let Some(listener) = plain {
        tracing::info!("listening on http://{}", listener.local_addr()?);
        // Without TCP_NODELAY the last small write of a streamed answer waits for
        // the client's delayed ACK (~40 ms per git request; see bench/run).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        servers.push(Box::pin(connections::serve(
            listener,
            app.clone(),
            timeouts,
            shutdown.clone(),
        )));
    }
    if let Some((tcp, tls_config)) = https {
        let listener = TlsListener::new(tcp, tls_config)?;
        tracing::info!("listening on https://{}", listener.local_addr()?);
        // (TLS connections get TCP_NODELAY before their handshake.)
        servers.push(Box::pin(connections::serve(
            listener,
            app.layer(Extension(ViaTls)),
            timeouts,
            shutdown.clone(),
        )));
    }
    futures::future::join_all(servers).await;
    tracing::info!("shutting down");
    hub.downloads.stop();
    let _ = download_counts.await;
    reconciling.abort();
    internal.abort();
    jobs.abort();
    ingest.abort();
    mirror_sync.abort();
    spaces.abort();
    let _ = jobs.await;
    let _ = mirror_sync.await;
    let _ = ingest.await;
    let _ = std::fs::remove_file(&hub.hook_socket);
    drop(hub);
    db.close().await
}

async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// The core hub over an open database: storage, secret, git environment.
pub fn open_hub(config: Config, db: &Database) -> anyhow::Result<Hub> {
    let storage = Storage::open(&config)?;
    let secret = Secret::load(config.secret.as_deref(), &config.data_dir)?;
    let git_env = GitEnvironment::install(&config.data_dir, &std::env::current_exe()?)?;
    let payments = hub_core::billing::providers::Providers::load(&config.data_dir)?;
    let mut hub = Hub::new(config, db.pool.clone(), storage, secret, git_env);
    hub.payments = payments;
    Ok(hub)
}

/// Serves the internal API (push hooks) on the hub's own unix socket,
/// readable by the hub's user only.
async fn serve_hooks(hub: Arc<Hub>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let path = hub.hook_socket.clone();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let app = crate::app::internal_router(hub);
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "internal socket failed");
        }
    }))
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
