//! `hoist ps`: the project's containers, in Docker Compose's shapes. Legacy v1 projects get
//! Compose 1.x's table (`Name  Command  State  Ports`, as the book shows it); others get Compose
//! v2's (`NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS`), `--format json` one object per line,
//! or a Go template.

use std::process::ExitCode;

use futures_util::future::join_all;
use hoist_core::observed::{Observed, ObservedContainer, ObservedPort, RunState};
use serde_json::{Value, json};

use crate::cli::{GlobalArgs, PsArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &PsArgs) -> anyhow::Result<ExitCode> {
    // With --target: every host of the target, each row naming its host.
    let (global, hosts) = super::release::on_target(global, env, &args.on)?;
    let spec = &load_spec(&global, env, &args.service)?;
    for s in &args.service {
        if spec.service(s).is_none() {
            anyhow::bail!("no such service: {s}");
        }
    }
    if args.services {
        for s in &spec.services {
            if args.service.is_empty() || args.service.contains(&s.name) {
                println!("{}", s.name);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let observed: Vec<(Option<String>, Observed)> = super::runtime()?.block_on(async {
        let Some(located) = &hosts else {
            let engine = connect(&global, env).await?;
            let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
            return anyhow::Ok(vec![(None, observed)]);
        };
        let engines = super::fleet::connect_all(located).await?;
        let listed = join_all(engines.iter().zip(&located.hosts).map(
            |(engine, (host, _))| async move {
                let observed = engine
                    .observe_project(&spec.name, &[], &[], &[])
                    .await
                    .map_err(|e| anyhow::anyhow!("host {host}: {e}"))?;
                anyhow::Ok((Some(host.clone()), observed))
            },
        ))
        .await;
        listed.into_iter().collect()
    })?;
    // Compose 1.x listed every container of the project; v2 lists running ones unless -a
    // (or a status filter).
    let statuses = args.statuses()?;
    let all = args.all || !statuses.is_empty();
    let mut containers: Vec<(Option<&str>, &ObservedContainer)> = Vec::new();
    for (host, observed) in &observed {
        let mut on_host: Vec<&ObservedContainer> = observed
            .containers
            .iter()
            .filter(|c| args.service.is_empty() || args.service.contains(&c.service))
            .filter(|c| all || (spec.legacy && !c.oneoff) || (!c.oneoff && c.state.is_running()))
            .filter(|c| statuses.is_empty() || statuses.contains(&state_name(c)))
            .collect();
        on_host.sort_by(|a, b| a.name.cmp(&b.name));
        containers.extend(on_host.into_iter().map(|c| (host.as_deref(), c)));
    }
    let now = now_unix();
    if args.quiet {
        for (_, c) in &containers {
            println!("{}", c.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Value> = containers
        .iter()
        .map(|(host, c)| {
            let mut r = row(c, &spec.name, now);
            if let (Some(host), Some(map)) = (host, r.as_object_mut()) {
                map.insert("Host".into(), json!(host));
            }
            r
        })
        .collect();
    match args.format.as_str() {
        "table" if spec.legacy && hosts.is_none() => {
            let plain: Vec<&ObservedContainer> = containers.iter().map(|(_, c)| *c).collect();
            print!("{}", legacy_table(&plain))
        }
        "table" => print!("{}", v2_table(&rows, hosts.is_some())),
        "json" => {
            for r in &rows {
                println!("{r}");
            }
        }
        template => print!("{}", hoist_core::template::format_rows(template, &rows)?),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `0.0.0.0:32770->8080/tcp, 5432/tcp`, sorted as docker sorts them.
pub fn format_ports(ports: &[ObservedPort]) -> String {
    let mut ports: Vec<&ObservedPort> = ports.iter().collect();
    ports.sort_by(|a, b| {
        (
            a.private_port,
            &a.protocol,
            a.host_ip.as_deref().unwrap_or(""),
        )
            .cmp(&(
                b.private_port,
                &b.protocol,
                b.host_ip.as_deref().unwrap_or(""),
            ))
    });
    let mut out: Vec<String> = Vec::new();
    for p in ports {
        let text = match (p.public_port, p.host_ip.as_deref()) {
            (Some(public), ip) => {
                // IPv6 reads `:::32768->8080/tcp`, as the docker CLI prints it.
                let ip = match ip.unwrap_or("") {
                    "" => "0.0.0.0",
                    ip => ip,
                };
                format!("{ip}:{public}->{}/{}", p.private_port, p.protocol)
            }
            (None, _) => format!("{}/{}", p.private_port, p.protocol),
        };
        if !out.contains(&text) {
            out.push(text);
        }
    }
    out.join(", ")
}

/// docker's human duration (`go-units.HumanDuration`).
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let minutes = s / 60;
    let hours = s / 3600;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if (hours as f64 - (s as f64 / 3600.0)).abs() < 1.0 && hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// Compose v1's `State` column: `Up`, `Up (healthy)`, `Exit 137`.
pub fn legacy_state(c: &ObservedContainer) -> String {
    match c.state {
        RunState::Running => match c.health {
            Some(h) => format!(
                "Up ({})",
                serde_json::to_value(h)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            ),
            None => "Up".into(),
        },
        RunState::Paused => "Paused".into(),
        RunState::Restarting => "Restarting".into(),
        RunState::Exited | RunState::Dead => format!("Exit {}", c.exit_code.unwrap_or(0)),
        RunState::Created | RunState::Removing => "".into(),
    }
}

fn truncate_command(command: &str) -> String {
    let chars: Vec<char> = command.chars().collect();
    let short: String = if chars.len() > 20 {
        chars[..19].iter().collect::<String>() + "…"
    } else {
        command.to_string()
    };
    format!("\"{short}\"")
}

/// The engine's name of a container's state (`running`, `exited`, ...).
fn state_name(c: &ObservedContainer) -> String {
    serde_json::to_value(c.state)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// One container in Compose v2's `ps --format json` shape.
pub fn row(c: &ObservedContainer, project: &str, now: i64) -> Value {
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // As Compose: by container port.
    let mut ports: Vec<&ObservedPort> = c.ports.iter().collect();
    ports.sort_by_key(|p| p.private_port);
    let publishers: Vec<Value> = ports
        .into_iter()
        .map(|p| {
            json!({
                "URL": p.host_ip.clone().unwrap_or_default(),
                "TargetPort": p.private_port,
                "PublishedPort": p.public_port.unwrap_or(0),
                "Protocol": p.protocol,
            })
        })
        .collect();
    json!({
        "Command": truncate_command(&c.command),
        // Go's `time.Time.String()` of the creation time, as Compose prints it (in UTC).
        "CreatedAt": format!("{} +0000 UTC", crate::output::utc(c.created as f64)),
        "ExitCode": c.exit_code.unwrap_or(0),
        "Health": c.health.map(|h| serde_json::to_value(h).unwrap_or_default()).unwrap_or(json!("")),
        "ID": c.id,
        "Image": c.image,
        "Labels": labels.join(","),
        "Name": c.name,
        "Names": c.name,
        "Ports": format_ports(&c.ports),
        "Project": project,
        "Publishers": publishers,
        "RunningFor": format!("{} ago", human_duration(now - c.created)),
        "Service": c.service,
        "State": serde_json::to_value(c.state).unwrap_or_default(),
        "Status": c.status,
    })
}

/// Left-aligned columns separated by three spaces (the docker CLI's tabwriter settings).
pub(crate) fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; width];
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Compose v2's table; with a HOST column first for the hosts of a target.
fn v2_table(rows: &[Value], hosts: bool) -> String {
    let mut keys = vec![
        ("NAME", "Name"),
        ("IMAGE", "Image"),
        ("COMMAND", "Command"),
        ("SERVICE", "Service"),
        ("CREATED", "RunningFor"),
        ("STATUS", "Status"),
        ("PORTS", "Ports"),
    ];
    if hosts {
        keys.insert(0, ("HOST", "Host"));
    }
    let mut table = vec![keys.iter().map(|(h, _)| h.to_string()).collect()];
    for r in rows {
        table.push(
            keys.iter()
                .map(|(_, k)| r[*k].as_str().unwrap_or_default().to_string())
                .collect(),
        );
    }
    columns(&table)
}

/// Compose 1.x's table: a header, a rule, and one row per container.
pub fn legacy_table(containers: &[&ObservedContainer]) -> String {
    let mut table = vec![
        ["Name", "Command", "State", "Ports"]
            .map(String::from)
            .to_vec(),
    ];
    for c in containers {
        table.push(vec![
            c.name.clone(),
            c.command.clone(),
            legacy_state(c),
            format_ports(&c.ports),
        ]);
    }
    let body = columns(&table);
    let rule_width = body.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut lines = body.lines();
    let mut out = String::new();
    if let Some(header) = lines.next() {
        out.push_str(header);
        out.push('\n');
        out.push_str(&"-".repeat(rule_width));
        out.push('\n');
    }
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, state: RunState, ports: Vec<ObservedPort>) -> ObservedContainer {
        ObservedContainer {
            id: "abc".into(),
            image: "books-ms".into(),
            command: "/run.sh".into(),
            state,
            status: "Up 2 minutes".into(),
            exit_code: if state == RunState::Exited {
                Some(137)
            } else {
                None
            },
            ports,
            ..ObservedContainer::running("app", 1, name)
        }
    }

    fn port(private: u16, public: Option<u16>) -> ObservedPort {
        ObservedPort {
            private_port: private,
            public_port: public,
            host_ip: public.map(|_| "0.0.0.0".into()),
            protocol: "tcp".into(),
        }
    }

    #[test]
    fn ports_read_as_docker_prints_them() {
        assert_eq!(
            format_ports(&[port(8080, Some(32770))]),
            "0.0.0.0:32770->8080/tcp"
        );
        assert_eq!(format_ports(&[port(5432, None)]), "5432/tcp");
        assert_eq!(
            format_ports(&[port(9000, Some(9000)), port(80, Some(8080))]),
            "0.0.0.0:8080->80/tcp, 0.0.0.0:9000->9000/tcp"
        );
    }

    #[test]
    fn the_legacy_table_is_the_books_shape() {
        let app = container(
            "vagrant_app_1",
            RunState::Running,
            vec![port(8080, Some(32770))],
        );
        let mut db = container("vagrant_db_1", RunState::Exited, vec![]);
        db.command = "/entrypoint.sh postgres".into();
        let table = legacy_table(&[&app, &db]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "Name            Command                   State      Ports"
        );
        assert!(lines[1].chars().all(|c| c == '-'));
        assert_eq!(
            lines[2],
            "vagrant_app_1   /run.sh                   Up         0.0.0.0:32770->8080/tcp"
        );
        assert_eq!(
            lines[3],
            "vagrant_db_1    /entrypoint.sh postgres   Exit 137"
        );
    }

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(70), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }

    #[test]
    fn long_commands_are_quoted_and_truncated() {
        assert_eq!(truncate_command("/run.sh"), "\"/run.sh\"");
        assert_eq!(
            truncate_command("docker-entrypoint.sh postgres"),
            "\"docker-entrypoint.s…\""
        );
    }
}
