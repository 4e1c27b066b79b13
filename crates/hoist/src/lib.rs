//! The `hoist` command line: clap types ([`cli`]), settings resolved once, one module per verb
//! ([`commands`]). The only crate that reads arguments and environment variables.

pub mod cli;
pub mod commands;
pub mod context;
pub mod output;
pub mod settings;

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
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
