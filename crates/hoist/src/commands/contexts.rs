//! `hoist context ls`: the docker contexts hoist can use, as `docker context ls` prints them.

use std::process::ExitCode;

use serde_json::json;

use crate::cli::{ContextArgs, ContextCommand, GlobalArgs};
use crate::docker_context as ctx;
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &ContextArgs) -> anyhow::Result<ExitCode> {
    let ContextCommand::Ls { format, quiet } = &args.command;
    let store = ctx::config_dir(env.docker_config.as_deref(), env.home.as_deref());
    let current = ctx::current(&store).map_err(anyhow::Error::msg)?;
    let chosen = crate::settings::chosen_context(global, env, current.as_deref())?;
    // The default context first: what DOCKER_HOST (or the local socket) names.
    let mut rows = vec![(
        ctx::DEFAULT.to_string(),
        "Current DOCKER_HOST based configuration".to_string(),
        env.docker_host
            .clone()
            .unwrap_or_else(|| hoist_docker::EngineSpec::local().host),
    )];
    for c in ctx::list(&store).map_err(anyhow::Error::msg)? {
        rows.push((c.name, c.description, c.host));
    }
    if *quiet {
        for (name, _, _) in &rows {
            println!("{name}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if format.as_deref() == Some("json") {
        for (name, description, endpoint) in &rows {
            let row = json!({
                "Current": *name == chosen,
                "Description": description,
                "DockerEndpoint": endpoint,
                "Error": "",
                "Name": name,
            });
            println!("{row}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "NAME".to_string(),
        "DESCRIPTION".to_string(),
        "DOCKER ENDPOINT".to_string(),
        "ERROR".to_string(),
    ]];
    for (name, description, endpoint) in rows {
        let shown = match name == chosen {
            true => format!("{name} *"),
            false => name,
        };
        table.push(vec![shown, description, endpoint, String::new()]);
    }
    print!("{}", super::ps::columns(&table));
    Ok(ExitCode::SUCCESS)
}
