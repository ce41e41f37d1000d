//! The sweeper: puts the ledger's due work back on the queue and closes finished digests.
//!
//! Jobs can be lost (pushed outside our transactions, or held by a process that died);
//! the ledger cannot. Each round is idempotent and safe to run in every process at once:
//! the rows it finds are stamped in the same statement, and a duplicate job only finds
//! nothing left to claim.

use std::time::Duration;

use super::jobs::{DeliverBatch, FanOutDigest};
use crate::app::App;

/// How often each process sweeps.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3);

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub batches_requeued: usize,
    pub fan_outs_requeued: usize,
    pub digests_finished: usize,
}

pub async fn sweep_once(app: &App) -> anyhow::Result<SweepReport> {
    let mut report = SweepReport::default();
    let now = app.now_ms();
    let lease_ms = (app.config.queue.lease_secs.max(1) * 1000) as i64;
    // Rows just re-queued are left alone for a few rounds; queued rows are only stale
    // after a whole lease, since a big send keeps later batches waiting legitimately.
    let grace_ms = (SWEEP_EVERY.as_millis() as i64 * 3).min(lease_ms);
    for (id, fanned_out, started_at) in app.store.sending_digests().await? {
        if !fanned_out && started_at.is_none_or(|s| s < now - grace_ms) {
            app.queue.push(FanOutDigest { digest_id: id }).await?;
            report.fan_outs_requeued += 1;
        } else if fanned_out && super::finish_if_done(app, id).await? {
            report.digests_finished += 1;
        }
    }
    let stale = app
        .store
        .sweep_stale_batches(now, now - lease_ms, now - grace_ms)
        .await?;
    for (digest_id, batch_no) in stale {
        app.queue
            .push(DeliverBatch {
                digest_id,
                batch_no,
            })
            .await?;
        report.batches_requeued += 1;
    }
    if report != SweepReport::default() {
        tracing::info!(?report, "delivery sweep");
    }
    Ok(report)
}

/// The sweeper loop, run by `serve` and `worker` alike (and by `digest send --wait`).
pub fn spawn(app: &App, shutdown: &crate::shutdown::Shutdown) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    crate::tasks::every(
        "delivery-sweeper",
        SWEEP_EVERY,
        shutdown.clone(),
        move || {
            let app = app.clone();
            async move { sweep_once(&app).await.map(|_| ()) }
        },
    )
}
