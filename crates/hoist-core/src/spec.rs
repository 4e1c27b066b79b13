//! Desired state in engine terms: what each service's containers, networks and volumes must look
//! like. Built from a loaded compose project (see `desired`), consumed by `reconcile`.
//!
//! `ContainerSpec` is everything that goes into one container-create call. Its canonical JSON is
//! the input of the configuration hash, so a change to any field recreates the container and
//! nothing else does.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Labels Docker Compose puts on what it creates; hoist uses the same so both see one project.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    pub const NUMBER: &str = "com.docker.compose.container-number";
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    pub const VERSION: &str = "com.docker.compose.version";
    pub const NETWORK: &str = "com.docker.compose.network";
    pub const VOLUME: &str = "com.docker.compose.volume";
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    pub const IMAGE: &str = "com.docker.compose.image";
    pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    /// On a one-off (`run`) container: its random slug, whose first twelve characters end
    /// its name.
    pub const SLUG: &str = "com.docker.compose.slug";
    /// On a recreated container: the container it replaced.
    pub const REPLACE: &str = "com.docker.compose.replace";
    /// hoist's own: the blue-green colour of a container.
    pub const COLOR: &str = "io.hoist.color";
    /// hoist's own: marks a project loaded from a legacy v1 file.
    pub const LEGACY: &str = "io.hoist.legacy-v1";
}

/// The compose version hoist declares in `com.docker.compose.version`.
pub const COMPOSE_VERSION_LABEL: &str = "2.40.3";

/// A whole project, ready to reconcile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectSpec {
    pub name: String,
    /// Loaded from a legacy v1 file: containers are named `project_service_N`, run on the default
    /// bridge and reach each other through legacy links.
    pub legacy: bool,
    /// `--compatibility` (or `COMPOSE_COMPATIBILITY`): containers are named `project_service_N`
    /// as Compose 1.x named them; nothing else changes.
    #[serde(default)]
    pub compatibility: bool,
    pub working_dir: String,
    pub config_files: Vec<String>,
    /// The `--env-file`s the project was loaded with, absolute (labelled on containers as
    /// Compose does).
    #[serde(default)]
    pub env_files: Vec<String>,
    /// In declaration order.
    pub services: Vec<ServiceSpec>,
    pub networks: Vec<NetworkSpec>,
    pub volumes: Vec<VolumeSpec>,
}

impl ProjectSpec {
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// What joins the parts of a container's name: `_` for legacy projects and in compatibility
    /// mode, else `-`.
    pub fn separator(&self) -> char {
        if self.legacy || self.compatibility {
            '_'
        } else {
            '-'
        }
    }

    /// The name of replica `number` of `service`, as Compose names it (`project-service-N`, or
    /// `project_service_N` for legacy projects), unless the service sets `container_name`.
    pub fn container_name(&self, service: &ServiceSpec, number: u32) -> String {
        if let Some(name) = &service.container_name {
            return name.clone();
        }
        let sep = self.separator();
        format!("{}{sep}{}{sep}{number}", self.name, service.name)
    }

    /// The name of a one-off (`run`) container.
    pub fn oneoff_name(&self, service: &str, suffix: &str) -> String {
        let sep = self.separator();
        format!("{}{sep}{service}{sep}run{sep}{suffix}", self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PullPolicy {
    Always,
    Never,
    #[default]
    Missing,
    Build,
    /// `daily`, `weekly`, `every_<duration>`: pulled when missing, or when the local image was
    /// last tagged at least this many seconds ago.
    Refresh(u64),
}

impl std::str::FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            "missing" | "if_not_present" => Ok(PullPolicy::Missing),
            "build" => Ok(PullPolicy::Build),
            "daily" => Ok(PullPolicy::Refresh(24 * 3600)),
            "weekly" => Ok(PullPolicy::Refresh(7 * 24 * 3600)),
            other => other
                .strip_prefix("every_")
                .and_then(refresh_interval)
                .map(PullPolicy::Refresh)
                .ok_or_else(|| {
                    format!(
                        "invalid pull policy {other:?}: expected always, missing, never, build, \
                         daily, weekly or every_<duration> (every_12h, every_1d6h)"
                    )
                }),
        }
    }
}

/// Seconds of an interval written as numbers with units, Compose's way (`1w`, `2d`, `12h`,
/// `1h30m`, `90s`); `None` when it is not one or is zero.
fn refresh_interval(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'w' => 7 * 24 * 3600,
            'd' => 24 * 3600,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    (number.is_empty() && total > 0).then_some(total)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildSpec {
    pub context: String,
    pub dockerfile: String,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
    pub required: bool,
    /// `depends_on.<svc>.restart`: restart this service when the dependency is restarted or
    /// recreated.
    #[serde(default)]
    pub restart: bool,
}

/// One service: how many containers, built from which spec, after which others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub name: String,
    pub image: String,
    pub pull_policy: PullPolicy,
    pub build: Option<BuildSpec>,
    pub replicas: u32,
    pub container_name: Option<String>,
    pub depends_on: Vec<Dependency>,
    /// Legacy links `service[:alias]`: on the default bridge they become engine links (which
    /// inject `ALIAS_PORT_*` variables); on user networks, aliases.
    pub links: Vec<Link>,
    /// Networks to attach, by full engine name, in order; empty with `network_mode`.
    pub networks: Vec<NetworkAttachment>,
    pub container: ContainerSpec,
    /// The compose file disables the image's health check (`disable: true` or `test: [NONE]`),
    /// so `service_healthy` can never be met.
    pub healthcheck_disabled: bool,
    pub stop_timeout_secs: Option<u64>,
    /// Commands run in each container right after it starts (`post_start`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<Hook>,
    /// Commands run in each running container right before it is stopped (`pre_stop`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<Hook>,
    /// What it takes from other services' containers (`service:NAME` references).
    #[serde(default)]
    pub shares: Vec<Share>,
}

/// A lifecycle hook: a command run inside the service's container.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Hook {
    pub command: Vec<String>,
    pub user: Option<String>,
    pub privileged: bool,
    pub working_dir: Option<String>,
    /// `KEY=VALUE` pairs.
    pub environment: Vec<String>,
}

/// A `service:NAME` reference: `volumes_from`, `network_mode`, `ipc` or `pid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub kind: ShareKind,
    pub service: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareKind {
    Volume,
    Network,
    Ipc,
    Pid,
}

impl ShareKind {
    /// As Compose words it: "cannot share {this} with service ...".
    pub fn what(self) -> &'static str {
        match self {
            ShareKind::Volume => "volume",
            ShareKind::Network => "network namespace",
            ShareKind::Ipc => "IPC namespace",
            ShareKind::Pid => "PID namespace",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub service: String,
    pub alias: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    /// Engine name (`project_default`).
    pub network: String,
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// `8080/tcp`.
    pub container_port: String,
    pub host_ip: Option<String>,
    /// `None` or empty: the engine picks a random host port.
    pub host_port: Option<String>,
}

/// A file written into a container before it starts: a secret's or config's content.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedFile {
    /// Absolute path inside the container.
    pub path: String,
    /// The bytes written. Serialised (for the configuration hash) as their SHA-256 only, so a
    /// changed secret recreates its containers while its value is in no serialised spec; a spec
    /// read back has none.
    #[serde(serialize_with = "content_digest", skip_deserializing)]
    pub content: std::sync::Arc<[u8]>,
    /// Permission bits.
    pub mode: u32,
    /// Owner user and group ids (`uid`, `gid`); root's when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<(u64, u64)>,
}

/// The content's place in a debug print: its length, never its bytes.
impl fmt::Debug for InjectedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InjectedFile")
            .field("path", &self.path)
            .field("content", &format_args!("<{} bytes>", self.content.len()))
            .field("mode", &format_args!("{:o}", self.mode))
            .field("owner", &self.owner)
            .finish()
    }
}

fn content_digest<S: serde::Serializer>(content: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::hash::sha256_hex(content))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Host path or engine volume name; empty for anonymous volumes and tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub create_host_path: bool,
    /// A bind that carries (empty) bind options, as Compose mounts secret files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bind_options: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthSpec {
    pub test: Vec<String>,
    pub interval_ns: Option<i64>,
    pub timeout_ns: Option<i64>,
    pub start_period_ns: Option<i64>,
    pub retries: Option<i64>,
    /// How often the check runs during the start period (Docker Engine 25 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval_ns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSpec {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// Everything in one container-create call, in engine terms. Hashed for change detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContainerSpec {
    pub image: String,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE`, sorted by key.
    pub env: Vec<String>,
    /// Service labels (without the compose bookkeeping labels, which are added at create time).
    pub labels: BTreeMap<String, String>,
    /// `8080/tcp`, sorted.
    pub exposed_ports: Vec<String>,
    pub ports: Vec<PortBinding>,
    pub mounts: Vec<MountSpec>,
    /// Secrets and configs (from `file`, `environment` or `content`): written into the container
    /// after it is created, before it starts, on local and remote engines alike.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InjectedFile>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub tty: bool,
    pub stdin_open: bool,
    pub privileged: bool,
    pub init: Option<bool>,
    pub read_only: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub security_opt: Vec<String>,
    pub restart: Option<String>,
    pub healthcheck: Option<HealthSpec>,
    pub healthcheck_disabled: bool,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    /// `bridge`, `host`, `none`, `container:<name>`; `None` with user networks.
    pub network_mode: Option<String>,
    pub tmpfs: BTreeMap<String, String>,
    pub shm_size: Option<i64>,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub logging: Option<LogSpec>,
    pub sysctls: BTreeMap<String, String>,
    pub ulimits: BTreeMap<String, (i64, i64)>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub devices: Vec<String>,
    pub group_add: Vec<String>,
    pub platform: Option<String>,
    pub mac_address: Option<String>,
    /// Containers (by name, optionally `:ro`) whose volumes this one mounts.
    pub volumes_from: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// The key in the compose file (`default`).
    pub key: String,
    /// Engine name (`project_default`).
    pub name: String,
    pub driver: Option<String>,
    pub external: bool,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    pub driver_opts: BTreeMap<String, String>,
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub key: String,
    pub name: String,
    pub driver: Option<String>,
    pub external: bool,
    pub labels: BTreeMap<String, String>,
    pub driver_opts: BTreeMap<String, String>,
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullPolicy::Always => f.write_str("always"),
            PullPolicy::Never => f.write_str("never"),
            PullPolicy::Missing => f.write_str("missing"),
            PullPolicy::Build => f.write_str("build"),
            PullPolicy::Refresh(seconds) => write!(f, "every_{seconds}s"),
        }
    }
}
