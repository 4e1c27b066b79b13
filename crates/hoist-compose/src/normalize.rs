//! Normalisation: the merged tree → the canonical JSON tree `docker compose config --format json`
//! prints. Short syntaxes become long ones (ports, volumes, depends_on, secrets...), lists become
//! maps where compose stores maps (environment, labels), `env_file` contents are merged in, paths
//! are made absolute, units are re-rendered and unused top-level resources are dropped. Then the
//! consistency checks compose runs on the result. Strings hold the values the engine receives:
//! compose prints every literal `$` as `$$`, and printing does that ([`crate::json::Printed`]).

use std::collections::BTreeMap;
use std::path::Path;

use smol_str::ToSmolStr;

/// Maps looked up by name many times per project (foldhash: the names come from the files).
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use crate::json::{Key, Map as JMap, Str, Value as J};

use crate::error::ComposeError;
use crate::loader::{Loaded, absolute, expand_home};
use crate::units::{format_duration, parse_duration, parse_ram, shell_split};
use crate::yaml::{Map, Node, Value};

/// A mapping of keys compose defines.
fn obj<const N: usize>(entries: [(&'static str, J); N]) -> J {
    J::Object(entries.into_iter().collect())
}

fn s(v: &str) -> J {
    J::String(Str::new(v))
}

/// A node as JSON with no field-specific rule.
pub fn plain(n: &Node) -> J {
    match &n.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Str(x) => J::String(x.clone()),
        Value::Seq(v) => J::Array(v.iter().map(plain).collect()),
        Value::Map(m) => J::Object(JMap::from_distinct(
            m.iter().map(|(k, v)| (k.clone(), plain(v))).collect(),
        )),
    }
}

/// [`plain`] of a whole mapping (a loaded tree).
pub fn plain_map(m: &Map) -> J {
    J::Object(JMap::from_distinct(
        m.iter().map(|(k, v)| (k.clone(), plain(v))).collect(),
    ))
}

fn string_of(n: &Node) -> J {
    match n.scalar_str() {
        Some(x) => s(&x),
        None => plain(n),
    }
}

fn int_of(n: &Node, what: &str) -> Result<J, ComposeError> {
    match &n.value {
        Value::Int(i) => Ok(J::from(*i)),
        Value::Float(f) if f.fract() == 0.0 => Ok(J::from(*f as i64)),
        Value::Str(x) => x.trim().parse::<i64>().map(J::from).map_err(|_| {
            ComposeError::invalid_at(
                n.pos.location(),
                format!("{what}: expected an integer, got {x:?}"),
            )
        }),
        _ => Ok(plain(n)),
    }
}

fn float_of(n: &Node, what: &str) -> Result<J, ComposeError> {
    let f = match &n.value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(x) => x.trim().parse::<f64>().map_err(|_| {
            ComposeError::invalid_at(
                n.pos.location(),
                format!("{what}: expected a number, got {x:?}"),
            )
        })?,
        _ => return Ok(plain(n)),
    };
    // Go stores cpus as float32: print the shortest float32 text.
    let f32v = f as f32;
    let text = format!("{f32v}");
    Ok(text
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(J::Number)
        .unwrap_or(J::Null))
}

fn plain_float(n: &Node, what: &str) -> Result<J, ComposeError> {
    let f = match &n.value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(x) => x.trim().parse::<f64>().map_err(|_| {
            ComposeError::invalid_at(
                n.pos.location(),
                format!("{what}: expected a number, got {x:?}"),
            )
        })?,
        _ => return Ok(plain(n)),
    };
    Ok(serde_json::Number::from_f64(f)
        .map(J::Number)
        .unwrap_or(J::Null))
}

fn bool_of(n: &Node, what: &str) -> Result<J, ComposeError> {
    match &n.value {
        Value::Bool(b) => Ok(J::Bool(*b)),
        Value::Str(x) => match x.to_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => Ok(J::Bool(true)),
            "false" | "no" | "n" | "off" | "0" => Ok(J::Bool(false)),
            _ => Err(ComposeError::invalid_at(
                n.pos.location(),
                format!("{what}: expected a boolean, got {x:?}"),
            )),
        },
        _ => Ok(plain(n)),
    }
}

fn bytes_of(n: &Node, what: &str) -> Result<J, ComposeError> {
    match &n.value {
        Value::Int(i) => Ok(J::from(i.to_string())),
        Value::Float(f) => Ok(J::from((*f as i64).to_string())),
        Value::Str(x) => match parse_ram(x) {
            Some(v) => Ok(J::from(v.to_string())),
            None if x.trim() == "-1" => Ok(J::from("-1")),
            None => Err(ComposeError::invalid_at(
                n.pos.location(),
                format!("{what}: invalid size: {x:?}"),
            )),
        },
        _ => Ok(plain(n)),
    }
}

fn duration_of(n: &Node, what: &str) -> Result<J, ComposeError> {
    match &n.value {
        Value::Str(x) => match parse_duration(x) {
            Some(ns) => Ok(J::from(format_duration(ns))),
            None => Err(ComposeError::invalid_at(
                n.pos.location(),
                format!("{what}: invalid duration {x:?}"),
            )),
        },
        Value::Int(i) => Ok(J::from(format_duration(*i as i128 * 1_000_000_000))),
        _ => Ok(plain(n)),
    }
}

fn str_list(n: &Node) -> J {
    match &n.value {
        Value::Seq(v) => J::Array(v.iter().map(string_of).collect()),
        Value::Null => J::Array(Vec::new()),
        _ => J::Array(vec![string_of(n)]),
    }
}

/// `KEY=VALUE` list or mapping → mapping of strings. `bare` is the value of a `KEY` without `=`.
fn kv_map(n: &Node, bare: &dyn Fn(&str) -> J) -> JMap {
    let mut out = JMap::with_capacity(match &n.value {
        Value::Seq(v) => v.len(),
        Value::Map(m) => m.len(),
        _ => 0,
    });
    let mut bulk = crate::vecmap::Bulk::default();
    match &n.value {
        Value::Seq(v) => {
            for it in v {
                let Some(t) = it.scalar_str() else {
                    continue;
                };
                match t.split_once('=') {
                    Some((k, val)) => out.bulk_insert(&mut bulk, Str::new(k), s(val)),
                    None => {
                        let v = bare(&t);
                        out.bulk_insert(&mut bulk, Str::from(t), v);
                    }
                }
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                let val = match &v.value {
                    Value::Null => bare(k),
                    _ => string_of(v),
                };
                out.bulk_insert(&mut bulk, k.clone(), val);
            }
        }
        _ => {}
    }
    out
}

fn is_url_context(c: &str) -> bool {
    c.contains("://")
        || c.starts_with("git@")
        || c.starts_with("github.com/")
        || c.starts_with("docker-image://")
        || c.starts_with("service:")
        || c.starts_with("oci-layout://")
}

fn abs_str(dir: &Path, p: &str, home: Option<&str>) -> Str {
    let b = p.as_bytes();
    if b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
    {
        // A Windows path: absolute on the engine's side.
        return Str::new(p);
    }
    let p = expand_home(p, home);
    if Path::new(&*p).is_absolute() {
        // Compose leaves absolute paths as written (a trailing slash stays).
        return Str::from(p);
    }
    // The common case without building paths: `dir` and `p` joined, `.` and empty segments
    // dropped (what `absolute` does when no `..` is involved).
    if let Some(d) = dir.to_str().filter(|d| d.starts_with('/'))
        && !d.split('/').chain(p.split('/')).any(|c| c == "..")
    {
        let mut out = smol_str::SmolStrBuilder::new();
        for c in d.split('/').chain(p.split('/')) {
            if !c.is_empty() && c != "." {
                out.push('/');
                out.push_str(c);
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        return out.finish();
    }
    Str::from(absolute(dir, Path::new(&*p)).display().to_string())
}

/// Target of a short volume spec, for de-duplication before normalisation.
pub fn short_volume_target(spec: &str) -> &str {
    // Called for every volume of every service: split the spec without building the mapping.
    match split_short_volume(spec) {
        Ok(v) => v.target,
        Err(_) => spec,
    }
}

fn is_file_path(src: &str) -> bool {
    let b = src.as_bytes();
    match b.first() {
        None => false,
        Some(b'.' | b'/' | b'~') => true,
        _ => src.starts_with("\\\\") || (b.len() > 1 && b[0].is_ascii_alphabetic() && b[1] == b':'),
    }
}

/// The parts of a short volume spec (slices of it).
struct ShortVolume<'a> {
    /// Whole spec of at most two characters: a bare volume target.
    tiny: bool,
    source: &'a str,
    target: &'a str,
    read_only: bool,
    nocopy: bool,
    bind_opts: Vec<(&'static str, &'a str)>,
}

fn split_short_volume(spec: &str) -> Result<ShortVolume<'_>, String> {
    if spec.is_empty() {
        return Err("invalid empty volume spec".into());
    }
    let mut v = ShortVolume {
        tiny: false,
        source: "",
        target: "",
        read_only: false,
        nocopy: false,
        bind_opts: Vec::new(),
    };
    if spec.chars().count() <= 2 {
        v.tiny = true;
        v.target = spec;
        return Ok(v);
    }
    // Sections end at each ':' (or '\0') and at the end of the spec; a one-letter section
    // followed by ':' is a Windows drive and goes on.
    let bytes = spec.as_bytes();
    let mut start = 0;
    for i in 0..=bytes.len() {
        let end = i == bytes.len() || bytes[i] == 0;
        if !end && bytes[i] != b':' {
            continue;
        }
        let text = &spec[start..i];
        if !end && text.len() == 1 && text.as_bytes()[0].is_ascii_alphabetic() {
            continue;
        }
        start = i + 1;
        if text.is_empty() {
            return Err("empty section between colons".into());
        }
        if v.source.is_empty() && end {
            v.target = text;
        } else if v.source.is_empty() {
            v.source = text;
        } else if v.target.is_empty() {
            v.target = text;
        } else if !end {
            return Err("too many colons".into());
        } else {
            for opt in text.split(',') {
                match opt {
                    "ro" => v.read_only = true,
                    "rw" => v.read_only = false,
                    "nocopy" => v.nocopy = true,
                    "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                        v.bind_opts.push(("propagation", opt))
                    }
                    "z" | "Z" => v.bind_opts.push(("selinux", opt)),
                    _ => {}
                }
            }
        }
    }
    if v.target.len() > 1 && v.target.ends_with('/') {
        let trimmed = v.target.trim_end_matches('/');
        // All slashes: the root stays.
        v.target = if trimmed.is_empty() {
            &v.target[..1]
        } else {
            trimmed
        };
    }
    Ok(v)
}

/// Parses `[source:]target[:options]` into the long syntax.
pub fn parse_short_volume(spec: &str) -> Result<JMap, String> {
    let v = split_short_volume(spec)?;
    let mut out = JMap::with_capacity(5);
    if v.tiny {
        out.push("type", J::String(Str::new_static("volume")));
        out.push("target", J::from(v.target));
        out.push("volume", J::object());
        return Ok(out);
    }
    let bind = is_file_path(v.source);
    out.push(
        "type",
        J::String(Str::new_static(if bind { "bind" } else { "volume" })),
    );
    if !v.source.is_empty() {
        out.push("source", J::from(v.source));
    }
    out.push("target", J::from(v.target));
    if v.read_only {
        out.push("read_only", J::Bool(true));
    }
    if bind {
        let mut b = JMap::new();
        for (k, val) in v.bind_opts {
            b.insert(k, J::from(val));
        }
        b.insert("create_host_path", J::Bool(true));
        out.push("bind", J::Object(b));
    } else {
        let mut m = JMap::new();
        if v.nocopy {
            m.push("nocopy", J::Bool(true));
        }
        out.push("volume", J::Object(m));
    }
    Ok(out)
}

fn json_to_node(j: &J, pos: &crate::yaml::Pos) -> Node {
    let v = match j {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        J::String(x) => Value::Str(x.clone()),
        J::Array(a) => Value::Seq(a.iter().map(|x| json_to_node(x, pos)).collect()),
        J::Object(o) => Value::Map(
            o.iter()
                .map(|(k, x)| (k.clone(), json_to_node(x, pos)))
                .collect(),
        ),
    };
    Node::new(v, *pos)
}

/// Makes the relative paths of one service absolute against `dir` (used for services read from
/// another directory through `extends` or `include`). Short volume specs become long ones.
pub fn resolve_service_paths(service: &mut Node, dir: &Path, home: Option<&str>) {
    service_paths(service, dir, home, true);
}

/// [`resolve_service_paths`]; `long_volumes` false leaves short volume specs as they are, for the
/// project's own directory, where normalisation resolves them against the same directory anyway.
fn service_paths(service: &mut Node, dir: &Path, home: Option<&str>, long_volumes: bool) {
    let Some(m) = service.as_map_mut() else {
        return;
    };
    if let Some(b) = m.get_mut("build") {
        let pos = b.pos;
        if let Value::Str(c) = &b.value {
            let mut bm = Map::default();
            bm.insert("context", Node::str(c.clone(), pos));
            b.value = Value::Map(bm);
        }
        if let Some(bm) = b.as_map_mut() {
            if let Some(c) = bm.get_mut("context")
                && let Value::Str(x) = &mut c.value
                && !is_url_context(x)
            {
                *x = abs_str(dir, x, home);
            }
            if !bm.contains_key("context") {
                bm.insert("context", Node::str(dir.display().to_string(), pos));
            }
            if let Some(ac) = bm.get_mut("additional_contexts") {
                abs_values(ac, dir, home);
            }
        }
    }
    for key in ["env_file", "label_file"] {
        if let Some(ef) = m.get_mut(key) {
            match &mut ef.value {
                Value::Str(x) => *x = abs_str(dir, x, home),
                Value::Seq(items) => {
                    for it in items {
                        match &mut it.value {
                            Value::Str(x) => *x = abs_str(dir, x, home),
                            Value::Map(em) => {
                                if let Some(Value::Str(x)) =
                                    em.get_mut("path").map(|p| &mut p.value)
                                {
                                    *x = abs_str(dir, x, home);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(Value::Seq(vols)) = m.get_mut("volumes").map(|v| &mut v.value) {
        for v in vols {
            if let Value::Str(spec) = &v.value
                && long_volumes
                && let Ok(long) = parse_short_volume(spec)
            {
                *v = json_to_node(&J::Object(long), &v.pos);
            }
            if let Some(vm) = v.as_map_mut() {
                let is_bind = vm.get("type").and_then(Node::as_str) == Some("bind");
                if is_bind
                    && let Some(Value::Str(x)) = vm.get_mut("source").map(|s| &mut s.value)
                    && !x.is_empty()
                    && !x.starts_with("\\\\")
                {
                    *x = abs_str(dir, x, home);
                }
            }
        }
    }
    if let Some(Value::Map(dev)) = m.get_mut("develop").map(|d| &mut d.value)
        && let Some(Value::Seq(watch)) = dev.get_mut("watch").map(|w| &mut w.value)
    {
        for w in watch {
            if let Some(Value::Str(x)) = w
                .as_map_mut()
                .and_then(|wm| wm.get_mut("path"))
                .map(|p| &mut p.value)
            {
                *x = abs_str(dir, x, home);
            }
        }
    }
}

fn abs_values(n: &mut Node, dir: &Path, home: Option<&str>) {
    match &mut n.value {
        Value::Map(m) => {
            for v in m.values_mut() {
                if let Value::Str(x) = &mut v.value
                    && !is_url_context(x)
                {
                    *x = abs_str(dir, x, home);
                }
            }
        }
        Value::Seq(items) => {
            for it in items {
                if let Value::Str(x) = &mut it.value
                    && let Some((k, p)) = x.split_once('=')
                    && !is_url_context(p)
                {
                    *x = Str::from(format!("{k}={}", abs_str(dir, p, home)));
                }
            }
        }
        _ => {}
    }
}

/// Makes every relative path of a whole tree absolute against `dir`.
pub fn resolve_tree_paths(tree: &mut Map, dir: &Path, home: Option<&str>) {
    tree_paths(tree, dir, home, true);
}

fn tree_paths(tree: &mut Map, dir: &Path, home: Option<&str>, long_volumes: bool) {
    if let Some(Value::Map(services)) = tree.get_mut("services").map(|s| &mut s.value) {
        for svc in services.values_mut() {
            service_paths(svc, dir, home, long_volumes);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Map(items)) = tree.get_mut(section).map(|s| &mut s.value) {
            for it in items.values_mut() {
                if let Some(Value::Str(x)) = it
                    .as_map_mut()
                    .and_then(|m| m.get_mut("file"))
                    .map(|f| &mut f.value)
                {
                    *x = abs_str(dir, x, home);
                }
            }
        }
    }
}

/// The result of normalisation: compose's JSON and the warnings compose would print.
pub struct Normalized {
    pub json: J,
    pub warnings: Vec<String>,
}

/// Field order of compose's service struct, used to print services the way compose does.
const SERVICE_ORDER: &[&str] = &[
    "profiles",
    "annotations",
    "attach",
    "build",
    "blkio_config",
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
    "command",
    "configs",
    "container_name",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "dockerfile",
    "domainname",
    "entrypoint",
    "provider",
    "environment",
    "expose",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "hostname",
    "healthcheck",
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "privileged",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
    "post_start",
    "pre_stop",
];

/// Position of a key in [`SERVICE_ORDER`] (looked up once per key, through a table built once).
fn service_rank(k: &str) -> usize {
    static RANKS: std::sync::OnceLock<
        std::collections::HashMap<&'static str, usize, foldhash::fast::FixedState>,
    > = std::sync::OnceLock::new();
    let ranks = RANKS.get_or_init(|| {
        SERVICE_ORDER
            .iter()
            .enumerate()
            .map(|(i, k)| (*k, i))
            .collect()
    });
    ranks.get(k).copied().unwrap_or(SERVICE_ORDER.len())
}

/// Service keys compose leaves out when empty.
const OMIT_EMPTY: &[&str] = &[
    "environment",
    "labels",
    "annotations",
    "sysctls",
    "storage_opt",
    "ports",
    "expose",
    "volumes",
    "links",
    "external_links",
    "volumes_from",
    "cap_add",
    "cap_drop",
    "security_opt",
    "dns",
    "dns_search",
    "dns_opt",
    "tmpfs",
    "group_add",
    "profiles",
    "device_cgroup_rules",
    "extra_hosts",
    "secrets",
    "configs",
    "devices",
    "depends_on",
    "ulimits",
    "gpus",
];

/// Normalises a loaded tree into compose's JSON output, then checks it.
pub fn normalize(loaded: &mut Loaded) -> Result<Normalized, ComposeError> {
    let mut tree = std::mem::take(&mut loaded.tree);
    let home = loaded.env.get("HOME").cloned();
    // Short volume specs stay short: `Cx::volumes` turns them into the long syntax with the same
    // directory, without building an intermediate tree for each.
    tree_paths(&mut tree, &loaded.project_dir, home.as_deref(), false);
    crate::loader::apply_profiles(&mut tree, &loaded.profiles, &loaded.enable_services);
    let mut warnings = loaded.warnings.clone();
    if tree.contains_key("version") {
        warnings.push(
            "the attribute `version` is obsolete, it will be ignored, please remove it to avoid \
             potential confusion"
                .into(),
        );
    }
    let cx = Cx {
        env: &loaded.env,
        dir: &loaded.project_dir,
        home: home.as_deref(),
        env_file_services: loaded.env_file_services.as_deref(),
    };
    let mut out = JMap::new();
    out.insert("name", J::from(loaded.name.clone()));

    let mut services = BTreeMap::new();
    if let Some(svcs) = tree.get("services") {
        match &svcs.value {
            Value::Map(m) => {
                for (name, svc) in m {
                    services.insert(name.clone(), cx.service(name, svc)?);
                }
            }
            Value::Null => {}
            _ => {
                return Err(ComposeError::invalid_at(
                    svcs.pos.location(),
                    "services must be a mapping",
                ));
            }
        }
    }

    // Which top-level resources the services use.
    let mut used_networks: Vec<String> = Vec::new();
    let mut used_volumes: Vec<String> = Vec::new();
    let mut used_secrets: Vec<String> = Vec::new();
    let mut used_configs: Vec<String> = Vec::new();
    for svc in services.values() {
        if let Some(J::Object(n)) = svc.get("networks") {
            used_networks.extend(n.keys().map(|k| k.to_string()));
        }
        if let Some(J::Array(vs)) = svc.get("volumes") {
            for v in vs {
                if v.get("type").and_then(J::as_str) == Some("volume")
                    && let Some(src) = v.get("source").and_then(J::as_str)
                {
                    used_volumes.push(src.to_string());
                }
            }
        }
        for (key, list) in [
            ("secrets", &mut used_secrets),
            ("configs", &mut used_configs),
        ] {
            if let Some(J::Array(xs)) = svc.get(key) {
                for x in xs {
                    if let Some(src) = x.get("source").and_then(J::as_str) {
                        list.push(src.to_string());
                    }
                }
            }
        }
        if let Some(J::Array(xs)) = svc.get("build").and_then(|b| b.get("secrets")) {
            for x in xs {
                if let Some(src) = x.get("source").and_then(J::as_str) {
                    used_secrets.push(src.to_string());
                }
            }
        }
    }

    let networks = cx.resources(&tree, "networks", &loaded.name, &used_networks)?;
    let volumes = cx.resources(&tree, "volumes", &loaded.name, &used_volumes)?;
    let secrets = cx.resources(&tree, "secrets", &loaded.name, &used_secrets)?;
    let configs = cx.resources(&tree, "configs", &loaded.name, &used_configs)?;

    check(&services, &networks, &volumes, &secrets, &configs, &tree)?;

    let mut net_out = networks;
    if used_networks.iter().any(|n| n == "default") && !net_out.contains_key("default") {
        net_out.insert(
            "default",
            obj([
                ("name", J::from(format!("{}_default", loaded.name))),
                ("ipam", J::object()),
            ]),
        );
    }
    let mut vol_out = volumes;
    let mut sec_out = secrets;
    let mut cfg_out = configs;
    if !loaded.all_resources {
        net_out.retain(|k, _| used_networks.iter().any(|u| u == k));
        vol_out.retain(|k, _| used_volumes.iter().any(|u| u == k));
        sec_out.retain(|k, _| used_secrets.iter().any(|u| u == k));
        cfg_out.retain(|k, _| used_configs.iter().any(|u| u == k));
    }

    for (key, m) in [("networks", net_out)] {
        if !m.is_empty() {
            out.insert(key, J::Object(sorted(m)));
        }
    }
    let mut svc_json = JMap::with_capacity(services.len());
    for (k, v) in services {
        svc_json.push(k, J::Object(v));
    }
    out.insert("services", J::Object(svc_json));
    for (key, m) in [
        ("volumes", vol_out),
        ("secrets", sec_out),
        ("configs", cfg_out),
    ] {
        if !m.is_empty() {
            out.insert(key, J::Object(sorted(m)));
        }
    }
    let mut used_models: Vec<String> = Vec::new();
    for svc in out
        .get("services")
        .and_then(J::as_object)
        .into_iter()
        .flat_map(|m| m.values())
    {
        if let Some(J::Object(ms)) = svc.get("models") {
            used_models.extend(ms.keys().map(|k| k.to_string()));
        }
    }
    let models = tree.get("models").and_then(Node::as_map);
    for m in &used_models {
        if !models.is_some_and(|d| d.contains_key(m)) {
            let svc = out
                .get("services")
                .and_then(J::as_object)
                .and_then(|ss| {
                    ss.iter()
                        .find(|(_, v)| v.get("models").and_then(|x| x.get(m)).is_some())
                        .map(|(k, _)| k.clone())
                })
                .unwrap_or_default();
            return Err(ComposeError::invalid(format!(
                "service {svc:?} refers to undefined model {m}: invalid compose project"
            )));
        }
    }
    // Compose v2.40 does not print top-level models.
    for (k, v) in &tree {
        if k.starts_with("x-") {
            out.insert(k.clone(), plain(v));
        }
    }
    Ok(Normalized {
        json: J::Object(out),
        warnings,
    })
}

fn sorted(mut m: JMap) -> JMap {
    m.sort_keys();
    m
}

struct Cx<'a> {
    env: &'a BTreeMap<String, String>,
    dir: &'a Path,
    home: Option<&'a str>,
    env_file_services: Option<&'a [String]>,
}

impl Cx<'_> {
    /// Whether a missing required `env_file` of `service` is an error for this command.
    fn env_file_required(&self, service: &str) -> bool {
        self.env_file_services
            .is_none_or(|names| names.iter().any(|n| n == service))
    }

    fn env_or_null(&self, k: &str) -> J {
        match self.env.get(k) {
            Some(v) => s(v),
            None => J::Null,
        }
    }

    fn service(&self, name: &str, svc: &Node) -> Result<JMap, ComposeError> {
        let empty = Map::default();
        let m = match &svc.value {
            Value::Map(m) => m,
            Value::Null => &empty,
            _ => {
                return Err(ComposeError::invalid_at(
                    svc.pos.location(),
                    format!("services.{name} must be a mapping"),
                ));
            }
        };
        // Room for the keys filled in below (command, entrypoint, networks...). The keys are
        // the service's own (no duplicates), so a vector serves until the output map is made.
        let mut o = JMap::with_capacity(m.len() + 4);
        // `services.<name>.<key>` for error messages, rewritten for each key.
        let mut what = String::with_capacity(name.len() + 32);
        // Values read from env_file go below `environment`.
        let mut env_from_files = JMap::new();
        if let Some(ef) = m.get("env_file") {
            env_from_files = self.env_files(ef, name)?;
        }
        let mut labels_from_files = JMap::new();
        if let Some(lf) = m.get("label_file") {
            for it in listify(lf) {
                let Some(p) = it.scalar_string() else {
                    continue;
                };
                let path = absolute(self.dir, Path::new(&p));
                let text = crate::read::read_text(&path).map_err(|e| {
                    ComposeError::read(
                        &path,
                        format!("services.{name}.label_file"),
                        it.pos.location(),
                        e,
                    )
                })?;
                let env = self.env;
                let lookup = |k: &str| env.get(k).cloned();
                let parsed = crate::dotenv::parse(&text, &lookup).map_err(|e| {
                    ComposeError::invalid(format!("failed to read {}: {e}", path.display()))
                })?;
                let mut bulk = crate::vecmap::Bulk::default();
                for (k, v) in parsed {
                    labels_from_files.bulk_insert(&mut bulk, k.into(), s(&v.unwrap_or_default()));
                }
            }
        }
        for (k, v) in m {
            let key = k.as_ref();
            what.clear();
            what.push_str("services.");
            what.push_str(name);
            what.push('.');
            what.push_str(key);
            let what = what.as_str();
            // The plain strings (the most common keys) are matched first.
            let value: Option<J> = match key {
                "container_name" | "image" | "hostname" | "domainname" | "user" | "working_dir"
                | "restart" | "platform" | "pull_policy" | "stop_signal" | "network_mode"
                | "ipc" | "pid" | "uts" | "userns_mode" | "cgroup" | "cgroup_parent"
                | "mac_address" | "isolation" | "runtime" | "cpuset" => Some(string_of(v)),
                "extends" | "env_file" | "label_file" => None,
                "command" | "entrypoint" => Some(self.command(v, what)?),
                "environment" => {
                    let own = kv_map(v, &|k| self.env_or_null(k));
                    if env_from_files.is_empty() {
                        Some(J::Object(own))
                    } else {
                        let mut env = env_from_files.clone();
                        env.extend(own);
                        Some(J::Object(env))
                    }
                }
                "labels" | "annotations" => {
                    let own = kv_map(v, &|_| J::from(""));
                    if key == "annotations" || labels_from_files.is_empty() {
                        Some(J::Object(own))
                    } else {
                        let mut l = labels_from_files.clone();
                        l.extend(own);
                        Some(J::Object(l))
                    }
                }
                "sysctls" | "storage_opt" => Some(J::Object(kv_map(v, &|_| J::from("")))),
                "ports" => Some(self.ports(v, what)?),
                "expose" => Some(J::Array(listify(v).into_iter().map(string_of).collect())),
                "volumes" => Some(self.volumes(v, what)?),
                "networks" => Some(self.service_networks(v)?),
                "depends_on" => Some(depends_on(v)),
                "links"
                | "external_links"
                | "volumes_from"
                | "cap_add"
                | "cap_drop"
                | "security_opt"
                | "dns"
                | "dns_search"
                | "dns_opt"
                | "tmpfs"
                | "group_add"
                | "profiles"
                | "device_cgroup_rules" => {
                    let l = str_list(v);
                    if l.as_array().is_some_and(Vec::is_empty) && key != "profiles" {
                        None
                    } else {
                        Some(l)
                    }
                }
                "healthcheck" => Some(self.healthcheck(v, what)?),
                "logging" => Some(logging(v)),
                "deploy" => Some(self.deploy(v, what)?),
                "build" => Some(self.build(v, what)?),
                "secrets" | "configs" => Some(mounts(v, key == "secrets")),
                k if k.starts_with("x-") => None,
                "ulimits" => Some(ulimits(v, what)?),
                "mem_limit" | "mem_reservation" | "memswap_limit" | "shm_size"
                | "mem_swappiness" => Some(bytes_of(v, what)?),
                "cpus" => Some(float_of(v, what)?),
                "cpu_count" | "cpu_percent" | "cpu_period" | "cpu_quota" | "cpu_rt_period"
                | "cpu_rt_runtime" | "cpu_shares" | "oom_score_adj" | "pids_limit" | "scale" => {
                    Some(int_of(v, what)?)
                }
                "privileged" | "read_only" | "stdin_open" | "tty" | "init" | "oom_kill_disable"
                | "attach" | "use_api_socket" => Some(bool_of(v, what)?),
                "stop_grace_period" => Some(duration_of(v, what)?),
                "extra_hosts" => Some(extra_hosts(v)),
                "blkio_config" => Some(blkio(v, what)?),
                "devices" => Some(devices(v)),
                "gpus" => Some(gpus(v)?),
                "post_start" | "pre_stop" => Some(self.hooks(v, what)?),
                "develop" => Some(develop(v)),
                "models" => Some(match &v.value {
                    Value::Seq(items) => J::Object(
                        items
                            .iter()
                            .filter_map(Node::scalar_string)
                            .map(|k| (k, J::Null))
                            .collect(),
                    ),
                    _ => plain(v),
                }),
                "provider" => Some(provider(v)),
                _ => Some(plain(v)),
            };
            if let Some(value) = value {
                o.push(k.clone(), value);
            }
        }
        if !m.contains_key("environment") && !env_from_files.is_empty() {
            o.insert("environment", J::Object(env_from_files));
        }
        if !m.contains_key("labels") && !labels_from_files.is_empty() {
            o.insert("labels", J::Object(labels_from_files));
        }
        for key in ["command", "entrypoint"] {
            if !o.contains_key(key) {
                o.insert(key, J::Null);
            }
        }
        if !o.contains_key("network_mode")
            && !o.contains_key("networks")
            && !o.contains_key("provider")
        {
            o.insert("networks", obj([("default", J::Null)]));
        }
        // links and `network_mode: service:x` imply a dependency that restarts with it;
        // volumes_from one that does not.
        let mut implicit: Vec<(String, bool)> = Vec::new();
        if let Some(J::Array(links)) = o.get("links") {
            for l in links.iter().filter_map(J::as_str) {
                let svc = l.split(':').next().unwrap_or(l).to_string();
                implicit.push((svc, true));
            }
        }
        for key in ["network_mode", "ipc", "pid"] {
            if let Some(nm) = o.get(key).and_then(J::as_str)
                && let Some(svc) = nm.strip_prefix("service:")
            {
                implicit.push((svc.to_string(), true));
            }
        }
        if let Some(J::Array(vf)) = o.get("volumes_from") {
            for v in vf.iter().filter_map(J::as_str) {
                if v.starts_with("container:") {
                    continue;
                }
                let svc = v.strip_prefix("service:").unwrap_or(v);
                let svc = svc.split(':').next().unwrap_or(svc).to_string();
                implicit.push((svc, false));
            }
        }
        if !implicit.is_empty() {
            if !o.contains_key("depends_on") {
                o.insert("depends_on", J::Object(JMap::new()));
            }
            if let Some(J::Object(d)) = o.get_mut("depends_on") {
                for (svc, restart) in implicit {
                    if d.contains_key(&svc) {
                        continue;
                    }
                    let mut e = JMap::new();
                    e.insert("condition", J::from("service_started"));
                    if restart {
                        e.insert("restart", J::Bool(true));
                    }
                    e.insert("required", J::Bool(true));
                    d.insert(svc, J::Object(e));
                }
            }
        }
        // Compose omits empty lists and maps.
        o.retain(|k, v| {
            let empty = match v {
                J::Array(a) => a.is_empty(),
                J::Object(m) => m.is_empty(),
                J::String(t) => t.is_empty() && matches!(&**k, "dns" | "dns_search" | "dns_opt"),
                _ => false,
            };
            !(empty && OMIT_EMPTY.contains(&&**k))
        });
        if let Some(J::Array(d)) = o.get_mut("dns") {
            d.retain(|x| x.as_str() != Some(""));
        }
        if o.get("dns")
            .and_then(J::as_array)
            .is_some_and(Vec::is_empty)
        {
            o.remove("dns");
        }
        // Print in compose's field order, extensions last.
        o.sort_by_key(service_rank);
        Ok(o)
    }

    fn env_files(&self, ef: &Node, service: &str) -> Result<JMap, ComposeError> {
        let mut out = JMap::new();
        let mut bulk = crate::vecmap::Bulk::default();
        for it in listify(ef) {
            let (path, required, raw) = match &it.value {
                Value::Str(p) => (p.to_string(), true, false),
                Value::Map(m) => (
                    m.get("path")
                        .and_then(Node::scalar_string)
                        .unwrap_or_default(),
                    !matches!(
                        m.get("required").map(|r| &r.value),
                        Some(Value::Bool(false))
                    ) && m.get("required").and_then(Node::as_str) != Some("false"),
                    m.get("format").and_then(Node::as_str) == Some("raw"),
                ),
                _ => continue,
            };
            let path = absolute(self.dir, Path::new(&*expand_home(&path, self.home)));
            let text = match crate::read::read_text(&path) {
                Ok(t) => t,
                Err(e) if !e.is_not_found() => {
                    return Err(ComposeError::read(
                        &path,
                        format!("services.{service}.env_file"),
                        it.pos.location(),
                        e,
                    ));
                }
                Err(_) if !required || !self.env_file_required(service) => continue,
                Err(_) => {
                    return Err(ComposeError::invalid_at(
                        it.pos.location(),
                        format!(
                            "env file {} not found: stat {}: no such file or directory",
                            path.display(),
                            path.display()
                        ),
                    ));
                }
            };
            if raw {
                for line in text.lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        out.bulk_insert(&mut bulk, Str::new(k), s(v));
                    }
                }
                continue;
            }
            let env = self.env;
            let lookup = |k: &str| env.get(k).cloned();
            let parsed = crate::dotenv::parse(&text, &lookup).map_err(|e| {
                ComposeError::invalid(format!(
                    "services.{service}.env_file: failed to read {}: {e}",
                    path.display()
                ))
            })?;
            for (k, v) in parsed {
                out.bulk_insert(&mut bulk, k.into(), v.map(|x| s(&x)).unwrap_or(J::Null));
            }
        }
        Ok(out)
    }

    fn command(&self, v: &Node, what: &str) -> Result<J, ComposeError> {
        Ok(match &v.value {
            Value::Null => J::Null,
            Value::Str(x) => J::Array(
                shell_split(x)
                    .map_err(|e| {
                        ComposeError::invalid_at(v.pos.location(), format!("{what}: {e}"))
                    })?
                    .iter()
                    .map(|w| s(w))
                    .collect(),
            ),
            Value::Seq(items) => J::Array(items.iter().map(string_of).collect()),
            _ => string_of(v),
        })
    }

    fn hooks(&self, v: &Node, what: &str) -> Result<J, ComposeError> {
        let mut out = Vec::new();
        for h in listify(v) {
            let Some(m) = h.as_map() else {
                out.push(plain(h));
                continue;
            };
            let mut o = JMap::new();
            for (k, x) in m {
                let val = match k.as_ref() {
                    "command" => self.command(x, what)?,
                    "environment" => J::Object(kv_map(x, &|k| self.env_or_null(k))),
                    "privileged" => bool_of(x, what)?,
                    _ => string_of(x),
                };
                o.insert(k.clone(), val);
            }
            out.push(J::Object(o));
        }
        Ok(J::Array(out))
    }

    fn ports(&self, v: &Node, what: &str) -> Result<J, ComposeError> {
        let mut out = Vec::new();
        for p in listify(v) {
            match &p.value {
                Value::Map(m) => {
                    let mut o = JMap::new();
                    if let Some(n) = m.get("name") {
                        o.insert("name", string_of(n));
                    }
                    o.insert(
                        "mode",
                        m.get("mode").map(string_of).unwrap_or(J::from("ingress")),
                    );
                    if let Some(h) = m.get("host_ip") {
                        let ip = h.scalar_string().unwrap_or_default();
                        if ip.parse::<std::net::IpAddr>().is_err() {
                            return Err(ComposeError::invalid_at(
                                h.pos.location(),
                                format!("{what}.[]: invalid ip address: {ip}"),
                            ));
                        }
                        o.insert("host_ip", string_of(h));
                    }
                    if let Some(t) = m.get("target") {
                        o.insert("target", int_of(t, what)?);
                    }
                    if let Some(pb) = m.get("published") {
                        o.insert("published", string_of(pb));
                    }
                    o.insert(
                        "protocol",
                        m.get("protocol").map(string_of).unwrap_or(J::from("tcp")),
                    );
                    if let Some(a) = m.get("app_protocol") {
                        o.insert("app_protocol", string_of(a));
                    }
                    out.push(J::Object(o));
                }
                Value::Int(_) | Value::Str(_) | Value::Float(_) => {
                    let spec = p.scalar_string().unwrap_or_default();
                    out.extend(parse_port(&spec).map_err(|e| {
                        ComposeError::invalid_at(p.pos.location(), format!("{what}: {e}"))
                    })?);
                }
                _ => out.push(plain(p)),
            }
        }
        Ok(J::Array(out))
    }

    fn volumes(&self, v: &Node, what: &str) -> Result<J, ComposeError> {
        let mut out = Vec::new();
        for vol in listify(v) {
            match &vol.value {
                Value::Str(spec) => {
                    let mut long = parse_short_volume(spec).map_err(|e| {
                        ComposeError::invalid_at(vol.pos.location(), format!("{what}: {e}"))
                    })?;
                    if long.get("type").and_then(J::as_str) == Some("bind")
                        && let Some(J::String(src)) = long.get_mut("source")
                    {
                        *src = abs_str(self.dir, src, self.home);
                    }
                    out.push(J::Object(long));
                }
                Value::Map(m) => {
                    let mut o = JMap::new();
                    for (k, x) in m {
                        let val = match k.as_ref() {
                            "read_only" => bool_of(x, what)?,
                            "bind" => {
                                let mut b = JMap::new();
                                if let Some(bm) = x.as_map() {
                                    for (bk, bv) in bm {
                                        let j = match bk.as_ref() {
                                            "create_host_path" | "recursive_flag" => {
                                                bool_of(bv, what)?
                                            }
                                            _ => string_of(bv),
                                        };
                                        b.insert(bk.clone(), j);
                                    }
                                }
                                J::Object(b)
                            }
                            "volume" => {
                                let mut b = JMap::new();
                                if let Some(bm) = x.as_map() {
                                    for (bk, bv) in bm {
                                        let j = match bk.as_ref() {
                                            "nocopy" => bool_of(bv, what)?,
                                            "labels" => J::Object(kv_map(bv, &|_| J::from(""))),
                                            _ => string_of(bv),
                                        };
                                        b.insert(bk.clone(), j);
                                    }
                                }
                                J::Object(b)
                            }
                            "tmpfs" => {
                                let mut b = JMap::new();
                                if let Some(bm) = x.as_map() {
                                    for (bk, bv) in bm {
                                        let j = match bk.as_ref() {
                                            "size" => match &bv.value {
                                                Value::Int(0) => continue,
                                                Value::Int(i) => J::from(*i),
                                                _ => match bytes_of(bv, what)? {
                                                    J::String(t) => t
                                                        .parse::<i64>()
                                                        .map(J::from)
                                                        .unwrap_or(J::String(t)),
                                                    o => o,
                                                },
                                            },
                                            "mode" => int_of(bv, what)?,
                                            _ => string_of(bv),
                                        };
                                        b.insert(bk.clone(), j);
                                    }
                                }
                                J::Object(b)
                            }
                            _ => string_of(x),
                        };
                        o.insert(k.clone(), val);
                    }
                    o.retain(|k, _| !k.starts_with("x-"));
                    if o.get("type").and_then(J::as_str) == Some("bind")
                        && o.get("source").and_then(J::as_str).unwrap_or("").is_empty()
                    {
                        return Err(ComposeError::invalid_at(
                            vol.pos.location(),
                            format!(
                                "{what}: invalid mount config for type \"bind\": field Source must not be empty"
                            ),
                        ));
                    }
                    if o.get("type").and_then(J::as_str) == Some("bind")
                        && let Some(J::String(src)) = o.get_mut("source")
                        && !src.is_empty()
                    {
                        *src = abs_str(self.dir, src, self.home);
                    }
                    out.push(J::Object(o));
                }
                _ => out.push(plain(vol)),
            }
        }
        Ok(J::Array(out))
    }

    fn service_networks(&self, v: &Node) -> Result<J, ComposeError> {
        let mut out = JMap::new();
        match &v.value {
            Value::Seq(items) => {
                for it in items {
                    if let Some(n) = it.scalar_string() {
                        out.insert(n, J::Null);
                    }
                }
            }
            Value::Map(m) => {
                for (k, x) in m {
                    let val = match &x.value {
                        Value::Null => J::Null,
                        Value::Map(nm) => {
                            let mut o = JMap::new();
                            for (nk, nv) in nm {
                                let j = match nk.as_ref() {
                                    "aliases" | "link_local_ips" => str_list(nv),
                                    "priority" | "gw_priority" => int_of(nv, nk)?,
                                    "driver_opts" => J::Object(kv_map(nv, &|_| J::from(""))),
                                    _ => string_of(nv),
                                };
                                o.insert(nk.clone(), j);
                            }
                            J::Object(o)
                        }
                        _ => plain(x),
                    };
                    out.insert(k.clone(), val);
                }
            }
            _ => {}
        }
        Ok(J::Object(out))
    }

    fn healthcheck(&self, v: &Node, what: &str) -> Result<J, ComposeError> {
        let Some(m) = v.as_map() else {
            return Ok(plain(v));
        };
        let mut o = JMap::new();
        for (k, x) in m {
            if k.starts_with("x-") {
                continue;
            }
            let val = match k.as_ref() {
                "test" => match &x.value {
                    Value::Str(t) => J::Array(vec![J::from("CMD-SHELL"), s(t)]),
                    _ => str_list(x),
                },
                "interval" | "timeout" | "start_period" | "start_interval" => duration_of(x, what)?,
                "retries" => int_of(x, what)?,
                "disable" => bool_of(x, what)?,
                _ => plain(x),
            };
            o.insert(k.clone(), val);
        }
        Ok(J::Object(o))
    }

    fn deploy(&self, v: &Node, what: &str) -> Result<J, ComposeError> {
        let Some(m) = v.as_map() else {
            return Ok(plain(v));
        };
        let mut o = JMap::new();
        for (k, x) in m {
            let val = match k.as_ref() {
                "replicas" => int_of(x, what)?,
                "labels" => J::Object(kv_map(x, &|_| J::from(""))),
                "update_config" | "rollback_config" => {
                    let mut u = JMap::new();
                    if let Some(um) = x.as_map() {
                        for (uk, uv) in um {
                            let j = match uk.as_ref() {
                                "parallelism" => int_of(uv, what)?,
                                "delay" | "monitor" => duration_of(uv, what)?,
                                "max_failure_ratio" => plain_float(uv, what)?,
                                _ => string_of(uv),
                            };
                            u.insert(uk.clone(), j);
                        }
                    }
                    J::Object(u)
                }
                "resources" => {
                    let mut r = JMap::new();
                    if let Some(rm) = x.as_map() {
                        for (rk, rv) in rm {
                            let mut l = JMap::new();
                            if let Some(lm) = rv.as_map() {
                                for (lk, lv) in lm {
                                    let j = match lk.as_ref() {
                                        "cpus" => float_of(lv, what)?,
                                        "memory" => bytes_of(lv, what)?,
                                        "pids" => int_of(lv, what)?,
                                        "devices" => devices_reservation(lv, what)?,
                                        _ => plain(lv),
                                    };
                                    l.insert(lk.clone(), j);
                                }
                            }
                            r.insert(rk.clone(), J::Object(l));
                        }
                    }
                    J::Object(r)
                }
                "restart_policy" => {
                    let mut u = JMap::new();
                    if let Some(um) = x.as_map() {
                        for (uk, uv) in um {
                            let j = match uk.as_ref() {
                                "max_attempts" => int_of(uv, what)?,
                                "delay" | "window" => duration_of(uv, what)?,
                                _ => string_of(uv),
                            };
                            u.insert(uk.clone(), j);
                        }
                    }
                    J::Object(u)
                }
                "placement" => {
                    let mut u = JMap::new();
                    if let Some(um) = x.as_map() {
                        for (uk, uv) in um {
                            let j = match uk.as_ref() {
                                "max_replicas_per_node" => int_of(uv, what)?,
                                "constraints" => str_list(uv),
                                _ => plain(uv),
                            };
                            u.insert(uk.clone(), j);
                        }
                    }
                    J::Object(u)
                }
                _ => plain(x),
            };
            o.insert(k.clone(), val);
        }
        o.entry("resources").or_insert_with(J::object);
        o.entry("placement").or_insert_with(J::object);
        const ORDER: &[&str] = &[
            "mode",
            "replicas",
            "labels",
            "update_config",
            "rollback_config",
            "resources",
            "restart_policy",
            "placement",
            "endpoint_mode",
        ];
        o.sort_by_key(|k| ORDER.iter().position(|x| *x == k).unwrap_or(ORDER.len()));
        Ok(J::Object(o))
    }

    fn build(&self, v: &Node, what: &str) -> Result<J, ComposeError> {
        let m = match &v.value {
            Value::Str(c) => {
                let mut m = Map::default();
                m.insert("context", Node::str(c.clone(), v.pos));
                m
            }
            Value::Map(m) => m.clone(),
            _ => return Ok(plain(v)),
        };
        let mut o = JMap::new();
        for (k, x) in &m {
            let val = match k.as_ref() {
                "context" => match x.scalar_string() {
                    Some(c) if is_url_context(&c) => s(&c),
                    Some(c) => s(&abs_str(self.dir, &c, self.home)),
                    None => plain(x),
                },
                "args" => {
                    let mut args = JMap::new();
                    for (ak, av) in kv_map(x, &|k| self.env_or_null(k)) {
                        if !av.is_null() {
                            args.insert(ak, av);
                        }
                    }
                    J::Object(args)
                }
                "labels" => J::Object(kv_map(x, &|_| J::from(""))),
                "additional_contexts" => J::Object(kv_map(x, &|_| J::from(""))),
                "shm_size" => bytes_of(x, what)?,
                "extra_hosts" => extra_hosts(x),
                "secrets" => mounts(x, false),
                "ulimits" => ulimits(x, what)?,
                "no_cache" | "pull" | "privileged" => bool_of(x, what)?,
                "ssh" => match &x.value {
                    Value::Map(sm) => J::Array(
                        sm.iter()
                            .map(|(k, v)| match v.scalar_string() {
                                Some(p) => s(&format!("{k}={p}")),
                                None => s(k),
                            })
                            .collect(),
                    ),
                    _ => str_list(x),
                },
                "cache_from" | "cache_to" | "tags" | "platforms" | "entitlements" => str_list(x),
                _ => string_of(x),
            };
            o.insert(k.clone(), val);
        }
        if !o.contains_key("context") {
            o.insert("context", s(&self.dir.display().to_string()));
        }
        if o.get("dockerfile").and_then(J::as_str) == Some("") {
            // An empty (e.g. interpolated) dockerfile is left to the builder's default.
            o.remove("dockerfile");
            o.insert("dockerfile_inline", J::Null);
        }
        if !o.contains_key("dockerfile") && !o.contains_key("dockerfile_inline") {
            o.insert("dockerfile", J::from("Dockerfile"));
        }
        o.retain(|k, v| !(k.starts_with("x-") || k == "dockerfile_inline" && v.is_null()));
        const ORDER: &[&str] = &["context", "dockerfile", "dockerfile_inline"];
        o.sort_by_key(|k| ORDER.iter().position(|x| *x == k).unwrap_or(ORDER.len()));
        Ok(J::Object(o))
    }

    /// Top-level networks/volumes/secrets/configs with their names filled in.
    fn resources(
        &self,
        tree: &Map,
        section: &str,
        project: &str,
        _used: &[String],
    ) -> Result<JMap, ComposeError> {
        let mut out = JMap::new();
        let Some(node) = tree.get(section) else {
            return Ok(out);
        };
        let Some(m) = node.as_map() else {
            return Ok(out);
        };
        for (k, v) in m {
            // An `x-` key in these sections is an extension, not a resource (services are the
            // exception: `x-foo` there is a service).
            if k.starts_with("x-") {
                continue;
            }
            let mut o = JMap::new();
            let empty = Map::default();
            let rm = v.as_map().unwrap_or(&empty);
            let mut external = false;
            let mut ext_name: Option<String> = None;
            if let Some(e) = rm.get("external") {
                match &e.value {
                    Value::Bool(b) => external = *b,
                    Value::Map(em) => {
                        external = true;
                        ext_name = em.get("name").and_then(Node::scalar_string);
                    }
                    Value::Str(x) => external = x == "true",
                    _ => {}
                }
            }
            if external {
                for conflict in ["driver", "driver_opts", "labels"] {
                    if section != "secrets" && section != "configs" && rm.contains_key(conflict) {
                        return Err(ComposeError::invalid_at(
                            v.pos.location(),
                            format!(
                                "{section}.{k}: conflicting parameters \"external\" and \"{conflict}\" specified"
                            ),
                        ));
                    }
                }
            }
            let explicit = rm.get("name").and_then(Node::scalar_string);
            if let (Some(_), Some(_)) = (&explicit, &ext_name) {
                return Err(ComposeError::invalid_at(
                    v.pos.location(),
                    format!("{section}.{k}: name and external.name conflict; only use name"),
                ));
            }
            let name = match (explicit, ext_name, external) {
                (Some(n), _, _) => n,
                (None, Some(n), _) => n,
                (None, None, true) => k.to_string(),
                (None, None, false) => format!("{project}_{k}"),
            };
            o.insert("name", s(&name));
            for (rk, rv) in rm {
                let val = match rk.as_ref() {
                    "name" => continue,
                    "external" => {
                        if external {
                            J::Bool(true)
                        } else {
                            continue;
                        }
                    }
                    "labels" => J::Object(kv_map(rv, &|_| J::from(""))),
                    "driver_opts" => J::Object(kv_map(rv, &|_| J::from(""))),
                    "file" => match rv.scalar_string() {
                        Some(f) => s(&abs_str(self.dir, &f, self.home)),
                        None => plain(rv),
                    },
                    "ipam" => ipam(rv),
                    "enable_ipv6" | "enable_ipv4" | "attachable" | "internal" => bool_of(rv, rk)?,
                    _ => plain(rv),
                };
                o.insert(rk.clone(), val);
            }
            if section == "networks" {
                o.entry("ipam").or_insert_with(J::object);
            }
            if (section == "secrets" || section == "configs")
                && !external
                && !rm.contains_key("file")
                && !rm.contains_key("environment")
                && !rm.contains_key("content")
            {
                return Err(ComposeError::invalid_at(
                    v.pos.location(),
                    format!(
                        "{} {k:?} must declare either `file` or `environment`: invalid compose project",
                        section.trim_end_matches('s')
                    ),
                ));
            }
            out.insert(k.clone(), J::Object(o));
        }
        Ok(out)
    }
}

fn listify(n: &Node) -> Vec<&Node> {
    match &n.value {
        Value::Seq(v) => v.iter().collect(),
        Value::Null => Vec::new(),
        _ => vec![n],
    }
}

fn depends_on(v: &Node) -> J {
    let mut out = JMap::new();
    match &v.value {
        Value::Seq(items) => {
            for it in items {
                if let Some(n) = it.scalar_string() {
                    out.insert(
                        n,
                        obj([
                            ("condition", J::from("service_started")),
                            ("required", J::Bool(true)),
                        ]),
                    );
                }
            }
        }
        Value::Map(m) => {
            for (k, x) in m {
                let mut e = JMap::new();
                let dm = x.as_map();
                e.insert(
                    "condition",
                    dm.and_then(|d| d.get("condition"))
                        .map(string_of)
                        .unwrap_or(J::from("service_started")),
                );
                if let Some(r) = dm.and_then(|d| d.get("restart")) {
                    e.insert("restart", bool_of(r, "restart").unwrap_or(J::Null));
                }
                e.insert(
                    "required",
                    dm.and_then(|d| d.get("required"))
                        .map(|r| bool_of(r, "required").unwrap_or(J::Bool(true)))
                        .unwrap_or(J::Bool(true)),
                );
                out.insert(k.clone(), J::Object(e));
            }
        }
        _ => {}
    }
    J::Object(out)
}

fn logging(v: &Node) -> J {
    let Some(m) = v.as_map() else {
        return plain(v);
    };
    let mut o = JMap::new();
    for (k, x) in m {
        let val = match k.as_ref() {
            "options" => J::Object(kv_map(x, &|_| J::Null)),
            _ => string_of(x),
        };
        o.insert(k.clone(), val);
    }
    J::Object(o)
}

fn mounts(v: &Node, secrets: bool) -> J {
    let mut out = Vec::new();
    for it in listify(v) {
        match &it.value {
            Value::Map(m) => {
                let mut o = JMap::new();
                for (k, x) in m {
                    let val = match k.as_ref() {
                        "mode" => match &x.value {
                            Value::Int(i) => J::from(format!("0{:o}", i)),
                            Value::Str(t) => {
                                match i64::from_str_radix(t.trim_start_matches("0o"), 8) {
                                    Ok(i) => J::from(format!("0{:o}", i)),
                                    Err(_) => s(t),
                                }
                            }
                            _ => plain(x),
                        },
                        _ => string_of(x),
                    };
                    o.insert(k.clone(), val);
                }
                if secrets
                    && !o.contains_key("target")
                    && let Some(src) = o.get("source").and_then(J::as_str)
                {
                    let t = format!("/run/secrets/{src}");
                    o.insert("target", J::from(t));
                }
                const ORDER: &[&str] = &["source", "target", "uid", "gid", "mode"];
                o.sort_by_key(|k| ORDER.iter().position(|x| *x == k).unwrap_or(ORDER.len()));
                out.push(J::Object(o));
            }
            _ => {
                let mut o = JMap::new();
                o.insert("source", string_of(it));
                if secrets && let Some(src) = it.scalar_string() {
                    o.insert("target", s(&format!("/run/secrets/{src}")));
                }
                out.push(J::Object(o));
            }
        }
    }
    J::Array(out)
}

fn ulimits(v: &Node, what: &str) -> Result<J, ComposeError> {
    let Some(m) = v.as_map() else {
        return Ok(plain(v));
    };
    let mut o = JMap::new();
    for (k, x) in m {
        let val = match &x.value {
            Value::Map(um) => {
                let mut u = JMap::new();
                for (uk, uv) in um {
                    u.insert(uk.clone(), int_of(uv, what)?);
                }
                J::Object(u)
            }
            _ => int_of(x, what)?,
        };
        o.insert(k.clone(), val);
    }
    Ok(J::Object(o))
}

fn extra_hosts(v: &Node) -> J {
    let mut out = Vec::new();
    match &v.value {
        Value::Map(m) => {
            let mut keys: Vec<&Key> = m.keys().collect();
            keys.sort();
            for k in keys {
                let x = &m[k];
                match &x.value {
                    Value::Seq(items) => {
                        for it in items {
                            out.push(format!("{k}={}", it.scalar_string().unwrap_or_default()));
                        }
                    }
                    _ => out.push(format!("{k}={}", x.scalar_string().unwrap_or_default())),
                }
            }
        }
        _ => {
            for it in listify(v) {
                let Some(t) = it.scalar_string() else {
                    continue;
                };
                let (h, ips) = match t.split_once('=') {
                    Some((h, ip)) => (h.to_string(), ip.to_string()),
                    None => match t.split_once(':') {
                        Some((h, ip)) => (h.to_string(), ip.to_string()),
                        None => {
                            out.push(t.clone());
                            continue;
                        }
                    },
                };
                // `host=ip1,ip2` declares the host once per address.
                for ip in ips.split(',') {
                    out.push(format!("{h}={ip}"));
                }
            }
        }
    }
    J::Array(out.iter().map(|x| s(x)).collect())
}

fn blkio(v: &Node, what: &str) -> Result<J, ComposeError> {
    let Some(m) = v.as_map() else {
        return Ok(plain(v));
    };
    let mut o = JMap::new();
    for (k, x) in m {
        let val = match k.as_ref() {
            "weight" => int_of(x, what)?,
            "weight_device" => {
                let mut l = Vec::new();
                for d in listify(x) {
                    let dm = d.as_map();
                    let mut e = JMap::new();
                    if let Some(p) = dm.and_then(|d| d.get("path")) {
                        e.insert("Path", string_of(p));
                    }
                    if let Some(w) = dm.and_then(|d| d.get("weight")) {
                        e.insert("Weight", int_of(w, what)?);
                    }
                    l.push(J::Object(e));
                }
                J::Array(l)
            }
            "device_read_bps" | "device_write_bps" | "device_read_iops" | "device_write_iops" => {
                let mut l = Vec::new();
                for d in listify(x) {
                    let dm = d.as_map();
                    let mut e = JMap::new();
                    if let Some(p) = dm.and_then(|d| d.get("path")) {
                        e.insert("Path", string_of(p));
                    }
                    if let Some(r) = dm.and_then(|d| d.get("rate")) {
                        e.insert("Rate", bytes_of(r, what)?);
                    }
                    l.push(J::Object(e));
                }
                J::Array(l)
            }
            _ => plain(x),
        };
        o.insert(k.clone(), val);
    }
    Ok(J::Object(o))
}

fn devices(v: &Node) -> J {
    let mut out = Vec::new();
    for d in listify(v) {
        match &d.value {
            Value::Str(t) => {
                let parts: Vec<&str> = t.split(':').collect();
                let (src, dst, perm) = match parts.len() {
                    1 => (parts[0], parts[0], "rwm"),
                    2 => (parts[0], parts[1], "rwm"),
                    _ => (parts[0], parts[1], parts[2]),
                };
                out.push(obj([
                    ("source", J::from(src)),
                    ("target", J::from(dst)),
                    ("permissions", J::from(perm)),
                ]));
            }
            _ => out.push(plain(d)),
        }
    }
    J::Array(out)
}

fn gpus(v: &Node) -> Result<J, ComposeError> {
    Ok(match &v.value {
        Value::Str(x) if x == "all" => J::Array(vec![obj([("count", J::from(-1i64))])]),
        _ => {
            let mut out = Vec::new();
            for g in listify(v) {
                out.push(device_request(g)?);
            }
            J::Array(out)
        }
    })
}

fn device_request(g: &Node) -> Result<J, ComposeError> {
    let Some(m) = g.as_map() else {
        return Ok(plain(g));
    };
    let mut o = JMap::new();
    for (k, x) in m {
        let val = match k.as_ref() {
            "count" => match &x.value {
                Value::Str(t) if t == "all" => J::from(-1),
                Value::Str(t) => match t.parse::<i64>() {
                    Ok(i) => J::from(i),
                    Err(_) => {
                        return Err(ComposeError::invalid_at(
                            x.pos.location(),
                            format!(
                                "count: invalid value {t:?}, the only value allowed is 'all' or a number"
                            ),
                        ));
                    }
                },
                _ => plain(x),
            },
            "capabilities" | "device_ids" => str_list(x),
            "options" => J::Object(kv_map(x, &|_| J::from(""))),
            _ => string_of(x),
        };
        o.insert(k.clone(), val);
    }
    if !o.contains_key("count") && !o.contains_key("device_ids") {
        o.insert("count", J::from(-1));
    }
    const ORDER: &[&str] = &["capabilities", "driver", "count", "device_ids", "options"];
    o.sort_by_key(|k| ORDER.iter().position(|x| *x == k).unwrap_or(ORDER.len()));
    Ok(J::Object(o))
}

fn devices_reservation(v: &Node, what: &str) -> Result<J, ComposeError> {
    let mut out = Vec::new();
    for d in listify(v) {
        if let Some(m) = d.as_map()
            && m.contains_key("count")
            && m.contains_key("device_ids")
        {
            return Err(ComposeError::invalid_at(
                d.pos.location(),
                format!(
                    "{what}.reservations.devices.[]: \"count\" and \"device_ids\" attributes are exclusive"
                ),
            ));
        }
        out.push(device_request(d)?);
    }
    Ok(J::Array(out))
}

fn develop(v: &Node) -> J {
    let Some(m) = v.as_map() else {
        return plain(v);
    };
    let mut o = JMap::new();
    for (k, x) in m {
        if k == "watch" {
            let mut l = Vec::new();
            for w in listify(x) {
                let Some(wm) = w.as_map() else {
                    l.push(plain(w));
                    continue;
                };
                let mut e = JMap::new();
                for (wk, wv) in wm {
                    if wk.starts_with("x-") {
                        continue;
                    }
                    let j = match wk.as_ref() {
                        "ignore" | "include" => str_list(wv),
                        "initial_sync" => bool_of(wv, wk).unwrap_or(J::Null),
                        "exec" => {
                            let mut ex = JMap::new();
                            if let Some(em) = wv.as_map() {
                                for (ek, evv) in em {
                                    ex.insert(
                                        ek.clone(),
                                        match ek.as_ref() {
                                            "command" => match &evv.value {
                                                Value::Str(t) => J::Array(
                                                    shell_split(t)
                                                        .unwrap_or_default()
                                                        .iter()
                                                        .map(|w| s(w))
                                                        .collect(),
                                                ),
                                                _ => str_list(evv),
                                            },
                                            _ => plain(evv),
                                        },
                                    );
                                }
                            }
                            ex.entry("command").or_insert(J::Null);
                            J::Object(ex)
                        }
                        _ => string_of(wv),
                    };
                    e.insert(wk.clone(), j);
                }
                e.entry("exec")
                    .or_insert_with(|| obj([("command", J::Null)]));
                l.push(J::Object(e));
            }
            o.insert(k.clone(), J::Array(l));
        } else if !k.starts_with("x-") {
            o.insert(k.clone(), plain(x));
        }
    }
    J::Object(o)
}

fn provider(v: &Node) -> J {
    let Some(m) = v.as_map() else {
        return plain(v);
    };
    let mut o = JMap::new();
    for (k, x) in m {
        if k == "options" {
            let mut opts = JMap::new();
            if let Some(om) = x.as_map() {
                for (ok, ov) in om {
                    opts.insert(ok.clone(), str_list(ov));
                }
            }
            o.insert(k.clone(), J::Object(opts));
        } else {
            o.insert(k.clone(), string_of(x));
        }
    }
    J::Object(o)
}

fn ipam(v: &Node) -> J {
    let Some(m) = v.as_map() else {
        return plain(v);
    };
    let mut o = JMap::new();
    for (k, x) in m {
        let val = match k.as_ref() {
            "config" => J::Array(
                listify(x)
                    .iter()
                    .map(|c| match c.as_map() {
                        Some(cm) => J::Object(
                            cm.iter()
                                .map(|(ck, cv)| {
                                    let j = if ck == "aux_addresses" {
                                        J::Object(kv_map(cv, &|_| J::from("")))
                                    } else {
                                        string_of(cv)
                                    };
                                    (ck.clone(), j)
                                })
                                .collect(),
                        ),
                        None => plain(c),
                    })
                    .collect(),
            ),
            "options" => J::Object(kv_map(x, &|_| J::from(""))),
            _ => string_of(x),
        };
        o.insert(k.clone(), val);
    }
    J::Object(o)
}

/// Expands one short port spec (`[[ip:]host:]container[/proto]`, with ranges) into long entries.
pub fn parse_port(spec: &str) -> Result<Vec<J>, String> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    // Split off the container part (after the last ':'), keeping IPv6 addresses whole.
    let (host_part, container) = match rest.rfind(':') {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let (ip, published) = match host_part {
        None => (None, None),
        Some(h) => {
            if let Some(stripped) = h.strip_prefix('[') {
                match stripped.split_once(']') {
                    Some((ip6, after)) => (Some(ip6), after.strip_prefix(':')),
                    None => return Err(format!("invalid port spec {spec:?}")),
                }
            } else {
                match h.rfind(':') {
                    Some(i) => (Some(&h[..i]), Some(&h[i + 1..])),
                    None => (None, Some(h)),
                }
            }
        }
    };
    let published = published.filter(|p| !p.is_empty());
    let (cstart, cend) =
        parse_range(container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let mut out = Vec::new();
    let prange = match &published {
        Some(p) => Some(parse_range(p).ok_or_else(|| format!("invalid hostPort: {p}"))?),
        None => None,
    };
    let count = cend - cstart + 1;
    for i in 0..count {
        let mut o = JMap::with_capacity(5);
        o.push("mode", J::String(Str::new_static("ingress")));
        if let Some(ip) = &ip
            && !ip.is_empty()
        {
            o.push("host_ip", J::from(*ip));
        }
        o.push("target", J::from(cstart + i));
        if let Some((ps, pe)) = prange {
            let p = if count == 1 {
                if ps == pe {
                    ps.to_smolstr()
                } else {
                    smol_str::format_smolstr!("{ps}-{pe}")
                }
            } else if pe - ps + 1 == count {
                (ps + i).to_smolstr()
            } else if ps == pe {
                ps.to_smolstr()
            } else {
                return Err(format!("invalid port range {spec:?}"));
            };
            o.push("published", J::String(p));
        }
        o.push("protocol", J::from(proto));
        out.push(J::Object(o));
    }
    Ok(out)
}

fn parse_range(s: &str) -> Option<(i64, i64)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let a: i64 = a.trim().parse().ok()?;
            let b: i64 = b.trim().parse().ok()?;
            if b < a {
                return None;
            }
            Some((a, b))
        }
        None => {
            let a: i64 = s.trim().parse().ok()?;
            Some((a, a))
        }
    }
}

/// The checks compose runs on a normalised project.
fn check(
    services: &BTreeMap<Str, JMap>,
    networks: &JMap,
    volumes: &JMap,
    secrets: &JMap,
    configs: &JMap,
    tree: &Map,
) -> Result<(), ComposeError> {
    // Where a service's key was written, so messages can point at it.
    let at = |svc: &str, key: &str| {
        let s = tree
            .get("services")
            .and_then(Node::as_map)
            .and_then(|m| m.get(svc))?;
        let n = s.as_map().and_then(|m| m.get(key)).unwrap_or(s);
        n.key_pos().location()
    };
    let invalid_at = |svc: &str, key: &str, m: String| {
        ComposeError::invalid_at(at(svc, key), format!("{m}: invalid compose project"))
    };
    for (name, svc) in services {
        if !svc.contains_key("image") && !svc.contains_key("build") && !svc.contains_key("provider")
        {
            return Err(invalid_at(
                name,
                "",
                format!("service {name:?} has neither an image nor a build context specified"),
            ));
        }
        if let Some(J::Object(deps)) = svc.get("depends_on") {
            for (d, spec) in deps {
                let required = spec.get("required").and_then(J::as_bool).unwrap_or(true);
                if !services.contains_key(&**d) && required {
                    // Name the key the dependency came from: depends_on, or links & co.
                    let svc_node = tree
                        .get("services")
                        .and_then(Node::as_map)
                        .and_then(|m| m.get(name))
                        .and_then(Node::as_map);
                    let mentions = |key: &str| {
                        svc_node
                            .and_then(|m| m.get(key))
                            .is_some_and(|n| match &n.value {
                                Value::Map(m) => m.contains_key(d),
                                Value::Seq(v) => v.iter().any(|x| {
                                    x.scalar_string().is_some_and(|t| {
                                        t == **d || t.split(':').next() == Some(&**d)
                                    })
                                }),
                                Value::Str(t) => t.ends_with(&format!(":{d}")),
                                _ => false,
                            })
                    };
                    let key = [
                        "depends_on",
                        "links",
                        "network_mode",
                        "ipc",
                        "pid",
                        "volumes_from",
                    ]
                    .into_iter()
                    .find(|k| mentions(k))
                    .unwrap_or("depends_on");
                    return Err(invalid_at(
                        name,
                        key,
                        format!("service {name:?} depends on undefined service {d:?} (in {key})"),
                    ));
                }
            }
        }
        if svc.contains_key("network_mode")
            && svc
                .get("networks")
                .and_then(J::as_object)
                .is_some_and(|n| !n.is_empty())
        {
            return Err(invalid_at(
                name,
                "networks",
                format!("service {name} declares mutually exclusive `network_mode` and `networks`"),
            ));
        }
        if let Some(J::Object(nets)) = svc.get("networks") {
            for n in nets.keys() {
                if n != "default" && !networks.contains_key(n) {
                    return Err(invalid_at(
                        name,
                        "networks",
                        format!("service {name:?} refers to undefined network {n}"),
                    ));
                }
            }
        }
        if let Some(J::Array(vols)) = svc.get("volumes") {
            for v in vols {
                if v.get("type").and_then(J::as_str) == Some("volume")
                    && let Some(src) = v.get("source").and_then(J::as_str)
                    && !src.is_empty()
                    && !volumes.contains_key(src)
                {
                    return Err(invalid_at(
                        name,
                        "volumes",
                        format!("service {name:?} refers to undefined volume {src}"),
                    ));
                }
            }
        }
        for (key, defined) in [("secrets", secrets), ("configs", configs)] {
            if let Some(J::Array(xs)) = svc.get(key) {
                for x in xs {
                    if let Some(src) = x.get("source").and_then(J::as_str)
                        && !defined.contains_key(src)
                    {
                        return Err(invalid_at(
                            name,
                            key,
                            format!(
                                "service {name:?} refers to undefined {} {src}",
                                key.trim_end_matches('s')
                            ),
                        ));
                    }
                }
            }
        }
    }
    // Two services with one container_name are refused by `up` among the services it runs,
    // not here: Compose loads such a file and runs either service alone.
    for (name, svc) in services {
        if let (Some(p), Some(J::Array(ps))) = (
            svc.get("platform").and_then(J::as_str),
            svc.get("build").and_then(|b| b.get("platforms")),
        ) && !ps.is_empty()
            && !ps.iter().any(|x| x.as_str() == Some(p))
        {
            return Err(invalid_at(
                name,
                "platform",
                format!(
                    "service {name:?}: service.build.platforms MUST include service.platform {p:?}"
                ),
            ));
        }
    }
    // Dependency cycles.
    let mut state: FastMap<&str, u8> = FastMap::default();
    fn visit<'a>(
        n: &'a str,
        services: &'a BTreeMap<Str, JMap>,
        state: &mut FastMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let i = stack.iter().position(|x| *x == n).unwrap_or(0);
                let mut c: Vec<String> = stack[i..].iter().map(|x| x.to_string()).collect();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        if let Some(J::Object(deps)) = services.get(n).and_then(|s| s.get("depends_on")) {
            for d in deps.keys() {
                if services.contains_key(&**d)
                    && let Some(c) = visit(d, services, state, stack)
                {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    for name in services.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(name, services, &mut state, &mut stack) {
            return Err(ComposeError::invalid(format!(
                "dependency cycle detected: {}",
                c.join(" -> ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_joined_as_paths_join_them() {
        for dir in ["/", "/p", "/p/q/", "/p/./q", "/p//q", "/p/../q"] {
            for p in [
                "", ".", "./", "a", "./a", "a/", "a//b", "a/./b", "./a/b/.", "../a", "a/../b", "..",
            ] {
                let slow = absolute(Path::new(dir), Path::new(p)).display().to_string();
                assert_eq!(abs_str(Path::new(dir), p, None), slow, "{dir} + {p}");
            }
        }
        assert_eq!(
            abs_str(Path::new("/p"), "~/x", Some("/home/u")),
            "/home/u/x"
        );
        assert_eq!(abs_str(Path::new("/p"), "/abs/", None), "/abs/");
    }

    #[test]
    fn ports_expand_like_compose() {
        let p = |s: &str| serde_json::to_string(&parse_port(s).unwrap()).unwrap();
        assert_eq!(
            p("8080"),
            r#"[{"mode":"ingress","target":8080,"protocol":"tcp"}]"#
        );
        assert_eq!(
            p("127.0.0.1:80:8080/udp"),
            r#"[{"mode":"ingress","host_ip":"127.0.0.1","target":8080,"published":"80","protocol":"udp"}]"#
        );
        assert_eq!(parse_port("3001-3005").unwrap().len(), 5);
        assert_eq!(
            p("12400-12500:80"),
            r#"[{"mode":"ingress","target":80,"published":"12400-12500","protocol":"tcp"}]"#
        );
        assert_eq!(
            p("[::1]:80:80"),
            r#"[{"mode":"ingress","host_ip":"::1","target":80,"published":"80","protocol":"tcp"}]"#
        );
        assert_eq!(
            p("127.0.0.1::80"),
            r#"[{"mode":"ingress","host_ip":"127.0.0.1","target":80,"protocol":"tcp"}]"#
        );
    }

    #[test]
    fn short_volumes() {
        let v = parse_short_volume("./data:/data:ro,z").unwrap();
        assert_eq!(v["type"], "bind");
        assert_eq!(v["read_only"], true);
        assert_eq!(v["bind"]["selinux"], "z");
        let v = parse_short_volume("named:/data").unwrap();
        assert_eq!(v["type"], "volume");
        let v = parse_short_volume("/anon").unwrap();
        assert!(v.get("source").is_none());
    }
}
