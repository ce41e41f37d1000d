//! `breakfast doctor`: will receivers accept our mail? Each check looks at the real DNS
//! (through the resolver `mail.dns_servers` names, or the system's), the configuration
//! and the SMTP relay, and says ok, warning or problem, with what to do.
//!
//! The checks follow what Gmail, Yahoo and Microsoft require of bulk senders since
//! 2024–2025: SPF and DKIM, aligned with From, a DMARC policy, and one-click unsubscribe
//! over https.

use std::{net::SocketAddr, time::Duration};

use mail_auth::hickory_resolver::{
    TokioResolver,
    config::{NameServerConfigGroup, ResolverConfig, ResolverOpts},
    name_server::TokioConnectionProvider,
    proto::ProtoError,
};

use crate::{
    config::Config,
    mail::{Connector, MailIdentity, SmtpSettings, TlsMode, dkim, parse_smtp_url},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Problem => "problem",
        }
    }
}

/// One finding: what was checked, what was seen, and (unless ok) what to do.
#[derive(Debug, Clone)]
pub struct Check {
    pub level: Level,
    /// A short stable name, e.g. "spf", "dkim bf2026", "dmarc".
    pub name: String,
    pub detail: String,
    pub action: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            level: Level::Ok,
            name: name.into(),
            detail: detail.into(),
            action: None,
        }
    }
    fn warning(
        name: impl Into<String>,
        detail: impl Into<String>,
        action: impl Into<String>,
    ) -> Check {
        Check {
            level: Level::Warning,
            name: name.into(),
            detail: detail.into(),
            action: Some(action.into()),
        }
    }
    fn problem(
        name: impl Into<String>,
        detail: impl Into<String>,
        action: impl Into<String>,
    ) -> Check {
        Check {
            level: Level::Problem,
            name: name.into(),
            detail: detail.into(),
            action: Some(action.into()),
        }
    }

    /// `ok      spf: …` / `problem dmarc: … — do: …`
    pub fn line(&self) -> String {
        let mut line = format!("{:<8} {}: {}", self.level.word(), self.name, self.detail);
        if let Some(action) = &self.action {
            line.push_str(" — do: ");
            line.push_str(action);
        }
        line
    }
}

/// Every check, in the order an operator fixes things.
pub async fn run(config: &Config) -> Vec<Check> {
    let mut checks = example_values(config);
    let identity = match MailIdentity::from_config(config) {
        Ok(i) => i,
        Err(e) => {
            checks.push(Check::problem(
                "from",
                e.to_string(),
                "set newsletter.from to \"Name <address@your-domain>\"",
            ));
            return checks;
        }
    };
    let from_domain = identity.id_domain.to_ascii_lowercase();
    checks.push(base_url(config));
    let dns = match resolver(config) {
        Ok(r) => r,
        Err(e) => {
            checks.push(Check::problem(
                "dns",
                format!("cannot set up a DNS resolver: {e}"),
                "fix mail.dns_servers (\"IP\" or \"IP:PORT\"), or leave it empty for the system's",
            ));
            return checks;
        }
    };
    let relay = parse_smtp_url(config.smtp_url.expose()).ok();
    let envelope = envelope_domain(config, &from_domain);
    checks.push(spf(&dns, &envelope, relay.as_ref().map(|r| r.host.as_str())).await);
    checks.extend(dkim_keys(&dns, config, &from_domain).await);
    checks.push(dmarc(&dns, &from_domain).await);
    checks.push(bounce_mx(&dns, &envelope).await);
    checks.push(smtp_relay(config).await);
    checks
}

/// The domain of the envelope sender (SMTP `MAIL FROM`), which is where bounces go and
/// what receivers check SPF against: `bounces.domain` when set (the VERP address
/// `bounces+TOKEN@bounces.domain`), otherwise the From domain, which lettre then uses as
/// the envelope sender.
struct EnvelopeDomain {
    domain: String,
    /// Where the domain comes from, for the lines doctor prints.
    source: &'static str,
}

fn envelope_domain(config: &Config, from_domain: &str) -> EnvelopeDomain {
    let bounce = config
        .bounces
        .domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if bounce.is_empty() {
        EnvelopeDomain {
            domain: from_domain.to_string(),
            source: "the From domain, also the envelope sender",
        }
    } else {
        EnvelopeDomain {
            domain: bounce,
            source: "bounces.domain, the envelope sender",
        }
    }
}

/// Settings still holding the values the embedded defaults ship with.
pub fn example_values(config: &Config) -> Vec<Check> {
    let defaults = Config::from_toml_str("").ok();
    let fields = [
        (
            "newsletter.from",
            &config.newsletter.from,
            defaults.as_ref().map(|d| &d.newsletter.from),
        ),
        (
            "newsletter.list_id",
            &config.newsletter.list_id,
            defaults.as_ref().map(|d| &d.newsletter.list_id),
        ),
        (
            "newsletter.postal_address",
            &config.newsletter.postal_address,
            defaults.as_ref().map(|d| &d.newsletter.postal_address),
        ),
    ];
    fields
        .into_iter()
        .filter(|(_, value, default)| is_example(value) || Some(*value) == *default)
        .map(|(key, value, _)| {
            Check::problem(
                "example value",
                format!("{key} is still the example {value:?}"),
                format!("set {key} to your publication's own value"),
            )
        })
        .collect()
}

fn is_example(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    ["example.org", "example.com", "example.net"]
        .iter()
        .any(|d| v.contains(d))
}

/// Logs one warning per example value, for `serve` and `worker` start-up.
pub fn warn_example_values(config: &Config) {
    for check in example_values(config) {
        tracing::warn!(setting = %check.detail, "example value still configured; run `breakfast doctor`");
    }
}

fn base_url(config: &Config) -> Check {
    if config.is_https() {
        Check::ok("base_url", format!("{} is https", config.base_url))
    } else {
        Check::warning(
            "base_url",
            format!(
                "{} is not https: one-click unsubscribe (RFC 8058) needs an https URL, so large mailbox providers will not offer it",
                config.base_url
            ),
            "serve Breakfast over https and set base_url to the https address",
        )
    }
}

/// The resolver doctor asks: `mail.dns_servers` when set, otherwise the system's.
pub fn resolver(config: &Config) -> anyhow::Result<TokioResolver> {
    let mut options = ResolverOpts::default();
    options.timeout = Duration::from_secs(3);
    options.attempts = 1;
    options.cache_size = 0;
    let resolver_config = if config.mail.dns_servers.is_empty() {
        let (system, _) = mail_auth::hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| anyhow::anyhow!("cannot read the system's resolver settings: {e}"))?;
        system
    } else {
        let mut group = NameServerConfigGroup::with_capacity(config.mail.dns_servers.len());
        for server in &config.mail.dns_servers {
            let addr = parse_server(server)?;
            group.merge(NameServerConfigGroup::from_ips_clear(
                &[addr.ip()],
                addr.port(),
                true,
            ));
        }
        ResolverConfig::from_parts(None, vec![], group)
    };
    Ok(
        TokioResolver::builder_with_config(resolver_config, TokioConnectionProvider::default())
            .with_options(options)
            .build(),
    )
}

fn parse_server(s: &str) -> anyhow::Result<SocketAddr> {
    let s = s.trim();
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| anyhow::anyhow!("mail.dns_servers: {s:?} is not IP or IP:PORT"))
}

/// What a TXT lookup found: the records (each its strings joined), none, or an error.
enum Txt {
    Found(Vec<String>),
    None,
    Failed(String),
}

async fn txt(dns: &TokioResolver, name: &str) -> Txt {
    match dns.txt_lookup(format!("{name}.")).await {
        Ok(lookup) => {
            let records: Vec<String> = lookup
                .iter()
                .map(|txt| {
                    txt.txt_data()
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>()
                })
                .collect();
            if records.is_empty() {
                Txt::None
            } else {
                Txt::Found(records)
            }
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Txt::None,
        Err(e) => Txt::Failed(dns_error(&e)),
    }
}

fn dns_error(e: &ProtoError) -> String {
    format!("the DNS lookup failed ({e})")
}

fn starts_with_tag(record: &str, tag: &str) -> bool {
    record
        .trim_start()
        .get(..tag.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(tag))
}

/// SPF is checked against the envelope sender's domain, so that is the domain looked up.
async fn spf(dns: &TokioResolver, envelope: &EnvelopeDomain, relay_host: Option<&str>) -> Check {
    let domain = &envelope.domain;
    let name = format!("spf {domain}");
    let records = match txt(dns, domain).await {
        Txt::Failed(e) => return Check::problem(name, e, "check the domain's DNS servers"),
        Txt::None => Vec::new(),
        Txt::Found(r) => r,
    };
    let mut check = spf_verdict(domain, &records, relay_host);
    check.detail = format!("{} ({})", check.detail, envelope.source);
    check
}

/// The SPF check on the TXT records found at `domain`, with the host of `smtp_url`.
///
/// Kept apart from the lookup so that tests can give it a relay host that is not
/// loopback: the relay probe connects to `smtp_url`'s host through the system's resolver
/// (as sending does), so a test cannot use such a name end to end without a DNS query
/// leaving the machine.
pub fn spf_verdict(domain: &str, records: &[String], relay_host: Option<&str>) -> Check {
    let name = format!("spf {domain}");
    let spf: Vec<&String> = records
        .iter()
        .filter(|r| starts_with_tag(r, "v=spf1"))
        .collect();
    match spf.as_slice() {
        [] => Check::problem(
            name,
            "no SPF record",
            format!(
                "publish a TXT record at {domain} such as \"v=spf1 include:<your relay's SPF domain> ~all\""
            ),
        ),
        [record] => match relay_host {
            Some(host) if !is_loopback(host) && !mentions_host(record, host) => Check::warning(
                name,
                format!("{record:?} does not mention the relay {host}"),
                "make sure the relay's addresses are covered (its documentation names the include: to add)",
            ),
            _ => Check::ok(name, format!("{record:?}")),
        },
        _ => Check::problem(
            name,
            format!(
                "{} SPF records; receivers treat that as an error",
                spf.len()
            ),
            "merge them into one v=spf1 record",
        ),
    }
}

fn is_loopback(host: &str) -> bool {
    host.trim_end_matches('.').eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether an SPF record names the relay host or one of its parent domains (so
/// `include:_spf.mailgun.org` counts for `smtp.mailgun.org`).
fn mentions_host(record: &str, host: &str) -> bool {
    let record = record.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    (0..labels.len().saturating_sub(1)).any(|i| record.contains(&labels[i..].join(".")))
}

async fn dkim_keys(dns: &TokioResolver, config: &Config, from_domain: &str) -> Vec<Check> {
    if config.mail.dkim.is_empty() {
        return vec![Check::problem(
            "dkim",
            "no DKIM key is configured: mail is unsigned unless the relay signs it, and bulk mail must be DKIM-signed",
            "run `breakfast dkim generate --selector S`, publish the record, add [[mail.dkim]]",
        )];
    }
    let mut checks = Vec::new();
    for key in &config.mail.dkim {
        let name = format!("dkim {}._domainkey.{}", key.selector, key.domain);
        if !dkim::is_dns_name(&key.selector) || !dkim::is_dns_name(&key.domain) {
            checks.push(Check::problem(
                name,
                "the selector or domain has characters DNS cannot carry",
                "use letters, digits, '-' and '.'",
            ));
            continue;
        }
        if !dkim::is_aligned(from_domain, &key.domain) {
            checks.push(Check::problem(
                name.clone(),
                format!(
                    "d={} is not aligned with the From domain {from_domain}, so DMARC fails",
                    key.domain
                ),
                format!("sign with d={from_domain} (or a parent of it)"),
            ));
        }
        let loaded = match dkim::load_key(std::path::Path::new(&key.private_key_file)) {
            Ok(k) => k,
            Err(e) => {
                checks.push(Check::problem(name, e.to_string(), "fix private_key_file"));
                continue;
            }
        };
        let expected = dkim::txt_record(loaded.algorithm, &loaded.public_key);
        let fqdn = format!("{}._domainkey.{}", key.selector, key.domain);
        let publish = format!(
            "publish TXT {fqdn} = \"{}\"",
            dkim::txt_strings(&expected).join("\" \"")
        );
        let records = match txt(dns, &fqdn).await {
            Txt::Failed(e) => {
                checks.push(Check::problem(name, e, "check the domain's DNS servers"));
                continue;
            }
            Txt::None => {
                checks.push(Check::problem(name, "no DKIM record in DNS", publish));
                continue;
            }
            Txt::Found(r) => r,
        };
        let published: Vec<Option<Vec<u8>>> =
            records.iter().map(|r| dkim::record_public_key(r)).collect();
        if published
            .iter()
            .flatten()
            .any(|p| dkim::record_matches(&loaded, p))
        {
            checks.push(Check::ok(
                name,
                format!(
                    "{} key published and matches {}",
                    loaded.algorithm.dns_name(),
                    key.private_key_file
                ),
            ));
        } else if published.iter().flatten().any(|p| p.is_empty()) {
            checks.push(Check::problem(
                name,
                "the record is revoked (empty p=)",
                publish,
            ));
        } else {
            checks.push(Check::problem(
                name,
                format!(
                    "the published record does not match the key in {}",
                    key.private_key_file
                ),
                publish,
            ));
        }
    }
    checks
}

async fn dmarc(dns: &TokioResolver, domain: &str) -> Check {
    let name = format!("dmarc _dmarc.{domain}");
    let records = match txt(dns, &format!("_dmarc.{domain}")).await {
        Txt::Failed(e) => return Check::problem(name, e, "check the domain's DNS servers"),
        Txt::None => Vec::new(),
        Txt::Found(r) => r,
    };
    let Some(record) = records.iter().find(|r| starts_with_tag(r, "v=DMARC1")) else {
        return Check::problem(
            name,
            "no DMARC record; Gmail and Yahoo require one of bulk senders",
            format!(
                "publish TXT _dmarc.{domain} = \"v=DMARC1; p=none; rua=mailto:dmarc@{domain}\", then tighten p="
            ),
        );
    };
    let policy = record
        .split(';')
        .find_map(|t| {
            let (k, v) = t.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("p")).then(|| v.trim().to_ascii_lowercase())
        })
        .unwrap_or_default();
    match policy.as_str() {
        "quarantine" | "reject" => Check::ok(name, format!("policy {policy}: {record:?}")),
        "none" => Check::warning(
            name,
            format!("policy none (monitoring only): {record:?}"),
            "once reports show your mail passes, move to p=quarantine or p=reject",
        ),
        _ => Check::problem(
            name,
            format!("no valid p= policy in {record:?}"),
            "add p=none, p=quarantine or p=reject",
        ),
    }
}

/// Bounces come back to the envelope sender's domain (`bounces.domain` when set): it
/// needs an MX.
async fn bounce_mx(dns: &TokioResolver, envelope: &EnvelopeDomain) -> Check {
    let domain = envelope.domain.as_str();
    let name = format!("mx {domain}");
    match dns.mx_lookup(format!("{domain}.")).await {
        Ok(lookup) => {
            let mut hosts: Vec<(u16, String)> = lookup
                .iter()
                .map(|mx| (mx.preference(), mx.exchange().to_utf8()))
                .collect();
            hosts.sort();
            if hosts.is_empty() {
                no_mx(name, envelope)
            } else if hosts.len() == 1 && hosts[0].1.trim_end_matches('.').is_empty() {
                Check::problem(
                    name,
                    format!(
                        "a null MX (\".\"): the domain says it takes no mail, so bounces are lost ({})",
                        envelope.source
                    ),
                    format!("publish an MX record for {domain} in place of the null MX"),
                )
            } else {
                let list: Vec<String> = hosts.iter().map(|(p, h)| format!("{p} {h}")).collect();
                Check::ok(
                    name,
                    format!(
                        "bounces can arrive: {} ({})",
                        list.join(", "),
                        envelope.source
                    ),
                )
            }
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => no_mx(name, envelope),
        Err(e) => Check::problem(name, dns_error(&e), "check the domain's DNS servers"),
    }
}

fn no_mx(name: String, envelope: &EnvelopeDomain) -> Check {
    Check::problem(
        name,
        format!(
            "no MX record: bounces to this domain cannot arrive ({})",
            envelope.source
        ),
        format!("publish an MX record for {}", envelope.domain),
    )
}

/// Whether the relay answers EHLO and offers STARTTLS.
async fn smtp_relay(config: &Config) -> Check {
    if config.smtp_url.is_empty() {
        return Check::warning(
            "smtp",
            "no smtp_url: mail goes to the outbox folder",
            "set smtp_url to your relay",
        );
    }
    let settings = match parse_smtp_url(config.smtp_url.expose()) {
        Ok(s) => s,
        Err(e) => return Check::problem("smtp", e.to_string(), "fix smtp_url"),
    };
    let name = format!("smtp {}:{}", settings.host, settings.port);
    // Said EHLO in clear (or over TLS for smtps), without upgrading or signing in: the
    // question is what the relay offers before anything is secured.
    let plain = SmtpSettings {
        tls: match settings.tls {
            TlsMode::Implicit => TlsMode::Implicit,
            _ => TlsMode::None,
        },
        ..settings.clone()
    };
    let connector = match Connector::new(&plain, &config.mail.smtp_ca_file) {
        Ok(c) => c,
        Err(e) => return Check::problem(name, format!("TLS set-up: {e}"), "fix smtp_url"),
    };
    let conn = match tokio::time::timeout(Duration::from_secs(15), connector.hello()).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return Check::problem(
                name,
                format!(
                    "the relay did not answer EHLO: {}",
                    crate::ops::redact_addresses(&e.to_string())
                ),
                "check smtp_url, the relay's address and the firewall",
            );
        }
        Err(_) => {
            return Check::problem(
                name,
                "the relay did not answer within 15 s",
                "check smtp_url, the relay's address and the firewall",
            );
        }
    };
    let starttls = conn.extensions().starttls;
    conn.quit().await;
    match (settings.tls, starttls) {
        (TlsMode::Implicit, _) => Check::ok(name, "answers EHLO over TLS (smtps)"),
        (_, true) => Check::ok(name, "answers EHLO and offers STARTTLS"),
        (TlsMode::None, false) if is_loopback(&settings.host) => Check::warning(
            name,
            "answers EHLO but does not offer STARTTLS (a loopback relay with tls=none)",
            "fine for a relay on this machine; a remote relay must offer STARTTLS",
        ),
        (_, false) => Check::problem(
            name,
            "answers EHLO but does not offer STARTTLS: mail and the password would cross the network in clear",
            "use a relay that offers STARTTLS, or smtps://",
        ),
    }
}
