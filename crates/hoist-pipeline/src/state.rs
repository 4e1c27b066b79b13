//! hoist's state folder and the files in it (the run history, the deploy locks, the dashboard's
//! audit log), kept private to the user: the folder is `0700` and its files `0600`, created so
//! and tightened when they already exist with wider modes. The history holds step output and
//! the lock files name runs: nothing another local user should read or change.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of the state folder and of every folder in it.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file in the state folder.
pub const FILE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
#[error("state folder {}: {source}", path.display())]
pub struct StateError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn wrap(path: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |source| StateError {
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and missing parents) as `0700`, or tightens it to `0700` if it exists.
/// Parents that exist already are left alone: they are not hoist's.
pub fn private_dir(dir: &Path) -> Result<(), StateError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(wrap(dir))?;
    tighten(dir, DIR_MODE)
}

/// Makes sure `path` exists as a `0600` file in a `0700` folder, without changing its content;
/// an existing file with a wider mode is tightened. SQLite then creates its `-wal` and `-shm`
/// files with the database's own mode; existing ones are tightened here too.
pub fn private_file(path: &Path) -> Result<(), StateError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    // Created new with the mode (no window with a wider one); an existing file is not opened.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(wrap(path)(e)),
    }
    tighten(path, FILE_MODE)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            tighten(&side, FILE_MODE)?;
        }
    }
    Ok(())
}

/// Sets `path`'s permission bits to `mode` when any bit beyond `mode` is set.
fn tighten(path: &Path, mode: u32) -> Result<(), StateError> {
    let current = std::fs::metadata(path).map_err(wrap(path))?.permissions();
    if current.mode() & 0o777 & !mode != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(mode)).map_err(wrap(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "hoist-state-{name}-{}-{}",
            std::process::id(),
            crate::history::now()
        ))
    }

    #[test]
    fn new_folders_and_files_are_private() {
        let root = temp("new");
        let file = root.join("state/locks/prod--books-ms.lock");
        private_file(&file).unwrap();
        assert_eq!(mode(&root.join("state/locks")), 0o700);
        assert_eq!(mode(&root.join("state")), 0o700);
        assert_eq!(mode(&file), 0o600);
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn existing_wide_folders_and_files_are_tightened_and_keep_their_content() {
        let root = temp("wide");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::set_permissions(&root, Permissions::from_mode(0o755)).unwrap();
        let db = root.join("history.sqlite3");
        std::fs::write(&db, "content").unwrap();
        std::fs::set_permissions(&db, Permissions::from_mode(0o644)).unwrap();
        let wal = root.join("history.sqlite3-wal");
        std::fs::write(&wal, "").unwrap();
        std::fs::set_permissions(&wal, Permissions::from_mode(0o666)).unwrap();
        private_file(&db).unwrap();
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        assert_eq!(std::fs::read_to_string(&db).unwrap(), "content");
        // Narrower than asked stays as it is: tightening never widens.
        std::fs::set_permissions(&db, Permissions::from_mode(0o400)).unwrap();
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o400);
        std::fs::remove_dir_all(root).unwrap();
    }
}
