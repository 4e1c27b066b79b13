//! Reconcile: desired state plus observed state in, a plan out. Every decision of `up`, `down`,
//! `start`, `stop` and `rm` lives here, as pure functions, so it can be tested without an engine
//! and printed by `--dry-run` exactly as the tests see it.
//!
//! A plan is a list of steps, each one engine operation with the reason it exists and the steps
//! it must wait for. The executor runs every step as soon as the steps it waits for are done, so
//! independent services start concurrently and dependencies start first.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::hash::{config_hash, resource_hash};
use crate::observed::{Observed, ObservedContainer, RunState};
use crate::spec::{Condition, ProjectSpec, PullPolicy, ServiceSpec, ShareKind, labels};

/// One engine operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    PullImage {
        service: String,
        image: String,
    },
    BuildImage {
        service: String,
        image: String,
    },
    CreateNetwork {
        network: String,
    },
    CreateVolume {
        volume: String,
    },
    CreateContainer {
        service: String,
        number: u32,
        name: String,
        /// Recreating: the container it replaces, as Compose names it in
        /// `com.docker.compose.replace` (`container_name`, else `SERVICE-N`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
    },
    StartContainer {
        service: String,
        name: String,
    },
    WaitHealthy {
        service: String,
        name: String,
    },
    WaitCompleted {
        service: String,
        name: String,
    },
    /// `--wait`: healthy when the container has a health check, running otherwise.
    WaitReady {
        service: String,
        name: String,
    },
    StopContainer {
        service: String,
        name: String,
    },
    RemoveContainer {
        service: String,
        name: String,
    },
    RemoveNetwork {
        network: String,
    },
    RemoveVolume {
        volume: String,
    },
    /// Fails unless the external network exists (it was missing when `up` looked), after the
    /// project's own networks were made, as Compose checks it.
    RequireNetwork {
        network: String,
    },
    /// Takes a (stopped) container off a network about to be recreated.
    DisconnectNetwork {
        network: String,
        name: String,
    },
    /// Puts a container back on a recreated network (without aliases, as Compose does).
    ConnectNetwork {
        network: String,
        name: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::PullImage { service, image } => write!(f, "pull {image} (service {service})"),
            Action::BuildImage { service, image } => {
                write!(f, "build {image} (service {service})")
            }
            Action::CreateNetwork { network } => write!(f, "create network {network}"),
            Action::CreateVolume { volume } => write!(f, "create volume {volume}"),
            Action::CreateContainer { name, .. } => write!(f, "create container {name}"),
            Action::StartContainer { name, .. } => write!(f, "start container {name}"),
            Action::WaitHealthy { name, .. } => write!(f, "wait until {name} is healthy"),
            Action::WaitCompleted { name, .. } => {
                write!(f, "wait until {name} has completed successfully")
            }
            Action::WaitReady { name, .. } => write!(f, "wait until {name} is ready"),
            Action::StopContainer { name, .. } => write!(f, "stop container {name}"),
            Action::RemoveContainer { name, .. } => write!(f, "remove container {name}"),
            Action::RemoveNetwork { network } => write!(f, "remove network {network}"),
            Action::RemoveVolume { volume } => write!(f, "remove volume {volume}"),
            Action::RequireNetwork { network } => {
                write!(f, "check that external network {network} exists")
            }
            Action::DisconnectNetwork { network, name } => {
                write!(f, "disconnect container {name} from network {network}")
            }
            Action::ConnectNetwork { network, name } => {
                write!(f, "connect container {name} to network {network}")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub id: usize,
    pub action: Action,
    pub reason: String,
    /// Steps that must be done before this one starts.
    pub after: Vec<usize>,
}

/// How the reasons of the steps that recreate a container begin.
const RECREATE: &str = "recreate: ";

impl Step {
    /// Whether the step is part of recreating a container (its stop, removal or creation):
    /// Compose reports those as one `Recreate`/`Recreated` pair.
    pub fn recreates(&self) -> bool {
        self.reason.starts_with(RECREATE)
    }

    /// Whether the step is part of making a changed network again.
    pub fn recreates_network(&self) -> bool {
        self.reason.starts_with(NETWORK_CHANGED)
    }

    /// Whether the step removes a volume to make it again (Compose reports nothing for it).
    pub fn recreates_volume(&self) -> bool {
        self.reason.starts_with(VOLUME_CHANGED)
    }
}

/// How the reasons of the steps that make a changed network again begin.
const NETWORK_CHANGED: &str = "network changed: ";
/// The reason of the removal of a volume that is made again.
const VOLUME_CHANGED: &str = "volume changed: ";

/// What reconcile decided. `unchanged` lists containers left as they are, so output can say so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub unchanged: Vec<String>,
    pub warnings: Vec<String>,
    /// Waits for a dependency declared `required: false`: when one fails, the dependent starts
    /// anyway and the failure is a warning, as Compose does.
    pub optional: BTreeSet<usize>,
}

impl Plan {
    fn push(&mut self, action: Action, reason: impl Into<String>, after: Vec<usize>) -> usize {
        let id = self.steps.len() + 1;
        let mut after: Vec<usize> = after
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        after.retain(|a| *a != id);
        self.steps.push(Step {
            id,
            action,
            reason: reason.into(),
            after,
        });
        id
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The plan with nothing started (`create`, `up --no-start`): every start, and every wait
    /// for a started container, is dropped; a step that came after a dropped one comes after
    /// what that one came after.
    pub fn without_starting(self) -> Plan {
        let starts = |a: &Action| {
            matches!(
                a,
                Action::StartContainer { .. }
                    | Action::WaitHealthy { .. }
                    | Action::WaitCompleted { .. }
                    | Action::WaitReady { .. }
            )
        };
        // For each step, by old id: the kept steps (new ids) that stand for it.
        let mut stands_for: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let mut plan = Plan {
            unchanged: self.unchanged,
            warnings: self.warnings,
            ..Plan::default()
        };
        for step in self.steps {
            let before: BTreeSet<usize> = step
                .after
                .iter()
                .flat_map(|a| stands_for.get(a).cloned().unwrap_or_default())
                .collect();
            if starts(&step.action) {
                stands_for.insert(step.id, before);
                continue;
            }
            let id = plan.push(step.action, step.reason, before.into_iter().collect());
            if self.optional.contains(&step.id) {
                plan.optional.insert(id);
            }
            stands_for.insert(step.id, BTreeSet::from([id]));
        }
        plan
    }
}

/// The same text every time for the same inputs: `--dry-run` prints it, tests assert it.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        if self.steps.is_empty() {
            writeln!(f, "nothing to do")?;
        }
        for step in &self.steps {
            write!(f, "{:>3}. {} ({})", step.id, step.action, step.reason)?;
            if !step.after.is_empty() {
                let after: Vec<String> = step.after.iter().map(|a| a.to_string()).collect();
                write!(f, " after {}", after.join(", "))?;
            }
            writeln!(f)?;
        }
        for name in &self.unchanged {
            writeln!(f, "  -  {name} is up to date")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no such service: {0}")]
    NoSuchService(String),
    #[error("service {service} depends on {dependency}, which is not defined")]
    MissingDependency { service: String, dependency: String },
    #[error("dependency cycle between services: {0}")]
    Cycle(String),
    #[error(
        "service {service} waits for {dependency} to be healthy, but {dependency} disables its \
         healthcheck (enable one, or use condition: service_started)"
    )]
    NoHealthcheck { service: String, dependency: String },
    #[error("network {0} declared as external, but could not be found")]
    ExternalNetworkMissing(String),
    #[error("volume {0} is declared as external, but could not be found")]
    ExternalVolumeMissing(String),
    #[error(
        "image {image} for service {service} is not on the engine and --pull never forbids pulling it"
    )]
    ImageMissing { service: String, image: String },
    #[error("container name {name:?} is already in use by service {service}")]
    ContainerNameInUse { name: String, service: String },
    #[error("cannot share {} with service {service}: container missing", kind.what())]
    SharedContainerMissing { kind: ShareKind, service: String },
}

/// Options of `up` that change decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpOptions {
    /// Services named on the command line; empty means all.
    pub services: Vec<String>,
    pub no_deps: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub remove_orphans: bool,
    /// Wait for every started service to be running/healthy before returning.
    pub wait: bool,
    /// `--all-resources`: the project's networks and volumes no selected service uses are
    /// created too.
    pub all_resources: bool,
    /// `--build` (`Some(true)`: build every image that has a build section) or `--no-build`
    /// (`Some(false)`: build none); `None` builds missing images.
    pub build: Option<bool>,
    /// `-y`: a project volume whose definition changed is made again (its data is lost);
    /// without it, `up` warns and keeps the volume.
    pub assume_yes: bool,
    /// `create`, `up --no-start`: containers are made (and remade) but not started.
    pub no_start: bool,
}

/// `up --no-deps SERVICE...`: the project as Compose sees it then, the named services keeping
/// only their dependencies and links on other named services (their `com.docker.compose.depends_on`
/// label records no more than that). With no service named, nothing changes.
pub fn without_unselected_dependencies(project: &ProjectSpec, named: &[String]) -> ProjectSpec {
    let mut project = project.clone();
    if named.is_empty() {
        return project;
    }
    for service in &mut project.services {
        if named.contains(&service.name) {
            // What it shares from another service's container stays a dependency: that
            // container must exist all the same (and Compose keeps it in the label).
            let shared: Vec<String> = service.shares.iter().map(|s| s.service.clone()).collect();
            service
                .depends_on
                .retain(|d| named.contains(&d.service) || shared.contains(&d.service));
            service.links.retain(|l| named.contains(&l.service));
        }
    }
    project
}

/// What `restart SERVICE...` restarts, as Compose does: the named services (all when none) and,
/// transitively, the services that depend on one of them with `restart: true`, in dependency
/// order.
pub fn restart_selection(
    project: &ProjectSpec,
    named: &[String],
) -> Result<Vec<String>, PlanError> {
    if named.is_empty() {
        let all = select_services(project, &[], true)?;
        return Ok(all.into_iter().map(|s| s.name.clone()).collect());
    }
    let mut chosen: Vec<String> = named.to_vec();
    loop {
        let more: Vec<String> = project
            .services
            .iter()
            .filter(|s| !chosen.contains(&s.name))
            .filter(|s| {
                s.depends_on
                    .iter()
                    .any(|d| d.restart && chosen.contains(&d.service))
            })
            .map(|s| s.name.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }
    let ordered = select_services(project, &chosen, true)?;
    Ok(ordered.into_iter().map(|s| s.name.clone()).collect())
}

/// Services to act on: the named ones (all when none), plus what they depend on unless
/// `no_deps`, in dependency order (dependencies first, otherwise declaration order).
pub fn select_services<'a>(
    project: &'a ProjectSpec,
    named: &[String],
    no_deps: bool,
) -> Result<Vec<&'a ServiceSpec>, PlanError> {
    for name in named {
        if project.service(name).is_none() {
            return Err(PlanError::NoSuchService(name.clone()));
        }
    }
    let mut wanted: BTreeSet<&str> = if named.is_empty() {
        project.services.iter().map(|s| s.name.as_str()).collect()
    } else {
        named.iter().map(String::as_str).collect()
    };
    if !no_deps {
        let mut stack: Vec<&str> = wanted.iter().copied().collect();
        while let Some(name) = stack.pop() {
            let service = project.service(name).expect("checked above");
            for dep in dependencies(service) {
                if project.service(dep).is_none() {
                    return Err(PlanError::MissingDependency {
                        service: name.to_string(),
                        dependency: dep.to_string(),
                    });
                }
                if wanted.insert(dep) {
                    stack.push(dep);
                }
            }
        }
    }
    // Kahn's algorithm over the wanted set, picking in declaration order for stable output.
    let mut order = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < wanted.len() {
        let next = project.services.iter().find(|s| {
            wanted.contains(s.name.as_str())
                && !done.contains(s.name.as_str())
                && dependencies(s).all(|d| done.contains(d) || !wanted.contains(d))
        });
        match next {
            Some(service) => {
                done.insert(&service.name);
                order.push(service);
            }
            None => {
                let stuck: Vec<&str> = project
                    .services
                    .iter()
                    .map(|s| s.name.as_str())
                    .filter(|n| wanted.contains(n) && !done.contains(n))
                    .collect();
                return Err(PlanError::Cycle(stuck.join(", ")));
            }
        }
    }
    Ok(order)
}

/// Every service `service` needs started first: `depends_on` and legacy `links`.
pub fn dependencies(service: &ServiceSpec) -> impl Iterator<Item = &str> {
    let mut seen = BTreeSet::new();
    service
        .depends_on
        .iter()
        .map(|d| d.service.as_str())
        .chain(service.links.iter().map(|l| l.service.as_str()))
        .filter(move |d| seen.insert(*d))
}

/// Pulls and builds needed before containers can be created.
pub fn plan_images(
    project: &ProjectSpec,
    observed: &Observed,
    services: &[&ServiceSpec],
    pull_override: Option<PullPolicy>,
    build_override: Option<bool>,
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    let mut seen = BTreeSet::new();
    for service in services {
        if !seen.insert(service.image.as_str()) {
            continue;
        }
        let present = observed.images.contains_key(&service.image);
        let policy = pull_override.unwrap_or(service.pull_policy);
        let build = service.build.is_some();
        match build_override {
            // `--build`: what can be built is built, whatever is there already.
            Some(true) if build => {
                plan.push(
                    Action::BuildImage {
                        service: service.name.clone(),
                        image: service.image.clone(),
                    },
                    "--build",
                    vec![],
                );
                continue;
            }
            // `--no-build`: nothing is built; a missing image is an error.
            Some(false) if build && !present => {
                return Err(PlanError::ImageMissing {
                    service: service.name.clone(),
                    image: service.image.clone(),
                });
            }
            Some(false) if build => continue,
            _ => {}
        }
        match policy {
            PullPolicy::Always if !build => {
                plan.push(
                    Action::PullImage {
                        service: service.name.clone(),
                        image: service.image.clone(),
                    },
                    "--pull always",
                    vec![],
                );
            }
            PullPolicy::Refresh(interval)
                if !build
                    && (!present
                        || observed
                            .image_ages
                            .get(&service.image)
                            .is_none_or(|age| *age >= interval)) =>
            {
                plan.push(
                    Action::PullImage {
                        service: service.name.clone(),
                        image: service.image.clone(),
                    },
                    "pull_policy: the local image is older than its refresh interval",
                    vec![],
                );
            }
            PullPolicy::Build => {
                plan.push(
                    Action::BuildImage {
                        service: service.name.clone(),
                        image: service.image.clone(),
                    },
                    "pull_policy build",
                    vec![],
                );
            }
            _ if present => {}
            PullPolicy::Never if !build => {
                return Err(PlanError::ImageMissing {
                    service: service.name.clone(),
                    image: service.image.clone(),
                });
            }
            _ if build => {
                plan.push(
                    Action::BuildImage {
                        service: service.name.clone(),
                        image: service.image.clone(),
                    },
                    "image not built yet",
                    vec![],
                );
            }
            _ => {
                plan.push(
                    Action::PullImage {
                        service: service.name.clone(),
                        image: service.image.clone(),
                    },
                    "image not on the engine",
                    vec![],
                );
            }
        }
    }
    let _ = project;
    Ok(plan)
}

/// Why an existing container must be replaced, if it must.
fn outdated(
    container: &ObservedContainer,
    hash: &str,
    service: &ServiceSpec,
    observed: &Observed,
) -> Option<&'static str> {
    if container.config_hash.as_deref() != Some(hash) {
        return Some("configuration changed");
    }
    match observed.images.get(&service.image) {
        Some(id) if *id != container.image_id => Some("image changed"),
        _ => None,
    }
}

/// Step ids of the networks and volumes created for them, by name.
type ResourceSteps<'a> = (BTreeMap<&'a str, usize>, BTreeMap<&'a str, usize>);

/// Adds to `plan` the creation of the project networks and volumes `services` use that the
/// engine lacks; an external one that is missing is an error.
fn resource_steps<'a>(
    project: &'a ProjectSpec,
    observed: &Observed,
    services: &[&'a ServiceSpec],
    plan: &mut Plan,
    recreated: BTreeMap<&'a str, usize>,
) -> Result<ResourceSteps<'a>, PlanError> {
    let mut network_steps: BTreeMap<&str, usize> = recreated;
    for service in services {
        for attachment in &service.networks {
            let Some(network) = project
                .networks
                .iter()
                .find(|n| n.name == attachment.network)
            else {
                continue;
            };
            if network_steps.contains_key(network.name.as_str())
                || observed.network(&network.name).is_some()
            {
                continue;
            }
            if network.external {
                // Compose makes the project's networks first, then finds the external one
                // missing: the failure comes after them, and nothing that uses it starts.
                let after: Vec<usize> = network_steps.values().copied().collect();
                let action = Action::RequireNetwork {
                    network: network.name.clone(),
                };
                let id = plan.push(action, "external, not on the engine", after);
                network_steps.insert(&network.name, id);
                continue;
            }
            let id = plan.push(
                Action::CreateNetwork {
                    network: network.name.clone(),
                },
                "not on the engine",
                vec![],
            );
            network_steps.insert(&network.name, id);
        }
    }
    let mut volume_steps: BTreeMap<&str, usize> = BTreeMap::new();
    for service in services {
        for mount in &service.container.mounts {
            if mount.kind != "volume" || mount.source.is_empty() {
                continue;
            }
            let Some(volume) = project.volumes.iter().find(|v| v.name == mount.source) else {
                continue;
            };
            if volume_steps.contains_key(volume.name.as_str())
                || observed.volume(&volume.name).is_some()
            {
                continue;
            }
            if volume.external {
                return Err(PlanError::ExternalVolumeMissing(volume.name.clone()));
            }
            let id = plan.push(
                Action::CreateVolume {
                    volume: volume.name.clone(),
                },
                "not on the engine",
                vec![],
            );
            volume_steps.insert(&volume.name, id);
        }
    }
    Ok((network_steps, volume_steps))
}

/// Project networks whose configuration changed since they were made (their config-hash
/// label differs), as Compose handles them: the containers of the services on one are stopped
/// and taken off it, the network is removed and made again, the containers are put back on it
/// and (those that ran) started again later. Returns the new networks' create steps.
fn recreate_diverged_networks<'a>(
    project: &'a ProjectSpec,
    observed: &Observed,
    services: &[&'a ServiceSpec],
    plan: &mut Plan,
    held: &mut BTreeMap<String, Vec<(String, usize)>>,
) -> BTreeMap<&'a str, usize> {
    let mut created = BTreeMap::new();
    let used: BTreeSet<&str> = services
        .iter()
        .flat_map(|s| s.networks.iter().map(|a| a.network.as_str()))
        .collect();
    for network in project
        .networks
        .iter()
        .filter(|n| used.contains(n.name.as_str()))
    {
        let Some(existing) = observed.network(&network.name) else {
            continue;
        };
        let hash = existing.labels.get(labels::CONFIG_HASH);
        if network.external || hash.is_none_or(|h| h.is_empty() || *h == resource_hash(network)) {
            continue;
        }
        let reason = format!("{NETWORK_CHANGED}{}", network.name);
        let attached: Vec<&ObservedContainer> = project
            .services
            .iter()
            .filter(|s| s.networks.iter().any(|a| a.network == network.name))
            .flat_map(|s| observed.service_containers(&s.name))
            .filter(|c| !c.oneoff)
            .collect();
        let mut disconnects = Vec::new();
        for c in &attached {
            let after = stop_if_running(plan, c, &reason);
            let action = Action::DisconnectNetwork {
                network: network.name.clone(),
                name: c.name.clone(),
            };
            disconnects.push(plan.push(action, reason.clone(), after));
        }
        let remove = plan.push(
            Action::RemoveNetwork {
                network: network.name.clone(),
            },
            reason.clone(),
            disconnects,
        );
        let create = plan.push(
            Action::CreateNetwork {
                network: network.name.clone(),
            },
            reason.clone(),
            vec![remove],
        );
        created.insert(network.name.as_str(), create);
        for c in &attached {
            let action = Action::ConnectNetwork {
                network: network.name.clone(),
                name: c.name.clone(),
            };
            let connect = plan.push(action, reason.clone(), vec![create]);
            if c.state.is_running() {
                held.entry(c.service.clone())
                    .or_default()
                    .push((c.name.clone(), connect));
            }
        }
    }
    created
}

/// Project volumes whose definition changed since they were made (their config-hash label
/// differs). With `-y`, as Compose does: the containers of the services that mount one are
/// stopped and removed, the volume is removed and made again (its data is lost), and the
/// containers are made again after it. Without `-y`, a warning, and the volume stays.
/// Returns the new volumes' create steps and the names of the containers removed.
fn recreate_diverged_volumes<'a>(
    project: &'a ProjectSpec,
    observed: &Observed,
    services: &[&'a ServiceSpec],
    plan: &mut Plan,
    assume_yes: bool,
) -> (BTreeMap<&'a str, usize>, BTreeSet<String>) {
    let mut created = BTreeMap::new();
    let mut removed = BTreeSet::new();
    let mounts = |s: &ServiceSpec, volume: &str| {
        s.container
            .mounts
            .iter()
            .any(|m| m.kind == "volume" && m.source == volume)
    };
    for volume in &project.volumes {
        if volume.external || !services.iter().any(|s| mounts(s, &volume.name)) {
            continue;
        }
        let Some(existing) = observed.volume(&volume.name) else {
            continue;
        };
        let hash = existing.labels.get(labels::CONFIG_HASH);
        if hash.is_none_or(|h| h.is_empty() || *h == resource_hash(volume)) {
            continue;
        }
        if !assume_yes {
            plan.warnings.push(format!(
                "volume {} exists but does not match its definition in the compose file; \
                 `up -y` makes it again (its data is lost)",
                volume.name
            ));
            continue;
        }
        let reason = format!("volume {} changed", volume.name);
        let users: Vec<&ObservedContainer> = project
            .services
            .iter()
            .filter(|s| mounts(s, &volume.name))
            .flat_map(|s| observed.service_containers(&s.name))
            .collect();
        let mut removals = Vec::new();
        for c in users {
            let after = stop_if_running(plan, c, &reason);
            let action = Action::RemoveContainer {
                service: c.service.clone(),
                name: c.name.clone(),
            };
            removals.push(plan.push(action, reason.clone(), after));
            removed.insert(c.name.clone());
        }
        let remove = plan.push(
            Action::RemoveVolume {
                volume: volume.name.clone(),
            },
            format!("{VOLUME_CHANGED}{}", volume.name),
            removals,
        );
        let create = plan.push(
            Action::CreateVolume {
                volume: volume.name.clone(),
            },
            reason,
            vec![remove],
        );
        created.insert(volume.name.as_str(), create);
    }
    (created, removed)
}

/// `--all-resources`: the project's own networks and volumes that no selected service made
/// `up` create, created all the same (external ones are the user's, and left alone).
fn unused_resource_steps(
    project: &ProjectSpec,
    observed: &Observed,
    (networks, volumes): &ResourceSteps<'_>,
    plan: &mut Plan,
) {
    for network in &project.networks {
        if network.external
            || networks.contains_key(network.name.as_str())
            || observed.network(&network.name).is_some()
        {
            continue;
        }
        let network = network.name.clone();
        plan.push(Action::CreateNetwork { network }, "--all-resources", vec![]);
    }
    for volume in &project.volumes {
        if volume.external
            || volumes.contains_key(volume.name.as_str())
            || observed.volume(&volume.name).is_some()
        {
            continue;
        }
        let volume = volume.name.clone();
        plan.push(Action::CreateVolume { volume }, "--all-resources", vec![]);
    }
}

/// What a service started outside `up` (a blue-green colour) needs first: the project networks
/// and volumes it uses, as `up` would create them, and nothing for its dependencies.
pub fn reconcile_resources(
    project: &ProjectSpec,
    observed: &Observed,
    services: &[String],
) -> Result<Plan, PlanError> {
    let services = select_services(project, services, true)?;
    let mut plan = Plan::default();
    resource_steps(project, observed, &services, &mut plan, BTreeMap::new())?;
    Ok(plan)
}

/// Which containers of a service `up` keeps, removes and creates, as Compose does: the
/// up-to-date ones with the lowest numbers are kept first, obsolete ones last, so scaling down
/// removes the obsolete and the highest numbered; new containers take numbers above the
/// highest existing one.
#[derive(Debug)]
struct Slots<'a> {
    keep: Vec<&'a ObservedContainer>,
    remove: Vec<&'a ObservedContainer>,
    create: Vec<u32>,
}

fn replica_slots<'a>(
    existing: &[&'a ObservedContainer],
    expected: u32,
    obsolete: impl Fn(&ObservedContainer) -> bool,
) -> Slots<'a> {
    let mut ordered: Vec<&ObservedContainer> = existing.to_vec();
    ordered.sort_by_key(|c| (obsolete(c), c.number));
    let expected = expected as usize;
    let next = existing.iter().map(|c| c.number).max().unwrap_or(0) + 1;
    let missing = expected.saturating_sub(ordered.len()) as u32;
    let remove = ordered.split_off(expected.min(ordered.len()));
    Slots {
        keep: ordered,
        remove,
        create: (next..next + missing).collect(),
    }
}

/// A container `up` keeps in its slot: why it is recreated (if it is) and the step that
/// stopped it for a recreated dependency (if one did).
struct Kept<'a> {
    container: &'a ObservedContainer,
    why: Option<&'a str>,
    stopped: Option<usize>,
}

/// What `up` does with a container it keeps: recreates it when outdated (stopped first unless
/// it is not running or was stopped already), starts it when it is not running, or leaves it.
/// Returns its start step, if any.
fn plan_kept(
    plan: &mut Plan,
    service: &ServiceSpec,
    kept: Kept<'_>,
    prerequisites: &[usize],
    before_recreate: &[usize],
    dependencies: &[usize],
) -> Option<usize> {
    let c = kept.container;
    let running = c.state.is_running() && kept.stopped.is_none();
    let Some(why) = kept.why else {
        if running {
            plan.unchanged.push(c.name.clone());
            return None;
        }
        let (after, reason) = match kept.stopped {
            Some(stop) => (vec![stop], "restarted once what it uses was recreated"),
            None => (prerequisites.to_vec(), "stopped"),
        };
        return Some(plan.push(
            Action::StartContainer {
                service: service.name.clone(),
                name: c.name.clone(),
            },
            reason,
            [after.as_slice(), dependencies].concat(),
        ));
    };
    let reason = format!("{RECREATE}{why}");
    let mut after = [prerequisites, before_recreate].concat();
    after.extend(kept.stopped);
    if running {
        let stop = plan.push(
            Action::StopContainer {
                service: service.name.clone(),
                name: c.name.clone(),
            },
            reason.clone(),
            before_recreate.to_vec(),
        );
        after = vec![stop];
    }
    let remove = plan.push(
        Action::RemoveContainer {
            service: service.name.clone(),
            name: c.name.clone(),
        },
        reason.clone(),
        after,
    );
    let mut after_remove = prerequisites.to_vec();
    after_remove.push(remove);
    let slot = Slot {
        number: c.number,
        name: c.name.clone(),
        replaces: Some(replaced_name(service, c.number)),
    };
    Some(create_and_start(
        plan,
        service,
        slot,
        reason,
        after_remove,
        dependencies,
    ))
}

/// Stops the running containers of the selected services that depend on `service` with
/// `restart: true` (Compose's `stopDependentContainers`), once each; records the steps in `held`.
fn stop_restarting_dependents(
    plan: &mut Plan,
    service: &ServiceSpec,
    services: &[&ServiceSpec],
    observed: &Observed,
    held: &mut BTreeMap<String, Vec<(String, usize)>>,
) {
    let dependents = services.iter().filter(|d| {
        d.depends_on
            .iter()
            .any(|dep| dep.restart && dep.service == service.name)
    });
    for dependent in dependents {
        let stops = held.entry(dependent.name.clone()).or_default();
        for c in observed.service_containers(&dependent.name) {
            if !c.state.is_running() || stops.iter().any(|(name, _)| *name == c.name) {
                continue;
            }
            let stop = plan.push(
                Action::StopContainer {
                    service: dependent.name.clone(),
                    name: c.name.clone(),
                },
                format!("its dependency {} is recreated", service.name),
                vec![],
            );
            stops.push((c.name.clone(), stop));
        }
    }
}

/// A step stopping `c` when it runs, for `reason`: what must happen before its container is
/// removed or taken off a network (nothing when it does not run).
fn stop_if_running(plan: &mut Plan, c: &ObservedContainer, reason: &str) -> Vec<usize> {
    if !c.state.is_running() {
        return Vec::new();
    }
    let action = Action::StopContainer {
        service: c.service.clone(),
        name: c.name.clone(),
    };
    vec![plan.push(action, reason, vec![])]
}

/// A container to create: its number, its name and the name of the one it replaces.
struct Slot {
    number: u32,
    name: String,
    replaces: Option<String>,
}

/// A container created once `prerequisites` (its networks, volumes, the removal of the one it
/// replaces) are done, then started once `dependencies` are met too; returns the start step.
/// A failed dependency so leaves it created, as Compose leaves it.
fn create_and_start(
    plan: &mut Plan,
    service: &ServiceSpec,
    slot: Slot,
    reason: String,
    prerequisites: Vec<usize>,
    dependencies: &[usize],
) -> usize {
    let create = plan.push(
        Action::CreateContainer {
            service: service.name.clone(),
            number: slot.number,
            name: slot.name.clone(),
            replaces: slot.replaces,
        },
        reason.clone(),
        prerequisites,
    );
    let mut after = dependencies.to_vec();
    after.push(create);
    plan.push(
        Action::StartContainer {
            service: service.name.clone(),
            name: slot.name,
        },
        reason,
        after,
    )
}

/// A service that takes volumes or a namespace from another service's container needs that
/// container: created by this `up`, or already there (Compose refuses otherwise, e.g. with
/// `--no-deps` after the container was removed).
fn shared_containers_exist(
    service: &ServiceSpec,
    selected: &BTreeSet<&str>,
    observed: &Observed,
) -> Result<(), PlanError> {
    for share in &service.shares {
        if !selected.contains(share.service.as_str())
            && observed.service_containers(&share.service).next().is_none()
        {
            return Err(PlanError::SharedContainerMissing {
                kind: share.kind,
                service: share.service.clone(),
            });
        }
    }
    Ok(())
}

/// The services `up` runs may not share a `container_name`.
fn container_names_unique(services: &[&ServiceSpec]) -> Result<(), PlanError> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for service in services {
        if let Some(name) = service.container_name.as_deref()
            && !seen.insert(name)
        {
            return Err(PlanError::ContainerNameInUse {
                name: name.to_string(),
                service: service.name.clone(),
            });
        }
    }
    Ok(())
}

/// Decides what `up` does.
pub fn reconcile_up(
    project: &ProjectSpec,
    observed: &Observed,
    opts: &UpOptions,
) -> Result<Plan, PlanError> {
    let plan = converge(project, observed, opts)?;
    Ok(if opts.no_start {
        plan.without_starting()
    } else {
        plan
    })
}

/// Everything `up` does to bring the engine to the project: resources, images' containers made
/// or remade, started in dependency order, waited for.
fn converge(
    project: &ProjectSpec,
    observed: &Observed,
    opts: &UpOptions,
) -> Result<Plan, PlanError> {
    let services = select_services(project, &opts.services, opts.no_deps)?;
    container_names_unique(&services)?;
    let mut plan = Plan::default();

    // Networks and volumes first; containers wait for the ones they use.
    // Per service: its containers stopped for this `up` (a network or a dependency is
    // recreated), with the step after which they may start again.
    let mut held: BTreeMap<String, Vec<(String, usize)>> = BTreeMap::new();
    let recreated = recreate_diverged_networks(project, observed, &services, &mut plan, &mut held);
    let (recreated_volumes, removed) =
        recreate_diverged_volumes(project, observed, &services, &mut plan, opts.assume_yes);
    // The containers removed with a changed volume are made again, as if they never were.
    let without_removed;
    let observed = if removed.is_empty() {
        observed
    } else {
        without_removed = Observed {
            containers: observed
                .containers
                .iter()
                .filter(|c| !removed.contains(&c.name))
                .cloned()
                .collect(),
            ..observed.clone()
        };
        &without_removed
    };
    let mut resources = resource_steps(project, observed, &services, &mut plan, recreated)?;
    resources.1.extend(recreated_volumes);
    if opts.all_resources {
        unused_resource_steps(project, observed, &resources, &mut plan);
    }
    let (network_steps, volume_steps) = resources;

    let selected: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
    // Per service: the steps after which it counts as started / healthy / completed.
    let mut started: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut readiness: BTreeMap<(&str, Condition, bool), Vec<usize>> = BTreeMap::new();
    // Per service: the names of its containers once `up` is done.
    let mut names: BTreeMap<&str, Vec<String>> = BTreeMap::new();

    for service in &services {
        shared_containers_exist(service, &selected, observed)?;
        let hash = config_hash(service);
        // Containers are created as soon as their networks and volumes exist; only their start
        // waits for their dependencies, so a failed dependency leaves them created, as Compose
        // leaves them.
        let mut prerequisites: Vec<usize> = service
            .networks
            .iter()
            .filter_map(|a| network_steps.get(a.network.as_str()).copied())
            .chain(
                service
                    .container
                    .mounts
                    .iter()
                    .filter_map(|m| volume_steps.get(m.source.as_str()).copied()),
            )
            .collect();
        let mut dependencies: Vec<usize> = Vec::new();
        for dep in &service.depends_on {
            if !selected.contains(dep.service.as_str()) {
                continue;
            }
            let dep_spec = project
                .service(&dep.service)
                .expect("selected services exist");
            let steps = match dep.condition {
                Condition::ServiceStarted => started.get(dep.service.as_str()).cloned(),
                condition => {
                    if condition == Condition::ServiceHealthy && dep_spec.healthcheck_disabled {
                        return Err(PlanError::NoHealthcheck {
                            service: service.name.clone(),
                            dependency: dep.service.clone(),
                        });
                    }
                    let after = started
                        .get(dep.service.as_str())
                        .cloned()
                        .unwrap_or_default();
                    let waits = readiness
                        .entry((dep.service.as_str(), condition, dep.required))
                        .or_insert_with(|| {
                            let dep_names =
                                names.get(dep.service.as_str()).cloned().unwrap_or_default();
                            let waits =
                                wait_steps(&mut plan, dep_spec, dep_names, condition, after);
                            if !dep.required {
                                plan.optional.extend(waits.iter().copied());
                            }
                            waits
                        });
                    Some(waits.clone())
                }
            };
            dependencies.extend(steps.unwrap_or_default());
        }
        // Volumes and namespaces taken from another service's container (`volumes_from`,
        // `network_mode`/`ipc`/`pid: service:NAME`) need that container at create time.
        for share in &service.shares {
            prerequisites.extend(
                started
                    .get(share.service.as_str())
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        // A legacy link names its target at create time: that target must be up first.
        for link in &service.links {
            prerequisites.extend(
                started
                    .get(link.service.as_str())
                    .cloned()
                    .unwrap_or_default(),
            );
        }

        let mut service_started = Vec::new();
        let existing: Vec<&ObservedContainer> =
            observed.service_containers(&service.name).collect();
        let reason_of = |c: &ObservedContainer| {
            if opts.no_recreate {
                None
            } else if opts.force_recreate {
                Some("--force-recreate")
            } else {
                outdated(c, &hash, service, observed)
            }
        };
        let slots = replica_slots(&existing, service.replicas, |c| reason_of(c).is_some());
        let mut service_names = Vec::new();
        // Recreating a container first stops the running dependents that asked to restart
        // with it (`depends_on.<this>.restart`); they start again once it is back.
        if slots.keep.iter().any(|c| reason_of(c).is_some()) {
            stop_restarting_dependents(&mut plan, service, &services, observed, &mut held);
        }
        let before_recreate: Vec<usize> = held.values().flatten().map(|(_, id)| *id).collect();
        for c in &slots.keep {
            service_names.push(c.name.clone());
            let kept = Kept {
                container: c,
                why: reason_of(c),
                stopped: held
                    .get(service.name.as_str())
                    .and_then(|stops| stops.iter().find(|(name, _)| *name == c.name))
                    .map(|(_, id)| *id),
            };
            let start = plan_kept(
                &mut plan,
                service,
                kept,
                &prerequisites,
                &before_recreate,
                &dependencies,
            );
            service_started.extend(start);
        }
        for &number in &slots.create {
            let name = project.container_name(service, number);
            service_names.push(name.clone());
            let slot = Slot {
                number,
                name,
                replaces: None,
            };
            let start = create_and_start(
                &mut plan,
                service,
                slot,
                "no container yet".to_string(),
                prerequisites.clone(),
                &dependencies,
            );
            service_started.push(start);
        }
        for extra in &slots.remove {
            let after = stop_if_running(&mut plan, extra, "scaled down");
            plan.push(
                Action::RemoveContainer {
                    service: service.name.clone(),
                    name: extra.name.clone(),
                },
                "scaled down",
                after,
            );
        }
        names.insert(&service.name, service_names);
        started.insert(&service.name, service_started);
    }

    orphans(project, observed, opts.remove_orphans, &mut plan);

    if opts.wait {
        for service in &services {
            let after = started
                .get(service.name.as_str())
                .cloned()
                .unwrap_or_default();
            for name in names
                .get(service.name.as_str())
                .cloned()
                .unwrap_or_default()
            {
                let service = service.name.clone();
                let action = if awaited_completion(project, &service) {
                    Action::WaitCompleted { service, name }
                } else {
                    Action::WaitReady { service, name }
                };
                plan.push(action, "--wait", after.clone());
            }
        }
    }
    Ok(plan)
}

/// The name Compose records in `com.docker.compose.replace` for a recreated container: its
/// `container_name`, else `SERVICE-N` (not the project-prefixed container name).
fn replaced_name(service: &ServiceSpec, number: u32) -> String {
    service
        .container_name
        .clone()
        .unwrap_or_else(|| format!("{}-{number}", service.name))
}

/// Whether another service waits for `service` to complete successfully: `--wait` then waits
/// for it to exit 0 instead of for it to run, or it would never finish waiting for a one-shot
/// container (Compose's `getDependencyCondition`).
fn awaited_completion(project: &ProjectSpec, service: &str) -> bool {
    project.services.iter().any(|s| {
        s.depends_on
            .iter()
            .any(|d| d.service == service && d.condition == Condition::ServiceCompletedSuccessfully)
    })
}

fn wait_steps(
    plan: &mut Plan,
    service: &ServiceSpec,
    names: Vec<String>,
    condition: Condition,
    after: Vec<usize>,
) -> Vec<usize> {
    names
        .into_iter()
        .map(|name| {
            let action = match condition {
                Condition::ServiceCompletedSuccessfully => Action::WaitCompleted {
                    service: service.name.clone(),
                    name,
                },
                _ => Action::WaitHealthy {
                    service: service.name.clone(),
                    name,
                },
            };
            plan.push(action, "a dependent service waits for it", after.clone())
        })
        .collect()
}

fn orphans(project: &ProjectSpec, observed: &Observed, remove: bool, plan: &mut Plan) {
    for c in &observed.containers {
        // As Compose: a one-off container that ended is an orphan; a service container is one
        // when its service left the project.
        let orphan = match c.oneoff {
            true => matches!(c.state, RunState::Exited | RunState::Dead),
            false => project.service(&c.service).is_none(),
        };
        if !orphan {
            continue;
        }
        if remove {
            let after = stop_if_running(plan, c, "orphan (--remove-orphans)");
            plan.push(
                Action::RemoveContainer {
                    service: c.service.clone(),
                    name: c.name.clone(),
                },
                "orphan (--remove-orphans)",
                after,
            );
        } else {
            plan.warnings.push(format!(
                "found orphan container {} for service {}; remove it with --remove-orphans",
                c.name, c.service
            ));
        }
    }
}

/// Decides what stopping `services` (all when empty) does: their running containers stop,
/// dependents before what they depend on.
pub fn reconcile_stop(project: &ProjectSpec, observed: &Observed, services: &[String]) -> Plan {
    let running = Observed {
        containers: observed
            .containers
            .iter()
            .filter(|c| !c.oneoff && c.state.is_running())
            .filter(|c| services.is_empty() || services.contains(&c.service))
            .cloned()
            .collect(),
        ..Default::default()
    };
    let down = reconcile_down(project, &running, &DownOptions::default());
    let mut plan = Plan::default();
    let mut renumber = BTreeMap::new();
    for step in down.steps {
        if let Action::StopContainer { .. } = step.action {
            let after = step
                .after
                .iter()
                .filter_map(|a| renumber.get(a).copied())
                .collect();
            let id = plan.push(step.action, "stop", after);
            renumber.insert(step.id, id);
        }
    }
    plan
}

/// Options of `down`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownOptions {
    pub volumes: bool,
    pub remove_orphans: bool,
    /// `down SERVICE...`: only these services and those that depend on them; the project's
    /// networks and volumes stay while other containers remain.
    pub services: Vec<String>,
}

/// The services `down SERVICE...` removes: those named and, transitively, those that depend on
/// them. `None`: all of them.
fn down_selection(project: &ProjectSpec, named: &[String]) -> Option<Vec<String>> {
    if named.is_empty() {
        return None;
    }
    let mut chosen: Vec<String> = named.to_vec();
    let mut i = 0;
    while i < chosen.len() {
        let current = chosen[i].clone();
        for s in &project.services {
            if !chosen.contains(&s.name) && dependencies(s).any(|d| d == current) {
                chosen.push(s.name.clone());
            }
        }
        i += 1;
    }
    Some(chosen)
}

/// `down --rmi`: which images go with the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveImages {
    /// Every image a service uses.
    All,
    /// Only the images the project builds.
    Local,
}

impl std::str::FromStr for RemoveImages {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "local" => Ok(Self::Local),
            other => Err(format!(
                "invalid --rmi value {other:?}: expected \"local\" or \"all\""
            )),
        }
    }
}

/// The images `down --rmi` removes, each once, in service order.
pub fn images_to_remove(project: &ProjectSpec, mode: RemoveImages) -> Vec<String> {
    let mut images: Vec<String> = Vec::new();
    for service in &project.services {
        let wanted = match mode {
            RemoveImages::All => true,
            RemoveImages::Local => service.build.is_some(),
        };
        if wanted && !service.image.is_empty() && !images.contains(&service.image) {
            images.push(service.image.clone());
        }
    }
    images
}

/// Decides what `down` does: stop and remove the project's containers, then its networks (and
/// named volumes with `-v`). External networks and volumes are never removed.
pub fn reconcile_down(project: &ProjectSpec, observed: &Observed, opts: &DownOptions) -> Plan {
    let mut plan = Plan::default();
    let mut removals = Vec::new();
    let chosen = down_selection(project, &opts.services);
    let orphan = |c: &ObservedContainer| !c.oneoff && project.service(&c.service).is_none();
    let mut containers: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|c| {
            (opts.remove_orphans && orphan(c))
                || (!orphan(c) && chosen.as_ref().is_none_or(|s| s.contains(&c.service)))
        })
        .collect();
    let remaining = observed.containers.len() > containers.len();
    // Dependents stop before what they depend on, as Compose does: reverse dependency order.
    let order: Vec<&str> = select_services(project, &[], true)
        .map(|services| services.iter().map(|s| s.name.as_str()).collect())
        .unwrap_or_default();
    let rank = |service: &str| {
        order
            .iter()
            .position(|s| *s == service)
            .map_or(0, |p| order.len() - p)
    };
    containers.sort_by(|a, b| (rank(&a.service), &a.name).cmp(&(rank(&b.service), &b.name)));
    let mut stopped: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for c in containers {
        let mut after = vec![];
        if c.state.is_running() {
            let dependents: Vec<usize> = project
                .services
                .iter()
                .filter(|s| dependencies(s).any(|d| d == c.service))
                .flat_map(|s| stopped.get(s.name.as_str()).cloned().unwrap_or_default())
                .collect();
            let stop = plan.push(
                Action::StopContainer {
                    service: c.service.clone(),
                    name: c.name.clone(),
                },
                "down",
                dependents,
            );
            stopped.entry(c.service.as_str()).or_default().push(stop);
            after.push(stop);
        }
        removals.push(plan.push(
            Action::RemoveContainer {
                service: c.service.clone(),
                name: c.name.clone(),
            },
            "down",
            after,
        ));
    }
    if !opts.remove_orphans {
        for c in &observed.containers {
            if !c.oneoff && project.service(&c.service).is_none() {
                plan.warnings.push(format!(
                    "found orphan container {} for service {}; remove it with --remove-orphans",
                    c.name, c.service
                ));
            }
        }
    }
    for network in &project.networks {
        if !remaining && !network.external && observed.network(&network.name).is_some() {
            plan.push(
                Action::RemoveNetwork {
                    network: network.name.clone(),
                },
                "down",
                removals.clone(),
            );
        }
    }
    if opts.volumes && !remaining {
        for volume in &project.volumes {
            if !volume.external && observed.volume(&volume.name).is_some() {
                plan.push(
                    Action::RemoveVolume {
                        volume: volume.name.clone(),
                    },
                    "down -v",
                    removals.clone(),
                );
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(number: u32) -> ObservedContainer {
        ObservedContainer {
            id: format!("id-{number}"),
            ..ObservedContainer::running("web", number, &format!("p-web-{number}"))
        }
    }

    fn numbers(list: &[&ObservedContainer]) -> Vec<u32> {
        list.iter().map(|c| c.number).collect()
    }

    #[test]
    fn scaling_down_removes_the_highest_numbers() {
        let (a, b, c) = (replica(1), replica(2), replica(3));
        let slots = replica_slots(&[&c, &a, &b], 1, |_| false);
        assert_eq!(numbers(&slots.keep), [1]);
        assert_eq!(numbers(&slots.remove), [2, 3]);
        assert!(slots.create.is_empty());
    }

    #[test]
    fn scaling_down_removes_obsolete_containers_first() {
        let (a, b, c) = (replica(1), replica(2), replica(3));
        let slots = replica_slots(&[&a, &b, &c], 2, |c| c.number == 1);
        assert_eq!(numbers(&slots.keep), [2, 3]);
        assert_eq!(numbers(&slots.remove), [1]);
    }

    #[test]
    fn scaling_up_numbers_new_containers_above_the_highest() {
        let (a, c) = (replica(1), replica(3));
        let slots = replica_slots(&[&a, &c], 4, |_| false);
        assert_eq!(numbers(&slots.keep), [1, 3]);
        assert_eq!(slots.create, [4, 5]);
        assert_eq!(replica_slots(&[], 2, |_| false).create, [1, 2]);
        assert!(replica_slots(&[], 0, |_| false).create.is_empty());
    }
}
