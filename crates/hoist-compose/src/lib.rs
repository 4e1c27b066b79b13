//! Compose files read exactly as Docker Compose reads them: YAML → ordered tree → interpolation →
//! `extends` → `include` → merge of several files → validation → profiles → normalisation into
//! the tree `docker compose config --format json` prints → typed model. The legacy v1 format is
//! read with Compose 1.29's semantics. Reads files with `std::fs` only; no async runtime, no
//! network, no process environment (the caller passes it in [`LoadOptions`]).
//!
//! ```no_run
//! let opts = hoist_compose::LoadOptions {
//!     working_dir: std::path::PathBuf::from("."),
//!     ..Default::default()
//! };
//! let project = hoist_compose::load(&opts)?;
//! for (name, svc) in &project.services {
//!     println!("{name}: {:?} {:?}", svc.image, svc.ports);
//! }
//! # Ok::<(), hoist_compose::ComposeError>(())
//! ```

pub mod dotenv;
pub mod error;
pub mod interp;
pub mod legacy;
pub mod loader;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod render;
pub mod schema;
pub mod units;
pub mod yaml;

pub use error::{ComposeError, Location};
pub use loader::{DEFAULT_FILES, LoadOptions};
pub use model::{
    Build, Dependency, Deploy, FileObject, Healthcheck, Logging, Mount, Network, Port, Project,
    Service, ServiceFileRef, ServiceNetwork, Volume,
};

/// What `docker compose config` prints, without the typed model: for callers that only print it.
pub struct Canonical {
    /// The normalised project name.
    pub name: String,
    /// Exactly what `docker compose config --format json` prints.
    pub json: serde_json::Value,
    /// Warnings compose would print (unset variables, obsolete `version`).
    pub warnings: Vec<String>,
}

/// Loads, resolves, validates and normalises a compose project into the tree compose prints:
/// [`load`] without building the typed model.
pub fn load_canonical(opts: &LoadOptions) -> Result<Canonical, ComposeError> {
    let mut loaded = loader::load_tree(opts)?;
    let norm = normalize::normalize(&mut loaded)?;
    Ok(Canonical {
        name: loaded.name,
        json: norm.json,
        warnings: norm.warnings,
    })
}

/// Loads, resolves, validates and normalises a compose project.
pub fn load(opts: &LoadOptions) -> Result<Project, ComposeError> {
    let mut loaded = loader::load_tree(opts)?;
    let norm = normalize::normalize(&mut loaded)?;
    // Most projects have no `$$`: deserialize straight from the printed tree then.
    let unescaped;
    let plain = if model::has_escapes(&norm.json) {
        unescaped = model::unescape(&norm.json);
        &unescaped
    } else {
        &norm.json
    };
    let bad = |e: serde_json::Error| ComposeError::invalid(format!("invalid compose project: {e}"));
    let mut services: indexmap::IndexMap<String, Service> =
        model::section(plain, "services").map_err(bad)?;
    for (name, svc) in services.iter_mut() {
        svc.name = name.clone();
        if let Some(j) = plain.get("services").and_then(|s| s.get(name)) {
            model::fill_extras(svc, j);
        }
    }
    Ok(Project {
        name: loaded.name,
        legacy: loaded.legacy,
        project_dir: loaded.project_dir,
        files: loaded.files,
        services,
        networks: model::section(plain, "networks").map_err(bad)?,
        volumes: model::section(plain, "volumes").map_err(bad)?,
        secrets: model::section(plain, "secrets").map_err(bad)?,
        configs: model::section(plain, "configs").map_err(bad)?,
        warnings: norm.warnings,
        canonical: norm.json,
    })
}
