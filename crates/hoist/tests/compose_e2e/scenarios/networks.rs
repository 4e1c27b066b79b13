//! `pkg/e2e/networks_test.go`.
//!
//! Not transcribed: `TestNetworkAliases` and `TestNetworkLinks` (they check with `compose exec`,
//! a verb hoist does not have yet), `TestInterfaceName` (its fixture `network-interface-name` is
//! not in the upstream fixtures here) and `TestNetworkConfigChanged` (skipped upstream).

use std::time::Duration;

use crate::harness::{Opts, scenario};

#[test]
fn test_networks() {
    const P: &str = "network-e2e";
    let opts = Opts {
        projects: &[P, "microservices", "closenamenet", "closenamenet-2"],
        // Ports 80 and 8080 of the host.
        exclusive: true,
        ..Opts::default()
    };
    scenario("networks_test.go:TestNetworks", opts, |c| {
        c.with_env(&[
            "COMPOSE_PROJECT_NAME=network-e2e",
            "COMPOSE_FILE=./fixtures/network-test/compose.yaml",
        ]);
        c.compose(&["down", "-t0", "-v"]);
        c.compose(&["up", "-d"]);
        let res = c.compose(&["ps"]);
        c.expect_out(&res, "web");

        let output = c.http_get(
            "http://localhost:80/words/noun",
            200,
            Duration::from_secs(20),
        );
        c.contains(&output, "\"word\":");

        let res = c.docker(&["network", "ls"]);
        c.expect_out(&res, &format!("{P}_dbnet"));
        c.expect_out(&res, "microservices");

        let res = c.compose(&["port", "words", "8080"]);
        c.expect_out(&res, "0.0.0.0:8080");

        c.compose(&["down", "-t0", "-v"]);
        let res = c.docker(&["network", "ls"]);
        c.not_contains(&res.combined(), P);
        c.not_contains(&res.combined(), "microservices");
    });
}

#[test]
fn test_ipam_config() {
    const P: &str = "ipam_e2e";
    let opts = Opts {
        projects: &[P],
        // A fixed subnet: no other scenario may hold it.
        exclusive: true,
        ..Opts::default()
    };
    scenario("networks_test.go:TestIPAMConfig", opts, |c| {
        // ensure we do not reuse previous networks
        c.docker_no_check(&["network", "rm", &format!("{P}_default")]);
        c.compose(&[
            "-f",
            "./fixtures/ipam/compose.yaml",
            "--project-name",
            P,
            "up",
            "-d",
        ]);
        let res = c.docker(&[
            "inspect",
            &format!("{P}-foo-1"),
            "-f",
            &format!(
                "{{{{ $network := index .NetworkSettings.Networks \"{P}_default\" }}}}{{{{ $network.IPAMConfig.IPv4Address }}}}"
            ),
        ]);
        c.expect_out(&res, "10.1.0.100");
        c.compose(&["--project-name", P, "down"]);
    });
}

#[test]
fn test_network_modes() {
    const P: &str = "network_mode_service_run";
    let opts = Opts {
        projects: &[P, "microservices", "closenamenet", "closenamenet-2"],
        // The fixture's named networks are TestNetworks' too.
        exclusive: true,
        ..Opts::default()
    };
    scenario("networks_test.go:TestNetworkModes", opts, |c| {
        let res = c.compose(&[
            "-f",
            "./fixtures/network-test/compose.yaml",
            "--project-name",
            P,
            "run",
            "-T",
            "mydb",
            "echo",
            "success",
        ]);
        c.expect_out(&res, "success");
        // defer cleanupWithDown
        c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
    });
}

#[test]
fn test_mac_address() {
    const P: &str = "network_mac_address";
    let opts = Opts {
        projects: &[P],
        ..Opts::default()
    };
    scenario("networks_test.go:TestMacAddress", opts, |c| {
        c.compose(&[
            "-f",
            "./fixtures/network-test/mac_address.yaml",
            "--project-name",
            P,
            "up",
            "-d",
        ]);
        let res = c.docker(&[
            "inspect",
            &format!("{P}-test-1"),
            "-f",
            "{{ (index .NetworkSettings.Networks \"network_mac_address_default\" ).MacAddress }}",
        ]);
        c.expect_out(&res, "00:e0:84:35:d0:e8");
        c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
    });
}

#[test]
fn test_network_recreate() {
    const P: &str = "network_recreate";
    let opts = Opts {
        projects: &[P],
        ..Opts::default()
    };
    scenario("networks_test.go:TestNetworkRecreate", opts, |c| {
        let file = "./fixtures/network-recreate/compose.yaml";
        c.compose(&["-f", file, "--project-name", P, "up", "-d"]);
        let res = c.compose_env(
            &["FOO=bar"],
            &[
                "-f",
                file,
                "--project-name",
                P,
                "--progress=plain",
                "up",
                "-d",
            ],
        );
        c.exit_code(&res, 0);
        c.contains(
            res.stderr(),
            "\n Container network_recreate-web-1  Stopped\n Network network_recreate_test  Removed\n Network network_recreate_test  Creating\n Network network_recreate_test  Created\n Container network_recreate-web-1  Starting\n Container network_recreate-web-1  Started",
        );
        c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
    });
}
