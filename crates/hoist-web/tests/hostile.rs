//! Hostile values from a real engine, a pipeline run and a URL render inert: every page shows
//! them escaped and only escaped, every response carries the security headers, and the hostile
//! container's secret appears on no page, not in `/logs` and not in the live log stream.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{HOSTILE, SECRET, World, inert};
use hoist_web::{AppState, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

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

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap()
}

/// The headers every response must carry, whatever answered it.
fn has_security_headers(path: &str, headers: &axum::http::HeaderMap) {
    let csp = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("{path}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{path}: CSP {csp:?} lacks {part}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{path}: {csp}"
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    // Pages, assets, the login form, errors, a refusal and the event stream alike.
    let open = hoist_web::AppState::new(
        vec![],
        None,
        false,
        std::sync::Arc::new(hoist_web::SqliteHistory::in_memory().unwrap()),
    );
    let locked = hoist_web::AppState::new(
        vec![],
        Some("right".into()),
        false,
        std::sync::Arc::new(hoist_web::SqliteHistory::in_memory().unwrap()),
    );
    for (state, path, status) in [
        (&open, "/", StatusCode::OK),
        (&open, "/runs", StatusCode::OK),
        (&open, "/assets/app.js", StatusCode::OK),
        (&open, "/assets/app.css", StatusCode::OK),
        (&open, "/e/nowhere/containers/x", StatusCode::NOT_FOUND),
        (&open, "/runs/77", StatusCode::NOT_FOUND),
        (&open, "/no/such/route", StatusCode::NOT_FOUND),
        (&open, "/events", StatusCode::OK),
        (&locked, "/login", StatusCode::OK),
        (&locked, "/", StatusCode::SEE_OTHER),
        (&locked, "/api/containers", StatusCode::UNAUTHORIZED),
    ] {
        let req = if path == "/api/containers" {
            Request::get(path).body(Body::empty()).unwrap()
        } else {
            get(path)
        };
        let res = app(state.clone()).oneshot(req).await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        has_security_headers(path, res.headers());
    }
}

#[tokio::test]
async fn a_missing_thing_named_by_markup_is_answered_escaped() {
    let s = hoist_web::AppState::new(
        vec![],
        None,
        false,
        std::sync::Arc::new(hoist_web::SqliteHistory::in_memory().unwrap()),
    );
    let path = format!(
        "/e/{}/containers/x",
        common::hoist_web_url("<script>window.__pwned=1</script>")
    );
    let r = call(&s, get(&path)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    inert(&path, &r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_render_escaped_on_every_page_and_secrets_stay_masked() {
    let Some(engine) = hoist_testkit::engine("cd").await else {
        return;
    };
    let world = World::new(engine, "ui-hostile").await;
    let s = world.state();
    // An action on a container named by hostile markup: refused by the path guard.
    let c = format!("/e/cd/containers/{}", world.container);
    // An open dashboard shows its CSRF token in the container page's action forms.
    let page = call(&s, get(&c)).await.body;
    let at = page.find("name=csrf value=\"").expect("a CSRF field") + 17;
    let csrf = page[at..].split('"').next().unwrap().to_string();
    let action = Request::post(world.hostile_action())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={csrf}")))
        .unwrap();
    let r = call(&s, action).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // The refusal is plain text, never sniffed as HTML.
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/plain; charset=utf-8");
    has_security_headers("the refused action", &r.headers);

    // Escaped, the payload's first words read like this in the page's text.
    let escaped = "&#60;script&#62;window.__pwned=1";
    let mut shown_on = Vec::new();
    for path in world.pages() {
        let r = call(&s, get(&path)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        has_security_headers(&path, &r.headers);
        inert(&path, &r.body);
        assert!(!r.body.contains(SECRET), "{path} shows the secret");
        if r.body.contains(escaped) {
            shown_on.push(path);
        }
    }
    // The payload did reach the pages, as text: each page that shows a hostile value.
    for path in [
        "/containers".to_string(),
        c.clone(),
        "/networks".into(),
        "/volumes".into(),
        "/projects".into(),
        format!("/e/cd/projects/{}", world.project.name),
        format!("/runs/{}", world.run_id),
        "/history".into(),
    ] {
        assert!(shown_on.contains(&path), "{path} does not show the payload");
    }
    let detail = call(&s, get(&c)).await.body;
    // The colour label is hostile: its cell gets no class from it.
    assert!(!detail.contains("class=\"c-&#60;"), "{detail}");
    assert!(detail.contains("db password is ••••••"), "{detail}");
    let run = call(&s, get(&format!("/runs/{}", world.run_id))).await.body;
    assert!(run.contains("postgres://app:••••••@db/books"), "{run}");

    // `/logs` is plain text: the markup stays as it is, the secret is masked.
    let logs = call(&s, get(&format!("{c}/logs"))).await;
    assert_eq!(
        logs.headers[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    has_security_headers("/logs", &logs.headers);
    assert!(logs.body.contains(HOSTILE), "{}", logs.body);
    assert!(!logs.body.contains(SECRET), "/logs shows the secret");
    assert!(logs.body.contains("db password is ••••••"));

    // The live log stream: masked too.
    let res = app(s.clone())
        .oneshot(get(&format!("{c}/logs/stream")))
        .await
        .unwrap();
    has_security_headers("the log stream", res.headers());
    let mut body = res.into_body();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains("db password is") && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    seen.push_str(&String::from_utf8_lossy(&data));
                }
            }
            _ => break,
        }
    }
    assert!(seen.contains("db password is ••••••"), "{seen}");
    assert!(!seen.contains(SECRET), "the log stream shows the secret");
}
