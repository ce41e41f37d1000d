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
