//! Bounces and complaints: applying one report in one transaction, the reports that could
//! not be read or matched, and the counts operators see.

use serde::Serialize;

use super::{Store, StoreResult, deliveries::DeliveryState, digests::DigestStatus, query};
use crate::domain::SubscriberStatus;

/// What is kept of a report naming an erased subscriber instead of its text: erasure
/// keeps only a hash of the address, and a bounce (which quotes the address, the message
/// and its links) must not bring it back. Its reason and time stay on the list.
pub const ERASED_TEXT: &[u8] = b"(this report named an erased subscriber; its text was not kept)";

/// What [`Store::retry_transient_failures`] put back in the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransientRetry {
    /// Deliveries due again (what an operator is told).
    pub deliveries: i64,
    /// Their batches, each once, for the workers.
    pub batches: Vec<i64>,
}

/// One bounce or complaint to apply. `source_key` identifies the report (a mailbox
/// message's content hash, a provider's event id): a key already applied is skipped.
#[derive(Debug, Clone)]
pub struct BounceRecord<'a> {
    pub source_key: &'a str,
    /// "mailbox", "webhook:ses", … — shown in history.
    pub source: &'a str,
    pub subscriber_id: i64,
    pub digest_id: Option<i64>,
    /// "hard", "soft" or "complaint".
    pub kind: &'a str,
    pub status_code: Option<&'a str>,
    pub detail: &'a str,
    /// The suppression-list fingerprint of the subscriber's address (for complaints).
    pub email_hash: &'a str,
    /// Set when re-processing a stored unreadable report: it is marked resolved in the
    /// same transaction.
    pub resolves_unmatched: Option<i64>,
    pub now: i64,
}

/// The rules, read from configuration by the caller.
#[derive(Debug, Clone, Copy)]
pub struct BouncePolicy {
    pub hard_threshold: i64,
    pub soft_limit: i64,
    /// Soft bounces at or after this time count towards `soft_limit`.
    pub soft_since: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// This report was applied before (by this or another process).
    Duplicate,
    /// Recorded; `became` is the subscriber's new status when it changed.
    Recorded { became: Option<SubscriberStatus> },
}

/// A stored report that could not be read or matched.
#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedReport {
    pub id: i64,
    pub source: String,
    pub source_key: String,
    pub reason: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub received_at: i64,
    pub resolved_at: Option<i64>,
    pub resolution: Option<String>,
}

/// Per-issue numbers beside the delivery counts.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct BounceCounts {
    pub sent: i64,
    pub hard: i64,
    pub soft: i64,
    pub complaints: i64,
}

impl BounceCounts {
    pub fn complaint_rate(&self) -> f64 {
        rate(self.complaints, self.sent)
    }
    pub fn hard_bounce_rate(&self) -> f64 {
        rate(self.hard, self.sent)
    }
}

fn rate(n: i64, of: i64) -> f64 {
    if of <= 0 { 0.0 } else { n as f64 / of as f64 }
}

/// A delivery that did not end well: refused at send time, or bounced or complained later.
#[derive(Debug, Clone, Serialize)]
pub struct FailedDelivery {
    pub subscriber_id: i64,
    pub email: String,
    pub state: DeliveryState,
    pub outcome: Option<String>,
    pub reason: String,
    pub at: i64,
}

type FailedRow = (
    i64,
    String,
    DeliveryState,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

type UnmatchedRow = (
    i64,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<String>,
);

impl Store {
    /// Applies one report: the history row, the delivery's outcome, the subscriber's
    /// count and status, the suppression for a complaint, and the processed key — all in
    /// one transaction, so a crash leaves either all of it or none, and a second process
    /// that sees the same report finds the key and does nothing.
    pub async fn apply_bounce(
        &self,
        r: &BounceRecord<'_>,
        policy: BouncePolicy,
    ) -> StoreResult<Applied> {
        let tx = self.begin().await?;
        let applied = {
            let fresh = tx.exec(query(
                "INSERT INTO bounce_processed (source_key, result, processed_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (source_key) DO NOTHING",
            )
            .bind(r.source_key)
            .bind(r.kind)
            .bind(r.now)).await?;
            if fresh == 0 {
                Applied::Duplicate
            } else {
                tx.exec(query(
                    "INSERT INTO bounce_events (subscriber_id, digest_id, kind, status_code, detail, source, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(r.subscriber_id)
                .bind(r.digest_id)
                .bind(r.kind)
                .bind(r.status_code)
                .bind(r.detail)
                .bind(r.source)
                .bind(r.now)).await?;
                if let Some(digest_id) = r.digest_id {
                    // A complaint outranks a bounce; a hard bounce outranks a soft one.
                    tx.exec(query(
                        "UPDATE deliveries SET outcome = $1, outcome_detail = $2, outcome_at = $3 \
                         WHERE digest_id = $4 AND subscriber_id = $5 AND (outcome IS NULL OR outcome = 'soft' \
                         OR (outcome = 'hard' AND $1 = 'complaint'))",
                    )
                    .bind(r.kind)
                    .bind(r.detail)
                    .bind(r.now)
                    .bind(digest_id)
                    .bind(r.subscriber_id)).await?;
                }
                let label = match r.kind {
                    "complaint" => "complaint".to_string(),
                    k => format!("{k} bounce"),
                };
                let event = format!("{} ({})", r.detail, r.source);
                tx.exec(query(
                    "INSERT INTO subscriber_events (subscriber_id, kind, detail, at) VALUES ($1, $2, $3, $4)",
                )
                .bind(r.subscriber_id)
                .bind(&label)
                .bind(&event)
                .bind(r.now)).await?;
                let (status, bounce_count): (String, i64) =
                    if r.kind == "hard" {
                        tx.fetch_one(query(
                        "UPDATE subscribers SET bounce_count = bounce_count + 1 WHERE id = $1 \
                         RETURNING status, bounce_count",
                    )
                    .bind(r.subscriber_id)).await?
                    } else {
                        tx.fetch_one(
                            query("SELECT status, bounce_count FROM subscribers WHERE id = $1")
                                .bind(r.subscriber_id),
                        )
                        .await?
                    };
                let soft_count: i64 = if r.kind == "soft" {
                    tx.scalar(query(
                        "SELECT COUNT(*) FROM bounce_events WHERE subscriber_id = $1 AND kind = 'soft' AND at >= $2",
                    )
                    .bind(r.subscriber_id)
                    .bind(policy.soft_since)).await?
                } else {
                    0
                };
                let target = match r.kind {
                    "complaint" => Some(SubscriberStatus::Complained),
                    "hard" if bounce_count >= policy.hard_threshold => {
                        Some(SubscriberStatus::Bounced)
                    }
                    "soft" if soft_count >= policy.soft_limit => Some(SubscriberStatus::Bounced),
                    _ => None,
                };
                let current: Option<SubscriberStatus> = status.parse().ok();
                let became = match (current, target) {
                    (Some(from), Some(to)) if from != to && from.can_become(to) => {
                        let stamp = if to == SubscriberStatus::Complained {
                            "complained_at"
                        } else {
                            "bounced_at"
                        };
                        let sql = format!(
                            "UPDATE subscribers SET status = $1, status_changed_at = $2, {stamp} = $2 \
                         WHERE id = $3 AND status = $4"
                        );
                        let n = tx
                            .exec(
                                query(sqlx::AssertSqlSafe(sql))
                                    .bind(to.as_str())
                                    .bind(r.now)
                                    .bind(r.subscriber_id)
                                    .bind(from.as_str()),
                            )
                            .await?;
                        if n == 1 {
                            tx.exec(query(
                                "INSERT INTO subscriber_events (subscriber_id, kind, detail, at) VALUES ($1, $2, $3, $4)",
                            )
                            .bind(r.subscriber_id)
                            .bind(to.as_str())
                            .bind(&label)
                            .bind(r.now)).await?;
                            Some(to)
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                if r.kind == "complaint" {
                    // Never mailed again, even if the address is imported or added later.
                    tx.exec(query(
                        "INSERT INTO suppressions (email_hash, reason, created_at) VALUES ($1, 'complaint', $2) \
                         ON CONFLICT (email_hash) DO NOTHING",
                    )
                    .bind(r.email_hash)
                    .bind(r.now)).await?;
                }
                if let Some(id) = r.resolves_unmatched {
                    tx.exec(query(
                        "UPDATE bounce_unmatched SET resolved_at = $1, resolution = $2 WHERE id = $3",
                    )
                    .bind(r.now)
                    .bind(format!("applied: {label}"))
                    .bind(id)).await?;
                }
                Applied::Recorded { became }
            }
        };
        tx.commit().await?;
        Ok(applied)
    }

    /// Marks a report handled without an outcome (a "delayed" DSN, a not-spam report).
    /// False when it was handled before.
    pub async fn mark_bounce_processed(
        &self,
        source_key: &str,
        result: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let n = self.exec(query(
            "INSERT INTO bounce_processed (source_key, result, processed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source_key) DO NOTHING",
        )
        .bind(source_key)
        .bind(result)
        .bind(now)).await?;
        Ok(n == 1)
    }

    pub async fn is_bounce_processed(&self, source_key: &str) -> StoreResult<bool> {
        let found: Option<String> = self
            .scalar_optional(
                query("SELECT result FROM bounce_processed WHERE source_key = $1").bind(source_key),
            )
            .await?;
        Ok(found.is_some())
    }

    /// Kept reports whose text is still there, by id after `after`, at most `limit`: an
    /// erasure reads them page by page to find the ones that quote an address, which it
    /// must recognise in any letter case and inside encoded parts, as SQL cannot.
    pub async fn report_texts_after(
        &self,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, Vec<u8>)>> {
        self.fetch_all(
            query(
                "SELECT id, raw FROM bounce_unmatched WHERE id > $1 AND raw <> $2 \
                 ORDER BY id LIMIT $3",
            )
            .bind(after)
            .bind(ERASED_TEXT)
            .bind(limit),
        )
        .await
    }

    /// Replaces the text of kept report `id` with [`ERASED_TEXT`] and marks it resolved
    /// ("Delete everything": the report would keep the address, the message and its
    /// links).
    pub async fn erase_report_text(&self, id: i64, now: i64) -> StoreResult<()> {
        self.exec_found(
            query(
                "UPDATE bounce_unmatched SET raw = $2, \
                 resolved_at = COALESCE(resolved_at, $3), \
                 resolution = COALESCE(resolution, 'text removed: its subscriber was erased') \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(ERASED_TEXT)
            .bind(now),
        )
        .await
    }

    /// Keeps a report that could not be read or matched, once per `source_key`. False
    /// when the key was handled before.
    pub async fn store_unmatched(
        &self,
        source: &str,
        source_key: &str,
        reason: &str,
        raw: &[u8],
        now: i64,
    ) -> StoreResult<bool> {
        let tx = self.begin().await?;
        let stored = {
            let fresh = tx.exec(query(
                "INSERT INTO bounce_processed (source_key, result, processed_at) VALUES ($1, 'unmatched', $2) \
                 ON CONFLICT (source_key) DO NOTHING",
            )
            .bind(source_key)
            .bind(now)).await?;
            if fresh == 1 {
                tx.exec(query(
                    "INSERT INTO bounce_unmatched (source, source_key, reason, raw, received_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(source)
                .bind(source_key)
                .bind(reason)
                .bind(raw)
                .bind(now)).await?;
            }
            fresh == 1
        };
        tx.commit().await?;
        Ok(stored)
    }

    /// Stored unreadable reports, newest first; `open_only` leaves out resolved ones.
    pub async fn unmatched_reports(
        &self,
        open_only: bool,
        limit: i64,
    ) -> StoreResult<Vec<UnmatchedReport>> {
        let rows: Vec<UnmatchedRow> = self.fetch_all(query(
            "SELECT id, source, source_key, reason, raw, received_at, resolved_at, resolution \
             FROM bounce_unmatched WHERE (resolved_at IS NULL OR NOT $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(open_only)
        .bind(limit)).await?;
        Ok(rows.into_iter().map(unmatched_from_row).collect())
    }

    pub async fn unmatched_report(&self, id: i64) -> StoreResult<UnmatchedReport> {
        let row: Option<UnmatchedRow> = self.fetch_optional(query(
            "SELECT id, source, source_key, reason, raw, received_at, resolved_at, resolution \
             FROM bounce_unmatched WHERE id = $1",
        )
        .bind(id)).await?;
        row.map(unmatched_from_row)
            .ok_or(super::StoreError::NotFound)
    }

    /// Records why a re-processed report stays unresolved, or that it needed no action.
    pub async fn note_unmatched(
        &self,
        id: i64,
        reason: &str,
        resolved_at: Option<i64>,
    ) -> StoreResult<()> {
        self.exec(
            query(
                "UPDATE bounce_unmatched SET reason = $1, resolved_at = $2, \
             resolution = CASE WHEN $2 IS NULL THEN NULL ELSE $1 END WHERE id = $3",
            )
            .bind(reason)
            .bind(resolved_at)
            .bind(id),
        )
        .await?;
        Ok(())
    }

    /// Whether the ledger has a row for this digest and subscriber.
    pub async fn delivery_exists(&self, digest_id: i64, subscriber_id: i64) -> StoreResult<bool> {
        let n: i64 = self
            .scalar(
                query(
                    "SELECT COUNT(*) FROM deliveries WHERE digest_id = $1 AND subscriber_id = $2",
                )
                .bind(digest_id)
                .bind(subscriber_id),
            )
            .await?;
        Ok(n > 0)
    }

    /// The digest most recently sent to a subscriber: what a provider's event without
    /// our token is most likely about.
    pub async fn latest_sent_digest_for(&self, subscriber_id: i64) -> StoreResult<Option<i64>> {
        let id: Option<i64> = self
            .scalar_optional(
                query(
                    "SELECT digest_id FROM deliveries WHERE subscriber_id = $1 AND state = 'sent' \
             ORDER BY sent_at DESC, id DESC LIMIT 1",
                )
                .bind(subscriber_id),
            )
            .await?;
        Ok(id)
    }

    pub async fn digest_bounce_counts(&self, digest_id: i64) -> StoreResult<BounceCounts> {
        let (sent, hard, soft, complaints): (i64, i64, i64, i64) = self
            .fetch_one(
                query(
                    "SELECT COUNT(*) FILTER (WHERE state = 'sent'), \
                    COUNT(*) FILTER (WHERE outcome = 'hard'), \
                    COUNT(*) FILTER (WHERE outcome = 'soft'), \
                    COUNT(*) FILTER (WHERE outcome = 'complaint') \
             FROM deliveries WHERE digest_id = $1",
                )
                .bind(digest_id),
            )
            .await?;
        Ok(BounceCounts {
            sent,
            hard,
            soft,
            complaints,
        })
    }

    /// Every failed, bounced or complained delivery of an issue, with its reason.
    pub async fn failed_deliveries(&self, digest_id: i64) -> StoreResult<Vec<FailedDelivery>> {
        let rows: Vec<FailedRow> = self.fetch_all(query(
            "SELECT d.subscriber_id, s.email, d.state, d.outcome, d.outcome_detail, d.last_error, \
                    COALESCE(d.outcome_at, d.updated_at) \
             FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id \
             WHERE d.digest_id = $1 AND (d.state = 'failed' OR d.outcome IS NOT NULL) \
             ORDER BY d.id",
        )
        .bind(digest_id)).await?;
        Ok(rows
            .into_iter()
            .map(
                |(subscriber_id, email, state, outcome, detail, last_error, at)| FailedDelivery {
                    subscriber_id,
                    email,
                    state,
                    reason: detail.or(last_error).unwrap_or_default(),
                    outcome,
                    at,
                },
            )
            .collect())
    }

    /// Bounces and complaints applied, by kind, since the service began (for /metrics).
    pub async fn bounce_totals(&self) -> StoreResult<Vec<(String, i64)>> {
        self.fetch_all(query(
            "SELECT kind, COUNT(*) FROM bounce_events GROUP BY kind ORDER BY kind",
        ))
        .await
    }

    /// Puts an issue's deliveries that failed only because their retries ran out ("gave
    /// up after N attempts"), with no bounce or complaint since and to a subscriber still
    /// confirmed, back in the queue; a sent issue is sending again, with that change in
    /// its history, all in one transaction. Says how many deliveries and which batches.
    pub async fn retry_transient_failures(
        &self,
        digest_id: i64,
        now: i64,
    ) -> StoreResult<TransientRetry> {
        let tx = self.begin().await?;
        let retried = {
            let status: Option<String> = tx
                .scalar_optional(query("SELECT status FROM digests WHERE id = $1").bind(digest_id))
                .await?;
            let status = match status {
                None => return Err(super::StoreError::NotFound),
                Some(s) => s
                    .parse::<DigestStatus>()
                    .map_err(|e| super::StoreError::Conflict(format!("digest {digest_id}: {e}")))?,
            };
            if !matches!(status, DigestStatus::Sending | DigestStatus::Sent) {
                return Err(super::StoreError::Conflict(format!(
                    "digest {digest_id} is {}; only a sending or sent digest can be retried",
                    status.as_str()
                )));
            }
            // One row per delivery put back, so the count is the rows, not the batches.
            let mut batches: Vec<i64> = tx.scalars(query(
                "UPDATE deliveries SET state = 'retrying', attempts = 0, next_attempt_at = $2, \
                 lease_until = NULL, updated_at = $2 \
                 WHERE digest_id = $1 AND state = 'failed' AND outcome IS NULL \
                 AND last_error LIKE 'gave up after %' \
                 AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = deliveries.subscriber_id \
                             AND s.status = 'confirmed') \
                 RETURNING batch_no",
            )
            .bind(digest_id)
            .bind(now)).await?;
            let deliveries = i64::try_from(batches.len()).unwrap_or(i64::MAX);
            batches.sort_unstable();
            batches.dedup();
            if deliveries > 0 {
                let detail = format!("{deliveries} temporary failures queued again");
                tx.transition_digest(
                    digest_id,
                    &[DigestStatus::Sent],
                    DigestStatus::Sending,
                    "retrying",
                    Some(&detail),
                    now,
                )
                .await?;
            }
            TransientRetry {
                deliveries,
                batches,
            }
        };
        tx.commit().await?;
        Ok(retried)
    }

    /// The most recent digest that went out (or is going out), for its rates in /metrics.
    pub async fn latest_sent_digest_id(&self) -> StoreResult<Option<i64>> {
        self.scalar_optional(query(
            "SELECT id FROM digests WHERE status IN ('sending', 'sent') \
             ORDER BY send_started_at DESC, id DESC LIMIT 1",
        ))
        .await
    }

    pub async fn open_unmatched_count(&self) -> StoreResult<i64> {
        self.scalar(query(
            "SELECT COUNT(*) FROM bounce_unmatched WHERE resolved_at IS NULL",
        ))
        .await
    }

    /// Records that `digest_id` passed a limit; true only the first time.
    pub async fn insert_bounce_alert(
        &self,
        digest_id: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let n = self
            .exec(
                query(
                    "INSERT INTO bounce_alerts (digest_id, reason, at) VALUES ($1, $2, $3) \
             ON CONFLICT (digest_id) DO NOTHING",
                )
                .bind(digest_id)
                .bind(reason)
                .bind(now),
            )
            .await?;
        Ok(n == 1)
    }

    /// The daily schedule's id, if one exists (to pause it without creating one).
    pub async fn daily_schedule_id(&self) -> StoreResult<Option<i64>> {
        self.scalar_optional(query(
            "SELECT id FROM schedules WHERE kind = 'daily' ORDER BY id LIMIT 1",
        ))
        .await
    }
}

fn unmatched_from_row(r: UnmatchedRow) -> UnmatchedReport {
    let (id, source, source_key, reason, raw, received_at, resolved_at, resolution) = r;
    UnmatchedReport {
        id,
        source,
        source_key,
        reason,
        raw,
        received_at,
        resolved_at,
        resolution,
    }
}
