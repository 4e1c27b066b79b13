//! Rolling a service back from the dashboard: the same rollback as `hoist rollback SERVICE
//! --target NAME` (`hoist_pipeline::release::rollback`: deploy lock, history run, the previous
//! colour started, the route moved back, the current colour stopped), offered for services with
//! both colours on an engine that is a `hoist.yml` target, and recorded in the audit log with who
//! and when like every other action.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hoist_core::events::Collect;
use hoist_docker::ContainerSummary;
use hoist_docker::execute::ExecOptions;
use hoist_pipeline::config::PipelineFile;
use hoist_pipeline::release::{Place, ReleaseOptions, ReleaseRunError, deploy_project};

use crate::audit;
use crate::auth::Identity;
use crate::html::{esc, page, url};
use crate::pages::{ActionForm, not_found, refused, shown};
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

impl Releases {
    fn place(&self, engine: &str) -> Option<Place> {
        if !self.targets.iter().any(|t| t == engine) {
            return None;
        }
        self.file
            .target(engine)
            .map(|t| Place::of_target(&self.file, t))
    }
}

/// The rollback forms of a project page: one per service that has both colours, when the engine
/// is a target of the dashboard's `hoist.yml` and deploys this project. Empty otherwise (and
/// when read-only).
pub(crate) fn rollback_forms(
    state: &AppState,
    who: &Identity,
    engine: &NamedEngine,
    project: &str,
    services: &BTreeMap<String, Vec<ContainerSummary>>,
) -> String {
    let Some(releases) = state.releases.get() else {
        return String::new();
    };
    if state.read_only || releases.place(&engine.name).is_none() {
        return String::new();
    }
    let coloured: Vec<(&String, String, String)> = services
        .iter()
        .filter_map(|(service, containers)| {
            let has = |colour: &str| containers.iter().any(|c| c.color == colour);
            if !has("blue") || !has("green") {
                return None;
            }
            let running = |colour: &str| {
                containers
                    .iter()
                    .any(|c| c.color == colour && c.state.is_running())
            };
            let (live, previous) = match (running("blue"), running("green")) {
                (true, false) => ("blue", "green"),
                (false, true) => ("green", "blue"),
                _ => return None,
            };
            Some((service, live.to_string(), previous.to_string()))
        })
        .collect();
    if coloured.is_empty() {
        return String::new();
    }
    // Only the project hoist.yml deploys: a rollback acts on that project's containers.
    match deploy_project(&releases.file, releases.environment.clone()) {
        Ok(spec) if spec.name == project => {}
        _ => return String::new(),
    }
    let mut out = String::from(
        "<h2>Roll back</h2><table><tr><th>service</th><th>running</th><th>stopped</th><th></th></tr>",
    );
    for (service, live, previous) in coloured {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=c-{live}>{live}</td><td class=c-{previous}>{previous}</td>\
             <td><form class=inline method=post action=\"/e/{}/projects/{}/services/{}/rollback\">\
             <input type=hidden name=csrf value=\"{}\"><button>roll back to {previous}</button>\
             </form></td></tr>",
            esc(service),
            url(&engine.name),
            url(project),
            url(service),
            esc(&who.csrf),
        );
    }
    out.push_str("</table>");
    out
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
    let Some((releases, place)) = state
        .releases
        .get()
        .and_then(|r| Some((r, r.place(&engine)?)))
    else {
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
        hoist_pipeline::release::rollback(
            &e.engine,
            &spec,
            &service,
            &place,
            &ReleaseOptions::default(),
            releases.exec.clone(),
            &releases.state_dir,
            false,
            &Collect::default(),
        )
        .await
    }
    .await;
    let outcome = match &result {
        Ok(o) => format!(
            "ok: {} back on {}{}",
            service,
            o.live,
            o.previous
                .map(|p| format!(", {p} stopped"))
                .unwrap_or_default()
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
    let mut body = format!(
        "<p class={}>{}</p>",
        if result.is_ok() { "ok" } else { "err" },
        esc(&outcome)
    );
    if let Ok(o) = &result {
        body.push_str("<table><tr><th>step</th><th>took</th></tr>");
        for (step, took) in &o.steps {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{:.1} s</td></tr>",
                esc(step),
                took.as_secs_f64()
            );
        }
        body.push_str("</table>");
    }
    let _ = write!(
        body,
        "<p><a href=\"/e/{}/projects/{}\">back to {}</a> · <a href=/history>history</a></p>",
        url(&engine),
        url(&project),
        esc(&project)
    );
    (
        status,
        page(
            &format!("Roll back {project}/{service}"),
            shown(&state, &who),
            &body,
        ),
    )
        .into_response()
}
