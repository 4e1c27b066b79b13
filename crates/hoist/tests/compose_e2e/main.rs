//! Docker Compose's own end-to-end scenarios, run with Docker Compose v2 and with hoist on the
//! local engine and compared (`harness.rs` says how).
//!
//! Each `#[test]` is one upstream test function of docker/compose v2.40.3 `pkg/e2e/*_test.go`,
//! transcribed step for step in `scenarios/<upstream file>.rs`, over the upstream fixtures
//! (`HOIST_COMPOSE_E2E`, default `/work/shared/compose-e2e`). Every scenario prints one
//! `e2e-result:` line; `scripts/compose-e2e` runs the tier and counts them. Stand-in images for
//! the public images the fixtures name come from `scripts/e2e-images`.

mod harness;
mod scenarios;
mod snapshot;
