//! Mail in tests: a real SMTP server (aiosmtpd) in a child process, the `.eml` files it
//! and the outbox write, and a MIME parser the project did not write.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// Reads the `.eml` files of a folder, oldest first, waiting until there are `n`.
pub async fn wait_for_eml(dir: &Path, n: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let messages = read_eml(dir);
        if messages.len() >= n || Instant::now() > deadline {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `.eml` files of a folder, in name order (oldest first).
pub fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
}

pub fn read_eml(dir: &Path) -> Vec<String> {
    eml_files(dir)
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// A real SMTP server (aiosmtpd) in a child process, writing what it accepts to a folder.
pub struct SmtpServer {
    pub port: u16,
    pub dir: TempDir,
    child: Child,
}

#[derive(Default, Clone)]
pub struct SmtpBehaviour {
    /// RCPT TO addresses matching this regex get 550.
    pub reject: Option<String>,
    /// Each address gets 451 this many times before being accepted.
    pub tempfail: u32,
    pub delay_ms: u64,
    /// The first this-many messages have their connection closed during DATA.
    pub disconnect: u32,
    /// Advertise PIPELINING (RFC 2920) after EHLO.
    pub pipelining: bool,
    /// A folder holding `server.pem` and `server.key` (see [`super::tls`]): offer STARTTLS.
    pub tls_dir: Option<PathBuf>,
    /// With `tls_dir`: TLS from the first byte instead of STARTTLS.
    pub implicit_tls: bool,
    /// `user:password`: AUTH is required, with these credentials.
    pub auth: Option<String>,
}

impl SmtpServer {
    /// `None` (after saying so) when Python's aiosmtpd is missing, unless
    /// `BREAKFAST_TEST_REQUIRE_SMTP=1`, as in CI.
    pub async fn start(behaviour: SmtpBehaviour) -> Option<SmtpServer> {
        Self::start_on(free_port(), behaviour).await
    }

    pub async fn start_on(port: u16, behaviour: SmtpBehaviour) -> Option<SmtpServer> {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path())
            .arg("--tempfail")
            .arg(behaviour.tempfail.to_string())
            .arg("--delay-ms")
            .arg(behaviour.delay_ms.to_string())
            .arg("--disconnect")
            .arg(behaviour.disconnect.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(r) = &behaviour.reject {
            cmd.arg("--reject").arg(r);
        }
        if behaviour.pipelining {
            cmd.arg("--pipelining");
        }
        if let Some(dir) = &behaviour.tls_dir {
            cmd.arg("--tls-cert").arg(dir.join("server.pem"));
            cmd.arg("--tls-key").arg(dir.join("server.key"));
            if behaviour.implicit_tls {
                cmd.arg("--implicit-tls");
            }
        }
        if let Some(auth) = &behaviour.auth {
            cmd.arg("--auth").arg(auth);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return smtp_unavailable(&format!("cannot run python3: {e}")),
        };
        let stdout = child.stdout.take().unwrap();
        let ready = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            line
        });
        let line = tokio::time::timeout(Duration::from_secs(15), ready)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        if !line.starts_with("READY") {
            let _ = child.kill();
            return smtp_unavailable("aiosmtpd did not start (pip install aiosmtpd)");
        }
        Some(SmtpServer { port, dir, child })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        wait_for_eml(self.dir.path(), n, timeout).await
    }

    pub fn messages(&self) -> Vec<String> {
        read_eml(self.dir.path())
    }

    /// How many messages the server accepted so far (without reading them).
    pub fn accepted(&self) -> usize {
        eml_files(self.dir.path()).len()
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn smtp_unavailable(why: &str) -> Option<SmtpServer> {
    if std::env::var("BREAKFAST_TEST_REQUIRE_SMTP").is_ok_and(|v| v == "1") {
        panic!("an SMTP server is required (BREAKFAST_TEST_REQUIRE_SMTP=1): {why}");
    }
    eprintln!("SKIPPED: no SMTP server: {why}");
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A received message, parsed by a MIME library the project did not write.
pub struct Mail {
    pub raw: String,
    pub subject: String,
    pub to: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        let msg = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a MIME message");
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        Mail {
            raw: raw.to_string(),
            subject: msg.subject().unwrap_or_default().to_string(),
            to,
            text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            html: msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        }
    }

    /// The value of header `name` (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let msg = mail_parser::MessageParser::default().parse(self.raw.as_bytes())?;
        msg.header_raw(name).map(|v| {
            v.replace("\r\n", "")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
}

/// The first `http…` URL in `text` containing `needle`.
pub fn find_link(text: &str, needle: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>' || c == '\'')
        .find(|w| w.starts_with("http") && w.contains(needle))
        .map(|w| w.replace("&amp;", "&"))
}

/// Envelope recipient → messages the servers accepted for it, from each file's first line
/// (the server writes `X-Envelope-To:` there), without reading the rest.
pub fn received(servers: &[&SmtpServer]) -> HashMap<String, usize> {
    use std::io::BufRead;
    let mut counts = HashMap::new();
    for smtp in servers {
        for path in eml_files(smtp.dir.path()) {
            let mut line = String::new();
            let file = std::fs::File::open(&path).unwrap();
            std::io::BufReader::new(file).read_line(&mut line).unwrap();
            let to = line
                .strip_prefix("X-Envelope-To: ")
                .unwrap_or_default()
                .trim()
                .to_string();
            *counts.entry(to).or_insert(0) += 1;
        }
    }
    counts
}
