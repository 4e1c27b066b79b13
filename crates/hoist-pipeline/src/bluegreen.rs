//! Blue-green releases on one target, with the engine as the source of truth: a colour is the
//! `io.hoist.color` label on a service's containers, and the live colour is the one the proxy's
//! route points at. The decisions (next colour, the order of steps, how a failure unwinds) are
//! pure, in `hoist_core::bluegreen`; this module carries them out.
//!
//! Containers of a colour are named `project-service-COLOR-N` (`project_service-COLOR_N` for
//! legacy projects) and keep the service's compose labels, so `hoist ps` shows them as the
//! service's; `up` leaves coloured containers alone.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoist_core::bluegreen::{
    Color, NextColour, ReleaseState, RollbackError, Step, color_of, colored, live_color,
    plain_running, plan_deploy, rollback_steps, unwind,
};
use hoist_core::events::{Event, EventSink, Phase};
use hoist_core::observed::{Observed, ObservedContainer};
use hoist_core::plan::{UpOptions, dependencies};
use hoist_core::spec::{ProjectSpec, ServiceSpec, labels};
use hoist_docker::Engine;
use hoist_docker::execute::ExecOptions;
use hoist_docker::orchestrate;
use hoist_docker::project::CreateRequest;

use crate::proxy::{Match, Proxy, ProxyConfig, Route, TableSnapshot, Upstream};

/// Label with the image reference a colour was deployed with.
pub const IMAGE_LABEL: &str = "io.hoist.release.image";
/// Label with the time (unix seconds) a colour was deployed.
pub const DEPLOYED_LABEL: &str = "io.hoist.release.deployed";
/// Label with the commit a colour was built from, when known.
pub const COMMIT_LABEL: &str = "io.hoist.release.commit";

/// A test run against a release: the pre-integration test gets the colour's own address, the
/// post-integration test the proxy's (`DOMAIN`, as the book's integration tests take it).
pub trait ReleaseTest: Send + Sync {
    fn run<'a>(
        &'a self,
        domain: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// `GET DOMAIN+path` must answer 200 (the book's `ServiceInteg`, `curl -I prod/api/v1/books`).
pub struct HttpCheck {
    pub path: String,
    /// The `Host` header to send instead of the address's: the name of a host route, so
    /// that the request through the proxy takes the route and not the default server.
    pub host: Option<String>,
}

impl ReleaseTest for HttpCheck {
    fn run<'a>(
        &'a self,
        domain: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let url = format!("{domain}{}", self.path);
            match crate::probe::get_following_https(
                &url,
                self.host.as_deref(),
                Duration::from_secs(10),
            )
            .await
            .map(|answer| answer.status)
            {
                Ok(200) => Ok(()),
                Ok(status) => Err(format!("GET {url} answered {status}, expected 200")),
                Err(e) => Err(format!("GET {url}: {e}")),
            }
        })
    }
}

/// A compose service run as a one-off with `DOMAIN` set (the book's `run --rm -e DOMAIN=... integ`),
/// on whichever engine `engine` is (the book runs tests on cd).
pub struct OneOffTest {
    pub engine: Engine,
    pub project: ProjectSpec,
    pub service: String,
    pub exec: ExecOptions,
}

impl ReleaseTest for OneOffTest {
    fn run<'a>(
        &'a self,
        domain: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let request = orchestrate::RunRequest {
                service: self.service.clone(),
                env: vec![format!("DOMAIN={domain}")],
                with_deps: false,
                remove: true,
                ..Default::default()
            };
            let mut output = Vec::new();
            let outcome = orchestrate::run_oneoff(
                &self.engine,
                &self.project,
                &request,
                &self.exec,
                &hoist_core::events::Discard,
                |_, line| output.push(line.to_string()),
            )
            .await
            .map_err(|e| e.to_string())?;
            if outcome.exit_code == 0 {
                Ok(())
            } else {
                let tail: Vec<String> = output.iter().rev().take(5).rev().cloned().collect();
                Err(format!(
                    "{} exited with {}: {}",
                    self.service,
                    outcome.exit_code,
                    tail.join(" | ")
                ))
            }
        })
    }
}

/// When a new colour counts as healthy: its Docker HEALTHCHECK if it has one, and an HTTP probe
/// of `http_path` answering 200 if set; within `deadline`.
#[derive(Debug, Clone)]
pub struct HealthGate {
    pub http_path: Option<String>,
    pub deadline: Duration,
}

/// Everything a release needs to know about a service on a target.
pub struct Release<'e> {
    pub engine: &'e Engine,
    pub project: ProjectSpec,
    pub service: String,
    /// The container port the proxy forwards to (8080 for books-ms).
    pub container_port: u16,
    /// The target's address as the proxy container and the tests reach it (`10.200.0.2`).
    pub host: String,
    pub proxy: Proxy<'e>,
    /// The route's name and what it matches; its upstream is `<route>-<colour>`.
    pub route: String,
    pub matcher: Match,
    pub directives: Vec<String>,
    pub health: HealthGate,
    pub pre_test: Option<Arc<dyn ReleaseTest>>,
    pub post_test: Option<Arc<dyn ReleaseTest>>,
    /// How long in-flight requests get on the old colour after the switch.
    pub drain: Duration,
    pub exec: ExecOptions,
    /// Recorded on the new colour's containers.
    pub commit: Option<String>,
}

/// What a deploy or rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub live: Color,
    pub previous: Option<Color>,
    /// Each step with how long it took.
    pub steps: Vec<(String, Duration)>,
}

impl Outcome {
    /// From the new colour being healthy to the proxy sending every new request to it: the
    /// direct test and the switch (which waits until nginx's new workers took over).
    pub fn healthy_to_switched(&self) -> Duration {
        self.steps
            .iter()
            .filter(|(s, _)| {
                s.starts_with("pre-integration test") || s.starts_with("switch the proxy")
            })
            .map(|(_, d)| *d)
            .sum()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error(transparent)]
    Rollback(#[from] RollbackError),
    #[error("no such service {service} in project {project}")]
    NoSuchService { service: String, project: String },
    #[error("{service}: {step} failed: {cause}; {}", describe_unwind(.live, .unwound, .unwind_error))]
    Failed {
        service: String,
        step: String,
        cause: String,
        /// Steps carried out to undo the release.
        unwound: Vec<String>,
        unwind_error: Option<String>,
        /// The colour serving afterwards.
        live: Option<Color>,
    },
    #[error("observing {service}: {cause}")]
    Observe { service: String, cause: String },
}

fn describe_unwind(live: &Option<Color>, unwound: &[String], error: &Option<String>) -> String {
    let mut text = match (unwound.is_empty(), error) {
        (true, None) => "nothing needed undoing".to_string(),
        (true, Some(e)) => format!("undoing failed: {e}"),
        (false, None) => format!("undone: {}", unwound.join(", ")),
        (false, Some(e)) => format!("undone: {}; then undoing failed: {e}", unwound.join(", ")),
    };
    match live {
        Some(color) => text.push_str(&format!("; {color} is serving")),
        None => text.push_str("; no colour is live"),
    }
    text
}

/// One colour of a service, as `releases` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseInfo {
    pub color: Color,
    pub state: ReleaseState,
    pub image: String,
    pub image_id: String,
    pub commit: Option<String>,
    pub deployed: Option<i64>,
    pub containers: Vec<String>,
}

/// `releases` with the history's word on them: a colour that is not live and whose latest
/// release (from `latest`, [`crate::history::History::latest_releases`]) failed with the image
/// it carries now is `failed`: its containers are the ones that deploy started and stopped.
pub fn with_failures(
    mut list: Vec<ReleaseInfo>,
    latest: &[crate::history::ReleaseRecord],
) -> Vec<ReleaseInfo> {
    for info in &mut list {
        let failed = latest.iter().any(|r| {
            r.color == info.color.as_str() && r.status == "failed" && r.image == info.image
        });
        if failed && info.state != ReleaseState::Live {
            info.state = ReleaseState::Failed;
        }
    }
    list
}

impl<'e> Release<'e> {
    fn spec(&self) -> Result<&ServiceSpec, ReleaseError> {
        self.project
            .service(&self.service)
            .ok_or_else(|| ReleaseError::NoSuchService {
                service: self.service.clone(),
                project: self.project.name.clone(),
            })
    }

    fn upstream(&self, color: Color) -> String {
        format!("{}-{color}", self.route)
    }

    /// The container name of replica `n` of `color`.
    pub fn container_name(&self, color: Color, n: u32) -> String {
        let sep = if self.project.legacy { '_' } else { '-' };
        format!("{}{sep}{}-{color}{sep}{n}", self.project.name, self.service)
    }

    async fn observe(&self) -> Result<(Observed, Option<Color>), ReleaseError> {
        let (observed, routed, _) = self.observe_with_table().await?;
        Ok((observed, routed))
    }

    /// The project's containers, the colour the route points at, and the table it was read
    /// from (which the steps change later without reading it again).
    async fn observe_with_table(
        &self,
    ) -> Result<(Observed, Option<Color>, TableSnapshot), ReleaseError> {
        let observe_error = |e: String| ReleaseError::Observe {
            service: self.service.clone(),
            cause: e,
        };
        let (observed, snapshot) = tokio::join!(
            self.engine
                .observe_project(&self.project.name, &[], &[], &[]),
            self.proxy.snapshot()
        );
        let observed = observed.map_err(|e| observe_error(e.to_string()))?;
        let snapshot = snapshot.map_err(|e| observe_error(e.to_string()))?;
        let routed = snapshot
            .table
            .route(&self.route)
            .and_then(|r| r.upstream.strip_prefix(&format!("{}-", self.route)))
            .and_then(Color::parse);
        Ok((observed, routed, snapshot))
    }

    /// The colour the proxy serves, if any.
    pub async fn live(&self) -> Result<Option<Color>, ReleaseError> {
        let (observed, routed) = self.observe().await?;
        Ok(live_color(&observed, &self.service, routed))
    }

    /// Both colours with their image, commit, time and state.
    pub async fn releases(&self) -> Result<Vec<ReleaseInfo>, ReleaseError> {
        let (observed, routed) = self.observe().await?;
        let live = live_color(&observed, &self.service, routed);
        let mut out = Vec::new();
        for color in [Color::Blue, Color::Green] {
            let containers: Vec<&ObservedContainer> =
                colored(&observed, &self.service, color).collect();
            let Some(first) = containers.first() else {
                continue;
            };
            let running = containers.iter().any(|c| c.state.is_running());
            let state = if live == Some(color) {
                ReleaseState::Live
            } else if running {
                ReleaseState::Idle
            } else {
                ReleaseState::Stopped
            };
            out.push(ReleaseInfo {
                color,
                state,
                image: first
                    .labels
                    .get(IMAGE_LABEL)
                    .cloned()
                    .unwrap_or_else(|| first.image.clone()),
                image_id: first.image_id.clone(),
                commit: first.labels.get(COMMIT_LABEL).cloned(),
                deployed: first
                    .labels
                    .get(DEPLOYED_LABEL)
                    .and_then(|d| d.parse().ok()),
                containers: containers.iter().map(|c| c.name.clone()).collect(),
            });
        }
        Ok(out)
    }

    /// Deploys `image` as the next colour beside the live one and moves traffic to it. When
    /// the service ran without colours so far, its uncoloured containers are stopped once the
    /// first colour took over.
    pub async fn deploy(&self, image: &str, sink: &dyn EventSink) -> Result<Outcome, ReleaseError> {
        self.deploy_color(image, sink).await.1
    }

    /// [`Release::deploy`], also saying which colour it released (`None` when it failed
    /// before knowing), so that a failure can be recorded against that colour.
    pub async fn deploy_color(
        &self,
        image: &str,
        sink: &dyn EventSink,
    ) -> (Option<Color>, Result<Outcome, ReleaseError>) {
        if let Err(e) = self.spec() {
            return (None, Err(e));
        }
        if let Err(e) = self.proxy.ensure(sink).await {
            return (
                None,
                Err(self.failed("ensure the proxy", e.to_string(), None)),
            );
        }
        let (observed, routed, table) = match self.observe_with_table().await {
            Ok(o) => o,
            Err(e) => return (None, Err(e)),
        };
        let live = live_color(&observed, &self.service, routed);
        let next = hoist_core::bluegreen::next_color(live);
        let live_image = live.and_then(|c| self.image_of(&observed, c));
        let steps = plan_deploy(
            live,
            live_image.as_deref(),
            next_colour(&observed, &self.service, next),
            plain_running(&observed, &self.service),
            image,
            self.pre_test.is_some(),
        );
        // Finishing a release interrupted after its switch releases nothing new: the colour
        // it reports is the live one.
        let released = match steps.first() {
            Some(Step::Drain) => live,
            _ => Some(next),
        };
        (released, self.carry_out(&steps, live, table, sink).await)
    }

    /// The image reference `color` was deployed with (its label, else the container's image).
    fn image_of(&self, observed: &Observed, color: Color) -> Option<String> {
        let first = colored(observed, &self.service, color).next()?;
        Some(
            first
                .labels
                .get(IMAGE_LABEL)
                .cloned()
                .unwrap_or_else(|| first.image.clone()),
        )
    }

    /// Points the route at the live colour's running containers, with this release's matcher
    /// and directives: what the pipeline's integrate step does after a blue-green deploy. Right
    /// after a release the table already says so and nginx is not reloaded; a changed
    /// `directives:` is checked by nginx and applied, or rejected with nginx's message.
    pub async fn confirm_route(
        &self,
        sink: &dyn EventSink,
    ) -> Result<(Color, Vec<String>, crate::proxy::Applied), ReleaseError> {
        self.spec()?;
        let (observed, routed, mut table) = self.observe_with_table().await?;
        let Some(live) = live_color(&observed, &self.service, routed) else {
            return Err(self.failed(
                "confirm the route",
                format!(
                    "no colour of {} is live (a blue-green deploy starts one)",
                    self.service
                ),
                None,
            ));
        };
        let servers = self
            .servers(live)
            .await
            .map_err(|e| self.failed("confirm the route", e, Some(live)))?;
        let upstream = self.upstream(live);
        let route = Route {
            name: self.route.clone(),
            matcher: self.matcher.clone(),
            upstream: upstream.clone(),
            directives: self.directives.clone(),
            hosts: Vec::new(),
        };
        let applied = self
            .proxy
            .update_on(&mut table, sink, |table| {
                table.set_upstream(Upstream::new(upstream.clone(), servers.clone()));
                table.set_route(route.clone());
                Ok(())
            })
            .await
            .map_err(|e| {
                let cause = match e.nginx_message() {
                    Some(m) => m.to_string(),
                    None => e.to_string(),
                };
                self.failed("confirm the route", cause, Some(live))
            })?;
        Ok((live, servers, applied))
    }

    /// Starts the stopped previous colour, moves traffic back to it, stops the current one.
    pub async fn rollback(&self, sink: &dyn EventSink) -> Result<Outcome, ReleaseError> {
        self.spec()?;
        let (observed, routed, table) = self.observe_with_table().await?;
        let live = live_color(&observed, &self.service, routed);
        let steps = rollback_steps(&observed, &self.service, live)?;
        self.carry_out(&steps, live, table, sink).await
    }

    fn failed(&self, step: &str, cause: String, live: Option<Color>) -> ReleaseError {
        ReleaseError::Failed {
            service: self.service.clone(),
            step: step.to_string(),
            cause,
            unwound: Vec::new(),
            unwind_error: None,
            live,
        }
    }

    async fn carry_out(
        &self,
        steps: &[Step],
        live: Option<Color>,
        table: TableSnapshot,
        sink: &dyn EventSink,
    ) -> Result<Outcome, ReleaseError> {
        let mut done: Vec<Step> = Vec::new();
        let mut timings: Vec<(String, Duration)> = Vec::new();
        // What the route pointed at before: when no colour was live (the service was integrated
        // without colours, by the pipeline's integrate step or by hand), a failure after the
        // switch puts this back rather than leaving the route on a stopped colour.
        let prior = prior_route(&table.table, &self.route);
        let mut state = StepState {
            servers: None,
            table,
        };
        for step in steps {
            sink.emit(Event::new(
                "Release",
                self.service.clone(),
                Phase::Working,
                step.to_string(),
            ));
            let started = Instant::now();
            if let Err(cause) = self.run_step(step, &mut state, sink).await {
                sink.emit(Event::new(
                    "Release",
                    self.service.clone(),
                    Phase::Failed,
                    format!("{step}: {cause}"),
                ));
                return Err(self
                    .undo(&done, step, cause, live, prior.as_ref(), &mut state, sink)
                    .await);
            }
            sink.emit(Event::new(
                "Release",
                self.service.clone(),
                Phase::Done,
                step.to_string(),
            ));
            timings.push((step.to_string(), started.elapsed()));
            done.push(step.clone());
        }
        let now_live = done
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Switch { to } => Some(*to),
                _ => None,
            })
            .or(live)
            .expect("a completed release switched the proxy");
        // The colour stopped last is the way back (none for a first release).
        let previous = done.iter().rev().find_map(|s| match s {
            Step::Stop { color } => Some(*color),
            _ => None,
        });
        Ok(Outcome {
            live: now_live,
            previous,
            steps: timings,
        })
    }

    /// Undoes a release whose `failed` step failed after the steps `done`, as
    /// `hoist_core::bluegreen::unwind` says, and describes the outcome. When no colour was live
    /// and the route had moved, the route the table had before (`prior`) is put back first.
    #[allow(clippy::too_many_arguments)]
    async fn undo(
        &self,
        done: &[Step],
        failed: &Step,
        cause: String,
        live: Option<Color>,
        prior: Option<&(Route, Option<Upstream>)>,
        state: &mut StepState,
        sink: &dyn EventSink,
    ) -> ReleaseError {
        let undo = unwind(done, failed, live);
        let mut unwound = Vec::new();
        let mut unwind_error = None;
        let switched = done.iter().any(|s| matches!(s, Step::Switch { .. }))
            || matches!(failed, Step::Switch { .. });
        if switched
            && live.is_none()
            && let Some((route, upstream)) = prior
        {
            match self
                .restore_route(route, upstream.clone(), &mut state.table, sink)
                .await
            {
                Ok(()) => unwound.push(format!("route back to {}", route.upstream)),
                Err(e) => unwind_error = Some(format!("restoring the route: {e}")),
            }
        }
        for u in &undo {
            if unwind_error.is_some() {
                break;
            }
            state.servers = None;
            match self.run_step(u, state, sink).await {
                Ok(()) => unwound.push(u.to_string()),
                Err(e) => {
                    unwind_error = Some(format!("{u}: {e}"));
                    break;
                }
            }
        }
        let serving = if undo.is_empty() {
            // Only the old colour's stop failed: the new one serves.
            new_color(done, failed).or(live)
        } else {
            live
        };
        ReleaseError::Failed {
            service: self.service.clone(),
            step: failed.to_string(),
            cause,
            unwound,
            unwind_error,
            live: serving,
        }
    }

    async fn colour_containers(&self, color: Color) -> Result<Vec<ObservedContainer>, String> {
        let observed = self
            .engine
            .observe_project(&self.project.name, &[], &[], &[])
            .await
            .map_err(|e| e.to_string())?;
        let mut containers: Vec<ObservedContainer> =
            colored(&observed, &self.service, color).cloned().collect();
        containers.sort_by_key(|c| c.number);
        Ok(containers)
    }

    /// `host:port` of each running container of `color`, for the upstream and direct tests.
    async fn servers(&self, color: Color) -> Result<Vec<String>, String> {
        let containers = self.colour_containers(color).await?;
        let mut servers = Vec::new();
        for c in containers.iter().filter(|c| c.state.is_running()) {
            let port = c
                .ports
                .iter()
                .find(|p| p.private_port == self.container_port && p.public_port.is_some())
                .and_then(|p| p.public_port)
                .ok_or_else(|| {
                    format!(
                        "container {} publishes no host port for {}/tcp",
                        c.name, self.container_port
                    )
                })?;
            let server = format!("{}:{port}", self.host);
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
        if servers.is_empty() {
            return Err(format!("no running {color} container of {}", self.service));
        }
        Ok(servers)
    }

    async fn run_step(
        &self,
        step: &Step,
        state: &mut StepState,
        sink: &dyn EventSink,
    ) -> Result<(), String> {
        let spec = self.spec().map_err(|e| e.to_string())?;
        match step {
            Step::RemoveStale { color } => {
                for c in self.colour_containers(*color).await? {
                    self.engine
                        .remove_container(&c.name, true, true)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            Step::StartNew { color, image } => {
                self.start_new(spec, *color, image, sink).await?;
            }
            Step::StartStopped { color } => {
                for c in self.colour_containers(*color).await? {
                    if !c.state.is_running() {
                        self.engine
                            .start_container(&c.name)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            Step::WaitHealthy { color } => self.wait_healthy(*color).await?,
            Step::TestDirect { color } => {
                if let Some(test) = &self.pre_test {
                    let servers = self.servers(*color).await?;
                    test.run(&format!("http://{}", servers[0])).await?;
                    state.servers = Some((*color, servers));
                }
            }
            Step::Switch { to } => {
                // The direct test just listed this colour's servers: nothing started or stopped
                // since, so the switch reuses them instead of listing again.
                let servers = match state.servers.take() {
                    Some((color, servers)) if color == *to => servers,
                    _ => self.servers(*to).await?,
                };
                let upstream = self.upstream(*to);
                let route = Route {
                    name: self.route.clone(),
                    matcher: self.matcher.clone(),
                    upstream: upstream.clone(),
                    directives: self.directives.clone(),
                    hosts: Vec::new(),
                };
                // On the table read when the release began (the exec checks it is still the
                // one in place), so the switch reads nothing through the archive API. It
                // returns once nginx's new workers took over: the post-integration test cannot
                // reach the old route any more.
                self.proxy
                    .update_on(&mut state.table, sink, |table| {
                        table.set_upstream(Upstream::new(upstream.clone(), servers.clone()));
                        table.set_route(route.clone());
                        Ok(())
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Step::TestThroughProxy => {
                // A route in maintenance answers its page, not the service: the new colour
                // was tested directly, and is what the route serves once maintenance ends.
                let in_maintenance = state.table.table.in_maintenance(&self.route);
                if in_maintenance {
                    sink.emit(Event::new(
                        "Release",
                        self.service.clone(),
                        Phase::Working,
                        "the route is in maintenance: no test through the proxy",
                    ));
                }
                if let Some(test) = self.post_test.as_ref().filter(|_| !in_maintenance) {
                    let port = self.proxy.spec().port;
                    let domain = if port == 80 {
                        format!("http://{}", self.host)
                    } else {
                        format!("http://{}:{port}", self.host)
                    };
                    test.run(&domain).await?;
                }
            }
            Step::Drain => tokio::time::sleep(self.drain).await,
            Step::StopPlain => {
                let observed = self
                    .engine
                    .observe_project(&self.project.name, &[], &[], &[])
                    .await
                    .map_err(|e| e.to_string())?;
                let plain = observed.containers.iter().filter(|c| {
                    c.service == self.service
                        && !c.oneoff
                        && color_of(c).is_none()
                        && c.state.is_running()
                });
                for c in plain {
                    self.engine
                        .stop_container(&c.name, spec.stop_timeout_secs)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
            Step::Stop { color } => {
                let timeout = spec.stop_timeout_secs;
                for c in self.colour_containers(*color).await? {
                    if c.state.is_running() {
                        self.engine
                            .stop_container(&c.name, timeout)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn restore_route(
        &self,
        route: &Route,
        upstream: Option<Upstream>,
        table: &mut TableSnapshot,
        sink: &dyn EventSink,
    ) -> Result<(), String> {
        self.proxy
            .update_on(table, sink, |table| {
                if let Some(upstream) = &upstream {
                    table.set_upstream(upstream.clone());
                }
                table.set_route(route.clone());
                Ok(())
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn start_new(
        &self,
        spec: &ServiceSpec,
        color: Color,
        image: &str,
        sink: &dyn EventSink,
    ) -> Result<(), String> {
        // What the service needs (the shared database) comes up first, untouched if running.
        let deps: Vec<String> = dependencies(spec).map(String::from).collect();
        if !deps.is_empty() {
            let opts = UpOptions {
                services: deps,
                ..Default::default()
            };
            orchestrate::up(self.engine, &self.project, &opts, None, &self.exec, sink)
                .await
                .map_err(|e| e.to_string())?;
        }
        // On a fresh target (or after `down`) the project's networks and volumes do not exist,
        // and without dependencies nothing above created them.
        orchestrate::create_resources(
            self.engine,
            &self.project,
            std::slice::from_ref(&spec.name),
            &self.exec,
            sink,
        )
        .await
        .map_err(|e| e.to_string())?;
        self.ensure_image(image).await?;
        let mut service = spec.clone();
        service.image = image.to_string();
        service.container.image = image.to_string();
        service.container_name = None;
        let deployed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut extra = BTreeMap::from([
            (labels::COLOR.to_string(), color.to_string()),
            (IMAGE_LABEL.to_string(), image.to_string()),
            (DEPLOYED_LABEL.to_string(), deployed.to_string()),
        ]);
        if let Some(commit) = &self.commit {
            extra.insert(COMMIT_LABEL.to_string(), commit.clone());
        }
        for n in 1..=service.replicas.max(1) {
            let name = self.container_name(color, n);
            sink.emit(Event::new(
                "Container",
                name.clone(),
                Phase::Working,
                "Creating",
            ));
            self.engine
                .create_service_container(
                    &self.project,
                    &service,
                    &CreateRequest {
                        name: name.clone(),
                        number: n,
                        labels: extra.clone(),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            self.engine
                .start_container(&name)
                .await
                .map_err(|e| e.to_string())?;
            sink.emit(Event::new("Container", name, Phase::Done, "Started"));
        }
        Ok(())
    }

    /// Pulls `image` unless the target has it.
    pub(crate) async fn ensure_image(&self, image: &str) -> Result<(), String> {
        if self
            .engine
            .image_exists(image)
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(());
        }
        let auth = match &self.exec.docker_config {
            Some(config) => config
                .credentials_for_image(image)
                .map_err(|e| e.to_string())?,
            None => None,
        };
        self.engine
            .pull(image, auth.as_ref(), |_| {})
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn wait_healthy(&self, color: Color) -> Result<(), String> {
        let started = Instant::now();
        for c in self.colour_containers(color).await? {
            let left = self.health.deadline.saturating_sub(started.elapsed());
            self.engine
                .wait_healthy(&c.name, left, false)
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Some(path) = &self.health.http_path {
            for server in self.servers(color).await? {
                let url = format!("http://{server}{path}");
                loop {
                    let last = match http_status(&url, Duration::from_secs(2)).await {
                        Ok(200) => break,
                        Ok(status) => format!("status {status}"),
                        Err(e) => e,
                    };
                    if started.elapsed() >= self.health.deadline {
                        return Err(format!(
                            "{url} did not answer 200 within {}s (last: {last})",
                            self.health.deadline.as_secs()
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Ok(())
    }
}

/// What the steps of one release carry from one to the next.
struct StepState {
    /// The servers of the colour the direct test reached, for the switch right after it:
    /// nothing started or stopped in between.
    servers: Option<(Color, Vec<String>)>,
    /// The proxy's table as this release last read or wrote it.
    table: TableSnapshot,
}

/// The state of `service`'s `color` containers.
fn next_colour(observed: &Observed, service: &str, color: Color) -> NextColour {
    let mut containers = colored(observed, service, color).peekable();
    if containers.peek().is_none() {
        NextColour::Absent
    } else if containers.any(|c| c.state.is_running()) {
        NextColour::Running
    } else {
        NextColour::Stopped
    }
}

/// The route and its upstream in `table`, if the route exists.
fn prior_route(table: &ProxyConfig, route: &str) -> Option<(Route, Option<Upstream>)> {
    let route = table.route(route)?.clone();
    let upstream = table.upstream(&route.upstream).cloned();
    Some((route, upstream))
}

fn new_color(done: &[Step], failed: &Step) -> Option<Color> {
    done.iter()
        .chain(std::iter::once(failed))
        .find_map(|s| match s {
            Step::StartNew { color, .. } | Step::StartStopped { color } => Some(*color),
            _ => None,
        })
}

/// `GET url` → status, with a timeout; a minimal HTTP/1.1 client for probes and checks.
pub async fn http_status(url: &str, timeout: Duration) -> Result<u16, String> {
    crate::probe::get(url, None, timeout)
        .await
        .map(|r| r.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::ReleaseRecord;

    #[test]
    fn an_unwind_that_failed_is_not_called_nothing_to_undo() {
        let err = Some("stop green: connection lost".to_string());
        assert_eq!(
            describe_unwind(&Some(Color::Blue), &[], &err),
            "undoing failed: stop green: connection lost; blue is serving"
        );
        assert_eq!(
            describe_unwind(&Some(Color::Blue), &[], &None),
            "nothing needed undoing; blue is serving"
        );
        assert_eq!(
            describe_unwind(&None, &["stop green".into()], &err),
            "undone: stop green; then undoing failed: stop green: connection lost; no colour is live"
        );
    }

    fn info(color: Color, state: ReleaseState, image: &str) -> ReleaseInfo {
        ReleaseInfo {
            color,
            state,
            image: image.into(),
            image_id: String::new(),
            commit: None,
            deployed: None,
            containers: vec![],
        }
    }

    fn record(color: &str, image: &str, status: &str) -> ReleaseRecord {
        ReleaseRecord {
            run: 1,
            color: color.into(),
            image: image.into(),
            status: status.into(),
            at: 0.0,
        }
    }

    #[test]
    fn a_stopped_colour_whose_last_deploy_failed_with_its_image_is_failed() {
        let list = vec![
            info(Color::Blue, ReleaseState::Live, "v1"),
            info(Color::Green, ReleaseState::Stopped, "v2"),
        ];
        let marked = with_failures(list.clone(), &[record("green", "v2", "failed")]);
        assert_eq!(marked[1].state, ReleaseState::Failed);
        assert_eq!(marked[0].state, ReleaseState::Live);
        // The failure was of another image (the deploy failed before replacing green's
        // containers), or green's latest release succeeded: stopped, not failed.
        let marked = with_failures(list.clone(), &[record("green", "v3", "failed")]);
        assert_eq!(marked[1].state, ReleaseState::Stopped);
        let marked = with_failures(list, &[record("green", "v2", "done")]);
        assert_eq!(marked[1].state, ReleaseState::Stopped);
    }
}
