//! The schedule page: the daily rule, pause/resume, one-off sends, what comes next.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::NaiveDate;
use serde::Deserialize;
use templates::admin::ScheduleView;

use super::{CheckedForm, flash_for, html_page, meta, nav, see_other, when};
use crate::{
    app::App,
    schedule::{
        LocalInstant, WEEKDAYS, days_to_string, parse_days, parse_time, parse_zone,
        resolve_one_off,
        runner::{daily_schedule, rule_of},
    },
    store::{
        StoreError,
        schedules::{DailySettings, DeliveryMode, ScheduleMode},
    },
    web::auth::{CurrentUser, PageError, RequireEditor},
};

#[derive(Deserialize, Default)]
pub struct Msg {
    msg: Option<String>,
}

/// What the forms on the page hold when they come back with an error.
#[derive(Default)]
struct Redisplay {
    daily: Option<(String, String, Vec<String>, bool, String)>,
    one_off: Option<(String, String, String, String)>,
}

pub async fn page(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Query(q): Query<Msg>,
) -> Result<Response, PageError> {
    render(
        &app,
        &user,
        StatusCode::OK,
        flash_for(q.msg.as_deref()),
        Redisplay::default(),
    )
    .await
}

async fn render(
    app: &App,
    user: &CurrentUser,
    status: StatusCode,
    flash: Option<templates::page::Flash>,
    again: Redisplay,
) -> Result<Response, PageError> {
    let daily = daily_schedule(app).await?;
    let zone = parse_zone(&daily.time_zone).unwrap_or(chrono_tz::Europe::London);
    let next_sends = match rule_of(&daily) {
        Ok(rule) => crate::schedule::daily::next_daily_sends(app, &rule, 5)
            .await
            .into_iter()
            .map(|(date, at)| describe_fire(date, at, &rule))
            .collect(),
        Err(e) => vec![format!("The schedule cannot be used: {e}")],
    };
    let one_offs = app
        .store
        .pending_one_offs()
        .await?
        .into_iter()
        .filter_map(|s| {
            let z = parse_zone(&s.time_zone).unwrap_or(zone);
            s.run_at.map(|at| (s.id, when(at, z)))
        })
        .collect();
    let runs = app
        .store
        .recent_schedule_runs(10)
        .await?
        .into_iter()
        .map(|r| (r.local_date, r.outcome, when(r.fired_at, zone)))
        .collect();
    let greetings = crate::digest::greeting_config(app).await?;
    let days_on: Vec<String> = daily
        .days
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let mut v = ScheduleView {
        send_time: daily.send_time.clone().unwrap_or_default(),
        time_zone: daily.time_zone.clone(),
        days: WEEKDAYS
            .iter()
            .map(|(_, k, label)| {
                (
                    k.to_string(),
                    label.to_string(),
                    days_on.iter().any(|d| d == k),
                )
            })
            .collect(),
        skip_when_empty: daily.skip_when_empty,
        paused: daily.paused,
        next_sends,
        one_offs,
        runs,
        daily_error: None,
        one_off_date: String::new(),
        one_off_time: String::new(),
        one_off_zone: daily.time_zone.clone(),
        one_off_error: None,
        grace_minutes: app.config.schedule.grace_minutes,
        approval: daily.mode == ScheduleMode::Approval,
        local_delivery: daily.delivery == DeliveryMode::Local,
        approval_lead_minutes: app.config.schedule.approval_lead_minutes,
        awaiting: app
            .store
            .digests_awaiting_approval()
            .await?
            .iter()
            .map(|d| {
                (
                    format!("/admin?digest={}", d.id),
                    format!(
                        "{} — {}",
                        crate::edition::review::edition_label(d),
                        d.status.as_str()
                    ),
                )
            })
            .collect(),
        greeting: greetings.greeting,
        greeting_without_name: greetings.greeting_without_name,
        csrf: user.csrf.clone(),
    };
    if let Some((time, tz, days, skip, err)) = again.daily {
        v.send_time = time;
        v.time_zone = tz;
        for d in &mut v.days {
            d.2 = days.contains(&d.0);
        }
        v.skip_when_empty = skip;
        v.daily_error = Some(err);
    }
    if let Some((date, time, tz, err)) = again.one_off {
        v.one_off_date = date;
        v.one_off_time = time;
        v.one_off_zone = tz;
        v.one_off_error = Some(err);
    }
    let markup = templates::admin::schedule_page(
        &meta(app, "Schedule", flash),
        &nav(user, "/admin/schedule"),
        &v,
    );
    Ok((status, html_page(markup)).into_response())
}

fn describe_fire(date: NaiveDate, at: LocalInstant, rule: &crate::schedule::DailyRule) -> String {
    let local = at.instant().with_timezone(&rule.zone);
    let base = format!(
        "{}, {}",
        date.format("%A %-d %B %Y"),
        local.format("%H:%M %Z")
    );
    match at {
        LocalInstant::Skipped(_) => format!(
            "{base} — the clocks go forward that night and {} does not exist, so it goes out when they change",
            rule.time.format("%H:%M")
        ),
        LocalInstant::Repeated(_) => {
            format!(
                "{base} — the clocks go back that night; it goes out at the first {}",
                rule.time.format("%H:%M")
            )
        }
        LocalInstant::Exact(_) => base,
    }
}

pub async fn save_daily(
    State(app): State<App>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let time = f.text("send_time");
    let tz = f.text("time_zone");
    let days: Vec<String> = f.all("days").into_iter().map(str::to_string).collect();
    let skip = f.get("skip_when_empty").is_some();
    let daily = daily_schedule(&app).await?;
    let mode_field = f.get("mode").map(str::to_owned);
    let delivery_field = f.get("delivery").map(str::to_owned);
    let checked = (|| {
        let mode: ScheduleMode = match mode_field.as_deref() {
            None => daily.mode,
            Some(m) => m.parse()?,
        };
        let delivery: DeliveryMode = match delivery_field.as_deref() {
            None => daily.delivery,
            Some(m) => m.parse()?,
        };
        let t = parse_time(&time)?;
        let z = parse_zone(&tz)?;
        let d = parse_days(days.iter().map(String::as_str))?;
        if d.is_empty() {
            return Err(
                "Choose at least one day of the week (or pause the digest instead).".to_string(),
            );
        }
        Ok((t, z, d, mode, delivery))
    })();
    let (t, z, d, mode, delivery) = match checked {
        Ok(v) => v,
        Err(message) => {
            let again = Redisplay {
                daily: Some((time, tz, days, skip, message)),
                one_off: None,
            };
            return render(&app, &user, StatusCode::BAD_REQUEST, None, again).await;
        }
    };
    let time_text = t.format("%H:%M").to_string();
    let days_text = days_to_string(&d);
    app.store
        .update_daily_schedule(
            daily.id,
            &DailySettings {
                send_time: &time_text,
                time_zone: z.name(),
                days: &days_text,
                skip_when_empty: skip,
                mode,
                delivery,
            },
            app.now_ms(),
        )
        .await?;
    tracing::info!(
        admin = user.id,
        mode = mode.as_str(),
        delivery = delivery.as_str(),
        "daily schedule changed"
    );
    Ok(see_other("/admin/schedule?msg=saved"))
}

const MAX_GREETING_CHARS: usize = 200;

/// The greeting an editor writes (stored as settings; it wins over the configuration).
pub async fn save_greeting(
    State(app): State<App>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let clean = |name: &str| -> String {
        f.get(name)
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
            .trim()
            .to_owned()
    };
    let (with_name, without) = (clean("greeting"), clean("greeting_without_name"));
    if with_name.chars().count() > MAX_GREETING_CHARS
        || without.chars().count() > MAX_GREETING_CHARS
    {
        return Err(PageError::too_long(
            &app,
            format!(
                "A greeting can be at most {MAX_GREETING_CHARS} characters. Nothing was saved."
            ),
        ));
    }
    for (key, value) in [
        (crate::digest::GREETING_SETTING, &with_name),
        (crate::digest::GREETING_WITHOUT_NAME_SETTING, &without),
    ] {
        app.store.set_setting(key, value).await?;
    }
    tracing::info!(admin = user.id, "greeting changed");
    Ok(see_other("/admin/schedule?msg=saved"))
}

pub async fn pause(
    State(app): State<App>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let paused = f.get("paused") == Some("1");
    let daily = daily_schedule(&app).await?;
    app.store
        .set_schedule_paused(daily.id, paused, app.now_ms())
        .await?;
    tracing::info!(admin = user.id, paused, "daily schedule paused/resumed");
    Ok(see_other(if paused {
        "/admin/schedule?msg=paused"
    } else {
        "/admin/schedule?msg=resumed"
    }))
}

pub async fn add_one_off(
    State(app): State<App>,
    CheckedForm(RequireEditor(user), f): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let (date, time, tz) = (f.text("date"), f.text("time"), f.text("time_zone"));
    let checked = (|| {
        let d: NaiveDate = date
            .parse()
            .map_err(|_| format!("{date:?} is not a date: use YYYY-MM-DD."))?;
        let t = parse_time(&time)?;
        let z = parse_zone(&tz)?;
        let at = resolve_one_off(z, d.and_time(t))?;
        if at <= app.clock.now() {
            return Err("That time has already passed. Pick a time in the future, or send now from today's digest.".to_string());
        }
        Ok((at, z))
    })();
    let (at, z) = match checked {
        Ok(v) => v,
        Err(message) => {
            let again = Redisplay {
                daily: None,
                one_off: Some((date, time, tz, message)),
            };
            return render(&app, &user, StatusCode::BAD_REQUEST, None, again).await;
        }
    };
    app.store
        .insert_one_off(at.timestamp_millis(), z.name(), None, app.now_ms())
        .await?;
    tracing::info!(admin = user.id, "one-off send scheduled");
    Ok(see_other("/admin/schedule?msg=oneoff-added"))
}

pub async fn cancel_one_off(
    State(app): State<App>,
    Path(id): Path<i64>,
    _: CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    match app.store.cancel_one_off(id, app.now_ms()).await {
        Ok(()) => Ok(see_other("/admin/schedule?msg=oneoff-cancelled")),
        Err(StoreError::Conflict(m)) => {
            Err(
                PageError::new(&app, StatusCode::CONFLICT, "Cannot cancel", m)
                    .with_link("Back to the schedule", "/admin/schedule"),
            )
        }
        Err(e) => Err(e.into()),
    }
}
