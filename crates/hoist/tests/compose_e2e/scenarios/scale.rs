//! `pkg/e2e/scale_test.go`.

use crate::harness::{Cli, Opts, scenario};

const NO_STATE_TO_CHECK: &str = "";

/// `checkServiceContainer` of upstream: `count` lines name `container` with `state`.
fn check_service_container(c: &mut Cli, out: &str, container: &str, state: &str, count: usize) {
    let found = out
        .lines()
        .filter(|l| l.contains(container) && l.contains(state))
        .count();
    c.check(
        found == count,
        &format!("{count} instance(s) of container {container} with state {state:?}"),
        &format!("found {found}\n{out}"),
    );
}

/// `ps --format {{.Name}} SERVICE`, trimmed, asserted equal to `want`.
fn assert_names(c: &mut Cli, service: &str, want: &str) {
    let res = c.compose(&["ps", "--format", "{{.Name}}", service]);
    c.equal(res.stdout().trim(), want);
}

#[test]
fn test_scale_basic_cases() {
    const P: &str = "scale-basic-tests";
    scenario(
        "scale_test.go:TestScaleBasicCases",
        Opts {
            projects: &[P],
            // `down --rmi all` removes the stand-in images other scenarios run.
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=scale-basic-tests"]);
            let dir = ["--project-directory", "fixtures/scale"];
            let scale = |c: &mut Cli, args: &[&str]| {
                let mut all = dir.to_vec();
                all.push("scale");
                all.extend_from_slice(args);
                c.compose(&all)
            };
            let res = c.compose(&[dir[0], dir[1], "up", "-d"]);
            c.exit_code(&res, 0);

            // scale up one service
            let out = scale(c, &["dbadmin=2"]).combined();
            check_service_container(c, &out, "scale-basic-tests-dbadmin", "Started", 2);

            // scale up 2 services
            let out = scale(c, &["front=3", "back=2"]).combined();
            check_service_container(c, &out, "scale-basic-tests-front", "Running", 2);
            check_service_container(c, &out, "scale-basic-tests-front", "Started", 1);
            check_service_container(c, &out, "scale-basic-tests-back", "Running", 1);
            check_service_container(c, &out, "scale-basic-tests-back", "Started", 1);

            // scale down one service
            let out = scale(c, &["dbadmin=1"]).combined();
            check_service_container(c, &out, "scale-basic-tests-dbadmin", "Running", 1);

            // scale to 0 a service
            let res = scale(c, &["dbadmin=0"]);
            c.equal(res.stdout(), "");

            // scale down 2 services
            let out = scale(c, &["front=2", "back=1"]).combined();
            check_service_container(c, &out, "scale-basic-tests-front", "Running", 2);
            c.not_contains(&out, "Container scale-basic-tests-front-3  Running");
            check_service_container(c, &out, "scale-basic-tests-back", "Running", 1);

            // t.Cleanup
            c.compose(&["down", "--rmi", "all"]);
        },
    );
}

#[test]
fn test_scale_with_deps_cases() {
    const P: &str = "scale-deps-tests";
    scenario(
        "scale_test.go:TestScaleWithDepsCases",
        Opts {
            projects: &[P],
            // `down --rmi all` removes the stand-in images other scenarios run.
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=scale-deps-tests"]);
            let res = c.compose(&[
                "--project-directory",
                "fixtures/scale",
                "up",
                "-d",
                "--scale",
                "db=2",
            ]);
            c.exit_code(&res, 0);
            let res = c.compose(&["ps"]);
            check_service_container(
                c,
                &res.combined(),
                "scale-deps-tests-db",
                NO_STATE_TO_CHECK,
                2,
            );

            // scale up 1 service with --no-deps
            c.compose(&[
                "--project-directory",
                "fixtures/scale",
                "scale",
                "--no-deps",
                "back=2",
            ]);
            let out = c.compose(&["ps"]).combined();
            check_service_container(c, &out, "scale-deps-tests-back", NO_STATE_TO_CHECK, 2);
            check_service_container(c, &out, "scale-deps-tests-db", NO_STATE_TO_CHECK, 2);

            // scale up 1 service without --no-deps
            c.compose(&["--project-directory", "fixtures/scale", "scale", "back=2"]);
            let out = c.compose(&["ps"]).combined();
            check_service_container(c, &out, "scale-deps-tests-back", NO_STATE_TO_CHECK, 2);
            check_service_container(c, &out, "scale-deps-tests-db", NO_STATE_TO_CHECK, 1);

            // t.Cleanup
            c.compose(&["down", "--rmi", "all"]);
        },
    );
}

#[test]
fn test_scale_up_and_down_preserve_container_number() {
    const P: &str = "scale-up-down-test";
    scenario(
        "scale_test.go:TestScaleUpAndDownPreserveContainerNumber",
        Opts {
            projects: &[P],
            // `down --rmi all` removes the stand-in images other scenarios run.
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=scale-up-down-test"]);
            let up = |c: &mut Cli, n: &str| {
                let res = c.compose(&[
                    "--project-directory",
                    "fixtures/scale",
                    "up",
                    "-d",
                    "--scale",
                    n,
                    "db",
                ]);
                c.exit_code(&res, 0);
            };
            up(c, "db=2");
            assert_names(c, "db", &format!("{P}-db-1\n{P}-db-2"));

            // scale down removes replica #2
            up(c, "db=1");
            assert_names(c, "db", &format!("{P}-db-1"));

            // scale up restores replica #2
            up(c, "db=2");
            assert_names(c, "db", &format!("{P}-db-1\n{P}-db-2"));

            // t.Cleanup
            c.compose(&["down", "--rmi", "all"]);
        },
    );
}

#[test]
fn test_scale_down_removes_obsolete() {
    const P: &str = "scale-down-obsolete-test";
    scenario(
        "scale_test.go:TestScaleDownRemovesObsolete",
        Opts {
            projects: &[P],
            // `down --rmi all` removes the stand-in images other scenarios run.
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=scale-down-obsolete-test"]);
            let res = c.compose(&["--project-directory", "fixtures/scale", "up", "-d", "db"]);
            c.exit_code(&res, 0);
            assert_names(c, "db", &format!("{P}-db-1"));

            let up = |c: &mut Cli, n: &str| {
                let res = c.compose_env(
                    &["MAYBE=value"],
                    &[
                        "--project-directory",
                        "fixtures/scale",
                        "up",
                        "-d",
                        "--scale",
                        n,
                        "db",
                    ],
                );
                c.exit_code(&res, 0);
            };
            up(c, "db=2");
            assert_names(c, "db", &format!("{P}-db-1\n{P}-db-2"));

            // scale down removes obsolete replica #1
            up(c, "db=1");
            assert_names(c, "db", &format!("{P}-db-1"));

            // t.Cleanup
            c.compose(&["down", "--rmi", "all"]);
        },
    );
}

#[test]
fn test_scale_down_no_recreate() {
    const P: &str = "scale-down-recreated-test";
    const BUILD: &str = "fixtures/scale/build.yaml";
    scenario(
        "scale_test.go:TestScaleDownNoRecreate",
        Opts {
            projects: &[P],
            // `down --rmi all` removes the stand-in images other scenarios run.
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            c.with_env(&["COMPOSE_PROJECT_NAME=scale-down-recreated-test"]);
            c.compose(&["-f", BUILD, "build", "--build-arg", "FOO=test"]);
            c.compose(&["-f", BUILD, "up", "-d", "--scale", "test=2"]);

            c.compose(&["-f", BUILD, "build", "--build-arg", "FOO=updated"]);
            c.compose(&[
                "-f",
                BUILD,
                "up",
                "-d",
                "--scale",
                "test=4",
                "--no-recreate",
            ]);

            let res = c.compose(&["ps", "--format", "{{.Name}}", "test"]);
            for n in 1..=4 {
                c.contains(res.stdout(), &format!("{P}-test-{n}"));
            }

            // scale down removes obsolete replica #1 and #2
            // Upstream only builds this command (`NewDockerComposeCmd`) and never runs it:
            // `up -d --scale test=2 --project-directory fixtures/scale` is not a step.

            let res = c.compose(&["ps", "--format", "{{.Name}}", "test"]);
            c.contains(res.stdout(), &format!("{P}-test-3"));
            c.contains(res.stdout(), &format!("{P}-test-4"));

            // t.Cleanup
            c.compose(&["down", "--rmi", "all"]);
        },
    );
}
