//! `hoist scale SERVICE=N ...`: the legacy command (Compose 1.x, and the book's
//! `docker-compose scale app=2`): `up` with the replica counts overridden.

use std::process::ExitCode;

use hoist_core::plan::{UpOptions, without_unselected_dependencies};
use hoist_core::spec::ProjectSpec;
use hoist_docker::execute::ExecOptions;

use crate::cli::{GlobalArgs, Progress, ScaleArgs};
use crate::context::{connect, docker_config, load_project};
use crate::output::Printer;
use crate::settings::EnvVars;

/// `app=2` → (`app`, 2).
pub fn parse_scale(text: &str) -> anyhow::Result<(String, u32)> {
    let (service, n) = text
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("invalid scale {text:?}: expected SERVICE=NUM"))?;
    let n: u32 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid scale {text:?}: {n:?} is not a number"))?;
    Ok((service.to_string(), n))
}

/// Sets the replica counts `SERVICE=NUM` (`scale`, `up --scale`); returns the services named.
pub fn apply_scales(spec: &mut ProjectSpec, scales: &[String]) -> anyhow::Result<Vec<String>> {
    let mut services = Vec::new();
    for text in scales {
        let (service, n) = parse_scale(text)?;
        let spec = spec
            .services
            .iter_mut()
            .find(|s| s.name == service)
            .ok_or_else(|| anyhow::anyhow!("no such service: {service}"))?;
        if spec.container_name.is_some() && n > 1 {
            anyhow::bail!(
                "service {service} sets container_name, so it cannot run more than one container"
            );
        }
        spec.replicas = n;
        services.push(service);
    }
    Ok(services)
}

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = load_project(global, env)?;
    let services = apply_scales(&mut loaded.spec, &args.scales)?;
    if args.no_deps {
        // As Compose: new containers record no dependency on services left out.
        loaded.spec = without_unselected_dependencies(&loaded.spec, &services);
    }
    let opts = UpOptions {
        services,
        no_deps: args.no_deps,
        ..Default::default()
    };
    let exec = ExecOptions {
        docker_config: docker_config(env),
        ..Default::default()
    };
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        super::up::up(
            &engine,
            &loaded.spec,
            &opts,
            None,
            &exec,
            false,
            &Printer::new(Progress::Plain),
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_service_equals_count() {
        assert_eq!(parse_scale("app=2").unwrap(), ("app".to_string(), 2));
        assert!(parse_scale("app").is_err());
        assert!(parse_scale("app=two").is_err());
    }
}
