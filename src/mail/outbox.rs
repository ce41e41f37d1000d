//! The file outbox: one `.eml` per message in a folder.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

/// Writes each message to `<dir>/<UTC time>-<sequence>-<random>.eml`, so that `ls` lists
/// them in the order they were sent. Files appear whole: they are written under a
/// temporary name and renamed.
#[derive(Clone, Debug)]
pub struct Outbox {
    dir: PathBuf,
    sequence: Arc<AtomicU64>,
}

impl Outbox {
    pub fn new(dir: impl AsRef<Path>) -> anyhow::Result<Outbox> {
        let dir = dir.as_ref().to_path_buf();
        crate::ops::files::create_private_dir_all(&dir).map_err(|e| {
            anyhow::anyhow!("cannot create the outbox folder {}: {e}", dir.display())
        })?;
        // A folder made by an older version may be open to everyone.
        let _ = crate::ops::files::narrow(&dir, 0o700);
        Ok(Outbox {
            dir,
            sequence: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one message as it would go on the wire.
    pub async fn write(&self, message: &[u8]) -> std::io::Result<PathBuf> {
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        let unique = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let name = format!("{stamp}-{seq:08}-{unique}.eml");
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        // 0600: the message holds the recipient's address and their personal links.
        crate::ops::files::write_private(&tmp, message).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(path)
    }

    pub fn check_writable(&self) -> std::io::Result<()> {
        let probe = self.dir.join(".write-test");
        std::fs::write(&probe, b"ok")?;
        std::fs::remove_file(probe)
    }
}
