//! `pkg/e2e/compose_test.go` (the functions assigned to this module so far).
//!
//! Not transcribed: `TestAttachRestart` (skipped upstream: "Skipping test until we can fix it").

use crate::harness::{Opts, scenario};

#[test]
fn test_init_container() {
    const P: &str = "init-container";
    scenario(
        "compose_test.go:TestInitContainer",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&[
                "--ansi=never",
                "--project-directory",
                "./fixtures/init-container",
                "up",
                "--menu=false",
            ]);
            // The same pattern as upstream (its unescaped `|` are alternations there too).
            c.matches(res.stdout(), "foo-1  | hello(?m:.*)bar-1  | world");
            c.compose(&["-p", P, "down"]);
        },
    );
}
