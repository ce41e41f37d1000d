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
    pub http: HttpConfig,
    pub metrics: MetricsConfig,
    pub retention: RetentionConfig,
    pub bounces: BouncesConfig,
    /// The look; the admin's saved values override it ([`crate::brand`]).
    #[serde(default)]
    pub brand: BrandConfig,
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
}

/// `[brand]`: the default look, checked when loaded ([`crate::brand::load`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrandConfig {
    /// Hex; must reach 4.5:1 against the light backgrounds.
    pub accent_colour: String,
    /// Hex for the dark scheme; empty: derived from `accent_colour`.
    pub accent_colour_dark: String,
    /// Absolute http(s) address of the logo; empty: the name in type.
    pub logo_url: String,
    /// Required with a logo.
    pub logo_alt: String,
}

impl Default for BrandConfig {
    fn default() -> Self {
        BrandConfig {
            accent_colour: templates::brand::DEFAULT_ACCENT.into(),
            accent_colour_dark: templates::brand::DEFAULT_ACCENT_DARK.into(),
            logo_url: String::new(),
            logo_alt: String::new(),
        }
    }
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
    /// PEM certificates trusted for the SMTP relay besides the public roots (a relay
    /// with a private CA); empty: the public roots only.
    #[serde(default)]
    pub smtp_ca_file: String,
    /// DKIM keys, `[[mail.dkim]]`; every key listed signs every message.
    #[serde(default)]
    pub dkim: Vec<DkimKeyConfig>,
    /// `Feedback-ID` header for Gmail's feedback loop (empty: none).
    #[serde(default)]
    pub feedback_id: String,
    /// DNS servers `breakfast doctor` asks ("127.0.0.1:53"); empty: the system's.
    #[serde(default)]
    pub dns_servers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DkimKeyConfig {
    /// `d=`: the From domain or a parent of it.
    pub domain: String,
    /// `s=`: the record lives at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// PEM private key (RSA PKCS#1/PKCS#8 or Ed25519 PKCS#8).
    pub private_key_file: String,
    /// "rsa" or "ed25519"; empty: whatever the key file holds.
    #[serde(default)]
    pub algorithm: String,
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
    /// Days a preferences link works (every email carries a fresh one); 0: for ever.
    pub preferences_link_days: u32,
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
    /// Stories after this many are shown compact (headline and one line, no picture),
    /// so a full issue stays short on a phone and under Gmail's clipping size.
    pub compact_after: usize,
    /// An "In today's issue" list of the headlines at the top of the email.
    pub headline_list: bool,
    pub section_order: Vec<String>,
    pub skip_when_empty: bool,
    pub on_this_day: bool,
    /// Subject of the weekly edition (same placeholders as `subject_pattern`).
    pub weekly_subject_pattern: String,
    /// The weekly edition's articles per section.
    pub weekly_per_section: usize,
    /// Feed category (any case) → section name; unmapped articles take their first
    /// category, then their feed's section.
    #[serde(default)]
    pub category_sections: std::collections::BTreeMap<String, String>,
    /// The line above the editor's note; `{first_name}` is the reader's first name.
    /// Empty: no greeting.
    pub greeting: String,
    /// The greeting for readers without a name (and the archive). Empty: none.
    pub greeting_without_name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub poll_minutes: u64,
    pub timeout_secs: u64,
    pub max_bytes: u64,
    pub max_redirects: usize,
    /// Hosts, addresses or ranges (CIDR) that feeds may be fetched from although they
    /// are loopback, private or link-local (intranet feeds). Empty: none.
    #[serde(default)]
    pub allow_private: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub send_time: String,
    pub time_zone: String,
    pub days: Vec<String>,
    pub grace_minutes: u32,
    pub tick_secs: u64,
    /// "approval" (an editor approves each issue before it goes out) or "automatic".
    /// Seeds the schedule on first start, like the keys above.
    pub mode: String,
    /// "moment" (every reader at the send time in `time_zone`) or "local" (each reader at
    /// the send time in their own zone). Seeds the schedule on first start, like `mode`.
    #[serde(default = "default_delivery")]
    pub delivery: String,
    /// In approval mode, the issue is composed and sent to the editors for review this
    /// many minutes before the send time.
    pub approval_lead_minutes: u32,
    /// Before a scheduled compose every feed is fetched; the send waits at most this long.
    pub prefetch_secs: u64,
}

fn default_delivery() -> String {
    "moment".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub api_token: Secret,
    pub session_hours: u32,
    pub max_failed_logins: u32,
    pub lockout_minutes: u32,
    /// Password checks (argon2id, ~19 MiB each) running at once for the whole process.
    pub login_concurrency: usize,
    /// How long a sign-in waits for a free check before it is answered 503.
    pub login_wait_ms: u64,
    /// Sign-in attempts per client address per minute, refused before any hashing.
    pub login_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` / `Forwarded` headers
    /// name the real client. Empty: the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// A request's headers must arrive within this many seconds of the connection.
    pub header_timeout_secs: u64,
    /// A request's body must arrive within this many seconds.
    pub body_timeout_secs: u64,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    pub token: Secret,
    /// A separate address serving only /metrics without a token (keep it on loopback).
    /// Empty: none.
    #[serde(default)]
    pub listen: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub done_jobs_days: u32,
    pub delivery_details_days: u32,
}

/// Bounce and complaint processing (see the README's "Bounces and complaints").
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BouncesConfig {
    /// Domain of the VERP envelope sender; empty keeps the From address as envelope sender.
    pub domain: String,
    pub local_part: String,
    /// imap://user:pass@host:port/MAILBOX (STARTTLS; ?tls=none for loopback) or imaps://…
    pub imap_url: Secret,
    /// Extra trusted CA certificates (PEM) for the IMAP server; empty: public roots only.
    pub imap_ca_file: String,
    pub poll_secs: u64,
    pub max_message_bytes: usize,
    pub soft_bounce_limit: u32,
    pub soft_bounce_days: u32,
    /// Fractions (0.003 = 0.3 %); 0 turns the check off.
    pub pause_complaint_rate: f64,
    pub pause_hard_bounce_rate: f64,
    pub pause_min_sent: u32,
    pub webhook_max_age_secs: i64,
    pub generic_secret: Secret,
    pub mailgun_signing_key: Secret,
    /// Base64 DER public key from SendGrid's signed event webhook settings.
    pub sendgrid_public_key: String,
    /// "user:password" that Postmark's webhook URL carries as basic auth.
    pub postmark_basic_auth: Secret,
    /// Topic ARNs whose notifications are accepted; empty accepts any verified topic.
    pub sns_topic_arns: Vec<String>,
    /// For tests only: certificate URLs starting with this are accepted besides SNS's own
    /// hosts. Must be a loopback http(s) URL.
    pub sns_test_cert_url_prefix: String,
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
        crate::domain::net::parse_ranges(&self.http.trusted_proxies, "http.trusted_proxies")
            .map_err(ConfigError::Invalid)?;
        if self.schedule.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "schedule.time_zone {:?} is not an IANA time zone (e.g. Europe/London)",
                self.schedule.time_zone
            )));
        }
        if let Err(e) = self
            .schedule
            .delivery
            .parse::<crate::store::schedules::DeliveryMode>()
        {
            return Err(ConfigError::Invalid(format!("schedule.delivery: {e}")));
        }
        if !matches!(self.schedule.mode.as_str(), "approval" | "automatic") {
            return Err(ConfigError::Invalid(format!(
                "schedule.mode {:?} must be \"approval\" or \"automatic\"",
                self.schedule.mode
            )));
        }
        self.check_category_sections()?;
        self.check_bounces()
    }

    fn check_bounces(&self) -> Result<(), ConfigError> {
        let b = &self.bounces;
        let prefix = b.sns_test_cert_url_prefix.trim();
        if !prefix.is_empty() {
            let host = url::Url::parse(prefix)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string));
            let loopback = host.as_deref().is_some_and(|h| {
                h == "localhost"
                    || h.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            });
            if !loopback {
                return Err(ConfigError::Invalid(
                    "bounces.sns_test_cert_url_prefix must be a loopback URL (it exists for tests)"
                        .into(),
                ));
            }
        }
        if !b.domain.trim().is_empty()
            && lettre::Address::new(b.local_part.trim(), b.domain.trim()).is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "bounces.local_part {:?} @ bounces.domain {:?} is not a valid address",
                b.local_part, b.domain
            )));
        }
        Ok(())
    }

    /// A category mapped to a section nobody defined is a typo: the articles would land
    /// in a section of their own. Known sections are `digest.section_order` and the
    /// configured feeds' sections; with neither configured, the check waits for the
    /// feeds stored in the database ([`Config::check_category_sections_with`], run where
    /// feeds are synced and when the scheduler starts).
    fn check_category_sections(&self) -> Result<(), ConfigError> {
        self.check_category_sections_with(&[])
    }

    /// As [`Config::check_category_sections`], with `stored` (the sections of the feeds in
    /// the database, which editors set in the admin) known too. With no section known
    /// anywhere there is nothing to compare with, and any name is accepted.
    pub fn check_category_sections_with(&self, stored: &[String]) -> Result<(), ConfigError> {
        let mut known: Vec<String> = self
            .digest
            .section_order
            .iter()
            .chain(self.feeds.iter().filter_map(|f| f.section.as_ref()))
            .chain(stored.iter())
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        known.sort();
        known.dedup();
        if known.is_empty() {
            return Ok(());
        }
        for (category, section) in &self.digest.category_sections {
            if !known.contains(&section.trim().to_lowercase()) {
                return Err(ConfigError::Invalid(format!(
                    "digest.category_sections maps {category:?} to {section:?}, which is not a known section \
                     (digest.section_order, a configured feed's section or a stored feed's section): {}",
                    known.join(", ")
                )));
            }
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
