//! The dashboard served over HTTPS on a real socket, with a certificate made for the test: a
//! login over TLS gets a cookie marked Secure, HttpOnly and SameSite=Strict, and the server
//! stops promptly when told to.

use std::sync::Arc;
use std::time::Duration;

use hoist_web::{AppState, SqliteHistory, serve, tls_config};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// Sends one HTTP/1.1 request over TLS, trusting only `ca`, and returns the whole answer.
async fn https(port: u16, ca: &CertificateDer<'static>, request: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the dashboard");
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_login_over_https_gets_a_secure_cookie() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("hoist-web-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();

    // A key file that is not there is named.
    let missing = dir.join("nope.pem");
    let err = tls_config(&cert_path, &missing).unwrap_err().to_string();
    assert!(err.contains("nope.pem"), "{err}");

    let config = tls_config(&cert_path, &key_path).unwrap();
    let state = AppState::new(
        vec![],
        Some(TOKEN.into()),
        false,
        Arc::new(SqliteHistory::in_memory().unwrap()),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, state, Some(config), async {
        let _ = stopped.await;
    }));

    let ca = cert.cert.der().clone();
    let form = format!("name=ann&token={TOKEN}");
    let answer = https(
        port,
        &ca,
        &format!(
            "POST /login HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: https://localhost:{port}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{form}",
            form.len()
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {answer}"));
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // The session works over the same HTTPS.
    let session = cookie
        .split_once(':')
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .trim();
    let page = https(
        port,
        &ca,
        &format!(
            "GET /api/runs HTTP/1.1\r\nHost: localhost:{port}\r\nCookie: {session}\r\n\
             Connection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");

    // Plain HTTP on the HTTPS port gets no page.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("the server stops within the drain time")
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
