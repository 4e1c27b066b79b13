//! `pkg/e2e/up_test.go`.
//!
//! Not transcribed: `TestUpDependenciesNotStopped` (its fixture `ups-deps-stop` is not in the
//! upstream fixtures here).

use crate::harness::{Cli, Opts, scenario};

/// `RequireServiceState` of upstream `assert.go`.
pub fn require_service_state(c: &mut Cli, service: &str, state: &str) {
    let res = c.compose(&["ps", "--all", "--format=json", service]);
    let svc: serde_json::Value = match serde_json::from_str(res.stdout()) {
        Ok(v) => v,
        Err(err) => {
            c.check(
                false,
                "`compose ps` JSON is valid",
                &format!("{err}: {}", res.combined()),
            );
            return;
        }
    };
    c.equal(svc["Service"].as_str().unwrap_or_default(), service);
    let got = svc["State"].as_str().unwrap_or_default().to_lowercase();
    c.equal(&got, &state.to_lowercase());
}

#[test]
fn test_up_service_unhealthy() {
    const P: &str = "e2e-start-fail";
    scenario(
        "up_test.go:TestUpServiceUnhealthy",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "-f",
                "fixtures/start-fail/compose.yaml",
                "--project-name",
                P,
                "up",
                "-d",
            ]);
            c.exit_code(&res, 1);
            c.contains(res.stderr(), "container e2e-start-fail-fail-1 is unhealthy");
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_up_with_build_dependencies() {
    const P: &str = "dependencies";
    scenario(
        "up_test.go:TestUpWithBuildDependencies",
        Opts {
            projects: &[P],
            // shares the project name `dependencies` with another scenario
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            // ensure local test run does not reuse previously build image
            c.docker_no_check(&["rmi", "built-image-dependency"]);
            let res = c.compose(&[
                "--project-directory",
                "fixtures/dependencies",
                "-f",
                "fixtures/dependencies/service-image-depends-on.yaml",
                "up",
                "-d",
            ]);
            c.exit_code(&res, 0);
            c.compose(&[
                "--project-directory",
                "fixtures/dependencies",
                "-f",
                "fixtures/dependencies/service-image-depends-on.yaml",
                "down",
                "--rmi",
                "all",
            ]);
        },
    );
}

#[test]
fn test_up_with_dependency_exit() {
    const P: &str = "dependencies";
    scenario(
        "up_test.go:TestUpWithDependencyExit",
        Opts {
            projects: &[P],
            // shares the project name `dependencies` with another scenario
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&[
                "--project-directory",
                "fixtures/dependencies",
                "-f",
                "fixtures/dependencies/dependency-exit.yaml",
                "up",
                "-d",
            ]);
            c.exit_code(&res, 1);
            c.contains(
                res.stderr(),
                "dependency failed to start: container dependencies-db-1 exited (1)",
            );
            c.compose(&["--project-name", "dependencies", "down"]);
        },
    );
}

#[test]
fn test_scale_doesnt_recreate() {
    const P: &str = "compose-e2e-scale";
    scenario(
        "up_test.go:TestScaleDoesntRecreate",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let file = "fixtures/simple-composefile/compose.yaml";
            c.compose(&["-f", file, "--project-name", P, "up", "-d"]);
            let res = c.compose(&[
                "-f",
                file,
                "--project-name",
                P,
                "up",
                "--scale",
                "simple=2",
                "-d",
            ]);
            c.not_contains(&res.combined(), "Recreated");
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_up_with_dependency_not_required() {
    const P: &str = "compose-e2e-dependency-not-required";
    scenario(
        "up_test.go:TestUpWithDependencyNotRequired",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&[
                "-f",
                "./fixtures/dependencies/deps-not-required.yaml",
                "--project-name",
                P,
                "--profile",
                "not-required",
                "up",
                "-d",
            ]);
            c.contains(&res.combined(), "foo");
            c.contains(
                &res.combined(),
                " optional dependency \"bar\" failed to start",
            );
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_up_with_all_resources() {
    const P: &str = "compose-e2e-all-resources";
    scenario(
        "up_test.go:TestUpWithAllResources",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&[
                "-f",
                "./fixtures/resources/compose.yaml",
                "--all-resources",
                "--project-name",
                P,
                "up",
            ]);
            c.contains(&res.combined(), &format!("Volume {P}_my_vol  Created"));
            c.contains(&res.combined(), &format!("Network {P}_my_net  Created"));
            c.compose(&["--project-name", P, "down", "-v"]);
        },
    );
}

#[test]
fn test_up_profile() {
    const P: &str = "compose-e2e-up-profile";
    scenario(
        "up_test.go:TestUpProfile",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&[
                "-f",
                "./fixtures/profiles/docker-compose.yaml",
                "--project-name",
                P,
                "up",
                "foo",
            ]);
            c.contains(&res.combined(), "Container db_c  Created");
            c.contains(&res.combined(), "Container foo_c  Created");
            c.not_contains(&res.combined(), "Container bar_c  Created");
            c.compose(&["--project-name", P, "--profile", "test", "down", "-v"]);
        },
    );
}

#[test]
fn test_up_image_id() {
    const P: &str = "compose-e2e-up-image-id";
    scenario(
        "up_test.go:TestUpImageID",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let digest = c.docker(&["image", "inspect", "alpine", "-f", "{{ .ID }}"]);
            let digest = digest.stdout().trim().to_string();
            let id = digest.split_once(':').map(|(_, id)| id).unwrap_or_default();
            c.with_env(&[&format!("ID={id}")]);
            c.compose(&[
                "-f",
                "./fixtures/simple-composefile/id.yaml",
                "--project-name",
                P,
                "up",
            ]);
            c.compose(&["--project-name", P, "down", "-v"]);
        },
    );
}

#[test]
fn test_up_stop_with_logs_mixed() {
    const P: &str = "compose-e2e-stop-logs";
    scenario(
        "up_test.go:TestUpStopWithLogsMixed",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&[
                "-f",
                "./fixtures/stop/compose.yaml",
                "--project-name",
                P,
                "up",
                "--abort-on-container-exit",
            ]);
            // assert we still get service2 logs after service 1 Stopped event
            c.contains(
                res.stderr(),
                "Container compose-e2e-stop-logs-service1-1  Stopped",
            );
            // assert we get stop hook logs
            c.contains(
                res.stdout(),
                "service2-1 ->  | stop hook running...\nservice2-1     | 64 bytes",
            );
            c.compose(&["--project-name", P, "down", "-v"]);
        },
    );
}
