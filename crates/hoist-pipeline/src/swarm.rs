//! Releases on a Docker Swarm: a compose project applied as a stack (overlay networks,
//! secrets, configs, services; `hoist stack deploy`), and the release of one service as a
//! start-first, health-gated rolling update that Swarm rolls back by itself when a new task
//! fails (`hoist deploy --target` and the pipeline's step 6 on a target whose `swarm:` names a
//! manager), with the target's proxy on the manager in front of the tasks; `roll_back` returns
//! a service to its previous spec. The decisions are `hoist_core::swarm`'s; this carries them
//! out on the manager.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hoist_core::swarm::{
    self, Cluster, NAMESPACE_LABEL, ObjectSource, PublishMode, ServiceAction, Stack, StackObject,
    StackOptions,
};
use hoist_docker::Engine;
use hoist_docker::swarm::{ServiceRow, ServiceState, TaskRow};
use serde_json::json;

use crate::config::SwarmSettings;
use crate::proxy::{Match, Proxy, ProxySpec, Route, Upstream};

/// How long a rolling update or rollback may take before hoist stops waiting.
pub const ROLLOUT_LIMIT: Duration = Duration::from_secs(600);

/// A Swarm release or stack deploy that failed, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SwarmError(pub String);

macro_rules! swarm_err {
    ($($t:tt)*) => { SwarmError(format!($($t)*)) };
}

macro_rules! bail {
    ($($t:tt)*) => { return Err(swarm_err!($($t)*)) };
}

impl From<hoist_docker::EngineError> for SwarmError {
    fn from(e: hoist_docker::EngineError) -> SwarmError {
        SwarmError(e.to_string())
    }
}

impl From<hoist_core::swarm::StackError> for SwarmError {
    fn from(e: hoist_core::swarm::StackError) -> SwarmError {
        SwarmError(e.to_string())
    }
}

impl From<crate::proxy::ProxyError> for SwarmError {
    fn from(e: crate::proxy::ProxyError) -> SwarmError {
        SwarmError(e.to_string())
    }
}

/// Registry credentials for an image (from the user's Docker config), or why not.
pub type Auth<'a> =
    &'a (dyn Fn(&str) -> Result<Option<hoist_docker::RegistryAuth>, SwarmError> + Sync);

/// What the decision needs from the cluster: how many nodes can run tasks, and the exposed
/// ports of the images legacy links point at.
pub async fn observe_cluster(
    engine: &Engine,
    compose: &hoist_compose::Project,
    spec: &hoist_core::spec::ProjectSpec,
    auth_for: Auth<'_>,
) -> Result<Cluster, SwarmError> {
    let nodes = engine
        .swarm_nodes()
        .await?
        .iter()
        .filter(|n| n.status == "ready" && n.availability == "active")
        .count();
    let mut exposed = BTreeMap::new();
    for link in spec.services.iter().flat_map(|s| &s.links) {
        let Some(image) = compose
            .services
            .get(link.service.as_str())
            .and_then(|s| s.image.as_deref())
        else {
            continue;
        };
        if exposed.contains_key(image) {
            continue;
        }
        let ports = engine
            .exposed_ports(image, auth_for(image)?.as_ref())
            .await
            .map_err(|e| {
                swarm_err!(
                    "service {}: reading the ports image {image} exposes (for the link \
                     variables): {e}",
                    link.service
                )
            })?;
        exposed.insert(image.to_string(), ports);
    }
    Ok(Cluster { nodes, exposed })
}

/// What must exist before anything is created: every external network, secret and config, and
/// every file a secret or config is read from. A stack that would fail half-way fails here,
/// with nothing changed on the cluster.
pub async fn preflight(engine: &Engine, stack: &Stack) -> Result<(), SwarmError> {
    for network in stack.networks.iter().filter(|n| n.external) {
        if !engine.network_exists(&network.name).await? {
            bail!(
                "network {} is declared as external, but could not be found: create it with \
                 `docker network create -d overlay --attachable {}`",
                network.name,
                network.name
            );
        }
    }
    for (secret, wanted) in [(true, &stack.secrets), (false, &stack.configs)] {
        let kind = if secret { "secret" } else { "config" };
        let existing = engine.swarm_objects(secret, &stack.namespace).await?;
        for object in wanted {
            match &object.source {
                ObjectSource::External if !existing.iter().any(|o| o.name == object.name) => {
                    bail!(
                        "{kind} {} is declared as external, but could not be found: create it \
                         with `docker {kind} create {} FILE`",
                        object.name,
                        object.name
                    )
                }
                ObjectSource::File(path) => {
                    std::fs::metadata(path)
                        .map_err(|e| swarm_err!("{kind} {}: reading {path}: {e}", object.name))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// What every service of `stack` needs before it is created or updated: the checks of
/// [`preflight`], the networks, the secrets and configs (their ids by name, for
/// [`swarm::fill_object_ids`]), and, with `pin` (registry credentials), each image pinned to
/// its registry digest.
pub async fn prepare(
    engine: &Engine,
    stack: &mut Stack,
    pin: Option<Auth<'_>>,
    say: &dyn Fn(String),
) -> Result<(BTreeMap<String, String>, BTreeMap<String, String>), SwarmError> {
    preflight(engine, stack).await?;
    create_networks(engine, stack, say).await?;
    let secrets = converge_objects(engine, true, &stack.namespace, &stack.secrets, say).await?;
    let configs = converge_objects(engine, false, &stack.namespace, &stack.configs, say).await?;
    if let Some(auth_for) = pin {
        pin_images(engine, stack, auth_for, say).await;
    }
    Ok((secrets, configs))
}

pub async fn create_networks(
    engine: &Engine,
    stack: &Stack,
    say: &dyn Fn(String),
) -> Result<(), SwarmError> {
    let existing = engine.stack_networks(&stack.namespace).await?;
    for network in &stack.networks {
        if network.external {
            continue;
        }
        if existing.contains(&network.name) || engine.network_exists(&network.name).await? {
            continue;
        }
        say(format!("Creating network {}", network.name));
        engine.create_stack_network(&network.create).await?;
    }
    Ok(())
}

/// Each secret (or config) of the stack by name → id: found when it exists with the same
/// data (its digest label), created when it does not. Swarm never changes an object's data, so
/// a changed file is refused with what to do.
pub async fn converge_objects(
    engine: &Engine,
    secret: bool,
    namespace: &str,
    wanted: &[StackObject],
    say: &dyn Fn(String),
) -> Result<BTreeMap<String, String>, SwarmError> {
    let kind = if secret { "secret" } else { "config" };
    let existing = engine.swarm_objects(secret, namespace).await?;
    let mut ids = BTreeMap::new();
    for object in wanted {
        let found = existing.iter().find(|o| o.name == object.name);
        let data = match &object.source {
            ObjectSource::External => {
                let found = found.ok_or_else(|| {
                    swarm_err!(
                        "{kind} {} is declared as external, but could not be found: create it \
                         with `docker {kind} create {} FILE`",
                        object.name,
                        object.name
                    )
                })?;
                ids.insert(object.name.clone(), found.id.clone());
                continue;
            }
            ObjectSource::Data(text) => text.clone().into_bytes(),
            ObjectSource::File(path) => std::fs::read(path)
                .map_err(|e| swarm_err!("{kind} {}: reading {path}: {e}", object.name))?,
        };
        let digest = swarm::digest(&data);
        match found {
            Some(o)
                if o.digest.as_deref() == Some(digest.as_str())
                    || o.digest.is_none() && !o.in_stack =>
            {
                ids.insert(object.name.clone(), o.id.clone());
            }
            Some(_) => bail!(
                "{kind} {}: its content changed, and Swarm never changes a {kind}'s content: \
                 give it a new `name:` in the file (the services move to it on this deploy), \
                 or remove the stack first",
                object.name
            ),
            None => {
                say(format!("Creating {kind} {}", object.name));
                let labels = BTreeMap::from([
                    (NAMESPACE_LABEL.to_string(), namespace.to_string()),
                    (swarm::DIGEST_LABEL.to_string(), digest),
                ]);
                let id = engine
                    .create_swarm_object(secret, &object.name, labels, &data)
                    .await?;
                ids.insert(object.name.clone(), id);
            }
        }
    }
    Ok(ids)
}

/// Each service's image pinned to the digest its registry has now; an image the registry
/// cannot be asked about is deployed by its tag, with a warning (as docker does).
pub async fn pin_images(
    engine: &Engine,
    stack: &mut Stack,
    auth_for: Auth<'_>,
    say: &dyn Fn(String),
) {
    for service in &mut stack.services {
        if service.image.contains('@') {
            continue;
        }
        let auth = auth_for(&service.image).ok().flatten();
        match engine.registry_digest(&service.image, auth.as_ref()).await {
            Ok(Some(digest)) => {
                let base = service.image.clone();
                service.spec["TaskTemplate"]["ContainerSpec"]["Image"] =
                    serde_json::json!(format!("{base}@{digest}"));
            }
            Ok(None) | Err(_) => say(format!(
                "warning: image {} could not be accessed on a registry to record its digest; \
                 each node will use the image its tag names when it pulls",
                service.image
            )),
        }
    }
}

/// Waits until every service runs all its replicas on their current spec (healthy, for
/// services with a health check: Swarm reports a task running only then).
pub async fn converge(
    engine: &Engine,
    namespace: &str,
    timeout: Duration,
    say: &dyn Fn(String),
) -> Result<(), SwarmError> {
    let started = Instant::now();
    loop {
        let services = engine.stack_services(namespace).await?;
        let ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
        let tasks = engine.service_tasks(&ids).await?;
        let nodes = engine
            .swarm_nodes()
            .await?
            .iter()
            .filter(|n| n.status == "ready" && n.availability == "active")
            .count() as u64;
        let behind: Vec<String> = services
            .iter()
            .filter_map(|s| {
                let (running, want) = replicas(s, &tasks, nodes);
                let updating = s
                    .update
                    .as_ref()
                    .is_some_and(|(state, _)| state == "updating" || state == "rollback_started");
                (running < want || updating).then(|| format!("{} {running}/{want}", s.name))
            })
            .collect();
        if let Some(failed) = services.iter().find(|s| {
            s.update
                .as_ref()
                .is_some_and(|(state, _)| state == "rollback_completed" || state == "paused")
        }) {
            let (state, message) = failed.update.clone().unwrap_or_default();
            bail!("service {}: update {state}: {message}", failed.name);
        }
        if behind.is_empty() {
            say(format!(
                "stack {namespace}: every task running ({:.1} s)",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!(
                "stack {namespace}: not converged after {} s: {}",
                timeout.as_secs(),
                behind.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A service's running tasks and the number it wants.
pub fn replicas(s: &ServiceRow, tasks: &[TaskRow], nodes: u64) -> (u64, u64) {
    let running = tasks
        .iter()
        .filter(|t| t.service_id == s.id && t.desired == "running" && t.state == "running")
        .count() as u64;
    (running, s.replicas.unwrap_or(nodes))
}

/// The release under the lock: the stack's objects, the service's new spec, the rollout
/// watched to its end, the proxy in front.
/// A release's place on a Swarm: the manager, the project, how it rolls, and the proxy and
/// route of the target.
pub struct SwarmTarget<'a> {
    pub engine: &'a Engine,
    pub compose: &'a hoist_compose::Project,
    pub spec: &'a hoist_core::spec::ProjectSpec,
    pub settings: &'a SwarmSettings,
    pub proxy: Option<ProxySpec>,
    /// What the integrate step routes: the match, the container port, extra directives.
    pub route: Option<(Match, u16, Vec<String>)>,
    /// The route's name on the proxy (the hoist.yml service).
    pub route_name: String,
    pub auth: Auth<'a>,
    /// Progress lines and warnings.
    pub say: &'a (dyn Fn(String) + Sync),
}

/// Releases `image` as `service`: the stack's other objects created when missing, the
/// service's spec replaced (a rolling update) or created (the first release), watched until
/// Swarm reports the end, then the proxy in front. What it says on success.
pub async fn release(
    t: &SwarmTarget<'_>,
    service: &str,
    image: &str,
) -> Result<String, SwarmError> {
    let (engine, settings, auth_for) = (t.engine, t.settings, t.auth);
    let say = |line: String| (t.say)(line);
    let cluster = observe_cluster(engine, t.compose, t.spec, auth_for).await?;
    let options = StackOptions {
        // No routing mesh needed: the proxy reaches the tasks on the overlay by DNS.
        publish: PublishMode::Host,
        endpoint_mode: Some("dnsrr".into()),
        ..StackOptions::default()
    };
    let mut stack = swarm::stack(t.compose, t.spec, &cluster, &options)?;
    for note in &stack.notes {
        say(format!("warning: {note}"));
    }
    set_release(&mut stack, service, image, settings)?;
    if !has_health_check(&stack, service) {
        say(format!(
            "warning: service {service} has no health check: Swarm counts a new task as ready \
             once its container starts; give it a `healthcheck:` so traffic waits for it"
        ));
    }
    let (secrets, configs) = prepare(engine, &mut stack, Some(auth_for), &say).await?;
    let running = engine.running_stack(&stack.namespace).await?;
    let (actions, _) = swarm::service_actions(&stack, &running, false);
    let mut first_release = false;
    let mut before = None;
    for (s, action) in actions {
        let mut body = s.spec.clone();
        swarm::fill_object_ids(&mut body, &secrets, &configs);
        match action {
            ServiceAction::Create => {
                say(format!("Creating service {}", s.name));
                engine.create_service(&body, None).await?;
                first_release |= s.service == service;
            }
            ServiceAction::Update { id, version } if s.service == service => {
                let state = engine.inspect_stack_service(&id).await?;
                if same_image(&state.image, &body) {
                    return Ok(format!("{service} already runs {image} ({})", state.image));
                }
                say(format!("Updating service {} (id: {id}): {image}", s.name));
                engine.update_service(&id, version, &body, None).await?;
                before = Some((id.clone(), state.update.map(|u| u.started_at)));
            }
            ServiceAction::Update { .. } => {}
        }
    }
    match &before {
        Some((id, started)) => watch_update(engine, id, started.as_deref(), service, &say).await?,
        None if first_release => converge(engine, &stack.namespace, ROLLOUT_LIMIT, &say).await?,
        None => {}
    }
    integrate(t, &stack, service).await?;
    Ok(format!(
        "{service} is live with {image} on the Swarm at {} ({})",
        engine.address(),
        if first_release {
            "first release"
        } else {
            "rolling update"
        }
    ))
}

/// The released service's image and its rolling update: start-first, rolled back by Swarm when
/// a new task fails; parallelism, delay and monitor from the target, else the file, else 1,
/// none and 5 s.
fn set_release(
    stack: &mut Stack,
    service: &str,
    image: &str,
    settings: &SwarmSettings,
) -> Result<(), SwarmError> {
    let s = stack
        .services
        .iter_mut()
        .find(|s| s.service == service)
        .ok_or_else(|| swarm_err!("no such service: {service}"))?;
    s.image = image.to_string();
    s.spec["TaskTemplate"]["ContainerSpec"]["Image"] = json!(image);
    s.spec["Labels"][swarm::IMAGE_LABEL] = json!(image);
    let ns = |text: &Option<String>| {
        text.as_deref()
            .and_then(hoist_compose::units::parse_duration)
            .map(|n| n as i64)
    };
    for key in ["UpdateConfig", "RollbackConfig"] {
        let mut config = s.spec.get(key).cloned().unwrap_or_else(|| json!({}));
        if let Some(p) = settings.parallelism {
            config["Parallelism"] = json!(p);
        } else if config.get("Parallelism").is_none() {
            config["Parallelism"] = json!(1);
        }
        if let Some(d) = ns(&settings.delay) {
            config["Delay"] = json!(d);
        }
        if let Some(m) = ns(&settings.monitor) {
            config["Monitor"] = json!(m);
        } else if config.get("Monitor").is_none() {
            config["Monitor"] = json!(5_000_000_000i64);
        }
        if config.get("Order").is_none() {
            config["Order"] = json!("start-first");
        }
        if config.get("FailureAction").is_none() {
            config["FailureAction"] = json!(if key == "UpdateConfig" {
                "rollback"
            } else {
                "pause"
            });
        }
        s.spec[key] = config;
    }
    Ok(())
}

fn has_health_check(stack: &Stack, service: &str) -> bool {
    stack
        .services
        .iter()
        .find(|s| s.service == service)
        .and_then(|s| s.spec["TaskTemplate"]["ContainerSpec"].get("HealthCheck"))
        .and_then(|h| h["Test"][0].as_str())
        .is_some_and(|t| t != "NONE")
}

/// Whether the service already runs the image the new spec names (pinned or not).
fn same_image(running: &str, body: &serde_json::Value) -> bool {
    let wanted = body["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .unwrap_or_default();
    running == wanted
}

/// Follows the service's update until Swarm reports its end: `completed` is success; a
/// rollback (Swarm's own, after a failed task) or a pause is the release's failure, with
/// Swarm's message.
async fn watch_update(
    engine: &Engine,
    id: &str,
    before: Option<&str>,
    service: &str,
    say: &dyn Fn(String),
) -> Result<(), SwarmError> {
    let deadline = Instant::now() + ROLLOUT_LIMIT;
    let mut last = String::new();
    loop {
        let state = engine.inspect_stack_service(id).await?;
        if let Some(u) = state
            .update
            .as_ref()
            .filter(|u| Some(u.started_at.as_str()) != before)
        {
            if u.state != last {
                say(format!("Release {service}  {}: {}", u.state, u.message));
                last = u.state.clone();
            }
            match u.state.as_str() {
                "completed" => return Ok(()),
                "rollback_completed" => bail!(
                    "the release of {service} failed and Swarm rolled it back: {}",
                    u.message
                ),
                "paused" | "rollback_paused" => bail!(
                    "the release of {service} stopped ({}): {}; see `hoist stack ps`",
                    u.state,
                    u.message
                ),
                _ => {}
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the release of {service} did not finish within {} s",
                ROLLOUT_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The target's proxy on the manager, on the service's first network, routing the integrate
/// step's path to the service's name there: Swarm's DNS answers with its running tasks.
async fn integrate(t: &SwarmTarget<'_>, stack: &Stack, service: &str) -> Result<(), SwarmError> {
    let engine = t.engine;
    let Some(mut proxy_spec) = t.proxy.clone() else {
        return Ok(());
    };
    let Some((matcher, port, directives)) = t.route.clone() else {
        return Ok(());
    };
    let s = stack
        .services
        .iter()
        .find(|s| s.service == service)
        .ok_or_else(|| swarm_err!("no such service: {service}"))?;
    let network = s.spec["TaskTemplate"]["Networks"][0]["Target"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    proxy_spec.network = Some(network);
    let proxy = Proxy::new(engine, proxy_spec);
    let sink = hoist_core::events::Discard;
    proxy.ensure(&sink).await?;
    let key = t.route_name.clone();
    let upstream = Upstream::resolved(key.clone(), format!("{service}:{port}"));
    let route = Route {
        name: key.clone(),
        matcher: match matcher {
            Match::PathPrefix(p) => Match::PathPrefix(p),
            Match::Host(h) => Match::Host(h),
        },
        upstream: key,
        directives,
        hosts: Vec::new(),
    };
    proxy
        .update(&sink, |table| {
            table.set_upstream(upstream.clone());
            table.set_route(route.clone());
            Ok(())
        })
        .await?;
    Ok(())
}

/// Returns `service` of stack `namespace` to its previous spec, as `docker service rollback`
/// does, and waits until Swarm reports it done. What it says on success.
pub async fn roll_back(
    engine: &Engine,
    namespace: &str,
    service: &str,
    say: &(dyn Fn(String) + Sync),
) -> Result<String, SwarmError> {
    let name = swarm::scoped(namespace, service);
    let running = engine.running_stack(namespace).await?;
    let found = running
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| swarm_err!("service {name} is not on the Swarm: nothing to roll back"))?;
    let state: ServiceState = engine.inspect_stack_service(&found.id).await?;
    // After a rollback (Swarm's own after a failed task, or an earlier `hoist rollback`),
    // the service's previous spec is the release rolled back from: going "back" would deploy
    // it again.
    if state
        .update
        .as_ref()
        .is_some_and(|u| u.state == "rollback_completed")
    {
        bail!(
            "not rolling {service} back: it was already rolled back to {}, and its previous \
             spec is the release it was rolled back from; deploy the version you want with \
             `hoist deploy {service} --image ...`",
            state.image
        );
    }
    let previous = state
        .previous_image
        .clone()
        .ok_or_else(|| swarm_err!("service {name} has no previous release to roll back to"))?;
    let before = state.update.as_ref().map(|u| u.started_at.clone());
    say(format!("Release {service}  rolling back to {previous}"));
    engine.rollback_service(&state).await?;
    let deadline = Instant::now() + ROLLOUT_LIMIT;
    loop {
        let now = engine.inspect_stack_service(&found.id).await?;
        if let Some(u) = now
            .update
            .as_ref()
            .filter(|u| Some(&u.started_at) != before.as_ref())
        {
            match u.state.as_str() {
                "rollback_completed" => {
                    return Ok(format!("{service} is back on {previous}"));
                }
                "rollback_paused" | "paused" => {
                    bail!(
                        "the rollback of {service} stopped ({}): {}",
                        u.state,
                        u.message
                    )
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            bail!(
                "the rollback of {service} did not finish within {} s",
                ROLLOUT_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
