//! `hoist exec SERVICE COMMAND...`: a command in a running container of a service, as
//! `docker compose exec` runs it: with a pseudo-terminal when hoist's output is a terminal
//! (`-T` turns it off), hoist's stdin fed to it, its output streamed, its exit code hoist's.
//! Works on every engine hoist reaches (local, TCP, TLS, ssh://). A service released blue-green
//! is reached in its live colour.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use hoist_core::observed::ObservedContainer;
use hoist_docker::Engine;
use hoist_docker::attach::stdin_chunks;
use hoist_docker::exec::{ExecCommand, ExecRequest};
use hoist_docker::logs::LogStream;

use crate::cli::{ExecArgs, GlobalArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(global, env, std::slice::from_ref(&args.service))?;
    // As Compose: a TTY unless `-T`, or when hoist's output is not a terminal.
    let tty = !args.no_tty && std::io::stdout().is_terminal();
    let request = ExecRequest {
        command: ExecCommand {
            argv: args.command.clone(),
            env: resolve_env(&args.env, &env.all),
            user: args.user.clone(),
            working_dir: args.workdir.clone(),
        },
        privileged: args.privileged,
        tty,
        stdin: args.interactive,
    };
    let code = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
        let container = pick(&observed.containers, &args.service, args.index)
            .ok_or_else(|| not_running(&args.service, args.index))?
            .name
            .clone();
        if args.detach {
            engine.exec_detached(&container, &request).await?;
            return anyhow::Ok(0);
        }
        attached(&engine, &container, &request).await
    })?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Compose's words for a service without a running container at `index`.
pub(super) fn not_running(service: &str, index: u32) -> anyhow::Error {
    match index {
        1 => anyhow::anyhow!("service {service:?} is not running"),
        n => anyhow::anyhow!("service {service:?} is not running container #{n}"),
    }
}

/// The running container number `index` of `service`. A service released blue-green has one
/// per colour: while a release runs both, the older one serves until the switch, so it is the
/// one taken.
fn pick<'a>(
    containers: &'a [ObservedContainer],
    service: &str,
    index: u32,
) -> Option<&'a ObservedContainer> {
    containers
        .iter()
        .filter(|c| c.service == service && !c.oneoff && c.number == index)
        .filter(|c| c.state.is_running())
        .min_by_key(|c| c.created)
}

/// `-e KEY=VAL` as given; `-e KEY` takes KEY's value from hoist's environment, and is passed
/// bare (the variable unset in the command) when hoist has none, as Compose does.
fn resolve_env(flags: &[String], env: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    flags
        .iter()
        .map(|flag| match (flag.contains('='), env.get(flag)) {
            (false, Some(value)) => format!("{flag}={value}"),
            _ => flag.clone(),
        })
        .collect()
}

/// Runs the command attached: raw mode and the window's size for a TTY (kept in step when the
/// window changes), hoist's stdin to its stdin, its output to hoist's; its exit code.
async fn attached(engine: &Engine, container: &str, request: &ExecRequest) -> anyhow::Result<i64> {
    let started = engine.exec_attached(container, request).await?;
    let _raw = match request.tty {
        true => crate::terminal::RawMode::enable()?,
        false => None,
    };
    let resizing = request.tty.then(|| {
        let (engine, id) = (engine.clone(), started.id.clone());
        tokio::spawn(async move { follow_window_size(&engine, &id).await })
    });
    let stdin = request.stdin.then(stdin_chunks);
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    let pumped = started
        .streams
        .pump(stdin, |stream, bytes| {
            let _ = match stream {
                LogStream::Stdout => stdout.write_all(bytes).and_then(|()| stdout.flush()),
                LogStream::Stderr => stderr.write_all(bytes).and_then(|()| stderr.flush()),
            };
        })
        .await;
    if let Some(task) = resizing {
        task.abort();
    }
    pumped?;
    Ok(engine.exec_exit_code(container, &started.id).await?)
}

/// Gives exec `id` the terminal's size now and whenever the window changes (SIGWINCH).
async fn follow_window_size(engine: &Engine, id: &str) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut changes) = signal(SignalKind::window_change()) else {
        return;
    };
    loop {
        if let Some((rows, cols)) = crate::terminal::size()
            && let Err(e) = engine.resize_exec(id, rows, cols).await
        {
            tracing::debug!("resizing the exec's terminal: {e}");
        }
        if changes.recv().await.is_none() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_core::observed::RunState;

    fn container(name: &str, number: u32, state: RunState, created: i64) -> ObservedContainer {
        ObservedContainer {
            id: name.into(),
            state,
            created,
            ..ObservedContainer::running("app", number, name)
        }
    }

    #[test]
    fn the_running_container_of_the_index_is_taken_and_the_older_colour_while_two_run() {
        let list = [
            container("app-1", 1, RunState::Exited, 1),
            container("app-2", 2, RunState::Running, 2),
        ];
        assert!(
            pick(&list, "app", 1).is_none(),
            "a stopped one is not taken"
        );
        assert_eq!(pick(&list, "app", 2).unwrap().name, "app-2");
        assert!(pick(&list, "db", 2).is_none());
        let colours = [
            container("app-green_1", 1, RunState::Running, 20),
            container("app-blue_1", 1, RunState::Running, 10),
        ];
        assert_eq!(pick(&colours, "app", 1).unwrap().name, "app-blue_1");
    }

    #[test]
    fn errors_and_environment_read_as_composes() {
        assert_eq!(
            not_running("web", 1).to_string(),
            "service \"web\" is not running"
        );
        assert_eq!(
            not_running("web", 2).to_string(),
            "service \"web\" is not running container #2"
        );
        let env = std::collections::BTreeMap::from([("FOO".to_string(), "x".to_string())]);
        assert_eq!(
            resolve_env(&["FOO".into(), "BAR".into(), "A=b=c".into()], &env),
            ["FOO=x", "BAR", "A=b=c"]
        );
    }
}
