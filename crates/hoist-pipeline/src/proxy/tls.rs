//! HTTPS at the proxy: a host route's certificate checked, installed on every proxy of a target,
//! issued by an ACME server (RFC 8555, HTTP-01 answered by the same nginx), and renewed.
//!
//! Everything lives on the target, in the proxy's volume ([`TLS_DIR`]): each host's certificate
//! and key (new files per certificate, named by serial), and the ACME account's key, so that any
//! machine or CI runner that reaches the target renews the same certificate with the same
//! account. Installing one is a routing-table change like any other ([`Proxy::update`]):
//! `nginx -t`, the previous configuration back on rejection, and the new workers waited for;
//! the old workers finish their connections with the certificate they had.
//!
//! The decisions are pure ([`check_pair`], [`renewal_due`]); the rest moves bytes.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoist_core::events::{Event, EventSink, Phase};
use hoist_docker::{ExecCommand, FileUpload};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};

use super::config::{CHALLENGE_ROOT, CertSource, Certificate, TLS_DIR, check_host};
use super::{Proxy, ProxyError};

/// Let's Encrypt's production directory, the default ACME server.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Certificates that expire within this many days are renewed.
pub const RENEW_WITHIN_DAYS: i64 = 30;

/// What a route's `tls:` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsWant {
    /// A certificate from the ACME server, renewed by hoist.
    Acme,
    /// The user's own certificate (chain) and key, PEM files on the machine running hoist.
    Own { cert: PathBuf, key: PathBuf },
}

/// Which ACME server, and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The directory URL ([`LETS_ENCRYPT`] by default).
    pub directory: String,
    /// A CA certificate (PEM) to trust for the directory's own HTTPS, instead of the system's
    /// (a test server's, such as Pebble's).
    pub ca: Option<PathBuf>,
    /// `mailto:` contact for the account, optional.
    pub email: Option<String>,
}

impl Default for AcmeSettings {
    fn default() -> AcmeSettings {
        AcmeSettings {
            directory: LETS_ENCRYPT.into(),
            ca: None,
            email: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Refused before any proxy was touched.
    #[error("certificate for {host}: {why}")]
    Refused { host: String, why: String },
    /// The ACME server said no; the previous certificate, if any, is still served.
    #[error("certificate for {host} from {directory}: {detail}")]
    Acme {
        host: String,
        directory: String,
        detail: String,
    },
    #[error("certificate for {host}: {source}")]
    Proxy {
        host: String,
        #[source]
        source: Box<ProxyError>,
    },
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Its DNS names (subject alternative names; the common name when it has none).
    pub names: Vec<String>,
    pub issuer: String,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// Lower-case hex, no separators.
    pub serial: String,
    /// The subject's public key bits (inside SubjectPublicKeyInfo), to match a key against.
    spki: Vec<u8>,
}

impl CertInfo {
    /// Whole days from `now` until it expires (negative once expired).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Reads the first certificate of a PEM chain (the leaf).
pub fn parse_chain(pem: &[u8]) -> Result<CertInfo, String> {
    let (_, block) =
        x509_parser::pem::parse_x509_pem(pem).map_err(|e| format!("not a PEM certificate: {e}"))?;
    if block.label != "CERTIFICATE" {
        return Err(format!(
            "the first PEM block is a {}, not a CERTIFICATE",
            block.label
        ));
    }
    let cert = block
        .parse_x509()
        .map_err(|e| format!("the certificate cannot be read: {e}"))?;
    Ok(info_of(&cert))
}

/// Reads one DER certificate.
pub fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("the certificate cannot be read: {e}"))?;
    Ok(info_of(&cert))
}

fn info_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> CertInfo {
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                names.push(dns.to_string());
            }
        }
    }
    if names.is_empty() {
        names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
        );
    }
    CertInfo {
        names,
        issuer: cert.issuer().to_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        serial: hex_serial(cert.raw_serial()),
        spki: cert.public_key().subject_public_key.data.to_vec(),
    }
}

/// A serial number as lower-case hex without leading zeros (`0` for zero).
fn hex_serial(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match hex.trim_start_matches('0') {
        "" => "0".into(),
        trimmed => trimmed.into(),
    }
}

/// Whether a certificate for `names` is valid for `host` (an exact name, or a wildcard that
/// covers exactly one label).
pub fn covers(names: &[String], host: &str) -> bool {
    names.iter().any(|name| {
        if name.eq_ignore_ascii_case(host) {
            return true;
        }
        match (name.strip_prefix("*."), host.split_once('.')) {
            (Some(suffix), Some((label, rest))) => {
                !label.is_empty() && rest.eq_ignore_ascii_case(suffix)
            }
            _ => false,
        }
    })
}

/// Checks a certificate and its key before anything is installed: the key is the
/// certificate's, the certificate names `host`, and it is valid now.
pub fn check_pair(
    host: &str,
    cert_pem: &[u8],
    key_pem: &[u8],
    now: i64,
) -> Result<CertInfo, String> {
    let info = parse_chain(cert_pem)?;
    let key_text =
        std::str::from_utf8(key_pem).map_err(|_| "the key is not PEM text".to_string())?;
    let key = rcgen::KeyPair::from_pem(key_text)
        .map_err(|e| format!("the key cannot be read (a PKCS#8 PEM key is expected): {e}"))?;
    if key.public_key_raw() != info.spki.as_slice() {
        return Err(format!(
            "the key does not match the certificate (serial {}): it is another key's certificate",
            info.serial
        ));
    }
    if !covers(&info.names, host) {
        return Err(format!(
            "the certificate is for {}, not {host}",
            info.names.join(", ")
        ));
    }
    if info.not_after <= now {
        return Err(format!(
            "the certificate (serial {}) has expired",
            info.serial
        ));
    }
    if info.not_before > now {
        return Err(format!(
            "the certificate (serial {}) is not valid yet",
            info.serial
        ));
    }
    Ok(info)
}

/// Why a host's certificate is to be (re)issued, or `None` to keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    Missing,
    Expiring {
        days: i64,
    },
    NotCovering,
    /// The user's own files differ from the certificate served.
    Changed,
    /// The served certificate came from elsewhere (own files, now `tls: acme`).
    OtherSource,
    Forced,
}

impl std::fmt::Display for Due {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Due::Missing => f.write_str("no certificate yet"),
            Due::Expiring { days } => write!(f, "it expires in {days} days"),
            Due::NotCovering => f.write_str("the certificate served does not name the host"),
            Due::Changed => f.write_str("the certificate files changed"),
            Due::OtherSource => f.write_str("the certificate served came from elsewhere"),
            Due::Forced => f.write_str("renewal forced"),
        }
    }
}

/// Decides whether `host` needs a new certificate: `served` is what the proxy has (its table
/// entry and what the file says), `own` the serial of the user's files when `tls` names them.
pub fn renewal_due(
    host: &str,
    want_source: CertSource,
    served: Option<(&Certificate, &CertInfo)>,
    own_serial: Option<&str>,
    now: i64,
    force: bool,
) -> Option<Due> {
    let Some((entry, info)) = served else {
        return Some(Due::Missing);
    };
    if entry.source != want_source {
        return Some(Due::OtherSource);
    }
    if let Some(serial) = own_serial {
        return (serial != entry.serial).then_some(Due::Changed);
    }
    if force {
        return Some(Due::Forced);
    }
    if !covers(&info.names, host) {
        return Some(Due::NotCovering);
    }
    let days = info.days_left(now);
    (days < RENEW_WITHIN_DAYS).then_some(Due::Expiring { days })
}

/// The certificate a proxy serves for `host`: its table entry and what its file says.
pub async fn served(
    proxy: &Proxy<'_>,
    host: &str,
) -> Result<Option<(Certificate, CertInfo)>, ProxyError> {
    let table = proxy.config().await?;
    let Some(entry) = table.certificate(host).cloned() else {
        return Ok(None);
    };
    let Some(file) = proxy
        .engine
        .download_file(&proxy.spec.name, &entry.cert_path())
        .await?
    else {
        return Ok(None);
    };
    Ok(parse_chain(&file.contents).ok().map(|info| (entry, info)))
}

/// Every certificate a proxy serves, with what each says (`hoist proxy certs`).
pub async fn list(proxy: &Proxy<'_>) -> Result<Vec<(Certificate, Option<CertInfo>)>, ProxyError> {
    let table = proxy.config().await?;
    let mut out = Vec::new();
    for entry in table.certificates {
        let info = proxy
            .engine
            .download_file(&proxy.spec.name, &entry.cert_path())
            .await?
            .and_then(|file| parse_chain(&file.contents).ok());
        out.push((entry, info));
    }
    Ok(out)
}

/// Installs a checked certificate and key for `host` on every proxy, one after the other: the
/// files first (new names), then the table entry, applied with the proxy's checked reload.
/// The key is refused, before any proxy is touched, when it is not the certificate's.
pub async fn install(
    proxies: &[Proxy<'_>],
    host: &str,
    cert_pem: &[u8],
    key_pem: &[u8],
    source: CertSource,
    sink: &dyn EventSink,
) -> Result<CertInfo, TlsError> {
    // The host names the certificate's folder on the proxy: a DNS name only.
    check_host(host).map_err(|why| TlsError::Refused {
        host: host.to_string(),
        why: why.to_string(),
    })?;
    let info = check_pair(host, cert_pem, key_pem, now()).map_err(|why| TlsError::Refused {
        host: host.to_string(),
        why,
    })?;
    let entry = Certificate {
        host: host.to_string(),
        serial: info.serial.clone(),
        source,
    };
    let in_proxy = |source| TlsError::Proxy {
        host: host.to_string(),
        source: Box::new(source),
    };
    for proxy in proxies {
        proxy
            .engine
            .upload_files(
                &proxy.spec.name,
                &[
                    FileUpload::new(entry.cert_path(), cert_pem.to_vec(), 0o644),
                    FileUpload::new(entry.key_path(), key_pem.to_vec(), 0o600),
                ],
            )
            .await
            .map_err(|e| in_proxy(e.into()))?;
        proxy
            .update(sink, |table| {
                table.set_certificate(entry.clone());
                Ok(())
            })
            .await
            .map_err(in_proxy)?;
        // The new workers took over: the files of earlier certificates are no longer read.
        let folder = Certificate::folder(host);
        let tidy = ExecCommand::new([
            "find",
            &folder,
            "-maxdepth",
            "1",
            "-type",
            "f",
            "!",
            "-name",
            &format!("{}.*", entry.serial),
            "-delete",
        ]);
        if let Err(e) = proxy.engine.exec(&proxy.spec.name, &tidy).await {
            tracing::warn!("old certificate files of {host} stay in {folder}: {e}");
        }
        sink.emit(Event::new(
            "Certificate",
            format!("{host} on {}", proxy.spec.name),
            Phase::Done,
            format!("serial {}", info.serial),
        ));
    }
    Ok(info)
}

/// Where the ACME account for a directory is kept in the proxy's volume.
fn account_path(directory: &str) -> String {
    let digest = hoist_core::hash::sha256_hex(directory.as_bytes());
    format!("{TLS_DIR}/acme/account-{}.json", &digest[..16])
}

/// The account on the ACME server: the one stored on the first proxy that has it, else a new
/// one, stored on every proxy.
async fn account(
    proxies: &[Proxy<'_>],
    settings: &AcmeSettings,
    acme_err: &dyn Fn(String) -> TlsError,
    proxy_err: &dyn Fn(ProxyError) -> TlsError,
) -> Result<Account, TlsError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let builder = || match &settings.ca {
        Some(ca) => Account::builder_with_root(ca),
        None => Account::builder(),
    };
    let path = account_path(&settings.directory);
    for proxy in proxies {
        let stored = proxy
            .engine
            .download_file(&proxy.spec.name, &path)
            .await
            .map_err(|e| proxy_err(e.into()))?;
        if let Some(file) = stored {
            // Unreadable credentials are replaced by a new account rather than trusted.
            if let Ok(credentials) = serde_json::from_slice::<AccountCredentials>(&file.contents) {
                return builder()
                    .map_err(|e| acme_err(e.to_string()))?
                    .from_credentials(credentials)
                    .await
                    .map_err(|e| acme_err(e.to_string()));
            }
        }
    }
    let contact: Vec<String> = settings
        .email
        .iter()
        .map(|e| format!("mailto:{e}"))
        .collect();
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()
        .map_err(|e| acme_err(e.to_string()))?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            settings.directory.clone(),
            None,
        )
        .await
        .map_err(|e| acme_err(e.to_string()))?;
    let json = serde_json::to_vec(&credentials).expect("credentials serialise");
    for proxy in proxies {
        proxy
            .engine
            .upload_files(
                &proxy.spec.name,
                &[FileUpload::new(path.clone(), json.clone(), 0o600)],
            )
            .await
            .map_err(|e| proxy_err(e.into()))?;
    }
    Ok(account)
}

/// A challenge token as a file name: ACME tokens are base64url.
fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Gets a certificate for `host` from the ACME server, answering its HTTP-01 challenge on every
/// proxy of the target (whichever host the name resolves to answers it). Returns the chain and
/// its new key, both PEM. Nothing is installed.
pub async fn issue(
    proxies: &[Proxy<'_>],
    host: &str,
    settings: &AcmeSettings,
    sink: &dyn EventSink,
) -> Result<(String, String), TlsError> {
    let acme_err = |detail: String| TlsError::Acme {
        host: host.to_string(),
        directory: settings.directory.clone(),
        detail,
    };
    let proxy_err = |source| TlsError::Proxy {
        host: host.to_string(),
        source: Box::new(source),
    };
    check_host(host)
        .ok()
        .filter(|_| !host.starts_with('*'))
        .ok_or_else(|| TlsError::Refused {
            host: host.to_string(),
            why: "ACME's HTTP-01 challenge needs a plain DNS name (no wildcard): use `tls: {cert, key}`"
                .into(),
        })?;
    let account = account(proxies, settings, &acme_err, &proxy_err).await?;
    let identifiers = [Identifier::Dns(host.to_string())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| acme_err(e.to_string()))?;
    let mut tokens = Vec::new();
    let outcome = answer_and_finish(
        proxies,
        &mut order,
        &mut tokens,
        &acme_err,
        &proxy_err,
        sink,
    )
    .await;
    for token in &tokens {
        let rm = ExecCommand::new([
            "rm",
            "-f",
            &format!("{CHALLENGE_ROOT}/.well-known/acme-challenge/{token}"),
        ]);
        for proxy in proxies {
            let _ = proxy.engine.exec(&proxy.spec.name, &rm).await;
        }
    }
    outcome
}

async fn answer_and_finish(
    proxies: &[Proxy<'_>],
    order: &mut instant_acme::Order,
    tokens: &mut Vec<String>,
    acme_err: &dyn Fn(String) -> TlsError,
    proxy_err: &dyn Fn(ProxyError) -> TlsError,
    sink: &dyn EventSink,
) -> Result<(String, String), TlsError> {
    let mut authorizations = order.authorizations();
    while let Some(result) = authorizations.next().await {
        let mut authz = result.map_err(|e| acme_err(e.to_string()))?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(acme_err(format!("the authorization is {other:?}"))),
        }
        let mut challenge = authz
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| acme_err("the server offers no http-01 challenge".into()))?;
        let token = challenge.token.clone();
        if !token_ok(&token) {
            return Err(acme_err(format!(
                "the challenge token {token:?} is not base64url"
            )));
        }
        let answer = challenge.key_authorization().as_str().to_string();
        for proxy in proxies {
            proxy
                .engine
                .upload_files(
                    &proxy.spec.name,
                    &[FileUpload::new(
                        format!("{CHALLENGE_ROOT}/.well-known/acme-challenge/{token}"),
                        answer.clone().into_bytes(),
                        0o644,
                    )],
                )
                .await
                .map_err(|e| proxy_err(e.into()))?;
        }
        tokens.push(token);
        challenge
            .set_ready()
            .await
            .map_err(|e| acme_err(e.to_string()))?;
    }
    sink.emit(Event::new(
        "Certificate",
        "acme",
        Phase::Working,
        "challenge answered",
    ));
    let retries = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .timeout(Duration::from_secs(90));
    let status = order
        .poll_ready(&retries)
        .await
        .map_err(|e| acme_err(e.to_string()))?;
    if status != OrderStatus::Ready {
        return Err(acme_err(why_invalid(order).await));
    }
    let key = order
        .finalize()
        .await
        .map_err(|e| acme_err(e.to_string()))?;
    let chain = order
        .poll_certificate(&retries)
        .await
        .map_err(|e| acme_err(e.to_string()))?;
    Ok((chain, key))
}

/// The problem document of the failed challenge: what the ACME server says went wrong.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(authz)) = authorizations.next().await {
        for challenge in &authz.challenges {
            if let Some(problem) = &challenge.error {
                return match (&problem.detail, &problem.r#type) {
                    (Some(detail), Some(kind)) => format!("{detail} ({kind})"),
                    (Some(detail), None) => detail.clone(),
                    _ => problem.to_string(),
                };
            }
        }
    }
    "the order is invalid, and the server gave no reason".into()
}

/// A route's HTTPS, as a target's `route:`/`tls:` or `hoist deploy --tls` ask for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteTls {
    /// A host name the path route also answers, in a server of its own.
    pub also_host: Option<String>,
    /// The host name HTTPS is served for, and where its certificate comes from.
    pub tls: Option<(String, TlsWant)>,
    pub acme: AcmeSettings,
}

/// Puts `route`'s added host name on every proxy (when the route is there and has another),
/// then makes sure its certificate is served ([`ensure`]). Returns the host and what was done
/// for its certificate, when the route has HTTPS.
pub async fn apply_route_tls(
    proxies: &[Proxy<'_>],
    route: &str,
    want: &RouteTls,
    sink: &dyn EventSink,
) -> Result<Option<(String, Ensured)>, TlsError> {
    let hosts: Vec<String> = want.also_host.iter().cloned().collect();
    let in_route = |source| TlsError::Proxy {
        host: want.also_host.clone().unwrap_or_else(|| route.to_string()),
        source: Box::new(source),
    };
    for proxy in proxies {
        let table = proxy.config().await.map_err(in_route)?;
        if table.route(route).is_some_and(|r| r.hosts != hosts) {
            proxy
                .update(sink, |table| {
                    table.set_route_hosts(route, hosts.clone()).map(|_| ())
                })
                .await
                .map_err(in_route)?;
        }
    }
    let Some((host, tls)) = &want.tls else {
        return Ok(None);
    };
    let ensured = ensure(proxies, host, tls, &want.acme, false, sink).await?;
    Ok(Some((host.clone(), ensured)))
}

impl std::fmt::Display for Ensured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ensured::Kept { serial, days } => {
                write!(f, "certificate {serial} kept ({days} days left)")
            }
            Ensured::Installed { serial, why } => {
                write!(f, "certificate {serial} installed ({why})")
            }
        }
    }
}

/// What [`ensure`] did for a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// The certificate served is kept (days left).
    Kept { serial: String, days: i64 },
    /// A new one was installed, and why.
    Installed { serial: String, why: Due },
}

/// Makes sure every proxy serves a good certificate for `host`: the user's own files, or one
/// from the ACME server when none is served, it expires within [`RENEW_WITHIN_DAYS`], or
/// `force`. On any failure the certificate served so far stays.
pub async fn ensure(
    proxies: &[Proxy<'_>],
    host: &str,
    want: &TlsWant,
    settings: &AcmeSettings,
    force: bool,
    sink: &dyn EventSink,
) -> Result<Ensured, TlsError> {
    let Some(first) = proxies.first() else {
        return Err(TlsError::Refused {
            host: host.to_string(),
            why: "the target has no proxy".into(),
        });
    };
    let proxy_err = |source| TlsError::Proxy {
        host: host.to_string(),
        source: Box::new(source),
    };
    let served_now = served(first, host).await.map_err(proxy_err)?;
    // Every proxy must serve it: a host whose proxy lacks the entry gets it again.
    let mut everywhere = true;
    for proxy in &proxies[1..] {
        let table = proxy.config().await.map_err(proxy_err)?;
        let same = match (&served_now, table.certificate(host)) {
            (Some((entry, _)), Some(other)) => entry == other,
            _ => false,
        };
        everywhere &= same;
    }
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| TlsError::Refused {
            host: host.to_string(),
            why: format!("{}: {e}", path.display()),
        })
    };
    let (source, own) = match want {
        TlsWant::Acme => (CertSource::Acme, None),
        TlsWant::Own { cert, key } => (CertSource::Own, Some((read(cert)?, read(key)?))),
    };
    let own_serial = match &own {
        Some((cert, _)) => Some(
            parse_chain(cert)
                .map_err(|why| TlsError::Refused {
                    host: host.to_string(),
                    why,
                })?
                .serial,
        ),
        None => None,
    };
    let decided = renewal_due(
        host,
        source,
        served_now.as_ref().map(|(e, i)| (e, i)),
        own_serial.as_deref(),
        now(),
        force,
    );
    let why = match (decided, &served_now) {
        (Some(why), _) => why,
        (None, Some((entry, info))) if everywhere => {
            return Ok(Ensured::Kept {
                serial: entry.serial.clone(),
                days: info.days_left(now()),
            });
        }
        (None, _) => Due::Missing,
    };
    let (cert, key) = match own {
        Some(pair) => pair,
        None => {
            let reuse = served_now
                .as_ref()
                .filter(|_| matches!(why, Due::Missing) && !force);
            match reuse {
                // Served by some proxies only: copy it to the others, no new order.
                Some((entry, _)) => {
                    let read_back = |path: String| async move {
                        first
                            .engine
                            .download_file(&first.spec.name, &path)
                            .await
                            .map_err(|e| proxy_err(e.into()))?
                            .map(|f| f.contents)
                            .ok_or_else(|| TlsError::Refused {
                                host: host.to_string(),
                                why: format!("{path} is missing on {}", first.spec.name),
                            })
                    };
                    (
                        read_back(entry.cert_path()).await?,
                        read_back(entry.key_path()).await?,
                    )
                }
                None => {
                    let (chain, key) = issue(proxies, host, settings, sink).await?;
                    (chain.into_bytes(), key.into_bytes())
                }
            }
        }
    };
    let info = install(proxies, host, &cert, &key, source, sink).await?;
    Ok(Ensured::Installed {
        serial: info.serial,
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_for(names: &[&str], days: i64) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let now = time_now();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(days);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x1f, 0xa0]));
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn time_now() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }

    #[test]
    fn a_pair_is_checked_before_anything_is_installed() {
        let (cert, key) = cert_for(&["books.test"], 90);
        let info = check_pair("books.test", cert.as_bytes(), key.as_bytes(), now()).unwrap();
        assert_eq!(info.serial, "1fa0", "hex, leading zeros dropped");
        assert_eq!(info.names, ["books.test"]);
        assert!(
            (88..=90).contains(&info.days_left(now())),
            "{}",
            info.days_left(now())
        );

        let (_, other_key) = cert_for(&["books.test"], 90);
        let err =
            check_pair("books.test", cert.as_bytes(), other_key.as_bytes(), now()).unwrap_err();
        assert!(err.contains("does not match"), "{err}");

        let err = check_pair("shop.test", cert.as_bytes(), key.as_bytes(), now()).unwrap_err();
        assert!(err.contains("for books.test, not shop.test"), "{err}");

        let later = now() + 91 * 86_400;
        let err = check_pair("books.test", cert.as_bytes(), key.as_bytes(), later).unwrap_err();
        assert!(err.contains("expired"), "{err}");

        let err = check_pair("books.test", key.as_bytes(), key.as_bytes(), now()).unwrap_err();
        assert!(
            err.contains("not a CERTIFICATE") || err.contains("PEM"),
            "{err}"
        );
    }

    #[test]
    fn wildcards_cover_one_label() {
        let names = vec!["*.example.com".to_string()];
        assert!(covers(&names, "shop.example.com"));
        assert!(covers(&names, "SHOP.example.com"));
        assert!(!covers(&names, "a.shop.example.com"));
        assert!(!covers(&names, "example.com"));
    }

    #[test]
    fn renewal_is_due_when_missing_expiring_forced_or_changed() {
        let (cert, _) = cert_for(&["books.test"], 90);
        let info = parse_chain(cert.as_bytes()).unwrap();
        let entry = Certificate {
            host: "books.test".into(),
            serial: info.serial.clone(),
            source: CertSource::Acme,
        };
        let t = now();
        let due = |served, own: Option<&str>, at, force| {
            renewal_due("books.test", CertSource::Acme, served, own, at, force)
        };
        assert_eq!(due(None, None, t, false), Some(Due::Missing));
        assert_eq!(
            due(Some((&entry, &info)), None, t, false),
            None,
            "89 days left"
        );
        assert_eq!(due(Some((&entry, &info)), None, t, true), Some(Due::Forced));
        let in_70_days = t + 70 * 86_400;
        assert!(matches!(
            due(Some((&entry, &info)), None, in_70_days, false),
            Some(Due::Expiring { days: 19 | 20 })
        ));
        let own =
            |served, serial| renewal_due("books.test", CertSource::Own, served, serial, t, false);
        assert_eq!(
            own(Some((&entry, &info)), Some("1fa0")),
            Some(Due::OtherSource)
        );
        let mine = Certificate {
            source: CertSource::Own,
            ..entry.clone()
        };
        assert_eq!(own(Some((&mine, &info)), Some("1fa0")), None, "same files");
        assert_eq!(own(Some((&mine, &info)), Some("beef")), Some(Due::Changed));
        assert_eq!(
            renewal_due(
                "shop.test",
                CertSource::Acme,
                Some((&entry, &info)),
                None,
                t,
                false
            ),
            Some(Due::NotCovering)
        );
    }

    #[test]
    fn challenge_tokens_are_base64url_only() {
        assert!(token_ok("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
        assert!(!token_ok("../../etc/passwd"));
        assert!(!token_ok(""));
        assert!(!token_ok("a b"));
    }
}
