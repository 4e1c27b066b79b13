//! `hoist stats [SERVICE]`: the resource usage of the project's containers, as `docker compose
//! stats` shows it (the docker CLI's table, `--format json`, `-a`, `--no-trunc`), once with
//! `--no-stream`, else refreshed every second.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use futures_util::future::try_join_all;
use hoist_core::observed::ObservedContainer;
use hoist_docker::stats::Usage;

use crate::cli::{GlobalArgs, StatsArgs};
use crate::context::{connect, load_spec};
use crate::output::{binary_size, decimal_size};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let services: Vec<String> = args.service.iter().cloned().collect();
    let spec = load_spec(global, env, &services)?;
    if !matches!(args.format.as_deref(), None | Some("table") | Some("json")) {
        anyhow::bail!("unsupported format: use table or json");
    }
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let clear = !args.no_stream && std::io::stdout().is_terminal();
        loop {
            let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
            let mut containers: Vec<&ObservedContainer> = observed
                .containers
                .iter()
                .filter(|c| services.is_empty() || services.contains(&c.service))
                .filter(|c| args.all || c.state.is_running())
                .collect();
            // The engine's listing order, as docker shows them: newest first.
            containers.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
            let engine = &engine;
            let samples = try_join_all(containers.iter().map(|c| async move {
                // A stopped container has no usage: zeros, as docker shows it.
                let usage = match c.state.is_running() {
                    true => engine.usage(&c.id).await?,
                    false => Usage::default(),
                };
                anyhow::Ok((*c, usage))
            }))
            .await?;
            let text = match args.format.as_deref() {
                Some("json") => json_lines(&samples, args.no_trunc),
                _ => table(&samples, args.no_trunc),
            };
            let mut out = std::io::stdout();
            if clear {
                write!(out, "\x1b[2J\x1b[H")?;
            }
            write!(out, "{text}")?;
            out.flush()?;
            if args.no_stream {
                return anyhow::Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The cells docker's stats formatter fills, in its column order.
fn cells(c: &ObservedContainer, u: &Usage, no_trunc: bool) -> [String; 8] {
    let id = match no_trunc {
        true => c.id.clone(),
        false => c.id.chars().take(12).collect(),
    };
    [
        id,
        c.name.clone(),
        format!("{:.2}%", u.cpu_percent),
        format!(
            "{} / {}",
            binary_size(u.memory),
            binary_size(u.memory_limit)
        ),
        format!("{:.2}%", u.memory_percent),
        format!("{} / {}", decimal_size(u.net_rx), decimal_size(u.net_tx)),
        format!(
            "{} / {}",
            decimal_size(u.block_read),
            decimal_size(u.block_write)
        ),
        u.pids.to_string(),
    ]
}

fn table(samples: &[(&ObservedContainer, Usage)], no_trunc: bool) -> String {
    let mut text = String::from(
        "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS\n",
    );
    for (c, u) in samples {
        text.push_str(&cells(c, u, no_trunc).join("\t"));
        text.push('\n');
    }
    hoist_core::template::tabwrite(&text)
}

/// One JSON object per container, with the docker CLI's field names.
fn json_lines(samples: &[(&ObservedContainer, Usage)], no_trunc: bool) -> String {
    samples
        .iter()
        .map(|(c, u)| {
            let [id, name, cpu, mem, mem_perc, net, block, pids] = cells(c, u, no_trunc);
            let line = serde_json::json!({
                "BlockIO": block,
                "CPUPerc": cpu,
                "Container": c.id,
                "ID": id,
                "MemPerc": mem_perc,
                "MemUsage": mem,
                "Name": name,
                "NetIO": net,
                "PIDs": pids,
            });
            format!("{line}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_json_read_as_dockers() {
        let c = ObservedContainer {
            id: "8d7f2c5f6b70179255573499c334eae11027de79c8bd0ce913e4f52c42c0d75a".into(),
            ..ObservedContainer::running("web", 1, "ex-web-1")
        };
        let u = Usage {
            memory: 516_096,
            memory_limit: 25_275_000_000,
            net_rx: 1450,
            pids: 2,
            ..Default::default()
        };
        assert_eq!(
            table(&[(&c, u.clone())], false),
            "CONTAINER ID   NAME       CPU %     MEM USAGE / LIMIT   MEM %     NET I/O       BLOCK I/O   PIDS\n\
             8d7f2c5f6b70   ex-web-1   0.00%     504KiB / 23.54GiB   0.00%     1.45kB / 0B   0B / 0B     2\n"
        );
        assert_eq!(
            json_lines(&[(&c, u)], false),
            "{\"BlockIO\":\"0B / 0B\",\"CPUPerc\":\"0.00%\",\"Container\":\"8d7f2c5f6b70179255573499c334eae11027de79c8bd0ce913e4f52c42c0d75a\",\"ID\":\"8d7f2c5f6b70\",\"MemPerc\":\"0.00%\",\"MemUsage\":\"504KiB / 23.54GiB\",\"Name\":\"ex-web-1\",\"NetIO\":\"1.45kB / 0B\",\"PIDs\":\"2\"}\n"
        );
    }
}
