//! The typed project. It is derived with serde from the canonical tree that `hoist config` prints
//! (consuming it), so the model can never disagree with that output. Values are what the engine
//! receives (compose prints a literal `$` as `$$`; the model holds `$`). Keys compose fills in
//! are not optional here; keys that are truly optional are. Everything not modelled explicitly
//! stays available in `extra`.

use std::path::PathBuf;

use indexmap::IndexMap;

pub use crate::vecmap::VecMap;

/// The project's maps of services and resources: in compose's order, hashed with foldhash (the
/// keys are names from compose files). The small maps inside a service are [`VecMap`]s.
pub type OrderedMap<K, V> = IndexMap<K, V, foldhash::fast::RandomState>;
use serde::Deserialize;

// Values of `extra` maps are values of the printed tree.
pub use crate::json::Str;
use crate::json::Value as J;

/// A resolved compose project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The normalised project name.
    pub name: String,
    /// Read from a legacy v1 file: containers are named `project_service_1`, run on the default
    /// bridge network and use legacy links.
    pub legacy: bool,
    pub project_dir: PathBuf,
    /// The compose files read, in order.
    pub files: Vec<PathBuf>,
    pub services: OrderedMap<Str, Service>,
    pub networks: OrderedMap<Str, Network>,
    pub volumes: OrderedMap<Str, Volume>,
    pub secrets: OrderedMap<Str, FileObject>,
    pub configs: OrderedMap<Str, FileObject>,
    /// Warnings compose would print (unset variables, obsolete `version`).
    pub warnings: Vec<String>,
    /// The variables interpolation saw (`.env`/`--env-file` under the process environment).
    pub env: std::collections::BTreeMap<String, String>,
}

impl Project {
    /// Service names in compose's order (sorted).
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(Str::as_str)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }
}

/// One service.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Service {
    /// Filled from the key of the services map.
    #[serde(skip)]
    pub name: Str,
    pub image: Option<Str>,
    pub build: Option<Build>,
    /// `None` when unset (the image's default applies), `Some(vec![])` for an explicit empty one.
    pub command: Option<Vec<Str>>,
    pub entrypoint: Option<Vec<Str>>,
    /// `None` values are declared but unset variables.
    pub environment: VecMap<Option<Str>>,
    pub ports: Vec<Port>,
    pub expose: Vec<Str>,
    pub volumes: Vec<Mount>,
    /// Networks the service joins; empty when `network_mode` is set.
    pub networks: VecMap<Option<ServiceNetwork>>,
    pub depends_on: VecMap<Dependency>,
    /// Legacy links, `service[:alias]`.
    pub links: Vec<Str>,
    pub external_links: Vec<Str>,
    pub healthcheck: Option<Healthcheck>,
    pub labels: VecMap<Str>,
    pub restart: Option<Str>,
    pub container_name: Option<Str>,
    pub network_mode: Option<Str>,
    pub hostname: Option<Str>,
    pub user: Option<Str>,
    pub working_dir: Option<Str>,
    pub volumes_from: Vec<Str>,
    pub deploy: Option<Deploy>,
    pub logging: Option<Logging>,
    pub profiles: Vec<Str>,
    pub scale: Option<i64>,
    pub stop_grace_period: Option<Str>,
    pub stop_signal: Option<Str>,
    pub tty: bool,
    pub stdin_open: bool,
    pub privileged: bool,
    pub read_only: bool,
    pub secrets: Vec<ServiceFileRef>,
    pub configs: Vec<ServiceFileRef>,
    /// Every other key, as compose prints it.
    #[serde(skip)]
    pub extra: VecMap<J>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Build {
    pub context: Str,
    pub dockerfile: Option<Str>,
    pub dockerfile_inline: Option<Str>,
    pub args: VecMap<Str>,
    pub target: Option<Str>,
    pub labels: VecMap<Str>,
    pub tags: Vec<Str>,
    #[serde(skip)]
    pub extra: VecMap<J>,
}

/// A published or exposed port in long syntax.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Port {
    pub mode: Str,
    pub host_ip: Option<Str>,
    pub target: u32,
    /// Host port or range; `None` lets the engine pick one.
    pub published: Option<Str>,
    pub protocol: Str,
    pub name: Option<Str>,
    pub app_protocol: Option<Str>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: Str,
    pub source: Option<Str>,
    pub target: Str,
    pub read_only: bool,
    #[serde(skip)]
    pub extra: VecMap<J>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ServiceNetwork {
    pub aliases: Vec<Str>,
    pub ipv4_address: Option<Str>,
    pub ipv6_address: Option<Str>,
    #[serde(skip)]
    pub extra: VecMap<J>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Dependency {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: Str,
    pub required: bool,
    /// Restart this service when the dependency restarts (set for links).
    pub restart: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Healthcheck {
    pub test: Vec<Str>,
    /// Go duration text (`10s`, `1m30s`).
    pub interval: Option<Str>,
    pub timeout: Option<Str>,
    pub retries: Option<u64>,
    pub start_period: Option<Str>,
    pub start_interval: Option<Str>,
    pub disable: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Deploy {
    pub mode: Option<Str>,
    pub replicas: Option<i64>,
    pub labels: VecMap<Str>,
    pub resources: J,
    pub restart_policy: Option<J>,
    #[serde(skip)]
    pub extra: VecMap<J>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Logging {
    pub driver: Option<Str>,
    pub options: VecMap<Option<Str>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ServiceFileRef {
    pub source: Str,
    pub target: Option<Str>,
    pub uid: Option<Str>,
    pub gid: Option<Str>,
    pub mode: Option<Str>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Network {
    /// The engine-side name (`project_key` unless set).
    pub name: Str,
    pub driver: Option<Str>,
    pub external: bool,
    pub labels: VecMap<Str>,
    #[serde(flatten)]
    pub extra: VecMap<J>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct Volume {
    pub name: Str,
    pub driver: Option<Str>,
    pub external: bool,
    pub labels: VecMap<Str>,
    #[serde(flatten)]
    pub extra: VecMap<J>,
}

/// A top-level secret or config.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct FileObject {
    pub name: Str,
    pub file: Option<Str>,
    pub environment: Option<Str>,
    pub content: Option<Str>,
    pub external: bool,
    #[serde(flatten)]
    pub extra: VecMap<J>,
    /// The bytes of a `file:` source, read by [`crate::load`] for the services the command
    /// uses (`None`: not read), or why they could not be read. Never printed.
    #[serde(skip)]
    pub data: Option<FileData>,
}

/// The content of a `file:` secret or config, or why it could not be read (the reason names the
/// file, never its bytes).
pub type FileData = Result<std::sync::Arc<[u8]>, String>;

/// Moves the entries of `obj` that the typed struct does not model out of it, for its `extra`
/// map. Done by hand because serde's `flatten` is slow on projects with hundreds of services;
/// the derive then reads only the modelled keys.
pub(crate) fn take_extra(obj: &mut J, known: fn(&str) -> bool) -> VecMap<J> {
    match obj {
        J::Object(m) if m.keys().any(|k| !known(k)) => {
            VecMap::from_distinct(m.extract(|k| !known(k)))
        }
        _ => VecMap::new(),
    }
}

fn service_field(k: &str) -> bool {
    matches!(
        k,
        "image"
            | "build"
            | "command"
            | "entrypoint"
            | "environment"
            | "ports"
            | "expose"
            | "volumes"
            | "networks"
            | "depends_on"
            | "links"
            | "external_links"
            | "healthcheck"
            | "labels"
            | "restart"
            | "container_name"
            | "network_mode"
            | "hostname"
            | "user"
            | "working_dir"
            | "volumes_from"
            | "deploy"
            | "logging"
            | "profiles"
            | "scale"
            | "stop_grace_period"
            | "stop_signal"
            | "tty"
            | "stdin_open"
            | "privileged"
            | "read_only"
            | "secrets"
            | "configs"
    )
}

fn build_field(k: &str) -> bool {
    matches!(
        k,
        "context" | "dockerfile" | "dockerfile_inline" | "args" | "target" | "labels" | "tags"
    )
}

fn mount_field(k: &str) -> bool {
    matches!(k, "type" | "source" | "target" | "read_only")
}

fn network_field(k: &str) -> bool {
    matches!(k, "aliases" | "ipv4_address" | "ipv6_address")
}

fn deploy_field(k: &str) -> bool {
    matches!(
        k,
        "mode" | "replicas" | "labels" | "resources" | "restart_policy"
    )
}

/// The `extra` maps of one service, moved out of its tree before the derive reads the rest.
struct Extras {
    service: VecMap<J>,
    build: VecMap<J>,
    deploy: VecMap<J>,
    volumes: Vec<VecMap<J>>,
    networks: VecMap<VecMap<J>>,
}

impl Extras {
    fn take(json: &mut J) -> Extras {
        Extras {
            service: take_extra(json, service_field),
            build: json
                .get_mut("build")
                .map(|j| take_extra(j, build_field))
                .unwrap_or_default(),
            deploy: json
                .get_mut("deploy")
                .map(|j| take_extra(j, deploy_field))
                .unwrap_or_default(),
            volumes: match json.get_mut("volumes") {
                Some(J::Array(vols)) => vols
                    .iter_mut()
                    .map(|j| take_extra(j, mount_field))
                    .collect(),
                _ => Vec::new(),
            },
            networks: match json.get_mut("networks") {
                Some(J::Object(nets)) => nets
                    .iter_mut()
                    .map(|(k, j)| (k.clone(), take_extra(j, network_field)))
                    .collect(),
                _ => VecMap::new(),
            },
        }
    }

    /// Fills the `extra` maps the derive skipped.
    fn fill(self, svc: &mut Service) {
        svc.extra = self.service;
        if let Some(b) = svc.build.as_mut() {
            b.extra = self.build;
        }
        if let Some(d) = svc.deploy.as_mut() {
            d.extra = self.deploy;
        }
        for (m, extra) in svc.volumes.iter_mut().zip(self.volumes) {
            m.extra = extra;
        }
        let mut nets = self.networks;
        for (name, n) in svc.networks.iter_mut() {
            if let (Some(n), Some(extra)) = (n.as_mut(), nets.shift_remove(name)) {
                n.extra = extra;
            }
        }
    }
}

fn section<T: serde::de::DeserializeOwned>(
    root: &mut crate::json::Map,
    key: &str,
) -> Result<OrderedMap<Str, T>, serde_json::Error> {
    match root.remove(key) {
        Some(v) => OrderedMap::<Str, T>::deserialize(v),
        None => Ok(OrderedMap::default()),
    }
}

/// The typed project of a canonical tree.
pub(crate) fn project(c: crate::Canonical) -> Result<Project, crate::ComposeError> {
    let bad = |e: serde_json::Error| {
        crate::ComposeError::invalid(format!("invalid compose project: {e}"))
    };
    let J::Object(mut root) = c.json else {
        return Err(crate::ComposeError::invalid(
            "invalid compose project: not a mapping",
        ));
    };
    let mut services = OrderedMap::default();
    if let Some(J::Object(all)) = root.remove("services") {
        services.reserve(all.len());
        for (name, mut j) in all {
            let extras = Extras::take(&mut j);
            let mut svc = Service::deserialize(j).map_err(bad)?;
            extras.fill(&mut svc);
            svc.name = name;
            services.insert(svc.name.clone(), svc);
        }
    }
    Ok(Project {
        name: c.name,
        legacy: c.legacy,
        project_dir: c.project_dir,
        files: c.files,
        services,
        networks: section(&mut root, "networks").map_err(bad)?,
        volumes: section(&mut root, "volumes").map_err(bad)?,
        secrets: section(&mut root, "secrets").map_err(bad)?,
        configs: section(&mut root, "configs").map_err(bad)?,
        warnings: c.warnings,
        env: c.env,
    })
}
