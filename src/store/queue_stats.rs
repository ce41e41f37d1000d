//! What the queue and the delivery ledger look like right now, for operators (the
//! dashboard, `breakfast queue …`, `/metrics`), and the few repairs they may make.
//!
//! apalis owns its tables (`Jobs` on SQLite, `apalis.jobs` on PostgreSQL); we only read
//! them and make the same moves apalis itself makes (back to `Pending`, on to `Killed`).
//! The two dialects differ in how times are kept (epoch seconds vs `timestamptz`) and in
//! the type of `last_result` (text vs `jsonb`), so statements are assembled from a small
//! [`Dialect`] rather than written once. Every statement here is an index range: the
//! page must stay fast with a million done jobs in the table.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{Db, Store, StoreResult, on_db};

/// Our index on apalis's table: counts per (kind, state) without touching rows, and the
/// done jobs of the last minute or hour (throughput) and of long ago (purge) as ranges.
const KIND_STATUS_DONE_INDEX: &str = "breakfast_jobs_kind_status_done";

/// Rows deleted per statement when pruning, so that a large purge never holds the
/// database's write lock for long.
const PURGE_BATCH: i64 = 5_000;

/// What apalis calls the states of a job, in the order the dashboard shows them.
pub const PENDING: &str = "Pending";
pub const QUEUED: &str = "Queued";
pub const RUNNING: &str = "Running";
pub const DONE: &str = "Done";
pub const FAILED: &str = "Failed";
pub const KILLED: &str = "Killed";

/// The dialect-specific parts of a statement on apalis's table.
struct Dialect {
    jobs: &'static str,
    postgres: bool,
}

impl Dialect {
    fn of(store: &Store) -> Dialect {
        match store.db {
            Db::Sqlite(_) => Dialect {
                jobs: "Jobs",
                postgres: false,
            },
            Db::Postgres(_) => Dialect {
                jobs: "apalis.jobs",
                postgres: true,
            },
        }
    }

    /// A time column (or aggregate of one) as epoch seconds.
    fn secs(&self, expr: &str) -> String {
        if self.postgres {
            format!("CAST(EXTRACT(EPOCH FROM {expr}) AS BIGINT)")
        } else {
            expr.to_string()
        }
    }

    /// A parameter holding epoch seconds, as the time column's type.
    fn at(&self, param: &str) -> String {
        if self.postgres {
            format!("to_timestamp({param})")
        } else {
            param.to_string()
        }
    }

    /// A parameter holding JSON text, as `last_result`'s type.
    fn json(&self, param: &str) -> String {
        if self.postgres {
            format!("CAST({param} AS JSONB)")
        } else {
            param.to_string()
        }
    }
}

/// One job kind (an apalis queue) at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindStats {
    pub kind: String,
    /// Pending or fetched by a worker but not started.
    pub waiting: i64,
    pub running: i64,
    pub done: i64,
    /// Failed, with attempts left: apalis will try again.
    pub retrying: i64,
    /// Killed, or failed with no attempts left: only an operator brings it back.
    pub dead: i64,
    /// Seconds the oldest job that is due has been waiting.
    pub oldest_waiting_secs: Option<i64>,
    pub done_last_minute: i64,
    pub done_last_hour: i64,
}

impl KindStats {
    pub fn total(&self) -> i64 {
        self.waiting + self.running + self.done + self.retrying + self.dead
    }
}

/// A job that failed, with apalis's record of why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobFailure {
    pub id: String,
    pub kind: String,
    /// "retrying" or "dead".
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub error: String,
    /// When it last failed (epoch seconds), when apalis recorded it.
    pub failed_at: Option<i64>,
}

/// Send progress of one digest, from the delivery ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DigestProgress {
    pub digest_id: i64,
    pub issue_date: String,
    pub status: String,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    /// queued, sending or retrying.
    pub pending: i64,
    /// Messages per minute over the last five minutes.
    pub rate_per_minute: f64,
    /// Seconds until the rest is sent at that rate; `None` when nothing moves.
    pub eta_secs: Option<i64>,
    pub send_started_at: Option<i64>,
}

/// The minutes over which the ledger's send rate is measured.
const RATE_WINDOW_MINUTES: i64 = 5;

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
    /// Creates the indexes our queries need on apalis's table. Runs after apalis has
    /// created its tables (which on SQLite happens at start, not in our migrations).
    /// Failing here costs speed, not correctness, so the caller may only warn.
    pub async fn ensure_queue_indexes(&self) -> StoreResult<()> {
        let d = Dialect::of(self);
        let sql = format!(
            "CREATE INDEX IF NOT EXISTS {KIND_STATUS_DONE_INDEX} ON {} (job_type, status, done_at)",
            d.jobs
        );
        on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The job kinds present in the table, found by hopping from one kind to the next in
    /// the index (a loose index scan) instead of reading every row.
    pub async fn job_kinds(&self) -> StoreResult<Vec<String>> {
        let jobs = Dialect::of(self).jobs;
        let sql = format!(
            "WITH RECURSIVE kinds(kind) AS ( \
               SELECT MIN(job_type) FROM {jobs} \
               UNION ALL \
               SELECT (SELECT MIN(job_type) FROM {jobs} WHERE job_type > kinds.kind) FROM kinds \
               WHERE kinds.kind IS NOT NULL) \
             SELECT kind FROM kinds WHERE kind IS NOT NULL"
        );
        let kinds: Vec<String> = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).fetch_all(pool).await)?;
        Ok(kinds)
    }

    /// Statistics for every kind in `known` and every kind present in the table, sorted
    /// by name. `now_secs` is wall-clock time, the clock apalis stamps jobs with.
    pub async fn queue_stats(&self, known: &[&str], now_secs: i64) -> StoreResult<Vec<KindStats>> {
        let mut kinds = self.job_kinds().await?;
        kinds.extend(known.iter().map(|k| k.to_string()));
        kinds.sort();
        kinds.dedup();
        let mut out = Vec::with_capacity(kinds.len());
        for kind in kinds {
            out.push(self.kind_stats(&kind, now_secs).await?);
        }
        Ok(out)
    }

    async fn kind_stats(&self, kind: &str, now_secs: i64) -> StoreResult<KindStats> {
        let d = Dialect::of(self);
        let jobs = d.jobs;
        let by_status = format!(
            "SELECT status, COUNT(*) FROM {jobs} WHERE job_type = $1 \
             AND status IN ('Pending', 'Queued', 'Running', 'Failed', 'Killed') GROUP BY status"
        );
        let counts: Vec<(String, i64)> = on_db!(self, pool => sqlx::query_as(AssertSqlSafe(by_status.as_str())).bind(kind).fetch_all(pool).await)?;
        let count = |s: &str| counts.iter().find(|(n, _)| n == s).map_or(0, |(_, c)| *c);
        let exhausted = format!(
            "SELECT COUNT(*) FROM {jobs} WHERE job_type = $1 AND status = 'Failed' AND attempts >= max_attempts"
        );
        let failed_dead: i64 = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(exhausted.as_str())).bind(kind).fetch_one(pool).await)?;
        let oldest = format!(
            "SELECT {} FROM {jobs} WHERE job_type = $1 AND status IN ('Pending', 'Queued') AND run_at <= {}",
            d.secs("MIN(run_at)"),
            d.at("$2")
        );
        let oldest_run_at: Option<i64> = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(oldest.as_str())).bind(kind).bind(now_secs).fetch_one(pool).await)?;
        Ok(KindStats {
            kind: kind.to_string(),
            waiting: count(PENDING) + count(QUEUED),
            running: count(RUNNING),
            done: self.done_count(kind).await?,
            retrying: count(FAILED) - failed_dead,
            dead: count(KILLED) + failed_dead,
            oldest_waiting_secs: oldest_run_at.map(|t| (now_secs - t).max(0)),
            done_last_minute: self.done_since(kind, now_secs - 60).await?,
            done_last_hour: self.done_since(kind, now_secs - 3600).await?,
        })
    }

    /// Done jobs of `kind`: the tally up to its moment plus those finished since (an
    /// index range of minutes), or a full count when no tally exists yet.
    async fn done_count(&self, kind: &str) -> StoreResult<i64> {
        match self.done_tally(kind).await? {
            Some((until, counted)) => Ok(counted + self.done_since(kind, until).await?),
            None => self.done_before(kind, None).await,
        }
    }

    async fn done_tally(&self, kind: &str) -> StoreResult<Option<(i64, i64)>> {
        let row: Option<(i64, i64)> = on_db!(self, pool => sqlx::query_as(
            "SELECT counted_until, done_count FROM queue_done_counts WHERE job_type = $1",
        )
        .bind(kind)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Done jobs finished before `before_secs` (all of them with `None`): the slow,
    /// exact count that only the background refresh and a missing tally pay for.
    async fn done_before(&self, kind: &str, before_secs: Option<i64>) -> StoreResult<i64> {
        let d = Dialect::of(self);
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE job_type = $1 AND status = 'Done' AND ($2 IS NULL OR done_at < {})",
            d.jobs,
            d.at("$2")
        );
        let n: i64 = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(kind).bind(before_secs).fetch_one(pool).await)?;
        Ok(n)
    }

    async fn done_between(&self, kind: &str, from_secs: i64, to_secs: i64) -> StoreResult<i64> {
        let d = Dialect::of(self);
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE job_type = $1 AND status = 'Done' AND done_at >= {} AND done_at < {}",
            d.jobs,
            d.at("$2"),
            d.at("$3")
        );
        let n: i64 = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(kind).bind(from_secs).bind(to_secs).fetch_one(pool).await)?;
        Ok(n)
    }

    /// Moves every kind's done tally forward to `until_secs`: by counting only the jobs
    /// finished since its last moment, or, with `full` (or for a kind with no tally), by
    /// counting all of them. `until_secs` should trail the clock by a few minutes, so that
    /// a job acknowledged late (or stamped by a database clock a little behind ours)
    /// still lands after the moment.
    pub async fn refresh_done_counts(&self, until_secs: i64, full: bool) -> StoreResult<()> {
        for kind in self.job_kinds().await? {
            let tally = if full {
                None
            } else {
                self.done_tally(&kind).await?
            };
            match tally {
                Some((from, _)) if from >= until_secs => {}
                Some((from, _)) => {
                    let delta = self.done_between(&kind, from, until_secs).await?;
                    // Conditional on the moment we read: a racing refresher adds once.
                    on_db!(self, pool => sqlx::query(
                        "UPDATE queue_done_counts SET done_count = done_count + $1, counted_until = $2 \
                         WHERE job_type = $3 AND counted_until = $4",
                    )
                    .bind(delta)
                    .bind(until_secs)
                    .bind(&kind)
                    .bind(from)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected()))?;
                }
                None => {
                    let n = self.done_before(&kind, Some(until_secs)).await?;
                    on_db!(self, pool => sqlx::query(
                        "INSERT INTO queue_done_counts (job_type, counted_until, done_count) VALUES ($1, $2, $3) \
                         ON CONFLICT (job_type) DO UPDATE SET counted_until = $2, done_count = $3",
                    )
                    .bind(&kind)
                    .bind(until_secs)
                    .bind(n)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected()))?;
                }
            }
        }
        Ok(())
    }

    async fn done_since(&self, kind: &str, since_secs: i64) -> StoreResult<i64> {
        let d = Dialect::of(self);
        let sql = format!(
            "SELECT COUNT(*) FROM {} WHERE job_type = $1 AND status = 'Done' AND done_at >= {}",
            d.jobs,
            d.at("$2")
        );
        let n: i64 = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(kind).bind(since_secs).fetch_one(pool).await)?;
        Ok(n)
    }

    /// The most recent failures of every kind, newest first.
    pub async fn job_failures(&self, limit: i64) -> StoreResult<Vec<JobFailure>> {
        let mut all = Vec::new();
        for kind in self.job_kinds().await? {
            all.extend(self.kind_failures(&kind, limit).await?);
        }
        all.sort_by(|a, b| b.failed_at.cmp(&a.failed_at).then(b.id.cmp(&a.id)));
        all.truncate(limit.max(0) as usize);
        Ok(all)
    }

    async fn kind_failures(&self, kind: &str, limit: i64) -> StoreResult<Vec<JobFailure>> {
        let d = Dialect::of(self);
        let sql = format!(
            "SELECT id, status, CAST(attempts AS BIGINT), CAST(max_attempts AS BIGINT), \
             CAST(last_result AS TEXT), {} FROM {} \
             WHERE job_type = $1 AND status IN ('Failed', 'Killed') \
             ORDER BY COALESCE(done_at, run_at) DESC LIMIT $2",
            d.secs("COALESCE(done_at, run_at)"),
            d.jobs
        );
        type Row = (String, String, i64, i64, Option<String>, Option<i64>);
        let rows: Vec<Row> = on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(kind).bind(limit).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, status, attempts, max_attempts, result, at)| JobFailure {
                    id,
                    kind: kind.to_string(),
                    state: if status == KILLED || attempts >= max_attempts {
                        "dead".into()
                    } else {
                        "retrying".into()
                    },
                    attempts,
                    max_attempts,
                    error: error_text(result.as_deref()),
                    failed_at: at,
                },
            )
            .collect())
    }

    /// The ids of up to `limit` jobs of `kind` in apalis state `status`, oldest first.
    pub async fn job_ids(&self, kind: &str, status: &str, limit: i64) -> StoreResult<Vec<String>> {
        let sql = format!(
            "SELECT id FROM {} WHERE job_type = $1 AND status = $2 ORDER BY run_at, id LIMIT $3",
            Dialect::of(self).jobs
        );
        let ids: Vec<String> = on_db!(self, pool => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(kind).bind(status).bind(limit).fetch_all(pool).await)?;
        Ok(ids)
    }

    /// Sends a failed or dead job back to the queue with a fresh set of attempts.
    /// Returns whether there was such a job.
    pub async fn retry_job(&self, id: &str, now_secs: i64) -> StoreResult<bool> {
        let d = Dialect::of(self);
        let sql = format!(
            "UPDATE {} SET status = 'Pending', attempts = 0, run_at = {}, done_at = NULL, \
             lock_by = NULL, lock_at = NULL WHERE id = $2 AND status IN ('Failed', 'Killed')",
            d.jobs,
            d.at("$1")
        );
        let n = on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).bind(now_secs).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Retries every failed and dead job (of one kind, when given).
    pub async fn retry_failed_jobs(&self, kind: Option<&str>, now_secs: i64) -> StoreResult<u64> {
        let d = Dialect::of(self);
        let sql = format!(
            "UPDATE {} SET status = 'Pending', attempts = 0, run_at = {}, done_at = NULL, \
             lock_by = NULL, lock_at = NULL \
             WHERE status IN ('Failed', 'Killed') AND ($2 IS NULL OR job_type = $2)",
            d.jobs,
            d.at("$1")
        );
        let n = on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).bind(now_secs).bind(kind).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Gives up on a job that is waiting or failed: it is marked dead (`Killed`) and kept,
    /// so the dashboard still shows it until it is retried or purged. A running job
    /// belongs to its worker and cannot be discarded.
    pub async fn discard_job(&self, id: &str, now_secs: i64) -> StoreResult<bool> {
        let d = Dialect::of(self);
        let sql = format!(
            "UPDATE {} SET status = 'Killed', done_at = {}, lock_by = NULL, lock_at = NULL, \
             last_result = {} WHERE id = $3 AND status IN ('Pending', 'Failed')",
            d.jobs,
            d.at("$1"),
            d.json("$2")
        );
        let reason = serde_json::json!({ "Err": "discarded by an operator" }).to_string();
        let n = on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).bind(now_secs).bind(reason).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Deletes every job, whatever its state, whose payload contains one of `needles`
    /// (exact substrings of its JSON): erasing a subscriber cancels their queued emails and
    /// removes the finished ones that still hold their address and links. Returns how many.
    pub async fn delete_jobs_mentioning(&self, needles: &[String]) -> StoreResult<u64> {
        let d = Dialect::of(self);
        let payload = if d.postgres {
            "convert_from(job, 'UTF8')"
        } else {
            "CAST(job AS TEXT)"
        };
        let found = if d.postgres { "strpos" } else { "instr" };
        let sql = format!("DELETE FROM {} WHERE {found}({payload}, $1) > 0", d.jobs);
        let mut total = 0;
        for needle in needles {
            total += on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).bind(needle).execute(pool).await.map(|r| r.rows_affected()))?;
        }
        Ok(total)
    }

    /// Deletes done jobs that finished before `before_secs`, in batches, kind by kind
    /// (each batch an index range). Returns how many were deleted.
    pub async fn purge_done_jobs(&self, before_secs: i64) -> StoreResult<u64> {
        let d = Dialect::of(self);
        let jobs = d.jobs;
        let sql = format!(
            "DELETE FROM {jobs} WHERE id IN (SELECT id FROM {jobs} \
             WHERE job_type = $1 AND status = 'Done' AND done_at < {} LIMIT $2)",
            d.at("$3")
        );
        let mut total = 0;
        for kind in self.job_kinds().await? {
            let mut deleted = 0;
            loop {
                let n = on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).bind(&kind).bind(PURGE_BATCH).bind(before_secs).execute(pool).await.map(|r| r.rows_affected()))?;
                deleted += n;
                if n < PURGE_BATCH as u64 {
                    break;
                }
            }
            if deleted > 0 {
                self.recount_done(&kind).await?;
            }
            total += deleted;
        }
        Ok(total)
    }

    /// After rows left the table, the kind's tally is redone from scratch at its moment.
    async fn recount_done(&self, kind: &str) -> StoreResult<()> {
        if let Some((until, _)) = self.done_tally(kind).await? {
            let n = self.done_before(kind, Some(until)).await?;
            on_db!(self, pool => sqlx::query(
                "UPDATE queue_done_counts SET done_count = $1 WHERE job_type = $2 AND counted_until = $3",
            )
            .bind(n)
            .bind(kind)
            .bind(until)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// Writes a job row directly (tests and the benchmark; see [`RawJob`]).
    pub async fn insert_raw_job(&self, job: &RawJob<'_>) -> StoreResult<()> {
        let d = Dialect::of(self);
        let sql = format!(
            "INSERT INTO {} (job, id, job_type, status, attempts, max_attempts, run_at, done_at, last_result, priority) \
             VALUES ($1, $2, $3, $4, $5, $6, {}, {}, {}, 0)",
            d.jobs,
            d.at("$7"),
            d.at("$8"),
            d.json("$9")
        );
        on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(job.payload)
            .bind(job.id)
            .bind(job.kind)
            .bind(job.status)
            .bind(job.attempts)
            .bind(job.max_attempts)
            .bind(job.run_at_secs)
            .bind(job.done_at_secs)
            .bind(job.last_result)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
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
        let d = Dialect::of(self);
        let series = if d.postgres {
            "SELECT generate_series(1, CAST($1 AS BIGINT)) AS i"
        } else {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) SELECT i FROM n"
        };
        let prefix = uuid::Uuid::new_v4().simple().to_string();
        let sql = format!(
            "INSERT INTO {} (job, id, job_type, status, attempts, max_attempts, run_at, done_at, priority) \
             SELECT $2, $3 || CAST(i AS TEXT), $4, 'Done', 1, 8, {}, {}, 0 FROM ({series}) AS s",
            d.jobs,
            d.at("($5 - i % 86400 - 1)"),
            d.at("($5 - i % 86400)"),
        );
        let payload: &[u8] = b"{}";
        let n = on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(count)
            .bind(payload)
            .bind(format!("{prefix}-"))
            .bind(kind)
            .bind(now_secs)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n)
    }

    /// Deletes the ledger rows of digests whose send ended before `before_ms` (sent or
    /// cancelled), in batches. The digest keeps its recipient count; what goes is the
    /// per-subscriber detail, which is what makes the table grow with every issue.
    pub async fn prune_delivery_details(&self, before_ms: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let n = on_db!(self, pool => sqlx::query(
                "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d \
                 JOIN digests g ON g.id = d.digest_id \
                 WHERE g.status IN ('sent', 'cancelled') \
                 AND COALESCE(g.send_finished_at, g.updated_at) < $1 LIMIT $2)",
            )
            .bind(before_ms)
            .bind(PURGE_BATCH)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
            total += n;
            if n < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// A digest half way through its send to `recipients` new subscribers, written
    /// straight into the ledger (the dashboard benchmark; never called by the service).
    pub async fn insert_bench_send(&self, recipients: i64, now_ms: i64) -> StoreResult<()> {
        let series = if Dialect::of(self).postgres {
            "SELECT generate_series(1, CAST($2 AS BIGINT)) AS i"
        } else {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) SELECT i FROM n"
        };
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
            on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str())).bind(now_ms).bind(recipients).execute(pool).await.map(|r| r.rows_affected()))?;
        }
        Ok(())
    }

    /// Digests being sent, or whose send started since `since_ms`, newest first, with
    /// their progress through the ledger.
    pub async fn digest_progress(
        &self,
        since_ms: i64,
        now_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<DigestProgress>> {
        type Row = (i64, String, String, Option<i64>, Option<i64>);
        let digests: Vec<Row> = on_db!(self, pool => sqlx::query_as(
            "SELECT id, issue_date, status, recipients, send_started_at FROM digests \
             WHERE status = 'sending' OR send_started_at >= $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(since_ms)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        let mut out = Vec::with_capacity(digests.len());
        for (digest_id, issue_date, status, recipients, started) in digests {
            let mut p = self.ledger_counts(digest_id).await?;
            p.issue_date = issue_date;
            p.status = status;
            p.send_started_at = started;
            p.total = p.total.max(recipients.unwrap_or(0));
            let recent = self
                .sent_since(digest_id, now_ms - RATE_WINDOW_MINUTES * 60_000)
                .await?;
            p.rate_per_minute = recent as f64 / RATE_WINDOW_MINUTES as f64;
            let rest = (p.total - p.sent - p.failed).max(0);
            p.eta_secs = (rest > 0 && recent > 0)
                .then(|| (rest as f64 / p.rate_per_minute * 60.0).ceil() as i64);
            out.push(p);
        }
        Ok(out)
    }

    async fn ledger_counts(&self, digest_id: i64) -> StoreResult<DigestProgress> {
        let rows: Vec<(String, i64)> = on_db!(self, pool => sqlx::query_as(
            "SELECT state, COUNT(*) FROM deliveries WHERE digest_id = $1 GROUP BY state",
        )
        .bind(digest_id)
        .fetch_all(pool)
        .await)?;
        let count = |s: &str| rows.iter().find(|(n, _)| n == s).map_or(0, |(_, c)| *c);
        Ok(DigestProgress {
            digest_id,
            total: rows.iter().map(|(_, c)| c).sum(),
            sent: count("sent"),
            failed: count("failed"),
            pending: count("queued") + count("sending") + count("retrying"),
            ..DigestProgress::default()
        })
    }

    async fn sent_since(&self, digest_id: i64, since_ms: i64) -> StoreResult<i64> {
        let n: i64 = on_db!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE sent_at >= $1 AND digest_id = $2",
        )
        .bind(since_ms)
        .bind(digest_id)
        .fetch_one(pool)
        .await)?;
        Ok(n)
    }

    /// Messages the ledger records as sent in each of the `minutes` minutes up to
    /// `now_ms`, oldest first (a range on the `sent_at` index).
    pub async fn sent_per_minute(&self, now_ms: i64, minutes: usize) -> StoreResult<Vec<i64>> {
        let current = now_ms.div_euclid(60_000);
        let first = current - minutes as i64 + 1;
        let rows: Vec<(i64, i64)> = on_db!(self, pool => sqlx::query_as(
            "SELECT sent_at / 60000, COUNT(*) FROM deliveries WHERE sent_at >= $1 GROUP BY sent_at / 60000",
        )
        .bind(first * 60_000)
        .fetch_all(pool)
        .await)?;
        let mut series = vec![0; minutes];
        for (minute, n) in rows {
            if let Some(slot) = usize::try_from(minute - first)
                .ok()
                .and_then(|i| series.get_mut(i))
            {
                *slot += n;
            }
        }
        Ok(series)
    }
}

/// apalis keeps a job's last result as JSON (`{"Err":"…"}`); operators want the words.
pub fn error_text(result: Option<&str>) -> String {
    let Some(raw) = result else {
        return String::new();
    };
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => match map.get("Err") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => raw.to_string(),
        },
        Ok(serde_json::Value::String(s)) => s,
        _ => raw.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn error_text_unwraps_apalis_results() {
        assert_eq!(
            error_text(Some(r#"{"Err":"451 try later"}"#)),
            "451 try later"
        );
        assert_eq!(error_text(Some("plain")), "plain");
        assert_eq!(error_text(None), "");
    }
}
