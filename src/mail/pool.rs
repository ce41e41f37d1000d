//! A pool of SMTP sessions ([`super::session`], with Nagle's algorithm off).
//!
//! A message body and its closing `CRLF.CRLF` written as two small writes with Nagle on
//! would wait for the server's (delayed) acknowledgement, about 40 ms on Linux, capping a
//! connection near 25 messages a second; the sessions set `TCP_NODELAY`. Reused sessions
//! are only checked (NOOP) when they sat idle for a while, not before every message.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lettre::address::Envelope;

use super::session::{Connector, Reply, Session, SessionError};
use super::smtp::SmtpSettings;
use crate::config::MailConfig;

/// Connections idle longer than this get a NOOP before reuse.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(10);
/// Connections idle longer than this are closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(60);

pub struct SmtpPool {
    connector: Connector,
    timeout: Duration,
    max_idle: usize,
    /// A plain mutex: it is only held to pop or push, never across an await, so the
    /// sending tasks do not queue behind each other on it.
    idle: Mutex<Vec<(Session, Instant)>>,
}

impl SmtpPool {
    /// The pool for `smtp_url`'s settings: connections are reused across messages, which
    /// is most of the difference between dozens and thousands of messages a second.
    pub fn from_settings(s: &SmtpSettings, mail: &MailConfig) -> anyhow::Result<SmtpPool> {
        Ok(SmtpPool {
            connector: Connector::new(s, &mail.smtp_ca_file)?,
            timeout: Duration::from_secs(mail.timeout_secs.max(1)),
            max_idle: (mail.pool_size as usize).max(1),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends one message. A reused connection that turns out to be dead before the
    /// server answered anything of this message is replaced once by a fresh one.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<Reply, PoolError> {
        let (mut conn, reused) = self.checkout().await?;
        let mut result = self.timed(conn.send(envelope, email)).await;
        let dead = matches!(
            &result,
            Err(PoolError::Session(SessionError::Io {
                answered: false,
                ..
            }))
        );
        if reused && dead {
            conn.quit().await;
            conn = self.connect().await?;
            result = self.timed(conn.send(envelope, email)).await;
        }
        if matches!(result, Err(PoolError::Timeout)) {
            // Mid-transaction: what the server will say next is unknown.
            return result;
        }
        self.checkin(conn).await;
        result
    }

    /// Whether the server answers NOOP on a pooled (or new) connection.
    pub async fn check(&self) -> Result<bool, PoolError> {
        let (mut conn, _) = self.checkout().await?;
        let ok = conn.noop().await;
        if ok {
            self.checkin(conn).await;
        }
        Ok(ok)
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, SessionError>>,
    ) -> Result<T, PoolError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(PoolError::Session),
            Err(_) => Err(PoolError::Timeout),
        }
    }

    async fn checkout(&self) -> Result<(Session, bool), PoolError> {
        loop {
            let popped = self.lock_idle().pop();
            let Some((mut conn, since)) = popped else {
                return Ok((self.connect().await?, false));
            };
            let idle_for = since.elapsed();
            if idle_for > MAX_IDLE || (idle_for > CHECK_AFTER_IDLE && !conn.noop().await) {
                conn.quit().await;
                continue;
            }
            return Ok((conn, true));
        }
    }

    async fn checkin(&self, conn: Session) {
        if conn.is_broken() {
            return;
        }
        let kept = {
            let mut idle = self.lock_idle();
            if idle.len() < self.max_idle {
                idle.push((conn, Instant::now()));
                None
            } else {
                Some(conn)
            }
        };
        if let Some(surplus) = kept {
            surplus.quit().await;
        }
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<(Session, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connect(&self) -> Result<Session, PoolError> {
        self.timed(self.connector.open()).await
    }
}

/// Why the pool could not get a message accepted.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// What the session reported: a refusal, the connection, TLS, the protocol.
    #[error(transparent)]
    Session(SessionError),
    /// The server did not answer within `mail.timeout_secs`.
    #[error("the SMTP server did not answer in time")]
    Timeout,
}
