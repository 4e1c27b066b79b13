//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod compose;
mod compose_environment;
mod config;
mod configs;
mod env_file;
mod profiles;
mod ps;
mod restart;
mod secrets;
pub mod start_stop;
