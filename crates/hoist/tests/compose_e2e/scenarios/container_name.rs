//! `pkg/e2e/container_name_test.go`.

use crate::harness::{Opts, scenario};

#[test]
fn test_up_container_name_conflict() {
    const P: &str = "e2e-container_name_conflict";
    const FILE: &str = "fixtures/container_name/compose.yaml";
    scenario(
        "container_name_test.go:TestUpContainerNameConflict",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose_no_check(&["-f", FILE, "--project-name", P, "up"]);
            c.exit_code(&res, 1);
            c.contains(res.stderr(), r#"container name "test" is already in use"#);

            c.compose(&["--project-name", P, "down"]);
            c.compose(&["-f", FILE, "--project-name", P, "up", "test"]);

            c.compose(&["--project-name", P, "down"]);
            c.compose(&["-f", FILE, "--project-name", P, "up", "another_test"]);

            // t.Cleanup
            c.compose(&["--project-name", P, "down"]);
        },
    );
}
