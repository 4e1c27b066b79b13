//! The book's deployment pipeline run by hoist itself: the nine steps of chapters 5 to 12 read
//! from `hoist.yml`, their history and deploy lock, and the nginx proxy that integrates a
//! service on a target (step 7), which blue-green releases switch between colours.
//!
//! - [`config`]: `hoist.yml`, resolved, with errors that name file, line and key;
//! - [`steps`]: the nine steps, which of them run (pure), and the checklist;
//! - [`run`]: executing a run, with its events going to sinks; [`group`]: the process groups
//!   of its step commands;
//! - [`history`]: runs in SQLite; [`lock`]: the deploy lock; [`state`]: the private state
//!   folder they live in;
//! - [`proxy`]: the nginx proxy per target;
//! - [`bluegreen`]: blue-green releases; [`release`]: a release at its place, with its lock
//!   and record (shared by `hoist deploy`/`rollback` and the dashboard).

pub mod bluegreen;
pub mod config;
pub mod fleet;
pub mod group;
pub mod history;
pub mod hooks;
pub mod lock;
pub mod probe;
pub mod project_release;
pub mod proxy;
pub mod release;
pub mod run;
pub mod state;
pub mod steps;
pub mod swarm;
pub mod target_env;
