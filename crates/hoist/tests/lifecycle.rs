//! The compose lifecycle on real engines, driven through the `hoist` binary.
//!
//! The chapter 7 replay: from the cd machine, deploy the book's legacy v1 stack to a prod engine
//! through its API (plain TCP as in the book, and TLS), list it, find the random host port three
//! ways, and use the service, without ever logging into prod. Then interoperability with Docker
//! Compose v2 and the failure modes a user meets.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use hoist_testkit::http::{request, wait_for_status};
use hoist_testkit::{REGISTRY_FROM_CD, TestProject, compose_v2, engine, state_dir};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `hoist` aimed at a dev-env engine, with a clean environment.
fn hoist(engine_name: &str) -> Command {
    let mut cmd = Command::cargo_bin("hoist").expect("hoist binary");
    for var in [
        "DOCKER_HOST",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "HOIST_TRUST_INSECURE_HOST",
        "COMPOSE_PROJECT_NAME",
        "COMPOSE_FILE",
    ] {
        cmd.env_remove(var);
    }
    match engine_name {
        "cd" => {}
        "prod" => {
            cmd.args([
                "-H",
                "tcp://10.200.0.2:2375",
                "--trust-insecure-host",
                "10.200.0.2",
            ]);
        }
        "prod-tls" => {
            cmd.env("DOCKER_TLS_VERIFY", "1")
                .env("DOCKER_CERT_PATH", state_dir().join("certs/client"))
                .args(["-H", "tcp://10.200.0.3:2376"]);
        }
        // prod's engine through the dev environment's sshd, as a user with a key reaches it.
        "prod-ssh" => {
            cmd.args(["-H", "ssh://root@10.200.0.2"]);
        }
        // prod-tls through a context the docker CLI made.
        "prod-tls-context" => {
            cmd.env("DOCKER_CONFIG", tls_context_config())
                .args(["--context", "prod-tls"]);
        }
        other => panic!("unknown engine {other}"),
    }
    cmd
}

/// The dev-env engine behind one of [`hoist`]'s ways in.
fn engine_behind(way: &str) -> &str {
    match way {
        "prod-ssh" => "prod",
        "prod-tls-context" => "prod-tls",
        other => other,
    }
}

/// A docker CLI config folder holding a context `prod-tls` (TLS, the dev env's client
/// certificates), made once per test process by `docker context create`.
fn tls_context_config() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let certs = state_dir().join("certs/client");
        let out = Command::new("docker")
            .env("DOCKER_CONFIG", dir.path())
            .env_remove("DOCKER_HOST")
            .args(["context", "create", "prod-tls", "--docker"])
            .arg(format!(
                "host=tcp://10.200.0.3:2376,ca={0}/ca.pem,cert={0}/cert.pem,key={0}/key.pem",
                certs.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run hoist");
    assert!(
        out.status.success(),
        "hoist failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const BOOKS: [&str; 3] = [
    r#"{"_id": 1, "title": "My First Book", "author": "John Doe", "description": "Not a very good book"}"#,
    r#"{"_id": 2, "title": "My Second Book", "author": "John Doe", "description": "Not a bad as the first book"}"#,
    r#"{"_id": 3, "title": "My Third Book", "author": "John Doe", "description": "Failed writers club"}"#,
];

async fn chapter7_replay(engine_name: &str, address: &str) {
    let Some(engine) = engine(engine_behind(engine_name)).await else {
        return;
    };
    let project = TestProject::new("ch7", &[&engine]);
    let p = project.name.clone();
    let compose = repo_root().join("examples/books-ms/docker-compose.yml");
    let base = |cmd: &mut Command| {
        cmd.args(["-p", &p, "-f"]).arg(&compose);
    };

    let mut up = hoist(engine_name);
    base(&mut up);
    let out = run_ok(up.args(["up", "-d", "app"]));
    let progress = stderr(&out);
    let db_started = progress
        .find(&format!("Container {p}_db_1  Started"))
        .unwrap_or_else(|| panic!("db not started:\n{progress}"));
    let app_started = progress
        .find(&format!("Container {p}_app_1  Started"))
        .unwrap_or_else(|| panic!("app not started:\n{progress}"));
    assert!(
        db_started < app_started,
        "db starts before app:\n{progress}"
    );

    let mut ps = hoist(engine_name);
    base(&mut ps);
    let table = stdout(&run_ok(ps.arg("ps")));
    let app_line = table
        .lines()
        .find(|l| l.starts_with(&format!("{p}_app_1 ")))
        .unwrap_or_else(|| panic!("no app row:\n{table}"));
    assert!(app_line.contains(" Up "), "{table}");
    let port: String = app_line
        .split("0.0.0.0:")
        .nth(1)
        .and_then(|rest| rest.split("->8080/tcp").next())
        .unwrap_or_else(|| panic!("no 0.0.0.0:PORT->8080/tcp in {app_line:?}"))
        .to_string();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&format!("{p}_db_1 ")) && l.contains(" Up")),
        "{table}"
    );

    let mut port_cmd = hoist(engine_name);
    base(&mut port_cmd);
    let printed = stdout(&run_ok(port_cmd.args(["port", "app", "8080"])));
    assert_eq!(printed.trim(), format!("0.0.0.0:{port}"));

    let mut inspect = hoist(engine_name);
    base(&mut inspect);
    let templated = stdout(&run_ok(inspect.args([
        "inspect",
        r#"--format={{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}"#,
        &format!("{p}_app_1"),
    ])));
    assert_eq!(templated.trim(), port);

    // The book's calls, through the random port on the prod host.
    let url = format!("http://{address}:{port}/api/v1/books");
    wait_for_status(&url, 200, Duration::from_secs(60)).expect("books-ms answers");
    for book in BOOKS {
        let r = request("PUT", &url, Some(book)).expect("PUT");
        assert_eq!(r.status, 200, "{}", r.body);
        let sent: serde_json::Value = serde_json::from_str(book).unwrap();
        assert_eq!(r.json(), sent);
    }
    let list = request("GET", &url, None).expect("GET list");
    assert_eq!(
        list.json(),
        serde_json::json!([
            {"_id": 1, "title": "My First Book", "author": "John Doe"},
            {"_id": 2, "title": "My Second Book", "author": "John Doe"},
            {"_id": 3, "title": "My Third Book", "author": "John Doe"},
        ])
    );
    let one = request("GET", &format!("{url}/_id/1"), None).expect("GET _id/1");
    assert_eq!(
        one.json(),
        serde_json::from_str::<serde_json::Value>(BOOKS[0]).unwrap()
    );

    // A second `up` leaves the unchanged stack running.
    let mut again = hoist(engine_name);
    base(&mut again);
    let out = run_ok(again.args(["up", "-d", "app"]));
    let progress = stderr(&out);
    assert!(
        progress.contains(&format!("Container {p}_app_1  Running")),
        "{progress}"
    );
    assert!(
        !progress.contains("Creating"),
        "nothing recreated:\n{progress}"
    );

    // The book's clean-up: `down` removes both containers.
    let mut down = hoist(engine_name);
    base(&mut down);
    run_ok(down.arg("down"));
    let mut ps = hoist(engine_name);
    base(&mut ps);
    let table = stdout(&run_ok(ps.args(["ps", "-a"])));
    assert!(
        !table.contains(&format!("{p}_app_1")) && !table.contains(&format!("{p}_db_1")),
        "down left containers:\n{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn chapter7_replay_on_prod_over_plain_tcp() {
    chapter7_replay("prod", "10.200.0.2").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chapter7_replay_on_prod_tls_over_tls() {
    chapter7_replay("prod-tls", "10.200.0.3").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chapter7_replay_on_prod_over_ssh() {
    chapter7_replay("prod-ssh", "10.200.0.2").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chapter7_replay_on_prod_tls_through_a_docker_context() {
    chapter7_replay("prod-tls-context", "10.200.0.3").await;
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

fn temp_dir(project: &TestProject) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hoist-test-{}", project.name));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const SLEEPER: &str = "services:\n  web:\n    image: debian:bookworm-slim\n    command: [\"sleep\", \"600\"]\n    stop_signal: SIGKILL\n";

#[tokio::test(flavor = "multi_thread")]
async fn docker_compose_v2_sees_what_hoist_made_and_hoist_removes_what_compose_made() {
    let Some(cd) = engine("cd").await else { return };
    let ours = TestProject::new("interop-a", &[&cd]);
    let theirs = TestProject::new("interop-b", &[&cd]);
    let dir = temp_dir(&ours);
    let file = write(&dir, "compose.yaml", SLEEPER);

    run_ok(
        hoist("cd")
            .args(["-p", &ours.name, "-f"])
            .arg(&file)
            .args(["up", "-d"]),
    );
    let compose = std::process::Command::new(compose_v2())
        .args(["-p", &ours.name, "-f"])
        .arg(&file)
        .args(["ps", "--format", "{{.Name}} {{.State}}"])
        .output()
        .expect("run docker compose v2 (scripts/peers installs it)");
    assert!(compose.status.success(), "{}", stderr(&compose));
    assert_eq!(
        stdout(&compose).trim(),
        format!("{}-web-1 running", ours.name)
    );

    let up = std::process::Command::new(compose_v2())
        .args(["-p", &theirs.name, "-f"])
        .arg(&file)
        .args(["up", "-d"])
        .output()
        .expect("docker compose up");
    assert!(up.status.success(), "{}", stderr(&up));
    run_ok(
        hoist("cd")
            .args(["-p", &theirs.name, "-f"])
            .arg(&file)
            .arg("down"),
    );
    let ps = std::process::Command::new(compose_v2())
        .args(["-p", &theirs.name, "-f"])
        .arg(&file)
        .args(["ps", "-a", "-q"])
        .output()
        .expect("docker compose ps");
    assert_eq!(
        stdout(&ps).trim(),
        "",
        "hoist down removed compose's containers"
    );
    assert!(
        !hoist_testkit::network_exists(&cd, &format!("{}_default", theirs.name)).await,
        "the project network is gone too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_names_the_image_and_the_registry() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("missing-image", &[&prod]);
    let dir = temp_dir(&project);
    let file = write(
        &dir,
        "compose.yaml",
        "services:\n  app:\n    image: 10.200.0.1:5000/hoist-test/does-not-exist:1\n",
    );
    let out = hoist("prod")
        .args(["-p", &project.name, "-f"])
        .arg(&file)
        .args(["up", "-d"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("hoist-test/does-not-exist"), "{err}");
    assert!(err.contains("10.200.0.1:5000"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_port_conflict_names_the_service_and_port_and_a_second_up_converges() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("port-conflict", &[&prod]);
    let dir = temp_dir(&project);
    let port = 20000 + (std::process::id() % 20000);
    let both = format!(
        "services:\n  a:\n    image: debian:bookworm-slim\n    command: [\"sleep\", \"600\"]\n    \
         stop_signal: SIGKILL\n    ports: [\"{port}:8080\"]\n  b:\n    image: debian:bookworm-slim\n    \
         command: [\"sleep\", \"600\"]\n    stop_signal: SIGKILL\n    depends_on: [a]\n    ports: [\"{port}:8080\"]\n"
    );
    let file = write(&dir, "compose.yaml", &both);
    let out = hoist("prod")
        .args(["-p", &project.name, "-f"])
        .arg(&file)
        .args(["up", "-d"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("service b"), "{err}");
    assert!(err.contains(&port.to_string()), "{err}");
    assert!(err.contains("done before the failure"), "{err}");
    assert!(
        err.contains(&format!("start container {}-a-1", project.name)),
        "{err}"
    );

    // Fix the file (b publishes nothing); the second up keeps a and starts b.
    let fixed = format!(
        "services:\n  a:\n    image: debian:bookworm-slim\n    command: [\"sleep\", \"600\"]\n    \
         stop_signal: SIGKILL\n    ports: [\"{port}:8080\"]\n  b:\n    image: debian:bookworm-slim\n    \
         command: [\"sleep\", \"600\"]\n    stop_signal: SIGKILL\n    depends_on: [a]\n"
    );
    write(&dir, "compose.yaml", &fixed);
    let out = run_ok(
        hoist("prod")
            .args(["-p", &project.name, "-f"])
            .arg(&file)
            .args(["up", "-d"]),
    );
    let progress = stderr(&out);
    assert!(
        progress.contains(&format!("Container {}-a-1  Running", project.name)),
        "{progress}"
    );
    assert!(
        progress.contains(&format!("Container {}-b-1  Started", project.name)),
        "{progress}"
    );
}

#[test]
fn plain_tcp_ps_against_a_remote_address_is_refused_before_anything_else() {
    let out = Command::cargo_bin("hoist")
        .unwrap()
        .env("DOCKER_HOST", "tcp://10.200.0.2:2375")
        .env_remove("HOIST_TRUST_INSECURE_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .current_dir(std::env::temp_dir())
        .arg("ps")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("refusing plain-TCP connection to tcp://10.200.0.2:2375"),
        "{err}"
    );
    assert!(err.contains("Use TLS"), "{err}");
}

/// `hoist ARGS` in a private mount namespace whose `/etc/hosts` is `hosts`: the answer a
/// resolver (an edited hosts file, a DNS server) can give for a name, without touching this
/// machine's file.
fn hoist_with_hosts(hosts: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts");
    std::fs::write(&file, hosts).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("hoist");
    std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/hosts && exec "$@""#)
        .arg(&file)
        .arg(&bin)
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("HOIST_TRUST_INSECURE_HOST")
        .output()
        .expect("unshare (util-linux) runs hoist in its own mount namespace")
}

#[test]
fn a_localhost_name_that_resolves_to_a_remote_address_is_refused() {
    let out = hoist_with_hosts(
        "127.0.0.1 localhost\n10.200.0.2 prod.localhost\n",
        &["-H", "tcp://prod.localhost:2375", "version"],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("refusing plain-TCP connection to tcp://prod.localhost:2375"),
        "{err}"
    );
    assert!(
        err.contains("prod.localhost resolves to 10.200.0.2, which is not a loopback address"),
        "{err}"
    );
    assert!(!stdout(&out).contains("engine "), "{}", stdout(&out));
}

/// A TCP listener on `ip` that forwards each connection to the cd engine's socket and counts
/// them.
fn forward_to_cd_engine(ip: &str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let unix = std::os::unix::net::UnixStream::connect("/var/run/docker.sock").unwrap();
            let (mut tcp_in, mut unix_out) = (tcp.try_clone().unwrap(), unix.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut tcp_in, &mut unix_out));
            let (mut unix_in, mut tcp_out) = (unix, tcp);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut unix_in, &mut tcp_out);
                let _ = tcp_out.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (port, count)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_resolves_to_loopback_reaches_the_engine_at_that_address() {
    if engine("cd").await.is_none() {
        return;
    }
    // Only 127.0.0.7 listens, and only the namespace's hosts file sends the name there.
    let (port, connections) = forward_to_cd_engine("127.0.0.7");
    let address = format!("tcp://engine.localhost:{port}");
    let out = hoist_with_hosts(
        "127.0.0.1 localhost\n127.0.0.7 engine.localhost\n",
        &["-H", &address, "version"],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{}\n{text}", stderr(&out));
    assert!(
        text.contains(&format!("engine {address}: Docker")),
        "{text}"
    );
    // The ping and the version request, both through the forward.
    assert!(
        connections.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "{text}"
    );
}

/// A credential helper (`credsStore` in `$DOCKER_CONFIG/config.json`, found on `PATH`) whose
/// answer is malformed and carries the secret: the pull fails naming the helper and the
/// registry, and the secret is in no output.
#[tokio::test(flavor = "multi_thread")]
async fn a_credential_helpers_output_never_reaches_the_terminal() {
    const SECRET: &str = "s3cr3t-from-the-helper";
    let Some(engine) = engine("cd").await else {
        return;
    };
    let project = TestProject::new("evilhelper", &[&engine]);
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let config = dir.path().join("docker");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), r#"{"credsStore": "evil"}"#).unwrap();
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!("services:\n  app:\n    image: {REGISTRY_FROM_CD}/hoist-evil-probe:1\n"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A bare JSON string (serde's message would quote it), then a failing helper that prints
    // the secret on both streams.
    for script in [
        format!("#!/bin/sh\nread server\nprintf '\"%s\"' '{SECRET}'\n"),
        format!(
            "#!/bin/sh\nread server\necho '{{\"Secret\":\"{SECRET}\"}}'\necho '{SECRET}' >&2\nexit 1\n"
        ),
    ] {
        let helper = bin.join("docker-credential-evil");
        std::fs::write(&helper, &script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = hoist("cd")
            .current_dir(dir.path())
            .env("DOCKER_CONFIG", &config)
            .env("PATH", &path)
            .args(["-p", &project.name, "pull"])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains(&format!(
                "docker-credential-evil failed for {REGISTRY_FROM_CD}"
            )),
            "{err}"
        );
        assert!(!err.contains(SECRET), "{script}\n{err}");
        assert!(!stdout(&out).contains(SECRET), "{script}");
    }
}

/// A `hoist.yml` target that says `trust_insecure: true` is not trusted by that alone: the
/// person running hoist names the host (here through `HOIST_TRUST_INSECURE_HOST`).
#[tokio::test(flavor = "multi_thread")]
async fn only_the_user_trusts_a_hoist_yml_targets_plain_tcp() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("trust", &[&prod]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  app:\n    image: nginx\n    ports:\n      - 80\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hoist.yml"),
        format!(
            "service: {p}\nregistry: localhost:5000\nproject: {p}\n\
             compose:\n  deploy: docker-compose.yml\n\
             targets:\n  prod:\n    host: tcp://10.200.0.2:2375\n    trust_insecure: true\n\
             \x20   public_address: http://10.200.0.2\n    proxy:\n      name: {p}-proxy\n",
            p = project.name
        ),
    )
    .unwrap();
    let releases = || {
        let mut cmd = hoist("cd");
        cmd.current_dir(dir.path())
            .env("HOIST_STATE_DIR", dir.path().join("state"))
            .args(["releases", "app", "--target", "prod"]);
        cmd
    };

    let refused = releases().output().unwrap();
    let err = stderr(&refused);
    assert!(!refused.status.success(), "{err}");
    assert!(
        err.contains("refusing plain-TCP connection to tcp://10.200.0.2:2375"),
        "{err}"
    );
    assert!(
        err.contains("--trust-insecure-host 10.200.0.2 (HOIST_TRUST_INSECURE_HOST=10.200.0.2)"),
        "{err}"
    );

    // Trusted, hoist reaches prod over plain TCP: prod itself answers that the target's proxy
    // (never started here) does not exist.
    let out = releases()
        .env("HOIST_TRUST_INSECURE_HOST", "10.200.0.2")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("refusing"), "{err}");
    assert!(
        err.contains(&format!(
            "no container {}-proxy on the engine at tcp://10.200.0.2:2375",
            project.name
        )),
        "{err}"
    );
}

/// The first `len` bytes of the numbers 1, 2, 3... written one after the other: a line that is
/// not one repeated byte, so a lost, doubled or reordered frame changes it.
fn counting_line(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut n = 1u64;
    while out.len() < len {
        out.extend_from_slice(n.to_string().as_bytes());
        n += 1;
    }
    out.truncate(len);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_of_a_40_mb_line_are_byte_exact() {
    let Some(cd) = engine("cd").await else { return };
    let project = TestProject::new("big-line", &[&cd]);
    let dir = temp_dir(&project);
    let len = 40 << 20;
    let file = write(
        &dir,
        "compose.yaml",
        &format!(
            "services:\n  web:\n    image: debian:bookworm-slim\n    command: [\"sh\", \"-c\", \
             \"seq 1 8000000 | tr -d '\\\\n' | head -c {len}; echo\"]\n"
        ),
    );
    run_ok(
        hoist("cd")
            .args(["-p", &project.name, "-f"])
            .arg(&file)
            .args(["up", "-d"]),
    );
    let container = format!("{}-web-1", project.name);
    let wait = std::process::Command::new("docker")
        .args(["wait", &container])
        .output()
        .expect("docker wait");
    assert_eq!(stdout(&wait).trim(), "0", "{}", stderr(&wait));

    let start = std::time::Instant::now();
    let out = run_ok(
        hoist("cd")
            .args(["-p", &project.name, "-f"])
            .arg(&file)
            .args(["logs", "--no-log-prefix", "web"]),
    );
    let hoist_time = start.elapsed();
    let start = std::time::Instant::now();
    let docker = std::process::Command::new("docker")
        .args(["logs", &container])
        .output()
        .expect("docker logs");
    let docker_time = start.elapsed();
    eprintln!("40 MB line: hoist logs {hoist_time:?}, docker logs {docker_time:?}");

    let mut expected = counting_line(len);
    expected.push(b'\n');
    assert_eq!(docker.stdout.len(), expected.len(), "docker's own view");
    assert_eq!(out.stdout.len(), expected.len());
    assert!(
        out.stdout == expected,
        "hoist logs changed the line's bytes"
    );
}

const TWO_SERVICES: &str = "services:
  web:
    image: debian:bookworm-slim
    command: [\"sh\", \"-c\", \"echo hello from web; sleep 600\"]
    stop_signal: SIGKILL
    depends_on: [db]
  db:
    image: debian:bookworm-slim
    command: [\"sh\", \"-c\", \"echo hello from db; sleep 600\"]
    stop_signal: SIGKILL
    volumes: [\"data:/data\"]
volumes:
  data:
";

/// Labelled containers (`name state`, sorted), networks and volumes of `project` on `engine`.
async fn labelled_state(
    engine: &hoist_docker::Engine,
    project: &str,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let observed = engine
        .observe_project(project, &[], &[], &[])
        .await
        .expect("observe");
    let mut containers: Vec<String> = observed
        .containers
        .iter()
        .map(|c| format!("{} {}", c.name, c.state.is_running()))
        .collect();
    containers.sort();
    let mut networks = engine.project_networks(project).await.expect("networks");
    networks.sort();
    let mut volumes = engine.project_volumes(project).await.expect("volumes");
    volumes.sort();
    (containers, networks, volumes)
}

/// What one tool's run of the no-file sequence left: each step's exit code and output, and the
/// engine's state (with the project name replaced by `P`) after each step.
#[derive(Debug)]
struct NoFileRun {
    codes: Vec<(String, Option<i32>)>,
    states: Vec<(Vec<String>, Vec<String>, Vec<String>)>,
    ps: String,
    logs: String,
}

/// `up -d` from a directory with the file, then ps, stop, start, restart, logs and `down -v`
/// with `-p NAME` from an empty directory, each by `tool` (a command with the engine set).
async fn no_file_sequence(
    engine: &hoist_docker::Engine,
    project: &TestProject,
    tool: impl Fn() -> std::process::Command,
) -> NoFileRun {
    let dir = temp_dir(project);
    let with_file = dir.join("app");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&with_file).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    write(&with_file, "compose.yaml", TWO_SERVICES);
    let up = tool()
        .current_dir(&with_file)
        .args(["-p", &project.name, "up", "-d"])
        .output()
        .expect("up");
    assert!(up.status.success(), "up: {}", stderr(&up));
    let anonymise = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|s| s.replace(&project.name, "P"))
            .collect()
    };
    let mut run = NoFileRun {
        codes: Vec::new(),
        states: Vec::new(),
        ps: String::new(),
        logs: String::new(),
    };
    let steps: [&[&str]; 6] = [
        &["ps", "--format", "{{.Name}} {{.Service}}"],
        &["stop"],
        &["start"],
        &["restart"],
        &["logs", "--no-log-prefix"],
        &["down", "-v"],
    ];
    for step in steps {
        let out = tool()
            .current_dir(&empty)
            .args(["-p", &project.name])
            .args(step)
            .output()
            .expect("run");
        match step[0] {
            "ps" => run.ps = stdout(&out).replace(&project.name, "P"),
            "logs" => run.logs = stdout(&out),
            _ => {}
        }
        run.codes.push((
            format!("{} ({})", step.join(" "), stderr(&out).trim()),
            out.status.code(),
        ));
        let (c, n, v) = labelled_state(engine, &project.name).await;
        run.states.push((anonymise(c), anonymise(n), anonymise(v)));
    }
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn project_verbs_work_from_an_empty_directory_by_name_as_compose_v2_does() {
    let Some(cd) = engine("cd").await else { return };
    let ours = TestProject::new("nofile-hoist", &[&cd]);
    let theirs = TestProject::new("nofile-compose", &[&cd]);
    let clean = |program: PathBuf| {
        let mut cmd = std::process::Command::new(program);
        for var in [
            "DOCKER_HOST",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "COMPOSE_PROJECT_NAME",
            "COMPOSE_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    };
    let hoist_bin = assert_cmd::cargo::cargo_bin("hoist");
    let hoist_run = no_file_sequence(&cd, &ours, || clean(hoist_bin.clone())).await;
    let compose_run = no_file_sequence(&cd, &theirs, || clean(compose_v2())).await;

    for (step, code) in &hoist_run.codes {
        assert_eq!(*code, Some(0), "hoist {step}");
    }
    let codes = |r: &NoFileRun| -> Vec<Option<i32>> { r.codes.iter().map(|(_, c)| *c).collect() };
    assert_eq!(
        codes(&hoist_run),
        codes(&compose_run),
        "exit codes differ:\nhoist: {:?}\ncompose: {:?}",
        hoist_run.codes,
        compose_run.codes
    );
    let mut ps: Vec<&str> = hoist_run.ps.lines().collect();
    ps.sort();
    assert_eq!(ps, ["P-db-1 db", "P-web-1 web"], "hoist ps lists both");
    let mut compose_ps: Vec<&str> = compose_run.ps.lines().collect();
    compose_ps.sort();
    assert_eq!(ps, compose_ps);
    for text in ["hello from web", "hello from db"] {
        assert!(
            hoist_run.logs.contains(text),
            "hoist logs: {}",
            hoist_run.logs
        );
        assert!(
            compose_run.logs.contains(text),
            "compose logs: {}",
            compose_run.logs
        );
    }
    // The engine's state after each step is the same, whichever tool ran it.
    assert_eq!(hoist_run.states, compose_run.states);
    let running = (
        vec!["P-db-1 true".to_string(), "P-web-1 true".to_string()],
        vec!["P_default".to_string()],
        vec!["P_data".to_string()],
    );
    assert_eq!(hoist_run.states[0], running, "after ps");
    assert_eq!(
        hoist_run.states[1].0,
        ["P-db-1 false", "P-web-1 false"],
        "after stop"
    );
    assert_eq!(hoist_run.states[2], running, "after start");
    assert_eq!(hoist_run.states[3], running, "after restart");
    assert_eq!(
        hoist_run.states[5],
        (vec![], vec![], vec![]),
        "down -v removes containers, network and volume"
    );
}

#[test]
fn without_a_project_name_or_a_file_the_error_is_composes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ours = hoist("cd")
        .current_dir(dir.path())
        .arg("ps")
        .output()
        .expect("hoist ps");
    let theirs = std::process::Command::new(compose_v2())
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .current_dir(dir.path())
        .arg("ps")
        .output()
        .expect("docker compose ps");
    assert_eq!(ours.status.code(), theirs.status.code());
    for out in [&ours, &theirs] {
        assert!(
            stderr(out).contains("no configuration file provided: not found"),
            "{}",
            stderr(out)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn port_and_rm_work_by_compose_project_name_from_an_empty_directory() {
    let Some(cd) = engine("cd").await else { return };
    let project = TestProject::new("nofile-port", &[&cd]);
    let dir = temp_dir(&project);
    let with_file = dir.join("app");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&with_file).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    write(
        &with_file,
        "compose.yaml",
        &format!("{SLEEPER}    ports: [\"127.0.0.1::8080\"]\n"),
    );
    run_ok(
        hoist("cd")
            .current_dir(&with_file)
            .args(["-p", &project.name, "up", "-d"]),
    );
    let by_env = || {
        let mut cmd = hoist("cd");
        cmd.current_dir(&empty)
            .env("COMPOSE_PROJECT_NAME", &project.name);
        cmd
    };
    let ours = run_ok(by_env().args(["port", "web", "8080"]));
    let theirs = std::process::Command::new(compose_v2())
        .env_remove("COMPOSE_FILE")
        .env("COMPOSE_PROJECT_NAME", &project.name)
        .current_dir(&empty)
        .args(["port", "web", "8080"])
        .output()
        .expect("docker compose port");
    assert!(theirs.status.success(), "{}", stderr(&theirs));
    assert!(stdout(&ours).starts_with("127.0.0.1:"), "{}", stdout(&ours));
    assert_eq!(stdout(&ours), stdout(&theirs));

    run_ok(by_env().arg("stop"));
    run_ok(by_env().args(["rm", "-f"]));
    let (containers, networks, _) = labelled_state(&cd, &project.name).await;
    assert!(containers.is_empty(), "rm removed {containers:?}");
    assert_eq!(networks, [format!("{}_default", project.name)]);
    run_ok(by_env().arg("down"));
    assert_eq!(
        labelled_state(&cd, &project.name).await,
        (vec![], vec![], vec![]),
        "down removes the network that only its label names"
    );
    let again = run_ok(by_env().arg("down"));
    assert!(
        stderr(&again).contains("No resource found to remove for project"),
        "{}",
        stderr(&again)
    );
}
