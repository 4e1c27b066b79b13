//! `hoist deploy` and `hoist rollback` on a `hoist.yml` target whose `swarm:` names a manager:
//! a start-first, health-gated rolling update of the service's tasks that Swarm rolls back by
//! itself when a new task fails, and `rollback` to the service's previous spec. The stack's
//! other services are created when missing and left alone otherwise; the proxy on the manager
//! joins the stack's overlay network and balances over the service's tasks by DNS (dnsrr), so
//! it follows the tasks as Swarm replaces them.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use hoist_core::swarm::{self, PublishMode, ServiceAction, Stack, StackOptions};
use hoist_docker::Engine;
use hoist_docker::swarm::ServiceState;
use hoist_docker::target_journal::JournalEntry;
use hoist_docker::target_lock::{Holder, LockKind, TargetLock};
use hoist_pipeline::config::SwarmSettings;
use hoist_pipeline::proxy::{Match, Proxy, Route, Upstream};
use serde_json::json;

use super::release::{Located, exec_options, options, resolve_image};
use crate::cli::{DeployArgs, RollbackArgs};
use crate::context::{docker_config, load_options};
use crate::settings::EnvVars;

/// How long a rolling update or rollback may take before hoist stops waiting.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(600);

struct Setup {
    compose: hoist_compose::Project,
    spec: hoist_core::spec::ProjectSpec,
    namespace: String,
    key: String,
}

fn setup(located: &Located, env: &EnvVars, service: &str) -> anyhow::Result<Setup> {
    let opts = load_options(&located.global, env)?;
    let compose = hoist_compose::load(&opts)?;
    for warning in &compose.warnings {
        eprintln!("warning: {warning}");
    }
    let spec = hoist_core::desired::project_spec(&compose)?;
    if spec.service(service).is_none() {
        anyhow::bail!("no such service: {service}");
    }
    let namespace = spec.name.clone();
    let key = located.place.key(&namespace, service);
    Ok(Setup {
        compose,
        spec,
        namespace,
        key,
    })
}

async fn lock(
    engine: &Engine,
    setup: &Setup,
    located: &Located,
    env: &EnvVars,
    release: &crate::cli::ReleaseArgs,
    what: &str,
) -> anyhow::Result<TargetLock> {
    let image = located.place.lock_image(&options(release));
    let wait = release.wait_lock;
    Ok(hoist_pipeline::release::lock_target(
        engine,
        &setup.namespace,
        &setup.key,
        &image,
        &Holder::me(LockKind::Run, what),
        wait,
        &exec_options(env),
    )
    .await?)
}

pub(super) fn deploy(
    located: Located,
    env: &EnvVars,
    args: &DeployArgs,
) -> anyhow::Result<ExitCode> {
    let settings = located.swarm.clone().unwrap_or_default();
    let setup = setup(&located, env, &args.service)?;
    let service_image = setup
        .spec
        .service(&args.service)
        .map(|s| s.image.clone())
        .unwrap_or_default();
    let image = resolve_image(&service_image, args.image.as_deref());
    let config = docker_config(env);
    let auth_for = |image: &str| -> anyhow::Result<Option<hoist_docker::RegistryAuth>> {
        match &config {
            Some(c) => Ok(c.credentials_for_image(image)?),
            None => Ok(None),
        }
    };
    let started = Instant::now();
    let mut entry = JournalEntry::begin("deploy", &located.place.target);
    super::runtime()?.block_on(async {
        let engine = super::stack::manager_at(&located.place.engine).await?;
        let held = lock(
            &engine,
            &setup,
            &located,
            env,
            &args.release,
            &format!("deploy of {image}"),
        )
        .await?;
        let result = release(
            &engine,
            &setup,
            &located,
            &settings,
            &args.service,
            &image,
            &auth_for,
        )
        .await;
        let text = result
            .as_ref()
            .map(Clone::clone)
            .map_err(|e| format!("{e:#}"));
        entry.finish(started.elapsed().as_secs_f64(), &text);
        let lock_image = located.place.lock_image(&options(&args.release));
        hoist_pipeline::release::journal(
            &[&engine],
            &setup.namespace,
            &args.service,
            &entry,
            &lock_image,
        )
        .await;
        if let Err(e) = held.release().await {
            tracing::warn!(
                "the deploy lock of {} stays until its heartbeat ends: {e}",
                args.service
            );
        }
        println!("{}", result?);
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The release under the lock: the stack's objects, the service's new spec, the rollout
/// watched to its end, the proxy in front.
async fn release(
    engine: &Engine,
    setup: &Setup,
    located: &Located,
    settings: &SwarmSettings,
    service: &str,
    image: &str,
    auth_for: &impl Fn(&str) -> anyhow::Result<Option<hoist_docker::RegistryAuth>>,
) -> anyhow::Result<String> {
    let say = |line: String| eprintln!(" {line}");
    let cluster =
        super::stack::observe_cluster(engine, &setup.compose, &setup.spec, auth_for).await?;
    let options = StackOptions {
        // No routing mesh needed: the proxy reaches the tasks on the overlay by DNS.
        publish: PublishMode::Host,
        endpoint_mode: Some("dnsrr".into()),
        ..StackOptions::default()
    };
    let mut stack = swarm::stack(&setup.compose, &setup.spec, &cluster, &options)?;
    for note in &stack.notes {
        eprintln!("warning: {note}");
    }
    set_release(&mut stack, service, image, settings)?;
    if !has_health_check(&stack, service) {
        eprintln!(
            "warning: service {service} has no health check: Swarm counts a new task as ready \
             once its container starts; give it a `healthcheck:` so traffic waits for it"
        );
    }
    super::stack::create_networks(engine, &stack, &say).await?;
    let secrets =
        super::stack::converge_objects(engine, true, &stack.namespace, &stack.secrets, &say)
            .await?;
    let configs =
        super::stack::converge_objects(engine, false, &stack.namespace, &stack.configs, &say)
            .await?;
    super::stack::pin_images(engine, &mut stack, auth_for).await;
    let running = engine.running_stack(&stack.namespace).await?;
    let (actions, _) = swarm::service_actions(&stack, &running, false);
    let mut first_release = false;
    let mut before = None;
    for (s, action) in actions {
        let mut body = s.spec.clone();
        swarm::fill_object_ids(&mut body, &secrets, &configs);
        match action {
            ServiceAction::Create => {
                say(format!("Creating service {}", s.name));
                engine.create_service(&body, None).await?;
                first_release |= s.service == service;
            }
            ServiceAction::Update { id, version } if s.service == service => {
                let state = engine.inspect_stack_service(&id).await?;
                if same_image(&state.image, &body) {
                    return Ok(format!("{service} already runs {image} ({})", state.image));
                }
                say(format!("Updating service {} (id: {id}): {image}", s.name));
                engine.update_service(&id, version, &body, None).await?;
                before = Some((id.clone(), state.update.map(|u| u.started_at)));
            }
            ServiceAction::Update { .. } => {}
        }
    }
    match &before {
        Some((id, started)) => watch_update(engine, id, started.as_deref(), service).await?,
        None if first_release => {
            super::stack::converge(engine, &stack.namespace, ROLLOUT_LIMIT, &say).await?
        }
        None => {}
    }
    integrate(engine, located, &stack, service).await?;
    Ok(format!(
        "{service} is live with {image} on the Swarm at {} ({})",
        located.place.engine.host,
        if first_release {
            "first release"
        } else {
            "rolling update"
        }
    ))
}

/// The released service's image and its rolling update: start-first, rolled back by Swarm when
/// a new task fails; parallelism, delay and monitor from the target, else the file, else 1,
/// none and 5 s.
fn set_release(
    stack: &mut Stack,
    service: &str,
    image: &str,
    settings: &SwarmSettings,
) -> anyhow::Result<()> {
    let s = stack
        .services
        .iter_mut()
        .find(|s| s.service == service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {service}"))?;
    s.image = image.to_string();
    s.spec["TaskTemplate"]["ContainerSpec"]["Image"] = json!(image);
    s.spec["Labels"][swarm::IMAGE_LABEL] = json!(image);
    let ns = |text: &Option<String>| {
        text.as_deref()
            .and_then(hoist_compose::units::parse_duration)
            .map(|n| n as i64)
    };
    for key in ["UpdateConfig", "RollbackConfig"] {
        let mut config = s.spec.get(key).cloned().unwrap_or_else(|| json!({}));
        if let Some(p) = settings.parallelism {
            config["Parallelism"] = json!(p);
        } else if config.get("Parallelism").is_none() {
            config["Parallelism"] = json!(1);
        }
        if let Some(d) = ns(&settings.delay) {
            config["Delay"] = json!(d);
        }
        if let Some(m) = ns(&settings.monitor) {
            config["Monitor"] = json!(m);
        } else if config.get("Monitor").is_none() {
            config["Monitor"] = json!(5_000_000_000i64);
        }
        if config.get("Order").is_none() {
            config["Order"] = json!("start-first");
        }
        if config.get("FailureAction").is_none() {
            config["FailureAction"] = json!(if key == "UpdateConfig" {
                "rollback"
            } else {
                "pause"
            });
        }
        s.spec[key] = config;
    }
    Ok(())
}

fn has_health_check(stack: &Stack, service: &str) -> bool {
    stack
        .services
        .iter()
        .find(|s| s.service == service)
        .and_then(|s| s.spec["TaskTemplate"]["ContainerSpec"].get("HealthCheck"))
        .and_then(|h| h["Test"][0].as_str())
        .is_some_and(|t| t != "NONE")
}

/// Whether the service already runs the image the new spec names (pinned or not).
fn same_image(running: &str, body: &serde_json::Value) -> bool {
    let wanted = body["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .unwrap_or_default();
    running == wanted
}

/// Follows the service's update until Swarm reports its end: `completed` is success; a
/// rollback (Swarm's own, after a failed task) or a pause is the release's failure, with
/// Swarm's message.
async fn watch_update(
    engine: &Engine,
    id: &str,
    before: Option<&str>,
    service: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + ROLLOUT_LIMIT;
    let mut last = String::new();
    loop {
        let state = engine.inspect_stack_service(id).await?;
        if let Some(u) = state
            .update
            .as_ref()
            .filter(|u| Some(u.started_at.as_str()) != before)
        {
            if u.state != last {
                eprintln!(" Release {service}  {}: {}", u.state, u.message);
                last = u.state.clone();
            }
            match u.state.as_str() {
                "completed" => return Ok(()),
                "rollback_completed" => anyhow::bail!(
                    "the release of {service} failed and Swarm rolled it back: {}",
                    u.message
                ),
                "paused" | "rollback_paused" => anyhow::bail!(
                    "the release of {service} stopped ({}): {}; see `hoist stack ps`",
                    u.state,
                    u.message
                ),
                _ => {}
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the release of {service} did not finish within {} s",
                ROLLOUT_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The target's proxy on the manager, on the service's first network, routing the integrate
/// step's path to the service's name there: Swarm's DNS answers with its running tasks.
async fn integrate(
    engine: &Engine,
    located: &Located,
    stack: &Stack,
    service: &str,
) -> anyhow::Result<()> {
    let Some(mut proxy_spec) = located.place.proxy.clone() else {
        return Ok(());
    };
    let Some((matcher, port, directives)) = located.place.route.clone() else {
        return Ok(());
    };
    let s = stack
        .services
        .iter()
        .find(|s| s.service == service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {service}"))?;
    let network = s.spec["TaskTemplate"]["Networks"][0]["Target"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    proxy_spec.network = Some(network);
    let proxy = Proxy::new(engine, proxy_spec);
    let sink = hoist_core::events::Discard;
    proxy.ensure(&sink).await?;
    let key = located.place.key(&stack.namespace, service);
    let upstream = Upstream::resolved(key.clone(), format!("{service}:{port}"));
    let route = Route {
        name: key.clone(),
        matcher: match matcher {
            Match::PathPrefix(p) => Match::PathPrefix(p),
            Match::Host(h) => Match::Host(h),
        },
        upstream: key,
        directives,
    };
    proxy
        .update(&sink, |table| {
            table.set_upstream(upstream.clone());
            table.set_route(route.clone());
            Ok(())
        })
        .await?;
    Ok(())
}

pub(super) fn rollback(
    located: Located,
    env: &EnvVars,
    args: &RollbackArgs,
) -> anyhow::Result<ExitCode> {
    let setup = setup(&located, env, &args.service)?;
    let started = Instant::now();
    let mut entry = JournalEntry::begin("rollback", &located.place.target);
    super::runtime()?.block_on(async {
        let engine = super::stack::manager_at(&located.place.engine).await?;
        let held = lock(&engine, &setup, &located, env, &args.release, "rollback").await?;
        let result = roll_back(&engine, &setup, &args.service).await;
        let text = result
            .as_ref()
            .map(Clone::clone)
            .map_err(|e| format!("{e:#}"));
        entry.finish(started.elapsed().as_secs_f64(), &text);
        let lock_image = located.place.lock_image(&options(&args.release));
        hoist_pipeline::release::journal(
            &[&engine],
            &setup.namespace,
            &args.service,
            &entry,
            &lock_image,
        )
        .await;
        if let Err(e) = held.release().await {
            tracing::warn!(
                "the deploy lock of {} stays until its heartbeat ends: {e}",
                args.service
            );
        }
        println!("{}", result?);
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn roll_back(engine: &Engine, setup: &Setup, service: &str) -> anyhow::Result<String> {
    let name = swarm::scoped(&setup.namespace, service);
    let running = engine.running_stack(&setup.namespace).await?;
    let found = running.iter().find(|r| r.name == name).ok_or_else(|| {
        anyhow::anyhow!("service {name} is not on the Swarm: nothing to roll back")
    })?;
    let state: ServiceState = engine.inspect_stack_service(&found.id).await?;
    // After a rollback (Swarm's own after a failed task, or an earlier `hoist rollback`),
    // the service's previous spec is the release rolled back from: going "back" would deploy
    // it again.
    if state
        .update
        .as_ref()
        .is_some_and(|u| u.state == "rollback_completed")
    {
        anyhow::bail!(
            "not rolling {service} back: it was already rolled back to {}, and its previous \
             spec is the release it was rolled back from; deploy the version you want with \
             `hoist deploy {service} --image ...`",
            state.image
        );
    }
    let previous = state
        .previous_image
        .clone()
        .ok_or_else(|| anyhow::anyhow!("service {name} has no previous release to roll back to"))?;
    let before = state.update.as_ref().map(|u| u.started_at.clone());
    eprintln!(" Release {service}  rolling back to {previous}");
    engine.rollback_service(&state).await?;
    let deadline = Instant::now() + ROLLOUT_LIMIT;
    loop {
        let now = engine.inspect_stack_service(&found.id).await?;
        if let Some(u) = now
            .update
            .as_ref()
            .filter(|u| Some(&u.started_at) != before.as_ref())
        {
            match u.state.as_str() {
                "rollback_completed" => {
                    return Ok(format!("{service} is back on {previous}"));
                }
                "rollback_paused" | "paused" => {
                    anyhow::bail!(
                        "the rollback of {service} stopped ({}): {}",
                        u.state,
                        u.message
                    )
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the rollback of {service} did not finish within {} s",
                ROLLOUT_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
