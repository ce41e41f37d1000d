//! What the public archive asks beyond the digests themselves: an issue's neighbours.

use chrono::NaiveDate;

use super::{Store, StoreResult, digests::SentDigest, query};

impl Store {
    /// The sent issues just before and just after `date`, for the previous/next links.
    /// Only issues the archive shows count (sending or sent, with a stored copy).
    pub async fn sent_digest_neighbours(
        &self,
        date: NaiveDate,
    ) -> StoreResult<(Option<SentDigest>, Option<SentDigest>)> {
        let key = date.format("%Y-%m-%d").to_string();
        let previous: Option<SentDigest> = self
            .fetch_optional(
                query(
                    "SELECT id, issue_date, subject, preheader, send_started_at FROM digests \
             WHERE status IN ('sending', 'sent') AND html IS NOT NULL AND issue_date < $1 \
             ORDER BY issue_date DESC LIMIT 1",
                )
                .bind(&key),
            )
            .await?;
        let next: Option<SentDigest> = self
            .fetch_optional(
                query(
                    "SELECT id, issue_date, subject, preheader, send_started_at FROM digests \
             WHERE status IN ('sending', 'sent') AND html IS NOT NULL AND issue_date > $1 \
             ORDER BY issue_date ASC LIMIT 1",
                )
                .bind(&key),
            )
            .await?;
        Ok((previous, next))
    }
}
