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

impl crate::connect::Route {
    /// A stream to the engine, as every request opens one.
    async fn open(&self) -> io::Result<Box<dyn Io>> {
        match self {
            crate::connect::Route::Unix(path) => {
                Ok(Box::new(tokio::net::UnixStream::connect(path).await?))
            }
            crate::connect::Route::Tcp(pinned) => pinned.open().await,
        }
    }

    /// `POST path` with a JSON body exactly as given (bollard's typed bodies only carry the
    /// fields of the newest API, and some older engines read others); the answer's status and
    /// body. An answer outside 2xx is the engine's error, as bollard reports one.
    pub(crate) async fn post_json(
        &self,
        path_and_query: &str,
        body: &serde_json::Value,
    ) -> Result<bytes::Bytes, bollard::errors::Error> {
        // The same bound as every request bollard sends.
        let limit = std::time::Duration::from_secs(crate::connect::DEFAULT_TIMEOUT_SECS);
        tokio::time::timeout(limit, self.post_json_unbounded(path_and_query, body))
            .await
            .map_err(|_| bollard::errors::Error::RequestTimeoutError)?
    }

    /// `GET path`: the answer's body, or the engine's error. For fields bollard's models lack
    /// (a service's `PreviousSpec`).
    pub(crate) async fn get_json(
        &self,
        path_and_query: &str,
    ) -> Result<serde_json::Value, bollard::errors::Error> {
        let limit = std::time::Duration::from_secs(crate::connect::DEFAULT_TIMEOUT_SECS);
        let bytes =
            tokio::time::timeout(limit, self.request_unbounded("GET", path_and_query, None))
                .await
                .map_err(|_| bollard::errors::Error::RequestTimeoutError)??;
        Ok(serde_json::from_slice(&bytes)?)
    }

    async fn post_json_unbounded(
        &self,
        path_and_query: &str,
        body: &serde_json::Value,
    ) -> Result<bytes::Bytes, bollard::errors::Error> {
        self.request_unbounded("POST", path_and_query, Some(body))
            .await
    }

    async fn request_unbounded(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<bytes::Bytes, bollard::errors::Error> {
        use http_body_util::BodyExt;
        let stream = self.open().await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("engine connection ended: {e}");
            }
        });
        let payload = match body {
            Some(body) => serde_json::to_vec(body)?,
            None => Vec::new(),
        };
        let mut request = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(HOST, "docker");
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(http_body_util::Full::new(bytes::Bytes::from(payload)))?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        // The engine's errors are `{"message": "..."}`.
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["message"].as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: status.as_u16(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{Either, Full};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server: answers one request with 200 and returns the request's head.
    async fn one_answer() -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte).await.unwrap() == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
                .await
                .unwrap();
            String::from_utf8(head).unwrap()
        });
        (addr, server)
    }

    #[tokio::test]
    async fn requests_go_to_the_checked_addresses_and_the_name_only_into_host() {
        let (addr, server) = one_answer().await;
        // Nothing listens on the first address any more: the next one is tried.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let pinned = Pinned::new(vec![closed, addr], None);
        // `.invalid` never resolves: a transport that looked the name up would fail here.
        let request: BollardRequest = Request::builder()
            .uri("http://engine.invalid:2375/v1.41/_ping?x=1")
            .body(Either::Left(Full::new(Bytes::new())))
            .unwrap();
        let response = pinned.send(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let head = server.await.unwrap();
        assert!(
            head.starts_with("GET /v1.41/_ping?x=1 HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("\r\nhost: engine.invalid:2375\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn no_reachable_address_is_an_io_error() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = Pinned::new(vec![closed], None).open().await.err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    }

    /// A one-shot HTTP server that answers `status` with `body`; returns what it was sent.
    async fn answering(
        status: &'static str,
        body: &'static str,
    ) -> (SocketAddr, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // The head, then the body its Content-Length announces.
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).to_string();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if rest.len() >= length || n == 0 {
                        break;
                    }
                }
            }
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(seen).unwrap()
        });
        (addr, server)
    }

    #[tokio::test]
    async fn a_json_body_goes_as_given_and_an_engine_error_keeps_its_message() {
        let (addr, server) = answering("201 Created", r#"{"Id":"abc","Warnings":[]}"#).await;
        let route = crate::connect::Route::Tcp(Pinned::new(vec![addr], None));
        let body = serde_json::json!({"Image": "alpine", "MacAddress": "00:e0:84:35:d0:e8"});
        let answer = route
            .post_json("/v1.41/containers/create?name=x", &body)
            .await
            .unwrap();
        assert_eq!(&answer[..], br#"{"Id":"abc","Warnings":[]}"#);
        let seen = server.await.unwrap();
        assert!(
            seen.starts_with("POST /v1.41/containers/create?name=x HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(
            seen.ends_with(r#"{"Image":"alpine","MacAddress":"00:e0:84:35:d0:e8"}"#),
            "{seen}"
        );

        let (addr, _server) =
            answering("404 Not Found", r#"{"message":"No such image: nope"}"#).await;
        let route = crate::connect::Route::Tcp(Pinned::new(vec![addr], None));
        match route.post_json("/v1.41/containers/create", &body).await {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            }) => {
                assert_eq!(status_code, 404);
                assert_eq!(message, "No such image: nope");
            }
            other => panic!("{other:?}"),
        }
    }
}
