//! zero_downtime: the same change released two ways under the same load, side by side, on the
//! dev environment's prod engine, through the same kind of nginx proxy:
//!
//! 1. hoist's blue-green deploy of books-ms v1 → v2;
//! 2. Docker Compose v2's `up -d --force-recreate --no-deps app` of a v2-format copy of the
//!    stack, the proxy pointing at the app's fixed published port.
//!
//! Prints one Markdown row per run: requests, failures, longest gap without a successful
//! response, and for hoist the time from "new colour healthy" to "all new requests on it".
//!
//! Run: `cargo run --release -p hoist-pipeline --example zero_downtime` (after
//! `./scripts/dev-env up`, the books-ms and proxy images, and `./scripts/peers`).

use std::sync::Arc;
use std::time::Duration;

use hoist_core::events::Discard;
use hoist_docker::execute::ExecOptions;
use hoist_pipeline::bluegreen::{HealthGate, HttpCheck, Release};
use hoist_pipeline::proxy::{Match, Proxy, ProxySpec, Route, Upstream};
use hoist_testkit::{TestProject, books_ms_release, compose_v2, engine, load};

const PROD: &str = "10.200.0.2";
const RATE: u32 = 300;

fn row(what: &str, report: &load::Report, extra: &str) {
    println!(
        "| {what} | {} | {:.0}/s | {} | {} ms | {extra} |",
        report.total(),
        report.rate(),
        report.failures().len(),
        report.longest_gap().as_millis()
    );
}

async fn measure<F, T>(url: &str, work: F) -> (T, load::Report)
where
    F: std::future::Future<Output = T>,
{
    let running = load::start(
        url,
        RATE,
        12,
        "x-books-ms-version",
        Duration::from_secs(120),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = work.await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    (out, running.stop())
}

/// Runs Compose v2 against prod.
fn compose(file: &std::path::Path, project: &str, args: &[&str]) {
    let out = std::process::Command::new(compose_v2())
        .env("DOCKER_HOST", "tcp://10.200.0.2:2375")
        .args(["-p", project, "-f"])
        .arg(file)
        .args(args)
        .output()
        .expect("docker compose v2 (scripts/peers)");
    assert!(
        out.status.success(),
        "compose {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let cd = engine("cd").await.expect("cd engine");
    let prod = engine("prod").await.expect("prod engine");
    let project = TestProject::new("zd", &[&cd, &prod]);
    let proxy_project = TestProject::new("zd-proxy", &[&prod]);
    let compose_project = TestProject::new("zd-compose", &[&prod]);
    let compose_proxy = TestProject::new("zd-compose-proxy", &[&prod]);
    let v1 = books_ms_release(&cd, &project, "v1", "").await;
    let v2 = books_ms_release(&cd, &project, "v2", "").await;

    println!("| release | requests | rate | failed | longest gap | notes |");
    println!("| --- | --- | --- | --- | --- | --- |");

    // 1. hoist blue-green.
    let compose_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/books-ms/docker-compose.yml");
    let loaded = hoist_compose::load(&hoist_compose::LoadOptions {
        files: vec![compose_file],
        project_name: Some(project.name.clone()),
        working_dir: std::env::temp_dir(),
        ..Default::default()
    })
    .expect("book compose file");
    let spec = hoist_core::desired::project_spec(&loaded).expect("spec");
    let mut proxy_spec = ProxySpec::new("10.200.0.1:5000/hoist-proxy:latest");
    proxy_spec.name = proxy_project.name.clone();
    proxy_spec.port = 28081;
    let check = Arc::new(HttpCheck {
        path: "/api/v1/books".into(),
        host: None,
    });
    let release = Release {
        engine: &prod,
        project: spec,
        service: "app".into(),
        container_port: 8080,
        host: PROD.into(),
        proxy: Proxy::new(&prod, proxy_spec),
        route: "books-ms".into(),
        matcher: Match::PathPrefix("/api/v1/books".into()),
        directives: vec![],
        health: HealthGate {
            http_path: Some("/api/v1/books".into()),
            deadline: Duration::from_secs(60),
        },
        pre_test: Some(check.clone()),
        post_test: Some(check),
        drain: Duration::from_secs(2),
        exec: ExecOptions::default(),
        commit: None,
    };
    release.deploy(&v1, &Discard).await.expect("v1 live");
    let url = format!("http://{PROD}:28081/api/v1/books");
    let (outcome, report) = measure(&url, release.deploy(&v2, &Discard)).await;
    let outcome = outcome.expect("blue-green deploy");
    row(
        "hoist deploy (blue-green)",
        &report,
        &format!(
            "healthy to switched {} ms",
            outcome.healthy_to_switched().as_millis()
        ),
    );
    let (rolled, report) = measure(&url, release.rollback(&Discard)).await;
    let rolled = rolled.expect("rollback");
    let total: Duration = rolled.steps.iter().map(|(_, d)| *d).sum();
    row(
        "hoist rollback",
        &report,
        &format!(
            "rollback {:.2} s end to end, 2 s drain included",
            total.as_secs_f64()
        ),
    );

    // 2. Compose v2 recreate, same images, same load, through a proxy of its own.
    let dir = std::env::temp_dir().join(format!("hoist-{}", compose_project.name));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");
    let write = |image: &str| {
        std::fs::write(
            &file,
            format!(
                "services:\n  app:\n    image: {image}\n    ports: [\"38090:8080\"]\n    \
                 environment: [DB_HOST=db]\n    depends_on: [db]\n  db:\n    \
                 image: 10.200.0.1:5000/books-ms-db:latest\n"
            ),
        )
        .unwrap();
    };
    let name = compose_project.name.clone();
    write(&v1);
    compose(&file, &name, &["up", "-d"]);
    let mut cproxy = ProxySpec::new("10.200.0.1:5000/hoist-proxy:latest");
    cproxy.name = compose_proxy.name.clone();
    cproxy.port = 28082;
    let proxy = Proxy::new(&prod, cproxy);
    proxy.ensure(&Discard).await.expect("proxy");
    proxy
        .update(&Discard, |t| {
            t.set_upstream(Upstream::new("books-ms", [format!("{PROD}:38090")]));
            t.set_route(Route {
                name: "books-ms".into(),
                matcher: Match::PathPrefix("/api/v1/books".into()),
                upstream: "books-ms".into(),
                directives: vec![],
                hosts: Vec::new(),
            });
            Ok(())
        })
        .await
        .expect("route");
    let url = format!("http://{PROD}:28082/api/v1/books");
    hoist_testkit::http::wait_for_status(&url, 200, Duration::from_secs(60))
        .expect("compose v1 up");
    write(&v2);
    let (file2, name2) = (file.clone(), name.clone());
    // The async block runs only once `measure` awaits it, after the load started.
    let recreate = async move {
        tokio::task::spawn_blocking(move || {
            compose(
                &file2,
                &name2,
                &["up", "-d", "--force-recreate", "--no-deps", "app"],
            );
        })
        .await
        .unwrap()
    };
    let (_, report) = measure(&url, recreate).await;
    row(
        "docker compose up -d --force-recreate",
        &report,
        "Compose v2.40.3",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
