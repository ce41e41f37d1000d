//! Logging set-up.

use tracing_subscriber::{EnvFilter, fmt};

use crate::config::LogFormat;

/// Human-readable lines by default, JSON lines for collectors; `RUST_LOG` overrides the
/// level. Chatty dependencies are held at `warn` so that our own lines stand out.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,apalis=warn,apalis_core=warn,apalis_sqlite=warn,apalis_postgres=warn,tower_http=warn,lettre=warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
