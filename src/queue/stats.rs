//! What apalis's job table looks like right now, for operators (the dashboard,
//! `breakfast queue …`, `/metrics`), and the few repairs they may make: the only SQL
//! against apalis's own tables.
//!
//! apalis owns its tables (`Jobs` on SQLite, `apalis.jobs` on PostgreSQL); we only read
//! them and make the same moves apalis itself makes (back to `Pending`, on to `Killed`).
//! The statements run through the store's helpers (see [`crate::store`]) and differ by
//! dialect only where apalis's schema does: how times are kept (epoch seconds vs
//! `timestamptz`) and the type of `last_result` (text vs `jsonb`); [`Apalis`] picks those
//! fragments. Every statement here is an index range: the page must stay fast with a
//! million done jobs in the table. The done-job tallies (`queue_done_counts`, our table)
//! are the store's.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::store::{Dialect, Query, Store, StoreResult, query};

/// Our index on apalis's table: counts per (kind, state) without touching rows, and the
/// done jobs of the last minute or hour (throughput) and of long ago (purge) as ranges.
const KIND_STATUS_DONE_INDEX: &str = "breakfast_jobs_kind_status_done";

/// Rows deleted per statement when purging, so that a large purge never holds the
/// database's write lock for long.
const PURGE_BATCH: i64 = 5_000;

/// What apalis calls the states of a job, in the order the dashboard shows them.
pub const PENDING: &str = "Pending";
pub const QUEUED: &str = "Queued";
pub const RUNNING: &str = "Running";
pub const DONE: &str = "Done";
pub const FAILED: &str = "Failed";
pub const KILLED: &str = "Killed";

/// The fragments of a statement on apalis's table that its schema spells differently
/// per dialect, all by [`Dialect::pick`].
pub(crate) struct Apalis {
    pub(crate) jobs: &'static str,
    pub(crate) dialect: Dialect,
}

impl Apalis {
    pub(crate) fn of(store: &Store) -> Apalis {
        let dialect = store.dialect();
        Apalis {
            jobs: dialect.pick("Jobs", "apalis.jobs"),
            dialect,
        }
    }

    /// A time column (or aggregate of one) as epoch seconds.
    fn secs(&self, expr: &str) -> String {
        self.dialect.pick(
            expr.to_string(),
            format!("CAST(EXTRACT(EPOCH FROM {expr}) AS BIGINT)"),
        )
    }

    /// A parameter holding epoch seconds, as the time column's type.
    pub(crate) fn at(&self, param: &str) -> String {
        self.dialect
            .pick(param.to_string(), format!("to_timestamp({param})"))
    }

    /// A parameter holding JSON text, as `last_result`'s type.
    pub(crate) fn json(&self, param: &str) -> String {
        self.dialect
            .pick(param.to_string(), format!("CAST({param} AS JSONB)"))
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

impl Store {
    /// Creates the indexes our queries need on apalis's table. Runs after apalis has
    /// created its tables (which on SQLite happens at start, not in our migrations).
    /// Failing here costs speed, not correctness, so the caller may only warn.
    pub async fn ensure_queue_indexes(&self) -> StoreResult<()> {
        let d = Apalis::of(self);
        let sql = format!(
            "CREATE INDEX IF NOT EXISTS {KIND_STATUS_DONE_INDEX} ON {} (job_type, status, done_at)",
            d.jobs
        );
        self.exec(query(AssertSqlSafe(sql.as_str()))).await?;
        Ok(())
    }

    /// The job kinds present in the table, found by hopping from one kind to the next in
    /// the index (a loose index scan) instead of reading every row.
    pub async fn job_kinds(&self) -> StoreResult<Vec<String>> {
        let jobs = Apalis::of(self).jobs;
        let sql = format!(
            "WITH RECURSIVE kinds(kind) AS ( \
               SELECT MIN(job_type) FROM {jobs} \
               UNION ALL \
               SELECT (SELECT MIN(job_type) FROM {jobs} WHERE job_type > kinds.kind) FROM kinds \
               WHERE kinds.kind IS NOT NULL) \
             SELECT kind FROM kinds WHERE kind IS NOT NULL"
        );
        let kinds: Vec<String> = self.scalars(query(AssertSqlSafe(sql.as_str()))).await?;
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
        let d = Apalis::of(self);
        let jobs = d.jobs;
        let by_status = format!(
            "SELECT status, COUNT(*) FROM {jobs} WHERE job_type = $1 \
             AND status IN ('Pending', 'Queued', 'Running', 'Failed', 'Killed') GROUP BY status"
        );
        let counts: Vec<(String, i64)> = self
            .fetch_all(query(AssertSqlSafe(by_status.as_str())).bind(kind))
            .await?;
        let count = |s: &str| counts.iter().find(|(n, _)| n == s).map_or(0, |(_, c)| *c);
        let exhausted = format!(
            "SELECT COUNT(*) FROM {jobs} WHERE job_type = $1 AND status = 'Failed' AND attempts >= max_attempts"
        );
        let failed_dead: i64 = self
            .scalar(query(AssertSqlSafe(exhausted.as_str())).bind(kind))
            .await?;
        let oldest = format!(
            "SELECT {} FROM {jobs} WHERE job_type = $1 AND status IN ('Pending', 'Queued') AND run_at <= {}",
            d.secs("MIN(run_at)"),
            d.at("$2")
        );
        let oldest_run_at: Option<i64> = self
            .scalar(
                query(AssertSqlSafe(oldest.as_str()))
                    .bind(kind)
                    .bind(now_secs),
            )
            .await?;
        Ok(KindStats {
            kind: kind.to_string(),
            waiting: count(PENDING) + count(QUEUED),
            running: count(RUNNING),
            done: self.done_count(kind).await?,
            retrying: count(FAILED) - failed_dead,
            dead: count(KILLED) + failed_dead,
            oldest_waiting_secs: oldest_run_at.map(|t| (now_secs - t).max(0)),
            done_last_minute: self.done_in(kind, Some(now_secs - 60), None).await?,
            done_last_hour: self.done_in(kind, Some(now_secs - 3600), None).await?,
        })
    }

    /// Done jobs of `kind`: the tally up to its moment plus those finished since (an
    /// index range of minutes), or a full count when no tally exists yet.
    async fn done_count(&self, kind: &str) -> StoreResult<i64> {
        match self.done_tally(kind).await? {
            Some((until, counted)) => Ok(counted + self.done_in(kind, Some(until), None).await?),
            None => self.done_in(kind, None, None).await,
        }
    }

    /// Done jobs of `kind` finished in `[from_secs, to_secs)`, either end open: a range
    /// on our index. With both open it is the slow, exact count that only the background
    /// refresh and a missing tally pay for.
    async fn done_in(
        &self,
        kind: &str,
        from_secs: Option<i64>,
        to_secs: Option<i64>,
    ) -> StoreResult<i64> {
        let d = Apalis::of(self);
        let mut sql = format!(
            "SELECT COUNT(*) FROM {} WHERE job_type = $1 AND status = 'Done'",
            d.jobs
        );
        let mut bounds = Vec::new();
        for (bound, op) in [(from_secs, ">="), (to_secs, "<")] {
            if let Some(secs) = bound {
                bounds.push(secs);
                let param = format!("${}", bounds.len() + 1);
                sql.push_str(&format!(" AND done_at {op} {}", d.at(&param)));
            }
        }
        let q = bounds
            .into_iter()
            .fold(query(AssertSqlSafe(sql)).bind(kind), Query::bind);
        self.scalar(q).await
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
                    let delta = self.done_in(&kind, Some(from), Some(until_secs)).await?;
                    // Conditional on the moment we read: a racing refresher adds once.
                    self.advance_done_tally(&kind, from, until_secs, delta)
                        .await?;
                }
                None => {
                    let n = self.done_in(&kind, None, Some(until_secs)).await?;
                    self.set_done_tally(&kind, until_secs, n).await?;
                }
            }
        }
        Ok(())
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
        let d = Apalis::of(self);
        let sql = format!(
            "SELECT id, status, CAST(attempts AS BIGINT), CAST(max_attempts AS BIGINT), \
             CAST(last_result AS TEXT), {} FROM {} \
             WHERE job_type = $1 AND status IN ('Failed', 'Killed') \
             ORDER BY COALESCE(done_at, run_at) DESC LIMIT $2",
            d.secs("COALESCE(done_at, run_at)"),
            d.jobs
        );
        type Row = (String, String, i64, i64, Option<String>, Option<i64>);
        let rows: Vec<Row> = self
            .fetch_all(query(AssertSqlSafe(sql.as_str())).bind(kind).bind(limit))
            .await?;
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
            Apalis::of(self).jobs
        );
        let ids: Vec<String> = self
            .scalars(
                query(AssertSqlSafe(sql.as_str()))
                    .bind(kind)
                    .bind(status)
                    .bind(limit),
            )
            .await?;
        Ok(ids)
    }

    /// Sends a failed or dead job back to the queue with a fresh set of attempts.
    /// Returns whether there was such a job.
    pub async fn retry_job(&self, id: &str, now_secs: i64) -> StoreResult<bool> {
        let d = Apalis::of(self);
        let sql = format!(
            "UPDATE {} SET status = 'Pending', attempts = 0, run_at = {}, done_at = NULL, \
             lock_by = NULL, lock_at = NULL WHERE id = $2 AND status IN ('Failed', 'Killed')",
            d.jobs,
            d.at("$1")
        );
        let n = self
            .exec(query(AssertSqlSafe(sql.as_str())).bind(now_secs).bind(id))
            .await?;
        Ok(n == 1)
    }

    /// Retries every failed and dead job (of one kind, when given).
    pub async fn retry_failed_jobs(&self, kind: Option<&str>, now_secs: i64) -> StoreResult<u64> {
        let d = Apalis::of(self);
        let sql = format!(
            "UPDATE {} SET status = 'Pending', attempts = 0, run_at = {}, done_at = NULL, \
             lock_by = NULL, lock_at = NULL \
             WHERE status IN ('Failed', 'Killed') AND ($2 IS NULL OR job_type = $2)",
            d.jobs,
            d.at("$1")
        );
        let n = self
            .exec(query(AssertSqlSafe(sql.as_str())).bind(now_secs).bind(kind))
            .await?;
        Ok(n)
    }

    /// Gives up on a job that is waiting or failed: it is marked dead (`Killed`) and kept,
    /// so the dashboard still shows it until it is retried or purged. A running job
    /// belongs to its worker and cannot be discarded.
    pub async fn discard_job(&self, id: &str, now_secs: i64) -> StoreResult<bool> {
        let d = Apalis::of(self);
        let sql = format!(
            "UPDATE {} SET status = 'Killed', done_at = {}, lock_by = NULL, lock_at = NULL, \
             last_result = {} WHERE id = $3 AND status IN ('Pending', 'Failed')",
            d.jobs,
            d.at("$1"),
            d.json("$2")
        );
        let reason = serde_json::json!({ "Err": "discarded by an operator" }).to_string();
        let n = self
            .exec(
                query(AssertSqlSafe(sql.as_str()))
                    .bind(now_secs)
                    .bind(reason)
                    .bind(id),
            )
            .await?;
        Ok(n == 1)
    }

    /// Deletes every job, whatever its state, whose payload contains one of `needles`
    /// (exact substrings of its JSON): erasing a subscriber cancels their queued emails and
    /// removes the finished ones that still hold their address and links. Returns how many.
    pub async fn delete_jobs_mentioning(&self, needles: &[String]) -> StoreResult<u64> {
        let d = Apalis::of(self);
        let payload = d
            .dialect
            .pick("CAST(job AS TEXT)", "convert_from(job, 'UTF8')");
        let found = d.dialect.pick("instr", "strpos");
        let sql = format!("DELETE FROM {} WHERE {found}({payload}, $1) > 0", d.jobs);
        let mut total = 0;
        for needle in needles {
            total += self
                .exec(query(AssertSqlSafe(sql.as_str())).bind(needle))
                .await?;
        }
        Ok(total)
    }

    /// Deletes done jobs that finished before `before_secs`, in batches, kind by kind
    /// (each batch an index range). Returns how many were deleted.
    pub async fn purge_done_jobs(&self, before_secs: i64) -> StoreResult<u64> {
        let d = Apalis::of(self);
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
                let n = self
                    .exec(
                        query(AssertSqlSafe(sql.as_str()))
                            .bind(&kind)
                            .bind(PURGE_BATCH)
                            .bind(before_secs),
                    )
                    .await?;
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
            let n = self.done_in(kind, None, Some(until)).await?;
            self.recount_done_tally(kind, until, n).await?;
        }
        Ok(())
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
