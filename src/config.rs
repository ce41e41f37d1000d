//! Configuration: embedded defaults, then the user's file, then `BREAKFAST_*` variables.
//!
//! Every struct denies unknown fields so that a typo in a file is a start-up error naming
//! the key and the file, rather than a setting that silently does nothing.

use std::{fmt, net::SocketAddr, path::Path};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::{Deserialize, Serialize};

/// The defaults compiled into the binary, so `breakfast serve` works with no file at all.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Top-level environment variables that map onto top-level keys.
const TOP_LEVEL_ENV: &[&str] = &[
    "database_url",
    "listen",
    "base_url",
    "smtp_url",
    "secret",
    "log_format",
];

/// A value that must never reach a log line or a `Debug` dump.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "[redacted]"
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database_url: Secret,
    pub listen: SocketAddr,
    pub base_url: String,
    pub smtp_url: Secret,
    pub secret: Secret,
    pub log_format: LogFormat,
    pub newsletter: NewsletterConfig,
    pub mail: MailConfig,
    pub queue: QueueConfig,
    pub subscribers: SubscribersConfig,
    pub digest: DigestConfig,
    pub ingest: IngestConfig,
    pub schedule: ScheduleConfig,
    pub admin: AdminConfig,
    pub metrics: MetricsConfig,
    pub retention: RetentionConfig,
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewsletterConfig {
    pub name: String,
    pub pitch: String,
    pub from: String,
    pub reply_to: String,
    pub postal_address: String,
    pub list_id: String,
    pub unsubscribe_mailto: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub outbox_dir: String,
    pub pool_size: u32,
    pub concurrency: usize,
    pub rate_limit_per_second: u32,
    pub timeout_secs: u64,
    pub dkim_domain: String,
    pub dkim_selector: String,
    pub dkim_private_key_file: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub poll_interval_ms: u64,
    pub batch_size: usize,
    pub delivery_workers: usize,
    pub max_delivery_attempts: u32,
    pub lease_secs: u64,
    pub shutdown_timeout_secs: u64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubscribersConfig {
    pub confirm_token_days: u32,
    pub send_welcome: bool,
    pub rate_limit_per_minute: u32,
    pub resend_confirmation_minutes: u32,
    pub weekly_day: String,
    pub bounce_threshold: u32,
    /// Largest CSV file the admin's import accepts, in MB.
    pub import_max_mb: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    pub subject_pattern: String,
    pub lookback_hours: u32,
    pub max_articles: usize,
    pub summary_chars: usize,
    pub section_order: Vec<String>,
    pub skip_when_empty: bool,
    pub on_this_day: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub poll_minutes: u64,
    pub timeout_secs: u64,
    pub max_bytes: u64,
    pub max_redirects: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub send_time: String,
    pub time_zone: String,
    pub days: Vec<String>,
    pub grace_minutes: u32,
    pub tick_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub api_token: Secret,
    pub session_hours: u32,
    pub max_failed_logins: u32,
    pub lockout_minutes: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub token: Secret,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub done_jobs_days: u32,
    pub delivery_details_days: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub url: String,
    pub name: String,
    #[serde(default)]
    pub section: Option<String>,
}

/// Why the configuration could not be loaded, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(String),
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` (when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Missing(path.display().to_string()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(environment());
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe_figment_error(e)))?;
        config.check()?;
        Ok(config)
    }

    /// Loads defaults plus a TOML string: for tests and examples.
    pub fn from_toml_str(overrides: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Toml::string(DEFAULT_TOML))
            .merge(Toml::string(overrides))
            .extract()
            .map_err(|e| ConfigError::Invalid(describe_figment_error(e)))?;
        config.check()?;
        Ok(config)
    }

    /// Checks that span several keys, which serde cannot express.
    fn check(&self) -> Result<(), ConfigError> {
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(ConfigError::Invalid(
                "database_url must start with sqlite:// or postgres://".into(),
            ));
        }
        if url::Url::parse(&self.base_url).is_err() {
            return Err(ConfigError::Invalid(format!(
                "base_url {:?} is not an absolute URL (e.g. https://news.example.org)",
                self.base_url
            )));
        }
        if self.queue.batch_size == 0 || self.mail.concurrency == 0 || self.mail.pool_size == 0 {
            return Err(ConfigError::Invalid(
                "queue.batch_size, mail.concurrency and mail.pool_size must be at least 1".into(),
            ));
        }
        if self.schedule.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "schedule.time_zone {:?} is not an IANA time zone (e.g. Europe/London)",
                self.schedule.time_zone
            )));
        }
        Ok(())
    }

    /// The base URL without a trailing slash, ready to have paths appended.
    pub fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.expose().starts_with("postgres")
    }

    /// Whether cookies must carry `Secure`: only when users reach us over https.
    pub fn is_https(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// `BREAKFAST_*` variables; nested keys use a double underscore. Variables that are not
/// settings (e.g. `BREAKFAST_CONFIG`, read by the CLI) are left alone.
fn environment() -> Env {
    Env::prefixed("BREAKFAST_").split("__").filter(|key| {
        let key = key.as_str().to_ascii_lowercase();
        key.contains('.') || TOP_LEVEL_ENV.contains(&key.as_str())
    })
}

/// Figment's messages name the key and the source; keep them on one line.
fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref().map(|s| s.to_string()))
                .or_else(|| e.metadata.as_ref().map(|m| m.name.to_string()))
                .unwrap_or_else(|| "configuration".into());
            let what = e.kind.to_string();
            if key.is_empty() {
                format!("{what} (in {source})")
            } else {
                format!("{what} for key `{key}` (in {source})")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load() {
        let c = Config::from_toml_str("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.smtp_url.is_empty());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml_str("databse_url = 'x'")
            .unwrap_err()
            .to_string();
        assert!(err.contains("databse_url"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let err = Config::from_toml_str("[mail]\npool_size = 'many'")
            .unwrap_err()
            .to_string();
        assert!(err.contains("mail.pool_size"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config::from_toml_str("secret = 'hunter2'\nsmtp_url='smtp://u:pw@h'").unwrap();
        let dump = format!("{c:?}");
        assert!(
            !dump.contains("hunter2") && !dump.contains(":pw@"),
            "{dump}"
        );
    }
}
