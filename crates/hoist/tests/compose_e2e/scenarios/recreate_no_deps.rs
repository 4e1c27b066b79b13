//! `pkg/e2e/recreate_no_deps_test.go`.

use crate::harness::{Opts, scenario};
use crate::scenarios::up::require_service_state;

#[test]
fn test_recreate_with_no_deps() {
    const P: &str = "recreate-no-deps";
    scenario(
        "recreate_no_deps_test.go:TestRecreateWithNoDeps",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=recreate-no-deps"]);
            let file = "fixtures/dependencies/recreate-no-deps.yaml";
            let res = c.compose_no_check(&["-f", file, "up", "-d"]);
            c.exit_code(&res, 0);
            let res = c.compose_no_check(&[
                "-f",
                file,
                "up",
                "-d",
                "--force-recreate",
                "--no-deps",
                "my-service",
            ]);
            c.exit_code(&res, 0);
            require_service_state(c, "my-service", "running");
            c.compose(&["down"]);
        },
    );
}
