//! The edition end to end, with a hand-driven clock, feeds over loopback HTTP and the
//! whole service running: which articles go in which issue, which date "Send now"
//! sends, approval, the weekly edition, sections from feed categories, test copies, the
//! greeting, one time zone, one skip rule, and the config/schedule warning.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use breakfast::{
    App,
    config::Config,
    domain::{Clock, EmailAddress, Frequency, SubscriberStatus},
    edition::{self, By, Outcome, Which, review, test_copy},
    feeds::ingest,
    schedule::runner::{self, OUTCOME_HELD, OUTCOME_SENT, OUTCOME_SKIPPED, tick},
    store::{
        digests::{DigestStatus, EditionKind},
        schedules::{DailySettings, ScheduleMode},
        subscribers::PreferencesUpdate,
        users::AdminRole,
    },
};
use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    admin::{Browser, PASSWORD, add_user},
    kit::{Backend, Mail, TestApp, find_link},
    on_both_databases,
};

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Hand ticks only, no background polling, sending by itself unless a test says not.
const AUTOMATIC: &str = "[schedule]\ntick_secs = 3600\nmode = \"automatic\"\nprefetch_secs = 20\n[ingest]\npoll_minutes = 0\n";

/// The service with its schedule created now, before the test moves the clock: a
/// schedule first created after a send time would (rightly) not fire it retroactively.
async fn spawn(backend: Backend, extra: &str, clock: &Clock) -> Option<TestApp> {
    let t = TestApp::spawn_with(backend, extra, clock.clone()).await?;
    runner::daily_schedule(&t.app).await.unwrap();
    Some(t)
}

/// One RSS feed on loopback whose items the test changes as it goes.
#[derive(Clone, Default)]
struct Paper {
    items: Arc<Mutex<Vec<String>>>,
}

impl Paper {
    /// Adds an item published at `published` with optional categories.
    fn publish(&self, slug: &str, published: &str, categories: &[&str]) {
        let cats: String = categories
            .iter()
            .map(|c| format!("<category>{c}</category>"))
            .collect();
        self.items.lock().unwrap().push(format!(
            "<item><title>{slug}</title><link>https://paper.example/{slug}</link>\
             <guid>https://paper.example/{slug}</guid><pubDate>{}</pubDate>{cats}\
             <description>About {slug}.</description></item>",
            at(published).to_rfc2822()
        ));
    }

    fn body(&self) -> String {
        format!(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>The Paper</title>\
             <link>https://paper.example/</link>{}</channel></rss>",
            self.items.lock().unwrap().join("")
        )
    }
}

async fn serve(State(paper): State<Paper>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/rss+xml")],
        paper.body(),
    )
}

/// Serves the paper on loopback and registers it as the publication's feed.
async fn start_paper(app: &App, section: Option<&str>) -> Paper {
    let paper = Paper::default();
    let router = Router::new()
        .route("/feed.xml", get(serve))
        .with_state(paper.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    app.store
        .insert_feed(
            &format!("http://{addr}/feed.xml"),
            "The Paper",
            section,
            app.now_ms(),
        )
        .await
        .unwrap();
    paper
}

async fn subscriber(app: &App, email: &str, name: Option<&str>, frequency: Frequency) -> i64 {
    let id = crate::kit::subscriber_named(app, email, name, SubscriberStatus::Confirmed).await;
    if frequency != Frequency::Daily {
        app.store
            .update_preferences(
                id,
                &PreferencesUpdate {
                    name,
                    frequency,
                    paused_until: None,
                },
                app.now_ms(),
            )
            .await
            .unwrap();
    }
    id
}

/// Titles of the articles in a digest.
async fn titles(app: &App, digest_id: i64) -> Vec<String> {
    let d = app.store.digest(digest_id).await.unwrap();
    let mut out: Vec<String> = app
        .store
        .articles_by_ids(&d.article_ids)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.title)
        .collect();
    out.sort();
    out
}

/// Ticks at `when` and waits until no firing is in flight (the service's own scheduler
/// also ticks once at start, and may be the one that fired); returns the firings so far.
async fn tick_at(app: &App, clock: &Clock, when: &str) -> usize {
    settle(app).await;
    clock.set(at(when));
    tick(app).await.unwrap();
    let daily = runner::daily_schedule(app).await.unwrap();
    for _ in 0..600 {
        let runs = app.store.schedule_runs(daily.id).await.unwrap();
        if runs.iter().all(|r| r.outcome != runner::OUTCOME_CLAIMED) {
            return runs.len();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a firing never finished");
}

/// Waits until no delivery row is queued or in flight. Moving the manual clock on by a
/// day while a send is in flight would make its leases look a day old, and its rows
/// would be sent a second time (CI saw six messages where five were due).
async fn settle(app: &App) {
    for _ in 0..600 {
        let mut busy = false;
        // Every digest that is sending, whatever its id (PostgreSQL's ids have gaps).
        for id in app.store.sending_digest_ids().await.unwrap() {
            let p = app.store.delivery_progress(id, app.now_ms()).await.unwrap();
            busy |= p.queued > 0 || p.sending > 0;
        }
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a send never settled");
}

async fn last_outcome(app: &App) -> String {
    let daily = runner::daily_schedule(app).await.unwrap();
    let runs = app.store.schedule_runs(daily.id).await.unwrap();
    runs.last().map(|r| r.outcome.clone()).unwrap_or_default()
}

/// Messages in the outbox once at least `n` arrived, parsed. Says where every send
/// stands when they do not arrive.
async fn mails(t: &TestApp, n: usize) -> Vec<Mail> {
    let raw = t.wait_for_outbox(n, Duration::from_secs(60)).await;
    if raw.len() < n {
        let mut report = String::new();
        for id in 1..10 {
            if let Ok(p) = t.app.store.delivery_progress(id, t.app.now_ms()).await {
                report.push_str(&format!("{p:?}\n"));
            }
        }
        panic!("{} of {n} messages arrived; sends:\n{report}", raw.len());
    }
    raw.iter().map(|m| Mail::parse(m)).collect()
}

// Failure 1: an article published just before the send is in this issue or the next.
async fn no_article_falls_between_two_issues(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T05:00:00Z")); // Tuesday; London is on GMT
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    let paper = start_paper(app, Some("News")).await;
    paper.publish("early", "2026-12-01T06:30:00Z", &[]);
    clock.set(at("2026-12-01T06:35:00Z"));
    ingest::fetch_all(app).await.unwrap(); // the 15-minute poll
    // Published 06:59, not polled yet: the pre-send fetch brings it in.
    paper.publish("one-minute-before", "2026-12-01T06:59:00Z", &[]);
    assert_eq!(tick_at(app, &clock, "2026-12-01T07:00:05Z").await, 1);
    assert_eq!(last_outcome(app).await, OUTCOME_SENT);
    let first = crate::kit::digest_on(app, "2026-12-01").await;
    assert_eq!(titles(app, first.id).await, ["early", "one-minute-before"]);
    // Back-dated to 06:59:30 but first seen at 07:05, after the issue was composed.
    paper.publish("late-but-backdated", "2026-12-01T06:59:30Z", &[]);
    clock.set(at("2026-12-01T07:05:00Z"));
    ingest::fetch_all(app).await.unwrap();
    paper.publish("overnight", "2026-12-02T03:00:00Z", &[]);
    assert_eq!(tick_at(app, &clock, "2026-12-02T07:00:05Z").await, 2);
    let second = crate::kit::digest_on(app, "2026-12-02").await;
    assert!(
        second.status.is_out(),
        "{:?}: {}",
        second.status,
        last_outcome(app).await
    );
    assert_eq!(
        titles(app, second.id).await,
        ["late-but-backdated", "overnight"],
        "every article in exactly one issue"
    );
    t.stop().await;
}
on_both_databases!(no_article_falls_between_two_issues);

/// Stores an article as a fetch does, stamped first seen at `seen`: a fetch that stamped
/// its articles at `seen` and commits them only now.
async fn store_stamped(app: &App, slug: &str, seen: &str) {
    let feed = app.store.feeds().await.unwrap().remove(0);
    let link = format!("https://paper.example/{slug}");
    app.store
        .upsert_article(
            feed.id,
            &breakfast::store::articles::NewArticle {
                dedup_key: &link,
                guid: Some(&link),
                link: Some(&link),
                title: slug,
                author: None,
                published_at: at(seen).timestamp_millis(),
                summary_html: "",
                summary_text: "",
                section: feed.section.as_deref(),
                categories: &[],
                image_url: None,
            },
            at(seen).timestamp_millis(),
        )
        .await
        .unwrap();
}

// Issue 10 audit, gap 1: a fetch in flight while an issue is composed (the 15-minute
// poll, "Fetch now", another process) stamps an article before the composition's read
// and commits it after; it goes into the next issue, not into none.
async fn an_article_stored_during_a_composition_is_in_the_next_issue(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    let paper = start_paper(app, Some("News")).await;
    paper.publish("early", "2026-12-01T06:30:00Z", &[]);
    clock.set(at("2026-12-01T06:35:00Z"));
    ingest::fetch_all(app).await.unwrap();
    assert_eq!(tick_at(app, &clock, "2026-12-01T07:00:05Z").await, 1);
    let first = crate::kit::digest_on(app, "2026-12-01").await;
    assert_eq!(titles(app, first.id).await, ["early"]);
    // Stamped at 07:00:00, five seconds before the composition, committed after it.
    store_stamped(app, "in-flight", "2026-12-01T07:00:00Z").await;
    settle(app).await;
    assert_eq!(tick_at(app, &clock, "2026-12-02T07:00:05Z").await, 2);
    let second = crate::kit::digest_on(app, "2026-12-02").await;
    assert!(second.status.is_out(), "{}", last_outcome(app).await);
    assert_eq!(
        titles(app, second.id).await,
        ["in-flight"],
        "an article stored while the first issue was composed is in the second"
    );
    t.stop().await;
}
on_both_databases!(an_article_stored_during_a_composition_is_in_the_next_issue);

// Issue 10 audit, gap 2: articles beyond `digest.max_articles` are counted, logged and
// shown to the editor in the composer (they are in no later issue).
async fn articles_over_the_cap_are_shown_to_the_editor(backend: Backend) {
    let extra = format!("{AUTOMATIC}[digest]\nmax_articles = 2\n");
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, &extra, &clock).await else {
        return;
    };
    let app = &t.app;
    let paper = start_paper(app, Some("News")).await;
    for (slug, when) in [
        ("one", "2026-12-01T04:00:00Z"),
        ("two", "2026-12-01T04:10:00Z"),
        ("three", "2026-12-01T04:20:00Z"),
        ("four", "2026-12-01T04:30:00Z"),
    ] {
        paper.publish(slug, when, &[]);
    }
    ingest::fetch_all(app).await.unwrap();
    breakfast::edition::compose_for_date(app, day("2026-12-01"))
        .await
        .unwrap();
    let d = crate::kit::digest_on(app, "2026-12-01").await;
    assert_eq!(titles(app, d.id).await, ["four", "three"]);
    assert_eq!(app.store.articles_left_out(d.id).await.unwrap(), 2);
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get(&format!("/admin?digest={}", d.id)).await.body;
    assert!(
        page.contains("2 more articles") && page.contains("max_articles"),
        "the composer says what the cap left out:\n{page}"
    );
    t.stop().await;
}
on_both_databases!(articles_over_the_cap_are_shown_to_the_editor);

// Failure 2: "Send now" after the morning issue never sends tomorrow's; a special
// edition goes out instead, and tomorrow's scheduled issue still goes out.
async fn send_now_after_the_morning_issue_and_special_editions(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    let paper = start_paper(app, Some("News")).await;
    paper.publish("morning", "2026-12-01T06:00:00Z", &[]);
    tick_at(app, &clock, "2026-12-01T07:00:05Z").await;
    mails(&t, 1).await;

    clock.set(at("2026-12-01T09:00:00Z"));
    let again = edition::send(app, Which::Today, By::Editor(1))
        .await
        .unwrap();
    assert!(
        matches!(again, Outcome::AlreadyOut { .. }),
        "Send now is today's issue: {again:?}"
    );
    let early = edition::send(app, Which::Date(day("2026-12-02")), By::Editor(1)).await;
    let why = format!("{:#}", early.unwrap_err());
    assert!(why.contains("goes out on its day"), "{why}");
    assert!(
        app.store
            .digest_for_date(day("2026-12-02"))
            .await
            .unwrap()
            .is_none_or(|d| !d.status.is_out())
    );

    // A special edition: its own number, subject and archive entry, today's date.
    paper.publish("breaking", "2026-12-01T08:55:00Z", &[]);
    ingest::fetch_all(app).await.unwrap();
    let special = edition::new_special(app).await.unwrap();
    assert_eq!(special.kind, EditionKind::Special);
    assert_eq!(special.issue_date, day("2026-12-01"));
    assert_eq!(special.edition_no, 1);
    let started = edition::send(app, Which::Digest(special.id), By::Editor(1))
        .await
        .unwrap();
    assert!(
        matches!(started, Outcome::Started { recipients: 1, .. }),
        "{started:?}"
    );
    let special = app.store.digest(special.id).await.unwrap();
    assert!(
        special
            .subject
            .as_deref()
            .unwrap()
            .contains("special edition")
    );
    assert_eq!(titles(app, special.id).await, ["breaking"]);
    let special_text = special.text.clone().unwrap();
    assert!(
        special_text.contains(&format!("/archive/{}", special.id)),
        "the special edition's own archive entry"
    );
    let got = mails(&t, 2).await;
    assert!(got[1].subject.contains("Tuesday 1 December") && got[1].subject.contains("special"));

    // Tomorrow's scheduled issue still goes out, with what came after the special.
    paper.publish("wednesday", "2026-12-02T05:00:00Z", &[]);
    tick_at(app, &clock, "2026-12-02T07:00:05Z").await;
    assert_eq!(last_outcome(app).await, OUTCOME_SENT);
    let wednesday = crate::kit::digest_on(app, "2026-12-02").await;
    assert_eq!(titles(app, wednesday.id).await, ["wednesday"]);
    let got = mails(&t, 3).await;
    assert!(
        got[2].subject.contains("Wednesday 2 December"),
        "{}",
        got[2].subject
    );
    let archive = app.store.list_sent_digests(10, 0).await.unwrap();
    assert_eq!(archive.len(), 3, "three archive entries");
    t.stop().await;
}
on_both_databases!(send_now_after_the_morning_issue_and_special_editions);

// Failure 4: the count shown before sending is the fan-out's audience.
async fn the_count_before_sending_is_the_fan_outs(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T08:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    subscriber(app, "a@example.org", None, Frequency::Daily).await;
    subscriber(app, "b@example.org", None, Frequency::Daily).await;
    subscriber(app, "weekly@example.org", None, Frequency::Weekly).await;
    let paused = subscriber(app, "away@example.org", Some("Away"), Frequency::Daily).await;
    app.store
        .update_preferences(
            paused,
            &PreferencesUpdate {
                name: Some("Away"),
                frequency: Frequency::Daily,
                paused_until: Some(app.now_ms() + 86_400_000 * 30),
            },
            app.now_ms(),
        )
        .await
        .unwrap();
    let paper = start_paper(app, None).await;
    paper.publish("story", "2026-12-01T07:30:00Z", &[]);
    ingest::fetch_all(app).await.unwrap();
    assert_eq!(edition::audience(app, EditionKind::Daily).await.unwrap(), 2);
    assert_eq!(
        edition::audience(app, EditionKind::Weekly).await.unwrap(),
        1
    );

    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get("/admin").await;
    assert!(
        page.body.contains("Send now to 2 subscribers"),
        "{}",
        page.body
    );
    let digest = crate::kit::digest_on(app, "2026-12-01").await;
    let confirm = b.get(&format!("/admin/digest/{}/send", digest.id)).await;
    assert!(
        confirm.body.contains("2 confirmed subscribers"),
        "{}",
        confirm.body
    );
    let sent = b
        .post(
            &format!("/admin/digest/{}/send", digest.id),
            &[("csrf", &confirm.csrf())],
        )
        .await;
    assert_eq!(sent.status, reqwest::StatusCode::SEE_OTHER, "{}", sent.body);
    let got = mails(&t, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(crate::kit::read_eml(&t.outbox_dir()).len(), 2);
    let mut to: Vec<String> = got.iter().map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["a@example.org", "b@example.org"]);
    assert_eq!(
        app.store.digest(digest.id).await.unwrap().recipients,
        Some(2)
    );
    // The fan-out was written with its history event, in one transaction.
    let events = app.store.digest_events(digest.id).await.unwrap();
    let fanned = events.iter().find(|e| e.kind == "fanned out").unwrap();
    assert_eq!(fanned.detail.as_deref(), Some("2 recipients in 1 batches"));
    assert!(events.iter().any(|e| e.kind == "sending"));
    // A feed's name and section are edited in the admin; the article list shows the
    // section the email uses.
    let feeds = b.get("/admin/feeds").await;
    let feed = app.store.feeds().await.unwrap()[0].id;
    let saved = b
        .post(
            &format!("/admin/feeds/{feed}/edit"),
            &[
                ("csrf", &feeds.csrf()),
                ("name", "The Daily Paper"),
                ("section", "Home"),
            ],
        )
        .await;
    assert_eq!(
        saved.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        saved.body
    );
    let f = app.store.feed(feed).await.unwrap();
    assert_eq!(
        (f.name.as_str(), f.section.as_deref()),
        ("The Daily Paper", Some("Home"))
    );
    let page = b.get("/admin").await;
    assert!(
        page.body.contains("Home · The Daily Paper"),
        "{}",
        page.body
    );
    t.stop().await;
}
on_both_databases!(the_count_before_sending_is_the_fan_outs);

// Failure 6: one time zone, the schedule's, for "today", the admin and the scheduler.
async fn one_time_zone_the_schedules(backend: Backend) {
    // 03:00 UTC on 1 December: already Tuesday in London, still Monday in New York.
    let clock = Clock::manual(at("2026-12-01T03:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    let daily = runner::daily_schedule(app).await.unwrap();
    assert_eq!(edition::today(app).await, day("2026-12-01"));
    app.store
        .update_daily_schedule(
            daily.id,
            &DailySettings {
                send_time: "07:00",
                time_zone: "America/New_York",
                days: "mon,tue,wed,thu,fri,sat,sun",
                skip_when_empty: true,
                mode: ScheduleMode::Automatic,
                delivery: Default::default(),
            },
            app.now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(app.config.schedule.time_zone, "Europe/London");
    assert_eq!(edition::today(app).await, day("2026-11-30"));
    let d = edition::resolve(app, Which::Today).await.unwrap();
    assert_eq!(
        d.issue_date,
        day("2026-11-30"),
        "Send now is New York's today"
    );
    let tz = breakfast::web::admin::admin_zone(app).await;
    assert_eq!(tz.name(), "America/New_York");
    // The archive tells an article's date in the same zone: 02:00 UTC on 1 December is
    // still 30 November in New York (in London, the configured zone, it would be 1 December).
    let paper = start_paper(app, Some("News")).await;
    paper.publish("evening", "2026-12-01T02:00:00Z", &[]);
    ingest::fetch_all(app).await.unwrap();
    edition::compose_for_date(app, day("2026-11-30"))
        .await
        .unwrap();
    let d = crate::kit::digest_on(app, "2026-11-30").await;
    assert_eq!(titles(app, d.id).await, ["evening"]);
    app.store
        .mark_digest_sent(d.id, app.now_ms())
        .await
        .unwrap();
    let events = app.store.digest_events(d.id).await.unwrap();
    assert_eq!(
        events.last().map(|e| e.kind.as_str()),
        Some("sent"),
        "marking an issue sent records it in the history"
    );
    let page = t.get("/archive/2026-11-30").await;
    assert!(
        page.text().contains(r#"class="byline">30 November<"#),
        "the archive dates the article in New York:\n{}",
        page.text()
    );
    t.stop().await;
}
on_both_databases!(one_time_zone_the_schedules);

// Issue 10 audit, gap 6: a one-off send made in another zone sends the issue of the
// publication's today (the one rule), not the date the one-off's zone has reached.
async fn a_one_off_send_sends_todays_issue(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    let paper = start_paper(app, Some("News")).await;
    paper.publish("noon", "2026-12-01T11:00:00Z", &[]);
    clock.set(at("2026-12-01T11:30:00Z"));
    ingest::fetch_all(app).await.unwrap();
    // Noon in London is 01:00 on 2 December in Auckland.
    let one_off = app
        .store
        .insert_one_off(
            at("2026-12-01T12:00:00Z").timestamp_millis(),
            "Pacific/Auckland",
            None,
            app.now_ms(),
        )
        .await
        .unwrap();
    clock.set(at("2026-12-01T12:00:05Z"));
    tick(app).await.unwrap();
    let runs = app.store.schedule_runs(one_off.id).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, OUTCOME_SENT, "{runs:?}");
    let d = crate::kit::digest_on(app, "2026-12-01").await;
    assert!(d.status.is_out(), "{:?}", d.status);
    assert_eq!(titles(app, d.id).await, ["noon"]);
    assert!(
        app.store
            .digest_for_date(day("2026-12-02"))
            .await
            .unwrap()
            .is_none_or(|d| !d.status.is_out()),
        "tomorrow's issue is not sent early"
    );
    settle(app).await;
    t.stop().await;
}
on_both_databases!(a_one_off_send_sends_todays_issue);

// Failure 7: one "nothing to send" rule: a note-only day is sent; an empty day is not.
async fn one_skip_rule_note_only_days_go_out(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    let digest = app
        .store
        .get_or_create_digest(day("2026-12-01"), app.now_ms())
        .await
        .unwrap();
    app.store
        .set_editor_note(
            digest.id,
            "No paper today: the printers are on strike.",
            app.now_ms(),
        )
        .await
        .unwrap();
    tick_at(app, &clock, "2026-12-01T07:00:05Z").await;
    assert_eq!(
        last_outcome(app).await,
        OUTCOME_SENT,
        "a note-only day is sent"
    );
    let got = mails(&t, 1).await;
    assert!(got[0].text.contains("printers are on strike"));
    // Nothing at all the next day: skipped, by the scheduler and by "Send now" alike.
    tick_at(app, &clock, "2026-12-02T07:00:05Z").await;
    assert_eq!(last_outcome(app).await, OUTCOME_SKIPPED);
    let now = edition::send(app, Which::Today, By::Editor(1))
        .await
        .unwrap();
    assert!(matches!(now, Outcome::NothingToSend { .. }), "{now:?}");
    let wed = crate::kit::digest_on(app, "2026-12-02").await;
    assert_eq!(wed.status, DigestStatus::Skipped);
    assert_eq!(
        app.store
            .delivery_progress(wed.id, app.now_ms())
            .await
            .unwrap()
            .queued,
        0
    );
    t.stop().await;
}
on_both_databases!(one_skip_rule_note_only_days_go_out);

// Failure 10: a changed [schedule] in the config is named in a warning, not ignored.
async fn a_changed_config_schedule_is_warned_about(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    assert_eq!(edition::config_drift(&t.app).await.unwrap(), None);
    let mut config: Config = t.app.config.clone();
    config.schedule.send_time = "06:30".into();
    let restarted = App::open(config, clock.clone()).await.unwrap();
    let warning = edition::config_drift(&restarted).await.unwrap().unwrap();
    assert!(
        warning.contains("\"06:30\"") && warning.contains("\"07:00\""),
        "{warning}"
    );
    assert!(warning.contains("/admin/schedule"), "{warning}");
    let stored = runner::daily_schedule(&restarted).await.unwrap();
    assert_eq!(
        stored.send_time.as_deref(),
        Some("07:00"),
        "the stored schedule wins"
    );
    restarted.close().await;
    t.stop().await;
}
on_both_databases!(a_changed_config_schedule_is_warned_about);

// Issue 10 audit, gap 7: the real binary logs the drift warning when it starts, naming
// both values (skip_when_empty too) and where to change them.
async fn the_drift_warning_is_logged_at_start(backend: Backend) {
    let Some(db) = crate::kit::TestDb::create(backend).await else {
        return;
    };
    // The first start seeds the schedule from the configuration.
    let config = crate::kit::test_config(&db, "http://127.0.0.1:1", "");
    let first = App::open(config, Clock::for_process()).await.unwrap();
    let seeded = runner::daily_schedule(&first).await.unwrap();
    assert_eq!(seeded.send_time.as_deref(), Some("07:00"));
    assert!(seeded.skip_when_empty);
    first.close().await;
    // A later start with another send time and skip rule in the configuration.
    let log = db.dir.path().join("serve.log");
    let mut cmd = crate::kit::breakfast_process(
        "serve",
        &db,
        &[
            ("BREAKFAST_SCHEDULE__SEND_TIME", "06:30"),
            ("BREAKFAST_DIGEST__SKIP_WHEN_EMPTY", "false"),
            ("BREAKFAST_INGEST__POLL_MINUTES", "0"),
            ("RUST_LOG", "warn"),
        ],
    );
    cmd.stderr(std::process::Stdio::from(
        std::fs::File::create(&log).unwrap(),
    ));
    let mut child = cmd.spawn().expect("breakfast serve starts");
    let mut text = String::new();
    for _ in 0..300 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("differs from the stored schedule") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        text.contains("differs from the stored schedule"),
        "no warning at start:\n{text}"
    );
    for part in [
        r#"send_time "06:30" (config) vs "07:00" (schedule)"#,
        "skip_when_empty false (config, [digest]) vs true (schedule)",
        "/admin/schedule",
    ] {
        assert!(text.contains(part), "{part} in:\n{text}");
    }
}
on_both_databases!(the_drift_warning_is_logged_at_start);

// Failure 3: a fresh install holds the first issue for approval.
async fn a_fresh_install_holds_the_first_issue_for_review(backend: Backend) {
    let quiet = "[schedule]\ntick_secs = 3600\nprefetch_secs = 20\n[ingest]\npoll_minutes = 0\n";
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, quiet, &clock).await else {
        return;
    };
    let app = &t.app;
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    let paper = start_paper(app, None).await;
    paper.publish("first", "2026-12-01T05:30:00Z", &[]);
    // The newcomer imports a list at 06:53.
    clock.set(at("2026-12-01T06:53:00Z"));
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    assert_eq!(
        runner::daily_schedule(app).await.unwrap().mode,
        ScheduleMode::Approval,
        "a new install waits for approval"
    );
    // Lead time: composed and sent to the editors for review.
    tick_at(app, &clock, "2026-12-01T06:55:00Z").await;
    let review_mail = mails(&t, 1).await;
    assert_eq!(review_mail[0].to, "ed@example.org");
    let link = find_link(&review_mail[0].text, "/admin?digest=").unwrap();
    let digest = crate::kit::digest_on(app, "2026-12-01").await;
    assert!(link.ends_with(&format!("digest={}", digest.id)), "{link}");
    // 07:00: not approved, so held, and nobody is mailed.
    tick_at(app, &clock, "2026-12-01T07:00:05Z").await;
    assert_eq!(last_outcome(app).await, OUTCOME_HELD);
    let held = app.store.digest(digest.id).await.unwrap();
    assert_eq!(held.status, DigestStatus::Held);
    assert_eq!(
        app.store.digests_awaiting_approval().await.unwrap().len(),
        1
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        crate::kit::read_eml(&t.outbox_dir()).len(),
        1,
        "only the review email"
    );
    // Held is visible on the schedule and the dashboard; an editor sends it late.
    clock.set(at("2026-12-01T07:20:00Z"));
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let schedule = b.get("/admin/schedule").await;
    assert!(
        schedule.body.contains("Waiting for approval") && schedule.body.contains("held"),
        "{}",
        schedule.body
    );
    let dashboard = b.get(&format!("/admin?digest={}", digest.id)).await;
    assert!(
        dashboard.body.contains("held: not approved"),
        "{}",
        dashboard.body
    );
    let sent = b
        .post(
            &format!("/admin/digest/{}/send", digest.id),
            &[("csrf", &dashboard.csrf())],
        )
        .await;
    assert_eq!(sent.status, reqwest::StatusCode::SEE_OTHER, "{}", sent.body);
    let got = mails(&t, 2).await;
    assert!(got.iter().any(|m| m.to == "reader@example.org"));
    // Approving something already sending or sent: refused, nothing changes.
    let refused = review::approve(app, digest.id, 1).await.unwrap_err();
    assert!(format!("{refused:#}").contains("already"), "{refused:#}");
    assert!(app.store.digest(digest.id).await.unwrap().status.is_out());

    // The next day, approved in time: it goes out at 07:00 as approved.
    paper.publish("second", "2026-12-02T05:30:00Z", &[]);
    tick_at(app, &clock, "2026-12-02T06:10:00Z").await;
    let wed = crate::kit::digest_on(app, "2026-12-02").await;
    review::approve(app, wed.id, 1).await.unwrap();
    tick_at(app, &clock, "2026-12-02T07:00:05Z").await;
    assert_eq!(last_outcome(app).await, OUTCOME_SENT);
    let events: Vec<String> = app
        .store
        .digest_events(wed.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        events[..4],
        ["composed", "review requested", "approved", "sending"],
        "{events:?}"
    );
    t.stop().await;
}
on_both_databases!(a_fresh_install_holds_the_first_issue_for_review);

// Failure 5: weekly readers get exactly one weekly edition, and no dailies.
async fn weekly_readers_get_the_weekly_edition_only(backend: Backend) {
    // Friday 4 December; the weekly day is Sunday.
    let clock = Clock::manual(at("2026-12-04T05:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "daily@example.org", None, Frequency::Daily).await;
    subscriber(app, "weekly@example.org", None, Frequency::Weekly).await;
    let paper = start_paper(app, Some("News")).await;
    for (slug, when, tick) in [
        ("friday", "2026-12-04T06:00:00Z", "2026-12-04T07:00:05Z"),
        ("saturday", "2026-12-05T06:00:00Z", "2026-12-05T07:00:05Z"),
        ("sunday", "2026-12-06T06:00:00Z", "2026-12-06T07:00:05Z"),
        ("monday", "2026-12-07T06:00:00Z", "2026-12-07T07:00:05Z"),
    ] {
        paper.publish(slug, when, &[]);
        tick_at(app, &clock, tick).await;
        tick_at(app, &clock, tick).await; // a second tick fires nothing more
    }
    // Previewed and reviewable in the admin like a daily issue.
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get("/admin?weekly=1").await;
    assert!(
        page.body.contains("the week to Sunday 13 December"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("1 daily subscriber and 1 weekly subscriber "),
        "{}",
        page.body
    );
    let got = mails(&t, 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all: Vec<Mail> = crate::kit::read_eml(&t.outbox_dir())
        .iter()
        .map(|m| Mail::parse(m))
        .collect();
    let seen: Vec<(&str, &str)> = all
        .iter()
        .map(|m| (m.to.as_str(), m.subject.as_str()))
        .collect();
    let mut sends = String::new();
    for id in 1..40 {
        if let Ok(p) = app.store.delivery_progress(id, app.now_ms()).await {
            let d = app.store.digest(id).await.unwrap();
            sends.push_str(&format!("{id} {:?} {:?} {p:?}\n", d.subject, d.status));
        }
    }
    assert_eq!(all.len(), 5, "{seen:#?}\n{sends}");
    let weekly: Vec<&Mail> = got
        .iter()
        .filter(|m| m.to == "weekly@example.org")
        .collect();
    assert_eq!(weekly.len(), 1, "exactly one weekly issue");
    assert!(
        weekly[0].subject.contains("the week to Sunday 6 December"),
        "{}",
        weekly[0].subject
    );
    for slug in ["friday", "saturday", "sunday"] {
        assert!(weekly[0].text.contains(slug), "{slug} in the week");
    }
    let daily: Vec<&Mail> = got.iter().filter(|m| m.to == "daily@example.org").collect();
    assert_eq!(daily.len(), 4, "one daily a day");
    assert!(daily.iter().all(|m| !m.subject.contains("the week")));
    let w = app
        .store
        .edition_for_date(day("2026-12-06"), EditionKind::Weekly)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.recipients, Some(1));
    t.stop().await;
}
on_both_databases!(weekly_readers_get_the_weekly_edition_only);

/// Messages to `to` in the outbox now.
fn mails_to(t: &TestApp, to: &str) -> Vec<Mail> {
    crate::kit::read_eml(&t.outbox_dir())
        .iter()
        .map(|m| Mail::parse(m))
        .filter(|m| m.to == to)
        .collect()
}

// Issue 10 audit, gaps 5 and 9: the weekly edition in approval mode is held until an
// editor acts, then goes out in one click; it leaves out what was dropped from the
// week's dailies and takes the best N of each section before the overall cap. An editor
// approves the daily issue over HTTP (the form's CSRF token is checked), and starts a
// special edition once it went out.
async fn the_weekly_edition_is_reviewed_like_a_daily(backend: Backend) {
    let extra = "[schedule]\ntick_secs = 3600\nmode = \"approval\"\nprefetch_secs = 20\n\
                 [ingest]\npoll_minutes = 0\n[digest]\nmax_articles = 3\nweekly_per_section = 1\n";
    // Friday 4 December; the weekly day is Sunday.
    let clock = Clock::manual(at("2026-12-04T05:00:00Z"));
    let Some(t) = spawn(backend, extra, &clock).await else {
        return;
    };
    let app = &t.app;
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    subscriber(app, "daily@example.org", None, Frequency::Daily).await;
    subscriber(app, "daily-too@example.org", None, Frequency::Daily).await;
    subscriber(app, "weekly@example.org", None, Frequency::Weekly).await;
    let paper = start_paper(app, Some("News")).await;
    paper.publish("beta", "2026-12-04T09:00:00Z", &["Beta"]);
    paper.publish("alpha-old", "2026-12-04T10:00:00Z", &["Alpha"]);
    paper.publish("alpha-new", "2026-12-05T04:00:00Z", &["Alpha"]);
    paper.publish("alpha-dropped", "2026-12-05T04:30:00Z", &["Alpha"]);
    clock.set(at("2026-12-05T05:00:00Z"));
    ingest::fetch_all(app).await.unwrap();
    // The editor drops a story from Saturday's daily.
    edition::compose_for_date(app, day("2026-12-05"))
        .await
        .unwrap();
    let saturday = crate::kit::digest_on(app, "2026-12-05").await;
    let dropped = app
        .store
        .article_by_dedup_key("https://paper.example/alpha-dropped")
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_digest_pick(
            saturday.id,
            &breakfast::store::digests::DigestPick {
                article_id: dropped.id,
                pinned: false,
                dropped: true,
                position: None,
            },
        )
        .await
        .unwrap();

    // Sunday, the lead time: both editions composed for review.
    paper.publish("sunday", "2026-12-06T05:30:00Z", &["Gamma"]);
    tick_at(app, &clock, "2026-12-06T06:05:00Z").await;
    let weekly = app
        .store
        .edition_for_date(day("2026-12-06"), EditionKind::Weekly)
        .await
        .unwrap()
        .expect("the weekly edition is composed for review");
    assert_eq!(
        titles(app, weekly.id).await,
        ["alpha-new", "beta", "sunday"],
        "the best of each section before the cap, without what the dailies dropped"
    );
    let sunday = crate::kit::digest_on(app, "2026-12-06").await;

    // The editor approves the daily issue over HTTP; without the form's token, nothing.
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get(&format!("/admin?digest={}", sunday.id)).await;
    let forged = b
        .post(&format!("/admin/digest/{}/approve", sunday.id), &[])
        .await;
    assert_ne!(forged.status, reqwest::StatusCode::SEE_OTHER);
    assert_eq!(
        app.store.digest(sunday.id).await.unwrap().status,
        DigestStatus::Composed
    );
    let approved = b
        .post(
            &format!("/admin/digest/{}/approve", sunday.id),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(
        approved.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        approved.body
    );
    assert_eq!(
        app.store.digest(sunday.id).await.unwrap().status,
        DigestStatus::Approved
    );

    // 07:00: the approved daily goes out, the unapproved weekly is held.
    tick_at(app, &clock, "2026-12-06T07:00:05Z").await;
    assert_eq!(
        app.store.digest(weekly.id).await.unwrap().status,
        DigestStatus::Held
    );
    let daily = mails(&t, 2).await; // the review request, then the daily issue
    let seen: Vec<(&str, &str)> = daily
        .iter()
        .map(|m| (m.to.as_str(), m.subject.as_str()))
        .collect();
    settle(app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mails_to(&t, "daily@example.org").len(), 1, "{seen:?}");
    assert!(
        mails_to(&t, "weekly@example.org").is_empty(),
        "held: nobody gets it"
    );

    // Held: "Send now" is one click, a form with the CSRF token, no confirmation page.
    clock.set(at("2026-12-06T07:30:00Z"));
    let page = b.get(&format!("/admin?digest={}", weekly.id)).await;
    let form = format!(
        r#"<form method="post" action="/admin/digest/{}/send">"#,
        weekly.id
    );
    assert!(page.body.contains(&form), "{}", page.body);
    // The confirmation page (still there for those who want it) counts weekly readers.
    let confirm = b.get(&format!("/admin/digest/{}/send", weekly.id)).await;
    assert!(
        confirm
            .body
            .contains("1 confirmed subscriber</strong> of the weekly edition"),
        "{}",
        confirm.body
    );
    let sent = b
        .post(
            &format!("/admin/digest/{}/send", weekly.id),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(sent.status, reqwest::StatusCode::SEE_OTHER, "{}", sent.body);
    crate::kit::wait_until_sent(app, weekly.id, Duration::from_secs(30)).await;
    // `digest status` shows the weekly edition's own count.
    let id = weekly.id.to_string();
    let out = crate::kit::breakfast_cmd(
        &["digest", "status", &id, "--json"],
        &[
            ("BREAKFAST_DATABASE_URL", t.db.url.as_str()),
            ("BREAKFAST_SECRET", "test-secret-0123456789"),
        ],
        t.db.dir.path(),
    );
    crate::kit::assert_success(&out);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["edition"], "weekly", "{status}");
    assert_eq!(status["recipients"], 1, "{status}");
    let got = mails_to(&t, "weekly@example.org");
    assert_eq!(got.len(), 1);
    for (slug, wanted) in [
        ("alpha-new", true),
        ("beta", true),
        ("sunday", true),
        ("alpha-old", false),
        ("alpha-dropped", false),
    ] {
        assert_eq!(
            got[0].text.contains(slug),
            wanted,
            "{slug}:\n{}",
            got[0].text
        );
    }
    assert_eq!(
        mails_to(&t, "daily@example.org").len(),
        1,
        "no weekly for daily readers"
    );

    // Today's issue went out: a special edition, by the form (its token checked).
    let forged = b.post("/admin/special", &[]).await;
    assert_ne!(forged.status, reqwest::StatusCode::SEE_OTHER);
    let page = b.get("/admin").await;
    let started = b.post("/admin/special", &[("csrf", &page.csrf())]).await;
    assert_eq!(
        started.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        started.body
    );
    let editions = app.store.editions_of_date(day("2026-12-06")).await.unwrap();
    let special = editions
        .iter()
        .find(|d| d.kind == EditionKind::Special)
        .expect("a special edition");
    assert_eq!(
        started.location.as_deref(),
        Some(format!("/admin?digest={}", special.id).as_str())
    );
    t.stop().await;
}
on_both_databases!(the_weekly_edition_is_reviewed_like_a_daily);

// Failure 8: RSS categories become sections (mapped by the config), as the admin shows.
async fn feed_categories_become_sections(backend: Backend) {
    let extra =
        format!("{AUTOMATIC}[digest]\ncategory_sections = {{ \"uk-politics\" = \"Politics\" }}\n");
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, &extra, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    let paper = start_paper(app, Some("Fallback")).await;
    paper.publish("vote", "2026-12-01T04:00:00Z", &["uk-politics"]);
    paper.publish("match", "2026-12-01T04:10:00Z", &["Sport", "Football"]);
    paper.publish("plain", "2026-12-01T04:20:00Z", &[]);
    ingest::fetch_all(app).await.unwrap();
    let ok = breakfast::edition::compose_for_date(app, day("2026-12-01"))
        .await
        .unwrap();
    assert!(matches!(
        ok,
        breakfast::edition::ComposeOutcome::Composed(_)
    ));
    let d = crate::kit::digest_on(app, "2026-12-01").await;
    let text = d.text.unwrap();
    for (section, slug) in [
        ("Politics", "vote"),
        ("Sport", "match"),
        ("Fallback", "plain"),
    ] {
        let s = text
            .find(section)
            .unwrap_or_else(|| panic!("{section} in\n{text}"));
        let a = text.find(slug).unwrap();
        assert!(s < a, "{slug} under {section}");
    }
    assert!(!text.contains("Latest"), "no catch-all block");
    // A pinned article is labelled by the same rule, in the email and in the archive,
    // and the archive's sections are the email's.
    let vote = app
        .store
        .article_by_dedup_key("https://paper.example/vote")
        .await
        .unwrap()
        .unwrap();
    app.store
        .set_digest_pick(
            d.id,
            &breakfast::store::digests::DigestPick {
                article_id: vote.id,
                pinned: true,
                dropped: false,
                position: Some(1),
            },
        )
        .await
        .unwrap();
    breakfast::edition::compose_for_date(app, day("2026-12-01"))
        .await
        .unwrap();
    let d = crate::kit::digest_on(app, "2026-12-01").await;
    let html = d.html.clone().unwrap();
    assert!(
        html.contains(">Politics</p>") && !html.contains(">Fallback</p>"),
        "the pinned article is labelled Politics:\n{html}"
    );
    app.store
        .mark_digest_sent(d.id, app.now_ms())
        .await
        .unwrap();
    let page = t.get("/archive/2026-12-01").await;
    let page = page.text();
    assert!(
        page.contains(r#"class="kicker">Politics</p>"#),
        "the archive labels the pinned article as the email does:\n{page}"
    );
    for (section, slug) in [("Sport", "match"), ("Fallback", "plain")] {
        let s = page
            .find(&format!(r#"aria-label="{section}""#))
            .unwrap_or_else(|| panic!("a {section} section in the archive:\n{page}"));
        let a = page.find(&format!("paper.example/{slug}")).unwrap();
        assert!(s < a, "{slug} under {section} in the archive");
    }
    t.stop().await;
}
on_both_databases!(feed_categories_become_sections);

#[test]
fn a_category_mapped_to_an_unknown_section_is_refused_by_name() {
    let err = Config::from_toml_str(
        "[digest]\nsection_order = [\"News\", \"Sport\"]\ncategory_sections = { \"footy\" = \"Sprot\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"footy\"") && err.contains("\"Sprot\""),
        "{err}"
    );
}

// Issue 10 audit, gap 8: with no section in the configuration, the mapping is checked
// against the stored feeds' sections (editors set them in the admin): a typo is refused
// by name where the feeds are synced, and nothing is added.
async fn a_mapping_to_an_unknown_stored_section_is_refused(backend: Backend) {
    let extra = format!(
        "{AUTOMATIC}[digest]\ncategory_sections = {{ \"footy\" = \"Sprot\" }}\n\
         [[feeds]]\nurl = \"http://127.0.0.1:9/other.xml\"\nname = \"Other\"\n"
    );
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, &extra, &clock).await else {
        return;
    };
    let app = &t.app;
    start_paper(app, Some("Sport")).await;
    let err = ingest::sync_config_feeds(app).await.unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains("\"footy\"") && err.contains("\"Sprot\"") && err.contains("sport"),
        "{err}"
    );
    assert_eq!(app.store.feeds().await.unwrap().len(), 1, "nothing added");
    // Spelled as the stored feed's section, the mapping passes.
    let mut config = app.config.clone();
    config
        .digest
        .category_sections
        .insert("footy".into(), "Sport".into());
    config
        .check_category_sections_with(&["Sport".into()])
        .unwrap();
    t.stop().await;
}
on_both_databases!(a_mapping_to_an_unknown_stored_section_is_refused);

// Failure 9: a test copy's links work: the draft opens, the others say it was a test.
async fn test_copy_links_work(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    let paper = start_paper(app, None).await;
    paper.publish("draft-story", "2026-12-01T04:00:00Z", &[]);
    ingest::fetch_all(app).await.unwrap();
    let digest = edition::resolve(app, Which::Today).await.unwrap();
    edition::prepare(app, &digest).await.unwrap();
    let (subject, html, text) = test_copy::test_copy(app, digest.id).await.unwrap();
    assert!(subject.starts_with("[Test] "));
    let view = find_link(&text, "/draft/").unwrap();
    assert!(html.contains(&view.replace('&', "&amp;")));
    let page = t.http.get(&view).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(page.text().await.unwrap().contains("draft-story"));
    assert!(find_link(&text, "/unsubscribe?token=").is_none());
    let unsubscribe = find_link(&text, "/test-copy").unwrap();
    let page = t
        .http
        .get(&unsubscribe)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("test copy") && !page.contains("deleted"),
        "{page}"
    );
    // The draft link expires.
    clock.advance(chrono::Duration::days(test_copy::DRAFT_LINK_DAYS + 1));
    let expired = t.http.get(&view).send().await.unwrap();
    assert_eq!(expired.status(), reqwest::StatusCode::FORBIDDEN);
    // A forged one never worked.
    let forged = t.url(&format!("/draft/{}?token=abc.def", digest.id));
    let forged = t.http.get(&forged).send().await.unwrap();
    assert_eq!(forged.status(), reqwest::StatusCode::FORBIDDEN);
    t.stop().await;
}
on_both_databases!(test_copy_links_work);

// Failure 11: the greeting is the editor's pattern, with a fallback and no dangling comma.
async fn the_greeting_is_the_editors(backend: Backend) {
    let extra = format!(
        "{AUTOMATIC}[digest]\ngreeting = \"Dear {{first_name}},\"\ngreeting_without_name = \"Dear reader,\"\n"
    );
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, &extra, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "ana@example.org", Some("Ana Lima"), Frequency::Daily).await;
    subscriber(app, "anon@example.org", None, Frequency::Daily).await;
    let paper = start_paper(app, None).await;
    paper.publish("story", "2026-12-01T06:00:00Z", &[]);
    tick_at(app, &clock, "2026-12-01T07:00:05Z").await;
    let got = mails(&t, 2).await;
    let ana = got.iter().find(|m| m.to == "ana@example.org").unwrap();
    let anon = got.iter().find(|m| m.to == "anon@example.org").unwrap();
    let (ana_text, anon_text) = (
        ana.text.replace("\r\n", "\n"),
        anon.text.replace("\r\n", "\n"),
    );
    assert!(ana_text.contains("Dear Ana,\n"), "{ana_text}");
    assert!(anon_text.contains("Dear reader,\n"), "{anon_text}");
    for m in [ana, anon] {
        assert!(!m.text.contains("Good morning") && !m.html.contains("Good morning"));
    }
    let archive = crate::kit::digest_on(app, "2026-12-01").await;
    assert!(archive.text.unwrap().contains("Dear reader,\n"));
    // The editor writes their own greeting in the admin (or none).
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get("/admin/schedule").await;
    assert!(page.body.contains("Dear {first_name},"), "{}", page.body);
    let saved = b
        .post(
            "/admin/schedule/greeting",
            &[
                ("csrf", &page.csrf()),
                ("greeting", "Morning {first_name}!"),
                ("greeting_without_name", ""),
            ],
        )
        .await;
    assert_eq!(
        saved.status,
        reqwest::StatusCode::SEE_OTHER,
        "{}",
        saved.body
    );
    // A schedule saved with a zone that does not exist: a clear message, nothing changed.
    let page = b.get("/admin/schedule").await;
    let bad = b
        .post(
            "/admin/schedule",
            &[
                ("csrf", &page.csrf()),
                ("send_time", "06:00"),
                ("time_zone", "Mars/Olympus"),
                ("days", "mon"),
                ("mode", "approval"),
            ],
        )
        .await;
    assert_eq!(bad.status, reqwest::StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("Mars/Olympus") && bad.body.contains("IANA"),
        "{}",
        bad.body
    );
    let kept = runner::daily_schedule(app).await.unwrap();
    assert_eq!(
        (
            kept.send_time.as_deref(),
            kept.time_zone.as_str(),
            kept.mode
        ),
        (Some("07:00"), "Europe/London", ScheduleMode::Automatic)
    );
    paper.publish("next", "2026-12-02T06:00:00Z", &[]);
    tick_at(app, &clock, "2026-12-02T07:00:05Z").await;
    let got = mails(&t, 4).await;
    let day_two = |to: &str| {
        got.iter()
            .find(|m| m.to == to && m.subject.contains("Wednesday"))
            .unwrap()
    };
    let (ana, anon) = (day_two("ana@example.org"), day_two("anon@example.org"));
    assert!(ana.text.contains("Morning Ana!"), "{}", ana.text);
    assert!(
        !anon.text.contains("Dear") && !anon.text.contains("Morning"),
        "{}",
        anon.text
    );
    t.stop().await;
}
on_both_databases!(the_greeting_is_the_editors);

// Bad input: two editors pressing "Send now" at once start one send.
async fn two_editors_sending_at_once_send_once(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T08:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    let paper = start_paper(app, None).await;
    paper.publish("story", "2026-12-01T07:30:00Z", &[]);
    ingest::fetch_all(app).await.unwrap();
    let digest = edition::resolve(app, Which::Today).await.unwrap();
    edition::prepare(app, &digest).await.unwrap();
    let (a, b) = tokio::join!(
        edition::send(app, Which::Digest(digest.id), By::Editor(1)),
        edition::send(app, Which::Digest(digest.id), By::Editor(2)),
    );
    let started = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Ok(Outcome::Started { .. })))
        .count();
    assert_eq!(started, 1, "{a:?} {b:?}");
    for r in [&a, &b] {
        match r {
            Ok(Outcome::Started { .. } | Outcome::AlreadyOut { .. }) => {}
            Err(e) => assert!(format!("{e:#}").contains("already"), "{e:#}"),
            other => panic!("{other:?}"),
        }
    }
    mails(&t, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(crate::kit::read_eml(&t.outbox_dir()).len(), 1);
    t.stop().await;
}
on_both_databases!(two_editors_sending_at_once_send_once);

// Failure 5, the form: the sign-up form offers the weekly edition, and a new reader's
// choice is kept.
async fn the_sign_up_form_offers_the_weekly_edition(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let form = t.get("/").await.body;
    assert!(
        form.contains("value=\"weekly\"") && form.contains("on Sunday"),
        "{form}"
    );
    let res = t
        .post_form(
            "/subscribe",
            &[("email", "weekly@example.org"), ("frequency", "weekly")],
        )
        .await;
    // The sign-up's work runs after its answer.
    breakfast::subscribers::signups_settled(Duration::from_secs(10)).await;
    assert!(
        res.status.is_success() || res.status.is_redirection(),
        "{}",
        res.status
    );
    let s = t
        .app
        .store
        .subscriber_by_email(&EmailAddress::parse("weekly@example.org").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.frequency, Frequency::Weekly);
    assert_eq!(s.status, SubscriberStatus::Pending);
    t.stop().await;
}
on_both_databases!(the_sign_up_form_offers_the_weekly_edition);

/// Migration 0007 on a database that already has digests, deliveries and a schedule: SQLite
/// rebuilds the digests table, and nothing that refers to a digest may be lost.
async fn upgrading_keeps_every_digest_and_delivery(backend: Backend) {
    let Some(db) = crate::kit::TestDb::create(backend).await else {
        return;
    };
    let store = breakfast::store::Store::connect(&db.url).await.unwrap();
    let now = 1_764_000_000_000_i64;
    let statements = [
        "INSERT INTO subscribers (email, email_key, status, created_at, status_changed_at) VALUES ('a@example.org', 'a@example.org', 'confirmed', 1, 1)",
        "INSERT INTO feeds (url, name, enabled, created_at) VALUES ('https://p.example/f.xml', 'P', TRUE, 1)",
        "INSERT INTO articles (feed_id, dedup_key, title, published_at, summary_html, summary_text, first_seen_at, updated_at) VALUES (1, 'k', 'T', 1, '', '', 1, 1)",
        "INSERT INTO digests (issue_date, status, html, text, subject, send_started_at, created_at, updated_at) VALUES ('2026-11-30', 'sent', '<p>x</p>', 'x', 'Old', 1, 1, 1)",
        "INSERT INTO digest_picks (digest_id, article_id, pinned) VALUES (1, 1, TRUE)",
        "INSERT INTO deliveries (digest_id, subscriber_id, batch_no, state, updated_at) VALUES (1, 1, 0, 'sent', 1)",
        "INSERT INTO schedules (kind, send_time, time_zone, created_at, updated_at) VALUES ('daily', '07:00', 'Europe/London', 1, 1)",
        "INSERT INTO schedules (kind, time_zone, run_at, digest_id, created_at, updated_at) VALUES ('oneoff', 'Europe/London', 5, 1, 1, 1)",
    ];
    store.migrate_to(6).await.unwrap();
    for sql in statements {
        store
            .fixture_exec(breakfast::store::query(sql))
            .await
            .unwrap();
    }
    store.close().await;
    let config = crate::kit::test_config(&db, "http://127.0.0.1:9", "");
    let app = App::open(
        config,
        Clock::manual(DateTime::from_timestamp_millis(now).unwrap()),
    )
    .await
    .unwrap();
    let d = app.store.digest(1).await.unwrap();
    assert_eq!(
        (d.kind, d.status, d.edition_no),
        (EditionKind::Daily, DigestStatus::Sent, 0)
    );
    assert_eq!(app.store.digest_picks(1).await.unwrap().len(), 1);
    assert_eq!(app.store.delivery_progress(1, now).await.unwrap().sent, 1);
    assert_eq!(app.store.schedule_runs(2).await.unwrap().len(), 0);
    let daily = runner::daily_schedule(&app).await.unwrap();
    assert_eq!(
        daily.mode,
        ScheduleMode::Automatic,
        "an existing install keeps sending"
    );
    assert_eq!(
        app.store.pending_one_offs().await.unwrap()[0].digest_id,
        Some(1)
    );
    assert_eq!(app.store.list_sent_digests(10, 0).await.unwrap().len(), 1);
    app.close().await;
}
on_both_databases!(upgrading_keeps_every_digest_and_delivery);

/// "Send now" before the send time sends today's issue, so the morning's fire will find it
/// out and send nothing: the composer's schedule line and the archive's "next issue" name
/// tomorrow's send, not the one that will do nothing.
async fn after_send_now_the_next_send_named_is_tomorrows(backend: Backend) {
    let clock = Clock::manual(at("2026-12-01T05:00:00Z"));
    let Some(t) = spawn(backend, AUTOMATIC, &clock).await else {
        return;
    };
    let app = &t.app;
    subscriber(app, "reader@example.org", None, Frequency::Daily).await;
    let paper = start_paper(app, Some("News")).await;
    paper.publish("early", "2026-12-01T04:30:00Z", &[]);
    ingest::fetch_all(app).await.unwrap();
    add_user(app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let before = b.get("/admin").await;
    assert!(
        before
            .body
            .contains("Next scheduled send: Tuesday 1 December, 07:00"),
        "{}",
        before.body
    );
    let sent = edition::send(app, Which::Today, By::Editor(1))
        .await
        .unwrap();
    assert!(matches!(sent, Outcome::Started { .. }), "{sent:?}");
    mails(&t, 1).await;
    let after = b.get("/admin").await;
    assert!(
        after
            .body
            .contains("Next scheduled send: Wednesday 2 December, 07:00"),
        "{}",
        after.body
    );
    let archive = t.get("/archive").await;
    assert!(
        archive
            .body
            .contains("The next issue goes out on Wednesday 2 December"),
        "{}",
        archive.body
    );
    t.stop().await;
}
on_both_databases!(after_send_now_the_next_send_named_is_tomorrows);
