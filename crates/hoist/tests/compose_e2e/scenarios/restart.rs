//! `pkg/e2e/restart_test.go`.

use std::time::Duration;

use crate::harness::{Opts, scenario};
use crate::scenarios::start_stop::assert_service_status;

#[test]
fn test_restart() {
    const P: &str = "e2e-restart";
    scenario(
        "restart_test.go:TestRestart",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.compose(&["--project-name", P, "down"]);
            let res = c.compose(&[
                "-f",
                "./fixtures/restart-test/compose.yaml",
                "--project-name",
                P,
                "up",
                "-d",
            ]);
            c.contains(&res.combined(), "Container e2e-restart-restart-1  Started");
            c.poll(
                "ps -a --format json shows an exited container",
                Duration::from_secs(10),
                Duration::from_secs(1),
                |c| {
                    let res = c.compose(&["--project-name", P, "ps", "-a", "--format", "json"]);
                    res.stdout().contains(r#""State":"exited""#)
                },
            );
            let res = c.compose(&["--project-name", P, "ps", "-a"]);
            assert_service_status(c, P, "restart", "Exited", res.stdout());
            c.compose(&[
                "-f",
                "./fixtures/restart-test/compose.yaml",
                "--project-name",
                P,
                "restart",
            ]);
            std::thread::sleep(Duration::from_secs(1));
            let res = c.compose(&["--project-name", P, "ps"]);
            assert_service_status(c, P, "restart", "Up", res.stdout());
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_restart_with_dependencies() {
    const P: &str = "e2e-restart-deps";
    scenario(
        "restart_test.go:TestRestartWithDependencies",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=e2e-restart-deps"]);
            let file = "./fixtures/restart-test/compose-depends-on.yaml";
            c.compose(&["-f", file, "up", "-d"]);
            let res = c.compose(&["restart", "nginx"]);
            let out = res.combined();
            c.contains(&out, &format!("Container {P}-nginx-1  Restarting"));
            c.contains(&out, &format!("Container {P}-nginx-1  Healthy"));
            c.contains(&out, &format!("Container {P}-with-restart-1  Started"));
            c.not_contains(&out, "no-restart");

            let res = c.compose_env(&["LABEL=recreate"], &["-f", file, "up", "-d"]);
            c.exit_code(&res, 0);
            let out = res.combined();
            c.contains(&out, &format!("Container {P}-with-restart-1  Stopped"));
            c.contains(&out, &format!("Container {P}-nginx-1  Recreated"));
            c.contains(&out, &format!("Container {P}-nginx-1  Healthy"));
            c.contains(&out, &format!("Container {P}-with-restart-1  Started"));
            c.contains(&out, &format!("Container {P}-no-restart-1  Running"));
            c.compose(&["down", "--remove-orphans"]);
        },
    );
}

#[test]
fn test_restart_with_profiles() {
    const P: &str = "e2e-restart-profiles";
    scenario(
        "restart_test.go:TestRestartWithProfiles",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=e2e-restart-profiles"]);
            c.compose(&[
                "-f",
                "./fixtures/restart-test/compose.yaml",
                "--profile",
                "test",
                "up",
                "-d",
            ]);
            let res = c.compose(&["restart", "test"]);
            c.contains(
                &res.combined(),
                "Container e2e-restart-profiles-test-1  Started",
            );
            c.compose(&["down", "--remove-orphans"]);
        },
    );
}
