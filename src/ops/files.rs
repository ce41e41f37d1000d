//! Files only the service's own user may read: the database (and its WAL, which takes the
//! database file's mode), the outbox's emails with their tokens, keys. Files are created
//! 0600 and folders 0700, whatever the umask; files found wider are narrowed.

use std::{fs, io, path::Path};

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Creates `dir` and its missing parents, each 0700.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    builder.mode(0o700);
    builder.create(dir)
}

/// Writes `bytes` to a new (or truncated) file created 0600.
pub async fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(bytes).await?;
    file.flush().await
}

/// Makes sure `path` exists as a file readable by its owner only (created empty when
/// missing, narrowed to 0600 when wider), e.g. a database file before SQLite opens it.
///
/// An existing file is never opened here, only narrowed by its path: closing any
/// descriptor of a database file drops every POSIX lock this process holds on it, and
/// SQLite's connections (opened earlier, e.g. by another pool) would lose theirs — the
/// next process to open the database would then take itself for the last one and delete
/// the live WAL.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    if !path.exists() {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        match options.open(path) {
            Ok(file) => drop(file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    narrow(path, 0o600)
}

/// Removes group and other access from an existing path (no-op when it is absent).
pub fn narrow(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    match fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
            fs::set_permissions(path, fs::Permissions::from_mode(mode))?
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn files_and_folders_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir_all(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("x.eml");
        write_private(&file, b"hi").await.unwrap();
        assert_eq!(mode(&file), 0o600);
        let wide = dir.join("db");
        fs::write(&wide, b"").unwrap();
        fs::set_permissions(&wide, fs::Permissions::from_mode(0o644)).unwrap();
        ensure_private_file(&wide).unwrap();
        assert_eq!(mode(&wide), 0o600);
    }
}
