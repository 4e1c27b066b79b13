//! Image builds with the engine's classic builder, through the Engine API (`POST /build`).
//!
//! The context directory is walked once, filtered by its `.dockerignore` (see
//! [`crate::dockerignore`]), and streamed to the engine as a tar while it is being written, so a
//! large context is never held in memory. As with `docker build`, the Dockerfile and the
//! `.dockerignore` are always sent, entries are owned by root, and a Dockerfile outside the
//! context travels inside the tar under a generated name.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::auth::RegistryAuth;
use crate::dockerignore::{DockerIgnore, IgnoreError};
use crate::error::engine_message;
use crate::image::ImageError;
use crate::lines::LineBuffer;
use crate::reference::{ImageRef, ReferenceError};
use crate::{Engine, EngineError};

/// What to build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildSpec {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context or absolute; `Dockerfile` when `None`.
    pub dockerfile: Option<PathBuf>,
    pub build_args: BTreeMap<String, String>,
    /// The stage to stop at (`--target`).
    pub target: Option<String>,
    /// Labels set on the built image.
    pub labels: BTreeMap<String, String>,
    /// References to tag the result with (`--tag`, several allowed).
    pub tags: Vec<String>,
    /// Always try to pull newer versions of the base images (`--pull`).
    pub pull: bool,
    /// Do not use the build cache (`--no-cache`).
    pub no_cache: bool,
}

/// A finished build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Built {
    /// `sha256:...`
    pub image_id: String,
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the build context {} does not exist or is not a directory", path.display())]
    ContextMissing { path: PathBuf },

    #[error(
        "the Dockerfile {} does not exist (a relative dockerfile path is taken from the build \
         context {})",
        path.display(),
        context.display()
    )]
    DockerfileMissing { path: PathBuf, context: PathBuf },

    #[error(transparent)]
    Ignore(#[from] IgnoreError),

    #[error("cannot read {} from the build context: {cause}", path.display())]
    ContextRead { path: PathBuf, cause: String },

    #[error("invalid tag: {0}")]
    InvalidTag(#[from] ReferenceError),

    #[error("building {image} failed{}: {message}", step.as_ref().map(|s| format!(" at {s}")).unwrap_or_default())]
    StepFailed {
        /// The first tag, or the context directory when the build is untagged.
        image: String,
        /// The builder's last `Step N/M : ...` line before the failure.
        step: Option<String>,
        /// The builder's own message.
        message: String,
    },

    #[error("building {image}: the engine finished without reporting an image id")]
    NoImageId { image: String },

    #[error(transparent)]
    Tag(#[from] ImageError),

    #[error(transparent)]
    Engine(#[from] EngineError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum EntryKind {
    File,
    Dir,
    Symlink,
}

#[derive(Debug, Clone)]
struct Entry {
    /// Name in the tar, `/`-separated.
    name: String,
    source: PathBuf,
    kind: EntryKind,
}

/// The resolved context: what goes into the tar, and the Dockerfile's name inside it.
#[derive(Debug, Clone)]
struct Context {
    entries: Vec<Entry>,
    dockerfile: String,
}

/// The paths (relative, `/`-separated, in tar order) that a build of `spec` sends to the engine.
pub fn context_paths(spec: &BuildSpec) -> Result<Vec<String>, BuildError> {
    Ok(plan_context(spec)?
        .entries
        .into_iter()
        .map(|e| e.name)
        .collect())
}

fn plan_context(spec: &BuildSpec) -> Result<Context, BuildError> {
    let context = &spec.context;
    if !context.is_dir() {
        return Err(BuildError::ContextMissing {
            path: context.clone(),
        });
    }
    let dockerfile = spec
        .dockerfile
        .clone()
        .unwrap_or_else(|| PathBuf::from("Dockerfile"));
    let dockerfile_path = if dockerfile.is_absolute() {
        dockerfile.clone()
    } else {
        context.join(&dockerfile)
    };
    if !dockerfile_path.is_file() {
        return Err(BuildError::DockerfileMissing {
            path: dockerfile_path,
            context: context.clone(),
        });
    }
    // Inside the context the Dockerfile is sent as itself; outside it travels under a
    // generated name (as the docker CLI does).
    let inside = relative_inside(context, &dockerfile_path);
    let ignore_file = context.join(".dockerignore");
    let mut ignore = match std::fs::read_to_string(&ignore_file) {
        Ok(text) => DockerIgnore::parse(&text, &ignore_file)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(e) => {
            return Err(BuildError::ContextRead {
                path: ignore_file,
                cause: e.to_string(),
            });
        }
    };
    ignore.keep(".dockerignore");
    if let Some(name) = &inside {
        ignore.keep(name);
    }
    let mut entries = Vec::new();
    walk(context, "", &ignore, &mut entries)?;
    let dockerfile_name = match inside {
        Some(name) => name,
        None => {
            let name = format!(".dockerfile.{:016x}", path_hash(&dockerfile_path));
            entries.push(Entry {
                name: name.clone(),
                source: dockerfile_path,
                kind: EntryKind::File,
            });
            name
        }
    };
    Ok(Context {
        entries,
        dockerfile: dockerfile_name,
    })
}

/// `path` relative to `context` with `/` separators, when it lies inside it.
fn relative_inside(context: &Path, path: &Path) -> Option<String> {
    let context = context.canonicalize().ok()?;
    let path = path.canonicalize().ok()?;
    let rel = path.strip_prefix(&context).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn path_hash(path: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut hasher);
    hasher.finish()
}

fn walk(
    root: &Path,
    prefix: &str,
    ignore: &DockerIgnore,
    out: &mut Vec<Entry>,
) -> Result<(), BuildError> {
    let dir = if prefix.is_empty() {
        root.to_path_buf()
    } else {
        root.join(prefix)
    };
    let read_err = |path: &Path, e: io::Error| BuildError::ContextRead {
        path: path.to_path_buf(),
        cause: e.to_string(),
    };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| read_err(&dir, e))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| read_err(&dir, e))?;
    // Sorted, so the same context always gives the same tar.
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let source = root.join(&rel);
        let meta = std::fs::symlink_metadata(&source).map_err(|e| read_err(&source, e))?;
        let excluded = ignore.is_excluded(&rel);
        let kind = if meta.file_type().is_symlink() {
            EntryKind::Symlink
        } else if meta.is_dir() {
            EntryKind::Dir
        } else if meta.is_file() {
            EntryKind::File
        } else {
            // Sockets, fifos and devices cannot be part of an image build context.
            continue;
        };
        if kind == EntryKind::Dir {
            if !excluded {
                out.push(Entry {
                    name: rel.clone(),
                    source,
                    kind,
                });
                walk(root, &rel, ignore, out)?;
            } else if ignore.may_reinclude_under(&rel) {
                walk(root, &rel, ignore, out)?;
            }
        } else if !excluded {
            out.push(Entry {
                name: rel,
                source,
                kind,
            });
        }
    }
    Ok(())
}

/// Buffers tar bytes and hands them to the request body in chunks.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the engine stopped reading the context",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Writes the tar; the first failure is returned with the path it concerns.
fn write_tar(entries: &[Entry], out: impl Write) -> Result<(), (PathBuf, io::Error)> {
    let mut tar = tar::Builder::new(out);
    for entry in entries {
        let fail = |e: io::Error| (entry.source.clone(), e);
        let meta = std::fs::symlink_metadata(&entry.source).map_err(fail)?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("").map_err(fail)?;
        header.set_groupname("").map_err(fail)?;
        match entry.kind {
            EntryKind::File => {
                let file = std::fs::File::open(&entry.source).map_err(fail)?;
                tar.append_data(&mut header, &entry.name, file)
                    .map_err(fail)?;
            }
            EntryKind::Dir => {
                header.set_size(0);
                tar.append_data(&mut header, &entry.name, io::empty())
                    .map_err(fail)?;
            }
            EntryKind::Symlink => {
                let target = std::fs::read_link(&entry.source).map_err(fail)?;
                header.set_size(0);
                tar.append_link(&mut header, &entry.name, target)
                    .map_err(fail)?;
            }
        }
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| (PathBuf::from("<context archive>"), e))
}

impl Engine {
    /// Builds an image with the classic builder and tags it with every tag in `spec.tags`.
    /// Each output line of the builder goes to `on_output`. `registry_auths` are offered to the
    /// engine for pulling base images from private registries.
    pub async fn build(
        &self,
        spec: &BuildSpec,
        registry_auths: &[RegistryAuth],
        mut on_output: impl FnMut(&str) + Send,
    ) -> Result<Built, BuildError> {
        for tag in &spec.tags {
            ImageRef::parse(tag)?;
        }
        let image_label = spec
            .tags
            .first()
            .cloned()
            .unwrap_or_else(|| spec.context.display().to_string());
        let plan_spec = spec.clone();
        let context = tokio::task::spawn_blocking(move || plan_context(&plan_spec))
            .await
            .map_err(|e| BuildError::ContextRead {
                path: spec.context.clone(),
                cause: e.to_string(),
            })??;

        let (tx, mut rx) = mpsc::channel::<Result<Bytes, io::Error>>(8);
        let tar_failure: Arc<Mutex<Option<(PathBuf, String)>>> = Arc::default();
        let entries = context.entries;
        let failure_slot = tar_failure.clone();
        // Written on a blocking thread and streamed while the engine reads it. Not awaited:
        // when the request ends the receiver is dropped and the writer stops by itself.
        tokio::task::spawn_blocking(move || {
            let mut writer = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            if let Err((path, e)) = write_tar(&entries, &mut writer) {
                let message = e.to_string();
                *failure_slot.lock().expect("tar failure slot") = Some((path, message.clone()));
                let _ = tx.blocking_send(Err(io::Error::other(message)));
            }
        });
        let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));

        let build_args: HashMap<&str, &str> = spec
            .build_args
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let labels: HashMap<&str, &str> = spec
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut options = bollard::query_parameters::BuildImageOptionsBuilder::default()
            .dockerfile(&context.dockerfile)
            .rm(true)
            // A failed step's container is of no use to anyone and would otherwise stay behind.
            .forcerm(true)
            .nocache(spec.no_cache)
            .buildargs(&build_args)
            .labels(&labels);
        if let Some(tag) = spec.tags.first() {
            options = options.t(tag);
        }
        if let Some(target) = &spec.target {
            options = options.target(target);
        }
        if spec.pull {
            options = options.pull("1");
        }
        let mut credentials: Option<HashMap<String, bollard::auth::DockerCredentials>> = None;
        for auth in registry_auths {
            if let Some(creds) = self.credentials_for_request(Some(auth))? {
                credentials
                    .get_or_insert_with(HashMap::new)
                    .insert(auth.server.clone(), creds);
            }
        }

        let mut stream = self.client().build_image(
            options.build(),
            credentials,
            Some(bollard::body_try_stream(body)),
        );
        let mut lines = LineBuffer::default();
        let mut last_step: Option<String> = None;
        let mut image_id: Option<String> = None;
        let mut short_id: Option<String> = None;
        let mut failure: Option<bollard::errors::Error> = None;
        let mut record = |line: String, on_output: &mut dyn FnMut(&str)| {
            if line.starts_with("Step ") {
                last_step = Some(line.clone());
            }
            if let Some(id) = line.strip_prefix("Successfully built ") {
                short_id = Some(id.trim().to_string());
            }
            on_output(&line);
        };
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = &info.stream {
                        lines.push(text, |l| record(l, &mut on_output));
                    }
                    if let Some(status) = &info.status {
                        let line = match &info.id {
                            Some(id) if !id.is_empty() => format!("{id}: {status}"),
                            _ => status.clone(),
                        };
                        record(line, &mut on_output);
                    }
                    if let Some(id) = info.aux.and_then(|aux| aux.id) {
                        image_id = Some(id);
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        lines.finish(|l| record(l, &mut on_output));
        drop(stream);

        if let Some(err) = failure {
            if let Some((path, cause)) = tar_failure.lock().expect("tar failure slot").take() {
                return Err(BuildError::ContextRead { path, cause });
            }
            return Err(match engine_message(&err) {
                Some(message) => BuildError::StepFailed {
                    image: image_label,
                    step: last_step,
                    message: message.trim().to_string(),
                },
                None => EngineError::new(format!("building {image_label}"), err).into(),
            });
        }
        let image_id =
            match (image_id, short_id) {
                (Some(id), _) => id,
                // Engines older than API 1.30 only print the short id; ask for the full one.
                (None, Some(short)) => self.inspect_image(&short).await?.map(|i| i.id).ok_or(
                    BuildError::NoImageId {
                        image: image_label.clone(),
                    },
                )?,
                (None, None) => return Err(BuildError::NoImageId { image: image_label }),
            };
        for extra in spec.tags.iter().skip(1) {
            self.tag(&image_id, extra).await?;
        }
        Ok(Built {
            image_id,
            tags: spec.tags.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn spec(dir: &Path) -> BuildSpec {
        BuildSpec {
            context: dir.to_path_buf(),
            ..Default::default()
        }
    }

    #[test]
    fn the_context_honours_dockerignore_but_always_sends_the_build_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, ".dockerignore", "*\n!app\n");
        write(d, "app/main.sh", "echo hi\n");
        write(d, "secret.env", "TOKEN=1\n");
        write(d, "target/big.bin", "x");
        assert_eq!(
            context_paths(&spec(d)).unwrap(),
            [".dockerignore", "Dockerfile", "app", "app/main.sh"]
        );
    }

    #[test]
    fn excluded_directories_are_entered_only_for_exceptions_inside_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, ".dockerignore", "docs\n!docs/keep.md\nnode_modules\n");
        write(d, "docs/keep.md", "k");
        write(d, "docs/drop.md", "d");
        write(d, "node_modules/x/index.js", "x");
        assert_eq!(
            context_paths(&spec(d)).unwrap(),
            [".dockerignore", "Dockerfile", "docs/keep.md"]
        );
    }

    #[test]
    fn a_dockerfile_elsewhere_travels_under_a_generated_name() {
        let ctx = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        write(ctx.path(), "a.txt", "a");
        write(other.path(), "build.Dockerfile", "FROM scratch\n");
        let mut s = spec(ctx.path());
        s.dockerfile = Some(other.path().join("build.Dockerfile"));
        let plan = plan_context(&s).unwrap();
        assert!(
            plan.dockerfile.starts_with(".dockerfile."),
            "{}",
            plan.dockerfile
        );
        let names: Vec<_> = plan.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.txt", plan.dockerfile.as_str()]);
        // Inside the context, the relative name is kept even when ignored.
        write(ctx.path(), "docker/app.Dockerfile", "FROM scratch\n");
        write(ctx.path(), ".dockerignore", "docker\n");
        s.dockerfile = Some("docker/app.Dockerfile".into());
        let plan = plan_context(&s).unwrap();
        assert_eq!(plan.dockerfile, "docker/app.Dockerfile");
        assert!(
            plan.entries
                .iter()
                .any(|e| e.name == "docker/app.Dockerfile")
        );
    }

    #[test]
    fn missing_context_and_dockerfile_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = context_paths(&spec(&dir.path().join("nope"))).unwrap_err();
        assert!(matches!(err, BuildError::ContextMissing { .. }), "{err}");
        let err = context_paths(&spec(dir.path())).unwrap_err();
        assert!(err.to_string().contains("Dockerfile"), "{err}");
    }

    #[test]
    fn the_tar_holds_root_owned_entries_with_their_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "run.sh", "#!/bin/sh\n");
        std::fs::set_permissions(d.join("run.sh"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("run.sh", d.join("link")).unwrap();
        let plan = plan_context(&spec(d)).unwrap();
        let mut bytes = Vec::new();
        write_tar(&plan.entries, &mut bytes).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            let name = entry.path().unwrap().display().to_string();
            if name == "run.sh" {
                assert_eq!(h.mode().unwrap() & 0o777, 0o750);
            }
            if name == "link" {
                assert_eq!(
                    entry.link_name().unwrap().unwrap().display().to_string(),
                    "run.sh"
                );
            }
            seen.push(name);
        }
        assert_eq!(seen, ["Dockerfile", "link", "run.sh"]);
    }
}
