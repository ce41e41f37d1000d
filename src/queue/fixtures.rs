//! Fixtures for apalis's job table: rows written directly, for the tests and the queue
//! dashboard benchmark, which need a queue in a known state without running its jobs.
//! Never called by the service.

use sqlx::AssertSqlSafe;

use super::stats::Apalis;
use crate::store::{Store, StoreResult, query};

/// A row for apalis's table written directly: for tests and the dashboard benchmark,
/// which need a queue in a known state without running its jobs.
#[derive(Debug, Clone)]
pub struct RawJob<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub payload: &'a [u8],
    pub status: &'a str,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at_secs: i64,
    pub done_at_secs: Option<i64>,
    /// JSON, as apalis stores it (`{"Err":"…"}`).
    pub last_result: Option<&'a str>,
}

impl Store {
    /// Writes a job row directly (tests and the benchmark; see [`RawJob`]).
    pub async fn insert_raw_job(&self, job: &RawJob<'_>) -> StoreResult<()> {
        let d = Apalis::of(self);
        let sql = format!(
            "INSERT INTO {} (job, id, job_type, status, attempts, max_attempts, run_at, done_at, last_result, priority) \
             VALUES ($1, $2, $3, $4, $5, $6, {}, {}, {}, 0)",
            d.jobs,
            d.at("$7"),
            d.at("$8"),
            d.json("$9")
        );
        self.exec(
            query(AssertSqlSafe(sql.as_str()))
                .bind(job.payload)
                .bind(job.id)
                .bind(job.kind)
                .bind(job.status)
                .bind(job.attempts)
                .bind(job.max_attempts)
                .bind(job.run_at_secs)
                .bind(job.done_at_secs)
                .bind(job.last_result),
        )
        .await?;
        Ok(())
    }

    /// Fills the table with `count` done jobs of `kind`, finished over the day before
    /// `now_secs`, in one statement (the dashboard benchmark's million rows).
    pub async fn insert_done_jobs(
        &self,
        kind: &str,
        count: i64,
        now_secs: i64,
    ) -> StoreResult<u64> {
        let d = Apalis::of(self);
        let series = d.dialect.series("$1");
        let prefix = uuid::Uuid::new_v4().simple().to_string();
        let sql = format!(
            "INSERT INTO {} (job, id, job_type, status, attempts, max_attempts, run_at, done_at, priority) \
             SELECT $2, $3 || CAST(i AS TEXT), $4, 'Done', 1, 8, {}, {}, 0 FROM ({series}) AS s",
            d.jobs,
            d.at("($5 - i % 86400 - 1)"),
            d.at("($5 - i % 86400)"),
        );
        let payload: &[u8] = b"{}";
        let n = self
            .exec(
                query(AssertSqlSafe(sql.as_str()))
                    .bind(count)
                    .bind(payload)
                    .bind(format!("{prefix}-"))
                    .bind(kind)
                    .bind(now_secs),
            )
            .await?;
        Ok(n)
    }
}

impl Store {
    /// Jobs a worker would run by `until_secs`: waiting, running, or failed with attempts
    /// left. Zero once a test's queue has nothing more to do (the kit's "run the pending
    /// jobs" waits for it).
    pub async fn jobs_due(&self, until_secs: i64) -> StoreResult<i64> {
        let d = Apalis::of(self);
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE (status IN ('Pending', 'Queued', 'Running') \
             OR (status = 'Failed' AND attempts < max_attempts)) AND run_at <= {}",
            d.jobs,
            d.at("$1")
        );
        self.scalar(query(AssertSqlSafe(sql.as_str())).bind(until_secs))
            .await
    }
}
