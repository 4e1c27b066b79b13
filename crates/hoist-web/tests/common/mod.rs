//! A hostile world on the dev environment's `cd` engine, shared by the router and browser tests:
//! an image whose LABEL, and a container whose labels (the colour and the service among them),
//! environment values and log lines are hostile markup, a network and a volume with hostile
//! labels, a pipeline run whose output and failure detail are hostile markup, and a dashboard
//! action whose target is. Docker allows no markup in container, network, volume or image
//! names and tags, so those carry the test project's name instead.
//!
//! Every payload tries to run script (`window.__pwned`, `document.title`) or to add an element
//! or attribute; `inert` and the browser's DOM check look for exactly those.

#![allow(dead_code)] // each test binary uses part of it

pub mod browser;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hoist_docker::Engine;
use hoist_pipeline::steps::StepId;
use hoist_testkit::TestProject;
use hoist_web::{AppState, NamedEngine, PipelineHistory, SqliteHistory};

/// Markup in every shape an unescaped value could take effect in: element content, a double-
/// or single-quoted or unquoted attribute, a raw-text element, a URL.
pub const HOSTILE: &str = "<script>window.__pwned=1;document.title='PWNED'</script>\
\"><img src=x onerror=\"window.__pwned=2\">' onmouseover='window.__pwned=3' x='\
</textarea><svg onload=window.__pwned=4> javascript:window.__pwned=5";

/// A secret among the hostile values: it must not appear anywhere either.
pub const SECRET: &str = "pw-Hh27-hostile";

/// What a rendered page must never contain: the payloads taking effect.
pub const RAW: [&str; 6] = [
    "<script>window",
    "<img src=x",
    "<svg",
    "onerror=\"window",
    "' onmouseover='",
    "</textarea>",
];

/// Asserts that `body` holds none of the payloads as markup and no script but the dashboard's.
pub fn inert(path: &str, body: &str) {
    for raw in RAW {
        assert!(!body.contains(raw), "{path} holds {raw:?} unescaped");
    }
    assert!(
        !body.contains("href=\"javascript:"),
        "{path} links to a javascript: URL"
    );
    assert!(
        body.matches("<script").count() <= 1,
        "{path} has a script besides the dashboard's"
    );
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker_stdin(args: &[&str], input: &str) {
    use std::io::Write;
    let mut child = Command::new("docker")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker CLI");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct World {
    pub project: TestProject,
    pub engine: Engine,
    /// The hostile container.
    pub container: String,
    pub image: String,
    /// The pipeline's state folder (its run history).
    pub dir: PathBuf,
    pub run_id: i64,
}

impl World {
    pub async fn new(engine: Engine, prefix: &str) -> World {
        let project = TestProject::new(prefix, &[&engine]);
        let label = format!("com.docker.compose.project={}", project.name);
        // An image whose own LABEL is hostile: the container inherits it.
        let image = format!("{}-img:latest", project.name);
        project.track_image(0, &image);
        let escaped = HOSTILE.replace('\\', "\\\\").replace('"', "\\\"");
        docker_stdin(
            &["build", "-q", "-t", &image, "-"],
            &format!("FROM debian:bookworm-slim\nLABEL io.example.image-note=\"{escaped}\"\n"),
        );
        let network = format!("{}-net", project.name);
        docker(&[
            "network",
            "create",
            "--label",
            &label,
            "--label",
            &format!("io.example.note={HOSTILE}"),
            &network,
        ]);
        docker(&[
            "volume",
            "create",
            "--label",
            &label,
            "--label",
            &format!("io.example.note={HOSTILE}"),
            &format!("{}-vol", project.name),
        ]);
        let container = format!("{}-web-1", project.name);
        World::container(&project, &container, &image, &network);
        let dir = std::env::temp_dir().join(format!("hoist-hostile-{}", project.name));
        let run_id = hostile_run(&engine, &dir).await;
        World {
            project,
            engine,
            container,
            image,
            dir,
            run_id,
        }
    }

    /// Starts a container of the project whose service, colour, other labels, environment and
    /// log lines are hostile.
    pub fn container(project: &TestProject, name: &str, image: &str, network: &str) {
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            "--label",
            &format!("com.docker.compose.project={}", project.name),
            "--label",
            &format!("com.docker.compose.service={HOSTILE}"),
            "--label",
            &format!("io.hoist.color={HOSTILE}"),
            "--label",
            &format!("io.example.note={HOSTILE}"),
            "-e",
            &format!("NOTE={HOSTILE}"),
            "-e",
            &format!("DB_PASSWORD={SECRET}"),
            "-v",
            &format!("{}-vol:/data", project.name),
            image,
            "sh",
            "-c",
            "echo \"$NOTE\"; echo \"db password is $DB_PASSWORD\"; \
             while sleep 1; do echo \"$NOTE\"; done",
        ]);
    }

    /// The dashboard over the world: the engine as `cd`, runs from the pipeline's history.
    pub fn state(&self) -> AppState {
        self.state_with(false)
    }

    /// [`World::state`], read-only when `read_only`.
    pub fn state_with(&self, read_only: bool) -> AppState {
        let runs = hoist_pipeline::history::History::open(&self.dir).unwrap();
        let audit = SqliteHistory::in_memory().unwrap();
        // An audit record whose target and outcome are hostile markup: what an engine's error
        // about a hostile name, or a store written by an older dashboard, puts there. (A hostile
        // name in a URL no longer reaches the audit log: the path guard refuses it first.)
        hoist_web::History::record_action(
            &audit,
            &hoist_web::ActionRecord {
                at_ms: 1_700_000_000_000,
                who: HOSTILE.into(),
                engine: "cd".into(),
                action: "stop".into(),
                target: HOSTILE.into(),
                outcome: HOSTILE.into(),
            },
        )
        .unwrap();
        let history = PipelineHistory::new(runs, audit);
        AppState::new(
            vec![NamedEngine {
                name: "cd".into(),
                engine: self.engine.clone(),
            }],
            None,
            read_only,
            Arc::new(history),
        )
    }

    /// Every page the dashboard has, for this world.
    pub fn pages(&self) -> Vec<String> {
        let c = format!("/e/cd/containers/{}", self.container);
        vec![
            "/".into(),
            "/containers".into(),
            format!("/containers?q={}", self.project.name),
            c.clone(),
            "/images".into(),
            "/networks".into(),
            "/volumes".into(),
            "/projects".into(),
            format!("/e/cd/projects/{}", self.project.name),
            "/runs".into(),
            format!("/runs/{}", self.run_id),
            "/history".into(),
        ]
    }

    /// The path of an action on a container named by hostile markup (the path guard refuses
    /// it before any engine call).
    pub fn hostile_action(&self) -> String {
        format!("/e/cd/containers/{}/stop", hoist_web_url(HOSTILE))
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Percent-encodes a path segment.
pub fn hoist_web_url(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A pipeline run whose step prints hostile markup (and a URL with a password) and fails with
/// it as its last line; returns its id.
async fn hostile_run(engine: &Engine, dir: &std::path::Path) -> i64 {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("payload.txt"),
        format!("db at postgres://app:{SECRET}@db/books\n{HOSTILE}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("hoist.yml"),
        "service: books-ms\nregistry: localhost:5000\ntargets:\n  prod:\n    host: tcp://10.200.0.2:2375\n    public_address: http://10.200.0.2\nsteps:\n  pre_deployment_tests:\n    command: cat payload.txt; exit 1\n",
    )
    .unwrap();
    let file = hoist_pipeline::config::load(&dir.join("hoist.yml")).unwrap();
    let ctx = hoist_pipeline::run::Context {
        file,
        cd: engine.clone(),
        docker_config: None,
        state_dir: dir.to_path_buf(),
        environment: Default::default(),
    };
    let history = Arc::new(hoist_pipeline::history::History::open(dir).unwrap());
    let opts = hoist_pipeline::run::RunOptions {
        only: Some(StepId::PreDeploymentTests),
        ..Default::default()
    };
    let run = hoist_pipeline::run::Run::start(&ctx, history.clone(), &opts)
        .await
        .unwrap();
    let sink = hoist_pipeline::run::HistorySink::new(history);
    assert!(!run.execute(&ctx, &[&sink]).await, "the hostile step fails");
    // Give the container's first log lines time to be written.
    tokio::time::sleep(Duration::from_millis(300)).await;
    run.id
}
