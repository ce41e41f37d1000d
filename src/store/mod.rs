//! The only room that speaks SQL. Everything else asks the store in domain terms.
//!
//! # The dialect contract
//!
//! One `Store` serves SQLite (3.35 or later) and PostgreSQL, and each query is written
//! **once**, in the SQL both speak:
//!
//! - **Placeholders** are `$1`, `$2`… (both drivers accept them), bound in order with
//!   [`Query::bind`]. A value is never spliced into the text; only fixed fragments and
//!   lists of our own integers are (`AssertSqlSafe` marks those statements).
//! - **Times** are `BIGINT` epoch milliseconds chosen by the application's clock (never
//!   `now()` / `CURRENT_TIMESTAMP`), so both dialects compare and sort them as integers
//!   and a test's manual clock reaches the database. Calendar dates are `TEXT`
//!   `YYYY-MM-DD`. apalis's own tables keep their times otherwise (see `src/queue/`).
//! - **Booleans** are `BOOLEAN` columns written as `TRUE` / `FALSE` literals or bound
//!   `bool`s (SQLite stores 0/1 and decodes them as `bool`).
//! - **Ids** are `BIGINT` (`INTEGER PRIMARY KEY` on SQLite, identity on PostgreSQL);
//!   every integer decodes as `i64`; `COUNT(*)` and `SUM` come back `BIGINT` (cast a
//!   `SUM` with `CAST(… AS BIGINT)` where PostgreSQL would make it `NUMERIC`).
//! - **`INSERT … RETURNING`** gives back a new row's id or columns; **`ON CONFLICT (…)
//!   DO NOTHING / DO UPDATE SET …`** is the upsert; a unique violation is recognised with
//!   [`is_unique_violation`], the same in both.
//! - **Where the two differ** (PostgreSQL's `ILIKE`, arrays, `generate_series`, `FOR
//!   UPDATE SKIP LOCKED`, apalis's time columns), the statement takes the fragment from
//!   [`Dialect::pick`] on `self.dialect()` (or a named [`Dialect`] method) and is otherwise
//!   the same text. That is the one way to express a difference: no branch on the pool,
//!   no second copy of a query.
//!
//! # Running a query
//!
//! A store function builds a [`Query`] with [`query`], binds its parameters, and hands it
//! to one helper: [`Store::exec`] (rows changed), [`Store::fetch_one`] /
//! [`Store::fetch_optional`] / [`Store::fetch_all`] (rows, as tuples or
//! `#[derive(sqlx::FromRow)]` structs), or [`Store::scalar`] / [`Store::scalar_optional`] /
//! [`Store::scalars`] (one column). A table read into a domain type has one row struct
//! (`#[derive(sqlx::FromRow)]`) and one `TryFrom` into the domain type, joined by
//! `impl Decoded`; queries on it then use [`Store::decode_all`] / `decode_optional` /
//! `decode_one`. Stored words with a meaning (a digest's [`digests::DigestStatus`], a
//! delivery's [`deliveries::DeliveryState`]) decode straight into their enums
//! (`stored_word!`), so callers compare enums, never strings.
//!
//! Raw pools never leave the store. Tests and benchmarks that need rows in a known state
//! use [`fixtures`] (and `queue::fixtures` for apalis's table), never the service.
//!
//! # Transactions
//!
//! [`Store::begin`] returns a [`Tx`], which is itself a store: call any store function on
//! it and it runs in the transaction; [`Tx::commit`] commits, dropping it rolls back. A
//! store function that needs several statements to be atomic does the same, so it also
//! composes into a caller's transaction (a `begin` on a bound store joins the open one).
//! SQLite transactions begin `IMMEDIATE`.

use sqlx::AssertSqlSafe;
use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub mod archive;
pub mod articles;
pub mod bounces;
pub mod brand;
pub mod curation;
pub mod deliveries;
pub mod digests;
pub mod feeds;
#[doc(hidden)]
pub mod fixtures;
pub mod queue_stats;
pub mod schedules;
pub mod self_service;
pub mod settings;
mod sql;
pub mod subscribers;
pub mod users;

pub use sql::{Column, Db, Dialect, Pool, Query, Row, Tx, query};
pub(crate) use sql::{Decoded, placeholders, values_list};

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

/// For row mappings that cannot fail (see [`Decoded`]).
impl From<std::convert::Infallible> for StoreError {
    fn from(never: std::convert::Infallible) -> StoreError {
        match never {}
    }
}

/// Our migrations keep their history apart from apalis's, which share the database
/// and would otherwise see our rows as migrations they are missing.
const MIGRATIONS_TABLE: &str = "app_migrations";

/// This dialect's migrations, under their own history table.
fn migrator(dialect: Dialect) -> Migrator {
    let mut m = dialect.pick(
        sqlx::migrate!("./migrations/sqlite"),
        sqlx::migrate!("./migrations/postgres"),
    );
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
                db: Db::Pool(Pool::Postgres(pool)),
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
                db: Db::Pool(Pool::Sqlite(pool)),
            })
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.dialect() == Dialect::Postgres
    }

    /// Applies the schema; safe to run at every start and from several processes.
    pub async fn migrate(&self) -> Result<(), anyhow::Error> {
        self.run_migrations(migrator(self.dialect()), None).await
    }

    /// Whether every migration this binary knows has been applied (for /readyz).
    pub async fn migrations_applied(&self) -> StoreResult<bool> {
        let expected = migrator(self.dialect()).iter().count() as i64;
        let sql = format!("SELECT COUNT(*) FROM {MIGRATIONS_TABLE} WHERE success");
        let applied: i64 = self.scalar(query(AssertSqlSafe(sql))).await?;
        Ok(applied >= expected)
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> StoreResult<()> {
        let _: i64 = self.scalar(query("SELECT CAST(1 AS BIGINT)")).await?;
        Ok(())
    }

    /// The names of our tables, for comparing dialects in tests and for `migrate`'s report.
    pub async fn table_names(&self) -> StoreResult<Vec<String>> {
        let sql = self.dialect().pick(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT IN ('Jobs', 'Workers', '_sqlx_migrations') ORDER BY name",
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' ORDER BY table_name",
        );
        self.scalars(query(sql)).await
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
        // A deleted row's bytes are overwritten, not left in the page's free space: an
        // erased subscriber's address must not stay readable in the file.
        .pragma("secure_delete", "ON")
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true))
}

fn ensure_dir(dir: &Path) -> Result<(), anyhow::Error> {
    crate::ops::files::create_private_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the database folder {}: {e}", dir.display()))
}

/// True when the error is a unique-constraint violation (the same in both dialects).
pub fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
}

/// Turns a unique-constraint violation into a [`StoreError::Conflict`] saying `why`: the
/// one way a store function reports "that already exists".
pub(crate) trait ConflictOnUnique<T> {
    fn conflict_on_unique(self, why: impl FnOnce() -> String) -> StoreResult<T>;
}

impl<T> ConflictOnUnique<T> for StoreResult<T> {
    fn conflict_on_unique(self, why: impl FnOnce() -> String) -> StoreResult<T> {
        self.map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(why())
            } else {
                e
            }
        })
    }
}
