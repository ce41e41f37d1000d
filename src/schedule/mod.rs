//! When digests go out: the daily rule (a local time in an IANA zone on chosen weekdays),
//! one-off sends, and the tick that fires whatever is due exactly once.
//!
//! Times are computed in the schedule's own zone, so "07:00 Europe/London" is 07:00 on
//! both sides of a clock change. Two local times need a rule:
//! - a time that does not exist that night (the spring-forward gap, e.g. 01:30 in London
//!   on the last Sunday of March) fires at the first instant after the gap — the moment
//!   the clocks jump, which is the earliest that local time "has passed". One-offs in a
//!   gap are refused in the form instead, since the editor picked that night on purpose.
//! - a time that happens twice (the fall-back overlap) fires once, at the first occurrence.
//!
//! Delivery in each reader's zone ([`crate::store::schedules::DeliveryMode::Local`]):
//! the scheduler fires the issue of a date at the send time in [`FIRST_ZONE`], where
//! every date begins first, and each reader's row waits for [`DailyRule::moment_in`]
//! their own zone (see [`moments`]).
//!
//! Exactly once: a due send is claimed by inserting the (schedule, local date) row into
//! `schedule_runs`; whichever process's insert lands fires it, the others see the row.

pub mod daily;
pub mod moments;
pub mod runner;

use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

/// The weekdays in order, with the short names stored in `schedules.days`.
pub const WEEKDAYS: [(Weekday, &str, &str); 7] = [
    (Weekday::Mon, "mon", "Monday"),
    (Weekday::Tue, "tue", "Tuesday"),
    (Weekday::Wed, "wed", "Wednesday"),
    (Weekday::Thu, "thu", "Thursday"),
    (Weekday::Fri, "fri", "Friday"),
    (Weekday::Sat, "sat", "Saturday"),
    (Weekday::Sun, "sun", "Sunday"),
];

pub fn weekday_key(day: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|(d, _, _)| *d == day)
        .map_or("mon", |(_, k, _)| k)
}

/// Parses "mon,tue" (or full names, any case); unknown names are an error naming them.
pub fn parse_days<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Weekday>, String> {
    let mut days = Vec::new();
    for raw in items {
        let item = raw.trim().to_ascii_lowercase();
        if item.is_empty() {
            continue;
        }
        let day = WEEKDAYS
            .iter()
            .find(|(_, k, full)| item == *k || item == full.to_ascii_lowercase())
            .map(|(d, _, _)| *d)
            .ok_or_else(|| format!("{raw:?} is not a day of the week (use mon, tue, … sun)"))?;
        if !days.contains(&day) {
            days.push(day);
        }
    }
    days.sort_by_key(|d| d.num_days_from_monday());
    Ok(days)
}

pub fn days_to_string(days: &[Weekday]) -> String {
    days.iter()
        .map(|d| weekday_key(*d))
        .collect::<Vec<_>>()
        .join(",")
}

/// "07:00" or "7:00" (24-hour clock).
pub fn parse_time(raw: &str) -> Result<NaiveTime, String> {
    let raw = raw.trim();
    NaiveTime::parse_from_str(raw, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M:%S"))
        .map_err(|_| format!("{raw:?} is not a time of day: use 24-hour HH:MM, e.g. 07:00"))
}

pub fn parse_zone(raw: &str) -> Result<Tz, String> {
    raw.trim().parse::<Tz>().map_err(|_| {
        format!(
            "{:?} is not an IANA time zone: use a name like Europe/London or America/New_York",
            raw.trim()
        )
    })
}

/// UTC+14 (Kiritimati's offset, with no clock changes): the first zone to reach any
/// date, so the send time here comes before the send time anywhere else on that date.
pub const FIRST_ZONE: Tz = Tz::Etc__GMTMinus14;

/// The daily send rule.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyRule {
    pub time: NaiveTime,
    pub zone: Tz,
    pub days: Vec<Weekday>,
}

/// How a local wall-clock time maps onto real instants on a given night.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalInstant {
    Exact(DateTime<Utc>),
    /// The time happens twice; we use the first.
    Repeated(DateTime<Utc>),
    /// The time does not exist; this is the first instant after the gap.
    Skipped(DateTime<Utc>),
}

impl LocalInstant {
    pub fn instant(self) -> DateTime<Utc> {
        match self {
            Self::Exact(t) | Self::Repeated(t) | Self::Skipped(t) => t,
        }
    }
}

/// Resolves a local date-time in `zone` to an instant, by the rules in the module docs.
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> LocalInstant {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => LocalInstant::Exact(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => LocalInstant::Repeated(first.with_timezone(&Utc)),
        LocalResult::None => {
            // Gaps are whole minutes and at most a few hours anywhere in the tz database.
            let mut probe = local;
            for _ in 0..(26 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = zone.from_local_datetime(&probe).earliest() {
                    return LocalInstant::Skipped(t.with_timezone(&Utc));
                }
            }
            LocalInstant::Skipped(Utc.from_utc_datetime(&local))
        }
    }
}

impl DailyRule {
    /// When the digest for local `date` goes out, or `None` on a day it does not.
    pub fn fire_on(&self, date: NaiveDate) -> Option<LocalInstant> {
        use chrono::Datelike;
        self.days
            .contains(&date.weekday())
            .then(|| resolve_local(self.zone, date.and_time(self.time)))
    }

    /// The send time on `date` in `zone` (a reader's), by the same gap and overlap rules
    /// as the schedule's own; whatever the weekday (the date decides that).
    pub fn moment_in(&self, zone: Tz, date: NaiveDate) -> DateTime<Utc> {
        resolve_local(zone, date.and_time(self.time)).instant()
    }

    /// The next `n` sends strictly after `after`, with their local dates.
    pub fn next_fires(&self, after: DateTime<Utc>, n: usize) -> Vec<(NaiveDate, LocalInstant)> {
        let mut date = after.with_timezone(&self.zone).date_naive() - Duration::days(1);
        let mut out = Vec::new();
        for _ in 0..(n * 7 + 14) {
            if out.len() >= n {
                break;
            }
            if let Some(at) = self.fire_on(date).filter(|at| at.instant() > after) {
                out.push((date, at));
            }
            date += Duration::days(1);
        }
        out
    }

    /// Local dates whose send time is at or before `now` and not earlier than
    /// `not_before`: today and yesterday in the zone (a grace window can cross midnight).
    pub fn recent_fires(&self, now: DateTime<Utc>) -> Vec<(NaiveDate, DateTime<Utc>)> {
        let today = now.with_timezone(&self.zone).date_naive();
        [today - Duration::days(1), today]
            .into_iter()
            .filter_map(|d| self.fire_on(d).map(|at| (d, at.instant())))
            .filter(|(_, at)| *at <= now)
            .collect()
    }
}

/// Whether a send that was due at `due` should still go out at `now`.
pub fn within_grace(due: DateTime<Utc>, now: DateTime<Utc>, grace_minutes: u32) -> bool {
    due <= now && now - due <= Duration::minutes(i64::from(grace_minutes))
}

/// A one-off's local date-time, refused when it does not exist that night or is
/// ambiguous enough to matter (we say which occurrence we take).
pub fn resolve_one_off(zone: Tz, local: NaiveDateTime) -> Result<DateTime<Utc>, String> {
    match resolve_local(zone, local) {
        LocalInstant::Exact(t) | LocalInstant::Repeated(t) => Ok(t),
        LocalInstant::Skipped(_) => Err(format!(
            "{} does not exist in {} — the clocks go forward that night. Pick a time outside the gap.",
            local.format("%H:%M on %-d %B %Y"),
            zone.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london(time: &str, days: &[&str]) -> DailyRule {
        DailyRule {
            time: parse_time(time).unwrap(),
            zone: parse_zone("Europe/London").unwrap(),
            days: parse_days(days.iter().copied()).unwrap(),
        }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    const ALL: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    #[test]
    fn seven_am_london_stays_seven_am_across_both_changes() {
        let r = london("07:00", &ALL);
        // BST ends on Sunday 26 October 2025; begins on Sunday 29 March 2026.
        assert_eq!(
            r.fire_on(date("2025-10-25")).unwrap().instant(),
            utc("2025-10-25T06:00:00Z")
        );
        assert_eq!(
            r.fire_on(date("2025-10-26")).unwrap().instant(),
            utc("2025-10-26T07:00:00Z")
        );
        assert_eq!(
            r.fire_on(date("2026-03-28")).unwrap().instant(),
            utc("2026-03-28T07:00:00Z")
        );
        assert_eq!(
            r.fire_on(date("2026-03-29")).unwrap().instant(),
            utc("2026-03-29T06:00:00Z")
        );
    }

    #[test]
    fn gap_fires_when_the_clocks_jump_and_overlap_fires_first() {
        let gap = london("01:30", &ALL).fire_on(date("2026-03-29")).unwrap();
        assert_eq!(gap, LocalInstant::Skipped(utc("2026-03-29T01:00:00Z")));
        let twice = london("01:30", &ALL).fire_on(date("2025-10-26")).unwrap();
        assert_eq!(twice, LocalInstant::Repeated(utc("2025-10-26T00:30:00Z")));
    }

    #[test]
    fn next_fires_respect_days_and_order() {
        let r = london("07:00", &["mon", "wed"]);
        let next = r.next_fires(utc("2026-06-01T05:59:00Z"), 3); // Monday, 06:59 BST
        let dates: Vec<_> = next.iter().map(|(d, _)| d.to_string()).collect();
        assert_eq!(dates, ["2026-06-01", "2026-06-03", "2026-06-08"]);
        let after = r.next_fires(utc("2026-06-01T06:00:00Z"), 1);
        assert_eq!(after[0].0, date("2026-06-03"));
    }

    #[test]
    fn one_off_in_the_gap_is_refused() {
        let zone = parse_zone("Europe/London").unwrap();
        let err = resolve_one_off(zone, "2026-03-29T01:30:00".parse().unwrap()).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        assert!(resolve_one_off(zone, "2026-03-29T02:30:00".parse().unwrap()).is_ok());
    }

    #[test]
    fn parsing_is_forgiving_but_names_mistakes() {
        assert_eq!(
            parse_days(["Monday", "sun", "mon"]).unwrap(),
            vec![Weekday::Mon, Weekday::Sun]
        );
        assert!(parse_days(["funday"]).unwrap_err().contains("funday"));
        assert!(parse_zone("Mars/Olympus").is_err());
        assert!(parse_time("25:00").is_err());
        assert_eq!(
            parse_time("7:05").unwrap(),
            NaiveTime::from_hms_opt(7, 5, 0).unwrap()
        );
    }

    #[test]
    fn reader_moments_are_seven_am_local_and_first_zone_comes_first() {
        let r = london("07:00", &ALL);
        let d = date("2026-03-08"); // the US springs forward at 02:00 that morning
        let at = |z: &str| r.moment_in(parse_zone(z).unwrap(), d);
        assert_eq!(at("America/New_York"), utc("2026-03-08T11:00:00Z"));
        assert_eq!(
            r.moment_in(parse_zone("America/New_York").unwrap(), date("2026-03-07")),
            utc("2026-03-07T12:00:00Z")
        );
        assert_eq!(at("Pacific/Kiritimati"), utc("2026-03-07T17:00:00Z"));
        assert_eq!(at("Pacific/Pago_Pago"), utc("2026-03-08T18:00:00Z"));
        for z in chrono_tz::TZ_VARIANTS {
            assert!(r.moment_in(FIRST_ZONE, d) <= r.moment_in(z, d), "{z}");
        }
    }

    #[test]
    fn grace_window() {
        let due = utc("2026-06-01T06:00:00Z");
        assert!(within_grace(due, due, 120));
        assert!(within_grace(due, utc("2026-06-01T08:00:00Z"), 120));
        assert!(!within_grace(due, utc("2026-06-01T08:00:01Z"), 120));
        assert!(!within_grace(due, utc("2026-06-01T05:59:59Z"), 120));
    }
}
