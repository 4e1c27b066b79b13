//! hoist's Docker Engine API adapter. The only crate that knows bollard types: it connects to
//! engines (unix socket, plain TCP on loopback or trusted hosts, TLS), observes them into plain
//! values and executes operations that the core decided on.

pub mod connect;
pub mod error;
pub mod execute;
pub mod project;
pub mod system;

pub use connect::{Address, Engine, EngineSpec, TlsFiles};
pub use error::{ConnectError, EngineError};
