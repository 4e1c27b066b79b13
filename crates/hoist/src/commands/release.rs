//! `hoist deploy`, `hoist rollback` and `hoist releases`: zero-downtime blue-green releases of a
//! service behind the target's nginx proxy (`--strategy recreate` keeps Compose's behaviour).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hoist_core::bluegreen::ReleaseState;
use hoist_core::plan::UpOptions;
use hoist_docker::execute::ExecOptions;
use hoist_docker::{Address, Engine};
use hoist_docker::{EngineSpec, TlsFiles};
use hoist_pipeline::bluegreen::{HealthGate, HttpCheck, Release, ReleaseTest, with_failures};
use hoist_pipeline::config::{PipelineFile, Target, Work};
use hoist_pipeline::history::History;
use hoist_pipeline::lock::{self, DeployLock};
use hoist_pipeline::proxy::{Match, Proxy, ProxySpec};
use hoist_pipeline::steps::{StepId, StepStatus};

use crate::cli::{DeployArgs, GlobalArgs, Progress, ReleaseArgs, ReleasesArgs, RollbackArgs};
use crate::context::{Loaded, docker_config, load_project};
use crate::output::Printer;
use crate::settings::{EnvVars, engine_spec};

/// Where a release happens: from `--target` in `hoist.yml`, or from the global flags.
struct Place {
    global: GlobalArgs,
    engine: EngineSpec,
    /// The lock and history key: the target's name, or the engine's address.
    target: String,
    /// The lock and history key: `hoist.yml`'s service, or `project-service`.
    service_key: Option<String>,
    proxy: Option<ProxySpec>,
    upstream_host: Option<String>,
    route: Option<(Match, u16, Vec<String>)>,
}

fn place(global: &GlobalArgs, env: &EnvVars, args: &ReleaseArgs) -> anyhow::Result<Place> {
    let Some(name) = &args.target else {
        let engine = engine_spec(global, env);
        return Ok(Place {
            global: global.clone(),
            target: engine.host.clone(),
            engine,
            service_key: None,
            proxy: None,
            upstream_host: None,
            route: None,
        });
    };
    let file: PipelineFile = hoist_pipeline::config::load(&args.pipeline_file)?;
    let target: &Target = file.target(name).ok_or_else(|| {
        let names: Vec<&str> = file.targets.iter().map(|t| t.name.as_str()).collect();
        anyhow::anyhow!(
            "{}: no target {name} (targets: {})",
            args.pipeline_file.display(),
            names.join(", ")
        )
    })?;
    let mut global = global.clone();
    if global.file.is_empty() {
        global.file = file.deploy_files.clone();
    }
    if global.project_name.is_none() {
        global.project_name = file.project.clone();
    }
    let host = target
        .host
        .trim_start_matches("tcp://")
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_default();
    let engine = EngineSpec {
        host: target.host.clone(),
        tls: target.tls.as_deref().map(TlsFiles::in_dir),
        trusted_insecure_hosts: if target.trust_insecure {
            vec![host]
        } else {
            Vec::new()
        },
    };
    let route = match file.work(StepId::Integrate) {
        Some(Work::Integrate(i)) => {
            let matcher = match (&i.host, &i.path) {
                (Some(h), _) => Match::Host(h.clone()),
                (None, Some(p)) => Match::PathPrefix(p.clone()),
                (None, None) => Match::PathPrefix("/".into()),
            };
            Some((matcher, i.port, i.directives.clone()))
        }
        _ => None,
    };
    Ok(Place {
        global,
        engine,
        target: target.name.clone(),
        service_key: Some(file.service.clone()),
        proxy: Some(target.proxy.clone()),
        upstream_host: Some(target.upstream_host.clone()),
        route,
    })
}

/// The lock and history key of `service`: `hoist.yml`'s service with `--target` (so that the
/// pipeline and releases share one lock and one route), `project-service` otherwise.
fn key(place: &Place, loaded: &Loaded, service: &str) -> String {
    place
        .service_key
        .clone()
        .unwrap_or_else(|| format!("{}-{service}", loaded.spec.name))
}

/// Runs `work` under the deploy lock of the service on the target, as a history record whose
/// one step is the deploy (shown by `hoist pipeline history` and the dashboard): what deploy,
/// both strategies, and rollback share. `work` gets the history and the record's id, to
/// record the colour it releases; `describe` says what succeeded.
fn recorded<T>(
    env: &EnvVars,
    place: &Place,
    key: &str,
    wait: bool,
    work: impl FnOnce(&History, i64) -> anyhow::Result<T>,
    describe: impl FnOnce(&T) -> String,
) -> anyhow::Result<T> {
    let state = super::pipeline::state_dir(env);
    let mut held: DeployLock = lock::acquire(&state, &place.target, key, wait)?;
    let history = History::open(&state)?;
    let steps: Vec<(StepId, StepStatus)> = StepId::ALL
        .iter()
        .map(|s| {
            let status = if *s == StepId::Deploy {
                StepStatus::Pending
            } else {
                StepStatus::Skipped
            };
            (*s, status)
        })
        .collect();
    let run = history.start_run(key, &place.target, "", &steps)?;
    held.record_holder(run)?;
    history.step_started(run, StepId::Deploy)?;
    let started = std::time::Instant::now();
    let result = work(&history, run);
    let (status, detail) = match &result {
        Ok(value) => (StepStatus::Done, describe(value)),
        Err(e) => (StepStatus::Failed, format!("{e:#}")),
    };
    let seconds = Some(started.elapsed().as_secs_f64());
    let _ = history.append_output(run, StepId::Deploy, &format!("{detail}\n"));
    let _ = history.step_finished(run, StepId::Deploy, status, seconds, &detail);
    let _ = history.finish_run(run, if result.is_ok() { "done" } else { "failed" });
    drop(held);
    result
}

/// [`recorded`] with the service's [`Release`] on the target: `work` gets it, with the history
/// and the record's id.
fn released<T>(
    env: &EnvVars,
    place: &Place,
    loaded: &Loaded,
    service: &str,
    args: &ReleaseArgs,
    work: impl AsyncFnOnce(&Release<'_>, &History, i64) -> anyhow::Result<T>,
    describe: impl FnOnce(&T) -> String,
) -> anyhow::Result<T> {
    let key = key(place, loaded, service);
    let runtime = super::runtime()?;
    recorded(
        env,
        place,
        &key,
        args.wait_lock,
        |history, run| {
            runtime.block_on(async {
                let engine = Engine::connect(&place.engine).await?;
                let release = release(&engine, loaded, service, args, env, place)?;
                work(&release, history, run).await
            })
        },
        describe,
    )
}

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
    place: &Place,
) -> anyhow::Result<Release<'e>> {
    let spec = loaded
        .spec
        .service(service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {service}"))?;
    let container_port = match args.container_port.or(place.route.as_ref().map(|r| r.1)) {
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
    let host = match args.target_host.as_ref().or(place.upstream_host.as_ref()) {
        Some(h) => h.clone(),
        None => match engine.address() {
            Address::Tcp { host, .. } => host.clone(),
            Address::Unix(_) => "127.0.0.1".to_string(),
        },
    };
    let (matcher, directives) = match (&args.route_host, &args.route_path, &place.route) {
        (Some(name), _, _) => (Match::Host(name.clone()), Vec::new()),
        (None, Some(path), _) => (Match::PathPrefix(path.clone()), Vec::new()),
        (None, None, Some((m, _, d))) => (m.clone(), d.clone()),
        (None, None, None) => (Match::PathPrefix("/".into()), Vec::new()),
    };
    let proxy = match &place.proxy {
        Some(p) => p.clone(),
        None => {
            let mut p = ProxySpec::new(args.proxy_image.clone());
            p.port = args.proxy_port;
            p
        }
    };
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
        // With a hoist.yml target, the pipeline's integrate step and releases share one route.
        route: place
            .service_key
            .clone()
            .unwrap_or_else(|| format!("{}-{service}", loaded.spec.name)),
        matcher,
        directives,
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
    let place = place(global, env, &args.release)?;
    let global = &place.global;
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
            let key = key(&place, &loaded, &args.service);
            let runtime = super::runtime()?;
            recorded(
                env,
                &place,
                &key,
                args.release.wait_lock,
                |_, _| {
                    runtime.block_on(async {
                        let engine = Engine::connect(&place.engine).await?;
                        hoist_docker::orchestrate::up(
                            &engine,
                            &loaded.spec,
                            &opts,
                            None,
                            &exec,
                            &printer,
                        )
                        .await
                        .map_err(super::up::explain)
                    })
                },
                |_| format!("{image} recreated"),
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        other => anyhow::bail!("unknown --strategy {other:?}: expected blue-green or recreate"),
    }
    let outcome = released(
        env,
        &place,
        &loaded,
        &args.service,
        &args.release,
        async |release, history, run| {
            let (color, result) = release.deploy_color(&image, &printer).await;
            if let Some(color) = color {
                let status = if result.is_ok() { "done" } else { "failed" };
                let _ = history.record_release(run, color.as_str(), &image, status);
            }
            Ok(result?)
        },
        |o| format!("{} live on {} with {image}", args.service, o.live),
    )?;
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
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &RollbackArgs,
) -> anyhow::Result<ExitCode> {
    let place = place(global, env, &args.release)?;
    let loaded = load_project(&place.global, env)?;
    let printer = Printer::new(Progress::Plain);
    let key = key(&place, &loaded, &args.service);
    let outcome = released(
        env,
        &place,
        &loaded,
        &args.service,
        &args.release,
        async |release, history, _| {
            // After a failed deploy the stopped colour is the failed release (the one before
            // it was replaced): starting it again is no rollback.
            let latest = history.latest_releases(&key, &place.target)?;
            let list = with_failures(release.releases().await?, &latest);
            if let Some(failed) = list.iter().find(|r| r.state == ReleaseState::Failed) {
                anyhow::bail!(
                    "{} was not rolled back: the stopped colour {} holds {}, whose deploy \
                     failed; deploy a working image instead",
                    args.service,
                    failed.color,
                    failed.image
                );
            }
            Ok(release.rollback(&printer).await?)
        },
        |o| format!("{} rolled back to {}", args.service, o.live),
    )?;
    println!(
        "{} is back on {} ({} stopped)",
        args.service,
        outcome.live,
        outcome.previous.map(|c| c.to_string()).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn releases(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &ReleasesArgs,
) -> anyhow::Result<ExitCode> {
    let place = place(global, env, &args.release)?;
    let loaded = load_project(&place.global, env)?;
    let list = super::runtime()?.block_on(async {
        let engine = Engine::connect(&place.engine).await?;
        let release = release(&engine, &loaded, &args.service, &args.release, env, &place)?;
        anyhow::Ok(release.releases().await?)
    })?;
    // A colour whose last deploy failed reads `failed`: the engine only knows it stopped.
    let latest = match History::open(&super::pipeline::state_dir(env)) {
        Ok(history) => history
            .latest_releases(&key(&place, &loaded, &args.service), &place.target)
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let list = with_failures(list, &latest);
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
