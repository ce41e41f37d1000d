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

fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// Which rows a claim takes: the digest's untouched rows, or the ones left over by
/// earlier attempts (due retries, and `sending` rows whose owner died or whose lease ran out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    Queued,
    LeftOver,
}

impl ClaimKind {
    /// The row test, on `d` (the deliveries table), with `$2` the claiming owner and `$3`
    /// the current time. A process never takes its own rows for a dead owner's (its
    /// heartbeat may be late while they are in flight); only their lease brings them back.
    fn condition(self) -> &'static str {
        match self {
            ClaimKind::Queued => "d.state = 'queued'",
            ClaimKind::LeftOver => {
                "((d.state = 'retrying' AND d.next_attempt_at <= $3) \
                 OR (d.state = 'sending' AND (d.lease_until < $3 OR d.lease_owner IS NULL \
                     OR (d.lease_owner <> $2 AND NOT EXISTS (SELECT 1 FROM delivery_owners o \
                                    WHERE o.owner = d.lease_owner AND o.alive_until >= $3)))))"
            }
        }
    }
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

    /// Closes the rows of a digest whose subscriber left (or bounced) after the fan-out
    /// and that nobody is sending: the subscriber's choice wins over a send already planned.
    pub async fn fail_departed(&self, digest_id: i64, now: i64) -> StoreResult<u64> {
        Ok(on_db!(self, pool => sqlx::query(
            "UPDATE deliveries SET state = 'failed', last_error = 'unsubscribed before sending', \
             lease_until = NULL, updated_at = $2 \
             WHERE digest_id = $1 AND state IN ('queued', 'retrying') \
             AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = deliveries.subscriber_id \
                         AND s.status <> 'confirmed')")
            .bind(digest_id).bind(now)
            .execute(pool).await.map(|r| r.rows_affected()))?)
    }

    /// Atomically takes up to `limit` rows of a digest for `owner`, marking them
    /// `sending` until `lease_until` (a backstop: a silent owner loses them sooner).
    /// On PostgreSQL rows another process is claiming are skipped rather than waited for,
    /// so that several processes claiming at once each get different rows.
    pub async fn claim_deliveries(
        &self,
        kind: ClaimKind,
        digest_id: i64,
        owner: &str,
        limit: i64,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let lock = if self.is_postgres() {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, lease_owner = $2, \
             lease_until = $4, updated_at = $3 \
             WHERE id IN (SELECT d.id FROM deliveries d WHERE d.digest_id = $1 AND {} \
                          AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = d.subscriber_id \
                                      AND s.status = 'confirmed') \
                          ORDER BY d.id LIMIT $5 {lock}) \
             RETURNING id, subscriber_id, attempts, \
               (SELECT email FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS email, \
               (SELECT name FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS name",
            kind.condition()
        );
        Ok(
            on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str()))
            .bind(digest_id).bind(owner).bind(now).bind(lease_until).bind(limit)
            .fetch_all(pool).await)?,
        )
    }

    /// Says that `owner` is alive until `alive_until`; the first call registers it.
    pub async fn renew_delivery_owner(
        &self,
        owner: &str,
        now: i64,
        alive_until: i64,
    ) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query(
            "INSERT INTO delivery_owners (owner, started_at, alive_until) VALUES ($1, $2, $3) \
             ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until")
            .bind(owner).bind(now).bind(alive_until)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Removes `owner` (a clean stop) and owners silent since before `forget_before`.
    pub async fn drop_delivery_owners(&self, owner: &str, forget_before: i64) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query(
            "DELETE FROM delivery_owners WHERE owner = $1 OR alive_until < $2")
            .bind(owner).bind(forget_before)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// How many processes are sending (or ready to) right now: their heartbeat is fresh.
    pub async fn live_delivery_owners(&self, now: i64) -> StoreResult<i64> {
        Ok(on_db!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM delivery_owners WHERE alive_until >= $1")
            .bind(now).fetch_one(pool).await)?)
    }

    /// Ids of the fanned-out digests being sent, oldest first.
    pub async fn sending_digest_ids(&self) -> StoreResult<Vec<i64>> {
        Ok(on_db!(self, pool => sqlx::query_scalar(
            "SELECT id FROM digests WHERE status = 'sending' AND recipients IS NOT NULL ORDER BY id")
            .fetch_all(pool).await)?)
    }

    /// Records the server's acceptance of many messages in one statement. The statement
    /// text is the same whatever the number of ids (an array on PostgreSQL, a JSON list
    /// on SQLite), so it is prepared once per connection, not once per group size.
    ///
    /// On PostgreSQL this one statement commits without waiting for its WAL to reach the
    /// disk (`synchronous_commit` off for its own transaction only): the fsync was most of
    /// a send's time there (about 1–10 ms per commit on a busy disk, while the message
    /// holds its in-flight slot). A `kill -9` of Breakfast loses nothing by it, since the
    /// server has the commit; only a crash of the PostgreSQL server or its host within
    /// about 3 × `wal_writer_delay` (0.6 s by default) can forget these `sent` marks,
    /// and then those recipients get a second copy (never none).
    pub async fn mark_sent(&self, ids: &[i64], now: i64) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        const SET: &str = "UPDATE deliveries SET state = 'sent', sent_at = $1, lease_until = NULL, \
             lease_owner = NULL, last_error = NULL, updated_at = $1";
        const WHERE: &str = " WHERE state = 'sending' AND ";
        let done = match &self.db {
            super::Db::Postgres(pool) => sqlx::query(AssertSqlSafe(format!(
                "{SET} FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_wait{WHERE}id = ANY($2)"
            )))
                .bind(now)
                .bind(ids)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            super::Db::Sqlite(pool) => sqlx::query(AssertSqlSafe(format!(
                "{SET}{WHERE}id IN (SELECT value FROM json_each($2))"
            )))
            .bind(now)
            .bind(format!("[{}]", id_list(ids)))
            .execute(pool)
            .await
            .map(|r| r.rows_affected()),
        };
        Ok(done?)
    }

    /// Gives rows claimed but never started back: their attempt is not counted, and
    /// they are due again at once (a graceful stop hands back what it had not begun).
    pub async fn release_claimed(&self, ids: &[i64], now: i64) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE deliveries SET state = CASE WHEN attempts <= 1 THEN 'queued' ELSE 'retrying' END, \
             attempts = attempts - 1, next_attempt_at = $1, lease_until = NULL, lease_owner = NULL, \
             updated_at = $1 WHERE state = 'sending' AND id IN ({})",
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
