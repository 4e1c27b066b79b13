//! `pkg/e2e/compose_test.go`.
//!
//! Not transcribed: TestLocalComposeUp's `top` and `images` steps (verbs of issue 20);
//! TestAttachRestart, TestComposeFileSetByDotEnv, TestComposeFileSetByProjectDirectory and
//! TestNestedDotEnv (their fixtures are not among the upstream fixtures provided).

use crate::harness::{Opts, scenario};

fn opts(projects: &'static [&'static str]) -> Opts {
    Opts {
        projects,
        ..Opts::default()
    }
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
            open: Some(
                "`--compatibility` (Compose 1.x container names `project_service_1`) is not built",
            ),
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
            "hoist checks that external networks exist before it changes anything, so the failing \
             `up` leaves no default network behind; Compose creates the default network first",
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
        open: Some("`config` YAML: Compose omits empty fields and orders keys by its Go types"),
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
        open: Some("`config --no-interpolate` is not built"),
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
