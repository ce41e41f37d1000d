//! The delivery job kinds. Each is only a prompt: the ledger says what is left to do.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data, WorkerContext};
use serde::{Deserialize, Serialize};

use super::send::DeliveryRuntime;
use crate::{app::App, queue::Job};

/// Write the ledger rows of a digest that has started sending, then queue its batches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanOutDigest {
    pub digest_id: i64,
}

impl Job for FanOutDigest {
    const QUEUE: &'static str = "delivery-fan-out";
    const MAX_ATTEMPTS: usize = 5;
}

/// Send what is sendable in one batch of a digest's ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverBatch {
    pub digest_id: i64,
    pub batch_no: i64,
}

impl Job for DeliverBatch {
    /// Few attempts: a batch that fails on the database is re-queued by the sweeper.
    const QUEUE: &'static str = "delivery-batch";
    const MAX_ATTEMPTS: usize = 3;
}

pub async fn fan_out_digest(job: FanOutDigest, app: Data<App>) -> Result<(), BoxDynError> {
    super::fanout::fan_out(&app, job.digest_id).await?;
    Ok(())
}

pub async fn deliver_batch(
    job: DeliverBatch,
    app: Data<App>,
    rt: Data<Arc<DeliveryRuntime>>,
    ctx: WorkerContext,
) -> Result<(), BoxDynError> {
    let report = super::send::deliver_batch(&app, &rt, &job, || ctx.is_shutting_down()).await?;
    tracing::debug!(
        digest = job.digest_id,
        batch = job.batch_no,
        ?report,
        "batch done"
    );
    Ok(())
}

/// Builds the batch worker: like the queue's other workers, plus the process-wide
/// [`DeliveryRuntime`] (rate and in-flight limits) and `queue.delivery_workers` batches
/// at once. No in-process retry layer: the ledger, not the job, decides retries.
macro_rules! delivery_worker {
    ($app:expr, $storage:expr) => {{
        let app: $crate::app::App = $app.clone();
        let storage = $storage;
        let poll = std::time::Duration::from_millis(app.config.queue.poll_interval_ms.max(10));
        let runtime =
            std::sync::Arc::new($crate::delivery::send::DeliveryRuntime::new(&app.config));
        let concurrency = app.config.queue.delivery_workers.max(1);
        move |_restarts: usize| {
            WorkerBuilder::new($crate::queue::worker_name(
                <$crate::delivery::jobs::DeliverBatch as $crate::queue::Job>::QUEUE,
            ))
            .backend(
                storage
                    .clone()
                    .poll_with_strategy($crate::queue::workers::Tick::new(poll)),
            )
            .data(app.clone())
            .data(runtime.clone())
            .concurrency(concurrency)
            .timeout(std::time::Duration::from_secs(3600))
            .catch_panic()
            .enable_tracing()
            .build($crate::delivery::jobs::deliver_batch)
        }
    }};
}
pub(crate) use delivery_worker;
