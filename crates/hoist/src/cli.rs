//! clap types for every verb. Flags follow Docker Compose wherever the command exists there, so
//! muscle memory works.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hoist",
    version,
    about = "Deploy Docker Compose projects to local and remote Docker engines",
    long_about = "hoist reads compose files exactly as Docker Compose does (legacy v1 format \
                  included), talks to local or remote engines through the Engine API, runs the \
                  nine-step deployment pipeline, releases blue-green with rollback, and serves a \
                  dashboard."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every command: which engine, which project.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Engine to talk to (unix:///path, tcp://host:port). Defaults to DOCKER_HOST, then the
    /// local socket.
    #[arg(short = 'H', long = "host", global = true, value_name = "HOST")]
    pub host: Option<String>,

    /// Use TLS and verify the engine's certificate.
    #[arg(long, global = true)]
    pub tlsverify: bool,

    /// Trust certificates signed by this CA only.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,

    /// Client certificate.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,

    /// Client key.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,

    /// Allow plain TCP to this non-loopback host (repeatable; also HOIST_TRUST_INSECURE_HOST,
    /// comma-separated). Whoever reaches an unprotected engine port owns that host.
    #[arg(long = "trust-insecure-host", global = true, value_name = "HOST")]
    pub trust_insecure_host: Vec<String>,

    /// Compose configuration files.
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub file: Vec<PathBuf>,

    /// Project name.
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,

    /// Alternate working directory (default: the directory of the first compose file).
    #[arg(long = "project-directory", global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,

    /// Profiles to enable.
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profile: Vec<String>,

    /// Alternate environment files.
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the engine hoist talks to: address, version and API version.
    Version,
    /// Parse, resolve and render the compose files, as `docker compose config` does.
    Config(crate::commands::config::ConfigArgs),
}
