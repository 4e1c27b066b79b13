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

    /// Don't interpolate environment variables.
    #[arg(long)]
    pub no_interpolate: bool,

    /// Print model variables and default values.
    #[arg(long)]
    pub variables: bool,
}

/// The options the loader needs, from the global flags and the process environment.
pub fn run(global: &GlobalArgs, env: &EnvVars, args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let opts = crate::context::load_options(global, env)?;
    if args.variables {
        return print_variables(&opts, args.format);
    }
    if args.no_interpolate {
        let loaded = hoist_compose::uninterpolated::load(&opts)?;
        let model = hoist_compose::uninterpolated::model(&loaded);
        if !args.quiet {
            print_tree(&model, args.format)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.images {
        // Everything but `--images` prints the canonical tree only: the typed model is not built.
        let mut project = hoist_compose::load_canonical(&opts)?;
        hoist_compose::print_form(&mut project.json, matches!(args.format, ConfigFormat::Json));
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
                hoist_compose::json::write_go_json(&mut w, &project.json)?;
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

/// The uninterpolated model as `config --no-interpolate` prints it: YAML, or JSON indented by
/// two; its `$` are the file's own, printed as they are.
fn print_tree(tree: &hoist_compose::json::Value, format: ConfigFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        ConfigFormat::Json => serde_json::to_writer_pretty(&mut out, tree)?,
        ConfigFormat::Yaml => write!(out, "{}", hoist_compose::render::to_yaml_as_written(tree))?,
    }
    Ok(())
}

/// `config --variables`: the variables the files use, as a table (sorted by name), JSON
/// (indented by four, as Compose prints it) or YAML (Compose's lower-cased field names).
fn print_variables(
    opts: &hoist_compose::LoadOptions,
    format: ConfigFormat,
) -> anyhow::Result<ExitCode> {
    let loaded = hoist_compose::uninterpolated::load(opts)?;
    let variables = hoist_compose::uninterpolated::variables(&loaded);
    let mut out = std::io::stdout().lock();
    match format {
        ConfigFormat::Json => {
            let mut w = serde_json::Serializer::with_formatter(
                &mut out,
                serde_json::ser::PrettyFormatter::with_indent(b"    "),
            );
            serde::Serialize::serialize(&variables, &mut w)?;
            // Compose ends the document with an empty line.
            writeln!(out, "\n")?;
        }
        ConfigFormat::Yaml => {
            for v in variables.values() {
                writeln!(out, "{}:", v.name)?;
                writeln!(out, "    name: {}", yaml_scalar(&v.name))?;
                writeln!(out, "    defaultvalue: {}", yaml_scalar(&v.default_value))?;
                writeln!(out, "    presencevalue: {}", yaml_scalar(&v.presence_value))?;
                writeln!(out, "    required: {}", v.required)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A string as a YAML scalar: quoted unless it reads back as the same plain string.
fn yaml_scalar(s: &str) -> String {
    hoist_compose::render::to_yaml_as_written(&hoist_compose::json::Value::String(s.into()))
        .trim_end()
        .to_string()
}
