//! Carries out a plan on one engine. It carries no decision logic: every step was decided by
//! `hoist_core::plan`; this module only runs each step as soon as the steps it waits for are
//! done, reports progress events, and on the first failure starts nothing new, lets running steps
//! finish, and says exactly what was done.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hoist_core::events::{Event, EventSink, Phase};
use hoist_core::plan::{Action, Plan, Step};
use hoist_core::spec::{ProjectSpec, labels};

use crate::project::CreateRequest;
use crate::{Engine, EngineError};

/// Settings of one execution.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Stop timeout in seconds (`-t`); the service's `stop_grace_period` otherwise.
    pub stop_timeout: Option<u64>,
    /// Deadline for health and completion waits.
    pub wait_timeout: Duration,
    /// Remove containers' anonymous volumes with them (`down -v`, `rm -v`).
    pub remove_volumes: bool,
    /// Where registry credentials come from (`~/.docker/config.json`).
    pub docker_config: Option<std::sync::Arc<crate::auth::DockerConfig>>,
    /// `up -V`: a recreated container gets new anonymous volumes instead of its predecessor's.
    pub renew_anon_volumes: bool,
}

/// The anonymous volumes of containers removed to be recreated, by container name: the new
/// container mounts them again at the same paths, so recreating loses no data (Compose's
/// inheritance).
#[derive(Default)]
struct Inherited(std::sync::Mutex<BTreeMap<String, Vec<(String, String)>>>);

impl Inherited {
    fn keep(&self, container: &str, volumes: Vec<(String, String)>) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(container.to_string(), volumes);
    }

    fn take(&self, container: &str) -> Vec<(String, String)> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.remove(container).unwrap_or_default()
    }
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            stop_timeout: None,
            wait_timeout: Duration::from_secs(600),
            remove_volumes: false,
            docker_config: None,
            renew_anon_volumes: false,
        }
    }
}

/// A failed execution: the step that failed, why, and what had been done before.
#[derive(Debug, thiserror::Error)]
#[error("{failed}: {error}")]
pub struct ExecError {
    pub failed: String,
    pub error: EngineError,
    /// Steps completed before the failure, in completion order.
    pub done: Vec<String>,
}

type StepFuture<'a> = Pin<Box<dyn Future<Output = (usize, Result<(), EngineError>)> + Send + 'a>>;

/// Runs `plan` on `engine`.
pub async fn execute(
    engine: &Engine,
    project: &ProjectSpec,
    plan: &Plan,
    opts: &ExecOptions,
    sink: &dyn EventSink,
) -> Result<(), ExecError> {
    let inherited = Inherited::default();
    let inherited = &inherited;
    let steps: BTreeMap<usize, &Step> = plan.steps.iter().map(|s| (s.id, s)).collect();
    let mut pending: BTreeSet<usize> = steps.keys().copied().collect();
    let mut finished: BTreeSet<usize> = BTreeSet::new();
    let mut done = Vec::new();
    let mut running: FuturesUnordered<StepFuture<'_>> = FuturesUnordered::new();
    let mut failure: Option<ExecError> = None;

    loop {
        if failure.is_none() {
            let ready: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|id| steps[id].after.iter().all(|a| finished.contains(a)))
                .collect();
            for id in ready {
                pending.remove(&id);
                let step = steps[&id];
                running.push(Box::pin(async move {
                    (
                        id,
                        run_step(engine, project, step, opts, inherited, sink).await,
                    )
                }));
            }
        }
        let Some((id, result)) = running.next().await else {
            break;
        };
        let step = steps[&id];
        match result {
            Ok(()) => {
                finished.insert(id);
                done.push(step.action.to_string());
            }
            Err(error) if plan.optional.contains(&id) => {
                // A `required: false` dependency: its dependents start anyway.
                let (kind, name) = subject(&step.action);
                let dependency = service_of(&step.action).unwrap_or_default();
                let why = format!("optional dependency {dependency:?} failed to start");
                tracing::warn!("{why}: {error}");
                sink.emit(Event::new(kind, name, Phase::Info, why));
                finished.insert(id);
                done.push(step.action.to_string());
            }
            Err(error) => {
                let (kind, name) = subject(&step.action);
                sink.emit(Event::new(kind, name, Phase::Failed, error.to_string()));
                if failure.is_none() {
                    failure = Some(ExecError {
                        failed: match service_of(&step.action) {
                            Some(service) => format!("service {service}: {}", step.action),
                            None => step.action.to_string(),
                        },
                        error,
                        done: Vec::new(),
                    });
                }
            }
        }
    }
    match failure {
        Some(mut f) => {
            f.done = done;
            Err(f)
        }
        None => Ok(()),
    }
}

/// The service a step belongs to, when it belongs to one.
pub fn service_of(action: &Action) -> Option<&str> {
    match action {
        Action::PullImage { service, .. }
        | Action::BuildImage { service, .. }
        | Action::CreateContainer { service, .. }
        | Action::StartContainer { service, .. }
        | Action::WaitHealthy { service, .. }
        | Action::WaitCompleted { service, .. }
        | Action::WaitReady { service, .. }
        | Action::StopContainer { service, .. }
        | Action::RemoveContainer { service, .. } => Some(service),
        _ => None,
    }
}

/// The resource a step acts on, for events.
pub fn subject(action: &Action) -> (&'static str, String) {
    match action {
        Action::PullImage { image, .. } | Action::BuildImage { image, .. } => {
            ("Image", image.clone())
        }
        Action::CreateNetwork { network }
        | Action::RemoveNetwork { network }
        | Action::RequireNetwork { network } => ("Network", network.clone()),
        Action::DisconnectNetwork { name, .. } | Action::ConnectNetwork { name, .. } => {
            ("Container", name.clone())
        }
        Action::CreateVolume { volume } | Action::RemoveVolume { volume } => {
            ("Volume", volume.clone())
        }
        Action::CreateContainer { name, .. }
        | Action::StartContainer { name, .. }
        | Action::WaitHealthy { name, .. }
        | Action::WaitCompleted { name, .. }
        | Action::WaitReady { name, .. }
        | Action::StopContainer { name, .. }
        | Action::RemoveContainer { name, .. } => ("Container", name.clone()),
    }
}

async fn run_step(
    engine: &Engine,
    project: &ProjectSpec,
    step: &Step,
    opts: &ExecOptions,
    inherited: &Inherited,
    sink: &dyn EventSink,
) -> Result<(), EngineError> {
    let action = &step.action;
    let (kind, name) = subject(action);
    let say = |phase: Phase, text: &str| sink.emit(Event::new(kind, name.clone(), phase, text));
    // As Compose: a recreation is reported as `Recreate` when it begins and `Recreated` once
    // the new container exists, not as the stop, removal and creation it is made of.
    let recreates = step.recreates();
    let progress = |phase: Phase, text: &str| {
        if !recreates {
            say(phase, text);
        }
    };
    match action {
        Action::PullImage { image, .. } => {
            say(Phase::Working, "Pulling");
            let auth = match &opts.docker_config {
                Some(config) => config
                    .credentials_for_image(image)
                    .map_err(|e| EngineError::message(e.to_string()))?,
                None => None,
            };
            engine
                .pull(image, auth.as_ref(), |_| {})
                .await
                .map_err(|e| EngineError::message(e.to_string()))?;
            say(Phase::Done, "Pulled");
        }
        Action::BuildImage { service, image } => {
            let spec = project
                .service(service)
                .and_then(|s| s.build.clone())
                .ok_or_else(|| {
                    EngineError::message(format!(
                        "service {service} has no build section to build {image} from"
                    ))
                })?;
            say(Phase::Working, "Building");
            let request = crate::build::BuildSpec {
                context: spec.context.clone().into(),
                dockerfile: Some(spec.dockerfile.clone().into()),
                build_args: spec.args.clone(),
                target: spec.target.clone(),
                labels: spec.labels.clone(),
                tags: vec![image.clone()],
                pull: false,
                no_cache: false,
            };
            let auths = match &opts.docker_config {
                Some(config) => config.all_credentials().unwrap_or_default(),
                None => Vec::new(),
            };
            engine
                .build(&request, &auths, |_| {})
                .await
                .map_err(|e| EngineError::message(e.to_string()))?;
            say(Phase::Done, "Built");
        }
        Action::CreateNetwork { network } => {
            say(Phase::Working, "Creating");
            engine.create_project_network(project, network).await?;
            say(Phase::Done, "Created");
        }
        Action::CreateVolume { volume } => {
            say(Phase::Working, "Creating");
            engine.create_project_volume(project, volume).await?;
            say(Phase::Done, "Created");
        }
        Action::CreateContainer {
            service,
            number,
            name,
            replaces,
        } => {
            let spec = project.service(service).ok_or_else(|| {
                EngineError::message(format!("service {service} is not in the project"))
            })?;
            progress(Phase::Working, "Creating");
            engine
                .create_service_container(
                    project,
                    spec,
                    &CreateRequest {
                        name: name.clone(),
                        number: *number,
                        labels: replaces
                            .iter()
                            .map(|r| (labels::REPLACE.to_string(), r.clone()))
                            .collect(),
                        inherited_volumes: match replaces {
                            Some(_) => inherited.take(name),
                            None => Vec::new(),
                        },
                        ..Default::default()
                    },
                )
                .await?;
            match recreates {
                true => say(Phase::Done, "Recreated"),
                false => say(Phase::Done, "Created"),
            }
        }
        Action::StartContainer { service, name } => {
            say(Phase::Working, "Starting");
            engine.start_container(name).await?;
            let hooks = project.service(service).map(|s| s.post_start.as_slice());
            run_hooks(
                engine,
                name,
                service,
                hooks.unwrap_or_default(),
                false,
                &|_| {},
            )
            .await?;
            say(Phase::Done, "Started");
        }
        Action::WaitHealthy { name, .. } => {
            say(Phase::Working, "Waiting");
            engine
                .wait_healthy(name, opts.wait_timeout, true)
                .await
                .map_err(dependency_failed)?;
            say(Phase::Done, "Healthy");
        }
        Action::WaitReady { name, .. } => {
            say(Phase::Working, "Waiting");
            engine.wait_healthy(name, opts.wait_timeout, false).await?;
            say(Phase::Done, "Healthy");
        }
        Action::WaitCompleted { name, .. } => {
            say(Phase::Working, "Waiting");
            engine.wait_completed(name, opts.wait_timeout).await?;
            say(Phase::Done, "Exited");
        }
        Action::StopContainer { service, name } => {
            match recreates {
                true => say(Phase::Working, "Recreate"),
                false => say(Phase::Working, "Stopping"),
            }
            let hooks = project.service(service).map(|s| s.pre_stop.as_slice());
            run_hooks(
                engine,
                name,
                service,
                hooks.unwrap_or_default(),
                true,
                &|_| {},
            )
            .await?;
            let timeout = opts
                .stop_timeout
                .or_else(|| project.service(service).and_then(|s| s.stop_timeout_secs));
            engine.stop_container(name, timeout).await?;
            progress(Phase::Done, "Stopped");
        }
        Action::RemoveContainer { name, .. } => {
            if recreates && !opts.renew_anon_volumes {
                inherited.keep(name, engine.anonymous_volumes(name).await?);
            }
            progress(Phase::Working, "Removing");
            engine
                .remove_container_for_down(name, opts.remove_volumes)
                .await?;
            progress(Phase::Done, "Removed");
        }
        Action::RemoveNetwork { network } => {
            // Removing a network to make it again is reported as Compose does: `Removed` only.
            if !step.recreates_network() {
                say(Phase::Working, "Removing");
            }
            engine.remove_network(network).await?;
            say(Phase::Done, "Removed");
        }
        Action::RequireNetwork { network } => {
            if !engine.network_exists(network).await? {
                return Err(EngineError::message(format!(
                    "network {network} declared as external, but could not be found"
                )));
            }
        }
        // Compose reports neither.
        Action::DisconnectNetwork { network, name } => {
            engine.disconnect_network(network, name).await?;
        }
        Action::ConnectNetwork { network, name } => {
            engine.connect_network_plain(network, name).await?;
        }
        Action::RemoveVolume { volume } => {
            // Removing a volume to make it again is not reported, as Compose does it.
            if !step.recreates_volume() {
                say(Phase::Working, "Removing");
            }
            engine.remove_volume(volume).await?;
            if !step.recreates_volume() {
                say(Phase::Done, "Removed");
            }
        }
    }
    Ok(())
}

/// A required dependency that did not become healthy, in Compose's words.
fn dependency_failed(mut e: EngineError) -> EngineError {
    e.operation = format!("dependency failed to start: {}", e.operation);
    e
}

/// Runs a service's lifecycle `hooks` in `container`, in order; the first one that exits non-zero
/// fails the step with Compose's message. With `gone_is_fine` (pre_stop), a container that is no
/// longer running or no longer exists ends the hooks without error, as Compose does; that
/// includes one that ended on its own while a hook ran in it (the hook is killed with it).
async fn run_hooks(
    engine: &Engine,
    container: &str,
    service: &str,
    hooks: &[hoist_core::spec::Hook],
    gone_is_fine: bool,
    output: &(dyn Fn(&str) + Sync),
) -> Result<(), EngineError> {
    use crate::exec::{ExecCommand, ExecError};
    for hook in hooks {
        let command = ExecCommand {
            argv: hook.command.clone(),
            env: hook.environment.clone(),
            user: hook.user.clone(),
            working_dir: hook.working_dir.clone(),
        };
        let result = engine.exec(container, &command).await;
        if let Ok(out) = &result {
            for text in [&out.stdout, &out.stderr] {
                String::from_utf8_lossy(text).lines().for_each(output);
            }
        }
        match result {
            Ok(out) if out.exit_code == 0 => {}
            Ok(_) if gone_is_fine && !engine.is_running(container).await? => return Ok(()),
            Ok(out) => {
                return Err(EngineError::message(hook_failure(service, out.exit_code)));
            }
            Err(ExecError::NotRunning { .. } | ExecError::NoSuchContainer { .. })
                if gone_is_fine =>
            {
                return Ok(());
            }
            Err(ExecError::Engine(e)) => return Err(e),
            Err(e) => return Err(EngineError::message(e.to_string())),
        }
    }
    Ok(())
}

/// Runs `service`'s `pre_stop` hooks in its running `container`, as `stop` does before it stops
/// one; their output lines go to `output`. A container that is gone or stopped is not an error.
pub async fn run_pre_stop_hooks(
    engine: &Engine,
    project: &ProjectSpec,
    service: &str,
    container: &str,
    output: &(dyn Fn(&str) + Sync),
) -> Result<(), EngineError> {
    let hooks = project.service(service).map(|s| s.pre_stop.as_slice());
    run_hooks(
        engine,
        container,
        service,
        hooks.unwrap_or_default(),
        true,
        output,
    )
    .await
}

/// Compose's message for a hook that exited with `code`.
fn hook_failure(service: &str, code: i64) -> String {
    format!("{service} hook exited with status {code}")
}
