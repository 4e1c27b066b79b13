//! The integration proxy on the prod engine, for real: a path answers 404 before its route
//! exists and 200 after; switching the route moves traffic between two upstream sets; a
//! configuration nginx rejects fails with nginx's message and the proxy keeps serving the
//! previous one.
//!
//! Each test keeps its own proxy (a unique name and a port of its own), so tests run in
//! parallel; the containers carry their TestProject's label and are removed on drop.

use std::time::Duration;

use hoist_core::events::Collect;
use hoist_docker::Engine;
use hoist_pipeline::proxy::{
    Match, Proxy, ProxyError, ProxySpec, Route, Upstream, published_servers,
};
use hoist_testkit::http::{request, wait_for_status};
use hoist_testkit::{REGISTRY_FROM_PROD, TestProject};

const PROD_HOST: &str = "10.200.0.2";

fn image() -> String {
    format!("{REGISTRY_FROM_PROD}/hoist-proxy:latest")
}

/// A proxy on a port of its own, named after (and cleaned up with) `project`.
fn spec_for(project: &TestProject) -> ProxySpec {
    ProxySpec {
        name: project.name.clone(),
        port: hoist_testkit::proxy_port(&project.name),
        ..ProxySpec::new(image())
    }
}

/// A tiny HTTP server on prod answering `text` to every path: the proxy image with a site of
/// its own, published on a random port. Returns its `host:port` as the proxy reaches it.
async fn backend(engine: &Engine, project: &TestProject, text: &str) -> String {
    let mut spec = ProxySpec {
        name: project.name.clone(),
        ..ProxySpec::new(image())
    }
    .project();
    // A plain container on the default bridge, published on a port the engine picks, as a
    // service's would be (the proxy's own project runs in the host's network).
    spec.services[0].container.network_mode = Some("bridge".into());
    spec.services[0].container.exposed_ports = vec!["80/tcp".into()];
    spec.services[0].container.ports = vec![hoist_core::spec::PortBinding {
        container_port: "80/tcp".into(),
        host_ip: None,
        host_port: None,
    }];
    let site = format!(
        "server {{ listen 80 default_server; location / {{ add_header Content-Type text/plain; return 200 '{text}'; }} }}"
    );
    spec.services[0].container.cmd = Some(vec![
        "sh".into(),
        "-c".into(),
        format!("echo \"$SITE\" > /etc/nginx/conf.d/site.conf && exec nginx -g 'daemon off;'"),
    ]);
    spec.services[0].container.env = vec![format!("SITE={site}")];
    hoist_docker::orchestrate::up(
        engine,
        &spec,
        &Default::default(),
        None,
        &Default::default(),
        &Collect::default(),
    )
    .await
    .expect("backend starts");
    let servers = published_servers(engine, &project.name, "nginx", 80, PROD_HOST)
        .await
        .unwrap();
    assert_eq!(servers.len(), 1, "{servers:?}");
    let server = servers[0].clone();
    wait_for_status(&format!("http://{server}/"), 200, Duration::from_secs(20)).unwrap();
    server
}

async fn proxy_url(_engine: &Engine, proxy: &Proxy<'_>, path: &str) -> String {
    format!("http://{PROD_HOST}:{}{path}", proxy.spec().port)
}

fn books_route(upstream: &str) -> Route {
    Route {
        name: "books-ms".into(),
        matcher: Match::PathPrefix("/api/v1/books".into()),
        upstream: upstream.into(),
        directives: vec![],
        hosts: Vec::new(),
    }
}

/// Waits until the proxy answers `want` at `url` (a reload takes effect a moment after SIGHUP).
fn wait_body(url: &str, want: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = request("GET", url, None).ok();
        if let Some(r) = &got
            && r.status == 200
            && r.body == want
        {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("{url} never answered 200 {want:?}; last: {got:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_turns_404_into_200_and_switches_between_upstream_sets() {
    let Some(engine) = hoist_testkit::engine("prod").await else {
        return;
    };
    let blue_project = TestProject::new("proxy-blue", &[&engine]);
    let green_project = TestProject::new("proxy-green", &[&engine]);
    let proxy_project = TestProject::new("proxy", &[&engine]);
    let blue = backend(&engine, &blue_project, "blue").await;
    let green = backend(&engine, &green_project, "green").await;

    let events = Collect::default();
    let proxy = Proxy::new(&engine, spec_for(&proxy_project));
    proxy.ensure(&events).await.expect("proxy starts");
    let url = proxy_url(&engine, &proxy, "/api/v1/books").await;
    // Before integration: nginx's 404, as in the book.
    let before = wait_for_status(&url, 404, Duration::from_secs(20)).unwrap();
    assert_eq!(before.status, 404);

    proxy
        .update(&events, |table| {
            table
                .set_upstream(Upstream::new("books-ms-blue", [blue.clone()]))
                .set_upstream(Upstream::new("books-ms-green", [green.clone()]))
                .set_route(books_route("books-ms-blue"));
            Ok(())
        })
        .await
        .expect("route applied");
    wait_body(&url, "blue");
    // Other paths still answer 404.
    assert_eq!(
        request("GET", &proxy_url(&engine, &proxy, "/other").await, None)
            .unwrap()
            .status,
        404
    );

    proxy
        .update(&events, |table| {
            table.switch("books-ms", "books-ms-green").map(|_| ())
        })
        .await
        .expect("switched");
    wait_body(&url, "green");
    assert_eq!(
        proxy
            .config()
            .await
            .unwrap()
            .route("books-ms")
            .unwrap()
            .upstream,
        "books-ms-green",
        "the table is read back from the proxy"
    );

    // Ensuring again keeps the routes (the container is unchanged).
    proxy.ensure(&events).await.unwrap();
    wait_body(&url, "green");

    // A change made on a table read earlier, after another change came in between: the exec
    // sees the table is not the one read, it is read again, and neither change is lost.
    let mut stale = proxy.snapshot().await.unwrap();
    proxy
        .update(&events, |table| {
            table
                .set_upstream(Upstream::new("other", [blue.clone()]))
                .set_route(Route {
                    name: "other".into(),
                    matcher: Match::PathPrefix("/other".into()),
                    upstream: "other".into(),
                    directives: vec![],
                    hosts: Vec::new(),
                });
            Ok(())
        })
        .await
        .unwrap();
    proxy
        .update_on(&mut stale, &events, |table| {
            table.switch("books-ms", "books-ms-blue").map(|_| ())
        })
        .await
        .unwrap();
    // The update returned once nginx's new workers took over: the very next request sees it.
    let r = request("GET", &url, None).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "blue"));
    let table = proxy.config().await.unwrap();
    assert!(table.route("other").is_some(), "{table:?}");
    assert_eq!(table.route("books-ms").unwrap().upstream, "books-ms-blue");
    assert_eq!(stale.table, table, "the snapshot follows what was applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_nginx_rejects_is_never_applied() {
    let Some(engine) = hoist_testkit::engine("prod").await else {
        return;
    };
    let app_project = TestProject::new("proxy-app", &[&engine]);
    let proxy_project = TestProject::new("proxy-bad", &[&engine]);
    let app = backend(&engine, &app_project, "books").await;
    let events = Collect::default();
    let proxy = Proxy::new(&engine, spec_for(&proxy_project));
    proxy.ensure(&events).await.unwrap();
    proxy
        .update(&events, |table| {
            table
                .set_upstream(Upstream::new("books-ms", [app.clone()]))
                .set_route(books_route("books-ms"));
            Ok(())
        })
        .await
        .unwrap();
    let url = proxy_url(&engine, &proxy, "/api/v1/books").await;
    wait_body(&url, "books");
    let good = proxy.config().await.unwrap();

    // A directive nginx does not know.
    let err = proxy
        .update(&events, |table| {
            let mut route = books_route("books-ms");
            route.directives = vec!["proxy_bogus on".into()];
            table.set_route(route);
            Ok(())
        })
        .await
        .expect_err("nginx rejects it");
    let message = err.nginx_message().expect("nginx's message").to_string();
    assert!(
        message.contains("[emerg]") && message.contains("proxy_bogus"),
        "{message}"
    );
    assert!(matches!(err, ProxyError::Rejected { .. }));
    // The previous configuration is back and still serving.
    assert_eq!(proxy.config().await.unwrap(), good);
    wait_body(&url, "books");

    // A server nginx cannot resolve.
    let err = proxy
        .update(&events, |table| {
            table.set_upstream(Upstream::new("books-ms", ["no-such-host.invalid:8080"]));
            Ok(())
        })
        .await
        .expect_err("nginx rejects it");
    assert!(
        err.nginx_message()
            .unwrap()
            .contains("host not found in upstream"),
        "{err}"
    );
    assert_eq!(proxy.config().await.unwrap(), good);
    // nginx was never reloaded with it: requests keep succeeding.
    for _ in 0..20 {
        let r = request("GET", &url, None).unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "books"));
    }
}
