//! `pkg/e2e/orphans_test.go`.

use crate::harness::{Opts, scenario};

#[test]
fn test_remove_orphans() {
    const P: &str = "compose-e2e-orphans";
    scenario(
        "orphans_test.go:TestRemoveOrphans",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.compose(&[
                "-f",
                "./fixtures/orphans/compose.yaml",
                "-p",
                P,
                "run",
                "orphan",
            ]);
            let res = c.compose(&["-p", P, "ps", "--all"]);
            c.contains(&res.combined(), "compose-e2e-orphans-orphan-run-");
            c.compose(&["-f", "./fixtures/orphans/compose.yaml", "-p", P, "up", "-d"]);
            let res = c.compose(&["-p", P, "ps", "--all"]);
            c.not_contains(&res.combined(), "compose-e2e-orphans-orphan-run-");
            // deferred cleanupWithDown
            c.compose(&["-p", P, "down", "-v", "--remove-orphans"]);
        },
    );
}
