//! Files into and out of a container's filesystem through the archive API (what `docker cp`
//! uses), so hoist can write nginx's configuration on a remote host and read the previous one
//! back to restore it, with no shell or SSH on that host.

use futures_util::TryStreamExt;
use serde::Serialize;

use crate::error::{engine_message, is_not_found};
use crate::{Engine, EngineError};

/// A file to write into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpload {
    /// Absolute path inside the container; missing parent directories are created.
    pub path: String,
    pub contents: Vec<u8>,
    /// Permission bits, such as `0o644`.
    pub mode: u32,
    /// Owner (user, group) ids; root's by default.
    pub owner: (u64, u64),
}

impl FileUpload {
    pub fn new(path: impl Into<String>, contents: impl Into<Vec<u8>>, mode: u32) -> FileUpload {
        FileUpload {
            path: path.into(),
            contents: contents.into(),
            mode,
            owner: (0, 0),
        }
    }

    /// The same file owned by `uid` and `gid`.
    pub fn owned_by(self, uid: u64, gid: u64) -> FileUpload {
        FileUpload {
            owner: (uid, gid),
            ..self
        }
    }
}

/// A regular file read from a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerFile {
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("no container {container} on the engine at {engine} (see `hoist ps -a`)")]
    NoSuchContainer { container: String, engine: String },

    #[error("{path:?} is not a valid container path: {why}")]
    BadPath { path: String, why: String },

    #[error("{path} in container {container} is not a regular file ({kind})")]
    NotAFile {
        container: String,
        path: String,
        kind: String,
    },

    #[error("{operation} {path} in container {container}: {message}")]
    Failed {
        operation: &'static str,
        container: String,
        path: String,
        message: String,
    },

    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Checks an absolute container path and returns it relative to `/`, `/`-separated.
fn relative_path(path: &str) -> Result<String, ArchiveError> {
    let bad = |why: &str| ArchiveError::BadPath {
        path: path.to_string(),
        why: why.to_string(),
    };
    if !path.starts_with('/') {
        return Err(bad("it must be absolute"));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(bad("'..' is not allowed")),
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Err(bad("it names the root directory, not a file"));
    }
    Ok(parts.join("/"))
}

/// A tar holding `files`, named relative to `/`, owned by root.
fn tar_of(files: &[FileUpload]) -> Result<Vec<u8>, ArchiveError> {
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut tar = tar::Builder::new(Vec::new());
    for file in files {
        let name = relative_path(&file.path)?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(file.contents.len() as u64);
        header.set_mode(file.mode & 0o7777);
        header.set_uid(file.owner.0);
        header.set_gid(file.owner.1);
        header.set_mtime(mtime);
        tar.append_data(&mut header, &name, file.contents.as_slice())
            .map_err(|e| ArchiveError::BadPath {
                path: file.path.clone(),
                why: e.to_string(),
            })?;
    }
    tar.into_inner().map_err(|e| ArchiveError::BadPath {
        path: String::new(),
        why: e.to_string(),
    })
}

impl Engine {
    /// Writes `files` into the container's filesystem in one archive upload. Works on stopped
    /// containers too.
    pub async fn upload_files(
        &self,
        container: &str,
        files: &[FileUpload],
    ) -> Result<(), ArchiveError> {
        let container = crate::ids::container(container).map_err(EngineError::from)?;
        if files.is_empty() {
            return Ok(());
        }
        let archive = tar_of(files)?;
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
            .path("/")
            .build();
        let paths = files
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        self.client()
            .upload_to_container(container, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| self.archive_error(container, "writing", &paths, e))
    }

    /// Reads a regular file from the container; `None` when the path does not exist.
    pub async fn download_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<ContainerFile>, ArchiveError> {
        let container = crate::ids::container(container).map_err(EngineError::from)?;
        relative_path(path)?;
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let chunks: Vec<_> = match self
            .client()
            .download_from_container(container, Some(options))
            .try_collect()
            .await
        {
            Ok(chunks) => chunks,
            Err(e) => {
                let missing_path = is_not_found(&e)
                    && !engine_message(&e).is_some_and(|m| m.contains("No such container"));
                if missing_path {
                    return Ok(None);
                }
                return Err(self.archive_error(container, "reading", path, e));
            }
        };
        let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let failed = |message: String| ArchiveError::Failed {
            operation: "reading",
            container: container.to_string(),
            path: path.to_string(),
            message,
        };
        let mut entries = archive
            .entries()
            .map_err(|e| failed(format!("the engine sent an unreadable archive: {e}")))?;
        let Some(entry) = entries.next() else {
            return Err(failed("the engine sent an empty archive".into()));
        };
        let mut entry = entry.map_err(|e| failed(format!("unreadable archive entry: {e}")))?;
        let header = entry.header();
        let kind = header.entry_type();
        if !kind.is_file() {
            let kind = if kind.is_dir() {
                "a directory".to_string()
            } else if kind.is_symlink() {
                match entry.link_name() {
                    Ok(Some(target)) => format!("a symbolic link to {}", target.display()),
                    _ => "a symbolic link".to_string(),
                }
            } else {
                format!("{kind:?}")
            };
            return Err(ArchiveError::NotAFile {
                container: container.to_string(),
                path: path.to_string(),
                kind,
            });
        }
        let mode = header.mode().unwrap_or(0o644);
        let mut contents = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut contents)
            .map_err(|e| failed(format!("unreadable archive entry: {e}")))?;
        Ok(Some(ContainerFile {
            path: path.to_string(),
            contents,
            mode,
        }))
    }

    fn archive_error(
        &self,
        container: &str,
        operation: &'static str,
        path: &str,
        err: bollard::errors::Error,
    ) -> ArchiveError {
        let message = engine_message(&err);
        if is_not_found(&err)
            && message
                .as_deref()
                .is_none_or(|m| m.contains("No such container"))
        {
            return ArchiveError::NoSuchContainer {
                container: container.to_string(),
                engine: self.address().to_string(),
            };
        }
        match message {
            Some(message) => ArchiveError::Failed {
                operation,
                container: container.to_string(),
                path: path.to_string(),
                message,
            },
            None => EngineError::new(format!("{operation} {path} in {container}"), err).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_must_be_absolute_and_plain() {
        assert_eq!(
            relative_path("/etc/nginx//conf.d/./app.conf").unwrap(),
            "etc/nginx/conf.d/app.conf"
        );
        assert!(relative_path("etc/nginx.conf").is_err());
        assert!(relative_path("/etc/../root/x").is_err());
        assert!(relative_path("/").is_err());
    }

    #[test]
    fn uploads_are_root_owned_with_the_given_mode() {
        let archive = tar_of(&[
            FileUpload::new("/etc/app/a.conf", "a", 0o640),
            FileUpload::new("/usr/local/bin/run", "#!/bin/sh\n", 0o755),
        ])
        .unwrap();
        let mut tar = tar::Archive::new(archive.as_slice());
        let got: Vec<_> = tar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("etc/app/a.conf".to_string(), 0o640, 0, 1),
                ("usr/local/bin/run".to_string(), 0o755, 0, 10),
            ]
        );
    }
}
