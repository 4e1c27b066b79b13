//! The dashboard as a router called without a socket: login, rate limit, CSRF, read-only, and
//! secrets masked on every page and JSON endpoint of a real engine.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hoist_web::{AppState, History, NamedEngine, SqliteHistory, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn state(engines: Vec<NamedEngine>, token: Option<&str>, read_only: bool) -> AppState {
    AppState::new(
        engines,
        token.map(String::from),
        read_only,
        Arc::new(SqliteHistory::in_memory().unwrap()),
    )
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(state: &AppState, req: Request<Body>) -> Reply {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path).header(header::ACCEPT, "text/html");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

fn post(path: &str, cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut b =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::from(form.to_string())).unwrap()
}

/// Logs in and returns the cookie to send back.
async fn login(state: &AppState, token: &str) -> String {
    let r = call(
        state,
        post("/login", None, &format!("name=ann&token={token}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let set = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
    set.split(';').next().unwrap().to_string()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=csrf value=\"").expect("a CSRF field") + 17;
    page[at..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn with_a_token_nothing_is_shown_before_login_and_the_cookie_is_strict() {
    let s = state(vec![], Some("s3cret-token"), false);
    let r = call(&s, get("/", None)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/login");
    let api = call(
        &s,
        Request::get("/api/containers").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    let sse = call(&s, Request::get("/events").body(Body::empty()).unwrap()).await;
    assert_eq!(sse.status, StatusCode::UNAUTHORIZED);

    let wrong = call(&s, post("/login", None, "name=ann&token=guess")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());

    let ok = call(&s, post("/login", None, "name=ann&token=s3cret-token")).await;
    let set = ok.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    let cookie = set.split(';').next().unwrap();
    let page = call(&s, get("/", Some(cookie))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("ann@"),
        "the page names who is logged in"
    );
    // A bearer token works for scripts.
    let api = Request::get("/api/runs")
        .header(header::AUTHORIZATION, "Bearer s3cret-token")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&s, api).await.status, StatusCode::OK);
}

#[tokio::test]
async fn guessing_tokens_is_rate_limited() {
    let s = state(vec![], Some("right"), false);
    for _ in 0..hoist_web::auth::MAX_FAILURES {
        let r = call(&s, post("/login", None, "token=wrong")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = call(&s, post("/login", None, "token=right")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
}

/// The dev environment's `cd` engine under its name (the routes answer 404 for an engine the
/// dashboard does not show, before anything else).
async fn cd() -> Option<Vec<NamedEngine>> {
    let engine = hoist_testkit::engine("cd").await?;
    Some(vec![NamedEngine {
        name: "cd".into(),
        engine,
    }])
}

#[tokio::test]
async fn actions_need_the_csrf_token_and_are_refused_when_read_only() {
    let Some(engines) = cd().await else {
        return;
    };
    let s = state(engines.clone(), Some("right"), false);
    let cookie = login(&s, "right").await;
    let page = call(&s, get("/", Some(&cookie))).await;
    let csrf = csrf_of(&page.body);
    let no = call(&s, post("/e/cd/containers/x/stop", Some(&cookie), "")).await;
    assert_eq!(no.status, StatusCode::FORBIDDEN);
    let wrong = call(
        &s,
        post("/e/cd/containers/x/stop", Some(&cookie), "csrf=abc"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // With the token the request gets past the check (to the engine, which has no such
    // container here).
    let right = call(
        &s,
        post(
            "/e/cd/containers/hoist-no-such-container/stop",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(right.status, StatusCode::BAD_GATEWAY, "{}", right.body);
    // Without a session the action is not even considered.
    let anon = call(
        &s,
        post("/e/cd/containers/x/stop", None, &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);

    let ro = state(engines, Some("right"), true);
    let cookie = login(&ro, "right").await;
    let page = call(&ro, get("/", Some(&cookie))).await;
    let csrf = csrf_of(&page.body);
    let r = call(
        &ro,
        post(
            "/e/cd/containers/x/start",
            Some(&cookie),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("read-only"));
}

#[tokio::test]
async fn a_rollback_needs_the_csrf_token_and_is_refused_when_read_only() {
    let Some(engines) = cd().await else {
        return;
    };
    let path = "/e/cd/projects/books/services/app/rollback";
    let s = state(engines.clone(), Some("right"), false);
    let cookie = login(&s, "right").await;
    let page = call(&s, get("/", Some(&cookie))).await;
    let csrf = csrf_of(&page.body);
    let no = call(&s, post(path, Some(&cookie), "")).await;
    assert_eq!(no.status, StatusCode::FORBIDDEN);
    assert!(no.body.contains("CSRF"), "{}", no.body);
    let wrong = call(&s, post(path, Some(&cookie), "csrf=abc")).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    // With the token the request gets past the check (to "not a hoist.yml target" here).
    let right = call(&s, post(path, Some(&cookie), &format!("csrf={csrf}"))).await;
    assert_eq!(right.status, StatusCode::NOT_FOUND);
    assert!(right.body.contains("hoist.yml"), "{}", right.body);
    let anon = call(&s, post(path, None, &format!("csrf={csrf}"))).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);

    let ro = state(engines, Some("right"), true);
    let cookie = login(&ro, "right").await;
    let page = call(&ro, get("/", Some(&cookie))).await;
    let csrf = csrf_of(&page.body);
    let r = call(&ro, post(path, Some(&cookie), &format!("csrf={csrf}"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("read-only"));
}

#[tokio::test]
async fn empty_history_says_no_runs_recorded() {
    let s = state(vec![], None, false);
    let r = call(&s, get("/runs", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("no runs recorded"));
    let r = call(&s, get("/history", None)).await;
    assert!(r.body.contains("no deployments recorded"));
}

fn docker(args: &[&str]) -> String {
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

const SECRETS: [(&str, &str); 9] = [
    ("DB_PASSWORD", "pw-Zq81-hunter"),
    ("AWS_SECRET_ACCESS_KEY", "sk-Lq93-abcdef"),
    ("GITHUB_TOKEN", "ghp-Tt42-zzzz"),
    ("API_KEY", "key-Kk77-yyyy"),
    ("ADMIN_PWD", "pwd-Aa11-xxxx"),
    ("SENTRY_DSN", "dsn-Bb22-xxxx"),
    ("SESSION_COOKIE", "ck-Cc33-xxxx"),
    ("USER_SESSION", "ss-Dd44-xxxx"),
    ("TLS_CERT", "crt-Ee55-xxxx"),
];

/// A URL whose password is masked whatever the variable's name.
const URL_PASSWORD: &str = "url-Ff66-pass";

#[tokio::test]
async fn secrets_are_masked_on_every_page_and_json_endpoint_and_actions_are_audited() {
    let Some(engine) = hoist_testkit::engine("cd").await else {
        return;
    };
    let project = hoist_testkit::TestProject::new("ui-mask", &[&engine]);
    let name = format!("{}-web-1", project.name);
    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--name".into(),
        name.clone(),
        "--label".into(),
        format!("com.docker.compose.project={}", project.name),
        "--label".into(),
        "com.docker.compose.service=web".into(),
        "--label".into(),
        "io.hoist.color=blue".into(),
        "--label".into(),
        format!("io.example.secret={}", "label-Ss55-vvvv"),
    ];
    for (k, v) in SECRETS {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    args.push("-e".into());
    args.push(format!(
        "DATABASE_URL=postgres://app:{URL_PASSWORD}@db/books"
    ));
    args.extend(
        [
            "-e",
            "SERVICE_NAME=books-ms",
            "debian:bookworm-slim",
            "sh",
            "-c",
            // The secrets reach the log and the command line too: both must be scrubbed.
            "echo start $DB_PASSWORD $GITHUB_TOKEN; echo db $DATABASE_URL $SENTRY_DSN; \
             echo arg sk-Lq93-abcdef; sleep 300",
        ]
        .map(String::from),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&refs);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let history = Arc::new(SqliteHistory::in_memory().unwrap());
    let s = AppState::new(
        vec![NamedEngine {
            name: "cd".into(),
            engine,
        }],
        None,
        false,
        history.clone(),
    );
    let c = format!("/e/cd/containers/{name}");
    let p = format!("/e/cd/projects/{}", project.name);
    let pages = [
        "/".to_string(),
        "/containers".into(),
        format!("/containers?q={}", project.name),
        c.clone(),
        format!("{c}/logs"),
        "/images".into(),
        "/networks".into(),
        "/volumes".into(),
        "/projects".into(),
        p.clone(),
        "/runs".into(),
        "/history".into(),
        "/api/engines".into(),
        "/api/containers".into(),
        format!("/api/e/cd/containers/{name}"),
        "/api/runs".into(),
        "/api/history".into(),
    ];
    let all_secrets: Vec<&str> = SECRETS
        .iter()
        .map(|(_, v)| *v)
        .chain(["label-Ss55-vvvv", URL_PASSWORD])
        .collect();
    for path in &pages {
        let r = call(&s, get(path, None)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        for secret in &all_secrets {
            assert!(!r.body.contains(secret), "{path} shows {secret} in clear");
        }
    }
    let detail = call(&s, get(&c, None)).await.body;
    assert!(
        detail.contains("DB_PASSWORD"),
        "the variable's name is shown"
    );
    assert!(detail.contains("SERVICE_NAME") && detail.contains("books-ms"));
    assert!(
        detail.contains("start ••••••"),
        "the log line is shown, masked"
    );
    assert!(
        detail.contains("db postgres://app:••••••@db/books ••••••"),
        "a URL's password and the DSN are masked in the log"
    );
    assert!(
        detail.contains("postgres://app:••••••@db/books"),
        "the URL is shown with its password masked"
    );
    assert!(detail.contains("c-blue"), "the colour is shown");
    let list = call(&s, get(&format!("/containers?q={}", project.name), None))
        .await
        .body;
    assert!(list.contains(&name) && list.contains("running"));

    // The followed log stream: its first lines, masked.
    let res = app(s.clone())
        .oneshot(get(&format!("{c}/logs/stream"), None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("arg ") && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    seen.push_str(&String::from_utf8_lossy(&data));
                }
            }
            _ => break,
        }
    }
    assert!(seen.contains("event: line"), "{seen}");
    assert!(seen.contains("arg ••••••"), "{seen}");
    for secret in &all_secrets {
        assert!(!seen.contains(secret), "the log stream shows {secret}");
    }

    // An action, with the page's CSRF token, is carried out and audited.
    let csrf = csrf_of(&detail);
    let r = call(
        &s,
        post(&format!("{c}/stop"), None, &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let state = docker(&["inspect", "-f", "{{.State.Status}}", &name]);
    assert_eq!(state, "exited");
    let actions = history.actions(10).unwrap();
    assert_eq!(actions[0].action, "stop");
    assert_eq!(actions[0].target, name);
    assert!(actions[0].who.starts_with("local@"));
    assert_eq!(actions[0].outcome, "ok");
    let page = call(&s, get("/history", None)).await.body;
    assert!(page.contains("stop") && page.contains(&name));
}

/// Polls `/api/containers?q=NAME` until `done` holds for what it returns.
async fn until(s: &AppState, name: &str, done: impl Fn(&[serde_json::Value]) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        let r = call(s, get(&format!("/api/containers?q={name}"), None)).await;
        let list: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
        if done(&list) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_follow_the_engines_events() {
    let Some(engine) = hoist_testkit::engine("cd").await else {
        return;
    };
    let project = hoist_testkit::TestProject::new("ui-follow", &[&engine]);
    let s = state(
        vec![NamedEngine {
            name: "cd".into(),
            engine,
        }],
        None,
        false,
    );
    s.spawn_event_pumps();
    let name = format!("{}-web-1", project.name);
    let label = format!("com.docker.compose.project={}", project.name);
    let is = |state: &'static str| {
        move |list: &[serde_json::Value]| list.len() == 1 && list[0]["state"] == state
    };
    docker(&[
        "create",
        "--name",
        &name,
        "--label",
        &label,
        "debian:bookworm-slim",
        "sleep",
        "300",
    ]);
    assert!(until(&s, &name, is("created")).await, "created");
    docker(&["start", &name]);
    assert!(until(&s, &name, is("running")).await, "started");
    let page = call(&s, get(&format!("/containers?q={name}"), None)).await;
    assert!(page.body.contains("s-running"), "{}", page.body);
    let overview = call(&s, get("/", None)).await;
    assert_eq!(overview.status, StatusCode::OK);
    docker(&["rm", "-f", &name]);
    assert!(until(&s, &name, |l| l.is_empty()).await, "removed");
}
