//! `pkg/e2e/start_stop_test.go`.
//!
//! Not transcribed: TestStartSingleServiceAndDependency (verb `create`, issue 20).

use crate::harness::{Cli, Opts, scenario};

const STARTSTOP: &str = "./fixtures/start-stop/compose.yaml";

/// `assertServiceStatus` of upstream `restart_test.go`.
pub fn assert_service_status(c: &mut Cli, project: &str, service: &str, status: &str, ps: &str) {
    c.matches(
        ps,
        &format!(r"{project}-{service}-1.+{service}\s+.+{status}.+"),
    );
}

#[test]
fn test_start_stop() {
    const P: &str = "e2e-start-stop-no-dependencies";
    let regx = |status: &str| format!(r"{P}\s+{status}\(2\)");
    scenario(
        "start_stop_test.go:TestStartStop",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            // Up a project
            let res = c.compose(&["-f", STARTSTOP, "--project-name", P, "up", "-d"]);
            c.contains(
                &res.combined(),
                "Container e2e-start-stop-no-dependencies-simple-1  Started",
            );
            let res = c.compose(&["ls", "--all"]);
            c.matches(res.stdout(), &regx("running"));
            let res = c.compose(&["--project-name", P, "ps"]);
            assert_service_status(c, P, "simple", "Up", res.stdout());
            assert_service_status(c, P, "another", "Up", res.stdout());

            // stop project
            c.compose(&["-f", STARTSTOP, "--project-name", P, "stop"]);
            let res = c.compose(&["ls"]);
            c.not_contains(&res.combined(), "e2e-start-stop-no-dependencies");
            let res = c.compose(&["ls", "--all"]);
            c.matches(res.stdout(), &regx("exited"));
            let res = c.compose(&["--project-name", P, "ps"]);
            c.not_contains(&res.combined(), "e2e-start-stop-no-dependencies-words-1");
            let res = c.compose(&["--project-name", P, "ps", "--all"]);
            assert_service_status(c, P, "simple", "Exited", res.stdout());
            assert_service_status(c, P, "another", "Exited", res.stdout());

            // start project
            c.compose(&["-f", STARTSTOP, "--project-name", P, "start"]);
            let res = c.compose(&["ls"]);
            c.matches(res.stdout(), &regx("running"));

            // down
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_start_already_running() {
    const P: &str = "e2e-start-stop-svc-already-running";
    scenario(
        "start_stop_test.go:TestStartAlreadyRunning",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.with_env(&[
                "COMPOSE_PROJECT_NAME=e2e-start-stop-svc-already-running",
                "COMPOSE_FILE=./fixtures/start-stop/compose.yaml",
            ]);
            c.compose(&["up", "-d", "--wait"]);
            let res = c.compose(&["start", "simple"]);
            c.equal(res.stdout(), "");
            c.compose(&["down", "--remove-orphans", "-v", "-t", "0"]);
        },
    );
}

#[test]
fn test_stop_already_stopped() {
    const P: &str = "e2e-start-stop-svc-already-stopped";
    scenario(
        "start_stop_test.go:TestStopAlreadyStopped",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.with_env(&[
                "COMPOSE_PROJECT_NAME=e2e-start-stop-svc-already-stopped",
                "COMPOSE_FILE=./fixtures/start-stop/compose.yaml",
            ]);
            c.compose(&["up", "-d", "--wait"]);
            c.compose(&["stop", "simple"]);
            let res = c.compose_no_check(&["stop", "simple"]);
            c.exit_code(&res, 0);
            c.contains(
                res.stderr(),
                "Container e2e-start-stop-svc-already-stopped-simple-1  Stopped",
            );
            c.compose(&["down", "--remove-orphans", "-v", "-t", "0"]);
        },
    );
}

#[test]
fn test_start_stop_multiple_services() {
    const P: &str = "e2e-start-stop-svc-multiple";
    scenario(
        "start_stop_test.go:TestStartStopMultipleServices",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.with_env(&[
                "COMPOSE_PROJECT_NAME=e2e-start-stop-svc-multiple",
                "COMPOSE_FILE=./fixtures/start-stop/compose.yaml",
            ]);
            c.compose(&["up", "-d", "--wait"]);
            let res = c.compose(&["stop", "simple", "another"]);
            for svc in ["simple", "another"] {
                c.contains(res.stderr(), &format!("Container {P}-{svc}-1  Stopped"));
            }
            let res = c.compose(&["start", "simple", "another"]);
            for svc in ["simple", "another"] {
                c.contains(res.stderr(), &format!("Container {P}-{svc}-1  Started"));
            }
            c.compose(&["down", "--remove-orphans", "-v", "-t", "0"]);
        },
    );
}

#[test]
fn test_start_stop_multiple_files() {
    const P: &str = "e2e-start-stop-svc-multiple-files";
    scenario(
        "start_stop_test.go:TestStartStopMultipleFiles",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=e2e-start-stop-svc-multiple-files"]);
            c.compose(&["-f", STARTSTOP, "up", "-d"]);
            c.compose(&["-f", "./fixtures/start-stop/other.yaml", "up", "-d"]);
            let res = c.compose(&["-f", STARTSTOP, "stop"]);
            let out = res.combined();
            c.contains(&out, &format!("Container {P}-simple-1  Stopped"));
            c.contains(&out, &format!("Container {P}-another-1  Stopped"));
            c.not_contains(&out, &format!("Container {P}-a-different-one-1  Stopped"));
            c.not_contains(&out, &format!("Container {P}-and-another-one-1  Stopped"));
            c.compose(&["-p", P, "down", "--remove-orphans"]);
        },
    );
}

#[test]
fn test_start_stop_with_dependencies() {
    const P: &str = "e2e-start-stop-with-dependencies";
    scenario(
        "start_stop_test.go:TestStartStopWithDependencies",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            // Up
            let res = c.compose(&[
                "-f",
                "./fixtures/dependencies/compose.yaml",
                "--project-name",
                P,
                "up",
                "-d",
            ]);
            c.contains(&res.combined(), &format!("Container {P}-foo-1  Started"));
            c.contains(&res.combined(), &format!("Container {P}-bar-1  Started"));

            // stop foo
            let res = c.compose(&["--project-name", P, "stop", "foo"]);
            c.contains(&res.combined(), &format!("Container {P}-foo-1  Stopped"));
            let res = c.compose(&["--project-name", P, "ps", "--status", "running"]);
            c.contains(&res.combined(), &format!("{P}-bar-1"));
            c.not_contains(&res.combined(), &format!("{P}-foo-1"));

            // start foo
            let res = c.compose(&["--project-name", P, "stop"]);
            c.contains(&res.combined(), &format!("Container {P}-bar-1  Stopped"));
            let res = c.compose(&["--project-name", P, "start", "foo"]);
            let out = res.combined();
            c.contains(&out, &format!("Container {P}-bar-1  Started"));
            c.contains(&out, &format!("Container {P}-foo-1  Started"));
            let res = c.compose(&["--project-name", P, "ps", "--status", "running"]);
            let out = res.combined();
            c.contains(&out, &format!("{P}-bar-1"));
            c.contains(&out, &format!("{P}-foo-1"));

            // Up no-deps links
            c.compose(&["--project-name", P, "down"]);
            let res = c.compose(&[
                "-f",
                "./fixtures/links/compose.yaml",
                "--project-name",
                P,
                "up",
                "--no-deps",
                "-d",
                "foo",
            ]);
            c.contains(&res.combined(), &format!("Container {P}-foo-1  Started"));
            c.not_contains(&res.combined(), &format!("Container {P}-bar-1  Started"));

            // down, then the deferred `rm -fsv`
            c.compose(&["--project-name", P, "down"]);
            c.compose(&["--project-name", P, "rm", "-fsv"]);
        },
    );
}

#[test]
fn test_start_stop_with_one_offs() {
    const P: &str = "e2e-start-stop-with-oneoffs";
    scenario(
        "start_stop_test.go:TestStartStopWithOneOffs",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let f = "./fixtures/dependencies/compose.yaml";
            let res = c.compose(&["-f", f, "--project-name", P, "up", "-d"]);
            c.contains(&res.combined(), &format!("Container {P}-foo-1  Started"));
            c.contains(&res.combined(), &format!("Container {P}-bar-1  Started"));

            // run one-off
            c.compose(&[
                "-f",
                f,
                "--project-name",
                P,
                "run",
                "-d",
                "bar",
                "sleep",
                "infinity",
            ]);
            let res = c.compose(&["--project-name", P, "ps", "-a"]);
            c.contains(&res.combined(), &format!("{P}-foo-1"));
            c.contains(&res.combined(), &format!("{P}-bar-1"));
            c.contains(&res.combined(), &format!("{P}-bar-run"));

            // stop (not one-off containers)
            let res = c.compose(&["--project-name", P, "stop"]);
            c.contains(&res.combined(), &format!("{P}-foo-1"));
            c.contains(&res.combined(), &format!("{P}-bar-1"));
            c.not_contains(&res.combined(), "e2e_start_stop_with_oneoffs-bar-run");
            let res = c.compose(&["--project-name", P, "ps", "-a", "--status", "running"]);
            c.contains(&res.combined(), &format!("{P}-bar-run"));

            // start and restart (not one-off containers)
            for verb in ["start", "restart"] {
                let res = c.compose(&["--project-name", P, verb]);
                c.contains(&res.combined(), &format!("{P}-foo-1"));
                c.contains(&res.combined(), &format!("{P}-bar-1"));
                c.not_contains(&res.combined(), &format!("{P}-bar-run"));
            }

            // down
            c.compose(&["--project-name", P, "down", "--remove-orphans"]);
            let res = c.compose(&["--project-name", P, "ps", "-a", "--status", "running"]);
            c.not_contains(&res.combined(), &format!("{P}-bar"));
        },
    );
}
