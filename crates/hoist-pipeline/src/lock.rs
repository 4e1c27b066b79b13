//! The deploy lock: one run at a time per target and service.
//!
//! An advisory lock on a file in hoist's state folder (`std::fs::File::try_lock`), which the
//! kernel releases when the holding process ends in any way, so a killed run never leaves a
//! stale lock behind. The holder writes its run id into the file, so that a refused run can
//! name it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{service} on {target} is being deployed by run {holder} (see `hoist pipeline status {holder}`); \
         wait for it with --wait-lock"
    )]
    Held {
        service: String,
        target: String,
        holder: String,
    },
    #[error("deploy lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A held deploy lock; released on drop (or when the process ends).
#[derive(Debug)]
pub struct DeployLock {
    file: File,
    path: PathBuf,
}

impl DeployLock {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the run holding the lock, for the message of a refused run.
    pub fn record_holder(&mut self, run: i64) -> Result<(), LockError> {
        let io = |source| LockError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.set_len(0).map_err(io)?;
        self.file.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(self.file, "{run} {}", std::process::id()).map_err(io)?;
        self.file.flush().map_err(io)
    }
}

fn file_name(part: &str) -> String {
    part.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The lock file of `service` on `target`.
pub fn lock_path(state_dir: &Path, target: &str, service: &str) -> PathBuf {
    state_dir.join("locks").join(format!(
        "{}--{}.lock",
        file_name(target),
        file_name(service)
    ))
}

/// Takes the lock, failing at once (naming the holder) when another run has it, or waiting for
/// it when `wait` is set.
pub fn acquire(
    state_dir: &Path,
    target: &str,
    service: &str,
    wait: bool,
) -> Result<DeployLock, LockError> {
    let path = lock_path(state_dir, target, service);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    crate::state::private_file(&path).map_err(|e| io(e.source))?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) if wait => file.lock().map_err(io)?,
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.split_whitespace().next().unwrap_or("?").to_string();
            return Err(LockError::Held {
                service: service.to_string(),
                target: target.to_string(),
                holder,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    Ok(DeployLock { file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_run() {
        let dir = std::env::temp_dir().join(format!("hoist-lock-{}", std::process::id()));
        let mut first = acquire(&dir, "prod", "books-ms", false).unwrap();
        first.record_holder(42).unwrap();
        let err = acquire(&dir, "prod", "books-ms", false).unwrap_err();
        assert!(err.to_string().contains("run 42"), "{err}");
        // Another service or target is independent.
        let other = acquire(&dir, "prod", "other", false).unwrap();
        drop(other);
        drop(first);
        let again = acquire(&dir, "prod", "books-ms", false).unwrap();
        drop(again);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
