//! `hoist run SERVICE [COMMAND...]`: a one-off container, as the book runs its tests
//! (`run --rm -e DOMAIN=... integ`). Dependencies are brought up first unless `--no-deps`; the
//! container's output streams to hoist's; its exit code becomes hoist's.

use std::collections::BTreeMap;
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
        env: resolve_env(&args.env, &loaded.compose.env),
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

/// `-e KEY=VALUE` stays; `-e KEY` takes KEY's value from the environment interpolation saw (the
/// shell over `.env`/`--env-file`), and is left out when it has none, as Compose does (the
/// image's value then stands).
fn resolve_env(flags: &[String], env: &BTreeMap<String, String>) -> Vec<String> {
    flags
        .iter()
        .filter_map(|flag| match flag.contains('=') {
            true => Some(flag.clone()),
            false => env.get(flag).map(|v| format!("{flag}={v}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_take_the_project_environment_or_are_left_out() {
        let env = BTreeMap::from([("WHEREAMI".to_string(), "Env File".to_string())]);
        let flags = ["WHEREAMI", "UNSET", "A=b=c", "EMPTY="].map(String::from);
        assert_eq!(
            resolve_env(&flags, &env),
            ["WHEREAMI=Env File", "A=b=c", "EMPTY="]
        );
    }
}
