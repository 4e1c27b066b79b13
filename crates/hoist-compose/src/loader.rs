//! The pipeline that turns compose files into one resolved tree: file discovery, project
//! environment (`.env`, `--env-file`, the shell), then per file: YAML → interpolation → `extends`
//! → `include` → merge over the files before it → schema validation; then profiles and the
//! project name. Normalisation into compose's output lives in [`crate::normalize`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::{ComposeError, Location};
use crate::interp::interpolate_tree;
use crate::merge::{enforce_unicity, merge, merge_maps, strip_resets};
use crate::normalize::resolve_service_paths;
use crate::read::read_text;
use crate::yaml::{Map, Node, Pos, Str, Value};

/// What to load and with which context. Only the binary reads the process environment: it passes
/// it here as `environment`.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files, in order; empty means `COMPOSE_FILE` or default discovery.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// Services named on the command line: enabled, with what they depend on, whatever their
    /// profiles (`up profiled-service`, `run tool`), as Compose does.
    pub enable_services: Vec<String>,
    /// `--env-file`; empty means the project directory's `.env` if it exists.
    pub env_files: Vec<PathBuf>,
    /// The process environment.
    pub environment: BTreeMap<String, String>,
    /// The directory relative paths on the command line start from (the current directory).
    pub working_dir: PathBuf,
    /// The services whose missing `env_file` is an error: `None` means every service; verbs that
    /// only act on what runs (`ps`, `logs`, `down`) name none, `up SERVICE` names its services,
    /// as Compose resolves the environment of the services a command uses only.
    pub env_file_services: Option<Vec<String>>,
    /// `--all-resources`: networks, volumes, secrets and configs no service uses are kept (by
    /// default they are dropped, as Compose drops them).
    pub all_resources: bool,
    /// Keep `${...}` expressions as written (`config --no-interpolate`, `--variables`); the
    /// tree is then not validated against the schema, whose types the expressions stand for.
    pub no_interpolate: bool,
    /// The project goes to a Swarm, whose secrets and configs are the engine's own objects:
    /// `file:` sources are not read into the project and `external` ones are the cluster's. On
    /// any other engine [`crate::load`] reads the files the services use, to copy them into the
    /// containers.
    pub swarm_objects: bool,
}

/// The default file names, in the order compose looks for them.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The loaded, merged tree before normalisation.
pub struct Loaded {
    pub tree: Map,
    pub name: String,
    pub project_dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub legacy: bool,
    pub profiles: Vec<String>,
    /// See [`LoadOptions::enable_services`].
    pub enable_services: Vec<String>,
    /// See [`LoadOptions::env_file_services`].
    pub env_file_services: Option<Vec<String>>,
    /// See [`LoadOptions::all_resources`].
    pub all_resources: bool,
    pub files: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// Lexically cleans a path: drops `.`, folds `..`.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

pub(crate) fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        clean(p)
    } else {
        clean(&base.join(p))
    }
}

pub(crate) struct Ctx<'a> {
    pub env: &'a BTreeMap<String, String>,
    pub warnings: &'a mut Vec<String>,
    /// Variables an `include`'s `env_file` brought in: the project's environment gains those it
    /// does not have (a secret's `environment` of an included file reads them), as Compose does.
    pub included_env: &'a mut BTreeMap<String, String>,
    pub legacy: &'a mut bool,
    pub home: Option<String>,
    /// Files being included (canonical paths), outermost first: include cycles and depth.
    pub including: Vec<PathBuf>,
    /// Services already resolved through `extends`, by file and name: chains shared by many
    /// services are resolved once.
    pub resolved: HashMap<(PathBuf, String), Node>,
    /// Files read for `extends.file`, parsed and interpolated, by canonical path: a file many
    /// services extend from is read once per load.
    pub parsed: HashMap<PathBuf, Rc<Parsed>>,
    /// Substitute variables (not with `--no-interpolate`).
    pub interpolate: bool,
}

/// How deep `include` may nest. Compose projects nest a few levels; the limit keeps a chain of
/// distinct files from exhausting the stack (each level is a few recursive calls).
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// The path `p` names once symbolic links and `..` are resolved, or `p` itself when it does not
/// exist (reading it then reports that): two names of one file are one file.
fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Runs the pipeline up to the merged tree.
pub fn load_tree(opts: &LoadOptions) -> Result<Loaded, ComposeError> {
    let wd = if opts.working_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        opts.working_dir.clone()
    };
    let project_dir_flag = opts.project_directory.as_ref().map(|d| absolute(&wd, d));

    // COMPOSE_FILE and friends may come from the `.env` of the working (or project) directory.
    let pre_dir = project_dir_flag.clone().unwrap_or_else(|| wd.clone());
    let pre_env = project_env(&opts.environment, opts, &pre_dir)?;

    let files: Vec<PathBuf> = if !opts.files.is_empty() {
        opts.files.iter().map(|f| absolute(&wd, f)).collect()
    } else if let Some(cf) = pre_env.get("COMPOSE_FILE").filter(|v| !v.is_empty()) {
        let sep = pre_env
            .get("COMPOSE_PATH_SEPARATOR")
            .cloned()
            .unwrap_or_else(|| ":".into());
        cf.split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(|f| absolute(&wd, Path::new(f)))
            .collect()
    } else {
        discover(&pre_dir)?
    };

    let project_dir = match project_dir_flag {
        Some(d) => d,
        None => files
            .first()
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| wd.clone()),
    };
    // As Compose, the project directory's `.env` adds what the working directory's did not set.
    let mut env = if project_dir == pre_dir {
        pre_env
    } else {
        project_env(&pre_env, opts, &project_dir)?
    };

    // The name as far as the command line and environment know it; the file's `name:` comes
    // later.
    let pre_name = opts
        .project_name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| env.get("COMPOSE_PROJECT_NAME").cloned())
        .filter(|n| !n.is_empty());
    if let Some(n) = &pre_name {
        env.insert("COMPOSE_PROJECT_NAME".into(), normalize_name(n));
    }

    let mut warnings = Vec::new();
    let mut legacy = false;
    let mut tree: Option<Node> = None;
    let mut included_env = BTreeMap::new();
    {
        let mut ctx = Ctx {
            env: &env,
            warnings: &mut warnings,
            included_env: &mut included_env,
            legacy: &mut legacy,
            home: env.get("HOME").cloned(),
            including: Vec::new(),
            resolved: Default::default(),
            parsed: Default::default(),
            interpolate: !opts.no_interpolate,
        };
        for f in &files {
            let docs = load_file(f, &mut ctx, &project_dir, "compose file", None)?;
            for doc in docs {
                let merged = match tree.take() {
                    None => strip_resets(doc),
                    Some(acc) => merge(acc, doc, &mut Vec::new()),
                };
                let mut merged = merged;
                enforce_unicity(&mut merged);
                if !opts.no_interpolate {
                    crate::schema::validate(&merged, &f.display().to_string())?;
                }
                tree = Some(merged);
            }
        }
    }
    let tree = match tree.map(|t| t.value) {
        Some(Value::Map(m)) => m,
        _ => Map::default(),
    };
    if tree.is_empty() && !legacy {
        return Err(ComposeError::invalid(format!(
            "empty compose file: {}",
            files
                .first()
                .map(|f| f.display().to_string())
                .unwrap_or_default()
        )));
    }

    let name = match pre_name {
        Some(n) => n,
        None => match tree.get("name").and_then(Node::scalar_string) {
            Some(n) if !n.is_empty() => n,
            _ => project_dir
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default(),
        },
    };
    let name = normalize_name(&name);
    if name.is_empty() {
        return Err(ComposeError::invalid(
            "project name must not be empty: set one with -p or COMPOSE_PROJECT_NAME",
        ));
    }

    let mut profiles: Vec<String> = opts.profiles.clone();
    if profiles.is_empty()
        && let Some(p) = env.get("COMPOSE_PROFILES")
    {
        profiles = p
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }

    for (k, v) in included_env {
        env.entry(k).or_insert(v);
    }

    Ok(Loaded {
        tree,
        name,
        project_dir,
        env,
        legacy,
        profiles,
        enable_services: opts.enable_services.clone(),
        env_file_services: opts.env_file_services.clone(),
        all_resources: opts.all_resources,
        files,
        warnings,
    })
}

/// Lower-cases and drops characters compose does not allow in project names.
pub fn normalize_name(n: &str) -> String {
    n.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect::<String>()
        .trim_start_matches(['_', '-'])
        .to_string()
}

fn discover(dir: &Path) -> Result<Vec<PathBuf>, ComposeError> {
    let mut d = Some(dir.to_path_buf());
    while let Some(cur) = d {
        for name in DEFAULT_FILES {
            let f = cur.join(name);
            if f.is_file() {
                let mut files = vec![f];
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "yml"));
                for o in [
                    format!("{stem}.override.{ext}"),
                    format!(
                        "{stem}.override.{}",
                        if ext == "yml" { "yaml" } else { "yml" }
                    ),
                ] {
                    let of = cur.join(o);
                    if of.is_file() {
                        files.push(of);
                        break;
                    }
                }
                return Ok(files);
            }
        }
        d = cur.parent().map(Path::to_path_buf);
    }
    Err(ComposeError::NoConfigFile {
        dir: dir.to_path_buf(),
    })
}

/// The environment seen by interpolation: `base` (the shell, or what an earlier `.env` added to
/// it) over the env files.
fn project_env(
    base: &BTreeMap<String, String>,
    opts: &LoadOptions,
    dir: &Path,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let wd = &opts.working_dir;
    let files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let f = dir.join(".env");
        if f.is_file() { vec![f] } else { Vec::new() }
    } else {
        opts.env_files.iter().map(|f| absolute(wd, f)).collect()
    };
    let mut from_files: BTreeMap<String, String> = BTreeMap::new();
    for f in files {
        let text = read_text(&f).map_err(|e| ComposeError::read(&f, "env file", None, e))?;
        let lookup = |k: &str| base.get(k).cloned().or_else(|| from_files.get(k).cloned());
        let parsed = crate::dotenv::parse(&text, &lookup)
            .map_err(|m| ComposeError::invalid(format!("failed to read {}: {m}", f.display())))?;
        for (k, v) in parsed {
            if let Some(v) = v {
                from_files.insert(k, v);
            }
        }
    }
    let mut env = from_files;
    for (k, v) in base {
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// Parses and interpolates one file, resolves its `extends` and `include`. `key` and `loc` say
/// where the file was named, for errors.
pub(crate) fn load_file(
    path: &Path,
    ctx: &mut Ctx<'_>,
    project_dir: &Path,
    key: &str,
    loc: Option<Location>,
) -> Result<Vec<Node>, ComposeError> {
    let text = read_text(path).map_err(|e| ComposeError::read(path, key, loc, e))?;
    let docs = parse_interpolated(&text, path, ctx)?;
    let mut out = Vec::new();
    for mut doc in docs {
        if crate::legacy::is_legacy(&doc) {
            *ctx.legacy = true;
            doc = crate::legacy::convert(doc, path)?;
        } else {
            apply_extends(&mut doc, path, ctx, project_dir)?;
            apply_include(&mut doc, path, ctx, project_dir)?;
        }
        out.push(doc);
    }
    Ok(out)
}

/// YAML + interpolation; each document must be a mapping.
pub(crate) fn parse_interpolated(
    text: &str,
    path: &Path,
    ctx: &mut Ctx<'_>,
) -> Result<Vec<Node>, ComposeError> {
    let file = path.display().to_string();
    let mut docs = crate::yaml::parse(text, &file)?;
    if docs.is_empty() {
        docs.push(Node::map(
            Map::default(),
            Pos {
                file: crate::yaml::FileName::intern(&file),
                line: 1,
                col: 1,
            },
        ));
    }
    let mut out = Vec::new();
    for mut doc in docs {
        if doc.is_null() {
            doc.value = Value::Map(Map::default());
        }
        if doc.as_map().is_none() {
            return Err(ComposeError::invalid_at(
                doc.pos.location(),
                "top-level object must be a mapping",
            ));
        }
        if !ctx.interpolate {
            out.push(doc);
            continue;
        }
        let mut unset = BTreeSet::new();
        let env = ctx.env;
        let lookup = |k: &str| env.get(k).cloned();
        interpolate_tree(&mut doc, &lookup, &mut unset)?;
        for u in unset {
            ctx.warnings.push(format!(
                "The \"{u}\" variable is not set. Defaulting to a blank string."
            ));
        }
        out.push(doc);
    }
    Ok(out)
}

fn services_of(doc: &Node) -> Option<&Map> {
    doc.as_map()?.get("services")?.as_map()
}

/// Resolves `extends` for every service of `doc` (read from `path`).
fn apply_extends(
    doc: &mut Node,
    path: &Path,
    ctx: &mut Ctx<'_>,
    project_dir: &Path,
) -> Result<(), ComposeError> {
    let Some(services_node) = doc.as_map_mut().and_then(|m| m.get_mut("services")) else {
        return Ok(());
    };
    // Resolve against the definitions as written, then replace the extending services.
    let Value::Map(mut services) = std::mem::replace(&mut services_node.value, Value::Null) else {
        return Ok(());
    };
    // The extending services, by their place in the map.
    let extending: Vec<(usize, String)> = services
        .iter()
        .enumerate()
        .filter(|(_, (_, s))| s.as_map().is_some_and(|m| m.contains_key("extends")))
        .map(|(i, (k, _))| (i, k.to_string()))
        .collect();
    // Services some service of this file extends (whatever the file named): only these are
    // worth remembering once resolved.
    let bases: BTreeSet<String> = services
        .values()
        .filter_map(|s| s.as_map()?.get("extends"))
        .filter_map(|e| match &e.value {
            Value::Str(s) => Some(s.to_string()),
            Value::Map(m) => m.get("service").and_then(Node::scalar_string),
            _ => None,
        })
        .collect();
    let mut resolved = Vec::with_capacity(extending.len());
    let names = if extending.is_empty() {
        NameIndex::default()
    } else {
        name_index(&services)
    };
    for (index, name) in extending {
        // No service extends this one: it is read only here, so move it out instead of copying
        // it (its resolved form is put back below).
        let own = if bases.contains(&name) {
            None
        } else {
            let n = services.value_at_mut(index);
            Some(std::mem::replace(n, Node::null(n.pos)))
        };
        let r = resolve_extends(
            (&services, &names),
            path,
            &name,
            ctx,
            project_dir,
            &bases,
            Extending { own, from: None },
        );
        match r {
            Ok(n) => resolved.push((index, n)),
            Err(e) => {
                services_node.value = Value::Map(services);
                return Err(e);
            }
        }
    }
    for (index, n) in resolved {
        *services.value_at_mut(index) = n;
    }
    services_node.value = Value::Map(services);
    Ok(())
}

/// What [`resolve_extends`] knows about the service it resolves besides its name.
struct Extending<'a> {
    /// The service's definition, already moved out of the map (see `apply_extends`).
    own: Option<Node>,
    /// Where the `extends` that names it was written (for "not found").
    from: Option<&'a Pos>,
}

/// One service of an `extends` chain, waiting for its base to be resolved.
struct Link {
    file: PathBuf,
    name: String,
    /// The service as written, without its `extends`.
    service: Node,
    /// The directory of the other file its base is read from (`extends.file`).
    base_dir: Option<PathBuf>,
}

/// The services an `extends` looks a name up in: the file being loaded, or another file.
enum Source<'a> {
    Local(&'a Map, &'a NameIndex),
    Other(Rc<Parsed>),
}

/// A file `extends.file` names: its first document and where its services are.
pub(crate) struct Parsed {
    doc: Node,
    names: NameIndex,
}

/// Where each service sits in the file's services map: a chain of n services looks n names up,
/// which a scan of the map would make quadratic.
type NameIndex = HashMap<Str, usize, foldhash::fast::RandomState>;

impl Source<'_> {
    fn get(&self, name: &str) -> Option<&Node> {
        match self {
            Source::Local(m, index) => m.as_slice().get(*index.get(name)?).map(|(_, v)| v),
            Source::Other(p) => {
                let services = services_of(&p.doc)?;
                services.as_slice().get(*p.names.get(name)?).map(|(_, v)| v)
            }
        }
    }
}

/// Returns service `name` of `services` (read from `path`) with its `extends` chain applied.
/// The chain is followed in a loop, then merged from its far end back: a chain of any length
/// costs no stack.
fn resolve_extends(
    services: (&Map, &NameIndex),
    path: &Path,
    name: &str,
    ctx: &mut Ctx<'_>,
    project_dir: &Path,
    bases: &BTreeSet<String>,
    extending: Extending<'_>,
) -> Result<Node, ComposeError> {
    let mut links: Vec<Link> = Vec::new();
    let mut on_chain: HashSet<(PathBuf, String)> = HashSet::new();
    let mut source = Source::Local(services.0, services.1);
    let mut file = path.to_path_buf();
    let mut cur = name.to_string();
    let mut own = extending.own;
    let mut from = extending.from.copied();
    let base = loop {
        let found = match own.take() {
            Some(n) => Some(n),
            None => source.get(&cur).cloned(),
        };
        let service = found.ok_or_else(|| {
            ComposeError::invalid_at(
                from.as_ref().and_then(Pos::location),
                format!(
                    "cannot extend service {cur:?} in {}: service not found{}",
                    file.display(),
                    links
                        .last()
                        .map(|l| format!(" (extends of service {:?})", l.name))
                        .unwrap_or_default()
                ),
            )
        })?;
        let Some(ext) = service.as_map().and_then(|m| m.get("extends")).cloned() else {
            break service;
        };
        let key = (file.clone(), cur.clone());
        if let Some(done) = ctx.resolved.get(&key) {
            break done.clone();
        }
        if !on_chain.insert(key.clone()) {
            let mut names: Vec<String> = links
                .iter()
                .map(|l| format!("{} in {}", l.name, l.file.display()))
                .collect();
            names.push(format!("{cur} in {}", file.display()));
            return Err(ComposeError::ExtendsCycle {
                loc: ext.pos.location(),
                chain: names,
            });
        }
        let (base_name, other) = extends_target(&ext, &cur)?;
        let mut service = service;
        if let Some(m) = service.as_map_mut() {
            m.shift_remove("extends");
        }
        let base_dir = match other {
            None => None,
            Some(f) => {
                let dir = file.parent().unwrap_or(Path::new("."));
                let other = absolute(dir, Path::new(&f));
                let key = format!("services.{cur}.extends.file");
                source = Source::Other(parsed_file(ctx, &other, &key, ext.pos.location())?);
                let other_dir = other.parent().unwrap_or(Path::new(".")).to_path_buf();
                file = other;
                Some(other_dir)
            }
        };
        links.push(Link {
            file: key.0,
            name: std::mem::replace(&mut cur, base_name),
            service,
            base_dir,
        });
        from = Some(ext.pos);
    };
    let mut acc = base;
    for (outer, link) in links.into_iter().enumerate().rev() {
        let mut base = acc;
        // Relative paths of a service read from another file are relative to that file.
        if let Some(d) = &link.base_dir
            && d != project_dir
        {
            resolve_service_paths(&mut base, d, ctx.home.as_deref());
        }
        if let Some(m) = base.as_map_mut() {
            m.shift_remove("extends");
        }
        let mut p = vec![Str::new_static("services"), Str::new(&link.name)];
        let pos = link.service.pos;
        let merged = match (base.value, link.service.value) {
            (Value::Map(b), Value::Map(s)) => Node::map(merge_maps(b, s, &mut p), pos),
            (_, v) => Node::new(v, pos),
        };
        // Only bases are looked up again: keeping a copy of every extending service would clone
        // the whole project.
        if outer > 0 || bases.contains(&link.name) {
            ctx.resolved.insert((link.file, link.name), merged.clone());
        }
        acc = merged;
    }
    Ok(acc)
}
/// The service and file an `extends` names (`extends: base` or `extends: {service, file}`).
fn extends_target(ext: &Node, name: &str) -> Result<(String, Option<String>), ComposeError> {
    match &ext.value {
        Value::Str(s) => Ok((s.to_string(), None)),
        Value::Map(m) => Ok((
            m.get("service")
                .and_then(Node::scalar_string)
                .ok_or_else(|| {
                    ComposeError::invalid_at(
                        ext.pos.location(),
                        format!("services.{name}.extends.service is required"),
                    )
                })?,
            m.get("file").and_then(Node::scalar_string),
        )),
        _ => Err(ComposeError::invalid_at(
            ext.pos.location(),
            format!("services.{name}.extends must be a string or a mapping"),
        )),
    }
}

fn name_index(services: &Map) -> NameIndex {
    services
        .keys()
        .enumerate()
        .map(|(i, k)| (k.clone(), i))
        .collect()
}

/// The first document of a file `extends.file` names, parsed and interpolated once per load.
fn parsed_file(
    ctx: &mut Ctx<'_>,
    path: &Path,
    key: &str,
    loc: Option<Location>,
) -> Result<Rc<Parsed>, ComposeError> {
    let id = canonical(path);
    if let Some(doc) = ctx.parsed.get(&id) {
        return Ok(doc.clone());
    }
    let text = read_text(path).map_err(|e| ComposeError::read(path, key, loc, e))?;
    let mut docs = parse_interpolated(&text, path, ctx)?;
    let doc = docs.swap_remove(0);
    let names = services_of(&doc).map(name_index).unwrap_or_default();
    let parsed = Rc::new(Parsed { doc, names });
    ctx.parsed.insert(id, parsed.clone());
    Ok(parsed)
}

/// Loads the projects an `include` lists and adds their resources to `doc`.
fn apply_include(
    doc: &mut Node,
    path: &Path,
    ctx: &mut Ctx<'_>,
    _project_dir: &Path,
) -> Result<(), ComposeError> {
    let Some(includes) = doc.as_map_mut().and_then(|m| m.shift_remove("include")) else {
        return Ok(());
    };
    let Some(items) = includes.as_seq() else {
        return Ok(());
    };
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    for item in items {
        let (paths, pdir, env_files): (Vec<String>, Option<String>, Vec<String>) = match &item.value
        {
            Value::Str(s) => (vec![s.to_string()], None, Vec::new()),
            Value::Map(m) => {
                let list = |k: &str| -> Vec<String> {
                    match m.get(k).map(|n| &n.value) {
                        Some(Value::Str(s)) => vec![s.to_string()],
                        Some(Value::Seq(v)) => v.iter().filter_map(Node::scalar_string).collect(),
                        _ => Vec::new(),
                    }
                };
                (
                    list("path"),
                    m.get("project_directory").and_then(Node::scalar_string),
                    list("env_file"),
                )
            }
            _ => continue,
        };
        let files: Vec<PathBuf> = paths
            .iter()
            .map(|p| absolute(&dir, Path::new(&*expand_home(p, ctx.home.as_deref()))))
            .collect();
        let Some(first) = files.first() else {
            continue;
        };
        // Every file of the item may close a cycle, not only the first.
        let here = canonical(path);
        for f in &files {
            let id = canonical(f);
            if id == here || ctx.including.contains(&id) {
                return Err(ComposeError::invalid_at(
                    item.pos.location(),
                    format!(
                        "include cycle detected: {} includes {}",
                        path.display(),
                        f.display()
                    ),
                ));
            }
        }
        if ctx.including.len() >= MAX_INCLUDE_DEPTH {
            return Err(ComposeError::TooDeep {
                loc: item.pos.location(),
                key: "include".into(),
                message: format!(
                    "includes nest more than {MAX_INCLUDE_DEPTH} levels deep at {}",
                    first.display()
                ),
            });
        }
        let sub_dir = match &pdir {
            Some(d) => absolute(&dir, Path::new(d)),
            None => first.parent().unwrap_or(Path::new(".")).to_path_buf(),
        };
        // The included project sees the parent's environment over its own `.env`.
        let env_paths: Vec<PathBuf> = if env_files.is_empty() {
            let f = sub_dir.join(".env");
            if f.is_file() { vec![f] } else { Vec::new() }
        } else {
            env_files
                .iter()
                .map(|e| absolute(&dir, Path::new(e)))
                .collect()
        };
        let mut sub_env = BTreeMap::new();
        for f in env_paths {
            let text = read_text(&f)
                .map_err(|e| ComposeError::read(&f, "include.env_file", item.pos.location(), e))?;
            let parent = ctx.env;
            let lookup = |k: &str| parent.get(k).cloned();
            let parsed = crate::dotenv::parse(&text, &lookup).map_err(|m| {
                ComposeError::invalid(format!("failed to read {}: {m}", f.display()))
            })?;
            for (k, v) in parsed {
                if let Some(v) = v {
                    sub_env.insert(k, v);
                }
            }
        }
        for (k, v) in ctx.env {
            sub_env.insert(k.clone(), v.clone());
        }
        for (k, v) in &sub_env {
            if !ctx.env.contains_key(k) {
                ctx.included_env
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
        }
        let mut sub_legacy = false;
        let mut sub_tree: Option<Node> = None;
        {
            let mut including = ctx.including.clone();
            including.push(here);
            let mut sub = Ctx {
                env: &sub_env,
                warnings: ctx.warnings,
                included_env: ctx.included_env,
                legacy: &mut sub_legacy,
                home: ctx.home.clone(),
                including,
                resolved: Default::default(),
                parsed: Default::default(),
                interpolate: ctx.interpolate,
            };
            for f in &files {
                for d in load_file(f, &mut sub, &sub_dir, "include", item.pos.location())? {
                    sub_tree = Some(match sub_tree.take() {
                        None => strip_resets(d),
                        Some(acc) => merge(acc, d, &mut Vec::new()),
                    });
                }
            }
        }
        let Some(mut sub_tree) = sub_tree else {
            continue;
        };
        if let Some(m) = sub_tree.as_map_mut() {
            crate::normalize::resolve_tree_paths(m, &sub_dir, ctx.home.as_deref());
        }
        let Value::Map(sub_map) = sub_tree.value else {
            continue;
        };
        let Some(target) = doc.as_map_mut() else {
            continue;
        };
        for section in [
            "services", "networks", "volumes", "secrets", "configs", "models",
        ] {
            let Some(incoming) = sub_map.get(section).and_then(Node::as_map) else {
                continue;
            };
            let entry = target
                .entry(section.to_string())
                .or_insert_with(|| Node::map(Map::default(), item.pos));
            if entry.is_null() {
                entry.value = Value::Map(Map::default());
            }
            let Some(existing) = entry.as_map_mut() else {
                continue;
            };
            for (k, v) in incoming {
                if let Some(cur) = existing.get(k) {
                    if cur != v {
                        return Err(ComposeError::invalid_at(
                            cur.pos.location(),
                            format!(
                                "services.{k} conflicts with imported resource: imported compose file {} defines conflicting {} {k}",
                                first.display(),
                                section.trim_end_matches('s')
                            ),
                        ));
                    }
                    continue;
                }
                existing.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// `~` at the start of a path is the home directory.
pub(crate) fn expand_home<'a>(p: &'a str, home: Option<&str>) -> std::borrow::Cow<'a, str> {
    match (p.strip_prefix('~'), home) {
        (Some(rest), Some(h)) if rest.is_empty() || rest.starts_with('/') => {
            std::borrow::Cow::Owned(format!("{h}{rest}"))
        }
        _ => std::borrow::Cow::Borrowed(p),
    }
}

/// Removes the services that none of the active profiles enables, except those named in
/// `enable` and the services they depend on.
pub fn apply_profiles(tree: &mut Map, profiles: &[String], enable: &[String]) {
    let all = profiles.iter().any(|p| p == "*");
    let Some(Value::Map(services)) = tree.get_mut("services").map(|s| &mut s.value) else {
        return;
    };
    let mut keep: std::collections::HashSet<String> = services
        .iter()
        .filter(|(_, s)| all || profile_active(s, profiles))
        .map(|(name, _)| name.to_string())
        .collect();
    // The named services and, transitively, what they depend on.
    let mut todo: Vec<String> = enable.to_vec();
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(service) = services.get(name.as_str()) else {
            continue;
        };
        todo.extend(dependency_names(service));
        keep.insert(name);
    }
    if keep.len() < services.len() {
        services.retain(|name, _| keep.contains(&**name));
    }
}

/// A service without profiles is always active; one with profiles when one of them is.
fn profile_active(service: &Node, profiles: &[String]) -> bool {
    let Some(ps) = service
        .as_map()
        .and_then(|m| m.get("profiles"))
        .and_then(Node::as_seq)
    else {
        return true;
    };
    ps.is_empty()
        || ps
            .iter()
            .filter_map(Node::scalar_string)
            .any(|p| profiles.contains(&p))
}

/// The services a service's `depends_on` names (list or map form).
fn dependency_names(service: &Node) -> Vec<String> {
    let Some(deps) = service.as_map().and_then(|m| m.get("depends_on")) else {
        return Vec::new();
    };
    if let Some(list) = deps.as_seq() {
        return list.iter().filter_map(Node::scalar_string).collect();
    }
    deps.as_map()
        .map(|m| m.keys().map(|k| k.to_string()).collect())
        .unwrap_or_default()
}
