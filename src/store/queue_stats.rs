//! What the delivery ledger looks like right now, for operators (the dashboard,
//! `/metrics`), its pruning, and the tallies that keep counting apalis's done jobs cheap
//! (`queue_done_counts`; the statements on apalis's own table are in
//! [`crate::queue::stats`]).

use serde::Serialize;

use super::{Store, StoreResult, deliveries::DeliveryProgress, query};

/// Rows deleted per statement when pruning, so that a large prune never holds the
/// database's write lock for long.
const PURGE_BATCH: i64 = 5_000;

/// A digest's progress as the queue dashboard shows it: the one progress model
/// ([`DeliveryProgress`], which `digest status`, `--wait`, past digests and the closing
/// log line use too) with the recent rate and the time left at that rate.
#[derive(Debug, Clone, Serialize)]
pub struct DigestProgress {
    pub progress: DeliveryProgress,
    /// Messages per minute over the last five minutes.
    pub rate_per_minute: f64,
    /// Seconds until the rest is sent at that rate; `None` when nothing moves.
    pub eta_secs: Option<i64>,
}

/// The minutes over which the ledger's send rate is measured.
const RATE_WINDOW_MINUTES: i64 = 5;

impl Store {
    /// Adds `delta` done jobs to `kind`'s tally, moving its moment from `from` to
    /// `until`. Conditional on the moment read: a racing refresher adds once.
    pub(crate) async fn advance_done_tally(
        &self,
        kind: &str,
        from: i64,
        until: i64,
        delta: i64,
    ) -> StoreResult<u64> {
        self.exec(
            query(
                "UPDATE queue_done_counts SET done_count = done_count + $1, counted_until = $2 \
                 WHERE job_type = $3 AND counted_until = $4",
            )
            .bind(delta)
            .bind(until)
            .bind(kind)
            .bind(from),
        )
        .await
    }

    /// Sets `kind`'s tally to `count` done jobs at moment `until`.
    pub(crate) async fn set_done_tally(
        &self,
        kind: &str,
        until: i64,
        count: i64,
    ) -> StoreResult<u64> {
        self.exec(
            query(
                "INSERT INTO queue_done_counts (job_type, counted_until, done_count) VALUES ($1, $2, $3) \
                 ON CONFLICT (job_type) DO UPDATE SET counted_until = $2, done_count = $3",
            )
            .bind(kind)
            .bind(until)
            .bind(count),
        )
        .await
    }

    /// Replaces the count of `kind`'s tally if its moment is still `until`.
    pub(crate) async fn recount_done_tally(
        &self,
        kind: &str,
        until: i64,
        count: i64,
    ) -> StoreResult<u64> {
        self.exec(
            query(
                "UPDATE queue_done_counts SET done_count = $1 WHERE job_type = $2 AND counted_until = $3",
            )
            .bind(count)
            .bind(kind)
            .bind(until),
        )
        .await
    }

    /// `kind`'s done-job tally: (counted until, count), both as apalis's epoch seconds.
    pub(crate) async fn done_tally(&self, kind: &str) -> StoreResult<Option<(i64, i64)>> {
        let row: Option<(i64, i64)> = self
            .fetch_optional(
                query(
                    "SELECT counted_until, done_count FROM queue_done_counts WHERE job_type = $1",
                )
                .bind(kind),
            )
            .await?;
        Ok(row)
    }

    /// Deletes the ledger rows of digests whose send ended before `before_ms` (sent or
    /// cancelled), in batches. The digest keeps its recipient count; what goes is the
    /// per-subscriber detail, which is what makes the table grow with every issue.
    pub async fn prune_delivery_details(&self, before_ms: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let n = self
                .exec(
                    query(
                        "DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d \
                 JOIN digests g ON g.id = d.digest_id \
                 WHERE g.status IN ('sent', 'cancelled') \
                 AND COALESCE(g.send_finished_at, g.updated_at) < $1 LIMIT $2)",
                    )
                    .bind(before_ms)
                    .bind(PURGE_BATCH),
                )
                .await?;
            total += n;
            if n < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// Digests being sent, or whose send started since `since_ms`, newest first, with
    /// their progress through the ledger.
    pub async fn digest_progress(
        &self,
        since_ms: i64,
        now_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<DigestProgress>> {
        let ids: Vec<i64> = self
            .scalars(
                query(
                    "SELECT id FROM digests \
                     WHERE status = 'sending' OR send_started_at >= $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(since_ms)
                .bind(limit),
            )
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for digest_id in ids {
            let progress = self.delivery_progress(digest_id, now_ms).await?;
            let recent = self
                .sent_since(digest_id, now_ms - RATE_WINDOW_MINUTES * 60_000)
                .await?;
            let rate_per_minute = recent as f64 / RATE_WINDOW_MINUTES as f64;
            let rest = (progress.total() - progress.sent - progress.failed).max(0);
            let eta_secs = (rest > 0 && recent > 0)
                .then(|| (rest as f64 / rate_per_minute * 60.0).ceil() as i64);
            out.push(DigestProgress {
                progress,
                rate_per_minute,
                eta_secs,
            });
        }
        Ok(out)
    }

    async fn sent_since(&self, digest_id: i64, since_ms: i64) -> StoreResult<i64> {
        let n: i64 = self
            .scalar(
                query("SELECT COUNT(*) FROM deliveries WHERE sent_at >= $1 AND digest_id = $2")
                    .bind(since_ms)
                    .bind(digest_id),
            )
            .await?;
        Ok(n)
    }

    /// Messages the ledger records as sent in each of the `minutes` minutes up to
    /// `now_ms`, oldest first (a range on the `sent_at` index).
    pub async fn sent_per_minute(&self, now_ms: i64, minutes: usize) -> StoreResult<Vec<i64>> {
        let current = now_ms.div_euclid(60_000);
        let first = current - minutes as i64 + 1;
        let rows: Vec<(i64, i64)> = self.fetch_all(query(
            "SELECT sent_at / 60000, COUNT(*) FROM deliveries WHERE sent_at >= $1 GROUP BY sent_at / 60000",
        )
        .bind(first * 60_000)).await?;
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
