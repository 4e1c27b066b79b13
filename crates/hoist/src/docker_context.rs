//! Docker contexts, read from the docker CLI's own store so that `hoist --context prod` (or
//! `DOCKER_CONTEXT`, or the current context of `docker context use`) reaches the engine the
//! user already set up. hoist reads contexts and never writes them: `docker context create`
//! stays the way to make one.
//!
//! The store, as the docker CLI keeps it: `$DOCKER_CONFIG` (else `~/.docker`) holds
//! `config.json` (`currentContext`) and `contexts/meta/<sha256 of the name>/meta.json` (the
//! endpoint), with the TLS material in `contexts/tls/<same id>/docker/{ca,cert,key}.pem`.

use std::path::{Path, PathBuf};

use hoist_docker::TlsFiles;
use serde::Deserialize;

/// The context the docker CLI has no file for: `DOCKER_HOST` and the `DOCKER_TLS_*` variables.
pub const DEFAULT: &str = "default";

/// Which context applies, with the docker CLI's precedence: `-H` (then no context),
/// `--context`, a set `DOCKER_HOST` (the default context), `DOCKER_CONTEXT`, the store's current
/// context, else the default one. `-H` together with `--context` is refused, as docker does.
pub fn chosen_name(
    host_flag: bool,
    context_flag: Option<&str>,
    docker_host_set: bool,
    docker_context: Option<&str>,
    current: Option<&str>,
) -> Result<String, String> {
    match (host_flag, context_flag) {
        (true, Some(_)) => {
            return Err("conflicting options: either specify --host or --context, not both".into());
        }
        (true, None) => return Ok(DEFAULT.into()),
        (false, Some(name)) => return Ok(name.into()),
        (false, None) => {}
    }
    if docker_host_set {
        return Ok(DEFAULT.into());
    }
    Ok(docker_context
        .or(current)
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT)
        .to_string())
}

/// The docker CLI's configuration folder: `DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(docker_config: Option<&str>, home: Option<&str>) -> PathBuf {
    match (docker_config, home) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(home)) => Path::new(home).join(".docker"),
        (None, None) => PathBuf::from(".docker"),
    }
}

/// `currentContext` of `config.json`, when the file and the key are there.
pub fn current(dir: &Path) -> Result<Option<String>, String> {
    let path = dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading {}: {e}", path.display())),
    };
    let config: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    Ok(config["currentContext"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from))
}

/// One stored context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub name: String,
    pub description: String,
    /// The docker endpoint's address (`tcp://...`, `unix://...`, `ssh://...`).
    pub host: String,
    /// The endpoint's TLS files, when the store holds them.
    pub tls: Option<TlsFiles>,
    pub skip_tls_verify: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Meta {
    name: String,
    #[serde(default)]
    metadata: serde_json::Value,
    #[serde(default)]
    endpoints: std::collections::BTreeMap<String, Endpoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Endpoint {
    #[serde(default)]
    host: String,
    #[serde(default, rename = "SkipTLSVerify")]
    skip_tls_verify: bool,
}

/// A context's folder name in the store: the hex SHA-256 of its name.
fn id(name: &str) -> String {
    hoist_core::hash::sha256_hex(name.as_bytes())
}

/// Reads context `name` from the store in `dir`.
pub fn read(dir: &Path, name: &str) -> Result<Context, String> {
    let meta_dir = dir.join("contexts/meta").join(id(name));
    let path = meta_dir.join("meta.json");
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "context \"{name}\" does not exist (no {}; `hoist context ls` lists them)",
            path.display()
        ),
        _ => format!("context \"{name}\": reading {}: {e}", path.display()),
    })?;
    parse(&text, dir, &path)
}

fn parse(text: &str, dir: &Path, path: &Path) -> Result<Context, String> {
    let meta: Meta = serde_json::from_str(text)
        .map_err(|e| format!("{} is not a context's metadata: {e}", path.display()))?;
    let name = meta.name;
    let endpoint = meta.endpoints.get("docker").ok_or_else(|| {
        format!(
            "context \"{name}\" has no docker endpoint ({})",
            path.display()
        )
    })?;
    let tls_dir = dir.join("contexts/tls").join(id(&name)).join("docker");
    let files = TlsFiles::in_dir(&tls_dir);
    let has = |p: &Path| p.is_file();
    let tls = (has(&files.ca) || has(&files.cert) || has(&files.key)).then_some(files);
    Ok(Context {
        description: meta.metadata["Description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        host: endpoint.host.clone(),
        tls,
        skip_tls_verify: endpoint.skip_tls_verify,
        name,
    })
}

/// Every stored context, sorted by name.
pub fn list(dir: &Path) -> Result<Vec<Context>, String> {
    let meta = dir.join("contexts/meta");
    let entries = match std::fs::read_dir(&meta) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("reading {}: {e}", meta.display())),
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join("meta.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        found.push(parse(&text, dir, &path)?);
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_clis_precedence_decides_the_context() {
        let pick = |h, c, dh, dc, cur| chosen_name(h, c, dh, dc, cur);
        assert_eq!(
            pick(true, None, true, Some("x"), Some("y")).unwrap(),
            "default"
        );
        assert!(pick(true, Some("a"), false, None, None).is_err());
        assert_eq!(
            pick(false, Some("a"), true, Some("x"), Some("y")).unwrap(),
            "a"
        );
        assert_eq!(
            pick(false, None, true, Some("x"), Some("y")).unwrap(),
            "default"
        );
        assert_eq!(pick(false, None, false, Some("x"), Some("y")).unwrap(), "x");
        assert_eq!(pick(false, None, false, None, Some("y")).unwrap(), "y");
        assert_eq!(pick(false, None, false, None, None).unwrap(), "default");
    }

    #[test]
    fn a_context_is_read_from_its_hashed_folder_with_its_tls_files() {
        let dir = tempfile::tempdir().unwrap();
        // The folders the docker CLI 28 made for contexts named `prodtls` and `plain`.
        assert_eq!(
            id("prodtls"),
            "707f3b736c6b3d8ed3ec363346f0cec384e7f6cee8757b5f43787af2533c4545"
        );
        assert_eq!(
            id("plain"),
            "a116c9ed46d6207734a43317d30fd88f52ac8634c37d904bbf4e41d865f90475"
        );
        let id = id("prod");
        let meta = dir.path().join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"prod","Metadata":{"Description":"the prod host"},"Endpoints":{"docker":{"Host":"tcp://10.0.0.1:2376","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let ctx = read(dir.path(), "prod").unwrap();
        assert_eq!(ctx.host, "tcp://10.0.0.1:2376");
        assert_eq!(ctx.description, "the prod host");
        assert!(ctx.tls.is_none());
        let tls = dir.path().join("contexts/tls").join(&id).join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let ctx = read(dir.path(), "prod").unwrap();
        assert_eq!(ctx.tls.unwrap().ca, tls.join("ca.pem"));
        let err = read(dir.path(), "nope").unwrap_err();
        assert!(err.contains("context \"nope\" does not exist"), "{err}");
        assert_eq!(list(dir.path()).unwrap().len(), 1);
    }
}
