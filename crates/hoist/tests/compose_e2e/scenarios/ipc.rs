//! `pkg/e2e/ipc_test.go`.

use crate::harness::{Opts, scenario};

#[test]
fn test_ipc() {
    const P: &str = "ipc_e2e";
    scenario(
        "ipc_test.go:TestIPC",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            // create ipc mode container
            let res = c.docker(&[
                "run",
                "-d",
                "--rm",
                "--ipc=shareable",
                "--name",
                "ipc_mode_container",
                "alpine",
                "top",
            ]);
            let cid = res.stdout().trim_matches('\n').to_string();

            // up
            c.compose(&[
                "-f",
                "./fixtures/ipc-test/compose.yaml",
                "--project-name",
                P,
                "up",
                "-d",
            ]);

            // check running project
            let res = c.compose(&["-p", P, "ps"]);
            c.contains(res.stdout(), "shareable");

            // check ipcmode in container inspect
            let res = c.docker(&["inspect", &format!("{P}-shareable-1")]);
            c.contains(res.stdout(), r#""IpcMode": "shareable","#);
            let res = c.docker(&["inspect", &format!("{P}-service-1")]);
            c.contains(res.stdout(), r#""IpcMode": "container:"#);
            let res = c.docker(&["inspect", &format!("{P}-container-1")]);
            c.contains(res.stdout(), &format!(r#""IpcMode": "container:{cid}","#));

            // down
            c.compose(&["--project-name", P, "down"]);
            // remove ipc mode container
            c.docker(&["rm", "-f", "ipc_mode_container"]);
        },
    );
}
