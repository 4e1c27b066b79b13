//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod cascade;
mod compose;
mod compose_environment;
mod compose_run;
mod compose_up;
mod config;
mod configs;
mod env_file;
mod hooks;
mod logs;
mod orphans;
mod profiles;
mod ps;
mod recreate_no_deps;
mod restart;
mod secrets;
pub mod start_stop;
mod up;
