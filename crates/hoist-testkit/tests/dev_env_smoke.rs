//! Smoke test of the dev environment itself: the three engines answer over their transports (unix,
//! plain TCP into the prod namespace, TLS into the prod-tls namespace), containers and networks
//! can be created on the remote ones, and an image pushed from cd to the registry can be pulled on
//! prod through 10.200.0.1:5000, as the book's prod pulls from cd's registry.

use bollard::models::{ContainerCreateBody, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, PushImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use futures_util::TryStreamExt;
use hoist_docker::Engine;
use hoist_testkit::{REGISTRY_FROM_CD, REGISTRY_FROM_PROD, TestProject, engine};

const BASE: &str = "debian:bookworm-slim";

async fn network_and_container(engine: &Engine, project: &TestProject) {
    let docker = engine.docker();
    let net = format!("{}_default", project.name);
    docker
        .create_network(NetworkCreateRequest {
            name: net.clone(),
            labels: Some(project.labels()),
            ..Default::default()
        })
        .await
        .expect("create network");
    let name = format!("{}-probe-1", project.name);
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(BASE.into()),
                cmd: Some(vec!["sleep".into(), "60".into()]),
                labels: Some(project.labels()),
                host_config: Some(bollard::models::HostConfig {
                    network_mode: Some(net.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .expect("create container");
    docker
        .start_container(
            &name,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .expect("start container");
    let inspect = docker
        .inspect_container(
            &name,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .expect("inspect container");
    let state = inspect.state.expect("state");
    assert_eq!(state.running, Some(true), "container {name} should run");
    let networks = inspect
        .network_settings
        .and_then(|n| n.networks)
        .unwrap_or_default();
    assert!(
        networks.contains_key(&net),
        "attached to {net}: {networks:?}"
    );
}

#[tokio::test]
async fn prod_over_plain_tcp_runs_a_container_on_its_own_network() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    assert_eq!(prod.address().to_string(), "tcp://10.200.0.2:2375");
    let project = TestProject::new("smoke-prod", &[&prod]);
    network_and_container(&prod, &project).await;
}

#[tokio::test]
async fn prod_tls_over_verified_tls_runs_a_container_on_its_own_network() {
    let Some(prod_tls) = engine("prod-tls").await else {
        return;
    };
    assert_eq!(prod_tls.address().to_string(), "tcp://10.200.0.3:2376");
    let identity = prod_tls.identity().await.expect("version over TLS");
    assert!(!identity.version.is_empty());
    let project = TestProject::new("smoke-tls", &[&prod_tls]);
    network_and_container(&prod_tls, &project).await;
}

#[tokio::test]
async fn image_pushed_from_cd_is_pulled_on_prod_through_the_registry() {
    let Some(cd) = engine("cd").await else { return };
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("smoke-registry", &[&cd, &prod]);
    let repo = format!("hoist-smoke/{}", project.name);

    let pushed = format!("{REGISTRY_FROM_CD}/{repo}");
    cd.docker()
        .tag_image(
            BASE,
            Some(
                TagImageOptionsBuilder::default()
                    .repo(&pushed)
                    .tag("v1")
                    .build(),
            ),
        )
        .await
        .expect("tag on cd");
    project.track_image(0, &format!("{pushed}:v1"));
    let progress: Vec<_> = cd
        .docker()
        .push_image(
            &pushed,
            Some(PushImageOptionsBuilder::default().tag("v1").build()),
            None,
        )
        .try_collect()
        .await
        .expect("push from cd");
    assert!(
        progress.iter().all(|p| p.error_detail.is_none()),
        "push reported an error: {progress:?}"
    );

    let pulled = format!("{REGISTRY_FROM_PROD}/{repo}");
    let progress: Vec<_> = prod
        .docker()
        .create_image(
            Some(
                CreateImageOptionsBuilder::default()
                    .from_image(&pulled)
                    .tag("v1")
                    .build(),
            ),
            None,
            None,
        )
        .try_collect()
        .await
        .expect("pull on prod");
    project.track_image(1, &format!("{pulled}:v1"));
    assert!(
        progress.iter().all(|p| p.error_detail.is_none()),
        "pull reported an error: {progress:?}"
    );
    let on_prod = prod
        .docker()
        .inspect_image(&format!("{pulled}:v1"))
        .await
        .expect("pulled image is on prod");
    let on_cd = cd.docker().inspect_image(BASE).await.expect("base on cd");
    // Same content: the pulled image's layers are the ones pushed from cd.
    assert_eq!(
        on_prod.root_fs.and_then(|r| r.layers),
        on_cd.root_fs.and_then(|r| r.layers)
    );
}
