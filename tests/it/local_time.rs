//! Delivery at the send time in each reader's zone, with a hand-driven clock across the
//! US clock change (Sunday 8 March 2026, 02:00 in New York): readers in UTC+14, London,
//! New York and UTC−11 each get each issue within a minute of 07:00 their time, once; a
//! reader who changes zone mid-issue is sent once; per-zone progress says what waits.

use std::{collections::HashMap, process::Child, time::Duration};

use breakfast::{
    App,
    delivery::progress,
    domain::{Clock, EmailAddress},
    edition::{self, By, Outcome, Which, review},
    schedule::runner::{self, tick},
    store::{deliveries::ZoneProgress, users::AdminRole},
};
use chrono::{DateTime, Utc};

use crate::{
    admin::{Browser, PASSWORD, add_user},
    kit::{Backend, Mail, TestApp, TestDb, breakfast_cmd, test_config},
    on_both_databases,
};

/// Hand ticks only, sending by itself, every reader at 07:00 their time, empty issues
/// sent. Leases of a day: the test moves the clock hours at a time, which must not
/// expire the lease of a row whose send is under way in real time.
const LOCAL: &str = "[schedule]\ntick_secs = 3600\nmode = \"automatic\"\ndelivery = \"local\"\nprefetch_secs = 5\n\
                     [ingest]\npoll_minutes = 0\n[digest]\nskip_when_empty = false\n[queue]\nlease_secs = 86400\n";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn reader(app: &App, email: &str, zone: Option<&str>) -> i64 {
    let id = crate::kit::confirmed(app, email).await;
    app.store.set_subscriber_time_zone(id, zone).await.unwrap();
    id
}

/// Messages received so far, per recipient.
fn received(t: &TestApp) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for raw in crate::kit::read_eml(&t.outbox_dir()) {
        *out.entry(Mail::parse(&raw).to).or_insert(0) += 1;
    }
    out
}

/// Sets the clock, ticks the scheduler and waits until no firing is in flight.
async fn tick_at(app: &App, clock: &Clock, when: DateTime<Utc>) {
    clock.set(when);
    tick(app).await.unwrap();
    let daily = runner::daily_schedule(app).await.unwrap();
    for _ in 0..600 {
        let runs = app.store.schedule_runs(daily.id).await.unwrap();
        if runs.iter().all(|r| r.outcome != runner::OUTCOME_CLAIMED) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a firing never finished");
}

/// Waits until `who` has received `n` messages; panics with what arrived otherwise.
async fn wait_for(t: &TestApp, who: &str, n: usize) {
    for _ in 0..2400 {
        let got = received(t);
        if got.get(who).copied().unwrap_or(0) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{who} never got message {n}; received: {:?}", received(t));
}

/// Waits until no row is `sending`: a message reaches the outbox a moment before its row
/// is recorded `sent`, and a clock moved hours ahead in between would expire the lease
/// and (rightly, for a lease that long overdue) send it again.
async fn settle(app: &App) {
    for _ in 0..600 {
        let mut sending = 0;
        for id in 1..=4 {
            if let Ok(p) = app.store.delivery_progress(id, app.now_ms()).await {
                sending += p.sending;
            }
        }
        if sending == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rows stayed sending");
}

/// Lets the senders run a little at the current (held) clock time, so that a row that
/// must not go yet would have had its chance to.
async fn let_senders_run(app: &App) {
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = app.store.live_delivery_owners(app.now_ms()).await;
    }
}

async fn each_reader_at_seven_local_once(backend: Backend) {
    let clock = Clock::manual(at("2026-03-06T12:00:00Z")); // Friday
    let Some(t) = TestApp::spawn_with(backend, LOCAL, clock.clone()).await else {
        return;
    };
    let app = &t.app;
    runner::daily_schedule(app).await.unwrap();
    reader(app, "kiri@example.org", Some("Pacific/Kiritimati")).await;
    reader(app, "london@example.org", Some("Europe/London")).await;
    reader(app, "ny@example.org", Some("America/New_York")).await;
    reader(app, "pago@example.org", Some("Pacific/Pago_Pago")).await;
    reader(app, "nozone@example.org", None).await; // the publication's zone: London
    let mover = reader(app, "mover@example.org", Some("America/New_York")).await;

    // 07:00 local on Saturday 7 (New York on EST, UTC−5) and Sunday 8 (EDT, UTC−4).
    let moments = [
        (
            "kiri@example.org",
            "2026-03-06T17:00:00Z",
            "2026-03-07T17:00:00Z",
        ),
        (
            "london@example.org",
            "2026-03-07T07:00:00Z",
            "2026-03-08T07:00:00Z",
        ),
        (
            "nozone@example.org",
            "2026-03-07T07:00:00Z",
            "2026-03-08T07:00:00Z",
        ),
        (
            "ny@example.org",
            "2026-03-07T12:00:00Z",
            "2026-03-08T11:00:00Z",
        ),
        (
            "mover@example.org",
            "2026-03-07T12:00:00Z",
            "2026-03-08T11:00:00Z",
        ),
        (
            "pago@example.org",
            "2026-03-07T18:00:00Z",
            "2026-03-08T18:00:00Z",
        ),
    ];
    let mut checkpoints: Vec<(DateTime<Utc>, &str, usize)> = Vec::new();
    for (who, first, second) in moments {
        for (n, moment) in [(1, at(first)), (2, at(second))] {
            // A minute before: the n-th issue has not reached them; 30 s after: it has.
            checkpoints.push((moment - chrono::Duration::seconds(60), who, n - 1));
            checkpoints.push((moment + chrono::Duration::seconds(30), who, n));
        }
    }
    checkpoints.sort();
    let mut moved = false;
    for (when, who, expected) in checkpoints {
        if when > clock.now() {
            tick_at(app, &clock, when).await;
        }
        if expected > 0 {
            wait_for(&t, who, expected).await;
        } else {
            let_senders_run(app).await;
        }
        settle(app).await;
        let got = received(&t).get(who).copied().unwrap_or(0);
        if got != expected {
            let theirs: Vec<String> = crate::kit::read_eml(&t.outbox_dir())
                .iter()
                .map(|raw| Mail::parse(raw))
                .filter(|m| m.to == who)
                .map(|m| m.subject)
                .collect();
            let mut ledger = String::new();
            for id in 1..5 {
                if let Ok(z) = app.store.zone_progress(id).await {
                    ledger.push_str(&format!("{id}: {z:?}\n"));
                }
            }
            panic!(
                "{who} at {when}: {expected} expected, got {theirs:?}; {:?}\n{ledger}",
                received(&t)
            );
        }
        // Sunday's issue is fanned out at 17:00 UTC on Saturday; the mover then moves to
        // Tokyo (whose 07:00 Sunday has passed by 22:00 UTC): still one message, at
        // New York's 07:00, since the moment was fixed at fan-out.
        if !moved && when >= at("2026-03-07T22:00:00Z") {
            app.store
                .set_subscriber_time_zone(mover, Some("Asia/Tokyo"))
                .await
                .unwrap();
            moved = true;
        }
    }
    assert!(moved);

    // Per zone, while Sunday's issue is still on its way to Pago Pago.
    let sunday = crate::kit::digest_on(app, "2026-03-08").await;
    let zones = app.store.zone_progress(sunday.id).await.unwrap();
    let names: Vec<&str> = zones.iter().map(|z| z.time_zone.as_str()).collect();
    assert_eq!(
        names,
        [
            "Pacific/Kiritimati",
            "Europe/London",
            "America/New_York",
            "Pacific/Pago_Pago"
        ]
    );
    assert!(zones.iter().all(|z| z.waiting == 0 && z.failed == 0));
    assert_eq!(zones[2].sent, 2, "the mover stays in New York's row");

    // Later ticks send nothing twice: everyone got the two issues once each, and
    // Kiritimati, where Monday began at 10:00 UTC on Sunday, already has Monday's too
    // (fired at 17:00 UTC on Sunday, 07:00 Monday there) — and nobody else does yet.
    tick_at(app, &clock, at("2026-03-08T20:00:00Z")).await;
    let_senders_run(app).await;
    settle(app).await;
    let got = received(&t);
    assert_eq!(got.len(), 6, "{got:?}");
    for (who, n) in &got {
        let expected = if who == "kiri@example.org" { 3 } else { 2 };
        assert_eq!(*n, expected, "{who}: {got:?}");
    }
    let monday = crate::kit::digest_on(app, "2026-03-09").await;
    let monday_zones = app.store.zone_progress(monday.id).await.unwrap();
    let london = monday_zones
        .iter()
        .find(|z| z.time_zone == "Europe/London")
        .unwrap();
    assert_eq!((london.sent, london.waiting), (0, 2));
    assert_eq!(
        london.not_before,
        Some(at("2026-03-09T07:00:00Z").timestamp_millis())
    );

    // The same on the dashboard and in `breakfast digest status`.
    let rows = progress::zone_rows(app, monday.id).await.unwrap();
    let row = |zone: &str| rows.iter().find(|r| r.zone == zone).unwrap().clone();
    assert_eq!(row("Pacific/Kiritimati").when, "done");
    assert_eq!(
        row("Europe/London").when,
        "at 07:00 GMT, Mon 9 Mar (07:00 UTC)"
    );
    assert_eq!(
        row("America/New_York").when,
        "at 07:00 EDT, Mon 9 Mar (11:00 UTC)"
    );
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get(&format!("/admin?digest={}", monday.id)).await;
    assert!(page.body.contains("Delivery by time zone"), "{}", page.body);
    assert!(page.body.contains("at 07:00 SST, Mon 9 Mar (18:00 UTC)"));
    let out = breakfast_cmd(
        &["digest", "status", &monday.id.to_string()],
        &[
            ("BREAKFAST_DATABASE_URL", t.db.url.as_str()),
            ("BREAKFAST_SECRET", "test-secret-0123456789"),
        ],
        t.db.dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    crate::kit::assert_success(&out);
    let london_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Europe/London"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        london_line.contains("0 sent") && london_line.contains("2 waiting"),
        "{london_line}"
    );
    t.stop().await;
}
on_both_databases!(each_reader_at_seven_local_once);

/// `breakfast serve` as a child process whose clock starts at `clock_start`, writing
/// its mail to the database folder's outbox.
fn spawn_serve(db: &TestDb, clock_start: &str) -> Child {
    crate::kit::spawn_breakfast(
        "serve",
        db,
        &[
            ("BREAKFAST_TEST_CLOCK_START", clock_start),
            ("BREAKFAST_SCHEDULE__TICK_SECS", "1"),
            ("BREAKFAST_SCHEDULE__PREFETCH_SECS", "1"),
            ("BREAKFAST_INGEST__POLL_MINUTES", "0"),
            ("BREAKFAST_DIGEST__SKIP_WHEN_EMPTY", "false"),
        ],
    )
}

/// Polls the ledger (from the test's side) until `zone` has `sent` rows sent.
async fn wait_zone_sent(app: &App, zone: &str, sent: i64) -> Vec<ZoneProgress> {
    for _ in 0..1200 {
        if let Some(d) = app
            .store
            .digest_for_date("2026-03-29".parse().unwrap())
            .await
            .unwrap()
        {
            let zones = app.store.zone_progress(d.id).await.unwrap();
            if zones
                .iter()
                .any(|z| z.time_zone == zone && z.sent == sent && z.waiting == 0)
            {
                return zones;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{zone} never had {sent} sent");
}

// The real binary, killed with -9 between two zones' moments on the day Europe's clocks
// go forward (Sunday 29 March 2026), then started again: nobody lost, nobody doubled.
// The child's clock is set by `BREAKFAST_TEST_CLOCK_START` (debug builds only).
async fn kill_9_between_two_zones_loses_and_doubles_nothing(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let config = test_config(&db, "http://127.0.0.1:9", LOCAL);
    let app = App::open(config, Clock::manual(at("2026-03-28T16:00:00Z")))
        .await
        .unwrap();
    runner::daily_schedule(&app).await.unwrap(); // local delivery, automatic
    let per_zone = 25;
    for i in 0..per_zone {
        reader(
            &app,
            &format!("kiri{i}@example.org"),
            Some("Pacific/Kiritimati"),
        )
        .await;
        reader(
            &app,
            &format!("london{i}@example.org"),
            Some("Europe/London"),
        )
        .await;
    }
    let outbox = db.dir.path().join("outbox");

    // 07:00 on Sunday in Kiritimati is 17:00 UTC on Saturday: the issue fires, Kiritimati's
    // readers get it and London's wait for 07:00 BST (06:00 UTC).
    let mut first = spawn_serve(&db, "2026-03-28T17:00:01Z");
    let zones = wait_zone_sent(&app, "Pacific/Kiritimati", per_zone).await;
    let london = zones
        .iter()
        .find(|z| z.time_zone == "Europe/London")
        .unwrap();
    assert_eq!((london.sent, london.waiting), (0, per_zone));
    assert_eq!(
        london.not_before,
        Some(at("2026-03-29T06:00:00Z").timestamp_millis())
    );
    // Another moment passes in the child's time: London's rows must stay put.
    tokio::time::sleep(Duration::from_secs(2)).await;
    kill_9(&mut first);

    let mut second = spawn_serve(&db, "2026-03-29T06:00:01Z");
    wait_zone_sent(&app, "Europe/London", per_zone).await;
    let digest = crate::kit::digest_on(&app, "2026-03-29").await;
    for _ in 0..600 {
        let p = app.store.delivery_progress(digest.id, 0).await.unwrap();
        if p.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill_9(&mut second);

    let mut counts: HashMap<String, usize> = HashMap::new();
    for raw in crate::kit::read_eml(&outbox) {
        *counts.entry(Mail::parse(&raw).to).or_insert(0) += 1;
    }
    assert_eq!(
        counts.len(),
        2 * per_zone as usize,
        "nobody lost: {counts:?}"
    );
    assert!(
        counts.values().all(|n| *n == 1),
        "nobody doubled: {counts:?}"
    );
    let p = app.store.delivery_progress(digest.id, 0).await.unwrap();
    assert!(p.is_finished(), "{p:?}");
    assert_eq!((p.sent, p.failed), (2 * per_zone, 0));
    app.close().await;
}
on_both_databases!(kill_9_between_two_zones_loses_and_doubles_nothing);

fn kill_9(child: &mut Child) {
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().expect("reaped");
}

async fn post(t: &TestApp, path: &str, kind: &str, body: &str) -> (u16, String) {
    let r = t
        .http
        .post(t.url(path))
        .header("content-type", kind)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let answer = (r.status().as_u16(), r.text().await.unwrap());
    breakfast::subscribers::signups_settled(Duration::from_secs(10)).await;
    answer
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn zone_of(app: &App, address: &str) -> Option<String> {
    app.store
        .subscriber_by_email(&EmailAddress::parse(address).unwrap())
        .await
        .unwrap()
        .unwrap()
        .time_zone
}

// The zone from the sign-up page's script is stored (an unknown one ignored), the
// confirmed page says when the first issue reaches the reader in their zone, the
// preferences page shows and changes the zone, and the API sets it.
async fn zone_from_signup_preferences_and_api(backend: Backend) {
    let clock = Clock::manual(at("2026-03-06T12:00:00Z")); // Friday
    let extra = format!("{LOCAL}[admin]\napi_token = \"local-api-token-0123456789\"\n");
    let Some(t) = TestApp::spawn_with(backend, &extra, clock.clone()).await else {
        return;
    };
    let app = &t.app;
    runner::daily_schedule(app).await.unwrap();
    let page = t.http.get(t.url("/")).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains(r#"name="time_zone""#) && page.contains("resolvedOptions"));

    let body = "email=amy%40example.org&name=Amy&time_zone=America%2FNew_York";
    assert_eq!(post(&t, "/subscribe", FORM, body).await.0, 200);
    assert_eq!(
        zone_of(app, "amy@example.org").await.as_deref(),
        Some("America/New_York")
    );
    let body = "email=bob%40example.org&time_zone=Mars%2FOlympus";
    let (status, page) = post(&t, "/subscribe", FORM, body).await;
    assert_eq!(status, 200, "an unknown zone is no error: {page}");
    assert_eq!(zone_of(app, "bob@example.org").await, None);
    let json = r#"{"email":"cy@example.org","time_zone":"Asia/Tokyo"}"#;
    assert_eq!(
        post(&t, "/subscribe", "application/json", json).await.0,
        202
    );
    assert_eq!(
        zone_of(app, "cy@example.org").await.as_deref(),
        Some("Asia/Tokyo")
    );

    // Amy confirms: the first issue is Saturday's, at 07:00 in New York (EST).
    let mails = t.wait_for_outbox(3, Duration::from_secs(30)).await;
    let amy = mails
        .iter()
        .map(|m| Mail::parse(m))
        .find(|m| m.to == "amy@example.org")
        .expect("Amy's confirmation");
    let link = crate::kit::find_link(&amy.text, "/confirm?token=").unwrap();
    let token = link.split("token=").nth(1).unwrap().to_string();
    let (status, confirmed) = post(&t, "/confirm", FORM, &format!("token={token}")).await;
    assert_eq!(status, 200, "{confirmed}");
    assert!(
        confirmed.contains(
            "The next issue goes out on Saturday 7 March at 07:00 EST, your time (America/New_York)."
        ),
        "{confirmed}"
    );

    // Her preferences: the zone, a list of every zone, and a change that sticks.
    let s = app
        .store
        .subscriber_by_email(&EmailAddress::parse("amy@example.org").unwrap())
        .await
        .unwrap()
        .unwrap();
    let prefs_url = breakfast::subscribers::preferences_url(app, s.id);
    let prefs_path = &prefs_url[prefs_url.find("/preferences").unwrap()..];
    let page = t.http.get(t.url(prefs_path)).send().await.unwrap();
    let page = page.text().await.unwrap();
    assert!(page.contains(r#"value="America/New_York""#), "{page}");
    assert!(
        page.contains(r#"list="zone-names""#)
            && page.contains(r#"<option value="Pacific/Kiritimati">"#)
    );
    let change = "name=Amy&frequency=daily&time_zone=Europe%2FParis";
    let (status, page) = post(&t, prefs_path, FORM, change).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        zone_of(app, "amy@example.org").await.as_deref(),
        Some("Europe/Paris")
    );
    let wrong = "name=Amy&frequency=daily&time_zone=Nowhere%2FLand";
    let (status, page) = post(&t, prefs_path, FORM, wrong).await;
    assert_eq!(status, 422);
    assert!(page.contains("is not a time zone name"), "{page}");
    assert_eq!(
        zone_of(app, "amy@example.org").await.as_deref(),
        Some("Europe/Paris")
    );
    let clear = "name=Amy&frequency=daily&time_zone=";
    assert_eq!(post(&t, prefs_path, FORM, clear).await.0, 200);
    assert_eq!(zone_of(app, "amy@example.org").await, None);

    // The API: set, refuse nonsense with a reason, clear.
    let patch = |body: &'static str| {
        t.http
            .patch(t.url(&format!("/api/subscribers/{}", s.id)))
            .bearer_auth("local-api-token-0123456789")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = patch(r#"{"time_zone":"Pacific/Pago_Pago"}"#).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        zone_of(app, "amy@example.org").await.as_deref(),
        Some("Pacific/Pago_Pago")
    );
    let r = patch(r#"{"time_zone":"Mars/Olympus"}"#).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Mars/Olympus"));
    let r = patch(r#"{"time_zone":null}"#).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(zone_of(app, "amy@example.org").await, None);
    t.stop().await;
}
on_both_databases!(zone_from_signup_preferences_and_api);

// Approval mode with delivery in each reader's zone: the issue is composed and held once,
// at the first zone's send time; approved and sent late (after London's 07:00), readers
// whose moment has passed get it at once, and the others still at their 07:00.
async fn held_once_then_late_readers_at_once_and_others_on_time(backend: Backend) {
    let clock = Clock::manual(at("2026-03-06T12:00:00Z"));
    let approval = LOCAL.replace("mode = \"automatic\"", "mode = \"approval\"");
    let Some(t) = TestApp::spawn_with(backend, &approval, clock.clone()).await else {
        return;
    };
    let app = &t.app;
    runner::daily_schedule(app).await.unwrap();
    reader(app, "kiri@example.org", Some("Pacific/Kiritimati")).await;
    reader(app, "london@example.org", Some("Europe/London")).await;
    reader(app, "pago@example.org", Some("Pacific/Pago_Pago")).await;
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    let editor = app.store.list_admin_users().await.unwrap()[0].id;

    // The review is asked for before Kiritimati's 07:00, and the issue held at it.
    tick_at(app, &clock, at("2026-03-06T16:30:00Z")).await;
    tick_at(app, &clock, at("2026-03-06T17:00:30Z")).await;
    let daily = runner::daily_schedule(app).await.unwrap();
    let runs = app.store.schedule_runs(daily.id).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, runner::OUTCOME_HELD);
    let saturday = crate::kit::digest_on(app, "2026-03-07").await;
    let reviews = t.wait_for_outbox(1, Duration::from_secs(120)).await;
    assert_eq!(reviews.len(), 1, "one review request, to the one editor");

    // Approved and sent at 08:00 UTC on Saturday: Kiritimati and London at once.
    tick_at(app, &clock, at("2026-03-07T08:00:00Z")).await;
    review::approve(app, saturday.id, editor).await.unwrap();
    let out = edition::send(app, Which::Digest(saturday.id), By::Editor(editor))
        .await
        .unwrap();
    assert!(matches!(out, Outcome::Started { .. }), "{out:?}");
    wait_for(&t, "kiri@example.org", 1).await;
    wait_for(&t, "london@example.org", 1).await;
    let_senders_run(app).await;
    settle(app).await;
    assert_eq!(received(&t).get("pago@example.org"), None);
    tick_at(app, &clock, at("2026-03-07T18:00:30Z")).await;
    wait_for(&t, "pago@example.org", 1).await;
    settle(app).await;
    let got = received(&t);
    for who in ["kiri@example.org", "london@example.org", "pago@example.org"] {
        assert_eq!(got.get(who), Some(&1), "{got:?}");
    }
    t.stop().await;
}
on_both_databases!(held_once_then_late_readers_at_once_and_others_on_time);
