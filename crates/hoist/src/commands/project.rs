//! Releases of a whole project on a `hoist.yml` target: `hoist releases --target T` lists them,
//! `hoist rollback --target T [RELEASE]` brings the project back to one, `hoist prune --target
//! T` removes what the releases it no longer keeps used. On a target of several hosts each host
//! holds the same records; a rollback goes host after host.

use std::process::ExitCode;

use hoist_docker::Engine;
use hoist_pipeline::config::{PipelineFile, Target};
use hoist_pipeline::project_release::{self as pr, ProjectRelease};

use crate::cli::{GlobalArgs, Progress, PruneArgs, ReleasesArgs, RollbackArgs};
use crate::output::Printer;
use crate::settings::EnvVars;

/// The file and its target `name`, with the target's environment resolved (secrets declared to
/// the masker) and the deploy project loaded as the files are now.
struct OnTarget {
    file: PipelineFile,
    target: Target,
    env: EnvVars,
}

fn on_target(
    global: &GlobalArgs,
    env: &EnvVars,
    name: &str,
    pipeline_file: &std::path::Path,
) -> anyhow::Result<OnTarget> {
    let file = crate::context::pipeline_file(pipeline_file, global, env)?;
    let target = file.target(name).cloned().ok_or_else(|| {
        let names: Vec<&str> = file.targets.iter().map(|t| t.name.as_str()).collect();
        anyhow::anyhow!(
            "{}: no target {name} (targets: {})",
            pipeline_file.display(),
            names.join(", ")
        )
    })?;
    if target.swarm.is_some() {
        anyhow::bail!(
            "target {name}: a Swarm keeps its services' previous specs, not releases of the \
             whole project: `hoist rollback SERVICE --target {name}`"
        );
    }
    let resolved = super::runtime()?.block_on(hoist_pipeline::target_env::resolve(
        &target.name,
        &target.environment,
        &file.dir,
        &env.all,
    ))?;
    hoist_core::mask::declare_secret_values(&resolved.secret_values);
    let mut env = env.clone();
    env.all.extend(resolved.vars);
    Ok(OnTarget { file, target, env })
}

impl OnTarget {
    /// The target's secrets by name, as they are now.
    fn secrets(&self) -> Vec<(String, String)> {
        self.target
            .environment
            .secrets
            .iter()
            .filter_map(|s| {
                self.env
                    .all
                    .get(&s.name)
                    .map(|v| (s.name.clone(), v.clone()))
            })
            .collect()
    }

    fn project(&self) -> anyhow::Result<hoist_core::spec::ProjectSpec> {
        Ok(hoist_pipeline::release::deploy_project(
            &self.file,
            self.env.all.clone(),
        )?)
    }
}

pub fn releases(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &ReleasesArgs,
) -> anyhow::Result<ExitCode> {
    let Some(name) = &args.release.target else {
        anyhow::bail!("name a service, or a target with --target for the project's releases");
    };
    let on = on_target(global, env, name, &args.release.pipeline_file)?;
    let project = on.project()?;
    // Every host of a target holds the same records: the first one's are listed.
    let list = super::runtime()?.block_on(async {
        let engine = Engine::connect(&on.target.members()[0].engine_spec()).await?;
        anyhow::Ok(pr::list(&engine, &project.name).await?)
    })?;
    let live = pr::live(&list).map(|r| r.id);
    let gone: Vec<u64> = pr::outside_keep(&list, on.target.keep)
        .iter()
        .map(|r| r.id)
        .collect();
    let status = |r: &ProjectRelease| -> String {
        if Some(r.id) == live {
            "live".into()
        } else if gone.contains(&r.id) {
            format!("{} (not kept)", r.status)
        } else {
            r.status.clone()
        }
    };
    if args.json || args.format.as_deref() == Some("json") {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .rev()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "commit": r.commit,
                    "images": r.images.iter().map(|(s, i)| (s.clone(), i.reference.clone())).collect::<std::collections::BTreeMap<_, _>>(),
                    "when": r.at,
                    "who": r.by,
                    "status": status(r),
                    "rollback_of": r.rollback_of,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![
        ["RELEASE", "COMMIT", "IMAGES", "WHEN", "WHO", "STATUS"]
            .map(String::from)
            .to_vec(),
    ];
    for r in list.iter().rev() {
        let images = r
            .images
            .iter()
            .map(|(s, i)| format!("{s}={}", i.reference.rsplit('/').next().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" ");
        let commit = match r.rollback_of {
            Some(of) => format!("{} (rollback to {of})", r.commit),
            None => r.commit.clone(),
        };
        table.push(vec![
            r.id.to_string(),
            commit,
            images,
            r.at.clone(),
            r.by.clone(),
            status(r),
        ]);
    }
    print!("{}", super::ps::columns(&table));
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &RollbackArgs,
) -> anyhow::Result<ExitCode> {
    let name = args
        .release
        .target
        .as_deref()
        .expect("called with --target");
    let on = on_target(global, env, name, &args.release.pipeline_file)?;
    let current = on.project()?;
    let wanted = (!args.service.is_empty())
        .then(|| args.service.parse::<u64>())
        .transpose()?;
    let printer = Printer::new(Progress::Plain);
    let opts = super::release::options(&args.release);
    let exec = super::release::exec_options(&on.env);
    // Host after host, in the target's order; the first failure stops there, naming the hosts
    // already back.
    let done = super::runtime()?.block_on(async {
        let mut done = Vec::new();
        for member in on.target.members() {
            let engine = Engine::connect(&member.engine_spec()).await?;
            let one = hoist_pipeline::release::rollback_project(
                &engine,
                &on.file,
                &on.target,
                member,
                wanted,
                args.include_stateful,
                &on.secrets(),
                &current,
                &opts,
                exec.clone(),
                &printer,
            )
            .await
            .map_err(|e| {
                let back: Vec<&str> = done.iter().map(|(h, _)| *h).collect();
                anyhow::anyhow!(
                    "rollback of {} on {}: {e}{}",
                    current.name,
                    member.name,
                    if back.is_empty() {
                        String::new()
                    } else {
                        format!(" (already back: {})", back.join(", "))
                    }
                )
            })?;
            done.push((member.name.as_str(), one));
        }
        anyhow::Ok(done)
    })?;
    for (host, done) in &done {
        report(&current.name, name, host, done, on.target.is_fleet());
    }
    Ok(ExitCode::SUCCESS)
}

/// What a rollback did on one host.
fn report(
    project: &str,
    target: &str,
    host: &str,
    done: &hoist_pipeline::release::ProjectRollback,
    fleet: bool,
) {
    let on = if fleet {
        format!("{target} (host {host})")
    } else {
        target.to_string()
    };
    for warning in &done.warnings {
        eprintln!("warning: {warning}");
    }
    if !done.kept_stateful.is_empty() {
        eprintln!(
            "kept as they are (stateful; --include-stateful rolls them back): {}",
            done.kept_stateful.join(", ")
        );
    }
    println!(
        "{project} on {on} is back to release {} (recorded as release {}){}",
        done.from,
        done.recorded,
        done.outcome
            .as_ref()
            .map(|o| format!("; the proxied service is live on {}", o.live))
            .unwrap_or_default()
    );
}

pub fn prune(global: &GlobalArgs, env: &EnvVars, args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let on = on_target(global, env, &args.target, &args.pipeline_file)?;
    let project = on.project()?;
    let fleet = on.target.is_fleet();
    let said = super::runtime()?.block_on(async {
        let mut said = Vec::new();
        for member in on.target.members() {
            let engine = Engine::connect(&member.engine_spec()).await?;
            let lines =
                hoist_pipeline::release::prune_project(&engine, &project.name, on.target.keep)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("prune of {} on {}: {e}", project.name, member.name)
                    })?;
            said.extend(lines.into_iter().map(|l| {
                if fleet {
                    format!("{}: {l}", member.name)
                } else {
                    l
                }
            }));
        }
        anyhow::Ok(said)
    })?;
    for line in said {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
