//! Rolling a service back from the dashboard: the same rollback as `hoist rollback SERVICE
//! --target NAME` (`hoist_pipeline::release::rollback`: deploy lock, history run, the previous
//! colour started, the route moved back, the current colour stopped), offered for services with
//! both colours on an engine that is a `hoist.yml` target, and recorded in the audit log with who
//! and when like every other action.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hoist_core::events::Collect;
use hoist_docker::ContainerSummary;
use hoist_docker::execute::ExecOptions;
use hoist_docker::target_lock::{Holder, LockKind};
use hoist_pipeline::config::{PipelineFile, Target, Work};
use hoist_pipeline::fleet::{HostRelease, Ticket};
use hoist_pipeline::release::{
    LocalRecord, Place, ReleaseOptions, ReleaseRunError, deploy_project,
};
use hoist_pipeline::steps::StepId;

use crate::audit;
use crate::auth::Identity;
use crate::html::{Colour, JournalRow, Kind, RollbackPage, RollbackRow, render, url};
use crate::pages::{ActionForm, not_found, refused, user};
use crate::{AppState, NamedEngine};

/// The targets of one `hoist.yml` the dashboard shows, and what a release there needs.
pub struct Releases {
    pub file: PipelineFile,
    /// Names of the shown engines that are targets of `file` (the engine carries the target's
    /// name).
    pub targets: Vec<String>,
    /// hoist's state folder: the deploy locks and the run history.
    pub state_dir: PathBuf,
    /// The environment the deploy files are interpolated with.
    pub environment: BTreeMap<String, String>,
    pub exec: ExecOptions,
}

/// What a rollback from an engine's page acts on.
enum At<'a> {
    /// A target of one host.
    One(Box<Place>),
    /// Every host of a target of several (the engine is one of them, named `HOST@TARGET`).
    Fleet(&'a Target),
}

impl Releases {
    fn at(&self, engine: &str) -> Option<At<'_>> {
        if let Some(target) = self.targets.iter().find(|t| *t == engine) {
            let target = self.file.target(target)?;
            return (!target.is_fleet())
                .then(|| At::One(Box::new(Place::of_target(&self.file, target))));
        }
        let (host, target) = engine.rsplit_once('@')?;
        if !self.targets.iter().any(|t| t == target) {
            return None;
        }
        let target = self.file.target(target)?;
        target
            .hosts
            .iter()
            .any(|h| h.name == host)
            .then_some(At::Fleet(target))
    }
}

/// The dashboard's engine name of a host of a target of several.
pub fn fleet_engine_name(target: &str, host: &str) -> String {
    format!("{host}@{target}")
}

/// The services of a project page that can be rolled back: those with both colours, when the
/// engine is a target of the dashboard's `hoist.yml` and deploys this project. None otherwise
/// (and when read-only).
pub(crate) fn rollback_rows(
    state: &AppState,
    engine: &NamedEngine,
    project: &str,
    services: &BTreeMap<String, Vec<ContainerSummary>>,
) -> Vec<RollbackRow> {
    let Some(releases) = state.releases.get() else {
        return Vec::new();
    };
    if state.read_only || releases.at(&engine.name).is_none() {
        return Vec::new();
    }
    let coloured: Vec<RollbackRow> = services
        .iter()
        .filter_map(|(service, containers)| {
            let has = |colour: Colour| containers.iter().any(|c| c.color == colour.name());
            if !has(Colour::Blue) || !has(Colour::Green) {
                return None;
            }
            let running = |colour: Colour| {
                containers
                    .iter()
                    .any(|c| c.color == colour.name() && c.state.is_running())
            };
            let (live, previous) = match (running(Colour::Blue), running(Colour::Green)) {
                (true, false) => (Colour::Blue, Colour::Green),
                (false, true) => (Colour::Green, Colour::Blue),
                _ => return None,
            };
            Some(RollbackRow {
                service: service.clone(),
                live,
                previous,
                action: format!(
                    "/e/{}/projects/{}/services/{}/rollback",
                    url(&engine.name),
                    url(project),
                    url(service)
                ),
            })
        })
        .collect();
    if coloured.is_empty() {
        return coloured;
    }
    // Only the project hoist.yml deploys: a rollback acts on that project's containers.
    match deploy_project(&releases.file, releases.environment.clone()) {
        Ok(spec) if spec.name == project => coloured,
        _ => Vec::new(),
    }
}

/// `POST /e/{engine}/projects/{project}/services/{service}/rollback`: refused when read-only
/// (403) or without the session's CSRF token (403); carried out as `hoist rollback SERVICE
/// --target ENGINE`, recorded with who and when before it starts (refused, 503, when the audit
/// log cannot be written), its outcome recorded after, and answered with the outcome.
pub(crate) async fn rollback(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((engine, project, service)): Path<(String, String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refusal) = refused(&state, &who, &form) {
        return refusal;
    }
    let Some(e) = state.engine(&engine) else {
        return not_found("no such engine");
    };
    let Some((releases, at)) = state.releases.get().and_then(|r| Some((r, r.at(&engine)?))) else {
        return not_found("this engine is not a hoist.yml target of the dashboard: no rollback");
    };
    let pending = match audit::begin(
        &state,
        &who,
        &engine,
        "rollback",
        &format!("{project}/{service}"),
    ) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let result = async {
        let spec = deploy_project(&releases.file, releases.environment.clone())?;
        if spec.name != project {
            return Err(ReleaseRunError::Load {
                file: releases.file.path.clone(),
                cause: format!("it deploys project {}, not {project}", spec.name),
            });
        }
        match &at {
            At::One(place) => hoist_pipeline::release::rollback(
                &e.engine,
                &spec,
                &service,
                place,
                &ReleaseOptions {
                    actor: Some(who.who.clone()),
                    ..ReleaseOptions::default()
                },
                releases.exec.clone(),
                &releases.state_dir,
                false,
                &Collect::default(),
            )
            .await
            .map(|o| vec![o]),
            At::Fleet(target) => {
                rollback_fleet(&state, releases, target, &spec, &service, &who.who).await
            }
        }
    }
    .await;
    let outcome = match &result {
        Ok(outcomes) => format!(
            "ok: {} back on {}",
            service,
            outcomes
                .iter()
                .map(|o| format!(
                    "{}{}",
                    o.live,
                    o.previous
                        .map(|p| format!(", {p} stopped"))
                        .unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Err(err) => err.to_string(),
    };
    pending.finish(&state, &outcome);
    let status = match &result {
        Ok(_) => StatusCode::OK,
        Err(ReleaseRunError::Lock(_)) => StatusCode::CONFLICT,
        // Nothing to roll back to.
        Err(ReleaseRunError::Release(e))
            if matches!(**e, hoist_pipeline::bluegreen::ReleaseError::Rollback(_)) =>
        {
            StatusCode::CONFLICT
        }
        Err(ReleaseRunError::Release(_)) => StatusCode::BAD_GATEWAY,
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let steps = match &result {
        Ok(outcomes) => outcomes
            .iter()
            .flat_map(|o| &o.steps)
            .map(|(step, took)| (step.to_string(), format!("{:.1} s", took.as_secs_f64())))
            .collect(),
        Err(_) => Vec::new(),
    };
    let page = RollbackPage {
        title: format!("Roll back {project}/{service}"),
        user: user(&state, &who),
        kind: if result.is_ok() { Kind::Ok } else { Kind::Err },
        outcome,
        steps,
        project_href: format!("/e/{}/projects/{}", url(&engine), url(&project)),
        project,
    };
    (status, render(&page)).into_response()
}

/// The dashboard's rollback of a service on every host of `target`: the engines it already
/// follows (`HOST@TARGET`), `hoist rollback SERVICE --target TARGET`'s walk.
async fn rollback_fleet(
    state: &AppState,
    releases: &Releases,
    target: &Target,
    spec: &hoist_core::spec::ProjectSpec,
    service: &str,
    actor: &str,
) -> Result<Vec<hoist_pipeline::bluegreen::Outcome>, ReleaseRunError> {
    let mut hosts = Vec::new();
    for member in &target.hosts {
        let name = fleet_engine_name(&target.name, &member.name);
        let Some(named) = state.engine(&name) else {
            return Err(ReleaseRunError::OnHost {
                host: member.name.clone(),
                cause: Box::new(ReleaseRunError::Load {
                    file: releases.file.path.clone(),
                    cause: format!("the dashboard does not follow engine {name}"),
                }),
            });
        };
        let place = Place::of_host(&releases.file, target, member);
        hosts.push(HostRelease {
            host: member.name.clone(),
            release: hoist_pipeline::release::release(
                &named.engine,
                spec,
                service,
                &place,
                &ReleaseOptions::default(),
                releases.exec.clone(),
            )?,
        });
    }
    let holder = Holder::me(
        LockKind::Run,
        &format!("rollback of {service} from the dashboard"),
    );
    let place = Place::of_target(&releases.file, target);
    let ticket = Ticket {
        project: &spec.name,
        service,
        lock_image: &place.lock_image(&ReleaseOptions::default()),
        holder: &holder,
        wait: false,
        exec: &releases.exec,
        actor: Some(actor),
    };
    let key = place.key(&spec.name, service);
    let local = LocalRecord {
        state_dir: &releases.state_dir,
        target: &target.name,
        key: &key,
    };
    let results = hoist_pipeline::release::rollback_fleet(
        &hosts,
        target.batch,
        &ticket,
        &local,
        &Collect::default(),
    )
    .await?;
    // The page reads each host's outcome: the colour serving now, the one stopped.
    Ok(results
        .into_iter()
        .filter_map(|(_, result)| match result {
            hoist_pipeline::fleet::HostResult::Released { color } => {
                Some(hoist_pipeline::bluegreen::Outcome {
                    live: color,
                    previous: Some(color.other()),
                    steps: Vec::new(),
                })
            }
            _ => None,
        })
        .collect())
}

/// The journals kept on the dashboard's targets (every host's for a target of several), merged
/// (an entry written to several hosts once) and newest first: what every machine sees.
pub(crate) async fn journal_rows(
    state: &AppState,
    releases: &Releases,
    limit: usize,
) -> Result<Vec<JournalRow>, String> {
    let spec =
        deploy_project(&releases.file, releases.environment.clone()).map_err(|e| e.to_string())?;
    let Some(Work::Deploy { service, .. }) = releases.file.work(StepId::Deploy) else {
        return Ok(Vec::new());
    };
    let mut all: Vec<hoist_docker::target_journal::JournalEntry> = Vec::new();
    for name in &releases.targets {
        let Some(target) = releases.file.target(name) else {
            continue;
        };
        for member in target.members() {
            let engine_name = if target.is_fleet() {
                fleet_engine_name(&target.name, &member.name)
            } else {
                target.name.clone()
            };
            let Some(named) = state.engine(&engine_name) else {
                continue;
            };
            let entries = named
                .engine
                .journal(&spec.name, service)
                .await
                .map_err(|e| format!("{engine_name}: {e}"))?;
            for entry in entries {
                if !all.iter().any(|e| e.id == entry.id) {
                    all.push(entry);
                }
            }
        }
    }
    all.sort_by(|a, b| b.id.cmp(&a.id));
    all.truncate(limit);
    Ok(all
        .into_iter()
        .map(|e| JournalRow {
            when: e.at.replace('T', " ").trim_end_matches('Z').to_string(),
            kind: e.kind,
            by: e.by,
            target: e.target,
            status: e.status,
            took: format!("{:.1} s", e.seconds),
            detail: hoist_core::mask::mask_url_passwords(&e.detail).into_owned(),
        })
        .collect())
}
