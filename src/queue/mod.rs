//! The job queue: apalis storage on the service's own database.
//!
//! A job is a prompt to do some work, never the record of it: apalis pushes on its own
//! connection, outside our transactions, so a job can be lost or run twice. Every handler is
//! therefore idempotent against the store, and sweepers re-enqueue work the store says is
//! due. Each job kind has its own, explicitly named queue, so renaming a Rust type never
//! orphans queued jobs.

#[doc(hidden)]
pub mod fixtures;
pub mod jobs;
pub mod stats;
pub mod workers;

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{PgPool, SqlitePool, sqlite::SqlitePoolOptions};

use crate::store::Pool;

use crate::{config::Config, store};

/// A kind of job: its payload type, its queue name and how often apalis may retry it.
pub trait Job: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static {
    /// The queue's name in the jobs table. Never change it once released.
    const QUEUE: &'static str;
    /// Attempts apalis makes before the job is dead.
    const MAX_ATTEMPTS: usize = 5;
}

/// Where jobs are stored: the same database as everything else. apalis's storage is
/// typed per database, so the queue keeps the store's [`Pool`] and builds the storage
/// from whichever it is.
#[derive(Clone, Debug)]
pub struct Queue {
    pub(crate) pool: Pool,
}

impl Queue {
    /// Opens the queue on the configured database and creates apalis's tables.
    ///
    /// On SQLite the queue gets its own pool: apalis's set-up turns `synchronous` off on the
    /// connections it touches, which we accept for jobs (the ledger can rebuild lost jobs)
    /// but not for subscribers and the ledger, whose pool keeps `synchronous=NORMAL`.
    pub async fn connect(config: &Config) -> anyhow::Result<Queue> {
        let url = config.database_url.expose();
        if store::is_postgres_url(url) {
            let pool = store::pg_pool(url, 16).await?;
            PostgresStorage::setup(&pool)
                .await
                .map_err(|e| anyhow::anyhow!("cannot set up the job queue in PostgreSQL: {e}"))?;
            Ok(Queue {
                pool: Pool::Postgres(pool),
            })
        } else {
            let options = store::sqlite_options(url)?;
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the job queue in {url}: {e}"))?;
            SqliteStorage::setup(&pool)
                .await
                .map_err(|e| anyhow::anyhow!("cannot set up the job queue in SQLite: {e}"))?;
            Ok(Queue {
                pool: Pool::Sqlite(pool),
            })
        }
    }

    /// Queues a job to run as soon as a worker is free.
    pub async fn push<J: Job>(&self, job: J) -> anyhow::Result<()> {
        self.push_after(job, Duration::ZERO).await
    }

    /// Queues a job to run no earlier than `delay` from now.
    pub async fn push_after<J: Job>(&self, job: J, delay: Duration) -> anyhow::Result<()> {
        let mut task = TaskBuilder::new(job).max_attempts(J::MAX_ATTEMPTS);
        if !delay.is_zero() {
            task = task.run_after(delay);
        }
        let task = task.build();
        match &self.pool {
            Pool::Sqlite(pool) => sqlite_storage::<J>(pool)
                .push_task(task)
                .await
                .map_err(|e| anyhow::anyhow!("cannot queue a {} job: {e}", J::QUEUE)),
            Pool::Postgres(pool) => postgres_storage::<J>(pool)
                .push_task(task)
                .await
                .map_err(|e| anyhow::anyhow!("cannot queue a {} job: {e}", J::QUEUE)),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await
    }
}

pub(crate) fn sqlite_storage<J: Job>(pool: &SqlitePool) -> SqliteStorage<J> {
    SqliteStorage::new(pool).with_config(apalis_sqlite::Config::default().queue(J::QUEUE))
}

pub(crate) fn postgres_storage<J: Job>(pool: &PgPool) -> PostgresStorage<J> {
    PostgresStorage::new(pool).with_config(apalis_postgres::Config::default().queue(J::QUEUE))
}

/// A process-unique worker name: apalis keys workers by name, and several processes on
/// one PostgreSQL must not claim each other's identity.
pub(crate) fn worker_name(queue: &str) -> String {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let instance = INSTANCE.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        format!(
            "{host}-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        )
    });
    format!("{queue}@{instance}")
}
