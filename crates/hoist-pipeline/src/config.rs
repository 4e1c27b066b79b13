//! `hoist.yml`: the pipeline of one service, read beside its compose files.
//!
//! The file is parsed into the YAML tree of `hoist-compose` (which keeps file, line and column),
//! then resolved into [`PipelineFile`], whose invariants hold: every step present has exactly
//! one kind of work, every target has an address, and nothing downstream sees an `Option` that
//! cannot be `None`. Unknown keys are errors naming the file, the line and the key, so a typo
//! never silently turns a step into `skipped`.

use std::path::{Path, PathBuf};

use hoist_compose::yaml::{self, Node, Value};

use hoist_docker::{EngineSpec, TlsFiles};

use crate::proxy::tls::{AcmeSettings, RouteTls, TlsWant};
use crate::proxy::{Match, ProxySpec};
use crate::steps::StepId;
use crate::target_env::{self, TargetEnv};

/// A `hoist.yml` that cannot be used, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// A resolved `hoist.yml`.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineFile {
    pub path: PathBuf,
    /// The directory of the file: commands run there, relative paths start there.
    pub dir: PathBuf,
    /// The service's name (`books-ms`): the deploy lock, the history and the image names.
    pub service: String,
    /// Where images are pushed, as the cd engine sees the registry (`localhost:5000`).
    pub registry: String,
    /// Compose files for the one-off runs on the cd engine (steps 2, 3 and 8).
    pub dev_files: Vec<PathBuf>,
    /// Compose files deployed to the targets (step 6).
    pub deploy_files: Vec<PathBuf>,
    /// Compose project name on the targets; the directory's name otherwise, as compose does.
    pub project: Option<String>,
    pub targets: Vec<Target>,
    /// The nine steps in order; `None` where the file leaves a step out (`skipped`).
    pub steps: Vec<(StepId, Option<Work>)>,
    /// What runs around a release (`hooks:`).
    pub hooks: Hooks,
    /// Services a rollback leaves alone unless asked (`stateful: [db]`): their data outlives
    /// releases.
    pub stateful: Vec<String>,
}

/// Commands run around the deploy step's release, inside its deploy lock, their output in the
/// run's history (masked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Before anything is started or switched (database migrations); a failure stops the
    /// release there.
    pub pre_deploy: Option<Hook>,
    /// Once the new release serves.
    pub post_switch: Option<Hook>,
    /// After a release that succeeded (a notification).
    pub post_deploy: Option<Hook>,
    /// After a release, or a hook, that failed.
    pub on_failure: Option<Hook>,
}

/// One hook: a host command, or a one-off container of the new release's image on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// `command: ...`, run with `sh -c` in the file's directory.
    Host(String),
    /// `container: ...`: the deploy step's service as a one-off (`run --rm`, its dependencies
    /// up) with the new image and this command (a string goes to the image's `sh -c`).
    Container(Vec<String>),
}

impl Hooks {
    /// The hooks by their names in the file, in the order a release meets them.
    pub fn named(&self) -> [(&'static str, Option<&Hook>); 4] {
        [
            ("pre_deploy", self.pre_deploy.as_ref()),
            ("post_switch", self.post_switch.as_ref()),
            ("post_deploy", self.post_deploy.as_ref()),
            ("on_failure", self.on_failure.as_ref()),
        ]
    }
}

impl PipelineFile {
    /// The file with the hosts the person running hoist trusts for plain TCP
    /// (`--trust-insecure-host`, `HOIST_TRUST_INSECURE_HOST`) given to every target's engine.
    /// Only the binary calls this: the file itself cannot trust a host.
    pub fn with_user_trust(mut self, trusted_insecure_hosts: &[String]) -> PipelineFile {
        for target in &mut self.targets {
            target.trusted_insecure_hosts = trusted_insecure_hosts.to_vec();
            for host in &mut target.hosts {
                host.trusted_insecure_hosts = trusted_insecure_hosts.to_vec();
            }
        }
        self
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The integrate step's route on `target`: the step's, with the target's `route:` over it.
    pub fn integrate_for(&self, target: &Target) -> Option<Integrate> {
        let Some(Work::Integrate(step)) = self.work(StepId::Integrate) else {
            return None;
        };
        let mut integrate = step.clone();
        let Some(own) = &target.route else {
            return Some(integrate);
        };
        match (&own.path, &own.host) {
            (Some(path), _) => {
                integrate.path = Some(path.clone());
                integrate.host = None;
            }
            // A path route keeps its path on the default server and answers the host too.
            (None, Some(host)) if integrate.path.is_some() => {
                integrate.also_host = Some(host.clone())
            }
            (None, Some(host)) => integrate.host = Some(host.clone()),
            (None, None) => {}
        }
        if own.tls.is_some() {
            integrate.tls = own.tls.clone();
        }
        Some(integrate)
    }

    pub fn work(&self, step: StepId) -> Option<&Work> {
        self.steps
            .iter()
            .find(|(id, _)| *id == step)
            .and_then(|(_, w)| w.as_ref())
    }

    /// How step 6 releases the service on `target`: the target's `strategy`, else the deploy
    /// step's, else blue-green when step 7 integrates the service behind the proxy and
    /// recreate when it does not (there is no route to switch).
    pub fn strategy(&self, target: &Target) -> Strategy {
        let step = match self.work(StepId::Deploy) {
            Some(Work::Deploy { strategy, .. }) => *strategy,
            _ => None,
        };
        target.strategy.or(step).unwrap_or_else(|| {
            if matches!(self.work(StepId::Integrate), Some(Work::Integrate(_))) {
                Strategy::BlueGreen
            } else {
                Strategy::Recreate
            }
        })
    }
}

/// How the deploy step replaces the running release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The next colour starts beside the live one, is checked, takes the route, and the old
    /// colour stops: what `hoist deploy` does, with zero downtime.
    BlueGreen,
    /// The lifecycle `up`: the container is replaced in place, as Compose does (for services
    /// that cannot run twice at once).
    Recreate,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::BlueGreen => "blue-green",
            Strategy::Recreate => "recreate",
        }
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        match s {
            "blue-green" => Some(Strategy::BlueGreen),
            "recreate" => Some(Strategy::Recreate),
            _ => None,
        }
    }
}

/// A named place to deploy to.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    /// The engine, as for `-H` (`tcp://10.200.0.2:2375`).
    pub host: String,
    /// Directory with `ca.pem`, `cert.pem`, `key.pem`: TLS, as `DOCKER_CERT_PATH`.
    pub tls: Option<PathBuf>,
    /// The file's note that this target is reached over plain TCP. It trusts nothing: a file
    /// that travels with a repository must not open plain TCP to a remote host; the person
    /// running hoist does that with `--trust-insecure-host` (`trusted_insecure_hosts`).
    pub trust_insecure: bool,
    /// Hosts the person running hoist trusts for plain TCP, given by
    /// [`PipelineFile::with_user_trust`]; never read from the file.
    pub trusted_insecure_hosts: Vec<String>,
    /// The proxy's public URL, injected as `DOMAIN` into the post-deployment tests
    /// (`http://10.200.0.2`).
    pub public_address: String,
    /// The registry as this target's engine sees it (`10.200.0.1:5000`).
    pub registry: String,
    /// The host the proxy container reaches published ports at; the public address's host.
    pub upstream_host: String,
    pub proxy: ProxySpec,
    /// The deploy step's strategy on this target, over the file's (`strategy:`).
    pub strategy: Option<Strategy>,
    /// A target of several hosts (`hosts:`): each one's engine, proxy and addresses, in the
    /// order releases go. Empty for a target of one host, whose fields above are its own; a
    /// target of several has its first host's there.
    pub hosts: Vec<Target>,
    /// How many hosts a release changes at once (`batch:`, 1 by default).
    pub batch: usize,
    /// A Docker Swarm (`swarm:`): `host` is a manager, and a release is a rolling update of
    /// the service's tasks across the cluster.
    pub swarm: Option<SwarmSettings>,
    /// What the target adds to its runs' environment (`env:`, `secrets:`); empty on the hosts
    /// of a target of several, whose target holds it.
    pub environment: TargetEnv,
    /// The integrate step's route as this target has it (`route:`): another path or host,
    /// and HTTPS.
    pub route: Option<RouteOverride>,
    /// The ACME server certificates come from (`acme:`).
    pub acme: AcmeSettings,
    /// How many releases of the project stay restorable (`keep:`, 5).
    pub keep: usize,
}

/// A target's own route (`route: {host: books.test, tls: acme}`), over the integrate step's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOverride {
    pub path: Option<String>,
    pub host: Option<String>,
    pub tls: Option<TlsWant>,
}

/// How a release rolls over a Swarm service's tasks; what is not given comes from the compose
/// file's `deploy.update_config`, else Swarm's defaults with start-first and rollback.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwarmSettings {
    /// Tasks updated at once.
    pub parallelism: Option<u64>,
    /// Between two batches of tasks (`10s`).
    pub delay: Option<String>,
    /// How long each new task is watched for a failure (`5s`).
    pub monitor: Option<String>,
}

impl Target {
    /// The hosts a release goes to, in order: the target itself when it is one host.
    pub fn members(&self) -> Vec<&Target> {
        if self.hosts.is_empty() {
            vec![self]
        } else {
            self.hosts.iter().collect()
        }
    }

    /// Whether the target lists `hosts:`.
    pub fn is_fleet(&self) -> bool {
        !self.hosts.is_empty()
    }

    /// How to reach the target's engine: its address, its TLS files, and the hosts the user
    /// trusts for plain TCP (the file's `trust_insecure` adds none).
    pub fn engine_spec(&self) -> EngineSpec {
        EngineSpec {
            host: self.host.clone(),
            tls: self.tls.as_deref().map(TlsFiles::in_dir),
            trusted_insecure_hosts: self.trusted_insecure_hosts.clone(),
        }
    }
}

/// The work of one step.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Step 1's own work: record the commit of the repository the file lives in.
    Checkout,
    /// A host command, run with `sh -c` in the file's directory.
    Command(String),
    /// A compose service of the dev files as a one-off (`run --rm`), with extra environment.
    Run {
        service: String,
        env: Vec<String>,
        /// Run it again on failure until it passes or this many seconds passed: tests against
        /// a service that was just started with them.
        retry_for: Option<u64>,
    },
    /// Images to build, each tagged with the commit and `latest`.
    Build(Vec<ImageBuild>),
    /// Image names (without registry) to push, both tags.
    Push(Vec<String>),
    /// A service of the deploy files, released on the target with the commit's tag.
    Deploy {
        service: String,
        /// `strategy:`; see [`PipelineFile::strategy`] for the default.
        strategy: Option<Strategy>,
        /// Blue-green: the path that must answer 200 on the new colour before it takes traffic,
        /// and through the proxy after (the pre- and post-integration tests); the integrate
        /// step's path by default.
        health_path: Option<String>,
        /// Blue-green: seconds the new colour gets to become healthy.
        health_timeout: u64,
        /// Blue-green: seconds in-flight requests get on the old colour after the switch.
        drain: u64,
    },
    /// Route the deployed service through the target's proxy.
    Integrate(Integrate),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageBuild {
    /// `books-ms`: tagged `<registry>/books-ms:<commit>` and `:latest`.
    pub name: String,
    pub context: PathBuf,
    pub dockerfile: Option<PathBuf>,
    pub args: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Integrate {
    /// A path prefix (`/api/v1/books`) or a host name.
    pub path: Option<String>,
    pub host: Option<String>,
    /// The service's container port that the engine publishes (`8080`).
    pub port: u16,
    /// Extra nginx directives for the route.
    pub directives: Vec<String>,
    /// HTTPS for the route's host (`tls: acme` or the user's files).
    pub tls: Option<TlsWant>,
    /// A host name the path route is also served for (a target's `route: {host: ...}`), in a
    /// server of its own, over HTTPS with `tls`.
    pub also_host: Option<String>,
}

impl Integrate {
    /// What the route matches: the path prefix or the host name (the file gives exactly one).
    pub fn matcher(&self) -> Match {
        match (&self.path, &self.host) {
            (Some(path), _) => Match::PathPrefix(path.clone()),
            (None, Some(host)) => Match::Host(host.clone()),
            (None, None) => Match::PathPrefix("/".into()),
        }
    }

    /// Where the route answers: `public_address` + path, or `http://host/` (`https://` and
    /// the host name once it has `tls`).
    pub fn url(&self, public_address: &str) -> String {
        match (&self.path, self.tls_host(), &self.tls) {
            (Some(path), Some(host), Some(_)) => format!("https://{host}{path}"),
            (Some(path), _, _) => format!("{public_address}{path}"),
            (None, Some(host), Some(_)) => format!("https://{host}/"),
            (None, Some(host), None) => format!("http://{host}/"),
            _ => String::new(),
        }
    }

    /// The host name the route's HTTPS is for: the target's added host, or the route's own.
    pub fn tls_host(&self) -> Option<&str> {
        self.also_host.as_deref().or(self.host.as_deref())
    }

    /// The route's HTTPS on a target whose ACME server is `acme`.
    pub fn route_tls(&self, acme: &AcmeSettings) -> Result<RouteTls, String> {
        let tls = match (&self.tls, self.tls_host()) {
            (None, _) => None,
            (Some(want), Some(host)) => Some((host.to_string(), want.clone())),
            (Some(_), None) => {
                return Err("tls needs a host name: the integrate step's `host`, or the target's `route: {host: ...}`".into());
            }
        };
        Ok(RouteTls {
            also_host: self.also_host.clone(),
            tls,
            acme: acme.clone(),
        })
    }
}

/// `hooks:`: each of `pre_deploy`, `post_switch`, `post_deploy`, `on_failure` is
/// `{command: STRING}` or `{container: STRING | [ARG, ...]}`.
fn hooks_of(node: &Node) -> Result<Hooks, ConfigError> {
    let f = Fields::new(
        node,
        "hooks",
        &["pre_deploy", "post_switch", "post_deploy", "on_failure"],
    )?;
    let one = |key: &str| -> Result<Option<Hook>, ConfigError> {
        let Some(node) = f.get(key) else {
            return Ok(None);
        };
        let h = Fields::new(node, "a hook", &["command", "container"])?;
        match (h.string("command")?, h.get("container")) {
            (Some(command), None) => Ok(Some(Hook::Host(command))),
            (None, Some(container)) => {
                let args = match container.scalar_string() {
                    Some(text) => vec!["sh".to_string(), "-c".to_string(), text],
                    None => h.strings("container")?.unwrap_or_default(),
                };
                if args.is_empty() {
                    return Err(err_at(container, format!("hooks.{key}.container is empty")));
                }
                Ok(Some(Hook::Container(args)))
            }
            _ => Err(err_at(
                node,
                format!(
                    "hooks.{key} is either `command: ...` (on this machine) or `container: ...` (a one-off of the new image on the target)"
                ),
            )),
        }
    };
    Ok(Hooks {
        pre_deploy: one("pre_deploy")?,
        post_switch: one("post_switch")?,
        post_deploy: one("post_deploy")?,
        on_failure: one("on_failure")?,
    })
}

/// Reads and resolves `path`.
pub fn load(path: &Path) -> Result<PipelineFile, ConfigError> {
    // Absolute, so that the compose project's default name (the directory's) is never empty.
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = absolute.as_path();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 0,
        col: 0,
        message: e.to_string(),
    })?;
    parse(&text, path)
}

/// Resolves the text of a `hoist.yml` found at `path`.
pub fn parse(text: &str, path: &Path) -> Result<PipelineFile, ConfigError> {
    let file = path.display().to_string();
    let docs = yaml::parse(text, &file).map_err(|e| match e {
        // The YAML error's own place, said once.
        hoist_compose::ComposeError::Yaml { loc, message } => ConfigError {
            file: file.clone(),
            line: loc.line,
            col: loc.col,
            message: format!("yaml: {message}"),
        },
        other => ConfigError {
            file: file.clone(),
            line: 0,
            col: 0,
            message: other.to_string(),
        },
    })?;
    let root = docs.into_iter().next().ok_or_else(|| ConfigError {
        file: file.clone(),
        line: 1,
        col: 1,
        message: "the file is empty".into(),
    })?;
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let top = Fields::new(
        &root,
        "the file",
        &[
            "service", "registry", "compose", "project", "targets", "steps", "hooks", "stateful",
        ],
    )?;
    let stateful = top.strings("stateful")?.unwrap_or_default();
    let hooks = match top.get("hooks") {
        Some(node) => hooks_of(node)?,
        None => Hooks::default(),
    };
    let service = top
        .string("service")?
        .ok_or_else(|| top.missing("service"))?;
    let registry = top
        .string("registry")?
        .ok_or_else(|| top.missing("registry"))?;
    let (dev_files, deploy_files) = match top.get("compose") {
        Some(node) => {
            let compose = Fields::new(node, "compose", &["dev", "deploy"])?;
            (
                compose.strings("dev")?.unwrap_or_default(),
                compose.strings("deploy")?.unwrap_or_default(),
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let dev_files = or_default(dev_files, "docker-compose-dev.yml", &dir);
    let deploy_files = or_default(deploy_files, "docker-compose.yml", &dir);
    let project = top.string("project")?;

    let mut targets = Vec::new();
    if let Some(node) = top.get("targets") {
        let map = node
            .as_map()
            .ok_or_else(|| err_at(node, "targets must be a mapping of names"))?;
        for (name, node) in map.iter() {
            targets.push(target(name, node, &registry, &dir)?);
        }
    }

    let mut steps: Vec<(StepId, Option<Work>)> = StepId::ALL.iter().map(|s| (*s, None)).collect();
    if let Some(node) = top.get("steps") {
        let map = node
            .as_map()
            .ok_or_else(|| err_at(node, "steps must be a mapping of step names"))?;
        for (key, node) in map.iter() {
            let id = StepId::ALL
                .iter()
                .copied()
                .find(|s| s.key() == key)
                .ok_or_else(|| {
                    err_key(
                        node,
                        format!(
                            "unknown step {key:?} (the steps are {})",
                            StepId::ALL
                                .iter()
                                .map(|s| s.key())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
            steps[id.index()].1 = Some(work(id, node, &dir)?);
        }
    }
    // Blue-green switches the route step 7 defines: without one there is nothing to switch.
    let integrated = steps[StepId::Integrate.index()].1.is_some();
    if !integrated {
        let deploy_node = top
            .get("steps")
            .and_then(|n| n.as_map())
            .and_then(|m| m.get("deploy"));
        let mut explicit: Vec<&Node> = deploy_node.into_iter().collect();
        if let Some(map) = top.get("targets").and_then(|n| n.as_map()) {
            explicit.extend(map.iter().map(|(_, n)| n));
        }
        for node in explicit {
            if let Some(strategy) = node.as_map().and_then(|m| m.get("strategy"))
                && strategy.scalar_string().as_deref() == Some(Strategy::BlueGreen.as_str())
            {
                return Err(err_at(
                    strategy,
                    "strategy blue-green switches the proxy route of the integrate step, \
                     and this file has no integrate step",
                ));
            }
        }
    }
    Ok(PipelineFile {
        path: path.to_path_buf(),
        dir,
        service,
        registry,
        dev_files,
        deploy_files,
        project,
        targets,
        steps,
        hooks,
        stateful,
    })
}

fn or_default(files: Vec<String>, default: &str, dir: &Path) -> Vec<PathBuf> {
    let files = if files.is_empty() {
        vec![default.to_string()]
    } else {
        files
    };
    files.into_iter().map(|f| dir.join(f)).collect()
}

fn target(name: &str, node: &Node, registry: &str, dir: &Path) -> Result<Target, ConfigError> {
    let f = Fields::new(
        node,
        "a target",
        &[
            "env",
            "secrets",
            "host",
            "tls",
            "trust_insecure",
            "public_address",
            "registry",
            "upstream_host",
            "proxy",
            "strategy",
            "hosts",
            "batch",
            "swarm",
            "route",
            "acme",
            "keep",
        ],
    )?;
    let environment = target_env(name, &f)?;
    let mut target = target_engines(name, &f, registry)?;
    target.environment = environment;
    if let Some(node) = f.get("route") {
        if target.swarm.is_some() {
            return Err(err_key(
                node,
                format!("target {name} is a Swarm: its route comes from steps.integrate"),
            ));
        }
        target.route = Some(route_override(node, dir)?);
    }
    if let Some(node) = f.get("acme") {
        target.acme = acme_of(node, dir)?;
    }
    if let Some(node) = f.get("keep") {
        target.keep = node
            .scalar_string()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|k| *k >= 1)
            .ok_or_else(|| {
                err_at(
                    node,
                    format!("target {name}: keep is a number of releases, 1 or more"),
                )
            })?;
    }
    Ok(target)
}

/// A target's `route:`: the integrate step's `path` or `host` and `tls` for this target.
fn route_override(node: &Node, dir: &Path) -> Result<RouteOverride, ConfigError> {
    let f = Fields::new(node, "route", &["path", "host", "tls"])?;
    route_values(&f)?;
    let path = f.string("path")?;
    let host = f.string("host")?;
    if path.is_some() && host.is_some() {
        return Err(f.error("route names either a `path` prefix or a `host` name"));
    }
    let tls = tls_of(&f, dir)?;
    Ok(RouteOverride { path, host, tls })
}

/// `tls: acme` or `tls: {cert: FILE, key: FILE}` (relative to the file's directory).
fn tls_of(f: &Fields, dir: &Path) -> Result<Option<TlsWant>, ConfigError> {
    let Some(node) = f.get("tls") else {
        return Ok(None);
    };
    if let Some(text) = node.scalar_string() {
        return match text.as_str() {
            "acme" => Ok(Some(TlsWant::Acme)),
            _ => Err(err_at(
                node,
                format!("{}.tls is `acme` or {{cert: FILE, key: FILE}}", f.what),
            )),
        };
    }
    let t = Fields::new(node, "tls", &["cert", "key"])?;
    let cert = t.string("cert")?.ok_or_else(|| t.missing("cert"))?;
    let key = t.string("key")?.ok_or_else(|| t.missing("key"))?;
    Ok(Some(TlsWant::Own {
        cert: dir.join(cert),
        key: dir.join(key),
    }))
}

/// A target's `acme:`: the ACME server's `directory`, a `ca` file to trust for it, an `email`.
fn acme_of(node: &Node, dir: &Path) -> Result<AcmeSettings, ConfigError> {
    let f = Fields::new(node, "acme", &["directory", "ca", "email"])?;
    let mut acme = AcmeSettings::default();
    if let Some(directory) = f.string("directory")? {
        if !directory.starts_with("https://") {
            return Err(f.error("acme.directory is an https:// URL"));
        }
        acme.directory = directory;
    }
    acme.ca = f.string("ca")?.map(|ca| dir.join(ca));
    acme.email = f.string("email")?;
    Ok(acme)
}

/// A target's `env:` (plain values) and `secrets:` (each from one `file`, `env` or `command`).
fn target_env(name: &str, f: &Fields) -> Result<TargetEnv, ConfigError> {
    let mut env = TargetEnv::default();
    let named = |text: &str, value: &Node| -> Result<String, ConfigError> {
        if target_env::is_variable_name(text) {
            Ok(text.to_string())
        } else {
            Err(err_key(
                value,
                format!(
                    "target {name}: {text:?} is not a variable name (letters, digits and _, \
                     not starting with a digit)"
                ),
            ))
        }
    };
    if let Some(node) = f.get("env") {
        let map = node
            .as_map()
            .ok_or_else(|| err_at(node, format!("target {name}: env is a mapping NAME: value")))?;
        for (key, value) in map.iter() {
            let var = named(key.as_ref(), value)?;
            let text = value.scalar_string().ok_or_else(|| {
                err_at(value, format!("target {name}: env {var} must be a string"))
            })?;
            env.plain.insert(var, text);
        }
    }
    if let Some(node) = f.get("secrets") {
        let map = node.as_map().ok_or_else(|| {
            err_at(
                node,
                format!("target {name}: secrets is a mapping NAME: {{file|env|command: ...}}"),
            )
        })?;
        for (key, value) in map.iter() {
            let var = named(key.as_ref(), value)?;
            if env.plain.contains_key(&var) {
                return Err(err_key(
                    value,
                    format!("target {name}: {var} is both in env and in secrets"),
                ));
            }
            let what = format!("secret {var} of target {name}");
            let s = Fields::new(value, &what, &["file", "env", "command"])?;
            let sources = [
                s.string("file")?
                    .map(|p| target_env::Source::File(PathBuf::from(p))),
                s.string("env")?.map(target_env::Source::Env),
                s.string("command")?.map(target_env::Source::Command),
            ];
            let mut given = sources.into_iter().flatten();
            let (Some(source), None) = (given.next(), given.next()) else {
                return Err(s.error("give exactly one of file, env or command"));
            };
            if let target_env::Source::Env(v) = &source
                && !target_env::is_variable_name(v)
            {
                return Err(s.error(format!("env {v:?} is not a variable name")));
            }
            env.secrets.push(target_env::Secret { name: var, source });
        }
    }
    Ok(env)
}

/// The engines of a target: a Swarm's manager, several hosts, or one.
fn target_engines(name: &str, f: &Fields, registry: &str) -> Result<Target, ConfigError> {
    if let Some(node) = f.get("swarm") {
        return swarm_target(name, node, f, registry);
    }
    let defaults = HostDefaults {
        tls: f.string("tls")?.map(PathBuf::from),
        trust_insecure: f.bool("trust_insecure")?.unwrap_or(false),
        registry: f
            .string("registry")?
            .unwrap_or_else(|| registry.to_string()),
        proxy: proxy_of(f, ProxySpec::new(ProxySpec::DEFAULT_IMAGE))?,
        strategy: strategy_of(f)?,
    };
    let Some(hosts) = f.get("hosts") else {
        if let Some(batch) = f.get("batch") {
            return Err(err_key(
                batch,
                format!("target {name}: batch needs hosts: (a target of several hosts)"),
            ));
        }
        return host_of(name, f, &defaults);
    };
    for key in ["host", "public_address", "upstream_host"] {
        if let Some(node) = f.get(key) {
            return Err(err_key(
                node,
                format!("target {name} lists hosts: its {key} goes under each host"),
            ));
        }
    }
    let items = hosts
        .as_seq()
        .filter(|items| !items.is_empty())
        .ok_or_else(|| err_at(hosts, format!("target {name}: hosts is a list of hosts")))?;
    let mut members: Vec<Target> = Vec::with_capacity(items.len());
    for item in items {
        let h = Fields::new(
            item,
            "a host of a target",
            &[
                "name",
                "host",
                "tls",
                "trust_insecure",
                "public_address",
                "registry",
                "upstream_host",
                "proxy",
            ],
        )?;
        let mut own = defaults.clone();
        if let Some(tls) = h.string("tls")? {
            own.tls = Some(PathBuf::from(tls));
        }
        if let Some(trust) = h.bool("trust_insecure")? {
            own.trust_insecure = trust;
        }
        if let Some(registry) = h.string("registry")? {
            own.registry = registry;
        }
        own.proxy = proxy_of(&h, own.proxy)?;
        let host = h.string("host")?.ok_or_else(|| h.missing("host"))?;
        let member_name = match h.string("name")? {
            Some(n) => n,
            None => host_name_of(&host),
        };
        let member = host_of(&member_name, &h, &own)?;
        if members.iter().any(|m| m.name == member.name) {
            return Err(err_at(
                item,
                format!(
                    "target {name}: two hosts are named {} (give each a distinct `name:`)",
                    member.name
                ),
            ));
        }
        members.push(member);
    }
    let batch = match f.get("batch") {
        None => 1,
        Some(node) => node
            .scalar_string()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|b| *b >= 1)
            .ok_or_else(|| err_at(node, "batch is a number of hosts, 1 or more"))?,
    };
    // The target's own fields are its first host's, so that what reads one host of a target
    // reads a real one; what works across hosts reads `hosts`.
    let mut fleet = members[0].clone();
    fleet.name = name.to_string();
    fleet.strategy = defaults.strategy;
    fleet.hosts = members;
    fleet.batch = batch;
    Ok(fleet)
}

/// What a target of several hosts gives each of its hosts unless the host says otherwise.
#[derive(Clone)]
struct HostDefaults {
    tls: Option<PathBuf>,
    trust_insecure: bool,
    registry: String,
    proxy: ProxySpec,
    strategy: Option<Strategy>,
}

/// One engine of a target, from `f` (the target itself, or an entry of its `hosts:`).
fn host_of(name: &str, f: &Fields, defaults: &HostDefaults) -> Result<Target, ConfigError> {
    let host = f.string("host")?.ok_or_else(|| f.missing("host"))?;
    host_with(name, &host, f, defaults)
}

/// One engine of a target at `host`, the rest from `f`.
fn host_with(
    name: &str,
    host: &str,
    f: &Fields,
    defaults: &HostDefaults,
) -> Result<Target, ConfigError> {
    let host = host.to_string();
    let public_address = f
        .string("public_address")?
        .ok_or_else(|| f.missing("public_address"))?;
    let upstream_host = match f.string("upstream_host")? {
        Some(h) => h,
        None => public_address
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    Ok(Target {
        name: name.to_string(),
        host,
        tls: defaults.tls.clone(),
        trust_insecure: defaults.trust_insecure,
        trusted_insecure_hosts: Vec::new(),
        public_address,
        registry: defaults.registry.clone(),
        upstream_host,
        proxy: defaults.proxy.clone(),
        strategy: defaults.strategy,
        hosts: Vec::new(),
        batch: 1,
        swarm: None,
        environment: TargetEnv::default(),
        route: None,
        acme: AcmeSettings::default(),
        keep: crate::project_release::DEFAULT_KEEP,
    })
}

/// A target whose `swarm:` names a manager (`swarm: tcp://10.200.0.11:2375`), or gives it as
/// `manager:` with the rolling update's `parallelism`, `delay` and `monitor`.
fn swarm_target(
    name: &str,
    node: &Node,
    f: &Fields,
    registry: &str,
) -> Result<Target, ConfigError> {
    for key in ["host", "hosts", "batch", "strategy"] {
        if let Some(n) = f.get(key) {
            return Err(err_key(
                n,
                format!(
                    "target {name} is a Swarm (swarm:): its manager is the engine, and releases roll over its tasks, so it takes no {key}"
                ),
            ));
        }
    }
    let (manager, settings) = match node.scalar_string() {
        Some(address) => (address, SwarmSettings::default()),
        None => {
            let s = Fields::new(
                node,
                "swarm",
                &["manager", "parallelism", "delay", "monitor"],
            )?;
            let manager = s.string("manager")?.ok_or_else(|| s.missing("manager"))?;
            let parallelism = match s.get("parallelism") {
                None => None,
                Some(n) => Some(
                    n.scalar_string()
                        .and_then(|v| v.parse::<u64>().ok())
                        .filter(|p| *p >= 1)
                        .ok_or_else(|| err_at(n, "parallelism is a number of tasks, 1 or more"))?,
                ),
            };
            let duration = |key: &str| -> Result<Option<String>, ConfigError> {
                match s.get(key) {
                    None => Ok(None),
                    Some(n) => n
                        .scalar_string()
                        .filter(|v| hoist_compose::units::parse_duration(v).is_some())
                        .map(Some)
                        .ok_or_else(|| err_at(n, format!("{key} is a duration (10s, 1m30s)"))),
                }
            };
            let settings = SwarmSettings {
                parallelism,
                delay: duration("delay")?,
                monitor: duration("monitor")?,
            };
            (manager, settings)
        }
    };
    let defaults = HostDefaults {
        tls: f.string("tls")?.map(PathBuf::from),
        trust_insecure: f.bool("trust_insecure")?.unwrap_or(false),
        registry: f
            .string("registry")?
            .unwrap_or_else(|| registry.to_string()),
        proxy: proxy_of(f, ProxySpec::new(ProxySpec::DEFAULT_IMAGE))?,
        strategy: None,
    };
    let mut target = host_with(name, &manager, f, &defaults)?;
    target.swarm = Some(settings);
    Ok(target)
}

/// A host's default name: its address's host part (`10.200.0.2` of `tcp://10.200.0.2:2375`,
/// `web1` of `ssh://deploy@web1`).
fn host_name_of(address: &str) -> String {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or(v6)
    } else {
        rest.split([':', '/']).next().unwrap_or(rest)
    };
    if host.is_empty() {
        address.to_string()
    } else {
        host.to_string()
    }
}

/// `proxy:` of `f` over `proxy`.
fn proxy_of(f: &Fields, mut proxy: ProxySpec) -> Result<ProxySpec, ConfigError> {
    if let Some(node) = f.get("proxy") {
        let p = Fields::new(node, "proxy", &["image", "port", "https_port", "name"])?;
        if let Some(image) = p.string("image")? {
            proxy.image = image;
        }
        if let Some(name) = p.string("name")? {
            proxy.name = name;
        }
        if let Some(port) = p.get("port") {
            proxy.port = port_of(port)?;
        }
        if let Some(port) = p.get("https_port") {
            proxy.https_port = port_of(port)?;
        }
    }
    Ok(proxy)
}

fn strategy_of(f: &Fields) -> Result<Option<Strategy>, ConfigError> {
    match f.get("strategy") {
        None => Ok(None),
        Some(node) => node
            .scalar_string()
            .as_deref()
            .and_then(Strategy::parse)
            .map(Some)
            .ok_or_else(|| err_at(node, "strategy is blue-green or recreate")),
    }
}

fn seconds_of(f: &Fields, key: &str, default: u64) -> Result<u64, ConfigError> {
    match f.get(key) {
        None => Ok(default),
        Some(node) => node
            .scalar_string()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| err_at(node, format!("{key} is a number of seconds"))),
    }
}

fn work(id: StepId, node: &Node, dir: &Path) -> Result<Work, ConfigError> {
    use StepId::*;
    // `{}` or an empty value: the step's built-in work where it has one.
    let empty = node.is_null() || node.as_map().is_some_and(|m| m.is_empty());
    let allowed: &[&str] = match id {
        Checkout => &["command"],
        PreDeploymentTests | PostDeploymentTests | Package => {
            &["command", "run", "env", "retry_for"]
        }
        Build => &["command", "images"],
        Push | PushTests => &["command", "images"],
        Deploy => &[
            "service",
            "strategy",
            "health_path",
            "health_timeout",
            "drain",
        ],
        Integrate => &["path", "host", "port", "directives", "tls"],
    };
    if empty {
        return match id {
            Checkout => Ok(Work::Checkout),
            _ => Err(err_at(
                node,
                format!(
                    "step {} needs its work ({})",
                    id.key(),
                    allowed.join(" or ")
                ),
            )),
        };
    }
    let f = Fields::new(node, id.key(), allowed)?;
    if let Some(command) = f.string("command")? {
        if f.get("run").is_some() || f.get("images").is_some() {
            return Err(f.error("a step has either a command or its own work, not both"));
        }
        return Ok(Work::Command(command));
    }
    match id {
        Checkout => Ok(Work::Checkout),
        PreDeploymentTests | PostDeploymentTests | Package => {
            let service = f
                .string("run")?
                .ok_or_else(|| f.error("expected `run: SERVICE` or `command: ...`"))?;
            let retry_for = match f.get("retry_for") {
                Some(node) => Some(
                    node.scalar_string()
                        .and_then(|s| s.parse::<u64>().ok())
                        .ok_or_else(|| err_at(node, "retry_for is a number of seconds"))?,
                ),
                None => None,
            };
            Ok(Work::Run {
                service,
                env: f.strings("env")?.unwrap_or_default(),
                retry_for,
            })
        }
        Build => {
            let list = f
                .get("images")
                .ok_or_else(|| f.error("expected `images:` or `command: ...`"))?;
            let seq = list
                .as_seq()
                .ok_or_else(|| err_at(list, "images must be a list"))?;
            let mut images = Vec::new();
            for item in seq {
                let i = Fields::new(item, "an image", &["name", "context", "dockerfile", "args"])?;
                let name = i.string("name")?.ok_or_else(|| i.missing("name"))?;
                let context = i.string("context")?.ok_or_else(|| i.missing("context"))?;
                let mut args = Vec::new();
                if let Some(node) = i.get("args") {
                    let map = node
                        .as_map()
                        .ok_or_else(|| err_at(node, "args must be a mapping"))?;
                    for (k, v) in map.iter() {
                        let v = v
                            .scalar_string()
                            .ok_or_else(|| err_at(v, format!("args.{k} must be a string")))?;
                        args.push((k.to_string(), v));
                    }
                }
                images.push(ImageBuild {
                    name,
                    context: dir.join(context),
                    dockerfile: i.string("dockerfile")?.map(PathBuf::from),
                    args,
                });
            }
            Ok(Work::Build(images))
        }
        Push | PushTests => {
            Ok(Work::Push(f.strings("images")?.ok_or_else(|| {
                f.error("expected `images:` or `command: ...`")
            })?))
        }
        Deploy => Ok(Work::Deploy {
            service: f.string("service")?.ok_or_else(|| f.missing("service"))?,
            strategy: strategy_of(&f)?,
            health_path: f.string("health_path")?,
            health_timeout: seconds_of(&f, "health_timeout", 60)?,
            drain: seconds_of(&f, "drain", 2)?,
        }),
        Integrate => {
            let path = f.string("path")?;
            let host = f.string("host")?;
            if path.is_some() == host.is_some() {
                return Err(f.error("integrate routes either a `path` prefix or a `host` name"));
            }
            let port = f.get("port").ok_or_else(|| f.missing("port"))?;
            route_values(&f)?;
            let tls = tls_of(&f, dir)?;
            if tls.is_some() && path.is_some() {
                return Err(
                    f.error("integrate.tls needs a `host` route: HTTPS is served per host name")
                );
            }
            Ok(Work::Integrate(self::Integrate {
                path,
                host,
                port: port_of(port)?,
                directives: f.strings("directives")?.unwrap_or_default(),
                tls,
                also_host: None,
            }))
        }
    }
}

/// The integrate step's `path`, `host` and `directives` become nginx text: each is checked with
/// the proxy's own rules here, so the error points at the line that wrote it.
fn route_values(f: &Fields<'_>) -> Result<(), ConfigError> {
    use crate::proxy::config::{check_directive, check_host, check_path};
    type Check = fn(&str) -> Result<(), &'static str>;
    let checks: [(&str, Check); 3] = [
        ("path", check_path),
        ("host", check_host),
        ("directives", check_directive),
    ];
    for (key, check) in checks {
        let Some(node) = f.get(key) else {
            continue;
        };
        let items = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        for item in items {
            let Some(value) = item.scalar_string() else {
                continue;
            };
            check(&value).map_err(|why| {
                err_at(
                    item,
                    format!("{}.{key} {value:?} is not valid: {why}", f.what),
                )
            })?;
        }
    }
    Ok(())
}

fn port_of(node: &Node) -> Result<u16, ConfigError> {
    node.scalar_string()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| err_at(node, "expected a port number (1-65535)"))
}

fn err_at(node: &Node, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: node.pos.file.to_string(),
        line: node.pos.line as usize,
        col: node.pos.col as usize,
        message: message.into(),
    }
}

fn err_key(node: &Node, message: impl Into<String>) -> ConfigError {
    let pos = node.key_pos();
    ConfigError {
        file: pos.file.to_string(),
        line: pos.line as usize,
        col: pos.col as usize,
        message: message.into(),
    }
}

/// A mapping whose keys are checked against the allowed ones.
struct Fields<'a> {
    node: &'a Node,
    what: &'a str,
}

impl<'a> Fields<'a> {
    fn new(node: &'a Node, what: &'a str, allowed: &[&str]) -> Result<Fields<'a>, ConfigError> {
        let map = node.as_map().ok_or_else(|| {
            err_at(
                node,
                format!("{what} must be a mapping, not {}", node.kind()),
            )
        })?;
        for (key, value) in map.iter() {
            if !allowed.contains(&key.as_ref()) {
                return Err(err_key(
                    value,
                    format!(
                        "unknown key {key:?} in {what} (expected one of: {})",
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(Fields { node, what })
    }

    fn get(&self, key: &str) -> Option<&'a Node> {
        self.node
            .as_map()
            .and_then(|m| m.get(key))
            .filter(|n| !n.is_null())
    }

    fn error(&self, message: impl Into<String>) -> ConfigError {
        err_at(self.node, format!("{}: {}", self.what, message.into()))
    }

    fn missing(&self, key: &str) -> ConfigError {
        self.error(format!("missing key {key:?}"))
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => match &node.value {
                Value::Str(s) => Ok(Some(s.to_string())),
                Value::Int(_) | Value::Float(_) => Ok(node.scalar_string()),
                _ => Err(err_at(node, format!("{key} must be a string"))),
            },
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => match node.value {
                Value::Bool(b) => Ok(Some(b)),
                _ => Err(err_at(node, format!("{key} must be true or false"))),
            },
        }
    }

    /// A list of strings, or one string.
    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => match &node.value {
                Value::Str(s) => Ok(Some(vec![s.to_string()])),
                Value::Seq(items) => items
                    .iter()
                    .map(|i| {
                        i.scalar_string()
                            .ok_or_else(|| err_at(i, format!("{key} must hold strings")))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                _ => Err(err_at(node, format!("{key} must be a list of strings"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<PipelineFile, ConfigError> {
        parse(text, Path::new("/repo/hoist.yml"))
    }

    const MINIMAL: &str = "service: books-ms\nregistry: localhost:5000\n";

    #[test]
    fn hooks_are_a_host_command_or_a_one_off_container() {
        let file = parse_text(&format!(
            "{MINIMAL}hooks:\n  pre_deploy:\n    container: ./migrate --up\n  post_switch:\n    container: [echo, hi]\n  on_failure:\n    command: echo failed\n"
        ))
        .unwrap();
        assert_eq!(
            file.hooks.pre_deploy,
            Some(Hook::Container(vec![
                "sh".into(),
                "-c".into(),
                "./migrate --up".into()
            ]))
        );
        assert_eq!(
            file.hooks.post_switch,
            Some(Hook::Container(vec!["echo".into(), "hi".into()]))
        );
        assert_eq!(file.hooks.post_deploy, None);
        assert_eq!(
            file.hooks.on_failure,
            Some(Hook::Host("echo failed".into()))
        );
        for (bad, why) in [
            (
                "  pre_deploy:\n    command: a\n    container: b\n",
                "either `command: ...`",
            ),
            ("  pre_deploy: {}\n", "either `command: ...`"),
            ("  post_deploy:\n    run: x\n", "run"),
            ("  during_deploy:\n    command: x\n", "during_deploy"),
        ] {
            let err = parse_text(&format!("{MINIMAL}hooks:\n{bad}")).unwrap_err();
            assert!(err.message.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_targets_route_adds_a_host_name_with_https_over_the_integrate_step() {
        let text = format!(
            "{MINIMAL}targets:\n  prod:\n    host: tcp://h:2375\n    public_address: http://h\n  https:\n    host: tcp://h:2375\n    public_address: http://h\n    route:\n      host: books.test\n      tls: acme\n    acme:\n      directory: https://acme.test/dir\n      ca: certs/ca.pem\n  own:\n    host: tcp://h:2375\n    public_address: http://h\n    route:\n      path: /books\n      host: books.test\n      tls: {{cert: certs/books.crt, key: certs/books.key}}\nsteps:\n  deploy:\n    service: app\n  integrate:\n    path: /api/v1/books\n    port: 8080\n"
        );
        let err = parse_text(&text).unwrap_err();
        assert!(
            err.message.contains("either a `path` prefix or a `host`"),
            "{err}"
        );
        let file = parse_text(&text.replace("      path: /books\n", "")).unwrap();
        let plain = file.integrate_for(file.target("prod").unwrap()).unwrap();
        assert_eq!((&plain.also_host, &plain.tls), (&None, &None));
        assert_eq!(plain.url("http://h"), "http://h/api/v1/books");

        let https = file.target("https").unwrap();
        assert_eq!(https.acme.directory, "https://acme.test/dir");
        assert_eq!(
            https.acme.ca.as_deref(),
            Some(Path::new("/repo/certs/ca.pem"))
        );
        let routed = file.integrate_for(https).unwrap();
        assert_eq!(
            routed.path.as_deref(),
            Some("/api/v1/books"),
            "the path stays"
        );
        assert_eq!(routed.also_host.as_deref(), Some("books.test"));
        assert_eq!(routed.url("http://h"), "https://books.test/api/v1/books");
        let tls = routed.route_tls(&https.acme).unwrap();
        assert_eq!(tls.tls, Some(("books.test".to_string(), TlsWant::Acme)));

        let own = file.integrate_for(file.target("own").unwrap()).unwrap();
        assert_eq!(
            own.tls,
            Some(TlsWant::Own {
                cert: PathBuf::from("/repo/certs/books.crt"),
                key: PathBuf::from("/repo/certs/books.key"),
            })
        );

        for (bad, why) in [
            (
                "tls: letsencrypt",
                "tls is `acme` or {cert: FILE, key: FILE}",
            ),
            ("tls: {cert: a.crt}", "key"),
            ("host: \"books.test;\"", "route.host"),
        ] {
            let one = format!(
                "{MINIMAL}targets:\n  t:\n    host: tcp://h:2375\n    public_address: http://h\n    route:\n      {bad}\n"
            );
            let err = parse_text(&one).unwrap_err();
            assert!(err.message.contains(why), "{bad}: {err}");
            assert_eq!(err.line, 8, "{bad}: the line that wrote it");
        }
        let err =
            parse_text(&text.replace("https://acme.test/dir", "http://acme.test/dir")).unwrap_err();
        assert!(
            err.message.contains("acme.directory is an https:// URL"),
            "{err}"
        );
        let err = parse_text(&format!(
            "{MINIMAL}steps:\n  integrate:\n    path: /a\n    port: 80\n    tls: acme\n"
        ))
        .unwrap_err();
        assert!(err.message.contains("needs a `host` route"), "{err}");
    }

    #[test]
    fn a_targets_engine_trusts_only_the_hosts_the_user_names() {
        let target = |name: &str, host: &str, extra: &str| {
            format!("  {name}:\n    host: {host}\n    public_address: http://x\n{extra}")
        };
        let trust = "    trust_insecure: true\n";
        let file = parse_text(&format!(
            "{MINIMAL}targets:\n{}{}{}",
            target("prod", "tcp://10.200.0.2:2375", trust),
            target("tls", "tcp://10.200.0.3:2376", "    tls: /certs\n"),
            target("plain", "tcp://10.200.0.4:2375", ""),
        ))
        .unwrap();
        // The file alone trusts nothing, whatever `trust_insecure` says.
        for name in ["prod", "tls", "plain"] {
            assert!(
                file.target(name)
                    .unwrap()
                    .engine_spec()
                    .trusted_insecure_hosts
                    .is_empty(),
                "{name}"
            );
        }
        assert!(file.target("prod").unwrap().trust_insecure);
        let user = vec!["10.200.0.2".to_string()];
        let file = file.with_user_trust(&user);
        let spec = |name: &str| file.target(name).unwrap().engine_spec();
        assert_eq!(spec("prod").trusted_insecure_hosts, user);
        assert_eq!(spec("prod").host, "tcp://10.200.0.2:2375");
        assert_eq!(spec("plain").trusted_insecure_hosts, user);
        let tls = spec("tls");
        assert_eq!(tls.tls.unwrap().ca, PathBuf::from("/certs/ca.pem"));
    }

    #[test]
    fn a_swarm_target_names_its_manager_and_how_releases_roll() {
        let file = parse_text(&format!(
            "{MINIMAL}targets:\n  short:\n    swarm: tcp://10.0.0.11:2375\n    public_address: http://10.0.0.11\n  long:\n    swarm:\n      manager: tcp://10.0.0.12:2376\n      parallelism: 2\n      delay: 1s\n      monitor: 5s\n    tls: /certs\n    public_address: http://10.0.0.12\n"
        ))
        .unwrap();
        let short = file.target("short").unwrap();
        assert_eq!(short.host, "tcp://10.0.0.11:2375");
        assert_eq!(short.swarm, Some(SwarmSettings::default()));
        let long = file.target("long").unwrap();
        assert_eq!(
            (long.host.as_str(), long.tls.is_some()),
            ("tcp://10.0.0.12:2376", true)
        );
        assert_eq!(
            long.swarm,
            Some(SwarmSettings {
                parallelism: Some(2),
                delay: Some("1s".into()),
                monitor: Some("5s".into()),
            })
        );
        let bad = |target: &str| {
            parse_text(&format!("{MINIMAL}targets:\n  s:\n{target}"))
                .unwrap_err()
                .to_string()
        };
        let both =
            bad("    swarm: tcp://a:2375\n    host: tcp://b:2375\n    public_address: http://a\n");
        assert!(
            both.contains("target s is a Swarm") && both.contains("no host"),
            "{both}"
        );
        let zero = bad(
            "    swarm:\n      manager: tcp://a:2375\n      parallelism: 0\n    public_address: http://a\n",
        );
        assert!(zero.contains("parallelism is a number of tasks"), "{zero}");
        let when = bad(
            "    swarm:\n      manager: tcp://a:2375\n      delay: soon\n    public_address: http://a\n",
        );
        assert!(when.contains("delay is a duration"), "{when}");
        let unknown = bad(
            "    swarm:\n      manager: tcp://a:2375\n      replicas: 3\n    public_address: http://a\n",
        );
        assert!(unknown.contains("replicas"), "{unknown}");
    }

    #[test]
    fn a_target_of_several_hosts_gives_each_its_defaults_and_checks_its_shape() {
        let file = parse_text(&format!(
            "{MINIMAL}targets:\n  fleet:\n    batch: 2\n    trust_insecure: true\n    proxy:\n      port: 8081\n    hosts:\n      - host: ssh://deploy@web1\n        public_address: http://web1\n      - name: two\n        host: tcp://10.0.0.2:2376\n        tls: /certs\n        public_address: http://10.0.0.2\n        proxy:\n          port: 80\n"
        ))
        .unwrap();
        let fleet = file.target("fleet").unwrap();
        assert!(fleet.is_fleet());
        assert_eq!(fleet.batch, 2);
        let hosts = fleet.members();
        assert_eq!(
            hosts.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
            ["web1", "two"]
        );
        assert_eq!((hosts[0].proxy.port, hosts[1].proxy.port), (8081, 80));
        assert!(hosts[0].tls.is_none() && hosts[1].tls.is_some());
        assert!(hosts.iter().all(|h| h.trust_insecure));
        assert_eq!(hosts[0].registry, "localhost:5000");
        // A target of one host is its own only member.
        let one = parse_text(&format!(
            "{MINIMAL}targets:\n  prod:\n    host: tcp://a:2375\n    public_address: http://a\n"
        ))
        .unwrap();
        let prod = one.target("prod").unwrap();
        assert!(!prod.is_fleet());
        assert_eq!(prod.members().len(), 1);

        let bad = |targets: &str| {
            parse_text(&format!("{MINIMAL}targets:\n  fleet:\n{targets}"))
                .unwrap_err()
                .to_string()
        };
        let host = "      - host: tcp://a:2375\n        public_address: http://a\n";
        let err = bad(&format!("    host: tcp://x:2375\n    hosts:\n{host}"));
        assert!(err.contains("its host goes under each host"), "{err}");
        let err = bad(&format!("    hosts:\n{host}{host}"));
        assert!(err.contains("two hosts are named a"), "{err}");
        let err = bad(&format!("    batch: 0\n    hosts:\n{host}"));
        assert!(err.contains("batch is a number of hosts"), "{err}");
        let err = bad("    hosts: []\n");
        assert!(err.contains("hosts is a list of hosts"), "{err}");
        let err = bad("    batch: 2\n    host: tcp://a:2375\n    public_address: http://a\n");
        assert!(err.contains("batch needs hosts"), "{err}");
        let err = bad("    hosts:\n      - public_address: http://a\n");
        assert!(err.contains("host"), "{err}");
        let err = bad(&format!("    hosts:\n{host}        colour: blue\n"));
        assert!(err.contains("unknown key \"colour\""), "{err}");
    }

    #[test]
    fn steps_left_out_have_no_work() {
        let file = parse_text(MINIMAL).unwrap();
        assert_eq!(file.steps.len(), 9);
        assert!(file.steps.iter().all(|(_, w)| w.is_none()));
        assert_eq!(
            file.dev_files,
            [PathBuf::from("/repo/docker-compose-dev.yml")]
        );
    }

    #[test]
    fn a_yaml_error_names_its_place_once() {
        let e = parse_text(&format!("{MINIMAL}targets: {{a: 'x' y}}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/repo/hoist.yml:3:"), "{e}");
        assert_eq!(e.matches("hoist.yml").count(), 1, "{e}");
    }

    #[test]
    fn a_targets_env_and_secrets_are_read_with_one_source_each() {
        let file = parse_text(&format!(
            "{MINIMAL}targets:\n  prod:\n    host: tcp://10.200.0.2:2375\n    public_address: http://x\n\
             \x20   env:\n      LOG_LEVEL: info\n      WORKERS: 4\n\
             \x20   secrets:\n      DB_PASSWORD: {{command: pass show books/db}}\n\
             \x20     API_TOKEN:\n        env: BOOKS_API_TOKEN\n      TLS_KEY: {{file: keys/tls.pem}}\n"
        ))
        .unwrap();
        let env = &file.target("prod").unwrap().environment;
        assert_eq!(env.plain["LOG_LEVEL"], "info");
        assert_eq!(env.plain["WORKERS"], "4");
        let secrets: Vec<(&str, &target_env::Source)> = env
            .secrets
            .iter()
            .map(|s| (s.name.as_str(), &s.source))
            .collect();
        assert_eq!(
            secrets,
            [
                (
                    "DB_PASSWORD",
                    &target_env::Source::Command("pass show books/db".into())
                ),
                (
                    "API_TOKEN",
                    &target_env::Source::Env("BOOKS_API_TOKEN".into())
                ),
                ("TLS_KEY", &target_env::Source::File("keys/tls.pem".into())),
            ]
        );
    }

    #[test]
    fn a_bad_secret_names_its_line_and_what_is_wrong() {
        let target = |extra: &str| {
            format!(
                "{MINIMAL}targets:\n  prod:\n    host: tcp://10.200.0.2:2375\n    public_address: http://x\n{extra}"
            )
        };
        for (extra, line, says) in [
            (
                "    secrets:\n      DB-PASSWORD: {env: X}\n",
                8,
                "not a variable name",
            ),
            (
                "    secrets:\n      A: {env: X, command: y}\n",
                8,
                "exactly one of file, env or command",
            ),
            ("    secrets:\n      A: {}\n", 8, "exactly one of"),
            (
                "    secrets:\n      A: {vault: x}\n",
                8,
                "unknown key \"vault\"",
            ),
            (
                "    secrets:\n      A: {env: 'B C'}\n",
                8,
                "not a variable name",
            ),
            (
                "    env:\n      A: x\n    secrets:\n      A: {env: B}\n",
                10,
                "both in env and in secrets",
            ),
            ("    env:\n      A: [1]\n", 8, "must be a string"),
        ] {
            let e = parse_text(&target(extra)).unwrap_err();
            assert_eq!(e.line, line, "{extra}: {e}");
            assert!(e.message.contains(says), "{extra}: {e}");
        }
    }

    #[test]
    fn unknown_keys_name_file_line_and_key() {
        let err =
            parse_text(&format!("{MINIMAL}steps:\n  deploy:\n    servce: app\n")).unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("/repo/hoist.yml", 5));
        assert!(err.message.contains("unknown key \"servce\""), "{err}");
        let err = parse_text(&format!("{MINIMAL}stepz: {{}}\n")).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("/repo/hoist.yml:3:"), "{err}");
        let err = parse_text(&format!("{MINIMAL}steps:\n  integration: {{}}\n")).unwrap_err();
        assert!(
            err.message.contains("unknown step \"integration\""),
            "{err}"
        );
    }

    #[test]
    fn a_target_defaults_its_registry_and_upstream_host() {
        let file = parse_text(&format!(
            "{MINIMAL}targets:\n  prod:\n    host: tcp://10.200.0.2:2375\n    trust_insecure: true\n    public_address: http://10.200.0.2\n    proxy:\n      port: 8081\n"
        ))
        .unwrap();
        let prod = file.target("prod").unwrap();
        assert_eq!(prod.registry, "localhost:5000");
        assert_eq!(prod.upstream_host, "10.200.0.2");
        assert_eq!(prod.proxy.port, 8081);
        assert_eq!(prod.proxy.image, "nginx");
        assert!(prod.trust_insecure);
    }

    #[test]
    fn an_integrated_service_deploys_blue_green_unless_a_target_or_the_step_says_recreate() {
        let head = format!(
            "{MINIMAL}targets:\n  prod:\n    host: tcp://10.200.0.2:2375\n    public_address: http://10.200.0.2\n  lab:\n    host: tcp://10.200.0.3:2375\n    public_address: http://10.200.0.3\n    strategy: recreate\n"
        );
        let integrated = format!(
            "{head}steps:\n  deploy:\n    service: app\n  integrate:\n    path: /api\n    port: 8080\n"
        );
        let file = parse_text(&integrated).unwrap();
        let prod = file.target("prod").unwrap();
        assert_eq!(file.strategy(prod), Strategy::BlueGreen);
        assert_eq!(
            file.strategy(file.target("lab").unwrap()),
            Strategy::Recreate
        );
        let Some(Work::Deploy {
            health_timeout,
            drain,
            ..
        }) = file.work(StepId::Deploy)
        else {
            panic!("a deploy step")
        };
        assert_eq!((*health_timeout, *drain), (60, 2));
        let step_says =
            integrated.replace("service: app\n", "service: app\n    strategy: recreate\n");
        let file = parse_text(&step_says).unwrap();
        assert_eq!(
            file.strategy(file.target("prod").unwrap()),
            Strategy::Recreate
        );
        // Nothing to switch without a route.
        let plain = format!("{head}steps:\n  deploy:\n    service: app\n");
        let file = parse_text(&plain).unwrap();
        assert_eq!(
            file.strategy(file.target("prod").unwrap()),
            Strategy::Recreate
        );
        let err = parse_text(
            &plain.replace("service: app\n", "service: app\n    strategy: blue-green\n"),
        )
        .unwrap_err();
        assert_eq!(err.line, 14, "{err}");
        assert!(err.message.contains("no integrate step"), "{err}");
        let err = parse_text(&integrated.replace("recreate", "rolling")).unwrap_err();
        assert!(err.message.contains("blue-green or recreate"), "{err}");
    }

    #[test]
    fn a_step_has_one_kind_of_work() {
        let err = parse_text(&format!(
            "{MINIMAL}steps:\n  pre_deployment_tests:\n    run: tests\n    command: make test\n"
        ))
        .unwrap_err();
        assert!(err.message.contains("not both"), "{err}");
        let err = parse_text(&format!(
            "{MINIMAL}steps:\n  integrate:\n    path: /a\n    host: a.example\n    port: 80\n"
        ))
        .unwrap_err();
        assert!(err.message.contains("either"), "{err}");
        let file = parse_text(&format!("{MINIMAL}steps:\n  checkout: {{}}\n")).unwrap();
        assert_eq!(file.work(StepId::Checkout), Some(&Work::Checkout));
    }

    #[test]
    fn nginx_syntax_in_the_integrate_route_is_refused_at_its_line() {
        for (key, value, line) in [
            ("path", "\"/api;evil\"", 6),
            ("path", "\"/a#b\"", 6),
            ("path", "'/a$b'", 6),
            ("host", "\"a.example;\"", 6),
            (
                "directives",
                "[\"proxy_read_timeout 5s\", \"return 200 $x\"]",
                7,
            ),
            ("directives", "[\"add_header X \\\"y\\\"\"]", 7),
        ] {
            // Directives go with a path; the route needs one.
            let extra = if key == "directives" {
                "    path: /ok\n"
            } else {
                ""
            };
            let text =
                format!("{MINIMAL}steps:\n  integrate:\n    port: 80\n{extra}    {key}: {value}\n");
            let err = parse_text(&text).unwrap_err();
            assert!(
                err.message.contains(&format!("integrate.{key} "))
                    && err.message.contains("not valid"),
                "{key}: {value}: {err}"
            );
            assert_eq!(err.line, line, "{key}: {value}: {err}");
        }
        let fine = format!(
            "{MINIMAL}steps:\n  integrate:\n    port: 80\n    path: /api/v1/books\n    directives: [proxy_read_timeout 5s]\n"
        );
        parse_text(&fine).unwrap();
    }
}
