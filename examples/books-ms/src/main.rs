//! The books-ms service: resolves its settings, waits for the database, serves on port 8080 and
//! stops promptly on SIGTERM or SIGINT.

use std::process::ExitCode;
use std::sync::Arc;

use books_ms::config::Config;
use books_ms::db::Db;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> ExitCode {
    // `books-ms health`: a container health check that needs nothing in the image but this
    // binary (no curl): 0 when the service answers its list with 200.
    if std::env::args().nth(1).as_deref() == Some("health") {
        return health();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BOOKS_MS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    // Listen for the stop signals before anything slow: as PID 1 in a container the default
    // action of SIGTERM is to be ignored, so without a handler `docker stop` would wait 10 s.
    let mut stop = Box::pin(stop_signal()?);
    tracing::info!(
        "books-ms {} starting; database {}:{}/{}",
        config.version,
        config.db_host,
        config.db_port,
        config.db_name
    );
    let db = tokio::select! {
        db = Db::connect(&config) => Arc::new(db?),
        () = &mut stop => {
            tracing::info!("stopped while waiting for the database");
            return Ok(());
        }
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(
        "books-ms {} listening on {}",
        config.version,
        listener.local_addr()?
    );
    let router = books_ms::http::app(db, &config.version);
    books_ms::serve(listener, router, stop, books_ms::SHUTDOWN_GRACE).await;
    Ok(())
}

/// `GET /api/v1/books` on this container's port 8080, within two seconds.
fn health() -> ExitCode {
    use std::io::{Read, Write};
    let check = || -> std::io::Result<bool> {
        let timeout = std::time::Duration::from_secs(2);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
        let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(b"GET /api/v1/books HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    match check() {
        Ok(true) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!("{name} received; finishing in-flight requests");
    })
}
