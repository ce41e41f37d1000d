//! `breakfast doctor` against a real DNS server (dnsmasq on loopback, named by
//! `mail.dns_servers`) serving a good zone and broken ones, and a real SMTP server.

use std::path::Path;

use breakfast::{
    config::Config,
    doctor::{self, Check, Level},
    mail::dkim,
};

use crate::{
    dns_server::{DnsServer, Record, txt},
    kit::{SmtpBehaviour, SmtpServer, breakfast_cmd, free_port},
};

const DOMAIN: &str = "redpaper.test";

struct Key {
    path: String,
    record: String,
}

fn key(dir: &Path, name: &str) -> Key {
    let (pem, record) = dkim::generate(dkim::Algorithm::Rsa).unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, pem).unwrap();
    Key {
        path: path.display().to_string(),
        record,
    }
}

fn dkim_record(record: &str) -> Record {
    Record::Txt(
        format!("bf2026._domainkey.{DOMAIN}"),
        dkim::txt_strings(record)
            .into_iter()
            .map(str::to_string)
            .collect(),
    )
}

fn good_zone(key: &Key) -> Vec<Record> {
    vec![
        txt(DOMAIN, &["v=spf1 ip4:127.0.0.1 -all"]),
        dkim_record(&key.record),
        txt(
            &format!("_dmarc.{DOMAIN}"),
            &["v=DMARC1; p=reject; rua=mailto:dmarc@redpaper.test"],
        ),
        Record::Mx(DOMAIN.into(), format!("mx.{DOMAIN}"), 10),
    ]
}

fn config_toml(dns: &DnsServer, smtp_url: &str, key: &Key, base_url: &str) -> String {
    format!(
        "base_url = {base_url:?}\nsmtp_url = {smtp_url:?}\n\
         [newsletter]\nfrom = \"Breakfast in Red <news@{DOMAIN}>\"\nlist_id = \"daily.{DOMAIN}\"\npostal_address = \"12 Red Lane, Leeds\"\n\
         [mail]\ndns_servers = [{:?}]\n\
         [[mail.dkim]]\ndomain = {DOMAIN:?}\nselector = \"bf2026\"\nprivate_key_file = {:?}\n",
        dns.address(),
        key.path
    )
}

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} check in {checks:#?}"))
}

fn assert_check(checks: &[Check], name: &str, level: Level, words: &str) {
    let c = find(checks, name);
    assert_eq!(c.level, level, "{}", c.line());
    assert!(c.detail.contains(words), "{words:?} not in {}", c.line());
    if level != Level::Ok {
        assert!(c.action.is_some(), "no advice in {}", c.line());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_ok_for_a_good_zone_and_names_each_broken_record() {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = key(dir.path(), "good");
    let other = key(dir.path(), "other");

    // The good zone: every DNS check ok.
    let Some(dns) = DnsServer::start(&[DOMAIN], &good_zone(&good)).await else {
        return;
    };
    let toml = config_toml(&dns, &smtp.url(), &good, "https://news.redpaper.test");
    let config = Config::from_toml_str(&toml).unwrap();
    let checks = doctor::run(&config).await;
    let report: Vec<String> = checks.iter().map(Check::line).collect();
    for name in ["spf", "dkim", "dmarc", "mx", "base_url"] {
        assert_check(&checks, name, Level::Ok, "");
    }
    assert_check(&checks, "dmarc", Level::Ok, "reject");
    assert_check(&checks, "dkim", Level::Ok, "matches");
    // aiosmtpd offers no STARTTLS; on loopback with tls=none that is a warning only.
    assert_check(&checks, "smtp", Level::Warning, "STARTTLS");
    assert!(
        !checks.iter().any(|c| c.level == Level::Problem),
        "{report:#?}"
    );
    // The command: one line per check, exit status 0 without problems.
    let config_path = dir.path().join("good.toml");
    std::fs::write(&config_path, &toml).unwrap();
    let out = breakfast_cmd(
        &["--config", config_path.to_str().unwrap(), "doctor"],
        &[],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("ok ") && l.contains("dmarc")),
        "{stdout}"
    );
    drop(dns);

    // Each broken zone: the good one with one thing wrong.
    type Breakage = (
        &'static str,
        fn(&Key, &Key) -> Vec<Record>,
        &'static str,
        Level,
        &'static str,
    );
    let broken: Vec<Breakage> = vec![
        (
            "no SPF",
            |g, _| without(good_zone(g), 0),
            "spf",
            Level::Problem,
            "no SPF record",
        ),
        (
            "two SPF records",
            |g, _| {
                let mut z = good_zone(g);
                z.push(txt(DOMAIN, &["v=spf1 -all"]));
                z
            },
            "spf",
            Level::Problem,
            "2 SPF records",
        ),
        (
            "no DKIM record",
            |g, _| without(good_zone(g), 1),
            "dkim",
            Level::Problem,
            "no DKIM record",
        ),
        (
            "another key's DKIM record",
            |g, o| {
                let mut z = without(good_zone(g), 1);
                z.push(dkim_record(&o.record));
                z
            },
            "dkim",
            Level::Problem,
            "does not match",
        ),
        (
            "a revoked DKIM record (empty p=)",
            |g, _| {
                let mut z = without(good_zone(g), 1);
                z.push(txt(
                    &format!("bf2026._domainkey.{DOMAIN}"),
                    &["v=DKIM1; k=rsa; p="],
                ));
                z
            },
            "dkim",
            Level::Problem,
            "revoked",
        ),
        (
            "no DMARC",
            |g, _| without(good_zone(g), 2),
            "dmarc",
            Level::Problem,
            "no DMARC record",
        ),
        (
            "DMARC p=none",
            |g, _| {
                let mut z = without(good_zone(g), 2);
                z.push(txt(&format!("_dmarc.{DOMAIN}"), &["v=DMARC1; p=none"]));
                z
            },
            "dmarc",
            Level::Warning,
            "policy none",
        ),
        (
            "DMARC with a p= no receiver knows",
            |g, _| {
                let mut z = without(good_zone(g), 2);
                z.push(txt(&format!("_dmarc.{DOMAIN}"), &["v=DMARC1; p=always"]));
                z
            },
            "dmarc",
            Level::Problem,
            "no valid p= policy",
        ),
        (
            "no MX",
            |g, _| without(good_zone(g), 3),
            "mx",
            Level::Problem,
            "no MX record",
        ),
    ];
    for (what, zone, name, level, words) in broken {
        let Some(dns) = DnsServer::start(&[DOMAIN], &zone(&good, &other)).await else {
            return;
        };
        let config = Config::from_toml_str(&config_toml(
            &dns,
            &smtp.url(),
            &good,
            "https://news.redpaper.test",
        ))
        .unwrap();
        let checks = doctor::run(&config).await;
        eprintln!("{what}: {}", find(&checks, name).line());
        assert_check(&checks, name, level, words);
    }

    // Settings: http base_url, a relay that does not answer, the example values.
    let Some(dns) = DnsServer::start(&[DOMAIN], &good_zone(&good)).await else {
        return;
    };
    let dead_relay = format!("smtp://127.0.0.1:{}?tls=none", free_port());
    let toml = config_toml(&dns, &dead_relay, &good, "http://news.redpaper.test");
    let checks = doctor::run(&Config::from_toml_str(&toml).unwrap()).await;
    assert_check(&checks, "base_url", Level::Warning, "https");
    assert_check(&checks, "smtp", Level::Problem, "did not answer");
    let config_path = dir.path().join("broken.toml");
    std::fs::write(&config_path, &toml).unwrap();
    let out = breakfast_cmd(
        &["--config", config_path.to_str().unwrap(), "doctor"],
        &[],
        dir.path(),
    );
    assert!(!out.status.success(), "a problem must fail the command");
    assert!(String::from_utf8_lossy(&out.stdout).contains("problem  smtp"));

    let defaults = doctor::example_values(&Config::from_toml_str("").unwrap());
    let named: Vec<&str> = defaults.iter().map(|c| c.detail.as_str()).collect();
    assert_eq!(defaults.len(), 3, "{named:?}");
    for key in [
        "newsletter.from",
        "newsletter.list_id",
        "newsletter.postal_address",
    ] {
        assert!(named.iter().any(|d| d.contains(key)), "{key} in {named:?}");
    }
}

fn without(mut zone: Vec<Record>, index: usize) -> Vec<Record> {
    zone.remove(index);
    zone
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_the_checks_in_the_admin() {
    use breakfast::store::users::AdminRole;

    use crate::{
        admin::{Browser, PASSWORD, add_user},
        kit::{Backend, TestApp},
    };
    let dir = tempfile::tempdir().unwrap();
    let good = key(dir.path(), "good");
    let Some(dns) = DnsServer::start(&[DOMAIN], &good_zone(&good)).await else {
        return;
    };
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    // test_config sets base_url itself; the rest of config_toml after its first line.
    let toml = config_toml(&dns, &smtp.url(), &good, "unused");
    let extra = toml.split_once('\n').unwrap().1;
    let Some(t) =
        TestApp::spawn_with(Backend::Sqlite, extra, breakfast::domain::Clock::System).await
    else {
        return;
    };
    let mut b = Browser::new(&t);
    let gate = b.get("/admin/doctor").await;
    assert_eq!(gate.status, reqwest::StatusCode::SEE_OTHER);
    add_user(&t.app, "op@example.net", AdminRole::Operator).await;
    b.login("op@example.net", PASSWORD).await;
    let page = b.get("/admin/doctor").await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Deliverability"));
    assert!(
        page.body.contains("dmarc _dmarc.redpaper.test"),
        "{}",
        page.body
    );
    assert!(page.body.contains("policy reject"), "{}", page.body);
    // The test server's base_url is http: the page says what to do about it.
    assert!(page.body.contains("doc-warning"), "{}", page.body);
    assert!(
        page.body.contains("serve Breakfast over https"),
        "{}",
        page.body
    );
    t.stop().await;
}

/// Doctor's checks with `zone` served by a fresh dnsmasq, the good config's settings
/// plus `extra` (TOML tables appended after it) and `smtp_url`.
async fn run_doctor(zone: &[Record], key: &Key, smtp_url: &str, extra: &str) -> Option<Vec<Check>> {
    let dns = DnsServer::start(&[DOMAIN, "other.test"], zone).await?;
    let mut toml = config_toml(&dns, smtp_url, key, "https://news.redpaper.test");
    toml.push_str(extra);
    let checks = doctor::run(&Config::from_toml_str(&toml).unwrap()).await;
    for check in &checks {
        eprintln!("{}", check.line());
    }
    Some(checks)
}

const BOUNCE_DOMAIN: &str = "bounces.redpaper.test";

/// The good zone's DKIM and DMARC records, plus the From domain's SPF and MX if asked,
/// plus `bounce_records`.
fn bounce_zone(key: &Key, from_spf_and_mx: bool, bounce_records: Vec<Record>) -> Vec<Record> {
    let mut zone = good_zone(key);
    if !from_spf_and_mx {
        zone = without(without(zone, 3), 0);
    }
    zone.extend(bounce_records);
    zone
}

fn bounce_spf() -> Record {
    txt(BOUNCE_DOMAIN, &["v=spf1 ip4:127.0.0.1 -all"])
}

fn bounce_mx(host: &str, preference: u16) -> Record {
    Record::Mx(BOUNCE_DOMAIN.into(), host.into(), preference)
}

/// With `bounces.domain` set, the envelope sender is `bounces+TOKEN@bounces.domain`: that
/// is where bounces arrive and the domain receivers check SPF against, so doctor must look
/// up that domain's MX and SPF, not the From domain's. In the good case the From domain
/// has neither, so a doctor that still checked the From domain would report
/// "mx redpaper.test" and "spf redpaper.test" problems, and this test fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_mx_and_spf_of_the_bounce_domain_when_one_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let good = key(dir.path(), "good");
    let bounces = format!("[bounces]\ndomain = {BOUNCE_DOMAIN:?}\n");
    let mx_name = format!("mx {BOUNCE_DOMAIN}");
    let spf_name = format!("spf {BOUNCE_DOMAIN}");

    let zone = bounce_zone(
        &good,
        false,
        vec![bounce_spf(), bounce_mx("mx.redpaper.test", 10)],
    );
    let Some(checks) = run_doctor(&zone, &good, "", &bounces).await else {
        return;
    };
    assert_check(&checks, &mx_name, Level::Ok, "10 mx.redpaper.test");
    assert_check(&checks, &mx_name, Level::Ok, "bounces.domain");
    assert_check(&checks, &spf_name, Level::Ok, "v=spf1 ip4:127.0.0.1");
    assert!(
        !checks.iter().any(|c| c.level == Level::Problem),
        "{checks:#?}"
    );
    assert!(
        !checks
            .iter()
            .any(|c| c.name == format!("mx {DOMAIN}") || c.name == format!("spf {DOMAIN}")),
        "the From domain is not the envelope sender here: {checks:#?}"
    );

    // Broken bounce domains, with the From domain's own SPF and MX in place to show that
    // those do not stand in for the bounce domain's.
    let broken: Vec<(&str, Vec<Record>, &str, &str)> = vec![
        ("no MX", vec![bounce_spf()], &mx_name, "no MX record"),
        // RFC 7505: "0 ." says the domain accepts no mail at all.
        (
            "a null MX",
            vec![bounce_spf(), bounce_mx(".", 0)],
            &mx_name,
            "null MX",
        ),
        (
            "no SPF",
            vec![bounce_mx("mx.redpaper.test", 10)],
            &spf_name,
            "no SPF record",
        ),
    ];
    for (what, records, name, words) in broken {
        let zone = bounce_zone(&good, true, records);
        let Some(checks) = run_doctor(&zone, &good, "", &bounces).await else {
            return;
        };
        eprintln!("bounce domain with {what}: {}", find(&checks, name).line());
        assert_check(&checks, name, Level::Problem, words);
        let action = find(&checks, name).action.clone().unwrap();
        assert!(action.contains(BOUNCE_DOMAIN), "{what}: {action}");
    }

    // Without bounces.domain the From domain is the envelope sender, checked as before.
    let zone = bounce_zone(&good, true, vec![]);
    let Some(checks) = run_doctor(&zone, &good, "", "").await else {
        return;
    };
    assert_check(
        &checks,
        &format!("mx {DOMAIN}"),
        Level::Ok,
        "the From domain",
    );
    assert_check(&checks, &format!("spf {DOMAIN}"), Level::Ok, "v=spf1");
}

/// The SPF note about the relay. The relay probe connects to `smtp_url`'s host through the
/// system's resolver (as sending does), so a relay name that is not loopback cannot be
/// used end to end without a DNS query leaving the machine; the verdict on the records is
/// therefore checked on its own here, with the names of real relays, and end to end (a
/// loopback relay draws no note) in the good-zone test above.
#[test]
fn spf_notes_a_relay_the_record_does_not_mention() {
    let mailgun = vec!["v=spf1 include:_spf.mailgun.org ~all".to_string()];
    let own = vec!["v=spf1 ip4:203.0.113.7 -all".to_string()];
    let verdict = doctor::spf_verdict(DOMAIN, &own, Some("smtp.mailgun.org"));
    assert_eq!(verdict.level, Level::Warning, "{}", verdict.line());
    assert!(
        verdict
            .detail
            .contains("does not mention the relay smtp.mailgun.org"),
        "{}",
        verdict.line()
    );
    assert!(verdict.action.is_some());
    // An include: of a parent domain of the relay counts as mentioning it.
    let verdict = doctor::spf_verdict(DOMAIN, &mailgun, Some("smtp.mailgun.org"));
    assert_eq!(verdict.level, Level::Ok, "{}", verdict.line());
    // A relay on this machine, or none, needs no note.
    for host in [
        Some("127.0.0.1"),
        Some("::1"),
        Some("localhost"),
        Some("LocalHost."),
        None,
    ] {
        let verdict = doctor::spf_verdict(DOMAIN, &own, host);
        assert_eq!(verdict.level, Level::Ok, "{host:?}: {}", verdict.line());
    }
}

/// A relay that offers STARTTLS is ok. Doctor asks in clear, as the sender's first EHLO
/// does; `tls=required` against a relay without STARTTLS is a problem even on loopback,
/// because sending would then fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_ok_for_a_relay_that_offers_starttls() {
    let certs = tempfile::tempdir().unwrap();
    crate::kit::tls::make_certificates(certs.path());
    let Some(tls) = SmtpServer::start(SmtpBehaviour {
        tls_dir: Some(certs.path().to_path_buf()),
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let Some(plain) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = key(dir.path(), "good");
    let ca = certs.path().join("ca.pem").display().to_string();
    let zone = good_zone(&good);
    let starttls_url = format!("smtp://127.0.0.1:{}", tls.port);
    let Some(dns) = DnsServer::start(&[DOMAIN], &zone).await else {
        return;
    };
    // The relay's certificate is signed by the test's own CA, as a private relay's is.
    let toml = config_toml(&dns, &starttls_url, &good, "https://news.redpaper.test").replacen(
        "[mail]\n",
        &format!("[mail]\nsmtp_ca_file = {ca:?}\n"),
        1,
    );
    let checks = doctor::run(&Config::from_toml_str(&toml).unwrap()).await;
    assert_check(&checks, "smtp", Level::Ok, "offers STARTTLS");
    assert_eq!(
        find(&checks, "smtp").name,
        format!("smtp 127.0.0.1:{}", tls.port)
    );
    assert!(
        !checks.iter().any(|c| c.level == Level::Problem),
        "{checks:#?}"
    );

    let required = format!("smtp://127.0.0.1:{}?tls=required", plain.port);
    let Some(checks) = run_doctor(&zone, &good, &required, "").await else {
        return;
    };
    assert_check(&checks, "smtp", Level::Problem, "does not offer STARTTLS");
    // Asking is all doctor does: nothing was sent to either relay.
    assert!(tls.messages().is_empty() && plain.messages().is_empty());
}

/// A key whose `d=` is not the From domain or a parent of it signs mail that fails
/// DMARC even though the signature verifies; doctor says so on that key's line, and
/// still checks the record (published here, so the only problem is the alignment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_dkim_domain_not_aligned_with_from() {
    let dir = tempfile::tempdir().unwrap();
    let good = key(dir.path(), "good");
    let mut zone = without(good_zone(&good), 1);
    zone.push(Record::Txt(
        "bf2026._domainkey.other.test".into(),
        dkim::txt_strings(&good.record)
            .into_iter()
            .map(str::to_string)
            .collect(),
    ));
    let Some(dns) = DnsServer::start(&[DOMAIN, "other.test"], &zone).await else {
        return;
    };
    let toml = config_toml(&dns, "", &good, "https://news.redpaper.test").replace(
        &format!("[[mail.dkim]]\ndomain = {DOMAIN:?}"),
        "[[mail.dkim]]\ndomain = \"other.test\"",
    );
    let checks = doctor::run(&Config::from_toml_str(&toml).unwrap()).await;
    let dkim: Vec<&Check> = checks
        .iter()
        .filter(|c| c.name.starts_with("dkim"))
        .collect();
    let lines: Vec<String> = dkim.iter().map(|c| c.line()).collect();
    assert_eq!(dkim.len(), 2, "{lines:#?}");
    for c in &dkim {
        assert_eq!(c.name, "dkim bf2026._domainkey.other.test", "{lines:#?}");
    }
    let misaligned = dkim[0];
    assert_eq!(misaligned.level, Level::Problem, "{lines:#?}");
    assert!(
        misaligned
            .detail
            .contains("d=other.test is not aligned with the From domain redpaper.test"),
        "{lines:#?}"
    );
    assert_eq!(
        misaligned.action.as_deref(),
        Some("sign with d=redpaper.test (or a parent of it)")
    );
    assert_eq!(dkim[1].level, Level::Ok, "{lines:#?}");
    assert!(dkim[1].detail.contains("matches"), "{lines:#?}");
    // The From domain's own checks are unaffected.
    assert_check(&checks, "dmarc", Level::Ok, "reject");
}

/// An operator who starts Breakfast without editing the shipped example values
/// (`newsletter.from`, `list_id`, `postal_address`) would send mail that claims to come
/// from example.org; `serve` and `worker` say so at start-up, one warning per setting,
/// naming it. The real binary, with the embedded defaults, its log read as JSON lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_worker_log_one_warning_per_example_value_at_start_up() {
    use crate::kit::{Backend, TestDb};
    for (command, started) in [
        ("serve", "breakfast is serving"),
        ("worker", "breakfast worker started"),
    ] {
        let Some(db) = TestDb::create(Backend::Sqlite).await else {
            return;
        };
        let log = db.dir.path().join("log.jsonl");
        let mut cmd = crate::kit::breakfast_process(
            command,
            &db,
            &[
                ("RUST_LOG", "info"),
                ("BREAKFAST_LOG_FORMAT", "json"),
                // No feed fetching: the default feeds are not on loopback.
                ("BREAKFAST_INGEST__POLL_MINUTES", "0"),
            ],
        );
        cmd.stderr(std::process::Stdio::from(
            std::fs::File::create(&log).unwrap(),
        ));
        let child = Killed(cmd.spawn().expect("breakfast starts"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let text = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains(started) {
                break text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{command} did not start within 30 s:\n{text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        drop(child);
        let warnings: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["level"] == "WARN"
                    && v["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("example value"))
            })
            .collect();
        assert_eq!(warnings.len(), 3, "{command}: {warnings:#?}\n{text}");
        for key in [
            "newsletter.from",
            "newsletter.list_id",
            "newsletter.postal_address",
        ] {
            let naming = warnings
                .iter()
                .filter(|w| {
                    w["fields"]["setting"]
                        .as_str()
                        .is_some_and(|s| s.starts_with(&format!("{key} ")))
                })
                .count();
            assert_eq!(
                naming, 1,
                "{command}: one warning names {key}: {warnings:#?}"
            );
        }
        assert!(
            warnings.iter().all(|w| w["fields"]["message"]
                .as_str()
                .unwrap()
                .contains("breakfast doctor")),
            "{warnings:#?}"
        );
    }
}

/// A child process killed (and reaped) when the test is done with it, or panics.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
