//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod compose;
mod container_name;
mod healthcheck;
mod ipc;
mod no_deps;
mod profiles;
mod ps;
mod restart;
mod scale;
pub mod start_stop;
