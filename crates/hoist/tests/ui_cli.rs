//! `hoist ui` refuses what it must refuse before serving anything.

use assert_cmd::Command;

fn hoist() -> Command {
    let mut cmd = Command::cargo_bin("hoist").expect("hoist binary");
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env_remove("DOCKER_HOST")
        .env_remove("HOIST_UI_TOKEN")
        .env("HOIST_STATE_DIR", std::env::temp_dir().join("hoist-ui-cli"));
    cmd
}

#[test]
fn a_non_loopback_bind_without_a_token_refuses_to_start() {
    let out = hoist()
        .args(["ui", "--bind", "0.0.0.0:0"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve the dashboard on 0.0.0.0:0"),
        "{err}"
    );
    assert!(err.contains("HOIST_UI_TOKEN"), "{err}");
}

#[test]
fn an_unknown_target_is_named() {
    let out = hoist()
        .args(["ui", "--bind", "127.0.0.1:0", "--target", "staging"])
        .args(["--config", "examples/books-ms/hoist.yml"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("defines no target \"staging\""), "{err}");
}
