//! Seeing bounces and complaints, and acting on them: each issue's counts and rates
//! beside the limits on the queue dashboard, in `digest status` (text and JSON) and in
//! `/metrics` (per issue, for the recent issues only); and the failure list's button that
//! retries the temporary failures, over a real SMTP server that refuses for a while.

use std::time::{Duration, Instant};

use breakfast::{
    App,
    bounces::{self, BounceRef, Handled, apply::Source},
    store::{query, users::AdminRole},
};

use crate::{
    admin::{Browser, PASSWORD, add_user},
    kit::{Backend, Mail, SmtpBehaviour, SmtpServer, TEST_METRICS_TOKEN, TestApp},
    on_both_databases,
};

const BOUNCE_DOMAIN: &str = "bounce.example.org";

/// Confirmed subscribers `{prefix}0@example.org`…, as (id, address).
async fn subscribers(app: &App, prefix: &str, n: usize) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let address = format!("{prefix}{i}@example.org");
        out.push((crate::kit::confirmed(app, &address).await, address));
    }
    out
}

/// Sends a composed digest to every confirmed subscriber and waits until it is done.
async fn send_digest(app: &App, date: &str) -> i64 {
    let id = crate::kit::digest(app, date).await;
    breakfast::delivery::start_send(app, id).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let p = app.store.delivery_progress(id, app.now_ms()).await.unwrap();
        if p.is_finished() {
            return id;
        }
        assert!(Instant::now() < deadline, "digest not sent in time: {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fixture report (tests/fixtures/bounces/) about one delivery, read as the mailbox
/// would read it; returns what was done.
async fn report(app: &App, fixture: &str, digest_id: i64, to: &(i64, String)) -> Handled {
    let token = BounceRef::Delivery {
        digest_id,
        subscriber_id: to.0,
    }
    .token(&app.signer);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bounces")
        .join(fixture);
    let raw = std::fs::read_to_string(&path)
        .unwrap()
        .replace("{{VERP}}", &format!("bounces+{token}@{BOUNCE_DOMAIN}"))
        .replace("{{TOKEN}}", &token)
        .replace("{{RCPT}}", &to.1);
    let handled = bounces::handle_message(
        app,
        Source {
            name: "mailbox",
            key: format!("t:{fixture}:{digest_id}:{}", to.0),
            resolves_unmatched: None,
        },
        raw.as_bytes(),
    )
    .await
    .unwrap();
    assert!(matches!(handled, Handled::Applied { .. }), "{handled:?}");
    handled
}

fn cli_env<'a>(t: &'a TestApp, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("BREAKFAST_DATABASE_URL", t.db.url.as_str()),
        ("BREAKFAST_SECRET", "test-secret-0123456789"),
    ];
    env.extend_from_slice(extra);
    env
}

async fn metrics_text(t: &TestApp) -> String {
    let r = t
        .request(reqwest::Method::GET, "/metrics")
        .bearer(TEST_METRICS_TOKEN)
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Every line must parse as the exposition format (ours are appended by hand).
    let lines = r.body.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("{e}\n{}", r.body));
    r.body
}

// ----- the numbers, wherever an operator looks -------------------------------------------

async fn each_issues_rates_are_on_the_dashboard_in_status_and_in_metrics(backend: Backend) {
    // Limits of our own, to see that the configured ones are shown (not the defaults).
    let toml = format!(
        "[bounces]\ndomain = {BOUNCE_DOMAIN:?}\npause_complaint_rate = 0.004\n\
         pause_hard_bounce_rate = 0.06\npause_min_sent = 1000\n"
    );
    let Some(t) = TestApp::with_toml(backend, &toml).await else {
        return;
    };
    let app = &t.app;
    add_user(app, "ops@example.org", AdminRole::Operator).await;
    let subs = subscribers(app, "r", 4).await;
    let d = send_digest(app, "2026-11-30").await;
    report(app, "exchange.eml", d, &subs[0]).await;
    report(app, "arf.eml", d, &subs[1]).await;
    let failures = format!("/admin/bounces?digest={d}");

    // The queue dashboard: counts and rates, the limits, a link to the failures.
    let mut b = Browser::new(&t);
    b.login("ops@example.org", PASSWORD).await;
    let page = b.get("/admin/queue").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("Bounces and complaints by issue"), "{body}");
    assert!(body.contains(&format!(r#"href="{failures}""#)), "{body}");
    assert_eq!(
        body.matches("1 (25.00 %)").count(),
        2,
        "one hard bounce and one complaint of 4 sent: {body}"
    );
    assert!(
        body.contains("0.3 % or more"),
        "a complaint rate past the bulk-sender rule is marked: {body}"
    );
    assert!(
        !body.contains("past the pause limit"),
        "4 < 1000 sent: {body}"
    );
    for words in [
        "a complaint rate under 0.1 %, and never 0.3 %",
        "a complaint rate over 0.40 % or a hard-bounce rate over 6.00 %",
        "once an issue has sent 1000 messages",
    ] {
        assert!(body.contains(words), "{words:?} missing: {body}");
    }
    // The link leads to the failure list, with the reason.
    let list = b.get(&failures).await;
    assert!(list.body.contains(&subs[0].1) && list.body.contains("5.1.10"));

    // `digest status`, with the same limits from the environment.
    let limits = [
        ("BREAKFAST_BOUNCES__PAUSE_COMPLAINT_RATE", "0.004"),
        ("BREAKFAST_BOUNCES__PAUSE_HARD_BOUNCE_RATE", "0.06"),
        ("BREAKFAST_BOUNCES__PAUSE_MIN_SENT", "1000"),
    ];
    let id = d.to_string();
    let out = crate::kit::breakfast_cmd(
        &["digest", "status", &id],
        &cli_env(&t, &limits),
        t.db.dir.path(),
    );
    crate::kit::assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "sent       4",
        "bounces    1 hard (25.00 %), 0 soft",
        "complaints 1 (25.000 %; keep under 0.1 %, never 0.3 %)",
        "pauses at  complaint rate over 0.40 % or hard-bounce rate over 6.00 %, once 1000 are sent",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
    }
    let out = crate::kit::breakfast_cmd(
        &["digest", "status", &id, "--json"],
        &cli_env(&t, &limits),
        t.db.dir.path(),
    );
    crate::kit::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sent"], 4, "the progress is still there: {v}");
    let bounces = &v["bounces"];
    assert_eq!(
        (
            &bounces["sent"],
            &bounces["hard"],
            &bounces["soft"],
            &bounces["complaints"]
        ),
        (
            &serde_json::json!(4),
            &serde_json::json!(1),
            &serde_json::json!(0),
            &serde_json::json!(1)
        ),
        "{v}"
    );
    assert_eq!(bounces["complaint_rate"], 0.25, "{v}");
    assert_eq!(bounces["hard_bounce_rate"], 0.25, "{v}");
    assert_eq!(v["thresholds"]["complaint_rate_target"], 0.001, "{v}");
    assert_eq!(v["thresholds"]["complaint_rate_ceiling"], 0.003, "{v}");
    assert_eq!(v["thresholds"]["pause_complaint_rate"], 0.004, "{v}");
    assert_eq!(v["thresholds"]["pause_hard_bounce_rate"], 0.06, "{v}");
    assert_eq!(v["thresholds"]["pause_min_sent"], 1000, "{v}");

    // /metrics: the issue's series with its `digest` label, the limits, the old names.
    let metrics = metrics_text(&t).await;
    let labels = format!(r#"digest="{d}",issue_date="2026-11-30""#);
    for line in [
        format!("breakfast_issue_sent{{{labels}}} 4"),
        format!(r#"breakfast_issue_bounces{{{labels},kind="hard"}} 1"#),
        format!(r#"breakfast_issue_bounces{{{labels},kind="soft"}} 0"#),
        format!(r#"breakfast_issue_bounces{{{labels},kind="complaint"}} 1"#),
        format!("breakfast_issue_hard_bounce_rate{{{labels}}} 0.25"),
        format!("breakfast_issue_complaint_rate{{{labels}}} 0.25"),
        "breakfast_bounce_pause_complaint_rate 0.004".into(),
        "breakfast_bounce_pause_hard_bounce_rate 0.06".into(),
        "breakfast_bounce_pause_min_sent 1000".into(),
        r#"breakfast_complaint_rate_guideline{level="keep_under"} 0.001"#.into(),
        r#"breakfast_complaint_rate_guideline{level="never"} 0.003"#.into(),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    for name in [
        "breakfast_last_issue_complaint_rate",
        "breakfast_last_issue_hard_bounce_rate",
        "breakfast_bounces{",
    ] {
        assert!(metrics.contains(name), "{name} is still exported");
    }

    // Eleven later issues: only the last ten keep per-issue series, so the first leaves.
    let now = app.now_ms();
    for day in 1..=11 {
        let date = format!("2026-12-{day:02}");
        app.store
            .insert_sent_issue(&date, "Later", Some(subs[2].0), now)
            .await
            .unwrap();
    }
    app.store
        .fixture_exec(query(
            "UPDATE digests SET html = '<p>x</p>' WHERE html IS NULL",
        ))
        .await
        .unwrap();
    let metrics = metrics_text(&t).await;
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("breakfast_issue_sent{"))
        .collect();
    assert_eq!(series.len(), 10, "{series:?}");
    assert!(
        !metrics.contains(&labels),
        "the oldest issue left: {metrics}"
    );
    assert!(metrics.contains(r#"issue_date="2026-12-11""#));
    assert!(!metrics.contains(r#"issue_date="2026-12-01""#));
    let page = b.get("/admin/queue").await;
    assert_eq!(
        page.body.matches(r#"href="/admin/bounces?digest="#).count(),
        5,
        "the dashboard shows the five latest issues"
    );
    t.stop().await;
}
on_both_databases!(each_issues_rates_are_on_the_dashboard_in_status_and_in_metrics);

// ----- the retry button ------------------------------------------------------------------

async fn the_failure_list_retries_only_the_temporary_failures(backend: Backend) {
    // Every address is refused with 451 twice and two attempts are allowed, so the send
    // gives up on everyone; `gone…` is refused for good (550). A retry gets through.
    let Some(smtp) = SmtpServer::start(SmtpBehaviour {
        tempfail: 2,
        reject: Some("^gone".into()),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let toml = format!(
        "smtp_url = {:?}\n[queue]\nretry_base_ms = 50\nretry_max_ms = 100\nmax_delivery_attempts = 2\n\
         [bounces]\ndomain = {BOUNCE_DOMAIN:?}\n",
        smtp.url()
    );
    let Some(t) = TestApp::with_toml(backend, &toml).await else {
        return;
    };
    let app = &t.app;
    add_user(app, "ops@example.org", AdminRole::Operator).await;
    let subs = subscribers(app, "t", 5).await;
    let gone = crate::kit::confirmed(app, "gone@example.org").await;
    let d = send_digest(app, "2026-11-30").await;
    let p = app.store.delivery_progress(d, app.now_ms()).await.unwrap();
    assert_eq!((p.sent, p.failed), (0, 6), "{p:?}");
    // Reports that came in afterwards: these two are a bounce and a complaint now, not
    // temporary failures, and stay as they are.
    report(app, "exchange.eml", d, &subs[3]).await;
    report(app, "arf.eml", d, &subs[4]).await;
    let failed = || async {
        let p = app.store.delivery_progress(d, app.now_ms()).await.unwrap();
        (p.failed, p.queued + p.sending + p.retrying)
    };
    assert_eq!(failed().await, (6, 0));

    let path = format!("/admin/bounces/digest/{d}/retry");
    let failures = format!("/admin/bounces?digest={d}");
    // Signed out: to the sign-in page, and nothing changes.
    let mut stranger = Browser::new(&t);
    let r = stranger.post(&path, &[("csrf", "whatever")]).await;
    assert!(r.status.is_redirection(), "{:?}", r.status);
    assert!(
        r.location
            .as_deref()
            .is_some_and(|l| l.starts_with("/admin/login")),
        "{:?}",
        r.location
    );
    // An operator (the queue's role, not only editors) sees the button.
    let mut b = Browser::new(&t);
    b.login("ops@example.org", PASSWORD).await;
    let page = b.get(&failures).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Retry the temporary failures"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(r#"action="{path}""#)),
        "{}",
        page.body
    );
    // A forged form: 403 and nothing changes.
    let r = b.post(&path, &[("csrf", "not-the-token")]).await;
    assert_eq!(r.status, 403);
    let r = b.post(&path, &[]).await;
    assert_eq!(r.status, 403);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failed().await, (6, 0), "nothing was retried");
    assert_eq!(smtp.messages().len(), 0);

    let r = b.post(&path, &[("csrf", &page.csrf())]).await;
    let back = format!("{failures}&msg=retried-temporary&n=3");
    assert_eq!(r.location.as_deref(), Some(back.as_str()), "{}", r.body);
    let answer = b.get(&back).await;
    assert!(
        answer
            .body
            .contains("3 deliveries with temporary failures queued again."),
        "{}",
        answer.body
    );

    // The workers send the three, and only them.
    let deadline = Instant::now() + Duration::from_secs(60);
    let p = loop {
        let p = app.store.delivery_progress(d, app.now_ms()).await.unwrap();
        if p.is_finished() && p.sent == 3 {
            break p;
        }
        assert!(Instant::now() < deadline, "not retried: {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(p.failed, 3, "{p:?}");
    let mut delivered: Vec<String> = smtp.messages().iter().map(|m| Mail::parse(m).to).collect();
    delivered.sort();
    let expected: Vec<String> = subs[..3].iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(delivered, expected);
    let mut left: Vec<(i64, Option<String>)> = app
        .store
        .failed_deliveries(d)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.subscriber_id, f.outcome))
        .collect();
    left.sort();
    let mut want = vec![
        (gone, None),
        (subs[3].0, Some("hard".to_string())),
        (subs[4].0, Some("complaint".to_string())),
    ];
    want.sort();
    assert_eq!(left, want);
    let refused = app.store.failed_deliveries(d).await.unwrap();
    let refused = refused.iter().find(|f| f.subscriber_id == gone).unwrap();
    assert!(refused.reason.contains("550"), "{refused:?}");

    // Pressed again: nothing is left to retry, and the page says so.
    let page = b.get(&failures).await;
    let r = b.post(&path, &[("csrf", &page.csrf())]).await;
    let back = format!("{failures}&msg=retried-temporary&n=0");
    assert_eq!(r.location.as_deref(), Some(back.as_str()));
    let answer = b.get(&back).await;
    assert!(
        answer.body.contains("nothing was queued again"),
        "{}",
        answer.body
    );
    assert_eq!(smtp.messages().len(), 3);
    t.stop().await;
}
on_both_databases!(the_failure_list_retries_only_the_temporary_failures);
