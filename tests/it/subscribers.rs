//! Subscribers end to end: sign-up over HTTP, the confirmation email through a real SMTP
//! server, one-click unsubscribe, enumeration resistance, bad input, rate limits,
//! preferences and erasure, the JSON API, and CSV import/export.

use std::{collections::HashSet, fmt::Write as _, time::Duration};

use breakfast::{
    App,
    domain::{Clock, EmailAddress, Purpose, SubscriberStatus},
    store::subscribers::NewSubscriber,
    subscribers::{ImportOptions, ImportReport, export_csv, import_csv},
};
use reqwest::{StatusCode, header};

use crate::{
    kit::{Backend, Mail, SmtpBehaviour, SmtpServer, TestApp, breakfast_cmd, find_link},
    on_both_databases,
};

const ROOMY: &str = "[subscribers]\nrate_limit_per_minute = 10000\n";

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::with_toml(backend, ROOMY).await
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

async fn add(app: &App, address: &str, status: SubscriberStatus) -> i64 {
    let s = app
        .store
        .insert_subscriber(
            &NewSubscriber {
                email: &email(address),
                name: None,
                status: SubscriberStatus::Pending,
                source: "test",
            },
            app.now_ms(),
        )
        .await
        .unwrap();
    let path: &[SubscriberStatus] = match status {
        SubscriberStatus::Pending => &[],
        SubscriberStatus::Confirmed => &[SubscriberStatus::Confirmed],
        other => &[SubscriberStatus::Confirmed, other],
    };
    for st in path {
        app.store
            .set_subscriber_status(s.id, *st, app.now_ms())
            .await
            .unwrap();
    }
    s.id
}

async fn status_of(app: &App, address: &str) -> Option<SubscriberStatus> {
    app.store
        .subscriber_by_email(&email(address))
        .await
        .unwrap()
        .map(|s| s.status)
}

/// A sign-up's work runs after its answer: wait for it before looking at the result.
async fn settle(path: &str) {
    if path.starts_with("/subscribe") {
        breakfast::subscribers::signups_settled(Duration::from_secs(10)).await;
    }
}

async fn post_form(t: &TestApp, path: &str, body: &str) -> (StatusCode, String) {
    let answer = t.post_encoded(path, body).await.parts();
    settle(path).await;
    answer
}

async fn post_json(t: &TestApp, path: &str, body: &str) -> (StatusCode, String) {
    let r = t
        .http
        .post(t.url(path))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let answer = (r.status(), r.text().await.unwrap());
    settle(path).await;
    answer
}

async fn get(t: &TestApp, path: &str) -> (StatusCode, String) {
    t.get(path).await.parts()
}

fn strip_base(url: &str) -> &str {
    &url[url
        .find("/confirm")
        .or_else(|| url.find("/unsubscribe"))
        .or_else(|| url.find("/preferences"))
        .unwrap()..]
}

async fn sign_up_confirm_and_one_click_unsubscribe(backend: Backend) {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let url = smtp.url();
    let Some(t) = TestApp::spawn_configured(backend, ROOMY, Clock::System, |c| {
        c.smtp_url = breakfast::config::Secret::new(url);
    })
    .await
    else {
        return;
    };
    let (status, body) = post_form(&t, "/subscribe", "email=Rosa%40Example.org&name=Rosa").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Check your inbox"));
    assert_eq!(
        status_of(&t.app, "rosa@example.org").await,
        Some(SubscriberStatus::Pending)
    );

    let got = smtp.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 1, "the confirmation email did not arrive");
    let mail = Mail::parse(&got[0]);
    assert_eq!(mail.to, "Rosa@example.org");
    assert!(mail.subject.contains("Confirm"), "{}", mail.subject);
    assert!(
        mail.header("List-Unsubscribe").is_none(),
        "a confirmation is not list mail"
    );
    let link = find_link(&mail.text, "/confirm?token=").expect("a confirmation link");
    assert!(link.starts_with(&t.base), "{link}");
    assert_eq!(find_link(&mail.html, "/confirm?token="), Some(link.clone()));

    // Following the link (as a mail scanner would) changes nothing: it shows a button.
    let (status, body) = get(&t, strip_base(&link)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Yes, subscribe me"), "{body}");
    assert_eq!(
        status_of(&t.app, "rosa@example.org").await,
        Some(SubscriberStatus::Pending)
    );
    let token = link.split("token=").nth(1).unwrap();
    let (status, body) = post_form(&t, "/confirm", &format!("token={token}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("You're subscribed"));
    assert_eq!(
        status_of(&t.app, "rosa@example.org").await,
        Some(SubscriberStatus::Confirmed)
    );
    // The same link again: still a friendly confirmed page.
    let (status, again) = get(&t, strip_base(&link)).await;
    assert_eq!(status, 200);
    assert!(again.contains("You're subscribed"));

    // The welcome email is list mail with RFC 8058 headers.
    let got = smtp.wait_for(2, Duration::from_secs(60)).await;
    assert_eq!(got.len(), 2, "no welcome email");
    let welcome = Mail::parse(&got[1]);
    assert!(welcome.subject.contains("Welcome"), "{}", welcome.subject);
    assert_eq!(
        welcome.header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let unsub = welcome.header("List-Unsubscribe").unwrap();
    let unsub = unsub
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    assert!(unsub.contains("/unsubscribe?token="), "{unsub}");
    // It says it has an unsubscribe link, so its body shows one, in both parts.
    assert!(
        find_link(&welcome.text, "/unsubscribe?token=").is_some(),
        "{}",
        welcome.text
    );
    assert!(find_link(&welcome.html, "/unsubscribe?token=").is_some());

    // A link scanner's GET changes nothing.
    let (status, page) = get(&t, strip_base(&unsub)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Unsubscribe from"));
    assert!(page.contains("Rosa@example.org"));
    assert_eq!(
        status_of(&t.app, "rosa@example.org").await,
        Some(SubscriberStatus::Confirmed)
    );

    // The mail client's one-click POST, twice (idempotent).
    for _ in 0..2 {
        let (status, page) = post_form(&t, strip_base(&unsub), "List-Unsubscribe=One-Click").await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("You're unsubscribed"));
        assert!(page.contains("Resubscribe"));
        assert!(page.contains("/preferences?token="));
    }
    assert_eq!(
        status_of(&t.app, "rosa@example.org").await,
        Some(SubscriberStatus::Unsubscribed)
    );

    // A later digest does not go to that address.
    let other = add(&t.app, "clara@example.org", SubscriberStatus::Confirmed).await;
    let digest = crate::kit::digest(&t.app, "2026-11-28").await;
    let (recipients, _) = t
        .app
        .store
        .fan_out(digest, 500, t.app.now_ms())
        .await
        .unwrap();
    assert_eq!(recipients, 1, "only clara (id {other}) is a recipient");
    t.stop().await;
}
on_both_databases!(sign_up_confirm_and_one_click_unsubscribe);

async fn every_sign_up_answers_identically(backend: Backend) {
    let Some(t) = spawn(backend).await else {
        return;
    };
    add(&t.app, "pending@example.org", SubscriberStatus::Pending).await;
    add(&t.app, "confirmed@example.org", SubscriberStatus::Confirmed).await;
    add(&t.app, "left@example.org", SubscriberStatus::Unsubscribed).await;
    add(&t.app, "bounced@example.org", SubscriberStatus::Bounced).await;
    let erased = add(&t.app, "erased@example.org", SubscriberStatus::Confirmed).await;
    let s = t.app.store.subscriber(erased).await.unwrap();
    breakfast::subscribers::erase_subscriber(&t.app, &s, "test")
        .await
        .unwrap();

    let cases = [
        "new@example.org",
        "pending@example.org",
        "confirmed@example.org",
        "left@example.org",
        "bounced@example.org",
        "erased@example.org",
        "PENDING@example.org",
    ];
    let mut forms = Vec::new();
    let mut jsons = Vec::new();
    for address in cases {
        let encoded = address.replace('@', "%40");
        forms.push(post_form(&t, "/subscribe", &format!("email={encoded}&name=")).await);
        jsons.push(post_json(&t, "/subscribe", &format!("{{\"email\":\"{address}\"}}")).await);
    }
    // The honeypot answers the same too.
    forms.push(
        post_form(
            &t,
            "/subscribe",
            "email=bot%40example.org&website=http%3A%2F%2Fspam",
        )
        .await,
    );
    jsons.push(
        post_json(
            &t,
            "/subscribe",
            r#"{"email":"bot@example.org","website":"x"}"#,
        )
        .await,
    );
    // The page repeats the address as typed (so a typo can be spotted) and nothing else
    // about it: with the echo taken out, every answer is the same.
    let typed = cases.iter().chain(["bot@example.org"].iter());
    let forms: Vec<(StatusCode, String)> = forms
        .into_iter()
        .zip(typed)
        .map(|((status, body), address)| (status, body.replace(address, "ADDRESS")))
        .collect();
    for (i, f) in forms.iter().enumerate() {
        assert_eq!(f, &forms[0], "form answer {i} differs");
    }
    for (i, j) in jsons.iter().enumerate() {
        assert_eq!(j, &jsons[0], "JSON answer {i} differs");
    }
    assert_eq!(forms[0].0, 200);
    assert_eq!(jsons[0].0, 202);

    // What happened behind the identical answers:
    let pending = Some(SubscriberStatus::Pending);
    for (address, status) in [
        ("new@example.org", pending),
        ("left@example.org", pending),
        ("bounced@example.org", pending),
        ("erased@example.org", pending),
        ("confirmed@example.org", Some(SubscriberStatus::Confirmed)),
    ] {
        assert_eq!(status_of(&t.app, address).await, status, "{address}");
    }
    assert_eq!(
        status_of(&t.app, "bot@example.org").await,
        None,
        "honeypot stored nothing"
    );
    // One confirmation per address despite three sign-ups each (throttled): new, pending,
    // left, bounced, erased.
    let mails = t.wait_for_outbox(5, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mails = crate::kit::read_eml(&t.outbox_dir()).len().max(mails.len());
    assert_eq!(mails, 5, "one confirmation per address");
    t.stop().await;
}
on_both_databases!(every_sign_up_answers_identically);

async fn bad_input_gets_the_stated_status(backend: Backend) {
    let Some(t) = spawn(backend).await else {
        return;
    };
    let (s, body) = post_form(&t, "/subscribe", "email=not-an-address").await;
    assert_eq!(s, 422);
    assert!(
        body.contains("name@example.org") && body.contains("<form"),
        "{body}"
    );
    let long = format!("email={}%40example.org", "a".repeat(300));
    assert_eq!(post_form(&t, "/subscribe", &long).await.0, 422);
    assert_eq!(post_form(&t, "/subscribe", "name=x").await.0, 422);
    let (s, body) = post_json(&t, "/subscribe", r#"{"email":"nope"}"#).await;
    assert_eq!(s, 422);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("example.org"),
        "{body}"
    );
    assert_eq!(post_json(&t, "/subscribe", r#"{"name":"x"}"#).await.0, 422);
    assert_eq!(post_json(&t, "/subscribe", r#"{"email":"#).await.0, 400);
    let r = t
        .http
        .post(t.url("/subscribe"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body("email=a@b.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let big = format!("email=a%40example.org&name={}", "x".repeat(70 * 1024));
    let (s, body) = post_form(&t, "/subscribe", &big).await;
    assert_eq!(s, 413);
    assert!(body.contains("<html"), "an error page: {body}");
    let big = format!(
        r#"{{"email":"a@example.org","name":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let (s, body) = post_json(&t, "/subscribe", &big).await;
    assert_eq!(s, 413);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON 413");
    assert_eq!(v["status"], 413);

    // Tokens.
    let id = add(&t.app, "tok@example.org", SubscriberStatus::Pending).await;
    let good = t
        .app
        .signer
        .sign(id, Purpose::Confirm, Some(t.app.now_ms() + 60_000));
    let (payload, _) = good.split_once('.').unwrap();
    let forged = format!("{payload}.AAAA");
    assert_eq!(get(&t, &format!("/confirm?token={forged}")).await.0, 400);
    assert_eq!(get(&t, "/confirm?token=garbage").await.0, 400);
    assert_eq!(get(&t, "/confirm").await.0, 400);
    let wrong_purpose = t.app.signer.sign(id, Purpose::Unsubscribe, None);
    assert_eq!(
        get(&t, &format!("/confirm?token={wrong_purpose}")).await.0,
        400
    );
    let expired = t
        .app
        .signer
        .sign(id, Purpose::Confirm, Some(t.app.now_ms() - 1));
    let (s, body) = get(&t, &format!("/confirm?token={expired}")).await;
    assert_eq!(s, 410);
    assert!(
        body.contains("/confirm/resend") && body.contains("Send me a new link"),
        "{body}"
    );
    let (s, _) = post_form(&t, "/confirm/resend", &format!("token={expired}")).await;
    assert_eq!(s, 200);
    assert_eq!(t.wait_for_outbox(1, Duration::from_secs(60)).await.len(), 1);
    assert_eq!(
        post_form(&t, "/confirm/resend", "token=garbage").await.0,
        400
    );
    let gone = t
        .app
        .signer
        .sign(999_999, Purpose::Confirm, Some(t.app.now_ms() + 60_000));
    assert_eq!(get(&t, &format!("/confirm?token={gone}")).await.0, 404);
    let gone_unsub = t.app.signer.sign(999_999, Purpose::Unsubscribe, None);
    assert_eq!(
        get(&t, &format!("/unsubscribe?token={gone_unsub}")).await.0,
        404
    );
    assert_eq!(
        post_form(&t, &format!("/unsubscribe?token={gone_unsub}"), "")
            .await
            .0,
        404
    );
    assert_eq!(get(&t, "/unsubscribe?token=x.y").await.0, 400);
    assert_eq!(
        post_form(&t, "/unsubscribe?token=x.y", "List-Unsubscribe=One-Click")
            .await
            .0,
        400
    );
    assert_eq!(get(&t, "/preferences?token=x").await.0, 400);

    // Concurrent double submissions of one address: one row, all answered alike.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let http = t.http.clone();
        let url = t.url("/subscribe");
        let address = if i % 2 == 0 {
            "race@example.org"
        } else {
            "RACE@example.org"
        };
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .form(&[("email", address)])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    settle("/subscribe").await;
    let all = t.app.store.list_subscribers(None, 0, 1000).await.unwrap();
    assert_eq!(
        all.iter()
            .filter(|s| s.email.key() == "race@example.org")
            .count(),
        1
    );
    t.stop().await;
}
on_both_databases!(bad_input_gets_the_stated_status);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_and_resends_are_rate_limited_per_address() {
    let toml = "[subscribers]\nrate_limit_per_minute = 3\n";
    let Some(t) = TestApp::with_toml(Backend::Sqlite, toml).await else {
        return;
    };
    for i in 0..3 {
        let (s, _) = post_form(&t, "/subscribe", &format!("email=r{i}%40example.org")).await;
        assert_eq!(s, 200);
    }
    let r = t
        .http
        .post(t.url("/subscribe"))
        .form(&[("email", "r9@example.org")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.text().await.unwrap().contains("Too many attempts"));
    let (s, body) = post_json(&t, "/subscribe", r#"{"email":"r9@example.org"}"#).await;
    assert_eq!(s, 429);
    assert!(body.contains("\"error\""), "{body}");
    assert_eq!(status_of(&t.app, "r9@example.org").await, None);
    // Resending has its own bucket of the same size.
    for _ in 0..3 {
        assert_eq!(post_form(&t, "/confirm/resend", "token=x").await.0, 400);
    }
    assert_eq!(post_form(&t, "/confirm/resend", "token=x").await.0, 429);
    // So has resubscribing (issue 14: it shared the resend bucket): the spent resend
    // budget does not refuse it, and its own runs out after three.
    for _ in 0..3 {
        assert_eq!(post_form(&t, "/resubscribe", "token=x").await.0, 400);
    }
    assert_eq!(post_form(&t, "/resubscribe", "token=x").await.0, 429);
    t.stop().await;
}

async fn preferences_change_and_delete_everything(backend: Backend) {
    let Some(t) = spawn(backend).await else {
        return;
    };
    let id = add(&t.app, "ana@example.org", SubscriberStatus::Confirmed).await;
    let token = t.app.signer.sign(id, Purpose::Preferences, None);
    let path = format!("/preferences?token={token}");
    let (s, page) = get(&t, &path).await;
    assert_eq!(s, 200);
    assert!(page.contains("ana@example.org") && page.contains("What we store about you"));
    let (s, page) = post_form(&t, &path, "name=Ana+P&frequency=weekly&pause_days=7").await;
    assert_eq!(s, 200, "{page}");
    assert!(page.contains("preferences are saved"));
    let sub = t.app.store.subscriber(id).await.unwrap();
    assert_eq!(sub.name.as_deref(), Some("Ana P"));
    assert_eq!(sub.frequency.as_str(), "weekly");
    let paused = sub.paused_until.unwrap() - t.app.now_ms();
    assert!(
        (6 * 86_400_000..=7 * 86_400_000).contains(&paused),
        "{paused}"
    );
    assert_eq!(post_form(&t, &path, "frequency=hourly").await.0, 422);
    assert_eq!(post_form(&t, &path, "pause_days=-3").await.0, 422);
    assert_eq!(post_form(&t, &path, "pause_days=9999").await.0, 422);
    let (s, _) = post_form(&t, &path, "name=Ana&frequency=daily&pause_days=0").await;
    assert_eq!(s, 200);
    assert_eq!(t.app.store.subscriber(id).await.unwrap().paused_until, None);

    let delete = format!("/preferences/delete?token={token}");
    assert_eq!(
        post_form(&t, &delete, "").await.0,
        422,
        "needs the box ticked"
    );
    let (s, page) = post_form(&t, &delete, "confirm=yes").await;
    assert_eq!(s, 200);
    assert!(page.contains("Everything about you is deleted"));
    assert_eq!(status_of(&t.app, "ana@example.org").await, None);
    assert!(t.app.store.subscriber_events(id).await.unwrap().is_empty());
    assert_eq!(t.app.store.count_subscribers(None).await.unwrap(), 0);
    assert_eq!(t.app.store.suppression_count().await.unwrap(), 1);
    assert_eq!(get(&t, &path).await.0, 404);
    assert_eq!(post_form(&t, &delete, "confirm=yes").await.0, 404);

    // Imports skip the erased address.
    let report = import_confirmed(&t.app, b"ana@example.org,Ana\n").await;
    assert_eq!((report.accepted, report.suppressed.clone()), (0, vec![1]));
    // Its owner signing up again is let in as pending; confirming lifts the suppression.
    assert_eq!(
        post_form(&t, "/subscribe", "email=ana%40example.org")
            .await
            .0,
        200
    );
    let again = t
        .app
        .store
        .subscriber_by_email(&email("ana@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.status, SubscriberStatus::Pending);
    let confirm = t
        .app
        .signer
        .sign(again.id, Purpose::Confirm, Some(t.app.now_ms() + 60_000));
    assert_eq!(
        post_form(&t, "/confirm", &format!("token={confirm}"))
            .await
            .0,
        200
    );
    assert_eq!(t.app.store.suppression_count().await.unwrap(), 0);
    t.stop().await;
}
on_both_databases!(preferences_change_and_delete_everything);

async fn api_lists_creates_and_erases(backend: Backend) {
    let Some(t) =
        TestApp::with_toml(backend, "[admin]\napi_token = \"api-token-0123456789\"\n").await
    else {
        return;
    };
    let api = t.api("api-token-0123456789");
    assert_eq!(t.get("/api/subscribers").await.status, 401);
    assert_eq!(t.api("wrong").get("/api/subscribers").await.status, 401);
    for i in 0..5 {
        add(
            &t.app,
            &format!("p{i}@example.org"),
            SubscriberStatus::Confirmed,
        )
        .await;
    }
    add(&t.app, "pend@example.org", SubscriberStatus::Pending).await;
    let page = api
        .get("/api/subscribers?status=confirmed&limit=3")
        .await
        .json();
    assert_eq!(page["total"], 5);
    assert_eq!(page["subscribers"].as_array().unwrap().len(), 3);
    let after = page["next_after"].as_i64().unwrap();
    let page = api
        .get(&format!(
            "/api/subscribers?status=confirmed&limit=3&after={after}"
        ))
        .await
        .json();
    assert_eq!(page["subscribers"].as_array().unwrap().len(), 2);
    assert!(page["next_after"].is_null());
    assert_eq!(api.get("/api/subscribers?status=gone").await.status, 422);

    let r = api
        .post_json(
            "/api/subscribers",
            &serde_json::json!({"email": "new@example.org", "name": "New", "confirmed": true}),
        )
        .await;
    assert_eq!(r.status, 201);
    let created = r.json();
    assert_eq!(created["status"], "confirmed");
    let id = created["id"].as_i64().unwrap();
    let one = format!("/api/subscribers/{id}");
    for (email, status) in [("NEW@example.org", 409), ("bad", 422)] {
        let r = api
            .post_json("/api/subscribers", &serde_json::json!({ "email": email }))
            .await;
        assert_eq!(r.status, status, "adding {email}");
    }
    assert_eq!(api.get(&one).await.status, 200);
    let r = api.post(&format!("{one}/unsubscribe")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "unsubscribed");
    assert_eq!(api.delete(&one).await.status, 204);
    assert_eq!(api.get(&one).await.status, 404);
    let r = api
        .post_json(
            "/api/subscribers",
            &serde_json::json!({"email": "new@example.org"}),
        )
        .await;
    assert_eq!(
        r.status, 409,
        "an erased address is not re-added by an operator"
    );
    t.stop().await;
}
on_both_databases!(api_lists_creates_and_erases);

/// 100 000 rows with known invalid and duplicate rows, and some addresses already on the
/// list: the report names exactly those lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_of_100k_rows_reports_exactly_the_bad_ones() {
    let Some(t) = spawn(Backend::Sqlite).await else {
        return;
    };
    for i in [5, 50_000] {
        add(
            &t.app,
            &format!("reader{i}@example.org"),
            SubscriberStatus::Unsubscribed,
        )
        .await;
    }
    let mut csv = String::from("email,name\n");
    let mut invalid = Vec::new();
    let mut dupes = Vec::new();
    let mut present = Vec::new();
    for i in 0..100_000u64 {
        let line = i + 2;
        if i % 10_007 == 3 {
            invalid.push(line);
            writeln!(csv, "not-an-address-{i},Broken").unwrap();
        } else if i % 9_973 == 7 && i > 10 {
            dupes.push(line);
            writeln!(csv, "READER{}@example.org,Again", i - 1).unwrap();
        } else {
            if i == 5 || i == 50_000 {
                present.push(line);
            }
            writeln!(csv, "reader{i}@example.org,Reader {i}").unwrap();
        }
    }
    let started = std::time::Instant::now();
    let report = import_confirmed(&t.app, csv.as_bytes()).await;
    let took = started.elapsed();
    eprintln!("imported 100000 rows in {took:?}");
    assert_eq!(report.rows, 100_000);
    assert_eq!(
        report.invalid.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        invalid
    );
    assert_eq!(report.duplicate_in_file, dupes);
    assert_eq!(report.already_present, present);
    let expected = 100_000 - invalid.len() - dupes.len() - present.len();
    assert_eq!(report.accepted, expected as u64);
    assert_eq!(
        t.app
            .store
            .count_subscribers(Some(SubscriberStatus::Confirmed))
            .await
            .unwrap(),
        expected as i64
    );
    // The speed figure (under a minute) lives in `bench_audience`, not in a timed test.
    t.stop().await;
}

/// Imports CSV `data` as confirmed subscribers, as the admin's upload would.
async fn import_confirmed(app: &App, data: &[u8]) -> ImportReport {
    let options = ImportOptions {
        confirmed: true,
        ..Default::default()
    };
    import_csv(app, data, &options, |_| {}).await.unwrap()
}

async fn export_round_trips_through_import(backend: Backend) {
    let Some(a) = spawn(backend).await else {
        return;
    };
    let input = "email,name,status,created_at,frequency,time_zone\n\
                 ana@example.org,\"Pauker, Ana\",confirmed,2024-01-02T03:04:05.678Z,daily,\n\
                 bea@example.org,,unsubscribed,2025-06-01T00:00:00.000Z,weekly,Europe/Berlin\n\
                 cai@example.org,'-Cai,pending,2025-07-01T12:00:00.000Z,daily,\n";
    let report = import_confirmed(&a.app, input.as_bytes()).await;
    assert_eq!(report.accepted, 3, "{report:?}");
    let mut first = Vec::new();
    export_csv(&a.app, None, &mut first).await.unwrap();
    let first = String::from_utf8(first).unwrap();
    assert_eq!(first, input);
    let mut confirmed = Vec::new();
    export_csv(&a.app, Some(SubscriberStatus::Confirmed), &mut confirmed)
        .await
        .unwrap();
    assert_eq!(String::from_utf8(confirmed).unwrap().lines().count(), 2);
    a.stop().await;
    let Some(b) = spawn(backend).await else {
        return;
    };
    let report = import_confirmed(&b.app, first.as_bytes()).await;
    assert_eq!(report.accepted, 3);
    let mut second = Vec::new();
    export_csv(&b.app, None, &mut second).await.unwrap();
    assert_eq!(String::from_utf8(second).unwrap(), first);
    // Without --confirmed, confirmed rows come in as pending.
    let report = import_csv(
        &b.app,
        "dan@example.org,,confirmed\n".as_bytes(),
        &ImportOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.downgraded, 1);
    assert_eq!(
        status_of(&b.app, "dan@example.org").await,
        Some(SubscriberStatus::Pending)
    );
    b.stop().await;
}
on_both_databases!(export_round_trips_through_import);

#[test]
fn cli_imports_exports_lists_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("email,name\n");
    let mut seen = HashSet::new();
    for i in 0..2_000 {
        seen.insert(i);
        writeln!(csv, "cli{i}@example.org,Reader {i}").unwrap();
    }
    csv.push_str("broken,x\ncli1@example.org,dup\n");
    std::fs::write(dir.path().join("in.csv"), &csv).unwrap();
    let out = breakfast_cmd(
        &["subscribers", "import", "in.csv", "--confirmed"],
        &[],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    crate::kit::assert_success(&out);
    assert!(stdout.contains("2000 accepted"), "{stdout}");
    assert!(stdout.contains("invalid: line 2002"), "{stdout}");
    assert!(stdout.contains("duplicate in file: lines 2003"), "{stdout}");
    let out = breakfast_cmd(
        &["subscribers", "count", "--status", "confirmed"],
        &[],
        dir.path(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2000");
    let out = breakfast_cmd(&["subscribers", "list", "--limit", "3"], &[], dir.path());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let out = breakfast_cmd(
        &["subscribers", "export", "--status", "confirmed"],
        &[],
        dir.path(),
    );
    let exported = String::from_utf8_lossy(&out.stdout);
    assert!(exported.starts_with("email,name,status,created_at,frequency,time_zone\n"));
    assert_eq!(exported.lines().count(), 2001);
    let out = breakfast_cmd(
        &["subscribers", "count", "--status", "nope"],
        &[],
        dir.path(),
    );
    assert!(!out.status.success());
}

async fn an_old_confirmation_link_does_not_undo_an_unsubscribe(backend: Backend) {
    let Some(t) = spawn(backend).await else {
        return;
    };
    let id = add(&t.app, "old@example.org", SubscriberStatus::Pending).await;
    let confirm = t
        .app
        .signer
        .sign(id, Purpose::Confirm, Some(t.app.now_ms() + 60_000));
    let unsub = t.app.signer.sign(id, Purpose::Unsubscribe, None);
    let (s, _) = post_form(
        &t,
        &format!("/unsubscribe?token={unsub}"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(s, 200);
    let (s, body) = get(&t, &format!("/confirm?token={confirm}")).await;
    assert_eq!(s, 410, "{body}");
    assert_eq!(
        status_of(&t.app, "old@example.org").await,
        Some(SubscriberStatus::Unsubscribed)
    );
    // The page's resubscribe button: the signed link proves the mailbox, so the reader
    // is back at once (tests/it/archive.rs has the whole flow).
    let (s, body) = post_form(&t, "/resubscribe", &format!("token={unsub}")).await;
    assert_eq!(s, 200);
    assert!(body.contains("Welcome back"), "{body}");
    assert_eq!(
        status_of(&t.app, "old@example.org").await,
        Some(SubscriberStatus::Confirmed)
    );
    t.stop().await;
}
on_both_databases!(an_old_confirmation_link_does_not_undo_an_unsubscribe);
