//! `hoist up`: observe, plan images, pull/build, observe again, reconcile, execute.

use std::process::ExitCode;
use std::time::Duration;

use hoist_core::events::EventSink;
use hoist_core::plan::{UpOptions, select_services, without_unselected_dependencies};
use hoist_core::spec::{ProjectSpec, PullPolicy};
use hoist_docker::Engine;
use hoist_docker::execute::ExecOptions;
use hoist_docker::orchestrate;

use super::attach;
use crate::cli::{GlobalArgs, UpArgs};
use crate::context::{connect, docker_config, load_project_for};
use crate::output::Printer;
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = load_project_for(global, env, &args.services)?;
    super::scale::apply_scales(&mut loaded.spec, &args.scale)?;
    let spec = if args.no_deps {
        without_unselected_dependencies(&loaded.spec, &args.services)
    } else {
        loaded.spec.clone()
    };
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
        remove_orphans: args.remove_orphans
            || truthy(loaded.compose.env.get("COMPOSE_REMOVE_ORPHANS")),
        wait: args.wait,
        all_resources: global.all_resources,
        assume_yes: args.yes,
        build: match (args.build, args.no_build) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        no_start: args.no_start,
    };
    let exec = ExecOptions {
        stop_timeout: args.timeout,
        wait_timeout: Duration::from_secs(args.wait_timeout.unwrap_or(600)),
        remove_volumes: false,
        docker_config: docker_config(env),
        renew_anon_volumes: args.renew_anon_volumes,
    };
    let printer = Printer::new(args.progress.progress);
    let exits = exits(&spec, args)?;
    let attach = !args.detach && !args.wait && !args.dry_run && !args.no_start;
    let code = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        up(&engine, &spec, &opts, pull, &exec, args.dry_run, &printer).await?;
        if !attach {
            return anyhow::Ok(0);
        }
        let services = attached_services(&loaded.compose, &spec, &opts, args)?;
        let watched = &opts.services;
        attach_until_interrupted(&engine, &spec, &services, watched, exits, &exec).await
    })?;
    Ok(ExitCode::from(code))
}

/// A `COMPOSE_*` switch as Compose reads it (from the environment or the project's `.env`):
/// `true` or `1`.
fn truthy(value: Option<&String>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// What the containers' exits do to an attached `up`, from its flags, checked as Compose checks
/// them.
fn exits(spec: &ProjectSpec, args: &UpArgs) -> anyhow::Result<attach::Exits> {
    let cascade = cascade(args)?;
    if let Some(service) = &args.exit_code_from
        && spec.service(service).is_none()
    {
        anyhow::bail!("no such service: {service}");
    }
    Ok(attach::Exits::new(cascade, args.exit_code_from.clone()))
}

/// `--exit-code-from` implies `--abort-on-container-exit`, unless failures alone abort;
/// neither goes with a detached `up`.
fn cascade(args: &UpArgs) -> anyhow::Result<attach::Cascade> {
    let stop = args.abort_on_container_exit || args.exit_code_from.is_some();
    let cascade = match (stop, args.abort_on_container_failure) {
        (_, true) => attach::Cascade::Fail,
        (true, false) => attach::Cascade::Stop,
        (false, false) => attach::Cascade::Ignore,
    };
    if !args.attach.is_empty() && args.attach_dependencies {
        anyhow::bail!("cannot combine --attach and --attach-dependencies");
    }
    let attaching =
        cascade != attach::Cascade::Ignore || args.attach_dependencies || !args.attach.is_empty();
    if args.wait && attaching {
        anyhow::bail!(
            "--wait cannot be combined with --abort-on-container-exit, --attach or --attach-dependencies"
        );
    }
    if args.detach && attaching {
        anyhow::bail!(
            "--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch"
        );
    }
    Ok(cascade)
}

/// The services an attached `up` follows, as Compose picks them: those `--attach` names, else
/// every service `up` started (only the named ones and, with `--attach-dependencies`, what they
/// depend on) that its file does not mark `attach: false`; less those `--no-attach` names.
fn attached_services(
    compose: &hoist_compose::model::Project,
    spec: &ProjectSpec,
    opts: &UpOptions,
    args: &UpArgs,
) -> anyhow::Result<Vec<String>> {
    let chosen: Vec<String> = if args.attach.is_empty() {
        let selected = select_services(spec, &opts.services, opts.no_deps)?;
        let opted_out = |name: &str| {
            compose
                .services
                .get(name)
                .and_then(|s| s.extra.get("attach"))
                .and_then(|v| v.as_bool())
                == Some(false)
        };
        selected
            .iter()
            .map(|s| s.name.clone())
            .filter(|name| {
                args.attach_dependencies || opts.services.is_empty() || opts.services.contains(name)
            })
            .filter(|name| !opted_out(name))
            .collect()
    } else {
        let unknown: Vec<&str> = args
            .attach
            .iter()
            .filter(|name| spec.service(name).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            anyhow::bail!(
                "cannot attach to services not included in up: {}",
                unknown.join(", ")
            );
        }
        args.attach.clone()
    };
    Ok(chosen
        .into_iter()
        .filter(|name| !args.no_attach.contains(name))
        .collect())
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

/// `up` without `-d`: follow the services' output until they stop, or Ctrl+C, which stops them,
/// as Compose does. Returns the exit code.
async fn attach_until_interrupted(
    engine: &Engine,
    spec: &ProjectSpec,
    services: &[String],
    watched: &[String],
    exits: attach::Exits,
    exec: &ExecOptions,
) -> anyhow::Result<u8> {
    tokio::select! {
        result = attach::attach(engine, spec, services, watched, exits, exec) => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            super::lifecycle::stop_services(engine, spec, services, exec.stop_timeout, &|_, _| {})
                .await?;
            Ok(130)
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
