//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod compose;
mod orphans;
mod profiles;
mod ps;
mod restart;
pub mod start_stop;
