//! clap types for every verb. Flags follow Docker Compose wherever the command exists there, so
//! muscle memory works.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hoist",
    version,
    about = "Deploy Docker Compose projects to local and remote Docker engines",
    long_about = "hoist reads compose files exactly as Docker Compose does (legacy v1 format \
                  included), talks to local or remote engines through the Engine API, runs the \
                  nine-step deployment pipeline, releases blue-green with rollback, and serves a \
                  dashboard."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line with the global flags and their environment variables folded into the
    /// verb: `--dry-run` and `--progress` reach `up` and `down` (a verb's own `--progress` wins,
    /// then the global flag, then COMPOSE_PROGRESS), COMPOSE_COMPATIBILITY turns on
    /// `--compatibility`.
    pub fn with_global_flags(mut self, env: &std::collections::BTreeMap<String, String>) -> Cli {
        let g = &mut self.global;
        g.compatibility |= env.get("COMPOSE_COMPATIBILITY").is_some_and(|v| go_bool(v));
        if g.progress.is_none() {
            g.progress = env
                .get("COMPOSE_PROGRESS")
                .and_then(|v| <Progress as clap::ValueEnum>::from_str(v, true).ok());
        }
        let (dry_run, progress) = (g.dry_run, g.progress);
        let fold = |own: &mut ProgressArgs, verb_dry_run: &mut bool| {
            *verb_dry_run |= dry_run;
            if own.progress == Progress::Auto {
                own.progress = progress.unwrap_or(Progress::Auto);
            }
        };
        match &mut self.command {
            Command::Up(args) => fold(&mut args.progress, &mut args.dry_run),
            Command::Create(args) => fold(&mut args.progress, &mut false),
            Command::Down(args) => fold(&mut args.progress, &mut args.dry_run),
            _ => {}
        }
        self
    }

    /// The verb that cannot honour the global `--dry-run` (it would change the engine), if the
    /// flag is given to one. `up` and `down` can; read-only verbs change nothing anyway.
    pub fn dry_run_refused(&self) -> Option<&'static str> {
        if !self.global.dry_run {
            return None;
        }
        match &self.command {
            Command::Start(_) => Some("start"),
            Command::Stop(_) => Some("stop"),
            Command::Restart(_) => Some("restart"),
            Command::Rm(_) => Some("rm"),
            Command::Run(_) => Some("run"),
            Command::Exec(_) => Some("exec"),
            Command::Kill(_) => Some("kill"),
            Command::Pause(_) => Some("pause"),
            Command::Unpause(_) => Some("unpause"),
            Command::Wait(_) => Some("wait"),
            Command::Cp(_) => Some("cp"),
            Command::Attach(_) => Some("attach"),
            Command::Pull(_) => Some("pull"),
            Command::Push(_) => Some("push"),
            Command::Build(_) => Some("build"),
            Command::Scale(_) => Some("scale"),
            Command::Deploy(_) => Some("deploy"),
            Command::Rollback(_) => Some("rollback"),
            Command::Lock(_) => Some("lock"),
            Command::Stack(_) => Some("stack"),
            Command::Pipeline(_) => Some("pipeline"),
            Command::Proxy(_) => Some("proxy"),
            Command::Maintenance(_) => Some("maintenance"),
            Command::Ui(_) => Some("ui"),
            _ => None,
        }
    }

    /// The progress mode of verbs without their own `--progress` flag.
    pub fn progress(&self) -> Progress {
        self.global.progress.unwrap_or(Progress::Auto)
    }
}

/// Go's `strconv.ParseBool` truth, as Compose reads boolean variables.
fn go_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// Flags shared by every command: which engine, which project.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Engine to talk to (unix:///path, tcp://host:port). Defaults to DOCKER_HOST, then the
    /// local socket.
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub host: Option<String>,
    /// Name of the docker context to use (overrides DOCKER_HOST and DOCKER_CONTEXT; see `hoist
    /// context ls`).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Use TLS and verify the engine's certificate.
    #[arg(long)]
    pub tlsverify: bool,

    /// Trust certificates signed by this CA only.
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,

    /// Client certificate.
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,

    /// Client key.
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,

    /// Allow plain TCP to this non-loopback host (repeatable; also HOIST_TRUST_INSECURE_HOST,
    /// comma-separated). Whoever reaches an unprotected engine port owns that host.
    #[arg(long = "trust-insecure-host", value_name = "HOST")]
    pub trust_insecure_host: Vec<String>,

    /// Compose configuration files.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<PathBuf>,

    /// Project name.
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,

    /// Alternate working directory (default: the directory of the first compose file).
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,

    /// Profiles to enable.
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profile: Vec<String>,

    /// Alternate environment files.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Control when to print ANSI control characters: never, always or auto. hoist's output
    /// has none, so every value gives the same plain text.
    #[arg(long, value_enum, value_name = "WHEN")]
    pub ansi: Option<Ansi>,

    /// Set type of progress output (auto, tty, plain, json, quiet); also COMPOSE_PROGRESS. A
    /// verb's own `--progress` wins.
    #[arg(long = "progress", value_enum, value_name = "MODE")]
    pub progress: Option<Progress>,

    /// Run in backward compatibility mode: containers are named `project_service_N`, as
    /// Compose 1.x named them (also COMPOSE_COMPATIBILITY=true).
    #[arg(long)]
    pub compatibility: bool,

    /// Include all resources, even those not used by services (accepted for Compose's command
    /// lines; hoist does not act on it yet).
    #[arg(long = "all-resources")]
    pub all_resources: bool,

    /// Execute the command in dry run mode: say what would be done, change nothing on the
    /// engine (up, down, start, stop, restart, rm).
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and start containers (dependencies first; unchanged services are left running).
    Up(UpArgs),
    /// Create containers for a service, without starting them (`up --no-start`).
    Create(CreateArgs),
    /// Stop and remove containers and networks (and volumes with -v).
    Down(DownArgs),
    /// List containers.
    Ps(PsArgs),
    /// Print the public address of a port binding.
    Port(PortArgs),
    /// Low-level information on a service's container or any container, as JSON or a template.
    Inspect(InspectArgs),
    /// Execute a command in a running container of a service.
    Exec(ExecArgs),
    /// Force stop service containers with a signal.
    Kill(KillArgs),
    /// Pause services.
    Pause(ServicesArgs),
    /// Unpause services.
    Unpause(ServicesArgs),
    /// Display the running processes.
    Top(ServicesArgs),
    /// List images used by the created containers.
    Images(ImagesArgs),
    /// Block until the containers of the given services stop.
    Wait(WaitArgs),
    /// Copy files/folders between a service container and the local filesystem.
    Cp(CpArgs),
    /// Receive real time events from containers.
    Events(EventsArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(StatsArgs),
    /// Attach local standard input, output, and error streams to a service's running container.
    Attach(AttachArgs),
    /// Run a one-off command on a service.
    Run(RunArgs),
    /// View output from containers.
    Logs(LogsArgs),
    /// Start existing containers.
    Start(ServicesArgs),
    /// Stop running containers without removing them.
    Stop(StopArgs),
    /// Restart service containers.
    Restart(StopArgs),
    /// Remove stopped service containers.
    Rm(RmArgs),
    /// Pull service images.
    Pull(PullArgs),
    /// Push service images.
    Push(ServicesArgs),
    /// Build or rebuild service images.
    Build(BuildArgs),
    /// List running compose projects.
    Ls(LsArgs),
    /// The docker contexts hoist can use (`--context NAME`); `docker context create` makes them.
    Context(ContextArgs),
    /// Make a CA, a server and a client certificate that protect an engine's remote API.
    Tls(crate::commands::tls::TlsArgs),
    /// Set the number of containers of a service (legacy `scale SERVICE=N`).
    Scale(ScaleArgs),
    /// Release a service with zero downtime: start the next colour beside the live one, check
    /// it, switch the proxy, stop the old colour.
    Deploy(DeployArgs),
    /// Switch back to the previous (stopped) colour of a service; with --target and no
    /// service, bring the whole project back to a kept release.
    Rollback(RollbackArgs),
    /// A service's colours: image, commit, when deployed, state; with --target and no
    /// service, the project's releases.
    Releases(ReleasesArgs),
    /// Remove what the releases a target no longer keeps used: their images, stopped colours
    /// and records.
    Prune(PruneArgs),
    /// The deploy lock on the target: who holds it, a maintenance window, releasing it.
    Lock(LockArgs),
    /// Docker Swarm stacks: deploy a compose project to a cluster, list its tasks and services,
    /// remove it.
    #[command(subcommand)]
    Stack(crate::commands::stack::StackCommand),
    /// Show hoist's version and the engine's (address, version, API version).
    Version(VersionArgs),
    /// Parse, resolve and render the compose files, as `docker compose config` does.
    Config(crate::commands::config::ConfigArgs),
    /// The book's nine-step deployment pipeline, from hoist.yml.
    #[command(subcommand)]
    Pipeline(crate::commands::pipeline::PipelineCommand),
    /// HTTPS at a target's proxy: list, renew (ACME) or install certificates.
    #[command(subcommand)]
    Proxy(crate::commands::proxy::ProxyCommand),
    /// Put a target's route in maintenance (503 with a page) or back: `on`, `off`, `status`.
    #[command(subcommand)]
    Maintenance(crate::commands::maintenance::MaintenanceCommand),
    /// Serve the dashboard for one or more engines (default http://127.0.0.1:9000).
    Ui(crate::commands::ui::UiArgs),
}

/// `--progress`: how progress is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Progress {
    #[default]
    Auto,
    Tty,
    Plain,
    Json,
    Quiet,
}

/// `--ansi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ansi {
    Never,
    Always,
    Auto,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ProgressArgs {
    /// Set type of progress output.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
}

#[derive(Debug, Args, Clone, Default)]
pub struct CreateArgs {
    /// Build images before starting containers.
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's missing.
    #[arg(long)]
    pub no_build: bool,
    /// Recreate containers even if their configuration and image haven't changed.
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them.
    #[arg(long)]
    pub no_recreate: bool,
    /// Pull image before running ("always"|"missing"|"never"|"build").
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Pull without printing progress information.
    #[arg(long)]
    pub quiet_pull: bool,
    /// Remove containers for services not defined in the compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Assume "yes" as answer to all prompts and run non-interactively.
    #[arg(short = 'y', long)]
    pub yes: bool,
    #[command(flatten)]
    pub progress: ProgressArgs,
    pub services: Vec<String>,
}

impl CreateArgs {
    /// `create` is `up --no-start`.
    pub fn as_up(&self, dry_run: bool) -> UpArgs {
        UpArgs {
            detach: true,
            no_start: true,
            build: self.build,
            no_build: self.no_build,
            force_recreate: self.force_recreate,
            no_recreate: self.no_recreate,
            pull: self.pull.clone(),
            remove_orphans: self.remove_orphans,
            scale: self.scale.clone(),
            yes: self.yes,
            dry_run,
            progress: self.progress.clone(),
            services: self.services.clone(),
            ..UpArgs::default()
        }
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct UpArgs {
    /// Detached mode: run containers in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Build images before starting containers.
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Don't build an image, even if it's missing.
    #[arg(long)]
    pub no_build: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers.
    #[arg(short = 'V', long)]
    pub renew_anon_volumes: bool,
    /// Assume "yes" as answer to all prompts and run non-interactively (a changed volume is
    /// made again).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Don't start linked services.
    #[arg(long)]
    pub no_deps: bool,
    /// Recreate containers even if their configuration and image haven't changed.
    #[arg(long, conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them.
    #[arg(long)]
    pub no_recreate: bool,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy.
    #[arg(long, value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Remove containers for services not defined in the compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Execute command in dry run mode: print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use this timeout in seconds for container shutdown when containers are recreated.
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Stops all containers if any container was stopped. Incompatible with -d.
    #[arg(long, conflicts_with = "abort_on_container_failure")]
    pub abort_on_container_exit: bool,
    /// Stops all containers if any container exited with failure. Incompatible with -d.
    #[arg(long)]
    pub abort_on_container_failure: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit.
    #[arg(long, value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// Show the output of the services the named ones depend on too.
    #[arg(long)]
    pub attach_dependencies: bool,
    /// Restrict attaching to the specified services. Incompatible with --attach-dependencies.
    #[arg(long, value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services.
    #[arg(long, value_name = "SERVICE")]
    pub no_attach: Vec<String>,
    /// Don't start the services after creating them.
    #[arg(long)]
    pub no_start: bool,
    /// Enable the interactive shortcuts of attached mode (hoist has none: accepted for
    /// compatibility with Compose's scripts, `--menu=false`).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub menu: Option<bool>,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DownArgs {
    /// Remove named volumes declared in the volumes section and anonymous volumes.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove images used by services. "local" removes only the images the project builds,
    /// "all" every image a service uses.
    #[arg(long, value_name = "TYPE")]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Print the plan, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub progress: ProgressArgs,
    /// Only these services (and those that depend on them).
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Display services.
    #[arg(long)]
    pub services: bool,
    /// Format output: table, json, or a Go template ("table {{.Name}}\t{{.Ports}}").
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Filter services by status. Values: [paused | restarting | removing | running | dead |
    /// created | exited]. Implies --all.
    #[arg(long)]
    pub status: Vec<String>,
    /// Filter services by a property (supported filters: status), as KEY=VALUE.
    #[arg(long)]
    pub filter: Option<String>,
    #[command(flatten)]
    pub on: OnTarget,
    pub service: Vec<String>,
}

/// `--target`: a `hoist.yml` target's hosts instead of the engine the global flags name.
#[derive(Debug, Args, Clone, Default)]
pub struct OnTarget {
    /// A target of `hoist.yml`: every one of its hosts, each row or line naming its host.
    #[arg(long)]
    pub target: Option<String>,
    /// The pipeline file that names the targets.
    #[arg(
        long = "pipeline-file",
        value_name = "PATH",
        default_value = "hoist.yml"
    )]
    pub pipeline_file: PathBuf,
}

impl PsArgs {
    /// The statuses asked for with `--status` and `--filter status=...`.
    pub fn statuses(&self) -> anyhow::Result<Vec<String>> {
        let mut statuses = self.status.clone();
        if let Some(filter) = &self.filter {
            match filter.split_once('=') {
                Some(("status", value)) => statuses.push(value.to_string()),
                Some((key, _)) => anyhow::bail!("unknown filter {key}"),
                None => anyhow::bail!("arguments to --filter should be in form KEY=VAL"),
            }
        }
        Ok(statuses)
    }
}

#[derive(Debug, Args, Clone, Default)]
pub struct PortArgs {
    /// tcp or udp.
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if the service has multiple replicas.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    pub service: String,
    pub private_port: u16,
}

#[derive(Debug, Args, Clone, Default)]
pub struct InspectArgs {
    /// Format the output using the given Go template (`-f` is the compose file, as everywhere).
    #[arg(long = "format")]
    pub format: Option<String>,
    /// Service names or container names/ids.
    #[arg(required = true)]
    pub targets: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Run container in background and print container ID.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables.
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Don't start linked services.
    #[arg(long)]
    pub no_deps: bool,
    /// Disable pseudo-TTY allocation.
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Keep STDIN open even if not attached (the default; `--interactive=false` closes it).
    #[arg(short = 'i', long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub interactive: bool,
    /// Override the entrypoint of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Run as specified username or uid.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Add or override a label.
    #[arg(short = 'l', long = "label", value_name = "KEY=VAL")]
    pub label: Vec<String>,
    /// Bind mount a volume.
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Publish a container's port(s) to the host.
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Add Linux capabilities.
    #[arg(long)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long)]
    pub pull: Option<String>,
    /// Pull without printing progress information.
    #[arg(long)]
    pub quiet_pull: bool,
    /// Use the service's network aliases in the network(s) the container connects to.
    #[arg(long)]
    pub use_aliases: bool,
    /// Run command with the service's ports enabled and mapped to the host.
    #[arg(long)]
    pub service_ports: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    pub service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables (`KEY=VAL`, or `KEY` for the value in hoist's environment).
    #[arg(short = 'e', long = "env", value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// Index of the container if the service has several.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Give extended privileges to the process.
    #[arg(long)]
    pub privileged: bool,
    /// Run the command as this user.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Disable pseudo-TTY allocation (the default when hoist's output is not a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Path to the working directory for this command.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Keep STDIN open even if not attached (the default, as Compose's hidden flag).
    #[arg(short = 'i', long, hide = true, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY (the default, as Compose's hidden flag; `-T` turns it off).
    #[arg(short = 't', long, hide = true, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub tty: bool,
    pub service: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct KillArgs {
    /// SIGNAL to send to the container.
    #[arg(short = 's', long, default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long)]
    pub remove_orphans: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct AttachArgs {
    /// Override the key sequence for detaching from a container.
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Index of the container if the service has several.
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Do not attach STDIN.
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    pub service: String,
}

#[derive(Debug, Args, Clone, Default)]
pub struct VersionArgs {
    /// Shows only hoist's version number.
    #[arg(long)]
    pub short: bool,
    /// Format the output: pretty (the default) or json.
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct StatsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format the output: table or json.
    #[arg(long)]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result.
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output.
    #[arg(long)]
    pub no_trunc: bool,
    pub service: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct EventsArgs {
    /// Output events as a stream of json objects.
    #[arg(long)]
    pub json: bool,
    /// Show all events created since timestamp.
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long)]
    pub until: Option<String>,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct CpArgs {
    /// Include containers created by the run command (with no `--index`).
    #[arg(long, hide = true)]
    pub all: bool,
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Index of the container if the service has several (0: every one; the first to copy from).
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    /// `SERVICE:SRC_PATH`, a local path, or `-` (a tar on stdin).
    pub source: String,
    /// A local path, `-` (a tar on stdout), or `SERVICE:DEST_PATH`.
    pub dest: String,
}

#[derive(Debug, Args, Clone, Default)]
pub struct WaitArgs {
    /// Drop the project once the containers stopped (`down --remove-orphans`).
    #[arg(long)]
    pub down_project: bool,
    #[arg(required = true)]
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ImagesArgs {
    /// Format the output: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only display IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs for each container.
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Don't print prefix in logs.
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Index of the container if the service has several replicas (0: all).
    #[arg(long, default_value_t = 0)]
    pub index: u32,
    #[command(flatten)]
    pub on: OnTarget,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RmArgs {
    /// Don't ask to confirm removal.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Stop the containers, if required, before removing.
    #[arg(short = 's', long)]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PullArgs {
    /// Ignore images that can be built.
    #[arg(long)]
    pub ignore_buildable: bool,
    /// Pull what it can and ignore images with pull failures.
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Pull without printing progress information.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct BuildArgs {
    /// Set build-time variables for services.
    #[arg(long = "build-arg", value_name = "KEY=VAL")]
    pub build_arg: Vec<String>,
    /// Do not use cache when building the image.
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image.
    #[arg(long)]
    pub pull: bool,
    /// Don't print anything to stdout.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct LsArgs {
    /// Show all stopped compose projects.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display project names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format the output: table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ScaleArgs {
    /// SERVICE=NUM pairs.
    #[arg(required = true, value_name = "SERVICE=NUM")]
    pub scales: Vec<String>,
    /// Don't start linked services.
    #[arg(long)]
    pub no_deps: bool,
}

/// Where a service is released: the proxy in front of it and how to check it. `hoist.yml`
/// targets give the same settings.
#[derive(Debug, Args, Clone, Default)]
pub struct ReleaseArgs {
    /// A target of `hoist.yml`: its engine, proxy, route and compose files.
    #[arg(long)]
    pub target: Option<String>,
    /// The pipeline file that names the targets.
    #[arg(
        long = "pipeline-file",
        value_name = "PATH",
        default_value = "hoist.yml"
    )]
    pub pipeline_file: std::path::PathBuf,
    /// Wait for the deploy lock instead of failing when another deploy holds it.
    #[arg(long = "wait-lock")]
    pub wait_lock: bool,
    /// The target's address as its proxy and the tests reach it (default: the engine's host).
    #[arg(long = "target-host", value_name = "ADDR")]
    pub target_host: Option<String>,
    /// Route requests under this path prefix to the service (default `/`).
    #[arg(
        long = "route-path",
        value_name = "PATH",
        conflicts_with = "route_host"
    )]
    pub route_path: Option<String>,
    /// Route requests for this host name to the service instead.
    #[arg(long = "route-host", value_name = "NAME")]
    pub route_host: Option<String>,
    /// nginx image of the proxy.
    #[arg(long = "proxy-image", default_value = "nginx")]
    pub proxy_image: String,
    /// Host port the proxy publishes.
    #[arg(long = "proxy-port", default_value_t = 80)]
    pub proxy_port: u16,
    /// The proxy container's name (`hoist-proxy`), also its compose project.
    #[arg(long = "proxy-name", value_name = "NAME")]
    pub proxy_name: Option<String>,
    /// The service's container port the proxy forwards to (default: its first port).
    #[arg(long = "container-port")]
    pub container_port: Option<u16>,
    /// HTTP path that must answer 200 before the new colour takes traffic (with its Docker
    /// health check, if it has one).
    #[arg(long = "health-path", value_name = "PATH")]
    pub health_path: Option<String>,
    /// Seconds the new colour gets to become healthy.
    #[arg(long = "health-timeout", default_value_t = 60)]
    pub health_timeout: u64,
    /// Seconds in-flight requests get on the old colour after the switch.
    #[arg(long, default_value_t = 2)]
    pub drain: u64,
    /// HTTP path the pre- and post-integration tests GET (must answer 200).
    #[arg(long = "test-path", value_name = "PATH")]
    pub test_path: Option<String>,
    /// Serve the --route-host over HTTPS with a certificate from the ACME server (`acme`).
    #[arg(long, value_name = "acme", requires = "route_host", value_parser = ["acme"])]
    pub tls: Option<String>,
    /// The ACME server's directory URL (default Let's Encrypt).
    #[arg(long = "acme-directory", value_name = "URL", requires = "tls")]
    pub acme_directory: Option<String>,
    /// A CA certificate (PEM) to trust for the ACME server's own HTTPS.
    #[arg(long = "acme-ca", value_name = "FILE", requires = "tls")]
    pub acme_ca: Option<std::path::PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct DeployArgs {
    /// The image to release: a full reference, or a tag for the service's image.
    #[arg(long)]
    pub image: Option<String>,
    /// `blue-green` (zero downtime) or `recreate` (Compose's stop-then-start, for services that
    /// cannot run twice at once).
    #[arg(long, default_value = "blue-green")]
    pub strategy: String,
    #[command(flatten)]
    pub release: ReleaseArgs,
    pub service: String,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// With --target, roll stateful services (hoist.yml's `stateful:`) back too.
    #[arg(long = "include-stateful")]
    pub include_stateful: bool,
    /// A service (its previous colour); with --target, a release id, or nothing for the
    /// release before the live one: the whole project.
    #[arg(default_value = "", hide_default_value = true)]
    pub service: String,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ReleasesArgs {
    #[command(flatten)]
    pub release: ReleaseArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// `table` or `json` (as --json).
    #[arg(long, value_parser = ["table", "json"])]
    pub format: Option<String>,
    /// A service's colours; with --target and no service, the project's releases.
    #[arg(default_value = "", hide_default_value = true)]
    pub service: String,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PruneArgs {
    /// A target of `hoist.yml`.
    #[arg(long)]
    pub target: String,
    /// The pipeline file that names the targets.
    #[arg(
        long = "pipeline-file",
        value_name = "PATH",
        default_value = "hoist.yml"
    )]
    pub pipeline_file: std::path::PathBuf,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::Parser;

    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Cli {
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Cli::try_parse_from(std::iter::once("hoist").chain(args.iter().copied()))
            .expect("parses")
            .with_global_flags(&env)
    }

    fn up(cli: &Cli) -> &UpArgs {
        match &cli.command {
            Command::Up(args) => args,
            other => panic!("not up: {other:?}"),
        }
    }

    #[test]
    fn global_dry_run_and_progress_reach_up() {
        let cli = parse(&["--dry-run", "--progress", "quiet", "up", "-d"], &[]);
        assert!(up(&cli).dry_run);
        assert_eq!(up(&cli).progress.progress, Progress::Quiet);
    }

    #[test]
    fn the_verbs_own_progress_wins_then_the_flag_then_the_variable() {
        let cli = parse(
            &["--progress", "quiet", "up", "--progress", "json"],
            &[("COMPOSE_PROGRESS", "plain")],
        );
        assert_eq!(up(&cli).progress.progress, Progress::Json);
        let cli = parse(
            &["--progress", "quiet", "up"],
            &[("COMPOSE_PROGRESS", "plain")],
        );
        assert_eq!(up(&cli).progress.progress, Progress::Quiet);
        let cli = parse(&["up"], &[("COMPOSE_PROGRESS", "plain")]);
        assert_eq!(up(&cli).progress.progress, Progress::Plain);
        let cli = parse(&["up"], &[("COMPOSE_PROGRESS", "nonsense")]);
        assert_eq!(up(&cli).progress.progress, Progress::Auto);
    }

    #[test]
    fn compatibility_from_the_flag_or_a_go_true_variable() {
        assert!(parse(&["--compatibility", "ps"], &[]).global.compatibility);
        assert!(
            parse(&["ps"], &[("COMPOSE_COMPATIBILITY", "true")])
                .global
                .compatibility
        );
        assert!(
            parse(&["ps"], &[("COMPOSE_COMPATIBILITY", "1")])
                .global
                .compatibility
        );
        assert!(
            !parse(&["ps"], &[("COMPOSE_COMPATIBILITY", "yes")])
                .global
                .compatibility
        );
        assert!(!parse(&["ps"], &[]).global.compatibility);
    }

    #[test]
    fn dry_run_is_refused_by_verbs_that_would_change_the_engine() {
        assert_eq!(
            parse(&["--dry-run", "stop"], &[]).dry_run_refused(),
            Some("stop")
        );
        assert_eq!(parse(&["--dry-run", "up"], &[]).dry_run_refused(), None);
        assert_eq!(parse(&["--dry-run", "ps"], &[]).dry_run_refused(), None);
        assert_eq!(parse(&["stop"], &[]).dry_run_refused(), None);
    }

    #[test]
    fn all_resources_is_accepted() {
        assert!(parse(&["--all-resources", "up"], &[]).global.all_resources);
    }
}

#[derive(Debug, Args, Clone)]
pub struct LockArgs {
    #[command(subcommand)]
    pub command: LockCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum LockCommand {
    /// Who holds the service's deploy lock on the target, since when, and whether the holder is
    /// alive.
    Status {
        #[command(flatten)]
        release: ReleaseArgs,
        service: String,
    },
    /// Take the lock for a maintenance window: deploys and rollbacks wait or fail until
    /// `hoist lock release`.
    Acquire {
        #[command(flatten)]
        release: ReleaseArgs,
        /// Why (shown to whoever is refused).
        #[arg(short, long, default_value = "")]
        message: String,
        service: String,
    },
    /// End a maintenance window, or remove a dead holder's lock; `--force` also removes a live
    /// deploy's.
    Release {
        #[command(flatten)]
        release: ReleaseArgs,
        #[arg(long)]
        force: bool,
        service: String,
    },
}

#[derive(Debug, Args, Clone)]
pub struct ContextArgs {
    #[command(subcommand)]
    pub command: ContextCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum ContextCommand {
    /// List the docker contexts, the current one marked `*`.
    Ls {
        /// `json`: one object per line.
        #[arg(long)]
        format: Option<String>,
        /// Only show context names.
        #[arg(short, long)]
        quiet: bool,
    },
}
