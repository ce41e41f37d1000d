//! What readers do for themselves beyond the subscriber row: the reasons they give for
//! leaving (anonymous counts) and address changes waiting for the new address to confirm.

use super::{ConflictOnUnique, Store, StoreResult, query, subscribers::Subscriber};
use crate::domain::EmailAddress;

impl Store {
    /// Counts one reason for leaving. No subscriber id is kept with it.
    pub async fn record_unsubscribe_reason(&self, reason: &str, now: i64) -> StoreResult<()> {
        self.exec(
            query("INSERT INTO unsubscribe_reasons (reason, at) VALUES ($1, $2)")
                .bind(reason)
                .bind(now),
        )
        .await?;
        Ok(())
    }

    /// How often each reason was given, most frequent first.
    pub async fn unsubscribe_reason_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        self.fetch_all(query(
            "SELECT reason, COUNT(*) AS n FROM unsubscribe_reasons GROUP BY reason ORDER BY n DESC, reason",
        )).await
    }

    /// Remembers the address a subscriber wants to move to, replacing an earlier request.
    pub async fn put_email_change(
        &self,
        subscriber_id: i64,
        new_email: &EmailAddress,
        now: i64,
    ) -> StoreResult<()> {
        self.exec(query(
            "INSERT INTO email_changes (subscriber_id, new_email, requested_at) VALUES ($1, $2, $3) \
             ON CONFLICT (subscriber_id) DO UPDATE SET new_email = excluded.new_email, requested_at = excluded.requested_at",
        )
        .bind(subscriber_id)
        .bind(new_email.as_str())
        .bind(now)).await?;
        Ok(())
    }

    /// The address change waiting for confirmation, with when it was asked for.
    pub async fn email_change(&self, subscriber_id: i64) -> StoreResult<Option<(String, i64)>> {
        self.fetch_optional(
            query("SELECT new_email, requested_at FROM email_changes WHERE subscriber_id = $1")
                .bind(subscriber_id),
        )
        .await
    }

    /// Moves the subscriber to the confirmed new address and forgets the request. An
    /// address already on the list is a `Conflict` and changes nothing.
    pub async fn apply_email_change(
        &self,
        subscriber_id: i64,
        new_email: &EmailAddress,
        now: i64,
    ) -> StoreResult<Subscriber> {
        self.exec_found(
            query("UPDATE subscribers SET email = $1, email_key = $2 WHERE id = $3")
                .bind(new_email.as_str())
                .bind(new_email.key())
                .bind(subscriber_id),
        )
        .await
        .conflict_on_unique(|| "that address is already on the list".into())?;
        self.exec(query("DELETE FROM email_changes WHERE subscriber_id = $1").bind(subscriber_id))
            .await?;
        self.record_event(subscriber_id, "address changed", None, now)
            .await?;
        self.subscriber(subscriber_id).await
    }
}
