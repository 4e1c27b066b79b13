//! What most commands start from: the compose project (loaded once) and a connection to the
//! engine, both resolved from the global flags and the captured environment.

use std::path::PathBuf;

use anyhow::Context as _;
use hoist_compose::{LoadOptions, Project};
use hoist_core::desired::project_spec;
use hoist_core::spec::ProjectSpec;
use hoist_docker::Engine;

use crate::cli::GlobalArgs;
use crate::settings::{EnvVars, engine_spec, trusted_insecure_hosts};

/// The loaded project, in compose terms and in engine terms.
pub struct Loaded {
    pub compose: Project,
    pub spec: ProjectSpec,
}

/// Compose load options from the global flags.
pub fn load_options(global: &GlobalArgs, env: &EnvVars) -> anyhow::Result<LoadOptions> {
    load_options_for(global, env, &[])
}

/// [`load_options`] for a command that names `services`: they are enabled whatever their
/// profiles, as Compose does.
pub fn load_options_for(
    global: &GlobalArgs,
    env: &EnvVars,
    services: &[String],
) -> anyhow::Result<LoadOptions> {
    Ok(LoadOptions {
        enable_services: services.to_vec(),
        files: global.file.clone(),
        project_name: global.project_name.clone(),
        project_directory: global.project_directory.clone(),
        profiles: global.profile.clone(),
        env_files: env_files(global, env),
        environment: env.all.clone(),
        working_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        env_file_services: (!services.is_empty()).then(|| services.to_vec()),
        all_resources: global.all_resources,
        no_interpolate: false,
        swarm_objects: false,
    })
}

/// `--env-file`, or else the comma-separated `COMPOSE_ENV_FILES`, as Compose reads them.
fn env_files(global: &GlobalArgs, env: &EnvVars) -> Vec<PathBuf> {
    match global.env_file.is_empty() {
        false => global.env_file.clone(),
        true => env
            .all
            .get("COMPOSE_ENV_FILES")
            .map(|v| {
                v.split(',')
                    .filter(|f| !f.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Loads the compose project and its engine-level spec.
pub fn load_project(global: &GlobalArgs, env: &EnvVars) -> anyhow::Result<Loaded> {
    load_project_for(global, env, &[])
}

/// [`load_project`] for a command that names `services` (enabled whatever their profiles).
pub fn load_project_for(
    global: &GlobalArgs,
    env: &EnvVars,
    services: &[String],
) -> anyhow::Result<Loaded> {
    load_with(load_options_for(global, env, services)?, global)
}

fn load_with(opts: LoadOptions, global: &GlobalArgs) -> anyhow::Result<Loaded> {
    let compose = hoist_compose::load(&opts)?;
    for warning in &compose.warnings {
        eprintln!("warning: {warning}");
    }
    let mut spec = project_spec(&compose)?;
    spec.compatibility = global.compatibility;
    spec.env_files = global
        .env_file
        .iter()
        .map(|f| {
            std::path::absolute(f)
                .unwrap_or_else(|_| f.clone())
                .display()
                .to_string()
        })
        .collect();
    Ok(Loaded { compose, spec })
}

/// The project's engine-level spec for verbs that work on what already runs (`ps`, `down`,
/// `stop`, `start`, `restart`, `logs`, `rm`, `port`): from the compose file, or, when there is
/// none and a project name is given (`-p`, `COMPOSE_PROJECT_NAME`), rebuilt from the engine's
/// labels as Docker Compose v2 does. Without either, the loader's "no configuration file
/// provided" error stands.
pub fn load_spec(
    global: &GlobalArgs,
    env: &EnvVars,
    services: &[String],
) -> anyhow::Result<ProjectSpec> {
    // Verbs on what runs read no service's environment: a missing `env_file` is no error here.
    let opts = LoadOptions {
        env_file_services: Some(Vec::new()),
        ..load_options_for(global, env, services)?
    };
    let err = match load_with(opts, global) {
        Ok(loaded) => return Ok(loaded.spec),
        Err(err) => err,
    };
    let no_file = matches!(
        err.downcast_ref::<hoist_compose::ComposeError>(),
        Some(hoist_compose::ComposeError::NoConfigFile { .. })
    );
    let name = global
        .project_name
        .clone()
        .or_else(|| env.all.get("COMPOSE_PROJECT_NAME").cloned())
        .map(|n| hoist_compose::loader::normalize_name(&n))
        .filter(|n| !n.is_empty());
    let (true, Some(name)) = (no_file, name) else {
        return Err(err);
    };
    crate::commands::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let (networks, volumes) = tokio::try_join!(
            engine.project_networks(&name),
            engine.project_volumes(&name)
        )?;
        let observed = engine
            .observe_project(&name, &networks, &volumes, &[])
            .await?;
        Ok(hoist_core::from_labels::project_from_labels(
            &name, &observed,
        ))
    })
}

/// A `hoist.yml`, with the hosts the user trusts for plain TCP given to its targets (the file
/// cannot trust one itself).
pub fn pipeline_file(
    path: &std::path::Path,
    global: &GlobalArgs,
    env: &EnvVars,
) -> anyhow::Result<hoist_pipeline::config::PipelineFile> {
    Ok(hoist_pipeline::config::load(path)?.with_user_trust(&trusted_insecure_hosts(global, env)))
}

/// Connects to the engine the flags and environment name.
pub async fn connect(global: &GlobalArgs, env: &EnvVars) -> anyhow::Result<Engine> {
    let spec = engine_spec(global, env)?;
    Engine::connect(&spec)
        .await
        .with_context(|| format!("connecting to the Docker engine at {}", spec.host))
}

/// `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`), when it exists.
pub fn docker_config(env: &EnvVars) -> Option<std::sync::Arc<hoist_docker::auth::DockerConfig>> {
    let dir = env
        .all
        .get("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.home.as_ref().map(|h| PathBuf::from(h).join(".docker")))?;
    let path = dir.join("config.json");
    if !path.exists() {
        return None;
    }
    match hoist_docker::auth::DockerConfig::load(&path) {
        Ok(config) => Some(std::sync::Arc::new(config)),
        Err(e) => {
            eprintln!("warning: ignoring {}: {e}", path.display());
            None
        }
    }
}
