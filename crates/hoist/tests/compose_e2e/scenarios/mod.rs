//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod cascade;
mod compose;
mod compose_up;
mod orphans;
mod profiles;
mod ps;
mod recreate_no_deps;
mod restart;
pub mod start_stop;
mod up;
