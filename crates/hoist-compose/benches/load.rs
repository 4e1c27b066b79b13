//! Loader benchmarks (filled in with the generated 500-service project).
fn main() {}
