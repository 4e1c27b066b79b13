//! Docker contexts: made by the docker CLI itself (`docker context create`, `context use`) in a
//! folder of the test's own (`DOCKER_CONFIG`), then used by hoist with the docker CLI's
//! precedence. The TLS context points at the dev environment's prod-tls engine.

use std::path::Path;
use std::process::{Command, Output};

fn docker(config: &Path, args: &[&str]) -> Output {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", text(&out));
    out
}

fn hoist(config: &Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
    cmd.args(args)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .current_dir(config);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn contexts_the_docker_cli_made_reach_their_engines_with_its_precedence() {
    // The prod-tls engine must be up (the context points at it).
    if hoist_testkit::engine("prod-tls").await.is_none() {
        return;
    }
    let config = tempfile::tempdir().unwrap();
    let dir = config.path();
    let certs = hoist_testkit::state_dir().join("certs/client");
    let endpoint = format!(
        "host=tcp://10.200.0.3:2376,ca={0}/ca.pem,cert={0}/cert.pem,key={0}/key.pem",
        certs.display()
    );
    docker(
        dir,
        &[
            "context",
            "create",
            "prod-tls",
            "--description",
            "prod over TLS",
            "--docker",
            &endpoint,
        ],
    );
    docker(
        dir,
        &[
            "context",
            "create",
            "nowhere",
            "--docker",
            "host=tcp://127.0.0.1:9",
        ],
    );

    // `context ls` as the docker CLI prints it (hoist drops trailing blanks), JSON too.
    let ours = hoist(dir, &[], &["context", "ls"]);
    let theirs = docker(dir, &["context", "ls"]);
    let trimmed: String = stdout(&theirs)
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    assert_eq!(stdout(&ours), trimmed, "{}", text(&ours));
    let ours = hoist(dir, &[], &["context", "ls", "--format", "json"]);
    let theirs = docker(dir, &["context", "ls", "--format", "json"]);
    assert_eq!(stdout(&ours), stdout(&theirs));

    // --context: hoist talks to prod-tls over TLS with the context's certificates.
    let version = hoist(dir, &[], &["--context", "prod-tls", "version"]);
    assert!(
        stdout(&version).contains("engine tcp://10.200.0.3:2376: Docker"),
        "{}",
        text(&version)
    );
    // DOCKER_CONTEXT, then the current context of `docker context use`.
    let version = hoist(dir, &[("DOCKER_CONTEXT", "prod-tls")], &["version"]);
    assert!(
        stdout(&version).contains("10.200.0.3:2376"),
        "{}",
        text(&version)
    );
    docker(dir, &["context", "use", "prod-tls"]);
    let version = hoist(dir, &[], &["version"]);
    assert!(
        stdout(&version).contains("10.200.0.3:2376"),
        "{}",
        text(&version)
    );
    let listed = hoist(dir, &[], &["context", "ls", "-q"]);
    assert_eq!(stdout(&listed), "default\nnowhere\nprod-tls\n");
    // DOCKER_HOST beats DOCKER_CONTEXT and the current context; --context beats DOCKER_HOST.
    let local = [("DOCKER_HOST", "unix:///var/run/docker.sock")];
    let version = hoist(dir, &local, &["version"]);
    assert!(
        stdout(&version).contains("engine unix:///var/run/docker.sock"),
        "{}",
        text(&version)
    );
    let version = hoist(dir, &local, &["--context", "prod-tls", "version"]);
    assert!(
        stdout(&version).contains("10.200.0.3:2376"),
        "{}",
        text(&version)
    );

    // Bad input: a context that does not exist, -H with --context, an unreachable endpoint.
    let out = hoist(dir, &[], &["--context", "nope", "ls"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("context \"nope\" does not exist"),
        "{}",
        text(&out)
    );
    let out = hoist(
        dir,
        &[],
        &[
            "-H",
            "unix:///var/run/docker.sock",
            "--context",
            "prod-tls",
            "ls",
        ],
    );
    assert!(
        text(&out).contains("either specify --host or --context, not both"),
        "{}",
        text(&out)
    );
    let out = hoist(dir, &[], &["--context", "nowhere", "ls"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("tcp://127.0.0.1:9"), "{}", text(&out));
}
