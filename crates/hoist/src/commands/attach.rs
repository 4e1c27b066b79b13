//! `up` without `-d`: print the services' output, one `service-N  | line` per line as Compose
//! prints it without a TTY, report each container's exit, and stop the project when one exits
//! (`--abort-on-container-exit`) or fails (`--abort-on-container-failure`); the exit code is the
//! one Compose returns (`--exit-code-from`).

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hoist_core::spec::ProjectSpec;
use hoist_docker::Engine;
use hoist_docker::execute::ExecOptions;
use hoist_docker::logs::{LogOptions, LogStream};

/// What a container's exit does to the others (`api.Cascade` of Compose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cascade {
    /// Keep following the others until they all exited.
    #[default]
    Ignore,
    /// Stop the project when any container exits.
    Stop,
    /// Stop the project when a container exits with a non-zero code.
    Fail,
}

/// The exit code of an attached `up`, folded from the containers' exits in the order they came.
#[derive(Debug, Clone, Default)]
pub struct Exits {
    cascade: Cascade,
    exit_code_from: Option<String>,
    aborted: bool,
    from_seen: bool,
    code: i64,
}

impl Exits {
    pub fn new(cascade: Cascade, exit_code_from: Option<String>) -> Exits {
        Exits {
            cascade,
            exit_code_from,
            ..Exits::default()
        }
    }

    /// One container of `service` exited with `code`: whether the project must now be stopped
    /// (true once, for the first exit that triggers the cascade).
    pub fn exited(&mut self, service: &str, code: i64) -> bool {
        let mut abort = false;
        let triggers = match self.cascade {
            Cascade::Ignore => false,
            Cascade::Stop => true,
            Cascade::Fail => code != 0,
        };
        if triggers && !self.aborted {
            self.aborted = true;
            self.code = code;
            abort = true;
        }
        if !self.from_seen && self.exit_code_from.as_deref() == Some(service) {
            self.from_seen = true;
            self.code = code;
        }
        abort
    }

    /// The process's exit code once every attached container exited.
    pub fn code(&self) -> u8 {
        u8::try_from(self.code & 0xff).unwrap_or(1)
    }
}

/// Follows the containers of `services` until each exited (or, when services were named, until
/// the containers of the `watched` ones did), printing their output and exits. Returns the exit
/// code `up` ends with.
pub async fn attach(
    engine: &Engine,
    spec: &ProjectSpec,
    services: &[String],
    watched: &[String],
    mut exits: Exits,
    exec: &ExecOptions,
) -> anyhow::Result<u8> {
    let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
    let mut containers: Vec<_> = observed
        .containers
        .iter()
        .filter(|c| !c.oneoff && services.contains(&c.service))
        .collect();
    containers.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    let mut prefixes: Vec<String> = containers.iter().map(|c| prefix(spec, c)).collect();
    // The prefixes' width grows, as Compose's does, when a longer source (a hook) shows.
    let width = AtomicUsize::new(prefixes.iter().map(String::len).max().unwrap_or(0));
    let width = &width;
    prefixes.sort();
    println!("Attaching to {}", prefixes.join(", "));
    let is_watched = |service: &str| watched.is_empty() || watched.iter().any(|w| w == service);
    let mut waiting = containers.iter().filter(|c| is_watched(&c.service)).count();
    // Containers that already stopped (a one-shot service others waited for) show their whole
    // output first, in the order they were created; the running ones are then followed together.
    let (stopped, live): (Vec<_>, Vec<_>) =
        containers.into_iter().partition(|c| !c.state.is_running());
    let mut running: FuturesUnordered<_> = live
        .iter()
        .map(|c| {
            follow(
                engine,
                c.name.clone(),
                c.service.clone(),
                prefix(spec, c),
                width,
            )
        })
        .collect();
    let mut ended = futures_util::stream::iter(stopped.iter())
        .then(|c| {
            follow(
                engine,
                c.name.clone(),
                c.service.clone(),
                prefix(spec, c),
                width,
            )
        })
        .chain(futures_util::stream::poll_fn(move |cx| {
            running.poll_next_unpin(cx)
        }))
        .boxed_local();
    // A `pre_stop` hook's output shows as its container's, marked `NAME ->`.
    let hook_output = |c: &hoist_core::observed::ObservedContainer, line: &str| {
        let source = format!("{} ->", prefix(spec, c));
        let w = width
            .fetch_max(source.len(), Ordering::SeqCst)
            .max(source.len());
        let _ = writeln!(std::io::stdout().lock(), "{source:w$}  | {line}");
    };
    // The cascade's stop runs while the other containers' output keeps coming, as Compose
    // shows it: their lines and the stop hooks' interleave as they happen.
    let mut stopping = None;
    loop {
        if waiting == 0 && stopping.is_none() {
            break;
        }
        tokio::select! {
            done = ended.next(), if waiting > 0 => {
                let Some(done) = done else { break };
                let (service, shown, code) = done?;
                println!("{shown} exited with code {code}");
                if is_watched(&service) {
                    waiting -= 1;
                }
                if exits.exited(&service, code) {
                    eprintln!("Aborting on container exit...");
                    stopping = Some(Box::pin(super::lifecycle::stop_services(
                        engine,
                        spec,
                        services,
                        exec.stop_timeout,
                        &hook_output,
                    )));
                }
            }
            stopped = async { stopping.as_mut().expect("guarded").await }, if stopping.is_some() => {
                stopping = None;
                stopped?;
            }
        }
    }
    Ok(exits.code())
}

/// How Compose names a container in front of its lines: `service-N`, or the whole name for a
/// legacy v1 project.
fn prefix(spec: &ProjectSpec, c: &hoist_core::observed::ObservedContainer) -> String {
    if spec.legacy {
        c.name.clone()
    } else {
        format!("{}-{}", c.service, c.number)
    }
}

/// Prints one container's output until it ends, then waits for its exit code.
async fn follow(
    engine: &Engine,
    name: String,
    service: String,
    shown: String,
    width: &AtomicUsize,
) -> anyhow::Result<(String, String, i64)> {
    let options = LogOptions {
        follow: true,
        tail: None,
        timestamps: false,
    };
    let mut lines = engine.logs(&name, options).await?;
    while let Some(line) = lines.next().await {
        let line = line?;
        let w = width.load(Ordering::SeqCst);
        let text = format!("{shown:w$}  | {}\n", line.text);
        // A closed pipe is not the containers' problem: keep following them.
        let _ = match line.stream {
            LogStream::Stdout => std::io::stdout().lock().write_all(text.as_bytes()),
            LogStream::Stderr => std::io::stderr().lock().write_all(text.as_bytes()),
        };
    }
    let code = engine.wait_exit(&name).await?;
    Ok((service, shown, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(cascade: Cascade, from: Option<&str>, events: &[(&str, i64)]) -> (Vec<bool>, u8) {
        let mut exits = Exits::new(cascade, from.map(String::from));
        let aborts = events.iter().map(|(s, c)| exits.exited(s, *c)).collect();
        (aborts, exits.code())
    }

    #[test]
    fn without_cascade_nothing_aborts_and_up_succeeds() {
        assert_eq!(
            fold(Cascade::Ignore, None, &[("a", 3), ("b", 0)]),
            (vec![false, false], 0)
        );
    }

    #[test]
    fn abort_on_exit_stops_once_with_the_first_code() {
        assert_eq!(
            fold(
                Cascade::Stop,
                None,
                &[("exit", 0), ("fail", 111), ("run", 143)]
            ),
            (vec![true, false, false], 0)
        );
    }

    #[test]
    fn abort_on_failure_waits_for_a_non_zero_exit() {
        assert_eq!(
            fold(
                Cascade::Fail,
                None,
                &[("exit", 0), ("fail", 111), ("run", 143)]
            ),
            (vec![false, true, false], 111)
        );
    }

    #[test]
    fn exit_code_from_takes_the_named_services_first_exit() {
        assert_eq!(
            fold(
                Cascade::Stop,
                Some("test"),
                &[("failure", 42), ("test", 143)]
            ),
            (vec![true, false], 143)
        );
        assert_eq!(
            fold(
                Cascade::Stop,
                Some("failure"),
                &[("failure", 42), ("safe", 137)]
            ),
            (vec![true, false], 42)
        );
    }
}
