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
