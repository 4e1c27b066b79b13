//! hoist's Docker Engine API adapter. The only crate that knows bollard types: it connects to
//! engines (unix socket, plain TCP on loopback or trusted hosts, TLS; `policy` decides which),
//! observes them into plain values and executes operations that the core decided on.

pub mod archive;
pub mod attach;
pub mod auth;
pub mod build;
pub mod connect;
pub mod copy;
pub mod dockerignore;
pub mod error;
pub mod events;
pub mod exec;
pub mod execute;
pub mod ids;
pub mod image;
pub mod inventory;
mod lines;
pub mod logs;
pub mod orchestrate;
pub mod policy;
pub mod processes;
pub mod project;
pub mod reference;
pub mod ssh;
pub mod stats;
pub mod swarm;
pub mod system;
pub mod target_journal;
pub mod target_lock;
pub mod target_records;
mod transport;

pub use archive::{ArchiveError, ContainerFile, FileUpload};
pub use auth::{AuthError, Credential, DockerConfig, RegistryAuth};
pub use build::{BuildError, BuildSpec, Built};
pub use connect::{Address, Checked, Engine, EngineSpec, TlsFiles};
pub use dockerignore::{DockerIgnore, IgnoreError};
pub use error::{ConnectError, EngineError};
pub use events::{EngineEvent, EngineEvents};
pub use exec::{ExecCommand, ExecError, ExecOutput};
pub use ids::BadName;
pub use image::{ImageError, ImageInfo, LayerProgress, Transferred};
pub use inventory::{
    ContainerDetail, ContainerSummary, EndpointInfo, EngineInfo, ImageSummary, Inventory,
    MountInfo, NetworkSummary, VolumeSummary,
};
pub use logs::{LogLine, LogLines, LogOptions, LogStream, LogsError};
pub use reference::{ImageRef, ReferenceError, registry_host};
