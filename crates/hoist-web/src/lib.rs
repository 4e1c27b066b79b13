//! hoist's dashboard, DockerUI's successor: `app(state)` is an axum [`Router`] that serves
//! server-rendered pages for every engine it was given, read-only JSON, and server-sent events
//! (engine events, followed logs). It needs no socket to be called, so tests drive it with
//! `oneshot`; the binary binds it to an address.
//!
//! Pages work without JavaScript: a reload always shows the engine's truth. A little embedded
//! script listens to `/events` and re-renders the live part of the page when an engine reports a
//! change. Nothing is loaded from elsewhere (no CDN, no web fonts), so it works offline.

mod audit;
pub mod auth;
mod console;
pub mod guard;
mod headers;
pub mod history;
mod html;
mod live;
mod maintenance;
pub mod mask;
mod pages;
pub mod pipeline;
mod release;
mod serve;
mod snapshot;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hoist_docker::{ContainerSummary, Engine, EngineError, EngineEvent, Inventory};
use tokio::sync::broadcast;

use crate::snapshot::Snapshot;

pub use auth::{Auth, Identity, Refusal, TokenDecision, decide_token};
pub use guard::HostPolicy;
pub use history::{
    ActionRecord, DeploymentRecord, History, HistoryError, RunRecord, SqliteHistory, StepRecord,
};
pub use pipeline::PipelineHistory;
pub use release::{Releases, fleet_engine_name};
pub use serve::{DRAIN, TlsError, serve, tls_config};

/// How many engine events each engine keeps for the overview.
const RECENT_EVENTS: usize = 20;

/// One engine the dashboard shows, under the name the user gave it.
#[derive(Debug, Clone)]
pub struct NamedEngine {
    pub name: String,
    pub engine: Engine,
}

/// An engine event with the name of the engine it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiveEvent {
    pub engine: String,
    #[serde(flatten)]
    pub event: EngineEvent,
}

/// Everything the handlers share.
pub struct Inner {
    pub engines: Vec<NamedEngine>,
    pub auth: Auth,
    pub read_only: bool,
    pub history: Arc<dyn History>,
    events: broadcast::Sender<LiveEvent>,
    recent: Mutex<VecDeque<LiveEvent>>,
    /// Snapshots are only used while event streams are followed (they are what keeps them
    /// current); without them every request asks the engine.
    following: AtomicBool,
    snapshots: HashMap<String, Snapshot>,
    /// The `hoist.yml` targets services can be rolled back on; none unless set.
    releases: OnceLock<Releases>,
    /// The `Host` names an open dashboard serves; loopback on any port unless set.
    hosts: OnceLock<HostPolicy>,
    /// Set once shutdown starts: open event and log streams end.
    closing: tokio::sync::watch::Sender<bool>,
}

/// The dashboard's state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// `token: None` runs without a login (loopback only; the binary enforces that with
    /// [`decide_token`]).
    pub fn new(
        engines: Vec<NamedEngine>,
        token: Option<String>,
        read_only: bool,
        history: Arc<dyn History>,
    ) -> AppState {
        let (events, _) = broadcast::channel(1024);
        let snapshots = engines
            .iter()
            .map(|e| (e.name.clone(), Snapshot::default()))
            .collect();
        AppState(Arc::new(Inner {
            following: AtomicBool::new(false),
            snapshots,
            engines,
            auth: Auth::new(token),
            read_only,
            history,
            events,
            recent: Mutex::new(VecDeque::new()),
            releases: OnceLock::new(),
            hosts: OnceLock::new(),
            closing: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// Offers "roll back" for services on these targets (once; later calls are ignored).
    pub fn set_releases(&self, releases: Releases) {
        let _ = self.releases.set(releases);
    }

    /// Starts shutting down: open event and log streams end.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`AppState::close`] was called.
    pub async fn closed(&self) {
        let mut rx = self.closing.subscribe();
        let _ = rx.wait_for(|closing| *closing).await;
    }

    /// Serves an open dashboard only under these `Host` names (once; later calls are ignored).
    pub fn set_host_policy(&self, policy: HostPolicy) {
        let _ = self.hosts.set(policy);
    }

    pub(crate) fn host_policy(&self) -> &HostPolicy {
        static ANY_LOOPBACK: HostPolicy = HostPolicy {
            bound: None,
            extra: Vec::new(),
        };
        self.hosts.get().unwrap_or(&ANY_LOOPBACK)
    }

    pub fn engine(&self, name: &str) -> Option<&NamedEngine> {
        self.engines.iter().find(|e| e.name == name)
    }

    /// Follows every engine's event stream in the background (reconnecting when a stream
    /// drops), keeps each engine's snapshot current with it, and forwards the events to open
    /// pages. Needs a Tokio runtime.
    pub fn spawn_event_pumps(&self) {
        self.following.store(true, Ordering::SeqCst);
        for e in &self.engines {
            tokio::spawn(live::pump(self.clone(), e.clone()));
        }
    }

    fn snapshot(&self, engine: &str) -> Option<&Snapshot> {
        self.snapshots
            .get(engine)
            .filter(|_| self.following.load(Ordering::SeqCst))
    }

    /// Every container of the engine named `engine`: from its snapshot, or listed when the
    /// snapshot is unavailable.
    pub(crate) async fn containers(
        &self,
        engine: &str,
    ) -> Result<Arc<Vec<ContainerSummary>>, EngineError> {
        let e = self
            .engine(engine)
            .ok_or_else(|| EngineError::message(format!("no engine {engine}")))?;
        if let Some(snap) = self.snapshot(engine)
            && let Some(list) = snap.containers().await
        {
            return Ok(list);
        }
        e.engine.list_all_containers().await.map(Arc::new)
    }

    /// The whole inventory of the engine named `engine`.
    pub(crate) async fn inventory(&self, engine: &str) -> Result<Arc<Inventory>, EngineError> {
        let e = self
            .engine(engine)
            .ok_or_else(|| EngineError::message(format!("no engine {engine}")))?;
        if let Some(snap) = self.snapshot(engine)
            && let Some(inv) = snap.inventory(&e.engine).await
        {
            return inv;
        }
        e.engine.inventory().await.map(Arc::new)
    }

    /// Re-reads one container into the engine's snapshot after the dashboard changed it, so that
    /// the page it redirects to shows the change even before the engine's event arrives.
    pub(crate) async fn refresh_container(&self, engine: &str, id: &str) {
        if let (Some(e), Some(snap)) = (self.engine(engine), self.snapshot(engine))
            && let Err(err) = snap.refresh(&e.engine, id).await
        {
            tracing::warn!(engine, "re-reading container {id}: {err}");
            snap.unavailable();
        }
    }

    fn publish(&self, event: LiveEvent) {
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT_EVENTS * self.engines.len().max(1) {
                recent.pop_front();
            }
            recent.push_back(event.clone());
        }
        let _ = self.events.send(event);
    }

    fn recent_events(&self, engine: &str) -> Vec<LiveEvent> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .iter()
            .rev()
            .filter(|e| e.engine == engine)
            .take(RECENT_EVENTS)
            .cloned()
            .collect()
    }
}

/// The dashboard.
pub fn app(state: AppState) -> Router {
    let protected = Router::new()
        .route("/", get(pages::overview))
        .route("/containers", get(pages::containers))
        .route("/e/{engine}/containers/{id}", get(pages::container))
        .route("/e/{engine}/containers/{id}/logs", get(pages::logs_text))
        .route(
            "/e/{engine}/containers/{id}/logs/stream",
            get(live::logs_stream),
        )
        .route("/e/{engine}/containers/{id}/console", get(console::open))
        .route("/e/{engine}/containers/{id}/stats", get(live::stats_stream))
        .route("/e/{engine}/containers/{id}/{action}", post(pages::action))
        .route("/images", get(pages::images))
        .route("/networks", get(pages::networks))
        .route("/volumes", get(pages::volumes))
        .route("/swarm", get(pages::swarm))
        .route("/projects", get(pages::projects))
        .route("/e/{engine}/projects/{name}", get(pages::project))
        .route(
            "/e/{engine}/projects/{name}/services/{service}/rollback",
            post(release::rollback),
        )
        .route(
            "/e/{engine}/projects/{name}/maintenance",
            post(maintenance::toggle),
        )
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/history", get(pages::history))
        .route("/events", get(live::events))
        .route("/api/engines", get(pages::api_engines))
        .route("/api/containers", get(pages::api_containers))
        .route("/api/e/{engine}/containers/{id}", get(pages::api_container))
        .route("/api/runs", get(pages::api_runs))
        .route("/api/history", get(pages::api_history))
        .route("/logout", post(pages::logout))
        // Inside the login check, so that only a logged-in user learns which engines exist.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_path,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_login));
    Router::new()
        .merge(protected)
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/assets/app.js", get(html::script))
        .route("/assets/app.css", get(html::stylesheet))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            guard::check_request,
        ))
        .with_state(state)
        .layer(middleware::from_fn(headers::security_headers))
}

/// The client address, when the server was started with connect info (tests calling the router
/// directly have none).
fn peer(req: &Request) -> Option<std::net::IpAddr> {
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Lets identified requests through with their [`Identity`]; sends browsers to the login page
/// and answers everything else 401.
async fn require_login(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    match state.auth.identify(cookie, bearer(headers), peer(&req)) {
        Ok(identity) => {
            req.extensions_mut().insert(identity);
            next.run(req).await
        }
        Err(Refusal::Locked(wait)) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                "too many wrong tokens from this address; wait a minute\n",
            )
                .into_response();
            if let Ok(v) = wait.as_secs().max(1).to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Err(Refusal::WrongToken) => (StatusCode::UNAUTHORIZED, "wrong token\n").into_response(),
        Err(Refusal::Anonymous) => {
            let wants_html = req.method() == axum::http::Method::GET
                && headers
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|a| a.contains("text/html"));
            if wants_html {
                Redirect::to("/login").into_response()
            } else {
                (StatusCode::UNAUTHORIZED, "login required\n").into_response()
            }
        }
    }
}
