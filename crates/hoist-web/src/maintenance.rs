//! Maintenance mode from the dashboard: a project page of a `hoist.yml` target shows whether
//! the service's route is in maintenance, and (unless read-only) toggles it, as `hoist
//! maintenance on|off --target` does: on every host of the target, through the proxy's checked
//! reload, recorded in the audit log with who and when.

use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hoist_core::events::Collect;
use hoist_pipeline::config::Target;
use hoist_pipeline::proxy::{Proxy, maintenance};
use hoist_pipeline::release::deploy_project;

use crate::audit;
use crate::auth::Identity;
use crate::html::{Kind, MaintenanceRow, MessagePage, render, url};
use crate::pages::{ActionForm, not_found, refused, user};
use crate::release::fleet_engine_name;
use crate::{AppState, NamedEngine};

/// The `hoist.yml` target `engine` is (or is a host of), when the dashboard has one and it
/// deploys `project`: the target, and the dashboard's engine name of each of its hosts.
fn target_of<'a>(
    state: &'a AppState,
    engine: &str,
    project: &str,
) -> Option<(&'a Target, Vec<String>)> {
    let releases = state.releases.get()?;
    let target = match engine.rsplit_once('@') {
        Some((_, target)) => target,
        None => engine,
    };
    if !releases.targets.iter().any(|t| t == target) {
        return None;
    }
    let target = releases.file.target(target)?;
    if target.swarm.is_some() {
        return None;
    }
    match deploy_project(&releases.file, releases.environment.clone()) {
        Ok(spec) if spec.name == project => {}
        _ => return None,
    }
    let engines = if target.is_fleet() {
        target
            .hosts
            .iter()
            .map(|h| fleet_engine_name(&target.name, &h.name))
            .collect()
    } else {
        vec![target.name.clone()]
    };
    Some((target, engines))
}

/// The maintenance state of the project's route as this engine's proxy has it.
pub(crate) async fn row(
    state: &AppState,
    engine: &NamedEngine,
    project: &str,
) -> Option<MaintenanceRow> {
    let (target, _) = target_of(state, &engine.name, project)?;
    let releases = state.releases.get()?;
    let proxy_spec = match engine.name.rsplit_once('@') {
        Some((host, _)) => target.hosts.iter().find(|h| h.name == host)?.proxy.clone(),
        None => target.proxy.clone(),
    };
    let route = releases.file.service.clone();
    let table = Proxy::new(&engine.engine, proxy_spec).config().await.ok()?;
    table.route(&route)?;
    Some(MaintenanceRow {
        on: table.in_maintenance(&route),
        action: format!(
            "/e/{}/projects/{}/maintenance",
            url(&engine.name),
            url(project)
        ),
        route,
        can_toggle: !state.read_only,
    })
}

#[derive(serde::Deserialize)]
pub(crate) struct ToggleForm {
    #[serde(default)]
    csrf: String,
    /// `on` or `off`.
    #[serde(default)]
    turn: String,
    #[serde(default)]
    message: String,
}

/// `POST /e/{engine}/projects/{project}/maintenance`: refused when read-only or without the
/// session's CSRF token (403); recorded in the audit log before the proxies are touched (503
/// when it cannot be written); the route in maintenance (`turn=on`, with the message) or back
/// (`turn=off`) on every host of the target.
pub(crate) async fn toggle(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((engine, project)): Path<(String, String)>,
    Form(form): Form<ToggleForm>,
) -> Response {
    let action = ActionForm {
        csrf: form.csrf.clone(),
    };
    if let Some(refusal) = refused(&state, &who, &action) {
        return refusal;
    }
    let on = match form.turn.as_str() {
        "on" => true,
        "off" => false,
        _ => return (StatusCode::BAD_REQUEST, "turn is on or off\n").into_response(),
    };
    let Some((target, engines)) = target_of(&state, &engine, &project) else {
        return not_found("this engine is not a hoist.yml target deploying this project");
    };
    let Some(releases) = state.releases.get() else {
        return not_found("no hoist.yml");
    };
    let route = releases.file.service.clone();
    let mut proxies = Vec::new();
    for (name, member) in engines.iter().zip(target.members()) {
        let Some(e) = state.engine(name) else {
            return not_found("a host of the target is not followed by the dashboard");
        };
        proxies.push(Proxy::new(&e.engine, member.proxy.clone()));
    }
    let what = format!("{route} {}", if on { "on" } else { "off" });
    let pending = match audit::begin(&state, &who, &engine, "maintenance", &what) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let message = if form.message.trim().is_empty() {
        "This service is down for maintenance and will be back shortly."
    } else {
        form.message.trim()
    };
    let result = if on {
        let page = maintenance::default_page(message);
        maintenance::on(&proxies, &route, page.as_bytes(), &Collect::default()).await
    } else {
        maintenance::off(&proxies, &route, &Collect::default()).await
    };
    let outcome = match &result {
        Ok(()) if on => format!("ok: {route} in maintenance on {}", target.name),
        Ok(()) => format!("ok: {route} serving again on {}", target.name),
        Err(e) => e.to_string(),
    };
    pending.finish(&state, &outcome);
    let page = MessagePage {
        title: format!("Maintenance of {route}"),
        user: user(&state, &who),
        kind: if result.is_ok() { Kind::Ok } else { Kind::Err },
        message: outcome,
    };
    let status = if result.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (status, render(&page)).into_response()
}
