//! `pkg/e2e/configs_test.go`.

use crate::harness::{Opts, scenario};

#[test]
fn test_config_from_env() {
    let opts = Opts {
        projects: &["configs"],
        deliberate: Some(
            "Compose bind-mounts a `file:` config from the engine's host, which on a remote \
             engine is not the client's file; hoist copies every config into the container \
             through the Engine API, so its container has no such mount. The output is the same",
        ),
        ..Opts::default()
    };
    scenario("configs_test.go:TestConfigFromEnv", opts, |c| {
        const F: &str = "./fixtures/configs/compose.yaml";
        // config from file
        let res = c.compose_env(&[], &["-f", F, "run", "from_file"]);
        c.expect_out(&res, "This is my config file");

        // config from env
        let res = c.compose_env(&["CONFIG=config"], &["-f", F, "run", "from_env"]);
        c.expect_out(&res, "config");

        // config inlined
        let res = c.compose_env(&["CONFIG=config"], &["-f", F, "run", "inlined"]);
        c.expect_out(&res, "This is my config");

        // custom target
        let res = c.compose_env(&["CONFIG=config"], &["-f", F, "run", "target"]);
        c.expect_out(&res, "This is my config");

        // defer cleanupWithDown
        c.compose(&["-p", "configs", "down", "-v", "--remove-orphans"]);
    });
}
