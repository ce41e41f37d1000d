//! Imports from a file uploaded in the admin: the file is streamed to a private temporary
//! file (checked as it arrives: size, CSV, UTF-8), recorded as an import waiting for its
//! column mapping, then run in the background with its progress in the database, ending
//! in a report that is kept with the import, also when it stopped part-way.
//!
//! The rules for reading lines are [`super::import`]'s; this module only moves the file
//! and the job along. The job runs in the web process that received the file (the file is
//! on that host's disk), not on the shared queue.

use std::{
    io::BufReader,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::io::AsyncWriteExt;

use super::import::{
    ImportOptions, ImportReport, PreviewLine, Sniffed, UploadCheck, UploadProblem,
};
use crate::{
    app::App,
    store::{
        StoreError,
        subscribers::{ImportJob, ImportState},
    },
};

/// A running import writes its progress this often; no write for [`STALE_AFTER_MS`]
/// means the process that ran it is gone.
const HEARTBEAT: Duration = Duration::from_secs(1);
pub const STALE_AFTER_MS: i64 = 30_000;
/// Lines shown in the preview.
pub const PREVIEW_LINES: usize = 10;

/// The folder uploads wait in, private to the service's user.
fn upload_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join("breakfast-imports");
    std::fs::create_dir_all(&dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// An upload arriving: bytes go to a temporary file as they come, checked on the way.
pub struct Incoming {
    file: tokio::fs::File,
    path: PathBuf,
    size: u64,
    limit: u64,
    check: UploadCheck,
}

/// Why an upload was not stored: the person's problem (a message to show) or ours.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error(transparent)]
    Refused(#[from] UploadProblem),
    #[error("cannot store the upload: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Incoming {
    pub async fn create(app: &App) -> Result<Incoming, UploadError> {
        let path = upload_dir()?.join(format!("import-{}.csv", uuid::Uuid::new_v4()));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path).await?;
        Ok(Incoming {
            file,
            path,
            size: 0,
            limit: app.config.subscribers.import_max_mb * 1024 * 1024,
            check: UploadCheck::default(),
        })
    }

    pub fn limit_mb(&self) -> u64 {
        self.limit / (1024 * 1024)
    }

    /// Appends a chunk, refusing the file as soon as it is too large or not UTF-8 CSV.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(UploadProblem::TooLarge {
                limit_mb: self.limit_mb(),
            }
            .into());
        }
        self.check.feed(chunk)?;
        self.file.write_all(chunk).await?;
        Ok(())
    }

    /// Records the complete file as an import waiting for its mapping; returns its id.
    pub async fn finish(
        mut self,
        app: &App,
        admin_id: i64,
        file_name: &str,
    ) -> Result<i64, UploadError> {
        if let Err(e) = self.check.finish() {
            self.discard().await;
            return Err(e.into());
        }
        self.file.flush().await?;
        let path = self.path.to_string_lossy().into_owned();
        let name: String = file_name
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        Ok(app
            .store
            .insert_import(admin_id, &name, &path, self.size as i64, app.now_ms())
            .await?)
    }

    /// Deletes what arrived of a refused upload.
    pub async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

fn open(job: &ImportJob) -> std::io::Result<BufReader<std::fs::File>> {
    Ok(BufReader::with_capacity(
        256 * 1024,
        std::fs::File::open(Path::new(&job.path))?,
    ))
}

/// The file's first line and the mapping it suggests.
pub fn sniff(job: &ImportJob) -> std::io::Result<Sniffed> {
    Ok(super::import::sniff(open(job)?))
}

/// The first lines as `options` would import them.
pub fn preview(
    app: &App,
    job: &ImportJob,
    options: &ImportOptions,
) -> std::io::Result<Vec<PreviewLine>> {
    Ok(super::import::preview(
        open(job)?,
        options,
        PREVIEW_LINES,
        app.now_ms(),
    ))
}

/// Starts the import in the background, once: false if it had already been started.
pub async fn start(app: &App, job: &ImportJob, options: &ImportOptions) -> anyhow::Result<bool> {
    let json = serde_json::to_string(options)?;
    if !app.store.start_import(job.id, &json, app.now_ms()).await? {
        return Ok(false);
    }
    let app = app.clone();
    let job = job.clone();
    let options = options.clone();
    tokio::spawn(async move { run(app, job, options).await });
    Ok(true)
}

async fn run(app: App, job: ImportJob, options: ImportOptions) {
    let bytes = Arc::new(AtomicU64::new(0));
    let ticker = {
        let (app, bytes, id) = (app.clone(), bytes.clone(), job.id);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                let done = bytes.load(Ordering::Relaxed) as i64;
                if let Err(e) = app.store.import_progress(id, done, app.now_ms()).await {
                    tracing::warn!(import = id, error = %e, "cannot record import progress");
                }
            }
        })
    };
    let mut report = ImportReport::default();
    let outcome = match open(&job) {
        Ok(reader) => {
            let seen = bytes.clone();
            super::import::import_into(&app, reader, &options, &mut report, &mut |b| {
                seen.store(b, Ordering::Relaxed)
            })
            .await
        }
        Err(e) => Err(anyhow::anyhow!("cannot read the uploaded file: {e}")),
    };
    ticker.abort();
    let (state, error) = match &outcome {
        Ok(()) => (ImportState::Done, None),
        Err(e) => (ImportState::Failed, Some(format!("{e:#}"))),
    };
    let done = match state {
        ImportState::Done => job.size_bytes,
        _ => bytes.load(Ordering::Relaxed) as i64,
    };
    let json = serde_json::to_string(&report).unwrap_or_default();
    if let Err(e) = app
        .store
        .finish_import(job.id, state, &json, error.as_deref(), done, app.now_ms())
        .await
    {
        tracing::error!(import = job.id, error = %e, "cannot record the end of an import");
    }
    tracing::info!(
        import = job.id,
        admin = job.admin_id,
        added = report.accepted,
        updated = report.updated.len(),
        invalid = report.invalid.len(),
        state = state.as_str(),
        "subscriber import ended"
    );
    let _ = tokio::fs::remove_file(&job.path).await;
}

/// The stored report of a finished (or failed) import.
pub fn report(job: &ImportJob) -> Option<ImportReport> {
    serde_json::from_str(job.report.as_deref()?).ok()
}

/// A running import whose process stopped writing its heartbeat.
pub fn is_interrupted(job: &ImportJob, now: i64) -> bool {
    job.state == ImportState::Running && now - job.updated_at > STALE_AFTER_MS
}
