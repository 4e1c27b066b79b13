//! Compose secrets and configs from every source reach containers on remote engines: prod over
//! plain TCP, prod-tls over TLS, prod over ssh://.
//!
//! The client runs in a mount namespace of its own with the project on a tmpfs there, so the
//! engine cannot see the client's files, as when hoist runs on a laptop or a CI runner and the
//! engine on a server. (The dev environment's engines share this machine's filesystem; without
//! that, a bind mount of the client's path would find the file by accident.) Docker Compose v2
//! runs the same project against the same engine in the same namespace, for comparison.

use std::path::Path;
use std::process::{Command, Output};

use hoist_testkit::{TestProject, state_dir};

const COMPOSE: &str = r#"services:
  app:
    image: debian:bookworm-slim
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
    secrets:
      - source: token
        uid: "1005"
        gid: "1006"
        mode: 0400
      - api_key
    configs:
      - source: app_conf
        target: /etc/app.conf
      - source: motd
        target: /etc/motd
        mode: 0440
      - source: banner
        target: /etc/banner
  worker:
    image: debian:bookworm-slim
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
    secrets: [api_key]
  plain:
    image: debian:bookworm-slim
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
secrets:
  token:
    file: ./token.bin
  api_key:
    environment: HOIST_TEST_API_KEY
configs:
  app_conf:
    file: ./app.conf
  motd:
    content: "welcome"
  banner:
    environment: HOIST_TEST_BANNER
"#;

/// A token that is not text: NUL, high bytes, no trailing newline.
const TOKEN: &[u8] = b"\x00tok\xffen\x01";
const API_KEY: &str = "api-key-7d1e9c";

/// One way to reach an engine: hoist's flags, the environment they need, and the docker CLI's
/// flags for the same engine (to look at what the container got).
struct Way {
    name: &'static str,
    hoist: Vec<String>,
    env: Vec<(String, String)>,
    docker: Vec<String>,
}

fn ways() -> Vec<Way> {
    let certs = state_dir().join("certs/client");
    let prod_docker = vec!["-H".into(), "tcp://10.200.0.2:2375".into()];
    vec![
        Way {
            name: "tcp",
            hoist: vec![
                "-H".into(),
                "tcp://10.200.0.2:2375".into(),
                "--trust-insecure-host".into(),
                "10.200.0.2".into(),
            ],
            env: Vec::new(),
            docker: prod_docker.clone(),
        },
        Way {
            name: "tls",
            hoist: vec![
                "-H".into(),
                "tcp://10.200.0.3:2376".into(),
                "--tlsverify".into(),
            ],
            env: vec![("DOCKER_CERT_PATH".into(), certs.display().to_string())],
            docker: vec![
                "--tlsverify".into(),
                "--tlscacert".into(),
                certs.join("ca.pem").display().to_string(),
                "--tlscert".into(),
                certs.join("cert.pem").display().to_string(),
                "--tlskey".into(),
                certs.join("key.pem").display().to_string(),
                "-H".into(),
                "tcp://10.200.0.3:2376".into(),
            ],
        },
        Way {
            name: "ssh",
            hoist: vec!["-H".into(), "ssh://root@10.200.0.2".into()],
            env: Vec::new(),
            docker: prod_docker,
        },
    ]
}

/// The project's files, written where the client's namespace copies them from.
fn write_project(src: &Path, token: &[u8], conf: &str) {
    std::fs::create_dir_all(src).unwrap();
    std::fs::write(src.join("compose.yaml"), COMPOSE).unwrap();
    std::fs::write(src.join("token.bin"), token).unwrap();
    std::fs::write(src.join("app.conf"), conf).unwrap();
}

/// `program args` run as a client whose project directory `work` holds a copy of `src` on a
/// tmpfs of its own mount namespace: the engine, outside it, sees `work` empty.
fn client(src: &Path, work: &Path, program: &Path, args: &[String]) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            r#"mount -t tmpfs tmpfs "$1" && cp -a "$2"/. "$1"/ && cd "$1" && shift 2 && exec "$@""#,
        )
        .arg("client")
        .arg(work)
        .arg(src)
        .arg(program)
        .args(args);
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "COMPOSE_PROJECT_NAME",
        "COMPOSE_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn hoist_up(
    way: &Way,
    src: &Path,
    work: &Path,
    project: &str,
    api_key: &str,
    banner: &str,
) -> Output {
    let mut args = way.hoist.clone();
    args.extend(["-p", project, "up", "-d"].map(String::from));
    let mut cmd = client(src, work, Path::new(env!("CARGO_BIN_EXE_hoist")), &args);
    cmd.envs(way.env.iter().cloned())
        .env("HOIST_TEST_API_KEY", api_key)
        .env("HOIST_TEST_BANNER", banner);
    cmd.output().unwrap()
}

fn docker(way: &Way, args: &[&str]) -> Output {
    Command::new("docker")
        .args(&way.docker)
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap()
}

/// Owner, group, mode and bytes of `path` in `container`.
fn file_in(way: &Way, container: &str, path: &str) -> (String, Vec<u8>) {
    let out = docker(way, &["exec", container, "stat", "-c", "%u %g %a", path]);
    assert!(
        out.status.success(),
        "stat {path} in {container}: {}",
        text(&out)
    );
    let meta = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let out = docker(way, &["exec", container, "cat", path]);
    assert!(
        out.status.success(),
        "cat {path} in {container}: {}",
        text(&out)
    );
    (meta, out.stdout)
}

fn container_id(way: &Way, container: &str) -> String {
    let out = docker(way, &["inspect", "-f", "{{.Id}}", container]);
    assert!(out.status.success(), "inspect {container}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ids(way: &Way, project: &str) -> [String; 3] {
    ["app", "worker", "plain"].map(|s| container_id(way, &format!("{project}-{s}-1")))
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_and_configs_of_every_source_reach_remote_engines_and_rotation_recreates_their_users()
 {
    let (Some(prod), Some(prod_tls)) = (
        hoist_testkit::engine("prod").await,
        hoist_testkit::engine("prod-tls").await,
    ) else {
        return;
    };
    let compose_v2 = hoist_testkit::compose_v2();
    for way in ways() {
        let engine = if way.name == "tls" { &prod_tls } else { &prod };
        let project = TestProject::new(&format!("secrets-{}", way.name), &[engine]);
        let compose_project = TestProject::new(&format!("secrets-v2-{}", way.name), &[engine]);
        let dir = tempfile::tempdir().unwrap();
        let (src, work) = (dir.path().join("src"), dir.path().join("work"));
        std::fs::create_dir_all(&work).unwrap();
        write_project(&src, TOKEN, "listen 8080\n");

        // Docker Compose v2, same engine, same files: the `file:` secret is a bind mount of a
        // path the engine's host does not have.
        let args = ["-p", &compose_project.name, "up", "-d"].map(String::from);
        let out = client(&src, &work, &compose_v2, &args)
            .envs(way.env.iter().cloned())
            .env("DOCKER_HOST", &way.hoist[1])
            .env(
                "DOCKER_TLS_VERIFY",
                if way.name == "tls" { "1" } else { "" },
            )
            .env("HOIST_TEST_API_KEY", API_KEY)
            .env("HOIST_TEST_BANNER", "b")
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "{}: Docker Compose v2 reached the client's file: {}",
            way.name,
            text(&out)
        );
        assert!(
            text(&out).contains("token.bin") || text(&out).contains("app.conf"),
            "{}: Compose v2 fails on the file source: {}",
            way.name,
            text(&out)
        );

        // hoist: every source arrives, with its owner and mode.
        let out = hoist_up(&way, &src, &work, &project.name, API_KEY, "hello");
        assert!(
            out.status.success(),
            "{}: hoist up: {}",
            way.name,
            text(&out)
        );
        for value in [API_KEY, "tok"] {
            assert!(!text(&out).contains(value), "{}: {}", way.name, text(&out));
        }
        let app = format!("{}-app-1", project.name);
        let expected: [(&str, &str, &[u8]); 5] = [
            ("/run/secrets/token", "1005 1006 400", TOKEN),
            ("/run/secrets/api_key", "0 0 444", API_KEY.as_bytes()),
            ("/etc/app.conf", "0 0 444", b"listen 8080\n"),
            ("/etc/motd", "0 0 440", b"welcome"),
            ("/etc/banner", "0 0 444", b"hello"),
        ];
        for (path, meta, bytes) in expected {
            let (got_meta, got) = file_in(&way, &app, path);
            assert_eq!(got_meta, meta, "{}: {path}", way.name);
            assert_eq!(got, bytes, "{}: {path}", way.name);
        }
        let (_, got) = file_in(
            &way,
            &format!("{}-worker-1", project.name),
            "/run/secrets/api_key",
        );
        assert_eq!(got, API_KEY.as_bytes(), "{}", way.name);

        // Nothing mounts a path of the engine's host for them.
        let out = docker(&way, &["inspect", "-f", "{{json .Mounts}}", &app]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "[]",
            "{}",
            way.name
        );

        if way.name != "tcp" {
            continue;
        }
        // Rotation, on one way: the file secret changes → only app is recreated.
        let before = ids(&way, &project.name);
        let out = hoist_up(&way, &src, &work, &project.name, API_KEY, "hello");
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(
            ids(&way, &project.name),
            before,
            "nothing changed: {}",
            text(&out)
        );

        write_project(&src, b"rotated-token", "listen 8080\n");
        let out = hoist_up(&way, &src, &work, &project.name, API_KEY, "hello");
        assert!(out.status.success(), "{}", text(&out));
        let after = ids(&way, &project.name);
        assert_ne!(after[0], before[0], "app uses the token: recreated");
        assert_eq!(after[1..], before[1..], "worker and plain do not use it");
        assert_eq!(
            file_in(&way, &app, "/run/secrets/token").1,
            b"rotated-token"
        );

        // The environment-sourced secret changes → app and worker, not plain.
        let out = hoist_up(&way, &src, &work, &project.name, "api-key-rotated", "hello");
        assert!(out.status.success(), "{}", text(&out));
        assert!(!text(&out).contains("api-key-rotated"), "{}", text(&out));
        let rotated = ids(&way, &project.name);
        assert_ne!(rotated[0], after[0]);
        assert_ne!(rotated[1], after[1]);
        assert_eq!(rotated[2], after[2], "plain uses no secret");
        assert_eq!(
            file_in(
                &way,
                &format!("{}-worker-1", project.name),
                "/run/secrets/api_key"
            )
            .1,
            b"api-key-rotated"
        );
    }
}

/// A secret that cannot be resolved fails before the engine changes: no network, no container.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_secret_file_or_an_external_secret_fails_before_any_change() {
    let Some(prod) = hoist_testkit::engine("prod").await else {
        return;
    };
    let way = ways().remove(0);
    for (case, edit) in [
        ("missing", None),
        ("external", Some(("file: ./token.bin", "external: true"))),
    ] {
        let project = TestProject::new(&format!("secrets-bad-{case}"), &[&prod]);
        let dir = tempfile::tempdir().unwrap();
        let (src, work) = (dir.path().join("src"), dir.path().join("work"));
        std::fs::create_dir_all(&work).unwrap();
        write_project(&src, TOKEN, "x");
        match edit {
            None => std::fs::remove_file(src.join("token.bin")).unwrap(),
            Some((from, to)) => {
                std::fs::write(src.join("compose.yaml"), COMPOSE.replace(from, to)).unwrap()
            }
        }
        let out = hoist_up(&way, &src, &work, &project.name, API_KEY, "b");
        assert!(!out.status.success(), "{case}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("app") && err.contains("secret token"),
            "{case}: the error names the service and the secret: {err}"
        );
        match case {
            "missing" => assert!(err.contains("token.bin"), "{err}"),
            _ => assert!(err.contains("external"), "{err}"),
        }
        let out = docker(
            &way,
            &[
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.docker.compose.project={}", project.name),
            ],
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "{case}");
        let out = docker(
            &way,
            &[
                "network",
                "ls",
                "-q",
                "--filter",
                &format!("name={}_", project.name),
            ],
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "{case}");
    }
}
