//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod cascade;
mod compose;
mod compose_environment;
mod compose_run;
mod compose_up;
mod config;
mod configs;
mod container_name;
mod env_file;
mod healthcheck;
mod hooks;
mod ipc;
mod logs;
mod networks;
mod no_deps;
mod orphans;
mod profiles;
mod ps;
mod recreate_no_deps;
mod restart;
mod scale;
mod secrets;
pub mod start_stop;
mod up;
mod volumes;
