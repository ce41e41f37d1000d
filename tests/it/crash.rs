//! Crash semantics of delivery, with the real binary and a real SMTP server counting
//! what it accepted: `kill -9` at a random moment loses nobody and doubles at most the
//! in-flight limit; a restarted (or surviving) process takes the dead one's rows over
//! through the heartbeat, not the lease; several processes share one digest.
//!
//! Correctness only. Leases are set to an hour, so a digest that completes at all
//! within the test's deadline was taken over through the dead owner's silence.
//! `BREAKFAST_CRASH_ROUNDS` (default 2) and `BREAKFAST_CRASH_RECIPIENTS` (default 2 000)
//! size the kill test; `bench/crash.sh` runs the full 10 rounds.

use std::{
    collections::HashMap,
    process::Child,
    time::{Duration, Instant},
};

use breakfast::{
    App,
    delivery::{self, send::in_flight_limit},
    domain::{Clock, SubscriberStatus},
    store::deliveries::DeliveryProgress,
};
use rand::Rng;

use crate::{
    kit::digest,
    kit::{Backend, SmtpBehaviour, SmtpServer, TestDb, received, test_config},
};

/// Far beyond the test: only the heartbeat can hand a dead process's rows over.
const LEASE_SECS: &str = "3600";
/// Generous liveness deadline for one digest (not a performance figure).
const DEADLINE: Duration = Duration::from_secs(300);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `breakfast serve` or `breakfast worker` as a child process sending to `smtp`.
fn spawn_breakfast(command: &str, db: &TestDb, smtp: &SmtpServer) -> Child {
    let url = smtp.url();
    crate::kit::spawn_breakfast(
        command,
        db,
        &[
            ("BREAKFAST_SMTP_URL", url.as_str()),
            ("BREAKFAST_QUEUE__LEASE_SECS", LEASE_SECS),
        ],
    )
}

fn kill_9(child: &mut Child) {
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().expect("reaped");
}

/// An app in the test process that only enqueues and reads (no workers), whose
/// configuration is the one the children run with (so the bound is theirs).
async fn test_side_app(db: &TestDb, smtp: &SmtpServer) -> App {
    let config = test_config(
        db,
        "http://127.0.0.1:9",
        &format!("smtp_url = {:?}", smtp.url()),
    );
    App::open(config, Clock::System).await.expect("app opens")
}

async fn add_subscribers(app: &App, n: usize) {
    for i in 0..n {
        let address = format!("reader{i}@example.org");
        crate::kit::subscriber(app, &address, SubscriberStatus::Confirmed).await;
    }
}

async fn wait_accepted(servers: &[&SmtpServer], n: usize) {
    let deadline = Instant::now() + DEADLINE;
    while servers.iter().map(|s| s.accepted()).sum::<usize>() < n {
        assert!(Instant::now() < deadline, "fewer than {n} messages arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_until_sent(app: &App, digest_id: i64) -> DeliveryProgress {
    let p = crate::kit::wait_until_sent(app, digest_id, DEADLINE).await;
    assert!(p.is_finished(), "the digest did not finish: {p:?}");
    p
}

async fn wait_for_live_owners(app: &App, n: i64) {
    let deadline = Instant::now() + DEADLINE;
    while app.store.live_delivery_owners(app.now_ms()).await.unwrap() < n {
        assert!(Instant::now() < deadline, "{n} senders did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every recipient got the digest, at most `bound` twice (and nobody three times):
/// returns the number of duplicates.
fn assert_bounds(counts: &HashMap<String, usize>, n: usize, bound: usize, what: &str) -> usize {
    let lost = (0..n)
        .filter(|i| !counts.contains_key(&format!("reader{i}@example.org")))
        .count();
    let doubles: usize = counts.values().map(|c| c - 1).sum();
    assert_eq!(lost, 0, "{what}: {lost} recipients lost");
    assert_eq!(counts.len(), n, "{what}: unexpected recipients");
    assert!(
        doubles <= bound,
        "{what}: {doubles} duplicates, more than the in-flight limit {bound}"
    );
    doubles
}

/// An SMTP server that offers PIPELINING, as the relays Breakfast sends through do: the
/// messages on the wire when the process dies are the pipelined ones.
fn relay() -> SmtpBehaviour {
    SmtpBehaviour {
        pipelining: true,
        ..Default::default()
    }
}

async fn kill_9_at_a_random_moment_then_restart(backend: Backend) {
    let rounds = env_usize("BREAKFAST_CRASH_ROUNDS", 2);
    let n = env_usize("BREAKFAST_CRASH_RECIPIENTS", 2000);
    let Some(db) = TestDb::create(backend).await else {
        return;
    };
    let Some(first_smtp) = SmtpServer::start(relay()).await else {
        return;
    };
    let app = test_side_app(&db, &first_smtp).await;
    let bound = in_flight_limit(&app.config);
    add_subscribers(&app, n).await;
    let mut smtp = Some(first_smtp);
    for round in 0..rounds {
        let smtp = match smtp.take() {
            Some(s) => s,
            None => SmtpServer::start(relay()).await.unwrap(),
        };
        let id = digest(&app, &format!("2026-11-{:02}", round + 1)).await;
        let mut first = spawn_breakfast("serve", &db, &smtp);
        wait_for_live_owners(&app, 1).await;
        delivery::start_send(&app, id).await.unwrap();
        let kill_after = rand::rng().random_range(n / 20..n * 9 / 10);
        wait_accepted(&[&smtp], kill_after).await;
        kill_9(&mut first);
        let at_kill = smtp.accepted();
        let p = app.store.delivery_progress(id, app.now_ms()).await.unwrap();
        assert!(
            at_kill < n,
            "round {round}: the send finished before the kill"
        );

        let mut second = spawn_breakfast("serve", &db, &smtp);
        let restarted = Instant::now();
        let done = wait_until_sent(&app, id).await;
        let recovery = restarted.elapsed();
        kill_9(&mut second);
        assert_eq!(
            (done.sent, done.failed),
            (n as i64, 0),
            "round {round}: {done:?}"
        );
        let doubles = assert_bounds(&received(&[&smtp]), n, bound, &format!("round {round}"));
        eprintln!(
            "{backend:?} round {round}: killed after {at_kill} accepted ({} recorded sent, {} sending); \
             {doubles} duplicates (limit {bound}); finished {:.1}s after the restart",
            p.sent,
            p.sending,
            recovery.as_secs_f64()
        );
    }
    app.close().await;
}
crate::on_both_databases!(kill_9_at_a_random_moment_then_restart);

/// Three processes on one PostgreSQL: each sends a fair share of one digest; then one
/// is killed mid-send of the next and the other two finish it within the bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_a_digest_and_survive_one_killed() {
    let n = env_usize("BREAKFAST_CRASH_RECIPIENTS", 2000);
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        return;
    };
    let mut servers = Vec::new();
    for _ in 0..3 {
        let Some(s) = SmtpServer::start(relay()).await else {
            return;
        };
        servers.push(s);
    }
    let app = test_side_app(&db, &servers[0]).await;
    let bound = in_flight_limit(&app.config);
    add_subscribers(&app, n).await;
    let mut children = [
        spawn_breakfast("serve", &db, &servers[0]),
        spawn_breakfast("worker", &db, &servers[1]),
        spawn_breakfast("worker", &db, &servers[2]),
    ];
    wait_for_live_owners(&app, 3).await;
    let all: Vec<&SmtpServer> = servers.iter().collect();

    let id = digest(&app, "2026-11-01").await;
    delivery::start_send(&app, id).await.unwrap();
    let p = wait_until_sent(&app, id).await;
    assert_eq!((p.sent, p.failed), (n as i64, 0), "{p:?}");
    let shares: Vec<usize> = servers.iter().map(|s| s.accepted()).collect();
    eprintln!("shares of {n}: {shares:?}");
    assert_bounds(&received(&all), n, 0, "no crash");
    for (i, share) in shares.iter().enumerate() {
        assert!(
            share * 5 >= n,
            "process {i} sent {share} of {n}, less than 20 %: {shares:?}"
        );
    }

    // The next digest: kill one worker once a third has gone out.
    let before: Vec<usize> = shares;
    let id = digest(&app, "2026-11-02").await;
    delivery::start_send(&app, id).await.unwrap();
    wait_accepted(&all, n + n / 3).await;
    kill_9(&mut children[1]);
    let p = wait_until_sent(&app, id).await;
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!((p.sent, p.failed), (n as i64, 0), "{p:?}");
    let mut counts = received(&all);
    // Take away the first digest: one message per recipient.
    for c in counts.values_mut() {
        *c -= 1;
    }
    counts.retain(|_, c| *c > 0);
    let doubles = assert_bounds(&counts, n, bound, "one of three killed");
    let after: Vec<usize> = servers.iter().map(|s| s.accepted()).collect();
    eprintln!(
        "second digest per process: {:?}; {doubles} duplicates (limit {bound})",
        {
            after
                .iter()
                .zip(&before)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>()
        }
    );
    app.close().await;
}
