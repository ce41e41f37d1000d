//! The stored daily schedule and the rule it describes: read by the runner, the edition,
//! the archive and the admin pages. Apart from the runner so that the edition, which the
//! runner fires, can read the schedule without depending on the runner.

use chrono::NaiveDate;

use super::{DailyRule, LocalInstant, parse_days, parse_time, parse_zone};
use crate::{
    app::App,
    store::{
        digests::EditionKind,
        schedules::{DailySettings, Schedule, ScheduleMode},
    },
};

/// The daily schedule, created from the configuration on first use.
pub async fn daily_schedule(app: &App) -> anyhow::Result<Schedule> {
    let c = &app.config.schedule;
    let days = c.days.join(",");
    let defaults = DailySettings {
        send_time: &c.send_time,
        time_zone: &c.time_zone,
        days: &days,
        skip_when_empty: app.config.digest.skip_when_empty,
        mode: c.mode.parse().unwrap_or(ScheduleMode::Approval),
        delivery: c.delivery.parse().unwrap_or_default(),
    };
    Ok(app.store.daily_schedule(&defaults, app.now_ms()).await?)
}

/// The rule a stored daily schedule describes.
pub fn rule_of(s: &Schedule) -> Result<DailyRule, String> {
    Ok(DailyRule {
        time: parse_time(s.send_time.as_deref().unwrap_or(""))?,
        zone: parse_zone(&s.time_zone)?,
        days: parse_days(s.days.split(','))?,
    })
}

/// The daily schedule `rule`'s next `n` sends: its next fires, leaving out a fire whose
/// day's issue has already gone out ("Send now" before the send time), since that fire
/// finds it out and sends nothing. The composer, the schedule page, the archive's
/// "next issue" line and the confirmed page all say when the next issue goes out from this.
pub async fn next_daily_sends(
    app: &App,
    rule: &DailyRule,
    n: usize,
) -> Vec<(NaiveDate, LocalInstant)> {
    let mut sends = Vec::with_capacity(n);
    // A week more than asked: each day whose issue is out is passed over.
    for (date, at) in rule.next_fires(app.clock.now(), n + 7) {
        let out = app
            .store
            .edition_for_date(date, EditionKind::Daily)
            .await
            .ok()
            .flatten()
            .is_some_and(|d| d.status.is_out());
        if !out && sends.len() < n {
            sends.push((date, at));
        }
    }
    sends
}
