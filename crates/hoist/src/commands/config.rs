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
    if !args.images {
        // Everything but `--images` prints the canonical tree only: the typed model is not built.
        let project = hoist_compose::load_canonical(&opts)?;
        for w in &project.warnings {
            eprintln!("warning: {w}");
        }
        if args.quiet {
            return Ok(ExitCode::SUCCESS);
        }
        let mut out = std::io::stdout().lock();
        if args.services {
            let services = project.json.get("services").and_then(|s| s.as_object());
            for name in services.into_iter().flat_map(|s| s.keys()) {
                writeln!(out, "{name}")?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        match args.format {
            ConfigFormat::Json => {
                // Straight to the (buffered) terminal: no copy of a large project's text.
                let mut w = std::io::BufWriter::new(&mut out);
                serde_json::to_writer_pretty(&mut w, &hoist_compose::json::Printed(&project.json))?;
                w.flush()?;
            }
            ConfigFormat::Yaml => {
                write!(
                    out,
                    "{}",
                    hoist_compose::render::project_yaml(&project.json)
                )?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let project = hoist_compose::load(&opts)?;
    for w in &project.warnings {
        eprintln!("warning: {w}");
    }
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for (name, svc) in &project.services {
        // Compose prints the image a build would be tagged with when none is set.
        match &svc.image {
            Some(image) => writeln!(out, "{image}")?,
            None => writeln!(out, "{}-{name}", project.name)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
