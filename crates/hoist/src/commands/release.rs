//! `hoist deploy`, `hoist rollback` and `hoist releases`: zero-downtime blue-green releases of a
//! service behind the target's nginx proxy (`--strategy recreate` keeps Compose's behaviour).

use std::process::ExitCode;
use std::time::Duration;

use hoist_core::plan::UpOptions;
use hoist_docker::Engine;
use hoist_docker::execute::ExecOptions;
use hoist_docker::target_journal::JournalEntry;
use hoist_docker::target_lock::{Holder, LockKind};
use hoist_pipeline::bluegreen::{Release, ReleaseInfo, with_failures};
use hoist_pipeline::config::{PipelineFile, Target};
use hoist_pipeline::history::History;
use hoist_pipeline::release::{Place, Recorded, ReleaseOptions, journal, lock_target};

use crate::cli::{
    DeployArgs, GlobalArgs, LockArgs, LockCommand, Progress, ReleaseArgs, ReleasesArgs,
    RollbackArgs,
};
use crate::context::{Loaded, docker_config, load_project};
use crate::output::Printer;
use crate::settings::{EnvVars, engine_spec};

/// Where a release happens (from `--target` in `hoist.yml`, or from the global flags), with the
/// global flags the target's compose files and project name filled in.
pub(super) struct Located {
    pub(super) global: GlobalArgs,
    pub(super) place: Place,
    /// Each host of the target with its place: one for a target of one host or an engine
    /// named by flags.
    pub(super) hosts: Vec<(String, Place)>,
    /// Hosts a release changes at once.
    pub(super) batch: usize,
    /// The target is a Docker Swarm (`swarm:`); its engine is a manager.
    pub(super) swarm: Option<hoist_pipeline::config::SwarmSettings>,
}

impl Located {
    /// Whether the target lists several hosts.
    pub(super) fn is_fleet(&self) -> bool {
        self.hosts.len() > 1
    }
}

pub(super) fn place(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &ReleaseArgs,
) -> anyhow::Result<Located> {
    let Some(name) = &args.target else {
        let mut place = Place::of_engine(engine_spec(global, env)?);
        if let (Some(_), Some(host)) = (&args.tls, &args.route_host) {
            let mut acme = hoist_pipeline::proxy::tls::AcmeSettings::default();
            if let Some(directory) = &args.acme_directory {
                acme.directory = directory.clone();
            }
            acme.ca = args.acme_ca.clone();
            place.https = Some(hoist_pipeline::proxy::tls::RouteTls {
                also_host: None,
                tls: Some((host.clone(), hoist_pipeline::proxy::tls::TlsWant::Acme)),
                acme,
            });
        }
        return Ok(Located {
            global: global.clone(),
            hosts: vec![(place.target.clone(), place.clone())],
            place,
            batch: 1,
            swarm: None,
        });
    };
    of_target(global, env, name, &args.pipeline_file)
}

/// The global flags, and with `--target` the target's hosts (`ps`, `logs`), the flags then
/// naming the target's compose files and project.
pub(super) fn on_target(
    global: &GlobalArgs,
    env: &EnvVars,
    on: &crate::cli::OnTarget,
) -> anyhow::Result<(GlobalArgs, Option<Located>)> {
    Ok(match &on.target {
        Some(name) => {
            let located = of_target(global, env, name, &on.pipeline_file)?;
            (located.global.clone(), Some(located))
        }
        None => (global.clone(), None),
    })
}

/// Target `name` of the pipeline file at `pipeline_file`: every host's place, and the global
/// flags with the file's compose files and project name filled in.
pub(super) fn of_target(
    global: &GlobalArgs,
    env: &EnvVars,
    name: &str,
    pipeline_file: &std::path::Path,
) -> anyhow::Result<Located> {
    let file: PipelineFile = crate::context::pipeline_file(pipeline_file, global, env)?;
    let target: &Target = file.target(name).ok_or_else(|| {
        let names: Vec<&str> = file.targets.iter().map(|t| t.name.as_str()).collect();
        anyhow::anyhow!(
            "{}: no target {name} (targets: {})",
            pipeline_file.display(),
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
    let hosts = target
        .members()
        .into_iter()
        .map(|member| (member.name.clone(), Place::of_host(&file, target, member)))
        .collect();
    Ok(Located {
        global,
        place: Place::of_target(&file, target),
        hosts,
        batch: target.batch,
        swarm: target.swarm.clone(),
    })
}

pub(super) fn options(args: &ReleaseArgs) -> ReleaseOptions {
    ReleaseOptions {
        target_host: args.target_host.clone(),
        route_path: args.route_path.clone(),
        route_host: args.route_host.clone(),
        proxy_image: args.proxy_image.clone(),
        proxy_name: args.proxy_name.clone(),
        proxy_port: args.proxy_port,
        container_port: args.container_port,
        health_path: args.health_path.clone(),
        health_timeout: Duration::from_secs(args.health_timeout),
        drain: Duration::from_secs(args.drain),
        test_path: args.test_path.clone(),
        actor: None,
    }
}

pub(super) fn exec_options(env: &EnvVars) -> ExecOptions {
    ExecOptions {
        docker_config: docker_config(env),
        ..Default::default()
    }
}

/// Takes the deploy lock of the service on the target and opens a history record of the
/// release (shown by `hoist pipeline history` and the dashboard).
pub(super) fn begin(
    env: &EnvVars,
    target: &str,
    key: &str,
    wait: bool,
) -> anyhow::Result<Recorded> {
    let state = super::pipeline::state_dir(env)?;
    Ok(Recorded::begin(&state, target, key, wait)?)
}

/// Removes the target's deploy lock; when that fails the lock ends with this process anyway (its
/// heartbeat stops).
async fn unlock(held: hoist_docker::target_lock::TargetLock, service: &str) {
    if let Err(e) = held.release().await {
        tracing::warn!("the deploy lock of {service} stays until its heartbeat ends: {e}");
    }
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

pub(super) fn release<'e>(
    engine: &'e Engine,
    loaded: &Loaded,
    service: &str,
    args: &ReleaseArgs,
    env: &EnvVars,
    place: &Place,
) -> anyhow::Result<Release<'e>> {
    Ok(hoist_pipeline::release::release(
        engine,
        &loaded.spec,
        service,
        place,
        &options(args),
        exec_options(env),
    )?)
}

/// With `--target`, the environment with the target's `env:` and resolved `secrets:` added, as
/// a pipeline run has it: the deploy files are read with it. A secret that cannot be resolved
/// fails here, before anything is connected to.
fn with_target_env(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &ReleaseArgs,
) -> anyhow::Result<EnvVars> {
    let Some(name) = &args.target else {
        return Ok(env.clone());
    };
    let file = crate::context::pipeline_file(&args.pipeline_file, global, env)?;
    let Some(target) = file.target(name) else {
        return Ok(env.clone());
    };
    let resolved = super::runtime()?.block_on(hoist_pipeline::target_env::resolve(
        &target.name,
        &target.environment,
        &file.dir,
        &env.all,
    ))?;
    // From here on, whatever text leaves this process (its error, the history, the journal)
    // is scrubbed of them.
    hoist_core::mask::declare_secret_values(&resolved.secret_values);
    let mut env = env.clone();
    env.all.extend(resolved.vars);
    Ok(env)
}

/// What a release on a `hoist.yml` target takes from the file: the target's secrets by name
/// (as `with_target_env` resolved them into `env`), its hooks and where they run.
struct TargetFile {
    secrets: Vec<(String, String)>,
    hooks: hoist_pipeline::config::Hooks,
    dir: std::path::PathBuf,
    target: String,
    hosts: String,
    service_key: String,
}

fn target_file(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &ReleaseArgs,
) -> anyhow::Result<Option<TargetFile>> {
    let Some(name) = &args.target else {
        return Ok(None);
    };
    let file = crate::context::pipeline_file(&args.pipeline_file, global, env)?;
    let Some(target) = file.target(name) else {
        return Ok(None);
    };
    Ok(Some(TargetFile {
        secrets: target
            .environment
            .secrets
            .iter()
            .filter_map(|s| env.all.get(&s.name).map(|v| (s.name.clone(), v.clone())))
            .collect(),
        hooks: file.hooks.clone(),
        dir: file.dir.clone(),
        target: target.name.clone(),
        hosts: target
            .members()
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
        service_key: file.service.clone(),
    }))
}

impl TargetFile {
    /// The `HOIST_*` variables of hooks for a release of `image` recorded as history run `run`.
    fn hook_vars(&self, run: i64, image: &str) -> Vec<(String, String)> {
        [
            ("HOIST_RELEASE", run.to_string()),
            ("HOIST_COMMIT", commit_of(image).to_string()),
            ("HOIST_TARGET", self.target.clone()),
            ("HOIST_HOSTS", self.hosts.clone()),
            ("HOIST_SERVICE", self.service_key.clone()),
            ("HOIST_IMAGE", image.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// The image's tag, which stands for the commit (`hoist deploy --image TAG`).
fn commit_of(image: &str) -> &str {
    image
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map_or("", |(_, tag)| tag)
}

/// Records the project as just deployed (`image` for the released service) as the next release
/// on the target; a failure to record is a warning, the release stands.
async fn record_project(
    engine: &Engine,
    spec: &hoist_core::spec::ProjectSpec,
    image: &str,
    status: &str,
    secrets: &[(String, String)],
    image_for_record: &str,
) {
    let commit = commit_of(image);
    match hoist_pipeline::project_release::record_next(
        engine,
        spec,
        None,
        commit,
        status,
        secrets,
        None,
        image_for_record,
    )
    .await
    {
        Ok(id) => eprintln!("recorded as release {id} of {}", spec.name),
        Err(e) => eprintln!("warning: the project's release was not recorded: {e}"),
    }
}

pub fn deploy(global: &GlobalArgs, env: &EnvVars, args: &DeployArgs) -> anyhow::Result<ExitCode> {
    let env = &with_target_env(global, env, &args.release)?;
    let located = place(global, env, &args.release)?;
    if located.swarm.is_some() {
        return super::swarm_release::deploy(located, env, args);
    }
    if located.is_fleet() {
        return super::fleet::deploy(located, env, args);
    }
    let Located { global, place, .. } = located;
    let mut loaded = load_project(&global, env)?;
    let service_image = loaded
        .spec
        .service(&args.service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {}", args.service))?
        .image
        .clone();
    let image = resolve_image(&service_image, args.image.as_deref());
    let printer = Printer::new(Progress::Plain);
    // A release on a hoist.yml target is recorded there as a release of the whole project.
    let on_file = target_file(&global, env, &args.release)?;
    let recording = on_file.as_ref().map(|f| f.secrets.clone());
    let key = place.key(&loaded.spec.name, &args.service);
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
            let exec = exec_options(env);
            let recorded = begin(env, &place.target, &key, args.release.wait_lock)?;
            let lock_image = place.lock_image(&options(&args.release));
            let result = super::runtime()?.block_on(async {
                let engine = Engine::connect(&place.engine).await?;
                let held = lock_target(
                    &engine,
                    &loaded.spec.name,
                    &args.service,
                    &lock_image,
                    &Holder::me(LockKind::Run, &format!("deploy of {image}")),
                    args.release.wait_lock,
                    &exec,
                )
                .await?;
                let started = std::time::Instant::now();
                let mut entry = JournalEntry::begin("deploy", &place.target);
                let result = hoist_docker::orchestrate::up(
                    &engine,
                    &loaded.spec,
                    &opts,
                    None,
                    &exec,
                    &printer,
                )
                .await
                .map_err(super::up::explain);
                let text = match &result {
                    Ok(_) => Ok(format!("{image} recreated")),
                    Err(e) => Err(format!("{e:#}")),
                };
                entry.finish(started.elapsed().as_secs_f64(), &text);
                journal(
                    &[&engine],
                    &loaded.spec.name,
                    &args.service,
                    &entry,
                    &lock_image,
                )
                .await;
                if let Some(secrets) = &recording {
                    let status = if result.is_ok() { "done" } else { "failed" };
                    record_project(&engine, &loaded.spec, &image, status, secrets, &lock_image)
                        .await;
                }
                unlock(held, &args.service).await;
                result
            });
            let text = result
                .as_ref()
                .map(|_| format!("{image} recreated"))
                .map_err(|e| format!("{e:#}"));
            recorded.finish(&text);
            result?;
            return Ok(ExitCode::SUCCESS);
        }
        other => anyhow::bail!("unknown --strategy {other:?}: expected blue-green or recreate"),
    }
    let recorded = begin(env, &place.target, &key, args.release.wait_lock)?;
    let lock_image = place.lock_image(&options(&args.release));
    let result = super::runtime()?.block_on(async {
        let engine = Engine::connect(&place.engine).await?;
        let release = release(&engine, &loaded, &args.service, &args.release, env, &place)?;
        // Decisions (which colour is live) are made by the release after this, inside the lock.
        let held = lock_target(
            &engine,
            &loaded.spec.name,
            &args.service,
            &lock_image,
            &Holder::me(LockKind::Run, &format!("deploy of {image}")),
            args.release.wait_lock,
            &exec_options(env),
        )
        .await?;
        let started = std::time::Instant::now();
        let mut entry = JournalEntry::begin("deploy", &place.target);
        let (color, result) = match on_file.as_ref() {
            Some(f) if f.hooks.named().iter().any(|(_, h)| h.is_some()) => {
                // Hooks around the release, inside the lock; their lines printed (masked) and
                // kept for the run's history.
                let mut spec = loaded.spec.clone();
                for s in spec.services.iter_mut().filter(|s| s.name == args.service) {
                    s.image = image.clone();
                    s.container.image = image.clone();
                }
                let place = hoist_pipeline::hooks::HookPlace {
                    engine: &engine,
                    spec: &spec,
                    service: &args.service,
                    dir: &f.dir,
                    target_vars: &env.all,
                    vars: f.hook_vars(recorded.run, &image),
                    exec: exec_options(env),
                };
                let lines = std::sync::Mutex::new(Vec::new());
                let out = |line: &str| {
                    let line = hoist_core::mask::scrub_declared(line).into_owned();
                    println!("{line}");
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                };
                let mut color = None;
                let result = hoist_pipeline::hooks::around(&f.hooks, &place, &out, || async {
                    let (c, r) = release.deploy_color(&image, &printer).await;
                    color = c;
                    r.map_err(|e| e.to_string())
                })
                .await;
                let lines = lines.into_inner().unwrap_or_else(|e| e.into_inner());
                if !lines.is_empty() {
                    let _ = recorded.history().append_output(
                        recorded.run,
                        hoist_pipeline::steps::StepId::Deploy,
                        &lines.join("\n"),
                    );
                }
                (color, result)
            }
            _ => {
                let (c, r) = release.deploy_color(&image, &printer).await;
                (c, r.map_err(|e| e.to_string()))
            }
        };
        let text = match &result {
            Ok(o) => Ok(format!("{} live on {} with {image}", args.service, o.live)),
            Err(e) => Err(e.to_string()),
        };
        entry.finish(started.elapsed().as_secs_f64(), &text);
        journal(
            &[&engine],
            &loaded.spec.name,
            &args.service,
            &entry,
            &lock_image,
        )
        .await;
        if let Some(color) = color {
            // `hoist releases` shows a colour whose last deploy failed as failed, from any
            // machine: the record is written on the target, under the lock.
            let status = if result.is_ok() { "done" } else { "failed" };
            if let Err(e) = engine
                .write_release_record(
                    &loaded.spec.name,
                    &args.service,
                    color.as_str(),
                    &image,
                    status,
                    &lock_image,
                )
                .await
            {
                tracing::warn!("the release record on the target was not written: {e}");
            }
            let _ = recorded
                .history()
                .record_release(recorded.run, color.as_str(), &image, status);
        }
        // HTTPS once the release serves: the route's added host name and its certificate.
        let result = match (result, &place.https) {
            (Ok(outcome), Some(want)) => {
                let proxy =
                    hoist_pipeline::proxy::Proxy::new(&engine, release.proxy.spec().clone());
                match hoist_pipeline::proxy::tls::apply_route_tls(
                    &[proxy],
                    &release.route,
                    want,
                    &printer,
                )
                .await
                {
                    Ok(done) => {
                        if let Some((host, ensured)) = done {
                            eprintln!("https://{host}: {ensured}");
                        }
                        Ok(outcome)
                    }
                    Err(e) => Err(anyhow::anyhow!(
                        "{} is live on {}, but its HTTPS failed: {e}",
                        args.service,
                        outcome.live
                    )),
                }
            }
            (result, _) => result.map_err(anyhow::Error::msg),
        };
        if let Some(secrets) = &recording {
            let mut spec = loaded.spec.clone();
            for s in spec.services.iter_mut().filter(|s| s.name == args.service) {
                s.image = image.clone();
                s.container.image = image.clone();
            }
            let status = if result.is_ok() { "done" } else { "failed" };
            record_project(&engine, &spec, &image, status, secrets, &lock_image).await;
        }
        unlock(held, &args.service).await;
        result
    });
    let text = match &result {
        Ok(o) => Ok(format!("{} live on {} with {image}", args.service, o.live)),
        Err(e) => Err(format!("{e:#}")),
    };
    recorded.finish(&text);
    let outcome = result?;
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
    if args.release.target.is_some()
        && (args.service.is_empty() || args.service.parse::<u64>().is_ok())
    {
        return super::project::rollback(global, env, args);
    }
    if args.service.is_empty() {
        anyhow::bail!(
            "name the service to roll back (or a target with --target: the whole project)"
        );
    }
    let located = place(global, env, &args.release)?;
    if located.swarm.is_some() {
        return super::swarm_release::rollback(located, env, args);
    }
    if located.is_fleet() {
        return super::fleet::rollback(located, env, args);
    }
    let Located { global, place, .. } = located;
    let loaded = load_project(&global, env)?;
    let printer = Printer::new(Progress::Plain);
    let state = super::pipeline::state_dir(env)?;
    let outcome = super::runtime()?.block_on(async {
        let engine = Engine::connect(&place.engine).await?;
        anyhow::Ok(
            hoist_pipeline::release::rollback(
                &engine,
                &loaded.spec,
                &args.service,
                &place,
                &options(&args.release),
                exec_options(env),
                &state,
                args.release.wait_lock,
                &printer,
            )
            .await?,
        )
    })?;
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
    if args.service.is_empty() {
        return super::project::releases(global, env, args);
    }
    let located = place(global, env, &args.release)?;
    if located.swarm.is_some() {
        return super::swarm_release::releases(located, env, args);
    }
    if located.is_fleet() {
        return super::fleet::releases(located, env, args);
    }
    let Located { global, place, .. } = located;
    let loaded = load_project(&global, env)?;
    // A colour whose last deploy failed reads `failed`: the engine's containers only say it
    // stopped, the target's release records say why (the local history before those).
    let key = place.key(&loaded.spec.name, &args.service);
    let state = super::pipeline::state_dir(env)?;
    let local = || match History::open(&state) {
        Ok(history) => history
            .latest_releases(&key, &place.target)
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let (list, latest) = super::runtime()?.block_on(async {
        let engine = Engine::connect(&place.engine).await?;
        let release = release(&engine, &loaded, &args.service, &args.release, env, &place)?;
        let latest = hoist_pipeline::release::latest_records(
            &engine,
            &loaded.spec.name,
            &args.service,
            local,
        )
        .await;
        anyhow::Ok((release.releases().await?, latest))
    })?;
    let list = with_failures(list, &latest);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<(Option<&str>, &ReleaseInfo)> = list.iter().map(|r| (None, r)).collect();
    print_releases(&rows)?;
    Ok(ExitCode::SUCCESS)
}

/// The releases table; with a HOST column first when the rows name their hosts.
pub(super) fn print_releases(list: &[(Option<&str>, &ReleaseInfo)]) -> anyhow::Result<()> {
    let now = super::ps::now_unix();
    let hosts = list.iter().any(|(h, _)| h.is_some());
    let mut header: Vec<String> = ["COLOR", "STATE", "IMAGE", "IMAGE ID", "COMMIT", "DEPLOYED"]
        .map(String::from)
        .to_vec();
    if hosts {
        header.insert(0, "HOST".into());
    }
    let mut rows = vec![header];
    for (host, r) in list {
        let mut row = vec![
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
        ];
        if hosts {
            row.insert(0, host.unwrap_or_default().to_string());
        }
        rows.push(row);
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
    Ok(())
}

/// `hoist lock status|acquire|release SERVICE`: the deploy lock on the target's engine.
pub fn lock(global: &GlobalArgs, env: &EnvVars, args: &LockArgs) -> anyhow::Result<ExitCode> {
    let (release, service) = match &args.command {
        LockCommand::Status { release, service }
        | LockCommand::Acquire {
            release, service, ..
        }
        | LockCommand::Release {
            release, service, ..
        } => (release, service),
    };
    let located = place(global, env, release)?;
    let loaded = load_project(&located.global, env)?;
    let project = loaded.spec.name.clone();
    if loaded.spec.service(service).is_none() {
        anyhow::bail!("no such service: {service} (project {project})");
    }
    let lock_image = located.place.lock_image(&options(release));
    super::runtime()?.block_on(async {
        let engines = super::fleet::connect_all(&located).await?;
        let mut on: Vec<(&Engine, &str)> = engines
            .iter()
            .zip(&located.hosts)
            .map(|(engine, (_, place))| (engine, place.target.as_str()))
            .collect();
        match &args.command {
            LockCommand::Status { .. } => {
                for (engine, engine_name) in on {
                    let observed = engine.target_lock(&project, service).await?;
                    println!("{}", lock_state(observed, service, &project, engine_name));
                }
                anyhow::Ok(ExitCode::SUCCESS)
            }
            LockCommand::Acquire { message, .. } => {
                // Every host's, in the order of their addresses (as deploys take them), or
                // none: a lock taken before one that fails is given back.
                on.sort_by_key(|(engine, _)| engine.address().to_string());
                let mut held = Vec::new();
                for (engine, engine_name) in &on {
                    match lock_target(
                        engine,
                        &project,
                        service,
                        &lock_image,
                        &Holder::me(LockKind::Manual, message),
                        release.wait_lock,
                        &exec_options(env),
                    )
                    .await
                    {
                        Ok(lock) => held.push(lock),
                        Err(e) => {
                            hoist_pipeline::fleet::unlock_all(held, service).await;
                            anyhow::bail!("on {engine_name}: {e}");
                        }
                    }
                }
                // Kept when this process ends: a maintenance lock has no heartbeat.
                drop(held);
                for (_, engine_name) in &on {
                    println!(
                        "{service} of {project} on {engine_name} is locked until `hoist lock release {service}`"
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            LockCommand::Release { force, .. } => {
                for (engine, engine_name) in on {
                    match engine.release_target_lock(&project, service, *force).await? {
                        None => println!("{service} of {project} on {engine_name}: not locked"),
                        Some(holder) => println!(
                            "released the lock of {service} of {project} on {engine_name} (held by {})",
                            holder.describe()
                        ),
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// What `hoist lock status` says of one engine's lock.
fn lock_state(
    observed: Option<hoist_docker::target_lock::Observed>,
    service: &str,
    project: &str,
    engine_name: &str,
) -> String {
    use hoist_docker::target_lock::{self as tl, Verdict};
    let Some(observed) = observed else {
        return format!("{service} of {project} on {engine_name}: not locked");
    };
    let state = match tl::judge(&observed) {
        Verdict::Held if observed.holder.kind == LockKind::Manual => {
            "held (maintenance window)".to_string()
        }
        Verdict::Held => "held (its holder is alive)".to_string(),
        Verdict::Dead => format!(
            "free to take over: its holder is gone (lock container {}{})",
            observed.status,
            observed
                .finished_at
                .as_deref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ),
    };
    format!(
        "{service} of {project} on {engine_name}: locked by {}\nstate: {state}\nrule: {}",
        observed.holder.describe(),
        tl::RULE
    )
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
