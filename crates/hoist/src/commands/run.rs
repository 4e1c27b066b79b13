//! `hoist run SERVICE [COMMAND...]`: a one-off container, as the book runs its tests
//! (`run --rm -e DOMAIN=... integ`). Dependencies are brought up first unless `--no-deps`; the
//! container's output streams to hoist's; its exit code becomes hoist's.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use hoist_docker::Engine;
use hoist_docker::attach::stdin_chunks;
use hoist_docker::execute::ExecOptions;
use hoist_docker::logs::LogStream;
use hoist_docker::orchestrate::{RunRequest, create_oneoff};

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
        interactive: args.interactive,
    };
    let code = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let printer = Printer::new(Progress::Plain);
        let oneoff = create_oneoff(&engine, &loaded.spec, &request, &exec, &printer)
            .await
            .map_err(super::up::explain)?;
        if args.detach {
            engine.start_container(&oneoff.name).await?;
            // As Compose: the new container's id, for scripts.
            println!("{}", oneoff.id);
            return anyhow::Ok(0);
        }
        let code = attached(&engine, &oneoff.name, args.interactive).await?;
        if args.rm {
            engine.remove_container(&oneoff.name, true, true).await?;
        }
        anyhow::Ok(code)
    })?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Attaches to the one-off container (hoist's stdin feeding its stdin when `interactive`),
/// starts it, copies its output until it exits and returns its exit code.
async fn attached(engine: &Engine, name: &str, interactive: bool) -> anyhow::Result<i64> {
    let attachment = engine.attach(name, interactive).await?;
    engine.start_container(name).await?;
    let stdin = interactive.then(stdin_chunks);
    attachment
        .pump(stdin, |stream, bytes| {
            let _ = match stream {
                LogStream::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(bytes).and_then(|()| out.flush())
                }
                LogStream::Stderr => std::io::stderr().lock().write_all(bytes),
            };
        })
        .await?;
    Ok(engine.wait_exit(name).await?)
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
