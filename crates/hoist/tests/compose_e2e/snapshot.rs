//! The engine state of a scenario's projects after a command, as a set of comparable lines.
//!
//! Containers, networks and volumes of each project (by the `com.docker.compose.project` label,
//! and by name for anything a tool created without it) are read with `docker inspect` and flattened
//! into `kind name: path = value` lines. Values the engine makes up per run (ids, addresses,
//! timestamps, generated MAC addresses, anonymous volume names) are left out or replaced by a
//! placeholder; everything a tool chose is kept. Empty values (null, "", 0, false, [], {}) are
//! dropped, so that a tool that leaves a field unset and one that sets it to its zero value agree,
//! as the engine treats them alike.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::harness::docker_lines;

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub lines: BTreeSet<String>,
}

/// Fields of a container's `Config` that are compared.
const CONFIG_FIELDS: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Env",
    "Labels",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "AttachStdin",
    "StopSignal",
    "StopTimeout",
    "Healthcheck",
    "ExposedPorts",
    "Domainname",
    "MacAddress",
];

/// Fields of a container's `HostConfig` that are not compared: the engine fills them per run or
/// per client version, and no compose key sets them.
const HOST_CONFIG_SKIP: &[&str] = &["ConsoleSize", "ContainerIDFile"];

/// Labels whose values depend on the tool rather than the project: only their presence counts.
const PRESENCE_LABELS: &[&str] = &[
    "com.docker.compose.version",
    "com.docker.compose.config-hash",
    "com.docker.compose.replace",
];

pub fn capture(projects: &[String]) -> Snapshot {
    let mut lines = BTreeSet::new();
    for project in projects {
        containers(project, &mut lines);
        networks(project, &mut lines);
        volumes(project, &mut lines);
    }
    Snapshot { lines }
}

/// Ids of objects of `kind` that belong to `project`: labelled, or named after it.
fn ids(kind: &str, project: &str) -> Vec<String> {
    let list: Vec<&str> = match kind {
        "container" => vec!["ps", "-a", "--no-trunc", "-q"],
        other => vec![other, "ls", "-q"],
    };
    let mut found: BTreeSet<String> = BTreeSet::new();
    for filter in [
        format!("label=com.docker.compose.project={project}"),
        format!("name={project}"),
    ] {
        let mut args = list.clone();
        args.extend(["--filter", filter.as_str()]);
        found.extend(docker_lines(&args));
    }
    found.into_iter().collect()
}

fn inspect(kind: &str, ids: &[String]) -> Vec<Value> {
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec![kind, "inspect"];
    args.extend(ids.iter().map(String::as_str));
    let text = docker_lines(&args).join("\n");
    serde_json::from_str::<Vec<Value>>(&text).unwrap_or_default()
}

/// Labelled objects belong to the project their label names; unlabelled ones by their name.
fn belongs(name: &str, labels: &Value, project: &str) -> bool {
    match labels
        .get("com.docker.compose.project")
        .and_then(Value::as_str)
    {
        Some(label) => label == project,
        None => {
            name.starts_with(&format!("{project}-")) || name.starts_with(&format!("{project}_"))
        }
    }
}

/// The images the project's containers run (their `com.docker.compose.image` ids), numbered
/// in the order of the containers' names: an image each tool builds gets another id per build,
/// so the ids are compared by which containers share one.
fn image_ordinals(found: &[Value], project: &str) -> BTreeMap<String, usize> {
    let mut by_name: Vec<(String, String)> = found
        .iter()
        .filter_map(|c| {
            let name = c["Name"].as_str().unwrap_or("").trim_start_matches('/');
            let labels = &c["Config"]["Labels"];
            let image = labels["com.docker.compose.image"].as_str()?;
            belongs(name, labels, project).then(|| (name.to_string(), image.to_string()))
        })
        .collect();
    by_name.sort();
    let mut ordinals = BTreeMap::new();
    for (_, image) in by_name {
        let next = ordinals.len() + 1;
        ordinals.entry(image).or_insert(next);
    }
    ordinals
}

fn containers(project: &str, out: &mut BTreeSet<String>) {
    let found = inspect("container", &ids("container", project));
    let images = image_ordinals(&found, project);
    for c in &found {
        let name = c["Name"].as_str().unwrap_or("").trim_start_matches('/');
        if !belongs(name, &c["Config"]["Labels"], project) {
            continue;
        }
        let id = c["Id"].as_str().unwrap_or("");
        let shown = shown_name(name, &c["Config"]["Labels"]);
        let head = format!("container {shown}:");
        let state = &c["State"];
        push(out, &head, "State.Status", &state["Status"]);
        if state["Status"] == "exited" {
            push(out, &head, "State.ExitCode", &state["ExitCode"]);
        }
        let config = &c["Config"];
        for field in CONFIG_FIELDS {
            let value = match *field {
                "Labels" => {
                    let mut labels = labels(&config["Labels"]);
                    if let Some(image) = labels.get_mut("com.docker.compose.image") {
                        let id = image.as_str().unwrap_or("");
                        *image = Value::String(format!("<image {}>", images[id]));
                    }
                    labels
                }
                "Env" => sorted(&config["Env"]),
                "MacAddress" => mac(&config["MacAddress"]),
                _ => config[*field].clone(),
            };
            flatten(out, &head, &format!("Config.{field}"), &value);
        }
        // The engine names a container's host after its id, or after the id of the container
        // whose network it joins (`network_mode: service:...`): both differ per run.
        let hostname = config["Hostname"].as_str().unwrap_or("");
        let generated = hostname.len() == 12 && hostname.chars().all(|c| c.is_ascii_hexdigit());
        if !generated && (!id.starts_with(hostname) || hostname.is_empty()) {
            push(out, &head, "Config.Hostname", &config["Hostname"]);
        }
        if let Some(host) = c["HostConfig"].as_object() {
            for (k, v) in host {
                if HOST_CONFIG_SKIP.contains(&k.as_str()) {
                    continue;
                }
                let v = match k.as_str() {
                    "NetworkMode" | "IpcMode" | "PidMode" => container_ref(v),
                    // Compose lists binds and mounts in the order of a Go map: compared as sets,
                    // anonymous volumes (named by the engine) by where they are mounted.
                    "Binds" => sorted(v),
                    "Mounts" => mounts_as_set(v),
                    "VolumesFrom" => Value::Array(
                        v.as_array()
                            .into_iter()
                            .flatten()
                            .map(|entry| {
                                container_ref(&Value::String(format!(
                                    "container:{}",
                                    entry.as_str().unwrap_or("")
                                )))
                            })
                            .collect(),
                    ),
                    "Links" => sorted(v),
                    _ => v.clone(),
                };
                flatten(out, &head, &format!("HostConfig.{k}"), &v);
            }
        }
        mounts(&c["Mounts"], &head, out);
        if let Some(nets) = c["NetworkSettings"]["Networks"].as_object() {
            for (net, v) in nets {
                let key = format!("Networks.{net}");
                let short = &id[..id.len().min(12)];
                let aliases: Vec<Value> = v["Aliases"]
                    .as_array()
                    .map(|a| {
                        let mut a: Vec<Value> = a
                            .iter()
                            .filter(|x| x.as_str() != Some(short))
                            .map(|x| match x.as_str() {
                                Some(alias) if alias == name => Value::String(shown.clone()),
                                _ => x.clone(),
                            })
                            .collect();
                        a.sort_by_key(|x| x.to_string());
                        a
                    })
                    .unwrap_or_default();
                push(out, &head, &key, &Value::String("attached".into()));
                flatten(
                    out,
                    &head,
                    &format!("{key}.Aliases"),
                    &Value::Array(aliases),
                );
                flatten(out, &head, &format!("{key}.Links"), &sorted(&v["Links"]));
                flatten(out, &head, &format!("{key}.IPAMConfig"), &v["IPAMConfig"]);
                flatten(out, &head, &format!("{key}.DriverOpts"), &v["DriverOpts"]);
                flatten(
                    out,
                    &head,
                    &format!("{key}.MacAddress"),
                    &mac(&v["MacAddress"]),
                );
            }
        }
    }
}

/// One-off containers are named `<project>-<service>-run-<random>`; the random part differs
/// between runs, so it is shown as `<random>`.
fn shown_name(name: &str, labels: &Value) -> String {
    let oneoff = labels
        .get("com.docker.compose.oneoff")
        .and_then(Value::as_str)
        == Some("True");
    match name.rsplit_once("-run-") {
        Some((head, tail)) if oneoff && tail.chars().all(|c| c.is_ascii_hexdigit()) => {
            format!("{head}-run-<random>")
        }
        _ => name.to_string(),
    }
}

/// `container:<id>` references name the container instead, ids differ between runs.
fn container_ref(v: &Value) -> Value {
    let s = v.as_str().unwrap_or("");
    match s.split_once(':') {
        Some((kind @ "container", reference))
            if reference.split(':').next().unwrap_or("").len() == 64 =>
        {
            let (id, access) = match reference.split_once(':') {
                Some((id, access)) => (id, format!(":{access}")),
                None => (reference, String::new()),
            };
            let names = docker_lines(&["inspect", "--format", "{{.Name}}", id]);
            Value::String(format!(
                "{kind}:{}{access}",
                names
                    .first()
                    .map(|n| n.trim_start_matches('/'))
                    .unwrap_or("?")
            ))
        }
        _ => v.clone(),
    }
}

/// `HostConfig.Mounts` sorted by target, an anonymous volume's engine-made name replaced.
fn mounts_as_set(v: &Value) -> Value {
    let mut list: Vec<Value> = v.as_array().cloned().unwrap_or_default();
    for m in &mut list {
        let anonymous = m["Source"]
            .as_str()
            .is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()));
        if anonymous && m["Type"] == "volume" {
            m["Source"] = Value::String("<anonymous volume>".into());
        }
    }
    list.sort_by_key(|m| m["Target"].as_str().unwrap_or("").to_string());
    Value::Array(list)
}

/// MAC addresses the engine generates (`02:42:...`) differ per run; chosen ones are kept.
fn mac(v: &Value) -> Value {
    match v.as_str() {
        Some(m) if m.starts_with("02:42:") => Value::Null,
        _ => v.clone(),
    }
}

fn mounts(v: &Value, head: &str, out: &mut BTreeSet<String>) {
    let Some(list) = v.as_array() else { return };
    for m in list {
        let dest = m["Destination"].as_str().unwrap_or("?");
        let key = format!("Mounts[{dest}]");
        push(out, head, &format!("{key}.Type"), &m["Type"]);
        let name = m["Name"].as_str().unwrap_or("");
        let anonymous = m["Type"] == "volume"
            && name.len() == 64
            && name.chars().all(|c| c.is_ascii_hexdigit());
        if anonymous {
            push(
                out,
                head,
                &format!("{key}.Name"),
                &Value::String("<anonymous>".into()),
            );
        } else {
            push(out, head, &format!("{key}.Name"), &m["Name"]);
            if m["Type"] == "bind" {
                push(out, head, &format!("{key}.Source"), &m["Source"]);
            }
        }
        push(out, head, &format!("{key}.RW"), &m["RW"]);
        push(out, head, &format!("{key}.Mode"), &m["Mode"]);
    }
}

fn networks(project: &str, out: &mut BTreeSet<String>) {
    for n in inspect("network", &ids("network", project)) {
        let name = n["Name"].as_str().unwrap_or("");
        if !belongs(name, &n["Labels"], project) {
            continue;
        }
        let head = format!("network {name}:");
        for field in [
            "Driver",
            "Scope",
            "Internal",
            "Attachable",
            "Ingress",
            "EnableIPv6",
        ] {
            push(out, &head, field, &n[field]);
        }
        flatten(out, &head, "Labels", &labels(&n["Labels"]));
        flatten(out, &head, "Options", &n["Options"]);
        push(out, &head, "IPAM.Driver", &n["IPAM"]["Driver"]);
        flatten(out, &head, "IPAM.Options", &n["IPAM"]["Options"]);
        if let Some(configs) = n["IPAM"]["Config"].as_array() {
            for (i, c) in configs.iter().enumerate() {
                let subnet = c["Subnet"].as_str().unwrap_or("");
                if !engine_chosen(subnet) {
                    flatten(out, &head, &format!("IPAM.Config[{i}]"), c);
                }
            }
        }
    }
}

/// Subnets from the engine's default pools are allocated per run; others were asked for.
fn engine_chosen(subnet: &str) -> bool {
    let Some((a, rest)) = subnet.split_once('.') else {
        return false;
    };
    let b: u8 = rest
        .split('.')
        .next()
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    (a == "172" && (17..=31).contains(&b)) || (a == "192" && b == 168)
}

fn volumes(project: &str, out: &mut BTreeSet<String>) {
    for v in inspect("volume", &ids("volume", project)) {
        let name = v["Name"].as_str().unwrap_or("");
        if !belongs(name, &v["Labels"], project) {
            continue;
        }
        let head = format!("volume {name}:");
        push(out, &head, "Driver", &v["Driver"]);
        flatten(out, &head, "Labels", &labels(&v["Labels"]));
        flatten(out, &head, "Options", &v["Options"]);
    }
}

/// Labels with tool-specific values reduced to their presence.
fn labels(v: &Value) -> Value {
    let Some(map) = v.as_object() else {
        return Value::Null;
    };
    let mut out = serde_json::Map::new();
    for (k, val) in map {
        let val = if PRESENCE_LABELS.contains(&k.as_str()) {
            Value::String("<present>".into())
        } else if k == "com.docker.compose.slug" {
            let s = val.as_str().unwrap_or("");
            Value::String(format!("<{} hex>", s.len()))
        } else {
            val.clone()
        };
        out.insert(k.clone(), val);
    }
    Value::Object(out)
}

fn sorted(v: &Value) -> Value {
    match v.as_array() {
        Some(a) => {
            let mut a = a.clone();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        None => v.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn push(out: &mut BTreeSet<String>, head: &str, path: &str, v: &Value) {
    if !is_empty(v) {
        out.insert(format!("{head} {path} = {v}"));
    }
}

/// Objects become one line per key (so that a difference names the key); arrays stay whole.
fn flatten(out: &mut BTreeSet<String>, head: &str, path: &str, v: &Value) {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            for (k, v) in sorted {
                flatten(out, head, &format!("{path}.{k}"), v);
            }
        }
        _ => push(out, head, path, v),
    }
}
