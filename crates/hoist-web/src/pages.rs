//! The pages and the read-only JSON API. Each handler reads the current state (containers from
//! the engine's snapshot, which its event stream keeps current, see `snapshot.rs`; everything
//! else from the engine), masks secrets, and renders.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use futures_util::StreamExt;
use futures_util::future::join_all;
use hoist_core::observed::{Health, RunState};
use hoist_docker::connect::Address;
use hoist_docker::{ContainerDetail, ContainerSummary, Inventory, LogOptions};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::auth::{Identity, Login};
use crate::history::ActionRecord;
use crate::html::{ago, esc, page, size, url};
use crate::mask::{MASK, Masker, is_secret_name};
use crate::{AppState, NamedEngine};

/// Most history rows a page lists.
const HISTORY_ROWS: usize = 200;

fn state_name(s: RunState) -> &'static str {
    match s {
        RunState::Created => "created",
        RunState::Running => "running",
        RunState::Paused => "paused",
        RunState::Restarting => "restarting",
        RunState::Removing => "removing",
        RunState::Exited => "exited",
        RunState::Dead => "dead",
    }
}

fn health_name(h: Option<Health>) -> &'static str {
    match h {
        Some(Health::Healthy) => "healthy",
        Some(Health::Unhealthy) => "unhealthy",
        Some(Health::Starting) => "starting",
        None => "",
    }
}

/// The host a published port is reached at: the engine's own host for a remote engine, the
/// binding address (or localhost) for a local one.
fn port_host(engine: &NamedEngine, host_ip: Option<&str>) -> String {
    match engine.engine.address() {
        Address::Tcp { host, .. } => host.clone(),
        Address::Unix(_) => match host_ip {
            Some(ip) if !ip.is_empty() && ip != "0.0.0.0" && ip != "::" => ip.to_string(),
            _ => "localhost".into(),
        },
    }
}

fn ports_html(engine: &NamedEngine, c: &ContainerSummary) -> String {
    let mut out = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in &c.ports {
        let text = match p.public_port {
            Some(public) => {
                // IPv4 and IPv6 bindings of one port are one link.
                if !seen.insert((public, p.private_port)) {
                    continue;
                }
                let host = port_host(engine, p.host_ip.as_deref());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!(
                    "<a href=\"http://{}:{public}/\">{public}→{}</a> ",
                    esc(&host),
                    p.private_port
                )
            }
            None => format!("{}/{} ", p.private_port, esc(&p.protocol)),
        };
        out.push_str(&text);
    }
    out
}

fn container_href(engine: &str, name: &str) -> String {
    format!("/e/{}/containers/{}", url(engine), url(name))
}

fn engine_error(name: &str, err: &dyn std::fmt::Display) -> String {
    format!(
        "<p class=err>engine {}: {}</p>",
        esc(name),
        esc(&err.to_string())
    )
}

pub(crate) fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(format!("<p>{}</p>", esc(what)))).into_response()
}

// ---------------------------------------------------------------------------------- overview

pub(crate) async fn overview(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Html<String> {
    let inventories = join_all(state.engines.iter().map(|e| state.inventory(&e.name))).await;
    let mut body = String::from("<div data-live class=cards>");
    for (e, inv) in state.engines.iter().zip(inventories) {
        let _ = write!(
            body,
            "<section class=card><h2>{} <small class=muted>{}</small></h2>",
            esc(&e.name),
            esc(&e.engine.address().to_string())
        );
        match inv {
            Ok(inv) => overview_card(&mut body, &state, e, &inv),
            Err(err) => body.push_str(&engine_error(&e.name, &err)),
        }
        body.push_str("</section>");
    }
    body.push_str("</div>");
    page("Overview", shown(&state, &who), &body)
}

fn overview_card(body: &mut String, state: &AppState, e: &NamedEngine, inv: &Inventory) {
    let running = inv
        .containers
        .iter()
        .filter(|c| c.state.is_running())
        .count();
    let total_size: i64 = inv.images.iter().map(|i| i.size).sum();
    let _ = write!(
        body,
        "<dl><dt>Docker</dt><dd>{}</dd><dt>API</dt><dd>{}</dd>\
         <dt>Containers</dt><dd><a href=\"/containers?engine={}\">{} running, {} stopped</a></dd>\
         <dt>Images</dt><dd><a href=/images>{}</a>, {}</dd>\
         <dt>Networks</dt><dd><a href=/networks>{}</a></dd>\
         <dt>Volumes</dt><dd><a href=/volumes>{}</a></dd></dl><h3>Recent events</h3>",
        esc(&inv.info.version),
        esc(&inv.info.api_version),
        url(&e.name),
        running,
        inv.containers.len() - running,
        inv.images.len(),
        size(total_size),
        inv.networks.len(),
        inv.volumes.len(),
    );
    let events = state.recent_events(&e.name);
    if events.is_empty() {
        body.push_str("<p class=muted>none since the dashboard started</p>");
    } else {
        body.push_str("<ul>");
        for ev in events {
            let _ = write!(
                body,
                "<li>{} {} {}</li>",
                esc(&ev.event.kind),
                esc(&ev.event.action),
                esc(if ev.event.name.is_empty() {
                    ev.event.id.get(..12).unwrap_or(&ev.event.id)
                } else {
                    &ev.event.name
                })
            );
        }
        body.push_str("</ul>");
    }
}

/// The identity to show in the header: none on an open dashboard.
pub(crate) fn shown<'a>(state: &AppState, who: &'a Identity) -> Option<&'a Identity> {
    (!state.auth.is_open()).then_some(who)
}

// -------------------------------------------------------------------------------- containers

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    #[serde(default)]
    engine: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    sort: String,
}

/// Every engine's containers, filtered and sorted as the query asks.
async fn all_containers(
    state: &AppState,
    query: &ListQuery,
) -> (Vec<(usize, ContainerSummary)>, String) {
    let lists = join_all(state.engines.iter().map(|e| async {
        if !query.engine.is_empty() && query.engine != e.name {
            return Ok(Vec::new());
        }
        state.containers(&e.name).await.map(|l| Vec::clone(&l))
    }))
    .await;
    let mut rows = Vec::new();
    let mut errors = String::new();
    let needle = query.q.to_lowercase();
    for (i, list) in lists.into_iter().enumerate() {
        match list {
            Ok(list) => rows.extend(
                list.into_iter()
                    .filter(|c| query.state.is_empty() || state_name(c.state) == query.state)
                    .filter(|c| {
                        needle.is_empty()
                            || [&c.name, &c.project, &c.service, &c.image, &c.color]
                                .iter()
                                .any(|f| f.to_lowercase().contains(&needle))
                    })
                    .map(|c| (i, c)),
            ),
            Err(err) => errors.push_str(&engine_error(&state.engines[i].name, &err)),
        }
    }
    match query.sort.as_str() {
        "project" => rows.sort_by(|a, b| {
            (&a.1.project, &a.1.service, &a.1.name).cmp(&(&b.1.project, &b.1.service, &b.1.name))
        }),
        "state" => rows.sort_by(|a, b| {
            (state_name(a.1.state), &a.1.name).cmp(&(state_name(b.1.state), &b.1.name))
        }),
        "image" => rows.sort_by(|a, b| (&a.1.image, &a.1.name).cmp(&(&b.1.image, &b.1.name))),
        "created" => rows.sort_by_key(|r| std::cmp::Reverse(r.1.created)),
        _ => rows.sort_by(|a, b| (&a.1.name, a.0).cmp(&(&b.1.name, b.0))),
    }
    (rows, errors)
}

pub(crate) async fn containers(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Query(query): Query<ListQuery>,
) -> Html<String> {
    let (rows, errors) = all_containers(&state, &query).await;
    let mut body = String::with_capacity(200 * rows.len() + 2048);
    let _ = write!(
        body,
        "<form method=get><select name=engine><option value=\"\">all engines</option>{}</select> \
         <input name=q placeholder=filter value=\"{}\"> <select name=state>{}</select> \
         <input type=hidden name=sort value=\"{}\"><button>filter</button></form>",
        state
            .engines
            .iter()
            .map(|e| format!(
                "<option{}>{}</option>",
                if e.name == query.engine {
                    " selected"
                } else {
                    ""
                },
                esc(&e.name)
            ))
            .collect::<String>(),
        esc(&query.q),
        [
            "",
            "running",
            "created",
            "exited",
            "paused",
            "restarting",
            "dead"
        ]
        .iter()
        .map(|s| format!(
            "<option value=\"{s}\"{}>{}</option>",
            if *s == query.state { " selected" } else { "" },
            if s.is_empty() { "any state" } else { s }
        ))
        .collect::<String>(),
        esc(&query.sort),
    );
    let sort_link = |key: &str, label: &str| {
        format!(
            "<th><a href=\"?engine={}&amp;q={}&amp;state={}&amp;sort={key}\">{label}</a></th>",
            url(&query.engine),
            url(&query.q),
            url(&query.state)
        )
    };
    let _ = write!(
        body,
        "<div data-live>{errors}<p>{} containers</p><table id=containers><thead><tr>{}<th>engine</th>{}\
         <th>service</th><th>colour</th>{}{}<th>health</th><th>ports</th>{}</tr></thead><tbody>",
        rows.len(),
        sort_link("name", "name"),
        sort_link("project", "project"),
        sort_link("image", "image"),
        sort_link("state", "state"),
        sort_link("created", "created"),
    );
    for (i, c) in &rows {
        let e = &state.engines[*i];
        let st = state_name(c.state);
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=c-{}>{}</td>\
             <td>{}</td><td class=s-{st}>{st}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            container_href(&e.name, &c.name),
            esc(&c.name),
            esc(&e.name),
            esc(&c.project),
            esc(&c.service),
            esc(&c.color),
            esc(&c.color),
            esc(&c.image),
            health_name(c.health),
            ports_html(e, c),
            ago(c.created),
        );
    }
    body.push_str("</tbody></table></div>");
    page("Containers", shown(&state, &who), &body)
}

/// A container's masker: its secret-named environment and labels.
fn masker_of(d: &ContainerDetail) -> Masker {
    Masker::from_pairs(
        d.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(
            d.summary
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
    )
}

/// The last lines of a container's output, masked; stops after two seconds so a page never
/// hangs on a slow engine.
async fn recent_logs(e: &NamedEngine, d: &ContainerDetail, masker: &Masker) -> String {
    let options = LogOptions {
        follow: false,
        tail: Some(crate::live::LOG_TAIL),
        timestamps: false,
    };
    let read = async {
        let mut out = String::new();
        match e.engine.logs(&d.summary.id, options).await {
            Ok(mut lines) => {
                while let Some(line) = lines.next().await {
                    match line {
                        Ok(l) => {
                            out.push_str(&masker.text(&l.text));
                            out.push('\n');
                        }
                        Err(err) => {
                            let _ = writeln!(out, "[hoist: {err}]");
                            break;
                        }
                    }
                }
            }
            Err(err) => {
                let _ = writeln!(out, "[hoist: {err}]");
            }
        }
        out
    };
    tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .unwrap_or_else(|_| "[hoist: the engine did not answer in time]\n".into())
}

async fn find_container(
    state: &AppState,
    engine: &str,
    id: &str,
) -> Result<(NamedEngine, ContainerDetail), Response> {
    let Some(e) = state.engine(engine) else {
        return Err(not_found("no such engine"));
    };
    match e.engine.container_detail(id).await {
        Ok(Some(d)) => Ok((e.clone(), d)),
        Ok(None) => Err(not_found("no such container")),
        Err(err) => {
            Err((StatusCode::BAD_GATEWAY, Html(engine_error(engine, &err))).into_response())
        }
    }
}

pub(crate) async fn container(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((engine, id)): Path<(String, String)>,
) -> Response {
    let (e, d) = match find_container(&state, &engine, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let m = masker_of(&d);
    let c = &d.summary;
    let st = state_name(c.state);
    let mut body = String::new();
    if !state.read_only {
        let base = container_href(&e.name, &c.name);
        body.push_str("<p>");
        for action in ["start", "stop", "restart", "remove"] {
            let _ = write!(
                body,
                "<form class=inline method=post action=\"{base}/{action}\">\
                 <input type=hidden name=csrf value=\"{}\"><button>{action}</button></form> ",
                esc(&who.csrf)
            );
        }
        body.push_str("</p>");
    }
    let project_link = if c.project.is_empty() {
        String::new()
    } else {
        format!(
            "<a href=\"/e/{}/projects/{}\">{}</a>",
            url(&e.name),
            url(&c.project),
            esc(&c.project)
        )
    };
    let _ = write!(
        body,
        "<div data-live><dl><dt>engine</dt><dd>{}</dd><dt>id</dt><dd>{}</dd>\
         <dt>project</dt><dd>{project_link}</dd><dt>service</dt><dd>{}</dd>\
         <dt>colour</dt><dd class=c-{}>{}</dd><dt>image</dt><dd>{}</dd>\
         <dt>state</dt><dd class=s-{st}>{st} {}</dd><dt>started</dt><dd>{}</dd>\
         <dt>finished</dt><dd>{}</dd><dt>exit code</dt><dd>{}</dd>\
         <dt>command</dt><dd><code>{}</code></dd><dt>entrypoint</dt><dd><code>{}</code></dd>\
         <dt>working dir</dt><dd>{}</dd><dt>user</dt><dd>{}</dd><dt>restart</dt><dd>{}</dd>\
         <dt>ports</dt><dd>{}</dd></dl></div>",
        esc(&e.name),
        esc(&c.id),
        esc(&c.service),
        esc(&c.color),
        esc(&c.color),
        esc(&c.image),
        health_name(c.health),
        esc(&d.started_at),
        esc(&d.finished_at),
        d.exit_code,
        esc(&m.text(&d.command.join(" "))),
        esc(&m.text(&d.entrypoint.join(" "))),
        esc(&d.working_dir),
        esc(&d.user),
        esc(&d.restart_policy),
        ports_html(&e, c),
    );
    body.push_str("<h2>Environment</h2><table>");
    for (k, v) in &d.env {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(k),
            esc(&m.value(k, v))
        );
    }
    body.push_str("</table><h2>Labels</h2><table>");
    for (k, v) in &c.labels {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(k),
            esc(&m.value(k, v))
        );
    }
    body.push_str("</table><h2>Mounts</h2><table><tr><th>type</th><th>source</th><th>destination</th><th>mode</th></tr>");
    for mount in &d.mounts {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&mount.kind),
            esc(&mount.source),
            esc(&mount.destination),
            if mount.read_write { "rw" } else { "ro" }
        );
    }
    body.push_str(
        "</table><h2>Networks</h2><table><tr><th>network</th><th>address</th><th>aliases</th></tr>",
    );
    for n in &d.endpoints {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&n.network),
            esc(&n.ip_address),
            esc(&n.aliases.join(", "))
        );
    }
    let logs = recent_logs(&e, &d, &m).await;
    let _ = write!(
        body,
        "</table><h2>Logs</h2><pre id=logs data-follow=\"{}/logs/stream\">{}</pre>",
        container_href(&e.name, &c.name),
        esc(&logs)
    );
    page(&c.name, shown(&state, &who), &body).into_response()
}

/// `GET .../logs`: the last lines as plain text.
pub(crate) async fn logs_text(
    State(state): State<AppState>,
    Path((engine, id)): Path<(String, String)>,
) -> Response {
    let (e, d) = match find_container(&state, &engine, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let m = masker_of(&d);
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        recent_logs(&e, &d, &m).await,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// Why an action is refused before anything else: the dashboard is read-only, or the form lacks
/// the session's CSRF token (403 either way). `None` lets it go ahead.
pub(crate) fn refused(state: &AppState, who: &Identity, form: &ActionForm) -> Option<Response> {
    if state.read_only {
        return Some((StatusCode::FORBIDDEN, "the dashboard is read-only\n").into_response());
    }
    if form.csrf.is_empty() || form.csrf != who.csrf {
        return Some((StatusCode::FORBIDDEN, "missing or wrong CSRF token\n").into_response());
    }
    None
}

/// `POST .../{start|stop|restart|remove}`: refused when read-only (403) or without the
/// session's CSRF token (403); recorded in the audit log with who and when before the engine is
/// asked (refused, 503, when the log cannot be written), and its outcome recorded after.
pub(crate) async fn action(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((engine, id, action)): Path<(String, String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Some(refusal) = refused(&state, &who, &form) {
        return refusal;
    }
    let Some(e) = state.engine(&engine) else {
        return not_found("no such engine");
    };
    if !["start", "stop", "restart", "remove"].contains(&action.as_str()) {
        return not_found("no such action");
    }
    let pending = match audit::begin(&state, &who, &engine, &action, &id) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let result = match action.as_str() {
        "start" => e.engine.start_container(&id).await,
        "stop" => e.engine.stop_container(&id, None).await,
        "restart" => e.engine.restart_container(&id, None).await,
        _ => e.engine.remove_container(&id, true, false).await,
    };
    let outcome = match &result {
        Ok(()) => "ok".to_string(),
        Err(err) => err.to_string(),
    };
    pending.finish(&state, &outcome);
    state.refresh_container(&engine, &id).await;
    match result {
        Ok(()) if action == "remove" => Redirect::to("/containers").into_response(),
        Ok(()) => Redirect::to(&container_href(&engine, &id)).into_response(),
        Err(_) => (StatusCode::BAD_GATEWAY, format!("{outcome}\n")).into_response(),
    }
}

// ---------------------------------------------------------------- images, networks, volumes

async fn inventories(
    state: &AppState,
) -> Vec<(&NamedEngine, Result<std::sync::Arc<Inventory>, String>)> {
    let all = join_all(state.engines.iter().map(|e| state.inventory(&e.name))).await;
    state
        .engines
        .iter()
        .zip(all.into_iter().map(|r| r.map_err(|e| e.to_string())))
        .collect()
}

fn masked_labels(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_name(k) { MASK } else { v.as_str() };
            format!("{}={}", esc(k), esc(v))
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn names_links(engine: &str, names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("<a href=\"{}\">{}</a>", container_href(engine, n), esc(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn images(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Html<String> {
    let mut body = String::from("<div data-live>");
    for (e, inv) in inventories(&state).await {
        let _ = write!(body, "<h2>{}</h2>", esc(&e.name));
        let inv = match inv {
            Ok(inv) => inv,
            Err(err) => {
                body.push_str(&engine_error(&e.name, &err));
                continue;
            }
        };
        body.push_str(
            "<table><tr><th>tags</th><th>id</th><th>size</th><th>created</th><th>used by</th></tr>",
        );
        for i in &inv.images {
            let short = i.id.trim_start_matches("sha256:").get(..12).unwrap_or("");
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if i.tags.is_empty() {
                    "<span class=muted>&lt;none&gt;</span>".to_string()
                } else {
                    i.tags
                        .iter()
                        .map(|t| esc(t))
                        .collect::<Vec<_>>()
                        .join("<br>")
                },
                esc(short),
                size(i.size),
                ago(i.created),
                names_links(&e.name, &i.used_by),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</div>");
    page("Images", shown(&state, &who), &body)
}

pub(crate) async fn networks(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Html<String> {
    let mut body = String::from("<div data-live>");
    for (e, inv) in inventories(&state).await {
        let _ = write!(body, "<h2>{}</h2>", esc(&e.name));
        let inv = match inv {
            Ok(inv) => inv,
            Err(err) => {
                body.push_str(&engine_error(&e.name, &err));
                continue;
            }
        };
        body.push_str("<table><tr><th>name</th><th>driver</th><th>scope</th><th>subnet</th><th>containers</th><th>labels</th></tr>");
        for n in &inv.networks {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&n.name),
                esc(&n.driver),
                esc(&n.scope),
                esc(&n.subnets.join(", ")),
                names_links(&e.name, &n.containers),
                masked_labels(&n.labels),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</div>");
    page("Networks", shown(&state, &who), &body)
}

pub(crate) async fn volumes(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Html<String> {
    let mut body = String::from("<div data-live>");
    for (e, inv) in inventories(&state).await {
        let _ = write!(body, "<h2>{}</h2>", esc(&e.name));
        let inv = match inv {
            Ok(inv) => inv,
            Err(err) => {
                body.push_str(&engine_error(&e.name, &err));
                continue;
            }
        };
        let users = e.engine.volume_users().await.unwrap_or_default();
        body.push_str("<table><tr><th>name</th><th>driver</th><th>mountpoint</th><th>used by</th><th>labels</th></tr>");
        for v in &inv.volumes {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&v.name),
                esc(&v.driver),
                esc(&v.mountpoint),
                names_links(
                    &e.name,
                    users.get(&v.name).map(Vec::as_slice).unwrap_or(&[])
                ),
                masked_labels(&v.labels),
            );
        }
        body.push_str("</table>");
    }
    body.push_str("</div>");
    page("Volumes", shown(&state, &who), &body)
}

// ---------------------------------------------------------------------------------- projects

/// Project → service → containers, from the compose labels.
type ProjectMap = BTreeMap<String, BTreeMap<String, Vec<ContainerSummary>>>;

fn group_projects(list: Vec<ContainerSummary>) -> ProjectMap {
    let mut projects: ProjectMap = BTreeMap::new();
    for c in list.into_iter().filter(|c| !c.project.is_empty()) {
        projects
            .entry(c.project.clone())
            .or_default()
            .entry(c.service.clone())
            .or_default()
            .push(c);
    }
    projects
}

fn colours(containers: &[ContainerSummary]) -> String {
    let mut set: Vec<&str> = containers
        .iter()
        .map(|c| c.color.as_str())
        .filter(|c| !c.is_empty())
        .collect();
    set.sort();
    set.dedup();
    set.iter()
        .map(|c| format!("<span class=c-{0}>{0}</span>", esc(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) async fn projects(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Html<String> {
    let lists = join_all(state.engines.iter().map(|e| state.containers(&e.name))).await;
    let mut body = String::from(
        "<div data-live><table><tr><th>project</th><th>engine</th><th>services</th><th>containers</th><th>colours</th></tr>",
    );
    let mut errors = String::new();
    for (e, list) in state.engines.iter().zip(lists) {
        let list = match list {
            Ok(l) => l,
            Err(err) => {
                errors.push_str(&engine_error(&e.name, &err));
                continue;
            }
        };
        for (name, services) in group_projects(Vec::clone(&list)) {
            let all: Vec<ContainerSummary> = services.values().flatten().cloned().collect();
            let running = all.iter().filter(|c| c.state.is_running()).count();
            let _ = write!(
                body,
                "<tr><td><a href=\"/e/{}/projects/{}\">{}</a></td><td>{}</td><td>{}</td>\
                 <td>{running} running of {}</td><td>{}</td></tr>",
                url(&e.name),
                url(&name),
                esc(&name),
                esc(&e.name),
                esc(&services.keys().cloned().collect::<Vec<_>>().join(", ")),
                all.len(),
                colours(&all),
            );
        }
    }
    body.push_str("</table>");
    body.push_str(&errors);
    body.push_str("</div>");
    page("Projects", shown(&state, &who), &body)
}

pub(crate) async fn project(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((engine, name)): Path<(String, String)>,
) -> Response {
    let Some(e) = state.engine(&engine) else {
        return not_found("no such engine");
    };
    let list = match state.containers(&e.name).await {
        Ok(l) => l,
        Err(err) => {
            return (StatusCode::BAD_GATEWAY, Html(engine_error(&engine, &err))).into_response();
        }
    };
    let mut projects = group_projects(Vec::clone(&list));
    let Some(services) = projects.remove(&name) else {
        return not_found("no such project on this engine");
    };
    let mut body = String::from(
        "<div data-live><table><tr><th>service</th><th>colours</th><th>container</th><th>image</th><th>state</th><th>ports</th></tr>",
    );
    for (service, containers) in &services {
        for c in containers {
            let st = state_name(c.state);
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td>\
                 <td class=s-{st}>{st} {}</td><td>{}</td></tr>",
                esc(service),
                colours(std::slice::from_ref(c)),
                container_href(&engine, &c.name),
                esc(&c.name),
                esc(&c.image),
                health_name(c.health),
                ports_html(e, c),
            );
        }
    }
    body.push_str("</table>");
    body.push_str(&crate::release::rollback_forms(
        &state, &who, e, &name, &services,
    ));
    body.push_str("<h2>Releases</h2>");
    match state.history.deployments(HISTORY_ROWS) {
        Ok(list) => {
            let list: Vec<_> = list.into_iter().filter(|d| d.project == name).collect();
            deployments_table(&mut body, &list);
        }
        Err(err) => body.push_str(&engine_error("history", &err)),
    }
    body.push_str("</div>");
    page(&format!("Project {name}"), shown(&state, &who), &body).into_response()
}

// --------------------------------------------------------------------------- runs, history

fn when(ms: i64) -> String {
    ago(ms / 1000)
}

fn deployments_table(body: &mut String, list: &[crate::DeploymentRecord]) {
    if list.is_empty() {
        body.push_str("<p class=muted>no deployments recorded</p>");
        return;
    }
    body.push_str("<table><tr><th>when</th><th>project</th><th>service</th><th>target</th><th>colour</th><th>image</th><th>status</th></tr>");
    for d in list {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=c-{}>{}</td><td>{}</td><td>{}</td></tr>",
            when(d.at_ms),
            esc(&d.project),
            esc(&d.service),
            esc(&d.target),
            esc(&d.color),
            esc(&d.color),
            esc(&d.image),
            esc(&d.status)
        );
    }
    body.push_str("</table>");
}

pub(crate) async fn runs(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Html<String> {
    let mut body = String::from("<div data-live>");
    match state.history.runs(HISTORY_ROWS) {
        Ok(runs) if runs.is_empty() => body.push_str("<p class=muted>no runs recorded</p>"),
        Ok(runs) => {
            body.push_str("<table><tr><th>run</th><th>project</th><th>target</th><th>status</th><th>started</th></tr>");
            for r in runs {
                let _ = write!(
                    body,
                    "<tr><td><a href=\"/runs/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    url(&r.id),
                    esc(&r.id),
                    esc(&r.project),
                    esc(&r.target),
                    esc(&r.status),
                    when(r.started_ms)
                );
            }
            body.push_str("</table>");
        }
        Err(err) => body.push_str(&engine_error("history", &err)),
    }
    body.push_str("</div>");
    page("Pipeline runs", shown(&state, &who), &body)
}

pub(crate) async fn run(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let run = match state.history.run(&id) {
        Ok(Some(r)) => r,
        Ok(None) => return not_found("no such run"),
        Err(err) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response();
        }
    };
    // A run in progress is polled by the script (and by a plain refresh without it), so its
    // checklist fills in live.
    let poll = if run.finished_ms.is_none() && run.status == "running" {
        " data-poll"
    } else {
        ""
    };
    let mut body = format!(
        "<div data-live{poll}><p>{} on {}: <b>{}</b></p><table><tr><th>step</th><th>status</th><th>took</th><th></th></tr>",
        esc(&run.project),
        esc(&run.target),
        esc(&run.status)
    );
    for s in &run.steps {
        let took = s.seconds.map(|t| format!("{t:.1} s")).unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td>{}</td><td class=s-{}>{}</td><td>{took}</td><td>{}</td></tr>{}",
            esc(&s.name),
            esc(&s.status),
            esc(&s.status),
            esc(&s.detail),
            if s.output.is_empty() {
                String::new()
            } else {
                format!("<tr><td colspan=4><pre>{}</pre></td></tr>", esc(&s.output))
            }
        );
    }
    body.push_str("</table></div>");
    page(&format!("Run {id}"), shown(&state, &who), &body).into_response()
}

pub(crate) async fn history(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Html<String> {
    let mut body = String::from("<div data-live><h2>Deployments</h2>");
    match state.history.deployments(HISTORY_ROWS) {
        Ok(list) => deployments_table(&mut body, &list),
        Err(err) => body.push_str(&engine_error("history", &err)),
    }
    body.push_str("<h2>Dashboard actions</h2>");
    match state.history.actions(HISTORY_ROWS) {
        Ok(list) if list.is_empty() => body.push_str("<p class=muted>no actions recorded</p>"),
        Ok(list) => {
            body.push_str("<table><tr><th>when</th><th>who</th><th>engine</th><th>action</th><th>target</th><th>outcome</th></tr>");
            for a in list {
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    when(a.at_ms),
                    esc(&a.who),
                    esc(&a.engine),
                    esc(&a.action),
                    esc(&a.target),
                    esc(&a.outcome)
                );
            }
            body.push_str("</table>");
        }
        Err(err) => body.push_str(&engine_error("history", &err)),
    }
    body.push_str("</div>");
    page("History", shown(&state, &who), &body)
}

// ------------------------------------------------------------------------------------ login

pub(crate) async fn login_form(State(state): State<AppState>) -> Response {
    if state.auth.is_open() {
        return Redirect::to("/").into_response();
    }
    login_page(StatusCode::OK, "")
}

fn login_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "{}<form method=post action=/login><p><label>name <input name=name autocomplete=username></label></p>\
         <p><label>token <input type=password name=token autocomplete=current-password></label></p>\
         <p><button>log in</button></p></form>",
        if message.is_empty() {
            String::new()
        } else {
            format!("<p class=err>{}</p>", esc(message))
        }
    );
    (status, page("Log in", None, &body)).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    token: String,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    if state.auth.is_open() {
        return Redirect::to("/").into_response();
    }
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match state.auth.login(&form.name, &form.token, peer) {
        Login::Ok(id) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (header::SET_COOKIE, state.auth.session_cookie(&id)),
            ],
        )
            .into_response(),
        Login::Wrong => login_page(StatusCode::UNAUTHORIZED, "wrong token"),
        Login::Locked(wait) => {
            let mut r = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                "too many wrong tokens from this address; wait a minute",
            );
            if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    }
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if form.csrf != who.csrf {
        return (StatusCode::FORBIDDEN, "missing or wrong CSRF token\n").into_response();
    }
    state
        .auth
        .logout(headers.get(header::COOKIE).and_then(|v| v.to_str().ok()));
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (header::SET_COOKIE, state.auth.expired_cookie()),
        ],
    )
        .into_response()
}

// -------------------------------------------------------------------------------------- API

#[derive(Serialize)]
pub(crate) struct ApiEngine {
    name: String,
    address: String,
    info: Option<hoist_docker::EngineInfo>,
    error: Option<String>,
}

pub(crate) async fn api_engines(State(state): State<AppState>) -> Json<Vec<ApiEngine>> {
    let infos = join_all(state.engines.iter().map(|e| e.engine.engine_info())).await;
    Json(
        state
            .engines
            .iter()
            .zip(infos)
            .map(|(e, i)| ApiEngine {
                name: e.name.clone(),
                address: e.engine.address().to_string(),
                error: i.as_ref().err().map(|e| e.to_string()),
                info: i.ok(),
            })
            .collect(),
    )
}

#[derive(Serialize)]
pub(crate) struct ApiContainer {
    engine: String,
    #[serde(flatten)]
    container: ContainerSummary,
}

fn mask_summary(mut c: ContainerSummary) -> ContainerSummary {
    for (k, v) in c.labels.iter_mut() {
        if is_secret_name(k) {
            *v = MASK.to_string();
        }
    }
    c
}

pub(crate) async fn api_containers(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Json<Vec<ApiContainer>> {
    let (rows, _) = all_containers(&state, &query).await;
    Json(
        rows.into_iter()
            .map(|(i, c)| ApiContainer {
                engine: state.engines[i].name.clone(),
                container: mask_summary(c),
            })
            .collect(),
    )
}

pub(crate) async fn api_container(
    State(state): State<AppState>,
    Path((engine, id)): Path<(String, String)>,
) -> Response {
    let (_, mut d) = match find_container(&state, &engine, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let m = masker_of(&d);
    for (k, v) in d.env.iter_mut() {
        *v = m.value(k, v).into_owned();
    }
    d.command = d.command.iter().map(|a| m.text(a).into_owned()).collect();
    d.entrypoint = d
        .entrypoint
        .iter()
        .map(|a| m.text(a).into_owned())
        .collect();
    d.summary = mask_summary(d.summary);
    Json(d).into_response()
}

pub(crate) async fn api_runs(State(state): State<AppState>) -> Response {
    match state.history.runs(HISTORY_ROWS) {
        Ok(runs) => Json(runs).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Serialize)]
struct ApiHistory {
    deployments: Vec<crate::DeploymentRecord>,
    actions: Vec<ActionRecord>,
}

pub(crate) async fn api_history(State(state): State<AppState>) -> Response {
    let history = state
        .history
        .deployments(HISTORY_ROWS)
        .and_then(|deployments| {
            Ok(ApiHistory {
                deployments,
                actions: state.history.actions(HISTORY_ROWS)?,
            })
        });
    match history {
        Ok(h) => Json(h).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
