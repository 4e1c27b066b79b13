//! `hoist run SERVICE [COMMAND...]`: a one-off container, as the book runs its tests
//! (`run --rm -e DOMAIN=... integ`). Dependencies are brought up first unless `--no-deps`; the
//! container's output streams to hoist's; its exit code becomes hoist's.

use std::io::Write;
use std::process::ExitCode;

use hoist_docker::execute::ExecOptions;
use hoist_docker::logs::LogStream;
use hoist_docker::orchestrate::{RunRequest, run_oneoff};

use crate::cli::{GlobalArgs, Progress, RunArgs};
use crate::context::{connect, docker_config, load_project_for};
use crate::output::Printer;
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_project_for(global, env, std::slice::from_ref(&args.service))?;
    let exec = ExecOptions {
        docker_config: docker_config(env),
        ..Default::default()
    };
    let request = RunRequest {
        service: args.service.clone(),
        command: args.command.clone(),
        env: args.env.clone(),
        with_deps: !args.no_deps,
        service_ports: args.service_ports,
        remove: args.rm,
        detach: args.detach,
        name: args.name.clone(),
        labels: Default::default(),
    };
    let outcome = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let printer = Printer::new(Progress::Plain);
        anyhow::Ok(
            run_oneoff(
                &engine,
                &loaded.spec,
                &request,
                &exec,
                &printer,
                |stream, text| {
                    let line = format!("{text}\n");
                    let _ = match stream {
                        LogStream::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
                        LogStream::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
                    };
                },
            )
            .await
            .map_err(super::up::explain)?,
        )
    })?;
    if args.detach {
        println!("{}", outcome.container);
    }
    Ok(ExitCode::from(outcome.exit_code.clamp(0, 255) as u8))
}
