//! `pkg/e2e/cascade_test.go`.

use crate::harness::{Opts, scenario};

#[test]
fn test_cascade_stop() {
    const P: &str = "compose-e2e-cascade-stop";
    scenario(
        "cascade_test.go:TestCascadeStop",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "-f",
                "./fixtures/cascade/compose.yaml",
                "--project-name",
                P,
                "up",
                "--abort-on-container-exit",
            ]);
            c.contains(&res.combined(), "exit-1 exited with code 0");
            // no --exit-code-from, so this is not an error
            c.exit_code(&res, 0);
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_cascade_fail() {
    const P: &str = "compose-e2e-cascade-fail";
    scenario(
        "cascade_test.go:TestCascadeFail",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "-f",
                "./fixtures/cascade/compose.yaml",
                "--project-name",
                P,
                "up",
                "--abort-on-container-failure",
            ]);
            c.contains(&res.combined(), "exit-1 exited with code 0");
            c.contains(&res.combined(), "fail-1 exited with code 111");
            // failing exit code should be propagated
            c.exit_code(&res, 111);
            c.compose(&["--project-name", P, "down"]);
        },
    );
}
