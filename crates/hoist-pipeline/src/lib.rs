//! The book's deployment pipeline run by hoist itself: the nine steps of chapters 5 to 12 read
//! from `hoist.yml`, their history and deploy lock, and the nginx proxy that integrates a
//! service on a target (step 7), which blue-green releases switch between colours.

pub mod bluegreen;
pub mod proxy;
