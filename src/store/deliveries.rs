//! The delivery ledger: one row per (digest, subscriber), the truth about who got what.
//!
//! Every state change is a single conditional statement, so that several processes (and
//! jobs replayed by the queue) can work on one digest without ever claiming the same row
//! twice or mailing a row that is already `sent`.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{Store, StoreError, StoreResult, digests::DigestStatus, query};

/// Where one ledger row stands: queued → sending → sent, or back to retrying (and
/// sending again) until it is sent or failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Queued,
    Sending,
    Sent,
    Retrying,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Failed => "failed",
        }
    }

    /// Not yet sent or failed for good.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            DeliveryState::Queued | DeliveryState::Sending | DeliveryState::Retrying
        )
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "queued" => DeliveryState::Queued,
            "sending" => DeliveryState::Sending,
            "sent" => DeliveryState::Sent,
            "retrying" => DeliveryState::Retrying,
            "failed" => DeliveryState::Failed,
            other => return Err(format!("unknown delivery state {other:?}")),
        })
    }
}

super::sql::stored_word!(DeliveryState);

/// A row claimed for sending, with what the sender needs to address the message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub subscriber_id: i64,
    pub attempts: i64,
    pub email: String,
    pub name: Option<String>,
}

/// Where one digest's send stands: the operator's progress view.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryProgress {
    pub digest_id: i64,
    pub issue_date: String,
    pub status: DigestStatus,
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
        self.status == DigestStatus::Sent
    }

    pub fn pending(&self) -> i64 {
        self.queued + self.sending + self.retrying
    }

    /// Everyone the send is for: the ledger's rows, or the fan-out's count while the
    /// ledger is still being written.
    pub fn total(&self) -> i64 {
        (self.pending() + self.sent + self.failed).max(self.recipients.unwrap_or(0))
    }
}

pub use super::digests::{SendMoments, ZoneMoment};

/// One reader zone's part of a send in each reader's zone: what went out, what waits,
/// and the moment the waiting rows may go (epoch ms).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ZoneProgress {
    pub time_zone: String,
    pub sent: i64,
    pub waiting: i64,
    pub failed: i64,
    pub not_before: Option<i64>,
}

/// issue_date, status, recipients, send_started_at, send_finished_at.
type DigestSendRow = (String, DigestStatus, Option<i64>, Option<i64>, Option<i64>);

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

/// One claim: which rows of which digest, for whom, how many, until when, from where.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    pub kind: ClaimKind,
    pub digest_id: i64,
    pub owner: &'a str,
    pub limit: i64,
    pub now: i64,
    pub lease_until: i64,
    /// Only rows with a higher id are looked at (0: all of them).
    pub after_id: i64,
}

impl Store {
    // Starting a send, the fan-out and finishing a digest change the digest's status
    // with a history event in one transaction: they live with the digests (digests.rs).

    /// Closes the rows of a digest whose subscriber left (or bounced) after the fan-out
    /// and that nobody is sending: the subscriber's choice wins over a send already planned.
    pub async fn fail_departed(&self, digest_id: i64, now: i64) -> StoreResult<u64> {
        self.exec(query(
            "UPDATE deliveries SET state = 'failed', last_error = 'unsubscribed before sending', \
             lease_until = NULL, updated_at = $2 \
             WHERE digest_id = $1 AND state IN ('queued', 'retrying') \
             AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = deliveries.subscriber_id \
                         AND s.status <> 'confirmed')")
            .bind(digest_id).bind(now)).await
    }

    /// Atomically takes up to `limit` rows of a digest for `owner`, marking them
    /// `sending` until `lease_until` (a backstop: a silent owner loses them sooner).
    /// Only rows whose moment has come (`not_before`, set by the fan-out with delivery in
    /// each reader's zone; `NULL`: at once): the senders' poll is what wakes each zone.
    /// On PostgreSQL rows another process is claiming are skipped rather than waited for,
    /// so that several processes claiming at once each get different rows.
    ///
    /// Only rows with an id above `after_id` are looked at: a sender passes the last id it
    /// claimed, so that the scan starts where its previous claim ended. On PostgreSQL the
    /// claimed rows' old index entries (`state = 'queued'`) stay in the index until vacuum,
    /// and a scan from the start walked over all of them: a claim cost time in proportion
    /// to the rows already sent (about 3 ms at 50 000 of 100 000), O(N²) for a send.
    pub async fn claim_deliveries(&self, c: Claim<'_>) -> StoreResult<Vec<ClaimedDelivery>> {
        let lock = self.dialect().pick("", "FOR UPDATE SKIP LOCKED");
        let sql = format!(
            "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, lease_owner = $2, \
             lease_until = $4, updated_at = $3 \
             WHERE id IN (SELECT d.id FROM deliveries d WHERE d.digest_id = $1 AND {} \
                          AND d.id > $6 AND (d.not_before IS NULL OR d.not_before <= $3) \
                          AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = d.subscriber_id \
                                      AND s.status = 'confirmed') \
                          ORDER BY d.id LIMIT $5 {lock}) \
             RETURNING id, subscriber_id, attempts, \
               (SELECT email FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS email, \
               (SELECT name FROM subscribers s WHERE s.id = deliveries.subscriber_id) AS name",
            c.kind.condition()
        );
        self.fetch_all(
            query(AssertSqlSafe(sql.as_str()))
                .bind(c.digest_id)
                .bind(c.owner)
                .bind(c.now)
                .bind(c.lease_until)
                .bind(c.limit)
                .bind(c.after_id),
        )
        .await
    }

    /// The earliest moment (`not_before`, epoch ms) at which one of the digest's untouched
    /// rows may go, when all of them wait for a later moment; `None` when none is left or
    /// one may go at once. A sender with nothing to claim asks this once instead of scanning
    /// the waiting rows on every poll.
    pub async fn next_queued_moment(&self, digest_id: i64, now: i64) -> StoreResult<Option<i64>> {
        let (due, earliest): (bool, Option<i64>) = self
            .fetch_one(
                query(
                    "SELECT COALESCE(MAX(CASE WHEN not_before IS NULL OR not_before <= $2 \
                     THEN 1 ELSE 0 END), 0) = 1, MIN(not_before) \
                     FROM deliveries WHERE digest_id = $1 AND state = 'queued'",
                )
                .bind(digest_id)
                .bind(now),
            )
            .await?;
        Ok(earliest.filter(|_| !due))
    }

    /// The digest's status alone: what a follower checks between full counts.
    pub async fn digest_status(&self, digest_id: i64) -> StoreResult<DigestStatus> {
        let status: Option<DigestStatus> = self
            .scalar_optional(query("SELECT status FROM digests WHERE id = $1").bind(digest_id))
            .await?;
        status.ok_or(StoreError::NotFound)
    }

    /// Says that `owner` is alive until `alive_until`; the first call registers it.
    pub async fn renew_delivery_owner(
        &self,
        owner: &str,
        now: i64,
        alive_until: i64,
    ) -> StoreResult<()> {
        self.exec(
            query(
                "INSERT INTO delivery_owners (owner, started_at, alive_until) VALUES ($1, $2, $3) \
             ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until",
            )
            .bind(owner)
            .bind(now)
            .bind(alive_until),
        )
        .await?;
        Ok(())
    }

    /// Removes `owner` (a clean stop) and owners silent since before `forget_before`.
    pub async fn drop_delivery_owners(&self, owner: &str, forget_before: i64) -> StoreResult<()> {
        self.exec(
            query("DELETE FROM delivery_owners WHERE owner = $1 OR alive_until < $2")
                .bind(owner)
                .bind(forget_before),
        )
        .await?;
        Ok(())
    }

    /// How many processes are sending (or ready to) right now: their heartbeat is fresh.
    pub async fn live_delivery_owners(&self, now: i64) -> StoreResult<i64> {
        self.scalar(query("SELECT COUNT(*) FROM delivery_owners WHERE alive_until >= $1").bind(now))
            .await
    }

    /// Ids of the fanned-out digests being sent, oldest first.
    pub async fn sending_digest_ids(&self) -> StoreResult<Vec<i64>> {
        self.scalars(query(
            "SELECT id FROM digests WHERE status = 'sending' AND recipients IS NOT NULL ORDER BY id")).await
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
        let no_wait = self.dialect().pick(
            "",
            " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_wait",
        );
        let ids_in = self
            .dialect()
            .pick("id IN (SELECT value FROM json_each($2))", "id = ANY($2)");
        // `state || ''`: the same test in a form no index answers, so that the rows are
        // found by id. On PostgreSQL the planner otherwise took the state index for the
        // few live `sending` rows, and that index holds an entry for every row that was
        // ever `sending` until vacuum: each group commit walked all of them (about 7 000
        // entries per message at N = 100 000).
        self.exec(
            query(AssertSqlSafe(format!(
                "{SET}{no_wait} WHERE state || '' = 'sending' AND {ids_in}"
            )))
            .bind(now)
            .bind_each(format!("[{}]", id_list(ids)), ids),
        )
        .await
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
             updated_at = $1 WHERE state || '' = 'sending' AND id IN ({})",
            id_list(ids)
        );
        self.exec(query(AssertSqlSafe(sql.as_str())).bind(now))
            .await
    }

    pub async fn mark_retrying(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        self.exec(
            query(
                "UPDATE deliveries SET state = 'retrying', last_error = $2, next_attempt_at = $3, \
             lease_until = NULL, updated_at = $4 WHERE id = $1 AND state = 'sending'",
            )
            .bind(id)
            .bind(error)
            .bind(next_attempt_at)
            .bind(now),
        )
        .await?;
        Ok(())
    }

    pub async fn mark_failed(&self, id: i64, error: &str, now: i64) -> StoreResult<()> {
        self.exec(
            query(
                "UPDATE deliveries SET state = 'failed', last_error = $2, lease_until = NULL, \
             updated_at = $3 WHERE id = $1 AND state = 'sending'",
            )
            .bind(id)
            .bind(error)
            .bind(now),
        )
        .await?;
        Ok(())
    }

    /// Counts one more permanent refusal for the subscriber and returns the new count.
    pub async fn record_bounce(&self, subscriber_id: i64) -> StoreResult<i64> {
        let count: Option<i64> = self.scalar_optional(query(
                "UPDATE subscribers SET bounce_count = bounce_count + 1 WHERE id = $1 RETURNING bounce_count")
                .bind(subscriber_id)).await?;
        count.ok_or(StoreError::NotFound)
    }

    /// Digests in `sending`: (id, whether the fan-out has run, send_started_at).
    pub async fn sending_digests(&self) -> StoreResult<Vec<(i64, bool, Option<i64>)>> {
        self.fetch_all(query(
                "SELECT id, recipients IS NOT NULL, send_started_at FROM digests WHERE status = 'sending' ORDER BY id")).await
    }

    /// How many of a digest's ledger rows are in each state (states with none left out).
    pub async fn ledger_state_counts(
        &self,
        digest_id: i64,
    ) -> StoreResult<Vec<(DeliveryState, i64)>> {
        self.fetch_all(
            query("SELECT state, COUNT(*) FROM deliveries WHERE digest_id = $1 GROUP BY state")
                .bind(digest_id),
        )
        .await
    }

    /// A digest's rows by reader zone, earliest moment first; empty for a digest sent
    /// to everyone at one moment.
    pub async fn zone_progress(&self, digest_id: i64) -> StoreResult<Vec<ZoneProgress>> {
        self.fetch_all(query(
            "SELECT time_zone, \
               SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END) AS sent, \
               SUM(CASE WHEN state IN ('queued', 'sending', 'retrying') THEN 1 ELSE 0 END) AS waiting, \
               SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed, \
               MIN(not_before) AS not_before \
             FROM deliveries WHERE digest_id = $1 AND time_zone IS NOT NULL \
             GROUP BY time_zone ORDER BY MIN(not_before), time_zone")
            .bind(digest_id)).await
    }

    pub async fn delivery_progress(
        &self,
        digest_id: i64,
        now: i64,
    ) -> StoreResult<DeliveryProgress> {
        let digest: Option<DigestSendRow> = self.fetch_optional(query(
            "SELECT issue_date, status, recipients, send_started_at, send_finished_at FROM digests WHERE id = $1")
            .bind(digest_id)).await?;
        let (issue_date, status, recipients, started, finished) =
            digest.ok_or(StoreError::NotFound)?;
        let counts = self.ledger_state_counts(digest_id).await?;
        let mut p = DeliveryProgress {
            digest_id,
            issue_date,
            status,
            recipients,
            send_started_at: started,
            send_finished_at: finished,
            queued: 0,
            sending: 0,
            sent: 0,
            retrying: 0,
            failed: 0,
            rate_per_second: 0.0,
        };
        for (state, n) in counts {
            match state {
                DeliveryState::Queued => p.queued = n,
                DeliveryState::Sending => p.sending = n,
                DeliveryState::Sent => p.sent = n,
                DeliveryState::Retrying => p.retrying = n,
                DeliveryState::Failed => p.failed = n,
            }
        }
        if let Some(start) = started {
            let elapsed_ms = finished.unwrap_or(now).saturating_sub(start).max(1);
            p.rate_per_second = p.sent as f64 * 1000.0 / elapsed_ms as f64;
        }
        Ok(p)
    }
}
