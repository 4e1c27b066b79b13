//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod compose_run;
mod hooks;
mod logs;
mod start_stop;
