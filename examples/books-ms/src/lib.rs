//! books-ms: the reference service of *The DevOps 2.0 Toolkit* (a small REST API over a database
//! of books), with the same HTTP contract as the original and PostgreSQL instead of MongoDB, and
//! the post-deployment integration test that the pipeline runs against it.
//!
//! - [`config`]: settings from the environment (legacy-link variables first).
//! - [`db`]: the books table, a reconnecting pool, the bounded wait at start; [`cache`]: the
//!   rendered list, kept until the table changes.
//! - [`http`]: routes, statuses and headers.
//! - [`client`] and [`integ`]: a dependency-free HTTP/1.1 client and the integration test run by
//!   the `books-ms-tests` binary (and by this crate's own tests).

pub mod book;
pub mod cache;
pub mod client;
pub mod config;
pub mod db;
pub mod http;
pub mod integ;

use std::future::{Future, IntoFuture};
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

/// How long in-flight requests may take to finish after the stop signal. `docker stop` waits
/// 10 s before killing; we promise to be gone within a second.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish for at most `grace` and returns. Idle keep-alive connections are closed at
/// once, so they do not hold the stop.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Responses are written whole; without NODELAY the last segment of a response can wait for
    // the client's delayed ACK, adding up to 40 ms to a request.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .into_future();
    let mut server = tokio::spawn(server);
    tokio::select! {
        _ = &mut server => return,
        () = shutdown => {}
    }
    let _ = stop.send(());
    let started = Instant::now();
    match tokio::time::timeout(grace, &mut server).await {
        Ok(_) => tracing::info!("stopped after {} ms", started.elapsed().as_millis()),
        Err(_) => {
            server.abort();
            tracing::warn!(
                "requests still running after {} ms; stopping anyway",
                grace.as_millis()
            );
        }
    }
}
