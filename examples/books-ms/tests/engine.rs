//! The images on a real engine (the dev environment's `cd`): books-ms-db and books-ms started as
//! the book's compose file starts them (the app linked to `db:db`, so it finds the database
//! through the legacy link variables), then the books-ms-tests image run against the app.
//!
//! Needs the images built first: `examples/books-ms/scripts/build-images` (scripts/test runs it).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkConnectRequest, NetworkCreateRequest,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, LogsOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};
use books_ms::client::{Endpoint, request};
use futures_util::TryStreamExt;
use hoist_testkit::{REGISTRY_FROM_CD, TestProject, engine};

fn image(name: &str) -> String {
    format!("{REGISTRY_FROM_CD}/{name}:latest")
}

/// A container of the test's project, labelled like compose labels its own.
async fn create(
    docker: &Docker,
    project: &TestProject,
    service: &str,
    body: ContainerCreateBody,
) -> String {
    let name = format!("{}_{service}_1", project.name);
    let mut labels = project.labels();
    labels.insert("com.docker.compose.service".into(), service.into());
    let image = body.image.clone().unwrap_or_default();
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                labels: Some(labels),
                ..body
            },
        )
        .await
        .unwrap_or_else(|err| {
            panic!(
                "create {name} from {image}: {err}\n\
                 (build the images first: examples/books-ms/scripts/build-images)"
            )
        });
    name
}

async fn start(docker: &Docker, name: &str) {
    docker
        .start_container(name, None::<StartContainerOptions>)
        .await
        .unwrap_or_else(|err| panic!("start {name}: {err}"));
}

async fn inspect(docker: &Docker, name: &str) -> bollard::models::ContainerInspectResponse {
    docker
        .inspect_container(name, None::<InspectContainerOptions>)
        .await
        .unwrap_or_else(|err| panic!("inspect {name}: {err}"))
}

async fn logs(docker: &Docker, name: &str) -> String {
    let chunks: Vec<_> = docker
        .logs(
            name,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        )
        .try_collect()
        .await
        .unwrap_or_default();
    chunks.iter().map(ToString::to_string).collect()
}

async fn wait_healthy(docker: &Docker, name: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let state = inspect(docker, name).await.state.unwrap_or_default();
        let health = state.health.and_then(|h| h.status).map(|s| s.to_string());
        if health.as_deref() == Some("healthy") {
            return;
        }
        assert!(
            state.running == Some(true) && Instant::now() < deadline,
            "{name} is not healthy (health {health:?}); its log:\n{}",
            logs(docker, name).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the books-ms-tests image with `DOMAIN=domain` on `network`; returns its exit code and
/// output.
async fn run_tests_image(
    docker: &Docker,
    project: &TestProject,
    run: &str,
    network: &str,
    domain: &str,
) -> (i64, String) {
    let name = create(
        docker,
        project,
        run,
        ContainerCreateBody {
            image: Some(image("books-ms-tests")),
            env: Some(vec![format!("DOMAIN={domain}"), "TIMEOUT_SECONDS=5".into()]),
            host_config: Some(HostConfig {
                network_mode: Some(network.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    start(docker, &name).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = inspect(docker, &name).await.state.unwrap_or_default();
        if state.running != Some(true) {
            return (state.exit_code.unwrap_or(-1), logs(docker, &name).await);
        }
        assert!(Instant::now() < deadline, "{name} did not finish in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tests_image_passes_against_the_stack_and_fails_when_the_service_is_down() {
    let Some(cd) = engine("cd").await else { return };
    let docker = cd.docker();
    let project = TestProject::new("books-ms-integ", &[&cd]);

    // The database, as `db` of docker-compose.yml.
    let db = create(
        docker,
        &project,
        "db",
        ContainerCreateBody {
            image: Some(image("books-ms-db")),
            ..Default::default()
        },
    )
    .await;
    start(docker, &db).await;
    wait_healthy(docker, &db, Duration::from_secs(60)).await;

    // The app, as `app`: on the default bridge with `links: - db:db`, its port published on
    // loopback only so the test can watch it from here.
    let app = create(
        docker,
        &project,
        "app",
        ContainerCreateBody {
            image: Some(image("books-ms")),
            host_config: Some(HostConfig {
                links: Some(vec![format!("{db}:db")]),
                port_bindings: Some(HashMap::from([(
                    "8080/tcp".to_string(),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    // The tests container reaches the app by name on a network of the project, so that once the
    // app is stopped the name no longer resolves, as for a service that is down.
    let network = format!("{}_default", project.name);
    docker
        .create_network(NetworkCreateRequest {
            name: network.clone(),
            labels: Some(project.labels()),
            ..Default::default()
        })
        .await
        .expect("create the project network");
    docker
        .connect_network(
            &network,
            NetworkConnectRequest {
                container: app.clone(),
                endpoint_config: Some(EndpointSettings {
                    aliases: Some(vec!["app".into()]),
                    ..Default::default()
                }),
            },
        )
        .await
        .expect("attach the app to the project network");
    start(docker, &app).await;

    let inspected = inspect(docker, &app).await;
    let port = inspected
        .network_settings
        .and_then(|n| n.ports)
        .and_then(|p| p.get("8080/tcp").cloned().flatten())
        .and_then(|b| b.first().and_then(|b| b.host_port.clone()))
        .expect("published port");
    let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let list = || {
        request(
            &endpoint,
            "GET",
            "/api/v1/books",
            &[],
            None,
            Duration::from_secs(5),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        match list() {
            Ok(r) if r.status == 200 => break r,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!(
                "books-ms did not answer: {other:?}; its log:\n{}",
                logs(docker, &app).await
            ),
        }
    };
    // The link's DB_PORT_5432_TCP_ADDR won over the image's DB_HOST=localhost.
    let db_ip = inspect(docker, &db)
        .await
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get("bridge").and_then(|b| b.ip_address.clone()))
        .expect("db address on the default bridge");
    let app_log = logs(docker, &app).await;
    assert!(
        app_log.contains(&format!("database {db_ip}:5432/books")),
        "the app found the database through the link:\n{app_log}"
    );
    // The build argument reaches the header that tells releases apart.
    let image_version = docker
        .inspect_image(&image("books-ms"))
        .await
        .expect("inspect the books-ms image")
        .config
        .and_then(|c| c.labels)
        .and_then(|l| l.get("org.opencontainers.image.version").cloned())
        .expect("version label");
    assert_eq!(
        ready.header("x-books-ms-version"),
        Some(image_version.as_str())
    );

    let (code, output) =
        run_tests_image(docker, &project, "integ", &network, "http://app:8080").await;
    assert_eq!(code, 0, "books-ms-tests against a running stack:\n{output}");
    assert!(output.contains("5 checks passed, 0 failed"), "{output}");
    assert_eq!(list().unwrap().body, b"[]", "the test left no data behind");

    // The database down: the app answers, but cannot serve books.
    let stopped = Instant::now();
    docker
        .stop_container(
            &db,
            Some(StopContainerOptionsBuilder::default().t(10).build()),
        )
        .await
        .expect("stop db");
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "the database stops without waiting for the kill timeout ({:?})",
        stopped.elapsed()
    );
    let (code, output) =
        run_tests_image(docker, &project, "integ-nodb", &network, "http://app:8080").await;
    assert_eq!(code, 1, "books-ms-tests with the database down:\n{output}");

    // The service down.
    let stopped = Instant::now();
    docker
        .stop_container(
            &app,
            Some(StopContainerOptionsBuilder::default().t(10).build()),
        )
        .await
        .expect("stop app");
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "books-ms stops on SIGTERM without waiting for the kill timeout ({:?})",
        stopped.elapsed()
    );
    let app_state = inspect(docker, &app).await.state.unwrap_or_default();
    assert_eq!(app_state.exit_code, Some(0), "a clean exit on SIGTERM");
    let (code, output) =
        run_tests_image(docker, &project, "integ-down", &network, "http://app:8080").await;
    assert_eq!(code, 1, "books-ms-tests with the service down:\n{output}");
    assert!(output.contains("FAILED"), "{output}");
}
