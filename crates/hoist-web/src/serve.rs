//! Serving the dashboard on a socket, over plain HTTP or HTTPS (rustls), until a shutdown signal;
//! then it stops within [`DRAIN`]: open event and log streams are ended (they would otherwise
//! keep a graceful shutdown waiting forever), requests in flight get until the deadline, and
//! whatever is still open after it is dropped.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::{AppState, app};

/// How long requests in flight get once shutdown started.
pub const DRAIN: Duration = Duration::from_secs(1);

/// A TLS certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {cause}")]
    Read { path: String, cause: String },
    #[error("the certificate {cert} and key {key} do not make a TLS configuration: {cause}")]
    Config {
        cert: String,
        key: String,
        cause: String,
    },
}

/// The server configuration for a PEM certificate chain and its PEM private key (rustls with
/// the aws-lc-rs provider, the process's only one).
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let read = |path: &Path, cause: &dyn std::fmt::Display| TlsError::Read {
        path: path.display().to_string(),
        cause: cause.to_string(),
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(cert, &e))?;
    if chain.is_empty() {
        return Err(read(cert, &"no certificate in it"));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| read(key, &e))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map_err(|e| TlsError::Config {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
            cause: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves the dashboard on `listener` (HTTPS when `tls` is given) until `shutdown` completes,
/// with client addresses available to the login rate limit and the audit log.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = state.clone();
    let signal = async move {
        shutdown.await;
        // Ends the open SSE streams, so their connections can finish.
        closing.close();
    };
    match tls {
        None => {
            let server = axum::serve(
                listener,
                app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(signal)
            .into_future();
            tokio::select! {
                done = server => done,
                () = deadline(&state) => Ok(()),
            }
        }
        Some(config) => {
            state.auth.set_secure();
            serve_tls(listener, state, config, signal).await
        }
    }
}

/// Completes [`DRAIN`] after shutdown started.
async fn deadline(state: &AppState) {
    state.closed().await;
    tokio::time::sleep(DRAIN).await;
}

async fn serve_tls(
    listener: TcpListener,
    state: AppState,
    config: Arc<ServerConfig>,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let router = app(state.clone());
    let mut connections = JoinSet::new();
    tokio::pin!(signal);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // A client that vanished between connect and accept: keep serving.
                    tracing::debug!("accepting a connection: {e}");
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let closed = state.clone();
        connections.spawn(async move {
            let stream = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake with {peer}: {e}");
                    return;
                }
                Err(_) => return,
            };
            let service = router.map_request(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => if let Err(e) = r { tracing::debug!("connection from {peer}: {e}") },
                () = closed.closed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Finished connections are collected as we go, so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    Ok(())
}
