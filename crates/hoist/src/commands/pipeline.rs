//! `hoist pipeline run|status|history|logs`: the book's nine-step deployment pipeline from
//! `hoist.yml`, its checklist (live on a terminal, plain lines otherwise, `--json` events for
//! machines) and its history in hoist's state folder.
//!
//! The cd engine (tests, builds, pushes) is the one the global flags name (`-H`, `DOCKER_HOST`,
//! the local socket by default); targets come from `hoist.yml`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use hoist_docker::target_journal::JournalEntry;
use hoist_pipeline::config::Work;
use hoist_pipeline::history::{History, RunRecord, now};
use hoist_pipeline::run::{Context, HistorySink, PipelineEvent, PipelineSink, Run, RunOptions};
use hoist_pipeline::steps::{StepId, StepLine, StepStatus, checklist, checklist_line};

use crate::cli::GlobalArgs;
use crate::context::{connect, docker_config};
use crate::output::utc;
use crate::settings::EnvVars;

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Run the pipeline's steps in order, deploying to a target.
    Run(PipelineRunArgs),
    /// Show a run's checklist (the latest run by default).
    Status(StatusArgs),
    /// List past runs, newest first.
    History(HistoryArgs),
    /// Print the output a run's steps captured.
    Logs(LogsArgs),
}

#[derive(Debug, Args)]
pub struct PipelineRunArgs {
    /// The pipeline file.
    #[arg(long, value_name = "PATH", default_value = "hoist.yml")]
    pub config: PathBuf,
    /// Start at this step (number or name), as when resuming a failed run.
    #[arg(long, value_name = "STEP", conflicts_with = "only")]
    pub from: Option<String>,
    /// Run this step alone.
    #[arg(long, value_name = "STEP")]
    pub only: Option<String>,
    /// The target to deploy to (the file's first target by default).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Wait for another run holding the deploy lock instead of failing.
    #[arg(long)]
    pub wait_lock: bool,
    /// Print events as JSON lines instead of the checklist.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run's number (see `hoist pipeline history`).
    pub run: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
    /// The journal kept on this target of the pipeline file (every host's, for a target of
    /// several): pipeline runs, deploys and rollbacks from every machine, newest first.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// The pipeline file that names the target.
    #[arg(long, value_name = "PATH", default_value = "hoist.yml")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub run: i64,
    /// One step (number or name); all steps otherwise.
    pub step: Option<String>,
}

/// hoist's state folder: `$HOIST_STATE_DIR`, else `$XDG_STATE_HOME/hoist`, else
/// `~/.local/state/hoist`. Without any of them it is an error, never the working directory:
/// a history and locks dropped wherever hoist happened to run would be neither found again nor
/// private.
pub fn state_dir(env: &EnvVars) -> anyhow::Result<PathBuf> {
    if let Some(dir) = env.all.get("HOIST_STATE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = env.all.get("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("hoist"));
    }
    match &env.home {
        Some(home) => Ok(PathBuf::from(home).join(".local/state/hoist")),
        None => anyhow::bail!(
            "no state folder for the history and deploy locks: HOME is not set; set \
             HOIST_STATE_DIR (or HOME, or XDG_STATE_HOME)"
        ),
    }
}

pub fn run(
    global: &GlobalArgs,
    env: &EnvVars,
    command: &PipelineCommand,
) -> anyhow::Result<ExitCode> {
    let history = || -> anyhow::Result<History> { Ok(History::open(&state_dir(env)?)?) };
    match command {
        PipelineCommand::Run(args) => run_pipeline(global, env, args),
        PipelineCommand::Status(args) => {
            let history = history()?;
            let record = history.run(args.run)?.ok_or_else(|| match args.run {
                Some(id) => anyhow::anyhow!("no pipeline run {id} (see `hoist pipeline history`)"),
                None => {
                    anyhow::anyhow!("no pipeline run yet (start one with `hoist pipeline run`)")
                }
            })?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                print!("{}", status_text(&record));
            }
            Ok(if record.status == "done" || record.status == "running" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        PipelineCommand::History(args) if args.target.is_some() => {
            target_history(global, env, args)
        }
        PipelineCommand::History(args) => {
            let runs = history()?.runs(args.limit)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print!("{}", history_table(&runs));
            }
            Ok(ExitCode::SUCCESS)
        }
        PipelineCommand::Logs(args) => {
            let history = history()?;
            let record = history
                .run(Some(args.run))?
                .ok_or_else(|| anyhow::anyhow!("no pipeline run {}", args.run))?;
            let only = args
                .step
                .as_deref()
                .map(StepId::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let mut out = std::io::stdout().lock();
            for line in &record.steps {
                if only.is_some_and(|s| s != line.step) {
                    continue;
                }
                let text = history.output(record.id, line.step)?.unwrap_or_default();
                if only.is_none() {
                    if text.is_empty() {
                        continue;
                    }
                    writeln!(out, "==> {}", checklist_line(line))?;
                }
                out.write_all(text.as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run_pipeline(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &PipelineRunArgs,
) -> anyhow::Result<ExitCode> {
    let file = crate::context::pipeline_file(&args.config, global, env)?;
    let parse_step = |s: &Option<String>| {
        s.as_deref()
            .map(StepId::parse)
            .transpose()
            .map_err(anyhow::Error::msg)
    };
    let opts = RunOptions {
        target: args.target.clone(),
        from: parse_step(&args.from)?,
        only: parse_step(&args.only)?,
        wait_lock: args.wait_lock,
    };
    let state = state_dir(env)?;
    let history = Arc::new(History::open(&state)?);
    super::runtime()?.block_on(async {
        let cd = connect(global, env).await?;
        let ctx = Context {
            file,
            cd,
            docker_config: docker_config(env),
            state_dir: state,
            environment: env.all.clone(),
        };
        let run = Run::start(&ctx, history.clone(), &opts).await?;
        let terminal = Terminal::new(std::io::stdout().is_terminal());
        let json = JsonLines;
        let record = HistorySink::new(history.clone());
        let mut sinks: Vec<&dyn PipelineSink> = vec![&record];
        if args.json {
            sinks.push(&json);
        } else {
            sinks.push(&terminal);
        }
        let interrupted = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r,
                _ = term.recv() => Ok(()),
            }
        };
        let ok = tokio::select! {
            ok = run.execute(&ctx, &sinks) => ok,
            _ = interrupted => {
                // The step's work is dropped here (host commands are killed with it); the run
                // is recorded as interrupted and the lock is released when `run` goes.
                history.finish_interrupted(run.id)?;
                terminal.finish_line();
                eprintln!("hoist: run {} interrupted; resume it with `hoist pipeline run --from STEP`", run.id);
                return Ok(ExitCode::from(130));
            }
        };
        let record = history.run(Some(run.id))?.context("the run's record")?;
        if !args.json {
            if let Some(failed) = record.steps.iter().find(|l| l.status == StepStatus::Failed) {
                let output = history.output(run.id, failed.step)?.unwrap_or_default();
                let tail: Vec<&str> = output.lines().rev().take(20).collect();
                eprintln!(
                    "\nstep {} failed; its last output lines (all of it: hoist pipeline logs {} {}):",
                    failed.step.number(),
                    run.id,
                    failed.step.number()
                );
                for line in tail.iter().rev() {
                    eprintln!("  {line}");
                }
            } else {
                println!("\nrun {} done in {:.1} s", run.id, now() - record.started_at);
            }
        }
        Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}

/// The checklist as events arrive: on a terminal each step shows `running` while it runs and
/// is rewritten in place when it ends; otherwise one plain line per step once it ended.
struct Terminal {
    tty: bool,
    open_line: Mutex<bool>,
}

impl Terminal {
    fn new(tty: bool) -> Terminal {
        Terminal {
            tty,
            open_line: Mutex::new(false),
        }
    }

    fn finish_line(&self) {
        let mut open = self.open_line.lock().unwrap_or_else(|p| p.into_inner());
        if *open {
            println!();
            *open = false;
        }
    }
}

impl PipelineSink for Terminal {
    fn event(&self, event: &PipelineEvent) {
        let mut out = std::io::stdout().lock();
        let mut open = self.open_line.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            PipelineEvent::RunStarted {
                run,
                service,
                target,
                commit,
                ..
            } => {
                let _ = writeln!(
                    out,
                    "pipeline run {run}: {service} to {target} at commit {}\n",
                    if commit.is_empty() { "?" } else { commit }
                );
            }
            PipelineEvent::Step { line, .. } => {
                if line.status == StepStatus::Running {
                    if self.tty {
                        let _ = write!(out, "{}", checklist_line(line));
                        *open = true;
                    }
                } else {
                    if *open {
                        let _ = write!(out, "\r\x1b[2K");
                        *open = false;
                    }
                    let _ = writeln!(out, "{}", checklist_line(line));
                }
            }
            PipelineEvent::Output { .. }
            | PipelineEvent::Image { .. }
            | PipelineEvent::Release { .. } => {}
            PipelineEvent::RunFinished { .. } => {}
        }
        let _ = out.flush();
    }
}

/// `--json`: one event per line.
struct JsonLines;

impl PipelineSink for JsonLines {
    fn event(&self, event: &PipelineEvent) {
        if let Ok(text) = serde_json::to_string(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}

fn status_text(record: &RunRecord) -> String {
    let mut text = format!(
        "run {}: {} to {} at commit {}, {} ({}{})\n\n",
        record.id,
        record.service,
        record.target,
        if record.commit.is_empty() {
            "?"
        } else {
            &record.commit
        },
        record.status,
        utc(record.started_at),
        record
            .finished_at
            .map(|f| format!(", {:.1} s", f - record.started_at))
            .unwrap_or_default(),
    );
    text.push_str(&checklist(&record.steps));
    if !record.images.is_empty() {
        text.push_str("\nimages:\n");
        for (reference, digest) in &record.images {
            text.push_str(&format!("  {reference}  {digest}\n"));
        }
    }
    text
}

/// `hoist pipeline history --target NAME`: the journal on the target's engines, merged (an
/// entry written to several hosts is shown once) and newest first.
fn target_history(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &HistoryArgs,
) -> anyhow::Result<ExitCode> {
    let name = args.target.as_deref().unwrap_or_default();
    let file = crate::context::pipeline_file(&args.config, global, env)?;
    let target = file.target(name).ok_or_else(|| {
        let names: Vec<&str> = file.targets.iter().map(|t| t.name.as_str()).collect();
        anyhow::anyhow!(
            "{}: no target {name} (targets: {})",
            args.config.display(),
            names.join(", ")
        )
    })?;
    let Some(Work::Deploy { service, .. }) = file.work(StepId::Deploy) else {
        anyhow::bail!(
            "{}: the journal is kept per deployed service, and steps.deploy names none",
            args.config.display()
        );
    };
    let project = hoist_pipeline::release::deploy_project(&file, env.all.clone())?.name;
    let entries = super::runtime()?.block_on(async {
        let mut all: Vec<JournalEntry> = Vec::new();
        for member in target.members() {
            let engine = hoist_docker::Engine::connect(&member.engine_spec())
                .await
                .map_err(|e| anyhow::anyhow!("host {}: {e}", member.name))?;
            for entry in engine.journal(&project, service).await? {
                // One release writes the same entry (same identity) to every host.
                if !all.iter().any(|e| e.id == entry.id) {
                    all.push(entry);
                }
            }
        }
        all.sort_by(|a, b| b.id.cmp(&a.id));
        all.truncate(args.limit);
        anyhow::Ok(all)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        print!("{}", journal_table(&entries));
    }
    Ok(ExitCode::SUCCESS)
}

fn journal_table(entries: &[JournalEntry]) -> String {
    let mut rows = vec![
        [
            "STARTED (UTC)",
            "KIND",
            "BY",
            "TARGET",
            "COMMIT",
            "STATUS",
            "DURATION",
            "DETAIL",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for e in entries {
        let steps = e.steps.split(',').filter(|s| *s == "done").count();
        let detail = if e.kind == "pipeline" {
            format!("{steps} done; {}", e.detail)
        } else {
            e.detail.clone()
        };
        rows.push(vec![
            e.at.replace('T', " ").trim_end_matches('Z').to_string(),
            e.kind.clone(),
            e.by.clone(),
            e.target.clone(),
            e.commit.clone(),
            e.status.clone(),
            format!("{:.1} s", e.seconds),
            detail,
        ]);
    }
    super::ps::columns(&rows)
}

fn history_table(runs: &[RunRecord]) -> String {
    let mut text = format!(
        "{:<5} {:<16} {:<10} {:<10} {:<12} {:<20} {:>9}  {}\n",
        "RUN", "SERVICE", "TARGET", "COMMIT", "STATUS", "STARTED (UTC)", "DURATION", "STEPS"
    );
    for run in runs {
        let done = run
            .steps
            .iter()
            .filter(|l| l.status == StepStatus::Done)
            .count();
        let failed: Vec<&StepLine> = run
            .steps
            .iter()
            .filter(|l| matches!(l.status, StepStatus::Failed | StepStatus::Interrupted))
            .collect();
        let steps = match failed.first() {
            Some(l) => format!("{done} done, {} {}", l.status.as_str(), l.step.number()),
            None => format!("{done} done"),
        };
        text.push_str(&format!(
            "{:<5} {:<16} {:<10} {:<10} {:<12} {:<20} {:>9}  {}\n",
            run.id,
            run.service,
            run.target,
            run.commit,
            run.status,
            utc(run.started_at),
            run.finished_at
                .map(|f| format!("{:.1} s", f - run.started_at))
                .unwrap_or_default(),
            steps
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_folder_follows_the_environment() {
        let mut env = EnvVars {
            home: Some("/home/u".into()),
            ..Default::default()
        };
        assert_eq!(
            state_dir(&env).unwrap(),
            PathBuf::from("/home/u/.local/state/hoist")
        );
        env.all.insert("HOIST_STATE_DIR".into(), "/tmp/s".into());
        assert_eq!(state_dir(&env).unwrap(), PathBuf::from("/tmp/s"));
    }

    #[test]
    fn without_home_or_a_state_variable_there_is_no_state_folder() {
        let err = state_dir(&EnvVars::default()).unwrap_err().to_string();
        assert!(
            err.contains("HOIST_STATE_DIR") && err.contains("HOME"),
            "{err}"
        );
    }
}
