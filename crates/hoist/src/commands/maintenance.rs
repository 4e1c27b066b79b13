//! `hoist maintenance on|off|status --target T`: a route of the target's proxies answers 503 with
//! a page (the default one with `--message`, or your own HTML with `--page`) instead of reaching
//! its service, on every host, through the proxy's checked reload.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hoist_pipeline::proxy::maintenance;

use super::proxy::{Say, TargetArgs, connect, proxies_of, target_of};
use crate::cli::GlobalArgs;
use crate::settings::EnvVars;

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Put the route in maintenance: 503 with a page.
    On(OnArgs),
    /// Send the route to its service again.
    Off(RouteArgs),
    /// Which routes are in maintenance, on each host.
    Status(RouteArgs),
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    #[command(flatten)]
    pub on: TargetArgs,
    /// The proxy route (the pipeline file's `service` by default).
    #[arg(long, value_name = "NAME")]
    pub route: Option<String>,
}

#[derive(Debug, Args)]
pub struct OnArgs {
    #[command(flatten)]
    pub route: RouteArgs,
    /// The default page's message, shown as text.
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "page",
        default_value = "This service is down for maintenance and will be back shortly."
    )]
    pub message: String,
    /// Your own page: an HTML file served as it is (1 MiB at most).
    #[arg(long, value_name = "FILE")]
    pub page: Option<PathBuf>,
}

pub fn run(
    global: &GlobalArgs,
    env: &EnvVars,
    cmd: &MaintenanceCommand,
) -> anyhow::Result<ExitCode> {
    let args = match cmd {
        MaintenanceCommand::On(a) => &a.route,
        MaintenanceCommand::Off(a) | MaintenanceCommand::Status(a) => a,
    };
    let (file, target) = target_of(global, env, &args.on)?;
    let route = args.route.clone().unwrap_or_else(|| file.service.clone());
    let page = match cmd {
        MaintenanceCommand::On(a) => Some(match &a.page {
            Some(path) => {
                std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => maintenance::default_page(&a.message).into_bytes(),
        }),
        _ => None,
    };
    super::runtime()?.block_on(async {
        let engines = connect(&target).await?;
        let proxies = proxies_of(&target, &engines);
        match (cmd, page) {
            (MaintenanceCommand::On(_), Some(page)) => {
                maintenance::on(&proxies, &route, &page, &Say).await?;
                println!(
                    "{route} on {}: in maintenance (503 with the page)",
                    target.name
                );
            }
            (MaintenanceCommand::Off(_), _) => {
                maintenance::off(&proxies, &route, &Say).await?;
                println!("{route} on {}: serving again", target.name);
            }
            _ => {
                for (member, proxy) in target.members().iter().zip(&proxies) {
                    let table = proxy.config().await?;
                    let state = match table.route(&route) {
                        None => "no such route",
                        Some(_) if table.in_maintenance(&route) => "maintenance",
                        Some(_) => "serving",
                    };
                    println!("{}\t{route}\t{state}", member.name);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
