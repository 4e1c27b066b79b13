//! The post-deployment integration test (the book's `ServiceInteg`, run by `books-ms-tests`).
//!
//! The original made one check: `GET $DOMAIN/api/v1/books` answers 200. This one also writes,
//! reads and deletes a book with a reserved `_id`, so a deployment whose database is unreachable
//! or read-only fails too, and it leaves no data behind: the book is deleted even when a check in
//! between failed.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::{Endpoint, Response, request};

/// The `_id` the round trip writes and deletes. Keep it out of real data.
pub const RESERVED_ID: i32 = i32::MAX;

/// How many checks passed and failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub passed: usize,
    pub failed: usize,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

struct Checks<'a> {
    endpoint: &'a Endpoint,
    timeout: Duration,
    out: &'a mut dyn Write,
    outcome: Outcome,
}

impl Checks<'_> {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Response, String> {
        let body = body.map(|b| b.to_string());
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        request(
            self.endpoint,
            method,
            path,
            headers,
            body.as_deref().map(str::as_bytes),
            self.timeout,
        )
        .map_err(|err| format!("no response: {err}"))
    }

    /// Runs one check and prints `WHAT ... ok` or `WHAT ... FAILED: why`.
    fn check(&mut self, what: String, result: impl FnOnce(&Self) -> Result<(), String>) -> bool {
        let result = result(self);
        let _ = match &result {
            Ok(()) => writeln!(self.out, "{what} ... ok"),
            Err(why) => writeln!(self.out, "{what} ... FAILED: {why}"),
        };
        match result {
            Ok(()) => self.outcome.passed += 1,
            Err(_) => self.outcome.failed += 1,
        }
        result.is_ok()
    }
}

fn expect_status(response: &Response, status: u16) -> Result<(), String> {
    if response.status == status {
        Ok(())
    } else {
        Err(format!(
            "expected status {status}, got {}: {}",
            response.status,
            response.text().chars().take(200).collect::<String>()
        ))
    }
}

fn expect_json(response: &Response, expected: &Value) -> Result<(), String> {
    expect_status(response, 200)?;
    let found = response
        .json()
        .map_err(|err| format!("the body is not JSON ({err}): {}", response.text()))?;
    if &found == expected {
        Ok(())
    } else {
        Err(format!("expected {expected}, got {found}"))
    }
}

/// Runs the checks against `endpoint`, writing one line per check and a summary to `out`.
pub fn run(endpoint: &Endpoint, timeout: Duration, out: &mut dyn Write) -> Outcome {
    let mut checks = Checks {
        endpoint,
        timeout,
        out,
        outcome: Outcome {
            passed: 0,
            failed: 0,
        },
    };
    let list = "/api/v1/books";
    let one = format!("/api/v1/books/_id/{RESERVED_ID}");
    let book = json!({
        "_id": RESERVED_ID,
        "title": "books-ms-tests round trip",
        "author": "books-ms-tests",
        "description": "written and deleted by the post-deployment test"
    });

    let listed = checks.check(
        format!("GET {} should return OK", endpoint.url(list)),
        |c| {
            let response = c.call("GET", list, None)?;
            expect_status(&response, 200)?;
            match response.json() {
                Ok(Value::Array(_)) => Ok(()),
                _ => Err(format!("expected a JSON array, got {}", response.text())),
            }
        },
    );
    if listed {
        let written = checks.check(
            format!(
                "PUT {} with _id {RESERVED_ID} should echo the book",
                endpoint.url(list)
            ),
            |c| expect_json(&c.call("PUT", list, Some(&book))?, &book),
        );
        let mut deleted = false;
        if written {
            checks.check(
                format!("GET {} should return the book", endpoint.url(&one)),
                |c| expect_json(&c.call("GET", &one, None)?, &book),
            );
            deleted = checks.check(
                format!(
                    "DELETE {} should return the deleted book",
                    endpoint.url(&one)
                ),
                |c| expect_json(&c.call("DELETE", &one, None)?, &book),
            );
            if deleted {
                checks.check(
                    format!("GET {} after DELETE should return 404", endpoint.url(&one)),
                    |c| expect_status(&c.call("GET", &one, None)?, 404),
                );
            }
        }
        if !deleted {
            // The PUT may have stored the book even if its answer was wrong: try to remove it.
            let cleanup = checks.call("DELETE", &one, None);
            let _ = writeln!(
                checks.out,
                "cleanup: DELETE {} -> {}",
                endpoint.url(&one),
                match cleanup {
                    Ok(r) => r.status.to_string(),
                    Err(err) => err,
                }
            );
        }
    } else {
        let _ = writeln!(
            checks.out,
            "the service does not answer; the PUT/GET/DELETE round trip was not run"
        );
    }
    let outcome = checks.outcome;
    let _ = writeln!(
        checks.out,
        "{} checks passed, {} failed",
        outcome.passed, outcome.failed
    );
    outcome
}
