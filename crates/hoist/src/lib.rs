//! The `hoist` command line: clap types ([`cli`]), settings resolved once, one module per verb
//! ([`commands`]). The only crate that reads arguments and environment variables.

pub mod cli;
pub mod commands;
pub mod context;
pub mod docker_context;
pub mod output;
pub mod settings;
pub mod terminal;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

/// Exit status for failures hoist itself detected (bad input, engine errors).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for command-line usage errors, as clap reports them.
pub const EXIT_USAGE: u8 = 2;

/// Parses `args`, runs the command and returns the process exit code. Errors are printed with
/// their cause chain.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    install_logging();
    let outcome = commands::dispatch(cli);
    // ssh:// engines: their ssh processes end with the command.
    hoist_docker::ssh::close_all();
    match outcome {
        Ok(code) => code,
        Err(err) => {
            let text = format!("{err:#}");
            eprintln!("error: {}", hoist_core::mask::scrub_declared(&text));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Warnings and errors the libraries report through `tracing` (a history write that failed, a
/// rollback that goes on without its record) go to stderr. `HOIST_LOG`, else `RUST_LOG`, sets
/// the filter (`info`, `hoist_pipeline=debug`); the default is `warn`. A second call (tests run
/// the command line more than once in one process) keeps the first subscriber.
fn install_logging() {
    let directives = ["HOIST_LOG", "RUST_LOG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "warn".to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .try_init();
}
