//! Settings resolved once from flags and environment, then passed explicitly.

use std::path::PathBuf;

use hoist_docker::{EngineSpec, TlsFiles};

use crate::cli::GlobalArgs;

/// The environment variables hoist reads, captured once so that tests can pass their own.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    pub docker_host: Option<String>,
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
            docker_tls_verify: get("DOCKER_TLS_VERIFY"),
            docker_cert_path: get("DOCKER_CERT_PATH"),
            trust_insecure_host: get("HOIST_TRUST_INSECURE_HOST"),
            home: get("HOME"),
            all: std::env::vars().collect(),
        }
    }
}

/// Which engine to talk to, from `-H`/`--tls*` flags over `DOCKER_*` variables, as the docker CLI
/// resolves them.
pub fn engine_spec(global: &GlobalArgs, env: &EnvVars) -> EngineSpec {
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
            docker_tls_verify: Some("1".into()),
            docker_cert_path: Some("/certs".into()),
            trust_insecure_host: Some("a, b".into()),
            home: None,
            all: Default::default(),
        };
        let spec = engine_spec(&GlobalArgs::default(), &env);
        assert_eq!(spec.host, "tcp://prod:2376");
        assert_eq!(spec.tls.unwrap().ca, PathBuf::from("/certs/ca.pem"));
        assert_eq!(spec.trusted_insecure_hosts, vec!["a", "b"]);

        let global = GlobalArgs {
            host: Some("unix:///tmp/d.sock".into()),
            ..Default::default()
        };
        let spec = engine_spec(&global, &EnvVars::default());
        assert_eq!(spec.host, "unix:///tmp/d.sock");
        assert!(spec.tls.is_none());
    }
}
