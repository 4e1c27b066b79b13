//! `hoist run SERVICE [COMMAND...]`: a one-off container, as the book runs its tests
//! (`run --rm -e DOMAIN=... integ`). Dependencies are brought up first unless `--no-deps`; the
//! container's output streams to hoist's; its exit code becomes hoist's.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use hoist_core::spec::{MountSpec, PortBinding, ProjectSpec, PullPolicy};
use hoist_docker::Engine;
use hoist_docker::attach::stdin_chunks;
use hoist_docker::execute::ExecOptions;
use hoist_docker::logs::LogStream;
use hoist_docker::orchestrate::{RunRequest, create_oneoff};

use crate::cli::{GlobalArgs, Progress, RunArgs};
use crate::context::{connect, docker_config, load_project_for};
use crate::output::Printer;
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = load_project_for(global, env, std::slice::from_ref(&args.service))?;
    let working_dir = std::path::PathBuf::from(&loaded.spec.working_dir);
    apply_run_options(&mut loaded.spec, args, &working_dir)?;
    let pull: Option<PullPolicy> = args
        .pull
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let exec = ExecOptions {
        docker_config: docker_config(env),
        ..Default::default()
    };
    let request = RunRequest {
        service: args.service.clone(),
        command: args.command.clone(),
        env: resolve_env(&args.env, &loaded.compose.env),
        with_deps: !args.no_deps,
        // `-p` publishes what it names, in place of the service's ports.
        service_ports: args.service_ports || !args.publish.is_empty(),
        remove: args.rm,
        detach: args.detach,
        name: args.name.clone(),
        labels: Default::default(),
        interactive: args.interactive,
        use_aliases: args.use_aliases,
        pull,
        quiet_pull: args.quiet_pull,
    };
    let code = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let printer = Printer::new(Progress::Plain);
        let oneoff = create_oneoff(&engine, &loaded.spec, &request, &exec, &printer)
            .await
            .map_err(super::up::explain)?;
        if args.detach {
            engine.start_container(&oneoff.name).await?;
            // As Compose: the new container's id, for scripts.
            println!("{}", oneoff.id);
            return anyhow::Ok(0);
        }
        let code = attached(&engine, &oneoff.name, args.interactive).await?;
        if args.rm {
            engine.remove_container(&oneoff.name, true, true).await?;
        }
        anyhow::Ok(code)
    })?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Attaches to the one-off container (hoist's stdin feeding its stdin when `interactive`),
/// starts it, copies its output until it exits and returns its exit code.
async fn attached(engine: &Engine, name: &str, interactive: bool) -> anyhow::Result<i64> {
    let attachment = engine.attach(name, interactive).await?;
    engine.start_container(name).await?;
    let stdin = interactive.then(stdin_chunks);
    attachment
        .pump(stdin, |stream, bytes| {
            let _ = match stream {
                LogStream::Stdout => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(bytes).and_then(|()| out.flush())
                }
                LogStream::Stderr => std::io::stderr().lock().write_all(bytes),
            };
        })
        .await?;
    Ok(engine.wait_exit(name).await?)
}

/// The service as `run`'s flags change it for this one container, as Compose applies them
/// (`applyRunOptions`): entrypoint (split into words as a shell would), working directory,
/// user, labels, more volumes, the published ports (in place of the service's), capabilities.
/// Relative bind sources start from the project directory.
fn apply_run_options(
    spec: &mut ProjectSpec,
    args: &RunArgs,
    project_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let name = &args.service;
    let Some(service) = spec.services.iter_mut().find(|s| &s.name == name) else {
        anyhow::bail!("no such service: {name}");
    };
    let c = &mut service.container;
    if let Some(entrypoint) = &args.entrypoint {
        let words = shlex::split(entrypoint)
            .ok_or_else(|| anyhow::anyhow!("--entrypoint {entrypoint:?}: unbalanced quotes"))?;
        c.entrypoint = Some(words);
    }
    if let Some(dir) = &args.workdir {
        c.working_dir = Some(dir.clone());
    }
    if let Some(user) = &args.user {
        c.user = Some(user.clone());
    }
    for label in &args.label {
        let (key, value) = label.split_once('=').unwrap_or((label, ""));
        c.labels.insert(key.to_string(), value.to_string());
    }
    for volume in &args.volume {
        c.mounts.push(run_volume(volume, project_dir)?);
    }
    if !args.publish.is_empty() {
        c.ports.clear();
        for publish in &args.publish {
            c.ports.extend(run_ports(publish)?);
        }
        for port in &c.ports {
            if !c.exposed_ports.contains(&port.container_port) {
                c.exposed_ports.push(port.container_port.clone());
            }
        }
    }
    c.cap_add.extend(args.cap_add.iter().cloned());
    c.cap_drop.extend(args.cap_drop.iter().cloned());
    Ok(())
}

/// `-v SOURCE:TARGET[:ro]` (or an anonymous `-v TARGET`) as a mount.
fn run_volume(spec: &str, project_dir: &std::path::Path) -> anyhow::Result<MountSpec> {
    let long = hoist_compose::normalize::parse_short_volume(spec)
        .map_err(|e| anyhow::anyhow!("--volume {spec:?}: {e}"))?;
    let text = |key: &str| {
        long.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let kind = text("type");
    let mut source = text("source");
    if kind == "bind" && !source.starts_with('/') {
        source = hoist_compose::loader::clean(&project_dir.join(&source))
            .display()
            .to_string();
    }
    let read_only = long
        .get("read_only")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Ok(MountSpec {
        create_host_path: kind == "bind",
        kind,
        source,
        target: text("target"),
        read_only,
        bind_options: false,
    })
}

/// `-p [[IP:]HOST:]CONTAINER[/PROTO]` (ranges too) as port bindings.
fn run_ports(spec: &str) -> anyhow::Result<Vec<PortBinding>> {
    let long = hoist_compose::normalize::parse_port(spec)
        .map_err(|e| anyhow::anyhow!("--publish {spec:?}: {e}"))?;
    Ok(long
        .iter()
        .map(|p| {
            let text = |key: &str| match p.get(key) {
                Some(v) if v.as_str().is_some() => v.as_str().map(String::from),
                Some(v) if !v.is_null() => Some(v.to_string()),
                _ => None,
            };
            PortBinding {
                container_port: format!(
                    "{}/{}",
                    text("target").unwrap_or_default(),
                    text("protocol").unwrap_or_else(|| "tcp".into())
                ),
                host_ip: text("host_ip"),
                host_port: text("published"),
            }
        })
        .collect())
}

/// `-e KEY=VALUE` stays; `-e KEY` takes KEY's value from the environment interpolation saw (the
/// shell over `.env`/`--env-file`), and is left out when it has none, as Compose does (the
/// image's value then stands).
fn resolve_env(flags: &[String], env: &BTreeMap<String, String>) -> Vec<String> {
    flags
        .iter()
        .filter_map(|flag| match flag.contains('=') {
            true => Some(flag.clone()),
            false => env.get(flag).map(|v| format!("{flag}={v}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_volumes_and_ports_read_as_compose_reads_them() {
        let dir = std::path::Path::new("/srv/app");
        let bind = run_volume("./data:/data:ro", dir).unwrap();
        assert_eq!(
            (
                bind.kind.as_str(),
                bind.source.as_str(),
                bind.target.as_str()
            ),
            ("bind", "/srv/app/data", "/data")
        );
        assert!(bind.read_only && bind.create_host_path);
        let anonymous = run_volume("/cache", dir).unwrap();
        assert_eq!(
            (anonymous.kind.as_str(), anonymous.source.as_str()),
            ("volume", "")
        );
        let ports = run_ports("127.0.0.1:8080:80").unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].container_port, "80/tcp");
        assert_eq!(ports[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(ports[0].host_port.as_deref(), Some("8080"));
        assert_eq!(run_ports("9000-9001:90-91/udp").unwrap().len(), 2);
        let err = run_ports("not a port").unwrap_err().to_string();
        assert!(err.contains("--publish"), "{err}");
    }

    #[test]
    fn bare_names_take_the_project_environment_or_are_left_out() {
        let env = BTreeMap::from([("WHEREAMI".to_string(), "Env File".to_string())]);
        let flags = ["WHEREAMI", "UNSET", "A=b=c", "EMPTY="].map(String::from);
        assert_eq!(
            resolve_env(&flags, &env),
            ["WHEREAMI=Env File", "A=b=c", "EMPTY="]
        );
    }
}
