//! Subscribers and their history.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{
    ConflictOnUnique, Dialect, Query, Store, StoreError, StoreResult, placeholders, query,
    values_list,
};
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
    /// The subscriber's own IANA zone, when an import or an editor gave one.
    pub time_zone: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct SubscriberRow {
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
    time_zone: Option<String>,
}

pub(crate) const SUBSCRIBER_COLUMNS: &str = "id, email, name, status, source, frequency, paused_until, \
    bounce_count, created_at, status_changed_at, confirmed_at, unsubscribed_at, bounced_at, \
    complained_at, confirmation_sent_at, time_zone";

impl super::Decoded for Subscriber {
    type Row = SubscriberRow;
}

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
            time_zone: r.time_zone,
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
        let subscriber: Subscriber = self
            .decode_one(
                query(AssertSqlSafe(sql.as_str()))
                    .bind(new.email.as_str())
                    .bind(new.email.key())
                    .bind(new.name)
                    .bind(new.status.as_str())
                    .bind(new.source)
                    .bind(now)
                    .bind(confirmed_at),
            )
            .await
            .conflict_on_unique(|| "this address is already on the list".into())?;
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
        self.decode_optional(query(AssertSqlSafe(sql.as_str())).bind(id))
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Finds an address regardless of its case.
    pub async fn subscriber_by_email(
        &self,
        email: &EmailAddress,
    ) -> StoreResult<Option<Subscriber>> {
        let sql = format!("SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email_key = $1");
        self.decode_optional(query(AssertSqlSafe(sql.as_str())).bind(email.key()))
            .await
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
            if self.change_status_from(id, current.status, to, now).await? {
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
        let done = self
            .exec(
                query(AssertSqlSafe(sql.as_str()))
                    .bind(now)
                    .bind(to.as_str())
                    .bind(id)
                    .bind(from.as_str()),
            )
            .await?;
        if done == 1 {
            self.record_event(id, to.as_str(), None, now).await?;
        }
        Ok(done == 1)
    }

    /// Counts per status, with zero for statuses nobody is in.
    pub async fn count_subscribers_by_status(&self) -> StoreResult<Vec<(SubscriberStatus, i64)>> {
        let rows: Vec<(String, i64)> = self
            .fetch_all(query(
                "SELECT status, COUNT(*) FROM subscribers GROUP BY status",
            ))
            .await?;
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
        self.exec(query(
            "INSERT INTO subscriber_events (subscriber_id, kind, detail, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(subscriber_id)
        .bind(kind)
        .bind(detail)
        .bind(now)).await?;
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
    /// `None`: the file did not say; new rows get the default, updates keep what is there.
    pub frequency: Option<Frequency>,
    pub time_zone: Option<String>,
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
        let rows: Vec<SubscriberRow> = {
            let mut q = query(AssertSqlSafe(sql.as_str()))
                .bind(after_id)
                .bind(limit);
            if let Some(s) = status {
                q = q.bind(s.as_str());
            }
            self.fetch_all(q).await
        }?;
        rows.into_iter().map(Subscriber::try_from).collect()
    }

    pub async fn count_subscribers(&self, status: Option<SubscriberStatus>) -> StoreResult<i64> {
        let n: i64 = match status {
            Some(s) => {
                self.scalar(
                    query("SELECT COUNT(*) FROM subscribers WHERE status = $1").bind(s.as_str()),
                )
                .await?
            }
            None => {
                self.scalar(query("SELECT COUNT(*) FROM subscribers"))
                    .await?
            }
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
        let n = self
            .exec(
                query(
                    "UPDATE subscribers SET confirmation_sent_at = $1 \
             WHERE id = $2 AND status = 'pending' \
             AND (confirmation_sent_at IS NULL OR confirmation_sent_at <= $3)",
                )
                .bind(now)
                .bind(id)
                .bind(not_since),
            )
            .await?;
        Ok(n == 1)
    }

    /// Gives a claim back when the email could not be queued, so a retry is not throttled.
    pub async fn release_confirmation_send(&self, id: i64) -> StoreResult<()> {
        self.exec(
            query("UPDATE subscribers SET confirmation_sent_at = NULL WHERE id = $1").bind(id),
        )
        .await?;
        Ok(())
    }

    /// Runs `update` (an UPDATE of subscriber `id`'s row), records `event` in their
    /// history and returns the changed subscriber; `NotFound` when there is no such row.
    async fn change_subscriber(
        &self,
        id: i64,
        update: Query,
        event: &str,
        detail: Option<&str>,
        now: i64,
    ) -> StoreResult<Subscriber> {
        self.exec_found(update).await?;
        self.record_event(id, event, detail, now).await?;
        self.subscriber(id).await
    }

    pub async fn update_preferences(
        &self,
        id: i64,
        update: &PreferencesUpdate<'_>,
        now: i64,
    ) -> StoreResult<Subscriber> {
        let update = query(
            "UPDATE subscribers SET name = $1, frequency = $2, paused_until = $3 WHERE id = $4",
        )
        .bind(update.name)
        .bind(update.frequency.as_str())
        .bind(update.paused_until)
        .bind(id);
        self.change_subscriber(id, update, "preferences changed", None, now)
            .await
    }

    pub async fn subscriber_events(&self, id: i64) -> StoreResult<Vec<SubscriberEvent>> {
        let rows: Vec<(String, Option<String>, i64)> = self.fetch_all(query(
            "SELECT kind, detail, at FROM subscriber_events WHERE subscriber_id = $1 ORDER BY at, id",
        )
        .bind(id)).await?;
        Ok(rows
            .into_iter()
            .map(|(kind, detail, at)| SubscriberEvent { kind, detail, at })
            .collect())
    }

    /// After an erasure, so the erased rows' bytes leave the disk. SQLite keeps earlier
    /// copies of every changed page in its write-ahead log: this moves the log into the
    /// database file and empties it (`PRAGMA wal_checkpoint(TRUNCATE)`); the database
    /// file keeps no deleted bytes because every connection runs with `secure_delete`
    /// ([`super::sqlite_options`]). False when readers kept the log from being emptied
    /// (its frames are overwritten from the start once a later checkpoint completes).
    /// PostgreSQL has nothing to do here: a deleted row's space stays in the table's file
    /// until VACUUM reuses it, which only storage encryption can cover.
    pub async fn flush_erased_rows(&self) -> StoreResult<bool> {
        if !matches!(&self.db, super::Db::Pool(_)) || self.dialect() != Dialect::Sqlite {
            return Ok(true);
        }
        let (busy, _, _): (i64, i64, i64) = self
            .fetch_one(query("PRAGMA wal_checkpoint(TRUNCATE)"))
            .await?;
        Ok(busy == 0)
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
        let tx = self.begin().await?;
        let deleted: u64 =
            {
                tx.exec(query(
                "INSERT INTO suppressions (email_hash, reason, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (email_hash) DO NOTHING",
            )
            .bind(email_hash)
            .bind(reason)
            .bind(now)).await?;
                tx.exec(query("DELETE FROM subscribers WHERE id = $1").bind(id))
                    .await?
            };
        tx.commit().await?;
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn is_suppressed(&self, email_hash: &str) -> StoreResult<bool> {
        let found: Option<String> = self
            .scalar_optional(
                query("SELECT email_hash FROM suppressions WHERE email_hash = $1").bind(email_hash),
            )
            .await?;
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
        let found: Vec<String> = {
            let mut q = query(AssertSqlSafe(sql.as_str()));
            for h in hashes {
                q = q.bind(h);
            }
            self.scalars(q).await
        }?;
        Ok(found)
    }

    pub async fn remove_suppression(&self, email_hash: &str) -> StoreResult<()> {
        self.exec(query("DELETE FROM suppressions WHERE email_hash = $1").bind(email_hash))
            .await?;
        Ok(())
    }

    pub async fn suppression_count(&self) -> StoreResult<i64> {
        let n: i64 = self
            .scalar(query("SELECT COUNT(*) FROM suppressions"))
            .await?;
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
        // $1 is the source, shared; each row has 8 parameters of its own (its status
        // change time is its creation time).
        let values = values_list(rows.len(), 2, 8, |p| {
            format!(
                "({}, {}, {}, {}, $1, {}, {}, {}, {}, {})",
                p[0], p[1], p[2], p[3], p[4], p[4], p[5], p[6], p[7]
            )
        });
        let insert = format!(
            "INSERT INTO subscribers (email, email_key, name, status, source, created_at, status_changed_at, confirmed_at, frequency, time_zone) \
             VALUES {values} ON CONFLICT (email_key) DO NOTHING RETURNING id, email_key"
        );
        let mut q = query(AssertSqlSafe(insert)).bind(source);
        for r in rows {
            q = q
                .bind(r.email.as_str())
                .bind(r.email.key())
                .bind(r.name.as_deref())
                .bind(r.status.as_str())
                .bind(r.created_at)
                .bind((r.status == SubscriberStatus::Confirmed).then_some(now))
                .bind(r.frequency.unwrap_or(Frequency::Daily).as_str())
                .bind(r.time_zone.as_deref());
        }
        self.write_import_batch(q, "created", &format!("via {source}"), now)
            .await
    }

    /// Runs one import batch statement (`RETURNING id, email_key` of the rows it wrote)
    /// and records `kind` / `detail` in the history of each of those rows, in one
    /// transaction. Returns the `email_key`s written.
    async fn write_import_batch(
        &self,
        batch: Query,
        kind: &str,
        detail: &str,
        now: i64,
    ) -> StoreResult<Vec<String>> {
        let tx = self.begin().await?;
        let written: Vec<(i64, String)> = tx.fetch_all(batch).await?;
        if !written.is_empty() {
            let values = values_list(written.len(), 4, 1, |p| format!("({}, $1, $2, $3)", p[0]));
            let events = format!(
                "INSERT INTO subscriber_events (subscriber_id, kind, detail, at) VALUES {values}"
            );
            let q = written.iter().fold(
                query(AssertSqlSafe(events))
                    .bind(kind)
                    .bind(detail)
                    .bind(now),
                |q, (id, _)| q.bind(*id),
            );
            tx.exec(q).await?;
        }
        tx.commit().await?;
        Ok(written.into_iter().map(|(_, key)| key).collect())
    }
}

/// How the admin's subscribers table is ordered. Each order has a unique key, so a page
/// boundary is one row and keyset paging never skips or repeats anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriberSort {
    /// Signed up, newest first: (created_at, id) descending.
    #[default]
    NewestFirst,
    OldestFirst,
    /// By address (its case-folded key, which is unique).
    EmailAsc,
    EmailDesc,
}

impl SubscriberSort {
    pub const ALL: [SubscriberSort; 4] = [
        Self::NewestFirst,
        Self::OldestFirst,
        Self::EmailAsc,
        Self::EmailDesc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewestFirst => "newest",
            Self::OldestFirst => "oldest",
            Self::EmailAsc => "email",
            Self::EmailDesc => "email-desc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    fn descending(self) -> bool {
        matches!(self, Self::NewestFirst | Self::EmailDesc)
    }

    fn by_email(self) -> bool {
        matches!(self, Self::EmailAsc | Self::EmailDesc)
    }
}

/// Which subscribers the admin's table (and its export) shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriberFilter {
    pub status: Option<SubscriberStatus>,
    pub frequency: Option<Frequency>,
    pub source: Option<String>,
    /// A fragment of the address or the name, any case.
    pub search: Option<String>,
}

/// Where a page starts: at the top, or just after / just before the subscriber with this
/// id in the chosen order. Ids travel in links instead of addresses, so that no address
/// lands in a URL, a browser history or an access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageCursor {
    #[default]
    First,
    After(i64),
    Before(i64),
}

/// A row of the admin's table: the subscriber and when they were last sent an issue.
#[derive(Debug, Clone)]
pub struct SubscriberListRow {
    pub subscriber: Subscriber,
    pub last_sent_at: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct SubscriberPage {
    pub rows: Vec<SubscriberListRow>,
    pub has_next: bool,
    pub has_prev: bool,
}

#[derive(sqlx::FromRow)]
struct ListRow {
    #[sqlx(flatten)]
    row: SubscriberRow,
    last_sent_at: Option<i64>,
}

/// A value bound to a dynamically built statement.
enum Arg {
    Text(String),
    Int(i64),
}

/// `LIKE` pattern matching `fragment` anywhere, with the wildcards in it taken literally.
fn contains_pattern(fragment: &str) -> String {
    let escaped = fragment
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The WHERE conditions of `filter`, numbering placeholders after those in `args`.
///
/// On SQLite the search reads every row (a fragment can be anywhere in an address), so
/// it is kept cheap per row: `LIKE` already ignores ASCII case, and needs no `LOWER()` on
/// each name. On PostgreSQL, `ILIKE` does the same and the trigram indexes of migration
/// 0015 (`pg_trgm`) answer both conditions for fragments of three or more characters.
fn filter_conditions(
    filter: &SubscriberFilter,
    dialect: Dialect,
    args: &mut Vec<Arg>,
) -> Vec<String> {
    let like = dialect.pick("LIKE", "ILIKE");
    let mut conditions = Vec::new();
    let mut push = |args: &mut Vec<Arg>, arg: Arg, sql: &dyn Fn(usize) -> String| {
        args.push(arg);
        conditions.push(sql(args.len()));
    };
    if let Some(s) = filter.status {
        push(args, Arg::Text(s.as_str().into()), &|n| {
            format!("status = ${n}")
        });
    }
    if let Some(f) = filter.frequency {
        push(args, Arg::Text(f.as_str().into()), &|n| {
            format!("frequency = ${n}")
        });
    }
    if let Some(src) = &filter.source {
        push(args, Arg::Text(src.clone()), &|n| format!("source = ${n}"));
    }
    if let Some(q) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        push(args, Arg::Text(contains_pattern(q)), &|n| {
            format!("(email_key LIKE ${n} ESCAPE '\\' OR name {like} ${n} ESCAPE '\\')")
        });
    }
    conditions
}

/// Whether a statement for `filter` may keep a prepared plan. A search may not: its best
/// plan depends on the fragment (a rare one is a trigram-index lookup on PostgreSQL, a
/// common one a scan that stops early), and PostgreSQL otherwise settles on one generic
/// plan after a few runs, a full scan for every fragment (~100 ms at 100 000 rows).
fn cache_plan(filter: &SubscriberFilter) -> bool {
    filter.search.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// The statement `sql` built from a filter, with the filter's `args` bound in order.
fn filtered(sql: &str, args: &[Arg], filter: &SubscriberFilter) -> Query {
    let q = query(AssertSqlSafe(sql.to_owned())).persistent(cache_plan(filter));
    args.iter().fold(q, |q, a| match a {
        Arg::Text(t) => q.bind(t.as_str()),
        Arg::Int(i) => q.bind(*i),
    })
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// A delivery of one issue to one subscriber, for their page in the admin.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SubscriberDelivery {
    pub digest_id: i64,
    pub issue_date: String,
    pub kind: String,
    pub subject: Option<String>,
    pub state: super::deliveries::DeliveryState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub updated_at: i64,
}

/// What an editor may change about a subscriber besides the status.
#[derive(Debug, Clone)]
pub struct AdminEdit<'a> {
    pub name: Option<&'a str>,
    pub frequency: Frequency,
    pub time_zone: Option<&'a str>,
}

impl Store {
    /// One page of the admin's table, in `sort` order from `cursor`. Keyset paging: the
    /// database seeks to the cursor's key in an index instead of counting rows off.
    pub async fn subscriber_page(
        &self,
        filter: &SubscriberFilter,
        sort: SubscriberSort,
        cursor: PageCursor,
        limit: i64,
    ) -> StoreResult<SubscriberPage> {
        self.subscriber_page_keyset(filter, sort, cursor, limit)
            .await
    }

    /// A page of the admin's table and the number of all matches, each found the cheap
    /// way: a search is counted first (one pass), which tells how to read its page, and
    /// a first page that is not full is its own count.
    pub async fn subscriber_listing(
        &self,
        filter: &SubscriberFilter,
        sort: SubscriberSort,
        cursor: PageCursor,
        limit: i64,
    ) -> StoreResult<(SubscriberPage, i64)> {
        /// Up to this many matches are sorted after a sequential read.
        const FEW: i64 = 2_000;
        if filter.search.is_some() {
            // One pass finds the matches; when they are few, they are the count and the
            // page is cut from them, without a second pass over the table.
            let ids = self.matching_ids(filter, FEW + 1).await?;
            if ids.len() as i64 <= FEW {
                let count = ids.len() as i64;
                let page = self.page_from_ids(&ids, sort, cursor, limit).await?;
                return Ok((page, count));
            }
            let count = self.count_matching(filter).await?;
            let page = self.subscriber_page(filter, sort, cursor, limit).await?;
            return Ok((page, count));
        }
        let page = self.subscriber_page(filter, sort, cursor, limit).await?;
        let count = if cursor == PageCursor::First && !page.has_next {
            page.rows.len() as i64
        } else {
            self.count_matching(filter).await?
        };
        Ok((page, count))
    }

    /// Ids of up to `limit` subscribers `filter` matches, in no particular order.
    async fn matching_ids(&self, filter: &SubscriberFilter, limit: i64) -> StoreResult<Vec<i64>> {
        let mut args = Vec::new();
        let conditions = filter_conditions(filter, self.dialect(), &mut args);
        args.push(Arg::Int(limit));
        let sql = format!(
            "SELECT id FROM subscribers {} LIMIT ${}",
            where_clause(&conditions),
            args.len()
        );
        let ids: Vec<i64> = self.scalars(filtered(&sql, &args, filter)).await?;
        Ok(ids)
    }

    /// The page at `cursor` among the subscribers `ids` (all the matches), in `sort` order
    /// as the database orders it.
    async fn page_from_ids(
        &self,
        ids: &[i64],
        sort: SubscriberSort,
        cursor: PageCursor,
        limit: i64,
    ) -> StoreResult<SubscriberPage> {
        if ids.is_empty() {
            return Ok(SubscriberPage::default());
        }
        let dir = if sort.descending() { "DESC" } else { "ASC" };
        let order = if sort.by_email() {
            format!("email_key {dir}")
        } else {
            format!("created_at {dir}, id {dir}")
        };
        let sql = format!(
            "SELECT id FROM subscribers WHERE id IN ({}) ORDER BY {order}",
            placeholders(1, ids.len())
        );
        let ordered: Vec<i64> = {
            let mut q = query(AssertSqlSafe(sql.as_str()));
            for id in ids {
                q = q.bind(*id);
            }
            self.scalars(q).await
        }?;
        let limit = limit.max(1) as usize;
        let (start, end) = match cursor {
            PageCursor::First => (0, limit.min(ordered.len())),
            PageCursor::After(id) => match ordered.iter().position(|&i| i == id) {
                Some(p) => (p + 1, (p + 1 + limit).min(ordered.len())),
                None => (0, limit.min(ordered.len())),
            },
            PageCursor::Before(id) => match ordered.iter().position(|&i| i == id) {
                Some(p) => (p.saturating_sub(limit), p),
                None => (0, limit.min(ordered.len())),
            },
        };
        let page_ids = &ordered[start..end];
        let mut rows = Vec::with_capacity(page_ids.len());
        if !page_ids.is_empty() {
            let sql = format!(
                "SELECT {SUBSCRIBER_COLUMNS}, \
                 (SELECT MAX(d.sent_at) FROM deliveries d WHERE d.subscriber_id = subscribers.id) AS last_sent_at \
                 FROM subscribers WHERE id IN ({})",
                placeholders(1, page_ids.len())
            );
            let found: Vec<ListRow> = {
                let mut q = query(AssertSqlSafe(sql.as_str()));
                for id in page_ids {
                    q = q.bind(*id);
                }
                self.fetch_all(q).await
            }?;
            let mut by_id: std::collections::HashMap<i64, ListRow> =
                found.into_iter().map(|r| (r.row.id, r)).collect();
            for id in page_ids {
                if let Some(r) = by_id.remove(id) {
                    rows.push(SubscriberListRow {
                        subscriber: r.row.try_into()?,
                        last_sent_at: r.last_sent_at,
                    });
                }
            }
        }
        Ok(SubscriberPage {
            rows,
            has_next: end < ordered.len(),
            has_prev: start > 0,
        })
    }

    /// The whole table's counts per status, then the page and the number of matches,
    /// reusing those counts when the filter is only a status (or nothing).
    pub async fn subscriber_overview(
        &self,
        filter: &SubscriberFilter,
        sort: SubscriberSort,
        cursor: PageCursor,
        limit: i64,
    ) -> StoreResult<(Vec<(SubscriberStatus, i64)>, SubscriberPage, i64)> {
        let counts = self.count_subscribers_by_status().await?;
        let status_only = SubscriberFilter {
            status: filter.status,
            ..Default::default()
        };
        if *filter == status_only {
            let total = counts
                .iter()
                .filter(|(s, _)| filter.status.is_none_or(|f| f == *s))
                .map(|(_, n)| n)
                .sum();
            let page = self.subscriber_page(filter, sort, cursor, limit).await?;
            return Ok((counts, page, total));
        }
        let (page, total) = self.subscriber_listing(filter, sort, cursor, limit).await?;
        Ok((counts, page, total))
    }

    async fn subscriber_page_keyset(
        &self,
        filter: &SubscriberFilter,
        sort: SubscriberSort,
        cursor: PageCursor,
        limit: i64,
    ) -> StoreResult<SubscriberPage> {
        let mut args = Vec::new();
        let mut conditions = filter_conditions(filter, self.dialect(), &mut args);
        // Walking backwards (a "previous" link) reads the reverse order, then flips.
        let (anchor, backwards) = match cursor {
            PageCursor::First => (None, false),
            PageCursor::After(id) => (Some(id), false),
            PageCursor::Before(id) => (Some(id), true),
        };
        let descending = sort.descending() != backwards;
        let cmp = if descending { "<" } else { ">" };
        let dir = if descending { "DESC" } else { "ASC" };
        if let Some(id) = anchor {
            let Some((created_at, key)) = self.cursor_key(id).await? else {
                // The row at the page boundary is gone (erased): start again at the top.
                return Box::pin(self.subscriber_page_keyset(
                    filter,
                    sort,
                    PageCursor::First,
                    limit,
                ))
                .await;
            };
            if sort.by_email() {
                args.push(Arg::Text(key));
                conditions.push(format!("email_key {cmp} ${}", args.len()));
            } else {
                args.push(Arg::Int(created_at));
                args.push(Arg::Int(id));
                conditions.push(format!(
                    "(created_at, id) {cmp} (${}, ${})",
                    args.len() - 1,
                    args.len()
                ));
            }
        }
        let order = if sort.by_email() {
            format!("email_key {dir}")
        } else {
            format!("created_at {dir}, id {dir}")
        };
        args.push(Arg::Int(limit + 1));
        // The page is chosen first and "last sent" looked up for its rows only: with the
        // lookup in the same SELECT, a plan that sorts would run it for every match.
        let sql = format!(
            "SELECT {SUBSCRIBER_COLUMNS}, \
             (SELECT MAX(d.sent_at) FROM deliveries d WHERE d.subscriber_id = page.id) AS last_sent_at \
             FROM (SELECT {SUBSCRIBER_COLUMNS}, email_key FROM subscribers {} ORDER BY {} LIMIT ${}) page \
             ORDER BY {}",
            where_clause(&conditions),
            order,
            args.len(),
            order
        );
        let rows: Vec<ListRow> = self.fetch_all(filtered(&sql, &args, filter)).await?;
        let more = rows.len() as i64 > limit;
        let mut page: Vec<SubscriberListRow> = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| {
                Ok(SubscriberListRow {
                    subscriber: r.row.try_into()?,
                    last_sent_at: r.last_sent_at,
                })
            })
            .collect::<StoreResult<_>>()?;
        if backwards {
            page.reverse();
        }
        Ok(SubscriberPage {
            rows: page,
            has_next: if backwards { true } else { more },
            has_prev: if backwards { more } else { anchor.is_some() },
        })
    }

    /// The sort keys of the subscriber a page starts from.
    async fn cursor_key(&self, id: i64) -> StoreResult<Option<(i64, String)>> {
        let row: Option<(i64, String)> = self
            .fetch_optional(
                query("SELECT created_at, email_key FROM subscribers WHERE id = $1").bind(id),
            )
            .await?;
        Ok(row)
    }

    /// How many subscribers `filter` matches (the table's "N matches").
    pub async fn count_matching(&self, filter: &SubscriberFilter) -> StoreResult<i64> {
        let mut args = Vec::new();
        let conditions = filter_conditions(filter, self.dialect(), &mut args);
        let sql = format!(
            "SELECT COUNT(*) FROM subscribers {}",
            where_clause(&conditions)
        );
        let n: i64 = self.scalar(filtered(&sql, &args, filter)).await?;
        Ok(n)
    }

    /// The distinct sources subscribers came from (web, api, import, …), for the filter.
    /// Found by hopping through the source index, one probe per source, instead of
    /// reading an entry per subscriber as `DISTINCT` would.
    pub async fn subscriber_sources(&self) -> StoreResult<Vec<String>> {
        let rows: Vec<String> = self.scalars(query(
       "WITH RECURSIVE s (v) AS ( \
          SELECT MIN(source) FROM subscribers \
          UNION ALL \
          SELECT (SELECT MIN(source) FROM subscribers WHERE source > s.v) FROM s WHERE s.v IS NOT NULL \
        ) SELECT v FROM s WHERE v IS NOT NULL ORDER BY v",
   )).await?;
        Ok(rows)
    }

    /// Every issue sent (or being sent) to a subscriber, newest first.
    pub async fn subscriber_deliveries(&self, id: i64) -> StoreResult<Vec<SubscriberDelivery>> {
        let rows: Vec<SubscriberDelivery> = self.fetch_all(query(
            "SELECT d.digest_id, g.issue_date, g.kind, g.subject, d.state, CAST(d.attempts AS BIGINT) AS attempts, \
             d.last_error, d.sent_at, d.updated_at \
             FROM deliveries d JOIN digests g ON g.id = d.digest_id \
             WHERE d.subscriber_id = $1 ORDER BY g.issue_date DESC, d.id DESC",
        )
        .bind(id)).await?;
        Ok(rows)
    }

    /// The reader's own choice of time zone (sign-up script, preferences, API); `None`
    /// clears it (the publication's zone applies). Validate with
    /// [`crate::subscribers::clean_time_zone`] first.
    pub async fn set_subscriber_time_zone(
        &self,
        id: i64,
        time_zone: Option<&str>,
    ) -> StoreResult<()> {
        self.exec_found(
            query("UPDATE subscribers SET time_zone = $1 WHERE id = $2")
                .bind(time_zone)
                .bind(id),
        )
        .await
    }

    /// An editor's change to the name, frequency and zone, recorded in the history.
    pub async fn update_subscriber_details(
        &self,
        id: i64,
        edit: &AdminEdit<'_>,
        now: i64,
    ) -> StoreResult<Subscriber> {
        let update =
            query("UPDATE subscribers SET name = $1, frequency = $2, time_zone = $3 WHERE id = $4")
                .bind(edit.name)
                .bind(edit.frequency.as_str())
                .bind(edit.time_zone)
                .bind(id);
        self.change_subscriber(id, update, "details changed", Some("by an editor"), now)
            .await
    }

    /// For an import that updates existing addresses: sets the name, frequency and zone
    /// the file gives (a blank cell keeps what is stored) on the rows whose address is
    /// already present. Never the status: a file cannot prove that someone opted in
    /// again. Returns the `email_key`s updated.
    pub async fn update_imported(&self, rows: &[ImportRow], now: i64) -> StoreResult<Vec<String>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let values = values_list(rows.len(), 1, 4, |p| {
            format!(
                "({}, CAST({} AS TEXT), CAST({} AS TEXT), CAST({} AS TEXT))",
                p[0], p[1], p[2], p[3]
            )
        });
        let update = format!(
            "WITH v (k, n, f, tz) AS (VALUES {values}) \
             UPDATE subscribers SET name = COALESCE(v.n, subscribers.name), \
             frequency = COALESCE(v.f, subscribers.frequency), \
             time_zone = COALESCE(v.tz, subscribers.time_zone) \
             FROM v WHERE subscribers.email_key = v.k RETURNING subscribers.id, subscribers.email_key"
        );
        let mut q = query(AssertSqlSafe(update));
        for r in rows {
            q = q
                .bind(r.email.key())
                .bind(r.name.as_deref())
                .bind(r.frequency.map(Frequency::as_str))
                .bind(r.time_zone.as_deref());
        }
        self.write_import_batch(q, "details changed", "by an import", now)
            .await
    }
}

/// Where an uploaded file is on its way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportState {
    /// Stored, waiting for the editor to map its columns and start it.
    Uploaded,
    Running,
    Done,
    /// Stopped part-way; the report says how far it got.
    Failed,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uploaded => "uploaded",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "uploaded" => Ok(Self::Uploaded),
            "running" => Ok(Self::Running),
            "done" => Ok(Self::Done),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::Corrupt(format!(
                "unknown import state {other:?}"
            ))),
        }
    }
}

/// An uploaded import as stored. `options` and `report` are JSON owned by
/// `subscribers::import`; the store keeps them as text.
#[derive(Debug, Clone)]
pub struct ImportJob {
    pub id: i64,
    pub admin_id: i64,
    pub file_name: String,
    pub path: String,
    pub size_bytes: i64,
    pub state: ImportState,
    pub options: Option<String>,
    pub bytes_done: i64,
    pub report: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

type ImportJobRow = (
    i64,
    i64,
    String,
    String,
    i64,
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

impl Store {
    pub async fn insert_import(
        &self,
        admin_id: i64,
        file_name: &str,
        path: &str,
        size_bytes: i64,
        now: i64,
    ) -> StoreResult<i64> {
        let id: i64 = self.scalar(query(
            "INSERT INTO subscriber_imports (admin_id, file_name, path, size_bytes, state, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'uploaded', $5, $5) RETURNING id",
        )
        .bind(admin_id)
        .bind(file_name)
        .bind(path)
        .bind(size_bytes)
        .bind(now)).await?;
        Ok(id)
    }

    pub async fn import_job(&self, id: i64) -> StoreResult<ImportJob> {
        let row: Option<ImportJobRow> = self.fetch_optional(query(
            "SELECT id, admin_id, file_name, path, size_bytes, state, options, bytes_done, report, error, \
             created_at, updated_at FROM subscriber_imports WHERE id = $1",
        )
        .bind(id)).await?;
        let r = row.ok_or(StoreError::NotFound)?;
        Ok(ImportJob {
            id: r.0,
            admin_id: r.1,
            file_name: r.2,
            path: r.3,
            size_bytes: r.4,
            state: ImportState::parse(&r.5)?,
            options: r.6,
            bytes_done: r.7,
            report: r.8,
            error: r.9,
            created_at: r.10,
            updated_at: r.11,
        })
    }

    /// Moves an uploaded import to running with its options; false if it was not waiting
    /// (already started by a second click), so it runs once.
    pub async fn start_import(&self, id: i64, options: &str, now: i64) -> StoreResult<bool> {
        let n = self.exec(query(
            "UPDATE subscriber_imports SET state = 'running', options = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'uploaded'",
        )
        .bind(options)
        .bind(now)
        .bind(id)).await?;
        Ok(n == 1)
    }

    /// Records how far a running import has read; `updated_at` doubles as its heartbeat.
    pub async fn import_progress(&self, id: i64, bytes_done: i64, now: i64) -> StoreResult<()> {
        self.exec(query(
            "UPDATE subscriber_imports SET bytes_done = $1, updated_at = $2 WHERE id = $3 AND state = 'running'",
        )
        .bind(bytes_done)
        .bind(now)
        .bind(id)).await?;
        Ok(())
    }

    /// Ends an import, done or failed, with its report (and the reason when it failed).
    pub async fn finish_import(
        &self,
        id: i64,
        state: ImportState,
        report: &str,
        error: Option<&str>,
        bytes_done: i64,
        now: i64,
    ) -> StoreResult<()> {
        self.exec(query(
            "UPDATE subscriber_imports SET state = $1, report = $2, error = $3, bytes_done = $4, updated_at = $5 \
             WHERE id = $6",
        )
        .bind(state.as_str())
        .bind(report)
        .bind(error)
        .bind(bytes_done)
        .bind(now)
        .bind(id)).await?;
        Ok(())
    }
}
