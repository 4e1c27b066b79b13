//! `hoist pull`, `push` and `build`: service images, on the engine hoist talks to, with registry
//! credentials from the Docker config file.

use std::process::ExitCode;

use futures_util::future::try_join_all;
use hoist_core::spec::ServiceSpec;

use crate::cli::{BuildArgs, GlobalArgs, PullArgs, ServicesArgs};
use crate::context::{Loaded, connect, docker_config, load_project};
use crate::settings::EnvVars;

fn selected<'a>(loaded: &'a Loaded, names: &[String]) -> anyhow::Result<Vec<&'a ServiceSpec>> {
    for n in names {
        if loaded.spec.service(n).is_none() {
            anyhow::bail!("no such service: {n}");
        }
    }
    Ok(loaded
        .spec
        .services
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
        .collect())
}

pub fn pull(global: &GlobalArgs, env: &EnvVars, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_project(global, env)?;
    let services = selected(&loaded, &args.services)?;
    let config = docker_config(env);
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let mut images: Vec<&str> = services
            .iter()
            .filter(|s| !(args.ignore_buildable && s.build.is_some()))
            .map(|s| s.image.as_str())
            .collect();
        images.dedup();
        let results = futures_util::future::join_all(images.iter().map(|image| {
            let engine = &engine;
            let config = config.clone();
            async move {
                if !args.quiet {
                    eprintln!(" Image {image}  Pulling");
                }
                let auth = match &config {
                    Some(c) => c.credentials_for_image(image)?,
                    None => None,
                };
                engine.pull(image, auth.as_ref(), |_| {}).await?;
                if !args.quiet {
                    eprintln!(" Image {image}  Pulled");
                }
                anyhow::Ok(())
            }
        }))
        .await;
        for (image, r) in images.iter().zip(results) {
            if let Err(e) = r {
                if args.ignore_pull_failures {
                    eprintln!("warning: pulling {image}: {e:#}");
                } else {
                    return Err(e);
                }
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn push(global: &GlobalArgs, env: &EnvVars, args: &ServicesArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_project(global, env)?;
    let services = selected(&loaded, &args.services)?;
    let config = docker_config(env);
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        // Compose pushes the images it can build; images used as they are stay where they are.
        let mut images: Vec<&str> = services
            .iter()
            .filter(|s| s.build.is_some() || !args.services.is_empty())
            .map(|s| s.image.as_str())
            .collect();
        images.dedup();
        try_join_all(images.iter().map(|image| {
            let engine = &engine;
            let config = config.clone();
            async move {
                eprintln!(" Image {image}  Pushing");
                let auth = match &config {
                    Some(c) => c.credentials_for_image(image)?,
                    None => None,
                };
                let pushed = engine.push(image, auth.as_ref(), |_| {}).await?;
                eprintln!(
                    " Image {image}  Pushed{}",
                    pushed.digest.map(|d| format!(" {d}")).unwrap_or_default()
                );
                anyhow::Ok(())
            }
        }))
        .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

pub fn build(global: &GlobalArgs, env: &EnvVars, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_project(global, env)?;
    let services: Vec<&ServiceSpec> = selected(&loaded, &args.services)?
        .into_iter()
        .filter(|s| s.build.is_some())
        .collect();
    let mut extra_args = std::collections::BTreeMap::new();
    for kv in &args.build_arg {
        match kv.split_once('=') {
            Some((k, v)) => extra_args.insert(k.to_string(), v.to_string()),
            None => match std::env::var(kv) {
                Ok(v) => extra_args.insert(kv.clone(), v),
                Err(_) => continue,
            },
        };
    }
    let config = docker_config(env);
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let auths = match &config {
            Some(c) => c.all_credentials().unwrap_or_default(),
            None => Vec::new(),
        };
        for service in services {
            let build = service.build.as_ref().expect("filtered on build");
            let mut build_args = build.args.clone();
            build_args.extend(extra_args.clone());
            let spec = hoist_docker::build::BuildSpec {
                context: build.context.clone().into(),
                dockerfile: Some(build.dockerfile.clone().into()),
                build_args,
                target: build.target.clone(),
                labels: build.labels.clone(),
                tags: vec![service.image.clone()],
                pull: args.pull,
                no_cache: args.no_cache,
            };
            if !args.quiet {
                eprintln!(" Service {}  Building", service.name);
            }
            let quiet = args.quiet;
            let built = engine
                .build(&spec, &auths, move |line| {
                    if !quiet {
                        eprintln!("{line}");
                    }
                })
                .await?;
            if !args.quiet {
                eprintln!(" Service {}  Built {}", service.name, built.image_id);
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
