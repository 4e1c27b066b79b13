//! hoist's decisions, kept pure: no async runtime, no I/O. Engine adapters observe the world into
//! plain values; this crate turns desired state plus observed state into a plan; executors carry
//! the plan out and report events.

pub mod bluegreen;
pub mod desired;
pub mod events;
pub mod from_labels;
pub mod hash;
pub mod mask;
pub mod observed;
pub mod plan;
pub mod spec;
pub mod swarm;
pub mod template;
