//! The scheduler with a hand-driven clock: DST changes, restarts across a due time, the
//! grace window, and exactly-once firing with two processes on one PostgreSQL.

use std::time::Duration;

use breakfast::{
    App,
    domain::Clock,
    schedule::runner::{self, OUTCOME_MISSED, OUTCOME_SENT, tick},
    store::schedules::ScheduleRun,
};
use chrono::{DateTime, Utc};

use crate::{
    admin::seed_content,
    kit::{Backend, TestApp},
    on_both_databases,
};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Background ticks are slowed right down: the tests tick by hand.
const QUIET: &str = "[schedule]\ntick_secs = 3600\ngrace_minutes = 120\nmode = \"automatic\"\n";

async fn runs(app: &App) -> Vec<ScheduleRun> {
    let daily = runner::daily_schedule(app).await.unwrap();
    app.store.schedule_runs(daily.id).await.unwrap()
}

/// Ticks at `when` and returns the run recorded for `date`, if any.
async fn tick_at(app: &App, clock: &Clock, when: &str) {
    clock.set(at(when));
    tick(app).await.unwrap();
}

async fn seven_am_london_stays_seven_am_across_clock_changes(backend: Backend) {
    let clock = Clock::manual(at("2026-03-27T12:00:00Z"));
    let Some(t) = TestApp::spawn_with(backend, QUIET, clock.clone()).await else {
        return;
    };
    let app = &t.app;
    tick(app).await.unwrap(); // creates the daily schedule: 07:00 Europe/London, every day
    // Saturday 28 March, still GMT: 07:00 local is 07:00 UTC.
    tick_at(app, &clock, "2026-03-28T06:59:00Z").await;
    assert!(runs(app).await.is_empty(), "not before 07:00 GMT");
    tick_at(app, &clock, "2026-03-28T07:00:10Z").await;
    assert_eq!(runs(app).await.len(), 1);
    // Sunday 29 March, BST from 01:00 UTC: 07:00 local is 06:00 UTC.
    tick_at(app, &clock, "2026-03-29T05:59:00Z").await;
    assert_eq!(runs(app).await.len(), 1);
    tick_at(app, &clock, "2026-03-29T06:00:10Z").await;
    let r = runs(app).await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].local_date, "2026-03-29");
    assert_eq!(r[1].fired_at, at("2026-03-29T06:00:10Z").timestamp_millis());
    // Ticking again the same morning fires nothing more.
    tick_at(app, &clock, "2026-03-29T06:30:00Z").await;
    assert_eq!(runs(app).await.len(), 2);

    // The last Sunday of October: BST ends, 07:00 local is 07:00 UTC again.
    tick_at(app, &clock, "2026-10-24T06:00:10Z").await; // Saturday, BST
    tick_at(app, &clock, "2026-10-25T06:00:10Z").await; // Sunday, GMT: too early
    let dates: Vec<String> = runs(app).await.into_iter().map(|r| r.local_date).collect();
    assert_eq!(dates.last().map(String::as_str), Some("2026-10-24"));
    tick_at(app, &clock, "2026-10-25T07:00:10Z").await;
    let r = runs(app).await;
    assert_eq!(r.last().unwrap().local_date, "2026-10-25");
    assert_eq!(
        r.last().unwrap().fired_at,
        at("2026-10-25T07:00:10Z").timestamp_millis()
    );
    t.stop().await;
}
on_both_databases!(seven_am_london_stays_seven_am_across_clock_changes);

/// A second process on the same database, as after a restart: same config, new App.
async fn restart(t: &TestApp, clock: &Clock) -> App {
    App::open(t.app.config.clone(), clock.clone())
        .await
        .expect("app reopens")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_missed_while_down_goes_out_once_within_grace_and_never_after() {
    let clock = Clock::manual(at("2026-06-01T05:00:00Z")); // 06:00 BST, Monday
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, QUIET, clock.clone()).await else {
        return;
    };
    seed_content(&t.app, &["Tenants organise"], &["reader@example.org"]).await;
    tick(&t.app).await.unwrap();
    assert!(runs(&t.app).await.is_empty());
    // The service is down from 06:00 to 07:45 local: the 07:00 send was missed.
    let db_app = t.app.clone();
    clock.set(at("2026-06-01T06:45:00Z"));
    let revived = restart(&t, &clock).await;
    assert_eq!(
        tick(&revived).await.unwrap(),
        1,
        "fires on coming back, 45 min late"
    );
    assert_eq!(tick(&revived).await.unwrap(), 0, "and only once");
    let r = runs(&db_app).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].outcome, OUTCOME_SENT, "{r:?}");
    let mail = t.wait_for_outbox(1, Duration::from_secs(60)).await;
    assert_eq!(mail.len(), 1);

    // Next day the service is down until 09:30 local: 150 min late, past the grace window.
    clock.set(at("2026-06-02T08:30:00Z"));
    let late = restart(&t, &clock).await;
    assert_eq!(tick(&late).await.unwrap(), 0);
    let r = runs(&late).await;
    assert_eq!(r.len(), 2);
    assert_eq!(r[1].local_date, "2026-06-02");
    assert_eq!(r[1].outcome, OUTCOME_MISSED);
    assert!(
        late.store
            .digest_for_date("2026-06-02".parse().unwrap())
            .await
            .unwrap()
            .is_none_or(|d| !d.status.is_out()),
        "nothing was sent late"
    );
    revived.close().await;
    late.close().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_fire_exactly_once() {
    let clock = Clock::manual(at("2026-06-01T05:00:00Z"));
    let Some(t) = TestApp::spawn_with(Backend::Postgres, QUIET, clock.clone()).await else {
        return;
    };
    seed_content(
        &t.app,
        &["General strike called"],
        &["a@example.org", "b@example.org"],
    )
    .await;
    tick(&t.app).await.unwrap();
    let other = restart(&t, &clock).await;
    clock.set(at("2026-06-01T06:00:05Z"));
    // Both processes tick at the same moment, several times over.
    let mut fired = 0;
    for _ in 0..5 {
        let (a, b) = tokio::join!(tick(&t.app), tick(&other));
        fired += a.unwrap() + b.unwrap();
    }
    assert_eq!(fired, 1, "exactly one process fires");
    let r = runs(&t.app).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].outcome, OUTCOME_SENT);
    let digest = crate::kit::digest_on(&t.app, "2026-06-01").await;
    assert!(digest.status.is_out());
    let mail = t.wait_for_outbox(2, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mail.len(), 2);
    assert_eq!(
        crate::kit::read_eml(&t.outbox_dir()).len(),
        2,
        "one digest each"
    );
    other.close().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_schedules_and_days_off_do_not_fire() {
    let clock = Clock::manual(at("2026-06-01T05:00:00Z")); // Monday
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, QUIET, clock.clone()).await else {
        return;
    };
    let daily = runner::daily_schedule(&t.app).await.unwrap();
    t.app
        .store
        .set_schedule_paused(daily.id, true, t.app.now_ms())
        .await
        .unwrap();
    tick_at(&t.app, &clock, "2026-06-01T06:00:05Z").await;
    assert!(runs(&t.app).await.is_empty());
    t.app
        .store
        .update_daily_schedule(
            daily.id,
            &breakfast::store::schedules::DailySettings {
                send_time: "07:00",
                time_zone: "Europe/London",
                days: "wed",
                skip_when_empty: true,
                mode: breakfast::store::schedules::ScheduleMode::Automatic,
                delivery: Default::default(),
            },
            t.app.now_ms(),
        )
        .await
        .unwrap();
    t.app
        .store
        .set_schedule_paused(daily.id, false, t.app.now_ms())
        .await
        .unwrap();
    tick_at(&t.app, &clock, "2026-06-02T06:00:05Z").await; // Tuesday
    assert!(runs(&t.app).await.is_empty());
    tick_at(&t.app, &clock, "2026-06-03T06:00:05Z").await; // Wednesday
    let r = runs(&t.app).await;
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].outcome,
        runner::OUTCOME_SKIPPED,
        "nothing new: skipped"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_dead_process_is_taken_over_once() {
    let clock = Clock::manual(at("2026-06-01T05:00:00Z"));
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, QUIET, clock.clone()).await else {
        return;
    };
    seed_content(&t.app, &["Miners return"], &["reader@example.org"]).await;
    let daily = runner::daily_schedule(&t.app).await.unwrap();
    clock.set(at("2026-06-01T06:00:05Z"));
    // Another process claimed the send and died before firing it.
    assert!(
        t.app
            .store
            .claim_schedule_run(
                daily.id,
                "2026-06-01",
                runner::OUTCOME_CLAIMED,
                t.app.now_ms()
            )
            .await
            .unwrap()
    );
    assert_eq!(
        tick(&t.app).await.unwrap(),
        0,
        "a fresh claim is someone else's"
    );
    clock.advance(chrono::Duration::minutes(11));
    assert_eq!(
        tick(&t.app).await.unwrap(),
        1,
        "a stale claim is taken over"
    );
    assert_eq!(tick(&t.app).await.unwrap(), 0);
    let r = runs(&t.app).await;
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].outcome, OUTCOME_SENT);
    assert_eq!(t.wait_for_outbox(1, Duration::from_secs(60)).await.len(), 1);
    t.stop().await;
}
