//! `start`, `stop`, `restart` and `rm` on existing service containers: dependencies start first
//! and stop last; containers of one service are handled concurrently.

use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use futures_util::future::try_join_all;
use hoist_core::observed::ObservedContainer;
use hoist_core::plan::{restart_selection, select_services};
use hoist_core::spec::{Condition, ProjectSpec};
use hoist_docker::Engine;
use hoist_docker::execute::run_pre_stop_hooks;

use crate::cli::{GlobalArgs, RmArgs, ServicesArgs, StopArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

/// Containers of `services` (all when empty), grouped by service in dependency order.
async fn containers_by_service(
    engine: &Engine,
    spec: &ProjectSpec,
    services: &[String],
    with_dependencies: bool,
) -> anyhow::Result<Vec<(String, Vec<ObservedContainer>)>> {
    let order = select_services(spec, services, !with_dependencies)?;
    let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
    Ok(order
        .into_iter()
        .map(|s| {
            let mut cs: Vec<ObservedContainer> =
                observed.service_containers(&s.name).cloned().collect();
            cs.sort_by_key(|c| c.number);
            (s.name.clone(), cs)
        })
        .collect())
}

fn say(kind: &str, name: &str, text: &str) {
    eprintln!(" {kind} {name}  {text}");
}

/// Runs `act` on the containers of each group that `pick` selects: one group after another (in
/// the order given), the containers of a group concurrently.
async fn each_group<'a, F, Fut>(
    groups: impl IntoIterator<Item = &'a (String, Vec<ObservedContainer>)>,
    pick: fn(&ObservedContainer) -> bool,
    act: F,
) -> anyhow::Result<()>
where
    F: Fn(&'a str, &'a ObservedContainer) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for (service, containers) in groups {
        try_join_all(
            containers
                .iter()
                .filter(|c| pick(c))
                .map(|c| act(service, c)),
        )
        .await?;
    }
    Ok(())
}

pub fn start(global: &GlobalArgs, env: &EnvVars, args: &ServicesArgs) -> anyhow::Result<ExitCode> {
    let spec = &load_spec(global, env, &args.services)?;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        // As Compose: what the named services depend on starts first.
        let groups = containers_by_service(&engine, spec, &args.services, true).await?;
        if !args.services.is_empty()
            && let Some((service, _)) = groups
                .iter()
                .find(|(s, cs)| cs.is_empty() && args.services.contains(s))
        {
            anyhow::bail!("service {service} has no container to start (run `hoist up` first)");
        }
        let engine = &engine;
        each_group(
            &groups,
            |c| !c.state.is_running(),
            |_, c| async move {
                say("Container", &c.name, "Starting");
                engine.start_container(&c.name).await?;
                say("Container", &c.name, "Started");
                anyhow::Ok(())
            },
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The stop timeout of `service`: the command line's, else the service's `stop_grace_period`.
fn stop_timeout(spec: &ProjectSpec, service: &str, given: Option<u64>) -> Option<u64> {
    given.or_else(|| spec.service(service).and_then(|s| s.stop_timeout_secs))
}

/// Where the output of `pre_stop` hooks goes: nowhere for `stop` (Compose runs them detached),
/// the attached output for an attached `up`.
pub(super) type HookOutput<'a> = &'a (dyn Fn(&ObservedContainer, &str) + Sync);

async fn stop_groups(
    engine: &Engine,
    spec: &ProjectSpec,
    groups: &[(String, Vec<ObservedContainer>)],
    timeout: Option<u64>,
    hook_output: HookOutput<'_>,
) -> anyhow::Result<()> {
    // As Compose: every container of the services is stopped and reported, stopped ones too
    // (the engine answers "not modified"), each after its `pre_stop` hooks ran.
    each_group(
        groups.iter().rev(),
        |_| true,
        |service, c| async move {
            let output = |line: &str| hook_output(c, line);
            run_pre_stop_hooks(engine, spec, service, &c.name, &output).await?;
            say("Container", &c.name, "Stopping");
            let timeout = stop_timeout(spec, service, timeout);
            engine.stop_container(&c.name, timeout).await?;
            say("Container", &c.name, "Stopped");
            anyhow::Ok(())
        },
    )
    .await
}

pub fn stop(global: &GlobalArgs, env: &EnvVars, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let spec = &load_spec(global, env, &args.services)?;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let groups = containers_by_service(&engine, spec, &args.services, false).await?;
        stop_groups(&engine, spec, &groups, args.timeout, &|_, _| {}).await
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn restart(global: &GlobalArgs, env: &EnvVars, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let spec = &load_spec(global, env, &args.services)?;
    // As Compose: the services that depend on a restarted one with `restart: true` restart
    // after it, each once what it depends on that way is ready again.
    let services = restart_selection(spec, &args.services)?;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let groups = containers_by_service(&engine, spec, &services, false).await?;
        let (engine, spec) = (&engine, spec);
        for group in &groups {
            wait_restart_dependencies(engine, spec, &group.0, &groups).await?;
            each_group(
                [group],
                |_| true,
                |service, c| async move {
                    say("Container", &c.name, "Restarting");
                    let timeout = stop_timeout(spec, service, args.timeout);
                    engine.stop_container(&c.name, timeout).await?;
                    engine.start_container(&c.name).await?;
                    say("Container", &c.name, "Started");
                    anyhow::Ok(())
                },
            )
            .await?;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Before `service` restarts: its `restart: true` dependencies that `restart` restarted too are
/// healthy (or completed) again, as their condition asks.
async fn wait_restart_dependencies(
    engine: &Engine,
    spec: &ProjectSpec,
    service: &str,
    groups: &[(String, Vec<ObservedContainer>)],
) -> anyhow::Result<()> {
    let Some(config) = spec.service(service) else {
        return Ok(());
    };
    let timeout = std::time::Duration::from_secs(600);
    for dep in config.depends_on.iter().filter(|d| d.restart) {
        let Some((_, containers)) = groups.iter().find(|(s, _)| *s == dep.service) else {
            continue;
        };
        let done = match dep.condition {
            Condition::ServiceStarted => continue,
            Condition::ServiceHealthy => "Healthy",
            Condition::ServiceCompletedSuccessfully => "Exited",
        };
        for c in containers {
            say("Container", &c.name, "Waiting");
        }
        try_join_all(containers.iter().map(|c| async move {
            match dep.condition {
                Condition::ServiceCompletedSuccessfully => {
                    engine.wait_completed(&c.name, timeout).await
                }
                _ => engine.wait_healthy(&c.name, timeout, true).await,
            }
        }))
        .await
        .map_err(|e| anyhow::anyhow!("dependency failed to start: {e}"))?;
        for c in containers {
            say("Container", &c.name, done);
        }
    }
    Ok(())
}

pub fn rm(global: &GlobalArgs, env: &EnvVars, args: &RmArgs) -> anyhow::Result<ExitCode> {
    let spec = &load_spec(global, env, &args.services)?;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let groups = containers_by_service(&engine, spec, &args.services, false).await?;
        if args.stop {
            stop_groups(&engine, spec, &groups, None, &|_, _| {}).await?;
        }
        let groups = containers_by_service(&engine, spec, &args.services, false).await?;
        let stopped: Vec<&ObservedContainer> = groups
            .iter()
            .flat_map(|(_, cs)| cs.iter())
            .filter(|c| !c.state.is_running())
            .collect();
        if stopped.is_empty() {
            eprintln!("No stopped containers");
            return anyhow::Ok(());
        }
        if !args.force {
            let names: Vec<&str> = stopped.iter().map(|c| c.name.as_str()).collect();
            eprint!("Going to remove {}\nAre you sure? [yN] ", names.join(", "));
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            if std::io::stdin().is_terminal() {
                std::io::stdin().lock().read_line(&mut answer)?;
            }
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                eprintln!("\nnothing removed (use -f to remove without asking)");
                return anyhow::Ok(());
            }
        }
        try_join_all(stopped.iter().map(|c| {
            let engine = &engine;
            async move {
                say("Container", &c.name, "Removing");
                engine
                    .remove_container(&c.name, false, args.volumes)
                    .await?;
                say("Container", &c.name, "Removed");
                anyhow::Ok(())
            }
        }))
        .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `stop` of `services` as the verb does it, for an attached `up` that stops the project (on
/// `--abort-on-container-exit` or Ctrl+C): every container reported, stopped ones too.
pub(super) async fn stop_services(
    engine: &Engine,
    spec: &ProjectSpec,
    services: &[String],
    timeout: Option<u64>,
    hook_output: HookOutput<'_>,
) -> anyhow::Result<()> {
    let groups = containers_by_service(engine, spec, services, false).await?;
    stop_groups(engine, spec, &groups, timeout, hook_output).await
}
