//! Running the pipeline: the steps the file defines, in the book's order, each reporting to the
//! run's sinks (terminal, `--json`, history). A failing step stops the run and the steps after
//! it are `not run`. The run holds the deploy lock of its target and service from start to end.
//!
//! [`Run::start`] takes the lock and records the run; [`Run::execute`] does the work. They are
//! apart so that the binary knows the run's id before any work starts, and can record it as
//! `interrupted` when Ctrl+C drops the work midway.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoist_compose::LoadOptions;
use hoist_core::bluegreen::ReleaseState;
use hoist_core::desired::project_spec;
use hoist_core::events::{Event, EventSink};
use hoist_core::mask::Masker;
use hoist_core::plan::UpOptions;
use hoist_core::spec::{ProjectSpec, PullPolicy};
use hoist_docker::execute::ExecOptions;
use hoist_docker::orchestrate::{self, RunRequest};
use hoist_docker::target_journal::JournalEntry;
use hoist_docker::{DockerConfig, Engine, ImageRef};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::bluegreen::{HealthGate, HttpCheck, Release, ReleaseTest};
use crate::config::{Hook, ImageBuild, Integrate, PipelineFile, Strategy, Target, Work};
use crate::group::{Group, KillOnDrop, reap};
use crate::history::{History, HistoryError};
use crate::lock::{self, DeployLock, LockError};
use crate::proxy::{Match, Proxy, Route, Upstream, published_servers};
use crate::steps::{StepId, StepLine, StepStatus, select};

/// What happens in a run, as data: the terminal, `--json` and the history are sinks of these.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PipelineEvent {
    RunStarted {
        run: i64,
        service: String,
        target: String,
        commit: String,
        steps: Vec<StepLine>,
    },
    Step {
        run: i64,
        #[serde(flatten)]
        line: StepLine,
    },
    Output {
        run: i64,
        step: StepId,
        text: String,
    },
    Image {
        run: i64,
        reference: String,
        digest: String,
    },
    /// A blue-green deploy released `color` with `image`; `status` is `done` or `failed`.
    Release {
        run: i64,
        color: String,
        image: String,
        status: String,
    },
    RunFinished {
        run: i64,
        status: String,
    },
}

pub trait PipelineSink: Send + Sync {
    fn event(&self, event: &PipelineEvent);
}

/// The history store as a sink: a run's record is the fold of its events.
pub struct HistorySink {
    history: Arc<History>,
    /// Set by the first write that failed: the rest of the run is not written, so that a
    /// locked store costs one busy timeout, not one per event.
    broken: std::sync::atomic::AtomicBool,
}

impl HistorySink {
    pub fn new(history: Arc<History>) -> HistorySink {
        HistorySink {
            history,
            broken: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl PipelineSink for HistorySink {
    fn event(&self, event: &PipelineEvent) {
        use std::sync::atomic::Ordering;
        if self.broken.load(Ordering::Relaxed) {
            return;
        }
        // A failing history write must not fail the deployment it records, but it must be
        // seen: the record now disagrees with what happened (a step left `running`).
        let written = self.write(event);
        if let Err(e) = written {
            self.broken.store(true, Ordering::Relaxed);
            warn_unrecorded(event, &e);
        }
    }
}

impl HistorySink {
    fn write(&self, event: &PipelineEvent) -> Result<(), HistoryError> {
        let history = &self.history;
        match event {
            PipelineEvent::RunStarted { .. } => Ok(()),
            PipelineEvent::Step { run, line } => match line.status {
                StepStatus::Running => history.step_started(*run, line.step),
                status => {
                    history.step_finished(*run, line.step, status, line.seconds, &line.detail)
                }
            },
            PipelineEvent::Output { run, step, text } => {
                history.append_output(*run, *step, &format!("{text}\n"))
            }
            PipelineEvent::Image {
                run,
                reference,
                digest,
            } => history.add_image(*run, reference, digest),
            PipelineEvent::Release {
                run,
                color,
                image,
                status,
            } => history.record_release(*run, color, image, status),
            PipelineEvent::RunFinished { run, status } => history.finish_run(*run, status),
        }
    }
}

/// The warning for an event the history could not record, naming the run and what was lost.
fn warn_unrecorded(event: &PipelineEvent, error: &HistoryError) {
    let (run, what) = match event {
        PipelineEvent::RunStarted { run, .. } => (*run, "its start".to_string()),
        PipelineEvent::Step { run, line } => (
            *run,
            format!("step {} {}", line.step.number(), line.status.as_str()),
        ),
        PipelineEvent::Output { run, step, .. } => {
            (*run, format!("output of step {}", step.number()))
        }
        PipelineEvent::Image { run, reference, .. } => (*run, format!("image {reference}")),
        PipelineEvent::Release { run, color, .. } => (*run, format!("the release of {color}")),
        PipelineEvent::RunFinished { run, status } => (*run, format!("its end ({status})")),
    };
    tracing::warn!(
        "the history did not record {what} of run {run}, nor will it record the rest of the \
         run, so `hoist pipeline status {run}` is wrong about it: {error}"
    );
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("no target {0:?} in hoist.yml (targets: {1})")]
    NoSuchTarget(String, String),
    #[error("hoist.yml defines no target; add one under `targets:`")]
    NoTarget,
    #[error("waiting for the deploy lock: {0}")]
    Join(String),
    #[error(transparent)]
    Secret(#[from] crate::target_env::ResolveError),
}

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The target's name; the file's first target otherwise.
    pub target: Option<String>,
    pub from: Option<StepId>,
    pub only: Option<StepId>,
    pub wait_lock: bool,
}

/// What the steps need from the outside, resolved by the binary.
pub struct Context {
    pub file: PipelineFile,
    /// The cd engine: tests, builds and pushes run there.
    pub cd: Engine,
    pub docker_config: Option<Arc<DockerConfig>>,
    /// hoist's state folder (history, locks).
    pub state_dir: PathBuf,
    /// The environment compose files are interpolated with.
    pub environment: BTreeMap<String, String>,
}

/// A started run: its id is recorded and it holds the deploy lock until dropped.
pub struct Run {
    pub id: i64,
    pub commit: String,
    pub target: Target,
    /// The target's `env:` and resolved `secrets:`.
    target_vars: BTreeMap<String, String>,
    /// The target's secret values, masked in everything the run shows or records.
    secret_values: Vec<String>,
    /// The environment the deploy files are interpolated with: the context's, then the
    /// target's variables.
    environment: BTreeMap<String, String>,
    history: Arc<History>,
    plan: Vec<(StepId, StepStatus)>,
    /// Whether step 6 waits for the target's deploy lock when another machine holds it.
    wait_lock: bool,
    _lock: DeployLock,
}

impl Run {
    /// Takes the deploy lock (waiting with `wait_lock`) and records a new run.
    pub async fn start(
        ctx: &Context,
        history: Arc<History>,
        opts: &RunOptions,
    ) -> Result<Run, RunError> {
        let file = &ctx.file;
        let target = match &opts.target {
            Some(name) => file.target(name).cloned().ok_or_else(|| {
                RunError::NoSuchTarget(
                    name.clone(),
                    file.targets
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?,
            None => file.targets.first().cloned().ok_or(RunError::NoTarget)?,
        };
        // Before anything else: a secret that cannot be resolved changes nothing anywhere.
        let resolved = crate::target_env::resolve(
            &target.name,
            &target.environment,
            &file.dir,
            &ctx.environment,
        )
        .await?;
        let mut environment = ctx.environment.clone();
        environment.extend(resolved.vars.clone());
        let state = ctx.state_dir.clone();
        let (t, s, wait) = (target.name.clone(), file.service.clone(), opts.wait_lock);
        let mut lock = tokio::task::spawn_blocking(move || lock::acquire(&state, &t, &s, wait))
            .await
            .map_err(|e| RunError::Join(e.to_string()))??;
        let defined: Vec<(StepId, bool)> = file
            .steps
            .iter()
            .map(|(id, work)| (*id, work.is_some()))
            .collect();
        reap_left_behind(&history, &file.service, &target.name).await;
        let plan = select(&defined, opts.from, opts.only);
        // The commit is the run's identity even when step 1 does not run (`--from 6`).
        let commit = git_commit(&file.dir).await.unwrap_or_default();
        let id = history.start_run(&file.service, &target.name, &commit, &plan)?;
        lock.record_holder(id)?;
        // Whatever else this process writes (errors, the target journal) is scrubbed of them too.
        hoist_core::mask::declare_secret_values(&resolved.secret_values);
        Ok(Run {
            id,
            commit,
            target,
            target_vars: resolved.vars,
            secret_values: resolved.secret_values,
            environment,
            history,
            plan,
            wait_lock: opts.wait_lock,
            _lock: lock,
        })
    }

    pub fn history(&self) -> &Arc<History> {
        &self.history
    }

    /// Runs the selected steps in order; returns whether every one of them succeeded.
    pub async fn execute(&self, ctx: &Context, sinks: &[&dyn PipelineSink]) -> bool {
        // Every sink (terminal, `--json`, history, and through it the dashboard) gets the
        // events masked here, once.
        let masker = run_masker(ctx, &self.secret_values);
        let emit = |event: PipelineEvent| {
            let event = masked(event, &masker);
            for sink in sinks {
                sink.event(&event);
            }
        };
        let lines: Vec<StepLine> = self
            .plan
            .iter()
            .map(|(step, status)| StepLine {
                step: *step,
                status: *status,
                seconds: None,
                detail: String::new(),
            })
            .collect();
        emit(PipelineEvent::RunStarted {
            run: self.id,
            service: ctx.file.service.clone(),
            target: self.target.name.clone(),
            commit: self.commit.clone(),
            steps: lines.clone(),
        });
        let mut failed = false;
        let started_run = Instant::now();
        let mut entry = JournalEntry::begin("pipeline", &self.target.name);
        let mut finals: Vec<(StepId, StepStatus, String)> = Vec::new();
        for (step, status) in &self.plan {
            // Steps that do not run are reported in their place, so a checklist printed as
            // events arrive is in the book's order.
            if *status != StepStatus::Pending {
                finals.push((*step, *status, String::new()));
                emit(PipelineEvent::Step {
                    run: self.id,
                    line: StepLine {
                        step: *step,
                        status: *status,
                        seconds: None,
                        detail: String::new(),
                    },
                });
                continue;
            }
            if failed {
                finals.push((*step, StepStatus::NotRun, String::new()));
                emit(PipelineEvent::Step {
                    run: self.id,
                    line: StepLine {
                        step: *step,
                        status: StepStatus::NotRun,
                        seconds: None,
                        detail: String::new(),
                    },
                });
                continue;
            }
            emit(PipelineEvent::Step {
                run: self.id,
                line: StepLine {
                    step: *step,
                    status: StepStatus::Running,
                    seconds: None,
                    detail: String::new(),
                },
            });
            let started = Instant::now();
            let work = ctx.file.work(*step).expect("pending steps have work");
            let step_ctx = StepCtx {
                ctx,
                run: self,
                step: *step,
                emit: &emit,
                domain: None,
            };
            let result = step_ctx.perform(work).await;
            let seconds = Some(started.elapsed().as_secs_f64());
            let (status, detail) = match result {
                Ok(detail) => (StepStatus::Done, detail),
                Err(message) => {
                    failed = true;
                    step_ctx.output(&format!("error: {message}"));
                    (StepStatus::Failed, message)
                }
            };
            finals.push((*step, status, masker.text(&detail).into_owned()));
            emit(PipelineEvent::Step {
                run: self.id,
                line: StepLine {
                    step: *step,
                    status,
                    seconds,
                    detail,
                },
            });
        }
        self.journal(ctx, &mut entry, started_run, &finals, failed)
            .await;
        emit(PipelineEvent::RunFinished {
            run: self.id,
            status: if failed { "failed" } else { "done" }.into(),
        });
        !failed
    }

    /// Adds the run to the target's journal (each host's, for a target of several), when it
    /// reached the target: steps 6 to 8 ran. The step details were masked with the run's
    /// secrets.
    async fn journal(
        &self,
        ctx: &Context,
        entry: &mut JournalEntry,
        started: Instant,
        finals: &[(StepId, StepStatus, String)],
        failed: bool,
    ) {
        let reached = finals.iter().any(|(step, status, _)| {
            matches!(
                step,
                StepId::Deploy | StepId::Integrate | StepId::PostDeploymentTests
            ) && matches!(
                status,
                StepStatus::Done | StepStatus::Failed | StepStatus::Interrupted
            )
        });
        if !reached {
            return;
        }
        entry.commit = self.commit.clone();
        entry.steps = finals
            .iter()
            .map(|(_, status, _)| status.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let summary = match finals
            .iter()
            .find(|(_, status, _)| matches!(status, StepStatus::Failed | StepStatus::Interrupted))
        {
            Some((step, status, detail)) => Err(format!(
                "run {} on {}: step {} {}: {detail}",
                self.id,
                entry.by,
                step.number(),
                status.as_str()
            )),
            None if !failed => Ok(format!("run {} on {}", self.id, entry.by)),
            None => Err(format!("run {} on {}", self.id, entry.by)),
        };
        entry.finish(started.elapsed().as_secs_f64(), &summary);
        let mut engines = Vec::new();
        for member in self.target.members() {
            match Engine::connect(&member.engine_spec()).await {
                Ok(engine) => engines.push(engine),
                Err(e) => tracing::warn!(
                    "the journal on {} did not record run {}: {e}",
                    member.name,
                    self.id
                ),
            }
        }
        let refs: Vec<&Engine> = engines.iter().collect();
        let project = match crate::release::deploy_project(&ctx.file, self.environment.clone()) {
            Ok(spec) => spec.name,
            Err(e) => {
                tracing::warn!("the journal did not record run {}: {e}", self.id);
                return;
            }
        };
        let service = match ctx.file.work(StepId::Deploy) {
            Some(Work::Deploy { service, .. }) => service.clone(),
            _ => return,
        };
        crate::release::journal(&refs, &project, &service, entry, &self.target.proxy.image).await;
    }
}

/// Ends the step commands that killed runs of `service` on `target` left running. Called with
/// the deploy lock held, so no run that recorded one is still going.
async fn reap_left_behind(history: &Arc<History>, service: &str, target: &str) {
    let groups = match history.recorded_groups(service, target) {
        Ok(groups) => groups,
        Err(e) => {
            tracing::warn!("looking for step commands a killed run left running: {e}");
            return;
        }
    };
    for (run, group) in groups {
        let killed = tokio::task::spawn_blocking(move || reap(group, Duration::from_secs(5)))
            .await
            .unwrap_or(false);
        if killed {
            tracing::warn!(
                "run {run} was killed while its step command (process group {}) ran; it is ended now",
                group.pgid
            );
        }
        if let Err(e) = history.set_group(run, None) {
            tracing::warn!("run {run}: clearing its step's process group: {e}");
        }
    }
}

/// The run's secrets: the target's `secrets:`, the secret-named variables of the environment
/// the compose files are interpolated with (host commands inherit it too) and of the `env` a
/// step gives a one-off, and the passwords of URLs in any of them.
fn run_masker(ctx: &Context, target_secrets: &[String]) -> Masker {
    let step_env: Vec<(&str, &str)> = ctx
        .file
        .steps
        .iter()
        .filter_map(|(_, work)| match work {
            Some(Work::Run { env, .. }) => Some(env),
            _ => None,
        })
        .flatten()
        .filter_map(|pair| pair.split_once('='))
        .collect();
    Masker::from_pairs(
        ctx.environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(step_env),
    )
    .with_values(target_secrets)
}

/// An event as the sinks see it: step output and step details with the run's secrets masked.
fn masked(event: PipelineEvent, masker: &Masker) -> PipelineEvent {
    match event {
        PipelineEvent::Output { run, step, text } => PipelineEvent::Output {
            run,
            step,
            text: masker.text(&text).into_owned(),
        },
        PipelineEvent::Step { run, mut line } => {
            line.detail = masker.text(&line.detail).into_owned();
            PipelineEvent::Step { run, line }
        }
        other => other,
    }
}

/// The short commit of the repository holding `dir`.
pub async fn git_commit(dir: &std::path::Path) -> Option<String> {
    let out = tokio::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(dir)
        .output()
        .await
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// One step being performed: where its output and images go.
struct StepCtx<'a> {
    ctx: &'a Context,
    run: &'a Run,
    step: StepId,
    emit: &'a (dyn Fn(PipelineEvent) + Send + Sync),
    /// `DOMAIN` of the post-deployment tests when it is not the target's public address: each
    /// host's, in turn, on a target of several hosts.
    domain: Option<String>,
}

/// Engine progress events of a step become lines of its output.
struct OutputEvents<'a>(&'a StepCtx<'a>);

impl EventSink for OutputEvents<'_> {
    fn emit(&self, event: Event) {
        self.0
            .output(&format!("{} {}  {}", event.kind, event.name, event.text));
    }
}

impl<'a> StepCtx<'a> {
    fn output(&self, text: &str) {
        (self.emit)(PipelineEvent::Output {
            run: self.run.id,
            step: self.step,
            text: text.to_string(),
        });
    }

    fn file(&self) -> &PipelineFile {
        &self.ctx.file
    }

    /// The step's work; `Ok(detail)` for the checklist or `Err(why)`. On a target of several
    /// hosts the post-deployment tests run against each host's public address in turn.
    async fn perform(&self, work: &Work) -> Result<String, String> {
        let target = &self.run.target;
        if self.step != StepId::PostDeploymentTests || !target.is_fleet() {
            return self.perform_once(work).await;
        }
        for member in target.members() {
            self.output(&format!(
                "against host {} ({})",
                member.name, member.public_address
            ));
            let on_host = StepCtx {
                ctx: self.ctx,
                run: self.run,
                step: self.step,
                emit: self.emit,
                domain: Some(member.public_address.clone()),
            };
            on_host
                .perform_once(work)
                .await
                .map_err(|e| format!("host {}: {e}", member.name))?;
        }
        Ok(format!("passed on {} hosts", target.hosts.len()))
    }

    async fn perform_once(&self, work: &Work) -> Result<String, String> {
        match work {
            Work::Checkout => {
                let commit = git_commit(&self.file().dir).await.ok_or_else(|| {
                    format!(
                        "{} is not in a git repository with a commit",
                        self.file().dir.display()
                    )
                })?;
                self.output(&format!("commit {commit}"));
                Ok(commit)
            }
            Work::Command(command) => self.command(command, &[]).await,
            Work::Run {
                service,
                env,
                retry_for,
            } => {
                let deadline = Instant::now() + Duration::from_secs(retry_for.unwrap_or(0));
                loop {
                    match self.oneoff(service, env).await {
                        Err(why) if Instant::now() < deadline => {
                            self.output(&format!("{why}; trying again (retry_for)"));
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                        outcome => break outcome,
                    }
                }
            }
            Work::Build(images) => self.build(images).await,
            Work::Push(names) => self.push(names).await,
            Work::Deploy { service, .. } if self.run.target.swarm.is_some() => {
                self.deploy_swarm(service).await
            }
            // The deploy step put the route on the proxy, which follows the tasks by DNS.
            Work::Integrate(_) if self.run.target.swarm.is_some() => Ok(format!(
                "the proxy on {} routes to the service's tasks on the Swarm",
                self.run.target.name
            )),
            Work::Deploy { service, .. } => {
                let result = match self.file().strategy(&self.run.target) {
                    Strategy::Recreate => {
                        self.with_hooks(service, || self.on_each_host(|m| self.deploy(m, service)))
                            .await
                    }
                    Strategy::BlueGreen if self.run.target.is_fleet() => {
                        self.with_hooks(service, || self.deploy_blue_green_fleet(work))
                            .await
                    }
                    // The hooks run and the release is recorded inside the target's lock,
                    // which this release takes.
                    Strategy::BlueGreen => return self.deploy_blue_green(work).await,
                };
                self.record_outcome(service, &result).await;
                result
            }
            Work::Integrate(step) => {
                let integrate = self
                    .file()
                    .integrate_for(&self.run.target)
                    .unwrap_or_else(|| step.clone());
                let integrate = &integrate;
                let routed = match self.file().strategy(&self.run.target) {
                    Strategy::Recreate => self.on_each_host(|m| self.integrate(m, integrate)).await,
                    Strategy::BlueGreen => {
                        self.on_each_host(|m| self.confirm_route(m, integrate))
                            .await
                    }
                }?;
                match self.https(integrate).await? {
                    Some(line) => Ok(format!("{routed}; {line}")),
                    None => Ok(routed),
                }
            }
        }
    }

    /// Records the project as this step released it on every host of the target: each
    /// service's image (id and digest), the resolved project with the target's secrets sealed
    /// ([`crate::project_release::seal`]), the commit, who and when, and the outcome.
    /// Records the step's outcome as a release of the project; a failure to record is said in
    /// the step's output, the release stands.
    async fn record_outcome(&self, service: &str, result: &Result<String, String>) {
        let status = if result.is_ok() { "done" } else { "failed" };
        if let Err(e) = self.record_project_release(service, status).await {
            self.output(&format!("the project's release was not recorded: {e}"));
        }
    }

    async fn record_project_release(&self, service: &str, status: &str) -> Result<(), String> {
        let (spec, _) = self.deploy_spec(service)?;
        let target = &self.run.target;
        let secrets: Vec<(String, String)> = target
            .environment
            .secrets
            .iter()
            .filter_map(|s| {
                self.run
                    .target_vars
                    .get(&s.name)
                    .map(|v| (s.name.clone(), v.clone()))
            })
            .collect();
        let mut id = None;
        for member in target.members() {
            let engine = self.connect(member).await?;
            let recorded = crate::project_release::record_next(
                &engine,
                &spec,
                id,
                &self.run.commit,
                status,
                &secrets,
                None,
                &member.proxy.image,
            )
            .await
            .map_err(|e| e.to_string())?;
            id = Some(recorded);
        }
        if let Some(id) = id {
            self.output(&format!(
                "recorded as release {id} of {} on {}",
                spec.name, target.name
            ));
        }
        Ok(())
    }

    /// `release` with the file's hooks around it: `pre_deploy` first (its failure stops
    /// everything before anything started), then the release, then `post_switch` and
    /// `post_deploy` when it succeeded, or `on_failure` when it or a hook failed.
    async fn with_hooks<F, Fut>(&self, service: &str, release: F) -> Result<String, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, String>>,
    {
        let hooks = self.file().hooks.clone();
        let failed = |why: String| async move {
            if let Some(hook) = &hooks.on_failure
                && let Err(e) = self.hook("on_failure", hook, service, "failed").await
            {
                self.output(&e);
            }
            Err(why)
        };
        if let Some(hook) = &hooks.pre_deploy
            && let Err(e) = self.hook("pre_deploy", hook, service, "pending").await
        {
            return failed(format!("{e}; nothing was released")).await;
        }
        let released = match release().await {
            Ok(released) => released,
            Err(e) => return failed(e).await,
        };
        for (name, hook) in [
            ("post_switch", &hooks.post_switch),
            ("post_deploy", &hooks.post_deploy),
        ] {
            if let Some(hook) = hook
                && let Err(e) = self.hook(name, hook, service, "done").await
            {
                return failed(format!("{released}, but {e}")).await;
            }
        }
        Ok(released)
    }

    /// Runs one hook; its output goes to the step's, with `HOIST_*` variables: the release
    /// (the run's id), commit, target, its hosts, the image and `HOIST_STATUS` (`pending`
    /// before the release, `done` or `failed` after).
    async fn hook(
        &self,
        name: &str,
        hook: &Hook,
        service: &str,
        status: &str,
    ) -> Result<(), String> {
        let (spec, reference) = self.deploy_spec(service)?;
        let target = &self.run.target;
        let vars: Vec<(String, String)> = [
            ("HOIST_RELEASE", self.run.id.to_string()),
            ("HOIST_COMMIT", self.run.commit.clone()),
            ("HOIST_TARGET", target.name.clone()),
            (
                "HOIST_HOSTS",
                target
                    .members()
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("HOIST_SERVICE", self.file().service.clone()),
            ("HOIST_IMAGE", reference.clone()),
            ("HOIST_STATUS", status.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        match hook {
            Hook::Host(command) => {
                self.output(&format!("hook {name}: {command}"));
                self.command(command, &vars)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("hook {name}: {e}"))
            }
            Hook::Container(args) => {
                self.output(&format!(
                    "hook {name}: {} on {} ({reference})",
                    args.join(" "),
                    target.name
                ));
                let engine = self.connect(target.members()[0]).await?;
                let request = RunRequest {
                    service: service.to_string(),
                    command: args.clone(),
                    env: vars.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    with_deps: true,
                    remove: true,
                    ..RunRequest::default()
                };
                let outcome = orchestrate::run_oneoff(
                    &engine,
                    &spec,
                    &request,
                    &self.exec_options(),
                    &OutputEvents(self),
                    |_, line| self.output(line.trim_end_matches('\n')),
                )
                .await
                .map_err(|e| format!("hook {name}: {e}"))?;
                match outcome.exit_code {
                    0 => Ok(()),
                    code => Err(format!("hook {name} exited with {code}")),
                }
            }
        }
    }

    /// Variables every host command and one-off gets.
    fn variables(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("HOIST_COMMIT".to_string(), self.run.commit.clone()),
            ("HOIST_SERVICE".to_string(), self.file().service.clone()),
            ("HOIST_REGISTRY".to_string(), self.file().registry.clone()),
            ("HOIST_TARGET".to_string(), self.run.target.name.clone()),
        ];
        if self.step == StepId::PostDeploymentTests {
            let domain = self
                .domain
                .clone()
                .unwrap_or_else(|| self.run.target.public_address.clone());
            vars.push(("DOMAIN".into(), domain));
        }
        vars
    }

    async fn command(&self, command: &str, extra: &[(String, String)]) -> Result<String, String> {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&self.file().dir)
            .envs(&self.run.target_vars)
            .envs(extra.iter().cloned())
            .envs(self.variables())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            // A group of its own: what the command starts is killed with it.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting `{command}`: {e}"))?;
        let mut group = self.record_group(child.id());
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let tx2 = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx2.send(line);
            }
        });
        let mut last = String::new();
        while let Some(line) = rx.recv().await {
            self.output(&line);
            if !line.trim().is_empty() {
                last = line;
            }
        }
        let status = child.wait().await.map_err(|e| e.to_string())?;
        if let Some(guard) = &mut group {
            guard.disarm();
            if let Err(e) = self.run.history.set_group(self.run.id, None) {
                tracing::warn!(
                    "run {}: clearing the step's process group: {e}",
                    self.run.id
                );
            }
        }
        if status.success() {
            Ok(String::new())
        } else {
            Err(format!(
                "`{command}` exited with {}{}",
                status.code().map_or("a signal".into(), |c| c.to_string()),
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": {last}")
                }
            ))
        }
    }

    /// Records the group of the step command just spawned as `pid` and returns the guard that
    /// kills it if the step's work is dropped. Without a record a SIGKILLed hoist could leave
    /// it running unseen, so a failed write is a warning.
    fn record_group(&self, pid: Option<u32>) -> Option<KillOnDrop> {
        let pid = pid?;
        let guard = KillOnDrop::new(i32::try_from(pid).ok()?);
        let recorded = match Group::of_leader(pid) {
            Some(group) => self.run.history.set_group(self.run.id, Some(group)),
            None => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::warn!(
                "run {}: recording the step's process group {pid}: {e}",
                self.run.id
            );
        }
        Some(guard)
    }

    fn load(&self, files: &[PathBuf], extra: &[(String, String)]) -> Result<ProjectSpec, String> {
        let project = self.load_compose(files, extra, false)?;
        project_spec(&project).map_err(|e| e.to_string())
    }

    /// The compose project of `files`, with the run's environment and `extra` variables; for a
    /// Swarm (`swarm`), its secrets and configs become the cluster's objects.
    fn load_compose(
        &self,
        files: &[PathBuf],
        extra: &[(String, String)],
        swarm: bool,
    ) -> Result<hoist_compose::Project, String> {
        let mut environment = self.run.environment.clone();
        environment.extend(extra.iter().cloned());
        hoist_compose::load(&LoadOptions {
            files: files.to_vec(),
            project_name: self.file().project.clone(),
            project_directory: None,
            profiles: Vec::new(),
            enable_services: Vec::new(),
            env_files: Vec::new(),
            environment,
            working_dir: self.file().dir.clone(),
            env_file_services: None,
            all_resources: false,
            no_interpolate: false,
            swarm_objects: swarm,
        })
        .map_err(|e| e.to_string())
    }

    fn exec_options(&self) -> ExecOptions {
        ExecOptions {
            docker_config: self.ctx.docker_config.clone(),
            ..ExecOptions::default()
        }
    }

    /// `run --rm SERVICE` on the cd engine, with its dependencies, as the book runs `tests` and
    /// `integ`.
    async fn oneoff(&self, service: &str, env: &[String]) -> Result<String, String> {
        let vars = self.variables();
        let spec = self.load(&self.file().dev_files, &vars)?;
        let mut request_env: Vec<String> = env.to_vec();
        if let Some((_, domain)) = vars.iter().find(|(k, _)| k == "DOMAIN") {
            request_env.push(format!("DOMAIN={domain}"));
        }
        let request = RunRequest {
            service: service.to_string(),
            env: request_env,
            with_deps: true,
            remove: true,
            ..RunRequest::default()
        };
        let outcome = orchestrate::run_oneoff(
            &self.ctx.cd,
            &spec,
            &request,
            &self.exec_options(),
            &OutputEvents(self),
            |_, line| self.output(line.trim_end_matches('\n')),
        )
        .await
        .map_err(|e| e.to_string())?;
        if outcome.exit_code == 0 {
            Ok(String::new())
        } else {
            Err(format!("{service} exited with {}", outcome.exit_code))
        }
    }

    fn reference(&self, registry: &str, name: &str, tag: &str) -> String {
        format!("{registry}/{name}:{tag}")
    }

    async fn build(&self, images: &[ImageBuild]) -> Result<String, String> {
        let registry = &self.file().registry;
        let mut ids = Vec::new();
        for image in images {
            let tags = vec![
                self.reference(registry, &image.name, &self.run.commit),
                self.reference(registry, &image.name, "latest"),
            ];
            let build_args = image
                .args
                .iter()
                .map(|(k, v)| (k.clone(), v.replace("$HOIST_COMMIT", &self.run.commit)))
                .collect();
            let spec = hoist_docker::BuildSpec {
                context: image.context.clone(),
                dockerfile: image.dockerfile.clone(),
                build_args,
                tags: tags.clone(),
                ..Default::default()
            };
            let auths = self
                .ctx
                .docker_config
                .as_ref()
                .and_then(|c| c.all_credentials().ok())
                .unwrap_or_default();
            self.output(&format!("building {}", tags.join(", ")));
            let built = self
                .ctx
                .cd
                .build(&spec, &auths, |line| self.output(line.trim_end()))
                .await
                .map_err(|e| format!("building {}: {e}", image.name))?;
            ids.push(format!(
                "{} {}",
                image.name,
                built
                    .image_id
                    .trim_start_matches("sha256:")
                    .get(..12)
                    .unwrap_or_default()
            ));
        }
        Ok(ids.join(", "))
    }

    async fn push(&self, names: &[String]) -> Result<String, String> {
        let registry = &self.file().registry;
        let mut digests = Vec::new();
        for name in names {
            for tag in [self.run.commit.as_str(), "latest"] {
                let reference = self.reference(registry, name, tag);
                let auth = self
                    .ctx
                    .docker_config
                    .as_ref()
                    .and_then(|c| c.credentials_for_image(&reference).ok().flatten());
                self.output(&format!("pushing {reference}"));
                let pushed = self
                    .ctx
                    .cd
                    .push(&reference, auth.as_ref(), |_| {})
                    .await
                    .map_err(|e| format!("pushing {reference}: {e}"))?;
                if let Some(digest) = pushed.digest {
                    self.output(&format!("{reference}: digest {digest}"));
                    if tag != "latest" {
                        digests.push(format!("{name}@{}", short_digest(&digest)));
                    }
                    (self.emit)(PipelineEvent::Image {
                        run: self.run.id,
                        reference,
                        digest,
                    });
                }
            }
        }
        Ok(digests.join(", "))
    }

    /// Each host of the target in turn (the target itself when it is one host); the first
    /// failure ends it, naming the host.
    async fn on_each_host<F, Fut>(&self, mut change: F) -> Result<String, String>
    where
        F: FnMut(&'a Target) -> Fut,
        Fut: std::future::Future<Output = Result<String, String>>,
    {
        let run: &'a Run = self.run;
        let target: &'a Target = &run.target;
        if !target.is_fleet() {
            return change(target).await;
        }
        let mut done = Vec::new();
        for member in target.members() {
            let detail = change(member)
                .await
                .map_err(|e| format!("host {}: {e}", member.name))?;
            done.push(format!("{}: {detail}", member.name));
        }
        Ok(done.join("; "))
    }

    /// The engine of `member` (the target, or one of its hosts).
    async fn connect(&self, member: &Target) -> Result<Engine, String> {
        Engine::connect(&member.engine_spec())
            .await
            .map_err(|e| format!("target {}: {e}", member.name))
    }

    /// The deploy files' project with `service` set to the commit's image, as the target's
    /// engine names the registry.
    fn deploy_spec(&self, service: &str) -> Result<(ProjectSpec, String), String> {
        let mut spec = self.load(&self.file().deploy_files, &self.variables())?;
        let svc = spec
            .services
            .iter_mut()
            .find(|s| s.name == service)
            .ok_or_else(|| format!("no service {service} in the deploy compose files"))?;
        let image = ImageRef::parse(&svc.image).map_err(|e| e.to_string())?;
        let reference = format!("{}:{}", image.name(), self.run.commit);
        svc.image = reference.clone();
        svc.container.image = reference.clone();
        // The commit's tag is new to the target: pull it (the registry answers at once when
        // the target already has it).
        svc.pull_policy = PullPolicy::Always;
        Ok((spec, reference))
    }

    async fn deploy(&self, member: &Target, service: &str) -> Result<String, String> {
        let engine = self.connect(member).await?;
        let (spec, reference) = self.deploy_spec(service)?;
        self.output(&format!(
            "deploying {reference} as {}/{service} on {}",
            spec.name, member.name
        ));
        let opts = UpOptions {
            services: vec![service.to_string()],
            ..Default::default()
        };
        orchestrate::up(
            &engine,
            &spec,
            &opts,
            None,
            &self.exec_options(),
            &OutputEvents(self),
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(format!("{reference} on {}", member.name))
    }

    /// Routes of other services may change on the same proxy at the same time: one change at a
    /// time per proxy, so that no update is lost.
    async fn proxy_lock(&self, member: &Target) -> Result<DeployLock, String> {
        let target = &self.run.target;
        let state = self.ctx.state_dir.clone();
        let t = if target.is_fleet() {
            format!("{}/{}", target.name, member.name)
        } else {
            target.name.clone()
        };
        let p = format!("proxy-{}", member.proxy.name);
        tokio::task::spawn_blocking(move || lock::acquire(&state, &t, &p, true))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// The integrate step's route, as a release of `service` on the target sees it: the route
    /// is named after hoist.yml's service, as `hoist deploy --target` names it.
    fn release<'e>(
        &self,
        engine: &'e Engine,
        member: &Target,
        spec: ProjectSpec,
        service: &str,
        integrate: &Integrate,
        work: &Work,
    ) -> Release<'e> {
        let target = member;
        let (health_path, health_timeout, drain) = match work {
            Work::Deploy {
                health_path,
                health_timeout,
                drain,
                ..
            } => (health_path.clone(), *health_timeout, *drain),
            _ => (None, 60, 2),
        };
        let matcher = integrate.matcher();
        // The pre-integration test GETs the health path on the new colour itself; the
        // post-integration test GETs it through the proxy when the route's path prefix covers
        // it (a host route, or a health path outside the route, is left to step 8).
        let health_path = health_path.or_else(|| integrate.path.clone());
        let check: Option<Arc<dyn ReleaseTest>> = health_path
            .clone()
            .map(|path| Arc::new(HttpCheck { path, host: None }) as Arc<dyn ReleaseTest>);
        let routed = match (&matcher, &health_path) {
            (Match::PathPrefix(prefix), Some(path)) => path.starts_with(prefix.as_str()),
            _ => false,
        };
        let post = if routed { check.clone() } else { None };
        Release {
            engine,
            project: spec,
            service: service.to_string(),
            container_port: integrate.port,
            host: target.upstream_host.clone(),
            proxy: Proxy::new(engine, target.proxy.clone()),
            route: self.file().service.clone(),
            matcher,
            directives: integrate.directives.clone(),
            health: HealthGate {
                http_path: health_path,
                deadline: Duration::from_secs(health_timeout),
            },
            pre_test: check,
            post_test: post,
            drain: Duration::from_secs(drain),
            exec: self.exec_options(),
            commit: Some(self.run.commit.clone()).filter(|c| !c.is_empty()),
        }
    }

    /// Step 6 for a service behind the proxy: the same blue-green release as `hoist deploy`
    /// (next colour beside the live one, health, pre-integration test, switch, post-integration
    /// test, drain, stop the old colour), under the deploy lock the run holds. The colour is
    /// recorded in the run's history.
    async fn deploy_blue_green(&self, work: &Work) -> Result<String, String> {
        let Work::Deploy { service, .. } = work else {
            unreachable!("called for the deploy step")
        };
        let Some(integrate) = self.file().integrate_for(&self.run.target) else {
            return Err("blue-green needs the integrate step's route (steps.integrate)".into());
        };
        let engine = self.connect(&self.run.target).await?;
        let (spec, reference) = self.deploy_spec(service)?;
        self.output(&format!(
            "releasing {reference} as {}/{service} on {}, blue-green",
            spec.name, self.run.target.name
        ));
        let _proxy_lock = self.proxy_lock(&self.run.target).await?;
        // The target's own lock, so that runs and deploys from other machines are excluded;
        // what is live is read below, inside it.
        let held = crate::release::lock_target(
            &engine,
            &spec.name,
            service,
            &self.run.target.proxy.image,
            &hoist_docker::target_lock::Holder::me(
                hoist_docker::target_lock::LockKind::Run,
                &format!("pipeline run {} of {reference}", self.run.id),
            ),
            self.run.wait_lock,
            &self.exec_options(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let result = self
            .with_hooks(service, || {
                self.deploy_blue_green_locked(&engine, spec, service, &integrate, work, &reference)
            })
            .await;
        self.record_outcome(service, &result).await;
        if let Err(e) = held.release().await {
            tracing::warn!("the deploy lock of {service} stays until its heartbeat ends: {e}");
        }
        result
    }

    /// Step 6 on a Swarm target: the commit's image as a start-first rolling update of the
    /// service's tasks (Swarm rolls it back by itself when a new task fails), under the
    /// target's lock, with the proxy on the manager routing to the tasks.
    async fn deploy_swarm(&self, service: &str) -> Result<String, String> {
        let target = &self.run.target;
        let settings = target.swarm.clone().unwrap_or_default();
        let Some(integrate) = self.file().integrate_for(&self.run.target) else {
            return Err(
                "a release on a Swarm needs the integrate step's route (steps.integrate)".into(),
            );
        };
        let engine = self.connect(target).await?;
        let (_, reference) = self.deploy_spec(service)?;
        let compose = self.load_compose(&self.file().deploy_files, &self.variables(), true)?;
        let spec = project_spec(&compose).map_err(|e| e.to_string())?;
        self.output(&format!(
            "releasing {reference} as {}/{service} on the Swarm of {}, a rolling update",
            spec.name, target.name
        ));
        let held = crate::release::lock_target(
            &engine,
            &spec.name,
            service,
            &target.proxy.image,
            &hoist_docker::target_lock::Holder::me(
                hoist_docker::target_lock::LockKind::Run,
                &format!("pipeline run {} of {reference}", self.run.id),
            ),
            self.run.wait_lock,
            &self.exec_options(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let config = self.ctx.docker_config.clone();
        let auth = move |image: &str| -> Result<
            Option<hoist_docker::RegistryAuth>,
            crate::swarm::SwarmError,
        > {
            match &config {
                Some(c) => c
                    .credentials_for_image(image)
                    .map_err(|e| crate::swarm::SwarmError(e.to_string())),
                None => Ok(None),
            }
        };
        let say = |line: String| self.output(&line);
        let swarm_target = crate::swarm::SwarmTarget {
            engine: &engine,
            compose: &compose,
            spec: &spec,
            settings: &settings,
            proxy: Some(target.proxy.clone()),
            route: Some((
                integrate.matcher(),
                integrate.port,
                integrate.directives.clone(),
            )),
            route_name: self.file().service.clone(),
            auth: &auth,
            say: &say,
        };
        let result = crate::swarm::release(&swarm_target, service, &reference)
            .await
            .map_err(|e| e.to_string());
        if let Err(e) = held.release().await {
            tracing::warn!("the deploy lock of {service} stays until its heartbeat ends: {e}");
        }
        result
    }

    /// Step 6 on a target of several hosts: the release of `hoist deploy --target` (the image
    /// pulled everywhere first, then batch by batch, the hosts switched so far switched back on
    /// the first failure), under the target-wide lock.
    async fn deploy_blue_green_fleet(&self, work: &Work) -> Result<String, String> {
        let Work::Deploy { service, .. } = work else {
            unreachable!("called for the deploy step")
        };
        let Some(integrate) = self.file().integrate_for(&self.run.target) else {
            return Err("blue-green needs the integrate step's route (steps.integrate)".into());
        };
        let target = &self.run.target;
        let members = target.members();
        let (spec, reference) = self.deploy_spec(service)?;
        self.output(&format!(
            "releasing {reference} as {}/{service} on the {} hosts of {}, {} at a time",
            spec.name,
            members.len(),
            target.name,
            target.batch
        ));
        let mut engines = Vec::with_capacity(members.len());
        for connected in
            futures_util::future::join_all(members.iter().map(|m| self.connect(m))).await
        {
            engines.push(connected?);
        }
        let mut proxy_locks = Vec::with_capacity(members.len());
        for member in &members {
            proxy_locks.push(self.proxy_lock(member).await?);
        }
        let hosts: Vec<crate::fleet::HostRelease<'_>> = members
            .iter()
            .zip(&engines)
            .map(|(member, engine)| crate::fleet::HostRelease {
                host: member.name.clone(),
                release: self.release(engine, member, spec.clone(), service, &integrate, work),
            })
            .collect();
        // The commit's image already serving everywhere (a run again, or resumed after step
        // 6): nothing to release.
        let mut everywhere = true;
        for h in &hosts {
            let releases = h.release.releases().await.unwrap_or_default();
            everywhere &= !releases.iter().any(|r| r.state == ReleaseState::Idle)
                && releases
                    .iter()
                    .any(|r| r.state == ReleaseState::Live && r.image == reference);
        }
        if everywhere {
            self.output(&format!("{reference} is already live on every host"));
            return Ok(format!(
                "{reference} already live on the {} hosts of {}",
                members.len(),
                target.name
            ));
        }
        let holder = hoist_docker::target_lock::Holder::me(
            hoist_docker::target_lock::LockKind::Run,
            &format!("pipeline run {} of {reference}", self.run.id),
        );
        let exec = self.exec_options();
        let ticket = crate::fleet::Ticket {
            project: &spec.name,
            service,
            lock_image: &target.proxy.image,
            holder: &holder,
            wait: self.run.wait_lock,
            exec: &exec,
            actor: None,
        };
        let (results, outcome) = crate::fleet::deploy_locked(
            &hosts,
            target.batch,
            &reference,
            &ticket,
            &OutputEvents(self),
        )
        .await
        .map_err(|e| e.to_string())?;
        for line in crate::fleet::describe(&results, service).lines() {
            self.output(line);
        }
        outcome.map_err(|e| e.to_string())?;
        Ok(format!(
            "{reference} live on the {} hosts of {}",
            members.len(),
            target.name
        ))
    }

    /// Step 6's release, under the target's deploy lock; the outcome is recorded on the target.
    async fn deploy_blue_green_locked(
        &self,
        engine: &Engine,
        spec: ProjectSpec,
        service: &str,
        integrate: &Integrate,
        work: &Work,
        reference: &str,
    ) -> Result<String, String> {
        let project = spec.name.clone();
        let reference = reference.to_string();
        let release = self.release(engine, &self.run.target, spec, service, integrate, work);
        // The commit's image already serving (a run again, or resumed after step 6): nothing
        // to release, as `up` leaves an unchanged container alone. (No proxy yet: the release
        // below creates it.) When the other colour still runs, a run was killed after its
        // switch: the release below finishes it by stopping that colour.
        let releases = release.releases().await.unwrap_or_default();
        let interrupted = releases.iter().any(|r| r.state == ReleaseState::Idle);
        if let Some(live) = releases
            .iter()
            .find(|r| r.state == ReleaseState::Live && r.image == reference)
            .filter(|_| !interrupted)
        {
            self.output(&format!("{reference} is already live on {}", live.color));
            return Ok(format!(
                "{reference} already live on {} on {}",
                live.color, self.run.target.name
            ));
        }
        let (color, result) = release.deploy_color(&reference, &OutputEvents(self)).await;
        if let Some(color) = color {
            let status = if result.is_ok() { "done" } else { "failed" };
            if let Err(e) = engine
                .write_release_record(
                    &project,
                    service,
                    color.as_str(),
                    &reference,
                    status,
                    &self.run.target.proxy.image,
                )
                .await
            {
                tracing::warn!("the release record on the target was not written: {e}");
            }
            (self.emit)(PipelineEvent::Release {
                run: self.run.id,
                color: color.to_string(),
                image: reference.clone(),
                status: if result.is_ok() { "done" } else { "failed" }.into(),
            });
        }
        let outcome = result.map_err(|e| e.to_string())?;
        for (step, took) in &outcome.steps {
            self.output(&format!("{step}: {} ms", took.as_millis()));
        }
        self.output(&format!(
            "healthy to switched: {} ms",
            outcome.healthy_to_switched().as_millis()
        ));
        Ok(match outcome.previous {
            Some(previous) => format!(
                "{reference} live on {} ({previous} stopped) on {}",
                outcome.live, self.run.target.name
            ),
            None => format!(
                "{reference} live on {} on {}",
                outcome.live, self.run.target.name
            ),
        })
    }

    /// Step 7 after a blue-green deploy: the route must point at the live colour. Right after
    /// the release it does, and nginx is not reloaded; a changed route in hoist.yml (its
    /// directives, say) is checked by nginx and applied to the live colour's upstream.
    async fn confirm_route(
        &self,
        member: &Target,
        integrate: &Integrate,
    ) -> Result<String, String> {
        let Some(work @ Work::Deploy { service, .. }) = self.file().work(StepId::Deploy) else {
            return Err("integrate needs the deploy step's service (steps.deploy.service)".into());
        };
        let target = member;
        let engine = self.connect(member).await?;
        let (spec, _) = self.deploy_spec(service)?;
        let _proxy_lock = self.proxy_lock(member).await?;
        let release = self.release(&engine, member, spec, service, integrate, work);
        let events = OutputEvents(self);
        release
            .proxy
            .ensure(&events)
            .await
            .map_err(|e| e.to_string())?;
        let (live, servers, applied) =
            release.confirm_route(&events).await.map_err(|e| match e {
                crate::bluegreen::ReleaseError::Failed { cause, .. } => cause,
                other => other.to_string(),
            })?;
        self.output(&format!(
            "route {} → {}-{live} ({}): {}",
            release.route,
            release.route,
            servers.join(" "),
            match applied {
                crate::proxy::Applied::Unchanged => "already in place",
                crate::proxy::Applied::Reloaded => "updated and reloaded",
            }
        ));
        let at = integrate.url(&target.public_address);
        Ok(format!("{at} on {live}"))
    }

    /// Step 7's HTTPS: the route's added host name on every proxy of the target, and its
    /// certificate (the user's files, or from the ACME server when missing or expiring within
    /// 30 days), installed with the proxy's checked reload.
    async fn https(&self, integrate: &Integrate) -> Result<Option<String>, String> {
        let target = &self.run.target;
        let members = target.members();
        let mut engines = Vec::with_capacity(members.len());
        for member in &members {
            engines.push(self.connect(member).await?);
        }
        let mut locks = Vec::with_capacity(members.len());
        for member in &members {
            locks.push(self.proxy_lock(member).await?);
        }
        let proxies: Vec<Proxy<'_>> = members
            .iter()
            .zip(&engines)
            .map(|(member, engine)| Proxy::new(engine, member.proxy.clone()))
            .collect();
        let events = OutputEvents(self);
        let want = integrate.route_tls(&target.acme)?;
        let done =
            crate::proxy::tls::apply_route_tls(&proxies, &self.file().service, &want, &events)
                .await
                .map_err(|e| e.to_string())?;
        Ok(done.map(|(host, ensured)| format!("https://{host}: {ensured}")))
    }

    async fn integrate(&self, member: &Target, integrate: &Integrate) -> Result<String, String> {
        let Some(Work::Deploy { service, .. }) = self.file().work(StepId::Deploy) else {
            return Err("integrate needs the deploy step's service (steps.deploy.service)".into());
        };
        let target = member;
        let engine = self.connect(member).await?;
        let (spec, _) = self.deploy_spec(service)?;
        let servers = published_servers(
            &engine,
            &spec.name,
            service,
            integrate.port,
            &target.upstream_host,
        )
        .await
        .map_err(|e| e.to_string())?;
        if servers.is_empty() {
            return Err(format!(
                "no running container of {}/{service} publishes port {} on {}",
                spec.name, integrate.port, target.name
            ));
        }
        self.output(&format!("servers: {}", servers.join(" ")));
        let _proxy_lock = self.proxy_lock(member).await?;
        let proxy = Proxy::new(&engine, target.proxy.clone());
        let events = OutputEvents(self);
        proxy.ensure(&events).await.map_err(|e| e.to_string())?;
        let name = self.file().service.clone();
        let matcher = integrate.matcher();
        let route = Route {
            name: name.clone(),
            matcher,
            upstream: name.clone(),
            directives: integrate.directives.clone(),
            hosts: integrate.also_host.iter().cloned().collect(),
        };
        proxy
            .update(&events, |table| {
                table
                    .set_upstream(Upstream::new(name.clone(), servers.clone()))
                    .set_route(route);
                Ok(())
            })
            .await
            .map_err(|e| match e.nginx_message() {
                Some(message) => message.to_string(),
                None => e.to_string(),
            })?;
        // nginx reloads a moment after SIGHUP: wait until the route no longer answers nginx's
        // 404, so the post-deployment tests see the new configuration.
        if let Some(path) = &integrate.path {
            let host = target.upstream_host.clone();
            let port = target.proxy.port;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match http_status(&host, port, path).await {
                    Some(status) if status != 404 => {
                        self.output(&format!("GET {path} through the proxy: {status}"));
                        break;
                    }
                    _ if Instant::now() > deadline => {
                        return Err(format!(
                            "{path} still answers 404 through the proxy 10 s after the reload"
                        ));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
        let at = integrate.url(&target.public_address);
        Ok(at)
    }
}

fn short_digest(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("sha256:{}", hex.get(..12).unwrap_or(hex))
}

/// The status of `GET path` at `host:port`: a minimal HTTP/1.0 request, enough to see which
/// configuration nginx serves.
async fn http_status(host: &str, port: u16, path: &str) -> Option<u16> {
    let connect = tokio::net::TcpStream::connect((host, port));
    let mut stream = tokio::time::timeout(Duration::from_secs(2), connect)
        .await
        .ok()?
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace().nth(1)?.parse().ok()
}
