//! `pkg/e2e/compose_test.go`.
//!
//! Not transcribed: TestLocalComposeUp's `top` and `images` steps (verbs of issue 20);
//! TestAttachRestart (its fixture `attach-restart` is not in the upstream fixtures here).

use std::time::Duration;

use crate::harness::{Opts, scenario};
use crate::scenarios::start_stop::assert_service_status;

const SENTENCES: &str = "./fixtures/sentences/compose.yaml";

fn opts(projects: &'static [&'static str]) -> Opts {
    Opts {
        projects,
        ..Opts::default()
    }
}

/// upstream `IsHealthy(name)`: an element of `ps --format json` is that container, healthy.
fn is_healthy(ps_json: &str, name: &str) -> bool {
    let field = |v: &serde_json::Value, k: &str| {
        v.as_object()
            .and_then(|o| o.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)))
            .and_then(|(_, v)| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    for element in serde_json::Deserializer::from_str(ps_json).into_iter::<serde_json::Value>() {
        let Ok(element) = element else {
            return false;
        };
        if field(&element, "name") == name && field(&element, "health") == "healthy" {
            return true;
        }
    }
    false
}

#[test]
fn test_local_compose_up() {
    const P: &str = "compose-e2e-demo";
    scenario(
        "compose_test.go:TestLocalComposeUp",
        Opts {
            projects: &[P],
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            // up
            c.compose(&["-f", SENTENCES, "--project-name", P, "up", "-d"]);

            // check accessing running app
            let res = c.compose(&["-p", P, "ps"]);
            c.contains(res.stdout(), "web");
            let output = c.http_get(
                "http://localhost:90/words/noun",
                200,
                Duration::from_secs(20),
            );
            c.contains(&output, r#""word":"#);
            let res = c.docker(&["network", "ls"]);
            c.contains(res.stdout(), &format!("{P}_default"));

            // top: dropped, verb `top` (issue 20)

            // check compose labels
            let res = c.docker(&["inspect", &format!("{P}-web-1")]);
            for want in [
                r#""com.docker.compose.container-number": "1""#,
                r#""com.docker.compose.project": "compose-e2e-demo""#,
                r#""com.docker.compose.oneoff": "False","#,
                r#""com.docker.compose.config-hash":"#,
                r#""com.docker.compose.project.config_files":"#,
                r#""com.docker.compose.project.working_dir":"#,
                r#""com.docker.compose.service": "web""#,
                r#""com.docker.compose.version":"#,
            ] {
                c.contains(res.stdout(), want);
            }
            let res = c.docker(&["network", "inspect", &format!("{P}_default")]);
            for want in [
                r#""com.docker.compose.network": "default""#,
                r#""com.docker.compose.project": "#,
                r#""com.docker.compose.version": "#,
            ] {
                c.contains(res.stdout(), want);
            }

            // check user labels
            let res = c.docker(&["inspect", &format!("{P}-web-1")]);
            c.contains(res.stdout(), r#""my-label": "test""#);

            // check healthcheck output
            c.poll(
                "ps --format json shows compose-e2e-demo-web-1 healthy",
                Duration::from_secs(5),
                Duration::from_secs(1),
                |c| {
                    let res = c.compose_no_check(&["-p", P, "ps", "--format", "json"]);
                    is_healthy(res.stdout(), &format!("{P}-web-1"))
                },
            );
            let res = c.compose(&["-p", P, "ps"]);
            assert_service_status(c, P, "web", r"\(healthy\)", res.stdout());

            // images: dropped, verb `images` (issue 20)

            // down SERVICE
            c.compose(&["--project-name", P, "down", "web"]);
            let res = c.compose(&["--project-name", P, "ps"]);
            c.not_contains(&res.combined(), "compose-e2e-demo-web-1");
            c.contains(&res.combined(), "compose-e2e-demo-db-1");

            // down
            c.compose(&["--project-name", P, "down"]);

            // check containers after down
            let res = c.docker(&["ps", "--all"]);
            c.not_contains(&res.combined(), P);

            // check networks after down
            let res = c.docker(&["network", "ls"]);
            c.not_contains(&res.combined(), P);
        },
    );
}

#[test]
fn test_down_composefile_in_parent_folder() {
    // Upstream makes a random `test-tmp*` folder; one fixed name serves both runs here.
    const P: &str = "test-tmp-e2e";
    scenario(
        "compose_test.go:TestDownComposefileInParentFolder",
        opts(&[P]),
        |c| {
            let dir = c.dir().join("fixtures/simple-composefile").join(P);
            let _ = std::fs::create_dir_all(&dir);
            let res = c.compose(&["--project-directory", &dir.to_string_lossy(), "up", "-d"]);
            c.expect_err(&res, 0, "Started");
            let res = c.compose(&["-p", P, "down"]);
            c.expect_err(&res, 0, "Removed");
            let _ = std::fs::remove_dir(&dir);
        },
    );
}

#[test]
fn test_init_container() {
    scenario(
        "compose_test.go:TestInitContainer",
        opts(&["init-container"]),
        |c| {
            let res = c.compose(&[
                "--ansi=never",
                "--project-directory",
                "./fixtures/init-container",
                "up",
                "--menu=false",
            ]);
            c.matches(res.stdout(), "foo-1  | hello(?m:.*)bar-1  | world");
            c.compose(&["-p", "init-container", "down"]);
        },
    );
}

#[test]
fn test_rm() {
    const P: &str = "compose-e2e-rm";
    const F: &str = "./fixtures/simple-composefile/compose.yaml";
    scenario("compose_test.go:TestRm", opts(&[P]), |c| {
        c.compose(&["-f", F, "-p", P, "up", "-d"]);
        let res = c.compose(&["-f", F, "-p", P, "rm", "--stop", "--force", "simple"]);
        c.expect_err(&res, 0, "Removed");
        let res = c.docker(&["ps", "--all"]);
        c.not_contains(&res.combined(), &format!("{P}-simple"));
        c.contains(&res.combined(), &format!("{P}-another"));

        c.compose(&["-f", F, "-p", P, "up", "-d"]);
        let res = c.compose(&["-f", F, "-p", P, "rm", "--stop", "--force"]);
        c.exit_code(&res, 0);
        let res = c.docker(&["ps", "--all"]);
        c.not_contains(&res.combined(), &format!("{P}-simple"));
        c.not_contains(&res.combined(), &format!("{P}-another"));
        c.compose(&["-p", P, "down"]);
    });
}

#[test]
fn test_compatibility() {
    const P: &str = "compose-e2e-compatibility";
    scenario(
        "compose_test.go:TestCompatibility",
        Opts {
            projects: &[P],
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            c.compose(&[
                "--compatibility",
                "-f",
                "./fixtures/sentences/compose.yaml",
                "--project-name",
                P,
                "up",
                "-d",
            ]);
            let res = c.docker(&["ps", "--format", "{{.Names}}"]);
            for name in ["web", "words", "db"] {
                c.expect_out(&res, &format!("{P}_{name}_1"));
            }
            c.compose(&["-p", P, "down"]);
        },
    );
}

#[test]
fn test_stop_with_dependencies_attached() {
    const P: &str = "compose-e2e-stop-with-deps";
    scenario(
        "compose_test.go:TestStopWithDependenciesAttached",
        opts(&[P]),
        |c| {
            c.with_env(&["COMMAND=echo hello"]);
            c.compose(&["-p", P, "down", "--remove-orphans", "--timeout=0"]);
            let res = c.compose(&[
                "-f",
                "./fixtures/dependencies/compose.yaml",
                "-p",
                P,
                "up",
                "--attach-dependencies",
                "foo",
                "--menu=false",
            ]);
            c.expect_out(&res, "exited with code 0");
            c.compose(&["-p", P, "down", "--remove-orphans", "--timeout=0"]);
        },
    );
}

#[test]
fn test_remove_orphaned() {
    const P: &str = "compose-e2e-remove-orphaned";
    const F: &str = "./fixtures/sentences/compose.yaml";
    scenario(
        "compose_test.go:TestRemoveOrphaned",
        Opts {
            projects: &[P],
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            c.compose(&["-p", P, "down", "--remove-orphans", "--timeout=0"]);
            c.compose(&["-f", F, "-p", P, "up", "-d"]);
            c.compose(&["-f", F, "-p", P, "down", "--remove-orphans", "web"]);
            let res = c.compose(&["-f", F, "-p", P, "ps", "--format", "{{.Name}}"]);
            c.expect_out(&res, &format!("{P}-words-1"));
            c.compose(&["-p", P, "down", "--remove-orphans", "--timeout=0"]);
        },
    );
}

#[test]
fn test_unnecessary_resources() {
    const P: &str = "compose-e2e-unnecessary-resources";
    const F: &str = "./fixtures/external/compose.yaml";
    let opts = Opts {
        projects: &[P],
        deliberate: Some(
            "Compose checks the external network while it creates the default one, so whether \
             its failing `up` leaves the default network depends on which finishes first (run \
             after run, both happen); hoist always makes the project's networks first, then \
             fails on the external one. Either way nothing runs",
        ),
        ..Opts::default()
    };
    scenario("compose_test.go:TestUnnecessaryResources", opts, |c| {
        let res = c.compose_no_check(&["-f", F, "-p", P, "up", "-d"]);
        c.expect_err(
            &res,
            1,
            "network foo_bar declared as external, but could not be found",
        );
        c.compose(&["-f", F, "-p", P, "up", "-d", "test"]);
        c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
    });
}

#[test]
fn test_config() {
    const P: &str = "compose-e2e-config";
    let opts = Opts {
        projects: &[P],
        ..Opts::default()
    };
    scenario("compose_test.go:TestConfig", opts, |c| {
        let res = c.compose(&[
            "-f",
            "./fixtures/simple-build-test/compose.yaml",
            "-p",
            P,
            "config",
        ]);
        let context = c.dir().join("fixtures/simple-build-test/nginx-build");
        let want = format!(
            "name: {P}\nservices:\n  nginx:\n    build:\n      context: {}\n      dockerfile: Dockerfile\n    networks:\n      default: null\nnetworks:\n  default:\n    name: compose-e2e-config_default\n",
            context.display()
        );
        c.expect_out(&res, &want);
    });
}

#[test]
fn test_config_interpolate() {
    const P: &str = "compose-e2e-config-interpolate";
    let opts = Opts {
        projects: &[P],
        ..Opts::default()
    };
    scenario("compose_test.go:TestConfigInterpolate", opts, |c| {
        let res = c.compose(&[
            "-f",
            "./fixtures/simple-build-test/compose-interpolate.yaml",
            "-p",
            P,
            "config",
            "--no-interpolate",
        ]);
        let context = c.dir().join("fixtures/simple-build-test/nginx-build");
        let want = format!(
            "name: {P}\nnetworks:\n  default:\n    name: compose-e2e-config-interpolate_default\nservices:\n  nginx:\n    build:\n      context: {}\n      dockerfile: ${{MYVAR}}\n    networks:\n      default: null\n",
            context.display()
        );
        c.expect_out(&res, &want);
    });
}

#[test]
fn test_compose_file_set_by_env_file() {
    scenario(
        "compose_test.go:TestComposeFileSetByEnvFile",
        opts(&["dotenv"]),
        |c| {
            let env = c
                .dir()
                .join("fixtures/_inline/compose-file-set-by-env-file.env");
            let res = c.compose_env(&[], &["--env-file", &env.to_string_lossy(), "config"]);
            c.expect_out(&res, "image: test:latest");
            c.expect_out(&res, "image: enabled:profile");
            c.compose(&["-p", "dotenv", "down", "-v", "--remove-orphans"]);
        },
    );
}

#[test]
fn test_compose_file_set_by_dot_env() {
    scenario(
        "compose_test.go:TestComposeFileSetByDotEnv",
        opts(&["dotenv"]),
        |c| {
            let res = c.compose_in_dir("fixtures/dotenv", &[], &["config"]);
            c.expect_out(&res, "image: test:latest");
            c.expect_out(&res, "image: enabled:profile");
            // defer cleanupWithDown
            c.compose(&["-p", "dotenv", "down", "-v", "--remove-orphans"]);
        },
    );
}

#[test]
fn test_compose_file_set_by_project_directory() {
    scenario(
        "compose_test.go:TestComposeFileSetByProjectDirectory",
        opts(&["dotenv", "development"]),
        |c| {
            let res = c.compose_env(
                &[],
                &[
                    "--project-directory",
                    "fixtures/dotenv/development",
                    "config",
                ],
            );
            c.expect_out(&res, "image: backend:latest");
            // defer cleanupWithDown
            c.compose(&["-p", "dotenv", "down", "-v", "--remove-orphans"]);
        },
    );
}

#[test]
fn test_nested_dot_env() {
    scenario("compose_test.go:TestNestedDotEnv", opts(&["nested"]), |c| {
        let res = c.compose_in_dir("fixtures/nested", &[], &["run", "echo"]);
        c.exit_code(&res, 0);
        c.expect_out(&res, "root win=root");

        // From a folder below the project's: the compose file is found above it, and the
        // `.env` of the working folder wins over the project folder's.
        let res = c.compose_in_dir("fixtures/nested/sub", &[], &["run", "echo"]);
        c.exit_code(&res, 0);
        c.expect_out(&res, "root sub win=sub");
        c.compose(&["-p", "nested", "down", "-v", "--remove-orphans"]);
    });
}
