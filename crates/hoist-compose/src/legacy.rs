//! The legacy v1 format (services at the top level, no `version:`), read with the semantics of
//! Compose 1.29, the last release that reads it: `extends` copies the parent but a service with
//! `links` (or `volumes_from`, or `net: container:...`) cannot be extended and links are never
//! inherited; `net:` is `network_mode`; `log_driver`/`log_opt` are `logging`; every service runs
//! on the default bridge network (so legacy links work and the engine injects `DB_PORT_...`
//! variables). The file is turned into the v2 shape here, so the rest of the pipeline is shared.

use std::path::{Path, PathBuf};

use crate::error::ComposeError;
use crate::merge::merge_maps;
use crate::yaml::{Map, Node, Str, Value};

/// Top-level keys of the current format: a file with any of them is not a v1 file.
const V2_KEYS: &[&str] = &[
    "services", "version", "networks", "volumes", "secrets", "configs", "include", "name", "models",
];

/// Whether a document is in the v1 format: a non-empty mapping of service definitions with none
/// of the current top-level keys.
pub fn is_legacy(doc: &Node) -> bool {
    let Some(m) = doc.as_map() else {
        return false;
    };
    !m.is_empty()
        && !m.keys().any(|k| V2_KEYS.contains(&k.as_ref()))
        && m.iter()
            .filter(|(k, _)| !k.starts_with("x-"))
            .all(|(_, v)| v.as_map().is_some())
        && m.keys().any(|k| !k.starts_with("x-"))
}

/// Makes the relative paths of a service read from another file (`extends.file`) absolute
/// against that file's directory, as Compose 1.29 resolves them: `env_file`, `build` (its
/// context) and the host side of `volumes` that are paths (not named volumes).
fn rebase_paths(service: &mut Node, dir: &Path) {
    let Some(map) = service.as_map_mut() else {
        return;
    };
    let rebase = |node: &mut Node| {
        if let Some(text) = node.as_str()
            && !text.starts_with('/')
            && !text.starts_with('~')
        {
            let absolute = crate::loader::absolute(dir, Path::new(text));
            *node = Node::str(absolute.display().to_string(), node.pos);
        }
    };
    if let Some(env_file) = map.get_mut("env_file") {
        match &mut env_file.value {
            Value::Seq(items) => items.iter_mut().for_each(rebase),
            _ => rebase(env_file),
        }
    }
    if let Some(build) = map.get_mut("build") {
        match build.as_map_mut().and_then(|b| b.get_mut("context")) {
            Some(context) => rebase(context),
            None => rebase(build),
        }
    }
    if let Some(Value::Seq(volumes)) = map.get_mut("volumes").map(|v| &mut v.value) {
        for volume in volumes.iter_mut() {
            let Some(text) = volume.as_str() else {
                continue;
            };
            let (host, rest) = text.split_once(':').unwrap_or((text, ""));
            // A named volume has no `/` and does not start with `.`; a bare container path has
            // no host side at all.
            let is_path = !rest.is_empty() && (host.starts_with('.') || host.contains('/'));
            if !is_path || host.starts_with('/') || host.starts_with('~') {
                continue;
            }
            let absolute = crate::loader::absolute(dir, Path::new(host));
            let rebased = match rest {
                "" => absolute.display().to_string(),
                rest => format!("{}:{rest}", absolute.display()),
            };
            *volume = Node::str(rebased, volume.pos);
        }
    }
}

/// Converts a v1 document into the v2 shape with v1 `extends` semantics applied.
pub fn convert(doc: Node, path: &Path) -> Result<Node, ComposeError> {
    let pos = doc.pos;
    let Value::Map(top) = doc.value else {
        return Ok(doc);
    };
    let mut resolved = Map::default();
    for name in top.keys() {
        if name.starts_with("x-") {
            continue;
        }
        let mut chain = Vec::new();
        let svc = resolve(&top, path, name, &mut chain)?;
        resolved.insert(name.clone(), to_v2(svc));
    }
    let mut out = Map::default();
    out.insert("services", Node::map(resolved, pos));
    Ok(Node::map(out, pos))
}

/// How long a v1 `extends` chain may be. Compose 1.29 resolves chains recursively (Python's
/// recursion limit ends long ones); so does this reader, each service again (v1 files are small),
/// so the limit bounds both the stack and the work.
pub const MAX_EXTENDS_DEPTH: usize = 64;

fn resolve(
    top: &Map,
    path: &Path,
    name: &str,
    chain: &mut Vec<(PathBuf, String)>,
) -> Result<Node, ComposeError> {
    let svc = top.get(name).cloned().ok_or_else(|| {
        ComposeError::invalid(format!(
            "Cannot extend service '{name}' in {}: Service not found",
            path.display()
        ))
    })?;
    let Some(ext) = svc.as_map().and_then(|m| m.get("extends")).cloned() else {
        return Ok(svc);
    };
    let key = (path.to_path_buf(), name.to_string());
    if chain.contains(&key) {
        let mut names: Vec<String> = chain
            .iter()
            .map(|(f, s)| format!("{s} in {}", f.display()))
            .collect();
        names.push(format!("{name} in {}", path.display()));
        return Err(ComposeError::ExtendsCycle {
            loc: ext.pos.location(),
            chain: names,
        });
    }
    if chain.len() >= MAX_EXTENDS_DEPTH {
        return Err(ComposeError::TooDeep {
            loc: ext.pos.location(),
            key: format!("{name}.extends"),
            message: format!(
                "extends chain in {} is longer than {MAX_EXTENDS_DEPTH} services",
                path.display()
            ),
        });
    }
    chain.push(key);
    let (base_name, file) = match &ext.value {
        Value::Map(m) => (
            m.get("service")
                .and_then(Node::scalar_string)
                .ok_or_else(|| {
                    ComposeError::invalid_at(
                        ext.pos.location(),
                        format!("Service '{name}': extends requires 'service'"),
                    )
                })?,
            m.get("file").and_then(Node::scalar_string),
        ),
        Value::Str(s) => (s.to_string(), None),
        _ => {
            return Err(ComposeError::invalid_at(
                ext.pos.location(),
                format!("Service '{name}': extends must be a mapping"),
            ));
        }
    };
    let (base, base_file) = match file {
        None => (resolve(top, path, &base_name, chain)?, path.to_path_buf()),
        Some(f) => {
            let other =
                crate::loader::absolute(path.parent().unwrap_or(Path::new(".")), Path::new(&f));
            let text = crate::read::read_text(&other).map_err(|e| {
                ComposeError::read(
                    &other,
                    format!("{name}.extends.file"),
                    ext.pos.location(),
                    e,
                )
            })?;
            let mut docs = crate::yaml::parse(&text, &other.display().to_string())?;
            let d = if docs.is_empty() {
                Node::map(Map::default(), ext.pos)
            } else {
                docs.remove(0)
            };
            let Value::Map(other_top) = d.value else {
                return Err(ComposeError::invalid(format!(
                    "{}: top-level object must be a mapping",
                    other.display()
                )));
            };
            let mut base = resolve(&other_top, &other, &base_name, chain)?;
            rebase_paths(&mut base, other.parent().unwrap_or(Path::new(".")));
            (base, other)
        }
    };
    chain.pop();
    // Compose 1.29 refuses to extend services whose definition ties them to other containers.
    if let Some(bm) = base.as_map() {
        for forbidden in ["links", "volumes_from"] {
            if bm.contains_key(forbidden) {
                return Err(ComposeError::invalid_at(
                    ext.pos.location(),
                    format!(
                        "Cannot extend service '{base_name}' in {}: services with '{forbidden}' cannot be extended",
                        base_file.display()
                    ),
                ));
            }
        }
        if bm
            .get("net")
            .and_then(Node::as_str)
            .is_some_and(|n| n.starts_with("container:"))
        {
            return Err(ComposeError::invalid_at(
                ext.pos.location(),
                format!(
                    "Cannot extend service '{base_name}' in {}: services with 'net: container' cannot be extended",
                    base_file.display()
                ),
            ));
        }
    }
    let mut base_map = base.as_map().cloned().unwrap_or_default();
    base_map.shift_remove("extends");
    base_map.shift_remove("links");
    let mut svc_map = svc.as_map().cloned().unwrap_or_default();
    svc_map.shift_remove("extends");
    let mut p = vec![Str::new_static("services"), Str::new(name)];
    Ok(Node::map(merge_maps(base_map, svc_map, &mut p), svc.pos))
}

/// v1 service keys → v2 ones.
fn to_v2(svc: Node) -> Node {
    let pos = svc.pos;
    let Value::Map(m) = svc.value else {
        return Node::map(Map::default(), pos);
    };
    let mut out = Map::default();
    let mut logging = Map::default();
    let mut dockerfile = None;
    for (k, v) in m {
        match k.as_ref() {
            "net" => {
                out.insert("network_mode", v);
            }
            "log_driver" => {
                logging.insert("driver", v);
            }
            "log_opt" => {
                logging.insert("options", v);
            }
            "dockerfile" => dockerfile = Some(v),
            _ => {
                out.insert(k, v);
            }
        }
    }
    if !logging.is_empty() {
        out.insert("logging", Node::map(logging, pos));
    }
    if let Some(df) = dockerfile {
        let build = out
            .entry("build".to_string())
            .or_insert_with(|| Node::str(".", pos));
        if let Value::Str(ctx) = &build.value {
            let mut bm = Map::default();
            bm.insert("context", Node::str(ctx.clone(), build.pos));
            build.value = Value::Map(bm);
        }
        if let Some(bm) = build.as_map_mut() {
            bm.insert("dockerfile", df);
        }
    }
    // v1 services are not on a compose network: they use the engine's default bridge.
    out.entry("network_mode".to_string())
        .or_insert_with(|| Node::str("bridge", pos));
    Node::map(out, pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn conv(text: &str) -> Result<Node, ComposeError> {
        let doc = parse(text, "docker-compose.yml").unwrap().remove(0);
        assert!(is_legacy(&doc));
        convert(doc, Path::new("docker-compose.yml"))
    }

    #[test]
    fn links_are_not_inherited_and_net_is_network_mode() {
        let n = conv(
            "base:\n  image: a\n  net: host\n  environment: [A=1, B=2]\napp:\n  extends:\n    service: base\n  environment: [B=3]\n",
        )
        .unwrap();
        let app = n.as_map().unwrap()["services"].as_map().unwrap()["app"]
            .as_map()
            .unwrap()
            .clone();
        assert_eq!(app["network_mode"].as_str(), Some("host"));
        assert!(!app.contains_key("extends"));
    }

    #[test]
    fn extending_a_service_with_links_is_an_error() {
        let e = conv(
            "base:\n  image: a\n  links: [db]\napp:\n  extends: {service: base}\ndb:\n  image: m\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("services with 'links' cannot be extended"),
            "{e}"
        );
        assert!(e.contains("base"), "{e}");
    }

    #[test]
    fn v2_files_are_not_legacy() {
        let d = parse("services:\n  a: {image: x}\n", "f")
            .unwrap()
            .remove(0);
        assert!(!is_legacy(&d));
        let d = parse("version: '2'\n", "f").unwrap().remove(0);
        assert!(!is_legacy(&d));
    }
}
