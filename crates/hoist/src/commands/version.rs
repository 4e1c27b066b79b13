//! `hoist version`: hoist's version and the engine's, through the Engine API; `--short` and
//! `--format json` as Docker Compose has them.

use std::process::ExitCode;

use hoist_docker::Engine;

use crate::cli::{GlobalArgs, VersionArgs};
use crate::settings::{EnvVars, engine_spec};

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &VersionArgs) -> anyhow::Result<ExitCode> {
    let version = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{version}");
        return Ok(ExitCode::SUCCESS);
    }
    let json = match args.format.as_deref() {
        None | Some("pretty") => false,
        Some("json") => true,
        Some(other) => anyhow::bail!("unsupported format {other:?}: use pretty or json"),
    };
    if !json {
        println!("hoist {version}");
    }
    let spec = engine_spec(global, env)?;
    super::runtime()?.block_on(async {
        let engine = Engine::connect(&spec).await?;
        let id = engine.identity().await?;
        if json {
            let line = serde_json::json!({
                "version": version,
                "engine": {
                    "address": engine.address().to_string(),
                    "version": id.version,
                    "api_version": id.api_version,
                    "negotiated_api_version": engine.api_version(),
                    "os": id.os,
                    "arch": id.arch,
                },
            });
            println!("{line}");
        } else {
            println!(
                "engine {}: Docker {} (API {}, negotiated {}), {}/{}",
                engine.address(),
                id.version,
                id.api_version,
                engine.api_version(),
                id.os,
                id.arch
            );
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
