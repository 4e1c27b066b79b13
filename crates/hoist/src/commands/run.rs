//! `hoist run SERVICE [COMMAND...]`: a one-off container, as the book runs its tests
//! (`run --rm -e DOMAIN=... integ`). Dependencies are brought up first unless `--no-deps`; the
//! container's output streams to hoist's; its exit code becomes hoist's.

use std::io::Write;
use std::process::ExitCode;

use futures_util::StreamExt;
use hoist_core::plan::{UpOptions, plan_images, select_services};
use hoist_docker::execute::{ExecOptions, execute};
use hoist_docker::logs::{LogOptions, LogStream};
use hoist_docker::project::CreateRequest;

use crate::cli::{GlobalArgs, Progress, RunArgs};
use crate::context::{connect, docker_config, load_project};
use crate::output::Printer;
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_project(global, env)?;
    let spec = &loaded.spec;
    let service = spec
        .service(&args.service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {}", args.service))?;
    let exec = ExecOptions {
        docker_config: docker_config(env),
        ..Default::default()
    };
    let printer = Printer::new(Progress::Plain);
    let code = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        if !args.no_deps {
            let deps: Vec<String> =
                select_services(spec, std::slice::from_ref(&service.name), false)?
                    .into_iter()
                    .filter(|s| s.name != service.name)
                    .map(|s| s.name.clone())
                    .collect();
            if !deps.is_empty() {
                let opts = UpOptions {
                    services: deps,
                    ..Default::default()
                };
                super::up::up(&engine, spec, &opts, None, &exec, false, &printer).await?;
            }
        }
        let observed = engine
            .observe_project(&spec.name, &[], &[], std::slice::from_ref(&service.image))
            .await?;
        let images = plan_images(spec, &observed, &[service], None)?;
        execute(&engine, spec, &images, &exec, &printer)
            .await
            .map_err(|e| super::up::failed(e, "run"))?;
        // Networks the service needs may not exist yet when its dependencies were not brought up.
        let networks: Vec<String> = spec.networks.iter().map(|n| n.name.clone()).collect();
        let observed = engine
            .observe_project(&spec.name, &networks, &[], &[])
            .await?;
        for attachment in &service.networks {
            if observed.network(&attachment.network).is_none() {
                engine
                    .create_project_network(spec, &attachment.network)
                    .await?;
            }
        }

        let suffix = uuid_suffix();
        let name = args
            .name
            .clone()
            .unwrap_or_else(|| spec.oneoff_name(&service.name, &suffix));
        let request = CreateRequest {
            name: name.clone(),
            number: 1,
            oneoff: true,
            command: (!args.command.is_empty()).then(|| args.command.clone()),
            extra_env: args.env.clone(),
            no_ports: !args.service_ports,
            // Output is streamed, not attached: keep stdout and stderr apart.
            tty: Some(false),
            stdin_open: Some(false),
            network_mode: None,
            labels: Default::default(),
        };
        engine
            .create_service_container(spec, service, &request)
            .await?;
        engine.start_container(&name).await?;
        if args.detach {
            println!("{name}");
            return anyhow::Ok(0);
        }
        let mut lines = engine
            .logs(
                &name,
                LogOptions {
                    follow: true,
                    tail: None,
                    timestamps: false,
                },
            )
            .await?;
        while let Some(line) = lines.next().await {
            let line = line?;
            let text = format!("{}\n", line.text);
            match line.stream {
                LogStream::Stdout => std::io::stdout().lock().write_all(text.as_bytes())?,
                LogStream::Stderr => std::io::stderr().lock().write_all(text.as_bytes())?,
            }
        }
        let code = engine.wait_exit(&name).await?;
        if args.rm {
            engine.remove_container(&name, true, true).await?;
        }
        anyhow::Ok(code)
    })?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Twelve hex characters, as Compose suffixes one-off containers.
fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = nanos ^ ((std::process::id() as u128) << 64);
    format!("{:012x}", (mixed ^ (mixed >> 48)) & 0xffff_ffff_ffff)
}
