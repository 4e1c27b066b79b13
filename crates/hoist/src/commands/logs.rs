//! `hoist logs`: the output of the project's containers, merged, each line prefixed with its
//! container as Compose does (`app-1  | ...`, or `vagrant_app_1  | ...` for legacy projects).

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::select_all;
use hoist_docker::logs::{LogOptions, LogStream};

use crate::cli::{GlobalArgs, LogsArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    if args.index > 0 && args.services.len() != 1 {
        anyhow::bail!("--index requires one service to be selected");
    }
    let (global, hosts) = super::release::on_target(global, env, &args.on)?;
    let spec = &load_spec(&global, env, &args.services)?;
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
    let selection = Selection {
        services: &args.services,
        index: args.index,
        watch: args.follow,
    };
    super::runtime()?.block_on(async {
        let Some(located) = &hosts else {
            let engine = connect(&global, env).await?;
            let prefix = Prefixing {
                off: args.no_log_prefix,
                host: None,
            };
            return stream_selected(&engine, spec, selection, options, prefix).await;
        };
        // Every host's containers at once, each line naming its host (`app-1@prod  | ...`).
        let engines = super::fleet::connect_all(located).await?;
        let streams = engines
            .iter()
            .zip(&located.hosts)
            .map(|(engine, (host, _))| async move {
                let prefix = Prefixing {
                    off: args.no_log_prefix,
                    host: Some(host),
                };
                stream_selected(engine, spec, selection, options, prefix)
                    .await
                    .map_err(|e| anyhow::anyhow!("host {host}: {e:#}"))
            });
        futures_util::future::try_join_all(streams)
            .await
            .map(|_| ())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// How lines are prefixed: not at all (`--no-log-prefix`), or with the container and, for a
/// target's hosts, `@host`.
#[derive(Clone, Copy)]
pub struct Prefixing<'a> {
    pub off: bool,
    pub host: Option<&'a str>,
}

/// Which containers' logs are shown: those of `services` (all when empty), only the one numbered
/// `index` when it is not 0.
#[derive(Clone, Copy)]
pub struct Selection<'a> {
    pub services: &'a [String],
    pub index: u32,
    /// Also follow containers that appear while following (`logs -f`, as Compose does).
    pub watch: bool,
}

impl Selection<'_> {
    fn shows(&self, service: &str, number: u32) -> bool {
        (self.services.is_empty() || self.services.iter().any(|s| s == service))
            && (self.index == 0 || self.index == number)
    }
}

/// Streams the logs of the containers `selection` picks, merged and prefixed, until every stream
/// ends (with `follow`, until the containers stop).
pub async fn stream_selected(
    engine: &hoist_docker::Engine,
    spec: &hoist_core::spec::ProjectSpec,
    selection: Selection<'_>,
    options: LogOptions,
    prefix: Prefixing<'_>,
) -> anyhow::Result<()> {
    let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
    let mut containers: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| !c.oneoff)
        .filter(|c| selection.shows(&c.service, c.number))
        // A container created but not started yet has no log to follow: its stream would end
        // at once. With -f it is picked up once it started.
        .filter(|c| !(selection.watch && c.state == hoist_core::observed::RunState::Created))
        .collect();
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let width = containers
        .iter()
        .map(|c| prefix_of(spec, c, prefix.host).len())
        .max()
        .unwrap_or(0);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut merged = select_all(Vec::new());
    for c in containers {
        match prefixed(engine, spec, c, options, prefix, width).await {
            Ok(lines) => {
                seen.insert(c.name.clone());
                merged.push(lines);
            }
            // Removed since the listing: nothing to show (with -f, found again if it returns).
            Err(e) if vanished(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            item = merged.next() => {
                let Some((prefix, line)) = item else { break };
                let line = line?;
                match line.stream {
                    LogStream::Stdout => write_line(&mut std::io::stdout().lock(), &prefix, &line)?,
                    LogStream::Stderr => write_line(&mut std::io::stderr().lock(), &prefix, &line)?,
                }
            }
            _ = tick.tick(), if selection.watch => {
                let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
                let selected = observed
                    .containers
                    .iter()
                    .filter(|c| !c.oneoff && selection.shows(&c.service, c.number))
                    .filter(|c| c.state != hoist_core::observed::RunState::Created);
                for c in selected {
                    if !seen.insert(c.name.clone()) {
                        continue;
                    }
                    match prefixed(engine, spec, c, options, prefix, width).await {
                        Ok(lines) => merged.push(lines),
                        // Gone between the listing and the logs call (removed, or replaced by
                        // `up` under the same name): looked for again at the next tick.
                        Err(e) if vanished(&e) => {
                            seen.remove(&c.name);
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether `e` says the container no longer exists.
fn vanished(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<hoist_docker::logs::LogsError>(),
        Some(hoist_docker::logs::LogsError::NoSuchContainer { .. })
    )
}

type PrefixedLines = futures_util::stream::BoxStream<
    'static,
    (
        String,
        Result<hoist_docker::logs::LogLine, hoist_docker::logs::LogsError>,
    ),
>;

/// The log lines of container `c`, each with its prefix.
async fn prefixed(
    engine: &hoist_docker::Engine,
    spec: &hoist_core::spec::ProjectSpec,
    c: &hoist_core::observed::ObservedContainer,
    options: LogOptions,
    prefixing: Prefixing<'_>,
    width: usize,
) -> anyhow::Result<PrefixedLines> {
    let lines = engine.logs(&c.name, options).await?;
    let prefix = if prefixing.off {
        String::new()
    } else {
        format!("{:width$}  | ", prefix_of(spec, c, prefixing.host))
    };
    Ok(lines.map(move |l| (prefix.clone(), l)).boxed())
}

/// How a container's lines are prefixed: `service-N`, or the container's name (legacy
/// projects); `@host` after it on a target's hosts.
fn prefix_of(
    spec: &hoist_core::spec::ProjectSpec,
    c: &hoist_core::observed::ObservedContainer,
    host: Option<&str>,
) -> String {
    let name = if spec.legacy {
        c.name.clone()
    } else {
        format!("{}-{}", c.service, c.number)
    };
    match host {
        Some(host) => format!("{name}@{host}"),
        None => name,
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

#[cfg(test)]
mod selection_tests {
    use super::Selection;

    #[test]
    fn index_picks_one_replica_of_the_service() {
        let services = vec!["hello".to_string()];
        let sel = Selection {
            services: &services,
            index: 2,
            watch: false,
        };
        assert!(sel.shows("hello", 2));
        assert!(!sel.shows("hello", 1));
        assert!(!sel.shows("ping", 2));
    }

    #[test]
    fn no_index_shows_every_replica_of_the_selected_services() {
        let sel = Selection {
            services: &[],
            index: 0,
            watch: false,
        };
        assert!(sel.shows("hello", 1));
        assert!(sel.shows("ping", 3));
    }
}
