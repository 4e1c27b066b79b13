//! `hoist deploy`, `hoist rollback` and `hoist releases` against a target of several hosts
//! (`hosts:` in `hoist.yml`): one target-wide lock, the release host by host in batches
//! ([`hoist_pipeline::fleet`]), every host's state in one answer.

use std::process::ExitCode;

use futures_util::future::join_all;
use hoist_docker::Engine;
use hoist_docker::target_journal::JournalEntry;
use hoist_docker::target_lock::{Holder, LockKind};
use hoist_pipeline::bluegreen::{Outcome, ReleaseInfo, with_failures};
use hoist_pipeline::fleet::{self, FleetError, HostRelease, HostResult, Ticket};
use hoist_pipeline::release::{LocalRecord, ReleaseRunError, journal, rollback_fleet};

use super::release::{Located, begin, exec_options, options, print_releases, release};
use crate::cli::{DeployArgs, Progress, ReleaseArgs, ReleasesArgs, RollbackArgs};
use crate::context::{Loaded, load_project};
use crate::output::Printer;
use crate::settings::EnvVars;

/// Connects to every host at once; the first that cannot be reached is the error, by name.
pub(super) async fn connect_all(located: &Located) -> anyhow::Result<Vec<Engine>> {
    let connected = join_all(
        located
            .hosts
            .iter()
            .map(|(_, place)| Engine::connect(&place.engine)),
    )
    .await;
    located
        .hosts
        .iter()
        .zip(connected)
        .map(|((host, _), engine)| {
            engine.map_err(|e| anyhow::anyhow!("host {host} of the target: {e}"))
        })
        .collect()
}

/// The release of `service` on each host.
fn host_releases<'e>(
    engines: &'e [Engine],
    located: &Located,
    loaded: &Loaded,
    service: &str,
    args: &ReleaseArgs,
    env: &EnvVars,
) -> anyhow::Result<Vec<HostRelease<'e>>> {
    engines
        .iter()
        .zip(&located.hosts)
        .map(|(engine, (host, place))| {
            Ok(HostRelease {
                host: host.clone(),
                release: release(engine, loaded, service, args, env, place)?,
            })
        })
        .collect()
}

fn target_name(args: &ReleaseArgs) -> String {
    args.target.clone().unwrap_or_default()
}

/// What a deploy and a rollback across the hosts share: the project, the image of the lock
/// containers and records, the user's registry credentials, and who holds the lock.
struct Common {
    loaded: Loaded,
    lock_image: String,
    exec: hoist_docker::execute::ExecOptions,
    holder: Holder,
}

impl Common {
    fn new(
        located: &Located,
        env: &EnvVars,
        args: &ReleaseArgs,
        doing: &str,
    ) -> anyhow::Result<Common> {
        Ok(Common {
            loaded: load_project(&located.global, env)?,
            lock_image: located.place.lock_image(&options(args)),
            exec: exec_options(env),
            holder: Holder::me(LockKind::Run, doing),
        })
    }

    fn ticket<'a>(&'a self, service: &'a str, wait: bool) -> Ticket<'a> {
        Ticket {
            project: &self.loaded.spec.name,
            service,
            lock_image: &self.lock_image,
            holder: &self.holder,
            wait,
            exec: &self.exec,
            actor: None,
        }
    }
}

type Walked = (Vec<(String, HostResult)>, Result<Vec<Outcome>, FleetError>);

/// Prints every host's line, records the run's end, and turns a failed host into the error.
fn finish(
    recorded: hoist_pipeline::release::Recorded,
    result: anyhow::Result<Walked>,
    service: &str,
    done: &str,
) -> anyhow::Result<ExitCode> {
    let (results, outcome) = match result {
        Ok(walked) => walked,
        Err(e) => {
            recorded.finish(&Err(format!("{e:#}")));
            return Err(e);
        }
    };
    let lines = fleet::describe(&results, service);
    match outcome {
        Ok(_) => {
            recorded.finish(&Ok(lines.clone()));
            println!("{lines}");
            println!("{done}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            recorded.finish(&Err(format!("{e}\n{lines}")));
            eprintln!("{lines}");
            Err(anyhow::anyhow!("{e}"))
        }
    }
}

pub(super) fn deploy(
    located: Located,
    env: &EnvVars,
    args: &DeployArgs,
) -> anyhow::Result<ExitCode> {
    let target = target_name(&args.release);
    if args.strategy != "blue-green" {
        anyhow::bail!(
            "target {target} has {} hosts: its releases go blue-green, host by host \
             (--strategy {} is for a target of one host)",
            located.hosts.len(),
            args.strategy
        );
    }
    let mut common = Common::new(&located, env, &args.release, "deploy")?;
    let service_image = common
        .loaded
        .spec
        .service(&args.service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {}", args.service))?
        .image
        .clone();
    let image = super::release::resolve_image(&service_image, args.image.as_deref());
    common.holder = Holder::me(LockKind::Run, &format!("deploy of {image}"));
    let loaded = &common.loaded;
    let key = located.place.key(&loaded.spec.name, &args.service);
    let recorded = begin(env, &target, &key, args.release.wait_lock)?;
    let printer = Printer::new(Progress::Plain);
    let started = std::time::Instant::now();
    let mut entry = JournalEntry::begin("deploy", &target);
    let result = super::runtime()?.block_on(async {
        let engines = connect_all(&located).await?;
        let hosts = host_releases(
            &engines,
            &located,
            loaded,
            &args.service,
            &args.release,
            env,
        )?;
        let ticket = common.ticket(&args.service, args.release.wait_lock);
        let walked = fleet::deploy_locked(&hosts, located.batch, &image, &ticket, &printer).await;
        // The target's journal: what every machine's `hoist pipeline history --target` shows.
        let text = match &walked {
            Ok((results, Ok(_))) => Ok(fleet::describe(results, &args.service)),
            Ok((_, Err(e))) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        entry.finish(started.elapsed().as_secs_f64(), &text);
        let all: Vec<&Engine> = engines.iter().collect();
        journal(
            &all,
            &loaded.spec.name,
            &args.service,
            &entry,
            &common.lock_image,
        )
        .await;
        anyhow::Ok(walked?)
    });
    finish(
        recorded,
        result,
        &args.service,
        &format!(
            "{} is live with {image} on all {} hosts of {target}",
            args.service,
            located.hosts.len()
        ),
    )
}

pub(super) fn rollback(
    located: Located,
    env: &EnvVars,
    args: &RollbackArgs,
) -> anyhow::Result<ExitCode> {
    let target = target_name(&args.release);
    let doing = format!("rollback of {}", args.service);
    let common = Common::new(&located, env, &args.release, &doing)?;
    let loaded = &common.loaded;
    if loaded.spec.service(&args.service).is_none() {
        anyhow::bail!("no such service: {}", args.service);
    }
    let key = located.place.key(&loaded.spec.name, &args.service);
    let state = super::pipeline::state_dir(env)?;
    let printer = Printer::new(Progress::Plain);
    let result = super::runtime()?.block_on(async {
        let engines = connect_all(&located).await?;
        let hosts = host_releases(
            &engines,
            &located,
            loaded,
            &args.service,
            &args.release,
            env,
        )?;
        let ticket = common.ticket(&args.service, args.release.wait_lock);
        let local = LocalRecord {
            state_dir: &state,
            target: &target,
            key: &key,
        };
        anyhow::Ok(rollback_fleet(&hosts, located.batch, &ticket, &local, &printer).await)
    })?;
    match result {
        Ok(results) => {
            println!("{}", fleet::describe(&results, &args.service));
            println!(
                "{} is back on its previous release on all {} hosts of {target}",
                args.service,
                located.hosts.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ReleaseRunError::Fleet(e)) => {
            eprintln!("{}", fleet::describe(&e.results, &args.service));
            Err(anyhow::anyhow!("{e}"))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn releases(
    located: Located,
    env: &EnvVars,
    args: &ReleasesArgs,
) -> anyhow::Result<ExitCode> {
    let loaded = load_project(&located.global, env)?;
    let per_host: Vec<(String, Vec<ReleaseInfo>)> = super::runtime()?.block_on(async {
        let engines = connect_all(&located).await?;
        let hosts = host_releases(
            &engines,
            &located,
            &loaded,
            &args.service,
            &args.release,
            env,
        )?;
        let listed = join_all(hosts.iter().map(|h| async {
            let latest = hoist_pipeline::release::latest_records(
                h.release.engine,
                &loaded.spec.name,
                &args.service,
                Vec::new,
            )
            .await;
            let list = h
                .release
                .releases()
                .await
                .map_err(|e| anyhow::anyhow!("host {}: {e}", h.host))?;
            anyhow::Ok((h.host.clone(), with_failures(list, &latest)))
        }))
        .await;
        listed.into_iter().collect::<anyhow::Result<Vec<_>>>()
    })?;
    if args.json {
        let value: Vec<serde_json::Value> = per_host
            .iter()
            .flat_map(|(host, list)| {
                list.iter().map(move |r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    if let Some(map) = v.as_object_mut() {
                        map.insert("host".into(), host.clone().into());
                    }
                    v
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<(Option<&str>, &ReleaseInfo)> = per_host
        .iter()
        .flat_map(|(host, list)| list.iter().map(move |r| (Some(host.as_str()), r)))
        .collect();
    print_releases(&rows)?;
    Ok(ExitCode::SUCCESS)
}
