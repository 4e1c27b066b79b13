//! One module per upstream test file (`pkg/e2e/<name>_test.go`).

mod start_stop;
