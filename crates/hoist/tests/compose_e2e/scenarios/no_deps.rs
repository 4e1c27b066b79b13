//! `pkg/e2e/noDeps_test.go`.

use crate::harness::{Opts, scenario};

/// Both upstream tests: `up`, `up --no-deps app`, remove `db-1` behind Compose's back, then
/// `up --no-deps app` must fail because `app` shares something with the missing `db`.
fn no_deps_missing_share(
    upstream: &str,
    projects: &'static [&'static str],
    file: &str,
    err: &str,
    exits_on_its_own: Option<&str>,
) {
    let project = projects[0];
    scenario(
        upstream,
        Opts {
            projects,
            ..Opts::default()
        },
        |c| {
            c.compose(&["-f", file, "--project-name", project, "up", "-d"]);
            if let Some(doomed) = exits_on_its_own {
                // In network-mode.yaml both services are nginx in one network namespace: app
                // cannot bind port 80 and exits once nginx stops retrying (about 2.5 s). Whether
                // the next command finds it running or exited depends on how fast a tool is;
                // waiting for that exit (with either tool) leaves the same state to compare.
                c.docker(&["wait", &format!("{project}-{doomed}-1")]);
            }
            c.compose(&[
                "-f",
                file,
                "--project-name",
                project,
                "up",
                "--no-deps",
                "-d",
                "app",
            ]);
            c.docker(&["rm", "-f", &format!("{project}-db-1")]);
            let res = c.compose_no_check(&[
                "-f",
                file,
                "--project-name",
                project,
                "up",
                "--no-deps",
                "-d",
                "app",
            ]);
            c.exit_code(&res, 1);
            c.contains(res.stderr(), err);

            // t.Cleanup
            c.compose(&["--project-name", project, "down"]);
        },
    );
}

#[test]
fn test_no_deps_volume_from() {
    no_deps_missing_share(
        "noDeps_test.go:TestNoDepsVolumeFrom",
        &["e2e-no-deps-volume-from"],
        "fixtures/no-deps/volume-from.yaml",
        "cannot share volume with service db: container missing",
        None,
    );
}

#[test]
fn test_no_deps_network_mode() {
    no_deps_missing_share(
        "noDeps_test.go:TestNoDepsNetworkMode",
        &["e2e-no-deps-network-mode"],
        "fixtures/no-deps/network-mode.yaml",
        "cannot share network namespace with service db: container missing",
        Some("app"),
    );
}
