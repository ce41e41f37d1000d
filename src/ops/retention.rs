//! Pruning on a schedule, so the database does not grow without bound, and the done-job
//! tallies that keep the queue dashboard fast.
//!
//! - Done jobs older than `retention.done_jobs_days` are deleted from apalis's table: they
//!   carry nothing but their payload once the ledger has recorded the outcome. Dead jobs
//!   stay until an operator retries or purges them.
//! - The ledger rows of digests whose send ended more than
//!   `retention.delivery_details_days` ago are deleted; the digest itself, its content and
//!   its recipient count stay. 0 turns either rule off.

use std::time::Duration;

use crate::{app::App, shutdown::Shutdown};

/// How often the done-job tallies move forward (see `queue::stats`).
const TICK: Duration = Duration::from_secs(60);
/// Pruning and a full recount happen once in this many ticks (hourly), and at start.
const PRUNE_EVERY_TICKS: u64 = 60;
/// The tallies stop this far behind the clock, so late acknowledgements still count.
const TALLY_LAG_SECS: i64 = 300;

const DAY_SECS: i64 = 86_400;

/// What one round deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub jobs: u64,
    pub deliveries: u64,
}

/// One round of pruning, by the configured rules.
pub async fn prune(app: &App) -> anyhow::Result<Pruned> {
    let rules = &app.config.retention;
    let mut pruned = Pruned::default();
    if rules.done_jobs_days > 0 {
        let before = super::metrics::now_secs() - i64::from(rules.done_jobs_days) * DAY_SECS;
        pruned.jobs = app.store.purge_done_jobs(before).await?;
    }
    if rules.delivery_details_days > 0 {
        let before = app.now_ms() - i64::from(rules.delivery_details_days) * DAY_SECS * 1000;
        pruned.deliveries = app.store.prune_delivery_details(before).await?;
    }
    if pruned != Pruned::default() {
        tracing::info!(
            done_jobs = pruned.jobs,
            delivery_rows = pruned.deliveries,
            "retention: pruned old records"
        );
    }
    Ok(pruned)
}

/// One tick: the tallies move forward; every hour (and at start) pruning runs and the
/// tallies are recounted in full, which also repairs any drift.
async fn tick(app: &App, round: u64) -> anyhow::Result<()> {
    let full = round.is_multiple_of(PRUNE_EVERY_TICKS);
    if full {
        prune(app).await?;
    }
    let until = super::metrics::now_secs() - TALLY_LAG_SECS;
    app.store.refresh_done_counts(until, full).await?;
    Ok(())
}

/// Runs [`tick`] every minute until shutdown.
pub fn spawn(app: &App, shutdown: &Shutdown) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    let round = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    crate::shutdown::every("retention", TICK, shutdown.clone(), move || {
        let app = app.clone();
        let round = round.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        async move { tick(&app, round).await }
    })
}
