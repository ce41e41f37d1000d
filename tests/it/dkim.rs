//! DKIM: messages sent through the real SMTP path (as aiosmtpd received them) verify with
//! mail-auth's verifier, which looks the keys up in a real DNS server (dnsmasq), and with
//! dkimpy run as a separate program; keys come from `breakfast dkim generate`; a key that
//! cannot be used stops start-up with an error naming the key and the file.

use std::{
    net::{IpAddr, Ipv4Addr},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use breakfast::{
    config::Config,
    delivery,
    domain::{EmailAddress, SubscriberStatus},
    mail::{Head, Mailer, OutgoingEmail},
};
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters,
    hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts},
};

use crate::{
    dns_server::{DnsServer, Record, txt},
    kit::{Backend, Mail, SmtpBehaviour, SmtpServer, TestApp, breakfast_cmd, eml_files},
};

const DOMAIN: &str = "redpaper.test";

/// A key made by the real command, with the TXT strings it printed.
struct GeneratedKey {
    selector: String,
    path: PathBuf,
    strings: Vec<String>,
}

fn generate(dir: &Path, selector: &str, algorithm: &str) -> GeneratedKey {
    let path = dir.join(format!("{selector}.pem"));
    let key_path = path.to_str().unwrap();
    let args = [
        "dkim",
        "generate",
        "--selector",
        selector,
        "--domain",
        DOMAIN,
        "--out",
        key_path,
    ];
    let out = breakfast_cmd(&[&args[..], &["--algorithm", algorithm]].concat(), &[], dir);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    crate::kit::assert_success(&out);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key file mode");
    let owner = format!("{selector}._domainkey.{DOMAIN}. ");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&owner))
        .unwrap_or_else(|| panic!("no TXT record line in:\n{stdout}"));
    let strings: Vec<String> = line
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(strings.iter().all(|s| s.len() <= 255), "{strings:?}");
    assert!(stdout.contains("[[mail.dkim]]"), "{stdout}");
    // Generating again must not overwrite the key.
    let again = breakfast_cmd(&args, &[], dir);
    assert!(!again.status.success());
    GeneratedKey {
        selector: selector.into(),
        path,
        strings,
    }
}

fn dkim_tables(keys: &[&GeneratedKey]) -> String {
    keys.iter()
        .map(|k| {
            format!(
                "[[mail.dkim]]\ndomain = {DOMAIN:?}\nselector = {:?}\nprivate_key_file = {:?}\n",
                k.selector,
                k.path.display().to_string()
            )
        })
        .collect()
}

/// The `Reply-To` every message carries: set so that the test sees it signed.
const REPLY_TO: &str = "Desk <desk@redpaper.test>";

fn identity_toml() -> String {
    format!(
        "[newsletter]\nfrom = \"Breakfast in Red <news@{DOMAIN}>\"\nreply_to = {REPLY_TO:?}\nlist_id = \"daily.{DOMAIN}\"\npostal_address = \"12 Red Lane, Leeds\"\n"
    )
}

/// mail-auth's verifier, asking the test's DNS server for the keys.
fn verifier(dns: &DnsServer) -> MessageAuthenticator {
    let servers =
        NameServerConfigGroup::from_ips_clear(&[IpAddr::V4(Ipv4Addr::LOCALHOST)], dns.port, true);
    MessageAuthenticator::new(
        ResolverConfig::from_parts(None, vec![], servers),
        ResolverOpts::default(),
    )
    .unwrap()
}

/// (result, a=, h=) of every signature of a message.
async fn mail_auth_results(
    verifier: &MessageAuthenticator,
    raw: &str,
) -> Vec<(DkimResult, String, Vec<String>)> {
    let message = AuthenticatedMessage::parse(raw.as_bytes()).expect("parses");
    verifier
        .verify_dkim(Parameters::new(&message))
        .await
        .into_iter()
        .map(|o| {
            let (a, h) = o
                .signature()
                .map(|s| (format!("{:?}", s.a), s.h.clone()))
                .unwrap_or_default();
            (o.result().clone(), a, h)
        })
        .collect()
}

/// dkimpy, as a separate program, over the files the SMTP server wrote.
fn dkimpy(keys: &[&GeneratedKey], files: &[PathBuf]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dkim_verify.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script);
    for k in keys {
        cmd.arg("--key").arg(format!(
            "{}._domainkey.{DOMAIN}={}",
            k.selector,
            k.strings.concat()
        ));
    }
    cmd.args(files);
    let out = cmd.output().expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("No module named 'dkim'") {
        panic!("dkimpy is missing: python3 -m pip install dkimpy pynacl");
    }
    (out.status.success(), text)
}

const REQUIRED_SIGNED: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "reply-to",
    "feedback-id",
];

/// Every message Breakfast sends with two keys (RSA and Ed25519) verifies with both
/// verifiers, as the SMTP server received it. Run against a relay without PIPELINING
/// (one command at a time) and one with it (MAIL, RCPT and DATA in one write, the
/// content in a second), since those are two ways of putting the signed bytes on the
/// wire; the two rounds share the keys and the DNS server and run side by side, so the
/// second costs little time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_sent_with_dkim_verifies_with_mail_auth_and_with_dkimpy() {
    let keys_dir = tempfile::tempdir().unwrap();
    let rsa = generate(keys_dir.path(), "bf2026", "rsa");
    let ed = generate(keys_dir.path(), "ed2026", "ed25519");
    assert!(
        rsa.strings.len() >= 2,
        "an RSA-2048 record needs two strings"
    );
    let Some(dns) = DnsServer::start(
        &[DOMAIN],
        &[
            Record::Txt(format!("bf2026._domainkey.{DOMAIN}"), rsa.strings.clone()),
            Record::Txt(format!("ed2026._domainkey.{DOMAIN}"), ed.strings.clone()),
            txt(DOMAIN, &["v=spf1 ip4:127.0.0.1 -all"]),
        ],
    )
    .await
    else {
        return;
    };
    let verifier = verifier(&dns);
    let keys = [&rsa, &ed];
    let (one_at_a_time, pipelined) = tokio::join!(
        send_and_verify(&verifier, &keys, false),
        send_and_verify(&verifier, &keys, true)
    );
    let (Some(received), Some(_)) = (one_at_a_time, pipelined) else {
        return;
    };

    // The verifiers are not rubber stamps: a changed subject fails both.
    let tampered_dir = tempfile::tempdir().unwrap();
    let tampered_path = tampered_dir.path().join("tampered.eml");
    let tampered = received[0].replacen("Subject: ", "Subject: Re: ", 1);
    std::fs::write(&tampered_path, &tampered).unwrap();
    for (result, ..) in mail_auth_results(&verifier, &tampered).await {
        assert!(matches!(result, DkimResult::Fail(_)), "{result:?}");
    }
    let (ok, report) = dkimpy(&keys, &[tampered_path]);
    assert!(!ok, "dkimpy accepted a changed message:\n{report}");
}

/// One round of [`every_message_sent_with_dkim_verifies_with_mail_auth_and_with_dkimpy`]:
/// a digest to five readers and a one-off message through a relay that offers
/// PIPELINING or not, every received message checked; the messages as received, or
/// `None` when the test servers are unavailable.
async fn send_and_verify(
    verifier: &MessageAuthenticator,
    keys: &[&GeneratedKey],
    pipelining: bool,
) -> Option<Vec<String>> {
    let smtp = SmtpServer::start(SmtpBehaviour {
        pipelining,
        ..Default::default()
    })
    .await?;
    let long_subject = "Breakfast — the tenants won, the buses strike, and the library stays open late on Thursdays";
    let extra = format!(
        "smtp_url = {:?}\n{}[digest]\nsubject_pattern = {long_subject:?}\n[mail]\nfeedback_id = \"digest:breakfast:redpaper\"\n{}",
        smtp.url(),
        identity_toml(),
        dkim_tables(keys)
    );
    let t = TestApp::with_toml(Backend::Sqlite, &extra).await?;
    let app = &t.app;
    for i in 0..5 {
        let address = format!("reader{i}@example.net");
        let name = Some("Reader Öberg");
        crate::kit::subscriber_named(app, &address, name, SubscriberStatus::Confirmed).await;
    }
    // The composer's digest, with a long subject (folded when signed), a line that
    // starts with a dot (stuffed on the wire) and trailing spaces in the text.
    let id = crate::kit::composed_digest(
        app,
        "2026-11-30",
        &[
            (".a line that starts with a dot", "The tenants won.   "),
            ("Today", ".a summary that starts with a dot"),
            // Tabs and runs of spaces inside lines: lines relaxed canonicalisation rewrites.
            ("Tabs", "Tabs\tand  double  spaces,\t\tin the middle."),
        ],
    )
    .await;
    let composed = app.store.digest(id).await.unwrap();
    assert_eq!(composed.subject.as_deref(), Some(long_subject));
    let text = composed.text.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with('.')),
        "a text line starts with a dot:\n{text}"
    );
    delivery::start_send(app, id).await.unwrap();
    // A one-off message without list headers goes the same way.
    let one_off = OutgoingEmail {
        head: Head {
            to: EmailAddress::parse("someone@example.net").unwrap(),
            to_name: None,
            subject: "Confirm your subscription".into(),
            unsubscribe: None,
        },
        html: "<p>Confirm</p>".into(),
        text: "Confirm\n".into(),
    }
    .to_message(&app.identity)
    .unwrap();
    app.mailer.send(one_off).await.unwrap();
    let received = smtp.wait_for(6, Duration::from_secs(60)).await;
    assert_eq!(received.len(), 6, "pipelining {pipelining}");

    for raw in &received {
        let results = mail_auth_results(verifier, raw).await;
        assert_eq!(
            results.len(),
            2,
            "pipelining {pipelining}: two signatures: {raw}"
        );
        for (result, algorithm, h) in &results {
            assert_eq!(
                *result,
                DkimResult::Pass,
                "pipelining {pipelining}, {algorithm}: {raw}"
            );
            let h: Vec<String> = h.iter().map(|n| n.to_ascii_lowercase()).collect();
            let count = |name: &str| h.iter().filter(|n| *n == name).count();
            assert!(
                count("from") >= 2 && count("subject") >= 2,
                "over-signed: {h:?}"
            );
            for name in REQUIRED_SIGNED {
                assert!(h.contains(&name.to_string()), "{name} not signed: {h:?}");
            }
        }
        let mail = Mail::parse(raw);
        let ids: Vec<&str> = raw
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("message-id:"))
            .collect();
        assert_eq!(ids.len(), 1, "one Message-ID: {ids:?}");
        assert!(
            ids[0].trim_end().ends_with(&format!("@{DOMAIN}>")),
            "{ids:?}"
        );
        assert_eq!(
            mail.header("Feedback-ID").as_deref(),
            Some("digest:breakfast:redpaper")
        );
        // Present, so that "reply-to" in REQUIRED_SIGNED is a signed header, not an
        // absent one signed as absent.
        assert_eq!(mail.header("Reply-To").as_deref(), Some(REPLY_TO), "{raw}");
    }
    let files = eml_files(smtp.dir.path());
    let (ok, report) = dkimpy(keys, &files);
    assert!(ok, "pipelining {pipelining}: dkimpy:\n{report}");
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok ")).count(),
        12,
        "pipelining {pipelining}: {report}"
    );
    t.stop().await;
    Some(received)
}

/// A config with one key, From at DOMAIN.
fn config_with_key(domain: &str, selector: &str, file: &str, algorithm: &str) -> Config {
    let toml = format!(
        "{}[[mail.dkim]]\ndomain = {domain:?}\nselector = {selector:?}\nprivate_key_file = {file:?}\nalgorithm = {algorithm:?}\n",
        identity_toml()
    );
    Config::from_toml_str(&toml).unwrap()
}

fn start_up_error(config: &Config) -> String {
    match Mailer::from_config(config) {
        Ok(_) => panic!("start-up accepted a DKIM key it cannot use"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_key_that_cannot_be_used_stops_start_up_naming_the_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = generate(dir.path(), "good", "rsa");
    let ed = generate(dir.path(), "edgood", "ed25519");
    let good = rsa.path.display().to_string();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("text.pem"), "this is not a key\n").unwrap();
    std::fs::write(
        path("malformed.pem"),
        "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        path("public.pem"),
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    std::fs::write(
        path("ec.pem"),
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBYr\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    std::fs::create_dir(path("a-folder.pem")).unwrap();

    let cases: Vec<(Config, Vec<String>)> = vec![
        // missing
        (
            config_with_key(DOMAIN, "s1", &path("missing.pem"), ""),
            vec![
                "mail.dkim[0]".into(),
                path("missing.pem"),
                "cannot read".into(),
            ],
        ),
        // unreadable (a folder: the tests run as root, which reads any file)
        (
            config_with_key(DOMAIN, "s1", &path("a-folder.pem"), ""),
            vec![
                "mail.dkim[0]".into(),
                path("a-folder.pem"),
                "cannot read".into(),
            ],
        ),
        // not PEM
        (
            config_with_key(DOMAIN, "s1", &path("text.pem"), ""),
            vec![path("text.pem"), "not a PEM file".into()],
        ),
        // malformed
        (
            config_with_key(DOMAIN, "s1", &path("malformed.pem"), ""),
            vec![path("malformed.pem"), "not a valid RSA private key".into()],
        ),
        // wrong type: a public key, an EC key, an Ed25519 key where RSA is asked for
        (
            config_with_key(DOMAIN, "s1", &path("public.pem"), ""),
            vec![path("public.pem"), "PUBLIC KEY".into()],
        ),
        (
            config_with_key(DOMAIN, "s1", &path("ec.pem"), ""),
            vec![path("ec.pem"), "EC PRIVATE KEY".into()],
        ),
        (
            config_with_key(DOMAIN, "s1", &ed.path.display().to_string(), "rsa"),
            vec![ed.path.display().to_string(), "ed25519".into()],
        ),
        // selectors DNS cannot carry
        (
            config_with_key(DOMAIN, "bf_2026", &good, ""),
            vec!["mail.dkim[0]".into(), "\"bf_2026\"".into(), "DNS".into()],
        ),
        (
            config_with_key(DOMAIN, "bf 2026", &good, ""),
            vec!["mail.dkim[0]".into(), "DNS".into()],
        ),
        // a signing domain From is not aligned with
        (
            config_with_key("other.test", "s1", &good, ""),
            vec!["mail.dkim[0]".into(), "other.test".into(), "From".into()],
        ),
    ];
    for (config, expected) in &cases {
        let error = start_up_error(config);
        for needle in expected {
            assert!(
                error.contains(needle.as_str()),
                "{needle:?} not in: {error}"
            );
        }
    }
    // The good key is accepted, so the cases above fail for their own reason.
    assert!(Mailer::from_config(&config_with_key(DOMAIN, "good", &good, "")).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_unsigned_when_the_key_cannot_be_read() {
    let Some(smtp) = SmtpServer::start(SmtpBehaviour::default()).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("gone.pem");
    let config = format!(
        "database_url = \"sqlite://{}/bf.db\"\nsmtp_url = {:?}\n{}[[mail.dkim]]\ndomain = {DOMAIN:?}\nselector = \"s1\"\nprivate_key_file = {:?}\n",
        dir.path().display(),
        smtp.url(),
        identity_toml(),
        missing.display().to_string()
    );
    let config_path = dir.path().join("breakfast.toml");
    std::fs::write(&config_path, config).unwrap();
    let out = breakfast_cmd(
        &[
            "--config",
            config_path.to_str().unwrap(),
            "digest",
            "send",
            "--to",
            "editor@example.net",
        ],
        &[],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("mail.dkim[0]") && stderr.contains(&missing.display().to_string()),
        "{stderr}"
    );
    // aiosmtpd writes a message before it accepts it, so anything sent is there now.
    assert!(smtp.messages().is_empty(), "a message went out unsigned");
}
