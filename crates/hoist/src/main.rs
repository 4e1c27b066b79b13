//! The `hoist` binary: a tiny `main` that hands over to [`hoist::run`] and maps the outcome to an
//! exit code.

fn main() -> std::process::ExitCode {
    hoist::run(std::env::args_os())
}
