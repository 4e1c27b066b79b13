//! `pkg/e2e/volumes_test.go`.
//!
//! Not transcribed: `TestProjectVolumeBind` (skipped upstream in standalone mode, and its fixture
//! `project-volume-bind-test` is not in the upstream fixtures here) and `TestImageVolume` (its
//! fixture `volumes` is not here either, and image volumes need Docker Engine 28).

use std::time::Duration;

use crate::harness::{Opts, scenario};

#[test]
fn test_local_compose_volume() {
    const P: &str = "compose-e2e-volume";
    let opts = Opts {
        projects: &[P, "myVolume"],
        // Ports 8090 and 9090 of the host.
        exclusive: true,
        deliberate: Some(
            "the scenario checks that the `file:` config and secret are read-only bind mounts \
             (`\"Destination\":\"/myconfig\"`); Compose mounts that path from the engine's host, \
             which on a remote engine is not the client's file, so hoist copies configs and \
             secrets into the container through the Engine API and mounts nothing for them. \
             Every volume the scenario checks is the same",
        ),
        ..Opts::default()
    };
    scenario("volumes_test.go:TestLocalComposeVolume", opts, |c| {
        let up = |c: &mut crate::harness::Cli, extra: &[&str]| {
            let mut args = vec![
                "--project-directory",
                "fixtures/volume-test",
                "--project-name",
                P,
                "up",
            ];
            args.extend_from_slice(extra);
            args.push("-d");
            c.compose(&args);
        };
        // up with build and no image name, volume
        c.docker_no_check(&["rmi", "compose-e2e-volume-nginx"]);
        c.docker_no_check(&["volume", "rm", &format!("{P}-staticVol")]);
        c.docker_no_check(&["volume", "rm", "myvolume"]);
        up(c, &[]);

        // access bind mount data
        let output = c.http_get("http://localhost:8090", 200, Duration::from_secs(20));
        c.contains(&output, "Hello from Nginx container");

        // check container volume specs
        let res = c.docker(&[
            "inspect",
            "compose-e2e-volume-nginx2-1",
            "--format",
            "{{ json .Mounts }}",
        ]);
        c.contains(
            res.stdout(),
            "\"Destination\":\"/usr/src/app/node_modules\",\"Driver\":\"local\",\"Mode\":\"z\",\"RW\":true,\"Propagation\":\"\"",
        );
        c.contains(
            res.stdout(),
            "\"Destination\":\"/myconfig\",\"Mode\":\"\",\"RW\":false,\"Propagation\":\"rprivate\"",
        );

        // check config content
        let res = c.docker(&["exec", "compose-e2e-volume-nginx2-1", "cat", "/myconfig"]);
        c.contains(res.stdout(), "Hello from Nginx container");

        // check secrets content
        let res = c.docker(&[
            "exec",
            "compose-e2e-volume-nginx2-1",
            "cat",
            "/run/secrets/mysecret",
        ]);
        c.contains(res.stdout(), "Hello from Nginx container");

        // check container bind-mounts specs
        let res = c.docker(&[
            "inspect",
            "compose-e2e-volume-nginx-1",
            "--format",
            "{{ json .Mounts }}",
        ]);
        c.contains(res.stdout(), "\"Type\":\"bind\"");
        c.contains(res.stdout(), "\"Destination\":\"/usr/share/nginx/html\"");

        // should inherit anonymous volumes
        c.docker_no_check(&[
            "exec",
            "compose-e2e-volume-nginx2-1",
            "touch",
            "/usr/src/app/node_modules/test",
        ]);
        up(c, &["--force-recreate"]);
        c.docker_no_check(&[
            "exec",
            "compose-e2e-volume-nginx2-1",
            "ls",
            "/usr/src/app/node_modules/test",
        ]);

        // should renew anonymous volumes
        c.docker_no_check(&[
            "exec",
            "compose-e2e-volume-nginx2-1",
            "touch",
            "/usr/src/app/node_modules/test",
        ]);
        up(c, &["--force-recreate", "--renew-anon-volumes"]);
        c.docker_no_check(&[
            "exec",
            "compose-e2e-volume-nginx2-1",
            "ls",
            "/usr/src/app/node_modules/test",
        ]);

        // cleanup volume project
        c.compose(&["--project-name", P, "down", "--volumes"]);
        let ls = c.docker(&["volume", "ls"]);
        c.not_contains(ls.stdout(), &format!("{P}-staticVol"));
        c.not_contains(ls.stdout(), "myvolume");
    });
}

#[test]
fn test_up_switch_volumes() {
    const P: &str = "compose-e2e-switch-volumes";
    let opts = Opts {
        projects: &[P, "test_external_volume"],
        ..Opts::default()
    };
    scenario("volumes_test.go:TestUpSwitchVolumes", opts, |c| {
        c.docker(&["volume", "create", "test_external_volume"]);
        c.docker(&["volume", "create", "test_external_volume_2"]);
        c.compose(&[
            "-f",
            "./fixtures/switch-volumes/compose.yaml",
            "--project-name",
            P,
            "up",
            "-d",
        ]);
        let res = c.docker(&[
            "inspect",
            &format!("{P}-app-1"),
            "-f",
            "{{ (index .Mounts 0).Name }}",
        ]);
        c.expect_out(&res, "test_external_volume");

        c.compose(&[
            "-f",
            "./fixtures/switch-volumes/compose2.yaml",
            "--project-name",
            P,
            "up",
            "-d",
        ]);
        let res = c.docker(&[
            "inspect",
            &format!("{P}-app-1"),
            "-f",
            "{{ (index .Mounts 0).Name }}",
        ]);
        c.expect_out(&res, "test_external_volume_2");

        // t.Cleanup
        c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
        c.docker(&["volume", "rm", "-f", "test_external_volume"]);
        c.docker(&["volume", "rm", "-f", "test_external_volume_2"]);
    });
}

#[test]
fn test_up_recreate_volumes() {
    const P: &str = "compose-e2e-recreate-volumes";
    let opts = Opts {
        projects: &[P],
        ..Opts::default()
    };
    scenario("volumes_test.go:TestUpRecreateVolumes", opts, |c| {
        c.compose(&[
            "-f",
            "./fixtures/recreate-volumes/compose.yaml",
            "--project-name",
            P,
            "up",
            "-d",
        ]);
        let res = c.docker(&[
            "volume",
            "inspect",
            &format!("{P}_my_vol"),
            "-f",
            "{{ index .Labels \"foo\" }}",
        ]);
        c.expect_out(&res, "bar");

        c.compose(&[
            "-f",
            "./fixtures/recreate-volumes/compose2.yaml",
            "--project-name",
            P,
            "up",
            "-d",
            "-y",
        ]);
        let res = c.docker(&[
            "volume",
            "inspect",
            &format!("{P}_my_vol"),
            "-f",
            "{{ index .Labels \"foo\" }}",
        ]);
        c.expect_out(&res, "zot");
        c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
    });
}

#[test]
fn test_up_recreate_volumes_ignore_binds() {
    const P: &str = "compose-e2e-recreate-volumes";
    let opts = Opts {
        projects: &[P],
        ..Opts::default()
    };
    scenario(
        "volumes_test.go:TestUpRecreateVolumes_IgnoreBinds",
        opts,
        |c| {
            let file = "./fixtures/recreate-volumes/bind.yaml";
            c.compose(&["-f", file, "--project-name", P, "up", "-d"]);
            let res = c.compose(&["-f", file, "--project-name", P, "up", "-d"]);
            c.not_contains(&res.combined(), "Recreated");
            c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
        },
    );
}
