//! `hoist ls`: compose projects on the engine, as `docker compose ls` prints them.

use std::process::ExitCode;

use serde_json::json;

use crate::cli::{GlobalArgs, LsArgs};
use crate::context::connect;
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let projects = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        anyhow::Ok(engine.list_projects().await?)
    })?;
    let rows: Vec<(String, String, String)> = projects
        .iter()
        .filter(|p| args.all || p.states.contains_key("running"))
        .map(|p| {
            let status: Vec<String> = p
                .states
                .iter()
                .map(|(state, n)| format!("{state}({n})"))
                .collect();
            (p.name.clone(), status.join(", "), p.config_files.clone())
        })
        .collect();
    if args.quiet {
        for (name, _, _) in &rows {
            println!("{name}");
        }
    } else if args.format == "json" {
        let list: Vec<_> = rows
            .iter()
            .map(|(n, s, c)| json!({"Name": n, "Status": s, "ConfigFiles": c}))
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(4);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(6);
        println!("{:w0$}   {:w1$}   CONFIG FILES", "NAME", "STATUS");
        for (n, s, c) in &rows {
            println!("{n:w0$}   {s:w1$}   {c}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
