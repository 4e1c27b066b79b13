//! A `hoist.yml` target's `env:` and `secrets:` on the dev environment: the pipeline deploys to
//! prod with a secret a command gives (as `pass show` or `op read` would), the container gets
//! it, and its value is nowhere hoist writes or shows: the run's output, the state folder (the
//! history database), `hoist ps --format json`, the dashboard's pages and JSON. A secret that
//! cannot be resolved fails before anything on prod changes.

use std::collections::{BTreeSet, VecDeque};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hoist_testkit::{REGISTRY_FROM_CD, REGISTRY_FROM_PROD, TestProject};

const PROD: &str = "10.200.0.2";
/// What the secret's command prints. It appears in no file: the command computes it.
const VALUE: &str = "s3cr3t-42-vault";
const COMMAND: &str = r#"printf 's3cr3t-%s-vault\n' "$((6 * 7))""#;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=hoist tests",
            "-c",
            "user.email=tests@hoist.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap()
}

/// `hoist.yml` with the target's `secrets:` entry `secret`.
fn hoist_yml(project: &str, port: u16, secret: &str) -> String {
    format!(
        "service: vault-demo\nregistry: {REGISTRY_FROM_CD}/hoist-test/{project}\nproject: {project}\n\
         targets:\n  prod:\n    host: tcp://{PROD}:2375\n    trust_insecure: true\n\
         \x20   public_address: http://{PROD}:{port}\n    registry: {REGISTRY_FROM_PROD}/hoist-test/{project}\n\
         \x20   proxy: {{image: {REGISTRY_FROM_PROD}/hoist-proxy:latest}}\n\
         \x20   env:\n      GREETING: hello\n    secrets:\n      DB_PASSWORD: {secret}\n\
         steps:\n  checkout: {{}}\n  deploy:\n    service: app\n"
    )
}

struct Setup {
    dir: PathBuf,
    project: TestProject,
    prod: hoist_docker::Engine,
}

impl Setup {
    fn hoist(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.args(args)
            .current_dir(&self.dir)
            .env("HOIST_STATE_DIR", self.dir.join(".state"))
            .env("HOIST_TRUST_INSECURE_HOST", PROD)
            .env_remove("DOCKER_HOST")
            .env_remove("BOOKS_VAULT_TOKEN");
        cmd
    }

    async fn prod_is_untouched(&self, case: &str) {
        let observed = self
            .prod
            .observe_project(&self.project.name, &[], &[], &[])
            .await
            .unwrap();
        assert!(observed.containers.is_empty(), "{case}: {observed:?}");
        assert!(
            !hoist_testkit::network_exists(&self.prod, &format!("{}_default", self.project.name))
                .await,
            "{case}"
        );
        let out = docker(&[
            "-H",
            &format!("tcp://{PROD}:2375"),
            "ps",
            "-aq",
            "--filter",
            &format!("name=hoist-lock.{}", self.project.name),
        ]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "",
            "{case}: a lock"
        );
    }
}

/// Every file under `dir`, read whole.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().map_while(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.push((path, bytes));
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every page and JSON answer the dashboard links to from `/`, and its JSON endpoints, except
/// the streams (which never end) and the actions (POST).
fn crawl(port: u16) -> Vec<(String, String)> {
    let href = regex::Regex::new(r##"href="(/[^"#?]*)"##).unwrap();
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<String> = [
        "/",
        "/api/engines",
        "/api/containers",
        "/api/runs",
        "/api/history",
    ]
    .map(String::from)
    .into();
    let mut pages = Vec::new();
    while let Some(path) = queue.pop_front() {
        if !seen.insert(path.clone()) || seen.len() > 300 {
            continue;
        }
        let url = format!("http://127.0.0.1:{port}{path}");
        let Ok(response) = hoist_testkit::http::request("GET", &url, None) else {
            continue;
        };
        for link in href.captures_iter(&response.body) {
            let link = link[1].replace("&amp;", "&");
            if !link.contains("stream") && link != "/events" && !link.starts_with("/assets") {
                queue.push_back(link);
            }
        }
        pages.push((path, response.body));
    }
    pages
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_sourced_secret_reaches_the_service_and_nothing_hoist_writes_or_shows() {
    let (Some(cd), Some(prod)) = (
        hoist_testkit::engine("cd").await,
        hoist_testkit::engine("prod").await,
    ) else {
        return;
    };
    let project = TestProject::new("tsecret", &[&cd, &prod]);
    let dir = std::env::temp_dir()
        .join("hoist-target-secrets")
        .join(&project.name);
    std::fs::create_dir_all(&dir).unwrap();
    let port = hoist_testkit::proxy_port(&project.name);
    let setup = Setup {
        dir: dir.clone(),
        project,
        prod,
    };
    let name = setup.project.name.clone();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "services:\n  app:\n    image: {REGISTRY_FROM_PROD}/hoist-test/{name}/app\n    \
             command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep infinity & wait\"]\n    \
             environment:\n      GREETING: ${{GREETING}}\n    secrets: [db_password]\n\
             secrets:\n  db_password:\n    environment: DB_PASSWORD\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("hoist.yml"),
        hoist_yml(
            &name,
            port,
            &format!("\n        command: |-\n          {COMMAND}"),
        ),
    )
    .unwrap();
    for (file, secret) in [
        ("missing-file.yml", "{file: vault/db-password.txt}"),
        (
            "failing-command.yml",
            "{command: \"echo 'vault is sealed' >&2; exit 2\"}",
        ),
        ("unset-variable.yml", "{env: BOOKS_VAULT_TOKEN}"),
    ] {
        std::fs::write(dir.join(file), hoist_yml(&name, port, secret)).unwrap();
    }
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "target secrets test"]);
    let commit = git(&dir, &["rev-parse", "--short", "HEAD"]);
    // The image the deploy step pulls by the commit's tag.
    let pushed = format!("{REGISTRY_FROM_CD}/hoist-test/{name}/app:{commit}");
    setup.project.track_image(0, &pushed);
    setup.project.track_image(
        1,
        &format!("{REGISTRY_FROM_PROD}/hoist-test/{name}/app:{commit}"),
    );
    for args in [
        vec!["tag", "debian:bookworm-slim", &pushed],
        vec!["push", "-q", &pushed],
    ] {
        let out = docker(&args);
        assert!(out.status.success(), "docker {args:?}: {}", text(&out));
    }

    // A secret that cannot be resolved: a clear error, before any change on prod.
    for (file, names) in [
        ("missing-file.yml", "vault/db-password.txt"),
        ("failing-command.yml", "vault is sealed"),
        ("unset-variable.yml", "BOOKS_VAULT_TOKEN"),
    ] {
        let out = setup
            .hoist(&["pipeline", "run", "--target", "prod", "--config", file])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{file}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("secret DB_PASSWORD of target prod") && err.contains(names),
            "{file}: {err}"
        );
        setup.prod_is_untouched(file).await;
    }
    let out = setup
        .hoist(&[
            "deploy",
            "app",
            "--target",
            "prod",
            "--pipeline-file",
            "failing-command.yml",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("vault is sealed"), "{}", text(&out));
    setup.prod_is_untouched("hoist deploy").await;

    // The pipeline deploys with it.
    let out = setup
        .hoist(&["pipeline", "run", "--target", "prod"])
        .output()
        .unwrap();
    assert!(out.status.success(), "pipeline run: {}", text(&out));
    assert!(
        !text(&out).contains(VALUE),
        "the run's output: {}",
        text(&out)
    );
    let container = format!("{name}-app-1");
    let prod = ["-H", "tcp://10.200.0.2:2375"];
    let got = docker(
        &[
            &prod[..],
            &["exec", &container, "cat", "/run/secrets/db_password"],
        ]
        .concat(),
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        VALUE,
        "{}",
        text(&got)
    );
    let env = docker(
        &[
            &prod[..],
            &["inspect", "-f", "{{json .Config.Env}}", &container],
        ]
        .concat(),
    );
    assert!(
        String::from_utf8_lossy(&env.stdout).contains("\"GREETING=hello\""),
        "the target's env: {}",
        text(&env)
    );
    let out = setup
        .hoist(&["pipeline", "run", "--target", "prod", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(VALUE), "--json: {}", text(&out));

    // The state folder: the history database and everything beside it.
    let state = files_under(&dir.join(".state"));
    assert!(
        state.iter().any(|(p, _)| p.ends_with("history.sqlite3")),
        "{state:?}"
    );
    for (path, bytes) in &state {
        assert!(
            !contains(bytes, VALUE),
            "{} holds the secret",
            path.display()
        );
    }

    // `hoist ps --format json` (which lists the app), `pipeline status --json`, `history`.
    let ps = [
        "-H",
        "tcp://10.200.0.2:2375",
        "-p",
        &name,
        "ps",
        "--format",
        "json",
    ];
    for args in [
        &ps[..],
        &["pipeline", "status", "--json"],
        &["pipeline", "history"],
    ] {
        let out = setup.hoist(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains(VALUE), "{args:?}: {}", text(&out));
        if args == ps {
            assert!(text(&out).contains(&container), "{}", text(&out));
        }
    }

    // `hoist deploy --target` of a file that puts the secret where an error echoes it (an image
    // tag that does not exist): the error, the history and the target's journal show the mask.
    std::fs::write(
        dir.join("leaky.yml"),
        format!(
            "services:\n  app:\n    image: {REGISTRY_FROM_PROD}/hoist-test/{name}/app:${{DB_PASSWORD}}\n"
        ),
    )
    .unwrap();
    let out = setup
        .hoist(&[
            "-f",
            "leaky.yml",
            "deploy",
            "app",
            "--target",
            "prod",
            "--strategy",
            "recreate",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(VALUE), "hoist deploy: {}", text(&out));
    assert!(
        text(&out).contains(&format!("app:{}", hoist_core::mask::MASK)),
        "the error names the image, masked: {}",
        text(&out)
    );
    let out = setup
        .hoist(&["pipeline", "history", "--target", "prod"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(hoist_core::mask::MASK) && !text(&out).contains(VALUE),
        "the target's journal: {}",
        text(&out)
    );
    for (path, bytes) in &files_under(&dir.join(".state")) {
        assert!(
            !contains(bytes, VALUE),
            "{} holds the secret after the failed deploy",
            path.display()
        );
    }

    // The dashboard: every page it links to, and its JSON.
    let mut ui = setup
        .hoist(&["ui", "--bind", "127.0.0.1:0", "--target", "prod"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = std::io::BufReader::new(ui.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let ui_port: u16 = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let pages = crawl(ui_port);
    let _ = ui.kill();
    let _ = ui.wait();
    let paths: Vec<&str> = pages.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        paths
            .iter()
            .any(|p| p.contains("/containers/") && p.contains(&container)),
        "the crawl reached the app's container page: {paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("/runs/")),
        "the crawl reached a run's page: {paths:?}"
    );
    for (path, body) in &pages {
        assert!(
            !body.contains(VALUE),
            "the dashboard's {path} shows the secret"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
