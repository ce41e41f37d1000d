//! Fan-out: from one sending digest to its ledger rows and batch jobs.

use super::jobs::DeliverBatch;
use crate::{app::App, store::digests::DigestStatus};

/// Writes the ledger for the edition's audience (one transaction with its history event;
/// idempotent: a second run adds nobody) and queues every batch.
/// A digest with nobody to send to is finished at once with 0 recipients.
pub async fn fan_out(app: &App, digest_id: i64) -> anyhow::Result<(i64, i64)> {
    let digest = app.store.digest(digest_id).await?;
    if digest.status != DigestStatus::Sending {
        tracing::info!(
            digest = digest_id,
            status = digest.status.as_str(),
            "fan-out skipped: digest is not sending"
        );
        return Ok((0, 0));
    }
    let started = std::time::Instant::now();
    let batch_size = app.config.queue.batch_size.max(1) as i64;
    // With delivery in each reader's zone, each row waits for its reader's moment.
    let moments = crate::schedule::moments::moments(app, &digest).await?;
    let (recipients, batches) = app
        .store
        .fan_out_at(digest_id, batch_size, app.now_ms(), moments.as_ref())
        .await?;
    tracing::info!(
        digest = digest_id,
        recipients,
        batches,
        ms = started.elapsed().as_millis() as u64,
        "delivery ledger written"
    );
    for batch_no in 0..batches {
        app.queue
            .push(DeliverBatch {
                digest_id,
                batch_no,
            })
            .await?;
    }
    super::finish_if_done(app, digest_id).await?;
    Ok((recipients, batches))
}

/// The [`FanOutDigest`](super::jobs::FanOutDigest) handler: writes the ledger, then wakes
/// this process's sender. Its lines carry a `job` span naming the digest.
#[tracing::instrument(name = "job", skip_all, fields(kind = "fan-out", digest = job.digest_id))]
pub async fn fan_out_digest(
    job: super::jobs::FanOutDigest,
    app: apalis::prelude::Data<App>,
) -> Result<(), apalis::prelude::BoxDynError> {
    fan_out(&app, job.digest_id).await?;
    super::send::wake();
    Ok(())
}
