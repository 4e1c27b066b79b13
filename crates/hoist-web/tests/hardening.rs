//! The dashboard against hostile requests, through the router and a real engine: no URL steers
//! an engine call (traversal, `?`, `#`, encoded and double-encoded slashes on every path
//! segment), a page of another site is refused by its `Host` or `Origin`, and an action whose
//! audit record cannot be written is not carried out.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hoist_web::{
    ActionRecord, AppState, DeploymentRecord, History, HistoryError, HostPolicy, NamedEngine,
    RunRecord, SqliteHistory, app,
};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    body: String,
}

async fn call(state: &AppState, req: Request<Body>) -> Reply {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post(path: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=csrf value=\"").expect("a CSRF field") + 17;
    page[at..].split('"').next().unwrap().to_string()
}

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

fn container_state(name: &str) -> String {
    docker(&["inspect", "-f", "{{.State.Status}}", name]).1
}

/// A running container and a volume of a fresh project on `cd`, and the dashboard showing `cd`.
struct Setup {
    state: AppState,
    project: hoist_testkit::TestProject,
    container: String,
    volume: String,
}

async fn setup(prefix: &str, history: Arc<dyn History>) -> Option<Setup> {
    let engine = hoist_testkit::engine("cd").await?;
    let project = hoist_testkit::TestProject::new(prefix, &[&engine]);
    let label = format!("com.docker.compose.project={}", project.name);
    let volume = format!("{}_data", project.name);
    let container = format!("{}-web-1", project.name);
    assert!(docker(&["volume", "create", "--label", &label, &volume]).0);
    let (ok, _) = docker(&[
        "run",
        "-d",
        "--name",
        &container,
        "--label",
        &label,
        "--label",
        "com.docker.compose.service=web",
        "debian:bookworm-slim",
        "sleep",
        "300",
    ]);
    assert!(ok, "starting {container}");
    let state = AppState::new(
        vec![NamedEngine {
            name: "cd".into(),
            engine,
        }],
        None,
        false,
        history,
    );
    Some(Setup {
        state,
        project,
        container,
        volume,
    })
}

#[tokio::test]
async fn no_url_steers_an_engine_call() {
    let Some(s) = setup("ui-steer", Arc::new(SqliteHistory::in_memory().unwrap())).await else {
        return;
    };
    let (name, volume) = (&s.container, &s.volume);
    let repo = format!("{}-pwned", s.project.name);
    s.project.track_image(0, &repo);
    let page = call(&s.state, get(&format!("/e/cd/containers/{name}"))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = format!("csrf={}", csrf_of(&page.body));

    // Each is a hostile value for one path segment, as it appears in the URL.
    let hostile = [
        format!("x%2F..%2F..%2Fcommit%3Fcontainer%3D{name}%26repo%3D{repo}%23"),
        format!("..%2Fvolumes%2F{volume}"),
        format!("{name}%3Fforce%3Dtrue"),
        format!("{name}%23"),
        format!("{name}%2F..%2F..%2Fvolumes%2F{volume}"),
        format!("{name}%252F..%252F..%252Fvolumes%252F{volume}"),
        "..".to_string(),
        "%2E%2E".to_string(),
        format!("%2E%2E%2Fvolumes%2F{volume}"),
    ];
    let mut requests = Vec::new();
    for bad in &hostile {
        // container
        for action in ["stop", "remove", "restart"] {
            requests.push(post(&format!("/e/cd/containers/{bad}/{action}"), &csrf));
        }
        for path in [
            format!("/e/cd/containers/{bad}"),
            format!("/e/cd/containers/{bad}/logs"),
            format!("/e/cd/containers/{bad}/logs/stream"),
            format!("/api/e/cd/containers/{bad}"),
            // project
            format!("/e/cd/projects/{bad}"),
        ] {
            requests.push(get(&path));
        }
        // action
        requests.push(post(&format!("/e/cd/containers/{name}/{bad}"), &csrf));
        // engine
        requests.push(post(&format!("/e/{bad}/containers/{name}/stop"), &csrf));
        requests.push(get(&format!("/e/{bad}/containers/{name}")));
        // project and service of a rollback
        requests.push(post(
            &format!("/e/cd/projects/{bad}/services/web/rollback"),
            &csrf,
        ));
        requests.push(post(
            &format!("/e/cd/projects/{}/services/{bad}/rollback", s.project.name),
            &csrf,
        ));
    }
    for req in requests {
        let uri = req.uri().to_string();
        let r = call(&s.state, req).await;
        assert!(
            r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND,
            "{uri}: {} {}",
            r.status,
            r.body
        );
    }

    // The adapter refuses the same values whoever calls it, before any engine call.
    let engine = &s.state.engine("cd").unwrap().engine;
    for bad in [
        format!("x/../../commit?container={name}&repo={repo}#"),
        format!("../volumes/{volume}"),
        format!("{name}?force=true"),
    ] {
        let err = engine.remove_container(&bad, true, true).await.unwrap_err();
        assert!(err.to_string().contains("not a valid name"), "{err}");
        assert!(engine.stop_container(&bad, None).await.is_err());
        assert!(engine.container_detail(&bad).await.is_err());
        assert!(engine.remove_volume(&bad).await.is_err());
    }

    // Nothing was committed, stopped or removed.
    assert_eq!(container_state(name), "running");
    assert!(
        docker(&["volume", "inspect", volume]).0,
        "the volume is gone"
    );
    assert!(
        !docker(&["image", "inspect", &repo]).0,
        "an image was committed"
    );
    // The dashboard's own action on the same container still works.
    let r = call(
        &s.state,
        post(&format!("/e/cd/containers/{name}/stop"), &csrf),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(container_state(name), "exited");
}

/// An audit store that cannot be written (a full disk, a read-only file).
struct Unwritable;

impl History for Unwritable {
    fn runs(&self, _: usize) -> Result<Vec<RunRecord>, HistoryError> {
        Ok(Vec::new())
    }
    fn run(&self, _: &str) -> Result<Option<RunRecord>, HistoryError> {
        Ok(None)
    }
    fn deployments(&self, _: usize) -> Result<Vec<DeploymentRecord>, HistoryError> {
        Ok(Vec::new())
    }
    fn record_action(&self, _: &ActionRecord) -> Result<i64, HistoryError> {
        Err(HistoryError::new("attempt to write a readonly database"))
    }
    fn record_outcome(&self, _: i64, _: &str) -> Result<(), HistoryError> {
        Err(HistoryError::new("attempt to write a readonly database"))
    }
    fn actions(&self, _: usize) -> Result<Vec<ActionRecord>, HistoryError> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn an_action_that_cannot_be_audited_is_not_carried_out() {
    let Some(s) = setup("ui-audit", Arc::new(Unwritable)).await else {
        return;
    };
    let name = &s.container;
    let page = call(&s.state, get(&format!("/e/cd/containers/{name}"))).await;
    let csrf = format!("csrf={}", csrf_of(&page.body));
    for action in ["stop", "remove", "restart"] {
        let r = call(
            &s.state,
            post(&format!("/e/cd/containers/{name}/{action}"), &csrf),
        )
        .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
        assert!(r.body.contains("audit log cannot be written"), "{}", r.body);
        assert!(r.body.contains("was not carried out"), "{}", r.body);
    }
    assert_eq!(container_state(name), "running");
}

fn with(req: Request<Body>, headers: &[(header::HeaderName, &str)]) -> Request<Body> {
    let (mut parts, body) = req.into_parts();
    for (k, v) in headers {
        parts.headers.insert(k.clone(), v.parse().unwrap());
    }
    Request::from_parts(parts, body)
}

#[tokio::test]
async fn an_open_dashboard_refuses_other_host_names_and_cross_site_posts() {
    let s = AppState::new(
        vec![],
        None,
        false,
        Arc::new(SqliteHistory::in_memory().unwrap()),
    );
    let bound: SocketAddr = "127.0.0.1:9000".parse().unwrap();
    s.set_host_policy(HostPolicy {
        bound: Some(bound),
        extra: vec!["dash.lan".into()],
    });
    for host in ["127.0.0.1:9000", "localhost:9000", "dash.lan:8443"] {
        let r = call(&s, with(get("/"), &[(header::HOST, host)])).await;
        assert_eq!(r.status, StatusCode::OK, "{host}");
    }
    // A rebinding page: its own name, resolved to 127.0.0.1.
    for host in ["rebind.example:9000", "127.0.0.1:9001", "localhost"] {
        for req in [
            get("/"),
            get("/api/containers"),
            get("/events"),
            post("/logout", ""),
        ] {
            let r = call(&s, with(req, &[(header::HOST, host)])).await;
            assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
        }
    }

    // The handler answers a same-origin POST (here: no CSRF token in the form); a cross-site
    // one never reaches it.
    let own = [(header::HOST, "127.0.0.1:9000")];
    let reached = |r: &Reply| r.status == StatusCode::FORBIDDEN && r.body.contains("CSRF");
    let r = call(&s, with(post("/logout", ""), &own)).await;
    assert!(reached(&r), "a script sends no Origin: {}", r.body);
    let r = call(
        &s,
        with(
            post("/logout", ""),
            &[own[0].clone(), (header::ORIGIN, "http://127.0.0.1:9000")],
        ),
    )
    .await;
    assert!(reached(&r), "{}", r.body);
    let csrf = "csrf=x";
    for (name, value) in [
        (header::ORIGIN, "http://evil.example"),
        (header::ORIGIN, "null"),
        (header::REFERER, "http://evil.example/attack.html"),
    ] {
        let r = call(
            &s,
            with(post("/logout", csrf), &[own[0].clone(), (name, value)]),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{value}");
        assert!(r.body.contains("cross-site"), "{}", r.body);
    }
    // Under a token too, for the login form (login CSRF).
    let t = AppState::new(
        vec![],
        Some("0123456789abcdef0123456789abcdef".into()),
        false,
        Arc::new(SqliteHistory::in_memory().unwrap()),
    );
    let r = call(
        &t,
        with(
            post("/login", "token=0123456789abcdef0123456789abcdef"),
            &[
                (header::HOST, "dash.example"),
                (header::ORIGIN, "https://evil.example"),
            ],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn wrong_bearer_tokens_are_locked_out_like_logins() {
    let token = "0123456789abcdef0123456789abcdef";
    let s = AppState::new(
        vec![],
        Some(token.into()),
        false,
        Arc::new(SqliteHistory::in_memory().unwrap()),
    );
    let bearer = |t: &str| {
        Request::get("/api/runs")
            .header(header::AUTHORIZATION, format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(call(&s, bearer(token)).await.status, StatusCode::OK);
    for _ in 0..hoist_web::auth::MAX_FAILURES {
        assert_eq!(
            call(&s, bearer("guess")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        call(&s, bearer(token)).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}
