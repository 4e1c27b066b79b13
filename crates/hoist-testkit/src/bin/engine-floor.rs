//! engine-floor: the engine's own floor for `up -d` and `down` of N independent services, for
//! benchmarks: the same calls a compose tool makes (create a network; create and start every
//! container concurrently; then stop and remove them concurrently and remove the network), issued
//! with no tool around them.
//!
//! Usage: engine-floor up|down PROJECT N IMAGE   (against the local engine)
//! Prints the wall time in seconds.

use std::collections::HashMap;
use std::time::Instant;

use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use futures_util::future::try_join_all;
use hoist_docker::{Engine, EngineSpec};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, verb, project, n, image] = args.as_slice() else {
        eprintln!("usage: engine-floor up|down PROJECT N IMAGE");
        std::process::exit(2);
    };
    let n: usize = n.parse()?;
    let engine = Engine::connect(&EngineSpec::local()).await?;
    let docker = engine.docker();
    let network = format!("{project}_default");
    let names: Vec<String> = (0..n).map(|i| format!("{project}-s{i}-1")).collect();
    let labels: HashMap<String, String> =
        [("com.docker.compose.project".to_string(), project.clone())].into();
    let started = Instant::now();
    match verb.as_str() {
        "up" => {
            docker
                .create_network(NetworkCreateRequest {
                    name: network.clone(),
                    labels: Some(labels.clone()),
                    ..Default::default()
                })
                .await?;
            try_join_all(names.iter().map(|name| {
                let labels = labels.clone();
                let network = network.clone();
                async move {
                    docker
                        .create_container(
                            Some(CreateContainerOptionsBuilder::default().name(name).build()),
                            ContainerCreateBody {
                                image: Some(image.clone()),
                                cmd: Some(vec!["sleep".into(), "infinity".into()]),
                                // As the benchmark's compose file says: `sleep` as PID 1
                                // ignores SIGTERM.
                                stop_signal: Some("SIGKILL".into()),
                                labels: Some(labels),
                                host_config: Some(HostConfig {
                                    network_mode: Some(network),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                        )
                        .await?;
                    docker
                        .start_container(name, None::<StartContainerOptions>)
                        .await
                }
            }))
            .await?;
        }
        "down" => {
            // What is not there (404) or already stopped (304) is already down: `down` also
            // serves as the benchmark's preparation from any state.
            let gone = |r: Result<(), bollard::errors::Error>| match r {
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 304 | 404,
                    ..
                }) => Ok(()),
                other => other,
            };
            try_join_all(names.iter().map(|name| async move {
                gone(
                    docker
                        .stop_container(
                            name,
                            Some(StopContainerOptionsBuilder::default().t(10).build()),
                        )
                        .await,
                )?;
                gone(
                    docker
                        .remove_container(
                            name,
                            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                        )
                        .await,
                )
            }))
            .await?;
            gone(docker.remove_network(&network).await)?;
        }
        other => {
            eprintln!("unknown verb {other}: expected up or down");
            std::process::exit(2);
        }
    }
    println!("{:.3}", started.elapsed().as_secs_f64());
    Ok(())
}
