//! Getting a message to a mail server, or into the outbox folder.
//!
//! Two transports behind one type: SMTP through our own pool ([`pool`]) of our own
//! pipelining client sessions ([`session`]), with the settings parsed in [`smtp`] (the
//! dependencies run one way: pool → session → smtp), and a file
//! outbox that writes one `.eml` per message — the embedded default, so that a new
//! installation shows real emails without a mail server.

mod compose;
pub mod dkim;
mod outbox;
mod pool;
pub mod qp;
mod session;
mod smtp;

use std::time::{Duration, Instant};

use std::sync::Arc;

use lettre::Message;

pub use compose::{
    BOUNCE_REF_HEADER, ComposeError, ConstantHeaders, EncodedEmail, Head, MailIdentity,
    OutgoingEmail, ReturnPath, Unsubscribe,
};
pub use outbox::Outbox;
pub use session::Connector;
pub use smtp::{SmtpSettings, TlsMode, parse_smtp_url};

use crate::config::Config;

/// Where outgoing mail goes.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    /// Present when `[[mail.dkim]]` keys are configured: then nothing leaves unsigned.
    dkim: Option<Arc<dkim::Signers>>,
    /// The send-time histogram, looked up once rather than per message.
    send_seconds: metrics::Histogram,
}

#[derive(Clone)]
enum Transport {
    Smtp(std::sync::Arc<pool::SmtpPool>),
    Outbox(Outbox),
}

/// A message ready for the wire: its envelope and its final (signed) bytes.
pub struct Prepared {
    envelope: lettre::address::Envelope,
    bytes: Vec<u8>,
}

/// Why a message was not accepted, sorted by what the sender should do next.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: 4xx replies, refused or dropped connections, timeouts.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The server refused this message or recipient for good (5xx).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }

    /// SMTP 421 and 451 often mean "slow down": the caller backs off harder.
    pub fn is_slow_down(&self) -> bool {
        matches!(self, Self::Transient(m) if m.starts_with("421") || m.starts_with("451"))
    }
}

impl Mailer {
    /// Builds the transport named by the configuration: SMTP when `smtp_url` is set,
    /// otherwise the outbox folder.
    pub fn from_config(config: &Config) -> anyhow::Result<Mailer> {
        let transport = if config.smtp_url.is_empty() {
            Transport::Outbox(Outbox::new(&config.mail.outbox_dir)?)
        } else {
            let settings = parse_smtp_url(config.smtp_url.expose())?;
            Transport::Smtp(std::sync::Arc::new(pool::SmtpPool::from_settings(
                &settings,
                &config.mail,
            )?))
        };
        let from_domain = MailIdentity::from_config(config)?.id_domain;
        let dkim = dkim::Signers::from_config(&config.mail, &from_domain)?.map(Arc::new);
        Ok(Mailer {
            transport,
            dkim,
            send_seconds: send_seconds(),
        })
    }

    pub fn outbox(dir: &str) -> anyhow::Result<Mailer> {
        Ok(Mailer {
            transport: Transport::Outbox(Outbox::new(dir)?),
            dkim: None,
            send_seconds: send_seconds(),
        })
    }

    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "SMTP".into(),
            Transport::Outbox(o) => format!("outbox folder {}", o.dir().display()),
        }
    }

    /// Sends one message: [`Mailer::prepare`] then [`Mailer::deliver`].
    pub async fn send(&self, message: Message) -> Result<(), SendError> {
        let prepared = self.prepare(message).await?;
        self.deliver(&prepared).await
    }

    /// Formats a message into the bytes that go on the wire and, with DKIM configured,
    /// signs those very bytes, so nothing can change a header after signing; a message
    /// that cannot be signed is not sent. Nothing touches the network: a sender does
    /// this before it takes one of its in-flight slots, so that formatting and signing
    /// the next messages overlaps with the ones on the wire.
    pub async fn prepare(&self, message: Message) -> Result<Prepared, SendError> {
        let envelope = message.envelope().clone();
        let mut bytes = message.formatted();
        drop(message);
        if let Some(dkim) = &self.dkim {
            bytes = dkim
                .sign_off_loop(bytes)
                .await
                .map_err(SendError::Transient)?;
        }
        Ok(Prepared { envelope, bytes })
    }

    /// Hands a prepared message to the SMTP server (or writes it to the outbox).
    pub async fn deliver(&self, prepared: &Prepared) -> Result<(), SendError> {
        let started = Instant::now();
        let result = match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(&prepared.envelope, &prepared.bytes)
                .await
                .map(|_| ())
                .map_err(classify_pool),
            Transport::Outbox(outbox) => outbox
                .write(&prepared.bytes)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(e.to_string())),
        };
        self.send_seconds.record(started.elapsed().as_secs_f64());
        result
    }

    /// Whether the transport can take mail now (for /readyz): a NOOP over SMTP, a write
    /// test for the outbox.
    pub async fn check(&self) -> Result<(), String> {
        match &self.transport {
            Transport::Smtp(smtp) => {
                match tokio::time::timeout(Duration::from_secs(5), smtp.check()).await {
                    Ok(Ok(true)) => Ok(()),
                    Ok(Ok(false)) => Err("SMTP server did not answer NOOP".into()),
                    Ok(Err(e)) => Err(format!("SMTP: {e}")),
                    Err(_) => Err("SMTP server did not answer within 5s".into()),
                }
            }
            Transport::Outbox(outbox) => outbox.check_writable().map_err(|e| e.to_string()),
        }
    }
}

fn send_seconds() -> metrics::Histogram {
    metrics::histogram!(crate::ops::metric_names::MAIL_SEND_SECONDS)
}

/// Sorts what the pool reports into "try again" and "give up", keeping the server's words
/// but not the recipient's address, which servers often quote and which must not reach
/// logs. Only a refusal of this message (its MAIL, RCPT, DATA or content, with a 5xx) is
/// permanent: a relay that refuses the greeting, TLS or the password refuses everyone, and
/// that must not count against the recipient.
fn classify_pool(e: pool::PoolError) -> SendError {
    use session::SessionError;
    let permanent = matches!(
        &e,
        pool::PoolError::Session(SessionError::Refused { step, reply })
            if step.is_about_the_message() && reply.is_permanent()
    );
    let text = crate::ops::redact_addresses(&e.to_string());
    if permanent {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}
