//! Delivery: fan-out into the ledger, batch sending over a real SMTP server, retries,
//! bounces, crash safety with the real binary, and two workers on one PostgreSQL.

use std::{
    collections::HashMap,
    process::{Child, Command},
    time::{Duration, Instant},
};

use breakfast::{
    App,
    delivery::{self, jobs::DeliverBatch},
    domain::{Clock, SubscriberStatus},
    store::deliveries::DeliveryProgress,
};

use crate::{
    kit::{
        Backend, Mail, SmtpBehaviour, SmtpServer, TestApp, TestDb, find_link, received, test_config,
    },
    kit::{SUBJECT_2026_11_28, digest, subscriber, wait_until_sent},
    on_both_databases,
};

/// Test settings: retries after ~100 ms, short leases, small batches.
const QUEUE_TOML: &str =
    "[queue]\nretry_base_ms = 100\nretry_max_ms = 400\nlease_secs = 2\nbatch_size = 3\n";

/// The service sending to `smtp`, its jobs run on demand.
async fn spawn(backend: Backend, smtp: &SmtpServer) -> Option<TestApp> {
    TestApp::builder(backend)
        .toml(QUEUE_TOML)
        .smtp(smtp)
        .jobs_on_demand()
        .start()
        .await
}

/// Starts digest `id`'s send, runs the jobs until nothing is left, and returns where
/// the send stands.
async fn send_all(t: &TestApp, id: i64) -> DeliveryProgress {
    delivery::start_send(&t.app, id).await.unwrap();
    t.run_pending_jobs().await;
    t.app
        .store
        .delivery_progress(id, t.app.now_ms())
        .await
        .unwrap()
}

/// `n` confirmed subscribers r0@example.org … (ids in that order).
async fn readers(app: &App, n: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let address = format!("r{i}@example.org");
        ids.push(subscriber(app, &address, SubscriberStatus::Confirmed).await);
    }
    ids
}

async fn every_confirmed_subscriber_gets_exactly_one(backend: Backend) {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let Some(t) = spawn(backend, &smtp).await else {
        return;
    };
    let app = &t.app;
    let mut confirmed = Vec::new();
    for i in 0..7 {
        let address = format!("reader{i}@example.org");
        subscriber(app, &address, SubscriberStatus::Confirmed).await;
        confirmed.push(address);
    }
    subscriber(app, "pending@example.org", SubscriberStatus::Pending).await;
    subscriber(app, "left@example.org", SubscriberStatus::Unsubscribed).await;
    subscriber(app, "bounced@example.org", SubscriberStatus::Bounced).await;
    let id = digest(app, "2026-11-28").await;

    let p = send_all(&t, id).await;
    assert_eq!(
        (p.status.as_str(), p.recipients, p.sent, p.failed),
        ("sent", Some(7), 7, 0),
        "{p:?}"
    );
    assert!(p.send_started_at.is_some() && p.send_finished_at.is_some());

    // Every worker has stopped: what the server holds is all it will get.
    let counts = received(&[&smtp]);
    let mut got: Vec<&String> = counts.keys().collect();
    got.sort();
    let mut want: Vec<&String> = confirmed.iter().collect();
    want.sort();
    assert_eq!(got, want);
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");

    for raw in smtp.messages() {
        let mail = Mail::parse(&raw);
        assert_eq!(mail.subject, SUBJECT_2026_11_28);
        assert!(mail.to.starts_with("reader"), "{}", mail.to);
        assert!(mail.html.contains("The tenants won."));
        assert!(mail.text.contains("The tenants won."));
        assert!(mail.header("From").unwrap().contains("@example.org"));
        let unsub = mail.header("List-Unsubscribe").unwrap();
        assert!(
            unsub.starts_with("<http") && unsub.contains("/unsubscribe?token="),
            "{unsub}"
        );
        assert_eq!(
            mail.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert!(
            mail.header("List-Id")
                .unwrap()
                .contains("<breakfast.example.org>")
        );
        assert!(mail.header("Message-ID").unwrap().contains('@'));
        assert!(mail.header("Date").is_some());
        assert!(
            mail.header("Content-Type")
                .unwrap()
                .contains("multipart/alternative")
        );
    }

    // A second send of the same digest is refused, and nobody is mailed again.
    let again = delivery::start_send(app, id).await.unwrap_err().to_string();
    assert!(again.contains("already sent"), "{again}");
    t.run_pending_jobs().await;
    assert_eq!(smtp.messages().len(), 7);
    t.stop().await;
}
on_both_databases!(every_confirmed_subscriber_gets_exactly_one);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_with_no_confirmed_subscribers_completes_with_none() {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let Some(t) = spawn(Backend::Sqlite, &smtp).await else {
        return;
    };
    subscriber(&t.app, "pending@example.org", SubscriberStatus::Pending).await;
    let id = digest(&t.app, "2026-11-28").await;
    let p = send_all(&t, id).await;
    assert_eq!(
        (p.status.as_str(), p.recipients, p.sent),
        ("sent", Some(0), 0)
    );
    assert!(smtp.messages().is_empty());
    t.stop().await;
}

/// Four (or `n`) readers through a server that misbehaves as `behaviour` says: each gets
/// the digest once, and the send completes with nothing failed.
async fn delivered_once_despite(backend: Backend, behaviour: SmtpBehaviour, n: usize) {
    let Some(smtp) = SmtpServer::start(behaviour).await else {
        return;
    };
    let Some(t) = spawn(backend, &smtp).await else {
        return;
    };
    readers(&t.app, n).await;
    let id = digest(&t.app, "2026-11-28").await;
    let p = send_all(&t, id).await;
    assert_eq!(
        (p.status.as_str(), p.sent, p.failed),
        ("sent", n as i64, 0),
        "{p:?}"
    );
    let counts = received(&[&smtp]);
    assert_eq!(counts.len(), n, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    t.stop().await;
}

async fn a_temporary_failure_is_retried_then_delivered(backend: Backend) {
    let behaviour = SmtpBehaviour {
        tempfail: 1,
        ..Default::default()
    };
    delivered_once_despite(backend, behaviour, 4).await
}
on_both_databases!(a_temporary_failure_is_retried_then_delivered);

async fn a_permanent_refusal_fails_the_delivery_and_bounces(backend: Backend) {
    permanent_refusal(backend, false).await
}
on_both_databases!(a_permanent_refusal_fails_the_delivery_and_bounces);

/// With PIPELINING the refusal arrives among MAIL's and DATA's replies, in one read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelined_permanent_refusal_fails_the_delivery_and_bounces() {
    permanent_refusal(Backend::Sqlite, true).await
}

/// Through a server that offers PIPELINING: the temporary refusals and the connection
/// dropped mid-DATA of the tests above, each reader still getting the digest once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipelining_server_gets_each_message_once_despite_failures() {
    for behaviour in [
        SmtpBehaviour {
            tempfail: 1,
            ..Default::default()
        },
        SmtpBehaviour {
            disconnect: 2,
            ..Default::default()
        },
    ] {
        let behaviour = SmtpBehaviour {
            pipelining: true,
            ..behaviour
        };
        delivered_once_despite(Backend::Sqlite, behaviour, 4).await;
    }
}

async fn permanent_refusal(backend: Backend, pipelining: bool) {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour {
        reject: Some("^nobody@".into()),
        pipelining,
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let Some(t) = spawn(backend, &smtp).await else {
        return;
    };
    let gone = subscriber(&t.app, "nobody@example.org", SubscriberStatus::Confirmed).await;
    subscriber(&t.app, "ana@example.org", SubscriberStatus::Confirmed).await;
    let id = digest(&t.app, "2026-11-28").await;
    let p = send_all(&t, id).await;
    assert_eq!(
        (p.status.as_str(), p.sent, p.failed),
        ("sent", 1, 1),
        "{p:?}"
    );
    let s = t.app.store.subscriber(gone).await.unwrap();
    assert_eq!(s.status, SubscriberStatus::Bounced);
    assert_eq!(s.bounce_count, 1);
    assert_eq!(
        received(&[&smtp]).keys().collect::<Vec<_>>(),
        vec!["ana@example.org"]
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsubscribe_after_fan_out_wins() {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let Some(t) = spawn(Backend::Sqlite, &smtp).await else {
        return;
    };
    let app = &t.app;
    let leaver = subscriber(app, "leaver@example.org", SubscriberStatus::Confirmed).await;
    subscriber(app, "stayer@example.org", SubscriberStatus::Confirmed).await;
    let id = digest(app, "2026-11-28").await;
    // Write the ledger by hand while the digest is not yet sending (so no sender can take
    // a row), then the subscriber leaves, then the send starts.
    let (recipients, batches) = app.store.fan_out(id, 500, app.now_ms()).await.unwrap();
    assert_eq!((recipients, batches), (2, 1));
    app.store
        .set_subscriber_status(leaver, SubscriberStatus::Unsubscribed, app.now_ms())
        .await
        .unwrap();
    app.store.begin_send(id, app.now_ms()).await.unwrap();
    app.queue
        .push(DeliverBatch {
            digest_id: id,
            batch_no: 0,
        })
        .await
        .unwrap();
    t.run_pending_jobs().await;
    let p = app.store.delivery_progress(id, app.now_ms()).await.unwrap();
    assert_eq!(
        (p.status.as_str(), p.sent, p.failed),
        ("sent", 1, 1),
        "{p:?}"
    );
    assert_eq!(
        received(&[&smtp]).keys().collect::<Vec<_>>(),
        vec!["stayer@example.org"]
    );
    t.stop().await;
}

/// The service's own binary as a separate worker process, sending to `smtp` with
/// short leases and retries.
fn spawn_worker(db: &TestDb, smtp: &SmtpServer, extra_env: &[(&str, &str)]) -> Child {
    let url = smtp.url();
    let mut env = vec![
        ("BREAKFAST_SMTP_URL", url.as_str()),
        ("BREAKFAST_QUEUE__LEASE_SECS", "2"),
        ("BREAKFAST_QUEUE__RETRY_BASE_MS", "100"),
    ];
    env.extend_from_slice(extra_env);
    crate::kit::spawn_breakfast("worker", db, &env)
}

/// A send for worker processes: the SMTP server, the database, an app in the test
/// process that only enqueues and reads (no workers), `n` readers and their digest.
struct WorkerSend {
    smtp: SmtpServer,
    db: TestDb,
    app: App,
    id: i64,
    n: usize,
}

impl WorkerSend {
    async fn prepare(backend: Backend, behaviour: SmtpBehaviour, n: usize) -> Option<WorkerSend> {
        let smtp = SmtpServer::start(behaviour).await?;
        let db = TestDb::create(backend).await?;
        let extra = format!("smtp_url = {:?}\n{QUEUE_TOML}", smtp.url());
        let mut config = test_config(&db, "http://127.0.0.1:9", &extra);
        config.queue.batch_size = 25;
        let app = App::open(config, Clock::System).await.expect("app opens");
        readers(&app, n).await;
        let id = digest(&app, "2026-11-28").await;
        Some(WorkerSend {
            smtp,
            db,
            app,
            id,
            n,
        })
    }

    fn worker(&self, env: &[(&str, &str)]) -> Child {
        spawn_worker(&self.db, &self.smtp, env)
    }

    async fn wait_until_sent(&self) -> DeliveryProgress {
        wait_until_sent(&self.app, self.id, Duration::from_secs(120)).await
    }

    /// Every reader got the digest: the ledger says sent, with nothing failed.
    fn assert_sent_to_all(&self, p: &DeliveryProgress) {
        assert_eq!(
            (p.status.as_str(), p.sent, p.failed),
            ("sent", self.n as i64, 0),
            "{p:?}"
        );
    }
}

fn kill_9(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL: no chance to finish anything
    child.wait().unwrap();
}

fn sigterm(child: &Child) {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_send_is_finished_by_its_successor_without_doubles() {
    let behaviour = SmtpBehaviour {
        delay_ms: 20,
        ..Default::default()
    };
    let Some(w) = WorkerSend::prepare(Backend::Sqlite, behaviour, 300).await else {
        return;
    };
    // Bound on rows in flight: 2 batches at once × chunks of 4.
    let env = [
        ("BREAKFAST_MAIL__CONCURRENCY", "4"),
        ("BREAKFAST_QUEUE__DELIVERY_WORKERS", "2"),
    ];
    let bound = 2 * 4;
    let mut first = w.worker(&env);
    delivery::start_send(&w.app, w.id).await.unwrap();
    w.smtp.wait_for(60, Duration::from_secs(60)).await;
    kill_9(&mut first);
    let at_kill = w.smtp.messages().len();
    assert!(at_kill < w.n, "the send finished before the kill");

    let mut second = w.worker(&env);
    let p = w.wait_until_sent().await;
    kill_9(&mut second);
    w.assert_sent_to_all(&p);
    let counts = received(&[&w.smtp]);
    assert_eq!(counts.len(), w.n, "every recipient got the digest");
    let doubles: usize = counts.values().map(|c| c - 1).sum();
    eprintln!("killed after {at_kill} accepted; {doubles} recipients mailed twice (bound {bound})");
    assert!(
        doubles <= bound,
        "{doubles} duplicates, more than the in-flight bound {bound}"
    );
    w.app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_postgres_share_a_digest_without_doubles() {
    let behaviour = SmtpBehaviour {
        delay_ms: 2,
        ..Default::default()
    };
    let Some(w) = WorkerSend::prepare(Backend::Postgres, behaviour, 400).await else {
        return;
    };
    let env = [("BREAKFAST_MAIL__CONCURRENCY", "8")];
    let mut a = w.worker(&env);
    let mut b = w.worker(&env);
    delivery::start_send(&w.app, w.id).await.unwrap();
    let p = w.wait_until_sent().await;
    kill_9(&mut a);
    kill_9(&mut b);
    w.assert_sent_to_all(&p);
    let counts = received(&[&w.smtp]);
    assert_eq!(counts.len(), w.n);
    assert!(counts.values().all(|&c| c == 1), "someone was mailed twice");
    w.app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sends_a_test_copy_without_touching_the_ledger_and_reports_status() {
    let Some(db) = TestDb::create(Backend::Sqlite).await else {
        return;
    };
    let outbox = db.dir.path().join("outbox");
    let mut config = test_config(&db, "http://127.0.0.1:9", "");
    config.mail.outbox_dir = outbox.display().to_string();
    let app = App::open(config, Clock::System).await.unwrap();
    subscriber(&app, "reader@example.org", SubscriberStatus::Confirmed).await;
    let id = digest(&app, "2026-11-28").await;
    let id_text = id.to_string();
    let env = [
        ("BREAKFAST_DATABASE_URL", db.url.as_str()),
        ("BREAKFAST_SECRET", "test-secret-0123456789"),
        ("BREAKFAST_MAIL__OUTBOX_DIR", outbox.to_str().unwrap()),
    ];
    let out = crate::kit::breakfast_cmd(
        &[
            "digest",
            "send",
            "--digest",
            &id_text,
            "--to",
            "editor@example.org",
        ],
        &env,
        db.dir.path(),
    );
    crate::kit::assert_success(&out);
    let mails = crate::kit::read_eml(&outbox);
    assert_eq!(mails.len(), 1);
    let mail = Mail::parse(&mails[0]);
    assert_eq!(mail.to, "editor@example.org");
    assert_eq!(mail.subject, format!("[Test] {SUBJECT_2026_11_28}"));

    let status = crate::kit::breakfast_cmd(
        &["digest", "status", &id_text, "--json"],
        &env,
        db.dir.path(),
    );
    assert!(status.status.success());
    let p: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        p["status"], "composed",
        "the test copy did not start a send"
    );
    assert_eq!(p["sent"], 0);

    let sent = crate::kit::breakfast_cmd(
        &["digest", "send", "--digest", &id_text, "--wait"],
        &env,
        db.dir.path(),
    );
    crate::kit::assert_success(&sent);
    let p = app.store.delivery_progress(id, app.now_ms()).await.unwrap();
    assert_eq!((p.status.as_str(), p.sent), ("sent", 1));
    assert_eq!(crate::kit::read_eml(&outbox).len(), 2);
    let again = crate::kit::breakfast_cmd(
        &["digest", "send", "--digest", &id_text],
        &env,
        db.dir.path(),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already sent"));
    app.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_claiming_and_finishes_the_messages_in_flight() {
    let behaviour = SmtpBehaviour {
        delay_ms: 50,
        ..Default::default()
    };
    let Some(w) = WorkerSend::prepare(Backend::Sqlite, behaviour, 200).await else {
        return;
    };
    let mut worker = w.worker(&[
        ("BREAKFAST_MAIL__CONCURRENCY", "4"),
        ("BREAKFAST_QUEUE__SHUTDOWN_TIMEOUT_SECS", "10"),
    ]);
    delivery::start_send(&w.app, w.id).await.unwrap();
    w.smtp.wait_for(20, Duration::from_secs(60)).await;
    sigterm(&worker);
    let asked = Instant::now();
    let exited = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(15),
            "the worker did not stop within its shutdown timeout"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exited.success(), "{exited:?}");
    let p = w
        .app
        .store
        .delivery_progress(w.id, w.app.now_ms())
        .await
        .unwrap();
    assert!(
        p.sent < w.n as i64,
        "the send finished before the signal: {p:?}"
    );
    assert_eq!(
        p.sending, 0,
        "every message in flight was finished and recorded: {p:?}"
    );
    assert_eq!(p.sent as usize, w.smtp.messages().len(), "{p:?}");
    w.app.close().await;
}

async fn a_connection_dropped_mid_data_is_retried_and_delivered_once(backend: Backend) {
    let behaviour = SmtpBehaviour {
        disconnect: 2,
        ..Default::default()
    };
    delivered_once_despite(backend, behaviour, 3).await
}
on_both_databases!(a_connection_dropped_mid_data_is_retried_and_delivered_once);

/// An SMTP server that answers 451 to every recipient once: the log says so in a few
/// summary lines, not one line (or two) per recipient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failures_are_summarised_not_logged_per_recipient() {
    let behaviour = SmtpBehaviour {
        tempfail: 1,
        ..Default::default()
    };
    let Some(w) = WorkerSend::prepare(Backend::Sqlite, behaviour, 60).await else {
        return;
    };
    let n = w.n;
    let log_path = w.db.dir.path().join("worker.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let url = w.smtp.url();
    let mut worker = crate::kit::breakfast_process(
        "worker",
        &w.db,
        &[
            ("BREAKFAST_SMTP_URL", url.as_str()),
            ("BREAKFAST_QUEUE__RETRY_BASE_MS", "100"),
            ("BREAKFAST_QUEUE__RETRY_MAX_MS", "200"),
            ("RUST_LOG", "info"),
        ],
    )
    .stdout(log.try_clone().unwrap())
    .stderr(log)
    .spawn()
    .unwrap();
    delivery::start_send(&w.app, w.id).await.unwrap();
    let p = w.wait_until_sent().await;
    sigterm(&worker);
    worker.wait().unwrap();
    w.assert_sent_to_all(&p);
    let text = std::fs::read_to_string(&log_path).unwrap();
    let about_failures: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("retr") || l.contains("slow down"))
        .collect();
    assert!(
        about_failures.len() <= 10,
        "{} log lines about {n} temporary failures:\n{}",
        about_failures.len(),
        about_failures.join("\n")
    );
    assert!(
        text.contains("deliveries retried or failed"),
        "the failures are summarised:\n{text}"
    );
    assert!(
        !text.contains("r1@example.org"),
        "no addresses in logs:\n{text}"
    );
    w.app.close().await;
}

/// A composed digest (with its greeting and link placeholders) is sent to three readers;
/// every personal link in each message, in the HTML, the text and `List-Unsubscribe`,
/// verifies and names that reader, the unsubscribe link is one string in all three
/// places (signed once), and the quoted-printable parts keep lines short.
async fn each_personal_link_in_a_sent_digest_names_its_reader(backend: Backend) {
    use breakfast::{
        digest::personalise::{Escape, Sentinels, Slot, Template},
        domain::Purpose,
        store::digests::ComposedDigest,
    };
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let Some(t) = spawn(backend, &smtp).await else {
        return;
    };
    let app = &t.app;
    let mut readers = HashMap::new();
    for (address, name) in [
        ("ana@example.org", "Ana Lima"),
        ("bo@example.org", "Bo"),
        ("cy@example.org", "Cy Ösel"),
    ] {
        let id =
            crate::kit::subscriber_named(app, address, Some(name), SubscriberStatus::Confirmed)
                .await;
        readers.insert(address.to_string(), (id, name.split(' ').next().unwrap()));
    }
    let s = Sentinels::new();
    let (g, u, p) = (
        s.for_slot(Slot::Greeting),
        s.for_slot(Slot::Unsubscribe),
        s.for_slot(Slot::Preferences),
    );
    // Long lines and non-ASCII, so that quoted-printable has work to do.
    let story = "Les locataires ont gagné — the tenants won their case at last. ".repeat(12);
    let html = format!(
        "<html><body><p>{g}</p><p>{story}</p><a href=\"{u}\">Unsubscribe</a> <a href=\"{p}\">Preferences</a></body></html>"
    );
    let text = format!("{g}\n\n{story}\n\nUnsubscribe: {u}\nPreferences: {p}\n");
    let html_t = Template::split(&html, &s, Escape::Html).unwrap().to_json();
    let text_t = Template::split(&text, &s, Escape::Text).unwrap().to_json();
    let d = app
        .store
        .get_or_create_digest("2026-11-28".parse().unwrap(), app.now_ms())
        .await
        .unwrap();
    app.store
        .save_composed_digest(
            d.id,
            &ComposedDigest {
                subject: "Breakfast — today",
                preheader: "",
                html: "<p>archive</p>",
                text: "archive",
                html_template: &html_t,
                text_template: &text_t,
                article_ids: &[],
            },
            app.now_ms(),
        )
        .await
        .unwrap();
    app.store
        .set_setting(breakfast::digest::GREETING_SETTING, "Hello, {first_name}.")
        .await
        .unwrap();

    let p = send_all(&t, d.id).await;
    assert_eq!((p.status.as_str(), p.sent), ("sent", 3), "{p:?}");
    let raws = smtp.wait_for(3, Duration::from_secs(5)).await;
    assert_eq!(raws.len(), 3);
    let token_of = |link: &str| link.split("token=").nth(1).unwrap().to_string();
    for raw in raws {
        let mail = Mail::parse(&raw);
        let (id, first) = readers[&mail.to];
        assert_eq!(mail.subject, "Breakfast — today");
        assert!(
            mail.text.contains(&format!("Hello, {first}.")),
            "{}",
            mail.text
        );
        assert!(
            mail.html.contains(&format!("Hello, {first}.")),
            "{}",
            mail.html
        );
        assert!(mail.text.contains(story.trim()) && mail.html.contains(story.trim()));
        let unsub = find_link(&mail.text, "/unsubscribe?token=").unwrap();
        let prefs = find_link(&mail.text, "/preferences?token=").unwrap();
        assert!(mail.html.contains(&format!("href=\"{unsub}\"")));
        assert!(mail.html.contains(&format!("href=\"{prefs}\"")));
        let header = mail.header("List-Unsubscribe").unwrap();
        assert!(header.starts_with(&format!("<{unsub}>")), "{header}");
        assert_eq!(
            app.signer
                .verify(&token_of(&unsub), Purpose::Unsubscribe, i64::MAX),
            Ok(id)
        );
        assert_eq!(
            app.signer
                .verify(&token_of(&prefs), Purpose::Preferences, app.now_ms()),
            Ok(id)
        );
        assert!(raw.contains("Content-Transfer-Encoding: quoted-printable"));
        assert!(
            raw.split("\r\n")
                .chain(raw.split('\n'))
                .all(|l| l.len() <= 998),
            "an over-long line"
        );
    }
    t.stop().await;
}
on_both_databases!(each_personal_link_in_a_sent_digest_names_its_reader);
