//! The binary's surface without an engine: version, help, and the remote-API policy that refuses
//! plain TCP to remote hosts before any connection is made. (The policy against real engines and
//! resolvers, `/etc/hosts` included, is in `lifecycle.rs`.)

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
