//! What every benchmark binary starts with: its size from the first argument, a scratch
//! folder removed at the end, and the service opened on SQLite in that folder (or on
//! `BENCH_DATABASE_URL` where the benchmark allows it), with ingest off.

// Each benchmark binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use breakfast::{App, config::Config, domain::Clock};

/// The first command-line argument as a number, or `default` without one.
pub fn size_arg<T>(default: T) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(default))
}

/// Where the database may live: SQLite in the scratch folder only, or
/// `BENCH_DATABASE_URL` (an empty PostgreSQL database) when set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Scratch,
    FromEnv,
}

/// Runs `bench` with the service opened on a fresh database (`extra` TOML added to the
/// configuration), then removes the scratch folder whatever the outcome.
pub async fn run<F, Fut>(database: Database, extra: &str, bench: F) -> anyhow::Result<()>
where
    F: FnOnce(App, PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    breakfast::install_crypto_provider();
    let dir = std::env::temp_dir().join(format!("bf-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let result = match open(&dir, database, extra).await {
        Ok(app) => bench(app, dir.clone()).await,
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn open(dir: &Path, database: Database, extra: &str) -> anyhow::Result<App> {
    let scratch = format!("sqlite://{}/bench.db", dir.display());
    let url = match database {
        Database::FromEnv => std::env::var("BENCH_DATABASE_URL").unwrap_or(scratch),
        Database::Scratch => scratch,
    };
    let mut config = Config::from_toml_str(&format!(
        "database_url = {url:?}\nsecret = \"bench-secret-0123456789\"\n{extra}\n[ingest]\npoll_minutes = 0\n"
    ))?;
    config.mail.outbox_dir = dir.join("outbox").display().to_string();
    breakfast::service::open(config, Clock::System).await
}

/// The database's name for the report.
pub fn database_name(app: &App) -> &'static str {
    if app.store.is_postgres() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

/// Runs `work` and returns what it returned and how long it took, in milliseconds.
pub async fn timed<T>(work: impl std::future::Future<Output = T>) -> (T, f64) {
    let started = std::time::Instant::now();
    let out = work.await;
    (out, started.elapsed().as_secs_f64() * 1000.0)
}
