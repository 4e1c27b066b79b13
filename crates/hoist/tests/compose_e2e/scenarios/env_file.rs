//! `pkg/e2e/env_file_test.go`.

use crate::harness::{Opts, scenario};

#[test]
fn test_raw_env_file() {
    let opts = Opts {
        projects: &["dotenv"],
        ..Opts::default()
    };
    scenario("env_file_test.go:TestRawEnvFile", opts, |c| {
        let res = c.compose(&["-f", "./fixtures/dotenv/raw.yaml", "run", "test"]);
        c.equal(res.stdout().trim(), "'{\"key\": \"value\"}'");
        // defer cleanupWithDown
        c.compose(&["-p", "dotenv", "down", "-v", "--remove-orphans"]);
    });
}

#[test]
fn test_unused_missing_env_file() {
    let opts = Opts {
        projects: &["env_file", "unused_dotenv"],
        ..Opts::default()
    };
    scenario("env_file_test.go:TestUnusedMissingEnvFile", opts, |c| {
        const F: &str = "./fixtures/env_file/compose.yaml";
        c.compose(&["-f", F, "up", "-d", "serviceA"]);
        // Runtime operations should work even with missing env file
        c.compose(&["-f", F, "ps"]);
        c.compose(&["-f", F, "logs"]);
        c.compose(&["-f", F, "down"]);
        // defer cleanupWithDown
        c.compose(&["-p", "unused_dotenv", "down", "-v", "--remove-orphans"]);
    });
}

#[test]
fn test_run_env_file() {
    let opts = Opts {
        projects: &["env_file", "run_dotenv"],
        ..Opts::default()
    };
    scenario("env_file_test.go:TestRunEnvFile", opts, |c| {
        let res = c.compose(&[
            "--project-directory",
            "./fixtures/env_file",
            "run",
            "serviceC",
            "env",
        ]);
        c.expect_out(&res, "FOO=BAR");
        // defer cleanupWithDown
        c.compose(&["-p", "run_dotenv", "down", "-v", "--remove-orphans"]);
    });
}
