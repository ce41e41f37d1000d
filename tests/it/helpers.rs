//! Spawning the whole service per test, on a fresh database, with real mail.

#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use breakfast::{
    App,
    config::Config,
    domain::Clock,
    service::{self, Role, run_until_shutdown},
    shutdown::{Shutdown, ShutdownTrigger},
};
use sqlx::Connection;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($test:ident) => {
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$test($crate::helpers::Backend::Postgres).await
            }
        }
    };
}

const DEFAULT_PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database for one test: a SQLite file in a temporary folder, or a new
/// PostgreSQL database with a random name.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    pub dir: TempDir,
}

impl TestDb {
    /// `None` (after saying so) when PostgreSQL is wanted but unreachable, unless
    /// `BREAKFAST_TEST_REQUIRE_PG=1`, as in CI, where that is a failure.
    pub async fn create(backend: Backend) -> Option<TestDb> {
        breakfast::install_crypto_provider();
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("breakfast.db").display());
                Some(TestDb { url, backend, dir })
            }
            Backend::Postgres => {
                let admin =
                    std::env::var("BREAKFAST_TEST_PG").unwrap_or_else(|_| DEFAULT_PG_ADMIN.into());
                let name = format!("bf_test_{}", uuid::Uuid::new_v4().simple());
                match create_pg_database(&admin, &name).await {
                    Ok(url) => Some(TestDb { url, backend, dir }),
                    Err(e) => {
                        if std::env::var("BREAKFAST_TEST_REQUIRE_PG").is_ok_and(|v| v == "1") {
                            panic!(
                                "PostgreSQL is required (BREAKFAST_TEST_REQUIRE_PG=1) but unreachable: {e}"
                            );
                        }
                        eprintln!("SKIPPED: PostgreSQL unreachable at {admin}: {e}");
                        None
                    }
                }
            }
        }
    }
}

async fn create_pg_database(admin: &str, name: &str) -> Result<String, sqlx::Error> {
    let mut conn = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(admin))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await?;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    Ok(format!("{base}/{name}"))
}

/// Configuration for a test: the defaults, the test database, an outbox in the test's
/// folder, fast polling, plus `extra` TOML (which may not repeat top-level keys set here).
pub fn test_config(db: &TestDb, base_url: &str, extra: &str) -> Config {
    let outbox = db.dir.path().join("outbox");
    let toml = format!(
        "database_url = {url:?}\nbase_url = {base_url:?}\nsecret = \"test-secret-0123456789\"\n{extra}\n",
        url = db.url,
    );
    let mut config =
        Config::from_toml_str(&toml).unwrap_or_else(|e| panic!("test config: {e}\n{toml}"));
    config.mail.outbox_dir = outbox.display().to_string();
    config.queue.poll_interval_ms = 50;
    // Test feeds are served on loopback, which the fetcher refuses unless allowed.
    config.ingest.allow_private = vec!["127.0.0.1".into()];
    // /metrics needs a token on the main address (unless a test sets its own).
    if config.metrics.token.is_empty() {
        config.metrics.token = breakfast::config::Secret::new(TEST_METRICS_TOKEN);
    }
    config
}

/// The metrics token of [`test_config`].
pub const TEST_METRICS_TOKEN: &str = "test-metrics-token-0123";

/// The whole service, running in this process on a loopback port.
pub struct TestApp {
    pub app: App,
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    trigger: ShutdownTrigger,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, "", Clock::System).await
    }

    /// Starts web server, workers and periodic tasks; `configure` may change the config.
    pub async fn spawn_with(backend: Backend, extra_toml: &str, clock: Clock) -> Option<TestApp> {
        Self::spawn_configured(backend, extra_toml, clock, |_| {}).await
    }

    pub async fn spawn_configured(
        backend: Backend,
        extra_toml: &str,
        clock: Clock,
        configure: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        let db = TestDb::create(backend).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut config = test_config(&db, &base, extra_toml);
        config.listen = addr;
        configure(&mut config);
        let app = service::open(config, clock).await.expect("app opens");
        let (trigger, shutdown) = Shutdown::new();
        let handle = tokio::spawn(run_until_shutdown(
            app.clone(),
            Role::Serve,
            shutdown,
            Some(listener),
        ));
        // Idle connections are dropped well before the server's header timeout closes
        // them, so a request never races the server's close of a kept-alive connection.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        Some(TestApp {
            app,
            addr,
            base,
            http,
            db,
            trigger,
            handle,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn outbox_dir(&self) -> PathBuf {
        PathBuf::from(&self.app.config.mail.outbox_dir)
    }

    /// Waits until the outbox holds at least `n` messages and returns them all, oldest first.
    pub async fn wait_for_outbox(&self, n: usize, timeout: Duration) -> Vec<String> {
        wait_for_eml(&self.outbox_dir(), n, timeout).await
    }

    pub async fn stop(self) {
        self.trigger.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.handle).await;
    }
}

/// Reads the `.eml` files of a folder, oldest first, waiting until there are `n`.
pub async fn wait_for_eml(dir: &Path, n: usize, timeout: Duration) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let messages = read_eml(dir);
        if messages.len() >= n || Instant::now() > deadline {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn read_eml(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "eml"));
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// A real SMTP server (aiosmtpd) in a child process, writing what it accepts to a folder.
pub struct SmtpServer {
    pub port: u16,
    pub dir: TempDir,
    child: Child,
}

#[derive(Default, Clone)]
pub struct SmtpBehaviour {
    /// RCPT TO addresses matching this regex get 550.
    pub reject: Option<String>,
    /// Each address gets 451 this many times before being accepted.
    pub tempfail: u32,
    pub delay_ms: u64,
    /// The first this-many messages have their connection closed during DATA.
    pub disconnect: u32,
}

impl SmtpServer {
    /// `None` (after saying so) when Python's aiosmtpd is missing, unless
    /// `BREAKFAST_TEST_REQUIRE_SMTP=1`, as in CI.
    pub async fn start(behaviour: SmtpBehaviour) -> Option<SmtpServer> {
        Self::start_on(free_port(), behaviour).await
    }

    pub async fn start_on(port: u16, behaviour: SmtpBehaviour) -> Option<SmtpServer> {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir.path())
            .arg("--tempfail")
            .arg(behaviour.tempfail.to_string())
            .arg("--delay-ms")
            .arg(behaviour.delay_ms.to_string())
            .arg("--disconnect")
            .arg(behaviour.disconnect.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(r) = &behaviour.reject {
            cmd.arg("--reject").arg(r);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return smtp_unavailable(&format!("cannot run python3: {e}")),
        };
        let stdout = child.stdout.take().unwrap();
        let ready = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            line
        });
        let line = tokio::time::timeout(Duration::from_secs(15), ready)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        if !line.starts_with("READY") {
            let _ = child.kill();
            return smtp_unavailable("aiosmtpd did not start (pip install aiosmtpd)");
        }
        Some(SmtpServer { port, dir, child })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        wait_for_eml(self.dir.path(), n, timeout).await
    }

    pub fn messages(&self) -> Vec<String> {
        read_eml(self.dir.path())
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn smtp_unavailable(why: &str) -> Option<SmtpServer> {
    if std::env::var("BREAKFAST_TEST_REQUIRE_SMTP").is_ok_and(|v| v == "1") {
        panic!("an SMTP server is required (BREAKFAST_TEST_REQUIRE_SMTP=1): {why}");
    }
    eprintln!("SKIPPED: no SMTP server: {why}");
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A received message, parsed by a MIME library the project did not write.
pub struct Mail {
    pub raw: String,
    pub subject: String,
    pub to: String,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        let msg = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a MIME message");
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string();
        Mail {
            raw: raw.to_string(),
            subject: msg.subject().unwrap_or_default().to_string(),
            to,
            text: msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
            html: msg.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
        }
    }

    /// The value of header `name` (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let msg = mail_parser::MessageParser::default().parse(self.raw.as_bytes())?;
        msg.header_raw(name).map(|v| {
            v.replace("\r\n", "")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
}

/// The first `http…` URL in `text` containing `needle`.
pub fn find_link(text: &str, needle: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>' || c == '\'')
        .find(|w| w.starts_with("http") && w.contains(needle))
        .map(|w| w.replace("&amp;", "&"))
}

/// Runs the built `breakfast` binary with `args` and environment, returning its output.
pub fn breakfast_cmd(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> std::process::Output {
    // `timeout` bounds a command that would otherwise hang the test run.
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(env!("CARGO_BIN_EXE_breakfast"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("BREAKFAST_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("breakfast runs")
}
