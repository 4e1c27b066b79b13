//! A compose project on one engine: observe it into plain values, and carry out the operations a
//! plan names. No decisions are made here beyond how to express a decided operation in Engine API
//! terms.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::models::{NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use hoist_core::hash::config_hash;
use hoist_core::observed::{
    Health, Observed, ObservedContainer, ObservedNetwork, ObservedPort, ObservedVolume, RunState,
};
use hoist_core::spec::{COMPOSE_VERSION_LABEL, ProjectSpec, ServiceSpec, labels};
use serde_json::{Map, Value, json};

use crate::ids::{self, Kind};
use crate::{Engine, EngineError};

fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    [(
        "label".to_string(),
        vec![format!("{}={project}", labels::PROJECT)],
    )]
    .into()
}

/// `Up 3 minutes (healthy)` → health.
pub(crate) fn health_from_status(status: &str) -> Option<Health> {
    if status.contains("(healthy)") {
        Some(Health::Healthy)
    } else if status.contains("(unhealthy)") {
        Some(Health::Unhealthy)
    } else if status.contains("(health: starting)") {
        Some(Health::Starting)
    } else {
        None
    }
}

impl Engine {
    /// Containers of `project` (one-offs included), the networks and volumes whose names are
    /// given, and the local ids of `images`.
    pub async fn observe_project(
        &self,
        project: &str,
        networks: &[String],
        volumes: &[String],
        images: &[String],
    ) -> Result<Observed, EngineError> {
        let docker = self.client();
        let list = docker.list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&project_filter(project))
                .build(),
        ));
        let nets = async {
            if networks.is_empty() {
                return Ok(Vec::new());
            }
            docker
                .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
                .await
        };
        let vols = async {
            if volumes.is_empty() {
                return Ok(None);
            }
            docker
                .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
                .await
                .map(|v| v.volumes)
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let imgs = futures_util::future::join_all(images.iter().map(|reference| async move {
            // A reference the grammar rejects cannot be local: it reads as absent.
            let image = docker
                .inspect_image(ids::image(reference).ok()?)
                .await
                .ok()?;
            // Never tagged here (the engine's zero time): as old as can be.
            let tagged = image
                .metadata
                .and_then(|m| m.last_tag_time)
                .and_then(|t| crate::inventory::rfc3339_seconds(&t))
                .unwrap_or(0);
            let age = u64::try_from(now - tagged).unwrap_or(0);
            image
                .id
                .map(|id| ((reference.clone(), id), (reference.clone(), age)))
        }));
        let (list, nets, vols, imgs) = tokio::join!(list, nets, vols, imgs);
        let list = list.map_err(|e| EngineError::new("listing the project's containers", e))?;
        let nets = nets.map_err(|e| EngineError::new("listing networks", e))?;
        let vols = vols.map_err(|e| EngineError::new("listing volumes", e))?;

        let containers = list
            .into_iter()
            .map(|c| {
                let labels: BTreeMap<String, String> =
                    c.labels.unwrap_or_default().into_iter().collect();
                let status = c.status.unwrap_or_default();
                let state = RunState::parse(&c.state.map(|s| s.to_string()).unwrap_or_default());
                ObservedContainer {
                    id: c.id.unwrap_or_default(),
                    name: canonical_name(&c.names.unwrap_or_default()),
                    service: labels.get(labels::SERVICE).cloned().unwrap_or_default(),
                    number: labels
                        .get(labels::NUMBER)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                    oneoff: labels.get(labels::ONEOFF).is_some_and(|v| v == "True"),
                    config_hash: labels.get(labels::CONFIG_HASH).cloned(),
                    image: c.image.unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    command: c.command.unwrap_or_default(),
                    exit_code: exit_code_from_status(&status),
                    health: health_from_status(&status),
                    state,
                    status,
                    created: c.created.unwrap_or_default(),
                    ports: c
                        .ports
                        .unwrap_or_default()
                        .into_iter()
                        .map(|p| ObservedPort {
                            private_port: p.private_port,
                            public_port: p.public_port,
                            host_ip: p.ip,
                            protocol: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
                        })
                        .collect(),
                    labels,
                }
            })
            .collect();
        Ok(Observed {
            containers,
            networks: nets
                .into_iter()
                .filter(|n| n.name.as_ref().is_some_and(|name| networks.contains(name)))
                .map(|n| ObservedNetwork {
                    id: n.id.unwrap_or_default(),
                    name: n.name.unwrap_or_default(),
                    labels: n.labels.unwrap_or_default().into_iter().collect(),
                })
                .collect(),
            volumes: vols
                .unwrap_or_default()
                .into_iter()
                .filter(|v| volumes.contains(&v.name))
                .map(|v| ObservedVolume {
                    name: v.name,
                    labels: v.labels.into_iter().collect(),
                })
                .collect(),
            images: imgs.iter().flatten().map(|(id, _)| id.clone()).collect(),
            image_ages: imgs.into_iter().flatten().map(|(_, age)| age).collect(),
        })
    }

    /// Creates the network of the project named `name`.
    pub async fn create_project_network(
        &self,
        project: &ProjectSpec,
        name: &str,
    ) -> Result<(), EngineError> {
        let Some(spec) = project.networks.iter().find(|n| n.name == name) else {
            return Err(EngineError::message(format!(
                "network {name} is not part of project {}",
                project.name
            )));
        };
        let labels_map = resource_labels(&spec.labels, project, labels::NETWORK, &spec.key)
            .with_hash(hoist_core::hash::resource_hash(spec));
        let ipam = (!spec.subnets.is_empty()).then(|| bollard::models::Ipam {
            config: Some(
                spec.subnets
                    .iter()
                    .map(|s| bollard::models::IpamConfig {
                        subnet: Some(s.clone()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        });
        self.client()
            .create_network(NetworkCreateRequest {
                name: name.to_string(),
                driver: Some(spec.driver.clone().unwrap_or_else(|| "bridge".into())),
                internal: Some(spec.internal),
                attachable: Some(spec.attachable),
                enable_ipv6: Some(spec.enable_ipv6),
                labels: Some(labels_map),
                options: Some(spec.driver_opts.clone().into_iter().collect()),
                ipam,
                ..Default::default()
            })
            .await
            .map_err(|e| EngineError::new(format!("creating network {name}"), e))?;
        Ok(())
    }

    pub async fn create_project_volume(
        &self,
        project: &ProjectSpec,
        name: &str,
    ) -> Result<(), EngineError> {
        let Some(spec) = project.volumes.iter().find(|v| v.name == name) else {
            return Err(EngineError::message(format!(
                "volume {name} is not part of project {}",
                project.name
            )));
        };
        let labels_map = resource_labels(&spec.labels, project, labels::VOLUME, &spec.key)
            .with_hash(hoist_core::hash::resource_hash(spec));
        self.client()
            .create_volume(bollard::models::VolumeCreateRequest {
                name: Some(name.to_string()),
                driver: Some(spec.driver.clone().unwrap_or_else(|| "local".into())),
                driver_opts: Some(spec.driver_opts.clone().into_iter().collect()),
                labels: Some(labels_map),
                ..Default::default()
            })
            .await
            .map_err(|e| EngineError::new(format!("creating volume {name}"), e))?;
        Ok(())
    }

    /// The service with the containers it shares from (`container:NAME` network, IPC and PID
    /// modes, `volumes_from`) named by their engine id, as Compose passes them: the reference
    /// keeps to the container it was made with, even once another takes its name.
    async fn with_container_ids<'s>(
        &self,
        service: &'s ServiceSpec,
        request: &mut CreateRequest,
    ) -> Result<std::borrow::Cow<'s, ServiceSpec>, EngineError> {
        let c = &service.container;
        let refers =
            |mode: &Option<String>| mode.as_deref().is_some_and(|m| m.starts_with("container:"));
        let shares = [&c.network_mode, &c.ipc, &c.pid, &request.network_mode]
            .into_iter()
            .any(refers)
            || !c.volumes_from.is_empty();
        if !shares {
            return Ok(std::borrow::Cow::Borrowed(service));
        }
        // The configuration hash stays that of the service as written, not of the ids.
        request
            .labels
            .entry(labels::CONFIG_HASH.to_string())
            .or_insert_with(|| config_hash(service));
        let mut service = service.clone();
        let spec = &mut service.container;
        for mode in [
            &mut spec.network_mode,
            &mut spec.ipc,
            &mut spec.pid,
            &mut request.network_mode,
        ] {
            if let Some(name) = mode.as_deref().and_then(|m| m.strip_prefix("container:")) {
                *mode = Some(format!("container:{}", self.container_id(name).await?));
            }
        }
        for entry in &mut spec.volumes_from {
            let (name, access) = match entry.split_once(':') {
                Some((name, access)) => (name, Some(access)),
                None => (entry.as_str(), None),
            };
            let id = self.container_id(name).await?;
            *entry = match access {
                Some(access) => format!("{id}:{access}"),
                None => id,
            };
        }
        Ok(std::borrow::Cow::Owned(service))
    }

    /// A health check's `start_interval` needs Docker Engine 25 (API 1.44) and a start period,
    /// as Compose checks it: refused before anything is created, not silently dropped.
    fn check_health_start_interval(&self, service: &ServiceSpec) -> Result<(), EngineError> {
        let Some(h) = &service.container.healthcheck else {
            return Ok(());
        };
        if h.start_interval_ns.is_none() {
            return Ok(());
        }
        let version = self.api_version();
        let (major, minor) = version.split_once('.').unwrap_or((&version, "0"));
        let numeric = (
            major.parse::<u32>().unwrap_or(0),
            minor.parse::<u32>().unwrap_or(0),
        );
        if numeric < (1, 44) {
            return Err(EngineError::message(
                "can't set healthcheck.start_interval as feature require Docker Engine v25 or later",
            ));
        }
        if h.start_period_ns.is_none() {
            return Err(EngineError::message(
                "healthcheck.start_interval requires healthcheck.start_period to be set",
            ));
        }
        Ok(())
    }

    /// (path, volume name) of the anonymous volumes `container` mounts: volumes the engine named
    /// (64 hex characters), not the project's named ones.
    pub async fn anonymous_volumes(
        &self,
        container: &str,
    ) -> Result<Vec<(String, String)>, EngineError> {
        let name = ids::container(container)?;
        let inspect = self
            .client()
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| EngineError::new(format!("inspecting container {name}"), e))?;
        Ok(inspect
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.typ.as_deref() == Some("volume"))
            .filter_map(|m| Some((m.destination?, m.name?)))
            .filter(|(_, volume)| {
                volume.len() == 64 && volume.chars().all(|c| c.is_ascii_hexdigit())
            })
            .collect())
    }

    /// Whether container `name` is running now (false when it is gone).
    pub async fn is_running(&self, name: &str) -> Result<bool, EngineError> {
        let name = ids::container(name)?;
        match self
            .client()
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspect) => Ok(inspect.state.and_then(|s| s.running).unwrap_or(false)),
            Err(e) if crate::error::is_not_found(&e) => Ok(false),
            Err(e) => Err(EngineError::new(format!("inspecting container {name}"), e)),
        }
    }

    /// The full id of the container `name` (a name or an id).
    async fn container_id(&self, name: &str) -> Result<String, EngineError> {
        let name = ids::container(name)?;
        let inspect = self
            .client()
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| EngineError::new(format!("inspecting container {name}"), e))?;
        inspect
            .id
            .ok_or_else(|| EngineError::message(format!("container {name} has no id")))
    }

    /// Creates replica `number` of `service` named `name`; `oneoff` marks `run` containers.
    /// Returns the container id.
    pub async fn create_service_container(
        &self,
        project: &ProjectSpec,
        service: &ServiceSpec,
        request: &CreateRequest,
    ) -> Result<String, EngineError> {
        let mut request = request.clone();
        if request.image_id.is_none() {
            request.image_id = self
                .inspect_image(ids::image(&service.image)?)
                .await
                .ok()
                .flatten()
                .map(|i| i.id);
        }
        self.check_health_start_interval(service)?;
        let service = &self.with_container_ids(service, &mut request).await?;
        let request = &request;
        let body = container_body(project, service, request);
        // Sent as built, not through bollard's typed body: that one has only the fields of the
        // newest API, and an API 1.41 engine reads the MAC address from `Config.MacAddress`.
        let answer = self
            .create_container_raw(
                &request.name,
                &body,
                &format!("creating container {}", request.name),
            )
            .await?;
        let created: bollard::models::ContainerCreateResponse = serde_json::from_slice(&answer)
            .map_err(|e| {
                EngineError::message(format!(
                    "the engine's answer to creating container {}: {e}",
                    request.name
                ))
            })?;
        self.inject_files(&request.name, &service.container.files)
            .await?;
        // API 1.41 takes one network at create time; the others are connected before start.
        for attachment in service.networks.iter().skip(1) {
            if request.network_mode.is_some() {
                break;
            }
            self.client()
                .connect_network(
                    ids::object(Kind::Network, &attachment.network)?,
                    NetworkConnectRequest {
                        container: request.name.clone(),
                        endpoint_config: Some(
                            serde_json::from_value(endpoint(project, service, attachment, request))
                                .unwrap_or_default(),
                        ),
                    },
                )
                .await
                .map_err(|e| {
                    EngineError::new(
                        format!(
                            "connecting container {} to network {}",
                            request.name, attachment.network
                        ),
                        e,
                    )
                })?;
        }
        Ok(created.id)
    }

    /// Writes the service's secrets and configs into a created container.
    async fn inject_files(
        &self,
        container: &str,
        files: &[hoist_core::spec::InjectedFile],
    ) -> Result<(), EngineError> {
        let uploads: Vec<crate::archive::FileUpload> = files
            .iter()
            .map(|f| {
                let (uid, gid) = f.owner.unwrap_or((0, 0));
                crate::archive::FileUpload::new(&f.path, f.content.to_vec(), f.mode)
                    .owned_by(uid, gid)
            })
            .collect();
        self.upload_files(container, &uploads)
            .await
            .map_err(|e| EngineError::message(format!("container {container}: {e}")))
    }

    /// `POST /containers/create?name=NAME` with `body` sent exactly as given (bollard's typed
    /// body only has the newest API's fields). The one place that puts a container name into
    /// that path; the name is checked first.
    /// `operation` names the attempt in the error (`creating container x`).
    pub(crate) async fn create_container_raw(
        &self,
        name: &str,
        body: &Value,
        operation: &str,
    ) -> Result<bytes::Bytes, EngineError> {
        let name = ids::container(name)?;
        let path = format!("/v{}/containers/create?name={name}", self.api_version());
        self.route
            .post_json(&path, body)
            .await
            .map_err(|e| EngineError::new(operation, e))
    }

    pub async fn start_container(&self, name: &str) -> Result<(), EngineError> {
        let name = ids::container(name)?;
        self.client()
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(|e| EngineError::new(format!("starting container {name}"), e))
    }

    pub async fn stop_container(
        &self,
        name: &str,
        timeout: Option<u64>,
    ) -> Result<(), EngineError> {
        let name = ids::container(name)?;
        let mut opts = StopContainerOptionsBuilder::default();
        if let Some(t) = timeout {
            opts = opts.t(t as i32);
        }
        match self.client().stop_container(name, Some(opts.build())).await {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::new(format!("stopping container {name}"), e)),
        }
    }

    /// Removes a container; `volumes` also removes its anonymous volumes.
    pub async fn remove_container(
        &self,
        name: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), EngineError> {
        let name = ids::container(name)?;
        self.client()
            .remove_container(
                name,
                Some(
                    RemoveContainerOptionsBuilder::default()
                        .force(force)
                        .v(volumes)
                        .build(),
                ),
            )
            .await
            .map_err(|e| EngineError::new(format!("removing container {name}"), e))
    }

    /// Removes a container as `down` does: forced, and done when the container is already gone
    /// or already being removed by the engine.
    pub async fn remove_container_for_down(
        &self,
        name: &str,
        volumes: bool,
    ) -> Result<(), EngineError> {
        let name = ids::container(name)?;
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(volumes)
            .build();
        match self.client().remove_container(name, Some(options)).await {
            Err(e) if !crate::error::removal_under_way(&e) => {
                Err(EngineError::new(format!("removing container {name}"), e))
            }
            _ => Ok(()),
        }
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        let name = ids::object(Kind::Network, name)?;
        self.client()
            .remove_network(name)
            .await
            .map_err(|e| EngineError::new(format!("removing network {name}"), e))
    }

    /// Whether the engine has a network named `name`.
    pub async fn network_exists(&self, name: &str) -> Result<bool, EngineError> {
        let name = ids::object(Kind::Network, name)?;
        match self
            .client()
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(EngineError::new(format!("inspecting network {name}"), e)),
        }
    }

    /// Takes `container` off `network`, forcibly (it may be stopped).
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
    ) -> Result<(), EngineError> {
        let network = ids::object(Kind::Network, network)?;
        let container = ids::container(container)?;
        self.client()
            .disconnect_network(
                network,
                bollard::models::NetworkDisconnectRequest {
                    container: container.to_string(),
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| {
                EngineError::new(
                    format!("disconnecting container {container} from network {network}"),
                    e,
                )
            })
    }

    /// Puts `container` on `network`, with no endpoint settings of its own.
    pub async fn connect_network_plain(
        &self,
        network: &str,
        container: &str,
    ) -> Result<(), EngineError> {
        let network = ids::object(Kind::Network, network)?;
        let container = ids::container(container)?;
        self.client()
            .connect_network(
                network,
                NetworkConnectRequest {
                    container: container.to_string(),
                    endpoint_config: None,
                },
            )
            .await
            .map_err(|e| {
                EngineError::new(
                    format!("connecting container {container} to network {network}"),
                    e,
                )
            })
    }

    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let name = ids::object(Kind::Volume, name)?;
        self.client()
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
            .map_err(|e| EngineError::new(format!("removing volume {name}"), e))
    }

    /// The engine's inspect document of a container, as JSON (for `inspect` and templates).
    pub async fn inspect_container_json(&self, name: &str) -> Result<Value, EngineError> {
        let name = ids::container(name)?;
        let inspect = self
            .client()
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| EngineError::new(format!("inspecting container {name}"), e))?;
        serde_json::to_value(inspect)
            .map_err(|e| EngineError::message(format!("encoding inspect of {name}: {e}")))
    }

    /// Waits until the container's health check passes. Fails when it turns unhealthy, the
    /// container stops, or `timeout` passes. A container without a health check fails when
    /// `require_check` (a `service_healthy` dependency, as Compose does) and counts as ready once
    /// running otherwise (`--wait`).
    pub async fn wait_healthy(
        &self,
        name: &str,
        timeout: Duration,
        require_check: bool,
    ) -> Result<(), EngineError> {
        let name = ids::container(name)?;
        let deadline = Instant::now() + timeout;
        loop {
            // As Compose, the first look comes one tick after the start: a container that exits
            // at once is then reported as exited, not as lacking a health check.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let inspect = self
                .client()
                .inspect_container(name, None::<InspectContainerOptions>)
                .await
                .map_err(|e| EngineError::new(format!("inspecting container {name}"), e))?;
            let state = inspect.state.unwrap_or_default();
            let health = state
                .health
                .as_ref()
                .and_then(|h| h.status)
                .map(|s| s.to_string());
            match health.as_deref() {
                Some("healthy") => return Ok(()),
                Some("unhealthy") => {
                    return Err(EngineError::message(format!(
                        "container {name} is unhealthy"
                    )));
                }
                None | Some("none") | Some("") if state.running == Some(true) => {
                    if require_check {
                        return Err(EngineError::message(format!(
                            "container {name} has no healthcheck configured"
                        )));
                    }
                    return Ok(());
                }
                _ => {}
            }
            if state.running != Some(true) && state.restarting != Some(true) {
                return Err(EngineError::message(format!(
                    "container {name} exited ({})",
                    state.exit_code.unwrap_or_default()
                )));
            }
            if Instant::now() >= deadline {
                return Err(EngineError::message(format!(
                    "container {name} was not healthy within {}s",
                    timeout.as_secs()
                )));
            }
        }
    }

    /// Waits until the container stops and returns its exit code.
    pub async fn wait_exit(&self, name: &str) -> Result<i64, EngineError> {
        let name = ids::container(name)?;
        use futures_util::StreamExt;
        let mut stream = self.client().wait_container(
            name,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(EngineError::new(format!("waiting for container {name}"), e)),
            None => Err(EngineError::message(format!(
                "the engine closed the wait on container {name} without an exit code"
            ))),
        }
    }

    /// Waits until the container has exited with status 0.
    pub async fn wait_completed(&self, name: &str, timeout: Duration) -> Result<(), EngineError> {
        let name = ids::container(name)?;
        let deadline = Instant::now() + timeout;
        loop {
            let inspect = self
                .client()
                .inspect_container(name, None::<InspectContainerOptions>)
                .await
                .map_err(|e| EngineError::new(format!("inspecting container {name}"), e))?;
            let state = inspect.state.unwrap_or_default();
            if state.running != Some(true) && state.restarting != Some(true) {
                let code = state.exit_code.unwrap_or_default();
                if code == 0 {
                    return Ok(());
                }
                return Err(EngineError::message(format!(
                    "container {name} exited with code {code}"
                )));
            }
            if Instant::now() >= deadline {
                return Err(EngineError::message(format!(
                    "container {name} did not complete within {}s",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Names of the engine's networks and volumes carrying the project label (for `down` of a
    /// project whose file is gone, and for `ls`).
    pub async fn project_networks(&self, project: &str) -> Result<Vec<String>, EngineError> {
        let nets = self
            .client()
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&project_filter(project))
                    .build(),
            ))
            .await
            .map_err(|e| EngineError::new("listing networks", e))?;
        Ok(nets.into_iter().filter_map(|n| n.name).collect())
    }

    pub async fn project_volumes(&self, project: &str) -> Result<Vec<String>, EngineError> {
        let vols = self
            .client()
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&project_filter(project))
                    .build(),
            ))
            .await
            .map_err(|e| EngineError::new("listing volumes", e))?;
        Ok(vols
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }
}

/// A network's or volume's own labels plus Compose's bookkeeping ones (project, its key in the
/// file under `key_label`, version), so `docker compose` and `down` recognise it.
fn resource_labels(
    own: &BTreeMap<String, String>,
    project: &ProjectSpec,
    key_label: &str,
    key: &str,
) -> HashMap<String, String> {
    let mut all: HashMap<String, String> = own.clone().into_iter().collect();
    all.insert(labels::PROJECT.into(), project.name.clone());
    all.insert(key_label.into(), key.to_string());
    all.insert(labels::VERSION.into(), COMPOSE_VERSION_LABEL.into());
    all
}

/// Adds the resource's `com.docker.compose.config-hash` to its labels.
trait WithHash {
    fn with_hash(self, hash: String) -> Self;
}

impl WithHash for HashMap<String, String> {
    fn with_hash(mut self, hash: String) -> Self {
        self.insert(labels::CONFIG_HASH.into(), hash);
        self
    }
}

/// One compose project on an engine, as `ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSummary {
    pub name: String,
    /// Container count per state (`running`, `exited`, ...).
    pub states: BTreeMap<String, usize>,
    pub config_files: String,
}

impl Engine {
    /// Every compose project with containers on this engine (by the compose project label).
    pub async fn list_projects(&self) -> Result<Vec<ProjectSummary>, EngineError> {
        let filter: HashMap<String, Vec<String>> =
            [("label".to_string(), vec![labels::PROJECT.to_string()])].into();
        let list = self
            .client()
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .map_err(|e| EngineError::new("listing containers", e))?;
        let mut projects: BTreeMap<String, ProjectSummary> = BTreeMap::new();
        for c in list {
            let labels_map = c.labels.unwrap_or_default();
            let Some(name) = labels_map.get(labels::PROJECT) else {
                continue;
            };
            let entry = projects
                .entry(name.clone())
                .or_insert_with(|| ProjectSummary {
                    name: name.clone(),
                    states: BTreeMap::new(),
                    config_files: labels_map
                        .get(labels::CONFIG_FILES)
                        .cloned()
                        .unwrap_or_default(),
                });
            let state = c.state.map(|s| s.to_string()).unwrap_or_default();
            *entry.states.entry(state).or_default() += 1;
        }
        Ok(projects.into_values().collect())
    }
}

/// A linked container is also listed as `/linker/alias`; its own name has one slash.
pub(crate) fn canonical_name(names: &[String]) -> String {
    names
        .iter()
        .find(|n| n.matches('/').count() == 1)
        .or_else(|| names.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

/// What differs between containers of one service: name, number, one-off overrides.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    pub number: u32,
    pub oneoff: bool,
    /// `run COMMAND...`
    pub command: Option<Vec<String>>,
    /// `run -e K=V`, appended after the service's environment.
    pub extra_env: Vec<String>,
    /// `run` without `--service-ports` publishes nothing.
    pub no_ports: bool,
    /// `run -T` disables the TTY; `run` defaults to one when stdin is a terminal.
    pub tty: Option<bool>,
    pub stdin_open: Option<bool>,
    /// `run` attaches to the container's stdin (`AttachStdin`, and `StdinOnce` with an open
    /// stdin: it closes when hoist's input ends).
    pub attach_stdin: bool,
    /// Overrides the service's network mode (unused by default).
    pub network_mode: Option<String>,
    /// Extra labels (`io.hoist.color`).
    pub labels: BTreeMap<String, String>,
    /// The id of the service's image (`com.docker.compose.image`); looked up when `None`.
    pub image_id: Option<String>,
    /// (path, volume): anonymous volumes of the container this one replaces, mounted again at
    /// the same paths.
    pub inherited_volumes: Vec<(String, String)>,
    /// `run --use-aliases`: a one-off container answers to the service's aliases too.
    pub use_aliases: bool,
}

/// The Engine API create body for one container, as JSON in the API's own field names.
pub fn container_body(
    project: &ProjectSpec,
    service: &ServiceSpec,
    request: &CreateRequest,
) -> Value {
    let spec = &service.container;
    let mut labels_map: BTreeMap<String, String> = spec.labels.clone();
    labels_map.insert(labels::PROJECT.into(), project.name.clone());
    labels_map.insert(labels::SERVICE.into(), service.name.clone());
    // One-off containers are not numbered, as Compose leaves them.
    if !request.oneoff {
        labels_map.insert(labels::NUMBER.into(), request.number.to_string());
    }
    labels_map.insert(
        labels::ONEOFF.into(),
        if request.oneoff { "True" } else { "False" }.into(),
    );
    labels_map.insert(labels::CONFIG_HASH.into(), config_hash(service));
    labels_map.insert(labels::VERSION.into(), COMPOSE_VERSION_LABEL.into());
    labels_map.insert(labels::WORKING_DIR.into(), project.working_dir.clone());
    labels_map.insert(labels::CONFIG_FILES.into(), project.config_files.join(","));
    if !project.env_files.is_empty() {
        labels_map.insert(labels::ENVIRONMENT_FILE.into(), project.env_files.join(","));
    }
    // As Compose: the id of the image the container was created from, when known.
    labels_map.insert(
        labels::IMAGE.into(),
        request
            .image_id
            .clone()
            .unwrap_or_else(|| service.image.clone()),
    );
    if !service.depends_on.is_empty() {
        let deps: Vec<String> = service
            .depends_on
            .iter()
            .map(|d| {
                let condition = serde_json::to_value(d.condition)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                format!("{}:{condition}:{}", d.service, d.restart)
            })
            .collect();
        labels_map.insert(labels::DEPENDS_ON.into(), deps.join(","));
    }
    if project.legacy {
        labels_map.insert(labels::LEGACY.into(), "true".into());
    }
    labels_map.extend(request.labels.clone());

    let mut env = spec.env.clone();
    for extra in &request.extra_env {
        let key = extra.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(extra.clone());
    }

    let mut exposed = Map::new();
    for port in &spec.exposed_ports {
        exposed.insert(port.clone(), json!({}));
    }
    let mut bindings: Map<String, Value> = Map::new();
    if !request.no_ports {
        for binding in &spec.ports {
            exposed.insert(binding.container_port.clone(), json!({}));
            let entry = bindings
                .entry(binding.container_port.clone())
                .or_insert_with(|| json!([]));
            entry.as_array_mut().expect("array").push(json!({
                "HostIp": binding.host_ip.clone().unwrap_or_default(),
                "HostPort": binding.host_port.clone().unwrap_or_default(),
            }));
        }
    }

    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    for m in &spec.mounts {
        // Compose binds host paths it may create and named volumes through the older `Binds`
        // API (`buildContainerVolumes`), and always names the access mode, so the engine
        // records what Compose's containers show.
        let named_volume = m.kind == "volume" && !m.source.is_empty();
        if (m.kind == "bind" && m.create_host_path) || named_volume {
            let access = if m.read_only { "ro" } else { "rw" };
            binds.push(format!("{}:{}:{access}", m.source, m.target));
        } else {
            let inherited = request
                .inherited_volumes
                .iter()
                .find(|(path, _)| m.kind == "volume" && m.source.is_empty() && *path == m.target);
            if let Some((_, volume)) = inherited {
                mounts.push(json!({"Type": "volume", "Source": volume, "Target": m.target, "ReadOnly": m.read_only}));
                continue;
            }
            let mut mount = json!({"Type": m.kind, "Target": m.target, "ReadOnly": m.read_only});
            if m.kind == "volume" {
                // As Compose sends an anonymous volume, so the engine records the same mount.
                mount["VolumeOptions"] = json!({});
            }
            if m.bind_options {
                mount["BindOptions"] = json!({});
            }
            if !m.source.is_empty() {
                mount["Source"] = json!(m.source);
            }
            mounts.push(mount);
        }
    }

    let network_mode = request
        .network_mode
        .clone()
        .or_else(|| spec.network_mode.clone());
    let mut host_config = json!({
        "PortBindings": bindings,
        "Binds": binds,
        "Mounts": mounts,
        "Privileged": spec.privileged,
        "CapAdd": spec.cap_add,
        "CapDrop": spec.cap_drop,
        "ExtraHosts": spec.extra_hosts,
        "Dns": spec.dns,
        "DnsSearch": spec.dns_search,
        "SecurityOpt": spec.security_opt,
        "ReadonlyRootfs": spec.read_only,
        "Tmpfs": spec.tmpfs,
        "Sysctls": spec.sysctls,
        "GroupAdd": spec.group_add,
        "VolumesFrom": spec.volumes_from,
    });
    let hc = host_config.as_object_mut().expect("object");
    if let Some(init) = spec.init {
        hc.insert("Init".into(), json!(init));
    }
    if let Some(v) = spec.shm_size {
        hc.insert("ShmSize".into(), json!(v));
    }
    if let Some(v) = spec.memory {
        hc.insert("Memory".into(), json!(v));
    }
    if let Some(v) = spec.nano_cpus {
        hc.insert("NanoCpus".into(), json!(v));
    }
    if let Some(v) = &spec.pid {
        hc.insert("PidMode".into(), json!(v));
    }
    if let Some(v) = &spec.ipc {
        hc.insert("IpcMode".into(), json!(v));
    }
    if let Some(log) = &spec.logging {
        hc.insert(
            "LogConfig".into(),
            json!({"Type": log.driver, "Config": log.options}),
        );
    }
    if !spec.ulimits.is_empty() {
        let ulimits: Vec<Value> = spec
            .ulimits
            .iter()
            .map(|(name, (soft, hard))| json!({"Name": name, "Soft": soft, "Hard": hard}))
            .collect();
        hc.insert("Ulimits".into(), json!(ulimits));
    }
    if !spec.devices.is_empty() {
        let devices: Vec<Value> = spec
            .devices
            .iter()
            .map(|d| {
                let mut parts = d.split(':');
                let host = parts.next().unwrap_or_default();
                let container = parts.next().unwrap_or(host);
                let perms = parts.next().unwrap_or("rwm");
                json!({"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": perms})
            })
            .collect();
        hc.insert("Devices".into(), json!(devices));
    }
    // A one-off container runs once: Compose drops the service's restart policy for it.
    if let Some(restart) = spec.restart.as_ref().filter(|_| !request.oneoff) {
        let (name, retries) = match restart.split_once(':') {
            Some((n, r)) => (n.to_string(), r.parse::<i64>().unwrap_or(0)),
            None => (restart.clone(), 0),
        };
        hc.insert(
            "RestartPolicy".into(),
            json!({"Name": name, "MaximumRetryCount": retries}),
        );
    }
    let mut networking = Map::new();
    if let Some(mode) = &network_mode {
        // `service:NAME` was resolved to `container:<container name>` when the spec was built.
        hc.insert("NetworkMode".into(), json!(mode));
        if project.legacy || mode == "bridge" || mode == "default" {
            let links: Vec<String> = service
                .links
                .iter()
                .filter_map(|l| {
                    project
                        .service(&l.service)
                        .map(|target| format!("{}:{}", project.container_name(target, 1), l.alias))
                })
                .collect();
            if !links.is_empty() {
                hc.insert("Links".into(), json!(links));
            }
        }
    } else if let Some(first) = service.networks.first() {
        hc.insert("NetworkMode".into(), json!(first.network));
        networking.insert(
            first.network.clone(),
            endpoint(project, service, first, request),
        );
    }

    let open_stdin = request.stdin_open.unwrap_or(spec.stdin_open);
    let mut body = json!({
        "Image": spec.image,
        "Env": env,
        "Labels": labels_map,
        "ExposedPorts": exposed,
        "Tty": request.tty.unwrap_or(spec.tty),
        "OpenStdin": open_stdin,
        "AttachStdin": request.attach_stdin,
        "StdinOnce": request.attach_stdin && open_stdin,
        "HostConfig": host_config,
        "NetworkingConfig": {"EndpointsConfig": networking},
    });
    let b = body.as_object_mut().expect("object");
    if let Some(cmd) = request.command.clone().or_else(|| spec.cmd.clone()) {
        b.insert("Cmd".into(), json!(cmd));
    }
    if let Some(v) = &spec.entrypoint {
        b.insert("Entrypoint".into(), json!(v));
    }
    for (key, value) in [
        ("WorkingDir", &spec.working_dir),
        ("User", &spec.user),
        ("Hostname", &spec.hostname),
        ("Domainname", &spec.domainname),
        ("StopSignal", &spec.stop_signal),
        ("MacAddress", &spec.mac_address),
    ] {
        if let Some(v) = value {
            b.insert(key.into(), json!(v));
        }
    }
    if let Some(t) = spec.stop_timeout {
        b.insert("StopTimeout".into(), json!(t));
    }
    if spec.healthcheck_disabled {
        b.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
    } else if let Some(h) = &spec.healthcheck {
        let mut health = json!({"Test": h.test});
        let ho = health.as_object_mut().expect("object");
        for (key, value) in [
            ("Interval", h.interval_ns),
            ("Timeout", h.timeout_ns),
            ("StartPeriod", h.start_period_ns),
            ("StartInterval", h.start_interval_ns),
            ("Retries", h.retries),
        ] {
            if let Some(v) = value {
                ho.insert(key.into(), json!(v));
            }
        }
        b.insert("Healthcheck".into(), health);
    }
    body
}

fn endpoint(
    project: &ProjectSpec,
    service: &ServiceSpec,
    attachment: &hoist_core::spec::NetworkAttachment,
    request: &CreateRequest,
) -> Value {
    // As Compose: the container's own name first; services (not one-off containers) are also
    // reachable by the service's name and the attachment's aliases.
    let mut aliases = vec![request.name.clone()];
    if !request.oneoff || request.use_aliases {
        aliases.push(service.name.clone());
        aliases.extend(attachment.aliases.iter().cloned());
    }
    let links: Vec<String> = service
        .links
        .iter()
        .filter_map(|l| {
            project
                .service(&l.service)
                .map(|target| format!("{}:{}", project.container_name(target, 1), l.alias))
        })
        .collect();
    let mut endpoint = json!({"Aliases": aliases});
    if !links.is_empty() {
        endpoint["Links"] = json!(links);
    }
    if attachment.ipv4_address.is_some() || attachment.ipv6_address.is_some() {
        endpoint["IPAMConfig"] = json!({
            "IPv4Address": attachment.ipv4_address,
            "IPv6Address": attachment.ipv6_address,
        });
    }
    endpoint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_gives_health_and_exit_codes() {
        assert_eq!(
            health_from_status("Up 2 seconds (healthy)"),
            Some(Health::Healthy)
        );
        assert_eq!(
            health_from_status("Up 1 second (health: starting)"),
            Some(Health::Starting)
        );
        assert_eq!(health_from_status("Up 5 minutes"), None);
        assert_eq!(
            exit_code_from_status("Exited (137) 3 seconds ago"),
            Some(137)
        );
        assert_eq!(exit_code_from_status("Up 1 second"), None);
        let names = ["/vagrant_app_1/db".to_string(), "/vagrant_db_1".to_string()];
        assert_eq!(canonical_name(&names), "vagrant_db_1");
    }
}
