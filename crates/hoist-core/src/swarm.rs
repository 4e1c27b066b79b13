//! A compose project as a Docker Swarm stack, decided purely: the overlay networks, secrets,
//! configs and services (`docker stack deploy`'s objects and labels, so the docker CLI and hoist
//! see the same stack), what Swarm cannot express named per service, and the plan that brings
//! what a cluster runs to that stack.
//!
//! The service specs are the Engine API's JSON (`POST /services/create`); references to secrets
//! and configs carry names, and the executor fills in their ids once they exist
//! ([`fill_object_ids`]).

use std::collections::{BTreeMap, BTreeSet};

use hoist_compose::json::Value as J;
use hoist_compose::{FileObject, Project, Service};
use serde_json::{Map, Value, json};

use crate::spec::{HealthSpec, MountSpec, ProjectSpec, ServiceSpec};

/// The label docker puts on every object of a stack.
pub const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";
/// The label docker puts on a stack's service: the image as the file names it.
pub const IMAGE_LABEL: &str = "com.docker.stack.image";
/// A secret's or config's content digest: Swarm never shows the data again, and never
/// changes it, so this is how a changed file is told from an unchanged one.
pub const DIGEST_LABEL: &str = "io.hoist.digest";

/// How the published ports of every service are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishMode {
    /// Each port as the file says (`ingress` when it says nothing: the routing mesh).
    AsWritten,
    /// Every port on the node that runs the task (`mode: host`), for clusters without the
    /// routing mesh.
    Host,
}

/// What the stack is deployed with, beyond the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOptions {
    pub publish: PublishMode,
    /// `dnsrr` for every service that does not say (`vip` needs IPVS on the nodes).
    pub endpoint_mode: Option<String>,
    /// Replicas per service, over what the file says (`--scale SERVICE=N`).
    pub scale: BTreeMap<String, u32>,
}

impl Default for StackOptions {
    fn default() -> StackOptions {
        StackOptions {
            publish: PublishMode::AsWritten,
            endpoint_mode: None,
            scale: BTreeMap::new(),
        }
    }
}

/// What the cluster is, as observed before deciding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Nodes that can run tasks (ready, active).
    pub nodes: usize,
    /// Each image's exposed ports (`5432/tcp`), for the variables legacy links inject.
    pub exposed: BTreeMap<String, Vec<String>>,
}

/// The stack to converge to.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub namespace: String,
    pub networks: Vec<StackNetwork>,
    pub secrets: Vec<StackObject>,
    pub configs: Vec<StackObject>,
    pub services: Vec<StackService>,
    /// What the file says that Swarm does not do, per service, with what to do about it.
    pub notes: Vec<Note>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StackNetwork {
    /// Engine name (`books_default`).
    pub name: String,
    /// Created outside the stack: must exist, never created or removed.
    pub external: bool,
    /// The `POST /networks/create` body.
    pub create: Value,
}

/// A secret or a config.
#[derive(Debug, Clone, PartialEq)]
pub struct StackObject {
    /// Engine name (`books_db_password`).
    pub name: String,
    pub source: ObjectSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ObjectSource {
    /// Created outside the stack.
    External,
    /// Read from this file (the executor reads it; this crate reads nothing).
    File(String),
    /// The value itself (`environment` or `content`).
    Data(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StackService {
    /// The compose service (`app`).
    pub service: String,
    /// Engine name (`books_app`).
    pub name: String,
    pub image: String,
    /// The `ServiceSpec` body, with secret and config references by name.
    pub spec: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub service: String,
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "service {}: {}", self.service, self.message)
    }
}

/// What cannot be deployed as it is written: every such place, each with what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct StackError(pub Vec<Note>);

/// The stack for `project` (loaded with the stack's name as its project name, so every object
/// is named `NAMESPACE_KEY` as `docker stack deploy` names it) and its engine-level `spec`.
pub fn stack(
    project: &Project,
    spec: &ProjectSpec,
    cluster: &Cluster,
    opts: &StackOptions,
) -> Result<Stack, StackError> {
    let namespace = spec.name.clone();
    let mut notes = Vec::new();
    let mut refusals = Vec::new();
    let aliases = link_aliases(spec);
    let mut services = Vec::new();
    for name in opts.scale.keys() {
        if !spec.services.iter().any(|s| &s.name == name) {
            refusals.push(Note {
                service: name.clone(),
                message: "`--scale` names a service the files do not have".into(),
            });
        }
    }
    let scaled: Vec<ServiceSpec> = spec
        .services
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if let Some(n) = opts.scale.get(&s.name) {
                s.replicas = *n;
            }
            s
        })
        .collect();
    for s in &scaled {
        let Some(compose) = project.services.get(s.name.as_str()) else {
            continue;
        };
        refusals.extend(refusals_of(project.legacy, s, compose, cluster, opts));
        notes.extend(notes_of(s, compose));
        let spec_json = service_json(&namespace, project, s, compose, &aliases, cluster, opts);
        services.push(StackService {
            service: s.name.clone(),
            name: scoped(&namespace, &s.name),
            image: s.image.clone(),
            spec: spec_json,
        });
    }
    if !refusals.is_empty() {
        return Err(StackError(refusals));
    }
    Ok(Stack {
        networks: networks(&namespace, spec),
        secrets: objects(&namespace, project, &project.secrets),
        configs: objects(&namespace, project, &project.configs),
        services,
        notes,
        namespace,
    })
}

/// `NAMESPACE_NAME`, as docker scopes a stack's objects.
pub fn scoped(namespace: &str, name: &str) -> String {
    format!("{namespace}_{name}")
}

/// The networks the stack's services attach to: the file's, or `NAMESPACE_default` for a
/// project that has none (legacy v1 files run on one network).
fn networks(namespace: &str, spec: &ProjectSpec) -> Vec<StackNetwork> {
    let labels = json!({ NAMESPACE_LABEL: namespace });
    let used: BTreeSet<String> = spec
        .services
        .iter()
        .flat_map(|s| attachments(namespace, s))
        .map(|(network, _)| network)
        .collect();
    let mut out = Vec::new();
    for name in &used {
        let declared = spec.networks.iter().find(|n| &n.name == name);
        let external = declared.is_some_and(|n| n.external);
        let mut create = json!({
            "Name": name,
            "Driver": declared.and_then(|n| n.driver.clone()).unwrap_or_else(|| "overlay".into()),
            "Labels": labels,
            // A proxy in front of the services runs as a plain container on this network.
            "Attachable": true,
        });
        if let Some(n) = declared {
            let mut all = n.labels.clone();
            all.insert(NAMESPACE_LABEL.into(), namespace.into());
            create["Labels"] = json!(all);
            create["Internal"] = json!(n.internal);
            create["Attachable"] = json!(true);
            if !n.driver_opts.is_empty() {
                create["Options"] = json!(n.driver_opts);
            }
            if !n.subnets.is_empty() {
                let config: Vec<Value> = n.subnets.iter().map(|s| json!({"Subnet": s})).collect();
                create["IPAM"] = json!({"Driver": "default", "Config": config});
            }
        }
        out.push(StackNetwork {
            name: name.clone(),
            external,
            create,
        });
    }
    out
}

/// A service's networks (engine names) and its aliases on each. A service with none (legacy
/// v1 files, or a file that names no network) is on `NAMESPACE_default`; `network_mode` is
/// refused before this is asked.
fn attachments(namespace: &str, s: &ServiceSpec) -> Vec<(String, Vec<String>)> {
    if s.networks.is_empty() {
        return vec![(scoped(namespace, "default"), Vec::new())];
    }
    s.networks
        .iter()
        .map(|n| (n.network.clone(), n.aliases.clone()))
        .collect()
}

/// Legacy links as aliases: for each linked service, the names other services reach it by.
/// Swarm has no links; an alias on the shared network resolves the same way.
fn link_aliases(spec: &ProjectSpec) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &spec.services {
        for link in &s.links {
            if link.alias != link.service {
                out.entry(link.service.clone())
                    .or_default()
                    .insert(link.alias.clone());
            }
        }
    }
    out
}

/// The file's secrets or configs the stack creates (or finds, when external).
fn objects(
    namespace: &str,
    project: &Project,
    declared: &hoist_compose::OrderedMap<hoist_compose::Str, FileObject>,
) -> Vec<StackObject> {
    declared
        .iter()
        .map(|(key, o)| StackObject {
            name: object_name(namespace, key, o),
            source: object_source(project, o),
        })
        .collect()
}

/// An object's engine name: its `name:` when the file gives one that is not the default,
/// else `NAMESPACE_KEY`.
fn object_name(namespace: &str, key: &str, o: &FileObject) -> String {
    if o.external || (!o.name.is_empty() && o.name != scoped(namespace, key) && o.name != key) {
        return o.name.to_string();
    }
    scoped(namespace, key)
}

fn object_source(project: &Project, o: &FileObject) -> ObjectSource {
    if o.external {
        return ObjectSource::External;
    }
    if let Some(content) = &o.content {
        return ObjectSource::Data(content.to_string());
    }
    if let Some(var) = &o.environment {
        return ObjectSource::Data(project.env.get(var.as_str()).cloned().unwrap_or_default());
    }
    ObjectSource::File(o.file.as_deref().unwrap_or_default().to_string())
}

/// What stops a service from being deployed as written, each with what to do.
fn refusals_of(
    legacy: bool,
    s: &ServiceSpec,
    compose: &Service,
    cluster: &Cluster,
    opts: &StackOptions,
) -> Vec<Note> {
    let note = |message: String| Note {
        service: s.name.clone(),
        message,
    };
    let mut out = Vec::new();
    if compose.image.is_none() {
        out.push(note(
            "`build` without `image`: a Swarm runs images every node pulls from a registry; \
             add `image: REGISTRY/NAME:TAG`, then `hoist build` and `hoist push` it"
                .into(),
        ));
    }
    let legacy_bridge = legacy && compose.network_mode.as_deref() == Some("bridge");
    if let Some(mode) = compose.network_mode.as_deref().filter(|_| !legacy_bridge) {
        out.push(note(format!(
            "`network_mode: {mode}`: a Swarm task joins networks, not another container's or \
             the host's stack; remove it and list `networks:` instead"
        )));
    }
    for port in &compose.ports {
        if let Some(bad) = port_refusal(port, s, compose, cluster, opts) {
            out.push(note(bad));
        }
    }
    out
}

/// A published port the cluster cannot place: a fixed host-mode port with more replicas
/// than nodes, or a port bound to one address.
fn port_refusal(
    port: &hoist_compose::model::Port,
    s: &ServiceSpec,
    compose: &Service,
    cluster: &Cluster,
    opts: &StackOptions,
) -> Option<String> {
    let published = port.published.as_deref().filter(|p| !p.is_empty());
    if let Some(ip) = port.host_ip.as_deref().filter(|ip| !ip.is_empty()) {
        return Some(format!(
            "port {}:{}: a Swarm publishes on every address of a node, not on {ip}; remove \
             the address",
            published.unwrap_or(""),
            port.target
        ));
    }
    if let Some(p) = published
        && p.parse::<u16>().is_err()
    {
        return Some(format!(
            "published port {p:?}: hoist publishes one port per entry on a Swarm; write one \
             entry per port"
        ));
    }
    let host = opts.publish == PublishMode::Host || port.mode == "host";
    let global = compose.deploy.as_ref().and_then(|d| d.mode.as_deref()) == Some("global");
    if host && published.is_some() && !global && cluster.nodes > 0 {
        let replicas = s.replicas as usize;
        if replicas > cluster.nodes {
            return Some(format!(
                "port {}:{} in host mode with {replicas} replicas on {} nodes: each node has \
                 the port once, so {} tasks could never start; leave `published` out (each \
                 task gets a free port), use `deploy.mode: global`, or lower the replicas",
                published.unwrap_or_default(),
                port.target,
                cluster.nodes,
                replicas - cluster.nodes
            ));
        }
    }
    None
}

/// What the file says that a Swarm service does not do: applied nowhere, so said out loud.
fn notes_of(s: &ServiceSpec, compose: &Service) -> Vec<Note> {
    let mut out = Vec::new();
    let mut say = |message: String| {
        out.push(Note {
            service: s.name.clone(),
            message,
        })
    };
    if compose.build.is_some() && compose.image.is_some() {
        say("`build` is not run by a stack deploy: build and push the image first (`hoist build && hoist push`)".into());
    }
    if let Some(name) = &compose.container_name {
        say(format!(
            "`container_name: {name}` is ignored: Swarm names each task `SERVICE.SLOT.ID`"
        ));
    }
    // Legacy links imply `depends_on`; they become aliases, and say nothing more.
    let linked: Vec<&str> = s.links.iter().map(|l| l.service.as_str()).collect();
    if compose
        .depends_on
        .iter()
        .any(|(name, _)| !linked.contains(&name.as_ref()))
    {
        say("`depends_on` sets no order on a Swarm: every service starts at once and restarts until what it needs answers".into());
    }
    if !compose.external_links.is_empty() {
        say(
            "`external_links` are ignored: put the other service on a shared network instead"
                .into(),
        );
    }
    if !compose.volumes_from.is_empty() {
        say("`volumes_from` is ignored: name the volumes themselves".into());
    }
    if compose.privileged {
        say("`privileged` is ignored: Swarm services cannot run privileged".into());
    }
    for key in UNSUPPORTED_KEYS {
        if compose.extra.get(key).is_some() {
            say(format!("`{key}` is ignored: Swarm services do not take it"));
        }
    }
    if !s.post_start.is_empty() || !s.pre_stop.is_empty() {
        say("`post_start` and `pre_stop` hooks are not run on a Swarm: run them in the image's entrypoint".into());
    }
    if let Some(limits) = compose
        .deploy
        .as_ref()
        .and_then(|d| d.resources.get("limits"))
        .filter(|l| l.get("pids").is_some())
    {
        let _ = limits;
        say("`deploy.resources.limits.pids` is ignored: Swarm services do not take it".into());
    }
    for m in &s.container.mounts {
        if m.kind == "bind" {
            say(format!(
                "bind mount {} → {}: the path must exist on every node a task may run on",
                m.source, m.target
            ));
        }
    }
    out
}

/// Compose keys a Swarm `ServiceSpec` has no place for (limits go under `deploy.resources`).
const UNSUPPORTED_KEYS: &[&str] = &[
    "blkio_config",
    "cgroup",
    "cgroup_parent",
    "cpu_shares",
    "cpus",
    "cpuset",
    "device_cgroup_rules",
    "devices",
    "dns_opt",
    "domainname",
    "gpus",
    "group_add",
    "ipc",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "runtime",
    "security_opt",
    "shm_size",
    "storage_opt",
    "userns_mode",
    "uts",
];

/// The `ServiceSpec` body of one service.
fn service_json(
    namespace: &str,
    project: &Project,
    s: &ServiceSpec,
    compose: &Service,
    aliases: &BTreeMap<String, BTreeSet<String>>,
    cluster: &Cluster,
    opts: &StackOptions,
) -> Value {
    let deploy = compose.deploy.as_ref();
    let mut labels: BTreeMap<String, String> = deploy
        .map(|d| {
            d.labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    labels.insert(NAMESPACE_LABEL.into(), namespace.into());
    labels.insert(IMAGE_LABEL.into(), s.image.clone());
    let mut task = json!({
        "ContainerSpec": container_json(namespace, project, s, compose, cluster),
        "Networks": networks_json(namespace, s, aliases),
        "ForceUpdate": 0,
    });
    if let Some(restart) = restart_json(compose) {
        task["RestartPolicy"] = restart;
    }
    if let Some(placement) = deploy.and_then(|d| d.extra.get("placement")) {
        task["Placement"] = placement_json(placement);
    }
    if let Some(resources) = deploy.map(|d| resources_json(&d.resources)) {
        task["Resources"] = resources;
    }
    if let Some(log) = &s.container.logging {
        task["LogDriver"] = json!({"Name": log.driver, "Options": log.options});
    }
    let mut spec = json!({
        "Name": scoped(namespace, &s.name),
        "Labels": labels,
        "TaskTemplate": task,
        "Mode": mode_json(s, compose),
        "EndpointSpec": endpoint_json(compose, opts),
    });
    if let Some(update) = deploy.and_then(|d| d.extra.get("update_config")) {
        spec["UpdateConfig"] = update_json(update);
    }
    if let Some(rollback) = deploy.and_then(|d| d.extra.get("rollback_config")) {
        spec["RollbackConfig"] = update_json(rollback);
    }
    spec
}

fn mode_json(s: &ServiceSpec, compose: &Service) -> Value {
    match compose.deploy.as_ref().and_then(|d| d.mode.as_deref()) {
        Some("global") => json!({"Global": {}}),
        _ => json!({"Replicated": {"Replicas": s.replicas}}),
    }
}

/// The task's container: image, command, environment (with legacy link variables), user,
/// mounts, health check, secrets and configs.
fn container_json(
    namespace: &str,
    project: &Project,
    s: &ServiceSpec,
    compose: &Service,
    cluster: &Cluster,
) -> Value {
    let c = &s.container;
    let mut labels = c.labels.clone();
    labels.retain(|k, _| !k.starts_with("com.docker.compose."));
    labels.insert(NAMESPACE_LABEL.into(), namespace.into());
    let mut env: Vec<String> = c.env.clone();
    env.extend(link_env(s, cluster, project));
    env.sort();
    env.dedup();
    let mut out = json!({
        "Image": s.image,
        "Labels": labels,
        "Env": env,
        "TTY": c.tty,
        "OpenStdin": c.stdin_open,
        "ReadOnly": c.read_only,
        "Mounts": c
            .mounts
            .iter()
            .map(|m| mount_json(namespace, m))
            .chain(c.tmpfs.iter().map(|(target, options)| tmpfs_json(target, options)))
            .collect::<Vec<_>>(),
    });
    let set = |out: &mut Value, key: &str, v: Option<Value>| {
        if let Some(v) = v {
            out[key] = v;
        }
    };
    set(&mut out, "Command", c.entrypoint.as_ref().map(|e| json!(e)));
    set(&mut out, "Args", c.cmd.as_ref().map(|a| json!(a)));
    set(&mut out, "Hostname", c.hostname.as_ref().map(|h| json!(h)));
    set(&mut out, "Dir", c.working_dir.as_ref().map(|d| json!(d)));
    set(&mut out, "User", c.user.as_ref().map(|u| json!(u)));
    set(
        &mut out,
        "StopSignal",
        c.stop_signal.as_ref().map(|v| json!(v)),
    );
    set(&mut out, "Init", c.init.map(|v| json!(v)));
    set(
        &mut out,
        "StopGracePeriod",
        s.stop_timeout_secs.map(|t| json!(t * 1_000_000_000)),
    );
    set(
        &mut out,
        "HealthCheck",
        health_json(c.healthcheck.as_ref(), s.healthcheck_disabled),
    );
    if !c.extra_hosts.is_empty() {
        // `host:ip` in compose files, `ip host` in a ServiceSpec.
        let hosts: Vec<String> = c
            .extra_hosts
            .iter()
            .filter_map(|h| h.split_once(':').or_else(|| h.split_once('=')))
            .map(|(host, ip)| format!("{ip} {host}"))
            .collect();
        out["Hosts"] = json!(hosts);
    }
    if !c.dns.is_empty() || !c.dns_search.is_empty() {
        out["DNSConfig"] = json!({"Nameservers": c.dns, "Search": c.dns_search});
    }
    if !c.sysctls.is_empty() {
        out["Sysctls"] = json!(c.sysctls);
    }
    if !c.ulimits.is_empty() {
        let ulimits: Vec<Value> = c
            .ulimits
            .iter()
            .map(|(name, (soft, hard))| json!({"Name": name, "Soft": soft, "Hard": hard}))
            .collect();
        out["Ulimits"] = json!(ulimits);
    }
    if !c.cap_add.is_empty() {
        out["CapabilityAdd"] = json!(c.cap_add);
    }
    if !c.cap_drop.is_empty() {
        out["CapabilityDrop"] = json!(c.cap_drop);
    }
    out["Secrets"] = json!(file_refs(namespace, project, &compose.secrets, true));
    out["Configs"] = json!(file_refs(namespace, project, &compose.configs, false));
    out
}

/// A secret's or config's reference in a task: the file it becomes (`/run/secrets/NAME` for
/// a secret; a config's path as given, else `/NAME`), owner and mode.
fn file_refs(
    namespace: &str,
    project: &Project,
    refs: &[hoist_compose::model::ServiceFileRef],
    secret: bool,
) -> Vec<Value> {
    let declared = if secret {
        &project.secrets
    } else {
        &project.configs
    };
    refs.iter()
        .map(|r| {
            let engine_name = declared
                .get(r.source.as_str())
                .map(|o| object_name(namespace, &r.source, o))
                .unwrap_or_else(|| scoped(namespace, &r.source));
            // A secret's file is under /run/secrets, where Swarm puts a relative name.
            let target = match (r.target.as_deref(), secret) {
                (Some(t), true) => t.strip_prefix("/run/secrets/").unwrap_or(t).to_string(),
                (Some(t), false) => t.to_string(),
                (None, true) => r.source.to_string(),
                (None, false) => format!("/{}", r.source),
            };
            let mode = r
                .mode
                .as_deref()
                .and_then(|m| u32::from_str_radix(m.strip_prefix("0o").unwrap_or(m), 8).ok())
                .unwrap_or(0o444);
            let file = json!({
                "Name": target,
                "UID": r.uid.as_deref().unwrap_or("0"),
                "GID": r.gid.as_deref().unwrap_or("0"),
                "Mode": mode,
            });
            let (id_key, name_key) = match secret {
                true => ("SecretID", "SecretName"),
                false => ("ConfigID", "ConfigName"),
            };
            json!({"File": file, id_key: "", name_key: engine_name})
        })
        .collect()
}

/// Fills each secret and config reference's id from the names the executor created or found.
/// A name with no id is left empty, and the engine refuses the spec naming it.
pub fn fill_object_ids(
    spec: &mut Value,
    secrets: &BTreeMap<String, String>,
    configs: &BTreeMap<String, String>,
) {
    let container = &mut spec["TaskTemplate"]["ContainerSpec"];
    for (list, id_key, name_key, ids) in [
        ("Secrets", "SecretID", "SecretName", secrets),
        ("Configs", "ConfigID", "ConfigName", configs),
    ] {
        if let Some(refs) = container.get_mut(list).and_then(Value::as_array_mut) {
            for r in refs {
                let name = r[name_key].as_str().unwrap_or_default().to_string();
                if let Some(id) = ids.get(&name) {
                    r[id_key] = json!(id);
                }
            }
        }
    }
}

/// The variables a legacy link injects (`DB_PORT_5432_TCP_ADDR`, `DB_PORT`, ...), naming the
/// linked service's alias instead of an address: on a Swarm the alias resolves to its tasks.
fn link_env(s: &ServiceSpec, cluster: &Cluster, project: &Project) -> Vec<String> {
    let mut env = Vec::new();
    for link in &s.links {
        let Some(image) = project
            .services
            .get(link.service.as_str())
            .and_then(|t| t.image.as_deref())
        else {
            continue;
        };
        let prefix = link.alias.to_uppercase().replace(['-', '.'], "_");
        let ports = cluster.exposed.get(image).cloned().unwrap_or_default();
        for (i, port) in ports.iter().enumerate() {
            let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            let url = format!("{proto}://{}:{number}", link.alias);
            let var = format!("{prefix}_PORT_{number}_{}", proto.to_uppercase());
            if i == 0 {
                env.push(format!("{prefix}_PORT={url}"));
            }
            env.push(format!("{var}={url}"));
            env.push(format!("{var}_ADDR={}", link.alias));
            env.push(format!("{var}_PORT={number}"));
            env.push(format!("{var}_PROTO={proto}"));
        }
        env.push(format!("{prefix}_NAME=/{}/{}", s.name, link.alias));
    }
    env
}

fn mount_json(namespace: &str, m: &MountSpec) -> Value {
    let mut out = json!({
        "Type": m.kind,
        "Target": m.target,
        "ReadOnly": m.read_only,
    });
    if m.kind == "volume" && !m.source.is_empty() {
        out["Source"] = json!(m.source);
        out["VolumeOptions"] = json!({"Labels": {NAMESPACE_LABEL: namespace}});
    } else if !m.source.is_empty() {
        out["Source"] = json!(m.source);
    }
    out
}

/// A `tmpfs:` entry (`/run: size=64m,mode=1777`) as a tmpfs mount.
fn tmpfs_json(target: &str, options: &str) -> Value {
    let mut tmpfs = Map::new();
    for option in options.split(',').map(str::trim) {
        match option.split_once('=') {
            Some(("size", size)) => {
                if let Some(bytes) = hoist_compose::units::parse_ram(size) {
                    tmpfs.insert("SizeBytes".into(), json!(bytes));
                }
            }
            Some(("mode", mode)) => {
                if let Ok(mode) = u32::from_str_radix(mode, 8) {
                    tmpfs.insert("Mode".into(), json!(mode));
                }
            }
            _ => {}
        }
    }
    json!({"Type": "tmpfs", "Target": target, "TmpfsOptions": tmpfs})
}

fn health_json(h: Option<&HealthSpec>, disabled: bool) -> Option<Value> {
    if disabled {
        return Some(json!({"Test": ["NONE"]}));
    }
    let h = h?;
    let mut out = json!({"Test": h.test});
    for (key, v) in [
        ("Interval", h.interval_ns),
        ("Timeout", h.timeout_ns),
        ("StartPeriod", h.start_period_ns),
        ("Retries", h.retries),
    ] {
        if let Some(v) = v {
            out[key] = json!(v);
        }
    }
    Some(out)
}

/// `deploy.restart_policy`, else the service's `restart` (as docker's stack deploy reads it).
fn restart_json(compose: &Service) -> Option<Value> {
    if let Some(policy) = compose
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
    {
        let mut out = json!({
            "Condition": policy.get("condition").and_then(J::as_str).unwrap_or("any"),
        });
        if let Some(n) = policy.get("max_attempts").and_then(J::as_i64) {
            out["MaxAttempts"] = json!(n);
        }
        for (key, field) in [("delay", "Delay"), ("window", "Window")] {
            if let Some(ns) = duration(policy.get(key)) {
                out[field] = json!(ns);
            }
        }
        return Some(out);
    }
    let restart = compose.restart.as_deref()?;
    let (condition, attempts) = match restart.split_once(':') {
        Some(("on-failure", n)) => ("on-failure", n.parse::<u64>().ok()),
        _ => match restart {
            "no" => ("none", None),
            "on-failure" => ("on-failure", None),
            _ => ("any", None),
        },
    };
    let mut out = json!({"Condition": condition});
    if let Some(n) = attempts {
        out["MaxAttempts"] = json!(n);
    }
    Some(out)
}

fn duration(v: Option<&J>) -> Option<i64> {
    match v? {
        J::String(s) => hoist_compose::units::parse_duration(s).map(|ns| ns as i64),
        J::Number(n) => n.as_i64().map(|s| s * 1_000_000_000),
        _ => None,
    }
}

fn placement_json(p: &J) -> Value {
    let strings = |key: &str| -> Vec<String> {
        p.get(key)
            .and_then(J::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = json!({"Constraints": strings("constraints")});
    let preferences: Vec<Value> = p
        .get("preferences")
        .and_then(J::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.get("spread").and_then(J::as_str))
                .map(|s| json!({"Spread": {"SpreadDescriptor": s}}))
                .collect()
        })
        .unwrap_or_default();
    if !preferences.is_empty() {
        out["Preferences"] = json!(preferences);
    }
    if let Some(n) = p.get("max_replicas_per_node").and_then(J::as_i64) {
        out["MaxReplicas"] = json!(n);
    }
    out
}

fn resources_json(r: &J) -> Value {
    let part = |key: &str| -> Value {
        let Some(v) = r.get(key) else {
            return json!({});
        };
        let mut out = Map::new();
        if let Some(cpus) = v.get("cpus").and_then(|c| match c {
            J::String(s) => s.parse::<f64>().ok(),
            J::Number(n) => n.as_f64(),
            _ => None,
        }) {
            out.insert("NanoCPUs".into(), json!((cpus * 1e9) as i64));
        }
        if let Some(bytes) = v.get("memory").and_then(|m| match m {
            J::String(s) => hoist_compose::units::parse_ram(s),
            J::Number(n) => n.as_i64(),
            _ => None,
        }) {
            out.insert("MemoryBytes".into(), json!(bytes));
        }
        Value::Object(out)
    };
    json!({"Limits": part("limits"), "Reservations": part("reservations")})
}

/// `update_config` or `rollback_config`.
fn update_json(u: &J) -> Value {
    let mut out = Map::new();
    if let Some(n) = u.get("parallelism").and_then(J::as_i64) {
        out.insert("Parallelism".into(), json!(n));
    }
    for (key, field) in [("delay", "Delay"), ("monitor", "Monitor")] {
        if let Some(ns) = duration(u.get(key)) {
            out.insert(field.into(), json!(ns));
        }
    }
    if let Some(action) = u.get("failure_action").and_then(J::as_str) {
        out.insert("FailureAction".into(), json!(action));
    }
    if let Some(ratio) = u.get("max_failure_ratio").and_then(|v| match v {
        J::Number(n) => n.as_f64(),
        J::String(s) => s.parse().ok(),
        _ => None,
    }) {
        out.insert("MaxFailureRatio".into(), json!(ratio));
    }
    if let Some(order) = u.get("order").and_then(J::as_str) {
        out.insert("Order".into(), json!(order));
    }
    Value::Object(out)
}

fn networks_json(
    namespace: &str,
    s: &ServiceSpec,
    aliases: &BTreeMap<String, BTreeSet<String>>,
) -> Value {
    let extra = aliases.get(&s.name);
    let list: Vec<Value> = attachments(namespace, s)
        .into_iter()
        .map(|(network, own)| {
            let mut names: Vec<String> = vec![s.name.clone()];
            for a in own.into_iter().chain(extra.into_iter().flatten().cloned()) {
                if !names.contains(&a) {
                    names.push(a);
                }
            }
            json!({"Target": network, "Aliases": names})
        })
        .collect();
    json!(list)
}

fn endpoint_json(compose: &Service, opts: &StackOptions) -> Value {
    let file_mode = compose
        .deploy
        .as_ref()
        .and_then(|d| d.extra.get("endpoint_mode"))
        .and_then(J::as_str)
        .map(String::from);
    let mode = file_mode
        .or_else(|| opts.endpoint_mode.clone())
        .unwrap_or_else(|| "vip".into());
    let ports: Vec<Value> = compose
        .ports
        .iter()
        .map(|p| {
            let publish = match opts.publish {
                PublishMode::Host => "host",
                PublishMode::AsWritten if p.mode == "host" => "host",
                PublishMode::AsWritten => "ingress",
            };
            let mut port = json!({
                "Protocol": p.protocol,
                "TargetPort": p.target,
                "PublishMode": publish,
            });
            if let Some(n) = p.published.as_deref().and_then(|n| n.parse::<u16>().ok()) {
                port["PublishedPort"] = json!(n);
            }
            port
        })
        .collect();
    json!({"Mode": mode, "Ports": ports})
}

/// The digest label of a secret's or config's data.
pub fn digest(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{:x}", sha2::Sha256::digest(data))
}

/// What to do with the services a cluster already runs for the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAction {
    Create,
    /// Update the service with this id at this version.
    Update {
        id: String,
        version: u64,
    },
}

/// A service of the stack as the cluster runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningService {
    pub id: String,
    pub name: String,
    pub version: u64,
}

/// Each service of the stack: created, or updated in place; and (with `prune`) the running
/// services the file no longer has.
pub fn service_actions<'a>(
    stack: &'a Stack,
    running: &'a [RunningService],
    prune: bool,
) -> (
    Vec<(&'a StackService, ServiceAction)>,
    Vec<&'a RunningService>,
) {
    let actions = stack
        .services
        .iter()
        .map(|s| {
            let action = match running.iter().find(|r| r.name == s.name) {
                Some(r) => ServiceAction::Update {
                    id: r.id.clone(),
                    version: r.version,
                },
                None => ServiceAction::Create,
            };
            (s, action)
        })
        .collect();
    let gone = match prune {
        true => running
            .iter()
            .filter(|r| !stack.services.iter().any(|s| s.name == r.name))
            .collect(),
        false => Vec::new(),
    };
    (actions, gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_compose::LoadOptions;

    fn load(yaml: &str, name: &str) -> (Project, ProjectSpec) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("hoist-swarm-{}-{name}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("docker-compose.yml");
        std::fs::write(&file, yaml).unwrap();
        let opts = LoadOptions {
            files: vec![file],
            project_name: Some(name.into()),
            working_dir: dir.clone(),
            swarm_objects: true,
            ..LoadOptions::default()
        };
        let project = hoist_compose::load(&opts).unwrap();
        let spec = crate::desired::project_spec(&project).unwrap();
        (project, spec)
    }

    fn cluster(nodes: usize) -> Cluster {
        Cluster {
            nodes,
            exposed: BTreeMap::from([("reg/db".to_string(), vec!["5432/tcp".to_string()])]),
        }
    }

    const LEGACY: &str = "app:\n  image: reg/app\n  ports:\n    - 8080\n  links:\n    - db:database\ndb:\n  image: reg/db\n";

    #[test]
    fn a_legacy_file_runs_on_one_overlay_with_links_as_aliases_and_their_variables() {
        let (project, spec) = load(LEGACY, "books");
        let stack = stack(&project, &spec, &cluster(3), &StackOptions::default()).unwrap();
        assert_eq!(stack.networks.len(), 1);
        assert_eq!(stack.networks[0].name, "books_default");
        assert_eq!(stack.networks[0].create["Driver"], "overlay");
        assert_eq!(stack.networks[0].create["Labels"][NAMESPACE_LABEL], "books");
        let db = stack.services.iter().find(|s| s.service == "db").unwrap();
        assert_eq!(db.name, "books_db");
        assert_eq!(
            db.spec["TaskTemplate"]["Networks"],
            json!([{"Target": "books_default", "Aliases": ["db", "database"]}])
        );
        let app = stack.services.iter().find(|s| s.service == "app").unwrap();
        let env: Vec<&str> = app.spec["TaskTemplate"]["ContainerSpec"]["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&"DATABASE_PORT_5432_TCP_ADDR=database"),
            "{env:?}"
        );
        assert!(
            env.contains(&"DATABASE_PORT=tcp://database:5432"),
            "{env:?}"
        );
        assert_eq!(app.spec["Labels"][IMAGE_LABEL], "reg/app");
        assert_eq!(app.spec["Labels"][NAMESPACE_LABEL], "books");
        assert_eq!(
            app.spec["TaskTemplate"]["ContainerSpec"]["Labels"][NAMESPACE_LABEL],
            "books"
        );
        assert_eq!(
            app.spec["EndpointSpec"]["Ports"][0]["PublishMode"],
            "ingress"
        );
        assert!(
            app.spec["EndpointSpec"]["Ports"][0]
                .get("PublishedPort")
                .is_none()
        );
    }

    #[test]
    fn host_mode_and_dnsrr_apply_to_every_port_and_service_that_does_not_say() {
        let (project, spec) = load(LEGACY, "books");
        let opts = StackOptions {
            publish: PublishMode::Host,
            endpoint_mode: Some("dnsrr".into()),
            scale: BTreeMap::from([("app".to_string(), 3)]),
        };
        let deployed = stack(&project, &spec, &cluster(3), &opts).unwrap();
        let app = deployed
            .services
            .iter()
            .find(|s| s.service == "app")
            .unwrap();
        assert_eq!(app.spec["EndpointSpec"]["Mode"], "dnsrr");
        assert_eq!(app.spec["EndpointSpec"]["Ports"][0]["PublishMode"], "host");
        assert_eq!(app.spec["Mode"]["Replicated"]["Replicas"], 3);
        let bad = StackOptions {
            scale: BTreeMap::from([("nope".to_string(), 3)]),
            ..StackOptions::default()
        };
        let err = stack(&project, &spec, &cluster(3), &bad).unwrap_err();
        assert_eq!(err.0[0].service, "nope");
    }

    #[test]
    fn what_swarm_cannot_place_is_refused_per_service_with_what_to_do() {
        let yaml = "services:\n  web:\n    build: .\n  api:\n    image: reg/api\n    network_mode: host\n  edge:\n    image: reg/edge\n    ports: ['80:80']\n    deploy:\n      replicas: 4\n";
        let (project, spec) = load(yaml, "s");
        let opts = StackOptions {
            publish: PublishMode::Host,
            ..StackOptions::default()
        };
        let err = stack(&project, &spec, &cluster(3), &opts).unwrap_err();
        let of = |service: &str| err.0.iter().find(|n| n.service == service).unwrap();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(of("web").message.contains("add `image:"), "{err}");
        assert!(of("api").message.contains("`network_mode: host`"), "{err}");
        assert!(
            of("edge").message.contains("4 replicas on 3 nodes"),
            "{err}"
        );
        // With the routing mesh the same port is fine: every node publishes it once.
        let err = stack(&project, &spec, &cluster(3), &StackOptions::default()).unwrap_err();
        assert_eq!(err.0.len(), 2);
    }

    #[test]
    fn what_is_ignored_is_named() {
        let yaml = "services:\n  web:\n    image: reg/web\n    container_name: w1\n    depends_on: [db]\n    privileged: true\n  db:\n    image: reg/db\n";
        let (project, spec) = load(yaml, "s");
        let stack = stack(&project, &spec, &cluster(1), &StackOptions::default()).unwrap();
        let text: Vec<String> = stack.notes.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].starts_with("service web: `container_name: w1` is ignored"));
        assert!(
            text.iter()
                .any(|t| t.contains("`depends_on` sets no order"))
        );
        assert!(text.iter().any(|t| t.contains("`privileged` is ignored")));
        let yaml = "services:\n  web:\n    image: reg/web\n    cpus: 0.5\n    mem_limit: 64m\n    group_add: [audio]\n    ulimits: {nofile: {soft: 1024, hard: 2048}}\n    tmpfs: ['/run:size=1m']\n";
        let (project, spec) = load(yaml, "u");
        let limited = super::stack(&project, &spec, &cluster(1), &StackOptions::default()).unwrap();
        let text: Vec<String> = limited.notes.iter().map(ToString::to_string).collect();
        for key in ["cpus", "mem_limit", "group_add"] {
            assert!(
                text.iter()
                    .any(|t| t.contains(&format!("`{key}` is ignored"))),
                "{key}: {text:?}"
            );
        }
        let c = &limited.services[0].spec["TaskTemplate"]["ContainerSpec"];
        assert_eq!(
            c["Ulimits"],
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
        );
        assert_eq!(c["Mounts"][0]["Type"], "tmpfs");
        assert_eq!(c["Mounts"][0]["Target"], "/run");
        assert_eq!(c["Mounts"][0]["TmpfsOptions"]["SizeBytes"], 1024 * 1024);
    }

    #[test]
    fn deploy_settings_reach_the_service_spec() {
        let yaml = "services:\n  web:\n    image: reg/web\n    restart: on-failure:3\n    healthcheck:\n      test: [CMD, 'true']\n      interval: 2s\n    deploy:\n      replicas: 3\n      labels: {tier: web}\n      update_config: {parallelism: 1, delay: 1s, order: start-first, failure_action: rollback, monitor: 5s}\n      placement: {constraints: [node.role == manager], max_replicas_per_node: 1}\n      resources: {limits: {cpus: '0.5', memory: 64M}}\n";
        let (project, spec) = load(yaml, "s");
        let stack = stack(&project, &spec, &cluster(3), &StackOptions::default()).unwrap();
        let web = &stack.services[0].spec;
        assert_eq!(web["Mode"]["Replicated"]["Replicas"], 3);
        assert_eq!(web["Labels"]["tier"], "web");
        assert_eq!(
            web["UpdateConfig"],
            json!({"Parallelism": 1, "Delay": 1_000_000_000i64, "Monitor": 5_000_000_000i64, "FailureAction": "rollback", "Order": "start-first"})
        );
        let task = &web["TaskTemplate"];
        assert_eq!(
            task["RestartPolicy"],
            json!({"Condition": "on-failure", "MaxAttempts": 3})
        );
        assert_eq!(task["Placement"]["Constraints"][0], "node.role == manager");
        assert_eq!(task["Placement"]["MaxReplicas"], 1);
        assert_eq!(task["Resources"]["Limits"]["NanoCPUs"], 500_000_000i64);
        assert_eq!(task["Resources"]["Limits"]["MemoryBytes"], 64 * 1024 * 1024);
        assert_eq!(
            task["ContainerSpec"]["HealthCheck"]["Interval"],
            2_000_000_000i64
        );
    }

    #[test]
    fn secrets_and_configs_from_every_source_are_referenced_by_name_then_by_id() {
        let yaml = "services:\n  web:\n    image: reg/web\n    secrets: [pw]\n    configs:\n      - source: conf\n        target: /etc/web.conf\n        mode: 0440\nsecrets:\n  pw:\n    environment: PW\nconfigs:\n  conf:\n    content: hello\n";
        // SAFETY-free: the loader reads the variable from the options' environment.
        let dir = std::env::temp_dir().join(format!("hoist-swarm-{}-obj", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("compose.yml");
        std::fs::write(&file, yaml).unwrap();
        let opts = LoadOptions {
            files: vec![file],
            project_name: Some("s".into()),
            working_dir: dir.clone(),
            environment: BTreeMap::from([("PW".to_string(), "s3cret".to_string())])
                .into_iter()
                .collect(),
            swarm_objects: true,
            ..LoadOptions::default()
        };
        let project = hoist_compose::load(&opts).unwrap();
        let spec = crate::desired::project_spec(&project).unwrap();
        let mut stack = stack(&project, &spec, &cluster(1), &StackOptions::default()).unwrap();
        assert_eq!(
            stack.secrets,
            vec![StackObject {
                name: "s_pw".into(),
                source: ObjectSource::Data("s3cret".into())
            }]
        );
        assert_eq!(
            stack.configs,
            vec![StackObject {
                name: "s_conf".into(),
                source: ObjectSource::Data("hello".into())
            }]
        );
        let spec = &mut stack.services[0].spec;
        fill_object_ids(
            spec,
            &BTreeMap::from([("s_pw".to_string(), "sid".to_string())]),
            &BTreeMap::from([("s_conf".to_string(), "cid".to_string())]),
        );
        let c = &spec["TaskTemplate"]["ContainerSpec"];
        assert_eq!(
            c["Secrets"][0],
            json!({"File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 0o444}, "SecretID": "sid", "SecretName": "s_pw"})
        );
        assert_eq!(c["Configs"][0]["File"]["Name"], "/etc/web.conf");
        assert_eq!(c["Configs"][0]["File"]["Mode"], 0o440);
        assert_eq!(c["Configs"][0]["ConfigID"], "cid");
    }

    #[test]
    fn running_services_are_updated_created_or_pruned() {
        let (project, spec) = load(LEGACY, "books");
        let stack = stack(&project, &spec, &cluster(3), &StackOptions::default()).unwrap();
        let running = vec![
            RunningService {
                id: "a1".into(),
                name: "books_app".into(),
                version: 7,
            },
            RunningService {
                id: "o1".into(),
                name: "books_old".into(),
                version: 2,
            },
        ];
        let (actions, gone) = service_actions(&stack, &running, true);
        let by: Vec<(&str, &ServiceAction)> =
            actions.iter().map(|(s, a)| (s.name.as_str(), a)).collect();
        assert_eq!(
            by[0],
            (
                "books_app",
                &ServiceAction::Update {
                    id: "a1".into(),
                    version: 7
                }
            )
        );
        assert_eq!(by[1], ("books_db", &ServiceAction::Create));
        assert_eq!(
            gone.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["books_old"]
        );
        assert!(service_actions(&stack, &running, false).1.is_empty());
    }
}
