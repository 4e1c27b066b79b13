//! `pkg/e2e/compose_up_test.go`.
//!
//! Not transcribed: `TestLoggingDriver` (its fixture `logging-driver` is not in the upstream
//! fixtures here).

use crate::harness::{Opts, scenario};

#[test]
fn test_up_wait() {
    const P: &str = "e2e-deps-wait";
    scenario(
        "compose_up_test.go:TestUpWait",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let started = std::time::Instant::now();
            let res = c.compose(&[
                "-f",
                "fixtures/dependencies/deps-completed-successfully.yaml",
                "--project-name",
                P,
                "up",
                "--wait",
                "-d",
            ]);
            c.contains(&res.combined(), "e2e-deps-wait-oneshot-1");
            let elapsed = started.elapsed();
            c.check(
                elapsed < std::time::Duration::from_secs(30),
                "test finishes in time (30s)",
                &format!("took {elapsed:?}"),
            );
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_up_exit_code_from() {
    const P: &str = "e2e-exit-code-from";
    scenario(
        "compose_up_test.go:TestUpExitCodeFrom",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "-f",
                "fixtures/start-fail/start-depends_on-long-lived.yaml",
                "--project-name",
                P,
                "up",
                "--menu=false",
                "--exit-code-from=failure",
                "failure",
            ]);
            c.exit_code(&res, 42);
            c.compose(&["--project-name", P, "down", "--remove-orphans"]);
        },
    );
}

#[test]
fn test_up_exit_code_from_container_killed() {
    const P: &str = "e2e-exit-code-from-kill";
    scenario(
        "compose_up_test.go:TestUpExitCodeFromContainerKilled",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "-f",
                "fixtures/start-fail/start-depends_on-long-lived.yaml",
                "--project-name",
                P,
                "up",
                "--menu=false",
                "--exit-code-from=test",
            ]);
            c.exit_code(&res, 143);
            c.compose(&["--project-name", P, "down", "--remove-orphans"]);
        },
    );
}

#[test]
fn test_port_range() {
    const P: &str = "e2e-port-range";
    scenario(
        "compose_up_test.go:TestPortRange",
        Opts {
            projects: &[P],
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            let reset = |c: &mut crate::harness::Cli| {
                c.compose(&[
                    "--project-name",
                    P,
                    "down",
                    "--remove-orphans",
                    "--timeout=0",
                ]);
            };
            reset(c);
            let res = c.compose_no_check(&[
                "-f",
                "fixtures/port-range/compose.yaml",
                "--project-name",
                P,
                "up",
                "-d",
            ]);
            c.exit_code(&res, 0);
            reset(c);
        },
    );
}

#[test]
fn test_stdout_stderr() {
    const P: &str = "e2e-stdout-stderr";
    scenario(
        "compose_up_test.go:TestStdoutStderr",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "-f",
                "fixtures/stdout-stderr/compose.yaml",
                "--project-name",
                P,
                "up",
                "--menu=false",
            ]);
            // icmd.Expected{Out, Err}: exit 0 and both outputs contain their text
            c.exit_code(&res, 0);
            c.contains(res.stdout(), "log to stdout");
            c.contains(res.stderr(), "log to stderr");
            c.compose(&["--project-name", P, "down", "--remove-orphans"]);
        },
    );
}
