//! `hoist stack` on the dev environment's three-node Swarm (swarm1-3, all managers), through
//! the binary, side by side with the docker CLI: the book's legacy v1 file as a stack, a stack
//! docker deployed seen by hoist, secrets and configs that reach the tasks.
//!
//! The nodes have no IPVS, so the stacks publish in host mode with dnsrr endpoints.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hoist_testkit::http::request;

const MANAGER: &str = "tcp://10.200.0.11:2375";
const TRUSTED: &str = "10.200.0.11,10.200.0.12,10.200.0.13";

/// The stacks share three nodes and two cores: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn hoist(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
    cmd.args(["-H", MANAGER])
        .args(args)
        .env("HOIST_TRUST_INSECURE_HOST", TRUSTED)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run hoist")
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(["-H", MANAGER])
        .args(args)
        .output()
        .expect("run docker")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A stack name of this test's own, removed with `docker stack rm` when the test ends.
struct TestStack {
    name: String,
}

impl TestStack {
    /// Fails the test, naming the fix, when the Swarm does not answer.
    fn new(prefix: &str) -> Option<TestStack> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(hoist_testkit::engine("swarm1"))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Some(TestStack {
            name: format!("{prefix}{:x}{nanos:x}", std::process::id()),
        })
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let _ = docker(&["stack", "rm", &self.name]);
        // Networks go once their tasks are gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let left = docker(&[
                "network",
                "ls",
                "-q",
                "--filter",
                &format!("label=com.docker.stack.namespace={}", self.name),
            ]);
            if left.stdout.is_empty() {
                break;
            }
            let _ = docker(&["stack", "rm", &self.name]);
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/books-ms")
}

/// `docker stack ps NAME` rows of running tasks: (task name, node, ports).
fn running_tasks(stack: &str) -> Vec<(String, String, String)> {
    let out = ok(docker(&[
        "stack",
        "ps",
        stack,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Name}}|{{.Node}}|{{.CurrentState}}|{{.Ports}}",
    ]));
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            f[2].starts_with("Running")
                .then(|| (f[0].to_string(), f[1].to_string(), f[3].to_string()))
        })
        .collect()
}

/// `swarm2` → `10.200.0.12`.
fn node_address(node: &str) -> String {
    format!("10.200.0.1{}", node.trim_start_matches("swarm"))
}

/// `*:32768->8080/tcp` → 32768.
fn published(ports: &str) -> u16 {
    ports
        .split(',')
        .next()
        .and_then(|p| p.strip_prefix("*:"))
        .and_then(|p| p.split("->").next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no published port in {ports:?}"))
}

fn until_answers(url: &str) {
    if let Err(e) = hoist_testkit::http::wait_for_status(url, 200, Duration::from_secs(60)) {
        panic!("{url}: {e}");
    }
}

#[test]
fn the_books_legacy_file_runs_as_a_stack_of_three_replicas_spread_over_three_nodes() {
    let _serial = serial();
    let Some(stack) = TestStack::new("books") else {
        return;
    };
    let file = examples().join("docker-compose.yml");
    let out = ok(hoist(
        &[
            "stack",
            "deploy",
            "-c",
            file.to_str().unwrap(),
            "--scale",
            "app=3",
            "--publish-mode",
            "host",
            "--endpoint-mode",
            "dnsrr",
            "--detach=false",
            &stack.name,
        ],
        &[],
    ));
    // The docker CLI's lines: the network, then each service.
    assert!(
        out.contains(&format!("Creating network {}_default", stack.name)),
        "{out}"
    );
    for service in ["app", "app-blue", "app-green", "applocal", "db"] {
        assert!(
            out.contains(&format!("Creating service {}_{service}\n", stack.name)),
            "{out}"
        );
    }
    // `docker stack ps` sees hoist's stack: three app tasks, one on each node.
    let tasks = running_tasks(&stack.name);
    let app: Vec<&(String, String, String)> = tasks
        .iter()
        .filter(|(name, _, _)| name.starts_with(&format!("{}_app.", stack.name)))
        .collect();
    assert_eq!(app.len(), 3, "{tasks:#?}");
    let mut nodes: Vec<&str> = app.iter().map(|(_, node, _)| node.as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, ["swarm1", "swarm2", "swarm3"], "{tasks:#?}");
    // The book's curl sequence, through each replica: the link `db:db` is an alias on the
    // stack's overlay, and its variables name it, so every replica reaches the one database.
    let base = |t: &(String, String, String)| {
        format!(
            "http://{}:{}/api/v1/books",
            node_address(&t.1),
            published(&t.2)
        )
    };
    for t in &app {
        until_answers(&base(t));
    }
    let book = r#"{"_id": 1, "title": "My First Book", "author": "John Doe", "description": "Not a very good book"}"#;
    let put = request("PUT", &base(app[0]), Some(book)).unwrap();
    assert_eq!(put.status, 200, "{}", put.body);
    // Every replica lists it (a replica that cached the list drops it on the database's
    // change notification, a moment later).
    for t in &app {
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = loop {
            let got = request("GET", &base(t), None).unwrap();
            if got.body.contains("My First Book") || Instant::now() > deadline {
                break got;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(got.status, 200, "{}", got.body);
        assert!(
            got.body.contains("My First Book"),
            "{} answered {}",
            t.1,
            got.body
        );
    }
    let one = request("GET", &format!("{}/_id/1", base(app[1])), None).unwrap();
    assert_eq!(
        (one.status, one.body.contains("Not a very good book")),
        (200, true),
        "{}",
        one.body
    );
    let gone = request("DELETE", &format!("{}/_id/1", base(app[2])), None).unwrap();
    assert_eq!(gone.status, 200);
    // Each replica caches the list and drops it when the database notifies a change: the
    // other replicas see the deletion a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = request("GET", &base(app[0]), None).unwrap().body;
        if list.trim() == "[]" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deleted book is still listed: {list}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // hoist's own listings, in the docker CLI's shapes.
    let services = ok(hoist(&["stack", "services", &stack.name], &[]));
    let header: Vec<&str> = services
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(header, ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]);
    assert!(
        services
            .lines()
            .any(|l| l.contains(&format!("{}_app ", stack.name)) && l.contains(" 3/3 ")),
        "{services}"
    );
    let ps = ok(hoist(&["stack", "ps", &stack.name], &[]));
    assert_eq!(
        ps.lines()
            .filter(|l| l.contains(&format!(" {}_app.", stack.name)) && l.contains("Running"))
            .count(),
        3,
        "{ps}"
    );
    // Deploying again changes the services in place, as docker does.
    let again = ok(hoist(
        &[
            "stack",
            "deploy",
            "-c",
            file.to_str().unwrap(),
            "--scale",
            "app=3",
            "--publish-mode",
            "host",
            "--endpoint-mode",
            "dnsrr",
            &stack.name,
        ],
        &[],
    ));
    assert!(
        again.contains(&format!("Updating service {}_app (id: ", stack.name)),
        "{again}"
    );
    assert!(!again.contains("Creating"), "{again}");
    // `hoist stack rm` leaves nothing `docker stack ls` lists.
    let rm = ok(hoist(&["stack", "rm", &stack.name], &[]));
    assert!(
        rm.contains(&format!("Removing service {}_db", stack.name)),
        "{rm}"
    );
    assert!(
        rm.contains(&format!("Removing network {}_default", stack.name)),
        "{rm}"
    );
    let ls = ok(docker(&["stack", "ls"]));
    assert!(
        !ls.lines()
            .any(|l| l.starts_with(&format!("{} ", stack.name))),
        "{ls}"
    );
}

#[test]
fn a_stack_docker_deployed_is_listed_pruned_and_removed_by_hoist() {
    let _serial = serial();
    let Some(stack) = TestStack::new("dock") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack.yml");
    std::fs::write(
        &file,
        "version: '3.8'\nservices:\n  web:\n    image: 10.200.0.1:5000/books-ms-db\n    deploy:\n      replicas: 2\n      endpoint_mode: dnsrr\n",
    )
    .unwrap();
    ok(docker(&[
        "stack",
        "deploy",
        "-c",
        file.to_str().unwrap(),
        &stack.name,
    ]));
    let ls = ok(hoist(&["stack", "ls"], &[]));
    assert!(
        ls.lines().any(
            |l| l.split_whitespace().collect::<Vec<_>>() == [stack.name.as_str(), "1", "Swarm"]
        ),
        "{ls}"
    );
    let services = ok(hoist(&["stack", "services", &stack.name], &[]));
    assert!(
        services.contains(&format!("{}_web ", stack.name)),
        "{services}"
    );
    // hoist takes over docker's stack: a file without `web` and `--prune` removes it.
    std::fs::write(
        &file,
        "services:\n  api:\n    image: 10.200.0.1:5000/books-ms-db\n    deploy:\n      endpoint_mode: dnsrr\n",
    )
    .unwrap();
    let kept = ok(hoist(
        &["stack", "deploy", "-c", file.to_str().unwrap(), &stack.name],
        &[],
    ));
    assert!(
        kept.contains(&format!("Creating service {}_api", stack.name)),
        "{kept}"
    );
    assert!(!kept.contains("Removing"), "{kept}");
    let pruned = ok(hoist(
        &[
            "stack",
            "deploy",
            "-c",
            file.to_str().unwrap(),
            "--prune",
            &stack.name,
        ],
        &[],
    ));
    assert!(
        pruned.contains(&format!("Removing service {}_web", stack.name)),
        "{pruned}"
    );
    let listed = ok(docker(&[
        "stack",
        "services",
        &stack.name,
        "--format",
        "{{.Name}}",
    ]));
    assert_eq!(listed.trim(), format!("{}_api", stack.name));
    let rm = ok(hoist(&["stack", "rm", &stack.name], &[]));
    assert!(
        rm.contains(&format!("Removing service {}_api", stack.name)),
        "{rm}"
    );
    let left = ok(docker(&["stack", "ls"]));
    assert!(!left.contains(&stack.name), "{left}");
}

#[test]
fn secrets_and_configs_from_every_source_reach_the_tasks_and_bad_input_names_its_place() {
    let _serial = serial();
    let Some(stack) = TestStack::new("obj") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db_password.txt"), "from-a-file\n").unwrap();
    std::fs::write(dir.path().join(".env"), "TAG=latest\n").unwrap();
    let file = dir.path().join("compose.yml");
    std::fs::write(
        &file,
        "services:\n  web:\n    image: 10.200.0.1:5000/books-ms-db:${TAG}\n    secrets:\n      - db_password\n      - source: api_key\n        target: key\n    configs:\n      - source: site\n        target: /etc/site.conf\n    deploy:\n      endpoint_mode: dnsrr\n\
         secrets:\n  db_password:\n    file: ./db_password.txt\n  api_key:\n    environment: API_KEY\nconfigs:\n  site:\n    content: |\n      listen 8080\n",
    )
    .unwrap();
    let deploy = |env: &[(&str, &str)]| {
        hoist(
            &[
                "stack",
                "deploy",
                "-c",
                file.to_str().unwrap(),
                "--detach=false",
                &stack.name,
            ],
            env,
        )
    };
    let out = ok(deploy(&[("API_KEY", "k-123")]));
    for line in [
        "Creating secret {}_db_password",
        "Creating secret {}_api_key",
        "Creating config {}_site",
    ] {
        assert!(out.contains(&line.replace("{}", &stack.name)), "{out}");
    }
    let tasks = running_tasks(&stack.name);
    let (task, node, _) = &tasks[0];
    let on_node = |args: &[&str]| {
        Command::new("docker")
            .args(["-H", &format!("tcp://{}:2375", node_address(node))])
            .args(args)
            .output()
            .unwrap()
    };
    let container = ok(on_node(&["ps", "-q", "--filter", &format!("name={task}")]));
    let container = container.trim();
    let read = |path: &str| ok(on_node(&["exec", container, "cat", path]));
    assert_eq!(read("/run/secrets/db_password"), "from-a-file\n");
    assert_eq!(read("/run/secrets/key"), "k-123");
    assert_eq!(read("/etc/site.conf"), "listen 8080\n");
    // The same data again: nothing to create.
    let again = ok(deploy(&[("API_KEY", "k-123")]));
    assert!(!again.contains("Creating secret"), "{again}");
    // Changed data: Swarm cannot change a secret, so hoist says which and what to do, and the
    // error does not carry the value.
    let changed = deploy(&[("API_KEY", "k-456")]);
    assert!(!changed.status.success(), "{}", text(&changed));
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(
        err.contains(&format!(
            "secret {}_api_key: its content changed",
            stack.name
        )),
        "{err}"
    );
    assert!(!err.contains("k-456") && !err.contains("k-123"), "{err}");
    // A file Swarm cannot run: every such service named, nothing created.
    std::fs::write(
        &file,
        "services:\n  built:\n    build: .\n  hostnet:\n    image: 10.200.0.1:5000/books-ms-db\n    network_mode: host\n",
    )
    .unwrap();
    let refused = hoist(
        &[
            "stack",
            "deploy",
            "-c",
            file.to_str().unwrap(),
            "refused-stack",
        ],
        &[],
    );
    assert!(!refused.status.success(), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("service built: `build` without `image`"),
        "{err}"
    );
    assert!(
        err.contains("service hostnet: `network_mode: host`"),
        "{err}"
    );
    let ls = ok(docker(&["stack", "ls"]));
    assert!(!ls.contains("refused-stack"), "{ls}");
    // What must exist is checked before anything is created: a missing secret file and a
    // missing external network leave no network behind.
    for (what, yaml) in [
        (
            "secret late_pw",
            "services:\n  web:\n    image: 10.200.0.1:5000/books-ms-db\n    secrets: [pw]\nsecrets:\n  pw:\n    file: ./nowhere.txt\n",
        ),
        (
            "network nowhere-net",
            "services:\n  web:\n    image: 10.200.0.1:5000/books-ms-db\n    networks: [front, back]\nnetworks:\n  front: {}\n  back:\n    name: nowhere-net\n    external: true\n",
        ),
    ] {
        std::fs::write(&file, yaml).unwrap();
        let late = hoist(
            &["stack", "deploy", "-c", file.to_str().unwrap(), "late"],
            &[],
        );
        assert!(!late.status.success(), "{}", text(&late));
        assert!(
            String::from_utf8_lossy(&late.stderr).contains(what),
            "{}",
            text(&late)
        );
        let networks = ok(docker(&["network", "ls", "--format", "{{.Name}}"]));
        assert!(
            !networks.lines().any(|n| n.starts_with("late_")),
            "{what}: {networks}"
        );
    }
}

/// Containers hoist keeps on the manager for a stack's releases (lock, journal) and its proxy.
struct ManagerLeftovers {
    stack: String,
    proxy: String,
}

impl Drop for ManagerLeftovers {
    fn drop(&mut self) {
        for filter in [
            format!("label=io.hoist.lock.project={}", self.stack),
            format!("label=io.hoist.journal.project={}", self.stack),
            format!("name=^{}$", self.proxy),
        ] {
            let ids = docker(&["ps", "-aq", "--filter", &filter]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = docker(&["rm", "-f", id]);
            }
        }
    }
}

#[test]
fn a_rolling_release_on_the_swarm_keeps_serving_and_an_unhealthy_image_is_rolled_back() {
    let _serial = serial();
    let Some(stack) = TestStack::new("rel") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(cd) = rt.block_on(hoist_testkit::engine("cd")) else {
        return;
    };
    let images = hoist_testkit::TestProject::new(&stack.name, &[&cd]);
    let build = |version: &str, extra: &str| {
        rt.block_on(hoist_testkit::books_ms_release(
            &cd, &images, version, extra,
        ))
    };
    let v1 = build("v1", "");
    let v2 = build("v2", "");
    // Never listens: its health check fails, so Swarm never counts a task of it as running.
    let bad = build("bad", r#"CMD ["sleep", "3600"]"#);
    let port = hoist_testkit::proxy_port(&stack.name);
    let proxy = format!("{}-proxy", stack.name);
    let _leftovers = ManagerLeftovers {
        stack: stack.name.clone(),
        proxy: proxy.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        format!(
            "services:\n  app:\n    image: {v1}\n    environment:\n      DB_HOST: db\n    healthcheck:\n      test: [CMD, /usr/local/bin/books-ms, health]\n      interval: 1s\n      timeout: 2s\n      retries: 3\n    deploy:\n      replicas: 3\n  db:\n    image: 10.200.0.1:5000/books-ms-db\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hoist.yml"),
        format!(
            "service: books-ms\nregistry: localhost:5000\nproject: {name}\ntargets:\n  swarm:\n    swarm:\n      manager: {MANAGER}\n      monitor: 3s\n    public_address: http://10.200.0.11:{port}\n    registry: 10.200.0.1:5000\n    proxy: {{image: 10.200.0.1:5000/hoist-proxy:latest, name: {proxy}, port: {port}}}\nsteps:\n  deploy:\n    service: app\n  integrate:\n    path: /api/v1/books\n    port: 8080\n",
            name = stack.name
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let release = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.current_dir(dir.path())
            .args(args)
            .args(["--target", "swarm"])
            .env("HOIST_TRUST_INSECURE_HOST", TRUSTED)
            .env("HOIST_STATE_DIR", &state)
            .env_remove("DOCKER_HOST");
        cmd.output().unwrap()
    };
    let url = format!("http://10.200.0.11:{port}/api/v1/books");
    let first = release(&["deploy", "app"]);
    assert!(first.status.success(), "{}", text(&first));
    until_answers(&url);
    // Each release under 200 requests a second through the proxy.
    let under_load = |args: &[&str]| {
        let load = hoist_testkit::load::start(
            &url,
            200,
            8,
            "x-books-ms-version",
            Duration::from_secs(300),
        );
        std::thread::sleep(Duration::from_secs(1));
        let out = release(args);
        std::thread::sleep(Duration::from_secs(2));
        (out, load.stop())
    };
    let versions = |report: &hoist_testkit::load::Report| -> Vec<String> {
        let tail = &report.samples[report.samples.len().saturating_sub(100)..];
        let mut seen: Vec<String> = tail.iter().filter_map(|s| s.version.clone()).collect();
        seen.sort();
        seen.dedup();
        seen
    };
    let (out, report) = under_load(&["deploy", "app", "--image", &v2]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        report.failures().is_empty(),
        "{}\n{}",
        report.summary(),
        text(&out)
    );
    assert_eq!(versions(&report), ["v2"], "{}", report.summary());
    // What runs and what a rollback returns to, as Swarm keeps them.
    let listed = release(&["releases", "app"]);
    let shown = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed));
    assert!(shown.contains("3/3 tasks running"), "{shown}");
    let line = |prefix: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("current ").contains(&format!("{v2}@sha256:")),
        "{shown}"
    );
    assert!(
        line("previous ").contains(&format!("{v1}@sha256:")),
        "{shown}"
    );
    let (out, report) = under_load(&["rollback", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        report.failures().is_empty(),
        "{}\n{}",
        report.summary(),
        text(&out)
    );
    assert_eq!(versions(&report), ["v1"], "{}", report.summary());
    // The unhealthy image: Swarm rolls it back by itself; hoist says so and fails.
    let (out, report) = under_load(&["deploy", "app", "--image", &bad]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed and Swarm rolled it back"),
        "{}",
        text(&out)
    );
    assert!(
        report.failures().is_empty(),
        "{}\n{}",
        report.summary(),
        text(&out)
    );
    assert_eq!(versions(&report), ["v1"], "{}", report.summary());
    // Its previous spec is now the failed release: a rollback would bring it back, so none.
    let refused = release(&["rollback", "app"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("it was already rolled back to"),
        "{}",
        text(&refused)
    );
    // The pipeline's step 6 on the Swarm: the commit's image, as a rolling update too.
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "release"]);
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let local_v2 = v2.replace("10.200.0.1:5000", "localhost:5000");
    let at_commit = format!("{}:{commit}", local_v2.rsplit_once(':').unwrap().0);
    for args in [
        vec!["tag", local_v2.as_str(), at_commit.as_str()],
        vec!["push", "-q", at_commit.as_str()],
    ] {
        let out = Command::new("docker").args(&args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    images.track_image(0, &at_commit);
    let (out, report) = under_load(&["pipeline", "run", "--only", "deploy"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        report.failures().is_empty(),
        "{}\n{}",
        report.summary(),
        text(&out)
    );
    assert_eq!(versions(&report), ["v2"], "{}", report.summary());
    // Every release is in the target's journal, readable from any machine.
    let history = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .current_dir(dir.path())
        .args(["pipeline", "history", "--target", "swarm"])
        .env("HOIST_TRUST_INSECURE_HOST", TRUSTED)
        .env("HOIST_STATE_DIR", dir.path().join("another-machine"))
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&history.stdout);
    assert!(history.status.success(), "{}", text(&history));
    assert!(listed.matches("deploy").count() >= 3, "{listed}");
    assert!(listed.contains("rollback"), "{listed}");
    // Removing the stack takes the proxy off its network first.
    let rm = ok(hoist(&["stack", "rm", &stack.name], &[]));
    assert!(
        rm.contains(&format!(
            "Disconnecting proxy {proxy} from network {}_default",
            stack.name
        )),
        "{rm}"
    );
    assert!(
        rm.contains(&format!("Removing network {}_default", stack.name)),
        "{rm}"
    );
}
