//! `hoist attach SERVICE`: hoist's terminal joined to a running service container's main
//! process, as `docker compose attach` does: its output streamed here, hoist's stdin to it
//! (unless `--no-stdin`), Ctrl+C and SIGTERM passed on to it (`--sig-proxy`, the default),
//! `--detach-keys` leaving it running. Ends with the container's exit code when it exits.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use hoist_docker::attach::stdin_chunks;
use hoist_docker::logs::LogStream;

use crate::cli::{AttachArgs, GlobalArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &AttachArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(global, env, std::slice::from_ref(&args.service))?;
    let code = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
        let container = observed
            .service_containers(&args.service)
            .find(|c| c.number == args.index && c.state.is_running())
            .ok_or_else(|| super::exec::not_running(&args.service, args.index))?
            .name
            .clone();
        let tty = engine
            .inspect_container_json(&container)
            .await?
            .pointer("/Config/Tty")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        let attachment = engine
            .attach_with(&container, !args.no_stdin, Some(&args.detach_keys))
            .await?;
        let _raw = match tty && !args.no_stdin && std::io::stdin().is_terminal() {
            true => crate::terminal::RawMode::enable()?,
            false => None,
        };
        let proxy = args.sig_proxy.then(|| {
            let (engine, container) = (engine.clone(), container.clone());
            tokio::spawn(async move { forward_signals(&engine, &container).await })
        });
        let stdin = (!args.no_stdin).then(stdin_chunks);
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        let pumped = attachment
            .pump(stdin, |stream, bytes| {
                let _ = match stream {
                    LogStream::Stdout => stdout.write_all(bytes).and_then(|()| stdout.flush()),
                    LogStream::Stderr => stderr.write_all(bytes).and_then(|()| stderr.flush()),
                };
            })
            .await;
        if let Some(task) = proxy {
            task.abort();
        }
        pumped?;
        // Detached (the detach keys): the container runs on, and so does nothing here.
        let inspect = engine.inspect_container_json(&container).await?;
        if inspect
            .pointer("/State/Running")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            return anyhow::Ok(0);
        }
        anyhow::Ok(engine.wait_exit(&container).await?)
    })?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Passes SIGINT and SIGTERM that reach hoist on to the container's main process.
async fn forward_signals(engine: &hoist_docker::Engine, container: &str) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        if let Err(e) = engine.signal(container, name).await {
            tracing::warn!("passing {name} on to {container}: {e}");
        }
    }
}
