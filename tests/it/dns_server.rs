//! A real DNS server for tests: Debian's dnsmasq on a loopback port, serving only the
//! records a test gives it, and answering NXDOMAIN for any other name in its domains.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::kit::free_port;

pub enum Record {
    /// A TXT record made of these strings (each at most 255 bytes).
    Txt(String, Vec<String>),
    /// name, exchange host, preference; host "." with preference 0 is a null MX
    /// (RFC 7505: the domain takes no mail), which dnsmasq serves as such.
    Mx(String, String, u16),
}

pub fn txt(name: &str, strings: &[&str]) -> Record {
    Record::Txt(name.into(), strings.iter().map(|s| s.to_string()).collect())
}

pub struct DnsServer {
    pub port: u16,
    child: Child,
    _dir: TempDir,
}

impl DnsServer {
    /// Starts dnsmasq authoritative-for-tests over `domains`. `None` (after saying so)
    /// when dnsmasq is not installed, unless `BREAKFAST_TEST_REQUIRE_SMTP=1` as in CI,
    /// where it is installed by `.ci/run`.
    pub async fn start(domains: &[&str], records: &[Record]) -> Option<DnsServer> {
        let binary = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(binary) = binary else {
            return unavailable("dnsmasq is not installed (apt-get install -y dnsmasq)");
        };
        let dir = tempfile::tempdir().unwrap();
        let mut conf = String::new();
        for domain in domains {
            conf.push_str(&format!("local=/{domain}/\n"));
        }
        for record in records {
            match record {
                Record::Txt(name, strings) => {
                    let quoted: Vec<String> = strings.iter().map(|s| format!("\"{s}\"")).collect();
                    conf.push_str(&format!("txt-record={name},{}\n", quoted.join(",")));
                }
                Record::Mx(name, host, preference) => {
                    conf.push_str(&format!("mx-host={name},{host},{preference}\n"));
                }
            }
        }
        let conf_path = dir.path().join("dnsmasq.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let port = free_port();
        let child = Command::new(binary)
            .arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", conf_path.display()))
            .arg(format!("--port={port}"))
            .arg("--listen-address=127.0.0.1")
            .arg("--bind-interfaces")
            .arg("--no-resolv")
            .arg("--no-hosts")
            .arg("--no-poll")
            .arg("--pid-file=")
            .arg("--user=root")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => return unavailable(&format!("cannot run dnsmasq: {e}")),
        };
        let mut server = DnsServer {
            port,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || server.child.try_wait().ok().flatten().is_some() {
                return unavailable("dnsmasq did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(server)
    }

    /// For `mail.dns_servers`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unavailable(why: &str) -> Option<DnsServer> {
    if std::env::var("BREAKFAST_TEST_REQUIRE_SMTP").is_ok_and(|v| v == "1") {
        panic!("a DNS server is required in CI: {why}");
    }
    eprintln!("SKIPPED: no DNS server: {why}");
    None
}
