//! `pkg/e2e/hooks_test.go`.

use crate::harness::{Opts, scenario};

#[test]
fn test_post_start_hook_in_error() {
    const P: &str = "hooks-post-start-failure";
    scenario(
        "hooks_test.go:TestPostStartHookInError",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "-f",
                "fixtures/hooks/poststart/compose-error.yaml",
                "--project-name",
                P,
                "up",
                "-d",
            ]);
            c.exit_code(&res, 1);
            c.contains(&res.combined(), "test hook exited with status 127");
            // t.Cleanup
            c.compose(&[
                "--project-name",
                P,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
            ]);
        },
    );
}

#[test]
fn test_post_start_hook_success() {
    const P: &str = "hooks-post-start-success";
    scenario(
        "hooks_test.go:TestPostStartHookSuccess",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&[
                "-f",
                "fixtures/hooks/poststart/compose-success.yaml",
                "--project-name",
                P,
                "up",
                "-d",
            ]);
            c.exit_code(&res, 0);
            // t.Cleanup
            c.compose(&[
                "--project-name",
                P,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
            ]);
        },
    );
}

#[test]
fn test_pre_stop_hook_success() {
    const P: &str = "hooks-pre-stop-success";
    const F: &str = "fixtures/hooks/prestop/compose-success.yaml";
    scenario(
        "hooks_test.go:TestPreStopHookSuccess",
        Opts {
            projects: &[P],
            // the fixture's volume has a fixed name (`sample-data`), shared with other tests
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&["-f", F, "--project-name", P, "up", "-d"]);
            c.exit_code(&res, 0);
            let res = c.compose(&[
                "-f",
                F,
                "--project-name",
                P,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
            ]);
            c.exit_code(&res, 0);
            // t.Cleanup
            c.compose(&[
                "-f",
                F,
                "--project-name",
                P,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
            ]);
        },
    );
}

#[test]
fn test_pre_stop_hook_in_error() {
    const P: &str = "hooks-pre-stop-failure";
    const F: &str = "fixtures/hooks/prestop/compose-error.yaml";
    scenario(
        "hooks_test.go:TestPreStopHookInError",
        Opts {
            projects: &[P],
            // the fixture's volume has a fixed name (`sample-data`), shared with other tests
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&["-f", F, "--project-name", P, "up", "-d"]);
            c.exit_code(&res, 0);
            let res = c.compose_no_check(&[
                "-f",
                F,
                "--project-name",
                P,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
            ]);
            c.exit_code(&res, 1);
            c.contains(&res.combined(), "sample hook exited with status 127");
            // t.Cleanup
            c.compose(&[
                "-f",
                "fixtures/hooks/prestop/compose-success.yaml",
                "--project-name",
                P,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
            ]);
        },
    );
}

#[test]
fn test_pre_stop_hook_success_with_previous_stop() {
    const P: &str = "hooks-pre-stop-success-with-previous-stop";
    const F: &str = "fixtures/hooks/compose.yaml";
    scenario(
        "hooks_test.go:TestPreStopHookSuccessWithPreviousStop",
        Opts {
            projects: &[P],
            // the fixture's volume has a fixed name (`sample-data`), shared with the next test
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&["-f", F, "--project-name", P, "up", "-d"]);
            c.exit_code(&res, 0);
            let res = c.compose(&["-f", F, "--project-name", P, "stop", "sample"]);
            c.exit_code(&res, 0);
            // t.Cleanup
            let res = c.compose(&[
                "-f",
                F,
                "--project-name",
                P,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
            ]);
            c.exit_code(&res, 0);
        },
    );
}

#[test]
fn test_post_start_and_pre_stop_hook() {
    const P: &str = "hooks-post-start-and-pre-stop";
    const F: &str = "fixtures/hooks/compose.yaml";
    scenario(
        "hooks_test.go:TestPostStartAndPreStopHook",
        Opts {
            projects: &[P],
            // the fixture's volume has a fixed name (`sample-data`), shared with the previous test
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&["-f", F, "--project-name", P, "up", "-d"]);
            c.exit_code(&res, 0);
            // t.Cleanup
            let res = c.compose(&[
                "-f",
                F,
                "--project-name",
                P,
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
            ]);
            c.exit_code(&res, 0);
        },
    );
}
