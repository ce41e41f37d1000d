//! A fresh database per test, on SQLite or on the machine's PostgreSQL, and the macro
//! that runs a test on both.

use std::time::Duration;

use sqlx::Connection;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($test:ident) => {
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test($crate::kit::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$test($crate::kit::Backend::Postgres).await
            }
        }
    };
}

const DEFAULT_PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database for one test: a SQLite file in a temporary folder, or a new
/// PostgreSQL database with a random name.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pub dir: TempDir,
}

impl TestDb {
    /// `None` (after saying so) when PostgreSQL is wanted but unreachable, unless
    /// `BREAKFAST_TEST_REQUIRE_PG=1`, as in CI, where that is a failure.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        breakfast::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("breakfast.db").display());
                Some(TestDb { url, backend, dir })
            }
            Backend::Postgres => {
                let admin =
                    std::env::var("BREAKFAST_TEST_PG").unwrap_or_else(|_| DEFAULT_PG_ADMIN.into());
                let name = format!("bf_test_{}", uuid::Uuid::new_v4().simple());
                match create_pg_database(&admin, &name).await {
                    Ok(url) => Some(TestDb { url, backend, dir }),
                    Err(e) => {
                        if std::env::var("BREAKFAST_TEST_REQUIRE_PG").is_ok_and(|v| v == "1") {
                            panic!(
                                "PostgreSQL is required (BREAKFAST_TEST_REQUIRE_PG=1) but unreachable: {e}"
                            );
                        }
                        eprintln!("SKIPPED: PostgreSQL unreachable at {admin}: {e}");
                        None
                    }
                }
            }
        }
    }
}

async fn create_pg_database(admin: &str, name: &str) -> Result<String, sqlx::Error> {
    let mut conn = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(admin))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    Ok(format!("{base}/{name}"))
}
