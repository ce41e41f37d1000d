//! Starting the queue workers for every job kind, on whichever database is live.

use std::{future::Future, time::Duration};

use apalis::{
    layers::retry::{
        HasherRng, RetryPolicy,
        backoff::{ExponentialBackoffMaker, MakeBackoff},
    },
    prelude::*,
};

use super::{Queue, jobs, postgres_storage, sqlite_storage, worker_name};
use crate::app::App;

/// Builds one worker: poll the named queue, hand each job the app, retry transient
/// failures in-process with exponential backoff and jitter before apalis counts an attempt.
macro_rules! worker {
    ($app:expr, $storage:expr, $job:ty, $concurrency:expr, $handler:expr) => {{
        let app = $app.clone();
        let storage = $storage;
        let poll = Duration::from_millis(app.config.queue.poll_interval_ms.max(10));
        move |_restarts: usize| {
            WorkerBuilder::new(worker_name(<$job as super::Job>::QUEUE))
                .backend(storage.clone().poll_with_interval(poll))
                .data(app.clone())
                .concurrency($concurrency)
                .retry(RetryPolicy::retries(2).with_backoff(backoff()))
                .timeout(Duration::from_secs(300))
                .catch_panic()
                .enable_tracing()
                .build($handler)
        }
    }};
}

/// Registers every job kind on `monitor`. Adding a job kind means adding a line here.
macro_rules! register_all {
    ($monitor:expr, $app:expr, $storage_fn:ident, $pool:expr) => {{
        $monitor
            .register(worker!(
                $app,
                $storage_fn::<jobs::SendTransactional>($pool),
                jobs::SendTransactional,
                4,
                jobs::send_transactional
            ))
            .register(worker!(
                $app,
                $storage_fn::<crate::delivery::jobs::FanOutDigest>($pool),
                crate::delivery::jobs::FanOutDigest,
                2,
                crate::delivery::jobs::fan_out_digest
            ))
            .register(crate::delivery::jobs::delivery_worker!(
                $app,
                $storage_fn::<crate::delivery::jobs::DeliverBatch>($pool)
            ))
    }};
}

fn backoff() -> apalis::layers::retry::backoff::ExponentialBackoff<HasherRng> {
    ExponentialBackoffMaker::new(
        Duration::from_secs(1),
        Duration::from_secs(30),
        0.5,
        HasherRng::default(),
    )
    .expect("static backoff bounds are valid")
    .make_backoff()
}

/// Runs workers for every job kind until `shutdown` resolves, then lets in-flight jobs
/// finish within the configured timeout.
pub async fn run(
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let monitor = Monitor::new()
        .shutdown_timeout(Duration::from_secs(app.config.queue.shutdown_timeout_secs));
    let monitor = match &app.queue {
        Queue::Sqlite(pool) => register_all!(monitor, app, sqlite_storage, pool),
        Queue::Postgres(pool) => register_all!(monitor, app, postgres_storage, pool),
    };
    monitor
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("queue workers stopped: {e}"))
}
