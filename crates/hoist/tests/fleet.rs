//! A target of several hosts, through the binary: `hoist deploy/rollback/releases --target`
//! over the dev environment's three prod engines (prod, prod-tls over TLS, prod3), each with its
//! own proxy, while 100 requests a second go through each proxy.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hoist_docker::Engine;
use hoist_testkit::http::request;
use hoist_testkit::load;
use hoist_testkit::{REGISTRY_FROM_PROD, TestProject};

const VERSION_HEADER: &str = "x-books-ms-version";

/// The fleet tests share three engines and put load on each: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The three hosts: (name in the target, engine name in the dev environment, address).
const HOSTS: [(&str, &str, &str); 3] = [
    ("prod", "prod", "10.200.0.2"),
    ("prod-tls", "prod-tls", "10.200.0.3"),
    ("prod3", "prod3", "10.200.0.4"),
];

/// books-ms and its database on three hosts, a `fleet` target over them in `hoist.yml`.
struct Fleet {
    dir: PathBuf,
    project: TestProject,
    _proxy: TestProject,
    port: u16,
    rt: tokio::runtime::Runtime,
    engines: Vec<Engine>,
    images: Vec<(String, String)>,
}

impl Fleet {
    /// `versions` are (version, extra Dockerfile lines) of the release images; `flags` mounts
    /// the project's volume `flags` at `/flags` in the service.
    fn new(prefix: &str, versions: &[(&str, &str)], batch: usize, flags: bool) -> Option<Fleet> {
        let rt = runtime();
        let cd = rt.block_on(hoist_testkit::engine("cd"))?;
        let mut engines = Vec::new();
        for (_, engine, _) in HOSTS {
            engines.push(rt.block_on(hoist_testkit::engine(engine))?);
        }
        let all: Vec<&Engine> = std::iter::once(&cd).chain(&engines).collect();
        let project = TestProject::new(prefix, &all);
        let proxy = TestProject::new(&format!("{prefix}-proxy"), &all[1..]);
        let dir = std::env::temp_dir().join(format!("hoist-fleet-{}", project.name));
        std::fs::create_dir_all(dir.join(".state")).unwrap();
        let port = hoist_testkit::proxy_port(&project.name);
        let images = versions
            .iter()
            .map(|(v, extra)| {
                let image = rt.block_on(hoist_testkit::books_ms_release(&cd, &project, v, extra));
                for i in 1..=HOSTS.len() {
                    project.track_image(i, &image);
                }
                (v.to_string(), image)
            })
            .collect();
        let fleet = Fleet {
            dir,
            project,
            _proxy: proxy,
            port,
            rt,
            engines,
            images,
        };
        fleet.write(batch, flags);
        Some(fleet)
    }

    fn write(&self, batch: usize, flags: bool) {
        let first = &self.images[0].1;
        let (mount, volumes) = if flags {
            (
                "    volumes:\n      - flags:/flags\n".to_string(),
                "volumes:\n  flags: {}\n".to_string(),
            )
        } else {
            (String::new(), String::new())
        };
        std::fs::write(
            self.dir.join("docker-compose.yml"),
            format!(
                "services:\n  app:\n    image: {first}\n    ports:\n      - 8080\n    environment:\n      DB_HOST: db\n    depends_on:\n      - db\n{mount}\
                 \x20 db:\n    image: {REGISTRY_FROM_PROD}/books-ms-db\n{volumes}"
            ),
        )
        .unwrap();
        let certs = hoist_testkit::state_dir().join("certs/client");
        let mut hosts = String::new();
        for (name, _, address) in HOSTS {
            let (host, extra) = match name {
                "prod-tls" => (
                    format!("tcp://{address}:2376"),
                    format!("        tls: {}\n", certs.display()),
                ),
                _ => (format!("tcp://{address}:2375"), String::new()),
            };
            hosts.push_str(&format!(
                "      - name: {name}\n        host: {host}\n{extra}        public_address: http://{address}:{port}\n",
                port = self.port
            ));
        }
        std::fs::write(
            self.dir.join("hoist.yml"),
            format!(
                "service: books-ms\nregistry: localhost:5000\nproject: {project}\n\
                 targets:\n  fleet:\n    batch: {batch}\n    registry: {REGISTRY_FROM_PROD}\n\
                 \x20   proxy:\n      image: {REGISTRY_FROM_PROD}/hoist-proxy:latest\n\
                 \x20     name: {proxy}\n      port: {port}\n    hosts:\n{hosts}\
                 steps:\n  deploy:\n    service: app\n  integrate:\n    path: /api/v1/books\n\
                 \x20   port: 8080\n",
                project = self.project.name,
                proxy = self._proxy.name,
                port = self.port,
            ),
        )
        .unwrap();
    }

    fn image(&self, version: &str) -> &str {
        &self.images.iter().find(|(v, _)| v == version).unwrap().1
    }

    fn hoist(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("HOIST_STATE_DIR", self.dir.join(".state"))
            .env("HOIST_TRUST_INSECURE_HOST", "10.200.0.2,10.200.0.4")
            .env_remove("DOCKER_HOST")
            .env("HOIST_LOG", "warn");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.hoist(args).output().unwrap()
    }

    fn deploy(&self, version: &str) -> Output {
        self.run(&[
            "deploy",
            "app",
            "--target",
            "fleet",
            "--image",
            self.image(version),
            "--health-path",
            "/api/v1/books",
            "--health-timeout",
            "30",
        ])
    }

    fn url(&self, address: &str) -> String {
        format!("http://{address}:{}/api/v1/books", self.port)
    }

    /// 100 requests a second through each host's proxy.
    fn loads(&self) -> Vec<(&'static str, load::Load)> {
        HOSTS
            .iter()
            .map(|(name, _, address)| {
                (
                    *name,
                    load::start(
                        &self.url(address),
                        100,
                        4,
                        VERSION_HEADER,
                        Duration::from_secs(900),
                    ),
                )
            })
            .collect()
    }

    /// Which version each host's proxy serves.
    fn serving(&self) -> Vec<String> {
        HOSTS
            .iter()
            .map(|(_, _, address)| {
                let r = request("GET", &self.url(address), None).expect("the proxy answers");
                assert_eq!(r.status, 200, "{address}: {r:?}");
                r.header(VERSION_HEADER).unwrap_or_default().to_string()
            })
            .collect()
    }

    /// The app's containers on each host: (colour, running).
    fn colours(&self) -> Vec<Vec<(String, bool)>> {
        self.engines
            .iter()
            .map(|engine| {
                let mut cs: Vec<(String, bool)> = self
                    .rt
                    .block_on(hoist_testkit::service_containers(
                        engine,
                        &self.project.name,
                        "app",
                    ))
                    .into_iter()
                    .map(|c| (c.color, c.running))
                    .collect();
                cs.sort();
                cs
            })
            .collect()
    }
}

fn assert_none_failed(loads: Vec<(&str, load::Load)>, what: &str) -> usize {
    let mut total = 0;
    for (host, l) in loads {
        let report = l.stop();
        let failures = report.failures();
        eprintln!("{what}, through {host}'s proxy: {}", report.summary());
        assert!(
            failures.is_empty(),
            "{what}: {} of {} requests through {host}'s proxy failed, first: {:?}",
            failures.len(),
            report.total(),
            failures.first()
        );
        total += report.total();
    }
    total
}

#[test]
fn a_fleet_deploy_and_rollback_under_load_on_every_proxy_fail_no_request() {
    let _serial = serial();
    let Some(fleet) = Fleet::new("fleet-roll", &[("v1", ""), ("v2", "")], 1, false) else {
        return;
    };
    let first = fleet.deploy("v1");
    assert!(first.status.success(), "first deploy: {}", text(&first));
    assert_eq!(fleet.serving(), ["v1", "v1", "v1"]);

    let loads = fleet.loads();
    std::thread::sleep(Duration::from_secs(1));
    let out = fleet.deploy("v2");
    assert!(out.status.success(), "deploy v2: {}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    for (name, _, _) in HOSTS {
        assert!(
            said.contains(&format!("{name}: app live on green")),
            "{said}"
        );
    }
    assert_eq!(fleet.serving(), ["v2", "v2", "v2"]);

    // Every host in one answer, each row naming its host.
    let releases = fleet.run(&["releases", "app", "--target", "fleet"]);
    assert!(releases.status.success(), "{}", text(&releases));
    let table = String::from_utf8_lossy(&releases.stdout).into_owned();
    assert!(table.starts_with("HOST"), "{table}");
    for (name, _, _) in HOSTS {
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .collect();
        assert_eq!(rows.len(), 2, "blue and green on {name}: {table}");
        assert!(
            rows.iter()
                .any(|r| r.contains("green") && r.contains("live") && r.contains(":v2")),
            "{table}"
        );
        assert!(
            rows.iter()
                .any(|r| r.contains("blue") && r.contains("stopped") && r.contains(":v1")),
            "{table}"
        );
    }

    // ps and logs: every host's containers, each naming its host.
    let ps = fleet.run(&["ps", "--target", "fleet"]);
    assert!(ps.status.success(), "{}", text(&ps));
    let table = String::from_utf8_lossy(&ps.stdout).into_owned();
    assert!(table.starts_with("HOST "), "{table}");
    for (name, _, _) in HOSTS {
        let services: Vec<&str> = table
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(name))
            .filter_map(|l| l.split_whitespace().nth(1))
            .collect();
        assert!(
            services.iter().any(|c| c.ends_with("-app-green-1"))
                && services.iter().any(|c| c.ends_with("-db-1")),
            "the running green and db on {name}: {table}"
        );
    }
    let logs = fleet.run(&["logs", "--target", "fleet", "app"]);
    assert!(logs.status.success(), "{}", text(&logs));
    let lines = String::from_utf8_lossy(&logs.stdout).into_owned();
    for (name, _, _) in HOSTS {
        assert!(
            lines
                .lines()
                .any(|l| l.starts_with(&format!("app-1@{name} ")) && l.contains("starting")),
            "books-ms's start on {name}: {lines}"
        );
    }

    let back = fleet.run(&["rollback", "app", "--target", "fleet"]);
    assert!(back.status.success(), "rollback: {}", text(&back));
    assert_eq!(fleet.serving(), ["v1", "v1", "v1"]);
    for host in fleet.colours() {
        assert_eq!(
            host,
            [("blue".to_string(), true), ("green".to_string(), false)]
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let total = assert_none_failed(loads, "a fleet deploy and rollback");
    assert!(total > 1000, "the loads ran: {total} requests");

    // Another machine (a fresh state folder) reads what happened from the targets' journal:
    // each release once, though every host keeps it, newest first.
    let elsewhere = fleet.dir.join(".elsewhere");
    let out = fleet
        .hoist(&["pipeline", "history", "--target", "fleet", "--json"])
        .env("HOIST_STATE_DIR", &elsewhere)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [("rollback", "done"), ("deploy", "done"), ("deploy", "done")],
        "{entries:#}"
    );
    let newest = &entries[1];
    assert!(
        newest["detail"]
            .as_str()
            .unwrap()
            .contains("prod3: app live on green")
            && newest["by"].as_str().unwrap().contains('@'),
        "{newest:#}"
    );
}

#[test]
fn a_release_unhealthy_on_the_second_host_switches_the_first_back_and_leaves_the_third() {
    let _serial = serial();
    let sick = "HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD [\"sh\", \"-c\", \"test ! -e /flags/sick\"]";
    let Some(fleet) = Fleet::new("fleet-sick", &[("v1", ""), ("v2", sick)], 1, true) else {
        return;
    };
    let first = fleet.deploy("v1");
    assert!(first.status.success(), "first deploy: {}", text(&first));
    assert_eq!(fleet.serving(), ["v1", "v1", "v1"]);
    // The flag that makes v2 unhealthy exists on the second host only (in the project's volume
    // the first deploy created there).
    let certs = hoist_testkit::state_dir().join("certs/client");
    let cert = |f: &str| certs.join(f).display().to_string();
    let out = fleet.run(&[
        "-H",
        "tcp://10.200.0.3:2376",
        "--tlsverify",
        "--tlscacert",
        &cert("ca.pem"),
        "--tlscert",
        &cert("cert.pem"),
        "--tlskey",
        &cert("key.pem"),
        "-p",
        &fleet.project.name,
        "run",
        "--rm",
        "--no-deps",
        "--user",
        "0",
        "--entrypoint",
        "sh",
        "app",
        "-c",
        "touch /flags/sick",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let loads = fleet.loads();
    std::thread::sleep(Duration::from_secs(1));
    let out = fleet.deploy("v2");
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let error_line = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        error_line.contains("on host prod-tls")
            && error_line.contains("switched back: prod")
            && error_line.contains("untouched: prod3"),
        "{err}"
    );
    assert!(error_line.contains("healthy"), "the cause: {err}");
    assert_eq!(fleet.serving(), ["v1", "v1", "v1"]);
    let colours = fleet.colours();
    // prod: green released, then stopped again; prod-tls: green started and stopped by its own
    // unwind; prod3: never touched.
    assert_eq!(
        colours[0],
        [("blue".to_string(), true), ("green".to_string(), false)]
    );
    assert_eq!(
        colours[1],
        [("blue".to_string(), true), ("green".to_string(), false)]
    );
    assert_eq!(colours[2], [("blue".to_string(), true)]);
    // The stopped green holds the failed release on the first two hosts: a rollback would start
    // it, so it is refused, naming the host, before anything changes.
    let back = fleet.run(&["rollback", "app", "--target", "fleet"]);
    assert!(!back.status.success(), "{}", text(&back));
    let said = String::from_utf8_lossy(&back.stderr).into_owned();
    assert!(
        said.contains("on host prod") && said.contains("whose deploy failed"),
        "{said}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_none_failed(loads, "a release unhealthy on the second host");
    assert_eq!(fleet.serving(), ["v1", "v1", "v1"]);
}
