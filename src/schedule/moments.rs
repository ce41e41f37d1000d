//! The moment each reader gets an issue, with delivery in each reader's zone.
//!
//! The rule, once: with [`DeliveryMode::Local`], a reader gets the daily (or weekly)
//! issue of date D at the schedule's send time on D in their own zone (DST-correct, by
//! the schedule's gap and overlap rules); readers without a zone, or with one no longer
//! valid, use the publication's. The moment is fixed on the reader's delivery row at
//! fan-out, so a reader who changes zone mid-issue is sent once, at the moment computed
//! then. A moment already past when the issue goes out (the reader's day is further on
//! than the issue's date, or the issue was approved late) means at once. Special
//! editions, and everything in [`DeliveryMode::Moment`], go to everyone at once.
//!
//! Reads the schedule row without seeding it (delivery calls this, and must not depend
//! on the scheduler's runner).

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

use super::{DailyRule, FIRST_ZONE, parse_days, parse_time, parse_zone};
use crate::{
    app::App,
    store::{
        deliveries::{SendMoments, ZoneMoment},
        digests::{Digest, EditionKind},
        schedules::{DeliveryMode, Schedule},
    },
};

/// The stored daily rule, when there is a valid one.
fn stored_rule(s: &Schedule) -> Option<DailyRule> {
    Some(DailyRule {
        time: parse_time(s.send_time.as_deref()?).ok()?,
        zone: parse_zone(&s.time_zone).ok()?,
        days: parse_days(s.days.split(',')).ok()?,
    })
}

/// Each reader zone's moment for `digest`, or `None` when everyone gets it at once.
pub async fn moments(app: &App, digest: &Digest) -> anyhow::Result<Option<SendMoments>> {
    let Some(schedule) = app.store.find_daily_schedule().await? else {
        return Ok(None);
    };
    if schedule.delivery != DeliveryMode::Local || digest.kind == EditionKind::Special {
        return Ok(None);
    }
    let Some(rule) = stored_rule(&schedule) else {
        tracing::warn!("the daily schedule is invalid; sending to every zone at once");
        return Ok(None);
    };
    let at = |zone: Tz| rule.moment_in(zone, digest.issue_date).timestamp_millis();
    let zones = app
        .store
        .audience_zones(digest.kind, app.now_ms())
        .await?
        .into_iter()
        .flatten()
        .filter_map(|stored| {
            let zone = parse_zone(&stored).ok()?;
            Some(ZoneMoment {
                zone: zone.name().to_string(),
                not_before: at(zone),
                stored,
            })
        })
        .collect();
    Ok(Some(SendMoments {
        fallback_zone: rule.zone.name().to_string(),
        fallback_not_before: at(rule.zone),
        zones,
    }))
}

/// The next issue a reader confirming now will get, and when it reaches them, in
/// their zone (`None`: the publication's): the next daily issue not yet fired nor sent
/// early (those were fanned out before they joined). `None` when paused or not scheduled.
pub async fn next_for_reader(
    app: &App,
    reader_zone: Option<Tz>,
) -> anyhow::Result<Option<(NaiveDate, DateTime<Tz>)>> {
    let Some(schedule) = app.store.find_daily_schedule().await? else {
        return Ok(None);
    };
    let Some(rule) = stored_rule(&schedule).filter(|_| !schedule.paused) else {
        return Ok(None);
    };
    let zone = reader_zone.unwrap_or(rule.zone);
    let firing = match schedule.delivery {
        DeliveryMode::Moment => rule.clone(),
        DeliveryMode::Local => DailyRule {
            zone: FIRST_ZONE,
            ..rule.clone()
        },
    };
    let Some((date, fire)) = super::daily::next_daily_sends(app, &firing, 1)
        .await
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let reaches = match schedule.delivery {
        DeliveryMode::Moment => fire.instant(),
        DeliveryMode::Local => rule.moment_in(zone, date),
    };
    Ok(Some((date, reaches.with_timezone(&zone))))
}

/// "The next issue goes out on Sunday 8 March at 07:00 EDT, your time (America/New_York)."
/// for the confirmed page: the first issue a reader confirming now gets, in their zone
/// (without one, the publication's, and no "your time"). `None` when nothing is
/// scheduled or the schedule cannot be read (logged).
pub async fn first_issue_sentence(app: &App, reader_zone: Option<&str>) -> Option<String> {
    let zone = reader_zone.and_then(|z| parse_zone(z).ok());
    let (_, at) = next_for_reader(app, zone)
        .await
        .inspect_err(|e| tracing::warn!(error = %format!("{e:#}"), "cannot read the schedule"))
        .ok()??;
    let yours = zone.map_or(String::new(), |z| format!(", your time ({})", z.name()));
    Some(format!(
        "The next issue goes out on {} at {}{yours}.",
        at.format("%A %-d %B"),
        at.format("%H:%M %Z"),
    ))
}
