//! The markup: every page is an askama template (`templates/`), which escapes each value it
//! prints and whose attributes are all quoted, so text from an engine, a file or a URL can never
//! become markup. Handlers fill the view structs below with plain text (already masked); CSS
//! classes come only from the enums and functions here, each a `&'static str`, never from a
//! value. Also the small formatters, the embedded stylesheet and script, and [`render`].

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use hoist_core::observed::{Health, RunState};

use crate::auth::Identity;

/// A path segment or query value, percent-encoded (the template then escapes it for the
/// attribute it goes in).
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

/// `73.1 MB`, as docker prints sizes (decimal units).
pub fn size(bytes: i64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1_000_000_000 => format!("{:.2} GB", b / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", b / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", b / 1e3),
        n => format!("{n} B"),
    }
}

/// `3 minutes ago`, from Unix seconds.
pub fn ago(unix: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let d = (now - unix).max(0);
    match d {
        0..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86_400),
    }
}

// ------------------------------------------------------------------------------ CSS classes

/// A blue-green colour: the only colours that have a class. Any other label value is shown as
/// text without one (the label is set by whoever built the image, so it is not trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Blue,
    Green,
}

impl Colour {
    pub fn parse(label: &str) -> Option<Colour> {
        match label {
            "blue" => Some(Colour::Blue),
            "green" => Some(Colour::Green),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Colour::Blue => "blue",
            Colour::Green => "green",
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Colour::Blue => "c-blue",
            Colour::Green => "c-green",
        }
    }
}

/// The class of a colour label's cell: empty for anything but a known colour.
pub fn colour_class(label: &str) -> &'static str {
    Colour::parse(label).map_or("", Colour::class)
}

pub fn state_name(s: RunState) -> &'static str {
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

pub fn state_class(s: RunState) -> &'static str {
    match s {
        RunState::Created => "s-created",
        RunState::Running => "s-running",
        RunState::Paused => "s-paused",
        RunState::Restarting => "s-restarting",
        RunState::Removing => "s-removing",
        RunState::Exited => "s-exited",
        RunState::Dead => "s-dead",
    }
}

pub fn health_name(h: Option<Health>) -> &'static str {
    match h {
        Some(Health::Healthy) => "healthy",
        Some(Health::Unhealthy) => "unhealthy",
        Some(Health::Starting) => "starting",
        None => "",
    }
}

pub fn health_class(h: Option<Health>) -> &'static str {
    match h {
        Some(Health::Healthy) => "h-healthy",
        Some(Health::Unhealthy) => "h-unhealthy",
        Some(Health::Starting) => "h-starting",
        None => "",
    }
}

/// The class of a run's or step's status as the history records it; empty for anything else.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "pending" => "s-pending",
        "running" => "s-running",
        "done" => "s-done",
        "failed" => "s-failed",
        "skipped" => "s-skipped",
        "not run" => "s-not-run",
        "interrupted" => "s-interrupted",
        _ => "",
    }
}

/// Whether a message reports success or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ok,
    Err,
}

impl Kind {
    pub fn class(self) -> &'static str {
        match self {
            Kind::Ok => "ok",
            Kind::Err => "err",
        }
    }
}

// ------------------------------------------------------------------------------- rendering

/// Who is logged in, for the page header's log-out form.
pub struct User {
    pub who: String,
    pub csrf: String,
}

impl User {
    pub fn of(who: Option<&Identity>) -> Option<User> {
        who.map(|id| User {
            who: id.who.clone(),
            csrf: id.csrf.clone(),
        })
    }
}

/// A rendered template as an HTML response; a template that fails to render (it cannot with
/// plain-text fields, but the type allows it) is a 500 without details.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => {
            tracing::error!("rendering a page: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render\n",
            )
                .into_response()
        }
    }
}

/// A link: where to and what it says.
pub struct Link {
    pub href: String,
    pub text: String,
}

/// A published or exposed port: a link when published.
pub struct Port {
    pub href: Option<String>,
    pub text: String,
}

/// A page with one message (an error, a missing thing).
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub user: Option<User>,
    pub kind: Kind,
    pub message: String,
}

impl MessagePage {
    pub fn error(title: &str, message: impl Into<String>) -> MessagePage {
        MessagePage {
            title: title.to_string(),
            user: None,
            kind: Kind::Err,
            message: message.into(),
        }
    }
}

// --------------------------------------------------------------------------------- overview

pub struct EngineFacts {
    pub version: String,
    pub api_version: String,
    pub containers_href: String,
    pub running: usize,
    pub stopped: usize,
    pub images: usize,
    pub images_size: String,
    pub networks: usize,
    pub volumes: usize,
    pub events: Vec<String>,
}

pub struct EngineCard {
    pub name: String,
    pub address: String,
    pub info: Result<EngineFacts, String>,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub title: String,
    pub user: Option<User>,
    pub cards: Vec<EngineCard>,
}

// ------------------------------------------------------------------------------- containers

/// An `<option>` of a filter.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct ContainerRow {
    pub href: String,
    pub name: String,
    pub engine: String,
    pub project: String,
    pub service: String,
    pub colour: String,
    pub colour_class: &'static str,
    pub image: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub health: &'static str,
    pub health_class: &'static str,
    pub ports: Vec<Port>,
    pub created: String,
}

#[derive(Template)]
#[template(path = "containers.html")]
pub struct ContainersPage {
    pub title: String,
    pub user: Option<User>,
    pub engines: Vec<Choice>,
    pub q: String,
    pub states: Vec<Choice>,
    pub sort: String,
    /// name, project, image, state, created.
    pub sort_links: [String; 5],
    pub errors: Vec<String>,
    pub rows: Vec<ContainerRow>,
}

pub struct MountRow {
    pub kind: String,
    pub source: String,
    pub destination: String,
    pub mode: &'static str,
}

pub struct EndpointRow {
    pub network: String,
    pub address: String,
    pub aliases: String,
}

#[derive(Template)]
#[template(path = "container.html")]
pub struct ContainerPage {
    pub title: String,
    pub user: Option<User>,
    /// The CSRF token of the action forms and the console; none when read-only.
    pub actions_csrf: Option<String>,
    /// Running: its usage is shown live, and a console can be opened.
    pub running: bool,
    pub href: String,
    pub engine: String,
    pub id: String,
    pub project: Option<Link>,
    pub service: String,
    pub colour: String,
    pub colour_class: &'static str,
    pub image: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub health: &'static str,
    pub health_class: &'static str,
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: i64,
    pub command: String,
    pub entrypoint: String,
    pub working_dir: String,
    pub user_name: String,
    pub restart: String,
    pub ports: Vec<Port>,
    pub env: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub mounts: Vec<MountRow>,
    pub networks: Vec<EndpointRow>,
    pub logs: String,
}

// ---------------------------------------------------------------- images, networks, volumes

/// One engine's part of an inventory page: its rows, or why there are none.
pub struct Section<T> {
    pub engine: String,
    pub rows: Result<Vec<T>, String>,
}

pub struct ImageRow {
    pub tags: Vec<String>,
    pub id: String,
    pub size: String,
    pub created: String,
    pub used_by: Vec<Link>,
}

#[derive(Template)]
#[template(path = "images.html")]
pub struct ImagesPage {
    pub title: String,
    pub user: Option<User>,
    pub sections: Vec<Section<ImageRow>>,
}

pub struct NetworkRow {
    pub name: String,
    pub driver: String,
    pub scope: String,
    pub subnets: String,
    pub containers: Vec<Link>,
    /// `key=value`, masked.
    pub labels: Vec<String>,
}

/// One engine on the Swarm page: a manager's cluster, or why there is none to show.
pub struct SwarmSection {
    pub engine: String,
    pub view: Result<SwarmView, String>,
}

pub enum SwarmView {
    /// Not in a swarm, or a worker (only managers answer for the cluster): the sentence.
    Outside(String),
    Cluster {
        nodes: Vec<SwarmNodeRow>,
        /// Node hostnames, the task columns' order.
        columns: Vec<String>,
        services: Vec<SwarmServiceRow>,
    },
}

pub struct SwarmNodeRow {
    pub hostname: String,
    pub role: String,
    pub manager_status: String,
    pub status: String,
    pub availability: String,
    pub addr: String,
    pub engine_version: String,
    /// `t-ok` or `t-bad`, from the status.
    pub status_class: &'static str,
}

pub struct SwarmServiceRow {
    pub name: String,
    pub mode: String,
    pub replicas: String,
    pub image: String,
    pub update: String,
    /// For each column's node: the service's current tasks there (`app.2 running`).
    pub per_node: Vec<Vec<SwarmTaskCell>>,
}

pub struct SwarmTaskCell {
    pub name: String,
    pub state: String,
    pub error: String,
    /// `t-ok` running, `t-warn` on its way, `t-bad` failed or rejected.
    pub class: &'static str,
}

#[derive(Template)]
#[template(path = "swarm.html")]
pub struct SwarmPage {
    pub title: String,
    pub user: Option<User>,
    pub sections: Vec<SwarmSection>,
}

#[derive(Template)]
#[template(path = "networks.html")]
pub struct NetworksPage {
    pub title: String,
    pub user: Option<User>,
    pub sections: Vec<Section<NetworkRow>>,
}

pub struct VolumeRow {
    pub name: String,
    pub driver: String,
    pub mountpoint: String,
    pub used_by: Vec<Link>,
    /// `key=value`, masked.
    pub labels: Vec<String>,
}

#[derive(Template)]
#[template(path = "volumes.html")]
pub struct VolumesPage {
    pub title: String,
    pub user: Option<User>,
    pub sections: Vec<Section<VolumeRow>>,
}

// --------------------------------------------------------------------------------- projects

pub struct ColourTag {
    pub name: String,
    pub class: &'static str,
}

pub struct ProjectRow {
    pub href: String,
    pub name: String,
    pub engine: String,
    pub services: String,
    pub running: usize,
    pub total: usize,
    pub colours: Vec<ColourTag>,
}

#[derive(Template)]
#[template(path = "projects.html")]
pub struct ProjectsPage {
    pub title: String,
    pub user: Option<User>,
    pub rows: Vec<ProjectRow>,
    pub errors: Vec<String>,
}

pub struct ServiceRow {
    pub service: String,
    pub colour: String,
    pub colour_class: &'static str,
    pub href: String,
    pub name: String,
    pub image: String,
    pub state: &'static str,
    pub state_class: &'static str,
    pub health: &'static str,
    pub health_class: &'static str,
    pub ports: Vec<Port>,
}

/// A service that can be rolled back: the colour running and the one to go back to.
/// Whether a target's route is in maintenance, and where to toggle it.
pub struct MaintenanceRow {
    pub route: String,
    pub on: bool,
    pub action: String,
    /// False when the dashboard is read-only: the state is shown, without the form.
    pub can_toggle: bool,
}

pub struct RollbackRow {
    pub service: String,
    pub live: Colour,
    pub previous: Colour,
    pub action: String,
}

pub struct DeploymentRow {
    pub when: String,
    pub project: String,
    pub service: String,
    pub target: String,
    pub colour: String,
    pub colour_class: &'static str,
    pub image: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "project.html")]
pub struct ProjectPage {
    pub title: String,
    pub user: Option<User>,
    pub rows: Vec<ServiceRow>,
    pub rollbacks: Vec<RollbackRow>,
    /// The service's route on this target's proxy, when the engine is a `hoist.yml` target.
    pub maintenance: Option<MaintenanceRow>,
    pub csrf: String,
    pub deployments: Result<Vec<DeploymentRow>, String>,
}

// ---------------------------------------------------------------------------- runs, history

pub struct RunRow {
    pub href: String,
    pub id: String,
    pub project: String,
    pub target: String,
    pub status: String,
    pub status_class: &'static str,
    pub started: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
pub struct RunsPage {
    pub title: String,
    pub user: Option<User>,
    pub runs: Result<Vec<RunRow>, String>,
}

pub struct StepRow {
    pub name: String,
    pub status: String,
    pub status_class: &'static str,
    pub took: String,
    pub detail: String,
    pub output: String,
}

#[derive(Template)]
#[template(path = "run.html")]
pub struct RunPage {
    pub title: String,
    pub user: Option<User>,
    pub poll: bool,
    pub project: String,
    pub target: String,
    pub status: String,
    pub status_class: &'static str,
    pub steps: Vec<StepRow>,
}

pub struct ActionRow {
    pub when: String,
    pub who: String,
    pub engine: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

/// An entry of a target's journal: a pipeline run, deploy or rollback, from any machine.
pub struct JournalRow {
    pub when: String,
    pub kind: String,
    pub by: String,
    pub target: String,
    pub status: String,
    pub took: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "history.html")]
pub struct HistoryPage {
    pub title: String,
    pub user: Option<User>,
    pub deployments: Result<Vec<DeploymentRow>, String>,
    pub actions: Result<Vec<ActionRow>, String>,
    /// Whether the dashboard shows `hoist.yml` targets, whose journals `journal` lists.
    pub has_targets: bool,
    pub journal: Result<Vec<JournalRow>, String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub title: String,
    pub user: Option<User>,
    pub message: String,
}

#[derive(Template)]
#[template(path = "rollback.html")]
pub struct RollbackPage {
    pub title: String,
    pub user: Option<User>,
    pub kind: Kind,
    pub outcome: String,
    /// Each step and how long it took.
    pub steps: Vec<(String, String)>,
    pub project_href: String,
    pub project: String,
}

// ---------------------------------------------------------------------------------- assets

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/app.js"),
    )
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/app.css"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_percent_encoded_and_sizes_read_like_docker() {
        assert_eq!(url("a b/c\"<"), "a%20b%2Fc%22%3C");
        assert_eq!(size(73_100_000), "73.1 MB");
        assert_eq!(size(512), "512 B");
    }

    #[test]
    fn only_known_colours_have_a_class() {
        assert_eq!(colour_class("blue"), "c-blue");
        assert_eq!(colour_class("green"), "c-green");
        assert_eq!(colour_class("x onmouseover=alert(1)"), "");
        assert_eq!(colour_class("Blue"), "");
        assert_eq!(status_class("failed"), "s-failed");
        assert_eq!(status_class("\"><script>"), "");
    }

    #[test]
    fn a_template_escapes_and_quotes_every_value() {
        let hostile = "\"><img src=x onerror=alert(1)> ' onmouseover=alert(2) </textarea>";
        let page = MessagePage {
            title: hostile.into(),
            user: Some(User {
                who: hostile.into(),
                csrf: hostile.into(),
            }),
            kind: Kind::Err,
            message: hostile.into(),
        }
        .render()
        .unwrap();
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("</textarea>"), "{page}");
        assert!(!page.contains("' onmouseover"), "{page}");
        assert!(
            page.contains("&#60;img src=x onerror=alert(1)&#62;"),
            "{page}"
        );
        // The CSRF value sits in a quoted attribute it cannot leave.
        assert!(page.contains("value=\"&#34;&#62;&#60;img"), "{page}");
    }
}
