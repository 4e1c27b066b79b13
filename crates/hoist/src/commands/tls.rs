//! `hoist tls DIR --host NAME...`: the certificates that protect an engine's remote API, as
//! Docker's "Protect the Docker daemon socket" page makes them with `openssl`, made with a
//! library instead: a CA, a server certificate for the engine's names and addresses, and a client
//! certificate, in the `DOCKER_CERT_PATH` layout. Keys are written 0600, certificates 0644, and
//! nothing that exists is overwritten.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

#[derive(Debug, Args, Clone)]
pub struct TlsArgs {
    /// Where to write the files (created when missing).
    pub dir: PathBuf,
    /// A DNS name or IP address the engine is reached at (repeatable); 127.0.0.1 is always added.
    #[arg(long = "host", required = true)]
    pub hosts: Vec<String>,
    /// How long the certificates are valid, in days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
}

/// The files `hoist tls` writes: name, whether it is a private key.
const FILES: [(&str, bool); 6] = [
    ("ca.pem", false),
    ("ca-key.pem", true),
    ("server-cert.pem", false),
    ("server-key.pem", true),
    ("cert.pem", false),
    ("key.pem", true),
];

pub fn run(args: &TlsArgs) -> anyhow::Result<ExitCode> {
    for (name, _) in FILES {
        let path = args.dir.join(name);
        if path.exists() {
            anyhow::bail!(
                "{} exists: hoist tls writes a new CA and its certificates and overwrites nothing \
                 (choose another folder, or move these files away)",
                path.display()
            );
        }
    }
    let files = generate(&args.hosts, args.days, now_days())?;
    std::fs::create_dir_all(&args.dir)?;
    for ((name, private), text) in FILES.iter().zip(files) {
        write_file(&args.dir.join(name), &text, *private)?;
    }
    print!("{}", instructions(&args.dir, &args.hosts));
    Ok(ExitCode::SUCCESS)
}

/// PEM texts in the order of [`FILES`]: CA, CA key, server certificate and key, client
/// certificate and key. `today` is days since 1970-01-01.
fn generate(hosts: &[String], days: u32, today: i64) -> anyhow::Result<[String; 6]> {
    let (from, to) = (civil(today), civil(today + i64::from(days)));
    let window = |p: &mut CertificateParams| {
        p.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        p.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    };

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name = name("hoist CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    window(&mut ca);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::from_params(&ca, &ca_key);

    let mut server = CertificateParams::new(Vec::<String>::new())?;
    server.distinguished_name = name(&hosts[0]);
    let mut names: Vec<String> = hosts.to_vec();
    if !names.iter().any(|h| h == "127.0.0.1") {
        names.push("127.0.0.1".into());
    }
    for host in &names {
        server.subject_alt_names.push(match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.clone().try_into()?),
        });
    }
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    window(&mut server);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;

    let mut client = CertificateParams::new(Vec::<String>::new())?;
    client.distinguished_name = name("client");
    client.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    window(&mut client);
    let client_key = KeyPair::generate()?;
    let client_cert = client.signed_by(&client_key, &issuer)?;

    Ok([
        ca_cert.pem(),
        ca_key.serialize_pem(),
        server_cert.pem(),
        server_key.serialize_pem(),
        client_cert.pem(),
        client_key.serialize_pem(),
    ])
}

fn name(common: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common);
    dn
}

/// Writes `text` to a new file, 0600 for keys (set when the file is made, never wider) and 0644
/// for certificates.
fn write_file(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mode = if private { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// How to use the files, for the engine and for the client.
fn instructions(dir: &Path, hosts: &[String]) -> String {
    let d = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let d = d.display();
    let host = &hosts[0];
    format!(
        "Wrote {d}/{{ca.pem,ca-key.pem,server-cert.pem,server-key.pem,cert.pem,key.pem}}.\n\n\
         On the engine's host, start dockerd with:\n  \
         dockerd --tlsverify --tlscacert={d}/ca.pem --tlscert={d}/server-cert.pem \
         --tlskey={d}/server-key.pem -H=0.0.0.0:2376\n\
         or in /etc/docker/daemon.json (without -H in the service's command line):\n  \
         {{\"tlsverify\": true, \"tlscacert\": \"{d}/ca.pem\", \"tlscert\": \"{d}/server-cert.pem\", \
         \"tlskey\": \"{d}/server-key.pem\", \"hosts\": [\"tcp://0.0.0.0:2376\"]}}\n\n\
         On the client (hoist or the docker CLI):\n  \
         export DOCKER_HOST=tcp://{host}:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={d}\n\
         Keep ca-key.pem off the engine's host: it signs certificates the engine trusts.\n"
    )
}

/// Days since 1970-01-01, today (UTC).
fn now_days() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    (secs / 86_400) as i64
}

/// The civil date (year, month, day) of `days` since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_are_right_around_leap_years() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(20_793), (2026, 12, 6));
    }
}
