//! Everything an engine holds, as plain values: every container (not only one project's), images
//! with the containers that use them, networks with their subnets and members, volumes, and the
//! engine's own figures. The dashboard renders these; nothing here decides anything.
//!
//! Each listing is one Engine API call (plus one for `/info`), issued concurrently, so a whole
//! inventory of an engine with hundreds of containers costs a handful of round trips.

use std::collections::{BTreeMap, BTreeSet};

use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, ListImagesOptions, ListNetworksOptions,
    ListVolumesOptions, RestartContainerOptionsBuilder,
};
use hoist_core::observed::{Health, ObservedPort, RunState};
use hoist_core::spec::labels;
use serde::Serialize;

use crate::project::{canonical_name, health_from_status};
use crate::{Engine, EngineError};

/// One container of any project (or of none), as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    /// Compose project, service and blue-green colour, from the labels; empty when absent.
    pub project: String,
    pub service: String,
    pub color: String,
    pub image: String,
    pub image_id: String,
    pub state: RunState,
    pub status: String,
    pub health: Option<Health>,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<ObservedPort>,
    pub labels: BTreeMap<String, String>,
    /// Names of the networks the container is attached to.
    pub networks: Vec<String>,
}

/// One local image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    pub id: String,
    /// `repo:tag` references; empty for a dangling image.
    pub tags: Vec<String>,
    pub size: i64,
    pub created: i64,
    /// Names of the containers created from this image.
    pub used_by: Vec<String>,
}

/// One network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkSummary {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub scope: String,
    pub subnets: Vec<String>,
    /// Names of the containers attached to it.
    pub containers: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeSummary {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub labels: BTreeMap<String, String>,
    /// Names of the containers mounting it.
    pub used_by: Vec<String>,
}

/// What the engine says about itself (`/version` and `/info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub arch: String,
    pub name: String,
    pub containers: i64,
    pub running: i64,
    pub paused: i64,
    pub stopped: i64,
    pub images: i64,
}

/// A whole engine at one moment. `info.name` is left empty (it needs `/info`, see
/// [`Engine::engine_info`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub info: EngineInfo,
    pub containers: Vec<ContainerSummary>,
    pub images: Vec<ImageSummary>,
    pub networks: Vec<NetworkSummary>,
    pub volumes: Vec<VolumeSummary>,
}

impl Inventory {
    /// This inventory with `containers`: the container counts, and which containers use each
    /// image and sit on each network.
    pub fn with_containers(mut self, containers: Vec<ContainerSummary>) -> Inventory {
        let mut by_image: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut by_network: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for c in &containers {
            by_image.entry(&c.image_id).or_default().insert(&c.name);
            for n in &c.networks {
                by_network.entry(n).or_default().insert(&c.name);
            }
        }
        let names = |set: Option<&BTreeSet<&str>>| -> Vec<String> {
            set.map(|s| s.iter().map(|n| n.to_string()).collect())
                .unwrap_or_default()
        };
        for i in &mut self.images {
            i.used_by = names(by_image.get(i.id.as_str()));
        }
        for n in &mut self.networks {
            n.containers = names(by_network.get(n.name.as_str()));
        }
        let count =
            |f: fn(RunState) -> bool| containers.iter().filter(|c| f(c.state)).count() as i64;
        self.info.containers = containers.len() as i64;
        self.info.running = count(RunState::is_running);
        self.info.paused = count(|s| s == RunState::Paused);
        self.info.stopped = count(|s| !s.is_running() && s != RunState::Paused);
        self.info.images = self.images.len() as i64;
        drop(by_image);
        drop(by_network);
        self.containers = containers;
        self
    }
}

/// A mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountInfo {
    /// `bind`, `volume`, `tmpfs`.
    pub kind: String,
    /// Volume name or host path.
    pub source: String,
    pub destination: String,
    pub read_write: bool,
}

/// A container's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointInfo {
    pub network: String,
    pub ip_address: String,
    pub aliases: Vec<String>,
}

/// One container in detail, from its inspect document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerDetail {
    pub summary: ContainerSummary,
    pub command: Vec<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub restart_policy: String,
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: i64,
    /// `NAME=value` as the container sees them, unmasked: masking is the viewer's job.
    pub env: Vec<(String, String)>,
    pub mounts: Vec<MountInfo>,
    pub endpoints: Vec<EndpointInfo>,
    pub tty: bool,
}

fn label(map: &BTreeMap<String, String>, key: &str) -> String {
    map.get(key).cloned().unwrap_or_default()
}

fn summary_of(c: bollard::models::ContainerSummary) -> ContainerSummary {
    let labels: BTreeMap<String, String> = c.labels.unwrap_or_default().into_iter().collect();
    let status = c.status.unwrap_or_default();
    let mut networks: Vec<String> = c
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| n.into_keys().collect())
        .unwrap_or_default();
    networks.sort();
    let mut ports: Vec<ObservedPort> = c
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| ObservedPort {
            private_port: p.private_port,
            public_port: p.public_port,
            host_ip: p.ip,
            protocol: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into()),
        })
        .collect();
    ports.sort_by(|a, b| {
        (a.private_port, &a.protocol, &a.host_ip).cmp(&(b.private_port, &b.protocol, &b.host_ip))
    });
    ContainerSummary {
        id: c.id.unwrap_or_default(),
        name: canonical_name(&c.names.unwrap_or_default()),
        project: label(&labels, labels::PROJECT),
        service: label(&labels, labels::SERVICE),
        color: label(&labels, labels::COLOR),
        image: c.image.unwrap_or_default(),
        image_id: c.image_id.unwrap_or_default(),
        state: RunState::parse(&c.state.map(|s| s.to_string()).unwrap_or_default()),
        health: health_from_status(&status),
        status,
        created: c.created.unwrap_or_default(),
        ports,
        labels,
        networks,
    }
}

impl Engine {
    /// Every container on the engine, running or not, newest first.
    pub async fn list_all_containers(&self) -> Result<Vec<ContainerSummary>, EngineError> {
        let list = self
            .client()
            .list_containers(Some(
                ListContainersOptionsBuilder::default().all(true).build(),
            ))
            .await
            .map_err(|e| EngineError::new("listing containers", e))?;
        let mut out: Vec<ContainerSummary> = list.into_iter().map(summary_of).collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    /// `/version` and `/info` together.
    pub async fn engine_info(&self) -> Result<EngineInfo, EngineError> {
        let docker = self.client();
        let (version, info) = tokio::join!(docker.version(), docker.info());
        let version = version.map_err(|e| EngineError::new("reading the engine version", e))?;
        let info = info.map_err(|e| EngineError::new("reading the engine info", e))?;
        Ok(EngineInfo {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            os: version.os.unwrap_or_default(),
            arch: version.arch.unwrap_or_default(),
            name: info.name.unwrap_or_default(),
            containers: info.containers.unwrap_or_default(),
            running: info.containers_running.unwrap_or_default(),
            paused: info.containers_paused.unwrap_or_default(),
            stopped: info.containers_stopped.unwrap_or_default(),
            images: info.images.unwrap_or_default(),
        })
    }

    /// One container as [`Engine::list_all_containers`] shows it (the same listing, filtered to
    /// its id), or `None` when the engine no longer has it. What a watcher re-reads when an event
    /// names the container.
    pub async fn container_summary(
        &self,
        id: &str,
    ) -> Result<Option<ContainerSummary>, EngineError> {
        let filters: std::collections::HashMap<String, Vec<String>> =
            [("id".to_string(), vec![id.to_string()])].into();
        let list = self
            .client()
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| EngineError::new(format!("listing container {id}"), e))?;
        // The filter matches id prefixes: keep the container that is exactly this one.
        Ok(list
            .into_iter()
            .map(summary_of)
            .find(|c| c.id == id || (id.len() < 64 && c.id.starts_with(id))))
    }

    /// The whole engine: info, containers, images, networks and volumes, cross-referenced (which
    /// containers use an image, sit on a network, mount a volume).
    pub async fn inventory(&self) -> Result<Inventory, EngineError> {
        let (base, containers) = tokio::join!(
            self.inventory_without_containers(),
            self.list_all_containers()
        );
        Ok(base?.with_containers(containers?))
    }

    /// Everything but the containers: the engine's version, images, networks and volumes, which
    /// change only on image, network and volume events. [`Inventory::with_containers`] completes
    /// it.
    pub async fn inventory_without_containers(&self) -> Result<Inventory, EngineError> {
        let docker = self.client();
        // `/version` rather than `/info`: the engine's `/info` walks its whole state and is the
        // slowest call here, and the counts it gives follow from the lists anyway.
        let (version, images, networks, volumes) = tokio::join!(
            docker.version(),
            docker.list_images(None::<ListImagesOptions>),
            docker.list_networks(None::<ListNetworksOptions>),
            docker.list_volumes(None::<ListVolumesOptions>),
        );
        let version = version.map_err(|e| EngineError::new("reading the engine version", e))?;
        let images = images.map_err(|e| EngineError::new("listing images", e))?;
        let networks = networks.map_err(|e| EngineError::new("listing networks", e))?;
        let volumes = volumes.map_err(|e| EngineError::new("listing volumes", e))?;

        let mut images: Vec<ImageSummary> = images
            .into_iter()
            .map(|i| ImageSummary {
                used_by: Vec::new(),
                tags: i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                id: i.id,
                size: i.size,
                created: i.created,
            })
            .collect();
        images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));

        let mut networks: Vec<NetworkSummary> = networks
            .into_iter()
            .map(|n| NetworkSummary {
                containers: Vec::new(),
                id: n.id.unwrap_or_default(),
                driver: n.driver.unwrap_or_default(),
                scope: n.scope.unwrap_or_default(),
                subnets: n
                    .ipam
                    .and_then(|i| i.config)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| c.subnet)
                    .collect(),
                labels: n.labels.unwrap_or_default().into_iter().collect(),
                name: n.name.unwrap_or_default(),
            })
            .collect();
        networks.sort_by(|a, b| a.name.cmp(&b.name));

        let mut volumes: Vec<VolumeSummary> = volumes
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeSummary {
                used_by: Vec::new(),
                name: v.name,
                driver: v.driver,
                mountpoint: v.mountpoint,
                labels: v.labels.into_iter().collect(),
            })
            .collect();
        volumes.sort_by(|a, b| a.name.cmp(&b.name));

        Ok(Inventory {
            info: EngineInfo {
                version: version.version.unwrap_or_default(),
                api_version: version.api_version.unwrap_or_default(),
                os: version.os.unwrap_or_default(),
                arch: version.arch.unwrap_or_default(),
                images: images.len() as i64,
                ..Default::default()
            },
            containers: Vec::new(),
            images,
            networks,
            volumes,
        })
    }

    /// Fills in which containers mount each volume. A separate step because the container list
    /// does not name volumes reliably on every engine version; the volume page asks for it.
    pub async fn volume_users(&self) -> Result<BTreeMap<String, Vec<String>>, EngineError> {
        let list = self
            .client()
            .list_containers(Some(
                ListContainersOptionsBuilder::default().all(true).build(),
            ))
            .await
            .map_err(|e| EngineError::new("listing containers", e))?;
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in list {
            let name = canonical_name(c.names.as_deref().unwrap_or_default());
            for m in c.mounts.unwrap_or_default() {
                if let Some(volume) = m.name {
                    users.entry(volume).or_default().push(name.clone());
                }
            }
        }
        for list in users.values_mut() {
            list.sort();
        }
        Ok(users)
    }

    /// One container in detail, or `None` when the engine has no such container.
    pub async fn container_detail(
        &self,
        name_or_id: &str,
    ) -> Result<Option<ContainerDetail>, EngineError> {
        let name_or_id = crate::ids::container(name_or_id)?;
        let inspect = match self
            .client()
            .inspect_container(name_or_id, None::<InspectContainerOptions>)
            .await
        {
            Ok(i) => i,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => {
                return Err(EngineError::new(
                    format!("inspecting container {name_or_id}"),
                    e,
                ));
            }
        };
        let config = inspect.config.clone().unwrap_or_default();
        let state = inspect.state.clone().unwrap_or_default();
        let labels: BTreeMap<String, String> = config
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let health = state.health.as_ref().and_then(|h| h.status).and_then(|s| {
            match s.to_string().as_str() {
                "healthy" => Some(Health::Healthy),
                "unhealthy" => Some(Health::Unhealthy),
                "starting" => Some(Health::Starting),
                _ => None,
            }
        });
        let settings = inspect.network_settings.clone().unwrap_or_default();
        let mut ports = Vec::new();
        for (key, bindings) in settings.ports.clone().unwrap_or_default() {
            let (port, protocol) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
            let Ok(private_port) = port.parse::<u16>() else {
                continue;
            };
            let bindings = bindings.unwrap_or_default();
            if bindings.is_empty() {
                ports.push(ObservedPort {
                    private_port,
                    public_port: None,
                    host_ip: None,
                    protocol: protocol.to_string(),
                });
            }
            for b in bindings {
                ports.push(ObservedPort {
                    private_port,
                    public_port: b.host_port.and_then(|p| p.parse().ok()),
                    host_ip: b.host_ip,
                    protocol: protocol.to_string(),
                });
            }
        }
        ports.sort_by_key(|p| (p.private_port, p.public_port));
        let mut endpoints: Vec<EndpointInfo> = settings
            .networks
            .unwrap_or_default()
            .into_iter()
            .map(|(network, e)| EndpointInfo {
                network,
                ip_address: e.ip_address.unwrap_or_default(),
                aliases: e.aliases.unwrap_or_default(),
            })
            .collect();
        endpoints.sort_by(|a, b| a.network.cmp(&b.network));
        let status_text = state.status.map(|s| s.to_string()).unwrap_or_default();
        let summary = ContainerSummary {
            id: inspect.id.clone().unwrap_or_default(),
            name: inspect
                .name
                .clone()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            project: label(&labels, labels::PROJECT),
            service: label(&labels, labels::SERVICE),
            color: label(&labels, labels::COLOR),
            image: config.image.clone().unwrap_or_default(),
            image_id: inspect.image.clone().unwrap_or_default(),
            state: RunState::parse(&status_text),
            status: status_text,
            health,
            created: inspect
                .created
                .as_ref()
                .map(|c| created_seconds(&c.to_string()))
                .unwrap_or_default(),
            ports,
            labels,
            networks: endpoints.iter().map(|e| e.network.clone()).collect(),
        };
        let host = inspect.host_config.clone().unwrap_or_default();
        Ok(Some(ContainerDetail {
            summary,
            command: config.cmd.clone().unwrap_or_default(),
            entrypoint: config.entrypoint.clone().unwrap_or_default(),
            working_dir: config.working_dir.clone().unwrap_or_default(),
            user: config.user.clone().unwrap_or_default(),
            restart_policy: host
                .restart_policy
                .and_then(|p| p.name)
                .map(|n| n.to_string())
                .unwrap_or_default(),
            started_at: state.started_at.unwrap_or_default(),
            finished_at: state.finished_at.unwrap_or_default(),
            exit_code: state.exit_code.unwrap_or_default(),
            env: config
                .env
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv, String::new()),
                })
                .collect(),
            mounts: inspect
                .mounts
                .unwrap_or_default()
                .into_iter()
                .map(|m| MountInfo {
                    kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
                    source: m.name.or(m.source).unwrap_or_default(),
                    destination: m.destination.unwrap_or_default(),
                    read_write: m.rw.unwrap_or(true),
                })
                .collect(),
            endpoints,
            tty: config.tty.unwrap_or(false),
        }))
    }

    /// Restarts a container (stop with the engine's timeout, then start).
    pub async fn restart_container(
        &self,
        name: &str,
        timeout: Option<u64>,
    ) -> Result<(), EngineError> {
        let name = crate::ids::container(name)?;
        let mut opts = RestartContainerOptionsBuilder::default();
        if let Some(t) = timeout {
            opts = opts.t(t as i32);
        }
        self.client()
            .restart_container(name, Some(opts.build()))
            .await
            .map_err(|e| EngineError::new(format!("restarting container {name}"), e))
    }
}

/// `2026-11-27T14:00:00.123456789Z` → Unix seconds (UTC), 0 when it is not a timestamp.
fn created_seconds(text: &str) -> i64 {
    rfc3339_seconds(text).unwrap_or(0)
}

/// An engine timestamp (`2026-11-27T14:00:00.123456789Z`) → Unix seconds (UTC), without a date
/// library: the civil-date arithmetic is small and the engine always answers in UTC. `None`
/// when the text is not one.
pub fn rfc3339_seconds(text: &str) -> Option<i64> {
    let date = text.get(0..10)?;
    let time = text.get(11..19)?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::created_seconds;

    #[test]
    fn inspect_timestamps_become_unix_seconds() {
        assert_eq!(created_seconds("1970-01-01T00:00:00Z"), 0);
        assert_eq!(
            created_seconds("2026-11-27T14:00:00.123456789Z"),
            1_795_788_000
        );
        assert_eq!(created_seconds("garbage"), 0);
    }
}
