//! Settings resolved once from flags and environment, then passed explicitly.

use std::path::PathBuf;

use hoist_docker::{EngineSpec, TlsFiles};

use crate::cli::GlobalArgs;

/// The environment variables hoist reads, captured once so that tests can pass their own.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`: the docker context to use when neither `-H`, `--context` nor
    /// `DOCKER_HOST` says otherwise.
    pub docker_context: Option<String>,
    /// `DOCKER_CONFIG`: the docker CLI's configuration folder (contexts, credentials).
    pub docker_config: Option<String>,
    pub docker_tls_verify: Option<String>,
    pub docker_cert_path: Option<String>,
    pub trust_insecure_host: Option<String>,
    pub home: Option<String>,
    /// The whole process environment, for compose interpolation.
    pub all: std::collections::BTreeMap<String, String>,
}

impl EnvVars {
    pub fn from_process() -> EnvVars {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        EnvVars {
            docker_host: get("DOCKER_HOST"),
            docker_context: get("DOCKER_CONTEXT"),
            docker_config: get("DOCKER_CONFIG"),
            docker_tls_verify: get("DOCKER_TLS_VERIFY"),
            docker_cert_path: get("DOCKER_CERT_PATH"),
            trust_insecure_host: get("HOIST_TRUST_INSECURE_HOST"),
            home: get("HOME"),
            all: std::env::vars().collect(),
        }
    }
}

/// Which engine to talk to, as the docker CLI resolves it: `-H`/`--tls*`, a docker context
/// (`--context`, `DOCKER_CONTEXT`, the current one), or `DOCKER_*` variables.
pub fn engine_spec(global: &GlobalArgs, env: &EnvVars) -> anyhow::Result<EngineSpec> {
    use crate::docker_context as ctx;
    let store = ctx::config_dir(env.docker_config.as_deref(), env.home.as_deref());
    let needs_current =
        global.host.is_none() && global.context.is_none() && env.docker_host.is_none();
    let current = match needs_current && env.docker_context.is_none() {
        true => ctx::current(&store).map_err(anyhow::Error::msg)?,
        false => None,
    };
    let name = chosen_context(global, env, current.as_deref())?;
    if name == ctx::DEFAULT {
        return Ok(from_flags_and_env(global, env));
    }
    let context = ctx::read(&store, &name).map_err(anyhow::Error::msg)?;
    if context.skip_tls_verify {
        anyhow::bail!(
            "context \"{name}\" skips TLS verification; hoist verifies the engine's certificate \
             (recreate the context with its CA: `docker context create ... --docker ca=...`)"
        );
    }
    Ok(EngineSpec {
        host: context.host,
        tls: context.tls,
        trusted_insecure_hosts: trusted_insecure_hosts(global, env),
    })
}

/// The context the flags and environment choose, with the docker CLI's precedence; `current`
/// is `currentContext` of the config file.
pub fn chosen_context(
    global: &GlobalArgs,
    env: &EnvVars,
    current: Option<&str>,
) -> anyhow::Result<String> {
    crate::docker_context::chosen_name(
        global.host.is_some(),
        global.context.as_deref(),
        env.docker_host.is_some(),
        env.docker_context.as_deref(),
        current,
    )
    .map_err(anyhow::Error::msg)
}

/// The default context: `-H`/`--tls*` flags over `DOCKER_*` variables.
fn from_flags_and_env(global: &GlobalArgs, env: &EnvVars) -> EngineSpec {
    let host = global
        .host
        .clone()
        .or_else(|| env.docker_host.clone())
        .unwrap_or_else(|| EngineSpec::local().host);
    let tls_flags = global.tlsverify
        || global.tlscacert.is_some()
        || global.tlscert.is_some()
        || global.tlskey.is_some();
    let env_verify = env.docker_tls_verify.is_some();
    let tls = if tls_flags || env_verify {
        let dir = env
            .docker_cert_path
            .clone()
            .map(PathBuf::from)
            .or_else(|| env.home.as_ref().map(|h| PathBuf::from(h).join(".docker")))
            .unwrap_or_else(|| PathBuf::from(".docker"));
        let defaults = TlsFiles::in_dir(&dir);
        Some(TlsFiles {
            ca: global.tlscacert.clone().unwrap_or(defaults.ca),
            cert: global.tlscert.clone().unwrap_or(defaults.cert),
            key: global.tlskey.clone().unwrap_or(defaults.key),
        })
    } else {
        None
    };
    EngineSpec {
        host,
        tls,
        trusted_insecure_hosts: trusted_insecure_hosts(global, env),
    }
}

/// The hosts the person running hoist trusts for plain TCP: `--trust-insecure-host` and the
/// comma-separated `HOIST_TRUST_INSECURE_HOST`. The only source of that trust: `hoist.yml`
/// targets get it from here too.
pub fn trusted_insecure_hosts(global: &GlobalArgs, env: &EnvVars) -> Vec<String> {
    let mut trusted = global.trust_insecure_host.clone();
    if let Some(list) = &env.trust_insecure_host {
        trusted.extend(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    trusted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_environment_and_tls_comes_from_cert_path() {
        let env = EnvVars {
            docker_host: Some("tcp://prod:2376".into()),
            docker_context: None,
            docker_config: None,
            docker_tls_verify: Some("1".into()),
            docker_cert_path: Some("/certs".into()),
            trust_insecure_host: Some("a, b".into()),
            home: None,
            all: Default::default(),
        };
        let spec = engine_spec(&GlobalArgs::default(), &env).unwrap();
        assert_eq!(spec.host, "tcp://prod:2376");
        assert_eq!(spec.tls.unwrap().ca, PathBuf::from("/certs/ca.pem"));
        assert_eq!(spec.trusted_insecure_hosts, vec!["a", "b"]);

        let global = GlobalArgs {
            host: Some("unix:///tmp/d.sock".into()),
            ..Default::default()
        };
        let spec = engine_spec(&global, &EnvVars::default()).unwrap();
        assert_eq!(spec.host, "unix:///tmp/d.sock");
        assert!(spec.tls.is_none());
    }
}
