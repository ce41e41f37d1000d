//! The bounce mailbox: poll an IMAP folder, handle each new message, then flag it.
//!
//! A message is flagged `$BreakfastDone` only after its outcome is committed, and the
//! outcome's transaction also records the message's content hash. So a crash between the
//! two leaves an unflagged message whose hash is known: the next round flags it without
//! applying it again, and several processes polling one mailbox apply each message once.
//! Messages are flagged, never deleted: the mailbox keeps the originals.

use std::time::Duration;

use async_imap::{Client, Session};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use super::apply::{self, Handled, Source};
use crate::{app::App, config::Secret, shutdown::Shutdown};

/// The keyword that marks a message as handled.
pub const DONE_KEYWORD: &str = "$BreakfastDone";

/// Messages handled per connection before the round ends (the next starts at once).
const ROUND_LIMIT: usize = 200;

const IO_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapTls {
    /// imaps:// — TLS from the first byte.
    Implicit,
    /// imap:// — STARTTLS, refused if the server does not offer it.
    StartTls,
    /// imap://…?tls=none — plain text, loopback only.
    None,
}

#[derive(Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: ImapTls,
    pub user: String,
    pub password: Secret,
    pub mailbox: String,
}

impl std::fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "imap {}:{} ({:?}) mailbox {:?}",
            self.host, self.port, self.tls, self.mailbox
        )
    }
}

/// Reads `imap://user:pass@host:port/MAILBOX[?tls=none]` or `imaps://…`.
pub fn parse_imap_url(raw: &str) -> anyhow::Result<ImapSettings> {
    let url =
        url::Url::parse(raw).map_err(|e| anyhow::anyhow!("bounces.imap_url is not a URL: {e}"))?;
    let implicit = match url.scheme() {
        "imaps" => true,
        "imap" => false,
        other => {
            anyhow::bail!("bounces.imap_url must start with imap:// or imaps://, not {other}://")
        }
    };
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("bounces.imap_url has no host"))?
        .trim_matches(['[', ']'])
        .to_string();
    let plain = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
    let tls = match (implicit, plain) {
        (true, true) => anyhow::bail!("bounces.imap_url: imaps:// and tls=none contradict"),
        (true, false) => ImapTls::Implicit,
        (false, false) => ImapTls::StartTls,
        (false, true) => ImapTls::None,
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls == ImapTls::None && !loopback {
        anyhow::bail!("bounces.imap_url: tls=none is only allowed for a loopback server");
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mailbox = decode(url.path().trim_start_matches('/'));
    Ok(ImapSettings {
        port: url.port().unwrap_or(if implicit { 993 } else { 143 }),
        host,
        tls,
        user: decode(url.username()),
        password: Secret::new(decode(url.password().unwrap_or_default())),
        mailbox: if mailbox.is_empty() {
            "INBOX".into()
        } else {
            mailbox
        },
    })
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundReport {
    pub seen: usize,
    pub applied: usize,
    pub already_done: usize,
    pub no_action: usize,
    pub unmatched: usize,
}

/// Starts polling when `bounces.imap_url` is set.
pub fn spawn(app: &App, shutdown: &Shutdown) -> Option<tokio::task::JoinHandle<()>> {
    if app.config.bounces.imap_url.is_empty() {
        return None;
    }
    let settings = match parse_imap_url(app.config.bounces.imap_url.expose()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "bounce mailbox not polled");
            return None;
        }
    };
    let every = Duration::from_secs(app.config.bounces.poll_secs.max(1));
    let app = app.clone();
    let stop = shutdown.clone();
    Some(crate::shutdown::every(
        "bounce mailbox",
        every,
        shutdown.clone(),
        move || {
            let app = app.clone();
            let settings = settings.clone();
            let stop = stop.clone();
            async move {
                // Drain the mailbox round by round, stopping early on shutdown.
                loop {
                    let report = poll_once(&app, &settings).await?;
                    if report.seen < ROUND_LIMIT || stop.is_triggered() {
                        return Ok(());
                    }
                }
            }
        },
    ))
}

/// Connects, handles up to [`ROUND_LIMIT`] unflagged messages, and logs out.
pub async fn poll_once(app: &App, settings: &ImapSettings) -> anyhow::Result<RoundReport> {
    let tcp = tokio::time::timeout(
        IO_TIMEOUT,
        TcpStream::connect((settings.host.as_str(), settings.port)),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "IMAP server {}:{} did not answer",
            settings.host,
            settings.port
        )
    })?
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot reach IMAP server {}:{}: {e}",
            settings.host,
            settings.port
        )
    })?;
    match settings.tls {
        ImapTls::Implicit => {
            let tls = tls_connect(app, &settings.host, tcp).await?;
            let mut client = Client::new(tls);
            read_greeting(&mut client).await?;
            work(app, settings, client).await
        }
        ImapTls::StartTls => {
            let mut client = Client::new(tcp);
            read_greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| anyhow::anyhow!("IMAP server refused STARTTLS: {e}"))?;
            let tls = tls_connect(app, &settings.host, client.into_inner()).await?;
            work(app, settings, Client::new(tls)).await
        }
        ImapTls::None => {
            let mut client = Client::new(tcp);
            read_greeting(&mut client).await?;
            work(app, settings, client).await
        }
    }
}

async fn read_greeting<T>(client: &mut Client<T>) -> anyhow::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match tokio::time::timeout(IO_TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => anyhow::bail!("IMAP server closed the connection before its greeting"),
        Ok(Err(e)) => anyhow::bail!("IMAP greeting: {e}"),
        Err(_) => anyhow::bail!("IMAP server sent no greeting"),
    }
}

async fn tls_connect(
    app: &App,
    host: &str,
    tcp: TcpStream,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let config =
        crate::tls::client_config(&app.config.bounces.imap_ca_file, "bounces.imap_ca_file")?;
    let name = crate::tls::server_name(host, "IMAP")?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| anyhow::anyhow!("TLS with the IMAP server failed: {e}"))
}

async fn work<T>(
    app: &App,
    settings: &ImapSettings,
    client: Client<T>,
) -> anyhow::Result<RoundReport>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let mut session = client
        .login(&settings.user, settings.password.expose())
        .await
        .map_err(|(e, _)| anyhow::anyhow!("IMAP login refused: {e}"))?;
    let result = drain(app, settings, &mut session).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
    result
}

async fn drain<T>(
    app: &App,
    settings: &ImapSettings,
    session: &mut Session<T>,
) -> anyhow::Result<RoundReport>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    timed(session.select(&settings.mailbox))
        .await?
        .map_err(|e| anyhow::anyhow!("cannot open mailbox {:?}: {e}", settings.mailbox))?;
    let mut uids: Vec<u32> =
        timed(session.uid_search(format!("UNKEYWORD {DONE_KEYWORD} UNDELETED")))
            .await??
            .into_iter()
            .collect();
    uids.sort_unstable();
    uids.truncate(ROUND_LIMIT);
    let mut report = RoundReport::default();
    for uid in uids {
        report.seen += 1;
        let handled = handle_uid(app, session, uid).await?;
        match handled {
            Some(Handled::Applied { .. }) => report.applied += 1,
            Some(Handled::NoAction(_)) => report.no_action += 1,
            Some(Handled::Unmatched(_)) => report.unmatched += 1,
            Some(Handled::Duplicate) | None => report.already_done += 1,
        }
        // Only now, with the outcome committed, is the message marked done.
        let flagged: Vec<_> = timed(async {
            session
                .uid_store(
                    uid.to_string(),
                    format!("+FLAGS.SILENT (\\Seen {DONE_KEYWORD})"),
                )
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?
        .map_err(|e| anyhow::anyhow!("IMAP flagging of message UID {uid} failed: {e}"))?;
        drop(flagged);
    }
    if report.seen > 0 {
        tracing::info!(mailbox = %settings.mailbox, seen = report.seen, applied = report.applied,
            already_done = report.already_done, no_action = report.no_action,
            unmatched = report.unmatched, "bounce mailbox round");
    }
    Ok(report)
}

/// Fetches and handles one message; `None` when it was handled before.
async fn handle_uid<T>(
    app: &App,
    session: &mut Session<T>,
    uid: u32,
) -> anyhow::Result<Option<Handled>>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let size = fetch_one(session, uid, "(UID RFC822.SIZE)")
        .await?
        .and_then(|f| f.size)
        .unwrap_or(0) as usize;
    let max = app.config.bounces.max_message_bytes.max(1024);
    let (query, oversize) = if size > max {
        ("(UID BODY.PEEK[HEADER])", true)
    } else {
        ("(UID BODY.PEEK[])", false)
    };
    let Some(fetch) = fetch_one(session, uid, query).await? else {
        // Expunged by someone else between the search and the fetch.
        return Ok(None);
    };
    let raw = if oversize {
        fetch.header().unwrap_or_default().to_vec()
    } else {
        fetch.body().unwrap_or_default().to_vec()
    };
    let key = format!("mail:{}", hex::encode(Sha256::digest(&raw)));
    if app.store.is_bounce_processed(&key).await? {
        return Ok(None);
    }
    let src = Source {
        name: "mailbox",
        key,
        resolves_unmatched: None,
    };
    let handled = if oversize {
        let why = format!(
            "message of {size} bytes is larger than bounces.max_message_bytes ({max}); its headers are kept"
        );
        apply::keep_unreadable(app, &src, &why, &raw).await?
    } else {
        apply::handle_message(app, src, &raw).await?
    };
    Ok(Some(handled))
}

async fn fetch_one<T>(
    session: &mut Session<T>,
    uid: u32,
    query: &str,
) -> anyhow::Result<Option<async_imap::types::Fetch>>
where
    T: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let fetches: Vec<_> = timed(async {
        session
            .uid_fetch(uid.to_string(), query)
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?
    .map_err(|e| anyhow::anyhow!("IMAP fetch of message UID {uid} failed: {e}"))?;
    Ok(fetches.into_iter().find(|f| f.uid == Some(uid)))
}

/// Bounds one IMAP exchange, so a server that stops answering ends the round.
async fn timed<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    tokio::time::timeout(IO_TIMEOUT, f)
        .await
        .map_err(|_| anyhow::anyhow!("IMAP server stopped answering"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_and_plain_text_is_loopback_only() {
        let s = parse_imap_url("imaps://b%40x:p%3Ass@mail.example.org/Bounces").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.org", 993, ImapTls::Implicit)
        );
        assert_eq!((s.user.as_str(), s.password.expose()), ("b@x", "p:ss"));
        assert_eq!(s.mailbox, "Bounces");
        let s = parse_imap_url("imap://u:p@mail.example.org").unwrap();
        assert_eq!(
            (s.port, s.tls, s.mailbox.as_str()),
            (143, ImapTls::StartTls, "INBOX")
        );
        assert!(parse_imap_url("imap://u:p@mail.example.org?tls=none").is_err());
        assert!(parse_imap_url("imap://u:p@127.0.0.1:1143/INBOX?tls=none").is_ok());
        assert!(parse_imap_url("pop3://u:p@h").is_err());
        assert!(!format!("{s:?}").contains(":p@"));
    }
}
