//! The scheduler's tick: find what is due, claim it, fire it, record what happened.
//!
//! Every process (`serve` and each `worker`) ticks; claiming through `schedule_runs`
//! makes sure one of them fires each send. A send missed while every process was down
//! goes out when one comes back if it is at most `schedule.grace_minutes` late, and is
//! recorded as missed otherwise. Sends whose time came before the schedule was last
//! changed are not fired retroactively: editing the time to 06:00 at 09:00 does not send.
//! A firing that fails is recorded as failed and not retried by the scheduler (an
//! editor can send from the admin); retrying blindly could send at an unexpected hour.
//! A process that dies between claiming and recording leaves the claim "firing"; after
//! ten minutes (and still within the grace window) another process takes it over.
//! With delivery in each reader's zone the daily and weekly issues fire by
//! [`firing_rule_of`] (the send time in UTC+14); each reader's row then waits for their
//! own send time (see [`super::moments`]).

use chrono::{DateTime, Utc};

use super::{DailyRule, FIRST_ZONE, parse_zone, within_grace};
use crate::{
    app::App,
    domain::clock::from_ms,
    edition::{self, By, Outcome, Which, review},
    store::{
        digests::EditionKind,
        schedules::{DeliveryMode, Schedule, ScheduleMode},
    },
};

/// What one firing did, as recorded in `schedule_runs.outcome`.
pub const OUTCOME_CLAIMED: &str = "firing";
pub const OUTCOME_SENT: &str = "sent";
pub const OUTCOME_SKIPPED: &str = "skipped: nothing new";
pub const OUTCOME_ALREADY_SENT: &str = "already sent";
pub const OUTCOME_HELD: &str = "held: not approved by the send time";
pub const OUTCOME_MISSED: &str = "missed: the service was down past the grace window";

pub use super::daily::{daily_schedule, rule_of};

/// The rule the scheduler fires the daily issue by: the stored rule, except that with
/// delivery in each reader's zone it fires in [`FIRST_ZONE`] (before any reader's send
/// time on the issue's date; each reader's row then waits for their own).
pub fn firing_rule_of(s: &Schedule) -> Result<DailyRule, String> {
    let rule = rule_of(s)?;
    Ok(match s.delivery {
        DeliveryMode::Moment => rule,
        DeliveryMode::Local => DailyRule {
            zone: FIRST_ZONE,
            ..rule
        },
    })
}

/// The weekly edition's firing rule: the daily one's time and zone, on the weekly day.
pub fn weekly_rule_of(app: &App, s: &Schedule) -> Result<DailyRule, String> {
    Ok(DailyRule {
        days: vec![edition::weekly_day(app)],
        ..firing_rule_of(s)?
    })
}

/// The `schedule_runs` key of one firing: the local date, with the edition for the
/// weekly one (the daily and weekly editions of one day are two firings).
fn run_key(date: chrono::NaiveDate, kind: EditionKind) -> String {
    match kind {
        EditionKind::Weekly => format!("{date} weekly"),
        _ => date.to_string(),
    }
}

/// One round: fires every due send this process manages to claim; returns how many.
pub async fn tick(app: &App) -> anyhow::Result<usize> {
    let now = app.clock.now();
    let mut fired = 0;
    let daily = daily_schedule(app).await?;
    if !daily.paused {
        fired += tick_daily(app, &daily, now).await?;
    }
    for one_off in app.store.pending_one_offs().await? {
        fired += tick_one_off(app, &one_off, now).await?;
    }
    Ok(fired)
}

async fn tick_daily(app: &App, s: &Schedule, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let rules = match (firing_rule_of(s), weekly_rule_of(app, s)) {
        (Ok(d), Ok(w)) => [(EditionKind::Daily, d), (EditionKind::Weekly, w)],
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(schedule = s.id, error = %e, "daily schedule is invalid; not firing");
            return Ok(0);
        }
    };
    let mut fired = 0;
    for (kind, rule) in &rules {
        // The edition decides whether this edition is made at all (no weekly readers, no
        // weekly edition); the scheduler only says when.
        if !edition::wanted(app, *kind).await? {
            continue;
        }
        if s.mode == ScheduleMode::Approval {
            review_if_due(app, s, rule, *kind, now).await;
        }
        for (date, due) in rule.recent_fires(now) {
            if due < from_ms(s.updated_at) {
                continue;
            }
            let key = run_key(date, *kind);
            if !within_grace(due, now, app.config.schedule.grace_minutes) {
                if app
                    .store
                    .claim_schedule_run(s.id, &key, OUTCOME_MISSED, app.now_ms())
                    .await?
                {
                    tracing::warn!(schedule = s.id, date = %key, "scheduled send missed: past the grace window");
                }
                continue;
            }
            if !claim(app, s.id, &key).await? {
                continue;
            }
            tracing::info!(schedule = s.id, date = %key, kind = kind.as_str(), "firing the scheduled edition");
            let which = Which::Scheduled { date, kind: *kind };
            let (digest_id, outcome) = describe(edition::send(app, which, By::Scheduler).await);
            app.store
                .finish_schedule_run(s.id, &key, digest_id, &outcome)
                .await?;
            fired += 1;
        }
    }
    Ok(fired)
}

/// In approval mode, within the lead time before the next send: compose it and ask the
/// editors to review it. Failures are logged; the send itself still holds the issue.
async fn review_if_due(
    app: &App,
    s: &Schedule,
    rule: &DailyRule,
    kind: EditionKind,
    now: DateTime<Utc>,
) {
    let Some((date, at)) = rule.next_fires(now, 1).into_iter().next() else {
        return;
    };
    let due = at.instant();
    if now < due - review::lead(app) {
        return;
    }
    if let Err(e) = review::compose_for_review(app, date, kind, due).await {
        tracing::warn!(schedule = s.id, date = %date, error = %format!("{e:#}"), "composing the issue for review failed");
    }
}

/// The digest and the `schedule_runs` outcome of one firing.
fn describe(result: anyhow::Result<Outcome>) -> (Option<i64>, String) {
    match result {
        Ok(Outcome::Started { digest_id, .. }) => (Some(digest_id), OUTCOME_SENT.into()),
        Ok(Outcome::NothingToSend { digest_id }) => (Some(digest_id), OUTCOME_SKIPPED.into()),
        Ok(Outcome::AlreadyOut { digest_id }) => (Some(digest_id), OUTCOME_ALREADY_SENT.into()),
        Ok(Outcome::Held { digest_id }) => (Some(digest_id), OUTCOME_HELD.into()),
        Err(e) => (None, format!("failed: {e:#}")),
    }
}

async fn tick_one_off(app: &App, s: &Schedule, now: DateTime<Utc>) -> anyhow::Result<usize> {
    // A one-off whose stored zone is not valid is not fired (as before): it was
    // scheduled for a moment told in that zone.
    let (Some(run_at), Ok(_)) = (s.run_at, parse_zone(&s.time_zone)) else {
        return Ok(0);
    };
    let due = from_ms(run_at);
    if due > now || s.paused {
        return Ok(0);
    }
    // The one-off's zone says when it fires; which issue it sends is the edition's
    // one "today" rule, applied at its moment.
    let date = edition::issue_date_at(app, due).await;
    let key = date.to_string();
    if !within_grace(due, now, app.config.schedule.grace_minutes) {
        app.store
            .claim_schedule_run(s.id, &key, OUTCOME_MISSED, app.now_ms())
            .await?;
        return Ok(0);
    }
    if !claim(app, s.id, &key).await? {
        return Ok(0);
    }
    // An editor scheduled this send on purpose: it is their approval.
    let which = match s.digest_id {
        Some(id) => Which::Digest(id),
        None => Which::Date(date),
    };
    let (digest_id, outcome) = describe(edition::send(app, which, By::Scheduler).await);
    app.store
        .finish_schedule_run(s.id, &key, digest_id.or(s.digest_id), &outcome)
        .await?;
    Ok(1)
}

/// A claim still marked as firing after this long belongs to a process that died
/// mid-fire; another process may take it over. Firing twice cannot send twice: delivery
/// refuses to start a digest that is already sending or sent.
const STALE_CLAIM_MS: i64 = 10 * 60 * 1000;

/// Claims a send: a fresh claim, or one left behind by a process that died mid-fire.
async fn claim(app: &App, schedule_id: i64, key: &str) -> anyhow::Result<bool> {
    let now = app.now_ms();
    if app
        .store
        .claim_schedule_run(schedule_id, key, OUTCOME_CLAIMED, now)
        .await?
    {
        return Ok(true);
    }
    let taken = app
        .store
        .reclaim_stale_run(schedule_id, key, OUTCOME_CLAIMED, now - STALE_CLAIM_MS, now)
        .await?;
    if taken {
        tracing::warn!(schedule = schedule_id, date = %key, "taking over a send whose process stopped mid-fire");
    }
    Ok(taken)
}

/// Starts the tick loop (both roles).
pub fn spawn(app: &App, shutdown: &crate::shutdown::Shutdown) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    let every = std::time::Duration::from_secs(app.config.schedule.tick_secs.max(1));
    let warn_app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::feeds::ingest::check_category_sections(&warn_app).await {
            tracing::error!(error = %format!("{e:#}"), "the configuration's category mapping needs fixing");
        }
        match edition::config_drift(&warn_app).await {
            Ok(Some(warning)) => tracing::warn!("{warning}"),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot compare the configured schedule with the stored one")
            }
        }
    });
    crate::shutdown::every("scheduler", every, shutdown.clone(), move || {
        let app = app.clone();
        async move {
            tick(&app).await?;
            // Expired admin sessions are useless; forgetting them here keeps the table small
            // without another loop.
            app.store.delete_expired_sessions(app.now_ms()).await?;
            Ok(())
        }
    })
}
