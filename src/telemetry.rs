//! Logging set-up.
//!
//! Dependencies that speak the wire (lettre's SMTP dialogue with credentials, recipients
//! and whole messages; hyper, reqwest and tower-http with URLs holding tokens) are held at
//! `warn` whatever `RUST_LOG` says, unless `BREAKFAST_LOG_WIRE=1` asks for them. Even then,
//! SMTP lines other than plain protocol verbs (AUTH and its base64 answers) are dropped.

use std::io::{self, Write};

use tracing_subscriber::{EnvFilter, fmt, fmt::MakeWriter};

use crate::config::LogFormat;

/// Targets whose debug output is wire traffic.
const WIRE_TARGETS: &[&str] = &[
    "lettre",
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "rustls",
    "tower_http",
    "sqlx",
];

/// The environment variable that lets wire logs through.
pub const WIRE_SWITCH: &str = "BREAKFAST_LOG_WIRE";

/// Human-readable lines by default, JSON lines for collectors; `RUST_LOG` overrides the
/// level. Chatty dependencies are held at `warn` so that our own lines stand out.
pub fn init(format: LogFormat) {
    let wire = std::env::var(WIRE_SWITCH).is_ok_and(|v| v == "1");
    let builder = fmt()
        .with_env_filter(filter(wire))
        .with_writer(ScrubbedStderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn filter(wire: bool) -> EnvFilter {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,apalis=warn,apalis_core=warn,apalis_sqlite=warn,apalis_postgres=warn")
    });
    if !wire {
        for target in WIRE_TARGETS {
            if let Ok(d) = format!("{target}=warn").parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    // lettre logs SASL challenges here, decoded.
    if let Ok(d) = "lettre::transport::smtp::commands=warn".parse() {
        filter = filter.add_directive(d);
    }
    filter
}

/// SMTP commands that carry no secret; any other line lettre writes (AUTH, the base64
/// answers to its challenges) is dropped from the log.
const SAFE_SMTP_VERBS: &[&str] = &[
    "EHLO", "HELO", "MAIL", "RCPT", "DATA", "QUIT", "RSET", "NOOP", "STARTTLS", ".",
];

/// Whether a formatted log line would reveal SMTP credentials.
fn reveals_credentials(line: &str) -> bool {
    let Some(i) = line.find("Wrote: ") else {
        return line.to_ascii_lowercase().contains("auth ") && line.contains("lettre");
    };
    let written = line[i + "Wrote: ".len()..].trim_start();
    let verb = written
        .split(|c: char| c.is_whitespace() || c == '\\' || c == ':')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    !SAFE_SMTP_VERBS.contains(&verb.as_str())
}

/// Standard error, one event at a time, minus lines that would reveal credentials.
struct ScrubbedStderr;

impl<'a> MakeWriter<'a> for ScrubbedStderr {
    type Writer = EventBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        EventBuffer(Vec::new())
    }
}

/// Collects one formatted event and writes it out (or not) when dropped.
struct EventBuffer(Vec<u8>);

impl Write for EventBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for EventBuffer {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let mut err = io::stderr().lock();
        if reveals_credentials(&text) {
            let _ = writeln!(
                err,
                "[a log line of the SMTP dialogue was dropped: it may hold credentials]"
            );
        } else {
            let _ = err.write_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_lines_never_reach_the_log() {
        let line = |s: &str| {
            format!(
                "2026-06-01T08:00:00Z DEBUG lettre::transport::smtp::client::async_connection: {s}"
            )
        };
        assert!(reveals_credentials(&line(
            "Wrote: AUTH PLAIN AHVzZXIAcGFzcw==\\r\\n"
        )));
        assert!(reveals_credentials(&line("Wrote: dXNlcg==\\r\\n")));
        assert!(!reveals_credentials(&line(
            "Wrote: MAIL FROM:<a@example.org>\\r\\n"
        )));
        assert!(!reveals_credentials(&line("Wrote: EHLO host\\r\\n")));
        assert!(!reveals_credentials("INFO breakfast: digest sent"));
    }
}
