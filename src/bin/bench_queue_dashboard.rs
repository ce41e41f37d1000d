//! Times the queue dashboard with a million done jobs in the table. Run with
//! `cargo run --release --bin bench_queue_dashboard [-- DONE_JOBS]`
//! (SQLite in a temporary folder), or point `BENCH_DATABASE_URL` at an empty
//! PostgreSQL database to measure that instead.
//!
//! It fills apalis's table with done jobs finished over the last day (one statement),
//! adds a few hundred waiting, failed and dead ones, a digest send of 50 000 ledger
//! rows, then times what `GET /admin/queue` does after authentication — every query
//! of the page and the rendering — as well as `/metrics`' gauge refresh.

mod common;

use std::time::{Duration, Instant};

use breakfast::{
    App, ops::metrics::now_secs, queue::fixtures::RawJob, web::admin::queue::queue_view,
};
use templates::{admin::AdminNav, page::PageMeta, queue::queue_page};

const RUNS: usize = 30;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let done_jobs: i64 = common::size_arg(1_000_000)?;
    common::run(common::Database::FromEnv, "", |app, dir| {
        run(app, dir, done_jobs)
    })
    .await
}

async fn run(app: App, _dir: std::path::PathBuf, done_jobs: i64) -> anyhow::Result<()> {
    let database = common::database_name(&app);

    let started = Instant::now();
    let inserted = app
        .store
        .insert_done_jobs("digest-delivery", done_jobs, now_secs())
        .await?;
    println!(
        "{database}: inserted {inserted} done jobs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    seed_failures(&app).await?;
    seed_send(&app).await?;
    let (first, ms) = common::timed(view_ms(&app)).await;
    first?;
    println!("first view before any tally (a full count): {ms:.1} ms");
    // What the background loop does every hour (full) and every minute (incremental).
    for (what, since, full) in [
        (
            "full recount of the done tally (background, hourly)",
            300,
            true,
        ),
        (
            "incremental tally refresh (background, every minute)",
            240,
            false,
        ),
    ] {
        let (done, ms) =
            common::timed(app.store.refresh_done_counts(now_secs() - since, full)).await;
        done?;
        println!("{what}: {ms:.1} ms");
    }

    let mut page_times = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        let view = queue_view(&app).await?;
        let html = queue_page(&PageMeta::default(), &AdminNav::default(), &view).into_string();
        page_times.push(started.elapsed());
        bytes = html.len();
    }
    let mut metrics_times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        breakfast::ops::metrics::render(&app).await;
        metrics_times.push(started.elapsed());
    }
    breakdown(&app).await?;
    report("/admin/queue (queries + render)", &mut page_times);
    println!("  page size {bytes} bytes");
    report("/metrics (gauges + render)", &mut metrics_times);
    app.close().await;
    Ok(())
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}: min {:.1} ms, median {:.1} ms, max {:.1} ms over {} runs",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

/// A few hundred jobs in every other state, across two kinds.
async fn seed_failures(app: &App) -> anyhow::Result<()> {
    let now = now_secs();
    for i in 0..300 {
        let (kind, status, attempts) = match i % 4 {
            0 => ("digest-delivery", "Pending", 0),
            1 => ("digest-delivery", "Failed", 2),
            2 => ("transactional-email", "Killed", 8),
            _ => ("transactional-email", "Failed", 8),
        };
        let id = format!("bench-{i}");
        app.store
            .insert_raw_job(&RawJob {
                id: &id,
                kind,
                payload: b"{}",
                status,
                attempts,
                max_attempts: 8,
                run_at_secs: now - i,
                done_at_secs: (status != "Pending").then_some(now - i),
                last_result: (status != "Pending")
                    .then_some(r#"{"Err":"temporary failure: 451 4.3.0 try again later"}"#),
            })
            .await?;
    }
    Ok(())
}

/// A digest half way through sending to 50 000 subscribers.
async fn seed_send(app: &App) -> anyhow::Result<()> {
    app.store.insert_bench_send(50_000, app.now_ms()).await?;
    Ok(())
}

/// Each query of the page on its own, to see where the time goes.
async fn breakdown(app: &App) -> anyhow::Result<()> {
    let store = &app.store;
    let now_ms = app.now_ms();
    let mut t = Instant::now();
    let mut lap = |what: &str| {
        println!("  {what}: {:.1} ms", t.elapsed().as_secs_f64() * 1000.0);
        t = Instant::now();
    };
    store.job_kinds().await?;
    lap("job kinds");
    store.queue_stats(&[], now_secs()).await?;
    lap("counts per kind");
    store.job_failures(20).await?;
    lap("latest failures");
    store
        .digest_progress(now_ms - 86_400_000, now_ms, 5)
        .await?;
    lap("digest progress");
    store.sent_per_minute(now_ms, 60).await?;
    lap("sent per minute");
    Ok(())
}

async fn view_ms(app: &App) -> anyhow::Result<()> {
    queue_view(app).await?;
    Ok(())
}
