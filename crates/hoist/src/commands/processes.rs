//! Verbs on the processes of a project's running containers, with Docker Compose v2's output:
//! `kill` (a signal, SIGKILL by default), `pause`, `unpause`, `top`, `wait`.

use std::process::ExitCode;

use futures_util::future::try_join_all;
use hoist_core::observed::{ObservedContainer, RunState};
use hoist_docker::Engine;

use crate::cli::{GlobalArgs, KillArgs, ServicesArgs, WaitArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

/// The project's containers `docker ps` lists (running, paused, restarting) of `services` (all
/// when empty), one-off ones with them when `oneoff`, sorted by name.
async fn live_containers(
    engine: &Engine,
    project: &str,
    services: &[String],
    oneoff: bool,
) -> anyhow::Result<Vec<ObservedContainer>> {
    let observed = engine.observe_project(project, &[], &[], &[]).await?;
    let mut list: Vec<ObservedContainer> = observed
        .containers
        .into_iter()
        .filter(|c| {
            matches!(
                c.state,
                RunState::Running | RunState::Paused | RunState::Restarting
            )
        })
        .filter(|c| oneoff || !c.oneoff)
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

/// What a verb says about each container as it acts on it: Compose v2's lines, or for a legacy
/// v1 project Compose 1.x's (`Pausing NAME ... ` first for every container, names padded to the
/// longest, then `... done` as each is done).
struct Say {
    legacy: bool,
    width: usize,
}

impl Say {
    fn new(legacy: bool, containers: &[ObservedContainer]) -> Say {
        Say {
            legacy,
            width: containers.iter().map(|c| c.name.len()).max().unwrap_or(0),
        }
    }

    /// `doing` (`Killing`) before, in Compose 1.x's words; v2 says it as `v2`.
    fn start(&self, name: &str, doing: &str, v2: Option<&str>) {
        if self.legacy {
            eprint!("{doing} {name:<width$} ... \r\n", width = self.width);
        } else if let Some(v2) = v2 {
            eprintln!(" Container {name}  {v2}");
        }
    }

    fn done(&self, name: &str, doing: &str, v2: &str) {
        if self.legacy {
            eprint!("{doing} {name:<width$} ... done\r\n", width = self.width);
        } else {
            eprintln!(" Container {name}  {v2}");
        }
    }
}

pub fn kill(global: &GlobalArgs, env: &EnvVars, args: &KillArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(global, env, &args.services)?;
    let signal = hoist_docker::exec::normalize_signal(&args.signal)?;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let mut containers = live_containers(&engine, &spec.name, &args.services, true).await?;
        // Containers of services no longer in the file are left alone unless asked.
        if !args.remove_orphans {
            containers.retain(|c| spec.service(&c.service).is_some());
        }
        if containers.is_empty() {
            eprint!("no container to kill");
            return anyhow::Ok(());
        }
        let (engine, signal) = (&engine, signal.as_str());
        let say = &Say::new(spec.legacy, &containers);
        for c in &containers {
            say.start(&c.name, "Killing", Some("Killing"));
        }
        try_join_all(containers.iter().map(|c| async move {
            engine.signal(&c.name, signal).await?;
            say.done(&c.name, "Killing", "Killed");
            anyhow::Ok(())
        }))
        .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `pause` (or `unpause` when `resume`): every running container of the services, at once.
pub fn pause(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &ServicesArgs,
    resume: bool,
) -> anyhow::Result<ExitCode> {
    let spec = load_spec(global, env, &args.services)?;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let containers = live_containers(&engine, &spec.name, &args.services, false).await?;
        let engine = &engine;
        let say = &Say::new(spec.legacy, &containers);
        let (doing, done) = if resume {
            ("Unpausing", "Unpaused")
        } else {
            ("Pausing", "Paused")
        };
        for c in &containers {
            say.start(&c.name, doing, None);
        }
        try_join_all(containers.iter().map(|c| async move {
            if resume {
                engine.unpause_container(&c.name).await?;
            } else {
                engine.pause_container(&c.name).await?;
            }
            say.done(&c.name, doing, done);
            anyhow::Ok(())
        }))
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `wait SERVICE...`: blocks until every running container of the services stopped, printing
/// each one's exit as Compose does; hoist's exit code is the last one's. `--down-project` then
/// removes the project as `down --remove-orphans` does.
pub fn wait(global: &GlobalArgs, env: &EnvVars, args: &WaitArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(global, env, &args.services)?;
    let code = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let containers = live_containers(&engine, &spec.name, &args.services, true).await?;
        if containers.is_empty() {
            anyhow::bail!("no containers for project {:?}", spec.name);
        }
        let last = std::sync::Mutex::new(0i64);
        let (engine, last_ref) = (&engine, &last);
        try_join_all(containers.iter().map(|c| async move {
            let code = engine.wait_exit(&c.id).await?;
            println!("container {:?} exited with status code {code}", c.id);
            *last_ref.lock().unwrap() = code;
            anyhow::Ok(())
        }))
        .await?;
        anyhow::Ok(last.into_inner().unwrap())
    })?;
    if args.down_project {
        let down = crate::cli::DownArgs {
            remove_orphans: true,
            ..Default::default()
        };
        super::down::run(global, env, &down)?;
    }
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

pub fn top(global: &GlobalArgs, env: &EnvVars, args: &ServicesArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(global, env, &args.services)?;
    let text = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let containers = live_containers(&engine, &spec.name, &args.services, true).await?;
        let engine = &engine;
        let tops = try_join_all(containers.iter().map(|c| async move {
            let processes = engine.top(&c.name).await?;
            anyhow::Ok((c, processes))
        }))
        .await?;
        anyhow::Ok(if spec.legacy {
            legacy_top(&tops)
        } else {
            top_table(&tops)
        })
    })?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Compose 1.x's `top`, kept for legacy v1 projects: each container's name, then its processes
/// as the engine titles them, containers by name with a blank line between.
fn legacy_top(tops: &[(&ObservedContainer, hoist_docker::processes::Processes)]) -> String {
    tops.iter()
        .map(|(c, p)| {
            let titles: Vec<&str> = p.titles.iter().map(String::as_str).collect();
            format!(
                "{}\n{}",
                c.name,
                crate::output::legacy_table(&titles, &p.rows)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Compose's `top` table: SERVICE and `#` (the container number), then the engine's columns in
/// the order first seen, CMD last; `-` where a container's engine gave no such column.
fn top_table(tops: &[(&ObservedContainer, hoist_docker::processes::Processes)]) -> String {
    let mut header: Vec<String> = vec!["SERVICE".into(), "#".into()];
    for (_, p) in tops {
        for title in &p.titles {
            if !header.contains(title) {
                header.push(title.clone());
            }
        }
    }
    if let Some(at) = header.iter().position(|t| t == "CMD") {
        let cmd = header.remove(at);
        header.push(cmd);
    }
    let mut text = String::new();
    let rows: Vec<Vec<String>> = tops
        .iter()
        .flat_map(|(c, p)| {
            p.rows.iter().map(|row| {
                header
                    .iter()
                    .map(|title| match title.as_str() {
                        "SERVICE" => c.service.clone(),
                        "#" => c.number.to_string(),
                        _ => p
                            .titles
                            .iter()
                            .position(|t| t == title)
                            .and_then(|i| row.get(i))
                            .cloned()
                            .unwrap_or_else(|| "-".into()),
                    })
                    .collect()
            })
        })
        .collect();
    if rows.is_empty() {
        return text;
    }
    for line in std::iter::once(&header).chain(rows.iter()) {
        text.push_str(&line.join("\t"));
        text.push('\n');
    }
    hoist_core::template::tabwrite_with(&text, 4, 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoist_docker::processes::Processes;

    fn container(service: &str, number: u32) -> ObservedContainer {
        ObservedContainer::running(service, number, &format!("p-{service}-{number}"))
    }

    #[test]
    fn the_top_table_is_composes() {
        let web = container("web", 1);
        let processes = Processes {
            titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
                .map(String::from)
                .to_vec(),
            rows: vec![
                [
                    "root",
                    "23961",
                    "23926",
                    "0",
                    "07:00",
                    "?",
                    "00:00:00",
                    "sh -c sleep",
                ]
                .map(String::from)
                .to_vec(),
            ],
        };
        assert_eq!(
            top_table(&[(&web, processes)]),
            "SERVICE  #   UID   PID    PPID   C   STIME  TTY  TIME      CMD\n\
             web      1   root  23961  23926  0   07:00  ?    00:00:00  sh -c sleep\n"
        );
        assert_eq!(top_table(&[]), "");
    }
}
