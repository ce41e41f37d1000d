//! Times the admin's subscribers table at 100 000 subscribers, over real HTTP on
//! loopback, and the import of a 100 000-line CSV file. Run with
//! `cargo run --release --bin bench_audience [-- SUBSCRIBERS]` (SQLite in a temporary
//! folder), or point `BENCH_DATABASE_URL` at an empty PostgreSQL database.
//!
//! The subscribers come in through the import code the admin's upload runs (a generated
//! CSV file, timed), every one of them gets a sent delivery of one issue (so "last sent"
//! has rows to look at), then each kind of page — first, deep in the list, filtered,
//! searched, sorted by address, walking backwards — is fetched `RUNS` times with an
//! editor's session and its median and worst time printed against the 100 ms ceiling.

mod common;

use std::{
    io::Write as _,
    time::{Duration, Instant},
};

use breakfast::{
    App,
    domain::{Frequency, SubscriberStatus},
    shutdown::Shutdown,
    store::{query, subscribers::SubscriberFilter, users::AdminRole},
    subscribers::{ImportOptions, import_csv},
};

const RUNS: usize = 15;
const CEILING_MS: f64 = 100.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = common::size_arg(100_000)?;
    common::run(common::Database::FromEnv, "", |app, dir| run(app, dir, n)).await
}

async fn run(app: App, dir: std::path::PathBuf, n: usize) -> anyhow::Result<()> {
    let database = common::database_name(&app);

    // The import, timed: the same code the admin's background job runs.
    let file = dir.join("subscribers.csv");
    write_file(&file, n)?;
    let started = Instant::now();
    let reader = std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(&file)?);
    let options = ImportOptions {
        confirmed: true,
        ..Default::default()
    };
    let report = import_csv(&app, reader, &options, |_| {}).await?;
    println!(
        "{database}: imported {} of {} lines in {:.1} s ({} invalid, {} repeated)",
        report.accepted,
        report.rows,
        started.elapsed().as_secs_f64(),
        report.invalid.len(),
        report.duplicate_in_file.len()
    );
    seed_deliveries(&app).await?;
    // Fresh statistics, as autovacuum would have them a minute after a bulk load.
    if app.store.is_postgres() {
        app.store.fixture_exec(query("ANALYZE")).await?;
    }

    let hash = breakfast::web::auth::hash_password("bench password 123")?;
    let user = app
        .store
        .insert_admin_user("bench@example.org", &hash, AdminRole::Editor, app.now_ms())
        .await?;
    let cookie = breakfast::web::auth::start_session(&app, &user).await?;
    let cookie = cookie
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (trigger, shutdown) = Shutdown::new();
    let server = tokio::spawn(breakfast::web::serve(app.clone(), listener, shutdown));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://{addr}/admin/subscribers");

    // A cursor deep in the list: the subscriber at the middle of the default order.
    let middle = app
        .store
        .subscriber_page(
            &Default::default(),
            Default::default(),
            Default::default(),
            (n / 2) as i64,
        )
        .await?
        .rows
        .last()
        .map(|r| r.subscriber.id)
        .unwrap_or(1);
    let pages = [
        ("first page", String::new()),
        ("halfway (after a cursor)", format!("?after={middle}")),
        ("previous page from halfway", format!("?before={middle}")),
        ("by address, halfway", format!("?sort=email&after={middle}")),
        (
            "status=unsubscribed (1 in 50)",
            "?status=unsubscribed".into(),
        ),
        (
            "status=confirmed&frequency=weekly",
            "?status=confirmed&frequency=weekly".into(),
        ),
        ("source=web (nobody)", "?source=web".into()),
        ("search \"reader 4242\"", "?q=reader+4242".into()),
        ("search \"@example\" (everyone)", "?q=%40example".into()),
        ("search \"zzz\" (nobody)", "?q=zzz".into()),
    ];
    println!(
        "{database}: GET /admin/subscribers at {n} subscribers, {RUNS} runs each (ceiling {CEILING_MS} ms)"
    );
    let mut worst_median: f64 = 0.0;
    for (label, query) in pages {
        let url = format!("{base}{query}");
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            let res = http
                .get(&url)
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await?;
            let status = res.status();
            let body = res.text().await?;
            times.push(started.elapsed());
            anyhow::ensure!(status.is_success(), "{url}: {status}");
            anyhow::ensure!(body.contains("match"), "{url}: not the table");
        }
        times.sort();
        let median = ms(times[RUNS / 2]);
        worst_median = worst_median.max(median);
        println!(
            "  {label:<36} median {median:>6.1} ms  worst {:>6.1} ms  ({:.2} of the ceiling)",
            ms(times[RUNS - 1]),
            median / CEILING_MS
        );
    }
    // Where a page's time goes, query by query, for the slowest kinds of page.
    for (label, filter) in [
        (
            "search \"zzz\"",
            SubscriberFilter {
                search: Some("zzz".into()),
                ..Default::default()
            },
        ),
        (
            "confirmed+weekly",
            SubscriberFilter {
                status: Some(SubscriberStatus::Confirmed),
                frequency: Some(Frequency::Weekly),
                ..Default::default()
            },
        ),
    ] {
        let t = Instant::now();
        app.store
            .subscriber_listing(&filter, Default::default(), Default::default(), 50)
            .await?;
        let listing = ms(t.elapsed());
        let t = Instant::now();
        app.store.count_subscribers_by_status().await?;
        let statuses = ms(t.elapsed());
        let t = Instant::now();
        app.store.subscriber_sources().await?;
        let sources = ms(t.elapsed());
        println!(
            "  {label:<36} page and count {listing:.1} ms, counts by status {statuses:.1} ms, sources {sources:.1} ms"
        );
    }
    println!(
        "{database}: slowest median {worst_median:.1} ms = {:.2} of the {CEILING_MS} ms ceiling",
        worst_median / CEILING_MS
    );
    trigger.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    app.close().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `n` lines: every 50th unsubscribed, every 3rd weekly, names to search for.
fn write_file(path: &std::path::Path, n: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "email,name,status,created_at,frequency")?;
    let base = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")?;
    for i in 0..n {
        let status = if i % 50 == 0 {
            "unsubscribed"
        } else {
            "confirmed"
        };
        let frequency = if i % 3 == 0 { "weekly" } else { "daily" };
        let created = base + chrono::Duration::minutes((i * 7 % n) as i64);
        writeln!(
            out,
            "reader{i:06}@example.org,Reader {i},{status},{},{frequency}",
            created.to_rfc3339()
        )?;
    }
    out.flush()?;
    Ok(())
}

/// One sent issue to everyone, straight into the ledger (the send is not under test).
async fn seed_deliveries(app: &App) -> anyhow::Result<()> {
    app.store
        .insert_sent_issue("2026-11-30", "Bench", None, app.now_ms())
        .await?;
    Ok(())
}
