//! The HTTP probes of releases: `GET` a URL and read the status (and where a redirect points),
//! with a timeout; and a route served over HTTPS followed there.
//!
//! The HTTPS probe checks that the proxy routes the name to a service that answers, not the
//! certificate: it accepts any certificate the proxy presents (the signatures of the handshake
//! are still checked). hoist installed that certificate itself, after checking it against its
//! key and the host name (`proxy::tls::check_pair`), and the probe sends nothing secret.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What a probe read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The `Location` header of a redirect.
    pub location: Option<String>,
}

/// `GET url` (`http://` only), with `host` as the `Host` header instead of the URL's authority.
pub async fn get(url: &str, host: Option<&str>, timeout: Duration) -> Result<Answer, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are probed: {url}"))?;
    let (authority, path) = split_authority(rest);
    let address = with_port(authority, 80);
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(address.as_str())
            .await
            .map_err(|e| e.to_string())?;
        exchange(stream, path, host.unwrap_or(authority)).await
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
}

/// [`get`]; when the answer redirects the same host to `https://`, the request is made there,
/// to the same address (the proxy), and that answer returned.
pub async fn get_following_https(
    url: &str,
    host: Option<&str>,
    timeout: Duration,
) -> Result<Answer, String> {
    let answer = get(url, host, timeout).await?;
    let (Some(name), Some(location)) = (host, answer.location.as_deref()) else {
        return Ok(answer);
    };
    if !matches!(answer.status, 301 | 302 | 307 | 308) {
        return Ok(answer);
    }
    let Some(rest) = location.strip_prefix("https://") else {
        return Ok(answer);
    };
    let (authority, path) = split_authority(rest);
    let (to_host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("bad Location {location:?}"))?,
        ),
        None => (authority, 443),
    };
    if !to_host.eq_ignore_ascii_case(name) {
        return Ok(answer);
    }
    let ip = split_authority(url.trim_start_matches("http://"))
        .0
        .rsplit_once(':')
        .map_or_else(
            || split_authority(url.trim_start_matches("http://")).0,
            |(h, _)| h,
        )
        .to_string();
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((ip.as_str(), port))
            .await
            .map_err(|e| e.to_string())?;
        let server_name = rustls::pki_types::ServerName::try_from(name.to_string())
            .map_err(|e| format!("{name}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(any_certificate()))
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS with {ip}:{port} for {name}: {e}"))?;
        exchange(tls, path, name).await
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| format!("no answer over HTTPS within {}s", timeout.as_secs()))?
}

/// `host:port/path` → (`host:port`, `/path`).
fn split_authority(rest: &str) -> (&str, &str) {
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

fn with_port(authority: &str, port: u16) -> String {
    if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:{port}")
    }
}

/// Sends the request and reads the status line and headers (up to 8 KiB).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    path: &str,
    host: &str,
) -> Result<Answer, String> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    parse_head(&String::from_utf8_lossy(&head))
}

/// The status and `Location` of a response head.
fn parse_head(head: &str) -> Result<Answer, String> {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let status = first
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP response: {first:?}"))?;
    let location = lines.take_while(|l| !l.is_empty()).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("location")
            .then(|| v.trim().to_string())
    });
    Ok(Answer { status, location })
}

/// A client that accepts the proxy's certificate whatever it is (see the module's docs), and
/// still checks the handshake's signatures.
fn any_certificate() -> rustls::ClientConfig {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(
            rustls::crypto::aws_lc_rs::default_provider(),
        )))
        .with_no_client_auth()
}

#[derive(Debug)]
struct AnyCertificate(rustls::crypto::CryptoProvider);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_and_location_of_a_redirect_are_read() {
        let answer =
            parse_head("HTTP/1.1 308 Permanent Redirect\r\nServer: nginx\r\nlocation: https://books.test/api\r\n\r\n")
                .unwrap();
        assert_eq!(answer.status, 308);
        assert_eq!(answer.location.as_deref(), Some("https://books.test/api"));
        let plain = parse_head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!((plain.status, plain.location), (200, None));
        assert!(parse_head("garbage").is_err());
    }
}
