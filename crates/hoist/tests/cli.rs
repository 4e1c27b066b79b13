//! The binary's surface without an engine: version, help, and the remote-API policy that refuses
//! plain TCP to remote hosts before any connection is made. (The policy against real engines and
//! resolvers, `/etc/hosts` included, is in `lifecycle.rs`.) `version --format json` also reads the
//! local engine, when there is one.

use assert_cmd::Command;

fn hoist() -> Command {
    let mut cmd = Command::cargo_bin("hoist").expect("hoist binary");
    cmd.env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("HOIST_TRUST_INSECURE_HOST");
    cmd
}

fn stdout(assert: assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

#[test]
fn version_flag_prints_the_package_version() {
    let out = stdout(hoist().arg("--version").assert().success());
    assert_eq!(out.trim(), format!("hoist {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_lists_the_engine_flags() {
    let out = stdout(hoist().arg("--help").assert().success());
    for flag in [
        "--host",
        "--tlsverify",
        "--trust-insecure-host",
        "--project-name",
        "--file",
    ] {
        assert!(out.contains(flag), "--help should mention {flag}:\n{out}");
    }
}

#[test]
fn plain_tcp_to_a_remote_address_is_refused_with_tls_advice() {
    let assert = hoist()
        .env("DOCKER_HOST", "tcp://10.200.0.2:2375")
        .arg("version")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        err.contains("refusing plain-TCP connection to tcp://10.200.0.2:2375"),
        "{err}"
    );
    assert!(
        err.contains("10.200.0.2 is not a loopback address"),
        "{err}"
    );
    assert!(err.contains("--tlsverify"), "{err}");
    assert!(err.contains("--trust-insecure-host 10.200.0.2"), "{err}");
}

#[test]
fn a_name_that_does_not_resolve_is_named() {
    let assert = hoist()
        .env("DOCKER_HOST", "tcp://prod.invalid:2375")
        .arg("ps")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(err.contains("cannot resolve prod.invalid"), "{err}");
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    hoist().arg("--no-such-flag").assert().code(2);
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn without_home_or_a_state_variable_hoist_refuses_instead_of_using_the_working_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let assert = hoist()
        .env_remove("HOME")
        .env_remove("HOIST_STATE_DIR")
        .env_remove("XDG_STATE_HOME")
        .current_dir(cwd.path())
        .args(["pipeline", "history"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        err.contains("HOIST_STATE_DIR") && err.contains("HOME"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "nothing written to the working directory: {left:?}"
    );
}

#[test]
fn the_state_folder_and_its_history_are_private_and_wider_ones_are_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    // Created by hoist: 0700 and 0600.
    let fresh = root.path().join("fresh/state");
    hoist()
        .env("HOIST_STATE_DIR", &fresh)
        .args(["pipeline", "history"])
        .assert()
        .success();
    assert_eq!(mode(&fresh), 0o700);
    assert_eq!(mode(&fresh.join("history.sqlite3")), 0o600);
    for side in ["history.sqlite3-wal", "history.sqlite3-shm"] {
        let path = fresh.join(side);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{side}");
        }
    }
    // Left wide by an older hoist or by hand: tightened, the runs kept.
    let old = root.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(fresh.join("history.sqlite3"), old.join("history.sqlite3")).unwrap();
    std::fs::set_permissions(
        old.join("history.sqlite3"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    hoist()
        .env("HOIST_STATE_DIR", &old)
        .args(["pipeline", "history"])
        .assert()
        .success();
    assert_eq!(mode(&old), 0o700);
    assert_eq!(mode(&old.join("history.sqlite3")), 0o600);
}

#[test]
fn version_short_is_the_bare_number_as_composes() {
    let out = stdout(hoist().args(["version", "--short"]).assert().success());
    assert_eq!(out, format!("{}\n", env!("CARGO_PKG_VERSION")));
    let compose = std::process::Command::new(hoist_testkit::compose_v2())
        .args(["version", "--short"])
        .output()
        .unwrap();
    let theirs = String::from_utf8_lossy(&compose.stdout);
    assert!(
        theirs.trim().split('.').all(|p| p.parse::<u32>().is_ok()),
        "Compose's --short is a bare number too: {theirs:?}"
    );
}

#[tokio::test]
async fn version_json_names_hoist_and_the_engine() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let id = cd.identity().await.unwrap();
    let out = stdout(
        hoist()
            .env_remove("DOCKER_HOST")
            .args(["version", "--format", "json"])
            .assert()
            .success(),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["engine"]["version"], id.version.as_str());
    assert_eq!(v["engine"]["api_version"], id.api_version.as_str());
    let err = hoist()
        .args(["version", "--format", "yaml"])
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&err.get_output().stderr).contains("pretty or json"));
}
