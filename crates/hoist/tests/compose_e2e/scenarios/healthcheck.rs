//! `pkg/e2e/healthcheck_test.go`.

use std::time::{Duration, Instant};

use crate::harness::{Opts, scenario};

#[test]
fn test_start_interval() {
    const P: &str = "e2e-start-interval";
    const FILE: &str = "fixtures/start_interval/compose.yaml";
    scenario(
        "healthcheck_test.go:TestStartInterval",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "-f",
                FILE,
                "--project-name",
                P,
                "up",
                "--wait",
                "-d",
                "error",
            ]);
            c.exit_code(&res, 1);
            c.contains(
                res.stderr(),
                "healthcheck.start_interval requires healthcheck.start_period to be set",
            );

            let started = Instant::now();
            let res = c.compose(&[
                "-f",
                FILE,
                "--project-name",
                P,
                "up",
                "--wait",
                "-d",
                "test",
            ]);
            let out = res.combined();
            c.contains(&out, "Healthy");
            let took = started.elapsed();
            c.check(
                took < Duration::from_secs(30),
                "test finishes within 30s",
                &format!("took {took:?}"),
            );

            // t.Cleanup: cleanupWithDown
            c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
        },
    );
}
