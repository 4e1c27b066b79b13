//! A Docker Swarm through a manager's Engine API: what the cluster runs, as plain values
//! (nodes, a stack's services and tasks), and the calls a stack deploy makes (overlay
//! networks, secrets, configs, services). The decisions are `hoist_core::swarm`'s.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use bollard::models::{ConfigSpec, NetworkCreateRequest, SecretSpec, ServiceSpec};
use bollard::query_parameters::{
    ListConfigsOptions, ListNetworksOptions, ListNodesOptions, ListSecretsOptions,
    ListServicesOptions, ListTasksOptions, UpdateServiceOptions,
};
use hoist_core::swarm::{NAMESPACE_LABEL, RunningService};
use serde_json::Value;

use crate::connect::Engine;
use crate::error::EngineError;
use crate::ids::{self, Kind};

/// This engine's place in a Swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmRole {
    /// `active`, `inactive`, `pending`, `error`, `locked`.
    pub state: String,
    /// It can take cluster-wide calls (a manager).
    pub manager: bool,
    pub nodes: u64,
    pub managers: u64,
}

/// A node as `docker node ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub hostname: String,
    /// `ready`, `down`, `unknown`, `disconnected`.
    pub status: String,
    /// `active`, `pause`, `drain`.
    pub availability: String,
    /// `manager` or `worker`.
    pub role: String,
    /// `Leader`, `Reachable`, `Unreachable`, or empty for a worker.
    pub manager_status: String,
    pub addr: String,
    pub engine_version: String,
}

/// A service of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub version: u64,
    /// `replicated` or `global`.
    pub mode: String,
    /// Replicas asked for (replicated services).
    pub replicas: Option<u64>,
    pub image: String,
    /// `*:30000->8080/tcp` for every published port.
    pub ports: Vec<String>,
    /// An update in progress or finished: `updating`, `completed`, `rollback_started`,
    /// `rollback_completed`, `paused`, `rollback_paused`, with the engine's message.
    pub update: Option<(String, String)>,
}

/// A task (one replica's container, or a past one) of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    pub id: String,
    pub service_id: String,
    pub slot: Option<i64>,
    pub node_id: String,
    pub image: String,
    pub desired: String,
    pub state: String,
    /// When the state was reached (RFC 3339).
    pub since: String,
    pub error: String,
    /// Host-mode published ports of this task: `*:30001->8080/tcp`.
    pub ports: Vec<String>,
    /// Its container's id once it has one.
    pub container: Option<String>,
}

fn stack_filter(namespace: &str) -> HashMap<String, Vec<String>> {
    [(
        "label".to_string(),
        vec![format!("{NAMESPACE_LABEL}={namespace}")],
    )]
    .into()
}

fn port_text(p: &bollard::models::EndpointPortConfig) -> Option<String> {
    let published = p.published_port.filter(|n| *n > 0)?;
    let proto = p
        .protocol
        .map(|p| p.to_string())
        .unwrap_or_else(|| "tcp".into());
    Some(format!(
        "*:{published}->{}/{proto}",
        p.target_port.unwrap_or_default()
    ))
}

impl Engine {
    /// This engine's Swarm membership, from `/info`.
    pub async fn swarm_role(&self) -> Result<SwarmRole, EngineError> {
        let info = self
            .client()
            .info()
            .await
            .map_err(|e| EngineError::new("reading the engine info", e))?;
        let swarm = info.swarm.unwrap_or_default();
        Ok(SwarmRole {
            state: swarm
                .local_node_state
                .map(|s| s.to_string())
                .unwrap_or_default(),
            manager: swarm.control_available.unwrap_or(false),
            nodes: swarm.nodes.unwrap_or_default() as u64,
            managers: swarm.managers.unwrap_or_default() as u64,
        })
    }

    /// The cluster's nodes (a manager's call).
    pub async fn swarm_nodes(&self) -> Result<Vec<NodeRow>, EngineError> {
        let nodes = self
            .client()
            .list_nodes(None::<ListNodesOptions>)
            .await
            .map_err(|e| EngineError::new("listing the swarm's nodes", e))?;
        let mut out: Vec<NodeRow> = nodes
            .into_iter()
            .map(|n| {
                let spec = n.spec.unwrap_or_default();
                let desc = n.description.unwrap_or_default();
                let status = n.status.unwrap_or_default();
                let manager = n.manager_status.map(|m| {
                    match (m.leader, m.reachability.map(|r| r.to_string())) {
                        (Some(true), _) => "Leader".to_string(),
                        (_, Some(r)) if r == "reachable" => "Reachable".to_string(),
                        (_, Some(r)) => capitalised(&r),
                        _ => String::new(),
                    }
                });
                NodeRow {
                    id: n.id.unwrap_or_default(),
                    hostname: desc.hostname.unwrap_or_default(),
                    status: status.state.map(|s| s.to_string()).unwrap_or_default(),
                    availability: spec.availability.map(|a| a.to_string()).unwrap_or_default(),
                    role: spec.role.map(|r| r.to_string()).unwrap_or_default(),
                    manager_status: manager.unwrap_or_default(),
                    addr: status.addr.unwrap_or_default(),
                    engine_version: desc
                        .engine
                        .and_then(|e| e.engine_version)
                        .unwrap_or_default(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        Ok(out)
    }

    /// The services of stack `namespace`, by name.
    pub async fn stack_services(&self, namespace: &str) -> Result<Vec<ServiceRow>, EngineError> {
        self.services_where(Some(stack_filter(namespace))).await
    }

    /// Every service of the cluster, by name.
    pub async fn all_services(&self) -> Result<Vec<ServiceRow>, EngineError> {
        self.services_where(None).await
    }

    async fn services_where(
        &self,
        filters: Option<HashMap<String, Vec<String>>>,
    ) -> Result<Vec<ServiceRow>, EngineError> {
        let options = ListServicesOptions {
            filters,
            status: None,
        };
        let services = self
            .client()
            .list_services(Some(options))
            .await
            .map_err(|e| EngineError::new("listing services", e))?;
        let mut out: Vec<ServiceRow> = services
            .into_iter()
            .map(|s| {
                let spec = s.spec.unwrap_or_default();
                let mode = spec.mode.unwrap_or_default();
                let (mode, replicas) = match (mode.global, mode.replicated) {
                    (Some(_), _) => ("global".to_string(), None),
                    (_, Some(r)) => (
                        "replicated".to_string(),
                        Some(r.replicas.unwrap_or(1) as u64),
                    ),
                    _ => ("replicated".to_string(), Some(1)),
                };
                let image = spec
                    .task_template
                    .and_then(|t| t.container_spec)
                    .and_then(|c| c.image)
                    .unwrap_or_default();
                let ports = s
                    .endpoint
                    .and_then(|e| e.ports)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(port_text)
                    .collect();
                let update = s
                    .update_status
                    .and_then(|u| Some((u.state?.to_string(), u.message.unwrap_or_default())));
                ServiceRow {
                    id: s.id.unwrap_or_default(),
                    name: spec.name.unwrap_or_default(),
                    version: s.version.and_then(|v| v.index).unwrap_or_default(),
                    mode,
                    replicas,
                    image,
                    ports,
                    update,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every stack on the cluster and its number of services, by name.
    pub async fn stacks(&self) -> Result<Vec<(String, usize)>, EngineError> {
        let filters: HashMap<String, Vec<String>> =
            [("label".to_string(), vec![NAMESPACE_LABEL.to_string()])].into();
        let services = self
            .client()
            .list_services(Some(ListServicesOptions {
                filters: Some(filters),
                status: None,
            }))
            .await
            .map_err(|e| EngineError::new("listing services", e))?;
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for s in services {
            if let Some(ns) = s
                .spec
                .and_then(|s| s.labels)
                .and_then(|mut l| l.remove(NAMESPACE_LABEL))
            {
                *count.entry(ns).or_default() += 1;
            }
        }
        Ok(count.into_iter().collect())
    }

    /// The services of stack `namespace` as the deploy plan needs them.
    pub async fn running_stack(&self, namespace: &str) -> Result<Vec<RunningService>, EngineError> {
        Ok(self
            .stack_services(namespace)
            .await?
            .into_iter()
            .map(|s| RunningService {
                id: s.id,
                name: s.name,
                version: s.version,
            })
            .collect())
    }

    /// Every task of these services, current and past.
    pub async fn service_tasks(&self, service_ids: &[String]) -> Result<Vec<TaskRow>, EngineError> {
        if service_ids.is_empty() {
            return Ok(Vec::new());
        }
        let filters: HashMap<String, Vec<String>> =
            [("service".to_string(), service_ids.to_vec())].into();
        let tasks = self
            .client()
            .list_tasks(Some(ListTasksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| EngineError::new("listing tasks", e))?;
        Ok(tasks
            .into_iter()
            .map(|t| {
                let status = t.status.unwrap_or_default();
                let image = t
                    .spec
                    .and_then(|s| s.container_spec)
                    .and_then(|c| c.image)
                    .unwrap_or_default();
                TaskRow {
                    id: t.id.unwrap_or_default(),
                    service_id: t.service_id.unwrap_or_default(),
                    slot: t.slot,
                    node_id: t.node_id.unwrap_or_default(),
                    image,
                    desired: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
                    state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                    since: status.timestamp.unwrap_or_default(),
                    error: status.err.unwrap_or_default(),
                    ports: status
                        .port_status
                        .and_then(|p| p.ports)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(port_text)
                        .collect(),
                    container: status.container_status.and_then(|c| c.container_id),
                }
            })
            .collect())
    }

    /// The names of stack `namespace`'s networks.
    pub async fn stack_networks(&self, namespace: &str) -> Result<Vec<String>, EngineError> {
        let list = self
            .client()
            .list_networks(Some(ListNetworksOptions {
                filters: Some(stack_filter(namespace)),
            }))
            .await
            .map_err(|e| EngineError::new("listing networks", e))?;
        Ok(list.into_iter().filter_map(|n| n.name).collect())
    }

    /// The containers of this engine attached to `network` that carry `label` (by name).
    pub async fn labelled_containers_on(
        &self,
        network: &str,
        label: &str,
    ) -> Result<Vec<String>, EngineError> {
        let network = ids::object(Kind::Network, network)?;
        let filters: HashMap<String, Vec<String>> = [
            ("network".to_string(), vec![network.to_string()]),
            ("label".to_string(), vec![label.to_string()]),
        ]
        .into();
        let list = self
            .client()
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| EngineError::new(format!("listing the containers on {network}"), e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                c.names?
                    .first()
                    .map(|n| n.trim_start_matches('/').to_string())
            })
            .collect())
    }

    /// Creates a network from its `POST /networks/create` body.
    pub async fn create_stack_network(&self, body: &Value) -> Result<(), EngineError> {
        let request: NetworkCreateRequest = serde_json::from_value(body.clone())
            .map_err(|e| EngineError::message(format!("network spec: {e}")))?;
        ids::object(Kind::Network, &request.name)?;
        let name = request.name.clone();
        self.client()
            .create_network(request)
            .await
            .map_err(|e| EngineError::new(format!("creating network {name}"), e))?;
        Ok(())
    }

    /// Secrets (or configs) by name: their id and `io.hoist.digest` label, for those whose
    /// name is in `names` or that carry the stack's label.
    pub async fn swarm_objects(
        &self,
        secret: bool,
        namespace: &str,
    ) -> Result<Vec<SwarmObject>, EngineError> {
        let what = if secret { "secrets" } else { "configs" };
        let to_object =
            |id: Option<String>, name: Option<String>, labels: Option<HashMap<String, String>>| {
                let labels = labels.unwrap_or_default();
                SwarmObject {
                    id: id.unwrap_or_default(),
                    name: name.unwrap_or_default(),
                    digest: labels.get(hoist_core::swarm::DIGEST_LABEL).cloned(),
                    in_stack: labels.get(NAMESPACE_LABEL).map(String::as_str) == Some(namespace),
                }
            };
        let out = if secret {
            self.client()
                .list_secrets(None::<ListSecretsOptions>)
                .await
                .map_err(|e| EngineError::new(format!("listing {what}"), e))?
                .into_iter()
                .map(|s| {
                    let spec = s.spec.unwrap_or_default();
                    to_object(s.id, spec.name, spec.labels)
                })
                .collect()
        } else {
            self.client()
                .list_configs(None::<ListConfigsOptions>)
                .await
                .map_err(|e| EngineError::new(format!("listing {what}"), e))?
                .into_iter()
                .map(|c| {
                    let spec = c.spec.unwrap_or_default();
                    to_object(c.id, spec.name, spec.labels)
                })
                .collect()
        };
        Ok(out)
    }

    /// Creates a secret or config holding `data`, labelled with the stack and the data's
    /// digest; its id.
    pub async fn create_swarm_object(
        &self,
        secret: bool,
        name: &str,
        labels: BTreeMap<String, String>,
        data: &[u8],
    ) -> Result<String, EngineError> {
        let kind = if secret { Kind::Secret } else { Kind::Config };
        let name = ids::object(kind, name)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        let labels: HashMap<String, String> = labels.into_iter().collect();
        let created = if secret {
            self.client()
                .create_secret(SecretSpec {
                    name: Some(name.to_string()),
                    labels: Some(labels),
                    data: Some(encoded),
                    ..Default::default()
                })
                .await
        } else {
            self.client()
                .create_config(ConfigSpec {
                    name: Some(name.to_string()),
                    labels: Some(labels),
                    data: Some(encoded),
                    ..Default::default()
                })
                .await
        };
        let what = if secret { "secret" } else { "config" };
        created
            .map(|r| r.id)
            .map_err(|e| EngineError::new(format!("creating {what} {name}"), e))
    }

    pub async fn remove_swarm_object(&self, secret: bool, id: &str) -> Result<(), EngineError> {
        let kind = if secret { Kind::Secret } else { Kind::Config };
        let id = ids::object(kind, id)?;
        let done = if secret {
            self.client().delete_secret(id).await
        } else {
            self.client().delete_config(id).await
        };
        let what = if secret { "secret" } else { "config" };
        done.map_err(|e| EngineError::new(format!("removing {what} {id}"), e))
    }

    /// Creates a service from its `ServiceSpec` body; its id and the engine's warnings.
    pub async fn create_service(
        &self,
        spec: &Value,
        auth: Option<&crate::auth::RegistryAuth>,
    ) -> Result<(String, Vec<String>), EngineError> {
        let (name, typed) = typed_spec(spec)?;
        let credentials = self.credentials_for_request(auth)?;
        let created = self
            .client()
            .create_service(typed, credentials)
            .await
            .map_err(|e| EngineError::new(format!("creating service {name}"), e))?;
        Ok((
            created.id.unwrap_or_default(),
            created.warnings.unwrap_or_default(),
        ))
    }

    /// Replaces service `id`'s spec (at `version`, so a concurrent change is refused by the
    /// engine rather than lost); the engine's warnings.
    pub async fn update_service(
        &self,
        id: &str,
        version: u64,
        spec: &Value,
        auth: Option<&crate::auth::RegistryAuth>,
    ) -> Result<Vec<String>, EngineError> {
        let id = ids::object(Kind::Service, id)?;
        let (name, typed) = typed_spec(spec)?;
        let credentials = self.credentials_for_request(auth)?;
        let options = UpdateServiceOptions {
            version: i32::try_from(version)
                .map_err(|_| EngineError::message(format!("service {name}: version {version}")))?,
            registry_auth_from: "spec".into(),
            rollback: None,
        };
        let updated = self
            .client()
            .update_service(id, typed, options, credentials)
            .await
            .map_err(|e| EngineError::new(format!("updating service {name}"), e))?;
        Ok(updated.warnings.unwrap_or_default())
    }

    /// The digest the image's registry has for `image` (`GET /distribution/NAME/json`, asked of
    /// the manager, as `docker stack deploy --resolve-image` does), so every node runs the
    /// same image whatever its tag points to later.
    pub async fn registry_digest(
        &self,
        image: &str,
        auth: Option<&crate::auth::RegistryAuth>,
    ) -> Result<Option<String>, EngineError> {
        let image = ids::image(image)?;
        let credentials = self.credentials_for_request(auth)?;
        let found = self
            .client()
            .inspect_registry_image(image, credentials)
            .await
            .map_err(|e| EngineError::new(format!("asking the registry for {image}"), e))?;
        Ok(found.descriptor.digest.filter(|d| d.starts_with("sha256:")))
    }

    /// The ports `image` exposes (`5432/tcp`), pulling it onto this engine first when it does
    /// not have it; sorted by number.
    pub async fn exposed_ports(
        &self,
        image: &str,
        auth: Option<&crate::auth::RegistryAuth>,
    ) -> Result<Vec<String>, EngineError> {
        let checked = ids::image(image)?;
        if !self
            .image_exists(checked)
            .await
            .map_err(|e| EngineError::message(e.to_string()))?
        {
            self.pull(checked, auth, |_| {})
                .await
                .map_err(|e| EngineError::message(e.to_string()))?;
        }
        let inspected = self
            .client()
            .inspect_image(checked)
            .await
            .map_err(|e| EngineError::new(format!("inspecting image {checked}"), e))?;
        let mut ports = inspected
            .config
            .and_then(|c| c.exposed_ports)
            .unwrap_or_default();
        ports.sort_by_key(|p| {
            p.split('/')
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(u32::MAX)
        });
        Ok(ports)
    }

    /// A service's current spec (as the Engine API's JSON), its version, the image of its
    /// previous spec (what a rollback returns to), and its update's state.
    pub async fn inspect_stack_service(&self, id: &str) -> Result<ServiceState, EngineError> {
        let id = ids::object(Kind::Service, id)?;
        let path = format!("/v{}/services/{id}", self.api_version());
        let service = self
            .route
            .get_json(&path)
            .await
            .map_err(|e| EngineError::new(format!("inspecting service {id}"), e))?;
        let image_of = |spec: &Value| {
            spec["TaskTemplate"]["ContainerSpec"]["Image"]
                .as_str()
                .map(String::from)
        };
        let update = service.get("UpdateStatus").map(|u| UpdateState {
            state: u["State"].as_str().unwrap_or_default().to_string(),
            started_at: u["StartedAt"].as_str().unwrap_or_default().to_string(),
            message: u["Message"].as_str().unwrap_or_default().to_string(),
        });
        Ok(ServiceState {
            id: service["ID"].as_str().unwrap_or_default().to_string(),
            version: service["Version"]["Index"].as_u64().unwrap_or_default(),
            image: image_of(&service["Spec"]).unwrap_or_default(),
            previous_image: image_of(&service["PreviousSpec"]),
            spec: service["Spec"].clone(),
            update,
        })
    }

    /// Asks Swarm to return service `id` to its previous spec, as `docker service rollback`
    /// does (the rollback runs by the service's `RollbackConfig`).
    pub async fn rollback_service(&self, state: &ServiceState) -> Result<(), EngineError> {
        let id = ids::object(Kind::Service, &state.id)?;
        let (name, typed) = typed_spec(&state.spec)?;
        let options = UpdateServiceOptions {
            version: i32::try_from(state.version)
                .map_err(|_| EngineError::message(format!("service {name}: version")))?,
            registry_auth_from: "previous-spec".into(),
            rollback: Some("previous".into()),
        };
        self.client()
            .update_service(id, typed, options, None)
            .await
            .map_err(|e| EngineError::new(format!("rolling back service {name}"), e))?;
        Ok(())
    }

    pub async fn remove_service(&self, id: &str) -> Result<(), EngineError> {
        let id = ids::object(Kind::Service, id)?;
        self.client()
            .delete_service(id)
            .await
            .map_err(|e| EngineError::new(format!("removing service {id}"), e))
    }
}

/// A service as a release sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceState {
    pub id: String,
    pub version: u64,
    pub image: String,
    pub previous_image: Option<String>,
    pub spec: Value,
    pub update: Option<UpdateState>,
}

/// A rolling update's (or rollback's) progress, as Swarm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateState {
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`,
    /// `rollback_completed`.
    pub state: String,
    pub started_at: String,
    pub message: String,
}

/// A secret or config as the cluster has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmObject {
    pub id: String,
    pub name: String,
    pub digest: Option<String>,
    pub in_stack: bool,
}

/// The spec body in bollard's type (the fields an API 1.41 engine reads are all in it).
fn typed_spec(spec: &Value) -> Result<(String, ServiceSpec), EngineError> {
    let typed: ServiceSpec = serde_json::from_value(spec.clone())
        .map_err(|e| EngineError::message(format!("service spec: {e}")))?;
    let name = typed.name.clone().unwrap_or_default();
    ids::object(Kind::Service, &name)?;
    Ok((name, typed))
}

/// `running` → `Running`, as docker's listings print states and roles.
pub fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every field hoist's stack conversion writes survives bollard's typed spec: nothing the
    /// file asked for is dropped on the way to the engine.
    #[test]
    fn the_typed_spec_keeps_every_field_the_conversion_writes() {
        let spec = json!({
            "Name": "books_app",
            "Labels": {"com.docker.stack.namespace": "books", "com.docker.stack.image": "reg/app"},
            "TaskTemplate": {
                "ContainerSpec": {
                    "Image": "reg/app", "Labels": {"com.docker.stack.namespace": "books"},
                    "Env": ["A=1"], "TTY": false, "OpenStdin": false, "ReadOnly": false,
                    "Mounts": [{"Type": "volume", "Target": "/d", "ReadOnly": false, "Source": "books_d",
                                "VolumeOptions": {"Labels": {"com.docker.stack.namespace": "books"}}}],
                    "Command": ["sh"], "Args": ["-c", "x"], "Hostname": "h", "Dir": "/w", "User": "1",
                    "StopSignal": "SIGINT", "Init": true, "StopGracePeriod": 1_000_000_000i64,
                    "HealthCheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000i64, "Retries": 3},
                    "Hosts": ["1.2.3.4 h"], "DNSConfig": {"Nameservers": ["1.1.1.1"], "Search": []},
                    "Sysctls": {"net.core.somaxconn": "1024"}, "CapabilityAdd": ["NET_ADMIN"], "CapabilityDrop": ["MKNOD"],
                    "Secrets": [{"File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 292}, "SecretID": "s", "SecretName": "books_pw"}],
                    "Configs": [{"File": {"Name": "/c", "UID": "0", "GID": "0", "Mode": 292}, "ConfigID": "c", "ConfigName": "books_c"}]
                },
                "Networks": [{"Target": "books_default", "Aliases": ["app"]}],
                "ForceUpdate": 0,
                "RestartPolicy": {"Condition": "on-failure", "MaxAttempts": 3, "Delay": 5, "Window": 7},
                "Placement": {"Constraints": ["node.role == manager"], "Preferences": [{"Spread": {"SpreadDescriptor": "node.id"}}], "MaxReplicas": 1},
                "Resources": {"Limits": {"NanoCPUs": 5, "MemoryBytes": 6}, "Reservations": {}},
                "LogDriver": {"Name": "json-file", "Options": {"max-size": "1m"}}
            },
            "Mode": {"Replicated": {"Replicas": 3}},
            "EndpointSpec": {"Mode": "dnsrr", "Ports": [{"Protocol": "tcp", "TargetPort": 8080, "PublishMode": "host", "PublishedPort": 80}]},
            "UpdateConfig": {"Parallelism": 1, "Delay": 1, "Monitor": 2, "FailureAction": "rollback", "MaxFailureRatio": 0.5, "Order": "start-first"},
            "RollbackConfig": {"Parallelism": 1, "Order": "stop-first"}
        });
        let (name, typed) = typed_spec(&spec).unwrap();
        assert_eq!(name, "books_app");
        let back = serde_json::to_value(&typed).unwrap();
        fn covers(sent: &Value, kept: &Value, path: &str) {
            match (sent, kept) {
                (Value::Object(a), Value::Object(b)) => {
                    for (k, v) in a {
                        let w = b.get(k).unwrap_or_else(|| panic!("{path}.{k} was dropped"));
                        covers(v, w, &format!("{path}.{k}"));
                    }
                }
                (Value::Array(a), Value::Array(b)) => {
                    assert_eq!(a.len(), b.len(), "{path}");
                    for (i, (v, w)) in a.iter().zip(b).enumerate() {
                        covers(v, w, &format!("{path}[{i}]"));
                    }
                }
                (a, b) => assert_eq!(a, b, "{path}"),
            }
        }
        covers(&spec, &back, "");
    }

    #[test]
    fn a_service_name_that_could_leave_its_path_is_refused() {
        let err = typed_spec(&json!({"Name": "../x"})).unwrap_err();
        assert!(err.to_string().contains("service name"), "{err}");
    }
}
