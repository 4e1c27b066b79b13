//! `hoist up`: observe, plan images, pull/build, observe again, reconcile, execute.

use std::process::ExitCode;
use std::time::Duration;

use hoist_core::events::EventSink;
use hoist_core::plan::{UpOptions, select_services};
use hoist_core::spec::{ProjectSpec, PullPolicy};
use hoist_docker::Engine;
use hoist_docker::execute::{ExecOptions, execute};
use hoist_docker::orchestrate;

use crate::cli::{GlobalArgs, UpArgs};
use crate::context::{connect, docker_config, load_project_for};
use crate::output::Printer;
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = load_project_for(global, env, &args.services)?;
    super::scale::apply_scales(&mut loaded.spec, &args.scale)?;
    if args.no_deps && !args.services.is_empty() {
        without_unselected_dependencies(&mut loaded.spec, &args.services);
    }
    let pull: Option<PullPolicy> = args
        .pull
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let opts = UpOptions {
        services: args.services.clone(),
        no_deps: args.no_deps,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        remove_orphans: args.remove_orphans,
        wait: args.wait,
    };
    let exec = ExecOptions {
        stop_timeout: args.timeout,
        wait_timeout: Duration::from_secs(args.wait_timeout.unwrap_or(600)),
        remove_volumes: false,
        docker_config: docker_config(env),
    };
    let printer = Printer::new(args.progress.progress);
    let attach = !args.detach && !args.wait && !args.dry_run;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        up(
            &engine,
            &loaded.spec,
            &opts,
            pull,
            &exec,
            args.dry_run,
            &printer,
        )
        .await?;
        if attach {
            attach_until_interrupted(
                &engine,
                &loaded.spec,
                &opts,
                &exec,
                &printer,
                args.attach_dependencies,
            )
            .await?;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `up --no-deps SERVICE...`: as in Compose, the project is cut down to the services named, so
/// their dependencies and links on other services are not part of the containers made.
fn without_unselected_dependencies(spec: &mut ProjectSpec, selected: &[String]) {
    for service in spec
        .services
        .iter_mut()
        .filter(|s| selected.contains(&s.name))
    {
        service.depends_on.retain(|d| selected.contains(&d.service));
        service.links.retain(|l| selected.contains(&l.service));
    }
}

/// The whole of `up` on one engine (also `scale`): the plan printed with `--dry-run`, else
/// carried out.
pub async fn up(
    engine: &Engine,
    spec: &ProjectSpec,
    opts: &UpOptions,
    pull: Option<PullPolicy>,
    exec: &ExecOptions,
    dry_run: bool,
    sink: &dyn EventSink,
) -> anyhow::Result<()> {
    if dry_run {
        print!("{}", orchestrate::plan_up(engine, spec, opts, pull).await?);
        return Ok(());
    }
    orchestrate::up(engine, spec, opts, pull, exec, sink)
        .await
        .map_err(explain)
}

/// An orchestration failure; an execution failure also says what had been done before it.
pub fn explain(e: orchestrate::OrchestrateError) -> anyhow::Error {
    match e {
        orchestrate::OrchestrateError::Exec(e) => failed(e, "up"),
        other => other.into(),
    }
}

/// `up` without `-d`: follow the services' output until they stop or Ctrl+C, which stops them,
/// as Compose does.
async fn attach_until_interrupted(
    engine: &Engine,
    spec: &ProjectSpec,
    opts: &UpOptions,
    exec: &ExecOptions,
    sink: &dyn EventSink,
    attach_dependencies: bool,
) -> anyhow::Result<()> {
    let services: Vec<String> = select_services(spec, &opts.services, opts.no_deps)?
        .iter()
        .map(|s| s.name.clone())
        .collect();
    // As Compose: the services named, or with --attach-dependencies (or none named) all started.
    let shown: Vec<String> = if opts.services.is_empty() || attach_dependencies {
        services.clone()
    } else {
        opts.services.clone()
    };
    tokio::select! {
        result = super::logs::attach(engine, spec, &shown, &opts.services) => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
            let plan = hoist_core::plan::reconcile_stop(spec, &observed, &services);
            execute(engine, spec, &plan, exec, sink)
                .await
                .map_err(|e| failed(e, "stop"))?;
            Ok(())
        }
    }
}

/// An execution failure, saying what had been done before it, so a second run can converge.
pub fn failed(e: hoist_docker::execute::ExecError, command: &str) -> anyhow::Error {
    let mut msg = e.to_string();
    if e.done.is_empty() {
        msg.push_str("\nnothing was changed before the failure");
    } else {
        msg.push_str("\ndone before the failure:");
        for step in &e.done {
            msg.push_str("\n  - ");
            msg.push_str(step);
        }
        msg.push_str(&format!(
            "\nrun `hoist {command}` again once the cause is fixed: it continues from here"
        ));
    }
    anyhow::Error::msg(msg)
}
