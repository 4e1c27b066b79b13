//! Engines reached over `ssh://`, through the dev environment's sshd in each prod host's
//! namespace (`scripts/dev-env up`): one SSH session per hoist process whatever it does, the
//! dashboard's live events over SSH, contexts holding an ssh:// endpoint, and each way an SSH
//! connection fails, with the message it prints.
//!
//! The session count reads prod-tls's sshd log, and only that test reaches prod-tls over SSH;
//! the others go to prod's sshd.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hoist_testkit::{TestProject, state_dir};

const PROD_SSH: &str = "ssh://root@10.200.0.2";
const PROD_TLS_SSH: &str = "ssh://root@10.200.0.3";

fn hoist(host: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
    for var in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "HOIST_SSH_CONFIG",
        "HOIST_SSH_CONNECT_TIMEOUT",
        "COMPOSE_PROJECT_NAME",
        "COMPOSE_FILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(["-H", host]);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run hoist");
    assert!(out.status.success(), "hoist failed: {}", text(&out));
    out
}

fn ssh_dir() -> PathBuf {
    state_dir().join("ssh")
}

fn sshd_log(host: &str) -> PathBuf {
    state_dir().join(format!("logs/sshd-{host}.log"))
}

/// Logins sshd accepted so far (`LogLevel VERBOSE` logs one line per authenticated session).
fn accepted_logins(host: &str) -> usize {
    sshd_lines(host, "Accepted publickey for root from 10.200.0.1 ")
}

/// TCP connections sshd saw from this machine (10.200.0.1): served ones and those it dropped
/// past `MaxStartups`. (A jump through another prod host comes from that host's address.)
fn connections(host: &str) -> usize {
    sshd_lines(host, "Connection from 10.200.0.1 ") + sshd_lines(host, "from [10.200.0.1]:")
}

fn sshd_lines(host: &str, needle: &str) -> usize {
    std::fs::read_to_string(sshd_log(host))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// 20 services that stop at once.
fn twenty_services(dir: &Path) -> PathBuf {
    let mut yml = String::from("services:\n");
    for i in 1..=20 {
        yml.push_str(&format!(
            "  s{i:02}:\n    image: debian:bookworm-slim\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep 3600 & wait\"]\n"
        ));
    }
    let file = dir.join("compose.yaml");
    std::fs::write(&file, yml).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn up_of_20_services_over_ssh_opens_one_ssh_session() {
    let Some(engine) = hoist_testkit::engine("prod-tls").await else {
        return;
    };
    let project = TestProject::new("ssh-one", &[&engine]);
    let compose_project = TestProject::new("ssh-one-compose", &[&engine]);
    let dir = tempfile::tempdir().unwrap();
    let file = twenty_services(dir.path());

    // A hoist process alone (no connection shared with later ones): exactly one.
    let before = accepted_logins("prod-tls");
    let connections_before = connections("prod-tls");
    let started = Instant::now();
    run_ok(
        hoist(PROD_TLS_SSH)
            .env("HOIST_SSH_PERSIST", "0")
            .args(["-p", &project.name, "-f"])
            .arg(&file)
            .args(["up", "-d"]),
    );
    let took = started.elapsed();
    let hoist_sessions = accepted_logins("prod-tls") - before;
    let hoist_connections = connections("prod-tls") - connections_before;

    // As users run it (the connection outlives a command for a minute): `down`, `up -d`, `ps`
    // and `port` in four processes share one. A copy of the dev ssh config gives this test a
    // connection of its own.
    let config = dir.path().join("ssh_config");
    std::fs::copy(ssh_dir().join("config"), &config).unwrap();
    let shared_before = connections("prod-tls");
    for args in [&["down"][..], &["up", "-d"], &["ps"], &["ps", "-q"]] {
        run_ok(
            hoist(PROD_TLS_SSH)
                .env("HOIST_SSH_CONFIG", &config)
                .args(["-p", &project.name, "-f"])
                .arg(&file)
                .args(args),
        );
    }
    let shared_connections = connections("prod-tls") - shared_before;
    let ps = run_ok(
        hoist(PROD_TLS_SSH)
            .env("HOIST_SSH_CONFIG", &config)
            .args(["-p", &project.name, "-f"])
            .arg(&file)
            .args(["ps", "-q"]),
    );
    assert_eq!(
        String::from_utf8_lossy(&ps.stdout).lines().count(),
        20,
        "{}",
        text(&ps)
    );
    assert_eq!(
        (hoist_connections, hoist_sessions),
        (1, 1),
        "hoist up -d of 20 services: (TCP connections to sshd, SSH logins)"
    );
    assert_eq!(
        shared_connections, 1,
        "down, up -d, ps, ps -q in four hoist processes"
    );

    // Docker Compose v2, same file, same host, for comparison (not asserted: it is the peer).
    let before = accepted_logins("prod-tls");
    let connections_before = connections("prod-tls");
    let started = Instant::now();
    let out = Command::new(hoist_testkit::compose_v2())
        .env("DOCKER_HOST", PROD_TLS_SSH)
        .args(["-p", &compose_project.name, "-f"])
        .arg(&file)
        .args(["up", "-d"])
        .output()
        .unwrap();
    let compose_took = started.elapsed();
    let compose_sessions = accepted_logins("prod-tls") - before;
    let compose_connections = connections("prod-tls") - connections_before;
    let said = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "up -d of 20 services over ssh: hoist {hoist_sessions} SSH session in {took:?}; \
         Docker Compose v2 {compose_connections} connections to sshd, {compose_sessions} \
         logins, in {compose_took:?}, {}{}",
        out.status,
        said.lines()
            .find(|l| l.contains("error during connect"))
            .map(|l| format!(": {l}"))
            .unwrap_or_default()
    );
}

/// An ssh config of the test's own (`HOIST_SSH_CONFIG`, read as `ssh -F`), with the dev key.
fn ssh_config(dir: &Path, known_hosts: &str, identity: &Path) -> PathBuf {
    let known = dir.join("known_hosts");
    std::fs::write(&known, known_hosts).unwrap();
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n",
            identity.display(),
            known.display()
        ),
    )
    .unwrap();
    config
}

fn host_key_line(host_addr: &str, key_of: &str) -> String {
    let public = std::fs::read_to_string(ssh_dir().join(format!("host-{key_of}.pub"))).unwrap();
    let mut parts = public.split_whitespace();
    format!(
        "{host_addr} {} {}\n",
        parts.next().unwrap(),
        parts.next().unwrap()
    )
}

fn fingerprint(key_of: &str) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(ssh_dir().join(format!("host-{key_of}.pub")))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace().nth(1).unwrap().to_string()
}

fn failing(cmd: &mut Command) -> String {
    let out = cmd.arg("version").output().unwrap();
    assert!(!out.status.success(), "it connected: {}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn dev_env_up() -> bool {
    let up = ssh_dir().join("id_ed25519").exists();
    if !up && std::env::var_os("CI").is_some() {
        panic!("the dev environment's ssh setup is missing: run ./scripts/dev-env up");
    }
    up
}

#[test]
fn an_unknown_host_key_is_refused_with_its_fingerprint_and_how_to_accept_it() {
    if !dev_env_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = ssh_config(dir.path(), "", &ssh_dir().join("id_ed25519"));
    let err = failing(hoist(PROD_SSH).env("HOIST_SSH_CONFIG", &config));
    eprintln!("{err}");
    assert!(err.contains("is not known"), "{err}");
    assert!(err.contains(&fingerprint("prod")), "{err}");
    assert!(
        err.contains("ssh-keyscan 10.200.0.2 >> ~/.ssh/known_hosts"),
        "{err}"
    );
    // Nothing was recorded on the user's behalf.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("known_hosts")).unwrap(),
        ""
    );
}

#[test]
fn a_changed_host_key_is_refused_loudly() {
    if !dev_env_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // prod's address with prod-tls's key on record: the key prod presents differs.
    let config = ssh_config(
        dir.path(),
        &host_key_line("10.200.0.2", "prod-tls"),
        &ssh_dir().join("id_ed25519"),
    );
    let err = failing(hoist(PROD_SSH).env("HOIST_SSH_CONFIG", &config));
    eprintln!("{err}");
    assert!(err.contains("HAS CHANGED"), "{err}");
    assert!(err.contains(&fingerprint("prod")), "{err}");
    assert!(err.contains("known_hosts:1"), "{err}");
    assert!(err.contains("ssh-keygen -R 10.200.0.2"), "{err}");
}

#[test]
fn a_refused_login_names_the_identities_tried() {
    if !dev_env_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stranger");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let config = ssh_config(dir.path(), &host_key_line("10.200.0.2", "prod"), &key);
    let err = failing(hoist(PROD_SSH).env("HOIST_SSH_CONFIG", &config));
    eprintln!("{err}");
    assert!(err.contains("refused the SSH login"), "{err}");
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains("publickey"), "{err}");
}

#[test]
fn an_unreachable_host_fails_within_the_connect_timeout() {
    if !dev_env_up() {
        return;
    }
    // 10.200.0.77 is in the dev environment's blackholed range: nothing ever answers.
    for (timeout, limit) in [(None, 13), (Some("2"), 5)] {
        let mut cmd = hoist("ssh://root@10.200.0.77");
        if let Some(t) = timeout {
            cmd.env("HOIST_SSH_CONNECT_TIMEOUT", t);
        }
        let started = Instant::now();
        let err = failing(&mut cmd);
        let took = started.elapsed();
        eprintln!("{took:?}: {err}");
        assert!(err.contains("connect to host 10.200.0.77 port 22"), "{err}");
        assert!(took < Duration::from_secs(limit), "took {took:?}");
    }
    let err = failing(&mut hoist("ssh://root@10.200.0.2:2222"));
    assert!(err.contains("Connection refused"), "{err}");
}

#[test]
fn a_missing_remote_socket_is_named() {
    if !dev_env_up() {
        return;
    }
    let err = failing(&mut hoist("ssh://root@10.200.0.2/run/nothing-here.sock"));
    eprintln!("{err}");
    assert!(
        err.contains("could not open the engine's socket /run/nothing-here.sock"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ssh_config_alias_with_proxyjump_is_followed_as_ssh_follows_it() {
    let Some(_engine) = hoist_testkit::engine("prod-tls").await else {
        return;
    };
    // prod-tls reached as "behind-prod": ssh logs in to prod first and jumps from there (the
    // namespaces reach each other), as the user's own ssh config says.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "Host behind-prod\n  HostName 10.200.0.3\n  User root\n  ProxyJump root@10.200.0.2\n\
             Host *\n  IdentityFile {0}/id_ed25519\n  UserKnownHostsFile {0}/known_hosts\n",
            ssh_dir().display()
        ),
    )
    .unwrap();
    let jumped_before = sshd_lines("prod-tls", "Connection from 10.200.0.2 ");
    let out = run_ok(
        hoist("ssh://behind-prod")
            .env("HOIST_SSH_CONFIG", &config)
            .env("HOIST_SSH_PERSIST", "0")
            .args(["version"]),
    );
    let printed = text(&out);
    assert!(
        printed.contains("engine ssh://behind-prod: Docker"),
        "{printed}"
    );
    assert_eq!(
        sshd_lines("prod-tls", "Connection from 10.200.0.2 ") - jumped_before,
        1,
        "the command reached prod-tls's sshd from prod"
    );
}

#[test]
fn a_user_the_engine_socket_keeps_out_is_told_so() {
    if !dev_env_up() {
        return;
    }
    // scripts/dev-env's user outside the docker group: sshd lets them in, the socket does not.
    let err = failing(&mut hoist("ssh://hoistnodocker@10.200.0.2"));
    eprintln!("{err}");
    assert!(
        err.contains("could not open the engine's socket /var/run/docker.sock"),
        "{err}"
    );
    assert!(err.contains("hoistnodocker may not use it"), "{err}");
}

#[test]
fn addresses_that_would_reach_ssh_as_options_are_refused_before_ssh_runs() {
    for bad in [
        "ssh://-oProxyCommand=touch${IFS}/tmp/pwned",
        "ssh://root@-oProxyCommand=x",
        "ssh://root@10.200.0.2/run/a:b.sock",
    ] {
        let out = hoist(bad).arg("version").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("invalid engine address"), "{bad}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_ssh_connection_ends_a_follow_with_an_error() {
    let Some(engine) = hoist_testkit::engine("prod").await else {
        return;
    };
    let project = TestProject::new("ssh-drop", &[&engine]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        "services:\n  ticker:\n    image: debian:bookworm-slim\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do echo tick; sleep 0.2; done\"]\n",
    )
    .unwrap();
    let base = |cmd: &mut Command| {
        cmd.args(["-p", &project.name, "-f"]).arg(&file);
    };
    let mut up = hoist(PROD_SSH);
    base(&mut up);
    run_ok(up.args(["up", "-d"]));

    let mut logs = hoist(PROD_SSH);
    base(&mut logs);
    let mut child = logs
        // its own ssh, a child of the process
        .env("HOIST_SSH_PERSIST", "0")
        .args(["logs", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("tick"), "{first:?}");
    // The ssh process carrying hoist's session: end it, as a dropped network would.
    let ssh = hoist_testkit::children_of(child.id(), "ssh");
    assert_eq!(ssh.len(), 1, "one ssh process per hoist process: {ssh:?}");
    let _ = Command::new("kill").arg(ssh[0].to_string()).status();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "logs -f kept running after its connection dropped"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    eprintln!("{status}: {err}");
    assert!(!status.success(), "{err}");
    assert!(err.contains("error"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_live_events_of_an_engine_reached_over_ssh() {
    let Some(engine) = hoist_testkit::engine("prod").await else {
        return;
    };
    let project = TestProject::new("ssh-ui", &[&engine]);
    let mut ui = Command::new(env!("CARGO_BIN_EXE_hoist"));
    ui.env_remove("DOCKER_HOST")
        .env_remove("HOIST_UI_TOKEN")
        .env(
            "HOIST_STATE_DIR",
            std::env::temp_dir().join(format!("hoist-{}", project.name)),
        )
        .args(["ui", "--bind", "127.0.0.1:0", "--engine"])
        .arg(format!("prod={PROD_SSH}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = ui.spawn().unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _guard = Kill(child);
    let port: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));

    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    // A container started on prod, by the docker CLI over prod's own socket.
    let name = format!("{}-web-1", project.name);
    std::thread::sleep(Duration::from_millis(500));
    let out = Command::new("docker")
        .args(["-H", "unix:///run/hoist-dev/prod/docker.sock"])
        .args(["run", "-d", "--name", &name, "--label"])
        .arg(format!("com.docker.compose.project={}", project.name))
        .args(["debian:bookworm-slim", "sleep", "30"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let started = Instant::now();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(&name) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no event for {name} within 30 s:\n{seen}"
        );
        let n = stream.read(&mut buf).expect("the event stream answers");
        assert!(n > 0, "the event stream closed:\n{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let event = seen
        .lines()
        .find(|l| l.starts_with("data:") && l.contains(&name))
        .unwrap();
    assert!(event.contains("prod"), "{event}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_context_with_an_ssh_endpoint_reaches_its_engine() {
    let Some(_engine) = hoist_testkit::engine("prod").await else {
        return;
    };
    let config = tempfile::tempdir().unwrap();
    let made = Command::new("docker")
        .env("DOCKER_CONFIG", config.path())
        .env_remove("DOCKER_HOST")
        .args(["context", "create", "prod-ssh", "--docker"])
        .arg(format!("host={PROD_SSH}"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let out = run_ok(
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .env("DOCKER_CONFIG", config.path())
            .env_remove("DOCKER_HOST")
            .args(["--context", "prod-ssh", "version"]),
    );
    let printed = text(&out);
    assert!(
        printed.contains("engine ssh://root@10.200.0.2: Docker"),
        "{printed}"
    );
}
