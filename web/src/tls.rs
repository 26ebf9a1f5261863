//! HTTPS without a front end: `hub serve --tls-cert FILE --tls-key FILE`
//! (PEM), on `--listen` or, with `--tls-listen ADDR`, next to the plain
//! HTTP listener. Clients that insist on https (modelscope ≤ 1.37, and the
//! `MsDataset` and git helpers of later ones) need it. rustls with the
//! aws-lc-rs provider, the one reqwest and object_store already pull in.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

/// The TLS options of `hub serve`.
#[derive(Args, Clone, Debug)]
pub struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (server certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS on this address and keep --listen plain HTTP; without it,
    /// --listen itself serves HTTPS.
    #[arg(long, value_name = "ADDR", requires = "tls_cert")]
    pub tls_listen: Option<SocketAddr>,
}

/// Marks a request that came over the hub's own TLS listener, so that the
/// URLs the hub hands out say https (see `request::Origin`).
#[derive(Clone, Copy, Debug)]
pub struct ViaTls;

/// A TLS handshake that takes longer than this is dropped (a client that
/// opens a connection and sends nothing must not hold a task forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// The rustls server configuration for a PEM certificate chain and key;
/// errors name the file and what is wrong with it.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read the TLS private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and private key do not belong together")?;
    // The hub serves HTTP/1 only (see connections.rs); say so in ALPN.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener whose connections are TLS streams. Handshakes run in their
/// own tasks, so one slow client never holds up the others' accepts;
/// finished ones queue for the accept loop (`connections::serve`, which
/// then applies the same timeouts as on plain connections).
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, incoming) = mpsc::channel(64);
        // Ends when the listener is dropped (the receiver closes), which
        // also frees the port.
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = tcp.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            // As axum does: out of file descriptors and the like
                            // pass; wait a little rather than spin.
                            tracing::warn!(error = %e, "TLS accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                // Without TCP_NODELAY the last small write of a streamed
                // answer waits for the client's delayed ACK (see serve.rs).
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { incoming, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept task is gone (it only ends with the listener).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
