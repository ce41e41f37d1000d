//! How a store function speaks to either database: one [`Query`] value, run by one of
//! the helpers on [`Store`] (the pool, or the transaction the store is bound to), with the
//! few words the dialects spell differently asked of [`Dialect`]. The module doc of
//! [`crate::store`] states the contract; this file is the only place that matches on the
//! kind of connection.

use std::{fmt, sync::Arc};

use sqlx::{
    Arguments, Decode, Encode, FromRow, PgPool, Postgres, SqlSafeStr, SqlStr, Sqlite, SqlitePool,
    Transaction, Type,
    postgres::{PgArguments, PgRow},
    sqlite::{SqliteArguments, SqliteRow},
};
use tokio::sync::Mutex;

use super::{StoreError, StoreResult};

/// The SQL dialect of the live database, for the few fragments the two spell differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The text to use on this dialect: the one way a store function says "here the two
    /// databases differ". Everything else in the statement stays one text.
    pub fn pick<T>(self, sqlite: T, postgres: T) -> T {
        match self {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }

    /// A subquery yielding `i` from 1 to the integer parameter `param` (benchmark and
    /// test fixtures that fill tables in one statement).
    pub fn series(self, param: &str) -> String {
        self.pick(
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {param}) SELECT i FROM n"
            ),
            format!("SELECT generate_series(1, CAST({param} AS BIGINT)) AS i"),
        )
    }
}

/// One statement and its parameters, bound once for both dialects so that the same store
/// function serves either database. Build it with [`query`], add parameters with
/// [`Query::bind`], and run it with [`Store::exec`], [`Store::fetch_one`] and friends.
pub struct Query {
    sql: SqlStr,
    sqlite: SqliteArguments,
    postgres: PgArguments,
    error: Option<String>,
    /// Whether the driver may keep this statement prepared (and PostgreSQL its plan).
    persistent: bool,
}

/// `$first, $first+1, …` for `n` values (an `IN (…)` list).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    values_list(n, first, 1, |p| p[0].clone())
}

/// A multi-row list of `rows` entries (a `VALUES` list), numbered from `$first` on: each
/// entry has `per_row` consecutive parameters of its own, which `entry` lays out. Both
/// dialects number parameters the same way (see the dialect contract).
pub(crate) fn values_list(
    rows: usize,
    first: usize,
    per_row: usize,
    entry: impl Fn(&[String]) -> String,
) -> String {
    (0..rows)
        .map(|i| {
            let own: Vec<String> = (0..per_row)
                .map(|k| format!("${}", first + i * per_row + k))
                .collect();
            entry(&own)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A statement to run on either database: `$1`, `$2`… placeholders, parameters bound in
/// that order (see the contract in [`crate::store`]).
pub fn query(sql: impl SqlSafeStr) -> Query {
    Query {
        sql: sql.into_sql_str(),
        sqlite: SqliteArguments::default(),
        postgres: PgArguments::default(),
        error: None,
        persistent: true,
    }
}

impl Query {
    /// Binds the next parameter: any value both drivers can encode (integers, text,
    /// bytes, booleans, floats, and `Option`s of them for NULL).
    pub fn bind<'t, T>(self, value: T) -> Query
    where
        T: Clone + Encode<'t, Sqlite> + Type<Sqlite> + Encode<'t, Postgres> + Type<Postgres>,
    {
        self.bind_each(value.clone(), value)
    }

    /// Binds the next parameter as one value on SQLite and another on PostgreSQL, for a
    /// statement whose [`Dialect::pick`]ed fragment takes different types (a JSON list on
    /// SQLite, an array on PostgreSQL).
    pub fn bind_each<'t, S, P>(mut self, sqlite: S, postgres: P) -> Query
    where
        S: Encode<'t, Sqlite> + Type<Sqlite>,
        P: Encode<'t, Postgres> + Type<Postgres>,
    {
        if self.error.is_none() {
            let n = self.sqlite.len() + 1;
            if let Err(e) = self.sqlite.add(sqlite).and(self.postgres.add(postgres)) {
                self.error = Some(format!("cannot encode parameter ${n}: {e}"));
            }
        }
        self
    }

    /// Asks the driver not to keep the statement prepared when `keep` is false: for a
    /// statement whose best plan depends on its parameters (a search fragment), which
    /// PostgreSQL would otherwise settle into one generic plan after a few runs.
    pub fn persistent(mut self, keep: bool) -> Query {
        self.persistent = keep;
        self
    }

    fn checked(self) -> StoreResult<Query> {
        match self.error {
            Some(e) => Err(StoreError::Database(sqlx::Error::Encode(e.into()))),
            None => Ok(self),
        }
    }
}

/// A row type the helpers can decode from either database: tuples of [`Column`]s and
/// `#[derive(sqlx::FromRow)]` structs.
pub trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{}

/// A single column value the helpers can decode from either database.
pub trait Column:
    for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
    + Send
    + Unpin
{
}
impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + Send
        + Unpin
{
}

/// A pool on either database. The store runs its statements on one; the job queue
/// builds apalis's storage (typed per database) from one. Matching on it is the
/// executor's job (here) and the queue's (`src/queue/`), nobody else's.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    pub async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// The connection a [`super::Store`] runs its statements on.
#[derive(Clone, Debug)]
pub enum Db {
    Pool(Pool),
    /// Bound to an open transaction: see [`super::Store::begin`].
    Tx(Arc<TxCell>),
}

/// An open transaction shared by the store handles bound to it. `None` once committed.
pub struct TxCell {
    dialect: Dialect,
    conn: Mutex<Option<TxConn>>,
}

enum TxConn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl fmt::Debug for TxCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxCell({:?})", self.dialect)
    }
}

fn finished() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "the transaction has already been committed".into(),
    ))
}

/// Runs `$body` with `$c` bound to an executor of the store's live connection (a pool, or
/// the transaction it is bound to) and `$sql`, `$args` to the query's text and this
/// dialect's arguments. The one place the connection's type is matched.
macro_rules! on_conn {
    ($store:expr, $q:expr, |$c:ident, $sql:ident, $args:ident, $keep:ident| $body:expr) => {{
        let Query {
            sql: $sql,
            sqlite,
            postgres,
            persistent: $keep,
            ..
        } = $q.checked()?;
        match &$store.db {
            Db::Pool(Pool::Sqlite($c)) => {
                let $args = sqlite;
                $body
            }
            Db::Pool(Pool::Postgres($c)) => {
                let $args = postgres;
                $body
            }
            Db::Tx(cell) => {
                let mut guard = cell.conn.lock().await;
                match guard.as_mut().ok_or_else(finished)? {
                    TxConn::Sqlite(tx) => {
                        let $c = &mut **tx;
                        let $args = sqlite;
                        $body
                    }
                    TxConn::Postgres(tx) => {
                        let $c = &mut **tx;
                        let $args = postgres;
                        $body
                    }
                }
            }
        }
    }};
}

impl super::Store {
    /// The dialect of the live database.
    pub fn dialect(&self) -> Dialect {
        match &self.db {
            Db::Pool(pool) => pool.dialect(),
            Db::Tx(cell) => cell.dialect,
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub(crate) async fn exec(&self, q: Query) -> StoreResult<u64> {
        Ok(on_conn!(self, q, |c, sql, args, keep| sqlx::query_with(
            sql, args
        )
        .persistent(keep)
        .execute(c)
        .await?
        .rows_affected()))
    }

    /// Runs a statement that must change a row (an update or delete by id):
    /// [`StoreError::NotFound`] when it changed none, because the id names nothing.
    pub(crate) async fn exec_found(&self, q: Query) -> StoreResult<()> {
        match self.exec(q).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// The first row; [`StoreError::NotFound`] is not used here: no row is a database
    /// error (`RowNotFound`), as with sqlx.
    pub(crate) async fn fetch_one<T: Row>(&self, q: Query) -> StoreResult<T> {
        Ok(on_conn!(self, q, |c, sql, args, keep| sqlx::query_as_with(
            sql, args
        )
        .persistent(keep)
        .fetch_one(c)
        .await?))
    }

    pub(crate) async fn fetch_optional<T: Row>(&self, q: Query) -> StoreResult<Option<T>> {
        Ok(on_conn!(self, q, |c, sql, args, keep| sqlx::query_as_with(
            sql, args
        )
        .persistent(keep)
        .fetch_optional(c)
        .await?))
    }

    pub(crate) async fn fetch_all<T: Row>(&self, q: Query) -> StoreResult<Vec<T>> {
        Ok(on_conn!(self, q, |c, sql, args, keep| sqlx::query_as_with(
            sql, args
        )
        .persistent(keep)
        .fetch_all(c)
        .await?))
    }

    /// The first column of the first row.
    pub(crate) async fn scalar<T: Column>(&self, q: Query) -> StoreResult<T> {
        Ok(on_conn!(self, q, |c, sql, args, keep| {
            sqlx::query_scalar_with(sql, args)
                .persistent(keep)
                .fetch_one(c)
                .await?
        }))
    }

    pub(crate) async fn scalar_optional<T: Column>(&self, q: Query) -> StoreResult<Option<T>> {
        Ok(on_conn!(self, q, |c, sql, args, keep| {
            sqlx::query_scalar_with(sql, args)
                .persistent(keep)
                .fetch_optional(c)
                .await?
        }))
    }

    /// The first column of every row.
    pub(crate) async fn scalars<T: Column>(&self, q: Query) -> StoreResult<Vec<T>> {
        Ok(on_conn!(self, q, |c, sql, args, keep| {
            sqlx::query_scalar_with(sql, args)
                .persistent(keep)
                .fetch_all(c)
                .await?
        }))
    }

    /// Opens a transaction. The [`Tx`] is a store (it derefs to one): every store function
    /// called on it runs inside the transaction, so a caller composes store calls
    /// atomically and commits with [`Tx::commit`]; dropping it rolls back. On SQLite it
    /// begins `IMMEDIATE`, taking the write lock up front (waiting out `busy_timeout`), so a
    /// transaction that reads before it writes cannot fail with "database is locked" when
    /// it upgrades. Beginning on a store already bound to a transaction joins that one:
    /// only the outermost commit commits, and an error must reach it (as `?` does) to roll
    /// the whole back.
    pub async fn begin(&self) -> StoreResult<Tx> {
        let conn = match &self.db {
            Db::Pool(Pool::Sqlite(pool)) => {
                TxConn::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?)
            }
            Db::Pool(Pool::Postgres(pool)) => TxConn::Postgres(pool.begin().await?),
            Db::Tx(_) => {
                return Ok(Tx {
                    store: self.clone(),
                    outermost: false,
                });
            }
        };
        let cell = TxCell {
            dialect: self.dialect(),
            conn: Mutex::new(Some(conn)),
        };
        Ok(Tx {
            store: super::Store {
                db: Db::Tx(Arc::new(cell)),
            },
            outermost: true,
        })
    }
}

/// A transaction: a [`super::Store`] whose calls all run in it. See [`super::Store::begin`].
#[must_use = "a transaction that is not committed is rolled back"]
pub struct Tx {
    store: super::Store,
    outermost: bool,
}

impl std::ops::Deref for Tx {
    type Target = super::Store;
    fn deref(&self) -> &super::Store {
        &self.store
    }
}

impl Tx {
    /// Commits (for a joined transaction, leaves that to the outermost).
    pub async fn commit(self) -> StoreResult<()> {
        let Db::Tx(cell) = &self.store.db else {
            return Ok(());
        };
        if !self.outermost {
            return Ok(());
        }
        match cell.conn.lock().await.take().ok_or_else(finished)? {
            TxConn::Sqlite(tx) => tx.commit().await?,
            TxConn::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

impl super::Store {
    /// Runs `migrator` (up to `version`, or all of it) on the pool.
    pub(crate) async fn run_migrations(
        &self,
        migrator: sqlx::migrate::Migrator,
        version: Option<i64>,
    ) -> Result<(), anyhow::Error> {
        match (&self.db, version) {
            (Db::Pool(Pool::Sqlite(pool)), None) => migrator.run(pool).await?,
            (Db::Pool(Pool::Sqlite(pool)), Some(v)) => migrator.run_to(v, pool).await?,
            (Db::Pool(Pool::Postgres(pool)), None) => migrator.run(pool).await?,
            (Db::Pool(Pool::Postgres(pool)), Some(v)) => migrator.run_to(v, pool).await?,
            (Db::Tx(_), _) => anyhow::bail!("migrations do not run inside a transaction"),
        }
        Ok(())
    }

    pub async fn close(&self) {
        if let Db::Pool(pool) = &self.db {
            pool.close().await
        }
    }
}

/// Lets a stored word with a meaning (an enum with `FromStr`, kept as `TEXT`) be decoded
/// straight from a row in either dialect, so that it is parsed once, in the store, and
/// callers compare enums, never strings. A word the enum does not know is a decode error.
macro_rules! stored_word {
    ($t:ty) => {
        impl sqlx::Type<sqlx::Sqlite> for $t {
            fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
                <str as sqlx::Type<sqlx::Sqlite>>::type_info()
            }
            fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
            }
        }
        impl sqlx::Type<sqlx::Postgres> for $t {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <str as sqlx::Type<sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for $t {
            fn decode(
                value: sqlx::sqlite::SqliteValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<&str as sqlx::Decode<sqlx::Sqlite>>::decode(value)?.parse()?)
            }
        }
        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $t {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?.parse()?)
            }
        }
    };
}
pub(crate) use stored_word;

/// A domain type read through a row struct: the row decodes the columns, and the one
/// `TryFrom` (or `From`) turns it into the domain value, so each table has one row
/// mapping that every query on it shares (see [`super::Store::decode_all`]).
pub(crate) trait Decoded: TryFrom<Self::Row, Error: Into<StoreError>> + Send {
    type Row: Row;
}

impl super::Store {
    /// Every row, decoded into the domain type through its row struct.
    pub(crate) async fn decode_all<T: Decoded>(&self, q: Query) -> StoreResult<Vec<T>> {
        let rows: Vec<T::Row> = self.fetch_all(q).await?;
        rows.into_iter()
            .map(|r| T::try_from(r).map_err(Into::into))
            .collect()
    }

    /// The row, if any, decoded into the domain type through its row struct.
    pub(crate) async fn decode_optional<T: Decoded>(&self, q: Query) -> StoreResult<Option<T>> {
        let row: Option<T::Row> = self.fetch_optional(q).await?;
        row.map(|r| T::try_from(r).map_err(Into::into)).transpose()
    }

    /// The first row, decoded into the domain type through its row struct.
    pub(crate) async fn decode_one<T: Decoded>(&self, q: Query) -> StoreResult<T> {
        let row: T::Row = self.fetch_one(q).await?;
        T::try_from(row).map_err(Into::into)
    }
}
