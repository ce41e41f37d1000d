//! The edition: the one owner of which issue goes out, whether it is ready, whether there
//! is anything in it, who receives it, and starting its delivery.
//!
//! The scheduler (when), the admin ("Send now", approval, special editions) and the CLI
//! (`digest send`) all reach delivery through [`send`]. The rules live here once:
//! - *which issue*: [`resolve`] — by id, by date, "today" ([`today`]: in the
//!   publication's zone, [`zone`], read from the schedule row, the one source; in UTC+14
//!   with delivery in each reader's zone, [`issue_zone`]), or the scheduler's due one;
//!   a daily issue is never sent before its day (an extra issue on the same day is a
//!   special edition: [`new_special`]);
//! - *nothing to send*: [`nothing_to_send`];
//! - *audience*: [`crate::store::digests::audience_sql`] (daily and special editions go
//!   to daily readers, the weekly edition to weekly readers), counted by [`audience`];
//! - *when each reader gets it*: [`crate::schedule::moments`] (fixed per delivery row at
//!   fan-out);
//! - *approval*: in approval mode a scheduled issue goes out only once approved; at the
//!   send time an unapproved one is held (see [`review`]).

pub mod review;
pub mod test_copy;

use anyhow::Context;
use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;

use crate::{
    app::App,
    digest::compose::{self, Composition},
    schedule::{FIRST_ZONE, parse_days, parse_zone, runner},
    store::{
        StoreError,
        digests::{Digest, DigestStatus, EditionKind},
        schedules::{DeliveryMode, ScheduleMode},
    },
};

/// Which issue an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// A particular digest (a daily, special or weekly edition).
    Digest(i64),
    /// The daily issue of a date.
    Date(NaiveDate),
    /// Today's daily issue in the publication's zone ("Send now").
    Today,
    /// The scheduler's due send of `kind` for `date`.
    Scheduled { date: NaiveDate, kind: EditionKind },
}

/// Who asked: approval and the pre-send fetch apply to the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Scheduler,
    Editor(i64),
    Cli,
}

/// What [`send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Delivery started; `recipients` is the audience at the moment it started.
    Started { digest_id: i64, recipients: i64 },
    /// Nothing to send by [`nothing_to_send`]; the digest is marked skipped.
    NothingToSend { digest_id: i64 },
    /// The issue already went out (or is going out); nothing was done.
    AlreadyOut { digest_id: i64 },
    /// Approval mode, not approved by the send time: recorded as held.
    Held { digest_id: i64 },
}

/// What [`prepare`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    Ready(i64),
    NothingToSend(i64),
    AlreadyOut(i64),
}

/// The publication's time zone: the schedule row's (which the configuration seeds on
/// first start and editors change in /admin/schedule). Dates, "today", "on this day"
/// and the scheduler all use this.
pub async fn zone(app: &App) -> Tz {
    match runner::daily_schedule(app).await {
        Ok(s) => parse_zone(&s.time_zone).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the schedule's time zone is invalid; using UTC");
            Tz::UTC
        }),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot read the schedule; using the configured time zone");
            app.config.schedule.time_zone.parse().unwrap_or(Tz::UTC)
        }
    }
}

/// The zone whose date is today's issue: the publication's; with delivery in each
/// reader's zone, [`FIRST_ZONE`] (UTC+14), since the issue of a date goes out there first
/// and reaches the last readers (UTC−12) a day later. So in that mode "today's issue"
/// turns over at midnight UTC+14, and a daily issue may be sent from its date there.
pub async fn issue_zone(app: &App) -> Tz {
    match runner::daily_schedule(app).await.map(|s| s.delivery) {
        Ok(DeliveryMode::Local) => FIRST_ZONE,
        _ => zone(app).await,
    }
}

/// Today's issue date: today in [`issue_zone`].
pub async fn today(app: &App) -> NaiveDate {
    issue_date_at(app, app.clock.now()).await
}

/// The issue date of a send at `at`: its date in [`issue_zone`], the rule "today" uses
/// (a one-off send at 01:00 in Auckland on the 2nd sends a London paper's 1 December
/// issue, not the 2nd's a day early).
pub async fn issue_date_at(app: &App, at: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    let zone = issue_zone(app).await;
    at.with_timezone(&zone).date_naive()
}

/// Whether the scheduler makes the edition of `kind` at all: not a weekly edition
/// without weekly readers (it would be an empty entry in the archive and the admin). The
/// daily issue is always made (the archive is its readers too).
pub async fn wanted(app: &App, kind: EditionKind) -> anyhow::Result<bool> {
    Ok(kind != EditionKind::Weekly || audience(app, kind).await? > 0)
}

/// How many subscribers an edition of `kind` goes to now (the fan-out's rule).
pub async fn audience(app: &App, kind: EditionKind) -> anyhow::Result<i64> {
    Ok(app.store.count_audience(kind, app.now_ms()).await?)
}

/// The weekly edition's day, from `subscribers.weekly_day`.
pub fn weekly_day(app: &App) -> Weekday {
    parse_days([app.config.subscribers.weekly_day.as_str()])
        .ok()
        .and_then(|d| d.first().copied())
        .unwrap_or(Weekday::Sun)
}

/// The one "nothing to send" rule: no article and no editor's note, on a schedule that
/// skips such days. A note-only issue is sent.
pub fn nothing_to_send(c: &compose::Composed, skip_when_empty: bool) -> bool {
    skip_when_empty && c.articles == 0 && !c.has_note
}

/// Composes `digest` (unless an editor approved it: what was approved is what goes
/// out) and applies [`nothing_to_send`], marking it skipped when there is nothing.
pub async fn prepare(app: &App, digest: &Digest) -> anyhow::Result<Prepared> {
    if digest.status.is_out() {
        return Ok(Prepared::AlreadyOut(digest.id));
    }
    if digest.status == DigestStatus::Approved {
        return Ok(Prepared::Ready(digest.id));
    }
    // A digest stored ready-made (an import, a benchmark) has no composer's templates:
    // it is sent as stored.
    if digest.status == DigestStatus::Composed
        && app.store.digest_templates(digest.id).await?.is_none()
    {
        return Ok(Prepared::Ready(digest.id));
    }
    let zone = zone(app).await;
    let composed = match compose::compose(app, digest, zone).await? {
        Composition::AlreadyOut(id) => return Ok(Prepared::AlreadyOut(id)),
        Composition::Composed(c) => c,
    };
    let skip = runner::daily_schedule(app).await?.skip_when_empty;
    if nothing_to_send(&composed, skip) {
        app.store
            .mark_digest_skipped(digest.id, app.now_ms())
            .await?;
        tracing::info!(digest_id = digest.id, date = %digest.issue_date, "nothing to send: digest skipped");
        return Ok(Prepared::NothingToSend(digest.id));
    }
    Ok(Prepared::Ready(digest.id))
}

/// An editor changed an approved issue: the approval covered what they saw, so it is
/// withdrawn (recorded) and the issue recomposed.
pub async fn revise(app: &App, digest: &Digest) -> anyhow::Result<Prepared> {
    if digest.status == DigestStatus::Approved {
        app.store
            .transition_digest(
                digest.id,
                &[DigestStatus::Approved],
                DigestStatus::Composed,
                "approval withdrawn",
                Some("edited after approval"),
                app.now_ms(),
            )
            .await?;
    }
    let digest = app.store.digest(digest.id).await?;
    prepare(app, &digest).await
}

/// Finds (creating when needed) the digest `which` names. Refuses a daily issue for a
/// day that has not come yet: it goes out on its day, by the schedule.
pub async fn resolve(app: &App, which: Which) -> anyhow::Result<Digest> {
    let now = app.now_ms();
    let digest = match which {
        Which::Digest(id) => match app.store.digest(id).await {
            Ok(d) => d,
            Err(StoreError::NotFound) => anyhow::bail!("there is no digest {id}"),
            Err(e) => return Err(e.into()),
        },
        Which::Date(date) => app.store.get_or_create_digest(date, now).await?,
        Which::Today => {
            let today = today(app).await;
            app.store.get_or_create_digest(today, now).await?
        }
        Which::Scheduled { date, kind } => {
            return Ok(app.store.get_or_create_edition(date, kind, now).await?);
        }
    };
    let today = today(app).await;
    if digest.issue_date > today && !digest.status.is_out() {
        anyhow::bail!(
            "the issue for {} goes out on its day, by the schedule; today is {}. \
             To send something today, send today's issue or a special edition",
            digest.issue_date.format("%A %-d %B %Y"),
            today.format("%A %-d %B")
        );
    }
    Ok(digest)
}

/// A new special edition for today: an extra issue with its own subject, number and
/// archive entry, for after today's issue went out. Refused before that (send today's
/// issue instead). An unsent special edition of today is returned rather than a second.
pub async fn new_special(app: &App) -> anyhow::Result<Digest> {
    let today = today(app).await;
    let daily_out = app
        .store
        .digest_for_date(today)
        .await?
        .is_some_and(|d| d.status.is_out());
    if !daily_out {
        anyhow::bail!(
            "today's issue has not gone out yet: send it (or wait for the schedule) before a special edition"
        );
    }
    let editions = app.store.editions_of_date(today).await?;
    if let Some(open) = editions
        .into_iter()
        .find(|d| d.kind == EditionKind::Special && !d.status.is_out())
    {
        return Ok(open);
    }
    Ok(app
        .store
        .create_special_edition(today, app.now_ms())
        .await?)
}

/// The one operation that reaches delivery: resolves the issue, composes it if needed,
/// applies the "nothing to send" rule and (for the scheduler) approval, and starts the
/// send. A send another editor or process already started is refused with the reason.
pub async fn send(app: &App, which: Which, by: By) -> anyhow::Result<Outcome> {
    let digest = resolve(app, which).await?;
    if digest.status.is_out() {
        return Ok(Outcome::AlreadyOut {
            digest_id: digest.id,
        });
    }
    let scheduled = matches!(which, Which::Scheduled { .. });
    if scheduled {
        prefetch(app).await;
    }
    let digest_id = match prepare(app, &digest).await? {
        Prepared::AlreadyOut(id) => return Ok(Outcome::AlreadyOut { digest_id: id }),
        Prepared::NothingToSend(id) => return Ok(Outcome::NothingToSend { digest_id: id }),
        Prepared::Ready(id) => id,
    };
    if scheduled && runner::daily_schedule(app).await?.mode == ScheduleMode::Approval {
        let current = app.store.digest(digest_id).await?;
        if current.status != DigestStatus::Approved {
            return review::hold(app, &current).await;
        }
    }
    let recipients = audience(app, digest.kind).await?;
    crate::delivery::start_send(app, digest_id).await?;
    tracing::info!(digest = digest_id, kind = digest.kind.as_str(), by = ?by, recipients, "edition send started");
    Ok(Outcome::Started {
        digest_id,
        recipients,
    })
}

/// Fetches every feed before a scheduled compose, so that what the feeds published up to
/// the send time is in the issue. Bounded by `schedule.prefetch_secs`: a slow or failing
/// feed is logged and never holds the send back past that.
pub async fn prefetch(app: &App) {
    let limit = std::time::Duration::from_secs(app.config.schedule.prefetch_secs.max(1));
    match tokio::time::timeout(limit, crate::feeds::ingest::fetch_all(app)).await {
        Ok(Ok(reports)) => tracing::info!(feeds = reports.len(), "feeds fetched before the send"),
        Ok(Err(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "fetching the feeds before the send failed; composing with what is stored")
        }
        Err(_) => tracing::warn!(
            seconds = limit.as_secs(),
            "fetching the feeds before the send took too long; composing with what is stored"
        ),
    }
}

/// When the `[schedule]` of the configuration file differs from the stored schedule
/// (which wins after the first start), the warning that says so: both values and where
/// to change them. `None` when they agree.
pub async fn config_drift(app: &App) -> anyhow::Result<Option<String>> {
    let stored = runner::daily_schedule(app).await?;
    let c = &app.config.schedule;
    let mut diffs = Vec::new();
    if stored.send_time.as_deref() != Some(c.send_time.as_str()) {
        diffs.push(format!(
            "send_time {:?} (config) vs {:?} (schedule)",
            c.send_time,
            stored.send_time.as_deref().unwrap_or("")
        ));
    }
    if stored.time_zone != c.time_zone {
        diffs.push(format!(
            "time_zone {:?} (config) vs {:?} (schedule)",
            c.time_zone, stored.time_zone
        ));
    }
    let days = c.days.join(",");
    if parse_days(stored.days.split(',')).ok() != parse_days(days.split(',')).ok() {
        diffs.push(format!(
            "days {days:?} (config) vs {:?} (schedule)",
            stored.days
        ));
    }
    if stored.mode.as_str() != c.mode {
        diffs.push(format!(
            "mode {:?} (config) vs {:?} (schedule)",
            c.mode,
            stored.mode.as_str()
        ));
    }
    if stored.delivery.as_str() != c.delivery {
        diffs.push(format!(
            "delivery {:?} (config) vs {:?} (schedule)",
            c.delivery,
            stored.delivery.as_str()
        ));
    }
    // Seeded from `[digest]`, but stored with the schedule like the rest.
    let skip = app.config.digest.skip_when_empty;
    if stored.skip_when_empty != skip {
        diffs.push(format!(
            "skip_when_empty {skip} (config, [digest]) vs {} (schedule)",
            stored.skip_when_empty
        ));
    }
    if diffs.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!(
        "the [schedule] in the configuration differs from the stored schedule, which is the one in use: {}. \
         Change the schedule in /admin/schedule; the configuration only seeds it on first start",
        diffs.join("; ")
    )))
}

/// What [`compose_for_date`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposeOutcome {
    /// The digest is stored (or refreshed) and ready to preview or send.
    Composed(i64),
    /// Nothing to send by the edition's one rule ([`nothing_to_send`]);
    /// the date's digest is marked skipped.
    SkippedNothingNew,
    /// The digest for that date is already sending or sent; it is never recomposed.
    AlreadySent(i64),
}

/// Composes the daily issue for `date` and applies the edition's "nothing to send" rule
/// (for previews, tools and tests; sending goes through [`send`]).
pub async fn compose_for_date(app: &App, date: NaiveDate) -> anyhow::Result<ComposeOutcome> {
    let digest = app.store.get_or_create_digest(date, app.now_ms()).await?;
    Ok(
        match prepare(app, &digest)
            .await
            .with_context(|| format!("cannot compose the digest for {date}"))?
        {
            Prepared::Ready(id) => ComposeOutcome::Composed(id),
            Prepared::NothingToSend(_) => ComposeOutcome::SkippedNothingNew,
            Prepared::AlreadyOut(id) => ComposeOutcome::AlreadySent(id),
        },
    )
}
