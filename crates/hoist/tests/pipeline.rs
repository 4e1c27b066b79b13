//! `hoist pipeline` end to end, through the binary, on the dev environment: the cd engine runs
//! the tests, builds and pushes; prod is the target; the registry sits between them.
//!
//! Each test gets a git repository of its own (a unique commit, so unique image tags), a unique
//! compose project, its own proxy (unique name and port) and its own state folder, so tests run
//! in parallel. The services are books-ms and its database from the images `build-images` made.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoist_testkit::http::request;
use hoist_testkit::{REGISTRY_FROM_CD, REGISTRY_FROM_PROD, TestProject};

const PROD: &str = "10.200.0.2";
const PROD3: &str = "10.200.0.4";

struct Scenario {
    dir: PathBuf,
    state: PathBuf,
    project: TestProject,
    proxy: TestProject,
    port: u16,
    _cd: hoist_docker::Engine,
    prod: hoist_docker::Engine,
    /// How hoist.yml's target reaches prod: `host:` and what follows it.
    target_host: String,
    /// A fleet target instead: prod and prod3, each with its own proxy, `batch` at a time.
    fleet: Option<(hoist_docker::Engine, usize)>,
}

/// Steps of a test's hoist.yml, beyond the fixed head.
struct Steps<'a> {
    pre_deployment_tests: &'a str,
    package: &'a str,
    deploy_extra: &'a str,
    integrate_extra: &'a str,
    /// More of the target's keys (`route:`, `acme:`), indented as the target's.
    target_extra: &'a str,
    /// A top-level `hooks:` section, whole.
    hooks: &'a str,
    /// Lines under the deployed `app` service of docker-compose.yml (`environment:`, ...).
    app_extra: &'a str,
    /// The database's image tag (`latest` when empty).
    db_tag: &'a str,
}

impl Default for Steps<'_> {
    fn default() -> Self {
        Steps {
            pre_deployment_tests: "run: tests\n    retry_for: 60",
            package: "command: echo packaged",
            deploy_extra: "",
            integrate_extra: "",
            target_extra: "",
            hooks: "",
            app_extra: "",
            db_tag: "",
        }
    }
}

impl Scenario {
    async fn new(prefix: &str) -> Option<Scenario> {
        Scenario::reaching_prod(
            prefix,
            &format!("tcp://{PROD}:2375\n    trust_insecure: true"),
        )
        .await
    }

    /// A scenario whose target reaches prod with `host: {target_host}`.
    async fn reaching_prod(prefix: &str, target_host: &str) -> Option<Scenario> {
        let cd = hoist_testkit::engine("cd").await?;
        let prod = hoist_testkit::engine("prod").await?;
        let project = TestProject::new(prefix, &[&cd, &prod]);
        let proxy = TestProject::new(&format!("{prefix}-proxy"), &[&prod]);
        let dir = std::env::temp_dir().join(format!("hoist-pipeline-{}", project.name));
        let state = dir.join(".state");
        std::fs::create_dir_all(dir.join("image/books-ms")).unwrap();
        std::fs::create_dir_all(dir.join("image/books-ms-tests")).unwrap();
        let port = hoist_testkit::proxy_port(&project.name);
        Some(Scenario {
            dir,
            state,
            project,
            proxy,
            port,
            _cd: cd,
            prod,
            target_host: target_host.to_string(),
            fleet: None,
        })
    }

    /// A scenario whose target `prod` has two hosts, prod and prod3.
    async fn fleet(prefix: &str, batch: usize) -> Option<Scenario> {
        let cd = hoist_testkit::engine("cd").await?;
        let prod = hoist_testkit::engine("prod").await?;
        let prod3 = hoist_testkit::engine("prod3").await?;
        let project = TestProject::new(prefix, &[&cd, &prod, &prod3]);
        let proxy = TestProject::new(&format!("{prefix}-proxy"), &[&prod, &prod3]);
        let dir = std::env::temp_dir().join(format!("hoist-pipeline-{}", project.name));
        let state = dir.join(".state");
        std::fs::create_dir_all(dir.join("image/books-ms")).unwrap();
        std::fs::create_dir_all(dir.join("image/books-ms-tests")).unwrap();
        let port = hoist_testkit::proxy_port(&project.name);
        Some(Scenario {
            dir,
            state,
            project,
            proxy,
            port,
            _cd: cd,
            prod,
            target_host: String::new(),
            fleet: Some((prod3, batch)),
        })
    }

    /// hoist.yml's lines for the target's engines and addresses.
    fn target_lines(&self) -> String {
        match &self.fleet {
            None => format!(
                "    host: {}\n    public_address: http://{PROD}:{}\n",
                self.target_host, self.port
            ),
            Some((_, batch)) => {
                let mut lines =
                    format!("    batch: {batch}\n    trust_insecure: true\n    hosts:\n");
                for (name, address) in [("prod", PROD), ("prod3", PROD3)] {
                    lines.push_str(&format!(
                        "      - name: {name}\n        host: tcp://{address}:2375\n        public_address: http://{address}:{}\n",
                        self.port
                    ));
                }
                lines
            }
        }
    }

    fn repo(&self) -> String {
        format!("hoist-test/{}", self.project.name)
    }

    /// Writes the compose files, the image contexts and hoist.yml, and commits them.
    fn write(&self, steps: &Steps) {
        let db_tag = if steps.db_tag.is_empty() {
            "latest"
        } else {
            steps.db_tag
        };
        let repo = self.repo();
        // The images are thin layers over the ones build-images pushed: builds take a second.
        for name in ["books-ms", "books-ms-tests"] {
            std::fs::write(
                self.dir.join(format!("image/{name}/Dockerfile")),
                format!(
                    "FROM {REGISTRY_FROM_PROD}/{name}:latest\nARG VERSION=dev\nLABEL io.hoist.test={} org.opencontainers.image.version=$VERSION\n",
                    self.project.name
                ),
            )
            .unwrap();
        }
        std::fs::write(
            self.dir.join("docker-compose.yml"),
            format!(
                "app:\n  image: {REGISTRY_FROM_PROD}/{repo}/books-ms\n  ports:\n    - 8080\n  links:\n    - db:db\n{app_extra}db:\n  image: {REGISTRY_FROM_PROD}/books-ms-db:{db_tag}\n",
                app_extra = steps.app_extra,
            ),
        )
        .unwrap();
        std::fs::write(
            self.dir.join("docker-compose-dev.yml"),
            format!(
                "app:\n  image: {REGISTRY_FROM_PROD}/books-ms\n  links:\n    - db:db\ndb:\n  image: {REGISTRY_FROM_PROD}/books-ms-db\ntests:\n  image: {REGISTRY_FROM_PROD}/books-ms-tests\n  links:\n    - app:app\n  environment:\n    - DOMAIN=http://app:8080\ninteg:\n  image: {REGISTRY_FROM_PROD}/books-ms-tests\n  environment:\n    - DOMAIN=$DOMAIN\n"
            ),
        )
        .unwrap();
        let yml = format!(
            "service: books-ms\nregistry: {REGISTRY_FROM_CD}/{repo}\nproject: {project}\ntargets:\n  prod:\n{target}    registry: {REGISTRY_FROM_PROD}/{repo}\n    proxy:\n      image: {REGISTRY_FROM_PROD}/hoist-proxy:latest\n      name: {proxy}\n      port: {port}\n{target_extra}steps:\n  checkout: {{}}\n  pre_deployment_tests:\n    {pre}\n  package:\n    {package}\n  build:\n    images:\n      - name: books-ms\n        context: image/books-ms\n        args:\n          VERSION: $HOIST_COMMIT\n      - name: books-ms-tests\n        context: image/books-ms-tests\n  push:\n    images: [books-ms]\n  deploy:\n    service: app\n{deploy_extra}  integrate:\n    path: /api/v1/books\n    port: 8080\n{extra}  post_deployment_tests:\n    run: integ\n    retry_for: 60\n  push_tests:\n    images: [books-ms-tests]\n{hooks}",
            project = self.project.name,
            proxy = self.proxy.name,
            port = self.port,
            pre = steps.pre_deployment_tests,
            package = steps.package,
            extra = steps.integrate_extra,
            deploy_extra = steps.deploy_extra,
            target_extra = steps.target_extra,
            hooks = steps.hooks,
            target = self.target_lines(),
        );
        std::fs::write(self.dir.join("hoist.yml"), yml).unwrap();
        git(&self.dir, &["init", "-q"]);
        git(&self.dir, &["add", "-A"]);
        git(
            &self.dir,
            &[
                "-c",
                "user.name=hoist tests",
                "-c",
                "user.email=tests@hoist.invalid",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "pipeline test",
            ],
        );
        let commit = String::from_utf8(
            Command::new("git")
                .args(["rev-parse", "--short", "HEAD"])
                .current_dir(&self.dir)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let commit = commit.trim();
        for name in ["books-ms", "books-ms-tests"] {
            for tag in [commit, "latest"] {
                self.project
                    .track_image(0, &format!("{REGISTRY_FROM_CD}/{repo}/{name}:{tag}"));
            }
        }
        self.project
            .track_image(1, &format!("{REGISTRY_FROM_PROD}/{repo}/books-ms:{commit}"));
        if self.fleet.is_some() {
            self.project
                .track_image(2, &format!("{REGISTRY_FROM_PROD}/{repo}/books-ms:{commit}"));
        }
    }

    fn hoist(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.args(["pipeline"])
            .args(args)
            .current_dir(&self.dir)
            .env("HOIST_STATE_DIR", &self.state)
            // The person running hoist trusts prod's plain TCP; hoist.yml cannot.
            .env("HOIST_TRUST_INSECURE_HOST", format!("{PROD},{PROD3}"))
            .env_remove("DOCKER_HOST");
        cmd
    }

    /// `hoist ARGS` (not under `pipeline`) in the scenario's folder, with its state folder.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .args(args)
            .current_dir(&self.dir)
            .env("HOIST_STATE_DIR", &self.state)
            .env("HOIST_TRUST_INSECURE_HOST", format!("{PROD},{PROD3}"))
            .env_remove("DOCKER_HOST")
            .output()
            .unwrap()
    }

    /// `hoist releases app --target prod --json`: colour → (state, image).
    fn releases(&self) -> Vec<(String, String, String)> {
        let out = self.cli(&["releases", "--target", "prod", "--json", "app"]);
        assert!(out.status.success(), "{}", text(&out));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("releases --json: {e}: {}", text(&out)));
        list.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["color"].as_str().unwrap().to_string(),
                    r["state"].as_str().unwrap().to_string(),
                    r["image"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The upstream the proxy's route for books-ms points at.
    async fn routed_upstream(&self) -> String {
        let proxy = hoist_pipeline::proxy::Proxy::new(
            &self.prod,
            hoist_pipeline::proxy::ProxySpec {
                name: self.proxy.name.clone(),
                ..hoist_pipeline::proxy::ProxySpec::new("unused")
            },
        );
        let table = proxy.config().await.unwrap();
        table.route("books-ms").expect("a route").upstream.clone()
    }

    /// `pipeline run ARGS` while 100 requests/s go through the proxy, from a second before
    /// until a second after.
    fn run_under_load(&self, args: &[&str]) -> (Output, hoist_testkit::load::Report) {
        let load = hoist_testkit::load::start(
            &self.url(),
            100,
            4,
            "x-books-ms-version",
            Duration::from_secs(300),
        );
        std::thread::sleep(Duration::from_secs(1));
        let out = self.run(args);
        std::thread::sleep(Duration::from_secs(1));
        (out, load.stop())
    }

    /// `hoist ARGS` (not under `pipeline`) while `rate` requests/s go through the proxy.
    fn run_under_load_cli(
        &self,
        args: &[&str],
        rate: u32,
    ) -> (Output, hoist_testkit::load::Report) {
        let load = hoist_testkit::load::start(
            &self.url(),
            rate,
            4,
            "x-books-ms-version",
            Duration::from_secs(300),
        );
        std::thread::sleep(Duration::from_secs(1));
        let out = self.cli(args);
        std::thread::sleep(Duration::from_secs(1));
        (out, load.stop())
    }

    /// `pipeline ARGS` started in the background; what it prints on stderr goes to a file
    /// [`Scenario::spawned_stderr`] reads.
    fn spawn(&self, args: &[&str], stderr: Stdio) -> Child {
        self.hoist(args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    }

    fn spawned_stderr_file(&self) -> Stdio {
        std::fs::File::create(self.dir.join("spawned.stderr"))
            .unwrap()
            .into()
    }

    fn spawned_stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("spawned.stderr")).unwrap_or_default()
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        self.hoist(&full).output().unwrap()
    }

    fn status(&self, run: Option<&str>) -> serde_json::Value {
        let mut args = vec!["status", "--json"];
        args.extend(run);
        let out = self.hoist(&args).output().unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&out)))
    }

    fn url(&self) -> String {
        format!("http://{PROD}:{}/api/v1/books", self.port)
    }

    async fn prod_containers(&self) -> usize {
        self.prod
            .observe_project(&self.project.name, &[], &[], &[])
            .await
            .unwrap()
            .containers
            .len()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn statuses(status: &serde_json::Value) -> Vec<String> {
    status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_pipeline_deploys_to_prod_behind_the_proxy_and_a_rejected_route_changes_nothing()
{
    let Some(s) = Scenario::new("pipe-all").await else {
        return;
    };
    s.write(&Steps::default());
    let out = s.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("7. Integrate the container ....................... done"),
        "{stdout}"
    );
    let status = s.status(None);
    assert_eq!(statuses(&status), vec!["done"; 9], "{status:#}");
    assert_eq!(status["status"], "done");
    assert!(
        status["images"].as_array().unwrap().len() >= 4,
        "digests are recorded: {status:#}"
    );

    // The proxy answers with the books, as the book's last curl does.
    let put = request(
        "PUT",
        &s.url(),
        Some(r#"{"_id": 1, "title": "My First Book", "author": "John Doe", "description": "Not a very good book"}"#),
    )
    .unwrap();
    assert_eq!(put.status, 200, "{put:?}");
    let books = request("GET", &s.url(), None).unwrap();
    assert_eq!(books.status, 200);
    assert_eq!(books.json()[0]["title"], "My First Book");

    // A route nginx rejects: step 7 fails with nginx's message, the proxy keeps serving.
    s.write(&Steps {
        integrate_extra: "    directives: [\"proxy_bogus on\"]\n",
        ..Steps::default()
    });
    let out = s.run(&["--only", "integrate"]);
    assert!(!out.status.success(), "{}", text(&out));
    let status = s.status(None);
    let step7 = &status["steps"][6];
    assert_eq!(step7["status"], "failed", "{status:#}");
    let detail = step7["detail"].as_str().unwrap();
    assert!(
        detail.contains("[emerg]") && detail.contains("proxy_bogus"),
        "{detail}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("nginx: [emerg]"),
        "{}",
        text(&out)
    );
    for _ in 0..10 {
        assert_eq!(request("GET", &s.url(), None).unwrap().status, 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_pipeline_runs_on_a_target_reached_over_ssh() {
    let Some(s) = Scenario::reaching_prod("pipe-ssh", "ssh://root@10.200.0.2").await else {
        return;
    };
    s.write(&Steps::default());
    let out = s.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let status = s.status(None);
    assert_eq!(statuses(&status), vec!["done"; 9], "{status:#}");
    let put = request(
        "PUT",
        &s.url(),
        Some(r#"{"_id": 1, "title": "My First Book", "author": "John Doe", "description": "Not a very good book"}"#),
    )
    .unwrap();
    assert_eq!(put.status, 200, "{put:?}");
    let books = request("GET", &s.url(), None).unwrap();
    assert_eq!(books.json()[0]["title"], "My First Book");
    // The release record lives on the target, reached the same way.
    let releases = s.releases();
    assert!(
        releases.iter().any(|(_, state, _)| state == "live"),
        "{releases:?}"
    );
}

/// The pipeline on a target of two hosts: step 6 releases on both (under one target-wide lock),
/// step 7 confirms both routes, step 8 tests each host through its own proxy.
#[tokio::test(flavor = "multi_thread")]
async fn the_whole_pipeline_deploys_to_every_host_of_a_target_and_tests_each_through_its_proxy() {
    let Some(s) = Scenario::fleet("pipe-fleet", 2).await else {
        return;
    };
    s.write(&Steps::default());
    let out = s.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let status = s.status(None);
    assert_eq!(statuses(&status), vec!["done"; 9], "{status:#}");
    let log = s.hoist(&["logs", "1", "8"]).output().unwrap();
    let said = String::from_utf8_lossy(&log.stdout).into_owned();
    for address in [PROD, PROD3] {
        assert!(
            said.contains(&format!("(http://{address}:{})", s.port)),
            "step 8 ran against {address}: {said}"
        );
        let books = request(
            "GET",
            &format!("http://{address}:{}/api/v1/books", s.port),
            None,
        )
        .unwrap();
        assert_eq!(books.status, 200, "{address}: {books:?}");
    }
    let out = s.cli(&["releases", "--target", "prod", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    for host in ["prod", "prod3"] {
        assert!(
            table
                .lines()
                .any(|l| l.split_whitespace().next() == Some(host) && l.contains("live")),
            "{host} live: {table}"
        );
    }
    // Another machine (a fresh state folder) sees the run in the targets' journal.
    let out = s
        .hoist(&["history", "--target", "prod"])
        .env("HOIST_STATE_DIR", s.dir.join(".elsewhere"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let run = table
        .lines()
        .find(|l| l.contains(" pipeline "))
        .unwrap_or_else(|| panic!("the run in the journal: {table}"));
    assert!(
        run.contains(" done ") && run.contains("9 done; run 1 on "),
        "{table}"
    );
    // A second run of the same commit finds it live everywhere and releases nothing.
    let again = s.run(&[]);
    assert!(again.status.success(), "{}", text(&again));
    let log = s.hoist(&["logs", "2", "6"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("already live on every host"),
        "{}",
        text(&log)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_pre_deployment_test_stops_at_step_2_and_leaves_prod_untouched() {
    let Some(s) = Scenario::new("pipe-fail").await else {
        return;
    };
    s.write(&Steps {
        pre_deployment_tests: "run: tests\n    env: [DOMAIN=http://app:1]",
        ..Steps::default()
    });
    let out = s.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let status = s.status(None);
    let expected: Vec<&str> = ["done", "failed"]
        .into_iter()
        .chain(["not_run"; 7])
        .collect();
    assert_eq!(statuses(&status), expected, "{status:#}");
    assert_eq!(status["status"], "failed");
    assert_eq!(s.prod_containers().await, 0, "nothing reached prod");
    // The output is kept.
    let logs = s.hoist(&["logs", "1", "2"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("checks passed"),
        "{}",
        text(&logs)
    );
    // `status` exits non-zero for a failed run.
    assert!(!s.hoist(&["status"]).output().unwrap().status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_for_the_same_target_and_service_is_refused_or_waits() {
    let Some(s) = Scenario::new("pipe-lock").await else {
        return;
    };
    s.write(&Steps {
        package: "command: sleep 6",
        ..Steps::default()
    });
    let mut first = s.spawn(&["run", "--only", "package"], s.spawned_stderr_file());
    wait_for_step(&s, &mut first, "1", 3, "running");
    let started = Instant::now();
    let second = s.run(&["--only", "package"]);
    assert!(!second.status.success(), "{}", text(&second));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("run 1"), "names the holder: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(3), "fails at once");

    let third = s.run(&["--only", "package", "--wait-lock"]);
    assert!(third.status.success(), "{}", text(&third));
    assert!(first.wait().unwrap().success());
    assert_eq!(s.status(Some("1"))["status"], "done");
    // The refused run left no record; the one that waited is run 2.
    assert_eq!(s.status(Some("2"))["status"], "done");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_deploy_leaves_the_lock_free_and_the_run_interrupted_and_a_rerun_converges() {
    let Some(s) = Scenario::new("pipe-int").await else {
        return;
    };
    s.write(&Steps {
        pre_deployment_tests: "command: 'true'",
        ..Steps::default()
    });
    let mut child = s.spawn(&["run"], s.spawned_stderr_file());
    wait_for_step(&s, &mut child, "1", 6, "running");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let status = s.status(Some("1"));
    assert_eq!(status["status"], "interrupted", "{status:#}");
    assert_eq!(status["steps"][5]["status"], "interrupted");
    assert_eq!(status["steps"][6]["status"], "not_run");

    // The lock is free: the rerun does not wait, and converges.
    let rerun = s.run(&["--from", "deploy"]);
    assert!(rerun.status.success(), "{}", text(&rerun));
    let status = s.status(Some("2"));
    assert_eq!(
        statuses(&status),
        [
            "not_run", "not_run", "not_run", "not_run", "not_run", "done", "done", "done", "done"
        ],
        "{status:#}"
    );
    assert_eq!(request("GET", &s.url(), None).unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_pipeline_runs_release_blue_then_green_behind_the_proxy_without_a_failed_request() {
    let Some(s) = Scenario::new("pipe-bg").await else {
        return;
    };
    let steps = Steps {
        pre_deployment_tests: "command: 'true'",
        ..Steps::default()
    };
    s.write(&steps);
    let out = s.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let status = s.status(None);
    assert_eq!(statuses(&status), vec!["done"; 9], "{status:#}");
    let deploy = status["steps"][5]["detail"].as_str().unwrap();
    assert!(deploy.contains("live on blue"), "{deploy}");
    assert_eq!(s.routed_upstream().await, "books-ms-blue");
    let first = s.releases();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0].0.as_str(), first[0].1.as_str()), ("blue", "live"));

    // A new commit, released by a second run while requests keep coming through the proxy.
    s.write(&steps);
    let (out, report) = s.run_under_load(&[]);
    println!("second run under load: {}", report.summary());
    assert!(out.status.success(), "{}", text(&out));
    let status = s.status(None);
    assert_eq!(statuses(&status), vec!["done"; 9], "{status:#}");
    let deploy = status["steps"][5]["detail"].as_str().unwrap();
    assert!(deploy.contains("live on green (blue stopped)"), "{deploy}");
    let integrate = status["steps"][6]["detail"].as_str().unwrap();
    assert!(integrate.ends_with("on green"), "{integrate}");
    println!(
        "second run: step 6 (blue-green) {:.1} s, step 7 (confirm) {:.1} s",
        status["steps"][5]["seconds"].as_f64().unwrap(),
        status["steps"][6]["seconds"].as_f64().unwrap()
    );
    assert_eq!(s.routed_upstream().await, "books-ms-green");
    let commit = status["commit"].as_str().unwrap().to_string();
    let second = s.releases();
    let state = |color: &str| {
        second
            .iter()
            .find(|r| r.0 == color)
            .map(|r| (r.1.clone(), r.2.clone()))
            .unwrap_or_else(|| panic!("{color} in {second:?}"))
    };
    assert_eq!(state("green").0, "live");
    assert!(
        state("green").1.ends_with(&format!(":{commit}")),
        "{second:?}"
    );
    assert_eq!(state("blue").0, "stopped");
    assert!(report.total() > 100, "{}", report.summary());
    assert!(report.failures().is_empty(), "{}", report.summary());
    for _ in 0..5 {
        assert_eq!(request("GET", &s.url(), None).unwrap().status, 200);
    }
    // The same commit again: green already runs it, so nothing is released.
    let out = s.run(&["--from", "deploy"]);
    assert!(out.status.success(), "{}", text(&out));
    let status = s.status(None);
    let deploy = status["steps"][5]["detail"].as_str().unwrap();
    assert!(deploy.contains("already live on green"), "{deploy}");
    println!(
        "same commit again: step 6 {:.1} s",
        status["steps"][5]["seconds"].as_f64().unwrap()
    );
    assert_eq!(s.routed_upstream().await, "books-ms-green");
    // The engine agrees: blue's container exited, green's runs.
    let observed = s
        .prod
        .observe_project(&s.project.name, &[], &[], &[])
        .await
        .unwrap();
    let app: Vec<(String, bool)> = observed
        .containers
        .iter()
        .filter(|c| c.service == "app")
        .map(|c| (c.name.clone(), c.state.is_running()))
        .collect();
    assert!(
        app.iter().any(|(n, r)| n.contains("app-blue") && !r),
        "{app:?}"
    );
    assert!(
        app.iter().any(|(n, r)| n.contains("app-green") && *r),
        "{app:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recreate_deploy_runs_the_plain_container_and_a_later_blue_green_run_takes_over_without_a_failed_request()
 {
    let Some(s) = Scenario::new("pipe-re").await else {
        return;
    };
    s.write(&Steps {
        pre_deployment_tests: "command: 'true'",
        deploy_extra: "    strategy: recreate\n",
        ..Steps::default()
    });
    let out = s.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let status = s.status(None);
    assert_eq!(statuses(&status), vec!["done"; 9], "{status:#}");
    assert_eq!(s.routed_upstream().await, "books-ms");
    let plain = format!("{}_app_1", s.project.name);
    let running = |observed: &hoist_core::observed::Observed, name: &str| {
        observed
            .containers
            .iter()
            .any(|c| c.name == name && c.state.is_running())
    };
    let observed = s
        .prod
        .observe_project(&s.project.name, &[], &[], &[])
        .await
        .unwrap();
    assert!(running(&observed, &plain), "{:?}", observed.containers);
    assert!(s.releases().is_empty(), "no colour yet");

    // The same service, now blue-green by default: blue takes over from the plain container
    // while requests come through the proxy.
    s.write(&Steps {
        pre_deployment_tests: "command: 'true'",
        ..Steps::default()
    });
    let (out, report) = s.run_under_load(&["--from", "build"]);
    println!("plain to blue under load: {}", report.summary());
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.routed_upstream().await, "books-ms-blue");
    let observed = s
        .prod
        .observe_project(&s.project.name, &[], &[], &[])
        .await
        .unwrap();
    assert!(!running(&observed, &plain), "the plain container stopped");
    let list = s.releases();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!((list[0].0.as_str(), list[0].1.as_str()), ("blue", "live"));
    assert!(report.total() > 100, "{}", report.summary());
    assert!(report.failures().is_empty(), "{}", report.summary());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_colour_whose_deploy_never_became_healthy_shows_failed_and_is_no_rollback_target() {
    let Some(s) = Scenario::new("rel-fail").await else {
        return;
    };
    s.write(&Steps::default());
    let v1 = hoist_testkit::books_ms_release(&s._cd, &s.project, "v1", "").await;
    let sick = hoist_testkit::books_ms_release(
        &s._cd,
        &s.project,
        "sick",
        "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD false",
    )
    .await;
    s.project.track_image(1, &v1);
    s.project.track_image(1, &sick);
    let deploy = |tag: &str| {
        s.cli(&[
            "deploy",
            "--target",
            "prod",
            "--health-path",
            "/api/v1/books",
            "--health-timeout",
            "30",
            "--image",
            tag,
            "app",
        ])
    };
    let out = deploy("v1");
    assert!(out.status.success(), "{}", text(&out));
    let out = deploy("sick");
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("blue is serving"), "{}", text(&out));

    let list = s.releases();
    assert!(
        list.contains(&("blue".into(), "live".into(), v1.clone())),
        "{list:?}"
    );
    assert!(
        list.contains(&("green".into(), "failed".into(), sick.clone())),
        "{list:?}"
    );
    let table = s.cli(&["releases", "--target", "prod", "app"]);
    let table = String::from_utf8_lossy(&table.stdout);
    let green = table.lines().find(|l| l.starts_with("green")).unwrap();
    assert!(green.contains("failed"), "{table}");
    assert_eq!(request("GET", &s.url(), None).unwrap().status, 200);

    // The stopped colour is the failed release: rolling back to it is refused, blue serves on.
    let out = s.cli(&["rollback", "--target", "prod", "app"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("whose deploy failed"),
        "{}",
        text(&out)
    );
    assert!(
        s.releases()
            .contains(&("blue".into(), "live".into(), v1.clone())),
        "blue still serves"
    );
    assert_eq!(request("GET", &s.url(), None).unwrap().status, 200);

    // Another machine (a fresh state folder, no local history) sees the same: the failed
    // release is recorded on the target.
    let elsewhere = s.dir.join(".another-machine");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let from_elsewhere = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .args(args)
            .current_dir(&s.dir)
            .env("HOIST_STATE_DIR", &elsewhere)
            .env("HOIST_TRUST_INSECURE_HOST", PROD)
            .env_remove("DOCKER_HOST")
            .output()
            .unwrap()
    };
    let table = from_elsewhere(&["releases", "--target", "prod", "app"]);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let green = table.lines().find(|l| l.starts_with("green")).unwrap();
    assert!(
        green.contains("failed"),
        "from a fresh state folder: {table}"
    );
    let out = from_elsewhere(&["rollback", "--target", "prod", "app"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("whose deploy failed"),
        "{}",
        text(&out)
    );
    assert_eq!(request("GET", &s.url(), None).unwrap().status, 200);
}

/// Polls `pipeline status RUN` until step `number` has `want`; fails at once, with what the run
/// printed, when the run's process `child` ended first.
fn wait_for_step(s: &Scenario, child: &mut Child, run: &str, number: usize, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = s.hoist(&["status", "--json", run]).output().unwrap();
        if let Ok(status) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            let got = status["steps"][number - 1]["status"].as_str().unwrap_or("");
            if got == want {
                return;
            }
            assert!(
                status["status"] == "running",
                "run {run} ended before step {number} was {want}: {status:#}"
            );
        }
        let last = text(&out);
        if let Some(exit) = child.try_wait().unwrap() {
            panic!(
                "the run's process ended ({exit}) before step {number} was {want}; it printed: {}; \
                 status printed: {last}",
                s.spawned_stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "step {number} never {want}; status printed: {last}; the run printed: {}",
            s.spawned_stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pids of processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) {
            found.push(pid);
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sigkilled_run_leaves_no_step_command_running_once_the_next_run_takes_the_lock() {
    let Some(s) = Scenario::new("pipe-kill").await else {
        return;
    };
    // A sleep no other test runs: its length is unique to this test's project.
    let hash = s
        .project
        .name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    let marker = format!("300.{:06}", hash % 1_000_000);
    s.write(&Steps {
        package: &format!("command: sleep {marker}"),
        ..Steps::default()
    });
    // A lock file left world-readable by an older hoist is tightened when taken.
    let locks = s.state.join("locks");
    std::fs::create_dir_all(&locks).unwrap();
    let lock = locks.join("prod--books-ms.lock");
    std::fs::write(&lock, "").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(&locks, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut first = s.spawn(&["run", "--only", "package"], s.spawned_stderr_file());
    wait_for_step(&s, &mut first, "1", 3, "running");
    assert_eq!(mode(&lock), 0o600);
    assert_eq!(mode(&locks), 0o700);
    assert_eq!(mode(&s.state), 0o700);
    let deadline = Instant::now() + Duration::from_secs(10);
    while processes_with(&marker).is_empty() {
        assert!(Instant::now() < deadline, "sleep {marker} never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap(); // SIGKILL: hoist cannot clean up after itself
    first.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !processes_with(&marker).is_empty(),
        "the step command outlives a SIGKILLed hoist until the next run"
    );

    s.write(&Steps {
        package: "command: 'true'",
        ..Steps::default()
    });
    let rerun = s.run(&["--only", "package"]);
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(
        processes_with(&marker).is_empty(),
        "sleep {marker} still runs: {:?}",
        processes_with(&marker)
    );
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(
        stderr.contains("run 1 was killed while its step command"),
        "{}",
        text(&rerun)
    );
    assert_eq!(s.status(Some("1"))["status"], "interrupted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_history_that_becomes_unwritable_mid_run_is_a_warning_in_the_runs_output() {
    let Some(s) = Scenario::new("pipe-hist").await else {
        return;
    };
    // Long enough for the status poll below to see the step running on a busy machine.
    s.write(&Steps {
        package: "command: sleep 8",
        ..Steps::default()
    });
    let mut child = s
        .hoist(&["run", "--only", "package"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_step(&s, &mut child, "1", 3, "running");
    // Another process holds the store's write lock until the run ended: every write the run
    // makes from now on fails once SQLite's busy timeout ran out.
    let holder = rusqlite::Connection::open(s.state.join("history.sqlite3")).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let out = child.wait_with_output().unwrap();
    holder.execute_batch("ROLLBACK").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN")
            && stderr.contains("the history did not record step 3 done of run 1"),
        "{}",
        text(&out)
    );
    assert!(stderr.contains("database is locked"), "{}", text(&out));
    // The record could not say the step ended: it reads interrupted, not done, and the
    // warning above said why.
    assert_eq!(s.status(Some("1"))["steps"][2]["status"], "interrupted");
}

/// A v2 project (so with a `_default` network) whose one service has no dependencies, behind a
/// `hoist.yml` target without an integrate step: `hoist deploy app --target prod` takes every
/// default, the route included. The service is a few lines of Perl on the offline Debian image
/// every engine has, answering `hello` on any path.
struct Fresh {
    dir: PathBuf,
    project: TestProject,
    _proxy: TestProject,
    port: u16,
    prod: hoist_docker::Engine,
}

impl Fresh {
    async fn new(prefix: &str) -> Option<Fresh> {
        let prod = hoist_testkit::engine("prod").await?;
        let project = TestProject::new(prefix, &[&prod]);
        let proxy = TestProject::new(&format!("{prefix}-proxy"), &[&prod]);
        let dir = std::env::temp_dir().join(format!("hoist-fresh-{}", project.name));
        std::fs::create_dir_all(&dir).unwrap();
        let port = hoist_testkit::proxy_port(&project.name);
        let server = r#"my $$s = IO::Socket::INET->new(LocalPort => 8080, Listen => 16, ReuseAddr => 1) or die "listen: $$!"; while (my $$c = $$s->accept) { while (defined(my $$l = <$$c>)) { last if $$l eq "\r\n" } print $$c "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"; close $$c }"#;
        std::fs::write(
            dir.join("docker-compose.yml"),
            format!(
                "services:\n  app:\n    image: debian:bookworm-slim\n    command: [\"perl\", \"-MIO::Socket::INET\", \"-e\", '{server}']\n    stop_grace_period: 1s\n    ports:\n      - 8080\n    volumes:\n      - data:/data\nvolumes:\n  data: {{}}\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("hoist.yml"),
            format!(
                "service: fresh\nregistry: {REGISTRY_FROM_CD}/hoist-test\nproject: {project}\ntargets:\n  prod:\n    host: tcp://{PROD}:2375\n    trust_insecure: true\n    public_address: http://{PROD}:{port}\n    proxy:\n      image: {REGISTRY_FROM_PROD}/hoist-proxy:latest\n      name: {proxy}\n      port: {port}\nsteps:\n  package:\n    command: 'true'\n",
                project = project.name,
                proxy = proxy.name,
            ),
        )
        .unwrap();
        Some(Fresh {
            dir,
            project,
            _proxy: proxy,
            port,
            prod,
        })
    }

    fn hoist(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .args(args)
            .current_dir(&self.dir)
            .env("HOIST_STATE_DIR", self.dir.join(".state"))
            .env("HOIST_TRUST_INSECURE_HOST", PROD)
            .env_remove("DOCKER_HOST")
            .output()
            .unwrap()
    }

    async fn resources(&self) -> (bool, bool) {
        let network =
            hoist_testkit::network_exists(&self.prod, &format!("{}_default", self.project.name))
                .await;
        let volumes = self.prod.project_volumes(&self.project.name).await.unwrap();
        let volume = volumes.contains(&format!("{}_data", self.project.name));
        (network, volume)
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_blue_green_deploy_on_a_fresh_target_creates_the_network_and_volume_and_routes_every_path()
 {
    let Some(f) = Fresh::new("rel-fresh").await else {
        return;
    };
    assert_eq!(
        f.resources().await,
        (false, false),
        "a target that never ran it"
    );
    let out = f.hoist(&["deploy", "--target", "prod", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("app is live on blue"),
        "{}",
        text(&out)
    );
    assert_eq!(f.resources().await, (true, true));
    // The release is recorded on the target as a release of the whole project.
    let listed = f.hoist(&["releases", "--target", "prod", "--format", "json"]);
    let list: serde_json::Value =
        serde_json::from_slice(&listed.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&listed)));
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list:#}");
    assert_eq!(list[0]["status"], "live", "{list:#}");
    // No route flag and no integrate step: the route is `/`, so every path reaches the service.
    let url = |path: &str| format!("http://{PROD}:{}{path}", f.port);
    for path in ["/", "/api/v1/books", "/anything/else"] {
        let answer = hoist_testkit::http::wait_for_status(&url(path), 200, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("GET {path} through the proxy: {e}"));
        assert_eq!(answer.body.trim(), "hello", "{path}");
    }

    // After `down` the network is gone again; the next deploy creates it again.
    let engine = format!("tcp://{PROD}:2375");
    let down = f.hoist(&[
        "-H",
        &engine,
        "--trust-insecure-host",
        PROD,
        "-p",
        &f.project.name,
        "down",
    ]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(!f.resources().await.0, "down removed the network");
    let out = f.hoist(&["deploy", "--target", "prod", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(f.resources().await.0);
    let answer =
        hoist_testkit::http::wait_for_status(&url("/"), 200, Duration::from_secs(30)).unwrap();
    assert_eq!(answer.body.trim(), "hello");
}

impl Fresh {
    /// `hoist releases app --target prod --json`: (colour, state) pairs.
    fn releases(&self) -> Vec<(String, String)> {
        let out = self.hoist(&["releases", "--target", "prod", "--json", "app"]);
        assert!(out.status.success(), "{}", text(&out));
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut pairs: Vec<(String, String)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["color"].as_str().unwrap().to_string(),
                    r["state"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        pairs.sort();
        pairs
    }

    /// The ids of `color`'s containers of the service.
    async fn ids(&self, color: &str) -> Vec<String> {
        let observed = self
            .prod
            .observe_project(&self.project.name, &[], &[], &[])
            .await
            .unwrap();
        observed
            .containers
            .iter()
            .filter(|c| c.name.contains(&format!("-app-{color}-")))
            .map(|c| c.id.clone())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_sigkilled_between_switch_and_stop_is_finished_by_the_rerun_which_keeps_the_old_colour()
 {
    use std::io::BufRead;
    let Some(f) = Fresh::new("rel-kill").await else {
        return;
    };
    let out = f.hoist(&["deploy", "--target", "prod", "--drain", "0", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    // The second release drains for a minute after its switch: SIGKILL it there.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hoist"))
        .args(["deploy", "--target", "prod", "--drain", "60", "app"])
        .current_dir(&f.dir)
        .env("HOIST_STATE_DIR", f.dir.join(".state"))
        .env("HOIST_TRUST_INSECURE_HOST", PROD)
        .env_remove("DOCKER_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("drain in-flight requests") {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert!(
        seen.iter().any(|l| l.contains("switch the proxy to green")),
        "{seen:#?}"
    );
    assert_eq!(
        f.releases(),
        [
            ("blue".into(), "idle".into()),
            ("green".into(), "live".into())
        ],
        "killed after the switch: green serves, blue still runs"
    );
    let blue = f.ids("blue").await;
    assert_eq!(blue.len(), 1);

    // The same deploy again finishes the release: blue is stopped, not replaced.
    let out = f.hoist(&["deploy", "--target", "prod", "--drain", "0", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("app is live on green") && stdout.contains("(blue stopped"),
        "{}",
        text(&out)
    );
    assert_eq!(
        f.ids("blue").await,
        blue,
        "blue's container is the same one"
    );
    assert_eq!(
        f.releases(),
        [
            ("blue".into(), "stopped".into()),
            ("green".into(), "live".into())
        ]
    );
    // And it is the way back.
    let out = f.hoist(&["rollback", "--target", "prod", "--drain", "0", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        f.releases(),
        [
            ("blue".into(), "live".into()),
            ("green".into(), "stopped".into())
        ]
    );
    let url = format!("http://{PROD}:{}/", f.port);
    let answer = hoist_testkit::http::wait_for_status(&url, 200, Duration::from_secs(30)).unwrap();
    assert_eq!(answer.body.trim(), "hello");
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_goes_on_with_a_warning_when_the_history_is_corrupt_or_locked() {
    let Some(f) = Fresh::new("rel-hist").await else {
        return;
    };
    for _ in 0..2 {
        let out = f.hoist(&["deploy", "--target", "prod", "--drain", "0", "app"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(
        f.releases(),
        [
            ("blue".into(), "stopped".into()),
            ("green".into(), "live".into())
        ]
    );
    let state = f.dir.join(".state");
    let db = state.join("history.sqlite3");

    // A history file that is not a database any more.
    for side in ["history.sqlite3-wal", "history.sqlite3-shm"] {
        let _ = std::fs::remove_file(state.join(side));
    }
    std::fs::write(&db, "not a database ".repeat(300)).unwrap();
    let out = f.hoist(&["rollback", "--target", "prod", "--drain", "0", "app"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARN") && stderr.contains("without a record in the history"),
        "{}",
        text(&out)
    );
    assert_eq!(
        f.releases(),
        [
            ("blue".into(), "live".into()),
            ("green".into(), "stopped".into())
        ]
    );

    // A history another process holds an open write transaction on.
    std::fs::remove_file(&db).unwrap();
    let out = f.hoist(&["pipeline", "history"]);
    assert!(out.status.success(), "{}", text(&out));
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let out = f.hoist(&["rollback", "--target", "prod", "--drain", "0", "app"]);
    let took = started.elapsed();
    holder.execute_batch("ROLLBACK").unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("without a record in the history") && stderr.contains("locked"),
        "{}",
        text(&out)
    );
    println!(
        "rollback with a locked history took {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(
        f.releases(),
        [
            ("blue".into(), "stopped".into()),
            ("green".into(), "live".into())
        ]
    );
    let url = format!("http://{PROD}:{}/", f.port);
    let answer = hoist_testkit::http::wait_for_status(&url, 200, Duration::from_secs(30)).unwrap();
    assert_eq!(answer.body.trim(), "hello");
}

/// The HTTPS tests' proxies listen on prod's ports 80 (where the ACME server validates) and
/// 443: one test at a time.
static HTTPS_PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The pebble root in a store, for the HTTPS client.
fn pebble_roots(root: &str) -> Arc<rustls::RootCertStore> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(root).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(roots)
}

/// The lines of `hoist.yml`'s target for books.test over HTTPS from the dev environment's
/// ACME server.
fn https_target_lines() -> String {
    let directory = acme_env("HOIST_DEV_ACME_DIRECTORY", "https://127.0.0.1:14000/dir");
    let directory_ca = acme_env(
        "HOIST_DEV_ACME_DIRECTORY_CA",
        "/var/lib/hoist-dev/acme/ca.pem",
    );
    format!(
        "    route:\n      host: books.test\n      tls: acme\n    acme:\n      directory: {directory}\n      ca: {directory_ca}\n"
    )
}

/// Sets (or with `None` clears) the address the ACME server's DNS gives books.test.
fn books_test_resolves_to(address: Option<&str>) {
    let dns = acme_env("HOIST_DEV_ACME_DNS", "http://127.0.0.1:8055");
    let (path, body) = match address {
        Some(a) => (
            "add-a",
            format!(r#"{{"host":"books.test.","addresses":["{a}"]}}"#),
        ),
        None => ("clear-a", r#"{"host":"books.test."}"#.to_string()),
    };
    let out = Command::new("curl")
        .args([
            "-fsS",
            "-m",
            "10",
            "-X",
            "POST",
            "-d",
            &body,
            &format!("{dns}/{path}"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// On a target of two hosts, the challenge is answered by whichever host the name resolves to
/// (here the second), and the same certificate is served by both.
#[tokio::test(flavor = "multi_thread")]
async fn every_host_of_a_target_answers_the_challenge_and_serves_the_same_certificate() {
    let Some(mut s) = Scenario::fleet("pipe-https-fleet", 2).await else {
        return;
    };
    let _ports = HTTPS_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let root = acme_env("HOIST_DEV_ACME_ROOT", "/var/lib/hoist-dev/acme/root.pem");
    s.port = 80;
    let target_extra = https_target_lines();
    s.write(&Steps {
        target_extra: &target_extra,
        ..Steps::default()
    });
    books_test_resolves_to(Some(PROD3));
    let out = s.run(&[]);
    books_test_resolves_to(None);
    assert!(out.status.success(), "{}", text(&out));
    let roots = pebble_roots(&root);
    let (status, on_prod) = https_get_at(PROD, &roots, "/api/v1/books").unwrap();
    assert_eq!(status, 200);
    let (status, on_prod3) = https_get_at(PROD3, &roots, "/api/v1/books").unwrap();
    assert_eq!(status, 200);
    assert_eq!(on_prod, on_prod3, "one certificate on every host");
    let certs = s.cli(&["proxy", "certs", "--target", "prod"]);
    let listed = String::from_utf8_lossy(&certs.stdout);
    assert_eq!(listed.matches(&on_prod).count(), 2, "{listed}");
}

/// `hoist deploy --route-host NAME --tls acme` without hoist.yml: the first release gets the
/// certificate, the next keeps it, and its post-integration test follows the proxy's redirect
/// to HTTPS.
#[tokio::test(flavor = "multi_thread")]
async fn hoist_deploy_with_tls_acme_serves_its_route_host_over_https() {
    let Some(s) = Scenario::new("deploy-https").await else {
        return;
    };
    let _ports = HTTPS_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    s.write(&Steps::default());
    let directory = acme_env("HOIST_DEV_ACME_DIRECTORY", "https://127.0.0.1:14000/dir");
    let directory_ca = acme_env(
        "HOIST_DEV_ACME_DIRECTORY_CA",
        "/var/lib/hoist-dev/acme/ca.pem",
    );
    let image = format!("{REGISTRY_FROM_PROD}/books-ms:latest");
    let proxy_image = format!("{REGISTRY_FROM_PROD}/hoist-proxy:latest");
    let deploy = || {
        s.cli(&[
            "-H",
            &format!("tcp://{PROD}:2375"),
            "-p",
            &s.project.name,
            "deploy",
            "app",
            "--image",
            &image,
            "--route-host",
            "books.test",
            "--tls",
            "acme",
            "--acme-directory",
            &directory,
            "--acme-ca",
            &directory_ca,
            "--proxy-image",
            &proxy_image,
            "--proxy-name",
            &s.proxy.name,
            "--proxy-port",
            "80",
            "--container-port",
            "8080",
            "--health-path",
            "/api/v1/books",
        ])
    };
    let first = deploy();
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("installed (no certificate yet)"),
        "{}",
        text(&first)
    );
    let second = deploy();
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("live on green"), "{}", text(&second));
    assert!(text(&second).contains("kept"), "{}", text(&second));
    let root = acme_env("HOIST_DEV_ACME_ROOT", "/var/lib/hoist-dev/acme/root.pem");
    let (status, _) = https_get(&pebble_roots(&root), "/api/v1/books").unwrap();
    assert_eq!(status, 200);
}

/// Maintenance on and off under load: 503 with the page while on, 200 after, and no request
/// fails outright in between (every reload is nginx's graceful one).
#[tokio::test(flavor = "multi_thread")]
async fn maintenance_on_and_off_under_load_answers_503_with_the_page_then_200_and_drops_nothing() {
    let Some(s) = Scenario::new("pipe-maint").await else {
        return;
    };
    s.write(&Steps::default());
    let out = s.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let load = hoist_testkit::load::start(
        &s.url(),
        200,
        4,
        "x-books-ms-version",
        Duration::from_secs(120),
    );
    std::thread::sleep(Duration::from_secs(1));
    let on = s.cli(&[
        "maintenance",
        "on",
        "--target",
        "prod",
        "--message",
        "Back at 3 <b>am</b>",
    ]);
    assert!(on.status.success(), "{}", text(&on));
    let page = request("GET", &s.url(), None).unwrap();
    assert_eq!(page.status, 503, "{page:?}");
    assert!(
        page.body.contains("Back at 3 &#60;b&#62;am&#60;/b&#62;"),
        "{}",
        page.body
    );
    assert_eq!(page.header("retry-after"), Some("60"));
    let bad = s.cli(&[
        "maintenance",
        "on",
        "--target",
        "prod",
        "--route",
        "../../etc/x",
    ]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("no route named ../../etc/x"),
        "{}",
        text(&bad)
    );
    let status = s.cli(&["maintenance", "status", "--target", "prod"]);
    assert!(
        text(&status).contains("books-ms\tmaintenance"),
        "{}",
        text(&status)
    );
    std::thread::sleep(Duration::from_secs(1));
    let off = s.cli(&["maintenance", "off", "--target", "prod"]);
    assert!(off.status.success(), "{}", text(&off));
    let after = request("GET", &s.url(), None).unwrap();
    assert_eq!(after.status, 200, "{after:?}");
    std::thread::sleep(Duration::from_secs(1));
    let report = load.stop();
    let outright: Vec<_> = report
        .samples
        .iter()
        .filter(|s| s.status.is_none())
        .collect();
    assert!(
        outright.is_empty(),
        "requests failed outright: {}",
        report.summary()
    );
    let statuses: std::collections::BTreeSet<u16> =
        report.samples.iter().filter_map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [200, 503].into_iter().collect(),
        "{}",
        report.summary()
    );
    let last = report.samples.iter().max_by_key(|s| s.at).unwrap();
    assert_eq!(last.status, Some(200), "serving again at the end");
    eprintln!("maintenance on/off under load: {}", report.summary());
}

/// Hooks around step 6: a passing run runs pre_deploy, post_switch and post_deploy with the
/// release's variables; a pre_deploy that fails (a migration exiting 1) stops the release before
/// anything started or switched, runs on_failure, fails the run, and its output is in the
/// run's history.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_pre_deploy_hook_stops_the_release_before_anything_switched() {
    let Some(s) = Scenario::new("pipe-hooks").await else {
        return;
    };
    let passing = "hooks:\n  pre_deploy:\n    container: echo migrating to $HOIST_IMAGE\n  post_switch:\n    command: echo switched $HOIST_STATUS on $HOIST_HOSTS\n  post_deploy:\n    command: echo release $HOIST_RELEASE of $HOIST_COMMIT $HOIST_STATUS\n  on_failure:\n    command: echo failed $HOIST_STATUS\n";
    s.write(&Steps {
        hooks: passing,
        ..Steps::default()
    });
    let out = s.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let log = s.hoist(&["logs", "1", "6"]).output().unwrap();
    let said = String::from_utf8_lossy(&log.stdout).into_owned();
    let commit = s.status(None)["commit"].as_str().unwrap().to_string();
    for line in [
        format!(
            "migrating to {REGISTRY_FROM_PROD}/{}/books-ms:{commit}",
            s.repo()
        ),
        "switched done on prod".to_string(),
        format!("release 1 of {commit} done"),
    ] {
        assert!(said.contains(&line), "{line:?} in {said}");
    }
    assert!(!said.contains("failed done"), "{said}");
    let before = s.releases();
    let upstream = s.routed_upstream().await;

    // A new commit whose migration fails.
    s.write(&Steps {
        hooks: &passing.replace(
            "container: echo migrating to $HOIST_IMAGE",
            "container: echo migration 42 failed >&2; exit 1",
        ),
        ..Steps::default()
    });
    let out = s.run(&["--from", "build"]);
    assert!(!out.status.success(), "{}", text(&out));
    let status = s.status(None);
    let step6 = &status["steps"][5];
    assert_eq!(step6["status"], "failed", "{status:#}");
    let detail = step6["detail"].as_str().unwrap();
    assert!(
        detail.contains("hook pre_deploy exited with 1; nothing was released"),
        "{detail}"
    );
    let run = status["id"].to_string();
    let log = s.hoist(&["logs", &run, "6"]).output().unwrap();
    let said = String::from_utf8_lossy(&log.stdout).into_owned();
    assert!(
        said.contains("migration 42 failed"),
        "the hook's output: {said}"
    );
    assert!(said.contains("failed failed"), "on_failure ran: {said}");
    assert!(!said.contains("switched"), "{said}");
    assert_eq!(s.releases(), before, "nothing started, stopped or switched");
    assert_eq!(s.routed_upstream().await, upstream);

    // `hoist deploy --target` runs the same hooks around its release.
    let out = s.cli(&["deploy", "app", "--target", "prod", "--image", &commit]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("hook pre_deploy exited with 1; nothing was released"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("migration 42 failed"), "{}", text(&out));
    assert_eq!(s.releases(), before, "nothing started, stopped or switched");
    s.write(&Steps {
        hooks: passing,
        ..Steps::default()
    });
    let out = s.cli(&["deploy", "app", "--target", "prod", "--image", &commit]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!(
            "migrating to {REGISTRY_FROM_PROD}/{}/books-ms:{commit}",
            s.repo()
        )),
        "{said}"
    );
    assert!(said.contains("switched done on prod"), "{said}");
    assert!(said.contains(&format!(" of {commit} done")), "{said}");
}

/// Whole-project releases: three releases, the second changing the app's environment and the
/// database's image; a rollback to release 1 under 200 requests/s fails none, brings back the
/// app's image and environment and leaves the stateful database alone (unless
/// --include-stateful); with `keep: 2` older releases are refused, pruned, and kept ones roll
/// back.
#[tokio::test(flavor = "multi_thread")]
async fn the_whole_project_rolls_back_to_a_kept_release_and_prune_frees_the_older_ones() {
    let Some(s) = Scenario::new("pipe-releases").await else {
        return;
    };
    // The database's second tag: the same image under another name in the registry.
    let db_r2 = format!("books-ms-db:{}", s.project.name);
    for args in [
        vec![
            "tag".to_string(),
            format!("{REGISTRY_FROM_CD}/books-ms-db:latest"),
            format!("{REGISTRY_FROM_CD}/{db_r2}"),
        ],
        vec![
            "push".to_string(),
            "-q".to_string(),
            format!("{REGISTRY_FROM_CD}/{db_r2}"),
        ],
    ] {
        let out = Command::new("docker").args(&args).output().unwrap();
        assert!(out.status.success(), "docker {args:?}: {}", text(&out));
    }
    s.project
        .track_image(0, &format!("{REGISTRY_FROM_CD}/{db_r2}"));
    s.project
        .track_image(1, &format!("{REGISTRY_FROM_PROD}/{db_r2}"));
    let stateful = "stateful: [db]\n";
    let r2_tag = s.project.name.clone();
    let changed = Steps {
        hooks: stateful,
        app_extra: "  environment:\n    - LOG_LEVEL=debug\n",
        db_tag: &r2_tag,
        ..Steps::default()
    };
    let mut commits = Vec::new();
    for (i, steps) in [
        Steps {
            hooks: stateful,
            ..Steps::default()
        },
        Steps { ..changed },
        Steps { ..changed },
    ]
    .iter()
    .enumerate()
    {
        s.write(steps);
        let out = s.run(if i == 0 { &[] } else { &["--from", "build"] });
        assert!(out.status.success(), "release {}: {}", i + 1, text(&out));
        commits.push(s.status(None)["commit"].as_str().unwrap().to_string());
    }
    let listed = s.cli(&["releases", "--target", "prod", "--format", "json"]);
    let list: serde_json::Value =
        serde_json::from_slice(&listed.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&listed)));
    let ids: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2, 1], "{list:#}");
    assert_eq!(list[0]["status"], "live");
    assert_eq!(list[2]["status"], "done");
    assert_eq!(list[2]["commit"], commits[0].as_str());
    assert!(
        list[0]["images"]["db"].as_str().unwrap().ends_with(&db_r2),
        "{list:#}"
    );

    let app = |prod: hoist_docker::Engine, project: String| async move {
        let observed = prod.observe_project(&project, &[], &[], &[]).await.unwrap();
        let live = observed
            .containers
            .iter()
            .find(|c| c.service == "app" && c.state.is_running() && !c.oneoff)
            .expect("a live app")
            .clone();
        let db = observed
            .containers
            .iter()
            .find(|c| c.service == "db" && c.state.is_running())
            .expect("a running db")
            .clone();
        let inspected = Command::new("docker")
            .args([
                "-H",
                &format!("tcp://{PROD}:2375"),
                "inspect",
                "-f",
                "{{json .Config.Env}}",
                &live.name,
            ])
            .output()
            .unwrap();
        let env: Vec<String> = serde_json::from_slice(&inspected.stdout).unwrap_or_default();
        (live.image, env, db.image)
    };
    let (image, env, db) = app(s.prod.clone(), s.project.name.clone()).await;
    assert!(image.ends_with(&commits[2]), "{image}");
    assert!(env.iter().any(|e| e == "LOG_LEVEL=debug"), "{env:?}");
    assert!(db.ends_with(&db_r2), "{db}");

    let (out, report) = s.run_under_load_cli(&["rollback", "--target", "prod", "1"], 200);
    assert!(out.status.success(), "{}", text(&out));
    assert!(report.failures().is_empty(), "{}", report.summary());
    eprintln!("project rollback under load: {}", report.summary());
    assert!(
        text(&out).contains("back to release 1 (recorded as release 4)"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("kept as they are (stateful"),
        "{}",
        text(&out)
    );
    let (image, env, db) = app(s.prod.clone(), s.project.name.clone()).await;
    assert!(image.ends_with(&commits[0]), "release 1's image: {image}");
    assert!(
        !env.iter().any(|e| e.starts_with("LOG_LEVEL=")),
        "release 1's environment: {env:?}"
    );
    assert!(db.ends_with(&db_r2), "the database is untouched: {db}");

    let out = s.cli(&["rollback", "--target", "prod", "1", "--include-stateful"]);
    assert!(out.status.success(), "{}", text(&out));
    let (_, _, db) = app(s.prod.clone(), s.project.name.clone()).await;
    assert!(db.ends_with("books-ms-db:latest"), "the database too: {db}");

    // keep: 2 keeps releases 4 and 5: 1 to 3 are refused, then pruned.
    s.write(&Steps {
        target_extra: "    keep: 2\n",
        hooks: stateful,
        ..Steps::default()
    });
    let refused = s.cli(&["rollback", "--target", "prod", "3"]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("release 3 is no longer kept (keep: 2)"),
        "{}",
        text(&refused)
    );
    let pruned = s.cli(&["prune", "--target", "prod"]);
    assert!(pruned.status.success(), "{}", text(&pruned));
    let said = text(&pruned);
    for commit in &commits[1..] {
        assert!(
            said.contains(&format!("books-ms:{commit}")),
            "{commit} freed: {said}"
        );
    }
    assert!(
        !said.contains(&format!("books-ms:{}", commits[0])),
        "still kept: {said}"
    );
    assert!(said.contains("releases kept: 4, 5"), "{said}");
    let gone = s
        .prod
        .inspect_image(&format!(
            "{REGISTRY_FROM_PROD}/{}/books-ms:{}",
            s.repo(),
            commits[1]
        ))
        .await
        .unwrap();
    assert!(gone.is_none(), "release 2's image is gone from prod");
    let refused = s.cli(&["rollback", "--target", "prod", "2"]);
    assert!(
        text(&refused).contains("no release 2"),
        "{}",
        text(&refused)
    );
    let out = s.cli(&["rollback", "--target", "prod", "4"]);
    assert!(
        out.status.success(),
        "a kept release rolls back: {}",
        text(&out)
    );
}

/// On a target of two hosts each host records the project's releases, and a rollback of the
/// whole project brings every host back, host after host.
#[tokio::test(flavor = "multi_thread")]
async fn the_whole_project_rolls_back_on_every_host_of_a_target() {
    let Some(s) = Scenario::fleet("pipe-rel-fleet", 2).await else {
        return;
    };
    let mut commits = Vec::new();
    for i in 0..2 {
        s.write(&Steps::default());
        let out = s.run(if i == 0 { &[] } else { &["--from", "build"] });
        assert!(out.status.success(), "release {}: {}", i + 1, text(&out));
        commits.push(s.status(None)["commit"].as_str().unwrap().to_string());
    }
    let out = s.cli(&["rollback", "--target", "prod"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    for host in ["prod", "prod3"] {
        assert!(
            said.contains(&format!(
                "on prod (host {host}) is back to release 1 (recorded as release 3)"
            )),
            "{said}"
        );
    }
    let prod3 = &s.fleet.as_ref().unwrap().0;
    for engine in [&s.prod, prod3] {
        let observed = engine
            .observe_project(&s.project.name, &[], &[], &[])
            .await
            .unwrap();
        let live: Vec<&str> = observed
            .containers
            .iter()
            .filter(|c| c.service == "app" && c.state.is_running() && !c.oneoff)
            .map(|c| c.image.as_str())
            .collect();
        assert_eq!(live.len(), 1, "{live:?}");
        assert!(
            live[0].ends_with(&commits[0]),
            "release 1's image: {live:?}"
        );
    }
}

/// pebble's settings from the dev environment (`scripts/dev-env env`).
fn acme_env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

/// `GET https://books.test/api/v1/books` on prod's port 443, trusting only pebble's root: the
/// status and the serial of the certificate the proxy served, or why it failed.
fn https_get(roots: &Arc<rustls::RootCertStore>, path: &str) -> Result<(u16, String), String> {
    https_get_at(PROD, roots, path)
}

/// [`https_get`] from the proxy at `address`.
fn https_get_at(
    address: &str,
    roots: &Arc<rustls::RootCertStore>,
    path: &str,
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("books.test").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let tcp = std::net::TcpStream::connect_timeout(
        &format!("{address}:443").parse().unwrap(),
        Duration::from_secs(3),
    )
    .map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: books.test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // nginx may close without close_notify once the body is sent.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let serial = tls
        .conn
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| serial_of(leaf.as_ref()))
        .unwrap_or_default();
    let head = String::from_utf8_lossy(&response);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    Ok((status, serial))
}

/// The serial of a DER certificate as `hoist proxy certs` prints it (hex, no leading zeros).
fn serial_of(der: &[u8]) -> String {
    hoist_pipeline::proxy::tls::parse_der(der)
        .map(|info| info.serial)
        .unwrap_or_default()
}

/// HTTPS requests at `rate` per second from four threads until stopped: (failures, total).
struct HttpsLoad {
    stop: Arc<std::sync::atomic::AtomicBool>,
    workers: Vec<std::thread::JoinHandle<(Vec<String>, usize)>>,
}

impl HttpsLoad {
    fn start(roots: &Arc<rustls::RootCertStore>, rate: u32) -> HttpsLoad {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers = (0..4)
            .map(|_| {
                let stop = stop.clone();
                let roots = roots.clone();
                let every = Duration::from_secs_f64(4.0 / f64::from(rate));
                std::thread::spawn(move || {
                    let (mut failures, mut total) = (Vec::new(), 0);
                    let mut next = Instant::now();
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        match https_get(&roots, "/api/v1/books") {
                            Ok((200, _)) => {}
                            Ok((status, _)) => failures.push(format!("status {status}")),
                            Err(e) => failures.push(e),
                        }
                        total += 1;
                        next += every;
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    (failures, total)
                })
            })
            .collect();
        HttpsLoad { stop, workers }
    }

    fn stop(self) -> (Vec<String>, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (mut failures, mut total) = (Vec::new(), 0);
        for worker in self.workers {
            let (f, t) = worker.join().unwrap();
            failures.extend(f);
            total += t;
        }
        (failures, total)
    }
}

/// The proxy serves the pipeline's route over HTTPS with a certificate from the ACME server
/// (pebble), redirects plain HTTP, renews under load without a failed request, refuses a key
/// that is not the certificate's before touching nginx, serves the user's own certificate, and
/// keeps the old one serving when the ACME server cannot validate the name.
#[tokio::test(flavor = "multi_thread")]
async fn a_route_with_tls_acme_is_served_over_https_renewed_under_load_and_keeps_its_certificate_on_failure()
 {
    let Some(mut s) = Scenario::new("pipe-https").await else {
        return;
    };
    let _ports = HTTPS_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let directory = acme_env("HOIST_DEV_ACME_DIRECTORY", "https://127.0.0.1:14000/dir");
    let directory_ca = acme_env(
        "HOIST_DEV_ACME_DIRECTORY_CA",
        "/var/lib/hoist-dev/acme/ca.pem",
    );
    let root = acme_env("HOIST_DEV_ACME_ROOT", "/var/lib/hoist-dev/acme/root.pem");
    let dns = acme_env("HOIST_DEV_ACME_DNS", "http://127.0.0.1:8055");
    // The ACME server validates on port 80 of prod: the proxy listens there.
    s.port = 80;
    let target_extra = format!(
        "    route:\n      host: books.test\n      tls: acme\n    acme:\n      directory: {directory}\n      ca: {directory_ca}\n"
    );
    s.write(&Steps {
        target_extra: &target_extra,
        ..Steps::default()
    });
    let out = s.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("installed (no certificate yet)"),
        "{stdout}"
    );

    // curl, as a user checks it: 200 over HTTPS trusting pebble's root; plain HTTP redirects.
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-m", "10"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let resolve = format!("books.test:443:{PROD}");
    let got = curl(&[
        "--cacert",
        &root,
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "https://books.test/api/v1/books",
    ]);
    assert_eq!(got, "200", "https through the proxy");
    let resolve80 = format!("books.test:80:{PROD}");
    let got = curl(&[
        "--resolve",
        &resolve80,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "http://books.test/api/v1/books",
    ]);
    assert_eq!(
        got, "308 https://books.test/api/v1/books",
        "plain HTTP redirects"
    );
    // The path keeps answering on the target's address (the post-deployment tests use it).
    assert_eq!(request("GET", &s.url(), None).unwrap().status, 200);

    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(&root).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let roots = Arc::new(roots);
    let (_, first_serial) = https_get(&roots, "/api/v1/books").unwrap();
    let certs = s.cli(&["proxy", "certs", "--target", "prod", "--json"]);
    let listed: serde_json::Value =
        serde_json::from_slice(&certs.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&certs)));
    assert_eq!(listed[0]["Host"], "books.test", "{listed:#}");
    assert_eq!(listed[0]["Serial"], first_serial.as_str(), "{listed:#}");
    assert!(listed[0]["DaysLeft"].as_i64().unwrap() > 30, "{listed:#}");
    assert!(
        listed[0]["Issuer"].as_str().unwrap().contains("Pebble"),
        "{listed:#}"
    );

    // A run again keeps the certificate: it does not expire within 30 days.
    let out = s.run(&["--only", "integrate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("certificate {first_serial} kept")),
        "{}",
        text(&out)
    );

    // A forced renewal under 200 requests/s over HTTPS: none fails, the new serial is served.
    let load = HttpsLoad::start(&roots, 200);
    std::thread::sleep(Duration::from_secs(1));
    let renewing = Instant::now();
    let renew = s.cli(&["proxy", "renew", "--target", "prod", "--force"]);
    let took = renewing.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let (failures, total) = load.stop();
    eprintln!(
        "forced renewal under 200 requests/s over HTTPS: {total} requests, {} failed; the renewal took {} ms",
        failures.len(),
        took.as_millis()
    );
    assert!(renew.status.success(), "{}", text(&renew));
    assert!(total > 300, "{total} requests");
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let (_, renewed) = https_get(&roots, "/api/v1/books").unwrap();
    assert_ne!(renewed, first_serial, "the new certificate is served");
    assert!(
        text(&renew).contains(&format!("certificate {renewed} installed (renewal forced)")),
        "{}",
        text(&renew)
    );

    // The name resolves elsewhere: the ACME server cannot fetch the challenge. The error says
    // so, with the domain, and the certificate served stays.
    let set_a = |addresses: &str| {
        curl(&[
            "-X",
            "POST",
            "-d",
            &format!(r#"{{"host":"books.test.","addresses":[{addresses}]}}"#),
            &format!("{dns}/add-a"),
        ])
    };
    // An ACME server may reuse an authorization it validated before (pebble now and then, even
    // told not to; Let's Encrypt for 30 days), and then the order needs no new validation: such
    // a renewal succeeds, and the attempt is made again.
    let mut serving = renewed.clone();
    let mut failed = None;
    for _ in 0..5 {
        set_a(r#""127.0.0.1""#);
        let out = s.cli(&["proxy", "renew", "--target", "prod", "--force"]);
        curl(&[
            "-X",
            "POST",
            "-d",
            r#"{"host":"books.test."}"#,
            &format!("{dns}/clear-a"),
        ]);
        if !out.status.success() {
            failed = Some(out);
            break;
        }
        serving = https_get(&roots, "/api/v1/books").unwrap().1;
    }
    let failed = failed.expect("a renewal that must validate the name fails");
    let said = text(&failed);
    assert!(
        said.contains("books.test") && said.contains("127.0.0.1"),
        "{said}"
    );
    assert_eq!(
        https_get(&roots, "/api/v1/books").unwrap(),
        (200, serving.clone()),
        "the certificate served before the failed renewal still is"
    );

    // The user's own certificate: a key that is not the certificate's is refused before nginx
    // is touched; the matching one is served.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["books.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(s.dir.join("own.crt"), cert.pem()).unwrap();
    std::fs::write(s.dir.join("own.key"), key.serialize_pem()).unwrap();
    std::fs::write(s.dir.join("other.key"), other.serialize_pem()).unwrap();
    let refused = s.cli(&[
        "proxy",
        "install",
        "books.test",
        "--target",
        "prod",
        "--cert",
        "own.crt",
        "--key",
        "other.key",
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("does not match"),
        "{}",
        text(&refused)
    );
    assert_eq!(
        https_get(&roots, "/api/v1/books").unwrap(),
        (200, serving.clone())
    );
    let bad = s.cli(&[
        "proxy", "install", "../x", "--target", "prod", "--cert", "own.crt", "--key", "own.key",
    ]);
    assert!(!bad.status.success());
    assert!(text(&bad).contains("use a DNS name"), "{}", text(&bad));
    let installed = s.cli(&[
        "proxy",
        "install",
        "books.test",
        "--target",
        "prod",
        "--cert",
        "own.crt",
        "--key",
        "own.key",
    ]);
    assert!(installed.status.success(), "{}", text(&installed));
    let mut own_roots = rustls::RootCertStore::empty();
    own_roots.add(cert.der().clone()).unwrap();
    let (status, served) = https_get(&Arc::new(own_roots), "/api/v1/books").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        served,
        serial_of(cert.der()),
        "the user's certificate is served"
    );
}
