//! Connections to exactly the addresses the remote-API policy checked: TCP to each resolved
//! address in turn, TLS on top when configured, and HTTP/1.1 over that for bollard
//! (`Docker::connect_with_custom_transport`).
//!
//! Why not bollard's own HTTP and TLS connectors: they resolve the engine's name again for every
//! request, so a resolver answer that differs from the one the policy checked (DNS, an edited
//! `/etc/hosts`) would send plain TCP, and registry credentials with it, to a host the policy
//! never saw. Here the name is only the `Host` header and the TLS server name.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bollard::BollardRequest;
use http::header::{HOST, HeaderValue};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream to an engine: plain TCP or TLS over it.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Where every connection to one engine goes.
#[derive(Clone)]
pub(crate) struct Pinned {
    addrs: Arc<[SocketAddr]>,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

impl Pinned {
    /// `addrs` are the checked addresses, tried in the resolver's order; `tls` the client
    /// configuration and the name the engine's certificate must carry.
    pub(crate) fn new(
        addrs: Vec<SocketAddr>,
        tls: Option<(rustls::ClientConfig, ServerName<'static>)>,
    ) -> Pinned {
        Pinned {
            addrs: addrs.into(),
            tls: tls.map(|(config, name)| (Arc::new(config), name)),
        }
    }

    /// Opens a stream to the first checked address that accepts, with the TLS handshake done.
    pub(crate) async fn open(&self) -> io::Result<Box<dyn Io>> {
        let mut last = None;
        for addr in self.addrs.iter() {
            let tcp = match TcpStream::connect(addr).await {
                Ok(tcp) => tcp,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            return match &self.tls {
                None => Ok(Box::new(tcp)),
                Some((config, name)) => {
                    let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| {
                            io::Error::new(e.kind(), format!("TLS handshake failed: {e}"))
                        })?;
                    Ok(Box::new(tls))
                }
            };
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to try")))
    }

    /// One request on a fresh connection (bollard keeps no idle connections either). The
    /// connection is driven with upgrades, which `exec` and `attach` take over.
    pub(crate) async fn send(
        self,
        request: BollardRequest,
    ) -> Result<Response<Incoming>, bollard::errors::Error> {
        let stream = self.open().await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!("engine connection ended: {e}");
            }
        });
        let (mut parts, body) = request.into_parts();
        // bollard builds absolute URIs; on a connection of its own a request names only the
        // path, and the authority goes into `Host`.
        if let Some(authority) = parts.uri.authority()
            && !parts.headers.contains_key(HOST)
        {
            let value = HeaderValue::from_str(authority.as_str()).map_err(http::Error::from)?;
            parts.headers.insert(HOST, value);
        }
        let origin = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        parts.uri = origin.parse().map_err(http::Error::from)?;
        Ok(sender
            .send_request(Request::from_parts(parts, body))
            .await?)
    }
}
