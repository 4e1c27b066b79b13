//! The one way the loader reads a file a project names: compose files, `.env` and `--env-file`,
//! `env_file`, `label_file`, `extends.file` and `include` targets. A name in a compose file may
//! point anywhere, so the file is opened once without blocking (opening a FIFO must not wait for
//! a writer), the opened handle — not the name, which could change in between — is checked to be
//! a regular file (not `/dev/zero`, a FIFO or a directory), and it is read through a size cap.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest file the loader reads. Real compose and env files are kilobytes; the cap only
/// bounds the memory a hostile name can make the loader use.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Why a file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed (missing, no permission, ...).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The name is a device, a FIFO, a socket or a directory.
    #[error("not a regular file: it is a {0}")]
    NotRegular(&'static str),
    /// More than [`MAX_FILE_BYTES`].
    #[error("file is larger than {} MiB", MAX_FILE_BYTES >> 20)]
    TooLarge,
    /// The bytes are not UTF-8.
    #[error("file is not valid UTF-8")]
    NotUtf8,
}

impl ReadError {
    /// The file does not exist (callers with optional files skip only this case).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads `path` as bytes: a regular file of at most [`MAX_FILE_BYTES`] (secrets and configs
/// with a `file:` source, which may be binary).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    regular(&file)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

/// Reads `path` as UTF-8 text: a regular file of at most [`MAX_FILE_BYTES`].
pub fn read_text(path: &Path) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path)?).map_err(|_| ReadError::NotUtf8)
}

/// Checks the opened handle's type.
fn regular(file: &File) -> Result<(), ReadError> {
    let t = file.metadata()?.file_type();
    if t.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular(if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_by_their_type() {
        assert!(matches!(
            read_text(Path::new("/dev/zero")),
            Err(ReadError::NotRegular("character device"))
        ));
        assert!(matches!(
            read_text(Path::new("/")),
            Err(ReadError::NotRegular("directory"))
        ));
        assert!(
            read_text(Path::new("/nonexistent/hoist"))
                .unwrap_err()
                .is_not_found()
        );
    }
}
