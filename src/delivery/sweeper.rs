//! The sweeper: re-queues fan-outs whose job was lost and closes finished digests.
//!
//! Jobs can be lost (pushed outside our transactions, or held by a process that died);
//! the ledger cannot. Rows need no sweeping: every sender claims straight from the
//! ledger, including the rows of dead owners. Each round is idempotent and safe to run
//! in every process at once.

use std::time::Duration;

use super::jobs::FanOutDigest;
use crate::app::App;

/// How often each process sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3);

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub fan_outs_requeued: usize,
    pub digests_finished: usize,
}

pub async fn sweep_once(app: &App) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let now = app.now_ms();
    let lease_ms = (app.config.queue.lease_secs.max(1) * 1000) as i64;
    // A fan-out just queued is left alone for a few rounds.
    let grace_ms = (SWEEP_EVERY.as_millis() as i64 * 3).min(lease_ms);
    for (id, fanned_out, started_at) in app.store.sending_digests().await? {
        if !fanned_out && started_at.is_none_or(|s| s < now - grace_ms) {
            app.queue.push(FanOutDigest { digest_id: id }).await?;
            report.fan_outs_requeued += 1;
        } else if fanned_out && super::finish_if_done(app, id).await? {
            report.digests_finished += 1;
        }
    }
    if report != SweepReport::default() {
        tracing::info!(?report, "delivery sweep");
    }
    Ok(report)
}

/// The sweeper loop, run by `serve` and `worker` alike (and by `digest send --wait`).
pub fn spawn(app: &App, shutdown: &crate::shutdown::Shutdown) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    crate::shutdown::every(
        "delivery-sweeper",
        SWEEP_EVERY,
        shutdown.clone(),
        move || {
            let app = app.clone();
            async move { sweep_once(&app).await.map(|_| ()) }
        },
    )
}
