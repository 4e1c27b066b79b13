//! Copying between a container and the local filesystem (`hoist cp`), streamed both ways so a
//! file of any size passes through a few chunks of memory: the engine's archive API sends and
//! takes tar streams; on this side a tar is built from local files as the upload reads it, and
//! a downloaded one is unpacked as it arrives. What goes where follows `docker cp`; that part is
//! decided purely by [`placement`].

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::error::{engine_message, is_not_found};
use crate::{Engine, EngineError};

/// What the engine says of a path in a container (`HEAD .../archive`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub is_dir: bool,
    pub is_symlink: bool,
    /// The absolute path a symbolic link resolves to in the container.
    pub link_target: String,
}

/// Go's `os.ModeDir` and `os.ModeSymlink` bits, as the engine reports a path's mode.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("could not find the file {path} in container {container}")]
    NoSuchPath { container: String, path: String },
    #[error("{0}")]
    Refused(String),
    /// A local file could not be read or written (the cause is part of the message, once).
    #[error("{operation} {path}: {cause}")]
    Local {
        operation: &'static str,
        path: String,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl CopyError {
    /// A local file at `path` that `operation` (reading, creating, ...) could not do.
    pub fn local(operation: &'static str, path: &Path, cause: std::io::Error) -> CopyError {
        CopyError::Local {
            operation,
            path: path.display().to_string(),
            cause,
        }
    }
}

/// Where a copy's top entry lands: in `dir`, under `name` (the source's own name when it is the
/// same), or, for a source ending in `/.`, its contents right in `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub dir: String,
    /// The name the top entry gets; `None` keeps the source's.
    pub rename: Option<String>,
    /// The source's contents go into `dir` (a source path ending in `/.`).
    pub contents: bool,
}

/// Where `docker cp` puts a source (`source_is_dir`, its path ending in `/.` or not) given what
/// the destination is: an existing directory (`Some(true)`), an existing file (`Some(false)`)
/// or nothing yet (`None`). Paths are `/`-separated.
pub fn placement(
    source: &str,
    source_is_dir: bool,
    dest: &str,
    dest_is_dir: Option<bool>,
) -> Result<Placement, CopyError> {
    // `SRC/.` copies the directory's contents into an existing directory; to a new name it is
    // the directory itself under that name.
    let contents =
        source_is_dir && (source.ends_with("/.") || source == ".") && dest_is_dir == Some(true);
    let dest_trimmed = dest.trim_end_matches('/');
    let dest_trimmed = if dest_trimmed.is_empty() {
        "/"
    } else {
        dest_trimmed
    };
    match dest_is_dir {
        Some(true) => Ok(Placement {
            dir: dest_trimmed.to_string(),
            rename: None,
            contents,
        }),
        Some(false) if source_is_dir => Err(CopyError::Refused(format!(
            "cannot copy a directory to a file: {dest}"
        ))),
        _ if dest.ends_with('/') => Err(CopyError::Refused(format!(
            "destination directory {dest} does not exist"
        ))),
        _ => {
            let (parent, name) = match dest_trimmed.rsplit_once('/') {
                Some(("", name)) => ("/", name),
                Some((parent, name)) => (parent, name),
                None => (".", dest_trimmed),
            };
            Ok(Placement {
                dir: parent.to_string(),
                rename: Some(name.to_string()),
                contents,
            })
        }
    }
}

fn stat_of(response: bollard::container::PathStatResponse) -> PathStat {
    PathStat {
        name: response.name,
        size: response.size,
        is_dir: response.file_mode & MODE_DIR != 0,
        is_symlink: response.file_mode & MODE_SYMLINK != 0,
        link_target: response.link_target,
    }
}

impl Engine {
    /// What `path` is in `container`; `None` when it does not exist.
    pub async fn stat_path(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<PathStat>, CopyError> {
        let container = crate::ids::container(container).map_err(EngineError::from)?;
        let options = bollard::query_parameters::ContainerArchiveInfoOptionsBuilder::default()
            .path(path)
            .build();
        match self
            .client()
            .get_container_archive_info(container, Some(options))
            .await
        {
            Ok(stat) => Ok(Some(stat_of(stat))),
            Err(e) if is_not_found(&e) && !no_such_container(&e) => Ok(None),
            Err(e) => Err(EngineError::new(format!("reading {path} in {container}"), e).into()),
        }
    }

    /// The tar stream of `path` in `container` (its top entry named after the path's last
    /// component), as the engine sends it.
    pub fn archive_of(
        &self,
        container: &str,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, CopyError>> + Send + 'static, CopyError> {
        let name = crate::ids::container(container)
            .map_err(EngineError::from)?
            .to_string();
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let what = format!("reading {path} in {name}");
        Ok(self
            .client()
            .download_from_container(&name, Some(options))
            .map(move |chunk| {
                chunk.map_err(|e| CopyError::Engine(EngineError::new(what.clone(), e)))
            }))
    }

    /// Unpacks `stream` (a tar) into directory `dir` of `container`, as it is read; the
    /// entries' owners are kept with `keep_owners`, else the container's root owns them.
    pub async fn extract_into(
        &self,
        container: &str,
        dir: &str,
        stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        keep_owners: bool,
    ) -> Result<(), CopyError> {
        let container = crate::ids::container(container).map_err(EngineError::from)?;
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
            .path(dir)
            .no_overwrite_dir_non_dir("true")
            .copy_uidgid(if keep_owners { "true" } else { "false" })
            .build();
        self.client()
            .upload_to_container(container, Some(options), bollard::body_try_stream(stream))
            .await
            .map_err(|e| match engine_message(&e) {
                Some(message) => {
                    CopyError::Refused(format!("copying into {dir} of {container}: {message}"))
                }
                None => EngineError::new(format!("copying into {dir} of {container}"), e).into(),
            })
    }
}

fn no_such_container(e: &bollard::errors::Error) -> bool {
    engine_message(e).is_some_and(|m| m.contains("No such container"))
}

/// Chunks written on a blocking thread, read as an async stream: how a tar built with the `tar`
/// crate (which writes to `std::io::Write`) becomes an upload's body without being held whole.
pub struct ChunkWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
}

/// A bounded pipe of `depth` chunks between a blocking writer and an async reader.
pub fn chunk_pipe(
    depth: usize,
) -> (
    ChunkWriter,
    impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(depth);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (ChunkWriter { tx }, stream)
}

impl ChunkWriter {
    /// Ends the stream with an error (the reader sees it as the body failing).
    pub fn fail(self, error: std::io::Error) {
        let _ = self.tx.blocking_send(Err(error));
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload ended"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The other way: an async stream's chunks read on a blocking thread as `std::io::Read` (for
/// unpacking a downloaded tar with the `tar` crate).
pub struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

/// A bounded pipe from an async producer to a blocking [`ChunkReader`].
pub fn read_pipe(
    depth: usize,
) -> (
    tokio::sync::mpsc::Sender<Result<Bytes, String>>,
    ChunkReader,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(depth);
    (
        tx,
        ChunkReader {
            rx,
            current: Bytes::new(),
        },
    )
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(message)) => return Err(std::io::Error::other(message)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Whether an archive entry's path stays below the directory it is unpacked in: relative, and
/// no `..` (an engine's archive is as hostile as any other input).
pub fn is_contained(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Unpacks the tar read from `reader` into `staging` (a fresh, empty directory), refusing
/// entries that would land outside it; keeps owners when `keep_owners`.
pub fn unpack(
    reader: impl std::io::Read,
    staging: &Path,
    keep_owners: bool,
) -> Result<(), CopyError> {
    let local = CopyError::local;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(keep_owners);
    archive.set_overwrite(true);
    let entries = archive
        .entries()
        .map_err(|e| local("reading the archive for", staging, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| local("reading the archive for", staging, e))?;
        let path: PathBuf = entry
            .path()
            .map_err(|e| local("reading the archive for", staging, e))?
            .into_owned();
        if !is_contained(&path) {
            return Err(CopyError::Refused(format!(
                "the archive holds {}, outside the copy: refused",
                path.display()
            )));
        }
        entry
            .unpack_in(staging)
            .map_err(|e| local("writing", &staging.join(&path), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(dir: &str, rename: Option<&str>, contents: bool) -> Placement {
        Placement {
            dir: dir.into(),
            rename: rename.map(String::from),
            contents,
        }
    }

    #[test]
    fn placement_follows_docker_cp() {
        // Into an existing directory: under the source's own name.
        assert_eq!(
            placement("/etc/hosts", false, "/tmp", Some(true)).unwrap(),
            at("/tmp", None, false)
        );
        assert_eq!(
            placement("/etc/nginx", true, "out/", Some(true)).unwrap(),
            at("out", None, false)
        );
        // A directory's contents (`/.`).
        assert_eq!(
            placement("/etc/nginx/.", true, "out", Some(true)).unwrap(),
            at("out", None, true)
        );
        assert_eq!(
            placement("/etc/nginx/.", true, "out", None).unwrap(),
            at(".", Some("out"), false)
        );
        // A new name: in the parent, renamed.
        assert_eq!(
            placement("/etc/hosts", false, "/tmp/h2", None).unwrap(),
            at("/tmp", Some("h2"), false)
        );
        assert_eq!(
            placement("/etc/nginx", true, "conf", None).unwrap(),
            at(".", Some("conf"), false)
        );
        assert_eq!(
            placement("a", false, "/x", None).unwrap(),
            at("/", Some("x"), false)
        );
        // Over an existing file: replaced.
        assert_eq!(
            placement("/etc/hosts", false, "h", Some(false)).unwrap(),
            at(".", Some("h"), false)
        );
        // Refused as docker refuses them.
        assert!(placement("/etc", true, "file", Some(false)).is_err());
        assert!(placement("/etc/hosts", false, "missing/", None).is_err());
    }

    #[test]
    fn entries_outside_the_copy_are_refused() {
        assert!(is_contained(Path::new("a/b/c")));
        assert!(is_contained(Path::new("./a")));
        assert!(!is_contained(Path::new("../a")));
        assert!(!is_contained(Path::new("a/../../b")));
        assert!(!is_contained(Path::new("/etc/passwd")));

        let mut evil = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        // `set_path` refuses `..`; an engine's archive is not so polite.
        header.as_old_mut().name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        evil.append(&header, &b"x"[..]).unwrap();
        let bytes = evil.into_inner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging");
        std::fs::create_dir(&staging).unwrap();
        let err = unpack(bytes.as_slice(), &staging, false).unwrap_err();
        assert!(err.to_string().contains("outside the copy"), "{err}");
        assert!(!dir.path().join("escape").exists());
    }
}
