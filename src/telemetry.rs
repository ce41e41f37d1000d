//! Logging set-up.
//!
//! Dependencies that speak the wire (hyper, reqwest and tower-http with URLs holding
//! tokens, sqlx with statements) are held at `warn` whatever `RUST_LOG` says, unless
//! `BREAKFAST_LOG_WIRE=1` asks for them. The SMTP dialogue, with its addresses and the
//! relay's password, is never logged: the client is ours (`mail::session`) and says
//! nothing of it.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Targets whose debug output is wire traffic.
const WIRE_TARGETS: &[&str] = &[
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
        .with_writer(std::io::stderr);
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
    filter
}
