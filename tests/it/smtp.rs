//! The SMTP client (`src/mail/session.rs`) against a real server, aiosmtpd: STARTTLS and
//! implicit TLS verified against a private CA, AUTH, pipelining on and off, dot-stuffing,
//! and the relay's refusals sorted into "try again" and "give up".

use std::path::Path;

use breakfast::{
    config::Config,
    mail::{Mailer, SendError},
};
use lettre::{Message, message::header::ContentType};

use crate::kit::{SmtpBehaviour, SmtpServer, tls::make_certificates};

const CREDENTIALS: &str = "news:s3cret-pass";

/// Lines that must reach the reader as written: a lone dot would end the message early
/// and a leading dot would be eaten unless the client doubles it on the wire.
const DOTTED_BODY: &str = "Morning.\r\n.\r\n.hidden line\r\n..two dots\r\nEnd.\r\n";

fn mailer(url: &str, ca_dir: Option<&Path>) -> Mailer {
    let mut toml = format!("secret = \"test-secret-0123456789\"\nsmtp_url = {url:?}\n");
    if let Some(dir) = ca_dir {
        let ca = dir.join("ca.pem").display().to_string();
        toml.push_str(&format!("[mail]\nsmtp_ca_file = {ca:?}\n"));
    }
    let config = Config::from_toml_str(&toml).unwrap();
    Mailer::from_config(&config).unwrap()
}

fn message(to: &str) -> Message {
    Message::builder()
        .from("Breakfast <news@example.org>".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("The morning's news")
        .header(ContentType::TEXT_PLAIN)
        .body(DOTTED_BODY.to_string())
        .unwrap()
}

/// A server with a certificate for 127.0.0.1 signed by a CA of the test's own.
async fn tls_server(behaviour: SmtpBehaviour) -> Option<(SmtpServer, tempfile::TempDir)> {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let smtp = SmtpServer::start(SmtpBehaviour {
        tls_dir: Some(certs.path().to_path_buf()),
        ..behaviour
    })
    .await?;
    Some((smtp, certs))
}

fn assert_arrived_intact(smtp: &SmtpServer, recipients: &[&str]) {
    let messages = smtp.messages();
    assert_eq!(messages.len(), recipients.len(), "{messages:?}");
    for (eml, to) in messages.iter().zip(recipients) {
        assert!(
            eml.starts_with(&format!("X-Envelope-To: {to}\r\n")),
            "{eml}"
        );
        assert!(
            eml.contains("X-Envelope-From: news@example.org\r\n"),
            "{eml}"
        );
        assert!(
            eml.contains(DOTTED_BODY),
            "the body changed on the way:\n{eml}"
        );
    }
}

/// STARTTLS by default (`smtp://` without `tls=`), then AUTH: the server offers AUTH only
/// over TLS and takes no mail without it, so a delivered message proves both happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_starttls_with_auth_to_a_verified_certificate() {
    for pipelining in [true, false] {
        let Some((smtp, certs)) = tls_server(SmtpBehaviour {
            auth: Some(CREDENTIALS.into()),
            pipelining,
            ..Default::default()
        })
        .await
        else {
            return;
        };
        let url = format!("smtp://{CREDENTIALS}@127.0.0.1:{}", smtp.port);
        let mailer = mailer(&url, Some(certs.path()));
        let to = ["ana@example.org", "ben@example.org", "cleo@example.org"];
        for addr in to {
            mailer.send(message(addr)).await.unwrap();
        }
        assert_arrived_intact(&smtp, &to);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_goes_over_implicit_tls() {
    let Some((smtp, certs)) = tls_server(SmtpBehaviour {
        implicit_tls: true,
        auth: Some(CREDENTIALS.into()),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let url = format!("smtps://{CREDENTIALS}@127.0.0.1:{}", smtp.port);
    mailer(&url, Some(certs.path()))
        .send(message("ana@example.org"))
        .await
        .unwrap();
    assert_arrived_intact(&smtp, &["ana@example.org"]);
}

fn transient(result: Result<(), SendError>) -> String {
    match result {
        Err(SendError::Transient(text)) => text,
        other => panic!("expected a temporary failure, got {other:?}"),
    }
}

/// A certificate nobody vouches for is refused, and that is the relay's problem, not the
/// recipient's: a temporary failure, never a bounce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let Some((smtp, _certs)) = tls_server(SmtpBehaviour::default()).await else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}?tls=required", smtp.port);
    let text = transient(mailer(&url, None).send(message("ana@example.org")).await);
    assert!(
        text.contains("TLS") && text.contains("certificate"),
        "{text}"
    );
    assert!(smtp.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_required_refuses_a_server_without_starttls() {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}?tls=required", smtp.port);
    let text = transient(mailer(&url, None).send(message("ana@example.org")).await);
    assert!(text.contains("STARTTLS"), "{text}");
    assert!(smtp.messages().is_empty());
}

/// A wrong password refuses every message alike (535): it must not bounce the reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_temporary_failure_not_a_bounce() {
    let Some((smtp, certs)) = tls_server(SmtpBehaviour {
        auth: Some(CREDENTIALS.into()),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let url = format!("smtp://news:wrong@127.0.0.1:{}", smtp.port);
    let text = transient(
        mailer(&url, Some(certs.path()))
            .send(message("ana@example.org"))
            .await,
    );
    assert!(text.starts_with("535"), "{text}");
    assert!(
        !text.contains("wrong"),
        "the password reached the error: {text}"
    );
    assert!(smtp.messages().is_empty());
}

/// A refused recipient is a permanent failure for that message only: the connection is
/// reset and carries the next message, with pipelining (the refusal's reply arrives
/// among MAIL's and DATA's) and without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_fails_alone_and_the_connection_goes_on() {
    for pipelining in [true, false] {
        let Some(smtp) = SmtpServer::start(SmtpBehaviour {
            reject: Some("^nobody@".into()),
            pipelining,
            ..Default::default()
        })
        .await
        else {
            return;
        };
        let mailer = mailer(&smtp.url(), None);
        for round in 0..2 {
            match mailer.send(message("nobody@example.org")).await {
                Err(SendError::Permanent(text)) => {
                    assert!(text.starts_with("550"), "{text}");
                    assert!(!text.contains("nobody@"), "an address in the error: {text}");
                }
                other => panic!("round {round}, pipelining {pipelining}: {other:?}"),
            }
            mailer.send(message("ana@example.org")).await.unwrap();
        }
        assert_arrived_intact(&smtp, &["ana@example.org", "ana@example.org"]);
    }
}
