//! `hoist deploy` and `hoist rollback` on a `hoist.yml` target whose `swarm:` names a manager:
//! a start-first, health-gated rolling update of the service's tasks that Swarm rolls back by
//! itself when a new task fails, and `rollback` to the service's previous spec. The stack's
//! other services are created when missing and left alone otherwise; the proxy on the manager
//! joins the stack's overlay network and balances over the service's tasks by DNS (dnsrr), so
//! it follows the tasks as Swarm replaces them.

use hoist_compose::LoadOptions;
use std::process::ExitCode;
use std::time::Instant;

use hoist_docker::Engine;
use hoist_docker::target_journal::JournalEntry;
use hoist_docker::target_lock::{Holder, LockKind, TargetLock};
use hoist_pipeline::swarm::{SwarmError, SwarmTarget};

use super::release::{Located, exec_options, options, resolve_image};
use crate::cli::{DeployArgs, ReleaseArgs, ReleasesArgs, RollbackArgs};
use crate::context::load_options;
use crate::settings::EnvVars;

struct Setup {
    compose: hoist_compose::Project,
    spec: hoist_core::spec::ProjectSpec,
    namespace: String,
    key: String,
}

fn setup(located: &Located, env: &EnvVars, service: &str) -> anyhow::Result<Setup> {
    let opts = LoadOptions {
        swarm_objects: true,
        ..load_options(&located.global, env)?
    };
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
    release: &ReleaseArgs,
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

/// One release on a Swarm target, as the journal names it.
struct Job<'a> {
    service: &'a str,
    release: &'a ReleaseArgs,
    /// `deploy` or `rollback`.
    kind: &'static str,
    /// The lock holder's message.
    what: String,
}

/// Runs `work` on the target's manager under the service's target lock, writes its outcome to
/// the target's journal, gives the lock back, and prints what it says.
fn under_lock(
    located: &Located,
    env: &EnvVars,
    setup: &Setup,
    job: Job<'_>,
    work: impl AsyncFnOnce(&Engine) -> Result<String, SwarmError>,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut entry = JournalEntry::begin(job.kind, &located.place.target);
    super::runtime()?.block_on(async {
        let engine = super::stack::manager_at(&located.place.engine).await?;
        let held = lock(&engine, setup, located, env, job.release, &job.what).await?;
        let result = work(&engine).await;
        let text = result.clone().map_err(|e| e.to_string());
        entry.finish(started.elapsed().as_secs_f64(), &text);
        let lock_image = located.place.lock_image(&options(job.release));
        hoist_pipeline::release::journal(
            &[&engine],
            &setup.namespace,
            job.service,
            &entry,
            &lock_image,
        )
        .await;
        if let Err(e) = held.release().await {
            tracing::warn!(
                "the deploy lock of {} stays until its heartbeat ends: {e}",
                job.service
            );
        }
        println!("{}", result?);
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
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
    let auth_for = super::stack::registry_auth(env);
    let job = Job {
        service: &args.service,
        release: &args.release,
        kind: "deploy",
        what: format!("deploy of {image}"),
    };
    under_lock(&located, env, &setup, job, async |engine: &Engine| {
        let say = |line: String| eprintln!(" {line}");
        let target = SwarmTarget {
            engine,
            compose: &setup.compose,
            spec: &setup.spec,
            settings: &settings,
            proxy: located.place.proxy.clone(),
            route: located.place.route.clone(),
            route_name: setup.key.clone(),
            auth: &auth_for,
            say: &say,
        };
        hoist_pipeline::swarm::release(&target, &args.service, &image).await
    })
}

pub(super) fn rollback(
    located: Located,
    env: &EnvVars,
    args: &RollbackArgs,
) -> anyhow::Result<ExitCode> {
    let setup = setup(&located, env, &args.service)?;
    let job = Job {
        service: &args.service,
        release: &args.release,
        kind: "rollback",
        what: "rollback".into(),
    };
    under_lock(&located, env, &setup, job, async |engine: &Engine| {
        let say = |line: String| eprintln!(" {line}");
        hoist_pipeline::swarm::roll_back(engine, &setup.namespace, &args.service, &say).await
    })
}

/// `hoist releases SERVICE --target NAME` on a Swarm: the spec that runs and the one a rollback
/// returns to, as Swarm keeps them, with the last update's state and the running tasks.
pub(super) fn releases(
    located: Located,
    env: &EnvVars,
    args: &ReleasesArgs,
) -> anyhow::Result<ExitCode> {
    let setup = setup(&located, env, &args.service)?;
    let name = hoist_core::swarm::scoped(&setup.namespace, &args.service);
    let (state, running) = super::runtime()?.block_on(async {
        let engine = super::stack::manager_at(&located.place.engine).await?;
        let services = engine.stack_services(&setup.namespace).await?;
        let Some(row) = services.iter().find(|s| s.name == name) else {
            anyhow::bail!(
                "service {name} is not on the Swarm at {}",
                located.place.engine.host
            );
        };
        let state = engine.inspect_stack_service(&row.id).await?;
        let tasks = engine.service_tasks(std::slice::from_ref(&row.id)).await?;
        let (running, want) = hoist_pipeline::swarm::replicas(row, &tasks, 0);
        anyhow::Ok((state, format!("{running}/{want} tasks running")))
    })?;
    let update = state
        .update
        .as_ref()
        .map(|u| format!("{}: {}", u.state, u.message))
        .unwrap_or_else(|| "created, never updated".into());
    if args.json {
        let out = serde_json::json!({
            "service": name,
            "current": state.image,
            "previous": state.previous_image,
            "update": state.update.as_ref().map(|u| serde_json::json!({"state": u.state, "message": u.message, "started_at": u.started_at})),
            "tasks": running,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{name} on the Swarm ({running}; last change {update})");
    println!("current    {}", state.image);
    println!(
        "previous   {}",
        state.previous_image.as_deref().unwrap_or("(none)")
    );
    Ok(ExitCode::SUCCESS)
}
