//! The fault tier: faults injected while hoist works, on the dev environment's `fault` engine (an
//! engine of these tests alone, in its own namespace, with live restore as production engines
//! run) and on throwaway registries and state folders. Each scenario checks that the live release
//! keeps serving (a load runs through the proxy the whole time), that nothing is lost, and that
//! rerunning the same command converges.
//!
//! Every scenario prints one row of RELIABILITY.md's table (a line starting `RELIABILITY |`):
//! the fault, what the user saw (hoist's last line of output), the requests that failed, and
//! whether the rerun converged. `scripts/faults` runs this tier and writes the table.
//!
//! Scenarios share the fault engine, so they run one at a time ([`serial`]); the rest of the
//! suite runs beside them on the other engines.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hoist_testkit::http::request;
use hoist_testkit::load;
use hoist_testkit::{REGISTRY_FROM_PROD, TestProject};

/// The fault engine's address on the bridge, where its proxy publishes.
const FAULT: &str = "10.200.0.9";
/// Its API socket as seen from this machine.
const FAULT_SOCKET: &str = "/run/hoist-dev/fault/docker.sock";
const VERSION_HEADER: &str = "x-books-ms-version";

static SERIAL: Mutex<()> = Mutex::new(());

/// One scenario at a time on the fault engine (a panicking scenario does not block the rest).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A TCP endpoint on loopback that forwards to an engine's unix socket until it is cut: `cut`
/// resets every open connection and refuses new ones until `restore`. hoist talks to the engine
/// through it as it would through a network that fails.
struct Cutter {
    port: u16,
    open: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    wake: tokio::sync::watch::Sender<u64>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Cutter {
    fn start(socket: &str) -> Cutter {
        let rt = runtime();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let generation = Arc::new(AtomicU64::new(0));
        let (wake, _) = tokio::sync::watch::channel(0u64);
        let socket = socket.to_string();
        let (o, w) = (open.clone(), wake.clone());
        rt.spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !o.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = w.subscribe();
                let socket = socket.clone();
                tokio::spawn(async move {
                    let Ok(mut engine) = tokio::net::UnixStream::connect(&socket).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut engine) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Cutter {
            port,
            open,
            generation,
            wake,
            rt: Some(rt),
        }
    }

    fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        let g = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.wake.send(g);
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Cutter {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A hoist process whose output is read line by line as it runs.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hoist");
        let (tx, lines) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until a line containing `marker` is printed; panics with the transcript when the
    /// process ends first or nothing comes within `limit`.
    fn wait_for(&mut self, marker: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    let hit = line.contains(marker);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!(
                    "hoist never printed {marker:?} (within {limit:?}); it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the exit; returns the status code (None: killed) and every line printed.
    fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let status = self.child.wait().expect("wait for hoist");
        // The readers end with the pipes.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status.code(), self.seen)
    }
}

/// What the user saw: hoist's error line (the last line when there is none).
fn last_line(lines: &[String]) -> String {
    let error = lines
        .iter()
        .find(|l| l.trim_start().to_lowercase().starts_with("error"));
    error
        .or_else(|| lines.iter().rev().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "(nothing)".into())
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One row of RELIABILITY.md's table.
fn row(fault: &str, sees: &str, failed: &str, converged: &str) {
    let sees = sees.replace('|', "\\|");
    println!("RELIABILITY | {fault} | {sees} | {failed} | {converged} |");
}

/// books-ms and its database on the fault engine behind a proxy of its own, released blue-green
/// through `hoist deploy --target fault`; hoist reaches the engine through a [`Cutter`].
struct Stage {
    dir: PathBuf,
    state: PathBuf,
    project: TestProject,
    _proxy: TestProject,
    port: u16,
    cutter: Cutter,
    rt: tokio::runtime::Runtime,
    fault: hoist_docker::Engine,
    /// Release images by version, as the fault engine pulls them.
    images: Vec<(String, String)>,
}

impl Stage {
    fn new(prefix: &str, versions: &[&str]) -> Option<Stage> {
        let rt = runtime();
        let cd = rt.block_on(hoist_testkit::engine("cd"))?;
        let fault = rt.block_on(hoist_testkit::engine("fault"))?;
        let project = TestProject::new(prefix, &[&cd, &fault]);
        let proxy = TestProject::new(&format!("{prefix}-proxy"), &[&fault]);
        // The directory is named after the project: it is the compose project name, which the
        // cleanup removes by.
        let dir = std::env::temp_dir().join("hoist-fault").join(&project.name);
        let state = dir.join(".state");
        std::fs::create_dir_all(&state).unwrap();
        let port = hoist_testkit::proxy_port(&project.name);
        let images = versions
            .iter()
            .map(|v| {
                let image = rt.block_on(hoist_testkit::books_ms_release(&cd, &project, v, ""));
                project.track_image(1, &image);
                (v.to_string(), image)
            })
            .collect::<Vec<_>>();
        let cutter = Cutter::start(FAULT_SOCKET);
        let stage = Stage {
            dir,
            state,
            _proxy: proxy,
            port,
            cutter,
            rt,
            fault,
            images,
            project,
        };
        stage.write();
        Some(stage)
    }

    fn image(&self, version: &str) -> &str {
        &self
            .images
            .iter()
            .find(|(v, _)| v == version)
            .expect("a release image of that version")
            .1
    }

    fn write(&self) {
        let Some((_, first)) = self.images.first() else {
            return;
        };
        std::fs::write(
            self.dir.join("docker-compose.yml"),
            format!(
                "app:\n  image: {first}\n  ports:\n    - 8080\n  links:\n    - db:db\n\
                 db:\n  image: {REGISTRY_FROM_PROD}/books-ms-db\n"
            ),
        )
        .unwrap();
        std::fs::write(
            self.dir.join("hoist.yml"),
            format!(
                "service: books-ms\nregistry: localhost:5000\nproject: {project}\n\
                 targets:\n  fault:\n    host: {host}\n    public_address: http://{FAULT}:{port}\n\
                 \x20   registry: {REGISTRY_FROM_PROD}\n    proxy:\n\
                 \x20     image: {REGISTRY_FROM_PROD}/hoist-proxy:latest\n      name: {proxy}\n\
                 \x20     port: {port}\n\
                 steps:\n  deploy:\n    service: app\n  integrate:\n    path: /api/v1/books\n\
                 \x20   port: 8080\n",
                project = self.project.name,
                host = self.cutter.host(),
                port = self.port,
                proxy = self._proxy.name,
            ),
        )
        .unwrap();
    }

    /// Six independent services in `compose.yaml`, so that a fault lands while some are created
    /// and others are not. Returns the `-f`/`-p` arguments that name the project.
    fn six_services(&self) -> Vec<String> {
        let mut compose = String::from("services:\n");
        for i in 1..=6 {
            compose.push_str(&format!(
                "  s{i}:\n    image: debian:bookworm-slim\n    command: [sleep, infinity]\n    init: true\n"
            ));
        }
        std::fs::write(self.dir.join("compose.yaml"), compose).unwrap();
        ["-f", "compose.yaml", "-p", &self.project.name]
            .map(String::from)
            .to_vec()
    }

    /// `hoist ARGS VERB...` with `args` before the verb.
    fn hoist_with(&self, args: &[String], verb: &[&str]) -> Command {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend_from_slice(verb);
        self.hoist(&all)
    }

    /// A rerun of `up -d` converges: one running container per service of `six_services`.
    fn assert_up_converges(&self, args: &[String]) {
        let rerun = self.hoist_with(args, &["up", "-d"]).output().unwrap();
        assert!(rerun.status.success(), "rerun: {}", text(&rerun));
        let ps = self
            .hoist_with(args, &["ps", "--format", "json"])
            .output()
            .unwrap();
        assert!(ps.status.success(), "{}", text(&ps));
        let listed = String::from_utf8_lossy(&ps.stdout);
        for i in 1..=6 {
            let service = format!("\"Service\":\"s{i}\"");
            assert_eq!(
                listed.matches(&service).count(),
                1,
                "one container of s{i} after the rerun: {listed}"
            );
        }
        assert_eq!(
            listed.matches("\"State\":\"running\"").count(),
            6,
            "{listed}"
        );
    }

    fn hoist(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("HOIST_STATE_DIR", &self.state)
            .env("DOCKER_HOST", self.cutter.host())
            .env("HOIST_LOG", "warn");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.hoist(args).output().unwrap()
    }

    /// `hoist deploy app --target fault --image VERSION`'s arguments.
    fn deploy_args(&self, version: &str) -> Vec<String> {
        [
            "deploy",
            "app",
            "--target",
            "fault",
            "--image",
            self.image(version),
            "--health-path",
            "/api/v1/books",
        ]
        .map(String::from)
        .to_vec()
    }

    fn deploy(&self, version: &str) -> Output {
        let args = self.deploy_args(version);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args)
    }

    fn spawn_deploy(&self, version: &str) -> Running {
        let args = self.deploy_args(version);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Running::spawn(self.hoist(&args))
    }

    /// The database and the first release, live behind the proxy.
    fn first_release(&self) {
        let up = self.run(&["up", "-d", "db"]);
        assert!(up.status.success(), "up -d db: {}", text(&up));
        let v = self.images[0].0.clone();
        let out = self.deploy(&v);
        assert!(out.status.success(), "first deploy: {}", text(&out));
        self.assert_serves(&v);
    }

    fn url(&self) -> String {
        format!("http://{FAULT}:{}/api/v1/books", self.port)
    }

    fn load(&self) -> load::Load {
        load::start(
            &self.url(),
            100,
            4,
            VERSION_HEADER,
            Duration::from_secs(600),
        )
    }

    fn assert_serves(&self, version: &str) {
        let r = request("GET", &self.url(), None).expect("the proxy answers");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header(VERSION_HEADER), Some(version), "{r:?}");
    }

    /// The app's containers on the fault engine: (colour label, running).
    fn app_containers(&self) -> Vec<(String, bool)> {
        self.rt
            .block_on(hoist_testkit::service_containers(
                &self.fault,
                &self.project.name,
                "app",
            ))
            .into_iter()
            .map(|c| (c.color, c.running))
            .collect()
    }

    /// `hoist releases app --target fault --json`: (colour, state, image).
    fn releases(&self) -> Vec<(String, String, String)> {
        let out = self.run(&["releases", "app", "--target", "fault", "--json"]);
        assert!(out.status.success(), "releases: {}", text(&out));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("releases --json: {e}: {}", text(&out)));
        list.as_array()
            .expect("a list")
            .iter()
            .map(|r| {
                let field = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                (field("color"), field("state"), field("image"))
            })
            .collect()
    }

    /// After a converged release: one app container runs `live`, and the way back, `previous`,
    /// is kept stopped.
    fn assert_live_with_way_back(&self, live: &str, previous: &str) {
        let app = self.app_containers();
        let running = app.iter().filter(|(_, r)| *r).count();
        assert_eq!(running, 1, "exactly one running app container: {app:?}");
        let releases = self.releases();
        let state_of = |version: &str| {
            releases
                .iter()
                .find(|(_, _, image)| image == self.image(version))
                .map(|(_, state, _)| state.clone())
        };
        assert_eq!(state_of(live).as_deref(), Some("live"), "{releases:?}");
        assert_eq!(
            state_of(previous).as_deref(),
            Some("stopped"),
            "the way back ({previous}) is kept: {releases:?}"
        );
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The failed requests of a load report, as the table shows them.
fn failed(report: &load::Report) -> String {
    format!("{} of {}", report.failures().len(), report.total())
}

fn assert_no_failed_request(report: &load::Report, what: &str) {
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "{what}: {} of {} requests failed, first: {:?}",
        failures.len(),
        report.total(),
        failures.first()
    );
}

#[test]
fn an_engine_connection_cut_mid_up_fails_clearly_and_a_rerun_converges() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-up-cut", &[]) else {
        return;
    };
    let args = stage.six_services();
    let mut up = Running::spawn(stage.hoist_with(&args, &["up", "-d"]));
    up.wait_for("Created", Duration::from_secs(60));
    stage.cutter.cut();
    let (code, lines) = up.finish();
    assert_ne!(code, Some(0), "up must fail when the engine goes away");
    let sees = last_line(&lines);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("error") && l.contains("the connection to the engine failed")),
        "the failure is explained: {lines:#?}"
    );
    stage.cutter.restore();
    stage.assert_up_converges(&args);
    row(
        "engine connection cut mid-`up` (6 services)",
        &sees,
        "n/a (nothing served yet)",
        "yes: rerun `up -d` created the rest, one container per service",
    );
}

#[test]
fn an_engine_connection_cut_mid_release_keeps_the_live_release_serving() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-rel-cut", &["v1", "v2"]) else {
        return;
    };
    stage.first_release();
    let load = stage.load();
    std::thread::sleep(Duration::from_secs(1));
    let mut deploy = stage.spawn_deploy("v2");
    deploy.wait_for("healthy", Duration::from_secs(120));
    stage.cutter.cut();
    let (code, lines) = deploy.finish();
    assert_ne!(
        code,
        Some(0),
        "the release must fail when the engine goes away"
    );
    let said = last_line(&lines);
    assert!(
        said.contains("the connection to the engine failed") && said.contains("blue is serving"),
        "the failure says what broke and what serves: {said}"
    );
    stage.assert_serves("v1");
    stage.cutter.restore();
    let rerun = stage.deploy("v2");
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    assert!(rerun.status.success(), "rerun: {}", text(&rerun));
    assert_no_failed_request(&report, "connection cut mid-release");
    stage.assert_serves("v2");
    stage.assert_live_with_way_back("v2", "v1");
    row(
        "engine connection cut mid-release (new colour starting)",
        &last_line(&lines),
        &failed(&report),
        "yes: rerun released v2, v1 kept stopped for rollback",
    );
}

#[test]
fn an_engine_restart_mid_release_keeps_the_live_release_serving() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-rel-restart", &["v1", "v2"]) else {
        return;
    };
    stage.first_release();
    let load = stage.load();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let mut deploy = stage.spawn_deploy("v2");
    deploy.wait_for("healthy", Duration::from_secs(120));
    let restart_began = t0.elapsed();
    let restart = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/dev-env"
    ))
    .args(["restart", "fault"])
    .output()
    .expect("scripts/dev-env restart fault");
    assert!(restart.status.success(), "{}", text(&restart));
    let restart_ended = t0.elapsed();
    let (code, lines) = deploy.finish();
    let first = if code == Some(0) {
        "the release finished across the restart".to_string()
    } else {
        last_line(&lines)
    };
    stage.assert_serves(if code == Some(0) { "v2" } else { "v1" });
    let rerun = stage.deploy("v2");
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    assert!(rerun.status.success(), "rerun: {}", text(&rerun));
    // The containers, nginx and the kernel's NAT rules outlive the engine (live restore, and a
    // proxy in the host's network). What remains is the moment the starting engine rewrites its
    // NAT rules: a request or two may meet it. Nothing may fail outside the restart, and only a
    // handful within it (the whole outage failed ~1,900 requests when nginx reached the
    // services through the engine's userland proxy).
    let failures = report.failures();
    let window = restart_began..restart_ended + Duration::from_secs(2);
    let outside: Vec<_> = failures
        .iter()
        .filter(|f| !window.contains(&f.at))
        .collect();
    assert!(
        outside.is_empty(),
        "requests failed outside the engine's restart ({window:?}): {outside:?}"
    );
    assert!(
        failures.len() <= 5,
        "{} requests failed during the engine's restart: {:?}",
        failures.len(),
        failures.first()
    );
    stage.assert_serves("v2");
    row(
        "engine restarted mid-release (live restore)",
        &first,
        &failed(&report),
        "yes: rerun released v2",
    );
}

/// The phases of a release, by the line hoist prints when it enters each.
const DEPLOY_PHASES: &[(&str, &str)] = &[
    ("starting the new colour", "start "),
    ("waiting until it is healthy", "healthy"),
    ("switching the proxy", "switch the proxy"),
    ("draining the old colour", "drain"),
];

#[test]
fn hoist_killed_at_each_phase_of_deploy_and_rollback_keeps_serving_and_a_rerun_converges() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-kill", &["v1", "v2"]) else {
        return;
    };
    stage.first_release();
    let load = stage.load();
    let mut live = "v1";
    for (phase, marker) in DEPLOY_PHASES {
        let next = if live == "v1" { "v2" } else { "v1" };
        let mut deploy = stage.spawn_deploy(next);
        deploy.wait_for(marker, Duration::from_secs(120));
        deploy.kill();
        let (code, _) = deploy.finish();
        assert_eq!(code, None, "killed");
        let rerun = stage.deploy(next);
        assert!(
            rerun.status.success(),
            "rerun after a kill while {phase}: {}",
            text(&rerun)
        );
        stage.assert_serves(next);
        stage.assert_live_with_way_back(next, live);
        row(
            &format!("hoist SIGKILLed during `deploy`, {phase}"),
            "(killed: no output)",
            "see the deploy/rollback total below",
            &format!("yes: rerun released {next}, the previous colour kept"),
        );
        live = next;
    }
    // Rollback, killed as it starts the stopped colour and as it switches.
    for (phase, marker) in [
        ("starting the stopped colour", "start the stopped"),
        ("switching the proxy", "switch the proxy"),
    ] {
        let back = if live == "v1" { "v2" } else { "v1" };
        let mut rollback = Running::spawn(stage.hoist(&["rollback", "app", "--target", "fault"]));
        rollback.wait_for(marker, Duration::from_secs(120));
        rollback.kill();
        let _ = rollback.finish();
        let rerun = stage.run(&["rollback", "app", "--target", "fault"]);
        // A kill after the switch may already have brought the old release back; the rerun
        // then finds it live and says so, or rolls back once more (to `live`).
        let now = request("GET", &stage.url(), None)
            .ok()
            .and_then(|r| r.header(VERSION_HEADER).map(String::from))
            .unwrap_or_default();
        assert!(
            rerun.status.success() || now == back,
            "rerun of rollback after a kill while {phase}: {}",
            text(&rerun)
        );
        assert!(now == back || now == live, "serving {now:?}");
        let other = if now == "v1" { "v2" } else { "v1" };
        stage.assert_live_with_way_back(&now, other);
        row(
            &format!("hoist SIGKILLed during `rollback`, {phase}"),
            "(killed: no output)",
            "see the deploy/rollback total below",
            "yes: rerun of `rollback` left one colour live and the other stopped",
        );
        live = if now == back { back } else { live };
    }
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    assert_no_failed_request(&report, "kills during deploy and rollback");
    row(
        "all SIGKILLs of `deploy` and `rollback` above, under 100 req/s",
        "-",
        &failed(&report),
        "yes",
    );
}

#[test]
fn hoist_killed_mid_up_and_a_rerun_converges() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-kill-up", &[]) else {
        return;
    };
    let args = stage.six_services();
    let mut up = Running::spawn(stage.hoist_with(&args, &["up", "-d"]));
    up.wait_for("Created", Duration::from_secs(60));
    up.kill();
    let _ = up.finish();
    stage.assert_up_converges(&args);
    row(
        "hoist SIGKILLed during `up` (containers being created)",
        "(killed: no output)",
        "n/a",
        "yes: rerun `up -d` created the rest, one container per service",
    );
}

/// A registry of the test's own on loopback (Debian's `docker-registry`), stopped and started
/// by the test. Engines trust registries on localhost without any setting.
struct Registry {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut r = Registry {
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        r.up();
        r
    }

    fn up(&mut self) {
        std::fs::create_dir_all(self.dir.join("data")).unwrap();
        let config = self.dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{}\n",
                self.dir.join("data").display(),
                self.port
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .args(["serve"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while request("GET", &format!("http://127.0.0.1:{}/v2/", self.port), None).is_err() {
            assert!(
                Instant::now() < deadline,
                "the test registry did not answer"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn name(&self) -> String {
        format!("localhost:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.down();
    }
}

#[test]
fn registry_down_during_push_and_pull_fails_clearly_and_a_rerun_converges() {
    let rt = runtime();
    let Some(cd) = rt.block_on(hoist_testkit::engine("cd")) else {
        return;
    };
    let project = TestProject::new("fault-registry", &[&cd]);
    // The directory is named after the project: it is the compose project name, which the
    // cleanup removes by.
    let dir = std::env::temp_dir().join("hoist-fault").join(&project.name);
    std::fs::create_dir_all(dir.join("app")).unwrap();
    let mut registry = Registry::start(&dir.join("registry"));
    let image = format!("{}/{}/app:1", registry.name(), project.name);
    project.track_image(0, &image);
    std::fs::write(
        dir.join("app/Dockerfile"),
        format!(
            "FROM debian:bookworm-slim\nLABEL io.hoist.test={}\n",
            project.name
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        format!(
            "services:\n  app:\n    image: {image}\n    build: app\n    command: [sleep, infinity]\n    init: true\n"
        ),
    )
    .unwrap();
    // The same service without `build`: a failed pull of a service that builds falls back to
    // building it (as Compose does), so pulls are tried through this file.
    std::fs::write(
        dir.join("pull.yaml"),
        format!("services:\n  app:\n    image: {image}\n    command: [sleep, infinity]\n    init: true\n"),
    )
    .unwrap();
    let hoist_with = |file: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .args(["-f", file, "-p", &project.name])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", "unix:///var/run/docker.sock")
            .output()
            .unwrap()
    };
    let hoist = |args: &[&str]| hoist_with("compose.yaml", args);
    let pull_file = |args: &[&str]| hoist_with("pull.yaml", args);
    let build = hoist(&["build"]);
    assert!(build.status.success(), "{}", text(&build));

    // Push with the registry down: a clear error naming the image; up again, the push converges.
    registry.down();
    let push = hoist(&["push"]);
    assert!(
        !push.status.success(),
        "push to a registry that is down must fail"
    );
    let said = String::from_utf8_lossy(&push.stderr).to_string();
    assert!(
        said.contains(&image) || said.contains(&registry.name()),
        "{}",
        text(&push)
    );
    let push_sees = last_line(&said.lines().map(String::from).collect::<Vec<_>>());
    registry.up();
    let push = hoist(&["push"]);
    assert!(push.status.success(), "{}", text(&push));

    // Pull with the registry down: the running container is left alone; up again, converges.
    let up = pull_file(&["up", "-d"]);
    assert!(up.status.success(), "{}", text(&up));
    rt.block_on(hoist_testkit::remove_image(&cd, &image));
    registry.down();
    let pull = pull_file(&["up", "-d", "--pull", "always"]);
    assert!(
        !pull.status.success(),
        "pull from a registry that is down must fail"
    );
    let pull_said = String::from_utf8_lossy(&pull.stderr).to_string();
    let pull_sees = last_line(&pull_said.lines().map(String::from).collect::<Vec<_>>());
    let ps = pull_file(&["ps", "--format", "json"]);
    assert!(
        String::from_utf8_lossy(&ps.stdout).contains("\"State\":\"running\""),
        "the running container survived the failed pull: {}",
        text(&ps)
    );
    registry.up();
    let rerun = pull_file(&["up", "-d", "--pull", "always"]);
    assert!(rerun.status.success(), "{}", text(&rerun));
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
    row(
        "registry down during `push`",
        &push_sees,
        "n/a",
        "yes: rerun `push` pushed",
    );
    row(
        "registry down during pull (`up --pull always`)",
        &pull_sees,
        "0 (the running container was left alone)",
        "yes: rerun `up -d --pull always` pulled and converged",
    );
}

/// A tmpfs of `size` mounted on `dir` for the state folder, unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mount a tmpfs on {}", dir.display());
        SmallDisk {
            dir: dir.to_path_buf(),
        }
    }

    /// Fills what is left with one file.
    fn fill(&self) {
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=64k"])
            .arg(format!("of={}", self.dir.join("filler").display()))
            .stderr(Stdio::null())
            .status();
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.dir.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn a_full_state_folder_never_costs_the_live_release_and_a_rerun_converges() {
    let _serial = serial();
    let Some(mut stage) = Stage::new("fault-full", &["v1", "v2"]) else {
        return;
    };
    stage.first_release();
    // The state folder moves onto a small disk that is then filled.
    let disk = SmallDisk::mount(&stage.dir.join(".state-small"), "4m");
    stage.state = stage.dir.join(".state-small");
    disk.fill();
    let load = stage.load();
    std::thread::sleep(Duration::from_secs(1));
    let out = stage.deploy("v2");
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    let sees = last_line(&said.lines().map(String::from).collect::<Vec<_>>());
    // Whatever hoist decided (refuse before acting, or release and warn), v1 or v2 serves.
    let serving = if out.status.success() { "v2" } else { "v1" };
    stage.assert_serves(serving);
    disk.free();
    let rerun = stage.deploy("v2");
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    assert!(
        rerun.status.success(),
        "rerun with space again: {}",
        text(&rerun)
    );
    assert_no_failed_request(&report, "state folder full");
    stage.assert_serves("v2");
    let history = stage.run(&["releases", "app", "--target", "fault", "--json"]);
    assert!(history.status.success(), "{}", text(&history));
    row(
        "state folder full during `deploy`",
        &sees,
        &failed(&report),
        "yes: rerun with space released v2; `releases` reads the history",
    );
    drop(disk);
}

#[test]
fn a_locked_history_does_not_block_rollback_during_an_incident() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-locked", &["v1", "v2"]) else {
        return;
    };
    stage.first_release();
    let out = stage.deploy("v2");
    assert!(out.status.success(), "{}", text(&out));
    let db = std::fs::read_dir(&stage.state)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "sqlite3"))
        .expect("a history database in the state folder");
    // Another process holds the history's write lock for the whole rollback.
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let load = stage.load();
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    let out = stage.run(&["rollback", "app", "--target", "fault"]);
    let took = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(
        out.status.success(),
        "rollback with the history locked: {}",
        text(&out)
    );
    assert_no_failed_request(&report, "rollback with the history locked");
    stage.assert_serves("v1");
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    let warning = said
        .lines()
        .find(|l| l.to_lowercase().contains("history"))
        .unwrap_or("(no warning)")
        .trim()
        .to_string();
    row(
        "history locked by another process during `rollback`",
        &format!("{warning} (rollback took {:.1} s)", took.as_secs_f64()),
        &failed(&report),
        "n/a: the rollback itself succeeded",
    );
}

/// Polls `done` until it holds; panics naming `what` after `limit`.
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether a process whose command line contains `marker` runs on this machine.
fn process_running(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(marker)
                })
                .unwrap_or(false)
        })
}

#[test]
fn hoist_killed_at_each_phase_of_a_pipeline_run_keeps_serving_and_a_rerun_converges() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-pipe", &["v1"]) else {
        return;
    };
    stage.first_release();
    // The pipeline's deploy step runs the image tagged with the repository's commit.
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&stage.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // A step command that sleeps on the first run only, under a name no other process has.
    let unique = stage
        .project
        .name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    let sleeper = format!("300.{:06}", unique % 1_000_000);
    let packaged = stage.dir.join(".packaged");
    let yml = std::fs::read_to_string(stage.dir.join("hoist.yml")).unwrap();
    let yml = yml.replace(
        "steps:\n",
        &format!(
            "steps:\n  package:\n    command: \"test -f {p} || {{ touch {p}; sleep {sleeper}; }}\"\n",
            p = packaged.display()
        ),
    );
    std::fs::write(stage.dir.join("hoist.yml"), yml).unwrap();
    std::fs::write(stage.dir.join(".gitignore"), ".state*\n.packaged\n").unwrap();
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&[
        "-c",
        "user.name=hoist tests",
        "-c",
        "user.email=tests@hoist.invalid",
        "commit",
        "-q",
        "-m",
        "fault tier",
    ]);
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let cd = stage.rt.block_on(hoist_testkit::engine("cd")).unwrap();
    let image = stage.rt.block_on(hoist_testkit::books_ms_release(
        &cd,
        &stage.project,
        &commit,
        "",
    ));
    stage.project.track_image(1, &image);

    let load = stage.load();
    std::thread::sleep(Duration::from_secs(1));
    let run = || Running::spawn(stage.hoist(&["pipeline", "run", "--target", "fault"]));

    // Killed while a step's command runs: the command outlives hoist until the next run takes
    // the deploy lock and ends it.
    let mut first = run();
    wait_until("step 3's command runs", Duration::from_secs(60), || {
        process_running(&sleeper)
    });
    first.kill();
    let _ = first.finish();
    assert!(
        process_running(&sleeper),
        "the step's command outlived the SIGKILL"
    );

    // Killed while it deploys, the rerun after it must finish the release.
    let mut second = run();
    wait_until("step 6 runs", Duration::from_secs(180), || {
        let out = stage.run(&["pipeline", "status", "--json"]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        status["status"] == "running" && status["steps"][5]["status"] == "running"
    });
    // Into the release itself: its new colour is starting.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !process_running(&sleeper),
        "the run that took the lock ended the killed run's step command"
    );
    second.kill();
    let _ = second.finish();

    let third = stage.run(&["pipeline", "run", "--target", "fault"]);
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    assert!(third.status.success(), "rerun: {}", text(&third));
    assert_no_failed_request(&report, "kills during pipeline runs");
    stage.assert_serves(&commit);
    row(
        "hoist SIGKILLed during `pipeline run`, step 3's command running",
        "(killed: no output)",
        "see the pipeline total below",
        "yes: the next run ended the orphaned step command when it took the lock",
    );
    row(
        "hoist SIGKILLed during `pipeline run`, step 6 deploying",
        "(killed: no output)",
        "see the pipeline total below",
        "yes: the rerun released the commit's image",
    );
    row(
        "both pipeline SIGKILLs above, under 100 req/s",
        "-",
        &failed(&report),
        "yes",
    );
}

/// The deploy lock lives on the target: deploys from two machines (two state folders here) at
/// once are excluded from each other, a maintenance window holds every deploy off, and the
/// service keeps serving throughout.
#[test]
fn deploys_from_two_state_folders_at_once_one_proceeds_and_the_other_names_the_holder() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-lock", &["v1", "v2"]) else {
        return;
    };
    stage.first_release();
    let load = stage.load();
    let other_state = stage.dir.join(".other-machine");
    std::fs::create_dir_all(&other_state).unwrap();

    // Two deploys of v2 started together, each with its own state folder.
    let args = stage.deploy_args("v2");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = Running::spawn(stage.hoist(&args));
    let mut second_cmd = stage.hoist(&args);
    second_cmd.env("HOIST_STATE_DIR", &other_state);
    let second = Running::spawn(second_cmd);
    let (a, a_lines) = first.finish();
    let (b, b_lines) = second.finish();
    let outcomes = [(a, &a_lines), (b, &b_lines)];
    let won: Vec<_> = outcomes.iter().filter(|(c, _)| *c == Some(0)).collect();
    let lost: Vec<_> = outcomes.iter().filter(|(c, _)| *c != Some(0)).collect();
    assert_eq!(
        (won.len(), lost.len()),
        (1, 1),
        "exactly one deploy proceeds:\nfirst: {a_lines:?}\nsecond: {b_lines:?}"
    );
    let refused = last_line(lost[0].1);
    assert!(
        refused.contains("is locked on this engine by") && refused.contains("deploy of"),
        "{refused}"
    );
    eprintln!("the refused deploy said: {refused}");
    stage.assert_serves("v2");

    // A maintenance window from the other machine holds deploys off until it is released.
    let mut acquire = stage.hoist(&[
        "lock",
        "acquire",
        "--target",
        "fault",
        "-m",
        "db migration",
        "app",
    ]);
    acquire.env("HOIST_STATE_DIR", &other_state);
    let out = acquire.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let status = stage.run(&["lock", "status", "--target", "fault", "app"]);
    let said = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        said.contains("db migration") && said.contains("maintenance window"),
        "{said}"
    );
    let refused = stage.deploy("v1");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        err.contains("db migration") && err.contains("hoist lock release"),
        "{err}"
    );
    stage.assert_serves("v2");
    let released = stage.run(&["lock", "release", "--target", "fault", "app"]);
    assert!(released.status.success(), "{}", text(&released));
    let deployed = stage.deploy("v1");
    assert!(deployed.status.success(), "{}", text(&deployed));
    stage.assert_serves("v1");
    let status = stage.run(&["lock", "status", "--target", "fault", "app"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("not locked"),
        "{}",
        text(&status)
    );

    // The other machine sees every deploy that was made, from either state folder, in the
    // target's journal: the first release, the one of the two that proceeded, and the last.
    let mut history = stage.hoist(&["pipeline", "history", "--target", "fault", "--json"]);
    history.env("HOIST_STATE_DIR", &other_state);
    let out = history.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seen: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("deploy", "done"); 3], "{entries:#}");

    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    assert_no_failed_request(&report, "two deploys at once and a maintenance window");
    row(
        "two `deploy`s of one service at once from two state folders",
        &refused_line(&b_lines, &a_lines),
        &failed(&report),
        "yes: one released, the other refused naming the holder",
    );
}

fn refused_line(a: &[String], b: &[String]) -> String {
    [a, b]
        .iter()
        .map(|l| last_line(l))
        .find(|l| l.contains("locked"))
        .unwrap_or_default()
}

/// A holder that dies keeps nobody out: `hoist lock status` says who held the lock and that it
/// is gone, and the next deploy takes the lock over, naming the dead holder.
#[test]
fn a_sigkilled_holders_lock_is_named_and_taken_over_by_the_next_deploy() {
    let _serial = serial();
    let Some(stage) = Stage::new("fault-lockkill", &["v1", "v2"]) else {
        return;
    };
    stage.first_release();
    let mut deploy = stage.spawn_deploy("v2");
    deploy.wait_for("healthy", Duration::from_secs(120));
    let held = stage.run(&["lock", "status", "--target", "fault", "app"]);
    let said = String::from_utf8_lossy(&held.stdout).into_owned();
    assert!(said.contains("held (its holder is alive)"), "{said}");
    let pid = deploy.child.id();
    assert!(said.contains(&format!("pid {pid}")), "{said}");
    deploy.kill();
    let (code, _) = deploy.finish();
    assert_eq!(code, None, "killed");

    let status = stage.run(&["lock", "status", "--target", "fault", "app"]);
    let said = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        said.contains(&format!("pid {pid}")) && said.contains("its holder is gone"),
        "{said}"
    );
    assert!(said.contains("rule: "), "{said}");
    let rerun = stage.deploy("v2");
    assert!(rerun.status.success(), "{}", text(&rerun));
    let err = String::from_utf8_lossy(&rerun.stderr).into_owned();
    assert!(
        err.contains("took over the deploy lock") && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    stage.assert_serves("v2");
}
