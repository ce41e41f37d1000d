//! The whole service per test, on a fresh database, with real mail.

use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use breakfast::{
    App,
    config::Config,
    domain::Clock,
    service::{self, Role, run_until_shutdown},
    shutdown::{Shutdown, ShutdownTrigger},
};

use super::{Backend, SmtpServer, TestDb, wait_for_eml};

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
    /// Workers and periodic loops run only inside [`TestApp::run_pending_jobs`].
    on_demand: bool,
    trigger: ShutdownTrigger,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A change to a test's configuration, applied once it is read.
type ConfigChange = Box<dyn FnOnce(&mut Config) + Send>;

/// How a test's service is set up: database kind, configuration, clock, mail, and
/// whether jobs run in the background (the default, as in production) or on demand.
pub struct TestAppBuilder {
    backend: Backend,
    toml: String,
    clock: Clock,
    smtp_url: Option<String>,
    on_demand: bool,
    configure: Vec<ConfigChange>,
}

impl TestAppBuilder {
    /// TOML added to the test configuration (top-level keys before any table).
    pub fn toml(mut self, extra: &str) -> Self {
        self.toml.push_str(extra);
        self.toml.push('\n');
        self
    }

    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Mail goes to this SMTP server instead of the outbox folder.
    pub fn smtp(mut self, smtp: &SmtpServer) -> Self {
        self.smtp_url = Some(smtp.url());
        self
    }

    /// A change to the configuration once it is read.
    pub fn configure(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// No workers, sender or periodic loops in the background: nothing happens between
    /// a test's steps unless it calls [`TestApp::run_pending_jobs`].
    pub fn jobs_on_demand(mut self) -> Self {
        self.on_demand = true;
        self
    }

    /// Starts the web server (and, unless on demand, workers and periodic tasks).
    /// `None` (after saying so) when the database is unavailable and not required.
    pub async fn start(self) -> Option<TestApp> {
        let db = TestDb::create(self.backend).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let toml = match &self.smtp_url {
            Some(url) => format!("smtp_url = {url:?}\n{}", self.toml),
            None => self.toml,
        };
        let mut config = test_config(&db, &base, &toml);
        config.listen = addr;
        for f in self.configure {
            f(&mut config);
        }
        let app = service::open(config, self.clock).await.expect("app opens");
        let (trigger, shutdown) = Shutdown::new();
        let handle = if self.on_demand {
            tokio::spawn(breakfast::web::serve(app.clone(), listener, shutdown))
        } else {
            tokio::spawn(run_until_shutdown(
                app.clone(),
                Role::Serve,
                shutdown,
                Some(listener),
            ))
        };
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
            on_demand: self.on_demand,
            trigger,
            handle,
        })
    }
}

/// How long [`TestApp::run_pending_jobs`] may take before the test fails (a liveness
/// bound, not a performance figure).
const JOBS_DEADLINE: Duration = Duration::from_secs(120);

impl TestApp {
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            toml: String::new(),
            clock: Clock::System,
            smtp_url: None,
            on_demand: false,
            configure: Vec::new(),
        }
    }

    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::builder(backend).start().await
    }

    /// The service on `backend` with `extra_toml` added to the test configuration.
    pub async fn with_toml(backend: Backend, extra_toml: &str) -> Option<TestApp> {
        Self::builder(backend).toml(extra_toml).start().await
    }

    pub async fn spawn_with(backend: Backend, extra_toml: &str, clock: Clock) -> Option<TestApp> {
        Self::builder(backend)
            .toml(extra_toml)
            .clock(clock)
            .start()
            .await
    }

    pub async fn spawn_configured(
        backend: Backend,
        extra_toml: &str,
        clock: Clock,
        configure: impl FnOnce(&mut Config) + Send + 'static,
    ) -> Option<TestApp> {
        Self::builder(backend)
            .toml(extra_toml)
            .clock(clock)
            .configure(configure)
            .start()
            .await
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

    /// Runs the jobs until nothing is left to do: no job due (waiting, running, or
    /// failed with attempts left) and no digest still sending. With
    /// [`TestAppBuilder::jobs_on_demand`] the workers, the sender and the sweeper run
    /// in this call only and are stopped before it returns, so nothing more happens
    /// until the test's next step; otherwise the background workers are waited for.
    pub async fn run_pending_jobs(&self) {
        if !self.on_demand {
            return wait_until_idle(&self.app).await;
        }
        let (trigger, shutdown) = Shutdown::new();
        let workers = tokio::spawn(breakfast::queue::workers::run(
            self.app.clone(),
            shutdown.clone().wait(),
        ));
        let sweeper = breakfast::delivery::sweeper::spawn(&self.app, &shutdown);
        wait_until_idle(&self.app).await;
        trigger.trigger();
        workers.await.unwrap().expect("the workers stop cleanly");
        let _ = sweeper.await;
    }

    /// A request to `path` on this service, built on.
    pub fn request(&self, method: reqwest::Method, path: &str) -> Request {
        Request(self.http.request(method, self.url(path)))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path).send().await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.request(reqwest::Method::POST, path)
            .form(form)
            .send()
            .await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
    }

    /// A form post whose body is already URL-encoded (as a browser would send it).
    pub async fn post_encoded(&self, path: &str, body: &str) -> Response {
        self.request(reqwest::Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
    }

    pub async fn stop(self) {
        self.trigger.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.handle).await;
    }
}

/// Until no job is due within the next second and no digest is sending, seen twice in a
/// row (a job between two states is seen the second time).
async fn wait_until_idle(app: &App) {
    let deadline = Instant::now() + JOBS_DEADLINE;
    let mut quiet = 0;
    while quiet < 2 {
        let due = app.store.jobs_due(now_secs() + 1).await.unwrap();
        let sending = app.store.sending_digests().await.unwrap();
        if due == 0 && sending.is_empty() {
            quiet += 1;
        } else {
            quiet = 0;
            assert!(
                Instant::now() < deadline,
                "still {due} jobs due and digests {sending:?} sending after {JOBS_DEADLINE:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A request being built: [`reqwest::RequestBuilder`] with a typed answer.
pub struct Request(reqwest::RequestBuilder);

impl Request {
    pub fn form(self, form: &[(&str, &str)]) -> Request {
        Request(self.0.form(form))
    }

    pub fn json(self, body: &serde_json::Value) -> Request {
        Request(self.0.json(body))
    }

    pub fn bearer(self, token: &str) -> Request {
        Request(self.0.bearer_auth(token))
    }

    pub fn header(self, name: &str, value: &str) -> Request {
        Request(self.0.header(name, value))
    }

    pub fn body(self, body: impl Into<reqwest::Body>) -> Request {
        Request(self.0.body(body))
    }

    pub async fn send(self) -> Response {
        Response::read(self.0.send().await.expect("the request is answered")).await
    }
}

/// An answer, read whole: status, headers and body.
#[derive(Debug)]
pub struct Response {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Response {
    pub async fn read(res: reqwest::Response) -> Response {
        Response {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap_or_default(),
        }
    }

    /// Status and body, for tests that compare both.
    pub fn parts(self) -> (reqwest::StatusCode, String) {
        (self.status, self.body)
    }

    pub fn text(&self) -> &str {
        &self.body
    }

    /// The body as JSON; fails the test (showing the body) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The first value of header `name`, when there is one.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header("location")
    }
}

/// Requests carrying a bearer token, as an API client sends them.
pub struct Api<'a> {
    t: &'a TestApp,
    token: String,
}

impl TestApp {
    pub fn api(&self, token: &str) -> Api<'_> {
        Api {
            t: self,
            token: token.to_string(),
        }
    }
}

impl Api<'_> {
    pub fn request(&self, method: reqwest::Method, path: &str) -> Request {
        self.t.request(method, path).bearer(&self.token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(reqwest::Method::GET, path).send().await
    }

    pub async fn post(&self, path: &str) -> Response {
        self.request(reqwest::Method::POST, path).send().await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(reqwest::Method::DELETE, path).send().await
    }
}
