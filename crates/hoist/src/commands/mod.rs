//! One module per verb; `dispatch` routes a parsed command line to it.

mod attach;
mod attach_to;
pub mod config;
mod contexts;
mod cp;
mod down;
mod events;
mod exec;
mod fleet;
mod image_list;
mod images;
mod inspect;
mod lifecycle;
mod logs;
mod ls;
pub mod maintenance;
pub mod pipeline;
mod port;
mod processes;
mod project;
pub mod proxy;
mod ps;
mod release;
mod run;
mod scale;
pub mod stack;
mod stats;
mod swarm_release;
pub mod tls;
pub mod ui;
mod up;
mod version;

use std::process::ExitCode;

use hoist_core::spec::ProjectSpec;
use hoist_docker::Engine;

use crate::cli::{Cli, Command};
use crate::settings::EnvVars;

/// Runs the command and returns its exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let env = EnvVars::from_process();
    let cli = cli.with_global_flags(&env.all);
    if let Some(verb) = cli.dry_run_refused() {
        anyhow::bail!("--dry-run is not supported by `{verb}` yet: nothing was done");
    }
    let g = &cli.global;
    // The remote-API policy is decided before anything else, so a refused engine gets nothing,
    // not even the compose file's name. (Connecting checks again, on its own resolution, and
    // connects to exactly the addresses that check allowed.)
    if !matches!(
        cli.command,
        Command::Version(_) | Command::Config(_) | Command::Context(_) | Command::Tls(_)
    ) {
        let spec = crate::settings::engine_spec(g, &env)?;
        hoist_docker::connect::check_policy(&spec)?;
    }
    match &cli.command {
        Command::Up(args) => up::run(g, &env, args),
        Command::Create(args) => up::run(g, &env, &args.as_up(g.dry_run)),
        Command::Down(args) => down::run(g, &env, args),
        Command::Ps(args) => ps::run(g, &env, args),
        Command::Port(args) => port::run(g, &env, args),
        Command::Inspect(args) => inspect::run(g, &env, args),
        Command::Run(args) => run::run(g, &env, args),
        Command::Exec(args) => exec::run(g, &env, args),
        Command::Kill(args) => processes::kill(g, &env, args),
        Command::Pause(args) => processes::pause(g, &env, args, false),
        Command::Unpause(args) => processes::pause(g, &env, args, true),
        Command::Top(args) => processes::top(g, &env, args),
        Command::Images(args) => image_list::run(g, &env, args),
        Command::Wait(args) => processes::wait(g, &env, args),
        Command::Cp(args) => cp::run(g, &env, args),
        Command::Events(args) => events::run(g, &env, args),
        Command::Stats(args) => stats::run(g, &env, args),
        Command::Attach(args) => attach_to::run(g, &env, args),
        Command::Logs(args) => logs::run(g, &env, args),
        Command::Start(args) => lifecycle::start(g, &env, args),
        Command::Stop(args) => lifecycle::stop(g, &env, args),
        Command::Restart(args) => lifecycle::restart(g, &env, args),
        Command::Rm(args) => lifecycle::rm(g, &env, args),
        Command::Pull(args) => images::pull(g, &env, args),
        Command::Push(args) => images::push(g, &env, args),
        Command::Build(args) => images::build(g, &env, args),
        Command::Ls(args) => ls::run(g, &env, args),
        Command::Context(args) => contexts::run(g, &env, args),
        Command::Tls(args) => tls::run(args),
        Command::Scale(args) => scale::run(g, &env, args),
        Command::Deploy(args) => release::deploy(g, &env, args),
        Command::Rollback(args) => release::rollback(g, &env, args),
        Command::Releases(args) => release::releases(g, &env, args),
        Command::Prune(args) => project::prune(g, &env, args),
        Command::Lock(args) => release::lock(g, &env, args),
        Command::Stack(cmd) => stack::run(g, &env, cmd),
        Command::Version(args) => version::run(g, &env, args),
        Command::Config(args) => config::run(g, &env, args),
        Command::Pipeline(cmd) => pipeline::run(g, &env, cmd),
        Command::Proxy(cmd) => proxy::run(g, &env, cmd),
        Command::Maintenance(cmd) => maintenance::run(g, &env, cmd),
        Command::Ui(args) => ui::run(g, &env, args),
    }
}

/// A runtime for commands that talk to engines. Two worker threads: hoist mostly waits on I/O.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The name of replica `index` of `service`, checked to exist on the engine.
pub(crate) async fn service_container(
    engine: &Engine,
    spec: &ProjectSpec,
    service: &str,
    index: u32,
) -> anyhow::Result<String> {
    let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
    observed
        .service_containers(service)
        .find(|c| c.number == index)
        .map(|c| c.name.clone())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "service {service} has no container number {index} in project {} (see `hoist ps -a`)",
                spec.name
            )
        })
}
