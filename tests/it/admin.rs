//! The admin over HTTP: sign-in, sessions, CSRF, roles, lock-out, the digest page's
//! preview, test send and send now, and personal API tokens.

use std::time::Duration;

use breakfast::{domain::Clock, store::users::AdminRole};
use reqwest::StatusCode;

use crate::{
    kit::{Backend, Mail, TestApp},
    on_both_databases,
};

// The kit's helpers, kept at their old paths for the tests that name them here.
#[allow(unused_imports)]
pub use crate::kit::{Browser, PASSWORD, Page, add_user, seed_content};

async fn login_logout_csrf_and_roles(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    add_user(&t.app, "Ed@Example.org", AdminRole::Editor).await;
    add_user(&t.app, "op@example.org", AdminRole::Operator).await;
    let mut b = Browser::new(&t);

    let gate = b.get("/admin/schedule").await;
    assert_eq!(gate.status, StatusCode::SEE_OTHER);
    assert_eq!(
        gate.location.as_deref(),
        Some("/admin/login?next=%2Fadmin%2Fschedule")
    );

    let wrong = b.login("ed@example.org", "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("do not match"), "{}", wrong.body);

    // The login form itself refuses a post without its CSRF token.
    let forged = b
        .post(
            "/admin/login",
            &[("email", "ed@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let ok = b.login("ED@example.org", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/admin"));
    let cookie = b
        .last_set_cookies
        .iter()
        .find(|c| c.starts_with("breakfast_admin="))
        .expect("session cookie")
        .clone();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "http base URL: {cookie}");
    let token = b.cookies["breakfast_admin"].clone();
    assert!(token.len() >= 40);

    let sched = b.get("/admin/schedule").await;
    assert_eq!(sched.status, StatusCode::OK);
    assert!(sched.body.contains("Next five sends"));
    assert_eq!(
        sched.body.matches("<form").count(),
        sched.body.matches(r#"name="csrf""#).count(),
        "every form carries the token"
    );
    let csrf = sched.csrf();

    // Missing and forged tokens: 403 and nothing changes.
    let missing = b.post("/admin/schedule/pause", &[("paused", "1")]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("form has expired"));
    let forged = b
        .post(
            "/admin/schedule/pause",
            &[("paused", "1"), ("csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        !breakfast::schedule::runner::daily_schedule(&t.app)
            .await
            .unwrap()
            .paused
    );
    let paused = b
        .post("/admin/schedule/pause", &[("paused", "1"), ("csrf", &csrf)])
        .await;
    assert_eq!(paused.status, StatusCode::SEE_OTHER);
    assert!(
        breakfast::schedule::runner::daily_schedule(&t.app)
            .await
            .unwrap()
            .paused
    );

    // Only the hash of the session token is stored.
    let stored = t
        .app
        .store
        .fixture_i64(
            breakfast::store::query("SELECT COUNT(*) FROM admin_sessions WHERE token_hash = $1")
                .bind(&token),
        )
        .await
        .unwrap();
    assert_eq!(stored, 0);

    let out = b.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!b.cookies.contains_key("breakfast_admin"));
    // The old cookie no longer works even if replayed.
    b.cookies.insert("breakfast_admin".into(), token);
    let after = b.get("/admin").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);

    // An operator sees subscribers but may not edit or send: 403.
    let mut op = Browser::new(&t);
    assert_eq!(
        op.login("op@example.org", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(op.get("/admin/subscribers").await.status, StatusCode::OK);
    let home = op.get("/admin").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("operator account"));
    let op_csrf = home.csrf();
    assert_eq!(
        op.get("/admin/schedule").await.status,
        StatusCode::FORBIDDEN
    );
    let denied = op
        .post(
            "/admin/schedule/pause",
            &[("paused", "0"), ("csrf", &op_csrf)],
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(denied.body.contains("only editors"));
    t.stop().await;
}
on_both_databases!(login_logout_csrf_and_roles);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_and_session_expiry() {
    let clock = Clock::manual("2026-06-01T08:00:00Z".parse().unwrap());
    let Some(t) = TestApp::spawn_with(
        Backend::Sqlite,
        "[admin]\nmax_failed_logins = 3\nlockout_minutes = 15\nsession_hours = 2\n",
        clock.clone(),
    )
    .await
    else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(&t);
    for _ in 0..2 {
        assert_eq!(
            b.login("ed@example.org", "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    // The third wrong password is still checked (401) and says the lock has begun.
    let third = b.login("ed@example.org", "guess").await;
    assert_eq!(third.status, StatusCode::UNAUTHORIZED);
    assert!(third.body.contains("locked for 15"), "{}", third.body);
    // Even the right password is refused while locked.
    let right = b.login("ed@example.org", PASSWORD).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(chrono::Duration::minutes(16));
    let ok = b.login("ed@example.org", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/admin/schedule").await.status, StatusCode::OK);

    clock.advance(chrono::Duration::hours(2) + chrono::Duration::minutes(1));
    let expired = b.get("/admin/schedule").await;
    assert_eq!(expired.status, StatusCode::SEE_OTHER);
    let to = expired.location.unwrap();
    assert!(to.contains("expired=1"), "{to}");
    let page = b.get(&to).await;
    assert!(page.body.contains("Your session has expired"));
    t.stop().await;
}

async fn digest_page_preview_test_send_and_send_once(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    seed_content(&t.app, &["Dockers win pay rise"], &["reader@example.org"]).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;

    let page = b.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Dockers win pay rise"), "{}", page.body);
    assert!(page.body.contains("Send now to 1 subscriber…"));
    let csrf = page.csrf();
    let digest_id: i64 = page
        .body
        .split("/admin/digest/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse().ok())
        .expect("digest id in the page");

    let saved = b
        .post(
            &format!("/admin/digest/{digest_id}/note"),
            &[
                ("csrf", &csrf),
                (
                    "editor_note",
                    "Solidarity **forever**.\n\n<script>alert('x')</script>",
                ),
                ("subject_override", "A special morning"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let preview = b
        .get(&format!("/admin/digest/{digest_id}/preview.html"))
        .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(preview.body.contains("forever"));
    assert!(
        !preview.body.contains("<script>alert"),
        "script must not survive"
    );
    let text = b
        .get(&format!("/admin/digest/{digest_id}/preview.txt"))
        .await;
    assert!(
        text.body.starts_with("Subject: A special morning"),
        "{}",
        text.body
    );
    assert!(text.body.contains("Dockers win pay rise"));

    let test = b
        .post(
            &format!("/admin/digest/{digest_id}/test"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(test.status, StatusCode::SEE_OTHER);
    let mail = t.wait_for_outbox(1, Duration::from_secs(60)).await;
    assert_eq!(mail.len(), 1, "the test arrives in the outbox");
    let m = Mail::parse(&mail[0]);
    assert_eq!(m.to, "ed@example.org");
    assert_eq!(m.subject, "[Test] A special morning");
    assert!(m.html.contains("Dockers win pay rise"));

    let send_path = format!("/admin/digest/{digest_id}/send");
    let confirm = b.get(&send_path).await;
    assert!(
        confirm.body.contains("1 confirmed subscriber"),
        "{}",
        confirm.body
    );
    let sent = b.post_fields(&send_path, &csrf, "").await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let again = b.post_fields(&send_path, &csrf, "").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already gone out"));
    let all = t.wait_for_outbox(2, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to_reader = crate::kit::read_eml(&t.outbox_dir())
        .iter()
        .filter(|m| Mail::parse(m).to == "reader@example.org")
        .count();
    let progress = t
        .app
        .store
        .delivery_progress(digest_id, t.app.now_ms())
        .await
        .unwrap();
    assert_eq!(to_reader, 1, "{} messages; {progress:?}", all.len());
    let past = b.get("/admin/digests").await;
    assert_eq!(past.status, StatusCode::OK);
    assert!(past.body.contains("A special morning"), "{}", past.body);
    let feeds = b.get("/admin/feeds").await;
    assert!(feeds.body.contains("The Paper"));
    let bad_feed = b
        .post(
            "/admin/feeds",
            &[("csrf", &csrf), ("url", "not a url"), ("name", "X")],
        )
        .await;
    assert_eq!(bad_feed.status, StatusCode::BAD_REQUEST);
    assert!(bad_feed.body.contains("full address"));
    t.stop().await;
}
on_both_databases!(digest_page_preview_test_send_and_send_once);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn articles_can_be_dropped_and_restored() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    seed_content(&t.app, &["Rent strike spreads", "Nurses ballot"], &[]).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get("/admin").await;
    let csrf = page.csrf();
    let action = page
        .body
        .split(r#"action=""#)
        .find(|s| s.starts_with("/admin/digest/") && s.contains("/articles/"))
        .and_then(|s| s.split('"').next())
        .expect("article form")
        .to_string();
    let (first, second) =
        if page.body.find("Rent strike").unwrap() < page.body.find("Nurses ballot").unwrap() {
            ("Rent strike spreads", "Nurses ballot")
        } else {
            ("Nurses ballot", "Rent strike spreads")
        };
    let r = b
        .post(&action, &[("csrf", &csrf), ("action", "drop")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let digest_id: i64 = action.split('/').nth(3).unwrap().parse().unwrap();
    let preview = b
        .get(&format!("/admin/digest/{digest_id}/preview.txt"))
        .await;
    assert!(!preview.body.contains(first), "{}", preview.body);
    assert!(preview.body.contains(second));
    let page = b.get("/admin").await;
    assert!(page.body.contains("dropped"));
    b.post(&action, &[("csrf", &csrf), ("action", "restore")])
        .await;
    let preview = b
        .get(&format!("/admin/digest/{digest_id}/preview.txt"))
        .await;
    assert!(preview.body.contains(first));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_form_refuses_unknown_zones_and_gap_times() {
    let clock = Clock::manual("2026-03-01T12:00:00Z".parse().unwrap());
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, "", clock).await else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let csrf = b.get("/admin/schedule").await.csrf();
    let bad_zone = b
        .post(
            "/admin/schedule",
            &[
                ("csrf", &csrf),
                ("send_time", "07:00"),
                ("time_zone", "Mars/Olympus"),
                ("days", "mon"),
            ],
        )
        .await;
    assert_eq!(bad_zone.status, StatusCode::BAD_REQUEST);
    assert!(bad_zone.body.contains("not an IANA time zone"));
    assert!(
        bad_zone.body.contains("Mars/Olympus"),
        "the form keeps what was typed"
    );

    let gap = b
        .post(
            "/admin/schedule/oneoff",
            &[
                ("csrf", &csrf),
                ("date", "2026-03-29"),
                ("time", "01:30"),
                ("time_zone", "Europe/London"),
            ],
        )
        .await;
    assert_eq!(gap.status, StatusCode::BAD_REQUEST);
    assert!(gap.body.contains("does not exist"), "{}", gap.body);
    assert!(t.app.store.pending_one_offs().await.unwrap().is_empty());

    let ok = b
        .post(
            "/admin/schedule/oneoff",
            &[
                ("csrf", &csrf),
                ("date", "2026-03-29"),
                ("time", "02:30"),
                ("time_zone", "Europe/London"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(t.app.store.pending_one_offs().await.unwrap().len(), 1);

    let saved = b
        .post(
            "/admin/schedule",
            &[
                ("csrf", &csrf),
                ("send_time", "06:30"),
                ("time_zone", "America/New_York"),
                ("days", "mon"),
                ("days", "fri"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let page = b.get("/admin/schedule").await;
    assert!(
        page.body.contains("Monday 2 March 2026, 06:30 EST"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Friday 6 March 2026, 06:30 EST"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_api_tokens_open_the_api() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let csrf = b.get("/admin/tokens").await.csrf();
    let created = b
        .post("/admin/tokens", &[("csrf", &csrf), ("name", "site form")])
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let token = created
        .body
        .split(r#"<p class="token">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("token shown once")
        .to_string();
    let api = |tok: String| {
        t.http
            .get(t.url("/api/subscribers"))
            .bearer_auth(tok)
            .send()
    };
    assert_eq!(api(token.clone()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        api("bf_wrong".into()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let page = b.get("/admin/tokens").await;
    assert!(!page.body.contains(&token), "never shown again");
    t.stop().await;
}

/// A store failure in a handler that uses `?` is the admin's 500 page, in the site's
/// shell with the publication's name (filled in on the way out), and logs the detail.
async fn a_store_failure_is_the_named_500_page(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    add_user(&t.app, "op@example.org", AdminRole::Operator).await;
    let mut b = Browser::new(&t);
    b.login("op@example.org", PASSWORD).await;
    assert_eq!(b.get("/admin/bounces").await.status, StatusCode::OK);
    // Break the table the page reads, behind the store's back.
    let drop = "DROP TABLE bounce_unmatched";
    match backend {
        Backend::Sqlite => {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(&t.db.url).await.unwrap();
            sqlx::query(drop).execute(&mut c).await.unwrap();
        }
        Backend::Postgres => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&t.db.url).await.unwrap();
            sqlx::query(drop).execute(&mut c).await.unwrap();
        }
    }
    let page = b.get("/admin/bounces").await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.body.contains("Something went wrong"), "{}", page.body);
    assert!(
        page.body.contains(&t.app.config.newsletter.name),
        "{}",
        page.body
    );
    t.stop().await;
}
on_both_databases!(a_store_failure_is_the_named_500_page);
