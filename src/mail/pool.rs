//! A pool of SMTP connections with Nagle's algorithm off.
//!
//! lettre writes a message body and its closing `CRLF.CRLF` as two writes. With Nagle on,
//! the small second write waits for the server's (delayed) acknowledgement of the first,
//! about 40 ms on Linux: every message costs 40 ms whatever the link, which caps a
//! connection near 25 messages a second. lettre's own pool cannot set `TCP_NODELAY` and
//! checks every reused connection with a NOOP round trip, so this pool opens the
//! sockets itself and only checks connections that sat idle for a while.

use std::time::{Duration, Instant};

use lettre::{
    address::Envelope,
    transport::smtp::{
        Error,
        authentication::{Credentials, DEFAULT_MECHANISMS},
        client::{AsyncSmtpConnection, TlsParameters},
        extension::ClientId,
        response::Response,
    },
};
use std::sync::{Mutex, MutexGuard};

use super::smtp::{SmtpSettings, TlsMode};
use crate::config::MailConfig;

/// Connections idle longer than this get a NOOP before reuse.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(10);
/// Connections idle longer than this are closed rather than reused.
const MAX_IDLE: Duration = Duration::from_secs(60);

pub struct SmtpPool {
    settings: SmtpSettings,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    max_idle: usize,
    /// A plain mutex: it is only held to pop or push, never across an await, so the
    /// sending tasks do not queue behind each other on it.
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    /// The pool for `smtp_url`'s settings: connections are reused across messages, which
    /// is most of the difference between dozens and thousands of messages a second.
    pub fn from_settings(s: &SmtpSettings, mail: &MailConfig) -> anyhow::Result<SmtpPool> {
        let tls = match s.tls {
            TlsMode::None => None,
            _ => Some(
                TlsParameters::new(s.host.clone())
                    .map_err(|e| anyhow::anyhow!("TLS set-up for {}: {e}", s.host))?,
            ),
        };
        let credentials = s
            .username
            .as_ref()
            .map(|user| Credentials::new(user.clone(), s.password.clone().unwrap_or_default()));
        Ok(SmtpPool::new(
            s.clone(),
            tls,
            credentials,
            Duration::from_secs(mail.timeout_secs.max(1)),
            mail.pool_size as usize,
        ))
    }

    pub fn new(
        settings: SmtpSettings,
        tls: Option<TlsParameters>,
        credentials: Option<Credentials>,
        timeout: Duration,
        max_idle: usize,
    ) -> SmtpPool {
        SmtpPool {
            settings,
            tls,
            credentials,
            hello: ClientId::default(),
            timeout,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends one message. A reused connection that turns out to be dead before the
    /// server answered anything is replaced once by a fresh one.
    pub async fn send(&self, envelope: &Envelope, email: &[u8]) -> Result<Response, PoolError> {
        let (mut conn, reused) = self.checkout().await?;
        let mut result = self.timed(conn.send(envelope, email)).await;
        let dead =
            matches!(&result, Err(PoolError::Smtp(e)) if e.status().is_none() && !e.is_timeout());
        if reused && dead {
            conn.abort().await;
            conn = self.connect().await?;
            result = self.timed(conn.send(envelope, email)).await;
        }
        self.checkin(conn).await;
        result
    }

    /// Whether the server answers NOOP on a pooled (or new) connection.
    pub async fn check(&self) -> Result<bool, PoolError> {
        let (mut conn, _) = self.checkout().await?;
        let ok = conn.test_connected().await;
        if ok {
            self.checkin(conn).await;
        }
        Ok(ok)
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, impl Into<PoolError>>>,
    ) -> Result<T, PoolError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(Into::into),
            Err(_) => Err(PoolError::Timeout),
        }
    }

    async fn checkout(&self) -> Result<(AsyncSmtpConnection, bool), PoolError> {
        loop {
            let popped = self.lock_idle().pop();
            let Some((mut conn, since)) = popped else {
                return Ok((self.connect().await?, false));
            };
            let idle_for = since.elapsed();
            if idle_for > MAX_IDLE || (idle_for > CHECK_AFTER_IDLE && !conn.test_connected().await)
            {
                conn.abort().await;
                continue;
            }
            return Ok((conn, true));
        }
    }

    async fn checkin(&self, mut conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            conn.abort().await;
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
        if let Some(mut surplus) = kept {
            surplus.abort().await;
        }
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<(AsyncSmtpConnection, Instant)>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, PoolError> {
        let s = &self.settings;
        let mut conn = if s.tls == TlsMode::Implicit {
            // TLS from the first byte: lettre opens that socket itself.
            self.timed(AsyncSmtpConnection::connect_tokio1(
                (s.host.as_str(), s.port),
                Some(self.timeout),
                &self.hello,
                self.tls.clone(),
                None,
            ))
            .await?
        } else {
            let tcp = self
                .timed(async {
                    tokio::net::TcpStream::connect((s.host.as_str(), s.port))
                        .await
                        .map_err(network_error)
                })
                .await?;
            tcp.set_nodelay(true).map_err(network_error)?;
            self.timed(AsyncSmtpConnection::connect_with_transport(
                Box::new(tcp),
                &self.hello,
            ))
            .await?
        };
        match (s.tls, &self.tls) {
            (TlsMode::Required, Some(tls)) => {
                self.timed(conn.starttls(tls.clone(), &self.hello)).await?
            }
            (TlsMode::Opportunistic, Some(tls)) if conn.can_starttls() => {
                self.timed(conn.starttls(tls.clone(), &self.hello)).await?
            }
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            self.timed(conn.auth(DEFAULT_MECHANISMS, credentials))
                .await?;
        }
        Ok(conn)
    }
}

/// Why the pool could not get a message accepted.
#[derive(Debug)]
pub enum PoolError {
    /// What the SMTP client reported (server replies, TLS, protocol).
    Smtp(Error),
    /// The socket could not be opened.
    Network(std::io::Error),
    /// The server did not answer within `mail.timeout_secs`.
    Timeout,
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Smtp(e) => write!(f, "{e}"),
            PoolError::Network(e) => write!(f, "cannot reach the SMTP server: {e}"),
            PoolError::Timeout => write!(f, "the SMTP server did not answer in time"),
        }
    }
}

impl From<Error> for PoolError {
    fn from(e: Error) -> Self {
        PoolError::Smtp(e)
    }
}

fn network_error(e: std::io::Error) -> PoolError {
    PoolError::Network(e)
}
