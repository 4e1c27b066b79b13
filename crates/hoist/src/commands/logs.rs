//! `hoist logs`: the output of the project's containers, merged, each line prefixed with its
//! container as Compose does (`app-1  | ...`, or `vagrant_app_1  | ...` for legacy projects).

use std::io::Write;
use std::process::ExitCode;

use futures_util::StreamExt;
use futures_util::stream::select_all;
use hoist_docker::logs::{LogOptions, LogStream};

use crate::cli::{GlobalArgs, LogsArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let spec = &load_spec(global, env, &args.services)?;
    for s in &args.services {
        if spec.service(s).is_none() {
            anyhow::bail!("no such service: {s}");
        }
    }
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse::<u64>()
                .map_err(|_| anyhow::anyhow!("invalid --tail {n:?}: expected a number or all"))?,
        ),
    };
    let options = LogOptions {
        follow: args.follow,
        tail,
        timestamps: args.timestamps,
    };
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        stream(&engine, spec, &args.services, options, args.no_log_prefix).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Streams the logs of `services` (all when empty), merged and prefixed, until every stream ends
/// (with `follow`, until the containers stop).
pub async fn stream(
    engine: &hoist_docker::Engine,
    spec: &hoist_core::spec::ProjectSpec,
    services: &[String],
    options: LogOptions,
    no_prefix: bool,
) -> anyhow::Result<()> {
    let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
    let mut containers: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| !c.oneoff)
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let prefixes: Vec<String> = containers
        .iter()
        .map(|c| {
            if spec.legacy {
                c.name.clone()
            } else {
                format!("{}-{}", c.service, c.number)
            }
        })
        .collect();
    let width = prefixes.iter().map(|p| p.len()).max().unwrap_or(0);
    let mut streams = Vec::new();
    for (c, prefix) in containers.iter().zip(prefixes) {
        let lines = engine.logs(&c.name, options).await?;
        let prefix = if no_prefix {
            String::new()
        } else {
            format!("{prefix:width$}  | ")
        };
        streams.push(lines.map(move |l| (prefix.clone(), l)).boxed());
    }
    let mut merged = select_all(streams);
    while let Some((prefix, line)) = merged.next().await {
        let line = line?;
        match line.stream {
            LogStream::Stdout => write_line(&mut std::io::stdout().lock(), &prefix, &line)?,
            LogStream::Stderr => write_line(&mut std::io::stderr().lock(), &prefix, &line)?,
        }
    }
    Ok(())
}

/// What attached `up` shows, as Compose does: `Attaching to ...`, then each container's output
/// prefixed, and `NAME exited with code N` as each one stops. Containers that already stopped
/// (a service others waited for) show their whole output first, in the order they were created;
/// the running ones are then followed together until they all stop.
///
/// It returns once the containers of the `watched` services (all shown ones when empty) have
/// stopped, as Compose does with `--attach-dependencies`: dependencies may still run.
pub async fn attach(
    engine: &hoist_docker::Engine,
    spec: &hoist_core::spec::ProjectSpec,
    services: &[String],
    watched: &[String],
) -> anyhow::Result<()> {
    let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
    let mut containers: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| !c.oneoff)
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect();
    containers.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    let prefix_of = |c: &hoist_core::observed::ObservedContainer| {
        if spec.legacy {
            c.name.clone()
        } else {
            format!("{}-{}", c.service, c.number)
        }
    };
    let mut names: Vec<String> = containers.iter().map(|c| prefix_of(c)).collect();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    names.sort();
    println!("Attaching to {}", names.join(", "));
    let (done, running): (Vec<_>, Vec<_>) =
        containers.into_iter().partition(|c| !c.state.is_running());
    let whole = LogOptions {
        follow: false,
        tail: None,
        timestamps: false,
    };
    for c in done {
        let name = prefix_of(c);
        let prefix = format!("{name:width$}  | ");
        let mut lines = engine.logs(&c.name, whole).await?;
        while let Some(line) = lines.next().await {
            print_line(&prefix, &line?)?;
        }
        println!("{name} exited with code {}", c.exit_code.unwrap_or(0));
    }
    let follow = LogOptions {
        follow: true,
        ..whole
    };
    let is_watched = |service: &str| watched.is_empty() || watched.iter().any(|w| w == service);
    let mut waiting = running.iter().filter(|c| is_watched(&c.service)).count();
    if waiting == 0 {
        return Ok(());
    }
    let mut streams = Vec::new();
    for c in running {
        let name = prefix_of(c);
        let prefix = format!("{name:width$}  | ");
        let lines = engine.logs(&c.name, follow).await?;
        let container = c.name.clone();
        let counts = is_watched(&c.service);
        let end = futures_util::stream::once(async move { Attached::End(name, container, counts) });
        streams.push(
            lines
                .map(move |l| Attached::Line(prefix.clone(), l))
                .chain(end)
                .boxed(),
        );
    }
    let mut merged = select_all(streams);
    while let Some(item) = merged.next().await {
        match item {
            Attached::Line(prefix, line) => print_line(&prefix, &line?)?,
            Attached::End(name, container, counts) => {
                let code = engine.wait_exit(&container).await.unwrap_or(-1);
                println!("{name} exited with code {code}");
                if counts {
                    waiting -= 1;
                    if waiting == 0 {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

enum Attached<E> {
    Line(String, Result<hoist_docker::logs::LogLine, E>),
    /// The display name, the container, whether its end counts towards returning.
    End(String, String, bool),
}

fn print_line(prefix: &str, line: &hoist_docker::logs::LogLine) -> std::io::Result<()> {
    match line.stream {
        LogStream::Stdout => write_line(&mut std::io::stdout().lock(), prefix, line),
        LogStream::Stderr => write_line(&mut std::io::stderr().lock(), prefix, line),
    }
}

/// Writes one line in pieces under one lock: a 40 MB line is not copied into a second buffer.
fn write_line(
    out: &mut impl Write,
    prefix: &str,
    line: &hoist_docker::logs::LogLine,
) -> std::io::Result<()> {
    out.write_all(prefix.as_bytes())?;
    if let Some(t) = &line.timestamp {
        out.write_all(t.as_bytes())?;
        out.write_all(b" ")?;
    }
    out.write_all(line.text.as_bytes())?;
    out.write_all(b"\n")
}
