//! Blue-green releases of books-ms on prod behind the proxy, under load.
//!
//! Intent: a release never drops a request. v1 is live behind the proxy; a load generator sends
//! requests through the proxy for the whole deploy of v2 and for the rollback to v1; not one may
//! fail. A v2 that never becomes healthy, or that fails its post-integration test, leaves v1
//! serving, again without a failed request.
//!
//! Needs the dev environment, the books-ms images (`examples/books-ms/scripts/build-images`) and
//! the proxy image (`scripts/build-proxy-image`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hoist_core::bluegreen::Color;
use hoist_core::events::Collect;
use hoist_docker::Engine;
use hoist_docker::execute::ExecOptions;
use hoist_pipeline::bluegreen::{HealthGate, HttpCheck, Release, ReleaseError, ReleaseTest};
use hoist_pipeline::proxy::{Match, Proxy, ProxySpec};
use hoist_testkit::{TestProject, engine, load};

const PROD: &str = "10.200.0.2";
const VERSION_HEADER: &str = "x-books-ms-version";

async fn release_image(cd: &Engine, project: &TestProject, version: &str, extra: &str) -> String {
    hoist_testkit::books_ms_release(cd, project, version, extra).await
}

fn free_port(project: &TestProject) -> u16 {
    hoist_testkit::proxy_port(&project.name)
}

fn release<'e>(
    prod: &'e Engine,
    project: &TestProject,
    proxy: &TestProject,
    post_test: Option<Arc<dyn ReleaseTest>>,
) -> Release<'e> {
    let compose =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/books-ms/docker-compose.yml");
    let loaded = hoist_compose::load(&hoist_compose::LoadOptions {
        files: vec![compose],
        project_name: Some(project.name.clone()),
        working_dir: std::env::temp_dir(),
        ..Default::default()
    })
    .expect("the book's compose file loads");
    let spec = hoist_core::desired::project_spec(&loaded).expect("engine spec");
    let mut proxy_spec = ProxySpec::new("10.200.0.1:5000/hoist-proxy:latest");
    proxy_spec.name = proxy.name.clone();
    proxy_spec.port = free_port(project);
    Release {
        engine: prod,
        project: spec,
        service: "app".into(),
        container_port: 8080,
        host: PROD.into(),
        proxy: Proxy::new(prod, proxy_spec),
        route: "books-ms".into(),
        matcher: Match::PathPrefix("/api/v1/books".into()),
        directives: vec![],
        health: HealthGate {
            http_path: Some("/api/v1/books".into()),
            deadline: Duration::from_secs(60),
        },
        pre_test: Some(Arc::new(HttpCheck {
            path: "/api/v1/books".into(),
            host: None,
        })),
        post_test: post_test.or_else(|| {
            Some(Arc::new(HttpCheck {
                path: "/api/v1/books".into(),
                host: None,
            }))
        }),
        drain: Duration::from_secs(2),
        exec: ExecOptions::default(),
        commit: Some("test".into()),
    }
}

fn proxy_url(r: &Release<'_>) -> String {
    format!("http://{PROD}:{}/api/v1/books", r.proxy.spec().port)
}

/// Load through the proxy during `work`, at least `min_requests` in all. Also returns when
/// `work` finished, on the load's clock.
async fn under_load<F, T>(url: &str, min_requests: usize, work: F) -> (T, load::Report, Duration)
where
    F: std::future::Future<Output = T>,
{
    let started = std::time::Instant::now();
    let running = load::start(url, 300, 12, VERSION_HEADER, Duration::from_secs(120));
    // Some traffic before the change, so that the old release is seen serving.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out = work.await;
    let done_at = started.elapsed();
    // Keep going until the run has its minimum size.
    let rate = 300.0;
    let elapsed_floor = Duration::from_secs_f64(min_requests as f64 / rate);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report_wait = elapsed_floor.saturating_sub(Duration::from_secs(4));
    tokio::time::sleep(report_wait).await;
    let report = running.stop();
    (out, report, done_at)
}

/// Every request the load started after `done_at` was answered by `version`, and some were
/// answered by each of `before` and `version` in all.
fn switched(report: &load::Report, done_at: Duration, before: &str, version: &str) {
    let seen = versions(report);
    assert!(seen.contains(&before.to_string()), "{seen:?}");
    assert!(seen.contains(&version.to_string()), "{seen:?}");
    let late: Vec<&load::Sample> = report
        .samples
        .iter()
        .filter(|s| s.at > done_at && s.version.as_deref() != Some(version))
        .collect();
    assert!(late.is_empty(), "after the release finished: {late:?}");
}

fn versions(report: &load::Report) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for s in &report.samples {
        if let Some(v) = &s.version
            && seen.last() != Some(v)
        {
            seen.push(v.clone());
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploy_and_rollback_under_load_drop_no_request() {
    let Some(cd) = engine("cd").await else { return };
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("bg", &[&cd, &prod]);
    let proxy_project = TestProject::new("bg-proxy", &[&prod]);
    let v1 = release_image(&cd, &project, "v1", "").await;
    let v2 = release_image(&cd, &project, "v2", "").await;
    let r = release(&prod, &project, &proxy_project, None);
    let url = proxy_url(&r);
    let events = Collect::default();

    let first = r.deploy(&v1, &events).await.expect("first deploy");
    assert_eq!((first.live, first.previous), (Color::Blue, None));
    let v1_answer = hoist_testkit::http::request("GET", &url, None).unwrap();
    assert_eq!(v1_answer.status, 200);
    assert_eq!(v1_answer.header(VERSION_HEADER), Some("v1"));

    let (outcome, report, done_at) = under_load(&url, 5000, r.deploy(&v2, &events)).await;
    let outcome = outcome.expect("deploy of v2");
    println!(
        "deploy v2 under load: {}; healthy to switched: {} ms",
        report.summary(),
        outcome.healthy_to_switched().as_millis()
    );
    assert_eq!(
        (outcome.live, outcome.previous),
        (Color::Green, Some(Color::Blue))
    );
    assert!(report.total() >= 5000, "{}", report.summary());
    assert!(report.rate() >= 200.0, "{}", report.summary());
    assert!(report.failures().is_empty(), "{}", report.summary());
    switched(&report, done_at, "v1", "v2");
    let after = hoist_testkit::http::request("GET", &url, None).unwrap();
    assert_eq!(after.header(VERSION_HEADER), Some("v2"));
    let releases = r.releases().await.unwrap();
    let blue = releases.iter().find(|x| x.color == Color::Blue).unwrap();
    assert_eq!(blue.state, hoist_core::bluegreen::ReleaseState::Stopped);
    assert_eq!(blue.image, v1);
    let green = releases.iter().find(|x| x.color == Color::Green).unwrap();
    assert_eq!(green.state, hoist_core::bluegreen::ReleaseState::Live);

    let (rolled, report, done_at) = under_load(&url, 5000, r.rollback(&events)).await;
    let rolled = rolled.expect("rollback");
    let total: Duration = rolled.steps.iter().map(|(_, d)| *d).sum();
    println!(
        "rollback under load: {}; rollback {:.2}s end to end (of which the drain {:.2}s), \
         healthy to switched {} ms",
        report.summary(),
        total.as_secs_f64(),
        r.drain.as_secs_f64(),
        rolled.healthy_to_switched().as_millis()
    );
    assert_eq!(rolled.live, Color::Blue);
    assert!(report.total() >= 5000, "{}", report.summary());
    assert!(report.failures().is_empty(), "{}", report.summary());
    switched(&report, done_at, "v2", "v1");

    // No second rollback target beyond the stopped green, and rolling back again flips to it.
    let state = r.releases().await.unwrap();
    assert!(state.iter().any(
        |x| x.color == Color::Green && x.state == hoist_core::bluegreen::ReleaseState::Stopped
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unhealthy_release_never_takes_traffic() {
    let Some(cd) = engine("cd").await else { return };
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("bg-sick", &[&cd, &prod]);
    let proxy_project = TestProject::new("bg-sick-proxy", &[&prod]);
    let v1 = release_image(&cd, &project, "v1", "").await;
    let sick = release_image(
        &cd,
        &project,
        "v2",
        "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD false",
    )
    .await;
    let mut r = release(&prod, &project, &proxy_project, None);
    r.health.deadline = Duration::from_secs(20);
    let url = proxy_url(&r);
    let events = Collect::default();
    r.deploy(&v1, &events).await.expect("v1");

    let (result, report, _) = under_load(&url, 2000, r.deploy(&sick, &events)).await;
    println!("unhealthy v2 under load: {}", report.summary());
    let err = result.expect_err("an unhealthy release fails");
    let text = err.to_string();
    assert!(text.contains("wait until green is healthy"), "{text}");
    assert!(text.contains("unhealthy"), "{text}");
    assert!(text.contains("blue is serving"), "{text}");
    assert!(matches!(
        err,
        ReleaseError::Failed {
            live: Some(Color::Blue),
            ..
        }
    ));
    assert!(report.failures().is_empty(), "{}", report.summary());
    assert_eq!(versions(&report), ["v1"]);
    let releases = r.releases().await.unwrap();
    let green = releases.iter().find(|x| x.color == Color::Green).unwrap();
    assert_eq!(green.state, hoist_core::bluegreen::ReleaseState::Stopped);
}

struct AlwaysFails;

impl ReleaseTest for AlwaysFails {
    fn run<'a>(
        &'a self,
        domain: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move { Err(format!("the post-integration test against {domain} failed")) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_post_integration_test_switches_back() {
    let Some(cd) = engine("cd").await else { return };
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("bg-post", &[&cd, &prod]);
    let proxy_project = TestProject::new("bg-post-proxy", &[&prod]);
    let v1 = release_image(&cd, &project, "v1", "").await;
    let v2 = release_image(&cd, &project, "v2", "").await;
    let r = release(&prod, &project, &proxy_project, None);
    let events = Collect::default();
    r.deploy(&v1, &events).await.expect("v1");

    let failing = release(&prod, &project, &proxy_project, Some(Arc::new(AlwaysFails)));
    let url = proxy_url(&failing);
    let (result, report, _) = under_load(&url, 2000, failing.deploy(&v2, &events)).await;
    println!(
        "failed post-integration test under load: {}",
        report.summary()
    );
    let err = result.expect_err("the release fails");
    let text = err.to_string();
    assert!(text.contains("post-integration test"), "{text}");
    assert!(text.contains("switch the proxy to blue"), "{text}");
    assert!(report.failures().is_empty(), "{}", report.summary());
    let after = hoist_testkit::http::request("GET", &url, None).unwrap();
    assert_eq!(after.header(VERSION_HEADER), Some("v1"));
    assert_eq!(r.live().await.unwrap(), Some(Color::Blue));
}
