//! Fixtures: rows written straight into the tables, and raw statements, for the tests and
//! the benchmarks (which need the database in a known state without going through the
//! service). Never called by the service; the only door through which code outside the
//! store runs its own SQL.

use sqlx::AssertSqlSafe;

use super::{Query, Store, StoreResult, query};

impl Store {
    /// Runs a statement of a test's or benchmark's own; returns the rows it changed.
    pub async fn fixture_exec(&self, q: Query) -> StoreResult<u64> {
        self.exec(q).await
    }

    /// A test's or benchmark's own query for one integer (a count, a new id).
    pub async fn fixture_i64(&self, q: Query) -> StoreResult<i64> {
        self.scalar(q).await
    }

    /// Applies this dialect's migrations up to `version` only (upgrade tests).
    pub async fn migrate_to(&self, version: i64) -> Result<(), anyhow::Error> {
        self.run_migrations(super::migrator(self.dialect()), Some(version))
            .await
    }

    /// A sent issue written straight into the ledger, with a sent delivery to subscriber
    /// `to`, or to every subscriber when `None` (tests and benchmarks that read what was
    /// sent without sending it). Returns the digest's id.
    pub async fn insert_sent_issue(
        &self,
        issue_date: &str,
        subject: &str,
        to: Option<i64>,
        now: i64,
    ) -> StoreResult<i64> {
        let digest = self
            .scalar(
                query(
                    "INSERT INTO digests (issue_date, status, subject, created_at, updated_at) \
                     VALUES ($1, 'sent', $2, $3, $3) RETURNING id",
                )
                .bind(issue_date)
                .bind(subject)
                .bind(now),
            )
            .await?;
        self.exec(
            query(
                "INSERT INTO deliveries (digest_id, subscriber_id, batch_no, state, attempts, sent_at, updated_at) \
                 SELECT $1, id, 0, 'sent', 1, $2, $2 FROM subscribers WHERE $3 IS NULL OR id = $3",
            )
            .bind(digest)
            .bind(now)
            .bind(to),
        )
        .await?;
        Ok(digest)
    }

    /// A digest half way through its send to `recipients` new subscribers, written
    /// straight into the ledger (the dashboard benchmark; never called by the service).
    pub async fn insert_bench_send(&self, recipients: i64, now_ms: i64) -> StoreResult<()> {
        let series = self.dialect().series("$2");
        let statements = [
            format!(
                "INSERT INTO subscribers (email, email_key, status, created_at, status_changed_at) \
                 SELECT 'bench' || CAST(i AS TEXT) || '@example.org', 'bench' || CAST(i AS TEXT) || '@example.org', \
                 'confirmed', $1, $1 FROM ({series}) AS s"
            ),
            "INSERT INTO digests (issue_date, status, recipients, send_started_at, created_at, updated_at) \
             VALUES ('2026-11-28', 'sending', $2, $1 - 1800000, $1, $1)"
                .to_string(),
            format!(
                "INSERT INTO deliveries (digest_id, subscriber_id, batch_no, state, sent_at, updated_at) \
                 SELECT (SELECT MAX(id) FROM digests), \
                 (SELECT MIN(id) FROM subscribers WHERE email_key LIKE 'bench%') + i - 1, i / 500, \
                 CASE WHEN i % 2 = 0 THEN 'sent' WHEN i % 97 = 0 THEN 'failed' ELSE 'queued' END, \
                 CASE WHEN i % 2 = 0 THEN $1 - i * 36 ELSE NULL END, $1 FROM ({series}) AS s"
            ),
        ];
        for sql in statements {
            self.exec(
                query(AssertSqlSafe(sql.as_str()))
                    .bind(now_ms)
                    .bind(recipients),
            )
            .await?;
        }
        Ok(())
    }
}
