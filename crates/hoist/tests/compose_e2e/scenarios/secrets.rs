//! `pkg/e2e/secrets_test.go`.

use crate::harness::{Opts, scenario};

const F: &str = "./fixtures/env-secret/compose.yaml";

#[test]
fn test_secret_from_env() {
    let opts = Opts {
        projects: &["env-secret"],
        ..Opts::default()
    };
    scenario("secrets_test.go:TestSecretFromEnv", opts, |c| {
        // compose run
        let res = c.compose_env(&["SECRET=BAR"], &["-f", F, "run", "foo"]);
        c.expect_out(&res, "BAR");

        // secret uid
        let res = c.compose_env(
            &["SECRET=BAR"],
            &["-f", F, "run", "foo", "ls", "-al", "/var/run/secrets/bar"],
        );
        c.expect_out(&res, "-r--r-----    1 1005     1005");

        // defer cleanupWithDown
        c.compose(&["-p", "env-secret", "down", "-v", "--remove-orphans"]);
    });
}

#[test]
fn test_secret_from_include() {
    let opts = Opts {
        projects: &["env-secret", "env-secret-include"],
        // Upstream runs it in the project TestSecretFromEnv uses: not at the same time.
        exclusive: true,
        ..Opts::default()
    };
    scenario("secrets_test.go:TestSecretFromInclude", opts, |c| {
        // compose run
        let res = c.compose(&["-f", F, "run", "included"]);
        c.expect_out(&res, "this-is-secret");

        // defer cleanupWithDown
        c.compose(&["-p", "env-secret-include", "down", "-v", "--remove-orphans"]);
    });
}
