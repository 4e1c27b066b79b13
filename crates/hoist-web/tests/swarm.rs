//! The dashboard's Swarm page on the dev environment's three-node Swarm: a manager shows its
//! nodes, services and each service's tasks per node; an engine outside a swarm says so.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hoist_web::{AppState, NamedEngine, SqliteHistory, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn page(state: &AppState) -> String {
    let req = Request::get("/swarm")
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap();
    let res = app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

/// A service of this test's own on the swarm, removed when the test ends.
struct Service(String);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", "tcp://10.200.0.11:2375", "service", "rm", &self.0])
            .output();
    }
}

#[tokio::test]
async fn a_managers_page_shows_nodes_services_and_tasks_per_node() {
    let Some(manager) = hoist_testkit::engine("swarm1").await else {
        return;
    };
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let name = format!("dash-{}", std::process::id());
    let service = Service(name.clone());
    let created = Command::new("docker")
        .args([
            "-H",
            "tcp://10.200.0.11:2375",
            "service",
            "create",
            "--detach",
            "--name",
        ])
        .arg(&service.0)
        .args(["--replicas", "3", "--endpoint-mode", "dnsrr"])
        .args(["10.200.0.1:5000/books-ms-db"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let state = AppState::new(
        vec![
            NamedEngine {
                name: "swarm1".into(),
                engine: manager,
            },
            NamedEngine {
                name: "cd".into(),
                engine: cd,
            },
        ],
        None,
        true,
        Arc::new(SqliteHistory::in_memory().unwrap()),
    );
    // Live: the page is read again until the three tasks run, one per node.
    let deadline = Instant::now() + Duration::from_secs(90);
    let body = loop {
        let body = page(&state).await;
        if body.contains(&format!("<td>{name}</td><td>replicated</td><td>3/3</td>")) {
            break body;
        }
        assert!(Instant::now() < deadline, "never 3/3:\n{body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(body.contains("data-live data-poll"), "{body}");
    for node in ["swarm1", "swarm2", "swarm3"] {
        assert!(body.contains(&format!("<th>{node}</th>")), "{body}");
        assert!(
            body.contains(&format!("<tr><td>{node}</td><td>manager</td>")),
            "{body}"
        );
    }
    let row = body
        .lines()
        .find(|l| l.contains(&format!("<td>{name}</td>")))
        .unwrap();
    assert_eq!(row.matches("t-ok").count(), 3, "{row}");
    for slot in 1..=3 {
        assert!(row.contains(&format!("{name}.{slot} running")), "{row}");
    }
    // The cd engine is no swarm's member.
    assert!(body.contains("not part of a swarm"), "{body}");
}
