//! Schedules (the daily rule and one-off sends) and the record of each firing.
//!
//! `schedule_runs` has one row per (schedule, local date): inserting it is how a process
//! claims a send, so two processes can never both fire the same one.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{Store, StoreError, StoreResult, query};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Daily,
    Oneoff,
}

/// Whether the daily schedule sends by itself or waits for an editor's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleMode {
    Automatic,
    Approval,
}

impl ScheduleMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleMode::Automatic => "automatic",
            ScheduleMode::Approval => "approval",
        }
    }
}

impl std::str::FromStr for ScheduleMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "automatic" => Ok(ScheduleMode::Automatic),
            "approval" => Ok(ScheduleMode::Approval),
            other => Err(format!(
                "unknown schedule mode {other:?}: use approval or automatic"
            )),
        }
    }
}

/// When the readers of one issue get it: all at the send time in the publication's zone,
/// or each at the send time in their own zone (see [`crate::schedule::moments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMode {
    #[default]
    Moment,
    Local,
}

impl DeliveryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMode::Moment => "moment",
            DeliveryMode::Local => "local",
        }
    }
}

impl std::str::FromStr for DeliveryMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "moment" => Ok(DeliveryMode::Moment),
            "local" => Ok(DeliveryMode::Local),
            other => Err(format!(
                "unknown delivery mode {other:?}: use moment (everyone at once) or local (each reader's zone)"
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: i64,
    pub kind: ScheduleKind,
    /// "HH:MM" local time (daily only).
    pub send_time: Option<String>,
    pub time_zone: String,
    /// "mon,tue,…" (daily only).
    pub days: String,
    pub skip_when_empty: bool,
    pub mode: ScheduleMode,
    pub delivery: DeliveryMode,
    pub paused: bool,
    /// Epoch ms (one-offs only).
    pub run_at: Option<i64>,
    pub digest_id: Option<i64>,
    pub cancelled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ScheduleRow {
    id: i64,
    kind: String,
    send_time: Option<String>,
    time_zone: String,
    days: String,
    skip_when_empty: bool,
    mode: String,
    delivery: String,
    paused: bool,
    run_at: Option<i64>,
    digest_id: Option<i64>,
    cancelled: bool,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, kind, send_time, time_zone, days, skip_when_empty, mode, delivery, paused, \
    run_at, digest_id, cancelled, created_at, updated_at";

impl super::Decoded for Schedule {
    type Row = ScheduleRow;
}

impl TryFrom<ScheduleRow> for Schedule {
    type Error = StoreError;
    fn try_from(r: ScheduleRow) -> Result<Self, StoreError> {
        let kind = match r.kind.as_str() {
            "daily" => ScheduleKind::Daily,
            "oneoff" => ScheduleKind::Oneoff,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "schedule {}: unknown kind {other:?}",
                    r.id
                )));
            }
        };
        Ok(Schedule {
            id: r.id,
            kind,
            send_time: r.send_time,
            time_zone: r.time_zone,
            days: r.days,
            skip_when_empty: r.skip_when_empty,
            mode: r
                .mode
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("schedule {}: {e}", r.id)))?,
            delivery: r
                .delivery
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("schedule {}: {e}", r.id)))?,
            paused: r.paused,
            run_at: r.run_at,
            digest_id: r.digest_id,
            cancelled: r.cancelled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// One firing (or deliberate non-firing) of a schedule.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ScheduleRun {
    pub schedule_id: i64,
    pub local_date: String,
    pub fired_at: i64,
    pub digest_id: Option<i64>,
    pub outcome: String,
}

/// The daily rule's settings, as the form or the config gives them.
#[derive(Debug, Clone)]
pub struct DailySettings<'a> {
    pub send_time: &'a str,
    pub time_zone: &'a str,
    pub days: &'a str,
    pub skip_when_empty: bool,
    pub mode: ScheduleMode,
    pub delivery: DeliveryMode,
}

impl Store {
    /// The daily schedule, created from `defaults` the first time it is asked for (once,
    /// even when several processes ask at the same moment: see migration 0005).
    pub async fn daily_schedule(
        &self,
        defaults: &DailySettings<'_>,
        now: i64,
    ) -> StoreResult<Schedule> {
        // Read first: this runs on every tick and admin page, and an attempted insert
        // would take SQLite's write lock each time.
        if let Some(s) = self.find_daily_schedule().await? {
            return Ok(s);
        }
        self.exec(query(
            "INSERT INTO schedules (kind, send_time, time_zone, days, skip_when_empty, mode, delivery, created_at, updated_at) \
             VALUES ('daily', $1, $2, $3, $4, $5, $7, $6, $6) ON CONFLICT DO NOTHING",
        )
        .bind(defaults.send_time)
        .bind(defaults.time_zone)
        .bind(defaults.days)
        .bind(defaults.skip_when_empty)
        .bind(defaults.mode.as_str())
        .bind(now)
        .bind(defaults.delivery.as_str())).await?;
        self.find_daily_schedule()
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The daily schedule if it was ever created (readers that must not seed it).
    pub async fn find_daily_schedule(&self) -> StoreResult<Option<Schedule>> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE kind = 'daily'");
        self.decode_optional(query(AssertSqlSafe(sql.as_str())))
            .await
    }

    pub async fn update_daily_schedule(
        &self,
        id: i64,
        s: &DailySettings<'_>,
        now: i64,
    ) -> StoreResult<()> {
        self.exec_found(query(
            "UPDATE schedules SET send_time = $1, time_zone = $2, days = $3, skip_when_empty = $4, \
             mode = $7, delivery = $8, updated_at = $5 WHERE id = $6 AND kind = 'daily'",
        )
        .bind(s.send_time)
        .bind(s.time_zone)
        .bind(s.days)
        .bind(s.skip_when_empty)
        .bind(now)
        .bind(id)
        .bind(s.mode.as_str())
        .bind(s.delivery.as_str())).await?;
        Ok(())
    }

    pub async fn set_schedule_paused(&self, id: i64, paused: bool, now: i64) -> StoreResult<()> {
        self.exec_found(
            query("UPDATE schedules SET paused = $1, updated_at = $2 WHERE id = $3")
                .bind(paused)
                .bind(now)
                .bind(id),
        )
        .await?;
        Ok(())
    }

    pub async fn insert_one_off(
        &self,
        run_at: i64,
        time_zone: &str,
        digest_id: Option<i64>,
        now: i64,
    ) -> StoreResult<Schedule> {
        let sql = format!(
            "INSERT INTO schedules (kind, time_zone, run_at, digest_id, skip_when_empty, created_at, updated_at) \
             VALUES ('oneoff', $1, $2, $3, FALSE, $4, $4) RETURNING {COLUMNS}"
        );
        self.decode_one(
            query(AssertSqlSafe(sql.as_str()))
                .bind(time_zone)
                .bind(run_at)
                .bind(digest_id)
                .bind(now),
        )
        .await
    }

    /// Cancels a one-off that has not fired yet; `Conflict` when it already has.
    pub async fn cancel_one_off(&self, id: i64, now: i64) -> StoreResult<()> {
        let n = self.exec(query(
            "UPDATE schedules SET cancelled = TRUE, updated_at = $1 WHERE id = $2 AND kind = 'oneoff' \
             AND NOT EXISTS (SELECT 1 FROM schedule_runs r WHERE r.schedule_id = schedules.id)",
        )
        .bind(now)
        .bind(id)).await?;
        if n == 0 {
            return Err(StoreError::Conflict(
                "that one-off send has already gone out or does not exist".into(),
            ));
        }
        Ok(())
    }

    /// One-offs that have not fired and are not cancelled, soonest first.
    pub async fn pending_one_offs(&self) -> StoreResult<Vec<Schedule>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM schedules WHERE kind = 'oneoff' AND NOT cancelled \
             AND NOT EXISTS (SELECT 1 FROM schedule_runs r WHERE r.schedule_id = schedules.id) \
             ORDER BY run_at"
        );
        self.decode_all(query(AssertSqlSafe(sql.as_str()))).await
    }

    /// Claims a send: true for exactly one caller per (schedule, local date).
    pub async fn claim_schedule_run(
        &self,
        schedule_id: i64,
        local_date: &str,
        outcome: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let n = self.exec(query(
            "INSERT INTO schedule_runs (schedule_id, local_date, fired_at, outcome) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (schedule_id, local_date) DO NOTHING",
        )
        .bind(schedule_id)
        .bind(local_date)
        .bind(now)
        .bind(outcome)).await?;
        Ok(n == 1)
    }

    /// Takes over a claim whose process died before recording an outcome: true for
    /// exactly one caller, and only when the claim is older than `stale_before`.
    pub async fn reclaim_stale_run(
        &self,
        schedule_id: i64,
        local_date: &str,
        claimed_outcome: &str,
        stale_before: i64,
        now: i64,
    ) -> StoreResult<bool> {
        let n = self.exec(query(
            "UPDATE schedule_runs SET fired_at = $1 WHERE schedule_id = $2 AND local_date = $3 \
             AND outcome = $4 AND fired_at < $5",
        )
        .bind(now)
        .bind(schedule_id)
        .bind(local_date)
        .bind(claimed_outcome)
        .bind(stale_before)).await?;
        Ok(n == 1)
    }

    pub async fn finish_schedule_run(
        &self,
        schedule_id: i64,
        local_date: &str,
        digest_id: Option<i64>,
        outcome: &str,
    ) -> StoreResult<()> {
        self.exec(query(
            "UPDATE schedule_runs SET digest_id = $1, outcome = $2 WHERE schedule_id = $3 AND local_date = $4",
        )
        .bind(digest_id)
        .bind(outcome)
        .bind(schedule_id)
        .bind(local_date)).await?;
        Ok(())
    }

    pub async fn schedule_runs(&self, schedule_id: i64) -> StoreResult<Vec<ScheduleRun>> {
        self.fetch_all(
            query(
                "SELECT schedule_id, local_date, fired_at, digest_id, outcome FROM schedule_runs \
             WHERE schedule_id = $1 ORDER BY fired_at",
            )
            .bind(schedule_id),
        )
        .await
    }

    /// The latest firings of any schedule, newest first.
    pub async fn recent_schedule_runs(&self, limit: i64) -> StoreResult<Vec<ScheduleRun>> {
        self.fetch_all(
            query(
                "SELECT schedule_id, local_date, fired_at, digest_id, outcome FROM schedule_runs \
             ORDER BY fired_at DESC LIMIT $1",
            )
            .bind(limit),
        )
        .await
    }
}
