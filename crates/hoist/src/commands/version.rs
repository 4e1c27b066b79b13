//! `hoist version`: hoist's version and the engine's, through the Engine API.

use std::process::ExitCode;

use hoist_docker::Engine;

use crate::cli::GlobalArgs;
use crate::settings::{EnvVars, engine_spec};

pub fn run(global: &GlobalArgs, env: &EnvVars) -> anyhow::Result<ExitCode> {
    println!("hoist {}", env!("CARGO_PKG_VERSION"));
    let spec = engine_spec(global, env)?;
    super::runtime()?.block_on(async {
        let engine = Engine::connect(&spec).await?;
        let id = engine.identity().await?;
        println!(
            "engine {}: Docker {} (API {}, negotiated {}), {}/{}",
            engine.address(),
            id.version,
            id.api_version,
            engine.api_version(),
            id.os,
            id.arch
        );
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
