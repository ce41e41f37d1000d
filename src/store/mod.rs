//! The only room that speaks SQL. Everything else asks the store in domain terms.
//!
//! One `Store` serves SQLite and PostgreSQL. Most statements are written once in the
//! dialect both understand (`$1` placeholders work in both; times are epoch-millisecond
//! integers chosen by the application), and [`on_db!`] runs them on whichever pool is live.

use sqlx::AssertSqlSafe;
use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub mod archive;
pub mod articles;
pub mod bounces;
pub mod deliveries;
pub mod digests;
pub mod feeds;
pub mod queue_stats;
pub mod schedules;
pub mod self_service;
pub mod settings;
pub mod subscribers;
pub mod users;

/// Runs `$body` with `$pool` bound to the live pool, whatever its type. The body is
/// compiled once per dialect, so the same query text serves both databases.
macro_rules! on_db {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// Runs `$body` inside a transaction on whichever pool is live; `$tx` is `&mut` the
/// transaction's connection. Commits when the body completes; an early `?` rolls back.
macro_rules! in_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite(pool) => {
                // IMMEDIATE takes SQLite's write lock up front (waiting out
                // `busy_timeout`), so a transaction that reads before it writes cannot
                // fail with "database is locked" when it upgrades.
                let mut guard = pool.begin_with("BEGIN IMMEDIATE").await?;
                let $tx = &mut *guard;
                let out = $body;
                guard.commit().await?;
                out
            }
            $crate::store::Db::Postgres(pool) => {
                let mut guard = pool.begin().await?;
                let $tx = &mut *guard;
                let out = $body;
                guard.commit().await?;
                out
            }
        }
    };
}
pub(crate) use in_tx;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The application's handle on its database.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) db: Db,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    IllegalTransition(#[from] crate::domain::IllegalTransition),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Our migrations keep their history apart from apalis's, which share the database
/// and would otherwise see our rows as migrations they are missing.
const MIGRATIONS_TABLE: &str = "app_migrations";

fn sqlite_migrator() -> Migrator {
    let mut m = sqlx::migrate!("./migrations/sqlite");
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

fn postgres_migrator() -> Migrator {
    let mut m = sqlx::migrate!("./migrations/postgres");
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

impl Store {
    /// Opens the database named by `url`. For SQLite, the file and its folder are created
    /// if missing; WAL lets readers (the web pages) run beside the writer (the workers).
    pub async fn connect(url: &str) -> Result<Store, anyhow::Error> {
        if is_postgres_url(url) {
            let pool = pg_pool(url, 16).await?;
            Ok(Store {
                db: Db::Postgres(pool),
            })
        } else {
            let options = sqlite_options(url)?;
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .min_connections(1)
                .connect_with(options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open SQLite database {url}: {e}"))?;
            Ok(Store {
                db: Db::Sqlite(pool),
            })
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    /// Applies the schema; safe to run at every start and from several processes.
    pub async fn migrate(&self) -> Result<(), anyhow::Error> {
        match &self.db {
            Db::Sqlite(pool) => sqlite_migrator().run(pool).await?,
            Db::Postgres(pool) => postgres_migrator().run(pool).await?,
        }
        Ok(())
    }

    /// Whether every migration this binary knows has been applied (for /readyz).
    pub async fn migrations_applied(&self) -> StoreResult<bool> {
        let expected = match &self.db {
            Db::Sqlite(_) => sqlite_migrator().iter().count(),
            Db::Postgres(_) => postgres_migrator().iter().count(),
        } as i64;
        let sql = format!("SELECT COUNT(*) FROM {MIGRATIONS_TABLE} WHERE success");
        let applied: i64 = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).fetch_one(pool).await)?;
        Ok(applied >= expected)
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        let _: i64 = on_db!(self, pool => sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(pool).await)?;
        Ok(())
    }

    /// The names of our tables, for comparing dialects in tests and for `migrate`'s report.
    pub async fn table_names(&self) -> StoreResult<Vec<String>> {
        let names: Vec<String> = match &self.db {
            Db::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
                     AND name NOT IN ('Jobs', 'Workers', '_sqlx_migrations') ORDER BY name",
                )
                .fetch_all(pool)
                .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY table_name",
                )
                .fetch_all(pool)
                .await?
            }
        };
        Ok(names)
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub async fn pg_pool(url: &str, max: u32) -> Result<PgPool, anyhow::Error> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("database_url is not a valid PostgreSQL URL: {e}"))?;
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))
}

/// SQLite page cache per connection, as `PRAGMA cache_size` wants it (negative: KiB).
const SQLITE_CACHE_KIB: &str = "-512";

/// Connection options for SQLite, creating the database's folder when needed so that a
/// fresh checkout runs with no set-up, and failing with the folder's name when it cannot.
pub fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, anyhow::Error> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("database_url {url:?} is not a valid SQLite URL: {e}"))?;
    let path = options.get_filename().to_path_buf();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        ensure_dir(dir)?;
    }
    // SQLite gives the WAL and shared-memory files the database file's mode, so making
    // that one private (before SQLite creates it) keeps all three from other users.
    if path.as_os_str() != ":memory:" && !path.as_os_str().is_empty() {
        crate::ops::files::ensure_private_file(&path).map_err(|e| {
            anyhow::anyhow!("cannot create the database file {}: {e}", path.display())
        })?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            let _ = crate::ops::files::narrow(Path::new(&side), 0o600);
        }
    }
    Ok(options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        // SQLite's own page cache is per connection (2 MB each by default, 12 connections
        // with the queue's): a send that reads the whole ledger filled all of them, so
        // memory grew with the list. The OS page cache holds the file anyway.
        .pragma("cache_size", SQLITE_CACHE_KIB)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

fn ensure_dir(dir: &Path) -> Result<(), anyhow::Error> {
    crate::ops::files::create_private_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the database folder {}: {e}", dir.display()))
}

/// True when the error is a unique-constraint violation (the same in both dialects).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
