//! `hoist config`: prints the resolved project exactly as `docker compose config` does (`--format
//! json` gives compose's JSON, `--format yaml` the same tree as YAML), or only the service names,
//! the images, or nothing (`--quiet`, validation only).

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::cli::GlobalArgs;
use crate::settings::EnvVars;

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum ConfigFormat {
    #[default]
    Yaml,
    Json,
}

/// Flags of `hoist config`, named as `docker compose config` names them.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub format: ConfigFormat,

    /// Print the service names, one per line.
    #[arg(long)]
    pub services: bool,

    /// Print the image names, one per line.
    #[arg(long)]
    pub images: bool,

    /// Only validate the configuration, print nothing.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The options the loader needs, from the global flags and the process environment.
pub fn run(global: &GlobalArgs, env: &EnvVars, args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let opts = crate::context::load_options(global, env)?;
    let project = hoist_compose::load(&opts)?;
    for w in &project.warnings {
        eprintln!("warning: {w}");
    }
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if args.services {
        for name in project.service_names() {
            writeln!(out, "{name}")?;
        }
    } else if args.images {
        for (name, svc) in &project.services {
            // Compose prints the image a build would be tagged with when none is set.
            let image = svc
                .image
                .clone()
                .unwrap_or_else(|| format!("{}-{name}", project.name));
            writeln!(out, "{image}")?;
        }
    } else {
        match args.format {
            ConfigFormat::Json => {
                write!(out, "{}", serde_json::to_string_pretty(project.to_json())?)?;
            }
            ConfigFormat::Yaml => {
                write!(out, "{}", hoist_compose::render::to_yaml(project.to_json()))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
