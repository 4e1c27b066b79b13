//! From a loaded compose project to engine-level desired state ([`ProjectSpec`]): names resolved
//! to engine names, durations and sizes to numbers, links and `service:` modes to container
//! names, legacy v1 projects onto the default bridge.

use std::collections::BTreeMap;

use hoist_compose::json::Value as J;
use hoist_compose::{Project, Service};

use crate::spec::{
    BuildSpec, Condition, ContainerSpec, Dependency, HealthSpec, Hook, InjectedFile, Link, LogSpec,
    MountSpec, NetworkAttachment, NetworkSpec, PortBinding, ProjectSpec, PullPolicy, ServiceSpec,
    Share, ShareKind, VolumeSpec,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    #[error("service {service}: {message}")]
    Service { service: String, message: String },
}

fn err(service: &str, message: impl Into<String>) -> DesiredError {
    DesiredError::Service {
        service: service.to_string(),
        message: message.into(),
    }
}

/// The engine-level desired state of `project`.
pub fn project_spec(project: &Project) -> Result<ProjectSpec, DesiredError> {
    let mut spec = ProjectSpec {
        env_files: Vec::new(),
        name: project.name.clone(),
        legacy: project.legacy,
        compatibility: false,
        working_dir: project.project_dir.to_string_lossy().into_owned(),
        config_files: project
            .files
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect(),
        services: Vec::new(),
        networks: project
            .networks
            .iter()
            .map(|(key, n)| NetworkSpec {
                key: key.to_string(),
                name: n.name.to_string(),
                driver: n.driver.as_deref().map(String::from),
                external: n.external,
                internal: bool_extra(&n.extra, "internal"),
                attachable: bool_extra(&n.extra, "attachable"),
                enable_ipv6: bool_extra(&n.extra, "enable_ipv6"),
                labels: n
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                driver_opts: string_map(n.extra.get("driver_opts")),
                subnets: n
                    .extra
                    .get("ipam")
                    .and_then(|i| i.get("config"))
                    .and_then(J::as_array)
                    .map(|configs| {
                        configs
                            .iter()
                            .filter_map(|c| c.get("subnet").and_then(J::as_str))
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
        volumes: project
            .volumes
            .iter()
            .map(|(key, v)| VolumeSpec {
                key: key.to_string(),
                name: v.name.to_string(),
                driver: v.driver.as_deref().map(String::from),
                external: v.external,
                labels: v
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                driver_opts: string_map(v.extra.get("driver_opts")),
            })
            .collect(),
    };
    for service in project.services.values() {
        let s = service_spec(project, &spec, service)?;
        spec.services.push(s);
    }
    Ok(spec)
}

fn strings_of(v: &[hoist_compose::Str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn bool_extra(extra: &hoist_compose::VecMap<J>, key: &str) -> bool {
    extra.get(key).and_then(J::as_bool).unwrap_or(false)
}

fn string_map(v: Option<&J>) -> BTreeMap<String, String> {
    match v {
        Some(J::Object(o)) => o
            .iter()
            .map(|(k, v)| (k.to_string(), scalar(v).unwrap_or_default()))
            .collect(),
        Some(J::Array(a)) => a
            .iter()
            .filter_map(J::as_str)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (s.to_string(), String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn scalar(v: &J) -> Option<String> {
    match v {
        J::String(s) => Some(s.to_string()),
        J::Number(n) => Some(n.to_string()),
        J::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(v: Option<&J>) -> Vec<String> {
    match v {
        Some(J::Array(a)) => a.iter().filter_map(scalar).collect(),
        Some(J::String(s)) => vec![s.to_string()],
        _ => Vec::new(),
    }
}

fn int(v: Option<&J>) -> Option<i64> {
    match v? {
        J::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        J::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Go duration text (`1m30s`) to nanoseconds.
fn duration_ns(service: &str, key: &str, v: Option<&str>) -> Result<Option<i64>, DesiredError> {
    match v {
        None => Ok(None),
        Some(text) => hoist_compose::units::parse_duration(text)
            .map(|ns| Some(ns as i64))
            .ok_or_else(|| err(service, format!("{key}: invalid duration {text:?}"))),
    }
}

/// `8080`, `8080/udp`, `3000-3002` → `["8080/tcp"]`, ...
fn expand_expose(entry: &str) -> Vec<String> {
    let (ports, proto) = entry.split_once('/').unwrap_or((entry, "tcp"));
    match ports.split_once('-') {
        Some((a, b)) => match (a.parse::<u32>(), b.parse::<u32>()) {
            (Ok(a), Ok(b)) if a <= b && b - a < 65536 => {
                (a..=b).map(|p| format!("{p}/{proto}")).collect()
            }
            _ => vec![format!("{ports}/{proto}")],
        },
        None => vec![format!("{ports}/{proto}")],
    }
}

fn service_spec(
    project: &Project,
    spec: &ProjectSpec,
    s: &Service,
) -> Result<ServiceSpec, DesiredError> {
    let name = s.name.as_str();
    let sep = if project.legacy { '_' } else { '-' };
    let image = match &s.image {
        Some(i) => i.to_string(),
        None => format!("{}{sep}{name}", project.name),
    };
    let pull_policy = match s.extra.get("pull_policy").and_then(J::as_str) {
        Some(p) => p.parse().map_err(|e: String| err(name, e))?,
        None => PullPolicy::Missing,
    };
    let build = s.build.as_ref().map(|b| BuildSpec {
        context: b.context.to_string(),
        dockerfile: b.dockerfile.as_deref().unwrap_or("Dockerfile").to_string(),
        args: b
            .args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        target: b.target.as_deref().map(String::from),
        labels: b
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    });
    let replicas = s
        .deploy
        .as_ref()
        .and_then(|d| d.replicas)
        .or(s.scale)
        .unwrap_or(1)
        .max(0) as u32;

    let mut depends_on: Vec<Dependency> = Vec::new();
    for (dep, d) in &s.depends_on {
        let condition = match d.condition.as_str() {
            "service_healthy" => Condition::ServiceHealthy,
            "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
            _ => Condition::ServiceStarted,
        };
        depends_on.push(Dependency {
            service: dep.to_string(),
            condition,
            required: d.required,
            restart: d.restart,
        });
    }
    let links: Vec<Link> = s
        .links
        .iter()
        .map(|l| match l.split_once(':') {
            Some((service, alias)) => Link {
                service: service.into(),
                alias: alias.into(),
            },
            None => Link {
                service: l.to_string(),
                alias: l.to_string(),
            },
        })
        .collect();

    // `service:NAME` shares another service's network stack: its first container's.
    let container_of = |service: &str| -> Option<String> {
        let target = project.services.get(service)?;
        Some(match &target.container_name {
            Some(n) => n.to_string(),
            None => format!("{}{sep}{service}{sep}1", project.name),
        })
    };
    let mut shares: Vec<Share> = Vec::new();
    let mut network_mode = s.network_mode.clone();
    if let Some(target) = network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
        .map(str::to_string)
    {
        let target = target.as_str();
        let container = container_of(target).ok_or_else(|| {
            err(
                name,
                format!("network_mode refers to undefined service {target}"),
            )
        })?;
        network_mode = Some(format!("container:{container}").into());
        shares.push(Share {
            kind: ShareKind::Network,
            service: target.to_string(),
        });
        if !depends_on.iter().any(|d| d.service == target) {
            depends_on.push(Dependency {
                service: target.to_string(),
                condition: Condition::ServiceStarted,
                required: true,
                restart: false,
            });
        }
    }
    if project.legacy && network_mode.is_none() {
        network_mode = Some("bridge".into());
    }

    let networks: Vec<NetworkAttachment> = if network_mode.is_some() {
        Vec::new()
    } else {
        by_priority(&s.networks)
            .into_iter()
            .map(|(key, opts)| {
                let engine_name = spec
                    .networks
                    .iter()
                    .find(|n| &n.key == key)
                    .map(|n| n.name.clone())
                    .unwrap_or_else(|| format!("{}_{key}", project.name));
                let opts = opts.clone().unwrap_or_default();
                NetworkAttachment {
                    network: engine_name,
                    aliases: opts.aliases.into_iter().map(String::from).collect(),
                    ipv4_address: opts.ipv4_address.map(String::from),
                    ipv6_address: opts.ipv6_address.map(String::from),
                }
            })
            .collect()
    };

    let mut env: Vec<String> = s
        .environment
        .iter()
        .map(|(k, v)| env_entry(k, v.as_deref()))
        .collect();
    env.sort();

    let mut exposed: Vec<String> = s.expose.iter().flat_map(|e| expand_expose(e)).collect();
    let ports: Vec<PortBinding> = s
        .ports
        .iter()
        .map(|p| {
            let proto = if p.protocol.is_empty() {
                "tcp"
            } else {
                &p.protocol
            };
            PortBinding {
                container_port: format!("{}/{proto}", p.target),
                host_ip: p.host_ip.as_deref().map(String::from),
                host_port: p.published.as_deref().map(String::from),
            }
        })
        .collect();
    for p in &ports {
        exposed.push(p.container_port.clone());
    }
    exposed.sort();
    exposed.dedup();

    let mut mounts: Vec<MountSpec> = Vec::new();
    for m in &s.volumes {
        let source = match (m.kind.as_str(), &m.source) {
            ("volume", Some(key)) => spec
                .volumes
                .iter()
                .find(|v| &v.key == key)
                .map(|v| v.name.clone())
                .unwrap_or_else(|| key.to_string()),
            (_, Some(src)) => src.to_string(),
            (_, None) => String::new(),
        };
        let create_host_path = m
            .extra
            .get("bind")
            .and_then(|b| b.get("create_host_path"))
            .and_then(J::as_bool)
            .unwrap_or(false);
        mounts.push(MountSpec {
            kind: m.kind.to_string(),
            source,
            target: m.target.to_string(),
            read_only: m.read_only,
            create_host_path,
            bind_options: false,
        });
    }
    // Secrets and configs are written into the container before it starts, whatever their
    // source: a bind mount of a `file:` would name a path on the engine's host, which is not the
    // client's file on a remote engine.
    let mut files = Vec::new();
    for (refs, objects, default_dir) in [
        (&s.secrets, &project.secrets, "/run/secrets/"),
        (&s.configs, &project.configs, "/"),
    ] {
        for r in refs {
            let Some(object) = objects.get(&r.source) else {
                return Err(err(
                    name,
                    format!("refers to undefined secret/config {}", r.source),
                ));
            };
            let target = match &r.target {
                Some(t) if t.starts_with('/') => t.to_string(),
                Some(t) => format!("{default_dir}{t}"),
                None => format!("{default_dir}{}", r.source),
            };
            let kind = if default_dir == "/" {
                "config"
            } else {
                "secret"
            };
            let Some(content) = injected_content(object, &project.env)
                .map_err(|e| err(name, format!("{kind} {}: {e}", r.source)))?
            else {
                continue;
            };
            files.push(InjectedFile {
                path: target,
                content,
                mode: file_mode(name, r.mode.as_deref())?,
                owner: file_owner(name, r.uid.as_deref(), r.gid.as_deref())?,
            });
        }
    }

    let healthcheck_disabled = s
        .healthcheck
        .as_ref()
        .is_some_and(|h| h.disable || h.test.first().is_some_and(|t| t == "NONE"));
    let healthcheck = match &s.healthcheck {
        Some(h) if !healthcheck_disabled => Some(HealthSpec {
            test: h.test.iter().map(|x| x.to_string()).collect(),
            interval_ns: duration_ns(name, "healthcheck.interval", h.interval.as_deref())?,
            timeout_ns: duration_ns(name, "healthcheck.timeout", h.timeout.as_deref())?,
            start_period_ns: duration_ns(
                name,
                "healthcheck.start_period",
                h.start_period.as_deref(),
            )?,
            retries: h.retries.map(|r| r as i64),
            start_interval_ns: duration_ns(
                name,
                "healthcheck.start_interval",
                h.start_interval.as_deref(),
            )?,
        }),
        _ => None,
    };
    let stop_timeout_secs = duration_ns(name, "stop_grace_period", s.stop_grace_period.as_deref())?
        .map(|ns| (ns / 1_000_000_000) as u64);

    let x = &s.extra;
    let post_start = hooks(name, "post_start", x.get("post_start"))?;
    let pre_stop = hooks(name, "pre_stop", x.get("pre_stop"))?;
    // `ipc: service:NAME` / `pid: service:NAME`: that service's first container's namespace.
    let mut namespace = |key: &str, kind: ShareKind| -> Option<String> {
        let mode = x.get(key).and_then(scalar)?;
        let Some(target) = mode.strip_prefix("service:") else {
            return Some(mode);
        };
        let container = container_of(target)?;
        shares.push(Share {
            kind,
            service: target.to_string(),
        });
        Some(format!("container:{container}"))
    };
    let ipc = namespace("ipc", ShareKind::Ipc);
    let pid = namespace("pid", ShareKind::Pid);
    for v in &s.volumes_from {
        let (kind, target) = v.split_once(':').unwrap_or(("service", v));
        if kind != "container" {
            let target = target.split_once(':').map_or(target, |(t, _)| t);
            shares.push(Share {
                kind: ShareKind::Volume,
                service: target.to_string(),
            });
        }
    }
    let tmpfs: BTreeMap<String, String> = strings(x.get("tmpfs"))
        .into_iter()
        .map(|t| match t.split_once(':') {
            Some((path, opts)) => (path.to_string(), opts.to_string()),
            None => (t, String::new()),
        })
        .collect();
    let ulimits: BTreeMap<String, (i64, i64)> = match x.get("ulimits") {
        Some(J::Object(o)) => o
            .iter()
            .filter_map(|(k, v)| {
                let pair = match v {
                    J::Object(lim) => (int(lim.get("soft"))?, int(lim.get("hard"))?),
                    other => {
                        let n = int(Some(other))?;
                        (n, n)
                    }
                };
                Some((k.to_string(), pair))
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let devices: Vec<String> = match x.get("devices") {
        Some(J::Array(a)) => a
            .iter()
            .filter_map(|d| match d {
                J::String(s) => Some(s.to_string()),
                J::Object(o) => {
                    let source = o.get("source").and_then(J::as_str)?;
                    let target = o.get("target").and_then(J::as_str).unwrap_or(source);
                    let perms = o.get("permissions").and_then(J::as_str).unwrap_or("rwm");
                    Some(format!("{source}:{target}:{perms}"))
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let nano_cpus = match x.get("cpus") {
        Some(J::Number(n)) => n.as_f64().map(|c| (c * 1e9) as i64),
        Some(J::String(s)) => s.parse::<f64>().ok().map(|c| (c * 1e9) as i64),
        _ => None,
    };
    let extra_hosts: Vec<String> = match x.get("extra_hosts") {
        Some(J::Object(o)) => o
            .iter()
            .flat_map(|(host, ips)| {
                strings(Some(ips))
                    .into_iter()
                    .map(move |ip| format!("{host}:{ip}"))
            })
            .collect(),
        other => strings(other)
            .into_iter()
            .map(|h| match h.split_once('=') {
                Some((host, ip)) => format!("{host}:{ip}"),
                None => h,
            })
            .collect(),
    };

    let container = ContainerSpec {
        image: image.to_string(),
        cmd: s.command.as_deref().map(strings_of),
        entrypoint: s.entrypoint.as_deref().map(strings_of),
        env,
        labels: s
            .labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        exposed_ports: exposed,
        ports,
        mounts,
        files,
        working_dir: s.working_dir.as_deref().map(String::from),
        user: s.user.as_deref().map(String::from),
        hostname: s.hostname.as_deref().map(String::from),
        domainname: x.get("domainname").and_then(scalar),
        tty: s.tty,
        stdin_open: s.stdin_open,
        privileged: s.privileged,
        init: x.get("init").and_then(J::as_bool),
        read_only: s.read_only,
        cap_add: strings(x.get("cap_add")),
        cap_drop: strings(x.get("cap_drop")),
        extra_hosts,
        dns: strings(x.get("dns")),
        dns_search: strings(x.get("dns_search")),
        security_opt: strings(x.get("security_opt")),
        restart: s.restart.as_deref().map(String::from),
        healthcheck,
        healthcheck_disabled,
        stop_signal: s.stop_signal.as_deref().map(String::from),
        stop_timeout: stop_timeout_secs.map(|t| t as i64),
        network_mode: network_mode.map(String::from),
        tmpfs,
        shm_size: int(x.get("shm_size")),
        memory: int(x.get("mem_limit")),
        nano_cpus,
        logging: s.logging.as_ref().and_then(|l| {
            Some(LogSpec {
                driver: l.driver.as_deref()?.to_string(),
                options: l
                    .options
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.to_string())))
                    .collect(),
            })
        }),
        sysctls: string_map(x.get("sysctls")),
        ulimits,
        pid,
        ipc,
        devices,
        group_add: strings(x.get("group_add")),
        platform: x.get("platform").and_then(scalar),
        mac_address: x.get("mac_address").and_then(scalar),
        volumes_from: s
            .volumes_from
            .iter()
            .map(|v| {
                let (kind, target) = v.split_once(':').unwrap_or(("service", v));
                let (target, mode) = match target.split_once(':') {
                    Some((t, m)) => (t, Some(m)),
                    None => (target, None),
                };
                let container = if kind == "container" {
                    target.to_string()
                } else {
                    container_of(target).unwrap_or_else(|| target.to_string())
                };
                match mode {
                    Some(m) => format!("{container}:{m}"),
                    None => container,
                }
            })
            .collect(),
    };
    Ok(ServiceSpec {
        name: name.to_string(),
        image,
        pull_policy,
        build,
        replicas,
        container_name: s.container_name.as_deref().map(String::from),
        depends_on,
        links,
        networks,
        container,
        healthcheck_disabled,
        stop_timeout_secs,
        post_start,
        pre_stop,
        shares,
    })
}

/// The hooks under `key` (`post_start`, `pre_stop`) of a service: a list of maps, each with a
/// non-empty `command`.
fn hooks(service: &str, key: &str, v: Option<&J>) -> Result<Vec<Hook>, DesiredError> {
    let items = match v {
        None | Some(J::Null) => return Ok(Vec::new()),
        Some(J::Array(items)) => items,
        Some(_) => return Err(err(service, format!("{key} must be a list of hooks"))),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let J::Object(o) = item else {
                return Err(err(
                    service,
                    format!("{key}[{i}] must be a map with a command"),
                ));
            };
            let command = strings(o.get("command"));
            if command.is_empty() {
                return Err(err(
                    service,
                    format!("{key}[{i}].command is missing or empty"),
                ));
            }
            Ok(Hook {
                command,
                user: o.get("user").and_then(scalar),
                privileged: o.get("privileged").and_then(J::as_bool).unwrap_or(false),
                working_dir: o.get("working_dir").and_then(scalar),
                environment: string_map(o.get("environment"))
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            })
        })
        .collect()
}

/// What a secret or config holds: its `content`, the project variable its `environment` names
/// (unset reads as empty, as Compose does), or its `file:` as the loader read it; `None` for an
/// object the loader did not read (a Swarm's own, or for a command that creates nothing).
fn injected_content(
    object: &hoist_compose::FileObject,
    env: &BTreeMap<String, String>,
) -> Result<Option<std::sync::Arc<[u8]>>, String> {
    Ok(match (&object.content, &object.environment, &object.data) {
        (_, _, Some(Err(why))) if object.external => return Err(why.clone()),
        (Some(content), _, _) => Some(content.as_bytes().into()),
        (None, Some(var), _) => Some(
            env.get(var.as_str())
                .map(String::as_bytes)
                .unwrap_or_default()
                .into(),
        ),
        (None, None, Some(data)) => Some(data.clone()?),
        (None, None, None) => None,
    })
}

/// A secret's or config's `uid` and `gid` (numbers; root's for the one not given), or `None`
/// when neither is.
fn file_owner(
    service: &str,
    uid: Option<&str>,
    gid: Option<&str>,
) -> Result<Option<(u64, u64)>, DesiredError> {
    if uid.is_none() && gid.is_none() {
        return Ok(None);
    }
    let id = |key: &str, value: Option<&str>| -> Result<u64, DesiredError> {
        value.map_or(Ok(0), |v| {
            v.parse().map_err(|_| {
                err(
                    service,
                    format!("secret/config {key} {v:?} is not a number"),
                )
            })
        })
    };
    Ok(Some((id("uid", uid)?, id("gid", gid)?)))
}

/// A secret's or config's `mode` (octal, as compose files write it; Compose's default 0444).
fn file_mode(service: &str, mode: Option<&str>) -> Result<u32, DesiredError> {
    let Some(mode) = mode else { return Ok(0o444) };
    let digits = mode.strip_prefix("0o").unwrap_or(mode);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| err(service, format!("invalid secret/config mode {mode:?}")))
}

#[cfg(test)]
mod hook_tests {
    use super::*;
    use hoist_compose::json::Map;

    fn s(v: &str) -> J {
        J::String(v.into())
    }

    #[test]
    fn hooks_keep_command_user_and_environment() {
        let mut env = Map::new();
        env.insert("A", s("1"));
        let mut hook = Map::new();
        hook.insert("command", J::Array(vec![s("sh"), s("-c"), s("echo hi")]));
        hook.insert("user", s("root"));
        hook.insert("environment", J::Object(env));
        let got = hooks("web", "post_start", Some(&J::Array(vec![J::Object(hook)]))).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].command, ["sh", "-c", "echo hi"]);
        assert_eq!(got[0].user.as_deref(), Some("root"));
        assert_eq!(got[0].environment, ["A=1"]);
    }

    #[test]
    fn hooks_absent_are_none() {
        assert!(hooks("web", "pre_stop", None).unwrap().is_empty());
    }

    #[test]
    fn a_hook_without_command_names_the_service_and_key() {
        let e = hooks(
            "web",
            "pre_stop",
            Some(&J::Array(vec![J::Object(Map::new())])),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("web") && e.contains("pre_stop[0].command"),
            "{e}"
        );
        let e = hooks("web", "pre_stop", Some(&s("x")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pre_stop must be a list"), "{e}");
    }
}

/// A service's networks in the order Compose attaches them: the highest `priority` first, then
/// by key. The first is the one the container is created on (its `NetworkMode`).
fn by_priority(
    networks: &hoist_compose::vecmap::VecMap<Option<hoist_compose::model::ServiceNetwork>>,
) -> Vec<(
    &hoist_compose::json::Str,
    &Option<hoist_compose::model::ServiceNetwork>,
)> {
    let priority = |opts: &Option<hoist_compose::model::ServiceNetwork>| -> i64 {
        opts.as_ref()
            .and_then(|o| o.extra.get("priority"))
            .and_then(J::as_i64)
            .unwrap_or(0)
    };
    let mut ordered: Vec<_> = networks.iter().collect();
    ordered.sort_by(|(ka, a), (kb, b)| priority(b).cmp(&priority(a)).then(ka.cmp(kb)));
    ordered
}

/// One `Config.Env` entry. A variable listed without a value that the environment does not set
/// either goes to the engine as the bare name, as Compose sends it (the engine keeps it unset).
fn env_entry(key: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{key}={value}"),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{env_entry, file_owner};

    #[test]
    fn a_secrets_owner_is_numeric_and_root_where_not_given() {
        assert_eq!(file_owner("web", None, None).unwrap(), None);
        assert_eq!(
            file_owner("web", Some("1005"), Some("1006")).unwrap(),
            Some((1005, 1006))
        );
        assert_eq!(file_owner("web", Some("7"), None).unwrap(), Some((7, 0)));
        let e = file_owner("web", Some("nobody"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("web") && e.contains("uid") && e.contains("nobody"),
            "{e}"
        );
    }

    /// Loads `yaml` from a fresh directory holding `files` (name, bytes).
    fn load(yaml: &str, files: &[(&str, &[u8])], env: &[(&str, &str)]) -> hoist_compose::Project {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("hoist-desired-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let project = hoist_compose::load(&hoist_compose::LoadOptions {
            working_dir: dir.clone(),
            project_name: Some("p".into()),
            environment: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        })
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        project
    }

    const EVERY_SOURCE: &str = "services:
  app:
    image: alpine
    secrets:
      - from_file
      - source: from_env
        target: env.txt
        uid: '1005'
        gid: '1006'
        mode: 0400
    configs:
      - source: conf
        target: /etc/app.conf
secrets:
  from_file:
    file: ./token.bin
  from_env:
    environment: TOKEN
configs:
  conf:
    content: listen 80
";

    #[test]
    fn every_source_of_a_secret_or_config_is_copied_in_with_its_owner_and_mode() {
        let binary: &[u8] = &[0, 159, 146, 150, b'\n'];
        let project = load(
            EVERY_SOURCE,
            &[("token.bin", binary)],
            &[("TOKEN", "t0ken")],
        );
        let spec = super::project_spec(&project).unwrap();
        let files = &spec.service("app").unwrap().container.files;
        let got: Vec<_> = files
            .iter()
            .map(|f| (f.path.as_str(), &*f.content, f.mode, f.owner))
            .collect();
        assert_eq!(
            got,
            [
                ("/run/secrets/from_file", binary, 0o444, None),
                (
                    "/run/secrets/env.txt",
                    &b"t0ken"[..],
                    0o400,
                    Some((1005, 1006))
                ),
                ("/etc/app.conf", &b"listen 80"[..], 0o444, None),
            ]
        );
        // No bind mount of a path on the engine's host.
        assert!(spec.service("app").unwrap().container.mounts.is_empty());
    }

    #[test]
    fn a_secrets_value_is_in_no_serialised_or_printed_spec_but_changes_the_hash() {
        let spec = |token: &str| {
            let project = load(EVERY_SOURCE, &[("token.bin", b"f1le")], &[("TOKEN", token)]);
            super::project_spec(&project).unwrap()
        };
        let (one, two) = (spec("value-one"), spec("value-two"));
        let app = one.service("app").unwrap();
        for text in [
            serde_json::to_string(&one).unwrap(),
            format!("{one:?}"),
            format!("{app:#?}"),
        ] {
            assert!(
                !text.contains("value-one") && !text.contains("f1le"),
                "{text}"
            );
        }
        assert_ne!(
            crate::hash::config_hash(app),
            crate::hash::config_hash(two.service("app").unwrap())
        );
        assert_eq!(
            crate::hash::config_hash(app),
            crate::hash::config_hash(spec("value-one").service("app").unwrap())
        );
    }

    #[test]
    fn an_unreadable_file_or_an_external_secret_names_the_service_secret_and_file() {
        let project = load(EVERY_SOURCE, &[], &[("TOKEN", "t")]);
        let e = super::project_spec(&project).unwrap_err().to_string();
        assert!(
            e.contains("app") && e.contains("secret from_file") && e.contains("token.bin"),
            "{e}"
        );
        let external = EVERY_SOURCE.replace("file: ./token.bin", "external: true");
        let e = super::project_spec(&load(&external, &[], &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("app") && e.contains("secret from_file") && e.contains("external"),
            "{e}"
        );
    }

    #[test]
    fn an_unset_variable_goes_to_the_engine_as_its_bare_name() {
        assert_eq!(env_entry("MAYBE", None), "MAYBE");
        assert_eq!(env_entry("MAYBE", Some("")), "MAYBE=");
        assert_eq!(env_entry("A", Some("b=c")), "A=b=c");
    }
}
