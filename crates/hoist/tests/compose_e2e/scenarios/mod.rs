//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod compose;
mod compose_run;
mod hooks;
mod logs;
mod profiles;
mod ps;
mod restart;
pub mod start_stop;
