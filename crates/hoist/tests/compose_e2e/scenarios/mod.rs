//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod cascade;
mod compose;
mod compose_run;
mod compose_up;
mod hooks;
mod logs;
mod orphans;
mod profiles;
mod ps;
mod recreate_no_deps;
mod restart;
pub mod start_stop;
mod up;
