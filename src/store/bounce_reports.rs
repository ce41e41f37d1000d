//! Reads for the bounce reports operators look at (the dashboard's retry button), kept
//! apart from `bounces.rs`, which applies reports and has its own owner.

use super::{Store, StoreResult, query};

impl Store {
    /// How many of an issue's deliveries [`Store::retry_transient_failures`] would put
    /// back in the queue now: failed only because their retries ran out ("gave up after N
    /// attempts"), with no bounce or complaint since, to a subscriber still confirmed.
    ///
    /// The retry returns the batches it queued, not the deliveries, and operators think in
    /// deliveries, so the dashboard counts them just before retrying. The condition must
    /// stay the one in `retry_transient_failures`'s `UPDATE`; the retry test checks the
    /// two agree (only the transient rows are counted and re-sent).
    pub async fn transient_failure_count(&self, digest_id: i64) -> StoreResult<i64> {
        self.scalar(
            query(
                "SELECT COUNT(*) FROM deliveries \
                 WHERE digest_id = $1 AND state = 'failed' AND outcome IS NULL \
                 AND last_error LIKE 'gave up after %' \
                 AND EXISTS (SELECT 1 FROM subscribers s WHERE s.id = deliveries.subscriber_id \
                             AND s.status = 'confirmed')",
            )
            .bind(digest_id),
        )
        .await
    }
}
