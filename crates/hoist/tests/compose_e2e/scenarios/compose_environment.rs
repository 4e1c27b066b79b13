//! `pkg/e2e/compose_environment_test.go`.

use crate::harness::{Opts, scenario};

const PRIO: &str = "./fixtures/environment/env-priority";

fn f(file: &str) -> String {
    format!("{PRIO}/{file}")
}

#[test]
fn test_env_priority() {
    let opts = Opts {
        projects: &["env-priority"],
        ..Opts::default()
    };
    scenario("compose_environment_test.go:TestEnvPriority", opts, |c| {
        let with_env = f("compose-with-env.yaml");
        let plain = f("compose.yaml");
        let over = f(".env.override");
        let over_default = f(".env.override.with.default");
        let svc = "env-compose-priority";

        // up
        c.docker_no_check(&["rmi", "env-compose-priority"]);
        c.compose(&["-f", &with_env, "up", "-d", "--build"]);

        // compose file priority (from the OS environment)
        let res = c.compose_env(
            &["WHEREAMI=shell"],
            &[
                "-f",
                &with_env,
                "--env-file",
                &over,
                "run",
                "--rm",
                "-e",
                "WHEREAMI",
                svc,
            ],
        );
        c.equal(res.stdout().trim(), "shell");

        // compose file priority (from the command line)
        let res = c.compose_env(
            &[],
            &[
                "-f",
                &with_env,
                "--env-file",
                &over,
                "run",
                "--rm",
                "-e",
                "WHEREAMI=shell",
                svc,
            ],
        );
        c.equal(res.stdout().trim(), "shell");

        // shell priority
        let res = c.compose_env(
            &["WHEREAMI=shell"],
            &[
                "-f",
                &plain,
                "--env-file",
                &over,
                "run",
                "--rm",
                "-e",
                "WHEREAMI",
                svc,
            ],
        );
        c.equal(res.stdout().trim(), "shell");

        // shell priority file with default value
        let res = c.compose_env(
            &["WHEREAMI=shell"],
            &[
                "-f",
                &plain,
                "--env-file",
                &over_default,
                "run",
                "--rm",
                "-e",
                "WHEREAMI",
                svc,
            ],
        );
        c.equal(res.stdout().trim(), "shell");

        // shell priority implicitly set
        let res = c.compose_env(
            &[],
            &[
                "-f",
                &plain,
                "--env-file",
                &over_default,
                "run",
                "--rm",
                "-e",
                "WHEREAMI",
                svc,
            ],
        );
        c.equal(res.stdout().trim(), "EnvFileDefaultValue");

        // shell priority from COMPOSE_ENV_FILES variable
        let env_files = format!("COMPOSE_ENV_FILES={over_default}");
        let res = c.compose_env(
            &[&env_files],
            &["-f", &plain, "run", "--rm", "-e", "WHEREAMI", svc],
        );
        c.equal(res.stdout().trim(), "EnvFileDefaultValue");

        // shell priority from run command
        let res = c.compose(&[
            "-f",
            &plain,
            "--env-file",
            &over,
            "run",
            "--rm",
            "-e",
            "WHEREAMI=shell-run",
            svc,
        ]);
        c.equal(res.stdout().trim(), "shell-run");

        // override env file from compose
        let res = c.compose(&[
            "-f",
            &f("compose-with-env-file.yaml"),
            "run",
            "--rm",
            "-e",
            "WHEREAMI",
            svc,
        ]);
        c.equal(res.stdout().trim(), "Env File");

        // override env file
        let res = c.compose(&[
            "-f",
            &plain,
            "--env-file",
            &over,
            "run",
            "--rm",
            "-e",
            "WHEREAMI",
            svc,
        ]);
        c.equal(res.stdout().trim(), "override");

        // env file
        let res = c.compose(&["-f", &plain, "run", "--rm", "-e", "WHEREAMI", svc]);
        c.equal(res.stdout().trim(), "Env File");

        // use Dockerfile
        let res = c.compose(&[
            "-f",
            &plain,
            "--env-file",
            &f(".env.empty"),
            "run",
            "--rm",
            "-e",
            "WHEREAMI",
            svc,
        ]);
        c.equal(res.stdout().trim(), "Dockerfile");

        // down
        c.compose(&["--project-name", "env-priority", "down"]);
    });
}

#[test]
fn test_env_interpolation() {
    let opts = Opts {
        projects: &["env-interpolation", "env-interpolation-default-value"],
        ..Opts::default()
    };
    scenario(
        "compose_environment_test.go:TestEnvInterpolation",
        opts,
        |c| {
            // shell priority from run command
            let res = c.compose_env(
                &["WHEREAMI=shell"],
                &[
                    "-f",
                    "./fixtures/environment/env-interpolation/compose.yaml",
                    "config",
                ],
            );
            c.expect_out(&res, "IMAGE: default_env:shell");

            // shell priority from run command using default value fallback
            let res = c.compose(&[
                "-f",
                "./fixtures/environment/env-interpolation-default-value/compose.yaml",
                "config",
            ]);
            c.expect_out(&res, "IMAGE: default_env:EnvFileDefaultValue");
        },
    );
}

#[test]
fn test_comments_in_env_file() {
    let opts = Opts {
        projects: &["env-file-comments"],
        exclusive: true,
        ..Opts::default()
    };
    scenario(
        "compose_environment_test.go:TestCommentsInEnvFile",
        opts,
        |c| {
            const F: &str = "./fixtures/environment/env-file-comments/compose.yaml";
            c.docker_no_check(&["rmi", "env-file-comments"]);
            c.compose(&["-f", F, "up", "-d", "--build"]);
            let res = c.compose(&[
                "-f",
                F,
                "run",
                "--rm",
                "-e",
                "COMMENT",
                "-e",
                "NO_COMMENT",
                "env-file-comments",
            ]);
            c.expect_out(&res, "COMMENT=1234");
            c.expect_out(&res, "NO_COMMENT=1234#5");
            c.compose(&[
                "--project-name",
                "env-file-comments",
                "down",
                "--rmi",
                "all",
            ]);
        },
    );
}

#[test]
fn test_unset_env() {
    let opts = Opts {
        projects: &["empty-variable"],
        exclusive: true,
        ..Opts::default()
    };
    scenario("compose_environment_test.go:TestUnsetEnv", opts, |c| {
        const F: &str = "./fixtures/environment/empty-variable/compose.yaml";
        // override env variable
        c.compose(&["-f", F, "build"]);
        let res = c.compose(&[
            "-f",
            F,
            "run",
            "-e",
            "EMPTY=hello",
            "--rm",
            "empty-variable",
        ]);
        c.expect_out(&res, "=hello=");

        // unset env variable
        let res = c.compose(&["-f", F, "run", "--rm", "empty-variable"]);
        c.expect_out(&res, "==");

        // t.Cleanup
        c.compose(&["--project-name", "empty-variable", "down", "--rmi", "all"]);
    });
}
