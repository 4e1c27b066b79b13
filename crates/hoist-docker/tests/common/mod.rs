//! Shared set-up for the adapter's real-engine tests: containers made by hand, labelled with the
//! test's project so `TestProject` removes them.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, StartContainerOptions};
use hoist_docker::Engine;
use hoist_testkit::TestProject;

pub const BASE: &str = "debian:bookworm-slim";

/// Creates and starts `<project>-<suffix>` running `cmd` from `image`.
pub async fn run(
    engine: &Engine,
    project: &TestProject,
    suffix: &str,
    image: &str,
    cmd: &[&str],
    tty: bool,
) -> String {
    let name = format!("{}-{suffix}", project.name);
    engine
        .docker()
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            ContainerCreateBody {
                image: Some(image.into()),
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                tty: Some(tty),
                labels: Some(project.labels()),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"));
    engine
        .docker()
        .start_container(&name, None::<StartContainerOptions>)
        .await
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    name
}

/// Waits until the container has exited.
pub async fn wait_exited(engine: &Engine, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = engine
            .docker()
            .inspect_container(
                name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .expect("inspect")
            .state
            .and_then(|s| s.running);
        if state != Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} did not exit in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
