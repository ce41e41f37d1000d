//! What the public archive asks beyond the digests themselves: an issue's neighbours.

use chrono::NaiveDate;

use super::{Store, StoreResult, digests::SentDigest, query};

impl Store {
    /// The sent issues just before and just after the edition `id` of `date`, for the
    /// previous/next links. Editions are in (date, id) order, so a special or weekly
    /// edition sits after the daily issue of its day rather than being skipped. Only
    /// issues the archive shows count (sending or sent, with a stored copy).
    pub async fn sent_digest_neighbours(
        &self,
        date: NaiveDate,
        id: i64,
    ) -> StoreResult<(Option<SentDigest>, Option<SentDigest>)> {
        let key = date.format("%Y-%m-%d").to_string();
        let previous: Option<SentDigest> = self
            .fetch_optional(
                query(
                    "SELECT id, issue_date, kind, subject, preheader, send_started_at FROM digests \
             WHERE status IN ('sending', 'sent') AND html IS NOT NULL \
             AND (issue_date < $1 OR (issue_date = $1 AND id < $2)) \
             ORDER BY issue_date DESC, id DESC LIMIT 1",
                )
                .bind(&key)
                .bind(id),
            )
            .await?;
        let next: Option<SentDigest> = self
            .fetch_optional(
                query(
                    "SELECT id, issue_date, kind, subject, preheader, send_started_at FROM digests \
             WHERE status IN ('sending', 'sent') AND html IS NOT NULL \
             AND (issue_date > $1 OR (issue_date = $1 AND id > $2)) \
             ORDER BY issue_date ASC, id ASC LIMIT 1",
                )
                .bind(&key)
                .bind(id),
            )
            .await?;
        Ok((previous, next))
    }
}
