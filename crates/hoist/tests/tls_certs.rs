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
