//! The delivery ledger: one row per (digest, subscriber), the truth about who got what.
//!
//! Every state change is a single conditional statement, so that several processes (and
//! jobs replayed by the queue) can work on one digest without ever claiming the same row
//! twice or mailing a row that is already `sent`.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{Store, StoreError, StoreResult, on_db};

/// A row claimed for sending, with what the sender needs to address the message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub subscriber_id: i64,
    pub attempts: i64,
    pub email: String,
    pub name: Option<String>,
}

/// The rendered digest as stored, for senders that personalise it themselves.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredDigest {
    pub id: i64,
    pub issue_date: String,
    pub status: String,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// Where one digest's send stands: the operator's progress view.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveryProgress {
    pub digest_id: i64,
    pub issue_date: String,
    pub status: String,
    pub recipients: Option<i64>,
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub retrying: i64,
    pub failed: i64,
    pub send_started_at: Option<i64>,
    pub send_finished_at: Option<i64>,
    /// Messages accepted per second since the send started (until it finished).
    pub rate_per_second: f64,
}

impl DeliveryProgress {
    /// Every recipient is either sent or failed, and the digest says so.
    pub fn is_finished(&self) -> bool {
        self.status == "sent"
    }

    pub fn pending(&self) -> i64 {
        self.queued + self.sending + self.retrying
    }
}

/// Why a send cannot start.
pub fn refuse_send(id: i64, status: &str) -> StoreError {
    let why = match status {
        "sending" => "is already being sent; follow it with `breakfast digest status`".to_string(),
        "sent" => "was already sent; it is never sent twice".to_string(),
        "skipped" | "cancelled" => format!("was {status}"),
        other => format!("is {other}, not composed"),
    };
    StoreError::Conflict(format!("digest {id} {why}"))
}

/// issue_date, status, recipients, send_started_at, send_finished_at.
type DigestSendRow = (String, String, Option<i64>, Option<i64>, Option<i64>);

/// Rows a sender may take: new ones, retries that are due, and rows whose sender died.
const CLAIMABLE: &str = "(state = 'queued' OR (state = 'retrying' AND next_attempt_at <= $3) \
     OR (state = 'sending' AND lease_until < $3))";

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

impl Store {
    /// Stores an already rendered digest, ready to send (tests, benchmarks, imports).
    pub async fn insert_composed_digest(
        &self,
        issue_date: &str,
        subject: &str,
        html: &str,
        text: &str,
        now: i64,
    ) -> StoreResult<i64> {
        let id: i64 = on_db!(self, pool => sqlx::query_scalar(
            "INSERT INTO digests (issue_date, status, subject, html, text, composed_at, created_at, updated_at) \
             VALUES ($1, 'composed', $2, $3, $4, $5, $5, $5) RETURNING id")
            .bind(issue_date).bind(subject).bind(html).bind(text).bind(now)
            .fetch_one(pool).await)?;
        Ok(id)
    }

    pub async fn stored_digest(&self, id: i64) -> StoreResult<StoredDigest> {
        let row: Option<StoredDigest> = on_db!(self, pool => sqlx::query_as(
            "SELECT id, issue_date, status, subject, html, text FROM digests WHERE id = $1")
            .bind(id).fetch_optional(pool).await)?;
        row.ok_or(StoreError::NotFound)
    }

    /// The digest for an issue date (`YYYY-MM-DD`), if one exists: (id, status).
    pub async fn digest_by_date(&self, issue_date: &str) -> StoreResult<Option<(i64, String)>> {
        Ok(on_db!(self, pool => sqlx::query_as(
            "SELECT id, status FROM digests WHERE issue_date = $1")
            .bind(issue_date).fetch_optional(pool).await)?)
    }

    // Starting a send, the fan-out and finishing a digest change the digest's status
    // with a history event in one transaction: they live with the digests (digests.rs).

    /// Closes the rows of a batch whose subscriber left (or bounced) after the fan-out:
    /// the subscriber's choice wins over a send already planned.
    pub async fn fail_departed(&self, digest_id: i64, batch_no: i64, now: i64) -> StoreResult<u64> {
        let sql = format!(
            "UPDATE deliveries SET state = 'failed', last_error = 'unsubscribed before sending', \
             lease_until = NULL, updated_at = $3 \
             WHERE digest_id = $1 AND batch_no = $2 AND {CLAIMABLE} \
             AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = deliveries.subscriber_id \
                         AND s.status <> 'confirmed')"
        );
        Ok(
            on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(digest_id).bind(batch_no).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?,
        )
    }

    /// Atomically takes up to `limit` sendable rows of a batch, marking them `sending`
    /// until `lease_until`. On PostgreSQL the state test is repeated outside the
    /// sub-select, so that a row another process took meanwhile is re-checked and skipped.
    pub async fn claim_deliveries(
        &self,
        digest_id: i64,
        batch_no: i64,
        limit: i64,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        // SQLite runs one writer at a time, so the re-check is only needed on PostgreSQL;
        // on SQLite it would also lead the planner to scan every queued row.
        let recheck = if self.is_postgres() {
            format!("AND {CLAIMABLE}")
        } else {
            String::new()
        };
        let sql = format!(
            "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, lease_until = $4, updated_at = $3 \
             WHERE id IN (SELECT id FROM deliveries WHERE digest_id = $1 AND batch_no = $2 AND {CLAIMABLE} \
                          AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = deliveries.subscriber_id \
                                      AND s.status = 'confirmed') \
                          ORDER BY id LIMIT $5) {recheck} \
             RETURNING id, subscriber_id, attempts, \
               (SELECT email FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS email, \
               (SELECT name FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS name"
        );
        Ok(
            on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str()))
            .bind(digest_id).bind(batch_no).bind(now).bind(lease_until).bind(limit)
            .fetch_all(pool).await)?,
        )
    }

    /// Records the server's acceptance of many messages in one statement.
    pub async fn mark_sent(&self, ids: &[i64], now: i64) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE deliveries SET state = 'sent', sent_at = $1, lease_until = NULL, \
             last_error = NULL, updated_at = $1 WHERE state = 'sending' AND id IN ({})",
            id_list(ids)
        );
        Ok(
            on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(now).execute(pool).await.map(|r| r.rows_affected()))?,
        )
    }

    pub async fn mark_retrying(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query(
            "UPDATE deliveries SET state = 'retrying', last_error = $2, next_attempt_at = $3, \
             lease_until = NULL, updated_at = $4 WHERE id = $1 AND state = 'sending'")
            .bind(id).bind(error).bind(next_attempt_at).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn mark_failed(&self, id: i64, error: &str, now: i64) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query(
            "UPDATE deliveries SET state = 'failed', last_error = $2, lease_until = NULL, \
             updated_at = $3 WHERE id = $1 AND state = 'sending'")
            .bind(id).bind(error).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Counts one more permanent refusal for the subscriber and returns the new count.
    pub async fn record_bounce(&self, subscriber_id: i64) -> StoreResult<i64> {
        let count: Option<i64> = on_db!(self, pool => sqlx::query_scalar(
            "UPDATE subscribers SET bounce_count = bounce_count + 1 WHERE id = $1 RETURNING bounce_count")
            .bind(subscriber_id).fetch_optional(pool).await)?;
        count.ok_or(StoreError::NotFound)
    }

    /// When the earliest retry of a batch falls due, if any row is waiting to retry.
    pub async fn next_retry_at(&self, digest_id: i64, batch_no: i64) -> StoreResult<Option<i64>> {
        Ok(on_db!(self, pool => sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM deliveries \
             WHERE digest_id = $1 AND batch_no = $2 AND state = 'retrying'")
            .bind(digest_id).bind(batch_no).fetch_one(pool).await)?)
    }

    /// Batches with work that no job may be doing: retries that fell due, leases that
    /// expired, and queued rows untouched since `queued_before`. Rows found are stamped
    /// with `now`, so that the next sweep (here or in another process) leaves them to the
    /// job this one is about to queue, unless they sit untouched for `grace_before` again.
    pub async fn sweep_stale_batches(
        &self,
        now: i64,
        queued_before: i64,
        grace_before: i64,
    ) -> StoreResult<Vec<(i64, i64)>> {
        let mut rows: Vec<(i64, i64)> = on_db!(self, pool => sqlx::query_as(
            "UPDATE deliveries SET updated_at = $1 \
             WHERE digest_id IN (SELECT id FROM digests WHERE status = 'sending') AND ( \
               (state = 'queued' AND updated_at < $2) \
               OR (state = 'retrying' AND next_attempt_at <= $1 AND updated_at < $3) \
               OR (state = 'sending' AND lease_until < $1 AND updated_at < $3)) \
             RETURNING digest_id, batch_no")
            .bind(now).bind(queued_before).bind(grace_before)
            .fetch_all(pool).await)?;
        rows.sort_unstable();
        rows.dedup();
        Ok(rows)
    }

    /// Digests in `sending`: (id, whether the fan-out has run, send_started_at).
    pub async fn sending_digests(&self) -> StoreResult<Vec<(i64, bool, Option<i64>)>> {
        Ok(on_db!(self, pool => sqlx::query_as(
            "SELECT id, recipients IS NOT NULL, send_started_at FROM digests WHERE status = 'sending' ORDER BY id")
            .fetch_all(pool).await)?)
    }

    pub async fn delivery_progress(
        &self,
        digest_id: i64,
        now: i64,
    ) -> StoreResult<DeliveryProgress> {
        let digest: Option<DigestSendRow> = on_db!(self, pool => sqlx::query_as(
            "SELECT issue_date, status, recipients, send_started_at, send_finished_at FROM digests WHERE id = $1")
            .bind(digest_id).fetch_optional(pool).await)?;
        let (issue_date, status, recipients, started, finished) =
            digest.ok_or(StoreError::NotFound)?;
        let counts: Vec<(String, i64)> = on_db!(self, pool => sqlx::query_as(
            "SELECT state, COUNT(*) FROM deliveries WHERE digest_id = $1 GROUP BY state")
            .bind(digest_id).fetch_all(pool).await)?;
        let mut p = DeliveryProgress {
            digest_id,
            issue_date,
            status,
            recipients,
            send_started_at: started,
            send_finished_at: finished,
            ..Default::default()
        };
        for (state, n) in counts {
            match state.as_str() {
                "queued" => p.queued = n,
                "sending" => p.sending = n,
                "sent" => p.sent = n,
                "retrying" => p.retrying = n,
                "failed" => p.failed = n,
                _ => {}
            }
        }
        if let Some(start) = started {
            let elapsed_ms = finished.unwrap_or(now).saturating_sub(start).max(1);
            p.rate_per_second = p.sent as f64 * 1000.0 / elapsed_ms as f64;
        }
        Ok(p)
    }
}
