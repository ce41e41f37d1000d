//! Operators: queue numbers (store, CLI, metrics), retry/discard/purge, /metrics, /readyz.

use std::time::{Duration, Instant};

use breakfast::{
    domain::{Clock, EmailAddress},
    ops::metrics::{known_job_kinds, now_secs},
    queue::{Job, fixtures::RawJob, jobs::SendTransactional, stats::KindStats},
};
use serde_json::Value;

use crate::{
    kit::{Backend, TestApp, breakfast_cmd, free_port},
    on_both_databases,
};

/// A kind no worker serves, so rows of it stay as the test put them.
const KIND: &str = "ops-test";

fn letter(to: &str) -> SendTransactional {
    SendTransactional {
        to: EmailAddress::parse(to).unwrap(),
        to_name: None,
        subject: "Queue test".into(),
        html: "<p>hello</p>".into(),
        text: "hello".into(),
        list_subscriber_id: None,
        unsubscribe_url: None,
        event: None,
    }
}

struct Row {
    status: &'static str,
    attempts: i64,
    max_attempts: i64,
    run_ago: i64,
    done_ago: Option<i64>,
    error: Option<&'static str>,
}

const fn row(status: &'static str, run_ago: i64, done_ago: Option<i64>) -> Row {
    Row {
        status,
        attempts: 0,
        max_attempts: 5,
        run_ago,
        done_ago,
        error: None,
    }
}

/// 5 waiting (one not yet due), 2 running, 5 done (3 in the last minute, 4 in the last
/// hour), 2 retrying, 2 dead (one killed, one out of attempts).
fn known_state() -> Vec<Row> {
    vec![
        row("Pending", 120, None),
        row("Pending", 30, None),
        row("Pending", 10, None),
        row("Pending", -600, None),
        row("Queued", 5, None),
        row("Running", 20, None),
        row("Running", 15, None),
        row("Done", 30, Some(10)),
        row("Done", 40, Some(20)),
        row("Done", 50, Some(30)),
        row("Done", 1900, Some(1800)),
        row("Done", 8000, Some(7200)),
        Row {
            attempts: 2,
            error: Some(r#"{"Err":"temporary failure: 451 4.3.0 try again later"}"#),
            ..row("Failed", 5, Some(6))
        },
        Row {
            attempts: 1,
            error: Some(r#"{"Err":"temporary failure: connection refused"}"#),
            ..row("Failed", 4, Some(7))
        },
        Row {
            attempts: 5,
            error: Some(r#"{"Err":"temporary failure: 421 too busy"}"#),
            ..row("Failed", 100, Some(90))
        },
        Row {
            attempts: 3,
            error: Some(r#"{"Err":"discarded by an operator"}"#),
            ..row("Killed", 200, Some(150))
        },
    ]
}

async fn fill_known_state(t: &TestApp) {
    let now = now_secs();
    for (i, r) in known_state().iter().enumerate() {
        let id = format!("ops-{i:02}");
        t.app
            .store
            .insert_raw_job(&RawJob {
                id: &id,
                kind: KIND,
                payload: b"{}",
                status: r.status,
                attempts: r.attempts,
                max_attempts: r.max_attempts,
                run_at_secs: now - r.run_ago,
                done_at_secs: r.done_ago.map(|d| now - d),
                last_result: r.error,
            })
            .await
            .unwrap();
    }
    // These rows are back-dated, which apalis never does (it stamps `done_at` when a job
    // ends): a tally the background loop may have taken meanwhile would miss them until
    // its hourly full recount, so recount now — again if the loop's first tally of this
    // new kind, read before the inserts, landed after our recount (CI saw 3 done for 5).
    let done = known_state().iter().filter(|r| r.status == "Done").count() as i64;
    for _ in 0..20 {
        t.app
            .store
            .refresh_done_counts(now - 300, true)
            .await
            .unwrap();
        if kind_stats(t, KIND).await.done == done {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn assert_known_numbers(k: &KindStats) {
    assert_eq!(
        (k.waiting, k.running, k.done, k.retrying, k.dead),
        (5, 2, 5, 2, 2),
        "{k:?}"
    );
    assert_eq!((k.done_last_minute, k.done_last_hour), (3, 4), "{k:?}");
    let oldest = k.oldest_waiting_secs.expect("a due job is waiting");
    assert!((120..130).contains(&oldest), "{k:?}");
}

fn cli_env(t: &TestApp) -> Vec<(&'static str, String)> {
    vec![("BREAKFAST_DATABASE_URL", t.db.url.clone())]
}

fn run_cli(t: &TestApp, args: &[&str]) -> String {
    let env = cli_env(t);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = breakfast_cmd(args, &env, t.db.dir.path());
    assert!(
        out.status.success(),
        "breakfast {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn queue_numbers_match_a_known_state(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    fill_known_state(&t).await;

    let stats = t
        .app
        .store
        .queue_stats(&known_job_kinds(), now_secs())
        .await
        .unwrap();
    let ours = stats.iter().find(|k| k.kind == KIND).expect("kind listed");
    assert_known_numbers(ours);
    assert!(
        stats.iter().any(|k| k.kind == SendTransactional::QUEUE),
        "known kinds are listed before their first job: {stats:?}"
    );

    let failures = t.app.store.job_failures(10).await.unwrap();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert_eq!(
        failures[0].error,
        "temporary failure: 451 4.3.0 try again later"
    );
    assert_eq!(
        (failures[0].state.as_str(), failures[0].attempts),
        ("retrying", 2)
    );
    let dead: Vec<_> = failures.iter().filter(|f| f.state == "dead").collect();
    assert_eq!(dead.len(), 2, "{failures:?}");

    // The CLI reads the same numbers from the database.
    let json: Value = serde_json::from_str(&run_cli(&t, &["queue", "stats", "--json"])).unwrap();
    let kind = json["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == KIND)
        .expect("kind in CLI output")
        .clone();
    let from_cli: KindStats = KindStats {
        kind: KIND.into(),
        waiting: kind["waiting"].as_i64().unwrap(),
        running: kind["running"].as_i64().unwrap(),
        done: kind["done"].as_i64().unwrap(),
        retrying: kind["retrying"].as_i64().unwrap(),
        dead: kind["dead"].as_i64().unwrap(),
        oldest_waiting_secs: kind["oldest_waiting_secs"].as_i64(),
        done_last_minute: kind["done_last_minute"].as_i64().unwrap(),
        done_last_hour: kind["done_last_hour"].as_i64().unwrap(),
    };
    assert_known_numbers(&from_cli);
    let table = run_cli(&t, &["queue", "stats"]);
    assert!(
        table.contains(KIND) && table.contains("RETRYING"),
        "{table}"
    );
    let failed = run_cli(&t, &["queue", "failed"]);
    assert!(failed.contains("451 4.3.0 try again later"), "{failed}");

    // And /metrics shows them as gauges.
    let metrics = scrape(&t, None).await;
    assert_eq!(
        sample(
            &metrics,
            "breakfast_jobs",
            &[("kind", KIND), ("state", "done")]
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "breakfast_jobs",
            &[("kind", KIND), ("state", "dead")]
        ),
        Some(2.0)
    );
    t.stop().await;
}
on_both_databases!(queue_numbers_match_a_known_state);

async fn discarded_job_is_retried_and_completes(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let kind = SendTransactional::QUEUE;
    t.app
        .queue
        .push_after(letter("later@example.org"), Duration::from_secs(3600))
        .await
        .unwrap();
    let ids = t.app.store.job_ids(kind, "Pending", 10).await.unwrap();
    assert_eq!(ids.len(), 1);
    assert!(t.app.store.discard_job(&ids[0], now_secs()).await.unwrap());
    let k = kind_stats(&t, kind).await;
    assert_eq!((k.waiting, k.dead), (0, 1), "{k:?}");
    let failures = t.app.store.job_failures(5).await.unwrap();
    assert_eq!(failures[0].error, "discarded by an operator");

    let out = run_cli(&t, &["queue", "retry", &ids[0]]);
    assert!(out.contains("queued again"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let k = kind_stats(&t, kind).await;
        // The numbers come from several statements; wait until they agree rather than
        // read them mid-transition.
        if (k.done, k.waiting, k.dead, k.retrying) == (1, 0, 0, 0) {
            break;
        }
        if Instant::now() > deadline {
            let queued = t.app.store.job_ids(kind, "Queued", 5).await.unwrap();
            panic!("the retried job never completed: {k:?}, queued: {queued:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mail = t.wait_for_outbox(1, Duration::from_secs(5)).await;
    assert_eq!(mail.len(), 1);

    // An unknown id is an error with a message, not a crash.
    let env = cli_env(&t);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = breakfast_cmd(&["queue", "retry", "no-such-job"], &env, t.db.dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no failed or dead job"));
    t.stop().await;
}
on_both_databases!(discarded_job_is_retried_and_completes);

async fn retry_all_and_purge(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    fill_known_state(&t).await;
    let out = run_cli(&t, &["queue", "retry", "--all"]);
    assert!(out.starts_with("4 "), "{out}");
    let k = kind_stats(&t, KIND).await;
    assert_eq!((k.waiting, k.retrying, k.dead), (9, 0, 0), "{k:?}");

    // Done jobs: 3 within the minute, 1 at 30 minutes, 1 at 2 hours. The dashboard's
    // tally counts up to a moment and adds what finished since; moving the moment, in
    // full or by increments, never changes the total.
    t.app
        .store
        .refresh_done_counts(now_secs() - 25, true)
        .await
        .unwrap();
    assert_eq!(kind_stats(&t, KIND).await.done, 5);
    t.app
        .store
        .refresh_done_counts(now_secs() - 5, false)
        .await
        .unwrap();
    assert_eq!(kind_stats(&t, KIND).await.done, 5);
    let out = run_cli(&t, &["queue", "purge", "--done-older-than", "1h"]);
    assert!(out.starts_with("1 "), "{out}");
    let pruned = breakfast::ops::retention::prune(&t.app).await.unwrap();
    assert_eq!(pruned.jobs, 0, "the default keeps 30 days");
    assert_eq!(
        t.app.store.purge_done_jobs(now_secs() - 60).await.unwrap(),
        1
    );
    assert_eq!(kind_stats(&t, KIND).await.done, 3);
    t.stop().await;
}
on_both_databases!(retry_all_and_purge);

async fn kind_stats(t: &TestApp, kind: &str) -> KindStats {
    t.app
        .store
        .queue_stats(&[kind], now_secs())
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.kind == kind)
        .unwrap()
}

async fn scrape(t: &TestApp, token: Option<&str>) -> prometheus_parse::Scrape {
    let token = token.unwrap_or(crate::kit::TEST_METRICS_TOKEN);
    let request = t.http.get(t.url("/metrics")).bearer_auth(token);
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

async fn metrics_parse_and_counters_move(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let before = scrape(&t, None).await;
    let sent = |s: &prometheus_parse::Scrape| {
        sample(s, "breakfast_transactional_sent_total", &[]).expect("counter present")
    };
    for name in [
        "breakfast_messages_sent_total",
        "breakfast_messages_failed_total",
        "breakfast_messages_retried_total",
    ] {
        assert!(sample(&before, name, &[]).is_some(), "{name} missing");
    }
    assert!(sample(&before, "breakfast_subscribers", &[("status", "confirmed")]).is_some());

    t.app
        .queue
        .push(letter("reader@example.org"))
        .await
        .unwrap();
    if t.wait_for_outbox(1, Duration::from_secs(20))
        .await
        .is_empty()
    {
        let kind = kind_stats(&t, SendTransactional::QUEUE).await;
        let failures = t.app.store.job_failures(5).await.unwrap();
        let queued = t
            .app
            .store
            .job_ids(SendTransactional::QUEUE, "Queued", 5)
            .await
            .unwrap();
        panic!("the email was not sent: {kind:?} {failures:?} queued: {queued:?}");
    }
    // The counter is bumped just after the message is written.
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let after = scrape(&t, None).await;
        if sent(&after) > sent(&before) || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(sent(&after) >= sent(&before) + 1.0);
    let histogram = after
        .samples
        .iter()
        .find(|s| s.metric == "breakfast_mail_send_seconds")
        .expect("send latency recorded");
    assert!(
        matches!(histogram.value, prometheus_parse::Value::Histogram(_)),
        "{:?}",
        histogram.value
    );
    assert!(
        sample(
            &after,
            "breakfast_http_requests_total",
            &[("route", "/metrics"), ("method", "GET"), ("status", "200")]
        )
        .is_some_and(|v| v >= 1.0)
    );
    t.stop().await;
}
on_both_databases!(metrics_parse_and_counters_move);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_is_required_when_set() {
    let Some(t) =
        TestApp::with_toml(Backend::Sqlite, "[metrics]\ntoken = \"scrape-secret-0123\"").await
    else {
        return;
    };
    let bare = t.http.get(t.url("/metrics")).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let wrong = t
        .http
        .get(t.url("/metrics"))
        .bearer_auth("scrape-secret-0124")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scrape = scrape(&t, Some("scrape-secret-0123")).await;
    assert!(!scrape.samples.is_empty());
    t.stop().await;
}

async fn readyz(t: &TestApp) -> (u16, Value) {
    let r = t.http.get(t.url("/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Removes the newest row of our migration history, as if that migration never ran.
async fn forget_last_migration(t: &TestApp) {
    use sqlx::Connection;
    let sql =
        "DELETE FROM app_migrations WHERE version = (SELECT MAX(version) FROM app_migrations)";
    match t.db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&t.db.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&t.db.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
}

async fn readyz_reports_each_check(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (status, body) = readyz(&t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mail"], "ok");
    assert_eq!(body["migrations"], "ok");

    // A migration this binary knows but the database has not applied.
    forget_last_migration(&t).await;
    let (status, body) = readyz(&t).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["migrations"].as_str().unwrap().contains("pending"),
        "{body}"
    );
    t.stop().await;
}
on_both_databases!(readyz_reports_each_check);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_when_smtp_is_down() {
    let port = free_port();
    let Some(t) = TestApp::spawn_configured(Backend::Sqlite, "", Clock::System, move |c| {
        c.smtp_url = breakfast::config::Secret::new(format!("smtp://127.0.0.1:{port}?tls=none"));
    })
    .await
    else {
        return;
    };
    let (status, body) = readyz(&t).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "ok");
    assert_ne!(body["mail"], "ok");
    t.stop().await;
}

async fn dashboard_shows_the_queue_and_repairs_it(backend: Backend) {
    use crate::admin::{Browser, PASSWORD, add_user};
    use breakfast::store::users::AdminRole;

    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    fill_known_state(&t).await;
    let mut anonymous = Browser::new(&t);
    let page = anonymous.get("/admin/queue").await;
    assert!(page.status.is_redirection(), "{}", page.status);

    add_user(&t.app, "ops@example.org", AdminRole::Operator).await;
    let mut b = Browser::new(&t);
    b.login("ops@example.org", PASSWORD).await;
    let page = b.get("/admin/queue").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let row = r#"<th scope="row">ops-test</th><td class="q-num">5</td><td class="q-num">2</td><td class="q-num">5</td><td class="q-num">2</td><td class="q-num">2</td>"#;
    assert!(page.body.contains(row), "{}", page.body);
    assert!(page.body.contains("451 4.3.0 try again later"));
    assert!(page.body.contains("http-equiv=\"refresh\""));
    assert!(page.body.contains("Messages sent per minute"));
    assert!(page.body.contains("<svg"));
    let csrf = page.csrf();

    // A form without the token changes nothing.
    let refused = b.post("/admin/queue/jobs/ops-14/retry", &[]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(kind_stats(&t, KIND).await.dead, 2);

    // ops-14 is out of attempts: retry brings it back; ops-12 is retrying: discard kills it.
    let done = b
        .post("/admin/queue/jobs/ops-14/retry", &[("csrf", &csrf)])
        .await;
    assert_eq!(done.location.as_deref(), Some("/admin/queue?msg=retried"));
    let done = b
        .post("/admin/queue/jobs/ops-12/discard", &[("csrf", &csrf)])
        .await;
    assert_eq!(done.location.as_deref(), Some("/admin/queue?msg=discarded"));
    let k = kind_stats(&t, KIND).await;
    assert_eq!((k.waiting, k.retrying, k.dead), (6, 1, 2), "{k:?}");
    let again = b
        .post("/admin/queue/jobs/ops-14/retry", &[("csrf", &csrf)])
        .await;
    assert_eq!(again.location.as_deref(), Some("/admin/queue?msg=gone"));
    let page = b.get("/admin/queue?msg=gone").await;
    assert!(page.body.contains("already moved on"));

    let all = b.post("/admin/queue/retry-all", &[("csrf", &csrf)]).await;
    assert_eq!(
        all.location.as_deref(),
        Some("/admin/queue?msg=retried-all")
    );
    let k = kind_stats(&t, KIND).await;
    assert_eq!((k.waiting, k.retrying, k.dead), (9, 0, 0), "{k:?}");
    t.stop().await;
}
on_both_databases!(dashboard_shows_the_queue_and_repairs_it);

async fn digest_progress_comes_from_the_ledger(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // 10 recipients: the 5 even ones sent within the last second, the rest queued.
    let now = t.app.now_ms();
    t.app.store.insert_bench_send(10, now).await.unwrap();
    let progress = t
        .app
        .store
        .digest_progress(now - 3_600_000, now, 5)
        .await
        .unwrap();
    assert_eq!(progress.len(), 1, "{progress:?}");
    let d = &progress[0];
    let p = &d.progress;
    assert_eq!(
        (p.total(), p.sent, p.failed, p.pending()),
        (10, 5, 0, 5),
        "{p:?}"
    );
    assert!((d.rate_per_minute - 1.0).abs() < 1e-9, "{d:?}");
    assert_eq!(d.eta_secs, Some(300), "{d:?}");
    let series = t.app.store.sent_per_minute(now, 60).await.unwrap();
    assert_eq!(series.len(), 60);
    assert_eq!(series.iter().sum::<i64>(), 5, "{series:?}");
    assert_eq!(series[..58].iter().sum::<i64>(), 0, "{series:?}");
    t.stop().await;
}
on_both_databases!(digest_progress_comes_from_the_ledger);

/// Every answer names its request's span in `X-Request-Id` (issue 14): a fresh id per
/// request, ours rather than the client's, on pages, unknown routes and refusals alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_its_own_request_id() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string())
            .expect("an X-Request-Id header")
    };
    let mut seen = std::collections::HashSet::new();
    for path in ["/", "/no-such-page", "/healthz"] {
        let r = t
            .http
            .get(t.url(path))
            .header("x-request-id", "chosen-by-the-client")
            .send()
            .await
            .unwrap();
        let id = id_of(&r);
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert!(seen.insert(id), "ids repeat");
    }
    let big = "x".repeat(200 * 1024);
    let r = t
        .http
        .post(t.url("/subscribe"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(seen.insert(id_of(&r)));
    t.stop().await;
}
