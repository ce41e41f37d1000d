//! Bounces and complaints after the 250: VERP envelope senders over a real SMTP server,
//! DSN/ARF/plain-text reports from fixture files, a real Dovecot as the bounce mailbox
//! (including kill -9 of the real binary mid-mailbox), and provider webhooks signed in the
//! test with independent tools (openssl for RSA and ECDSA, HMAC for the rest).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use breakfast::{
    App,
    bounces::{self, BounceRef, Handled, apply::Source, mailbox},
    domain::{EmailAddress, SubscriberStatus},
    store::{schedules::DailySettings, subscribers::ImportRow, users::AdminRole},
};
use hmac::{KeyInit, Mac};

use crate::{
    kit::{
        Backend, Mail, SmtpBehaviour, SmtpServer, TestApp, TestDb, free_port,
        tls::{make_certificates, openssl},
    },
    on_both_databases,
};

const BOUNCE_DOMAIN: &str = "bounce.example.org";
const BOUNCES_TOML: &str = "[bounces]\ndomain = \"bounce.example.org\"\n";

// ----- set-up ---------------------------------------------------------------------------

/// `n` confirmed subscribers r0@… r{n-1}@…, returned as (id, address) in id order.
async fn subscribers(app: &App, prefix: &str, n: usize) -> Vec<(i64, String)> {
    let now = app.now_ms();
    let rows: Vec<ImportRow> = (0..n)
        .map(|i| ImportRow {
            email: EmailAddress::parse(&format!("{prefix}{i}@example.org")).unwrap(),
            name: None,
            status: SubscriberStatus::Confirmed,
            created_at: now,
            frequency: None,
            time_zone: None,
        })
        .collect();
    app.store
        .import_subscribers(&rows, "test", now)
        .await
        .unwrap();
    let mut out = Vec::new();
    for r in rows {
        let s = app
            .store
            .subscriber_by_email(&r.email)
            .await
            .unwrap()
            .unwrap();
        out.push((s.id, s.email.as_str().to_string()));
    }
    out
}

/// Sends a composed digest to every confirmed subscriber (outbox or SMTP, whatever the
/// app is configured with) and waits until the ledger says sent.
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

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bounces")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn verp(token: &str) -> String {
    format!("bounces+{token}@{BOUNCE_DOMAIN}")
}

/// A fixture filled in for one delivery.
fn report(app: &App, name: &str, r: BounceRef, rcpt: &str) -> Vec<u8> {
    let token = r.token(&app.signer);
    fill(name, &token, rcpt)
}

fn fill(name: &str, token: &str, rcpt: &str) -> Vec<u8> {
    fixture(name)
        .replace("{{VERP}}", &verp(token))
        .replace("{{TOKEN}}", token)
        .replace("{{RCPT}}", rcpt)
        .into_bytes()
}

/// A bounce whose only mention of `rcpt` is inside a base64 part (the returned message's
/// headers, encoded by the reporting server).
fn only_encoded_report(rcpt: &str) -> Vec<u8> {
    use base64::Engine as _;
    let part = base64::engine::general_purpose::STANDARD.encode(format!("To: {rcpt}\r\n"));
    format!(
        "From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@example.org\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {part}\r\n--b--\r\n"
    )
    .into_bytes()
}

fn delivery(digest_id: i64, subscriber_id: i64) -> BounceRef {
    BounceRef::Delivery {
        digest_id,
        subscriber_id,
    }
}

async fn handle(app: &App, key: &str, raw: &[u8]) -> Handled {
    bounces::handle_message(
        app,
        Source {
            name: "mailbox",
            key: key.to_string(),
            resolves_unmatched: None,
        },
        raw,
    )
    .await
    .unwrap()
}

async fn status_of(app: &App, id: i64) -> SubscriberStatus {
    app.store.subscriber(id).await.unwrap().status
}

// ----- VERP -----------------------------------------------------------------------------

async fn envelope_sender_names_the_delivery(backend: Backend) {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let extra = format!("smtp_url = {:?}\n{BOUNCES_TOML}", smtp.url());
    let Some(t) = TestApp::with_toml(backend, &extra).await else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "v", 2).await;
    let digest_id = send_digest(app, "2026-11-30").await;
    let messages = smtp.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(messages.len(), 2);
    for raw in &messages {
        let mail = Mail::parse(raw);
        let (id, _) = subs
            .iter()
            .find(|(_, e)| *e == mail.to)
            .expect("a subscriber");
        let token = delivery(digest_id, *id).token(&app.signer);
        assert_eq!(
            mail.header("X-Envelope-From").as_deref(),
            Some(verp(&token).as_str())
        );
        assert_eq!(
            mail.header("X-Breakfast-Ref").as_deref(),
            Some(token.as_str())
        );
        // The From header is untouched.
        assert!(
            mail.header("From")
                .unwrap()
                .contains("breakfast@example.org")
        );
    }

    // A confirmation email to a new sign-up names the subscriber.
    let email = EmailAddress::parse("new@example.org").unwrap();
    breakfast::subscribers::signup(app, &email, None)
        .await
        .unwrap();
    let messages = smtp.wait_for(3, Duration::from_secs(20)).await;
    let confirm = messages
        .iter()
        .map(|m| Mail::parse(m))
        .find(|m| m.to == "new@example.org")
        .expect("confirmation sent");
    let s = app
        .store
        .subscriber_by_email(&email)
        .await
        .unwrap()
        .unwrap();
    let token = BounceRef::Subscriber {
        subscriber_id: s.id,
    }
    .token(&app.signer);
    assert_eq!(
        confirm.header("X-Envelope-From").as_deref(),
        Some(verp(&token).as_str())
    );
    t.stop().await;
}
on_both_databases!(envelope_sender_names_the_delivery);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bounce_domain_the_from_address_stays_the_envelope_sender() {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let extra = format!("smtp_url = {:?}\n", smtp.url());
    let Some(t) = TestApp::with_toml(Backend::Sqlite, &extra).await else {
        return;
    };
    subscribers(&t.app, "w", 1).await;
    send_digest(&t.app, "2026-11-30").await;
    let messages = smtp.wait_for(1, Duration::from_secs(20)).await;
    let mail = Mail::parse(&messages[0]);
    assert_eq!(
        mail.header("X-Envelope-From").as_deref(),
        Some("breakfast@example.org")
    );
    assert_eq!(mail.header("X-Breakfast-Ref"), None);
    t.stop().await;
}

// ----- reading and applying reports -----------------------------------------------------

async fn reports_are_classified_and_applied_once(backend: Backend) {
    let Some(t) = TestApp::with_toml(backend, BOUNCES_TOML).await else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "r", 9).await;
    let d = send_digest(app, "2026-11-30").await;

    // Postfix, Exim, Exchange and a plain-text bounce: hard, bounced at the threshold (1).
    for (i, name) in ["postfix.eml", "exim.eml", "exchange.eml", "plain.eml"]
        .iter()
        .enumerate()
    {
        let (sid, addr) = (subs[i].0, subs[i].1.as_str());
        let got = handle(
            app,
            &format!("t:{name}"),
            &report(app, name, delivery(d, sid), addr),
        )
        .await;
        assert_eq!(
            got,
            Handled::Applied {
                subscriber_id: sid,
                kind: bounces::parse::Kind::Hard,
                became: Some(SubscriberStatus::Bounced)
            },
            "{name}"
        );
        assert_eq!(
            status_of(app, sid).await,
            SubscriberStatus::Bounced,
            "{name}"
        );
    }
    let exchange = app.store.subscriber_events(subs[2].0).await.unwrap();
    assert!(
        exchange.iter().any(|e| e.kind == "hard bounce"
            && e.detail.as_deref().unwrap_or_default().contains("5.1.10")),
        "{exchange:?}"
    );
    assert!(
        !exchange.iter().any(|e| e
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("@example.org")),
        "addresses are redacted from stored diagnostics: {exchange:?}"
    );

    // The same message again (a second process, a restart) changes nothing.
    let (s0, a0) = (subs[0].0, subs[0].1.as_str());
    let again = handle(
        app,
        "t:postfix.eml",
        &report(app, "postfix.eml", delivery(d, s0), a0),
    )
    .await;
    assert_eq!(again, Handled::Duplicate);
    assert_eq!(app.store.subscriber(s0).await.unwrap().bounce_count, 1);

    // An ARF complaint, matched by the token inside the quoted original message.
    let (s4, a4) = (subs[4].0, subs[4].1.as_str());
    let before = app.store.suppression_count().await.unwrap();
    let got = handle(app, "t:arf", &report(app, "arf.eml", delivery(d, s4), a4)).await;
    assert!(
        matches!(
            got,
            Handled::Applied {
                became: Some(SubscriberStatus::Complained),
                ..
            }
        ),
        "{got:?}"
    );
    assert_eq!(app.store.suppression_count().await.unwrap(), before + 1);

    // A "delayed" DSN needs no action.
    let (s5, a5) = (subs[5].0, subs[5].1.as_str());
    let got = handle(
        app,
        "t:delayed",
        &report(app, "delayed.eml", delivery(d, s5), a5),
    )
    .await;
    assert!(matches!(got, Handled::NoAction(_)), "{got:?}");
    assert_eq!(status_of(app, s5).await, SubscriberStatus::Confirmed);

    // Mailbox full (5.2.2) is soft: bounced only at the third within the window.
    let (s6, a6) = (subs[6].0, subs[6].1.as_str());
    for n in 1..=3 {
        let got = handle(
            app,
            &format!("t:full{n}"),
            &report(app, "full.eml", delivery(d, s6), a6),
        )
        .await;
        let want = (n == 3).then_some(SubscriberStatus::Bounced);
        assert_eq!(
            got,
            Handled::Applied {
                subscriber_id: s6,
                kind: bounces::parse::Kind::Soft,
                became: want
            },
            "soft bounce {n}"
        );
    }

    // Forged token, an auto-reply, a report about an issue never sent, garbage, 20 MB.
    let (s7, a7) = (subs[7].0, subs[7].1.as_str());
    let real = delivery(d, s7).token(&app.signer);
    let forged = format!("{}0000000000000000", &real[..real.len() - 16]);
    let got = handle(app, "t:forged", &fill("postfix.eml", &forged, a7)).await;
    assert!(
        matches!(&got, Handled::Unmatched(why) if why.contains("token")),
        "{got:?}"
    );
    assert_eq!(status_of(app, s7).await, SubscriberStatus::Confirmed);
    let got = handle(
        app,
        "t:auto",
        &report(app, "autoreply.eml", delivery(d, s7), a7),
    )
    .await;
    assert!(
        matches!(&got, Handled::Unmatched(why) if why.contains("not a bounce")),
        "{got:?}"
    );
    let got = handle(app, "t:garbage", b"\x00\x01\x02").await;
    assert!(matches!(got, Handled::Unmatched(_)), "{got:?}");
    let mut huge = report(app, "postfix.eml", delivery(d, s7), a7);
    huge.extend(std::iter::repeat_n(b'x', 20 * 1024 * 1024));
    let got = handle(app, "t:huge", &huge).await;
    assert!(
        matches!(&got, Handled::Unmatched(why) if why.contains("larger")),
        "{got:?}"
    );
    assert_eq!(status_of(app, s7).await, SubscriberStatus::Confirmed);

    // A report that arrives before its ledger row: kept, then re-processed once the
    // issue has been sent.
    let (s8, a8) = (subs[8].0, subs[8].1.as_str());
    let next = d + 1;
    let early = report(app, "postfix.eml", delivery(next, s8), a8);
    let got = handle(app, "t:early", &early).await;
    assert!(
        matches!(&got, Handled::Unmatched(why) if why.contains("never sent")),
        "{got:?}"
    );
    let open = app.store.unmatched_reports(true, 100).await.unwrap();
    assert_eq!(open.len(), 5, "{open:?}");
    let early_id = open.iter().find(|r| r.source_key == "t:early").unwrap().id;
    assert_eq!(send_digest(app, "2026-12-01").await, next);
    let got = bounces::reprocess(app, early_id).await.unwrap();
    assert!(
        matches!(
            got,
            Handled::Applied {
                became: Some(SubscriberStatus::Bounced),
                ..
            }
        ),
        "{got:?}"
    );
    assert_eq!(
        bounces::reprocess(app, early_id).await.unwrap(),
        Handled::Duplicate
    );
    assert_eq!(
        app.store.unmatched_reports(true, 100).await.unwrap().len(),
        4
    );

    // What the operator sees for the first issue.
    let counts = app.store.digest_bounce_counts(d).await.unwrap();
    assert_eq!(
        (counts.sent, counts.hard, counts.soft, counts.complaints),
        (9, 4, 1, 1),
        "{counts:?}"
    );
    let failed = app.store.failed_deliveries(d).await.unwrap();
    assert_eq!(failed.len(), 6, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|f| f.outcome.as_deref() == Some("complaint") && f.subscriber_id == s4)
    );

    // The same from the command line, and in /metrics.
    let id_text = d.to_string();
    let env = [
        ("BREAKFAST_DATABASE_URL", t.db.url.as_str()),
        ("BREAKFAST_SECRET", "test-secret-0123456789"),
    ];
    let out = crate::kit::breakfast_cmd(
        &["digest", "status", &id_text, "--failed", "--json"],
        &env,
        t.db.dir.path(),
    );
    crate::kit::assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["deliveries"].as_array().map(Vec::len), Some(6), "{v}");
    assert_eq!(v["counts"]["complaints"], 1);
    let complaint = v["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["outcome"] == "complaint")
        .unwrap();
    assert_eq!(complaint["email"], a4);
    assert!(
        complaint["reason"].as_str().unwrap().contains("abuse"),
        "{complaint}"
    );
    let out = crate::kit::breakfast_cmd(
        &["digest", "status", &id_text, "--failed"],
        &env,
        t.db.dir.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("complaints 1 (11.111 %; keep under 0.1 %, never 0.3 %)"),
        "{text}"
    );
    assert!(text.contains("5.1.10"), "{text}");
    let metrics = t
        .request(reqwest::Method::GET, "/metrics")
        .bearer(crate::kit::TEST_METRICS_TOKEN)
        .send()
        .await
        .body;
    for line in [
        "breakfast_bounces{kind=\"hard\"} 5",
        "breakfast_bounces{kind=\"soft\"} 3",
        "breakfast_bounce_unmatched_open 4",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing from /metrics"
        );
    }
    t.stop().await;
}
on_both_databases!(reports_are_classified_and_applied_once);

// ----- a real IMAP server ---------------------------------------------------------------

/// Dovecot on a loopback port with one user and a maildir in a temporary folder.
struct Dovecot {
    port: u16,
    /// The implicit-TLS port, when started with TLS.
    tls_port: Option<u16>,
    dir: tempfile::TempDir,
    child: Child,
}

const IMAP_USER: &str = "bounces";
const IMAP_PASSWORD: &str = "imap-test-password";

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

impl Dovecot {
    async fn start() -> Option<Dovecot> {
        Self::start_with(false).await
    }

    /// With TLS: a private CA and a server certificate for 127.0.0.1 made by openssl, TLS
    /// required before login, STARTTLS on `port` and implicit TLS on `tls_port`.
    async fn start_with(tls: bool) -> Option<Dovecot> {
        let binary = ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            if std::env::var("BREAKFAST_TEST_REQUIRE_IMAP").is_ok_and(|v| v == "1") {
                panic!(
                    "dovecot is required (BREAKFAST_TEST_REQUIRE_IMAP=1): apt-get install dovecot-imapd"
                );
            }
            eprintln!("SKIPPED: dovecot is not installed (apt-get install dovecot-imapd)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = command_output("id", &["-u"]) == "0";
        let me = command_output("id", &["-un"]);
        let (mail_user, login_user) = if root {
            ("dovecot".to_string(), "dovenull".to_string())
        } else {
            (me.clone(), me)
        };
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("passwd"),
            format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n"),
        )
        .unwrap();
        if root {
            let home = dir.path().join("home").display().to_string();
            Command::new("chown")
                .args(["-R", &format!("{mail_user}:{mail_user}"), &home])
                .status()
                .unwrap();
            // The temp folder itself must be traversable by the mail user.
            Command::new("chmod")
                .args(["755", &dir.path().display().to_string()])
                .status()
                .unwrap();
        }
        let port = free_port();
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dovecot.conf"),
        )
        .unwrap();
        let mut conf = template
            .replace("@DIR@", &dir.path().display().to_string())
            .replace("@PORT@", &port.to_string())
            .replace("@MAILUSER@", &mail_user)
            .replace("@LOGINUSER@", &login_user);
        let tls_port = tls.then(free_port);
        if let Some(tls_port) = tls_port {
            make_certificates(dir.path());
            let d = dir.path().display();
            conf = conf
                .replace(
                    "ssl = no",
                    &format!(
                        "ssl = required\nssl_cert = <{d}/server.pem\nssl_key = <{d}/server.key"
                    ),
                )
                .replace(
                    "port = 0",
                    &format!("address = 127.0.0.1\n    port = {tls_port}"),
                );
        }
        let conf_path = dir.path().join("dovecot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot starts");
        let d = Dovecot {
            port,
            tls_port,
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "dovecot did not listen: {}",
                std::fs::read_to_string(d.dir.path().join("dovecot.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(d)
    }

    fn url(&self) -> String {
        format!(
            "imap://{IMAP_USER}:{IMAP_PASSWORD}@127.0.0.1:{}/INBOX?tls=none",
            self.port
        )
    }

    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        imap_login(tcp).await
    }

    /// Delivers messages into the mailbox with IMAP APPEND.
    async fn deliver(&self, messages: &[Vec<u8>]) {
        append_all(self.session().await, messages).await;
    }

    /// Messages not yet flagged done.
    async fn pending(&self) -> usize {
        let mut s = self.session().await;
        let n = s
            .uid_search(format!("UNKEYWORD {}", mailbox::DONE_KEYWORD))
            .await
            .unwrap()
            .len();
        let _ = s.logout().await;
        n
    }

    async fn total(&self) -> usize {
        let mut s = self.session().await;
        let n = s.uid_search("ALL").await.unwrap().len();
        let _ = s.logout().await;
        n
    }
}

impl Drop for Dovecot {
    /// SIGTERM, so that the master also stops the processes it started.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A hard bounce report for each of `subs` for digest `d`, delivered into the mailbox.
async fn bounce_everyone(app: &App, dovecot: &Dovecot, subs: &[(i64, String)], d: i64) {
    let messages: Vec<Vec<u8>> = subs
        .iter()
        .map(|(id, addr)| report(app, "postfix.eml", delivery(d, *id), addr))
        .collect();
    dovecot.deliver(&messages).await;
}

/// Why one round of reading the mailbox with `settings` failed.
async fn poll_error(app: &App, settings: &mailbox::ImapSettings) -> String {
    let result = mailbox::poll_once(app, settings).await;
    result.expect_err("the round fails").to_string()
}

/// A mailbox, the service reading it, `n` subscribers `{prefix}…` and a digest sent to
/// them: (mailbox, app, subscribers, digest id).
async fn mailbox_and_send(
    backend: Backend,
    prefix: &str,
    n: usize,
) -> Option<(Dovecot, TestApp, Vec<(i64, String)>, i64)> {
    let dovecot = Dovecot::start().await?;
    let t = TestApp::with_toml(backend, BOUNCES_TOML).await?;
    let subs = subscribers(&t.app, prefix, n).await;
    let d = send_digest(&t.app, "2026-11-30").await;
    Some((dovecot, t, subs, d))
}

async fn the_mailbox_is_read_and_each_message_flagged_after_its_outcome(backend: Backend) {
    let Some((dovecot, t, subs, d)) = mailbox_and_send(backend, "m", 2).await else {
        return;
    };
    let app = &t.app;
    dovecot
        .deliver(&[
            report(app, "postfix.eml", delivery(d, subs[0].0), &subs[0].1),
            report(app, "arf.eml", delivery(d, subs[1].0), &subs[1].1),
            fill("autoreply.eml", "none", "x@example.org"),
        ])
        .await;
    let settings = mailbox::parse_imap_url(&dovecot.url()).unwrap();
    let round = mailbox::poll_once(app, &settings).await.unwrap();
    assert_eq!(
        (round.seen, round.applied, round.unmatched),
        (3, 2, 1),
        "{round:?}"
    );
    assert_eq!(status_of(app, subs[0].0).await, SubscriberStatus::Bounced);
    assert_eq!(
        status_of(app, subs[1].0).await,
        SubscriberStatus::Complained
    );
    assert_eq!(dovecot.pending().await, 0);
    assert_eq!(
        dovecot.total().await,
        3,
        "messages are flagged, not deleted"
    );
    let round = mailbox::poll_once(app, &settings).await.unwrap();
    assert_eq!(round.seen, 0);

    // A server that is not there: an error naming the cause, nothing changed.
    let mut down = settings.clone();
    down.port = free_port();
    let err = poll_error(app, &down).await;
    assert!(err.contains("cannot reach IMAP server"), "{err}");
    let mut wrong = settings.clone();
    wrong.password = breakfast::config::Secret::new("wrong");
    let err = poll_error(app, &wrong).await;
    assert!(err.contains("login refused"), "{err}");
    t.stop().await;
}
on_both_databases!(the_mailbox_is_read_and_each_message_flagged_after_its_outcome);

/// A loopback TCP proxy to `upstream` that hangs up after passing `budget` bytes of the
/// server's replies on each connection: an IMAP server dropping the line mid-fetch.
async fn cutting_proxy(upstream: u16, budget: u64) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let mut limited = tokio::io::AsyncReadExt::take(sr, budget);
                let _ = tokio::io::copy(&mut limited, &mut cw).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut cw).await;
                up.abort();
            });
        }
    });
    port
}

async fn a_connection_dropped_mid_fetch_loses_nothing_and_applies_nothing_twice(backend: Backend) {
    let Some((dovecot, t, subs, d)) = mailbox_and_send(backend, "c", 4).await else {
        return;
    };
    let app = &t.app;
    bounce_everyone(app, &dovecot, &subs, d).await;
    let direct = mailbox::parse_imap_url(&dovecot.url()).unwrap();
    let mut cut = direct.clone();
    // Greeting, login, select and search fit; the line drops during the second message.
    cut.port = cutting_proxy(dovecot.port, 4500).await;
    let err = poll_error(app, &cut).await;
    assert!(err.contains("IMAP"), "{err}");
    let applied_before = hard_bounces(app).await;
    assert!(
        applied_before < 4,
        "the connection was cut too late to test anything"
    );
    let round = mailbox::poll_once(app, &direct).await.unwrap();
    assert_eq!(round.applied as i64 + applied_before, 4, "{round:?}");
    assert_eq!(dovecot.pending().await, 0);
    assert_eq!(
        hard_bounces(app).await,
        4,
        "each bounce applied exactly once"
    );
    for (id, _) in &subs {
        assert_eq!(app.store.subscriber(*id).await.unwrap().bounce_count, 1);
    }
    t.stop().await;
}
on_both_databases!(a_connection_dropped_mid_fetch_loses_nothing_and_applies_nothing_twice);

/// The real binary as a worker that polls the mailbox every second.
fn spawn_mailbox_worker(db: &TestDb, dovecot: &Dovecot) -> Child {
    let imap_url = dovecot.url();
    crate::kit::spawn_breakfast(
        "worker",
        db,
        &[
            ("BREAKFAST_BOUNCES__DOMAIN", BOUNCE_DOMAIN),
            ("BREAKFAST_BOUNCES__IMAP_URL", imap_url.as_str()),
            ("BREAKFAST_BOUNCES__POLL_SECS", "1"),
        ],
    )
}

async fn hard_bounces(app: &App) -> i64 {
    app.store
        .bounce_totals()
        .await
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "hard")
        .map_or(0, |(_, n)| n)
}

async fn kill_9_mid_mailbox_applies_every_bounce_exactly_once(backend: Backend) {
    let n = 500;
    let Some((dovecot, t, subs, d)) = mailbox_and_send(backend, "k", n).await else {
        return;
    };
    let app = &t.app;
    bounce_everyone(app, &dovecot, &subs, d).await;

    let mut first = spawn_mailbox_worker(&t.db, &dovecot);
    let deadline = Instant::now() + Duration::from_secs(120);
    while hard_bounces(app).await < 50 {
        assert!(Instant::now() < deadline, "the worker applied nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL, mid-mailbox
    first.wait().unwrap();
    let at_kill = hard_bounces(app).await;
    assert!(at_kill < n as i64, "the mailbox was done before the kill");

    let mut second = spawn_mailbox_worker(&t.db, &dovecot);
    let deadline = Instant::now() + Duration::from_secs(240);
    while dovecot.pending().await > 0 {
        assert!(
            Instant::now() < deadline,
            "the mailbox was not finished after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    eprintln!("killed after {at_kill} of {n} bounces applied");
    assert_eq!(
        hard_bounces(app).await,
        n as i64,
        "each bounce applied exactly once"
    );
    let everyone = app.store.list_subscribers(None, 0, 1000).await.unwrap();
    assert_eq!(everyone.len(), n);
    for s in everyone {
        assert_eq!(
            (s.status, s.bounce_count),
            (SubscriberStatus::Bounced, 1),
            "subscriber {}",
            s.id
        );
    }
    let counts = app.store.digest_bounce_counts(d).await.unwrap();
    assert_eq!(counts.hard, n as i64);
    t.stop().await;
}
on_both_databases!(kill_9_mid_mailbox_applies_every_bounce_exactly_once);

// ----- webhooks -------------------------------------------------------------------------

fn hmac_hex(key: &str, data: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs `data` with the PEM key in `dir/key` (SHA-256; RSA PKCS#1 v1.5 or ECDSA DER).
fn openssl_sign(dir: &Path, key: &str, data: &[u8]) -> String {
    use base64::Engine;
    std::fs::write(dir.join("to-sign"), data).unwrap();
    openssl(
        dir,
        &["dgst", "-sha256", "-sign", key, "-out", "sig", "to-sign"],
    );
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join("sig")).unwrap())
}

/// A static file server not written by us (Python's http.server) on loopback, logging
/// each request line to `dir/access.log`.
struct FileServer {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl FileServer {
    async fn start(root: &Path) -> FileServer {
        let port = free_port();
        let log = root.join("..").join("access.log");
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 -m http.server");
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "http.server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        FileServer { port, child, log }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(
    t: &TestApp,
    provider: &str,
    body: &str,
    headers: &[(&str, String)],
) -> (u16, serde_json::Value) {
    let mut req = t
        .http
        .post(t.url(&format!("/webhooks/bounces/{provider}")))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let json = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

async fn webhooks_verify_signatures_before_changing_anything(backend: Backend) {
    use base64::Engine;
    // SendGrid's ECDSA key, and SNS's RSA key with its certificate on loopback.
    let signers = Signers::new().await;
    let k = signers.dir.path();
    let (sendgrid_key, cert_base) = (&signers.sendgrid_key, &signers.cert_base);

    let extra = format!(
        "{BOUNCES_TOML}generic_secret = \"generic-secret-123\"\nmailgun_signing_key = \"mailgun-key-456\"\n\
         postmark_basic_auth = \"pm:hook-pass\"\nsendgrid_public_key = \"{sendgrid_key}\"\n\
         sns_test_cert_url_prefix = \"{cert_base}\"\n"
    );
    let Some(t) = TestApp::with_toml(backend, &extra).await else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "h", 6).await;
    let d = send_digest(app, "2026-11-30").await;

    // Generic: HMAC of "timestamp.body".
    let body = format!(
        r#"{{"id":"g-1","type":"hard","email":"{}","status":"5.1.1","reason":"550 5.1.1 no such user"}}"#,
        subs[0].1
    );
    let ts = now_secs().to_string();
    let sign =
        |ts: &str, body: &str| hmac_hex("generic-secret-123", format!("{ts}.{body}").as_bytes());
    let forged = [
        ("x-breakfast-timestamp", ts.clone()),
        ("x-breakfast-signature", sign(&ts, "{}")),
    ];
    assert_eq!(post(&t, "generic", &body, &forged).await.0, 401);
    assert_eq!(post(&t, "generic", &body, &[]).await.0, 401);
    let old = (now_secs() - 3600).to_string();
    let stale = [
        ("x-breakfast-timestamp", old.clone()),
        ("x-breakfast-signature", sign(&old, &body)),
    ];
    assert_eq!(post(&t, "generic", &body, &stale).await.0, 401);
    assert_eq!(
        status_of(app, subs[0].0).await,
        SubscriberStatus::Confirmed,
        "refused requests change nothing"
    );
    let good = [
        ("x-breakfast-timestamp", ts.clone()),
        ("x-breakfast-signature", sign(&ts, &body)),
    ];
    let (code, json) = post(&t, "generic", &body, &good).await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(1)), "{json}");
    assert_eq!(status_of(app, subs[0].0).await, SubscriberStatus::Bounced);
    let (code, json) = post(&t, "generic", &body, &good).await;
    assert_eq!(
        (code, json["duplicates"].as_i64()),
        (200, Some(1)),
        "a replay within the window is a duplicate: {json}"
    );
    assert_eq!(
        app.store.subscriber(subs[0].0).await.unwrap().bounce_count,
        1
    );

    // Mailgun: HMAC of timestamp + token in the body.
    let mg = |sig: &str, ts: &str| {
        format!(
            r#"{{"signature":{{"timestamp":"{ts}","token":"tok-1","signature":"{sig}"}},
               "event-data":{{"id":"mg-1","event":"complained","recipient":"{}","message":{{"headers":{{}}}}}}}}"#,
            subs[1].1
        )
    };
    let ts = now_secs().to_string();
    let sig = hmac_hex("mailgun-key-456", format!("{ts}tok-1").as_bytes());
    assert_eq!(post(&t, "mailgun", &mg("00ff", &ts), &[]).await.0, 401);
    let (code, json) = post(&t, "mailgun", &mg(&sig, &ts), &[]).await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(1)), "{json}");
    assert_eq!(
        status_of(app, subs[1].0).await,
        SubscriberStatus::Complained
    );

    // Postmark: basic auth in the URL it calls.
    let pm = format!(
        r#"{{"RecordType":"Bounce","ID":4323372036854775807,"Type":"HardBounce","TypeCode":1,"Name":"Hard bounce",
            "MessageID":"883953f4-6105-42a2-a16a-77a8eac79483","Description":"The server was unable to deliver your message",
            "Details":"smtp;550 5.1.1 The email account that you tried to reach does not exist","Email":"{}",
            "BouncedAt":"2026-11-30T07:00:00Z","Inactive":true}}"#,
        subs[2].1
    );
    let basic = |cred: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(cred)
        )
    };
    assert_eq!(
        post(&t, "postmark", &pm, &[("authorization", basic("pm:wrong"))])
            .await
            .0,
        401
    );
    let (code, json) = post(
        &t,
        "postmark",
        &pm,
        &[("authorization", basic("pm:hook-pass"))],
    )
    .await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(1)), "{json}");
    assert_eq!(status_of(app, subs[2].0).await, SubscriberStatus::Bounced);

    // SendGrid: ECDSA over timestamp + body, signed by openssl.
    let sg = format!(
        r#"[{{"email":"{}","timestamp":{},"event":"spamreport","sg_event_id":"sg-1","sg_message_id":"m1.filter"}},
            {{"email":"{}","timestamp":{},"event":"delivered","sg_event_id":"sg-2"}}]"#,
        subs[3].1,
        now_secs(),
        subs[4].1,
        now_secs()
    );
    let ts = now_secs().to_string();
    let sig = openssl_sign(k, "ec.pem", format!("{ts}{sg}").as_bytes());
    let tampered = sg.replace("spamreport", "bounce");
    let headers = [
        ("x-twilio-email-event-webhook-signature", sig.clone()),
        ("x-twilio-email-event-webhook-timestamp", ts.clone()),
    ];
    assert_eq!(post(&t, "sendgrid", &tampered, &headers).await.0, 401);
    assert_eq!(status_of(app, subs[3].0).await, SubscriberStatus::Confirmed);
    let (code, json) = post(&t, "sendgrid", &sg, &headers).await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(1)), "{json}");
    assert_eq!(
        status_of(app, subs[3].0).await,
        SubscriberStatus::Complained
    );
    assert_eq!(status_of(app, subs[4].0).await, SubscriberStatus::Confirmed);

    // SES through SNS: subscription confirmation, then a bounce notification.
    let stamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let topic = "arn:aws:sns:eu-west-1:123456789012:ses-bounces";
    let cert_url = format!("{cert_base}cert.pem");
    let confirm_url =
        format!("{cert_base}confirm?Action=ConfirmSubscription&TopicArn={topic}&Token=abc");
    let to_sign = format!(
        "Message\nYou have chosen to subscribe to the topic {topic}.\nMessageId\nsns-c-1\nSubscribeURL\n{confirm_url}\n\
         Timestamp\n{stamp}\nToken\nabc\nTopicArn\n{topic}\nType\nSubscriptionConfirmation\n"
    );
    let sig = openssl_sign(k, "rsa.pem", to_sign.as_bytes());
    let confirmation = serde_json::json!({
        "Type": "SubscriptionConfirmation", "MessageId": "sns-c-1", "Token": "abc", "TopicArn": topic,
        "Message": format!("You have chosen to subscribe to the topic {topic}."),
        "SubscribeURL": confirm_url, "Timestamp": stamp, "SignatureVersion": "2",
        "Signature": sig, "SigningCertURL": cert_url,
    });
    let mut evil = confirmation.clone();
    evil["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem".into();
    assert_eq!(post(&t, "ses", &evil.to_string(), &[]).await.0, 401);
    let mut v1 = confirmation.clone();
    v1["SignatureVersion"] = "1".into();
    assert_eq!(post(&t, "ses", &v1.to_string(), &[]).await.0, 401);
    let (code, json) = post(&t, "ses", &confirmation.to_string(), &[]).await;
    assert_eq!(
        (code, json["confirmed"].as_bool()),
        (200, Some(true)),
        "{json}"
    );
    let log = std::fs::read_to_string(&signers.files.log).unwrap();
    assert!(
        log.contains("GET /confirm?Action=ConfirmSubscription"),
        "{log}"
    );

    let ses = serde_json::json!({
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent", "bounceSubType": "General", "feedbackId": "0100-ses-feedback-1",
            "timestamp": stamp,
            // An address the subscriber forwards from: only the echoed token can match it.
            "bouncedRecipients": [{"emailAddress": "forwarded@example.net", "action": "failed", "status": "5.1.1",
                                    "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]
        },
        "mail": {"timestamp": stamp, "source": "breakfast@example.org", "messageId": "0100-ses-msg-1",
                 "destination": ["forwarded@example.net"],
                 "headers": [{"name": "X-Breakfast-Ref", "value": delivery(d, subs[5].0).token(&app.signer)}]}
    })
    .to_string();
    let to_sign = format!(
        "Message\n{ses}\nMessageId\nsns-n-1\nTimestamp\n{stamp}\nTopicArn\n{topic}\nType\nNotification\n"
    );
    let sig = openssl_sign(k, "rsa.pem", to_sign.as_bytes());
    let notification = serde_json::json!({
        "Type": "Notification", "MessageId": "sns-n-1", "TopicArn": topic, "Message": ses,
        "Timestamp": stamp, "SignatureVersion": "2", "Signature": sig, "SigningCertURL": cert_url,
    });
    let mut forged = notification.clone();
    forged["Message"] = ses.replace("Permanent", "Transient").into();
    assert_eq!(post(&t, "ses", &forged.to_string(), &[]).await.0, 401);
    assert_eq!(status_of(app, subs[5].0).await, SubscriberStatus::Confirmed);
    let (code, json) = post(&t, "ses", &notification.to_string(), &[]).await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(1)), "{json}");
    assert_eq!(status_of(app, subs[5].0).await, SubscriberStatus::Bounced);

    assert_eq!(post(&t, "nonesuch", "{}", &[]).await.0, 404);
    t.stop().await;
}
on_both_databases!(webhooks_verify_signatures_before_changing_anything);

// ----- limits ---------------------------------------------------------------------------

async fn a_complaint_rate_over_the_limit_pauses_the_schedule_and_tells_operators(backend: Backend) {
    let extra = format!("{BOUNCES_TOML}pause_min_sent = 3\npause_complaint_rate = 0.003\n");
    let Some(t) = TestApp::with_toml(backend, &extra).await else {
        return;
    };
    let app = &t.app;
    app.store
        .insert_admin_user(
            "ops@example.org",
            "not-a-real-hash",
            AdminRole::Operator,
            app.now_ms(),
        )
        .await
        .unwrap();
    let defaults = DailySettings {
        send_time: "07:00",
        time_zone: "Europe/London",
        days: "mon",
        skip_when_empty: true,
        mode: breakfast::store::schedules::ScheduleMode::Automatic,
        delivery: Default::default(),
    };
    let schedule = app
        .store
        .daily_schedule(&defaults, app.now_ms())
        .await
        .unwrap();
    assert!(!schedule.paused);
    let subs = subscribers(app, "p", 4).await;
    let d = send_digest(app, "2026-11-30").await;
    let before = t.wait_for_outbox(4, Duration::from_secs(10)).await.len();
    let got = handle(
        app,
        "t:arf",
        &report(app, "arf.eml", delivery(d, subs[0].0), &subs[0].1),
    )
    .await;
    assert!(matches!(got, Handled::Applied { .. }), "{got:?}");
    let schedule = app
        .store
        .daily_schedule(&defaults, app.now_ms())
        .await
        .unwrap();
    assert!(schedule.paused, "the schedule paused itself");
    let mail = t.wait_for_outbox(before + 1, Duration::from_secs(20)).await;
    let alert = mail
        .iter()
        .map(|m| Mail::parse(m))
        .find(|m| m.to == "ops@example.org")
        .expect("operator emailed");
    assert!(
        alert.subject.contains("sending paused"),
        "{}",
        alert.subject
    );
    let words = alert.text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("complaint rate 25.00 %"), "{words}");
    // A second complaint on the same issue does not email again.
    handle(
        app,
        "t:arf2",
        &report(app, "arf.eml", delivery(d, subs[1].0), &subs[1].1),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.wait_for_outbox(0, Duration::ZERO).await.len(), before + 1);
    t.stop().await;
}
on_both_databases!(a_complaint_rate_over_the_limit_pauses_the_schedule_and_tells_operators);

// ----- the admin page -------------------------------------------------------------------

async fn operators_see_rates_failures_and_reprocess_unmatched_reports(backend: Backend) {
    use crate::admin::{Browser, PASSWORD, add_user};
    let Some(t) = TestApp::with_toml(backend, BOUNCES_TOML).await else {
        return;
    };
    let app = &t.app;
    add_user(app, "ops@example.org", AdminRole::Operator).await;
    let subs = subscribers(app, "a", 2).await;
    let d = send_digest(app, "2026-11-30").await;
    handle(
        app,
        "t:pf",
        &report(app, "exchange.eml", delivery(d, subs[0].0), &subs[0].1),
    )
    .await;
    // A report about the next issue before its ledger rows exist.
    let early = report(app, "postfix.eml", delivery(d + 1, subs[1].0), &subs[1].1);
    assert!(matches!(
        handle(app, "t:early", &early).await,
        Handled::Unmatched(_)
    ));

    let mut b = Browser::new(&t);
    b.login("ops@example.org", PASSWORD).await;
    let page = b.get("/admin/bounces").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("2026-11-30"), "{}", page.body);
    assert!(
        page.body.contains("1 (50.00 %)"),
        "hard bounces and their rate: {}",
        page.body
    );
    assert!(
        page.body.contains("was never sent to this subscriber"),
        "{}",
        page.body
    );
    let issue = b.get(&format!("/admin/bounces?digest={d}")).await;
    assert!(
        issue.body.contains(&subs[0].1) && issue.body.contains("5.1.10"),
        "{}",
        issue.body
    );

    let id = app.store.unmatched_reports(true, 10).await.unwrap()[0].id;
    let path = format!("/admin/bounces/{id}/reprocess");
    let forged = b.post(&path, &[("csrf", "not-the-token")]).await;
    assert_eq!(forged.status, 403);
    // Still unmatched while the next issue has not been sent.
    let csrf = page.csrf();
    let r = b.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/admin/bounces?msg=still-unmatched")
    );
    assert_eq!(send_digest(app, "2026-12-01").await, d + 1);
    let r = b.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(
        r.location.as_deref(),
        Some("/admin/bounces?msg=reprocessed")
    );
    assert_eq!(status_of(app, subs[1].0).await, SubscriberStatus::Bounced);
    let page = b.get("/admin/bounces?msg=reprocessed").await;
    assert!(page.body.contains("None waiting."), "{}", page.body);
    t.stop().await;
}
on_both_databases!(operators_see_rates_failures_and_reprocess_unmatched_reports);

// ----- retrying the transient failures --------------------------------------------------

async fn an_operator_can_retry_deliveries_whose_retries_ran_out(backend: Backend) {
    // Each address is refused with 451 twice; two attempts are allowed, so the first send
    // gives up on everyone, and the retry gets through.
    let Some(smtp) = SmtpServer::start(SmtpBehaviour {
        tempfail: 2,
        reject: Some("^gone".into()),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let extra = format!(
        "smtp_url = {:?}\n[queue]\nretry_base_ms = 50\nretry_max_ms = 100\nmax_delivery_attempts = 2\n",
        smtp.url()
    );
    let Some(t) = TestApp::with_toml(backend, &extra).await else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "t", 3).await;
    let gone = crate::kit::confirmed(app, "gone@example.org").await;
    let d = send_digest(app, "2026-11-30").await;
    let p = app.store.delivery_progress(d, app.now_ms()).await.unwrap();
    assert_eq!((p.sent, p.failed), (0, 4), "{p:?}");
    assert_eq!(smtp.messages().len(), 0);

    let out = crate::kit::breakfast_cmd(
        &["bounces", "retry", &d.to_string()],
        &[
            ("BREAKFAST_DATABASE_URL", t.db.url.as_str()),
            ("BREAKFAST_SECRET", "test-secret-0123456789"),
        ],
        t.db.dir.path(),
    );
    crate::kit::assert_success(&out);
    // The in-process workers pick the batches up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let p = loop {
        let p = app.store.delivery_progress(d, app.now_ms()).await.unwrap();
        if p.is_finished() && p.sent == 3 {
            break p;
        }
        assert!(Instant::now() < deadline, "not retried: {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(p.failed, 1, "the permanent refusal stays failed: {p:?}");
    let delivered: Vec<String> = smtp.messages().iter().map(|m| Mail::parse(m).to).collect();
    assert_eq!(delivered.len(), 3);
    assert!(subs.iter().all(|(_, a)| delivered.contains(a)));
    let failed = app.store.failed_deliveries(d).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].subscriber_id, gone);
    assert!(failed[0].reason.contains("550"), "{:?}", failed[0]);
    t.stop().await;
}
on_both_databases!(an_operator_can_retry_deliveries_whose_retries_ran_out);

async fn the_mailbox_is_read_over_starttls_and_implicit_tls_with_verified_certificates(
    backend: Backend,
) {
    let Some(dovecot) = Dovecot::start_with(true).await else {
        return;
    };
    let Some(plain) = Dovecot::start().await else {
        return;
    };
    let ca = dovecot.dir.path().join("ca.pem").display().to_string();
    let extra = format!("{BOUNCES_TOML}imap_ca_file = {ca:?}\n");
    let Some(t) = TestApp::with_toml(backend, &extra).await else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "s", 2).await;
    let d = send_digest(app, "2026-11-30").await;
    let creds = format!("{IMAP_USER}:{IMAP_PASSWORD}");
    let starttls =
        mailbox::parse_imap_url(&format!("imap://{creds}@127.0.0.1:{}/INBOX", dovecot.port))
            .unwrap();
    let implicit = mailbox::parse_imap_url(&format!(
        "imaps://{creds}@127.0.0.1:{}/INBOX",
        dovecot.tls_port.unwrap()
    ))
    .unwrap();

    // APPEND over a verified TLS connection of the test's own.
    let first = report(app, "postfix.eml", delivery(d, subs[0].0), &subs[0].1);
    append_over_tls(&dovecot, &ca, &[first]).await;
    let round = mailbox::poll_once(app, &starttls).await.unwrap();
    assert_eq!((round.seen, round.applied), (1, 1), "{round:?}");
    append_over_tls(
        &dovecot,
        &ca,
        &[report(app, "arf.eml", delivery(d, subs[1].0), &subs[1].1)],
    )
    .await;
    let round = mailbox::poll_once(app, &implicit).await.unwrap();
    assert_eq!((round.seen, round.applied), (1, 1), "{round:?}");
    assert_eq!(
        status_of(app, subs[1].0).await,
        SubscriberStatus::Complained
    );

    // The certificate names 127.0.0.1, not localhost: refused.
    let mut wrong_name = implicit.clone();
    wrong_name.host = "localhost".into();
    let err = poll_error(app, &wrong_name).await;
    assert!(err.contains("TLS with the IMAP server failed"), "{err}");
    // A server without STARTTLS is not sent the password in clear.
    let no_tls =
        mailbox::parse_imap_url(&format!("imap://{creds}@127.0.0.1:{}/INBOX", plain.port)).unwrap();
    let err = poll_error(app, &no_tls).await;
    assert!(err.contains("refused STARTTLS"), "{err}");
    t.stop().await;
}
on_both_databases!(the_mailbox_is_read_over_starttls_and_implicit_tls_with_verified_certificates);

/// Delivers messages with APPEND over implicit TLS, trusting only the test CA.
async fn append_over_tls(dovecot: &Dovecot, ca: &str, messages: &[Vec<u8>]) {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", dovecot.tls_port.unwrap()))
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    append_all(imap_login(tls).await, messages).await;
}

/// Signs in on an IMAP connection and selects the inbox.
async fn imap_login<T>(stream: T) -> async_imap::Session<T>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.unwrap();
    let mut s = client
        .login(IMAP_USER, IMAP_PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    s.select("INBOX").await.unwrap();
    s
}

/// Appends the messages to the inbox and signs out.
async fn append_all<T>(mut s: async_imap::Session<T>, messages: &[Vec<u8>])
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    for m in messages {
        s.append("INBOX", None, None, m).await.unwrap();
    }
    s.logout().await.unwrap();
}

// ----- issue 13, second pass: stale timestamps, unreadable bodies, limits, strangers ----

const GENERIC_SECRET: &str = "generic-secret-123";

/// Keys for signing webhooks as the providers do, made by openssl in a temporary folder:
/// an ECDSA P-256 key for SendGrid, and an RSA key with its certificate served on
/// loopback in place of SNS's host.
struct Signers {
    dir: tempfile::TempDir,
    sendgrid_key: String,
    cert_base: String,
    files: FileServer,
}

const SNS_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ses-bounces";

impl Signers {
    async fn new() -> Signers {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path();
        openssl(
            k,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "ec.pem",
            ],
        );
        openssl(
            k,
            &[
                "ec",
                "-in",
                "ec.pem",
                "-pubout",
                "-outform",
                "DER",
                "-out",
                "ec.pub.der",
            ],
        );
        let sendgrid_key = base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(k.join("ec.pub.der")).unwrap());
        let www = k.join("www");
        std::fs::create_dir_all(&www).unwrap();
        openssl(
            k,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "rsa.pem",
                "-out",
                "www/cert.pem",
                "-days",
                "2",
                "-subj",
                "/CN=sns.test",
            ],
        );
        // What SNS answers to a subscription confirmation.
        std::fs::write(www.join("confirm"), "<ConfirmSubscriptionResponse/>").unwrap();
        let files = FileServer::start(&www).await;
        let cert_base = format!("http://127.0.0.1:{}/", files.port);
        Signers {
            dir,
            sendgrid_key,
            cert_base,
            files,
        }
    }

    /// The `[bounces]` table with every provider configured.
    fn toml(&self) -> String {
        format!(
            "{BOUNCES_TOML}generic_secret = \"{GENERIC_SECRET}\"\nmailgun_signing_key = \"mailgun-key-456\"\n\
             sendgrid_public_key = \"{}\"\nsns_test_cert_url_prefix = \"{}\"\n",
            self.sendgrid_key, self.cert_base
        )
    }

    fn sendgrid_headers(&self, ts: i64, body: &str) -> [(&'static str, String); 2] {
        let sig = openssl_sign(self.dir.path(), "ec.pem", format!("{ts}{body}").as_bytes());
        [
            ("x-twilio-email-event-webhook-signature", sig),
            ("x-twilio-email-event-webhook-timestamp", ts.to_string()),
        ]
    }

    /// A signed SNS Notification carrying `message`, stamped `stamp` (RFC 3339).
    fn sns_notification(&self, message: &str, id: &str, stamp: &str) -> String {
        let to_sign = format!(
            "Message\n{message}\nMessageId\n{id}\nTimestamp\n{stamp}\nTopicArn\n{SNS_TOPIC}\nType\nNotification\n"
        );
        let sig = openssl_sign(self.dir.path(), "rsa.pem", to_sign.as_bytes());
        serde_json::json!({
            "Type": "Notification", "MessageId": id, "TopicArn": SNS_TOPIC, "Message": message,
            "Timestamp": stamp, "SignatureVersion": "2", "Signature": sig,
            "SigningCertURL": format!("{}cert.pem", self.cert_base),
        })
        .to_string()
    }
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn generic_headers(ts: i64, body: &str) -> [(&'static str, String); 2] {
    [
        ("x-breakfast-timestamp", ts.to_string()),
        (
            "x-breakfast-signature",
            hmac_hex(GENERIC_SECRET, format!("{ts}.{body}").as_bytes()),
        ),
    ]
}

fn mailgun_body(ts: i64, event_id: &str, event: &str, recipient: &str) -> String {
    let sig = hmac_hex("mailgun-key-456", format!("{ts}tok-{event_id}").as_bytes());
    format!(
        r#"{{"signature":{{"timestamp":"{ts}","token":"tok-{event_id}","signature":"{sig}"}},
           "event-data":{{"id":"{event_id}","event":"{event}","severity":"permanent","recipient":"{recipient}",
           "delivery-status":{{"code":550,"message":"5.1.1 user unknown"}},"message":{{"headers":{{}}}}}}}}"#
    )
}

fn ses_bounce(feedback_id: &str, recipient: &str) -> String {
    serde_json::json!({
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "feedbackId": feedback_id,
                   "bouncedRecipients": [{"emailAddress": recipient, "status": "5.1.1",
                                          "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
        "mail": {"messageId": "0100-ses-msg", "destination": [recipient], "headers": []}
    })
    .to_string()
}

/// Nothing about `subs` changed and no report was kept.
async fn nothing_changed(app: &App, subs: &[(i64, String)]) {
    for (id, addr) in subs {
        let s = app.store.subscriber(*id).await.unwrap();
        assert_eq!(
            (s.status, s.bounce_count),
            (SubscriberStatus::Confirmed, 0),
            "{addr}"
        );
    }
    assert_eq!(app.store.bounce_totals().await.unwrap(), vec![]);
    assert_eq!(
        app.store.unmatched_reports(false, 100).await.unwrap().len(),
        0,
        "a refused request keeps nothing"
    );
}

/// Replays: a correctly signed request whose timestamp is outside the window is refused
/// by every provider that signs a timestamp, and changes nothing; the same event signed
/// now is then accepted, so it was the timestamp that was refused.
async fn stale_timestamps_are_refused_by_mailgun_sendgrid_and_sns(backend: Backend) {
    let keys = Signers::new().await;
    let Some(t) = TestApp::with_toml(backend, &keys.toml()).await else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "st", 3).await;
    send_digest(app, "2026-11-30").await;
    let max_age = app.config.bounces.webhook_max_age_secs;

    // Mailgun: the signed timestamp is in the body.
    let old = now_secs() - max_age - 60;
    let stale = mailgun_body(old, "mg-stale", "failed", &subs[0].1);
    let (code, json) = post(&t, "mailgun", &stale, &[]).await;
    assert_eq!(code, 401, "{json}");
    assert!(
        json.to_string().contains("outside the allowed window"),
        "{json}"
    );
    // From the future counts as a replay too (or a clock far off).
    let future = mailgun_body(now_secs() + max_age + 60, "mg-stale", "failed", &subs[0].1);
    assert_eq!(post(&t, "mailgun", &future, &[]).await.0, 401);

    // SendGrid: the signed timestamp is a header.
    let sg = format!(
        r#"[{{"email":"{}","timestamp":{old},"event":"bounce","type":"bounce","sg_event_id":"sg-stale","status":"5.1.1","reason":"550 5.1.1 unknown"}}]"#,
        subs[1].1
    );
    let (code, json) = post(&t, "sendgrid", &sg, &keys.sendgrid_headers(old, &sg)).await;
    assert_eq!(code, 401, "{json}");

    // SNS: retries keep their first timestamp for up to an hour, so the window is at
    // least an hour; two hours old is a replay.
    let ses = ses_bounce("ses-stale", &subs[2].1);
    let two_hours_ago = rfc3339(chrono::Utc::now() - chrono::Duration::hours(2));
    let body = keys.sns_notification(&ses, "sns-stale", &two_hours_ago);
    let (code, json) = post(&t, "ses", &body, &[]).await;
    assert_eq!(code, 401, "{json}");

    nothing_changed(app, &subs).await;

    // The same events, signed now, are applied.
    let ts = now_secs();
    let fresh = mailgun_body(ts, "mg-stale", "failed", &subs[0].1);
    let (code, json) = post(&t, "mailgun", &fresh, &[]).await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(1)), "{json}");
    let (code, json) = post(&t, "sendgrid", &sg, &keys.sendgrid_headers(ts, &sg)).await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(1)), "{json}");
    let body = keys.sns_notification(&ses, "sns-stale", &rfc3339(chrono::Utc::now()));
    let (code, json) = post(&t, "ses", &body, &[]).await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(1)), "{json}");
    for (id, addr) in &subs {
        assert_eq!(
            status_of(app, *id).await,
            SubscriberStatus::Bounced,
            "{addr}"
        );
    }
    t.stop().await;
}
on_both_databases!(stale_timestamps_are_refused_by_mailgun_sendgrid_and_sns);

/// A body whose signature verifies but which cannot be read is kept (with its provider
/// and the reason), answered 200 so that the provider does not retry it for days, listed
/// for operators, and re-read through its provider's parser by `reprocess`. A forged or
/// unsigned body keeps nothing.
async fn verified_but_unreadable_webhooks_are_kept_and_can_be_reprocessed(backend: Backend) {
    use crate::admin::{Browser, PASSWORD, add_user};
    let keys = Signers::new().await;
    let Some(t) = TestApp::with_toml(backend, &keys.toml()).await else {
        return;
    };
    let app = &t.app;
    add_user(app, "ops@example.org", AdminRole::Operator).await;
    let subs = subscribers(app, "u", 4).await;
    let d = send_digest(app, "2026-11-30").await;

    // A type the generic webhook does not know.
    let odd = format!(
        r#"{{"id":"g-odd","type":"bounced","email":"{}","reason":"550 5.1.1"}}"#,
        subs[0].1
    );
    let ts = now_secs();
    let (code, _) = post(&t, "generic", &odd, &generic_headers(ts, "{}")).await;
    assert_eq!(code, 401, "a forged body");
    assert_eq!(post(&t, "generic", &odd, &[]).await.0, 401, "unsigned");
    assert_eq!(
        app.store.unmatched_reports(false, 10).await.unwrap().len(),
        0,
        "a forged or unsigned body keeps nothing"
    );
    let (code, json) = post(&t, "generic", &odd, &generic_headers(ts, &odd)).await;
    assert_eq!(code, 200, "{json}");
    assert_eq!(json["stored"], true, "{json}");
    assert!(
        json["unreadable"].as_str().unwrap().contains("\"bounced\""),
        "{json}"
    );
    // The provider retrying the same body keeps it once.
    let (code, json) = post(&t, "generic", &odd, &generic_headers(ts, &odd)).await;
    assert_eq!(
        (code, json["stored"].as_bool()),
        (200, Some(false)),
        "{json}"
    );
    let open = app.store.unmatched_reports(true, 10).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let kept = &open[0];
    assert_eq!(kept.source, "webhook:generic");
    assert!(kept.reason.contains("the body cannot be read"), "{kept:?}");
    assert_eq!(kept.raw, odd.as_bytes(), "the body is kept as posted");
    assert_eq!(status_of(app, subs[0].0).await, SubscriberStatus::Confirmed);

    // SES: a verified SNS notification whose Message is not SES JSON is kept whole; an
    // SNS envelope that cannot be read at all cannot be verified, and is not.
    let body = keys.sns_notification("not json", "sns-odd", &rfc3339(chrono::Utc::now()));
    let (code, json) = post(&t, "ses", &body, &[]).await;
    assert_eq!(
        (code, json["stored"].as_bool()),
        (200, Some(true)),
        "{json}"
    );
    let (code, _) = post(&t, "ses", "{\"Type\":\"Nonsense\"}", &[]).await;
    assert_eq!(code, 400);
    let open = app.store.unmatched_reports(true, 10).await.unwrap();
    assert_eq!(open.len(), 2, "{open:?}");
    let ses_id = open.iter().find(|r| r.source == "webhook:ses").unwrap().id;

    // Operators see them.
    let mut b = Browser::new(&t);
    b.login("ops@example.org", PASSWORD).await;
    let page = b.get("/admin/bounces").await;
    assert!(
        page.body.contains("webhook:generic") && page.body.contains("the body cannot be read"),
        "{}",
        page.body
    );

    // Re-reading a body that is still unreadable keeps it open, with the reason.
    let got = bounces::reprocess(app, ses_id).await.unwrap();
    assert!(
        matches!(&got, Handled::Unmatched(why) if why.contains("not SES JSON")),
        "{got:?}"
    );
    assert!(
        app.store
            .unmatched_report(ses_id)
            .await
            .unwrap()
            .resolved_at
            .is_none()
    );

    // A body kept by a version that could not read it (stored here as that version
    // would have): re-processing runs it through SendGrid's parser and applies each event
    // once; one about a stranger becomes a report of its own; the body's report is done.
    let batch = format!(
        r#"[{{"email":"{}","timestamp":1,"event":"bounce","type":"bounce","sg_event_id":"sg-r1","status":"5.1.1","reason":"550 5.1.1 unknown"}},
            {{"email":"{}","timestamp":1,"event":"spamreport","sg_event_id":"sg-r2"}},
            {{"email":"stranger@example.net","timestamp":1,"event":"bounce","sg_event_id":"sg-r3"}}]"#,
        subs[1].1, subs[2].1
    );
    assert!(
        app.store
            .store_unmatched(
                "webhook:sendgrid",
                "body:sendgrid:older-version",
                "the body cannot be read: an older version's reason",
                batch.as_bytes(),
                app.now_ms(),
            )
            .await
            .unwrap()
    );
    let batch_id = app.store.unmatched_reports(true, 10).await.unwrap()[0].id;
    let got = bounces::reprocess(app, batch_id).await.unwrap();
    assert_eq!(
        got,
        Handled::Applied {
            subscriber_id: subs[1].0,
            kind: bounces::parse::Kind::Hard,
            became: Some(SubscriberStatus::Bounced)
        }
    );
    assert_eq!(status_of(app, subs[1].0).await, SubscriberStatus::Bounced);
    assert_eq!(
        status_of(app, subs[2].0).await,
        SubscriberStatus::Complained
    );
    let done = app.store.unmatched_report(batch_id).await.unwrap();
    assert!(done.resolved_at.is_some(), "{done:?}");
    assert!(
        done.resolution
            .as_deref()
            .unwrap()
            .contains("applied 2, duplicates 0, unmatched 1"),
        "{done:?}"
    );
    let stranger = app.store.unmatched_reports(true, 10).await.unwrap();
    assert!(
        stranger
            .iter()
            .any(|r| r.source_key == "sendgrid:sg-r3" && r.reason.contains("not a subscriber")),
        "{stranger:?}"
    );
    // Again: resolved, nothing applied twice.
    assert_eq!(
        bounces::reprocess(app, batch_id).await.unwrap(),
        Handled::Duplicate
    );
    assert_eq!(
        app.store.subscriber(subs[1].0).await.unwrap().bounce_count,
        1
    );
    // The provider re-sending one of those events now is a duplicate.
    let again =
        r#"[{"email":"x@example.org","timestamp":1,"event":"spamreport","sg_event_id":"sg-r2"}]"#;
    let ts = now_secs();
    let (code, json) = post(&t, "sendgrid", again, &keys.sendgrid_headers(ts, again)).await;
    assert_eq!(
        (code, json["duplicates"].as_i64()),
        (200, Some(1)),
        "{json}"
    );

    // A single event about someone who subscribes later: matched on re-processing.
    let late = r#"{"id":"g-late","type":"hard","email":"late@example.org","reason":"550 5.1.1 no such user"}"#;
    let ts = now_secs();
    let (code, json) = post(&t, "generic", late, &generic_headers(ts, late)).await;
    assert_eq!((code, json["unmatched"].as_i64()), (200, Some(1)), "{json}");
    let late_id = app
        .store
        .unmatched_reports(true, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.source_key == "generic:g-late")
        .unwrap()
        .id;
    let late_sub = crate::kit::confirmed(app, "late@example.org").await;
    let got = bounces::reprocess(app, late_id).await.unwrap();
    assert!(
        matches!(got, Handled::Applied { subscriber_id, became: Some(SubscriberStatus::Bounced), .. } if subscriber_id == late_sub),
        "{got:?}"
    );
    assert!(
        app.store
            .unmatched_report(late_id)
            .await
            .unwrap()
            .resolved_at
            .is_some()
    );
    let _ = d;
    t.stop().await;
}
on_both_databases!(verified_but_unreadable_webhooks_are_kept_and_can_be_reprocessed);

/// SendGrid posts events in batches far larger than the server's 64 KiB: a 300 KB signed
/// batch is read whole (the events at its end are applied); past the webhooks' own limit
/// of 1 MiB the answer is 413.
async fn a_300_kb_signed_sendgrid_batch_is_accepted(backend: Backend) {
    let keys = Signers::new().await;
    let Some(t) = TestApp::with_toml(backend, &keys.toml()).await else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "big", 2).await;
    send_digest(app, "2026-11-30").await;
    let ts = now_secs();
    let mut events: Vec<String> = (0..1400)
        .map(|i| {
            format!(
                r#"{{"email":"reader{i}@example.net","timestamp":{ts},"event":"delivered","sg_event_id":"sg-big-{i}","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.{i}","smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>","response":"250 2.0.0 OK","category":["newsletter"]}}"#
            )
        })
        .collect();
    events.push(format!(
        r#"{{"email":"{}","timestamp":{ts},"event":"bounce","type":"bounce","sg_event_id":"sg-big-bounce","status":"5.1.1","reason":"550 5.1.1 unknown"}}"#,
        subs[0].1
    ));
    events.push(format!(
        r#"{{"email":"{}","timestamp":{ts},"event":"spamreport","sg_event_id":"sg-big-spam"}}"#,
        subs[1].1
    ));
    let batch = format!("[{}]", events.join(",\n"));
    assert!(
        (300_000..1024 * 1024).contains(&batch.len()),
        "{} bytes",
        batch.len()
    );
    let (code, json) = post(&t, "sendgrid", &batch, &keys.sendgrid_headers(ts, &batch)).await;
    assert_eq!((code, json["applied"].as_i64()), (200, Some(2)), "{json}");
    assert_eq!(status_of(app, subs[0].0).await, SubscriberStatus::Bounced);
    assert_eq!(
        status_of(app, subs[1].0).await,
        SubscriberStatus::Complained
    );

    // Over 1 MiB: refused before the signature is even looked at.
    let huge = format!("[{}]", vec![events[0].as_str(); 4000].join(","));
    assert!(huge.len() > 1024 * 1024);
    let (code, json) = post(&t, "sendgrid", &huge, &keys.sendgrid_headers(ts, &huge)).await;
    assert_eq!(code, 413, "{json}");
    assert!(json.to_string().contains("larger than 1024 KiB"), "{json}");
    t.stop().await;
}
on_both_databases!(a_300_kb_signed_sendgrid_batch_is_accepted);

/// N soft bounces within M days mean bounced; one older than M days does not count.
async fn a_soft_bounce_outside_the_window_does_not_count(backend: Backend) {
    let clock = breakfast::domain::Clock::manual("2026-11-30T08:00:00Z".parse().unwrap());
    let toml = format!("{BOUNCES_TOML}soft_bounce_limit = 2\nsoft_bounce_days = 7\n");
    let Some(t) = TestApp::builder(backend)
        .toml(&toml)
        .clock(clock.clone())
        .start()
        .await
    else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "soft", 1).await;
    let (sid, addr) = (subs[0].0, subs[0].1.as_str());
    let d = send_digest(app, "2026-11-30").await;
    let soft = |became| Handled::Applied {
        subscriber_id: sid,
        kind: bounces::parse::Kind::Soft,
        became,
    };
    let full = report(app, "full.eml", delivery(d, sid), addr);
    assert_eq!(handle(app, "t:soft-1", &full).await, soft(None));

    // Eight days later the first is outside the 7-day window: this one is alone in it.
    clock.advance(chrono::Duration::days(8));
    assert_eq!(handle(app, "t:soft-2", &full).await, soft(None));
    assert_eq!(status_of(app, sid).await, SubscriberStatus::Confirmed);

    // A day later, the second and third are within 7 days of each other.
    clock.advance(chrono::Duration::days(1));
    assert_eq!(
        handle(app, "t:soft-3", &full).await,
        soft(Some(SubscriberStatus::Bounced))
    );
    assert_eq!(status_of(app, sid).await, SubscriberStatus::Bounced);
    let soft_events = app
        .store
        .subscriber_events(sid)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "soft bounce")
        .count();
    assert_eq!(soft_events, 3, "each soft bounce is in the history");
    t.stop().await;
}
on_both_databases!(a_soft_bounce_outside_the_window_does_not_count);

/// The hard-bounce branch of the automatic pause: under the limit nothing happens; the
/// bounce that passes it pauses the schedule and emails every operator, once.
async fn a_hard_bounce_rate_over_the_limit_pauses_the_schedule_and_tells_operators(
    backend: Backend,
) {
    // Complaints off, so only the hard-bounce rate can pause.
    let extra = format!(
        "{BOUNCES_TOML}pause_min_sent = 3\npause_complaint_rate = 0.0\npause_hard_bounce_rate = 0.3\n"
    );
    let Some(t) = TestApp::with_toml(backend, &extra).await else {
        return;
    };
    let app = &t.app;
    for (email, role) in [
        ("ops@example.org", AdminRole::Operator),
        ("ops2@example.org", AdminRole::Operator),
        ("editor@example.org", AdminRole::Editor),
    ] {
        app.store
            .insert_admin_user(email, "not-a-real-hash", role, app.now_ms())
            .await
            .unwrap();
    }
    let defaults = DailySettings {
        send_time: "07:00",
        time_zone: "Europe/London",
        days: "mon",
        skip_when_empty: true,
        mode: breakfast::store::schedules::ScheduleMode::Automatic,
        delivery: Default::default(),
    };
    let paused = || async {
        app.store
            .daily_schedule(&defaults, app.now_ms())
            .await
            .unwrap()
            .paused
    };
    assert!(!paused().await);
    let subs = subscribers(app, "hr", 4).await;
    let d = send_digest(app, "2026-11-30").await;
    let before = t.wait_for_outbox(4, Duration::from_secs(10)).await.len();

    // 1 of 4 (25 %) is under the 30 % limit.
    let first = report(app, "postfix.eml", delivery(d, subs[0].0), &subs[0].1);
    assert!(matches!(
        handle(app, "t:hr-1", &first).await,
        Handled::Applied { .. }
    ));
    assert!(!paused().await, "under the limit the schedule runs on");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.wait_for_outbox(0, Duration::ZERO).await.len(), before);

    // 2 of 4 (50 %) passes it.
    let second = report(app, "exim.eml", delivery(d, subs[1].0), &subs[1].1);
    assert!(matches!(
        handle(app, "t:hr-2", &second).await,
        Handled::Applied { .. }
    ));
    assert!(paused().await, "the schedule paused itself");
    let mail = t.wait_for_outbox(before + 3, Duration::from_secs(20)).await;
    let alerts: Vec<Mail> = mail
        .iter()
        .map(|m| Mail::parse(m))
        .filter(|m| m.subject.contains("sending paused"))
        .collect();
    let mut to: Vec<&str> = alerts.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    // Editors may do all an operator may, so they are told too.
    assert_eq!(
        to,
        ["editor@example.org", "ops2@example.org", "ops@example.org"]
    );
    let words = alerts[0]
        .text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        words.contains("hard-bounce rate 50.00 % (2 of 4 sent) is above the limit of 30.00 %"),
        "{words}"
    );

    // A third bounce on the same issue does not email again.
    let third = report(app, "plain.eml", delivery(d, subs[2].0), &subs[2].1);
    handle(app, "t:hr-3", &third).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.wait_for_outbox(0, Duration::ZERO).await.len(), before + 3);
    t.stop().await;
}
on_both_databases!(a_hard_bounce_rate_over_the_limit_pauses_the_schedule_and_tells_operators);

/// A DSN or a webhook about someone who is not a subscriber, or whose subscription was
/// erased: kept as unmatched with the reason, and nothing else changes. An erased
/// person's address is not written back into the store by a provider's event.
async fn reports_about_strangers_and_erased_subscribers_change_nothing(backend: Backend) {
    let toml = format!("{BOUNCES_TOML}generic_secret = \"{GENERIC_SECRET}\"\n");
    let Some(t) = TestApp::with_toml(backend, &toml).await else {
        return;
    };
    let app = &t.app;
    let subs = subscribers(app, "x", 3).await;
    let d = send_digest(app, "2026-11-30").await;
    let (gone_id, gone_addr) = subs[2].clone();
    let gone = app.store.subscriber(gone_id).await.unwrap();
    // Kept before the erasure: a report quoting the address without a token of ours.
    let untokened = fill("postfix.eml", "none", &gone_addr);
    let got = handle(app, "t:before", &untokened).await;
    assert!(matches!(&got, Handled::Unmatched(_)), "{got:?}");
    // The same, quoting it as the receiver wrote it (in capitals), and one where it is
    // only inside a base64 part; and one about somebody else, which must stay whole.
    let shouted = fill("postfix.eml", "none", &gone_addr.to_uppercase());
    let encoded = only_encoded_report(&gone_addr);
    let stranger = fill("postfix.eml", "none", "someone@else.example");
    for (key, raw) in [
        ("t:shouted", &shouted),
        ("t:encoded", &encoded),
        ("t:other", &stranger),
    ] {
        let got = handle(app, key, raw).await;
        assert!(matches!(&got, Handled::Unmatched(_)), "{key}: {got:?}");
    }
    breakfast::subscribers::erase_subscriber(app, &gone, "erased in a test")
        .await
        .unwrap();
    // "Delete everything" took the address out of them, and they are no longer open.
    let all = app.store.unmatched_reports(false, 10).await.unwrap();
    for key in ["t:before", "t:shouted", "t:encoded"] {
        let kept = all.iter().find(|r| r.source_key == key).unwrap();
        let text = String::from_utf8_lossy(&kept.raw);
        assert!(
            kept.raw == breakfast::store::bounces::ERASED_TEXT,
            "{key} kept its text:\n{text}"
        );
        assert!(kept.resolved_at.is_some(), "{key}");
    }
    let other = all.iter().find(|r| r.source_key == "t:other").unwrap();
    assert_eq!(
        other.raw, stranger,
        "a report about somebody else keeps its text"
    );
    assert!(other.resolved_at.is_none());
    let kept = &subs[..2];
    let suppressed = app.store.suppression_count().await.unwrap();

    // A DSN whose token verifies but names the erased subscriber.
    let dsn = report(app, "postfix.eml", delivery(d, gone_id), &gone_addr);
    let got = handle(app, "t:erased", &dsn).await;
    assert!(
        matches!(&got, Handled::Unmatched(why) if why.contains("erased")),
        "{got:?}"
    );
    // A DSN about a stranger, carrying no token of ours.
    let stranger_dsn = fill("postfix.eml", "none", "stranger@example.net");
    let got = handle(app, "t:stranger", &stranger_dsn).await;
    assert!(
        matches!(&got, Handled::Unmatched(why) if why.contains("no valid bounce token")),
        "{got:?}"
    );

    // Webhooks: a stranger's address, and the erased subscriber's.
    for (id, email) in [("g-s", "stranger@example.net"), ("g-e", gone_addr.as_str())] {
        let body = format!(
            r#"{{"id":"{id}","type":"complaint","email":"{email}","reason":"abuse report for {email}"}}"#
        );
        let (code, json) = post(&t, "generic", &body, &generic_headers(now_secs(), &body)).await;
        assert_eq!((code, json["unmatched"].as_i64()), (200, Some(1)), "{json}");
    }
    let open = app.store.unmatched_reports(true, 10).await.unwrap();
    assert_eq!(open.len(), 5, "{open:?}");
    let by_key = |k: &str| open.iter().find(|r| r.source_key == k).unwrap();
    assert!(by_key("generic:g-s").reason.contains("not a subscriber"));
    // The DSN naming the erased subscriber is kept for its reason, not its text.
    let erased_dsn = by_key("t:erased");
    assert!(
        erased_dsn.reason.contains("erased"),
        "{}",
        erased_dsn.reason
    );
    assert!(
        !String::from_utf8_lossy(&erased_dsn.raw).contains(&gone_addr),
        "{}",
        String::from_utf8_lossy(&erased_dsn.raw)
    );
    let erased = by_key("generic:g-e");
    assert!(
        erased.reason.contains("suppression list"),
        "{}",
        erased.reason
    );
    assert!(
        !String::from_utf8_lossy(&erased.raw).contains(&gone_addr),
        "the erased address is not stored again: {}",
        String::from_utf8_lossy(&erased.raw)
    );
    assert!(
        app.store
            .subscriber_by_email(&EmailAddress::parse(&gone_addr).unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // Nothing else changed.
    for (id, addr) in kept {
        let s = app.store.subscriber(*id).await.unwrap();
        assert_eq!(
            (s.status, s.bounce_count),
            (SubscriberStatus::Confirmed, 0),
            "{addr}"
        );
        let history = app.store.subscriber_events(*id).await.unwrap();
        assert!(
            !history
                .iter()
                .any(|e| e.kind.contains("bounce") || e.kind.contains("complain")),
            "{history:?}"
        );
    }
    assert_eq!(app.store.bounce_totals().await.unwrap(), vec![]);
    assert_eq!(app.store.suppression_count().await.unwrap(), suppressed);
    let counts = app.store.digest_bounce_counts(d).await.unwrap();
    assert_eq!((counts.hard, counts.soft, counts.complaints), (0, 0, 0));
    assert!(app.store.failed_deliveries(d).await.unwrap().is_empty());

    // Re-processing them changes nothing either.
    for r in &open {
        let got = bounces::reprocess(app, r.id).await.unwrap();
        assert!(matches!(got, Handled::Unmatched(_)), "{got:?}");
    }
    assert_eq!(app.store.bounce_totals().await.unwrap(), vec![]);
    assert_eq!(
        app.store.unmatched_reports(true, 10).await.unwrap().len(),
        open.len()
    );
    t.stop().await;
}
on_both_databases!(reports_about_strangers_and_erased_subscribers_change_nothing);

/// Polls until a round finds nothing new; the rounds' reports summed.
async fn drain_mailbox(app: App, settings: mailbox::ImapSettings) -> mailbox::RoundReport {
    let mut total = mailbox::RoundReport::default();
    loop {
        let r = mailbox::poll_once(&app, &settings).await.unwrap();
        if r.seen == 0 {
            return total;
        }
        total.seen += r.seen;
        total.applied += r.applied;
        total.already_done += r.already_done;
        total.no_action += r.no_action;
        total.unmatched += r.unmatched;
    }
}

/// Two pollers, each with its own connection pool to one PostgreSQL (as two processes
/// have), read one mailbox of 300 bounces at the same time: they race for every message,
/// and each bounce is applied exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pollers_on_one_postgres_apply_each_bounce_exactly_once() {
    let n = 300;
    let Some((dovecot, t, subs, d)) = mailbox_and_send(Backend::Postgres, "two", n).await else {
        return;
    };
    let app = &t.app;
    bounce_everyone(app, &dovecot, &subs, d).await;
    let other = breakfast::service::open(app.config.clone(), breakfast::domain::Clock::System)
        .await
        .unwrap();
    let settings = mailbox::parse_imap_url(&dovecot.url()).unwrap();
    let (a, b) = tokio::join!(
        tokio::spawn(drain_mailbox(app.clone(), settings.clone())),
        tokio::spawn(drain_mailbox(other.clone(), settings)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    eprintln!("poller A: {a:?}\npoller B: {b:?}");
    assert_eq!(a.applied + b.applied, n, "{a:?} {b:?}");
    assert!(
        a.applied > 0 && b.applied > 0,
        "both pollers worked at once: {a:?} {b:?}"
    );
    assert_eq!((a.unmatched, b.unmatched), (0, 0));
    assert_eq!(dovecot.pending().await, 0);
    assert_eq!(dovecot.total().await, n);

    assert_eq!(hard_bounces(app).await, n as i64, "one event per bounce");
    let counts = app.store.digest_bounce_counts(d).await.unwrap();
    assert_eq!((counts.sent, counts.hard), (n as i64, n as i64));
    for (id, addr) in &subs {
        let s = app.store.subscriber(*id).await.unwrap();
        assert_eq!(
            (s.status, s.bounce_count),
            (SubscriberStatus::Bounced, 1),
            "{addr}"
        );
        let history = app.store.subscriber_events(*id).await.unwrap();
        let count = |kind: &str| history.iter().filter(|e| e.kind == kind).count();
        assert_eq!(
            (count("hard bounce"), count("bounced")),
            (1, 1),
            "{addr}: {history:?}"
        );
    }
    assert!(
        app.store
            .unmatched_reports(false, 10)
            .await
            .unwrap()
            .is_empty()
    );
    other.close().await;
    t.stop().await;
}
