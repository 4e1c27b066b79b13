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
pub mod json;
pub mod legacy;
pub mod loader;
pub mod merge;
pub mod model;
pub mod normalize;
mod omitempty;
mod print_order;
pub mod read;
pub mod render;
pub mod schema;
pub mod uninterpolated;
pub mod units;
pub mod vecmap;
pub mod yaml;
mod yaml_block;

pub use error::{ComposeError, Location};
pub use loader::{DEFAULT_FILES, LoadOptions};
pub use model::{
    Build, Dependency, Deploy, FileObject, Healthcheck, Logging, Mount, Network, OrderedMap, Port,
    Project, Service, ServiceFileRef, ServiceNetwork, Str, VecMap, Volume,
};

/// What `docker compose config` prints, without the typed model: for callers that only print it.
#[derive(Debug, Clone)]
pub struct Canonical {
    /// The normalised project name.
    pub name: String,
    /// The tree `docker compose config --format json` prints, holding the values the engine
    /// receives: print it with [`json::Printed`] (or [`render::to_yaml`]), which write a literal
    /// `$` as `$$` as compose does.
    pub json: json::Value,
    /// Warnings compose would print (unset variables, obsolete `version`).
    pub warnings: Vec<String>,
    /// Read from a legacy v1 file.
    pub legacy: bool,
    pub project_dir: std::path::PathBuf,
    /// The compose files read, in order.
    pub files: Vec<std::path::PathBuf>,
    /// The variables interpolation saw: the `.env`/`--env-file` files under the process
    /// environment (what `run -e KEY` resolves against).
    pub env: std::collections::BTreeMap<String, String>,
}

impl Canonical {
    /// The typed project, built from the tree (which it consumes: values are moved, not copied).
    pub fn into_project(self) -> Result<Project, ComposeError> {
        model::project(self)
    }
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
        legacy: loaded.legacy,
        project_dir: loaded.project_dir,
        files: loaded.files,
        env: loaded.env,
    })
}

/// The canonical tree as `docker compose config --format json` (`json`) or its YAML prints it:
/// without the zero values Compose's types leave out, fields in the order of those types and map
/// keys sorted. The typed model is built from the tree as loaded, so that printing changes
/// nothing that is deployed.
pub fn print_form(tree: &mut json::Value, json: bool) {
    omitempty::omit_zero_values(tree, json);
    print_order::order_as_printed(tree);
}

/// Loads, resolves, validates and normalises a compose project into the typed model. Callers
/// that also need the printed tree use [`load_canonical`] and [`Canonical::into_project`].
pub fn load(opts: &LoadOptions) -> Result<Project, ComposeError> {
    let mut project = load_canonical(opts)?.into_project()?;
    if !opts.swarm_objects {
        read_object_files(&mut project, opts.env_file_services.as_deref());
    }
    Ok(project)
}

/// The services a command that names `named` acts on: those and, transitively, what they depend
/// on (links, `network_mode: service:` and `volumes_from` are dependencies in the model too).
fn with_dependencies(project: &Project, named: &[String]) -> std::collections::BTreeSet<String> {
    let mut selected = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = named.to_vec();
    while let Some(name) = todo.pop() {
        if !selected.insert(name.clone()) {
            continue;
        }
        if let Some(service) = project.services.get(name.as_str()) {
            todo.extend(service.depends_on.keys().map(|k| k.to_string()));
        }
    }
    selected
}

/// Reads the `file:` sources of the secrets and configs the services use, so they can be copied
/// into containers on any engine, local or remote; an `external` one has nothing to copy. Verbs
/// that only act on what runs (`ps`, `down`: `services` is `Some(&[])`) read none; a verb that
/// names services (`up web`) reads those of the named ones and what they depend on, so that
/// another service's missing file does not stop it, as with Compose. A file that cannot be read
/// is kept as its reason, for the command that creates a container with it to name.
fn read_object_files(project: &mut Project, services: Option<&[String]>) {
    if services.is_some_and(|s| s.is_empty()) {
        return;
    }
    let selected = services.map(|named| with_dependencies(project, named));
    let used = |refs: fn(&Service) -> &Vec<ServiceFileRef>| -> std::collections::BTreeSet<String> {
        project
            .services
            .iter()
            .filter(|(name, _)| selected.as_ref().is_none_or(|s| s.contains(name.as_str())))
            .flat_map(|(_, service)| refs(service).iter().map(|r| r.source.to_string()))
            .collect()
    };
    let used_secrets = used(|s| &s.secrets);
    let used_configs = used(|s| &s.configs);
    for (objects, used) in [
        (&mut project.secrets, used_secrets),
        (&mut project.configs, used_configs),
    ] {
        for (key, object) in objects.iter_mut() {
            if !used.contains(key.as_str()) {
                continue;
            }
            if object.external {
                object.data = Some(Err(
                    "it is external, and only a Swarm keeps secrets and configs as objects of \
                     its own (Docker Compose: \"unsupported external secret\"): give it a `file`, \
                     `environment` or `content` source, or deploy to a Swarm"
                        .into(),
                ));
            } else if let Some(file) = object.file.as_deref() {
                object.data = Some(
                    read::read_bytes(std::path::Path::new(file))
                        .map(std::sync::Arc::from)
                        .map_err(|e| format!("reading {file}: {e}")),
                );
            }
        }
    }
}
