//! One module per verb; `dispatch` routes a parsed command line to it.

pub mod config;
mod version;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::settings::EnvVars;

/// Runs the command and returns its exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let env = EnvVars::from_process();
    match cli.command {
        Command::Version => version::run(&cli.global, &env),
        Command::Config(args) => config::run(&cli.global, &args),
    }
}

/// A runtime for commands that talk to engines. Two worker threads: hoist mostly waits on I/O.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
