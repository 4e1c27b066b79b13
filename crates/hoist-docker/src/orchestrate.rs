//! Whole operations on a project, composed from observe → decide (pure, in hoist-core) →
//! execute: `up` and one-off `run`. The binary's commands, the pipeline and blue-green releases
//! all go through these, so they behave the same everywhere.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use hoist_core::events::{Event, EventSink, Phase};
use hoist_core::plan::{
    PlanError, UpOptions, plan_images, reconcile_resources, reconcile_up, select_services,
};
use hoist_core::spec::{ProjectSpec, PullPolicy, labels};

use crate::execute::{ExecError, ExecOptions, execute};
use crate::logs::{LogOptions, LogStream, LogsError};
use crate::project::CreateRequest;
use crate::{Engine, EngineError};

#[derive(Debug, thiserror::Error)]
pub enum OrchestrateError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Logs(#[from] LogsError),
    #[error("no such service: {0}")]
    NoSuchService(String),
}

/// What `up` would do, without doing it: the image plan, then the container plan as it stands
/// now.
pub async fn plan_up(
    engine: &Engine,
    spec: &ProjectSpec,
    opts: &UpOptions,
    pull: Option<PullPolicy>,
) -> Result<String, OrchestrateError> {
    let services = select_services(spec, &opts.services, opts.no_deps)?;
    let observed = observe(engine, spec, &services).await?;
    let images = plan_images(spec, &observed, &services, pull, opts.build)?;
    let plan = reconcile_up(spec, &observed, opts)?;
    let mut text = images.to_string();
    if !images.is_empty() {
        text.push_str("then, once the images are there:\n");
    }
    text.push_str(&plan.to_string());
    Ok(text)
}

async fn observe(
    engine: &Engine,
    spec: &ProjectSpec,
    services: &[&hoist_core::spec::ServiceSpec],
) -> Result<hoist_core::observed::Observed, EngineError> {
    let networks: Vec<String> = spec.networks.iter().map(|n| n.name.clone()).collect();
    let volumes: Vec<String> = spec.volumes.iter().map(|v| v.name.clone()).collect();
    let images: Vec<String> = services.iter().map(|s| s.image.clone()).collect();
    engine
        .observe_project(&spec.name, &networks, &volumes, &images)
        .await
}

/// `up`: pull or build what is missing, then create, recreate and start what the plan says.
/// Unchanged containers are reported as `Running`.
pub async fn up(
    engine: &Engine,
    spec: &ProjectSpec,
    opts: &UpOptions,
    pull: Option<PullPolicy>,
    exec: &ExecOptions,
    sink: &dyn EventSink,
) -> Result<(), OrchestrateError> {
    let services = select_services(spec, &opts.services, opts.no_deps)?;
    let observed = observe(engine, spec, &services).await?;
    let image_plan = plan_images(spec, &observed, &services, pull, opts.build)?;
    let observed = if image_plan.is_empty() {
        observed
    } else {
        execute(engine, spec, &image_plan, exec, sink).await?;
        observe(engine, spec, &services).await?
    };
    let plan = reconcile_up(spec, &observed, opts)?;
    for warning in &plan.warnings {
        sink.emit(Event::new(
            "Project",
            spec.name.clone(),
            Phase::Info,
            warning.clone(),
        ));
    }
    for name in &plan.unchanged {
        sink.emit(Event::new(
            "Container",
            name.clone(),
            Phase::Info,
            "Running",
        ));
    }
    execute(engine, spec, &plan, exec, sink).await?;
    Ok(())
}

/// Creates the project networks and volumes `services` use that the engine lacks, as `up`
/// would, before their containers are made outside `up` (a blue-green colour).
pub async fn create_resources(
    engine: &Engine,
    spec: &ProjectSpec,
    services: &[String],
    exec: &ExecOptions,
    sink: &dyn EventSink,
) -> Result<(), OrchestrateError> {
    let selected = select_services(spec, services, true)?;
    let observed = observe(engine, spec, &selected).await?;
    let plan = reconcile_resources(spec, &observed, services)?;
    execute(engine, spec, &plan, exec, sink).await?;
    Ok(())
}

/// A one-off container (`run`).
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub service: String,
    /// Replaces the service's command when not empty.
    pub command: Vec<String>,
    /// `-e K=V`.
    pub env: Vec<String>,
    /// Bring dependencies up first.
    pub with_deps: bool,
    pub service_ports: bool,
    /// Remove the container once it exited.
    pub remove: bool,
    /// Start it and return at once (the exit code is then 0).
    pub detach: bool,
    /// Container name; `project-service-run-<hex>` otherwise.
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Keep the container's stdin open for hoist to attach to (`run`'s default, `-i`).
    pub interactive: bool,
    /// `--use-aliases`: the service's network aliases for the one-off container too.
    pub use_aliases: bool,
    /// `--pull`: the policy for the service's image; the service's own otherwise.
    pub pull: Option<PullPolicy>,
    /// `--quiet-pull`: pulling the service's image reports nothing.
    pub quiet_pull: bool,
}

/// Passes every event on but those of images (`--quiet-pull`).
struct WithoutImages<'a>(&'a dyn EventSink);

impl EventSink for WithoutImages<'_> {
    fn emit(&self, event: Event) {
        if event.kind != "Image" {
            self.0.emit(event);
        }
    }
}

/// The outcome of a one-off run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub container: String,
    pub exit_code: i64,
}

/// A one-off container [`create_oneoff`] made, not started yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOff {
    pub name: String,
    pub id: String,
}

/// Makes what a one-off container of `request.service` needs (its dependencies up unless
/// `--no-deps`, its image, its networks) and creates it, as `docker compose run` does: named
/// `PROJECT-SERVICE-run-<slug>`, labelled with its slug, unnumbered, with its stdin open and
/// attached when `request.interactive`.
pub async fn create_oneoff(
    engine: &Engine,
    spec: &ProjectSpec,
    request: &RunRequest,
    exec: &ExecOptions,
    sink: &dyn EventSink,
) -> Result<OneOff, OrchestrateError> {
    let service = spec
        .service(&request.service)
        .ok_or_else(|| OrchestrateError::NoSuchService(request.service.clone()))?;
    if request.with_deps {
        let deps: Vec<String> = select_services(spec, std::slice::from_ref(&service.name), false)?
            .into_iter()
            .filter(|s| s.name != service.name)
            .map(|s| s.name.clone())
            .collect();
        if !deps.is_empty() {
            let opts = UpOptions {
                services: deps,
                ..Default::default()
            };
            up(engine, spec, &opts, None, exec, sink).await?;
        }
    }
    let observed = observe(engine, spec, &[service]).await?;
    let images = plan_images(spec, &observed, &[service], request.pull, None)?;
    let quiet = WithoutImages(sink);
    let image_sink: &dyn EventSink = if request.quiet_pull { &quiet } else { sink };
    execute(engine, spec, &images, exec, image_sink).await?;
    // The service's networks may not exist yet when no dependency brought them up.
    let networks: Vec<String> = spec.networks.iter().map(|n| n.name.clone()).collect();
    let observed = engine
        .observe_project(&spec.name, &networks, &[], &[])
        .await?;
    for attachment in &service.networks {
        if observed.network(&attachment.network).is_none() {
            engine
                .create_project_network(spec, &attachment.network)
                .await?;
        }
    }
    let slug = oneoff_slug();
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| spec.oneoff_name(&service.name, &slug[..12]));
    let mut labels = request.labels.clone();
    labels.insert(labels::SLUG.to_string(), slug);
    let create = CreateRequest {
        name: name.clone(),
        number: 1,
        oneoff: true,
        command: (!request.command.is_empty()).then(|| request.command.clone()),
        extra_env: request.env.clone(),
        no_ports: !request.service_ports,
        // Output is multiplexed, not a terminal: stdout and stderr stay apart.
        tty: Some(false),
        stdin_open: Some(request.interactive),
        attach_stdin: request.interactive,
        network_mode: None,
        labels,
        image_id: None,
        inherited_volumes: Vec::new(),
        use_aliases: request.use_aliases,
    };
    let id = engine
        .create_service_container(spec, service, &create)
        .await?;
    Ok(OneOff { name, id })
}

/// Runs a one-off container of `request.service` and streams its output lines to `output`
/// (nothing reaches its stdin); returns its exit code, or at once with `request.detach`.
pub async fn run_oneoff(
    engine: &Engine,
    spec: &ProjectSpec,
    request: &RunRequest,
    exec: &ExecOptions,
    sink: &dyn EventSink,
    mut output: impl FnMut(LogStream, &str) + Send,
) -> Result<RunOutcome, OrchestrateError> {
    let OneOff { name, .. } = create_oneoff(engine, spec, request, exec, sink).await?;
    engine.start_container(&name).await?;
    if request.detach {
        return Ok(RunOutcome {
            container: name,
            exit_code: 0,
        });
    }
    let mut lines = engine
        .logs(
            &name,
            LogOptions {
                follow: true,
                tail: None,
                timestamps: false,
            },
        )
        .await?;
    while let Some(line) = lines.next().await {
        let line = line?;
        output(line.stream, &line.text);
    }
    let exit_code = engine.wait_exit(&name).await?;
    if request.remove {
        engine.remove_container(&name, true, true).await?;
    }
    Ok(RunOutcome {
        container: name,
        exit_code,
    })
}

/// A one-off container's slug: 64 random hex characters, as Compose makes them (the container
/// name takes the first twelve).
fn oneoff_slug() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    format!("{}{}", a.simple(), b.simple())
}
