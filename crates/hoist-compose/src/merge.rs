//! Merging one compose tree over another, as compose does for several `-f` files and for
//! `extends`: mappings merge by key, sequences concatenate, scalars are replaced, and some keys
//! have their own rule (`command` is replaced, `environment`/`labels` merge by key, `depends_on`
//! and `networks` merge as mappings...). Afterwards, lists whose entries have an identity (ports,
//! volumes by target, environment by key) keep one entry per identity, the last one winning.
//! `!reset` removes a value, `!override` replaces it instead of merging.

use std::borrow::Cow;
use std::sync::LazyLock;

use crate::yaml::{Map, Node, Str, Tag, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    ToSequence,
    Override,
    Build,
    DependsOn,
    ToMapping,
    ExtraHosts,
    Logging,
    Ulimit,
}

fn rule(path: &[Str]) -> Option<Rule> {
    use Rule::*;
    // A service's own keys (most merges): decided by the key alone, as the table below does.
    if path.len() == 3 && path[0] == "services" {
        return match path[2].as_str() {
            "annotations" | "dns" | "dns_opt" | "dns_search" | "env_file" | "label_file"
            | "environment" | "labels" | "sysctls" | "tmpfs" => Some(ToSequence),
            "build" => Some(Build),
            "command" | "entrypoint" => Some(Override),
            "depends_on" => Some(DependsOn),
            "extra_hosts" => Some(ExtraHosts),
            "logging" => Some(Logging),
            "models" | "networks" => Some(ToMapping),
            _ => None,
        };
    }
    table_rule(path)
}

/// The merge rule of `path` from the table of patterns.
fn table_rule(path: &[Str]) -> Option<Rule> {
    use Rule::*;
    const RULES: &[(&str, Rule)] = &[
        ("networks.*.labels", ToSequence),
        ("volumes.*.labels", ToSequence),
        ("services.*.annotations", ToSequence),
        ("services.*.build", Build),
        ("services.*.build.args", ToSequence),
        ("services.*.build.additional_contexts", ToSequence),
        ("services.*.build.extra_hosts", ExtraHosts),
        ("services.*.build.labels", ToSequence),
        ("services.*.command", Override),
        ("services.*.depends_on", DependsOn),
        ("services.*.deploy.labels", ToSequence),
        ("services.*.dns", ToSequence),
        ("services.*.dns_opt", ToSequence),
        ("services.*.dns_search", ToSequence),
        ("services.*.entrypoint", Override),
        ("services.*.env_file", ToSequence),
        ("services.*.label_file", ToSequence),
        ("services.*.environment", ToSequence),
        ("services.*.extra_hosts", ExtraHosts),
        ("services.*.healthcheck.test", Override),
        ("services.*.labels", ToSequence),
        ("services.*.volumes.*.volume.labels", ToSequence),
        ("services.*.logging", Logging),
        ("services.*.models", ToMapping),
        ("services.*.networks", ToMapping),
        ("services.*.sysctls", ToSequence),
        ("services.*.tmpfs", ToSequence),
        ("services.*.ulimits.*", Ulimit),
    ];
    // Split once: this runs for every merged value, and most patterns are rejected by their
    // length alone.
    static SPLIT: LazyLock<Vec<(Vec<&'static str>, Rule)>> = LazyLock::new(|| {
        RULES
            .iter()
            .map(|(p, r)| (p.split('.').collect(), *r))
            .collect()
    });
    SPLIT
        .iter()
        .find(|(segs, _)| matches_split(path, segs))
        .map(|(_, r)| *r)
}

/// Whether `path` matches the pattern `segs` (`*` matches one segment).
fn matches_split<S: AsRef<str>>(path: &[S], segs: &[&str]) -> bool {
    segs.len() == path.len()
        && segs
            .iter()
            .zip(path)
            .rev()
            .all(|(s, p)| *s == "*" || *s == p.as_ref())
}

/// Merges `over` onto `base`; `path` is where the two values sit in the compose tree.
pub fn merge(base: Node, over: Node, path: &mut Vec<Str>) -> Node {
    if over.tag == Tag::Override {
        let mut o = over;
        o.tag = Tag::None;
        return o;
    }
    if let Some(r) = rule(path) {
        return apply_rule(r, base, over, path);
    }
    if over.is_null() {
        return base;
    }
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => Node {
            value: Value::Map(merge_maps(b, o, path)),
            pos: over.pos,
            tag: Tag::None,
            key: None,
        },
        (Value::Seq(mut b), Value::Seq(o)) => {
            b.extend(o);
            Node {
                value: Value::Seq(b),
                pos: over.pos,
                tag: Tag::None,
                key: None,
            }
        }
        (_, o) => Node {
            value: o,
            pos: over.pos,
            tag: over.tag,
            key: None,
        },
    }
}

/// Merges two mappings key by key; `!reset` values delete the key.
pub fn merge_maps(mut base: Map, over: Map, path: &mut Vec<Str>) -> Map {
    for (k, v) in over {
        if v.tag == Tag::Reset {
            base.shift_remove(&k);
            continue;
        }
        match base.get_mut(&k) {
            None => {
                base.insert(k, strip_resets(v));
            }
            Some(existing) => {
                let pos = existing.pos;
                let current = std::mem::replace(existing, Node::null(pos));
                path.push(k.clone());
                *existing = merge(current, v, path);
                path.pop();
            }
        }
    }
    base
}

/// Removes `!reset` entries from a tree that is not merged over anything.
pub fn strip_resets(mut node: Node) -> Node {
    strip_in_place(&mut node);
    node
}

fn strip_in_place(node: &mut Node) {
    match &mut node.value {
        Value::Map(m) => {
            if m.values().any(|v| v.tag == Tag::Reset) {
                m.retain(|_, v| v.tag != Tag::Reset);
            }
            for v in m.values_mut() {
                strip_in_place(v);
            }
        }
        Value::Seq(items) => {
            if items.iter().any(|v| v.tag == Tag::Reset) {
                items.retain(|v| v.tag != Tag::Reset);
            }
            for v in items.iter_mut() {
                strip_in_place(v);
            }
        }
        _ => {}
    }
    if node.tag == Tag::Override {
        node.tag = Tag::None;
    }
}

fn apply_rule(r: Rule, base: Node, over: Node, path: &mut Vec<Str>) -> Node {
    let pos = over.pos;
    match r {
        Rule::Override => {
            if over.tag == Tag::Reset {
                return base;
            }
            over
        }
        Rule::ToSequence => {
            let mut b = to_sequence(base);
            b.extend(to_sequence(over));
            Node::seq(b, pos)
        }
        Rule::ExtraHosts => {
            let mut b = to_sequence(base);
            for o in to_sequence(over) {
                if !b.contains(&o) {
                    b.push(o);
                }
            }
            Node::seq(b, pos)
        }
        Rule::Build => {
            let to_map = |n: Node| match n.value {
                Value::Str(_) => {
                    let mut m = Map::default();
                    m.insert("context", n.clone());
                    m
                }
                Value::Map(m) => m,
                _ => Map::default(),
            };
            Node::map(merge_maps(to_map(base), to_map(over), path), pos)
        }
        Rule::DependsOn => {
            let b = to_mapping(base, true);
            let o = to_mapping(over, true);
            Node::map(merge_maps(b, o, path), pos)
        }
        Rule::ToMapping => {
            let b = to_mapping(base, false);
            let o = to_mapping(over, false);
            Node::map(merge_maps(b, o, path), pos)
        }
        Rule::Logging => {
            let (Some(b), Some(o)) = (base.as_map(), over.as_map()) else {
                return over;
            };
            let same = match (b.get("driver"), o.get("driver")) {
                (Some(x), Some(y)) => x == y,
                _ => true,
            };
            if same {
                let (Value::Map(b), Value::Map(o)) = (base.value, over.value) else {
                    return Node::null(pos);
                };
                Node::map(merge_maps(b, o, path), pos)
            } else {
                over
            }
        }
        Rule::Ulimit => {
            if let (Value::Map(b), Value::Map(o)) = (&base.value, &over.value) {
                return Node::map(merge_maps(b.clone(), o.clone(), path), pos);
            }
            over
        }
    }
}

/// A mapping or list as a list of `KEY=VALUE` strings, the form compose merges them in.
fn to_sequence(n: Node) -> Vec<Node> {
    let pos = n.pos;
    match n.value {
        Value::Seq(v) => v,
        Value::Str(_) => vec![n],
        Value::Map(m) => {
            let mut out: Vec<Node> = Vec::new();
            for (k, v) in m {
                match &v.value {
                    Value::Null => out.push(Node::str(k, v.pos)),
                    Value::Seq(items) => {
                        for it in items {
                            out.push(Node::str(format!("{k}={}", it.value), it.pos))
                        }
                    }
                    other => out.push(Node::str(format!("{k}={other}"), v.pos)),
                }
            }
            // Compose sorts them; the result is keyed anyway.
            out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            let _ = pos;
            out
        }
        _ => Vec::new(),
    }
}

fn to_mapping(n: Node, depends: bool) -> Map {
    match n.value {
        Value::Map(m) => m,
        Value::Seq(items) => {
            let mut m = Map::default();
            for it in items {
                let Some(k) = it.scalar_string() else {
                    continue;
                };
                let v = if depends {
                    let mut d = Map::default();
                    d.insert("condition", Node::str("service_started", it.pos));
                    d.insert("required", Node::new(Value::Bool(true), it.pos));
                    Node::map(d, it.pos)
                } else {
                    Node::null(it.pos)
                };
                m.insert(k, v);
            }
            m
        }
        _ => Map::default(),
    }
}

/// Keeps one entry per identity in lists whose entries have one; the later entry replaces the
/// earlier one in place.
pub fn enforce_unicity(node: &mut Node) {
    // Walks only the places that have a rule, so that large projects stay cheap.
    let Some(top) = node.as_map_mut() else {
        return;
    };
    if let Some(Value::Map(services)) = top.get_mut("services").map(|n| &mut n.value) {
        for svc in services.values_mut() {
            let Some(m) = svc.as_map_mut() else {
                continue;
            };
            for (k, v) in m.iter_mut() {
                match (k.as_ref(), &mut v.value) {
                    ("build" | "deploy", Value::Map(inner)) => {
                        for (ik, iv) in inner.iter_mut() {
                            dedup(iv, &["services", "*", k.as_ref(), ik.as_ref()]);
                        }
                    }
                    ("networks", Value::Map(nets)) => {
                        for net in nets.values_mut() {
                            if let Value::Map(nm) = &mut net.value {
                                for (nk, nv) in nm.iter_mut() {
                                    dedup(nv, &["services", "*", "networks", "*", nk.as_ref()]);
                                }
                            }
                        }
                    }
                    _ => dedup(v, &["services", "*", k.as_ref()]),
                }
            }
        }
    }
    if let Some(Value::Map(networks)) = top.get_mut("networks").map(|n| &mut n.value) {
        for net in networks.values_mut() {
            if let Value::Map(nm) = &mut net.value {
                for (k, v) in nm.iter_mut() {
                    match (k.as_ref(), &mut v.value) {
                        ("ipam", Value::Map(ipam)) => {
                            if let Some(o) = ipam.get_mut("options") {
                                dedup(o, &["networks", "*", "ipam", "options"]);
                            }
                        }
                        _ => dedup(v, &["networks", "*", k.as_ref()]),
                    }
                }
            }
        }
    }
}

/// Keeps one entry per identity in the list at `path`, if the list has a rule.
fn dedup(node: &mut Node, path: &[&str]) {
    let Value::Seq(items) = &mut node.value else {
        return;
    };
    if items.len() < 2 {
        return;
    }
    let Some(indexer) = indexer(path) else {
        return;
    };
    // Short lists (nearly all of them) are checked with their keys on the stack first: most
    // have no duplicate.
    const SMALL: usize = 8;
    if items.len() <= SMALL {
        let mut keys: [Option<Cow<'_, str>>; SMALL] = [const { None }; SMALL];
        for (k, it) in keys.iter_mut().zip(items.iter()) {
            *k = indexer(it);
        }
        let n = items.len();
        let dup = (1..n).any(|i| {
            keys[i]
                .as_deref()
                .is_some_and(|k| keys[..i].iter().any(|x| x.as_deref() == Some(k)))
        });
        if !dup {
            return;
        }
    }
    // For each entry, the earlier entry with the same identity it replaces (if any); entries
    // without an identity are all kept.
    let keys: Vec<Option<Cow<'_, str>>> = items.iter().map(indexer).collect();
    let mut into: Vec<Option<usize>> = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let first = key
            .as_deref()
            .and_then(|k| keys[..i].iter().position(|x| x.as_deref() == Some(k)));
        into.push(first);
    }
    drop(keys);
    if into.iter().all(Option::is_none) {
        return;
    }
    let old = std::mem::replace(items, Vec::with_capacity(into.len()));
    // Where each kept entry landed in the output.
    let mut slot: Vec<usize> = vec![usize::MAX; into.len()];
    for (i, (entry, first)) in old.into_iter().zip(into).enumerate() {
        match first {
            Some(f) => items[slot[f]] = entry,
            None => {
                slot[i] = items.len();
                items.push(entry);
            }
        }
    }
}

type Indexer = fn(&Node) -> Option<Cow<'_, str>>;

fn indexer(path: &[&str]) -> Option<Indexer> {
    // Most lists have no identity rule: decide on the last segment before matching patterns.
    if !matches!(
        *path.last()?,
        "labels"
            | "options"
            | "annotations"
            | "args"
            | "additional_contexts"
            | "platform"
            | "tags"
            | "cap_add"
            | "cap_drop"
            | "dns"
            | "dns_opt"
            | "dns_search"
            | "environment"
            | "links"
            | "aliases"
            | "link_local_ips"
            | "profiles"
            | "sysctls"
            | "tmpfs"
            | "volumes"
            | "devices"
            | "expose"
            | "env_file"
            | "secrets"
            | "configs"
            | "ports"
    ) {
        return None;
    }
    // A service's own lists (nearly every call): decided by their name alone.
    if path.len() == 3 && path[0] == "services" {
        return match path[2] {
            "annotations" | "cap_add" | "cap_drop" | "dns" | "dns_opt" | "dns_search"
            | "environment" | "labels" | "links" | "profiles" | "sysctls" | "tmpfs" => Some(kv_key),
            "volumes" => Some(volume_key),
            "devices" => Some(device_key),
            "expose" => Some(Node::scalar_str),
            "env_file" => Some(env_file_key),
            "secrets" => Some(|n| mount_key(n, "/run/secrets").map(Cow::Owned)),
            "configs" => Some(|n| mount_key(n, "").map(Cow::Owned)),
            "ports" => Some(port_key),
            _ => None,
        };
    }
    // `KEY=VALUE` lists deeper in the tree (a service's own are decided above).
    const KV: &[&str] = &[
        "networks.*.labels",
        "networks.*.ipam.options",
        "services.*.build.args",
        "services.*.build.additional_contexts",
        "services.*.build.platform",
        "services.*.build.tags",
        "services.*.build.labels",
        "services.*.deploy.labels",
        "services.*.networks.*.aliases",
        "services.*.networks.*.link_local_ips",
    ];
    static KV_SPLIT: LazyLock<Vec<Vec<&'static str>>> =
        LazyLock::new(|| KV.iter().map(|p| p.split('.').collect()).collect());
    if KV_SPLIT.iter().any(|segs| matches_split(path, segs)) {
        return Some(kv_key);
    }
    None
}

/// `KEY=VALUE` or `KEY`: the key.
fn kv_key(n: &Node) -> Option<Cow<'_, str>> {
    n.scalar_str().map(|s| match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.split_once('=').map_or(b, |(k, _)| k)),
        Cow::Owned(o) => Cow::Owned(o.split_once('=').map(|(k, _)| k.to_string()).unwrap_or(o)),
    })
}

fn volume_key(n: &Node) -> Option<Cow<'_, str>> {
    match &n.value {
        Value::Map(m) => m.get("target").and_then(Node::scalar_str),
        Value::Str(s) => Some(Cow::Borrowed(crate::normalize::short_volume_target(s))),
        _ => None,
    }
}

fn device_key(n: &Node) -> Option<Cow<'_, str>> {
    match &n.value {
        Value::Map(m) => m.get("target").and_then(Node::scalar_str),
        Value::Str(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(Cow::Owned(parts.get(1).unwrap_or(&parts[0]).to_string()))
        }
        _ => None,
    }
}

fn env_file_key(n: &Node) -> Option<Cow<'_, str>> {
    match &n.value {
        Value::Map(m) => m.get("path").and_then(Node::scalar_str),
        _ => n.scalar_str(),
    }
}

fn port_key(n: &Node) -> Option<Cow<'_, str>> {
    match &n.value {
        Value::Map(m) => {
            let g = |k: &str, d: &str| {
                m.get(k)
                    .and_then(Node::scalar_string)
                    .unwrap_or_else(|| d.to_string())
            };
            Some(Cow::Owned(format!(
                "{}:{}:{}/{}",
                g("host_ip", "0.0.0.0"),
                g("published", ""),
                g("target", ""),
                g("protocol", "tcp")
            )))
        }
        _ => n.scalar_str(),
    }
}

fn mount_key(n: &Node, default: &str) -> Option<String> {
    match &n.value {
        Value::Map(m) => match m.get("target").and_then(Node::scalar_string) {
            Some(t) => Some(t),
            None => Some(format!(
                "{default}/{}",
                m.get("source")
                    .and_then(Node::scalar_string)
                    .unwrap_or_default()
            )),
        },
        _ => n.scalar_string().map(|s| format!("{default}/{s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn m(a: &str, b: &str) -> Node {
        let a = parse(a, "a").unwrap().remove(0);
        let b = parse(b, "b").unwrap().remove(0);
        let mut n = merge(a, b, &mut Vec::new());
        enforce_unicity(&mut n);
        n
    }

    #[test]
    fn service_keys_get_the_rule_of_the_table() {
        let keys = crate::schema::keyword_list();
        assert!(keys.len() > 100, "{}", keys.len());
        for k in keys.iter().copied().chain(["x-custom", "image", "ports"]) {
            let path = [Str::new("services"), Str::new("web"), Str::new(k)];
            assert_eq!(rule(&path), table_rule(&path), "services.web.{k}");
        }
    }

    #[test]
    fn override_rules() {
        let n = m(
            "services:\n  a:\n    image: x\n    command: [a, b]\n    environment: {A: 1, B: 2}\n    ports: ['80:80']\n",
            "services:\n  a:\n    command: [c]\n    environment: [B=3]\n    ports: ['80:80', '81:81']\n",
        );
        let a = &n.as_map().unwrap()["services"].as_map().unwrap()["a"];
        let a = a.as_map().unwrap();
        assert_eq!(a["command"].as_seq().unwrap().len(), 1);
        let env: Vec<_> = a["environment"]
            .as_seq()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        assert_eq!(env, vec!["A=1", "B=3"]);
        assert_eq!(a["ports"].as_seq().unwrap().len(), 2);
    }

    #[test]
    fn later_entries_replace_earlier_ones_in_place() {
        let n = m(
            "services:\n  a:\n    image: x\n    environment: [A=1, B=2, C=3]\n    volumes: ['./a:/data', './b:/b']\n",
            "services:\n  a:\n    environment: [B=4, A=5, D=6]\n    volumes: ['./c:/data', './d:/d', './e:/data']\n",
        );
        let a = n.as_map().unwrap()["services"].as_map().unwrap()["a"]
            .as_map()
            .unwrap()
            .clone();
        let texts = |k: &str| -> Vec<String> {
            a[k].as_seq()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(texts("environment"), vec!["A=5", "B=4", "C=3", "D=6"]);
        assert_eq!(texts("volumes"), vec!["./e:/data", "./b:/b", "./d:/d"]);
    }

    #[test]
    fn reset_and_override_tags() {
        let n = m(
            "services:\n  a:\n    image: x\n    ports: ['80:80']\n    labels: {a: b}\n",
            "services:\n  a:\n    ports: !reset []\n    labels: !override {c: d}\n",
        );
        let a = n.as_map().unwrap()["services"].as_map().unwrap()["a"]
            .as_map()
            .unwrap()
            .clone();
        assert!(!a.contains_key("ports"));
        assert_eq!(a["labels"].as_map().unwrap().len(), 1);
    }
}
