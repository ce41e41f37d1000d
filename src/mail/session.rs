//! One SMTP client session: ours rather than lettre's, for pipelining.
//!
//! lettre's client writes a command and waits for its reply before writing the next, so a
//! message costs four round trips (MAIL, RCPT, DATA, the content) and cannot be told
//! otherwise. With PIPELINING (RFC 2920), which Postfix, Exim and the large relays offer,
//! MAIL, RCPT and DATA go out in one write and the content in a second: two round trips.
//! On a busy sending machine a round trip is mostly two processes waiting for a core, so
//! this is what a pooled connection could still gain. A server that does not offer
//! PIPELINING gets one command at a time.
//!
//! What it speaks: the greeting; EHLO (every relay Breakfast can use speaks ESMTP);
//! STARTTLS, refusing a server that sends anything between its `220` and the TLS handshake
//! (bytes sent in clear there would be read as if they came over TLS: the STARTTLS
//! command-injection flaw); AUTH PLAIN and LOGIN; MAIL with `SIZE`, `BODY=8BITMIME` and
//! `SMTPUTF8` when the message needs them; dot-stuffing; RSET after a refused transaction;
//! NOOP; QUIT. Nothing here logs: the wire carries addresses and credentials.

use std::sync::Arc;

use lettre::address::Envelope;
use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use super::smtp::{SmtpSettings, TlsMode};

/// Longest reply line read (RFC 5321 allows 512 octets; servers stay far below this).
const MAX_REPLY_LINE: u64 = 4096;
/// Most lines in one reply (an EHLO answer has a dozen).
const MAX_REPLY_LINES: usize = 64;

/// What a session runs over: TCP, or TLS on TCP.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// A server reply: its code and its text, one entry per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    fn is(&self, class: u16) -> bool {
        self.code / 100 == class
    }

    pub fn is_permanent(&self) -> bool {
        self.is(5)
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" "))
    }
}

/// The step a reply answered, so an error can say where a session failed, and so the
/// caller can tell a refused message from a relay that refuses everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Greeting,
    Hello,
    StartTls,
    Auth,
    Mail,
    Recipient,
    Data,
    Content,
}

impl Step {
    /// Whether a refusal at this step is about the message (its sender, recipient or
    /// content) rather than about the connection or the relay's set-up.
    pub fn is_about_the_message(self) -> bool {
        matches!(
            self,
            Step::Mail | Step::Recipient | Step::Data | Step::Content
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The server answered, but not with what this step needs.
    #[error("{reply}")]
    Refused { step: Step, reply: Reply },
    /// The connection failed. `answered` says whether the server had answered any part of
    /// the message's transaction first: if not, it cannot have taken the message.
    #[error("the connection to the SMTP server failed: {error}")]
    Io {
        error: std::io::Error,
        answered: bool,
    },
    /// The server does not speak SMTP as it should.
    #[error("the SMTP server broke the protocol: {0}")]
    Protocol(String),
    /// TLS could not be set up or the certificate did not verify.
    #[error("TLS with the SMTP server failed: {0}")]
    Tls(String),
    /// The server lacks something this message or the configuration needs.
    #[error("{0}")]
    Unsupported(String),
}

impl SessionError {
    fn answered(self) -> Self {
        match self {
            SessionError::Io { error, .. } => SessionError::Io {
                error,
                answered: true,
            },
            other => other,
        }
    }
}

impl From<std::io::Error> for SessionError {
    fn from(error: std::io::Error) -> Self {
        SessionError::Io {
            error,
            answered: false,
        }
    }
}

/// What the server's EHLO answer offers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extensions {
    pub pipelining: bool,
    pub starttls: bool,
    pub eight_bit_mime: bool,
    pub smtp_utf8: bool,
    pub size: bool,
    /// SASL mechanisms, upper case.
    pub auth: Vec<String>,
}

impl Extensions {
    fn from_ehlo(reply: &Reply) -> Extensions {
        let mut ext = Extensions::default();
        // The first line is the server's name and greeting, not an extension.
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => ext.pipelining = true,
                "STARTTLS" => ext.starttls = true,
                "8BITMIME" => ext.eight_bit_mime = true,
                "SMTPUTF8" => ext.smtp_utf8 = true,
                "SIZE" => ext.size = true,
                "AUTH" => ext.auth = words.map(|w| w.to_ascii_uppercase()).collect(),
                _ => {}
            }
        }
        ext
    }
}

/// Opens sessions to one server: its address, how to secure the connection, the
/// credentials and the name to say EHLO with.
pub struct Connector {
    settings: SmtpSettings,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    hello: String,
}

impl Connector {
    /// `ca_file`: extra trusted certificates (`mail.smtp_ca_file`), for a relay with a
    /// private CA.
    pub fn new(settings: &SmtpSettings, ca_file: &str) -> anyhow::Result<Connector> {
        let tls = match settings.tls {
            TlsMode::None => None,
            _ => Some((
                crate::tls::client_config(ca_file, "mail.smtp_ca_file")?,
                crate::tls::server_name(&settings.host, "SMTP")?,
            )),
        };
        Ok(Connector {
            settings: settings.clone(),
            tls,
            hello: lettre::transport::smtp::extension::ClientId::default().to_string(),
        })
    }

    /// A session ready for mail: greeted, secured as configured, signed in.
    pub async fn open(&self) -> Result<Session, SessionError> {
        let mut session = self.hello().await?;
        if let Some((user, password)) = self.credentials() {
            session.authenticate(user, password).await?;
        }
        Ok(session)
    }

    /// A session that has said EHLO and, as configured, STARTTLS, but has not signed in
    /// (what `breakfast doctor` looks at).
    pub async fn hello(&self) -> Result<Session, SessionError> {
        let tcp = TcpStream::connect((self.settings.host.as_str(), self.settings.port)).await?;
        tcp.set_nodelay(true)?;
        if self.settings.tls == TlsMode::Implicit {
            let tls = self.handshake(tcp).await?;
            return Session::start(Box::new(tls) as Box<dyn Io>, &self.hello).await;
        }
        let session = Session::start(tcp, &self.hello).await?;
        // Whether to upgrade is decided on what the server offered in clear; a server
        // that stops offering it is refused under tls=required, as it should be.
        let upgrade = match self.settings.tls {
            TlsMode::Required if !session.extensions.starttls => {
                return Err(SessionError::Unsupported(
                    "the SMTP server does not offer STARTTLS, and smtp_url says tls=required"
                        .into(),
                ));
            }
            TlsMode::Required => true,
            TlsMode::Opportunistic => session.extensions.starttls,
            TlsMode::None | TlsMode::Implicit => false,
        };
        if !upgrade {
            return session.boxed();
        }
        let tcp = session.start_tls().await?;
        let tls = self.handshake(tcp).await?;
        // No second greeting over TLS: the client speaks first (RFC 3207 §4.2).
        Session::over(Box::new(tls) as Box<dyn Io>, &self.hello).await
    }

    fn credentials(&self) -> Option<(&str, &str)> {
        let user = self.settings.username.as_deref()?;
        Some((user, self.settings.password.as_deref().unwrap_or("")))
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SessionError> {
        let Some((config, name)) = &self.tls else {
            return Err(SessionError::Tls("TLS is not configured".into()));
        };
        tokio_rustls::TlsConnector::from(config.clone())
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| SessionError::Tls(e.to_string()))
    }
}

/// An open, greeted connection to the SMTP server. Its stream is a concrete TCP stream
/// only while STARTTLS may still follow (see [`Connector::hello`]).
pub struct Session<S: Io = Box<dyn Io>> {
    stream: BufReader<S>,
    extensions: Extensions,
    /// Set when the connection is in an unknown state (an I/O error, a closing server):
    /// it must not carry another message.
    broken: bool,
}

impl Session<TcpStream> {
    /// Sends STARTTLS and hands back the plain TCP stream for the handshake.
    async fn start_tls(mut self) -> Result<TcpStream, SessionError> {
        self.write(b"STARTTLS\r\n").await?;
        self.expect(Step::StartTls, 2).await?;
        self.into_stream()
    }

    /// The same session over a boxed stream, as the pool keeps them.
    fn boxed(self) -> Result<Session, SessionError> {
        let extensions = self.extensions.clone();
        let io: Box<dyn Io> = Box::new(self.into_stream()?);
        Ok(Session {
            extensions,
            ..Session::fresh(io)
        })
    }

    /// The stream without its read buffer, which must be empty: the server has nothing
    /// to say until it is asked, and bytes sent early after a STARTTLS `220` would be
    /// taken as if they came over TLS.
    fn into_stream(self) -> Result<TcpStream, SessionError> {
        if !self.stream.buffer().is_empty() {
            return Err(SessionError::Protocol(
                "the server sent data nobody asked for (before the TLS handshake)".into(),
            ));
        }
        Ok(self.stream.into_inner())
    }
}

impl<S: Io> Session<S> {
    /// Reads the server's greeting, then says EHLO.
    async fn start(io: S, hello: &str) -> Result<Session<S>, SessionError> {
        let mut session = Session::fresh(io);
        session.expect(Step::Greeting, 2).await?;
        session.say_hello(hello).await?;
        Ok(session)
    }

    /// Says EHLO on a stream whose greeting was read before (a STARTTLS upgrade).
    async fn over(io: S, hello: &str) -> Result<Session<S>, SessionError> {
        let mut session = Session::fresh(io);
        session.say_hello(hello).await?;
        Ok(session)
    }

    fn fresh(io: S) -> Session<S> {
        Session {
            stream: BufReader::new(io),
            extensions: Extensions::default(),
            broken: false,
        }
    }

    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    async fn say_hello(&mut self, hello: &str) -> Result<(), SessionError> {
        self.write(format!("EHLO {hello}\r\n").as_bytes()).await?;
        let reply = self.expect(Step::Hello, 2).await?;
        self.extensions = Extensions::from_ehlo(&reply);
        Ok(())
    }

    async fn authenticate(&mut self, user: &str, password: &str) -> Result<(), SessionError> {
        use base64::Engine;
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let offers = |m: &str| self.extensions.auth.iter().any(|a| a == m);
        if offers("PLAIN") {
            let token = b64(format!("\0{user}\0{password}").as_bytes());
            self.write(format!("AUTH PLAIN {token}\r\n").as_bytes())
                .await?;
        } else if offers("LOGIN") {
            self.write(b"AUTH LOGIN\r\n").await?;
            self.expect(Step::Auth, 3).await?;
            self.write(format!("{}\r\n", b64(user.as_bytes())).as_bytes())
                .await?;
            self.expect(Step::Auth, 3).await?;
            self.write(format!("{}\r\n", b64(password.as_bytes())).as_bytes())
                .await?;
        } else {
            return Err(SessionError::Unsupported(
                "the SMTP server offers neither AUTH PLAIN nor AUTH LOGIN for the user name in smtp_url".into(),
            ));
        }
        self.expect(Step::Auth, 2).await?;
        Ok(())
    }

    /// Sends one message. `Ok` is the server's acceptance; a refusal leaves the session
    /// ready for the next message (after RSET) unless the connection itself failed.
    pub async fn send(
        &mut self,
        envelope: &Envelope,
        content: &[u8],
    ) -> Result<Reply, SessionError> {
        let result = self.transaction(envelope, content).await;
        match &result {
            Err(SessionError::Refused { reply, .. }) if reply.code == 421 => self.broken = true,
            Err(SessionError::Io { .. } | SessionError::Protocol(_)) => self.broken = true,
            _ => {}
        }
        result
    }

    /// Whether the server still answers (NOOP).
    pub async fn noop(&mut self) -> bool {
        self.simple(b"NOOP\r\n").await
    }

    /// Says goodbye without waiting for the answer: the connection closes either way.
    pub async fn quit(mut self) {
        let _ = self.write(b"QUIT\r\n").await;
        let _ = self.stream.get_mut().shutdown().await;
    }

    async fn transaction(
        &mut self,
        envelope: &Envelope,
        content: &[u8],
    ) -> Result<Reply, SessionError> {
        let commands = self.envelope_commands(envelope, content)?;
        let replies = if self.extensions.pipelining {
            self.write(commands.concat().as_bytes()).await?;
            let mut replies = Vec::with_capacity(commands.len());
            for _ in &commands {
                let reply = self.read_reply().await;
                let reply = if replies.is_empty() {
                    reply?
                } else {
                    reply.map_err(SessionError::answered)?
                };
                replies.push(reply);
            }
            replies
        } else {
            let mut replies = Vec::with_capacity(commands.len());
            for command in &commands {
                let answered = !replies.is_empty();
                let wrote = self.write(command.as_bytes()).await;
                let reply = match wrote {
                    Ok(()) => self.read_reply().await,
                    Err(e) => Err(e),
                };
                let reply = reply.map_err(|e| if answered { e.answered() } else { e })?;
                let refused = !accepts(step_at(replies.len(), commands.len()), &reply);
                replies.push(reply);
                if refused {
                    break;
                }
            }
            replies
        };
        let refusal = replies
            .iter()
            .enumerate()
            .map(|(i, r)| (step_at(i, commands.len()), r))
            .find(|(step, r)| !accepts(*step, r));
        let data_open = replies.len() == commands.len() && replies[commands.len() - 1].code == 354;
        if let Some((step, reply)) = refusal {
            let error = SessionError::Refused {
                step,
                reply: reply.clone(),
            };
            if data_open {
                // Some recipients were refused but the server took DATA: it now waits for
                // content that must not be sent. Hanging up before the final dot makes it
                // discard the transaction (RFC 5321 §4.1.1.4).
                self.broken = true;
            } else {
                self.reset().await;
            }
            return Err(error);
        }
        // The content, dot-stuffed, then the final dot.
        self.write(&dot_stuffed(content))
            .await
            .map_err(SessionError::answered)?;
        let reply = self.read_reply().await.map_err(SessionError::answered)?;
        if reply.is(2) {
            Ok(reply)
        } else {
            Err(SessionError::Refused {
                step: Step::Content,
                reply,
            })
        }
    }

    /// MAIL, one RCPT per recipient and DATA, each with its CRLF.
    fn envelope_commands(
        &self,
        envelope: &Envelope,
        content: &[u8],
    ) -> Result<Vec<String>, SessionError> {
        let mut params = String::new();
        if self.extensions.size {
            params.push_str(&format!(" SIZE={}", content.len()));
        }
        if !content.is_ascii() {
            if !self.extensions.eight_bit_mime {
                return Err(SessionError::Unsupported(
                    "the message is 8-bit but the SMTP server does not offer 8BITMIME".into(),
                ));
            }
            params.push_str(" BODY=8BITMIME");
        }
        let from = envelope.from().map(|a| a.to_string()).unwrap_or_default();
        let non_ascii = !from.is_ascii()
            || envelope
                .to()
                .iter()
                .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii {
            if !self.extensions.smtp_utf8 {
                return Err(SessionError::Unsupported(
                    "an address is not ASCII but the SMTP server does not offer SMTPUTF8".into(),
                ));
            }
            params.push_str(" SMTPUTF8");
        }
        let mut commands = Vec::with_capacity(envelope.to().len() + 2);
        commands.push(format!("MAIL FROM:<{from}>{params}\r\n"));
        for to in envelope.to() {
            commands.push(format!("RCPT TO:<{to}>\r\n"));
        }
        commands.push("DATA\r\n".to_string());
        Ok(commands)
    }

    /// RSET after a refused transaction, so the next message starts clean; a server that
    /// does not take it leaves the session broken.
    async fn reset(&mut self) {
        self.simple(b"RSET\r\n").await;
    }

    /// A command without arguments that must get a 2xx; any other outcome leaves the
    /// session broken.
    async fn simple(&mut self, command: &[u8]) -> bool {
        let ok = async {
            self.write(command).await?;
            self.expect(Step::Hello, 2).await
        }
        .await
        .is_ok();
        if !ok {
            self.broken = true;
        }
        ok
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let io = self.stream.get_mut();
        io.write_all(bytes).await?;
        io.flush().await?;
        Ok(())
    }

    /// Reads a reply and checks its class (2 for 2xx, 3 for 3xx).
    async fn expect(&mut self, step: Step, class: u16) -> Result<Reply, SessionError> {
        let reply = self.read_reply().await?;
        if reply.is(class) {
            Ok(reply)
        } else {
            if reply.code == 421 {
                self.broken = true;
            }
            Err(SessionError::Refused { step, reply })
        }
    }

    async fn read_reply(&mut self) -> Result<Reply, SessionError> {
        let mut lines = Vec::new();
        let mut code = None;
        loop {
            let mut raw = Vec::new();
            let n = (&mut self.stream)
                .take(MAX_REPLY_LINE)
                .read_until(b'\n', &mut raw)
                .await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )
                .into());
            }
            if raw.last() != Some(&b'\n') {
                return Err(SessionError::Protocol("a reply line is too long".into()));
            }
            let (line_code, last, text) = parse_reply_line(&raw)?;
            if *code.get_or_insert(line_code) != line_code {
                return Err(SessionError::Protocol(
                    "the lines of one reply carry different codes".into(),
                ));
            }
            lines.push(text);
            if last {
                break;
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(SessionError::Protocol("a reply has too many lines".into()));
            }
        }
        Ok(Reply {
            code: code.unwrap_or_default(),
            lines,
        })
    }
}

/// The step the reply at `index` answers, in a transaction of `commands` commands
/// (MAIL, the RCPTs, DATA).
fn step_at(index: usize, commands: usize) -> Step {
    match index {
        0 => Step::Mail,
        i if i + 1 == commands => Step::Data,
        _ => Step::Recipient,
    }
}

/// Whether `reply` lets the transaction go on after `step`.
fn accepts(step: Step, reply: &Reply) -> bool {
    match step {
        Step::Data => reply.code == 354,
        _ => reply.is(2),
    }
}

/// One reply line: its code, whether it is the last line, and its text.
fn parse_reply_line(raw: &[u8]) -> Result<(u16, bool, String), SessionError> {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let bad = || {
        SessionError::Protocol(format!(
            "not an SMTP reply: {:?}",
            crate::ops::redact_addresses(&String::from_utf8_lossy(&line[..line.len().min(80)]))
        ))
    };
    let digits = line
        .get(..3)
        .filter(|d| d.iter().all(u8::is_ascii_digit))
        .ok_or_else(bad)?;
    let code = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(bad)?;
    if !(200..600).contains(&code) {
        return Err(bad());
    }
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return Err(bad()),
    };
    let text = String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned();
    Ok((code, last, text))
}

/// The content as it goes after DATA: a dot doubled at the start of every line (RFC 5321
/// §4.5.2), the last line ended, then the final `.` line.
fn dot_stuffed(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 8);
    let mut line_start = true;
    for &b in content {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !content.is_empty() && !content.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_of(wire: &str) -> Result<Reply, SessionError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, mut server) = tokio::io::duplex(64 * 1024);
            server.write_all(wire.as_bytes()).await.unwrap();
            drop(server);
            Session::fresh(client).read_reply().await
        })
    }

    #[test]
    fn replies_of_one_and_several_lines_are_read_whole() {
        let one = reply_of("250 2.0.0 queued as 4Bx\r\n").unwrap();
        assert_eq!(
            (one.code, one.lines.clone()),
            (250, vec!["2.0.0 queued as 4Bx".into()])
        );
        let ehlo = reply_of("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-AUTH PLAIN login\r\n250 STARTTLS\r\n").unwrap();
        assert_eq!(ehlo.lines.len(), 5);
        let ext = Extensions::from_ehlo(&ehlo);
        assert!(ext.pipelining && ext.size && ext.starttls && !ext.smtp_utf8);
        assert_eq!(ext.auth, vec!["PLAIN", "LOGIN"]);
        // A bare code and a bare LF are fine; the text may be empty.
        assert_eq!(reply_of("354\n").unwrap().code, 354);
    }

    #[test]
    fn what_is_not_an_smtp_reply_is_a_protocol_error() {
        for bad in [
            "HTTP/1.1 400 Bad Request\r\n",
            "25 short\r\n",
            "250x no separator\r\n",
            "999 out of range\r\n",
            "250-first\r\n550 other code\r\n",
        ] {
            assert!(
                matches!(reply_of(bad), Err(SessionError::Protocol(_))),
                "{bad:?}"
            );
        }
        let endless = format!("250 {}\r\n", "x".repeat(10_000));
        assert!(matches!(reply_of(&endless), Err(SessionError::Protocol(_))));
        let many = "250-x\r\n".repeat(100);
        assert!(matches!(reply_of(&many), Err(SessionError::Protocol(_))));
        // A reply cut off by a closed connection is an I/O error: nothing was answered.
        assert!(matches!(
            reply_of("250-partial\r\n"),
            Err(SessionError::Io {
                answered: false,
                ..
            })
        ));
    }

    #[test]
    fn content_is_dot_stuffed_and_ended() {
        assert_eq!(dot_stuffed(b"a\r\n.b\r\n.\r\n"), b"a\r\n..b\r\n..\r\n.\r\n");
        assert_eq!(dot_stuffed(b".first\r\nlast"), b"..first\r\nlast\r\n.\r\n");
        assert_eq!(dot_stuffed(b"no dots.\r\n"), b"no dots.\r\n.\r\n");
    }

    #[test]
    fn only_refusals_of_the_message_itself_are_about_the_message() {
        assert!(Step::Recipient.is_about_the_message());
        assert!(Step::Content.is_about_the_message());
        assert!(!Step::Auth.is_about_the_message());
        assert!(!Step::Greeting.is_about_the_message());
    }
}
