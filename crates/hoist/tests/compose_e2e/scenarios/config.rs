//! `pkg/e2e/config_test.go`.

use crate::harness::{Opts, scenario};

#[test]
fn test_local_compose_config() {
    const P: &str = "compose-e2e-config";
    const F: &str = "./fixtures/config/compose.yaml";
    let opts = Opts {
        projects: &[P],
        ..Opts::default()
    };
    scenario("config_test.go:TestLocalComposeConfig", opts, |c| {
        // yaml
        let res = c.compose(&["-f", F, "--project-name", P, "config"]);
        c.expect_out(
            &res,
            "\n    ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n        protocol: tcp",
        );

        // json
        let res = c.compose(&["-f", F, "--project-name", P, "config", "--format", "json"]);
        c.expect_out(&res, "\"published\": \"8080\"");

        // --no-interpolate
        let res = c.compose(&["-f", F, "--project-name", P, "config", "--no-interpolate"]);
        c.expect_out(&res, "- ${PORT:-8080}:80");

        // --variables --format json
        let res = c.compose(&[
            "-f",
            F,
            "--project-name",
            P,
            "config",
            "--variables",
            "--format",
            "json",
        ]);
        c.expect_out(
            &res,
            "{\n    \"PORT\": {\n        \"Name\": \"PORT\",\n        \"DefaultValue\": \"8080\",\n        \"PresenceValue\": \"\",\n        \"Required\": false\n    }\n}",
        );

        // --variables --format yaml
        let res = c.compose(&[
            "-f",
            F,
            "--project-name",
            P,
            "config",
            "--variables",
            "--format",
            "yaml",
        ]);
        c.expect_out(
            &res,
            "PORT:\n    name: PORT\n    defaultvalue: \"8080\"\n    presencevalue: \"\"\n    required: false",
        );
    });
}
