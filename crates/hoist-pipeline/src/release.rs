//! A release of one service where it runs: the place (a `hoist.yml` target, or an engine named
//! by flags), the [`Release`] built for it, and the deploy lock and history record every release
//! holds. `hoist deploy`, `hoist rollback` and the dashboard's "Roll back" all go through here, so
//! a rollback from the dashboard is exactly `hoist rollback SERVICE --target NAME`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoist_compose::LoadOptions;
use hoist_core::desired::project_spec;
use hoist_core::events::EventSink;
use hoist_core::spec::ProjectSpec;
use hoist_docker::execute::ExecOptions;
use hoist_docker::{Engine, EngineSpec};

use crate::bluegreen::{
    HealthGate, HttpCheck, Outcome, Release, ReleaseError, ReleaseTest, with_failures,
};
use crate::config::{PipelineFile, Target};
use crate::history::{History, HistoryError};
use crate::lock::{self, DeployLock, LockError};
use crate::proxy::{Match, Proxy, ProxySpec};
use crate::steps::{StepId, StepStatus};
use hoist_docker::target_journal::JournalEntry;
use hoist_docker::target_lock::{Holder, LockKind, TargetLock};

/// Where a release happens.
#[derive(Debug, Clone)]
pub struct Place {
    pub engine: EngineSpec,
    /// The lock and history key: the target's name, or the engine's address.
    pub target: String,
    /// The lock and history key and the route's name: `hoist.yml`'s service; `None` without a
    /// target (then `project-service`).
    pub service_key: Option<String>,
    pub proxy: Option<ProxySpec>,
    /// The host the proxy reaches published ports at.
    pub upstream_host: Option<String>,
    /// What the integrate step routes: the match, the container port and extra directives.
    pub route: Option<(Match, u16, Vec<String>)>,
    /// The route's added host name and HTTPS (a target's `route:`, `--tls`).
    pub https: Option<crate::proxy::tls::RouteTls>,
}

impl Place {
    /// The engine named by flags: no proxy, route or host known beyond the options.
    pub fn of_engine(engine: EngineSpec) -> Place {
        Place {
            target: engine.host.clone(),
            engine,
            service_key: None,
            proxy: None,
            upstream_host: None,
            route: None,
            https: None,
        }
    }

    /// A target of `hoist.yml`: its engine, proxy and upstream host, and the integrate step's
    /// route, so that releases and the pipeline share one route per service.
    pub fn of_target(file: &PipelineFile, target: &Target) -> Place {
        let engine = target.engine_spec();
        let route = file
            .integrate_for(target)
            .map(|i| (i.matcher(), i.port, i.directives.clone()));
        // A route whose `tls` has no host name is refused by the pipeline's step 7, which
        // says why; a deploy then serves plain HTTP.
        let https = file
            .integrate_for(target)
            .and_then(|i| i.route_tls(&target.acme).ok());
        Place {
            engine,
            target: target.name.clone(),
            service_key: Some(file.service.clone()),
            proxy: Some(target.proxy.clone()),
            upstream_host: Some(target.upstream_host.clone()),
            route,
            https,
        }
    }

    /// Host `member` of `target` (a target of several hosts; the target itself otherwise): its
    /// engine, proxy and addresses, named `TARGET/HOST` in the local history.
    pub fn of_host(file: &PipelineFile, target: &Target, member: &Target) -> Place {
        let mut place = Place::of_target(file, member);
        if target.is_fleet() {
            place.target = format!("{}/{}", target.name, member.name);
            // The route is the target's (its `route:`), the same on every host.
            place.route = file
                .integrate_for(target)
                .map(|i| (i.matcher(), i.port, i.directives.clone()));
        }
        place
    }

    /// The deploy lock's and the history's name for `service` of `project` here.
    pub fn key(&self, project: &str, service: &str) -> String {
        self.service_key
            .clone()
            .unwrap_or_else(|| format!("{project}-{service}"))
    }

    /// The image the target's deploy lock container runs: the proxy's (every release target
    /// has it, and it has a shell).
    pub fn lock_image(&self, opts: &ReleaseOptions) -> String {
        self.proxy
            .as_ref()
            .map(|p| p.image.clone())
            .unwrap_or_else(|| opts.proxy_image.clone())
    }
}

impl From<hoist_docker::target_lock::TargetLockError> for ReleaseRunError {
    fn from(e: hoist_docker::target_lock::TargetLockError) -> Self {
        ReleaseRunError::TargetLock(Box::new(e))
    }
}

/// The latest release of each colour: the target's records ([`hoist_docker::target_records`])
/// when it has any, so that every machine sees the same; else `local` (the state folder's
/// history, from before records were kept on targets).
pub async fn latest_records(
    engine: &Engine,
    project: &str,
    service: &str,
    local: impl FnOnce() -> Vec<crate::history::ReleaseRecord>,
) -> Vec<crate::history::ReleaseRecord> {
    match engine.release_records(project, service).await {
        Ok(records) if !records.is_empty() => records
            .into_iter()
            .map(|r| crate::history::ReleaseRecord {
                run: 0,
                color: r.color,
                image: r.image,
                status: r.status,
                at: 0.0,
            })
            .collect(),
        Ok(_) => local(),
        Err(e) => {
            tracing::warn!("the target's release records could not be read: {e}");
            local()
        }
    }
}

/// Takes the deploy lock on the target's engine for `service` of `project` (see
/// [`hoist_docker::target_lock`]): every machine deploying there sees it. A dead holder's lock is
/// taken over with a warning naming it.
pub async fn lock_target(
    engine: &Engine,
    project: &str,
    service: &str,
    image: &str,
    me: &Holder,
    wait: bool,
    exec: &ExecOptions,
) -> Result<TargetLock, ReleaseRunError> {
    // The lock container runs the proxy's image, pulled with the user's credentials if missing.
    let auth = exec
        .docker_config
        .as_ref()
        .and_then(|c| c.credentials_for_image(image).ok().flatten());
    let (held, taken) = engine
        .take_target_lock(project, service, me, image, auth.as_ref(), wait)
        .await?;
    if let Some(dead) = taken.took_over {
        tracing::warn!(
            "took over the deploy lock of {service}: its holder, {}, is gone (its lock container \
             had stopped)",
            dead.describe()
        );
    }
    Ok(held)
}

/// What a release takes beyond its place: the command line's flags. `Default` is what a
/// command line without them means (the dashboard's rollback uses it).
#[derive(Debug, Clone)]
pub struct ReleaseOptions {
    pub target_host: Option<String>,
    pub route_path: Option<String>,
    pub route_host: Option<String>,
    /// Proxy image, port and container name when the place has no proxy of its own.
    pub proxy_image: String,
    pub proxy_port: u16,
    pub proxy_name: Option<String>,
    pub container_port: Option<u16>,
    pub health_path: Option<String>,
    pub health_timeout: Duration,
    pub drain: Duration,
    pub test_path: Option<String>,
    /// Who the target's journal names for this release (the dashboard's signed-in user); this
    /// machine's `user@host` when `None`.
    pub actor: Option<String>,
}

impl Default for ReleaseOptions {
    fn default() -> Self {
        ReleaseOptions {
            target_host: None,
            route_path: None,
            route_host: None,
            proxy_image: ProxySpec::DEFAULT_IMAGE.into(),
            proxy_port: 80,
            proxy_name: None,
            container_port: None,
            health_path: None,
            health_timeout: Duration::from_secs(60),
            drain: Duration::from_secs(2),
            test_path: None,
            actor: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseRunError {
    #[error("no such service: {0}")]
    NoSuchService(String),
    #[error(
        "service {service} publishes no port for the proxy to reach: add `ports: - PORT` to it, \
         or say which with --container-port"
    )]
    NoContainerPort { service: String },
    #[error(
        "service {service} publishes no port: blue-green needs `ports: - {port}` so that each \
         colour gets a host port the proxy can reach"
    )]
    NotPublished { service: String, port: u16 },
    #[error("loading the deploy files of {}: {cause}", file.display())]
    Load {
        file: std::path::PathBuf,
        cause: String,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Boxed: an engine error inside makes it large.
    #[error(transparent)]
    TargetLock(Box<hoist_docker::target_lock::TargetLockError>),
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Boxed: a failed release carries what was undone, and would make every result large.
    #[error(transparent)]
    Release(Box<ReleaseError>),
    #[error("waiting for the deploy lock: {0}")]
    Join(String),
    /// A release across the hosts of a target that failed on one of them.
    #[error(transparent)]
    Fleet(Box<crate::fleet::FleetError>),
    /// One host of a target of several.
    #[error("on host {host}: {cause}")]
    OnHost {
        host: String,
        cause: Box<ReleaseRunError>,
    },
    #[error(
        "{service} was not rolled back: the stopped colour {color} holds {image}, whose deploy \
         failed; deploy a working image instead"
    )]
    FailedColour {
        service: String,
        color: String,
        image: String,
    },
}

impl From<ReleaseError> for ReleaseRunError {
    fn from(e: ReleaseError) -> Self {
        ReleaseRunError::Release(Box::new(e))
    }
}

/// The project `hoist.yml` deploys to its targets: its deploy files under its project name, read
/// with `environment` as the pipeline's deploy step reads them.
pub fn deploy_project(
    file: &PipelineFile,
    environment: BTreeMap<String, String>,
) -> Result<ProjectSpec, ReleaseRunError> {
    let load = |cause: String| ReleaseRunError::Load {
        file: file.path.clone(),
        cause,
    };
    let project = hoist_compose::load(&LoadOptions {
        files: file.deploy_files.clone(),
        project_name: file.project.clone(),
        project_directory: None,
        profiles: Vec::new(),
        enable_services: Vec::new(),
        env_files: Vec::new(),
        environment,
        working_dir: file.dir.clone(),
        env_file_services: None,
        all_resources: false,
        no_interpolate: false,
        swarm_objects: false,
    })
    .map_err(|e| load(e.to_string()))?;
    project_spec(&project).map_err(|e| load(e.to_string()))
}

/// The release of `service` of `project` at `place`.
pub fn release<'e>(
    engine: &'e Engine,
    project: &ProjectSpec,
    service: &str,
    place: &Place,
    opts: &ReleaseOptions,
    exec: ExecOptions,
) -> Result<Release<'e>, ReleaseRunError> {
    let spec = project
        .service(service)
        .ok_or_else(|| ReleaseRunError::NoSuchService(service.to_string()))?;
    let container_port = match opts.container_port.or(place.route.as_ref().map(|r| r.1)) {
        Some(p) => p,
        None => spec
            .container
            .ports
            .first()
            .and_then(|p| p.container_port.split('/').next())
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| ReleaseRunError::NoContainerPort {
                service: service.to_string(),
            })?,
    };
    if spec.container.ports.is_empty() {
        return Err(ReleaseRunError::NotPublished {
            service: service.to_string(),
            port: container_port,
        });
    }
    let host = match opts.target_host.as_ref().or(place.upstream_host.as_ref()) {
        Some(h) => h.clone(),
        None => engine
            .address()
            .remote_host()
            .unwrap_or_else(|| "127.0.0.1".to_string()),
    };
    let (matcher, directives) = match (&opts.route_host, &opts.route_path, &place.route) {
        (Some(name), _, _) => (Match::Host(name.clone()), Vec::new()),
        (None, Some(path), _) => (Match::PathPrefix(path.clone()), Vec::new()),
        (None, None, Some((m, _, d))) => (m.clone(), d.clone()),
        (None, None, None) => (Match::PathPrefix("/".into()), Vec::new()),
    };
    let proxy = match &place.proxy {
        Some(p) => p.clone(),
        None => {
            let mut p = ProxySpec::new(opts.proxy_image.clone());
            p.port = opts.proxy_port;
            if let Some(name) = &opts.proxy_name {
                p.name = name.clone();
            }
            p
        }
    };
    let test: Option<Arc<dyn ReleaseTest>> = opts
        .test_path
        .clone()
        .or_else(|| opts.health_path.clone())
        .map(|path| {
            Arc::new(HttpCheck {
                path,
                // A host route answers its name only (a wildcard has no one name to ask for).
                host: match &matcher {
                    Match::Host(name) if !name.starts_with('*') => Some(name.clone()),
                    _ => None,
                },
            }) as Arc<dyn ReleaseTest>
        });
    Ok(Release {
        engine,
        project: project.clone(),
        service: service.to_string(),
        container_port,
        host,
        proxy: Proxy::new(engine, proxy),
        // With a hoist.yml target, the pipeline's integrate step and releases share one route.
        route: place.key(&project.name, service),
        matcher,
        directives,
        health: HealthGate {
            http_path: opts.health_path.clone(),
            deadline: opts.health_timeout,
        },
        pre_test: test.clone(),
        post_test: test,
        drain: opts.drain,
        exec,
        commit: None,
    })
}

/// A release in progress: it holds the deploy lock of its service on its target and has a run
/// in the history (shown by `hoist pipeline history` and the dashboard) until [`finish`]ed.
///
/// [`finish`]: Recorded::finish
pub struct Recorded {
    pub run: i64,
    history: History,
    started: Instant,
    _lock: DeployLock,
}

impl Recorded {
    /// Takes the lock (failing at once, naming the holder, unless `wait`) and opens the record:
    /// every step but the deploy is skipped.
    pub fn begin(
        state_dir: &Path,
        target: &str,
        key: &str,
        wait: bool,
    ) -> Result<Recorded, ReleaseRunError> {
        let held = lock::acquire(state_dir, target, key, wait)?;
        Recorded::open(held, History::open(state_dir), target, key).map_err(|(_, e)| e)
    }

    /// Opens the record in `history` under the lock `held`; when the history cannot take it,
    /// the lock comes back with the error, so that a caller may go on without a record.
    fn open(
        mut held: DeployLock,
        history: Result<History, HistoryError>,
        target: &str,
        key: &str,
    ) -> Result<Recorded, (DeployLock, ReleaseRunError)> {
        let steps: Vec<(StepId, StepStatus)> = StepId::ALL
            .iter()
            .map(|s| {
                let status = if *s == StepId::Deploy {
                    StepStatus::Pending
                } else {
                    StepStatus::Skipped
                };
                (*s, status)
            })
            .collect();
        let opened = history.and_then(|history| {
            let run = history.start_run(key, target, "", &steps)?;
            history.step_started(run, StepId::Deploy)?;
            Ok((history, run))
        });
        let (history, run) = match opened {
            Ok(opened) => opened,
            Err(e) => return Err((held, e.into())),
        };
        if let Err(e) = held.record_holder(run) {
            return Err((held, e.into()));
        }
        Ok(Recorded {
            run,
            history,
            started: Instant::now(),
            _lock: held,
        })
    }

    /// The history this release is recorded in, to add what only the release knows (the colour).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Closes the record with the outcome's one line; the lock is released.
    pub fn finish(self, result: &Result<String, String>) {
        let seconds = Some(self.started.elapsed().as_secs_f64());
        let (status, detail) = match result {
            Ok(text) => (StepStatus::Done, text.clone()),
            Err(e) => (StepStatus::Failed, e.clone()),
        };
        let h = &self.history;
        // A failing history write must not fail the release it records, but it is reported.
        let written = h
            .append_output(self.run, StepId::Deploy, &format!("{detail}\n"))
            .and_then(|()| h.step_finished(self.run, StepId::Deploy, status, seconds, &detail))
            .and_then(|()| h.finish_run(self.run, if result.is_ok() { "done" } else { "failed" }));
        if let Err(e) = written {
            tracing::warn!(
                "the history did not record the end of run {}: {e}",
                self.run
            );
        }
    }
}

/// A rollback's hold on its service: the deploy lock, and the record when the history could
/// open one.
enum Hold {
    Recorded(Recorded),
    /// Held until the rollback ends, released on drop.
    Unrecorded {
        _lock: DeployLock,
    },
}

/// How long a rollback waits for a history another process holds before going on without it.
const ROLLBACK_HISTORY_PATIENCE: Duration = Duration::from_secs(2);

impl Hold {
    /// Takes the lock; a history that is corrupt, locked or otherwise unwritable is a warning,
    /// not a reason to leave an incident unresolved: the engine, not the history, says which
    /// colour is live.
    fn take(state_dir: &Path, target: &str, key: &str, wait: bool) -> Result<Hold, LockError> {
        let held = lock::acquire(state_dir, target, key, wait)?;
        let history = History::open_with_patience(state_dir, ROLLBACK_HISTORY_PATIENCE);
        match Recorded::open(held, history, target, key) {
            Ok(recorded) => Ok(Hold::Recorded(recorded)),
            Err((held, e)) => {
                tracing::warn!(
                    "rolling back {key} on {target} without a record in the history: {e}"
                );
                Ok(Hold::Unrecorded { _lock: held })
            }
        }
    }

    fn finish(self, result: &Result<String, String>) {
        if let Hold::Recorded(recorded) = self {
            recorded.finish(result);
        }
    }
}

/// `hoist rollback`: takes the deploy lock, records the run, starts the stopped previous colour,
/// moves the route back to it and stops the current one.
#[allow(clippy::too_many_arguments)]
pub async fn rollback(
    engine: &Engine,
    project: &ProjectSpec,
    service: &str,
    place: &Place,
    opts: &ReleaseOptions,
    exec: ExecOptions,
    state_dir: &Path,
    wait_lock: bool,
    sink: &dyn EventSink,
) -> Result<Outcome, ReleaseRunError> {
    let lock_exec = exec.clone();
    let started = Instant::now();
    let mut entry = JournalEntry::begin("rollback", &place.target);
    if let Some(actor) = &opts.actor {
        entry.by = actor.clone();
    }
    let release = release(engine, project, service, place, opts, exec)?;
    let key = place.key(&project.name, service);
    let (dir, target, k) = (state_dir.to_path_buf(), place.target.clone(), key.clone());
    // Waiting for the lock blocks: off the runtime's threads.
    let hold = tokio::task::spawn_blocking(move || Hold::take(&dir, &target, &k, wait_lock))
        .await
        .map_err(|e| ReleaseRunError::Join(e.to_string()))??;
    let on_target = match lock_target(
        engine,
        &project.name,
        service,
        &place.lock_image(opts),
        &Holder::me(LockKind::Run, &format!("rollback of {service}")),
        wait_lock,
        &lock_exec,
    )
    .await
    {
        Ok(held) => held,
        Err(e) => {
            hold.finish(&Err(e.to_string()));
            return Err(e);
        }
    };
    let result = match refuse_failed(
        engine,
        &project.name,
        &release,
        &hold,
        &key,
        &place.target,
        service,
    )
    .await
    {
        Ok(()) => release.rollback(sink).await.map_err(ReleaseRunError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = on_target.release().await {
        tracing::warn!("the deploy lock of {service} stays until its heartbeat ends: {e}");
    }
    let text = match &result {
        Ok(o) => Ok(format!("{service} rolled back to {}", o.live)),
        Err(e) => Err(e.to_string()),
    };
    entry.finish(started.elapsed().as_secs_f64(), &text);
    journal(
        &[engine],
        &project.name,
        service,
        &entry,
        &place.lock_image(opts),
    )
    .await;
    hold.finish(&text);
    result
}

/// After a failed deploy the stopped colour holds the failed image (the release before it was
/// replaced): starting it again would be no rollback, so it is refused.
async fn refuse_failed(
    engine: &Engine,
    project: &str,
    release: &Release<'_>,
    hold: &Hold,
    key: &str,
    target: &str,
    service: &str,
) -> Result<(), ReleaseRunError> {
    let local = || {
        let latest = match hold {
            Hold::Recorded(recorded) => recorded.history().latest_releases(key, target),
            Hold::Unrecorded { .. } => Ok(Vec::new()),
        };
        if matches!(hold, Hold::Unrecorded { .. }) {
            tracing::warn!(
                "without the history, whether {service}'s stopped colour failed its deploy is \
                 unknown"
            );
        }
        latest.unwrap_or_else(|e| {
            tracing::warn!("whether {service}'s stopped colour failed its deploy is unknown: {e}");
            Vec::new()
        })
    };
    refuse_failed_colour(engine, project, release, local).await
}

/// Refuses to roll `release` back when its stopped colour holds a release whose deploy failed,
/// as the target's records say (`local`'s, from the state folder, when it has none).
pub(crate) async fn refuse_failed_colour(
    engine: &Engine,
    project: &str,
    release: &Release<'_>,
    local: impl FnOnce() -> Vec<crate::history::ReleaseRecord>,
) -> Result<(), ReleaseRunError> {
    let latest = latest_records(engine, project, &release.service, local).await;
    let list = with_failures(release.releases().await?, &latest);
    match list
        .iter()
        .find(|r| r.state == hoist_core::bluegreen::ReleaseState::Failed)
    {
        Some(failed) => Err(ReleaseRunError::FailedColour {
            service: release.service.clone(),
            color: failed.color.to_string(),
            image: failed.image.clone(),
        }),
        None => Ok(()),
    }
}

/// Where a rollback of a target of several hosts is recorded locally: the state folder, the
/// target's name and the service's key (as [`Recorded::begin`] takes them).
pub struct LocalRecord<'a> {
    pub state_dir: &'a Path,
    pub target: &'a str,
    pub key: &'a str,
}

/// `hoist rollback` of a target of several hosts (also the dashboard's): the local lock and
/// history record (a history that cannot take it is a warning, as for one host), then
/// [`crate::fleet::rollback_locked`] under the target-wide lock.
pub async fn rollback_fleet(
    hosts: &[crate::fleet::HostRelease<'_>],
    batch: usize,
    ticket: &crate::fleet::Ticket<'_>,
    local: &LocalRecord<'_>,
    sink: &dyn EventSink,
) -> Result<Vec<(String, crate::fleet::HostResult)>, ReleaseRunError> {
    let started = Instant::now();
    let mut entry = JournalEntry::begin("rollback", local.target);
    if let Some(actor) = ticket.actor {
        entry.by = actor.to_string();
    }
    let (dir, target, key) = (
        local.state_dir.to_path_buf(),
        local.target.to_string(),
        local.key.to_string(),
    );
    let wait = ticket.wait;
    let hold = tokio::task::spawn_blocking(move || Hold::take(&dir, &target, &key, wait))
        .await
        .map_err(|e| ReleaseRunError::Join(e.to_string()))??;
    let result = match crate::fleet::rollback_locked(hosts, batch, ticket, sink).await {
        Ok((results, outcome)) => {
            let lines = crate::fleet::describe(&results, ticket.service);
            outcome
                .map_err(|e| ReleaseRunError::Fleet(Box::new(e)))
                .map(|_| (results, lines))
        }
        Err(e) => Err(e),
    };
    let text = match &result {
        Ok((_, lines)) => Ok(lines.clone()),
        Err(e) => Err(e.to_string()),
    };
    entry.finish(started.elapsed().as_secs_f64(), &text);
    let engines: Vec<&Engine> = hosts.iter().map(|h| h.release.engine).collect();
    journal(
        &engines,
        ticket.project,
        ticket.service,
        &entry,
        ticket.lock_image,
    )
    .await;
    hold.finish(&text);
    result.map(|(results, _)| results)
}

/// Adds `entry` to the service's journal on every engine of the place (each host of a target
/// of several): what `hoist pipeline history --target` shows from any machine. An engine that
/// cannot take it is a warning: the release it records has happened either way.
pub async fn journal(
    engines: &[&Engine],
    project: &str,
    service: &str,
    entry: &hoist_docker::target_journal::JournalEntry,
    image_for_record: &str,
) {
    let writes = engines
        .iter()
        .map(|e| e.write_journal_entry(project, service, entry, image_for_record));
    for (engine, result) in engines
        .iter()
        .zip(futures_util::future::join_all(writes).await)
    {
        if let Err(e) = result {
            tracing::warn!(
                "the journal on {} did not record this {}: {e}",
                engine.address(),
                entry.kind
            );
        }
    }
}

/// What a rollback of the whole project did.
#[derive(Debug, Clone)]
pub struct ProjectRollback {
    /// The release brought back, and the release the rollback is recorded as.
    pub from: u64,
    pub recorded: u64,
    /// The proxied service's outcome (zero downtime), when it has one.
    pub outcome: Option<Outcome>,
    /// Stateful services left as they are.
    pub kept_stateful: Vec<String>,
    /// Secrets whose value changed since the release, and the like.
    pub warnings: Vec<String>,
}

/// Brings the project on `member` (a host of `target`, or the target itself) back to release
/// `wanted` (default: the one before the live one), under the host's deploy lock: every service as that release had it (its
/// image, by digest when the tag has moved since; its configuration), the target's secrets as
/// they are now. The other services first, `up` recreating what differs in dependency order;
/// then the service behind the proxy, released blue-green to the old image and configuration
/// with zero downtime. Services the file marks `stateful` keep what runs unless
/// `include_stateful`. Recorded as a new release (`rollback_of`).
#[allow(clippy::too_many_arguments)]
pub async fn rollback_project(
    engine: &Engine,
    file: &PipelineFile,
    target: &Target,
    member: &Target,
    wanted: Option<u64>,
    include_stateful: bool,
    secrets: &[(String, String)],
    current: &ProjectSpec,
    opts: &ReleaseOptions,
    exec: ExecOptions,
    sink: &dyn EventSink,
) -> Result<ProjectRollback, String> {
    let service = match file.work(StepId::Deploy) {
        Some(crate::config::Work::Deploy { service, .. }) => service.clone(),
        _ => return Err("the pipeline file has no deploy step: no service to release".into()),
    };
    let place = Place::of_host(file, target, member);
    let held = lock_target(
        engine,
        &current.name,
        &service,
        &place.lock_image(opts),
        &Holder::me(LockKind::Run, "rollback of the project"),
        false,
        &exec,
    )
    .await
    .map_err(|e| e.to_string())?;
    let result = rollback_project_locked(
        engine,
        file,
        target,
        member,
        &service,
        wanted,
        include_stateful,
        secrets,
        current,
        opts,
        exec,
        sink,
    )
    .await;
    if let Err(e) = held.release().await {
        tracing::warn!("the deploy lock of {service} stays until its heartbeat ends: {e}");
    }
    result
}

#[allow(clippy::too_many_arguments)]
async fn rollback_project_locked(
    engine: &Engine,
    file: &PipelineFile,
    target: &Target,
    member: &Target,
    service: &str,
    wanted: Option<u64>,
    include_stateful: bool,
    secrets: &[(String, String)],
    current: &ProjectSpec,
    opts: &ReleaseOptions,
    exec: ExecOptions,
    sink: &dyn EventSink,
) -> Result<ProjectRollback, String> {
    use crate::project_release as pr;
    let releases = pr::list(engine, &current.name)
        .await
        .map_err(|e| e.to_string())?;
    let chosen = pr::pick_rollback(&releases, target.keep, wanted)?.clone();
    let live = pr::live(&releases)
        .cloned()
        .expect("a rollback target implies a live release");
    let (chosen_open, mut warnings) = pr::unseal(&chosen, secrets)?;
    let mut spec = chosen_open.spec.clone();
    let live_spec = pr::unseal(&live, secrets)?.0.spec;
    let mut kept_stateful = Vec::new();
    if !include_stateful {
        for name in &file.stateful {
            let now = live_spec.services.iter().find(|s| &s.name == name);
            if let (Some(slot), Some(now)) =
                (spec.services.iter_mut().find(|s| &s.name == name), now)
            {
                *slot = now.clone();
                kept_stateful.push(name.clone());
            }
        }
    }
    restore_files(&mut spec, current, chosen.id)?;
    pin_moved_tags(engine, &mut spec, &chosen_open).await;
    let others: Vec<String> = spec
        .services
        .iter()
        .map(|s| s.name.clone())
        .filter(|s| s != service)
        .collect();
    let up = async {
        if others.is_empty() {
            return Ok(());
        }
        let opts = hoist_core::plan::UpOptions {
            services: others.clone(),
            ..hoist_core::plan::UpOptions::default()
        };
        hoist_docker::orchestrate::up(engine, &spec, &opts, None, &exec, sink)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let mut result = up.await;
    let mut outcome = None;
    if result.is_ok() && spec.service(service).is_some() {
        let image = spec
            .service(service)
            .map(|s| s.image.clone())
            .unwrap_or_default();
        let release = release(
            engine,
            &spec,
            service,
            &Place::of_host(file, target, member),
            opts,
            exec.clone(),
        )
        .map_err(|e| e.to_string())?;
        match release.deploy(&image, sink).await {
            Ok(o) => outcome = Some(o),
            Err(e) => result = Err(e.to_string()),
        }
    }
    let recorded = releases.iter().map(|r| r.id).max().unwrap_or(0) + 1;
    let record = pr::ProjectRelease {
        id: recorded,
        commit: chosen_open.commit.clone(),
        at: hoist_docker::target_lock::now_rfc3339(),
        by: opts.actor.clone().unwrap_or_else(|| {
            format!(
                "{}@{}",
                hoist_docker::target_lock::user_name(),
                hoist_docker::target_lock::machine_name()
            )
        }),
        status: if result.is_ok() { "done" } else { "failed" }.into(),
        images: pr::images_of(engine, &spec).await,
        rollback_of: Some(chosen.id),
        secrets: pr::fingerprints(secrets),
        spec: spec.clone(),
    };
    if let Err(e) = pr::record(engine, &pr::seal(&record, secrets), &member.proxy.image).await {
        warnings.push(format!("the rollback was not recorded as a release: {e}"));
    }
    result?;
    Ok(ProjectRollback {
        from: chosen.id,
        recorded,
        outcome,
        kept_stateful,
        warnings,
    })
}

/// Secret and config files are recorded as fingerprints only: their content comes from the
/// compose files as they are now.
fn restore_files(
    spec: &mut ProjectSpec,
    current: &ProjectSpec,
    release: u64,
) -> Result<(), String> {
    for service in &mut spec.services {
        for file in &mut service.container.files {
            let now = current
                .service(&service.name)
                .and_then(|s| s.container.files.iter().find(|f| f.path == file.path))
                .ok_or_else(|| {
                    format!(
                        "release {release}: service {} had {} (a secret or config) that the compose files no longer give",
                        service.name, file.path
                    )
                })?;
            file.content = now.content.clone();
        }
    }
    Ok(())
}

/// A service whose recorded tag now names another image on the target is run by the digest it
/// had, when it came from a registry.
async fn pin_moved_tags(
    engine: &Engine,
    spec: &mut ProjectSpec,
    release: &crate::project_release::ProjectRelease,
) {
    for service in &mut spec.services {
        let Some(recorded) = release.images.get(&service.name) else {
            continue;
        };
        let now = engine
            .inspect_image(&recorded.reference)
            .await
            .ok()
            .flatten()
            .map(|i| i.id);
        if now.as_deref() != Some(recorded.id.as_str())
            && let Some(digest) = &recorded.digest
        {
            service.image = digest.clone();
            service.container.image = digest.clone();
        }
    }
}

/// Removes what the releases of `project` older than the newest `keep` used and nothing kept
/// or running uses: the images (every tag the releases named), the stopped colour containers
/// that hold them, and the releases' records. Says what it freed, one line each, and the total.
pub async fn prune_project(
    engine: &Engine,
    project: &str,
    keep: usize,
) -> Result<Vec<String>, String> {
    use crate::project_release as pr;
    let releases = pr::list(engine, project).await.map_err(|e| e.to_string())?;
    let old: Vec<&pr::ProjectRelease> = pr::outside_keep(&releases, keep);
    let old_ids: Vec<u64> = old.iter().map(|r| r.id).collect();
    let kept_images: std::collections::BTreeSet<&str> = releases
        .iter()
        .filter(|r| !old_ids.contains(&r.id))
        .flat_map(|r| r.images.values().map(|i| i.id.as_str()))
        .collect();
    let observed = engine
        .observe_project(project, &[], &[], &[])
        .await
        .map_err(|e| e.to_string())?;
    let running: std::collections::BTreeSet<&str> = observed
        .containers
        .iter()
        .filter(|c| c.state.is_running())
        .map(|c| c.image_id.as_str())
        .collect();
    // image id → the references the old releases named it by
    let mut candidates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for release in &old {
        for image in release.images.values() {
            if image.id.is_empty()
                || kept_images.contains(image.id.as_str())
                || running.contains(image.id.as_str())
            {
                continue;
            }
            let refs = candidates.entry(image.id.clone()).or_default();
            if !refs.contains(&image.reference) {
                refs.push(image.reference.clone());
            }
        }
    }
    let mut said = Vec::new();
    for c in observed.containers.iter().filter(|c| {
        !c.state.is_running()
            && hoist_core::bluegreen::color_of(c).is_some()
            && candidates.contains_key(&c.image_id)
    }) {
        engine
            .remove_container_for_down(&c.name, false)
            .await
            .map_err(|e| e.to_string())?;
        said.push(format!(
            "removed the stopped colour {} ({})",
            c.name, c.image
        ));
    }
    let mut freed = 0u64;
    for (id, references) in &candidates {
        let size = engine
            .inspect_image(id)
            .await
            .ok()
            .flatten()
            .map(|i| i.size)
            .unwrap_or(0);
        for reference in references {
            engine
                .remove_image(reference)
                .await
                .map_err(|e| e.to_string())?;
        }
        match engine.inspect_image(id).await.ok().flatten() {
            None if size > 0 => {
                freed += size;
                said.push(format!(
                    "removed image {} ({:.1} MB)",
                    references.join(", "),
                    size as f64 / 1e6
                ));
            }
            None => {}
            Some(_) => said.push(format!(
                "kept image {}: something else still uses it",
                references.join(", ")
            )),
        }
    }
    for release in &old {
        engine
            .remove_project_release(project, release.id)
            .await
            .map_err(|e| e.to_string())?;
        said.push(format!("removed the record of release {}", release.id));
    }
    said.push(format!(
        "freed {:.1} MB; releases kept: {}",
        freed as f64 / 1e6,
        releases
            .iter()
            .filter(|r| !old_ids.contains(&r.id))
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(said)
}
