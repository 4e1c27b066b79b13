//! `hoist stack deploy|ps|services|rm|ls`: a compose project as a Docker Swarm stack, with the
//! docker CLI's flags and output, from any file hoist reads (legacy v1, `extends`, `.env`,
//! profiles, `include`). The objects carry docker's `com.docker.stack.namespace` label, so
//! `docker stack` and hoist see the same stacks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hoist_core::swarm::{self, PublishMode, ServiceAction, StackOptions};
use hoist_docker::Engine;
use hoist_docker::inventory::rfc3339_seconds;
use hoist_docker::swarm::{NodeRow, ServiceRow, TaskRow, capitalised};
use hoist_pipeline::swarm::{self as swarm_run, SwarmError};

use crate::cli::GlobalArgs;
use crate::context::{connect, docker_config, load_options};
use crate::settings::EnvVars;

#[derive(Debug, clap::Subcommand, Clone)]
pub enum StackCommand {
    /// Deploy a new stack or update an existing one.
    Deploy(DeployArgs),
    /// List the tasks of a stack.
    Ps(NameArgs),
    /// List the services of a stack.
    Services(NameArgs),
    /// Remove a stack: its services, networks, secrets and configs.
    Rm(NameArgs),
    /// List the stacks.
    Ls,
}

#[derive(Debug, clap::Args, Clone)]
pub struct DeployArgs {
    /// Compose file(s); default: the files `-f` or the project directory names.
    #[arg(short = 'c', long = "compose-file", value_name = "FILE")]
    pub compose_file: Vec<PathBuf>,
    /// Remove the stack's services the files no longer have.
    #[arg(long)]
    pub prune: bool,
    /// Send the registry credentials to the Swarm agents.
    #[arg(long = "with-registry-auth")]
    pub with_registry_auth: bool,
    /// Pin each image to its registry digest: always, changed, never.
    #[arg(long = "resolve-image", default_value = "always", value_parser = ["always", "changed", "never"])]
    pub resolve_image: String,
    /// Publish every port in this mode (host: on the node that runs the task, for clusters
    /// without the routing mesh); default: as the file says.
    #[arg(long = "publish-mode", value_parser = ["host", "ingress"])]
    pub publish_mode: Option<String>,
    /// Endpoint mode of services whose file does not say: vip or dnsrr.
    #[arg(long = "endpoint-mode", value_parser = ["vip", "dnsrr"])]
    pub endpoint_mode: Option<String>,
    /// Return at once (default), or `--detach=false` to wait until every task runs (and is
    /// healthy).
    #[arg(short = 'd', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub detach: bool,
    /// Run N replicas of SERVICE, whatever the file says (repeatable).
    #[arg(long, value_name = "SERVICE=N")]
    pub scale: Vec<String>,
    /// Seconds to wait with `--detach=false`.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Print only errors and warnings.
    #[arg(short, long)]
    pub quiet: bool,
    /// The stack's name.
    pub name: String,
}

#[derive(Debug, clap::Args, Clone)]
pub struct NameArgs {
    /// Only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// The stack's name.
    pub name: String,
}

pub fn run(global: &GlobalArgs, env: &EnvVars, cmd: &StackCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StackCommand::Deploy(args) => deploy(global, env, args),
        StackCommand::Ps(args) => ps(global, env, args),
        StackCommand::Services(args) => services(global, env, args),
        StackCommand::Rm(args) => rm(global, env, args),
        StackCommand::Ls => ls(global, env),
    }
}

/// The stack's name checked as docker checks it: it prefixes every object's name.
fn checked_name(name: &str) -> anyhow::Result<&str> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        anyhow::bail!(
            "invalid stack name {name:?}: lower-case letters, digits, `-` and `_`, starting \
             with a letter or digit"
        );
    }
    Ok(name)
}

/// Connects to the engine and checks it manages a Swarm.
async fn manager(global: &GlobalArgs, env: &EnvVars) -> anyhow::Result<Engine> {
    let engine = connect(global, env).await?;
    checked_manager(engine).await
}

/// The engine of a `hoist.yml` target, checked to manage a Swarm.
pub(super) async fn manager_at(spec: &hoist_docker::EngineSpec) -> anyhow::Result<Engine> {
    let engine = Engine::connect(spec)
        .await
        .with_context(|| format!("connecting to the Swarm manager at {}", spec.host))?;
    checked_manager(engine).await
}

async fn checked_manager(engine: Engine) -> anyhow::Result<Engine> {
    let role = engine.swarm_role().await?;
    if !role.manager {
        anyhow::bail!(
            "the engine at {} is not a Swarm manager (its swarm state: {}): point -H or \
             --context at a manager, or make one with `docker swarm init`",
            engine.address(),
            if role.state.is_empty() {
                "inactive"
            } else {
                &role.state
            }
        );
    }
    Ok(engine)
}

fn deploy(global: &GlobalArgs, env: &EnvVars, args: &DeployArgs) -> anyhow::Result<ExitCode> {
    let name = checked_name(&args.name)?.to_string();
    let mut opts = load_options(global, env)?;
    if !args.compose_file.is_empty() {
        opts.files = args.compose_file.clone();
    }
    opts.project_name = Some(name.clone());
    opts.swarm_objects = true;
    let compose = hoist_compose::load(&opts)?;
    for warning in &compose.warnings {
        eprintln!("warning: {warning}");
    }
    let spec = hoist_core::desired::project_spec(&compose)?;
    let options = StackOptions {
        publish: match args.publish_mode.as_deref() {
            Some("host") => PublishMode::Host,
            _ => PublishMode::AsWritten,
        },
        endpoint_mode: args.endpoint_mode.clone(),
        scale: scale_of(&args.scale)?,
    };
    let auth_for = registry_auth(env);
    let auth: swarm_run::Auth<'_> = &auth_for;
    super::runtime()?.block_on(async {
        let engine = manager(global, env).await?;
        let cluster = swarm_run::observe_cluster(&engine, &compose, &spec, auth).await?;
        let mut stack = swarm::stack(&compose, &spec, &cluster, &options)?;
        for note in &stack.notes {
            eprintln!("warning: {note}");
        }
        let say = |line: String| {
            if line.starts_with("warning: ") {
                eprintln!("{line}");
            } else if !args.quiet {
                println!("{line}");
            }
        };
        let pin = (args.resolve_image != "never").then_some(auth);
        let (secrets, configs) = swarm_run::prepare(&engine, &mut stack, pin, &say).await?;
        let running = engine.running_stack(&name).await?;
        let (actions, gone) = swarm::service_actions(&stack, &running, args.prune);
        for (service, action) in actions {
            let mut body = service.spec.clone();
            swarm::fill_object_ids(&mut body, &secrets, &configs);
            let registry_auth = match args.with_registry_auth {
                true => auth(&service.image)?,
                false => None,
            };
            let warnings = match action {
                ServiceAction::Create => {
                    say(format!("Creating service {}", service.name));
                    engine
                        .create_service(&body, registry_auth.as_ref())
                        .await?
                        .1
                }
                ServiceAction::Update { id, version } => {
                    say(format!("Updating service {} (id: {id})", service.name));
                    engine
                        .update_service(&id, version, &body, registry_auth.as_ref())
                        .await?
                }
            };
            for w in warnings {
                eprintln!("warning: service {}: {w}", service.name);
            }
        }
        for old in gone {
            say(format!("Removing service {}", old.name));
            engine.remove_service(&old.id).await?;
        }
        if !args.detach {
            swarm_run::converge(&engine, &name, Duration::from_secs(args.timeout), &say).await?;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Registry credentials for an image from the user's Docker config.
pub(super) fn registry_auth(
    env: &EnvVars,
) -> impl Fn(&str) -> Result<Option<hoist_docker::RegistryAuth>, SwarmError> + Sync + use<> {
    let config = docker_config(env);
    move |image: &str| match &config {
        Some(c) => c
            .credentials_for_image(image)
            .map_err(|e| SwarmError(e.to_string())),
        None => Ok(None),
    }
}

/// `--scale SERVICE=N` flags.
fn scale_of(flags: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    flags
        .iter()
        .map(|f| {
            let (service, n) = f
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--scale {f}: expected SERVICE=N"))?;
            let n = n
                .parse()
                .map_err(|_| anyhow::anyhow!("--scale {f}: {n:?} is not a number of replicas"))?;
            Ok((service.to_string(), n))
        })
        .collect()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The image as docker's listings show it: a tagged reference without the digest it was
/// pinned to; an untagged one as it is.
fn image_shown(image: &str) -> &str {
    match image.split_once('@') {
        Some((named, _))
            if named
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':')) =>
        {
            named
        }
        _ => image,
    }
}

/// A stack's services, their tasks and the cluster's nodes, as `ps` and `services` show them.
fn listing(
    global: &GlobalArgs,
    env: &EnvVars,
    name: &str,
) -> anyhow::Result<(Vec<ServiceRow>, Vec<TaskRow>, Vec<NodeRow>)> {
    super::runtime()?.block_on(async {
        let engine = manager(global, env).await?;
        let services = engine.stack_services(name).await?;
        let ids: Vec<String> = services.iter().map(|s| s.id.clone()).collect();
        let tasks = engine.service_tasks(&ids).await?;
        let nodes = engine.swarm_nodes().await?;
        anyhow::Ok((services, tasks, nodes))
    })
}

fn ps(global: &GlobalArgs, env: &EnvVars, args: &NameArgs) -> anyhow::Result<ExitCode> {
    let name = checked_name(&args.name)?;
    let (services, tasks, nodes) = listing(global, env, name)?;
    if services.is_empty() {
        anyhow::bail!("nothing found in stack: {name}");
    }
    for line in ps_lines(&services, tasks, &nodes, args.quiet, now_secs()) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `docker stack ps`'s table: each slot's current task, then its earlier ones (`\_ `).
fn ps_lines(
    services: &[ServiceRow],
    mut tasks: Vec<TaskRow>,
    nodes: &[NodeRow],
    quiet: bool,
    now: i64,
) -> Vec<String> {
    let service_name = |id: &str| {
        services
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    // By service, slot (or node, for global services), newest first.
    tasks.sort_by(|a, b| {
        (service_name(&a.service_id), a.slot, &a.node_id)
            .cmp(&(service_name(&b.service_id), b.slot, &b.node_id))
            .then_with(|| b.since.cmp(&a.since))
    });
    if quiet {
        return tasks.iter().map(|t| t.id.clone()).collect();
    }
    let mut rows = Vec::new();
    let mut previous: Option<(String, Option<i64>, String)> = None;
    for t in &tasks {
        let service = service_name(&t.service_id);
        let key = (
            service.clone(),
            t.slot,
            if t.slot.is_some() {
                String::new()
            } else {
                t.node_id.clone()
            },
        );
        let task_name = match t.slot {
            Some(slot) => format!("{service}.{slot}"),
            None => format!("{service}.{}", t.node_id),
        };
        let shown = match previous.as_ref() == Some(&key) {
            true => format!(" \\_ {task_name}"),
            false => task_name,
        };
        previous = Some(key);
        let node = nodes
            .iter()
            .find(|n| n.id == t.node_id)
            .map(|n| n.hostname.clone())
            .unwrap_or_default();
        rows.push([
            short(&t.id).to_string(),
            shown,
            image_shown(&t.image).to_string(),
            node,
            capitalised(&t.desired),
            format!("{} {}", capitalised(&t.state), ago(&t.since, now)),
            match t.error.is_empty() {
                true => String::new(),
                false => format!("\"{}\"", t.error),
            },
            t.ports.join(","),
        ]);
    }
    table(
        &[
            "ID",
            "NAME",
            "IMAGE",
            "NODE",
            "DESIRED STATE",
            "CURRENT STATE",
            "ERROR",
            "PORTS",
        ],
        &rows,
    )
}

/// `5 seconds ago`, as docker prints a task's state time.
fn ago(rfc3339: &str, now: i64) -> String {
    let Some(then) = rfc3339_seconds(rfc3339) else {
        return String::new();
    };
    let secs = (now - then).max(0);
    let text = match secs {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".to_string(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".to_string(),
        s if s < 172_800 => format!("{} hours", s / 3600),
        s => format!("{} days", s / 86_400),
    };
    format!("{text} ago")
}

/// Columns padded as docker's tabwriter pads them (three spaces between columns).
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out
}

fn services(global: &GlobalArgs, env: &EnvVars, args: &NameArgs) -> anyhow::Result<ExitCode> {
    let name = checked_name(&args.name)?;
    let (services, tasks, nodes) = listing(global, env, name)?;
    if services.is_empty() {
        eprintln!("Nothing found in stack: {name}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.quiet {
        for s in &services {
            println!("{}", s.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let ready = nodes.iter().filter(|n| n.status == "ready").count() as u64;
    let rows: Vec<[String; 6]> = services
        .iter()
        .map(|s| {
            let (running, want) = swarm_run::replicas(s, &tasks, ready);
            [
                short(&s.id).to_string(),
                s.name.clone(),
                s.mode.clone(),
                format!("{running}/{want}"),
                image_shown(&s.image).to_string(),
                s.ports.join(","),
            ]
        })
        .collect();
    for line in table(&["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], &rows) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

fn rm(global: &GlobalArgs, env: &EnvVars, args: &NameArgs) -> anyhow::Result<ExitCode> {
    let name = checked_name(&args.name)?;
    super::runtime()?.block_on(async {
        let engine = manager(global, env).await?;
        let services = engine.stack_services(name).await?;
        let secrets = engine.swarm_objects(true, name).await?;
        let configs = engine.swarm_objects(false, name).await?;
        let networks = engine.stack_networks(name).await?;
        if services.is_empty()
            && networks.is_empty()
            && !secrets.iter().chain(&configs).any(|o| o.in_stack)
        {
            eprintln!("Nothing found in stack: {name}");
            return anyhow::Ok(());
        }
        for s in &services {
            println!("Removing service {}", s.name);
            engine.remove_service(&s.id).await?;
        }
        for (secret, list) in [(true, &secrets), (false, &configs)] {
            for o in list.iter().filter(|o| o.in_stack) {
                println!(
                    "Removing {} {}",
                    if secret { "secret" } else { "config" },
                    o.name
                );
                engine.remove_swarm_object(secret, &o.id).await?;
            }
        }
        for n in &networks {
            // A Swarm target's proxy joined this network to reach the services; they are gone.
            let label = hoist_pipeline::proxy::PROXY_LABEL;
            for proxy in engine.labelled_containers_on(n, label).await? {
                println!("Disconnecting proxy {proxy} from network {n}");
                engine.disconnect_network(n, &proxy).await?;
            }
            println!("Removing network {n}");
            remove_network_when_free(&engine, n).await?;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A network is in use until the removed services' tasks are gone; Swarm takes a moment.
async fn remove_network_when_free(engine: &Engine, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match engine.remove_network(name).await {
            Ok(()) => return Ok(()),
            Err(e) if e.to_string().contains("in use") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn ls(global: &GlobalArgs, env: &EnvVars) -> anyhow::Result<ExitCode> {
    let stacks = super::runtime()?.block_on(async {
        let engine = manager(global, env).await?;
        anyhow::Ok(engine.stacks().await?)
    })?;
    let rows: Vec<[String; 3]> = stacks
        .iter()
        .map(|(name, n)| [name.clone(), n.to_string(), "Swarm".to_string()])
        .collect();
    for line in table(&["NAME", "SERVICES", "ORCHESTRATOR"], &rows) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(id: &str, name: &str) -> ServiceRow {
        ServiceRow {
            id: id.into(),
            name: name.into(),
            version: 1,
            mode: "replicated".into(),
            replicas: Some(2),
            image: "reg/app:1@sha256:abc".into(),
            ports: vec![],
            update: None,
        }
    }

    fn task(id: &str, slot: i64, state: &str, since: &str) -> TaskRow {
        TaskRow {
            id: id.into(),
            service_id: "s1".into(),
            slot: Some(slot),
            node_id: "n1".into(),
            image: "reg/app:1@sha256:abc".into(),
            desired: if state == "running" {
                "running"
            } else {
                "shutdown"
            }
            .into(),
            state: state.into(),
            since: since.into(),
            error: String::new(),
            ports: vec!["*:30001->8080/tcp".into()],
            container: None,
        }
    }

    #[test]
    fn ps_shows_each_slot_then_its_earlier_tasks_as_docker_does() {
        let nodes = vec![NodeRow {
            id: "n1".into(),
            hostname: "swarm1".into(),
            status: "ready".into(),
            availability: "active".into(),
            role: "manager".into(),
            manager_status: "Leader".into(),
            addr: "10.200.0.11".into(),
            engine_version: "20.10".into(),
        }];
        let now = rfc3339_seconds("2026-12-07T03:00:10Z").unwrap();
        let tasks = vec![
            task("old111111111111", 1, "shutdown", "2026-12-07T02:58:00.5Z"),
            task("new222222222222", 1, "running", "2026-12-07T03:00:05.1Z"),
            task("two333333333333", 2, "running", "2026-12-07T03:00:09.9Z"),
        ];
        let lines = ps_lines(&[service("s1", "books_app")], tasks, &nodes, false, now);
        assert_eq!(lines[0].split_whitespace().next(), Some("ID"));
        assert!(
            lines[1].starts_with("new222222222   books_app.1       reg/app:1   swarm1   Running"),
            "{lines:#?}"
        );
        assert!(lines[1].contains("Running 5 seconds ago"), "{lines:#?}");
        assert!(lines[2].contains(" \\_ books_app.1"), "{lines:#?}");
        assert!(lines[2].contains("Shutdown 2 minutes ago"), "{lines:#?}");
        assert!(lines[3].contains("books_app.2") && lines[3].contains("*:30001->8080/tcp"));
    }

    #[test]
    fn stack_names_that_could_not_prefix_an_object_are_refused() {
        assert!(checked_name("books-ms").is_ok());
        for bad in ["", "Books", "a/b", "-x", "a b", "a.b"] {
            assert!(checked_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn task_times_read_as_docker_prints_them() {
        let t = rfc3339_seconds("1970-01-02T00:00:01.999999Z").unwrap();
        assert_eq!(t, 86_401);
        assert_eq!(
            ago("1970-01-02T00:00:01Z", 86_401 + 75),
            "About a minute ago"
        );
        assert_eq!(ago("garbage", 0), "");
    }
}
