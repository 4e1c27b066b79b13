//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod container_name;
mod healthcheck;
mod ipc;
mod no_deps;
mod scale;
mod start_stop;
