//! Where an engine is and how to reach it: parse `DOCKER_HOST`-style addresses, apply the
//! remote-API safety policy, and open a negotiated connection.
//!
//! The policy comes from the book's warning that the remote API "must be restricted in a real
//! production environment": a plain `tcp://` endpoint gives whoever reaches the port root on the
//! host, so hoist refuses one that is not on loopback unless the user names the host as trusted.
//! The decision is made before any socket is opened and without DNS: a name counts as loopback
//! only when it is `localhost` or every `/etc/hosts` entry for it is a loopback address.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::error::ConnectError;

/// Default socket of a local engine.
pub const DEFAULT_UNIX_SOCKET: &str = "/var/run/docker.sock";
/// Seconds before a single engine request gives up.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// A parsed engine address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

impl Address {
    /// Parses `unix:///path`, `tcp://host[:port]`, `http://`/`https://` (as docker does) and
    /// `[::1]:port`. A TCP address without a port gets 2376 with TLS and 2375 without, like the
    /// docker CLI.
    pub fn parse(raw: &str, tls: bool) -> Result<Address, ConnectError> {
        let raw = raw.trim();
        let bad = |why: &str| ConnectError::BadAddress {
            address: raw.to_string(),
            why: why.to_string(),
        };
        if let Some(path) = raw.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(bad("a unix:// address needs a socket path"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        let rest = ["tcp://", "http://", "https://"]
            .iter()
            .find_map(|scheme| raw.strip_prefix(scheme))
            .ok_or_else(|| bad("expected unix://PATH or tcp://HOST:PORT"))?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Err(bad("no host given"));
        }
        let default_port = if tls { 2376 } else { 2375 };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("unexpected text after ']'")),
            };
            (host.to_string(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_string(),
                    port.parse().map_err(|_| bad("the port is not a number"))?,
                ),
                None => (rest.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("no host given"));
        }
        Ok(Address::Tcp { host, port })
    }
}

/// Client certificate material in `DOCKER_CERT_PATH` layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` inside `dir`.
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// Everything needed to reach one engine, resolved from flags and environment by the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    /// The address as the user wrote it (`unix:///var/run/docker.sock`, `tcp://prod:2375`).
    pub host: String,
    /// TLS with server verification, when set.
    pub tls: Option<TlsFiles>,
    /// Hosts the user allows over plain TCP although they are not loopback.
    pub trusted_insecure_hosts: Vec<String>,
}

impl EngineSpec {
    pub fn local() -> EngineSpec {
        EngineSpec {
            host: format!("unix://{DEFAULT_UNIX_SOCKET}"),
            tls: None,
            trusted_insecure_hosts: Vec::new(),
        }
    }
}

/// Decides whether a plain-TCP connection to `host` is allowed. Pure: `etc_hosts` is the text of
/// `/etc/hosts` (or empty).
pub fn plain_tcp_allowed(host: &str, trusted: &[String], etc_hosts: &str) -> bool {
    if trusted
        .iter()
        .any(|t| t.trim().eq_ignore_ascii_case(host) || t.trim() == "*")
    {
        return true;
    }
    is_loopback_name(host, etc_hosts)
}

/// Whether `host` is a loopback address or a name that only maps to loopback addresses.
pub fn is_loopback_name(host: &str, etc_hosts: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let lower = host.to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return true;
    }
    let mut found = false;
    for line in etc_hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(ip) = fields.next() else { continue };
        if fields.any(|name| name.eq_ignore_ascii_case(host)) {
            match ip.parse::<IpAddr>() {
                Ok(ip) if ip.is_loopback() => found = true,
                _ => return false,
            }
        }
    }
    found
}

/// Applies the remote-API policy to a spec; `Ok` carries the parsed address.
pub fn check_policy(spec: &EngineSpec, etc_hosts: &str) -> Result<Address, ConnectError> {
    let address = Address::parse(&spec.host, spec.tls.is_some())?;
    if let Address::Tcp { host, .. } = &address
        && spec.tls.is_none()
        && !plain_tcp_allowed(host, &spec.trusted_insecure_hosts, etc_hosts)
    {
        return Err(ConnectError::InsecureRemote {
            address: address.to_string(),
            host: host.clone(),
        });
    }
    Ok(address)
}

/// An open, version-negotiated connection to one engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    address: Address,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("address", &self.address)
            .finish()
    }
}

impl Engine {
    /// Checks the policy, opens the transport and negotiates the API version (so that Docker
    /// 20.10, API 1.41, and current engines both work).
    pub async fn connect(spec: &EngineSpec) -> Result<Engine, ConnectError> {
        let etc_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let address = check_policy(spec, &etc_hosts)?;
        install_crypto_provider();
        let unreachable = |cause: String| ConnectError::Unreachable {
            address: address.to_string(),
            cause,
        };
        if let Address::Unix(path) = &address
            && !path.exists()
        {
            return Err(unreachable("the socket does not exist".into()));
        }
        if let Some(tls) = &spec.tls {
            for file in [&tls.ca, &tls.cert, &tls.key] {
                if !file.exists() {
                    return Err(ConnectError::MissingTlsFile { path: file.clone() });
                }
            }
        }
        // The engine's version first, from its ping, so that the client speaks
        // min(engine, bollard) from the first request on.
        let pinged = ping_api_version(&address, spec.tls.as_ref())
            .await
            .map_err(unreachable)?;
        let version = match pinged {
            Some(v) if v < *API_DEFAULT_VERSION => v,
            _ => *API_DEFAULT_VERSION,
        };
        let docker = match (&address, &spec.tls) {
            (Address::Unix(path), _) => {
                Docker::connect_with_unix(&path.to_string_lossy(), DEFAULT_TIMEOUT_SECS, &version)
            }
            (Address::Tcp { .. }, Some(tls)) => Docker::connect_with_ssl(
                &address.to_string(),
                &tls.key,
                &tls.cert,
                &tls.ca,
                DEFAULT_TIMEOUT_SECS,
                &version,
            ),
            (Address::Tcp { .. }, None) => {
                Docker::connect_with_http(&address.to_string(), DEFAULT_TIMEOUT_SECS, &version)
            }
        }
        .map_err(|e| unreachable(e.to_string()))?;
        // An engine whose ping carries no version (older than API 1.25): ask `/version`.
        let docker = match pinged {
            Some(_) => docker,
            None => docker
                .negotiate_version()
                .await
                .map_err(|e| unreachable(e.to_string()))?,
        };
        Ok(Engine { docker, address })
    }

    /// The bollard client, for the adapter's own modules.
    pub(crate) fn client(&self) -> &Docker {
        &self.docker
    }

    /// The raw bollard client. Escape hatch for test support (`hoist-testkit`) only: hoist's own
    /// crates go through the adapter's typed operations.
    #[doc(hidden)]
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The negotiated API version, such as `1.41`.
    pub fn api_version(&self) -> String {
        let v = self.docker.client_version();
        format!("{}.{}", v.major_version, v.minor_version)
    }
}

/// The engine's API version from the `Api-Version` header of `GET /_ping`, which is how the docker
/// CLI negotiates. (bollard's own negotiation asks `/version`, for which the engine runs
/// `runc --version` and `docker-init --version`: about 10 ms per command, against well under one
/// for the ping.) `None` when the engine does not send the header.
async fn ping_api_version(
    address: &Address,
    tls: Option<&TlsFiles>,
) -> Result<Option<ClientVersion>, String> {
    let head = match (address, tls) {
        (Address::Unix(path), _) => {
            let stream = UnixStream::connect(path).await.map_err(|e| e.to_string())?;
            ping(stream).await?
        }
        (Address::Tcp { host, port }, None) => {
            let stream = TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(|e| e.to_string())?;
            ping(stream).await?
        }
        (Address::Tcp { host, port }, Some(files)) => {
            let config = tls_client_config(files)?;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| format!("{host} is not a valid TLS server name: {e}"))?;
            let tcp = TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(|e| e.to_string())?;
            let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            ping(stream).await?
        }
    };
    parse_ping_head(&head)
}

/// Sends the ping and reads the response head (status line and headers).
async fn ping<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Result<String, String> {
    const REQUEST: &[u8] =
        b"GET /_ping HTTP/1.1\r\nHost: docker\r\nUser-Agent: hoist\r\nConnection: close\r\n\r\n";
    let io = |e: std::io::Error| e.to_string();
    stream.write_all(REQUEST).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            head.truncate(end);
            break;
        }
        if head.len() > 64 * 1024 {
            return Err("the engine's ping answer has no end of headers".into());
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The API version in a ping's response head. Pure. An answer that is not HTTP is an error (the
/// address is not a Docker engine); a missing header is `None`.
fn parse_ping_head(head: &str) -> Result<Option<ClientVersion>, String> {
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/") {
        return Err(if status.is_empty() {
            "the engine closed the connection without answering".into()
        } else {
            format!("not a Docker engine: it answered {status:?}")
        });
    }
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("api-version") {
            let value = value.trim();
            let parsed = value.split_once('.').and_then(|(major, minor)| {
                Some(ClientVersion {
                    major_version: major.parse().ok()?,
                    minor_version: minor.parse().ok()?,
                })
            });
            return parsed
                .map(Some)
                .ok_or_else(|| format!("the engine sent an unreadable API version {value:?}"));
        }
    }
    Ok(None)
}

/// A rustls client configuration that trusts `ca.pem` and presents `cert.pem`/`key.pem`, as the
/// docker CLI does with `--tlsverify`.
fn tls_client_config(files: &TlsFiles) -> Result<rustls::ClientConfig, String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let certs = |path: &Path| {
        CertificateDer::pem_slice_iter(&read(path)?)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in certs(&files.ca)? {
        roots
            .add(ca)
            .map_err(|e| format!("{}: {e}", files.ca.display()))?;
    }
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|e| format!("{}: not a PEM private key: {e}", files.key.display()))?;
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(certs(&files.cert)?, key)
        .map_err(|e| format!("{}: {e}", files.cert.display()))
}

/// rustls needs exactly one process-wide provider; hoist uses aws-lc-rs everywhere.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(host: &str, tls: bool, trusted: &[&str]) -> EngineSpec {
        EngineSpec {
            host: host.into(),
            tls: tls.then(|| TlsFiles::in_dir(Path::new("/certs"))),
            trusted_insecure_hosts: trusted.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn parses_the_address_forms_docker_accepts() {
        assert_eq!(
            Address::parse("unix:///var/run/docker.sock", false).unwrap(),
            Address::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            Address::parse("tcp://prod:2375", false).unwrap(),
            Address::Tcp {
                host: "prod".into(),
                port: 2375
            }
        );
        assert_eq!(
            Address::parse("tcp://prod", true).unwrap(),
            Address::Tcp {
                host: "prod".into(),
                port: 2376
            }
        );
        assert_eq!(
            Address::parse("tcp://[::1]:2375", false)
                .unwrap()
                .to_string(),
            "tcp://[::1]:2375"
        );
        assert!(Address::parse("prod:2375", false).is_err());
        assert!(Address::parse("tcp://prod:http", false).is_err());
        assert!(Address::parse("unix://", false).is_err());
    }

    #[test]
    fn plain_tcp_to_a_remote_host_is_refused_before_connecting() {
        let err = check_policy(&spec("tcp://prod.invalid:2375", false, &[]), "").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("tcp://prod.invalid:2375"), "{msg}");
        assert!(msg.contains("TLS"), "{msg}");
        assert!(check_policy(&spec("tcp://10.200.0.2:2375", false, &[]), "").is_err());
    }

    #[test]
    fn loopback_tls_and_trusted_hosts_are_allowed() {
        assert!(check_policy(&spec("tcp://127.0.0.1:2375", false, &[]), "").is_ok());
        assert!(check_policy(&spec("tcp://localhost:2375", false, &[]), "").is_ok());
        assert!(check_policy(&spec("tcp://[::1]:2375", false, &[]), "").is_ok());
        assert!(check_policy(&spec("tcp://prod:2376", true, &[]), "").is_ok());
        assert!(check_policy(&spec("tcp://10.200.0.2:2375", false, &["10.200.0.2"]), "").is_ok());
        assert!(check_policy(&spec("unix:///x.sock", false, &[]), "").is_ok());
    }

    #[test]
    fn names_count_as_loopback_only_when_hosts_maps_them_there() {
        let hosts = "127.0.0.1 devbox\n10.200.0.2 prod\n127.0.1.1 split\n10.0.0.9 split\n";
        assert!(is_loopback_name("devbox", hosts));
        assert!(!is_loopback_name("prod", hosts));
        assert!(!is_loopback_name("split", hosts));
        assert!(!is_loopback_name("unknown", hosts));
    }

    #[test]
    fn reads_the_api_version_from_the_ping_answer() {
        let head =
            "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\nOstype: linux";
        let v = parse_ping_head(head).unwrap().unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        let lower = "HTTP/1.0 200 OK\r\napi-version:1.51";
        let v = parse_ping_head(lower).unwrap().unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 51));
        assert!(
            parse_ping_head("HTTP/1.1 200 OK\r\nServer: x")
                .unwrap()
                .is_none()
        );
        let bad = parse_ping_head("HTTP/1.1 200 OK\r\nApi-Version: one").unwrap_err();
        assert!(bad.contains("\"one\""), "{bad}");
        let not_http = parse_ping_head("SSH-2.0-OpenSSH_9.2").unwrap_err();
        assert!(not_http.contains("not a Docker engine"), "{not_http}");
        assert!(
            parse_ping_head("")
                .unwrap_err()
                .contains("without answering")
        );
    }
}
