//! `books-ms-tests`: the post-deployment integration test. Reads the service's address from
//! `DOMAIN` (default `http://localhost:8080`, as in the original), prints each check and exits
//! 0 when all passed, 1 when one failed, 2 when `DOMAIN` is unusable.

use std::process::ExitCode;
use std::time::Duration;

use books_ms::client::Endpoint;

fn main() -> ExitCode {
    let domain = std::env::var("DOMAIN")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| "http://localhost:8080".to_string());
    let timeout = std::env::var("TIMEOUT_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(10), Duration::from_secs_f64);
    let endpoint = match Endpoint::parse(&domain) {
        Ok(endpoint) => endpoint,
        Err(err) => {
            eprintln!("books-ms-tests: DOMAIN={err}");
            return ExitCode::from(2);
        }
    };
    println!("books-ms integration test against {}", endpoint.url(""));
    let outcome = books_ms::integ::run(&endpoint, timeout, &mut std::io::stdout());
    if outcome.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
