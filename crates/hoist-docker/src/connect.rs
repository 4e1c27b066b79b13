//! Where an engine is and how to reach it: parse `DOCKER_HOST`-style addresses, resolve a TCP
//! host once, apply the remote-API policy (`policy.rs`) to the addresses it resolved to, and open
//! a negotiated connection that goes to exactly those addresses (`transport.rs`).

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::error::ConnectError;
use crate::policy::{self, Channel, PlainTcp};
use crate::ssh::SshTarget;
use crate::transport::Pinned;

/// Default socket of a local engine.
pub const DEFAULT_UNIX_SOCKET: &str = "/var/run/docker.sock";
/// Seconds before a single engine request gives up.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;

/// A parsed engine address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
    /// An engine's unix socket on a host reached with the user's `ssh` ([`crate::ssh`]).
    Ssh(SshTarget),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix://{}", path.display()),
            Address::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Address::Ssh(target) => target.fmt(f),
        }
    }
}

impl Address {
    /// The remote host the engine runs on, where its published ports answer: the TCP host, or
    /// the SSH host's real name (`HostName` of an ssh config alias). None for a local socket.
    pub fn remote_host(&self) -> Option<String> {
        match self {
            Address::Unix(_) => None,
            Address::Tcp { host, .. } => Some(host.clone()),
            Address::Ssh(target) => Some(crate::ssh::host_name(target)),
        }
    }

    /// Parses `unix:///path`, `tcp://host[:port]`, `http://`/`https://` (as docker does),
    /// `[::1]:port` and `ssh://[user@]host[:port][/socket]`. A TCP address without a port gets
    /// 2376 with TLS and 2375 without, like the docker CLI.
    pub fn parse(raw: &str, tls: bool) -> Result<Address, ConnectError> {
        let raw = raw.trim();
        let bad = |why: &str| ConnectError::BadAddress {
            address: raw.to_string(),
            why: why.to_string(),
        };
        if let Some(rest) = raw.strip_prefix("ssh://") {
            if tls {
                return Err(bad(
                    "an ssh:// engine is protected by SSH; TLS settings do not apply to it",
                ));
            }
            return SshTarget::parse(rest)
                .map(Address::Ssh)
                .map_err(|why| bad(&why));
        }
        if let Some(path) = raw.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(bad("a unix:// address needs a socket path"));
            }
            return Ok(Address::Unix(PathBuf::from(path)));
        }
        let rest = ["tcp://", "http://", "https://"]
            .iter()
            .find_map(|scheme| raw.strip_prefix(scheme))
            .ok_or_else(|| bad("expected unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST"))?;
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

/// An engine address the policy allowed, with the addresses every connection to it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub address: Address,
    pub channel: Channel,
    /// The TCP host's addresses, resolved once (empty for a unix socket).
    pub addrs: Vec<SocketAddr>,
}

/// Resolves a TCP host once: an address literal is taken as it is, a name goes through the
/// system resolver (`/etc/hosts`, then DNS, as nsswitch says).
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    let mut seen = std::collections::HashSet::new();
    addrs.retain(|a| seen.insert(*a));
    if addrs.is_empty() {
        return Err("the resolver returned no address".into());
    }
    Ok(addrs)
}

/// Parses the spec's address, resolves a TCP host once and applies the remote-API policy to
/// the addresses found. Blocking (the resolver); the binary calls it before anything else, and
/// [`Engine::connect`] off the async threads.
pub fn check_policy(spec: &EngineSpec) -> Result<Checked, ConnectError> {
    let address = Address::parse(&spec.host, spec.tls.is_some())?;
    if let Address::Ssh(target) = &address {
        return Ok(Checked {
            channel: Channel::Ssh {
                host: target.host.clone(),
            },
            address,
            addrs: Vec::new(),
        });
    }
    let Address::Tcp { host, port } = &address else {
        return Ok(Checked {
            address,
            channel: Channel::Unix,
            addrs: Vec::new(),
        });
    };
    let addrs = resolve(host, *port).map_err(|cause| ConnectError::Unresolvable {
        address: address.to_string(),
        host: host.clone(),
        cause,
    })?;
    if spec.tls.is_some() {
        return Ok(Checked {
            address,
            channel: Channel::Tls,
            addrs,
        });
    }
    let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
    if let PlainTcp::Refused { untrusted } =
        policy::plain_tcp(host, &ips, &spec.trusted_insecure_hosts)
    {
        return Err(ConnectError::InsecureRemote {
            address: address.to_string(),
            host: host.clone(),
            why: not_loopback(host, &untrusted),
        });
    }
    Ok(Checked {
        channel: Channel::PlainTcp {
            host: host.clone(),
            addrs: ips,
        },
        address,
        addrs,
    })
}

/// "10.200.0.2 is not a loopback address", or, for a name, what it resolved to.
fn not_loopback(host: &str, untrusted: &[IpAddr]) -> String {
    let list = untrusted
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match untrusted {
        [ip] if ip.to_string() == host => format!("{host} is not a loopback address"),
        [_] => format!("{host} resolves to {list}, which is not a loopback address"),
        _ => format!("{host} resolves to {list}, which are not loopback addresses"),
    }
}

/// Where the connections of one engine go.
#[derive(Clone)]
pub(crate) enum Route {
    Unix(PathBuf),
    Tcp(Pinned),
}

/// An open, version-negotiated connection to one engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// Where requests hoist sends itself go (see [`Engine::post_json`]).
    pub(crate) route: Route,
    address: Address,
    channel: Channel,
    /// The user's trusted hosts, for the credential decision.
    trusted: Vec<String>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("address", &self.address)
            .field("channel", &self.channel)
            .finish()
    }
}

impl Engine {
    /// Resolves and checks the address once ([`check_policy`]), then connects to exactly the
    /// addresses that check allowed.
    pub async fn connect(spec: &EngineSpec) -> Result<Engine, ConnectError> {
        let owned = spec.clone();
        let checked = tokio::task::spawn_blocking(move || check_policy(&owned))
            .await
            .map_err(|e| ConnectError::Unreachable {
                address: spec.host.clone(),
                cause: format!("the address check did not finish: {e}"),
            })??;
        Engine::connect_checked(spec, checked).await
    }

    /// Opens the transport to the checked addresses only and negotiates the API version (so
    /// that Docker 20.10, API 1.41, and current engines both work). Private: a `Checked` built
    /// by hand would skip the policy.
    async fn connect_checked(spec: &EngineSpec, checked: Checked) -> Result<Engine, ConnectError> {
        install_crypto_provider();
        let Checked {
            address,
            channel,
            addrs,
        } = checked;
        let unreachable = |cause: String| ConnectError::Unreachable {
            address: address.to_string(),
            cause,
        };
        if let Some(tls) = &spec.tls {
            for file in [&tls.ca, &tls.cert, &tls.key] {
                if !file.exists() {
                    return Err(ConnectError::MissingTlsFile { path: file.clone() });
                }
            }
        }
        let mut tunnel = None;
        let route = match &address {
            Address::Ssh(target) => {
                let owned = target.clone();
                let opened = tokio::task::spawn_blocking(move || crate::ssh::tunnel(&owned))
                    .await
                    .map_err(|e| unreachable(format!("the SSH connection did not finish: {e}")))?
                    .map_err(|why| ConnectError::Ssh {
                        address: address.to_string(),
                        why,
                    })?;
                let local = opened.local.clone();
                tunnel = Some(opened);
                Route::Unix(local)
            }
            Address::Unix(path) => {
                if !path.exists() {
                    return Err(unreachable("the socket does not exist".into()));
                }
                Route::Unix(path.clone())
            }
            Address::Tcp { host, .. } => {
                let tls = match &spec.tls {
                    Some(files) => {
                        let config = tls_client_config(files).map_err(unreachable)?;
                        let name = ServerName::try_from(host.clone()).map_err(|e| {
                            unreachable(format!("{host} is not a valid TLS server name: {e}"))
                        })?;
                        Some((config, name))
                    }
                    None => None,
                };
                Route::Tcp(Pinned::new(addrs, tls))
            }
        };
        // The engine's version first, from its ping, so that the client speaks
        // min(engine, bollard) from the first request on.
        let head = match &route {
            Route::Unix(path) => match UnixStream::connect(path).await {
                Ok(stream) => ping(stream).await,
                Err(e) => Err(e.to_string()),
            },
            Route::Tcp(pinned) => match pinned.open().await {
                Ok(stream) => ping(stream).await,
                Err(e) => Err(e.to_string()),
            },
        };
        let pinged = match (head.and_then(|head| parse_ping_head(&head)), &address) {
            (Ok(pinged), _) => pinged,
            (Err(cause), Address::Ssh(target)) => {
                return Err(ssh_ping_failed(target, tunnel.as_deref(), cause).await);
            }
            (Err(cause), _) => return Err(unreachable(cause)),
        };
        let version = match pinged {
            Some(v) if v < *API_DEFAULT_VERSION => v,
            _ => *API_DEFAULT_VERSION,
        };
        let docker = match route.clone() {
            Route::Unix(path) => {
                Docker::connect_with_unix(&path.to_string_lossy(), DEFAULT_TIMEOUT_SECS, &version)
            }
            Route::Tcp(pinned) => {
                // The URI's authority only becomes the Host header; connections go to `pinned`.
                let authority = address.to_string().replacen("tcp://", "http://", 1);
                Docker::connect_with_custom_transport(
                    move |request| pinned.clone().send(request),
                    Some(authority),
                    DEFAULT_TIMEOUT_SECS,
                    &version,
                )
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
        Ok(Engine {
            docker,
            route,
            address,
            channel,
            trusted: spec.trusted_insecure_hosts.clone(),
        })
    }

    /// How this engine is reached, as the policy saw it.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Registry credentials for a request to this engine, in bollard's form, when the policy
    /// lets them go there ([`policy::send_credentials`]); an error naming registry and engine
    /// otherwise.
    pub(crate) fn credentials_for_request(
        &self,
        auth: Option<&crate::auth::RegistryAuth>,
    ) -> Result<Option<bollard::auth::DockerCredentials>, crate::error::EngineError> {
        match auth {
            None => Ok(None),
            Some(auth) if policy::send_credentials(&self.channel, &self.trusted) => {
                Ok(Some(auth.to_bollard()))
            }
            Some(auth) => Err(crate::error::EngineError::message(format!(
                "not sending the credentials for registry {} to the engine at {}: it is reached \
                 over plain TCP and is neither loopback nor trusted (use TLS, or \
                 --trust-insecure-host / HOIST_TRUST_INSECURE_HOST)",
                auth.server, self.address
            ))),
        }
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

/// A ping through a working SSH session that failed: sshd could not reach the socket (it says
/// so on the channel), or the engine there did not answer.
async fn ssh_ping_failed(
    target: &SshTarget,
    tunnel: Option<&crate::ssh::Tunnel>,
    cause: String,
) -> ConnectError {
    // The channel's refusal reaches ssh's stderr a moment after the local connection closes.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let said = tunnel.map(crate::ssh::Tunnel::said).unwrap_or_default();
    let why = match crate::ssh::classify(&said) {
        failure @ crate::ssh::SshFailure::SocketUnavailable { .. } => failure.explain(target),
        _ => format!(
            "the SSH session is up, but the engine behind {} did not answer: {cause}",
            target.socket
        ),
    };
    ConnectError::Ssh {
        address: target.to_string(),
        why,
    }
}

/// Sends `GET /_ping` and reads the response head (status line and headers): the engine's API
/// version is in its `Api-Version` header, which is how the docker CLI negotiates. (bollard's own
/// negotiation asks `/version`, for which the engine runs `runc --version` and `docker-init
/// --version`: about 10 ms per command, against well under one for the ping.)
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
    fn plain_tcp_to_a_remote_address_is_refused_naming_it() {
        let err = check_policy(&spec("tcp://10.200.0.2:2375", false, &[])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("tcp://10.200.0.2:2375"), "{msg}");
        assert!(
            msg.contains("10.200.0.2 is not a loopback address"),
            "{msg}"
        );
        assert!(msg.contains("--trust-insecure-host 10.200.0.2"), "{msg}");
        assert!(msg.contains("TLS"), "{msg}");
    }

    #[test]
    fn loopback_tls_and_trusted_hosts_are_allowed() {
        let plain = |host: &str, addrs: &[&str]| Channel::PlainTcp {
            host: host.into(),
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        };
        let ok = |s: EngineSpec| check_policy(&s).unwrap();
        assert_eq!(
            ok(spec("tcp://127.0.0.1:2375", false, &[])).channel,
            plain("127.0.0.1", &["127.0.0.1"])
        );
        let checked = ok(spec("tcp://[::1]:2375", false, &[]));
        assert_eq!(checked.addrs, ["[::1]:2375".parse().unwrap()]);
        // `localhost` is resolved like any name, and its addresses are what connections use.
        let local = ok(spec("tcp://localhost:2375", false, &[]));
        assert!(!local.addrs.is_empty());
        assert!(
            local
                .addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 2375)
        );
        assert_eq!(
            ok(spec("tcp://10.200.0.3:2376", true, &[])).channel,
            Channel::Tls
        );
        assert_eq!(
            ok(spec("tcp://10.200.0.2:2375", false, &["10.200.0.2"])).channel,
            plain("10.200.0.2", &["10.200.0.2"])
        );
        assert_eq!(
            ok(spec("unix:///x.sock", false, &[])).channel,
            Channel::Unix
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_named() {
        let err = check_policy(&spec("tcp://prod.invalid:2375", false, &[])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("cannot resolve prod.invalid"), "{msg}");
        assert!(msg.contains("tcp://prod.invalid:2375"), "{msg}");
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
