//! The foundation: configuration, storage on both databases, the queue and mail transports.

use std::time::{Duration, Instant};

use breakfast::{
    domain::{Clock, EmailAddress, SubscriberStatus},
    queue::jobs::SendTransactional,
    store::{Store, StoreError, subscribers::NewSubscriber},
};

use crate::{
    kit::{Backend, Mail, SmtpBehaviour, SmtpServer, TestApp, TestDb, breakfast_cmd},
    on_both_databases,
};

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

async fn store_for(backend: Backend) -> Option<(Store, TestDb)> {
    let db = TestDb::create(backend).await?;
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, db))
}

async fn emails_are_unique_regardless_of_case(backend: Backend) {
    let Some((store, _db)) = store_for(backend).await else {
        return;
    };
    let first = store
        .insert_subscriber(
            &NewSubscriber {
                email: &email("Rosa@Example.org"),
                name: Some("Rosa"),
                status: SubscriberStatus::Pending,
                source: "test",
            },
            1,
        )
        .await
        .unwrap();
    assert_eq!(first.email.as_str(), "Rosa@example.org");
    let again = store
        .insert_subscriber(
            &NewSubscriber {
                email: &email("rosa@EXAMPLE.ORG"),
                name: None,
                status: SubscriberStatus::Pending,
                source: "test",
            },
            2,
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let found = store
        .subscriber_by_email(&email("ROSA@example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
}
on_both_databases!(emails_are_unique_regardless_of_case);

async fn illegal_status_moves_are_refused(backend: Backend) {
    let Some((store, _db)) = store_for(backend).await else {
        return;
    };
    let s = store
        .insert_subscriber(
            &NewSubscriber {
                email: &email("clara@example.org"),
                name: None,
                status: SubscriberStatus::Pending,
                source: "test",
            },
            1,
        )
        .await
        .unwrap();
    let s = store
        .set_subscriber_status(s.id, SubscriberStatus::Confirmed, 2)
        .await
        .unwrap();
    assert_eq!(s.confirmed_at, Some(2));
    let s = store
        .set_subscriber_status(s.id, SubscriberStatus::Unsubscribed, 3)
        .await
        .unwrap();
    assert_eq!(s.unsubscribed_at, Some(3));
    let refused = store
        .set_subscriber_status(s.id, SubscriberStatus::Confirmed, 4)
        .await;
    assert!(
        matches!(refused, Err(StoreError::IllegalTransition(_))),
        "{refused:?}"
    );
    assert_eq!(
        store.subscriber(s.id).await.unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    let counts = store.count_subscribers_by_status().await.unwrap();
    assert!(counts.contains(&(SubscriberStatus::Unsubscribed, 1)));
    assert!(counts.contains(&(SubscriberStatus::Confirmed, 0)));
}
on_both_databases!(illegal_status_moves_are_refused);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_same_tables_in_both_dialects() {
    let Some((sqlite, _a)) = store_for(Backend::Sqlite).await else {
        return;
    };
    let Some((pg, _b)) = store_for(Backend::Postgres).await else {
        return;
    };
    let tables = sqlite.table_names().await.unwrap();
    assert!(tables.len() >= 14, "{tables:?}");
    assert_eq!(tables, pg.table_names().await.unwrap());
    // Applying again is harmless.
    pg.migrate().await.unwrap();
    sqlite.migrate().await.unwrap();
}

fn transactional(to: &str) -> SendTransactional {
    SendTransactional {
        to: email(to),
        to_name: Some("Test Person".into()),
        subject: "Hello from Breakfast".into(),
        html: "<p>Hello <b>there</b></p>".into(),
        text: "Hello there".into(),
        list_subscriber_id: None,
        unsubscribe_url: None,
        event: None,
    }
}

async fn transactional_email_reaches_a_real_smtp_server(backend: Backend) {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let url = smtp.url();
    let Some(t) = TestApp::spawn_configured(backend, "", Clock::System, |c| {
        c.smtp_url = breakfast::config::Secret::new(url);
    })
    .await
    else {
        return;
    };
    t.app
        .queue
        .push(transactional("ana@example.org"))
        .await
        .unwrap();
    let got = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(got.len(), 1, "no message reached the SMTP server");
    let mail = Mail::parse(&got[0]);
    assert_eq!(mail.subject, "Hello from Breakfast");
    assert_eq!(mail.to, "ana@example.org");
    assert!(mail.text.contains("Hello there"));
    assert!(mail.html.contains("<b>there</b>"));
    assert!(mail.header("Message-ID").is_some());
    assert!(mail.header("List-Id").is_some());
    t.stop().await;
}
on_both_databases!(transactional_email_reaches_a_real_smtp_server);

async fn idle_workers_pick_up_a_job_within_a_second(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // Each job is pushed after the workers have gone idle. The median is asserted so that
    // one slow round on a loaded 2-core CI machine does not fail the run.
    let mut pickups = Vec::new();
    for i in 1..=3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let started = Instant::now();
        t.app
            .queue
            .push(transactional(&format!("bea{i}@example.org")))
            .await
            .unwrap();
        let got = t.wait_for_outbox(i, Duration::from_secs(30)).await;
        assert_eq!(got.len(), i, "job {i} was never picked up");
        pickups.push(started.elapsed());
    }
    pickups.sort();
    assert!(
        pickups[1] < Duration::from_secs(1),
        "median pickup {:?} (all: {pickups:?})",
        pickups[1]
    );
    let mail = Mail::parse(&t.wait_for_outbox(1, Duration::from_secs(1)).await[0]);
    assert_eq!(mail.to, "bea1@example.org");
    t.stop().await;
}
on_both_databases!(idle_workers_pick_up_a_job_within_a_second);

async fn healthz_answers_with_the_database(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let resp = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    t.app.store.close().await;
    let resp = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    t.stop().await;
}
on_both_databases!(healthz_answers_with_the_database);

#[tokio::test]
async fn the_generated_secret_is_kept_across_restarts() {
    let Some(db) = TestDb::create(Backend::Sqlite).await else {
        return;
    };
    let mut config = crate::kit::test_config(&db, "http://127.0.0.1:1", "");
    config.secret = breakfast::config::Secret::default();
    let a = breakfast::App::open(config.clone(), Clock::System)
        .await
        .unwrap();
    let token = a
        .signer
        .sign(5, breakfast::domain::Purpose::Unsubscribe, None);
    a.close().await;
    let b = breakfast::App::open(config, Clock::System).await.unwrap();
    assert_eq!(
        b.signer
            .verify(&token, breakfast::domain::Purpose::Unsubscribe, 0),
        Ok(5)
    );
}

#[test]
fn cli_reports_bad_configuration_and_storage_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typo.toml"),
        "databse_url = 'sqlite://x.db'\n",
    )
    .unwrap();
    let out = breakfast_cmd(&["--config", "typo.toml", "migrate"], &[], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("databse_url") && err.contains("typo.toml"),
        "{err}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created on a config error"
    );

    let out = breakfast_cmd(
        &["migrate"],
        &[("BREAKFAST_DATABASE_URL", "sqlite:///proc/nope/x.db")],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/proc/nope"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = breakfast_cmd(
        &["migrate"],
        &[(
            "BREAKFAST_DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none",
        )],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to PostgreSQL"));
}

#[test]
fn cli_refuses_a_port_already_taken() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = breakfast_cmd(&["serve"], &[("BREAKFAST_LISTEN", &addr)], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("already in use"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created when the port is taken"
    );
}

#[test]
fn cli_migrate_creates_the_default_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = breakfast_cmd(&["migrate"], &[], dir.path());
    crate::kit::assert_success(&out);
    assert!(dir.path().join("data/breakfast.db").exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("subscribers"));
}

/// Closing any descriptor of the database file drops every SQLite lock this process holds
/// on it. Opening a second store in the same process must not do that: the next process
/// to open and close the database (`breakfast subscribers count`, `sqlite3`, a backup)
/// would take itself for the last user, delete the live WAL, and every later write of
/// this process would be lost.
#[tokio::test]
async fn another_process_never_deletes_the_live_wal() {
    let Some(db) = TestDb::create(Backend::Sqlite).await else {
        return;
    };
    let first = Store::connect(&db.url).await.unwrap();
    first.migrate().await.unwrap();
    first.set_setting("probe", "before").await.unwrap();
    // The options of a second pool (the queue's, say), made while the first pool holds
    // its locks.
    breakfast::store::sqlite_options(&db.url).unwrap();
    let wal = {
        let path = db.url.trim_start_matches("sqlite://");
        let path = path.split('?').next().unwrap_or(path);
        std::path::PathBuf::from(format!("{path}-wal"))
    };
    assert!(wal.exists(), "WAL at {}", wal.display());

    // Another process opens the database and closes it: Debian's sqlite3 shell (CI
    // installs it), which deletes the WAL when it finds no other process's lock.
    let path = wal.to_str().unwrap().trim_end_matches("-wal").to_string();
    let out = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("SELECT count(*) FROM settings")
        .output()
        .expect("sqlite3 runs (apt-get install sqlite3)");
    crate::kit::assert_success(&out);
    assert!(wal.exists(), "another process deleted the live WAL");

    first.set_setting("probe", "after").await.unwrap();
    drop(first);
    let fresh = Store::connect(&db.url).await.unwrap();
    assert_eq!(
        fresh.setting("probe").await.unwrap().as_deref(),
        Some("after")
    );
}
