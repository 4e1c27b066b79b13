//! Rolling a service back from the dashboard, on the dev environment.
//!
//! Intent: "roll back" on a project page does what `hoist rollback SERVICE --target prod` does.
//! books-ms v1 then v2 are released blue-green on prod behind a proxy of the test's own; the
//! project page offers to roll `app` back to blue; the POST (with the page's CSRF token) moves
//! the proxy's route back to blue, stops green, records the run in the pipeline history and the
//! action, with who and when, in the audit log.
//!
//! Needs the books-ms images (`examples/books-ms/scripts/build-images`) and the proxy image
//! (`scripts/build-proxy-image`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hoist_core::bluegreen::Color;
use hoist_core::events::Discard;
use hoist_pipeline::release::{Place, ReleaseOptions, deploy_project};
use hoist_testkit::{REGISTRY_FROM_PROD, TestProject};
use hoist_web::{AppState, History, NamedEngine, Releases, SqliteHistory, app};
use http_body_util::BodyExt;
use tower::ServiceExt;

const PROD: &str = "10.200.0.2";

async fn call(state: &AppState, req: Request<Body>) -> (StatusCode, String) {
    let res = app(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_back_from_the_project_page_moves_the_route_to_the_previous_colour() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let Some(prod) = hoist_testkit::engine("prod").await else {
        return;
    };
    let project = TestProject::new("ui-rollback", &[&cd, &prod]);
    let proxy = TestProject::new("ui-rollback-proxy", &[&prod]);
    let v1 = hoist_testkit::books_ms_release(&cd, &project, "v1", "").await;
    let v2 = hoist_testkit::books_ms_release(&cd, &project, "v2", "").await;
    let port = hoist_testkit::proxy_port(&project.name);

    // hoist.yml with prod as a target behind the test's proxy, beside the deploy file.
    let dir = std::env::temp_dir().join(format!("hoist-{}", project.name));
    let state_dir = dir.join(".state");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "app:\n  image: {v1}\n  ports:\n    - 8080\n  links:\n    - db:db\n\
             db:\n  image: {REGISTRY_FROM_PROD}/books-ms-db\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("hoist.yml"),
        format!(
            "service: books-{name}\nregistry: localhost:5000\nproject: {name}\n\
             compose:\n  deploy: docker-compose.yml\n\
             targets:\n  prod:\n    host: tcp://{PROD}:2375\n    trust_insecure: true\n\
             \x20   public_address: http://{PROD}:{port}\n    registry: {REGISTRY_FROM_PROD}\n\
             \x20   proxy:\n      image: {REGISTRY_FROM_PROD}/hoist-proxy:latest\n\
             \x20     name: {proxy}\n      port: {port}\n\
             steps:\n  deploy:\n    service: app\n  integrate:\n    path: /api/v1/books\n    port: 8080\n",
            name = project.name,
            proxy = proxy.name,
        ),
    )
    .unwrap();
    // The trust `hoist ui` gives from --trust-insecure-host: hoist.yml's trust_insecure does not.
    let file = hoist_pipeline::config::load(&dir.join("hoist.yml"))
        .expect("hoist.yml")
        .with_user_trust(&[PROD.to_string()]);
    let place = Place::of_target(&file, file.target("prod").unwrap());
    let spec = deploy_project(&file, Default::default()).expect("the deploy file");

    // v1, then v2: blue stopped, green live.
    let opts = ReleaseOptions {
        health_path: Some("/api/v1/books".into()),
        ..Default::default()
    };
    let release =
        hoist_pipeline::release::release(&prod, &spec, "app", &place, &opts, Default::default())
            .unwrap();
    release.deploy(&v1, &Discard).await.expect("v1");
    let second = release.deploy(&v2, &Discard).await.expect("v2");
    assert_eq!(second.live, Color::Green);

    let history = Arc::new(SqliteHistory::in_memory().unwrap());
    let state = AppState::new(
        vec![NamedEngine {
            name: "prod".into(),
            engine: prod.clone(),
        }],
        None,
        false,
        history.clone(),
    );
    state.set_releases(Releases {
        file: file.clone(),
        targets: vec!["prod".into()],
        state_dir: state_dir.clone(),
        environment: Default::default(),
        exec: Default::default(),
    });

    let page_path = format!("/e/prod/projects/{}", project.name);
    let (status, page) = call(
        &state,
        Request::get(&page_path)
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let action = format!("{page_path}/services/app/rollback");
    assert!(page.contains(&action), "no rollback form: {page}");
    assert!(page.contains("roll back to blue"), "{page}");
    let at = page[page.find(&action).unwrap()..]
        .find("name=csrf value=\"")
        .unwrap()
        + page.find(&action).unwrap()
        + 17;
    let csrf = page[at..].split('"').next().unwrap().to_string();

    let started = Instant::now();
    let (status, outcome) = call(
        &state,
        Request::post(&action)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap(),
    )
    .await;
    eprintln!(
        "rollback through the dashboard took {:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert!(
        outcome.contains("app back on blue, green stopped"),
        "{outcome}"
    );

    // The proxy's route points at blue again, and green is stopped.
    assert_eq!(release.live().await.unwrap(), Some(Color::Blue));
    let releases = release.releases().await.unwrap();
    let green = releases.iter().find(|r| r.color == Color::Green).unwrap();
    assert_eq!(green.state, hoist_core::bluegreen::ReleaseState::Stopped);
    // Requests through the proxy reach v1 (blue was started without an HTTP probe, as `hoist
    // rollback` without --health-path does: give it a moment to answer).
    let url = format!("http://{PROD}:{port}/api/v1/books");
    let deadline = Instant::now() + Duration::from_secs(30);
    let version = loop {
        let answer = hoist_testkit::http::request("GET", &url, None);
        let version = answer
            .as_ref()
            .ok()
            .filter(|a| a.status == 200)
            .and_then(|a| a.header("x-books-ms-version").map(String::from));
        if version.is_some() || Instant::now() > deadline {
            break version;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(version.as_deref(), Some("v1"));

    // The audit log has who and when; the pipeline history has the run.
    let actions = history.actions(10).unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_eq!(actions[0].action, "rollback");
    assert_eq!(actions[0].engine, "prod");
    assert_eq!(actions[0].target, format!("{}/app", project.name));
    assert!(actions[0].who.starts_with("local@"), "{:?}", actions[0]);
    assert!(actions[0].outcome.starts_with("ok"), "{:?}", actions[0]);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(now_ms - actions[0].at_ms < 120_000, "{:?}", actions[0]);
    let runs = hoist_pipeline::history::History::open(&state_dir)
        .unwrap()
        .runs(10)
        .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "done");
    let (_, page) = call(
        &state,
        Request::get("/history").body(Body::empty()).unwrap(),
    )
    .await;
    assert!(
        page.contains("rollback") && page.contains(&format!("{}/app", project.name)),
        "{page}"
    );

    // Nothing left to roll back to but green, which a second rollback would start again; the
    // page now offers that.
    let (_, page) = call(
        &state,
        Request::get(&page_path).body(Body::empty()).unwrap(),
    )
    .await;
    assert!(page.contains("roll back to green"), "{page}");

    // Maintenance from the same page: the route answers 503 with the page while on, the
    // service again once off, each toggle in the audit log; none without the CSRF token.
    let toggle = format!("{page_path}/maintenance");
    assert!(page.contains(&toggle), "no maintenance form: {page}");
    assert!(page.contains("<span class=\"ok\">serving</span>"), "{page}");
    let post = |body: String| {
        Request::post(&toggle)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let (status, _) = call(&state, post("turn=on&message=x".into())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, outcome) = call(
        &state,
        post(format!(
            "csrf={csrf}&turn=on&message=Back+at+3+%3Cb%3Eam%3C%2Fb%3E"
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let answer = hoist_testkit::http::request("GET", &url, None).unwrap();
    assert_eq!(answer.status, 503);
    assert!(
        answer.body.contains("Back at 3 &#60;b&#62;am"),
        "{}",
        answer.body
    );
    let (_, page) = call(
        &state,
        Request::get(&page_path).body(Body::empty()).unwrap(),
    )
    .await;
    assert!(
        page.contains("in maintenance (503 with the page)"),
        "{page}"
    );
    assert!(page.contains("end maintenance"), "{page}");
    let (status, outcome) = call(&state, post(format!("csrf={csrf}&turn=off"))).await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    let answer = hoist_testkit::http::request("GET", &url, None).unwrap();
    assert_eq!(answer.status, 200);
    let actions = history.actions(10).unwrap();
    let toggles: Vec<(&str, &str)> = actions
        .iter()
        .filter(|a| a.action == "maintenance")
        .map(|a| (a.target.as_str(), a.outcome.as_str()))
        .collect();
    let route = format!("books-{}", project.name);
    assert_eq!(toggles.len(), 2, "{actions:?}");
    for (target, outcome) in toggles {
        assert!(target.starts_with(&route), "{target}");
        assert!(outcome.starts_with("ok"), "{outcome}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// On a target of several hosts the dashboard shows each host as `HOST@TARGET`, and "roll back"
/// on any of them is `hoist rollback SERVICE --target TARGET`: every host goes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_back_on_a_host_of_a_fleet_rolls_every_host_of_it_back() {
    const PROD3: &str = "10.200.0.4";
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let Some(prod) = hoist_testkit::engine("prod").await else {
        return;
    };
    let Some(prod3) = hoist_testkit::engine("prod3").await else {
        return;
    };
    let project = TestProject::new("ui-fleet", &[&cd, &prod, &prod3]);
    let proxy = TestProject::new("ui-fleet-proxy", &[&prod, &prod3]);
    let v1 = hoist_testkit::books_ms_release(&cd, &project, "v1", "").await;
    let v2 = hoist_testkit::books_ms_release(&cd, &project, "v2", "").await;
    for i in [1, 2] {
        project.track_image(i, &v1);
        project.track_image(i, &v2);
    }
    let port = hoist_testkit::proxy_port(&project.name);
    let dir = std::env::temp_dir().join(format!("hoist-{}", project.name));
    let state_dir = dir.join(".state");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        format!(
            "app:\n  image: {v1}\n  ports:\n    - 8080\n  links:\n    - db:db\n\
             db:\n  image: {REGISTRY_FROM_PROD}/books-ms-db\n"
        ),
    )
    .unwrap();
    let host = |name: &str, address: &str| {
        format!(
            "      - name: {name}\n        host: tcp://{address}:2375\n\
             \x20       public_address: http://{address}:{port}\n"
        )
    };
    std::fs::write(
        dir.join("hoist.yml"),
        format!(
            "service: books-{name}\nregistry: localhost:5000\nproject: {name}\n\
             compose:\n  deploy: docker-compose.yml\n\
             targets:\n  fleet:\n    batch: 2\n    registry: {REGISTRY_FROM_PROD}\n\
             \x20   proxy:\n      image: {REGISTRY_FROM_PROD}/hoist-proxy:latest\n\
             \x20     name: {proxy}\n      port: {port}\n    hosts:\n{one}{two}\
             steps:\n  deploy:\n    service: app\n  integrate:\n    path: /api/v1/books\n    port: 8080\n",
            name = project.name,
            proxy = proxy.name,
            one = host("prod", PROD),
            two = host("prod3", PROD3),
        ),
    )
    .unwrap();
    let file = hoist_pipeline::config::load(&dir.join("hoist.yml"))
        .expect("hoist.yml")
        .with_user_trust(&[PROD.to_string(), PROD3.to_string()]);
    let fleet = file.target("fleet").unwrap();
    let spec = deploy_project(&file, Default::default()).expect("the deploy file");
    let opts = ReleaseOptions {
        health_path: Some("/api/v1/books".into()),
        ..Default::default()
    };
    let engines = [&prod, &prod3];
    let hosts: Vec<hoist_pipeline::fleet::HostRelease<'_>> = fleet
        .hosts
        .iter()
        .zip(engines)
        .map(|(member, engine)| hoist_pipeline::fleet::HostRelease {
            host: member.name.clone(),
            release: hoist_pipeline::release::release(
                engine,
                &spec,
                "app",
                &Place::of_target(&file, member),
                &opts,
                Default::default(),
            )
            .unwrap(),
        })
        .collect();
    for image in [&v1, &v2] {
        let (_, outcome) = hoist_pipeline::fleet::deploy(&hosts, 2, image, &Discard).await;
        outcome.expect("a release on both hosts");
    }

    let history = Arc::new(SqliteHistory::in_memory().unwrap());
    let state = AppState::new(
        vec![
            NamedEngine {
                name: "prod@fleet".into(),
                engine: prod.clone(),
            },
            NamedEngine {
                name: "prod3@fleet".into(),
                engine: prod3.clone(),
            },
        ],
        None,
        false,
        history.clone(),
    );
    state.set_releases(Releases {
        file: file.clone(),
        targets: vec!["fleet".into()],
        state_dir: state_dir.clone(),
        environment: Default::default(),
        exec: Default::default(),
    });
    let page_path = format!("/e/prod3%40fleet/projects/{}", project.name);
    let (status, page) = call(
        &state,
        Request::get(&page_path)
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let action = format!("{page_path}/services/app/rollback");
    assert!(page.contains(&action), "no rollback form: {page}");
    let at = page[page.find(&action).unwrap()..]
        .find("name=csrf value=\"")
        .unwrap()
        + page.find(&action).unwrap()
        + 17;
    let csrf = page[at..].split('"').next().unwrap().to_string();
    let (status, outcome) = call(
        &state,
        Request::post(&action)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={csrf}")))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    for h in &hosts {
        assert_eq!(
            h.release.live().await.unwrap(),
            Some(Color::Blue),
            "{} back on blue",
            h.host
        );
    }
    let actions = history.actions(10).unwrap();
    assert_eq!(actions[0].engine, "prod3@fleet");
    assert!(actions[0].outcome.starts_with("ok"), "{:?}", actions[0]);
    let runs = hoist_pipeline::history::History::open(&state_dir)
        .unwrap()
        .runs(10)
        .unwrap();
    assert_eq!((runs.len(), runs[0].status.as_str()), (1, "done"));
    // The rollback is in the targets' journal, with the dashboard's user: what any machine's
    // dashboard or `hoist pipeline history --target` shows.
    let (_, page) = call(
        &state,
        Request::get("/history").body(Body::empty()).unwrap(),
    )
    .await;
    let journal = &page[page.find("On the targets").expect("the journal section")..];
    let row = journal
        .split("<tr>")
        .find(|r| r.contains("<td>rollback</td>"))
        .unwrap_or_else(|| panic!("the rollback in the journal: {page}"));
    assert!(
        row.contains("local@") && row.contains("prod3: app live on blue") && row.contains("done"),
        "{row}"
    );
    drop(hosts);
    let _ = std::fs::remove_dir_all(&dir);
}
