//! Subscribers and their history.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{Store, StoreError, StoreResult, is_unique_violation, on_db};
use crate::domain::{EmailAddress, Frequency, SubscriberStatus};

/// A subscriber as stored. Times are epoch milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Subscriber {
    pub id: i64,
    pub email: EmailAddress,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    pub source: String,
    pub frequency: Frequency,
    pub paused_until: Option<i64>,
    pub bounce_count: i64,
    pub created_at: i64,
    pub status_changed_at: i64,
    pub confirmed_at: Option<i64>,
    pub unsubscribed_at: Option<i64>,
    pub bounced_at: Option<i64>,
    pub complained_at: Option<i64>,
    pub confirmation_sent_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct SubscriberRow {
    id: i64,
    email: String,
    name: Option<String>,
    status: String,
    source: String,
    frequency: String,
    paused_until: Option<i64>,
    bounce_count: i64,
    created_at: i64,
    status_changed_at: i64,
    confirmed_at: Option<i64>,
    unsubscribed_at: Option<i64>,
    bounced_at: Option<i64>,
    complained_at: Option<i64>,
    confirmation_sent_at: Option<i64>,
}

pub(crate) const SUBSCRIBER_COLUMNS: &str = "id, email, name, status, source, frequency, paused_until, \
    bounce_count, created_at, status_changed_at, confirmed_at, unsubscribed_at, bounced_at, \
    complained_at, confirmation_sent_at";

impl TryFrom<SubscriberRow> for Subscriber {
    type Error = StoreError;
    fn try_from(r: SubscriberRow) -> Result<Self, Self::Error> {
        Ok(Subscriber {
            id: r.id,
            email: EmailAddress::parse(&r.email)
                .map_err(|e| StoreError::Corrupt(format!("subscriber {}: {e}", r.id)))?,
            name: r.name,
            status: r
                .status
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
            source: r.source,
            frequency: r.frequency.parse().map_err(StoreError::Corrupt)?,
            paused_until: r.paused_until,
            bounce_count: r.bounce_count,
            created_at: r.created_at,
            status_changed_at: r.status_changed_at,
            confirmed_at: r.confirmed_at,
            unsubscribed_at: r.unsubscribed_at,
            bounced_at: r.bounced_at,
            complained_at: r.complained_at,
            confirmation_sent_at: r.confirmation_sent_at,
        })
    }
}

/// A new subscriber to record.
#[derive(Debug, Clone)]
pub struct NewSubscriber<'a> {
    pub email: &'a EmailAddress,
    pub name: Option<&'a str>,
    pub status: SubscriberStatus,
    pub source: &'a str,
}

/// The column that records when a subscriber entered `status`.
fn time_column(status: SubscriberStatus) -> Option<&'static str> {
    match status {
        SubscriberStatus::Pending => None,
        SubscriberStatus::Confirmed => Some("confirmed_at"),
        SubscriberStatus::Unsubscribed => Some("unsubscribed_at"),
        SubscriberStatus::Bounced => Some("bounced_at"),
        SubscriberStatus::Complained => Some("complained_at"),
    }
}

impl Store {
    /// Records a subscriber; an address already present (in any case) is a `Conflict`.
    pub async fn insert_subscriber(
        &self,
        new: &NewSubscriber<'_>,
        now: i64,
    ) -> StoreResult<Subscriber> {
        let confirmed_at = (new.status == SubscriberStatus::Confirmed).then_some(now);
        let sql = format!(
            "INSERT INTO subscribers (email, email_key, name, status, source, created_at, status_changed_at, confirmed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING {SUBSCRIBER_COLUMNS}"
        );
        let row: Result<SubscriberRow, sqlx::Error> = on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str()))
            .bind(new.email.as_str())
            .bind(new.email.key())
            .bind(new.name)
            .bind(new.status.as_str())
            .bind(new.source)
            .bind(now)
            .bind(confirmed_at)
            .fetch_one(pool)
            .await);
        let subscriber: Subscriber = match row {
            Ok(row) => row.try_into()?,
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(
                    "this address is already on the list".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.record_event(
            subscriber.id,
            "created",
            Some(&format!("{} via {}", new.status, new.source)),
            now,
        )
        .await?;
        Ok(subscriber)
    }

    pub async fn subscriber(&self, id: i64) -> StoreResult<Subscriber> {
        let sql = format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = $1");
        let row: Option<SubscriberRow> = on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(pool).await)?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Finds an address regardless of its case.
    pub async fn subscriber_by_email(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<Subscriber>> {
        let sql = format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email_key = $1");
        let row: Option<SubscriberRow> = on_db!(self, pool => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(email.key()).fetch_optional(pool).await)?;
        row.map(Subscriber::try_from).transpose()
    }

    /// Moves a subscriber to `to` if the lifecycle allows it, stamping the time of the
    /// change. The update is conditional on the status we read, so two racing requests
    /// cannot both apply a move that is only legal from the old state.
    pub async fn set_subscriber_status(
        &self,
        id: i64,
        to: SubscriberStatus,
        now: i64,
    ) -> StoreResult<Subscriber> {
        for _ in 0..3 {
            let current = self.subscriber(id).await?;
            current.status.transition(to)?;
            if current.status == to {
                return Ok(current);
            }
            let stamp = time_column(to)
                .map(|c| format!(", {c} = $1"))
                .unwrap_or_default();
            let sql = format!(
                "UPDATE subscribers SET status = $2, status_changed_at = $1{stamp} WHERE id = $3 AND status = $4"
            );
            let done = on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str()))
                .bind(now)
                .bind(to.as_str())
                .bind(id)
                .bind(current.status.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?;
            if done == 1 {
                self.record_event(id, to.as_str(), None, now).await?;
                return self.subscriber(id).await;
            }
        }
        Err(StoreError::Conflict(
            "the subscriber changed while we were updating it; try again".into(),
        ))
    }

    /// Moves the subscriber from `from` to `to` only if they are still in `from`; true when
    /// this call made the change (so that exactly one of several racing callers acts on
    /// it, e.g. sends the welcome email).
    pub async fn change_status_from(
        &self,
        id: i64,
        from: SubscriberStatus,
        to: SubscriberStatus,
        now: i64,
    ) -> StoreResult<bool> {
        from.transition(to)?;
        let stamp = time_column(to)
            .map(|c| format!(", {c} = $1"))
            .unwrap_or_default();
        let sql = format!(
            "UPDATE subscribers SET status = $2, status_changed_at = $1{stamp} WHERE id = $3 AND status = $4"
        );
        let done = on_db!(self, pool => sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(now)
            .bind(to.as_str())
            .bind(id)
            .bind(from.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if done == 1 {
            self.record_event(id, to.as_str(), None, now).await?;
        }
        Ok(done == 1)
    }

    /// Counts per status, with zero for statuses nobody is in.
    pub async fn count_subscribers_by_status(&self) -> StoreResult<Vec<(SubscriberStatus, i64)>> {
        let rows: Vec<(String, i64)> = on_db!(self, pool => sqlx::query_as(
            "SELECT status, COUNT(*) FROM subscribers GROUP BY status",
        )
        .fetch_all(pool)
        .await)?;
        Ok(SubscriberStatus::ALL
            .into_iter()
            .map(|s| {
                (
                    s,
                    rows.iter()
                        .find(|(name, _)| name == s.as_str())
                        .map_or(0, |(_, n)| *n),
                )
            })
            .collect())
    }

    /// Appends to a subscriber's history (shown to editors and to the subscriber).
    pub async fn record_event(
        &self,
        subscriber_id: i64,
        kind: &str,
        detail: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query(
            "INSERT INTO subscriber_events (subscriber_id, kind, detail, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(subscriber_id)
        .bind(kind)
        .bind(detail)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

/// One row of an import batch, already parsed and checked.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    pub created_at: i64,
}

/// A subscriber's history entry, shown to them on the preferences page.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriberEvent {
    pub kind: String,
    pub detail: Option<String>,
    pub at: i64,
}

/// What a subscriber may change about themselves.
#[derive(Debug, Clone)]
pub struct PreferencesUpdate<'a> {
    pub name: Option<&'a str>,
    pub frequency: Frequency,
    pub paused_until: Option<i64>,
}

impl Store {
    /// A page of subscribers in id order, optionally of one status; `after_id` is the
    /// last id of the previous page (keyset paging stays fast on large lists).
    pub async fn list_subscribers(
        &self,
        status: Option<SubscriberStatus>,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<Subscriber>> {
        let filter = if status.is_some() {
            "AND status = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id > $1 {filter} ORDER BY id LIMIT $2"
        );
        let rows: Vec<SubscriberRow> = on_db!(self, pool => {
            let mut q = sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(after_id).bind(limit);
            if let Some(s) = status {
                q = q.bind(s.as_str());
            }
            q.fetch_all(pool).await
        })?;
        rows.into_iter().map(Subscriber::try_from).collect()
    }

    pub async fn count_subscribers(&self, status: Option<SubscriberStatus>) -> StoreResult<i64> {
        let n: i64 = match status {
            Some(s) => {
                on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM subscribers WHERE status = $1")
                .bind(s.as_str())
                .fetch_one(pool)
                .await)?
            }
            None => on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM subscribers")
                .fetch_one(pool)
                .await)?,
        };
        Ok(n)
    }

    /// Claims the right to send a confirmation now: true only if none was sent since
    /// `not_since`. Done as one conditional update so that two racing sign-ups of one
    /// address send one email, not two.
    pub async fn claim_confirmation_send(
        &self,
        id: i64,
        now: i64,
        not_since: i64,
    ) -> StoreResult<bool> {
        let n = on_db!(self, pool => sqlx::query(
            "UPDATE subscribers SET confirmation_sent_at = $1 \
             WHERE id = $2 AND status = 'pending' \
             AND (confirmation_sent_at IS NULL OR confirmation_sent_at <= $3)",
        )
        .bind(now)
        .bind(id)
        .bind(not_since)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Gives a claim back when the email could not be queued, so a retry is not throttled.
    pub async fn release_confirmation_send(&self, id: i64) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query("UPDATE subscribers SET confirmation_sent_at = NULL WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn update_preferences(
        &self,
        id: i64,
        update: &PreferencesUpdate<'_>,
        now: i64,
    ) -> StoreResult<Subscriber> {
        let n = on_db!(self, pool => sqlx::query(
            "UPDATE subscribers SET name = $1, frequency = $2, paused_until = $3 WHERE id = $4",
        )
        .bind(update.name)
        .bind(update.frequency.as_str())
        .bind(update.paused_until)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.record_event(id, "preferences changed", None, now)
            .await?;
        self.subscriber(id).await
    }

    pub async fn subscriber_events(&self, id: i64) -> StoreResult<Vec<SubscriberEvent>> {
        let rows: Vec<(String, Option<String>, i64)> = on_db!(self, pool => sqlx::query_as(
            "SELECT kind, detail, at FROM subscriber_events WHERE subscriber_id = $1 ORDER BY at, id",
        )
        .bind(id)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(kind, detail, at)| SubscriberEvent { kind, detail, at })
            .collect())
    }

    /// Deletes everything about a subscriber (history and deliveries go by cascade) and
    /// keeps only `email_hash`, so the address is recognised but never stored again.
    pub async fn erase_subscriber(
        &self,
        id: i64,
        email_hash: &str,
        reason: &str,
        now: i64,
    ) -> StoreResult<()> {
        let deleted: u64 = super::in_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO suppressions (email_hash, reason, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (email_hash) DO NOTHING",
            )
            .bind(email_hash)
            .bind(reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM subscribers WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn is_suppressed(&self, email_hash: &str) -> StoreResult<bool> {
        let found: Option<String> = on_db!(self, pool => sqlx::query_scalar(
            "SELECT email_hash FROM suppressions WHERE email_hash = $1",
        )
        .bind(email_hash)
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }

    /// Of `hashes`, those on the suppression list.
    pub async fn suppressed_among(&self, hashes: &[String]) -> StoreResult<Vec<String>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT email_hash FROM suppressions WHERE email_hash IN ({})",
            placeholders(1, hashes.len())
        );
        let found: Vec<String> = on_db!(self, pool => {
            let mut q = sqlx::query_scalar(AssertSqlSafe(sql.as_str()));
            for h in hashes {
                q = q.bind(h);
            }
            q.fetch_all(pool).await
        })?;
        Ok(found)
    }

    pub async fn remove_suppression(&self, email_hash: &str) -> StoreResult<()> {
        on_db!(self, pool => sqlx::query("DELETE FROM suppressions WHERE email_hash = $1")
            .bind(email_hash)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn suppression_count(&self) -> StoreResult<i64> {
        let n: i64 = on_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM suppressions")
            .fetch_one(pool)
            .await)?;
        Ok(n)
    }

    /// Inserts a batch in one transaction, skipping addresses already present. Returns
    /// the `email_key`s actually inserted, so the caller can count the rest as duplicates.
    pub async fn import_subscribers(
        &self,
        rows: &[ImportRow],
        source: &str,
        now: i64,
    ) -> StoreResult<Vec<String>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        const PER_ROW: usize = 6;
        let values: Vec<String> = (0..rows.len())
            .map(|i| {
                let b = 2 + i * PER_ROW;
                format!(
                    "(${}, ${}, ${}, ${}, $1, ${}, ${}, ${})",
                    b,
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        let insert = format!(
            "INSERT INTO subscribers (email, email_key, name, status, source, created_at, status_changed_at, confirmed_at) \
             VALUES {} ON CONFLICT (email_key) DO NOTHING RETURNING id, email_key",
            values.join(", ")
        );
        let inserted: Vec<(i64, String)> = super::in_tx!(self, tx => {
            let mut q = sqlx::query_as(AssertSqlSafe(insert.as_str())).bind(source);
            for r in rows {
                q = q
                    .bind(r.email.as_str())
                    .bind(r.email.key())
                    .bind(r.name.as_deref())
                    .bind(r.status.as_str())
                    .bind(r.created_at)
                    .bind((r.status == SubscriberStatus::Confirmed).then_some(now));
            }
            let inserted: Vec<(i64, String)> = q.fetch_all(&mut *tx).await?;
            if !inserted.is_empty() {
                let events = format!(
                    "INSERT INTO subscriber_events (subscriber_id, kind, detail, at) VALUES {}",
                    (0..inserted.len())
                        .map(|i| format!("(${}, 'created', $1, $2)", i + 3))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut q = sqlx::query(AssertSqlSafe(events.as_str()))
                    .bind(format!("via {source}"))
                    .bind(now);
                for (id, _) in &inserted {
                    q = q.bind(*id);
                }
                q.execute(&mut *tx).await?;
            }
            inserted
        });
        Ok(inserted.into_iter().map(|(_, key)| key).collect())
    }
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
