//! `pkg/e2e/profiles_test.go`.

use crate::harness::{Cli, Opts, scenario};

const PROFILED: &str = "profiled-service";
const REGULAR: &str = "regular-service";
const F: &str = "./fixtures/profiles/compose.yaml";
const PROFILE: &str = "test-profile";

fn opts(project: &'static [&'static str]) -> Opts {
    Opts {
        projects: project,
        ..Opts::default()
    }
}

/// `ps --status running` must not list `absent` and must (or must not) list `maybe`.
fn running(c: &mut Cli, p: &str, absent: &str, maybe: &str, listed: bool) {
    let res = c.compose(&["-p", p, "ps", "--status", "running"]);
    c.not_contains(&res.combined(), absent);
    if listed {
        c.expect_out(&res, maybe);
    } else {
        c.not_contains(&res.combined(), maybe);
    }
}

fn down_and_check(c: &mut Cli, p: &str) {
    c.compose(&["--project-name", p, "down"]);
    let res = c.docker(&["ps"]);
    c.not_contains(&res.combined(), p);
}

#[test]
fn test_explicit_profile_usage() {
    const P: &str = "compose-e2e-explicit-profiles";
    scenario(
        "profiles_test.go:TestExplicitProfileUsage",
        opts(&[P]),
        |c| {
            let res = c.compose(&["-f", F, "-p", P, "--profile", PROFILE, "up", "-d"]);
            c.exit_code(&res, 0);
            let res = c.compose(&["-p", P, "ps"]);
            c.expect_out(&res, REGULAR);
            c.expect_out(&res, PROFILED);

            let res = c.compose(&["-f", F, "-p", P, "--profile", PROFILE, "stop"]);
            c.exit_code(&res, 0);
            let res = c.compose(&["-p", P, "ps", "--status", "running"]);
            c.not_contains(&res.combined(), REGULAR);
            c.not_contains(&res.combined(), PROFILED);

            for verb in ["start", "restart"] {
                let res = c.compose(&["-f", F, "-p", P, "--profile", PROFILE, verb]);
                c.exit_code(&res, 0);
                let res = c.compose(&["-p", P, "ps", "--status", "running"]);
                c.expect_out(&res, REGULAR);
                c.expect_out(&res, PROFILED);
            }
            down_and_check(c, P);
        },
    );
}

#[test]
fn test_no_profile_usage() {
    const P: &str = "compose-e2e-no-profiles";
    scenario("profiles_test.go:TestNoProfileUsage", opts(&[P]), |c| {
        let res = c.compose(&["-f", F, "-p", P, "up", "-d"]);
        c.exit_code(&res, 0);
        let res = c.compose(&["-p", P, "ps"]);
        c.expect_out(&res, REGULAR);
        c.not_contains(&res.combined(), PROFILED);

        let res = c.compose(&["-f", F, "-p", P, "stop"]);
        c.exit_code(&res, 0);
        let res = c.compose(&["-p", P, "ps", "--status", "running"]);
        c.not_contains(&res.combined(), REGULAR);
        c.not_contains(&res.combined(), PROFILED);

        for verb in ["start", "restart"] {
            let res = c.compose(&["-f", F, "-p", P, verb]);
            c.exit_code(&res, 0);
            running(c, P, PROFILED, REGULAR, true);
        }
        down_and_check(c, P);
    });
}

#[test]
fn test_active_profile_via_targeted_service() {
    const P: &str = "compose-e2e-via-target-service-profiles";
    scenario(
        "profiles_test.go:TestActiveProfileViaTargetedService",
        opts(&[P]),
        |c| {
            let res = c.compose(&["-f", F, "-p", P, "up", PROFILED, "-d"]);
            c.exit_code(&res, 0);
            let res = c.compose(&["-p", P, "ps"]);
            c.not_contains(&res.combined(), REGULAR);
            c.expect_out(&res, PROFILED);
            let res = c.compose(&["-p", P, "--profile", PROFILE, "ps"]);
            c.not_contains(&res.combined(), REGULAR);
            c.expect_out(&res, PROFILED);

            let res = c.compose(&["-f", F, "-p", P, "stop", PROFILED]);
            c.exit_code(&res, 0);
            running(c, P, REGULAR, PROFILED, false);

            let res = c.compose(&["-f", F, "-p", P, "start", PROFILED]);
            c.exit_code(&res, 0);
            running(c, P, REGULAR, PROFILED, true);

            let res = c.compose(&["-f", F, "-p", P, "restart"]);
            c.exit_code(&res, 0);
            running(c, P, REGULAR, PROFILED, true);
            down_and_check(c, P);
        },
    );
}

#[test]
fn test_dot_env_profile_usage() {
    const P: &str = "compose-e2e-dotenv-profiles";
    scenario("profiles_test.go:TestDotEnvProfileUsage", opts(&[P]), |c| {
        let res = c.compose(&[
            "-f",
            F,
            "--env-file",
            "./fixtures/profiles/test-profile.env",
            "-p",
            P,
            "--profile",
            PROFILE,
            "up",
            "-d",
        ]);
        c.exit_code(&res, 0);
        let res = c.compose(&["-p", P, "ps"]);
        c.expect_out(&res, REGULAR);
        c.expect_out(&res, PROFILED);
        c.compose(&["--project-name", P, "down"]);
    });
}
