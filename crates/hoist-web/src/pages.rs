//! The pages and the read-only JSON API. Each handler reads the current state (containers from
//! the engine's snapshot, which its event stream keeps current, see `snapshot.rs`; everything
//! else from the engine), masks secrets, fills a view of `html.rs` with plain text, and renders
//! its template.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Extension;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use futures_util::StreamExt;
use futures_util::future::join_all;
use hoist_docker::{ContainerDetail, ContainerSummary, Inventory, LogOptions};
use serde::{Deserialize, Serialize};

use crate::audit;
use crate::auth::{Identity, Login};
use crate::history::ActionRecord;
use crate::html::{
    ActionRow, Choice, ColourTag, ContainerPage, ContainerRow, ContainersPage, DeploymentRow,
    EndpointRow, EngineCard, EngineFacts, HistoryPage, ImageRow, ImagesPage, Link, LoginPage,
    MessagePage, MountRow, NetworkRow, NetworksPage, OverviewPage, Port, ProjectPage, ProjectRow,
    ProjectsPage, RunPage, RunRow, RunsPage, Section, ServiceRow, StepRow, SwarmNodeRow, SwarmPage,
    SwarmSection, SwarmServiceRow, SwarmTaskCell, SwarmView, User, VolumeRow, VolumesPage, ago,
    colour_class, health_class, health_name, render, size, state_class, state_name, status_class,
    url,
};
use crate::mask::{self, Masker};
use crate::{AppState, NamedEngine};

/// Most history rows a page lists.
const HISTORY_ROWS: usize = 200;

/// The host a published port is reached at: the engine's own host for a remote engine, the
/// binding address (or localhost) for a local one. The binding address comes from the engine,
/// so only an IP address is taken from it.
fn port_host(engine: &NamedEngine, host_ip: Option<&str>) -> String {
    match engine.engine.address().remote_host() {
        Some(host) => host,
        None => match host_ip.and_then(|ip| ip.parse::<IpAddr>().ok()) {
            Some(ip) if !ip.is_unspecified() => ip.to_string(),
            _ => "localhost".into(),
        },
    }
}

fn ports(engine: &NamedEngine, c: &ContainerSummary) -> Vec<Port> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for p in &c.ports {
        match p.public_port {
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
                out.push(Port {
                    href: Some(format!("http://{host}:{public}/")),
                    text: format!("{public}→{}", p.private_port),
                });
            }
            None => out.push(Port {
                href: None,
                text: format!("{}/{}", p.private_port, p.protocol),
            }),
        }
    }
    out
}

fn container_href(engine: &str, name: &str) -> String {
    format!("/e/{}/containers/{}", url(engine), url(name))
}

fn container_links(engine: &str, names: &[String]) -> Vec<Link> {
    names
        .iter()
        .map(|n| Link {
            href: container_href(engine, n),
            text: n.clone(),
        })
        .collect()
}

fn engine_error(name: &str, err: &dyn std::fmt::Display) -> String {
    format!("engine {name}: {err}")
}

pub(crate) fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        render(&MessagePage::error("Not found", what)),
    )
        .into_response()
}

fn bad_gateway(engine: &str, err: &dyn std::fmt::Display) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        render(&MessagePage::error(
            "Engine error",
            engine_error(engine, err),
        )),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------- overview

pub(crate) async fn overview(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let inventories = join_all(state.engines.iter().map(|e| state.inventory(&e.name))).await;
    let cards = state
        .engines
        .iter()
        .zip(inventories)
        .map(|(e, inv)| EngineCard {
            name: e.name.clone(),
            address: e.engine.address().to_string(),
            info: inv
                .map(|inv| engine_facts(&state, e, &inv))
                .map_err(|err| engine_error(&e.name, &err)),
        })
        .collect();
    render(&OverviewPage {
        title: "Overview".into(),
        user: user(&state, &who),
        cards,
    })
}

fn engine_facts(state: &AppState, e: &NamedEngine, inv: &Inventory) -> EngineFacts {
    let running = inv
        .containers
        .iter()
        .filter(|c| c.state.is_running())
        .count();
    let events = state
        .recent_events(&e.name)
        .into_iter()
        .map(|ev| {
            let name = if ev.event.name.is_empty() {
                ev.event.id.get(..12).unwrap_or(&ev.event.id)
            } else {
                &ev.event.name
            };
            format!("{} {} {}", ev.event.kind, ev.event.action, name)
        })
        .collect();
    EngineFacts {
        version: inv.info.version.clone(),
        api_version: inv.info.api_version.clone(),
        containers_href: format!("/containers?engine={}", url(&e.name)),
        running,
        stopped: inv.containers.len() - running,
        images: inv.images.len(),
        images_size: size(inv.images.iter().map(|i| i.size).sum()),
        networks: inv.networks.len(),
        volumes: inv.volumes.len(),
        events,
    }
}

/// The identity to show in the header: none on an open dashboard.
pub(crate) fn shown<'a>(state: &AppState, who: &'a Identity) -> Option<&'a Identity> {
    (!state.auth.is_open()).then_some(who)
}

/// The header's user, as [`shown`] decides.
pub(crate) fn user(state: &AppState, who: &Identity) -> Option<User> {
    User::of(shown(state, who))
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
) -> (Vec<(usize, ContainerSummary)>, Vec<String>) {
    let lists = join_all(state.engines.iter().map(|e| async {
        if !query.engine.is_empty() && query.engine != e.name {
            return Ok(Vec::new());
        }
        state.containers(&e.name).await.map(|l| Vec::clone(&l))
    }))
    .await;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
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
            Err(err) => errors.push(engine_error(&state.engines[i].name, &err)),
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

const STATES: [&str; 7] = [
    "",
    "running",
    "created",
    "exited",
    "paused",
    "restarting",
    "dead",
];

pub(crate) async fn containers(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Query(query): Query<ListQuery>,
) -> Response {
    let (rows, errors) = all_containers(&state, &query).await;
    let sort_link = |key: &str| {
        format!(
            "?engine={}&q={}&state={}&sort={key}",
            url(&query.engine),
            url(&query.q),
            url(&query.state)
        )
    };
    let rows = rows
        .iter()
        .map(|(i, c)| {
            let e = &state.engines[*i];
            ContainerRow {
                href: container_href(&e.name, &c.name),
                name: c.name.clone(),
                engine: e.name.clone(),
                project: c.project.clone(),
                service: c.service.clone(),
                colour: c.color.clone(),
                colour_class: colour_class(&c.color),
                image: c.image.clone(),
                state: state_name(c.state),
                state_class: state_class(c.state),
                health: health_name(c.health),
                health_class: health_class(c.health),
                ports: ports(e, c),
                created: ago(c.created),
            }
        })
        .collect();
    render(&ContainersPage {
        title: "Containers".into(),
        user: user(&state, &who),
        engines: state
            .engines
            .iter()
            .map(|e| Choice {
                value: e.name.clone(),
                label: e.name.clone(),
                selected: e.name == query.engine,
            })
            .collect(),
        q: query.q.clone(),
        states: STATES
            .iter()
            .map(|s| Choice {
                value: s.to_string(),
                label: if s.is_empty() { "any state" } else { s }.to_string(),
                selected: *s == query.state,
            })
            .collect(),
        sort: query.sort.clone(),
        sort_links: [
            sort_link("name"),
            sort_link("project"),
            sort_link("image"),
            sort_link("state"),
            sort_link("created"),
        ],
        errors,
        rows,
    })
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
                            out.push_str(&format!("[hoist: {err}]\n"));
                            break;
                        }
                    }
                }
            }
            Err(err) => out.push_str(&format!("[hoist: {err}]\n")),
        }
        out
    };
    tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .unwrap_or_else(|_| "[hoist: the engine did not answer in time]\n".into())
}

pub(crate) async fn find_container(
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
        Err(err) => Err(bad_gateway(engine, &err)),
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
    let m = mask::of_container(&d);
    let c = &d.summary;
    let pairs = |list: &mut dyn Iterator<Item = (&String, &String)>| {
        list.map(|(k, v)| (k.clone(), m.value(k, v).into_owned()))
            .collect()
    };
    let logs = recent_logs(&e, &d, &m).await;
    render(&ContainerPage {
        title: c.name.clone(),
        user: user(&state, &who),
        actions_csrf: (!state.read_only).then(|| who.csrf.clone()),
        running: c.state == hoist_core::observed::RunState::Running,
        href: container_href(&e.name, &c.name),
        engine: e.name.clone(),
        id: c.id.clone(),
        project: (!c.project.is_empty()).then(|| Link {
            href: format!("/e/{}/projects/{}", url(&e.name), url(&c.project)),
            text: c.project.clone(),
        }),
        service: c.service.clone(),
        colour: c.color.clone(),
        colour_class: colour_class(&c.color),
        image: c.image.clone(),
        state: state_name(c.state),
        state_class: state_class(c.state),
        health: health_name(c.health),
        health_class: health_class(c.health),
        started_at: d.started_at.clone(),
        finished_at: d.finished_at.clone(),
        exit_code: d.exit_code,
        command: m.text(&d.command.join(" ")).into_owned(),
        entrypoint: m.text(&d.entrypoint.join(" ")).into_owned(),
        working_dir: d.working_dir.clone(),
        user_name: d.user.clone(),
        restart: d.restart_policy.clone(),
        ports: ports(&e, c),
        env: pairs(&mut d.env.iter().map(|(k, v)| (k, v))),
        labels: pairs(&mut c.labels.iter()),
        mounts: d
            .mounts
            .iter()
            .map(|mt| MountRow {
                kind: mt.kind.clone(),
                source: m.text(&mt.source).into_owned(),
                destination: mt.destination.clone(),
                mode: if mt.read_write { "rw" } else { "ro" },
            })
            .collect(),
        networks: d
            .endpoints
            .iter()
            .map(|n| EndpointRow {
                network: n.network.clone(),
                address: n.ip_address.clone(),
                aliases: n.aliases.join(", "),
            })
            .collect(),
        logs,
    })
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
    let m = mask::of_container(&d);
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
        .zip(all.into_iter().map(|r| r.map_err(|err| err.to_string())))
        .collect()
}

/// Labels as `key=value` lines, masked like a container's.
fn masked_labels(labels: &BTreeMap<String, String>) -> Vec<String> {
    let m = Masker::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    labels
        .iter()
        .map(|(k, v)| format!("{k}={}", m.value(k, v)))
        .collect()
}

pub(crate) async fn images(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let sections = inventories(&state)
        .await
        .into_iter()
        .map(|(e, inv)| Section {
            engine: e.name.clone(),
            rows: inv
                .map(|inv| {
                    inv.images
                        .iter()
                        .map(|i| ImageRow {
                            tags: i.tags.clone(),
                            id: i
                                .id
                                .trim_start_matches("sha256:")
                                .get(..12)
                                .unwrap_or("")
                                .to_string(),
                            size: size(i.size),
                            created: ago(i.created),
                            used_by: container_links(&e.name, &i.used_by),
                        })
                        .collect()
                })
                .map_err(|err| engine_error(&e.name, &err)),
        })
        .collect();
    render(&ImagesPage {
        title: "Images".into(),
        user: user(&state, &who),
        sections,
    })
}

pub(crate) async fn networks(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let sections = inventories(&state)
        .await
        .into_iter()
        .map(|(e, inv)| Section {
            engine: e.name.clone(),
            rows: inv
                .map(|inv| {
                    inv.networks
                        .iter()
                        .map(|n| NetworkRow {
                            name: n.name.clone(),
                            driver: n.driver.clone(),
                            scope: n.scope.clone(),
                            subnets: n.subnets.join(", "),
                            containers: container_links(&e.name, &n.containers),
                            labels: masked_labels(&n.labels),
                        })
                        .collect()
                })
                .map_err(|err| engine_error(&e.name, &err)),
        })
        .collect();
    render(&NetworksPage {
        title: "Networks".into(),
        user: user(&state, &who),
        sections,
    })
}

// ------------------------------------------------------------------------------------ swarm

/// Each engine's Swarm: a manager's nodes, services, and each service's tasks per node,
/// re-read every second while the page is open.
pub(crate) async fn swarm(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let sections = join_all(state.engines.iter().map(|e| async move {
        SwarmSection {
            engine: e.name.clone(),
            view: swarm_view(&e.engine)
                .await
                .map_err(|err| engine_error(&e.name, &err)),
        }
    }))
    .await;
    render(&SwarmPage {
        title: "Swarm".into(),
        user: user(&state, &who),
        sections,
    })
}

async fn swarm_view(engine: &hoist_docker::Engine) -> Result<SwarmView, hoist_docker::EngineError> {
    let role = engine.swarm_role().await?;
    if !role.manager {
        return Ok(SwarmView::Outside(match role.state.as_str() {
            "active" => "a worker of a swarm: its managers show the cluster".into(),
            "" | "inactive" => "not part of a swarm".into(),
            other => format!("swarm state: {other}"),
        }));
    }
    let (nodes, services) = futures_util::try_join!(engine.swarm_nodes(), engine.all_services())?;
    let ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
    let tasks = engine.service_tasks(&ids).await?;
    Ok(swarm_cluster(&nodes, &services, &tasks))
}

/// The page's cluster from what the manager listed (pure).
fn swarm_cluster(
    nodes: &[hoist_docker::swarm::NodeRow],
    services: &[hoist_docker::swarm::ServiceRow],
    tasks: &[hoist_docker::swarm::TaskRow],
) -> SwarmView {
    let ready = nodes.iter().filter(|n| n.status == "ready").count() as u64;
    let columns: Vec<String> = nodes.iter().map(|n| n.hostname.clone()).collect();
    let services = services
        .iter()
        .map(|s| {
            let current: Vec<&hoist_docker::swarm::TaskRow> = tasks
                .iter()
                .filter(|t| {
                    t.service_id == s.id && (t.desired == "running" || t.state == "running")
                })
                .collect();
            let running = current.iter().filter(|t| t.state == "running").count();
            let want = s.replicas.unwrap_or(ready);
            let per_node = nodes
                .iter()
                .map(|n| {
                    current
                        .iter()
                        .filter(|t| t.node_id == n.id)
                        .map(|t| SwarmTaskCell {
                            name: match t.slot {
                                Some(slot) => format!("{}.{slot}", s.name),
                                None => s.name.clone(),
                            },
                            state: t.state.clone(),
                            error: t.error.clone(),
                            class: match t.state.as_str() {
                                "running" => "t-ok",
                                "failed" | "rejected" | "orphaned" => "t-bad",
                                _ => "t-warn",
                            },
                        })
                        .collect()
                })
                .collect();
            SwarmServiceRow {
                name: s.name.clone(),
                mode: s.mode.clone(),
                replicas: format!("{running}/{want}"),
                image: s.image.split('@').next().unwrap_or_default().to_string(),
                update: s
                    .update
                    .as_ref()
                    .map(|(state, _)| state.clone())
                    .unwrap_or_default(),
                per_node,
            }
        })
        .collect();
    SwarmView::Cluster {
        nodes: nodes
            .iter()
            .map(|n| SwarmNodeRow {
                hostname: n.hostname.clone(),
                role: n.role.clone(),
                manager_status: n.manager_status.clone(),
                status: n.status.clone(),
                availability: n.availability.clone(),
                addr: n.addr.clone(),
                engine_version: n.engine_version.clone(),
                status_class: if n.status == "ready" { "t-ok" } else { "t-bad" },
            })
            .collect(),
        columns,
        services,
    }
}

pub(crate) async fn volumes(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let mut sections = Vec::new();
    for (e, inv) in inventories(&state).await {
        let rows = match inv {
            Ok(inv) => {
                let users = e.engine.volume_users().await.unwrap_or_default();
                Ok(inv
                    .volumes
                    .iter()
                    .map(|v| VolumeRow {
                        name: v.name.clone(),
                        driver: v.driver.clone(),
                        mountpoint: v.mountpoint.clone(),
                        used_by: container_links(
                            &e.name,
                            users.get(&v.name).map(Vec::as_slice).unwrap_or(&[]),
                        ),
                        labels: masked_labels(&v.labels),
                    })
                    .collect())
            }
            Err(err) => Err(engine_error(&e.name, &err)),
        };
        sections.push(Section {
            engine: e.name.clone(),
            rows,
        });
    }
    render(&VolumesPage {
        title: "Volumes".into(),
        user: user(&state, &who),
        sections,
    })
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

fn colours(containers: &[ContainerSummary]) -> Vec<ColourTag> {
    let mut set: Vec<&str> = containers
        .iter()
        .map(|c| c.color.as_str())
        .filter(|c| !c.is_empty())
        .collect();
    set.sort();
    set.dedup();
    set.into_iter()
        .map(|c| ColourTag {
            name: c.to_string(),
            class: colour_class(c),
        })
        .collect()
}

pub(crate) async fn projects(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let lists = join_all(state.engines.iter().map(|e| state.containers(&e.name))).await;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (e, list) in state.engines.iter().zip(lists) {
        let list = match list {
            Ok(l) => l,
            Err(err) => {
                errors.push(engine_error(&e.name, &err));
                continue;
            }
        };
        for (name, services) in group_projects(Vec::clone(&list)) {
            let all: Vec<ContainerSummary> = services.values().flatten().cloned().collect();
            rows.push(ProjectRow {
                href: format!("/e/{}/projects/{}", url(&e.name), url(&name)),
                engine: e.name.clone(),
                services: services.keys().cloned().collect::<Vec<_>>().join(", "),
                running: all.iter().filter(|c| c.state.is_running()).count(),
                total: all.len(),
                colours: colours(&all),
                name,
            });
        }
    }
    render(&ProjectsPage {
        title: "Projects".into(),
        user: user(&state, &who),
        rows,
        errors,
    })
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
        Err(err) => return bad_gateway(&engine, &err),
    };
    let mut projects = group_projects(Vec::clone(&list));
    let Some(services) = projects.remove(&name) else {
        return not_found("no such project on this engine");
    };
    let mut rows = Vec::new();
    for (service, containers) in &services {
        for c in containers {
            rows.push(ServiceRow {
                service: service.clone(),
                colour: c.color.clone(),
                colour_class: colour_class(&c.color),
                href: container_href(&engine, &c.name),
                name: c.name.clone(),
                image: c.image.clone(),
                state: state_name(c.state),
                state_class: state_class(c.state),
                health: health_name(c.health),
                health_class: health_class(c.health),
                ports: ports(e, c),
            });
        }
    }
    let deployments = state
        .history
        .deployments(HISTORY_ROWS)
        .map(|list| {
            list.into_iter()
                .filter(|d| d.project == name)
                .map(deployment_row)
                .collect()
        })
        .map_err(|err| engine_error("history", &err));
    render(&ProjectPage {
        title: format!("Project {name}"),
        user: user(&state, &who),
        rollbacks: crate::release::rollback_rows(&state, e, &name, &services),
        maintenance: crate::maintenance::row(&state, e, &name).await,
        csrf: who.csrf.clone(),
        rows,
        deployments,
    })
}

// --------------------------------------------------------------------------- runs, history

fn when(ms: i64) -> String {
    ago(ms / 1000)
}

fn deployment_row(d: crate::DeploymentRecord) -> DeploymentRow {
    DeploymentRow {
        when: when(d.at_ms),
        colour_class: colour_class(&d.color),
        project: d.project,
        service: d.service,
        target: d.target,
        colour: d.color,
        image: d.image,
        status: d.status,
    }
}

pub(crate) async fn runs(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let runs = state
        .history
        .runs(HISTORY_ROWS)
        .map(|runs| {
            runs.into_iter()
                .map(|r| RunRow {
                    href: format!("/runs/{}", url(&r.id)),
                    status_class: status_class(&r.status),
                    started: when(r.started_ms),
                    id: r.id,
                    project: r.project,
                    target: r.target,
                    status: r.status,
                })
                .collect()
        })
        .map_err(|err| engine_error("history", &err));
    render(&RunsPage {
        title: "Pipeline runs".into(),
        user: user(&state, &who),
        runs,
    })
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
    // What the pipeline recorded is masked there already; a store written before it masked, or
    // by another writer, is masked here too (URL passwords: the names are not known here).
    let text = |t: &str| mask::mask_url_passwords(t).into_owned();
    render(&RunPage {
        title: format!("Run {id}"),
        user: user(&state, &who),
        // A run in progress is polled by the script (and by a plain refresh without it), so
        // its checklist fills in live.
        poll: run.finished_ms.is_none() && run.status == "running",
        project: run.project,
        target: run.target,
        status_class: status_class(&run.status),
        status: run.status,
        steps: run
            .steps
            .iter()
            .map(|s| StepRow {
                name: s.name.clone(),
                status: s.status.clone(),
                status_class: status_class(&s.status),
                took: s.seconds.map(|t| format!("{t:.1} s")).unwrap_or_default(),
                detail: text(&s.detail),
                output: text(&s.output),
            })
            .collect(),
    })
}

pub(crate) async fn history(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
) -> Response {
    let deployments = state
        .history
        .deployments(HISTORY_ROWS)
        .map(|list| list.into_iter().map(deployment_row).collect())
        .map_err(|err| engine_error("history", &err));
    let actions = state
        .history
        .actions(HISTORY_ROWS)
        .map(|list| {
            list.into_iter()
                .map(|a| ActionRow {
                    when: when(a.at_ms),
                    who: a.who,
                    engine: a.engine,
                    action: a.action,
                    target: a.target,
                    outcome: a.outcome,
                })
                .collect()
        })
        .map_err(|err| engine_error("history", &err));
    let (has_targets, journal) = match state.releases.get() {
        Some(releases) => (
            true,
            crate::release::journal_rows(&state, releases, HISTORY_ROWS).await,
        ),
        None => (false, Ok(Vec::new())),
    };
    render(&HistoryPage {
        title: "History".into(),
        user: user(&state, &who),
        deployments,
        actions,
        has_targets,
        journal,
    })
}

// ------------------------------------------------------------------------------------ login

pub(crate) async fn login_form(State(state): State<AppState>) -> Response {
    if state.auth.is_open() {
        return Redirect::to("/").into_response();
    }
    login_page(StatusCode::OK, "")
}

fn login_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        render(&LoginPage {
            title: "Log in".into(),
            user: None,
            message: message.into(),
        }),
    )
        .into_response()
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

/// A summary's labels masked (secret names, and URL passwords in any value).
fn mask_summary(mut c: ContainerSummary) -> ContainerSummary {
    let m = Masker::from_pairs(c.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (k, v) in c.labels.iter_mut() {
        *v = m.value(k, v).into_owned();
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
    let m = mask::of_container(&d);
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
