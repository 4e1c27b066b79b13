//! `hoist tls`: the files it writes make a TLS server that accepts a client presenting the
//! client certificate and refuses one without it, as a dockerd started with `--tlsverify` does
//! (the handshake here is rustls on both sides, over loopback).

use std::process::Command;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn certs(path: &std::path::Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn key(path: &std::path::Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap()
}

/// Serves one TLS connection that must present a certificate signed by `ca.pem`; echoes a
/// line. Returns whether the handshake succeeded.
async fn serve_once(dir: &std::path::Path) -> (u16, tokio::task::JoinHandle<bool>) {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&dir.join("ca.pem")) {
        roots.add(c).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs(&dir.join("server-cert.pem")),
            key(&dir.join("server-key.pem")),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        match acceptor.accept(tcp).await {
            Ok(mut tls) => {
                let mut buf = [0u8; 5];
                tls.read_exact(&mut buf).await.is_ok() && tls.write_all(&buf).await.is_ok()
            }
            Err(_) => false,
        }
    });
    (port, server)
}

fn client(dir: &std::path::Path, with_cert: bool) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&dir.join("ca.pem")) {
        roots.add(c).unwrap();
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    match with_cert {
        true => builder
            .with_client_auth_cert(certs(&dir.join("cert.pem")), key(&dir.join("key.pem")))
            .unwrap(),
        false => builder.with_no_client_auth(),
    }
}

/// Connects to the server as `127.0.0.1` (a name the server certificate must carry) and
/// exchanges a line; whether that worked.
async fn talk(port: u16, config: rustls::ClientConfig) -> bool {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let Ok(mut tls) = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
    else {
        return false;
    };
    let mut buf = [0u8; 5];
    tls.write_all(b"hello").await.is_ok() && tls.read_exact(&mut buf).await.is_ok()
}

#[tokio::test]
async fn hoist_tls_files_let_a_client_with_its_certificate_in_and_keep_others_out() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("certs");
    let out = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args([
            "tls",
            dir.to_str().unwrap(),
            "--host",
            "engine.test",
            "--host",
            "10.9.9.9",
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("dockerd --tlsverify"), "{printed}");
    assert!(printed.contains("DOCKER_CERT_PATH="), "{printed}");
    for (name, mode) in [
        ("ca-key.pem", 0o600),
        ("server-key.pem", 0o600),
        ("key.pem", 0o600),
        ("ca.pem", 0o644),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let got = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(got, mode, "{name}");
    }

    let (port, server) = serve_once(&dir).await;
    assert!(
        talk(port, client(&dir, true)).await,
        "the client certificate is accepted"
    );
    assert!(server.await.unwrap());

    let (port, server) = serve_once(&dir).await;
    assert!(
        !talk(port, client(&dir, false)).await,
        "a client without a certificate is refused"
    );
    assert!(!server.await.unwrap());

    // Nothing is overwritten.
    let again = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(["tls", dir.to_str().unwrap(), "--host", "engine.test"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("ca.pem exists"));
}

/// The dev environment's prod-tls engine is a real dockerd started with the certificates
/// `hoist tls` made (`scripts/dev-env`): hoist and the docker CLI get in with the client
/// certificate; a client without one is refused in the handshake.
#[tokio::test]
async fn a_dockerd_started_with_hoist_tls_certificates_takes_only_clients_with_one() {
    if hoist_testkit::engine("prod-tls").await.is_none() {
        return;
    }
    let store = hoist_testkit::state_dir().join("certs");
    assert!(
        store.join(".made-by-hoist").exists(),
        "prod-tls's certificates were not made by hoist tls (scripts/dev-env up makes them)"
    );
    let client = store.join("client");
    let hoist = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .env_remove("DOCKER_HOST")
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &client)
        .args(["-H", "tcp://10.200.0.3:2376", "version"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&hoist.stdout);
    assert!(hoist.status.success() && said.contains("Docker"), "{said}");
    let docker = Command::new("docker")
        .env_remove("DOCKER_HOST")
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &client)
        .args([
            "-H",
            "tcp://10.200.0.3:2376",
            "version",
            "--format",
            "{{.Server.Version}}",
        ])
        .output()
        .unwrap();
    assert!(
        docker.status.success(),
        "{}",
        String::from_utf8_lossy(&docker.stderr)
    );

    // The engine's CA is trusted, but no client certificate is shown.
    let without = Command::new("curl")
        .args(["-sS", "-m", "10", "--cacert"])
        .arg(client.join("ca.pem"))
        .arg("https://10.200.0.3:2376/_ping")
        .output()
        .unwrap();
    assert!(
        !without.status.success(),
        "the engine answered a client without a certificate: {}",
        String::from_utf8_lossy(&without.stdout)
    );
    let with = Command::new("curl")
        .args(["-sS", "-m", "10", "--cacert"])
        .arg(client.join("ca.pem"))
        .arg("--cert")
        .arg(client.join("cert.pem"))
        .arg("--key")
        .arg(client.join("key.pem"))
        .arg("https://10.200.0.3:2376/_ping")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&with.stdout), "OK");
    // And rustls, as hoist's own transport, without a certificate: refused too.
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&client.join("ca.pem")) {
        roots.add(c).unwrap();
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect("10.200.0.3:2376")
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("10.200.0.3").unwrap();
    let refused = match connector.connect(name, tcp).await {
        Err(_) => true,
        Ok(mut tls) => {
            // TLS 1.3: the server's refusal arrives with the first read.
            let _ = tls
                .write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                .await;
            let mut buf = [0u8; 64];
            !matches!(tls.read(&mut buf).await, Ok(n) if n > 0)
        }
    };
    assert!(refused, "a client without a certificate got an answer");
}
