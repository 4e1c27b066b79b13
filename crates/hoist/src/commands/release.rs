//! `hoist deploy`, `hoist rollback` and `hoist releases`: zero-downtime blue-green releases of a
//! service behind the target's nginx proxy (`--strategy recreate` keeps Compose's behaviour).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hoist_core::plan::UpOptions;
use hoist_docker::execute::ExecOptions;
use hoist_docker::{Address, Engine};
use hoist_pipeline::bluegreen::{HealthGate, HttpCheck, Release, ReleaseTest};
use hoist_pipeline::proxy::{Match, Proxy, ProxySpec};

use crate::cli::{DeployArgs, GlobalArgs, Progress, ReleaseArgs, ReleasesArgs, RollbackArgs};
use crate::context::{Loaded, connect, docker_config, load_project};
use crate::output::Printer;
use crate::settings::EnvVars;

/// `--image v2` means the service's image with tag `v2`; anything with a `/` or `:` is a full
/// reference.
pub fn resolve_image(service_image: &str, given: Option<&str>) -> String {
    match given {
        None => service_image.to_string(),
        Some(full) if full.contains('/') || full.contains(':') || full.contains('@') => {
            full.to_string()
        }
        Some(tag) => {
            let repo = match service_image.rsplit_once(':') {
                // `host:5000/name` has a colon in the registry part, not a tag.
                Some((repo, t)) if !t.contains('/') => repo,
                _ => service_image,
            };
            format!("{repo}:{tag}")
        }
    }
}

fn release<'e>(
    engine: &'e Engine,
    loaded: &Loaded,
    service: &str,
    args: &ReleaseArgs,
    env: &EnvVars,
) -> anyhow::Result<Release<'e>> {
    let spec = loaded
        .spec
        .service(service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {service}"))?;
    let container_port = match args.container_port {
        Some(p) => p,
        None => spec
            .container
            .ports
            .first()
            .and_then(|p| p.container_port.split('/').next())
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "service {service} publishes no port for the proxy to reach: add `ports: \
                     - PORT` to it, or say which with --container-port"
                )
            })?,
    };
    if spec.container.ports.is_empty() {
        anyhow::bail!(
            "service {service} publishes no port: blue-green needs `ports: - {container_port}` \
             so that each colour gets a host port the proxy can reach"
        );
    }
    let host = match &args.target_host {
        Some(h) => h.clone(),
        None => match engine.address() {
            Address::Tcp { host, .. } => host.clone(),
            Address::Unix(_) => "127.0.0.1".to_string(),
        },
    };
    let matcher = match (&args.route_host, &args.route_path) {
        (Some(name), _) => Match::Host(name.clone()),
        (None, Some(path)) => Match::PathPrefix(path.clone()),
        (None, None) => Match::PathPrefix("/".into()),
    };
    let mut proxy = ProxySpec::new(args.proxy_image.clone());
    proxy.port = args.proxy_port;
    let test: Option<Arc<dyn ReleaseTest>> = args
        .test_path
        .clone()
        .or_else(|| args.health_path.clone())
        .map(|path| Arc::new(HttpCheck { path }) as Arc<dyn ReleaseTest>);
    Ok(Release {
        engine,
        project: loaded.spec.clone(),
        service: service.to_string(),
        container_port,
        host,
        proxy: Proxy::new(engine, proxy),
        route: format!("{}-{service}", loaded.spec.name),
        matcher,
        directives: Vec::new(),
        health: HealthGate {
            http_path: args.health_path.clone(),
            deadline: Duration::from_secs(args.health_timeout),
        },
        pre_test: test.clone(),
        post_test: test,
        drain: Duration::from_secs(args.drain),
        exec: ExecOptions {
            docker_config: docker_config(env),
            ..Default::default()
        },
        commit: None,
    })
}

pub fn deploy(global: &GlobalArgs, env: &EnvVars, args: &DeployArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = load_project(global, env)?;
    let service_image = loaded
        .spec
        .service(&args.service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {}", args.service))?
        .image
        .clone();
    let image = resolve_image(&service_image, args.image.as_deref());
    let printer = Printer::new(Progress::Plain);
    match args.strategy.as_str() {
        "blue-green" => {}
        "recreate" => {
            // Compose's behaviour: the old container stops before the new one starts.
            for s in loaded
                .spec
                .services
                .iter_mut()
                .filter(|s| s.name == args.service)
            {
                s.image = image.clone();
                s.container.image = image.clone();
            }
            let opts = UpOptions {
                services: vec![args.service.clone()],
                ..Default::default()
            };
            let exec = ExecOptions {
                docker_config: docker_config(env),
                ..Default::default()
            };
            super::runtime()?.block_on(async {
                let engine = connect(global, env).await?;
                hoist_docker::orchestrate::up(&engine, &loaded.spec, &opts, None, &exec, &printer)
                    .await
                    .map_err(super::up::explain)
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        other => anyhow::bail!("unknown --strategy {other:?}: expected blue-green or recreate"),
    }
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let release = release(&engine, &loaded, &args.service, &args.release, env)?;
        let outcome = release.deploy(&image, &printer).await?;
        println!(
            "{} is live on {} with {image}{}",
            args.service,
            outcome.live,
            outcome
                .previous
                .map(|p| format!(
                    " ({p} stopped, `hoist rollback {}` starts it again)",
                    args.service
                ))
                .unwrap_or_default()
        );
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &RollbackArgs,
) -> anyhow::Result<ExitCode> {
    let loaded = load_project(global, env)?;
    let printer = Printer::new(Progress::Plain);
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let release = release(&engine, &loaded, &args.service, &args.release, env)?;
        let outcome = release.rollback(&printer).await?;
        println!(
            "{} is back on {} ({} stopped)",
            args.service,
            outcome.live,
            outcome.previous.map(|c| c.to_string()).unwrap_or_default()
        );
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn releases(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &ReleasesArgs,
) -> anyhow::Result<ExitCode> {
    let loaded = load_project(global, env)?;
    let list = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let release = release(&engine, &loaded, &args.service, &args.release, env)?;
        anyhow::Ok(release.releases().await?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let now = super::ps::now_unix();
    let mut rows = vec![
        ["COLOR", "STATE", "IMAGE", "IMAGE ID", "COMMIT", "DEPLOYED"]
            .map(String::from)
            .to_vec(),
    ];
    for r in &list {
        rows.push(vec![
            r.color.to_string(),
            serde_json::to_value(r.state)?
                .as_str()
                .unwrap_or_default()
                .to_string(),
            r.image.clone(),
            r.image_id
                .trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect(),
            r.commit.clone().unwrap_or_default(),
            r.deployed
                .map(|d| format!("{} ago", super::ps::human_duration(now - d)))
                .unwrap_or_default(),
        ]);
    }
    print!(
        "{}",
        hoist_core::template::tabwrite(
            &rows
                .iter()
                .map(|r| r.join("\t"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    );
    println!();
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_tag_replaces_the_service_images_tag() {
        assert_eq!(
            resolve_image("10.200.0.1:5000/books-ms", Some("v2")),
            "10.200.0.1:5000/books-ms:v2"
        );
        assert_eq!(resolve_image("books-ms:v1", Some("v2")), "books-ms:v2");
        assert_eq!(
            resolve_image("books-ms", Some("reg:5000/other:3")),
            "reg:5000/other:3"
        );
        assert_eq!(resolve_image("books-ms:v1", None), "books-ms:v1");
    }
}
