//! Starting the queue workers for every job kind, on whichever database is live.

use std::{future::Future, time::Duration};

use apalis::{
    layers::retry::{
        HasherRng, RetryPolicy,
        backoff::{ExponentialBackoffMaker, MakeBackoff},
    },
    prelude::*,
};

use super::{jobs, postgres_storage, sqlite_storage, worker_name};
use crate::{app::App, store::Pool};

/// Builds one worker: poll the named queue, hand each job the app, retry transient
/// failures in-process with exponential backoff and jitter before apalis counts an attempt.
macro_rules! worker {
    ($app:expr, $storage:expr, $job:ty, $concurrency:expr, $handler:expr) => {{
        let app = $app.clone();
        let storage = $storage;
        let poll = Duration::from_millis(app.config.queue.poll_interval_ms.max(10));
        move |_restarts: usize| {
            WorkerBuilder::new(worker_name(<$job as super::Job>::QUEUE))
                .backend(storage.clone().poll_with_strategy(Tick::new(poll)))
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
                crate::subscribers::transactional::send_transactional
            ))
            .register(worker!(
                $app,
                $storage_fn::<crate::delivery::jobs::FanOutDigest>($pool),
                crate::delivery::jobs::FanOutDigest,
                2,
                crate::delivery::fanout::fan_out_digest
            ))
            .register(worker!(
                $app,
                $storage_fn::<crate::delivery::jobs::DeliverBatch>($pool),
                crate::delivery::jobs::DeliverBatch,
                1,
                crate::delivery::send::deliver_batch
            ))
    }};
}

/// Wakes an idle worker every `interval`, so that it looks for jobs pushed by other
/// processes or handles.
///
/// apalis's own interval strategy replaces its timer after it fires without polling the
/// new one, so no wake-up is registered until something else wakes the worker (its 30 s
/// heartbeat): an idle worker then missed jobs for up to half a minute, intermittently.
/// This strategy re-arms and polls its timer in the same call, so a wake-up is always
/// pending.
pub struct Tick {
    interval: Duration,
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Tick {
    pub fn new(interval: Duration) -> Tick {
        Tick {
            interval,
            sleep: Box::pin(tokio::time::sleep(interval)),
        }
    }
}

impl PollStrategy for Tick {
    fn poll_drive(
        &mut self,
        cx: &mut std::task::Context<'_>,
        _snapshot: &PollSnapshot,
    ) -> std::task::Poll<Option<()>> {
        let mut fired = false;
        while self.sleep.as_mut().poll(cx).is_ready() {
            let next = tokio::time::Instant::now() + self.interval;
            self.sleep.as_mut().reset(next);
            fired = true;
        }
        if fired {
            std::task::Poll::Ready(Some(()))
        } else {
            std::task::Poll::Pending
        }
    }
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

/// Runs workers for every job kind, and this process's delivery sender, until `shutdown`
/// resolves; then lets in-flight jobs and messages finish within the configured timeout.
pub async fn run(
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (trigger, stopping) = crate::shutdown::Shutdown::new();
    let sender = tokio::spawn(crate::delivery::send::run(app.clone(), stopping.clone()));
    let monitor = Monitor::new()
        .shutdown_timeout(Duration::from_secs(app.config.queue.shutdown_timeout_secs));
    let monitor = match &app.queue.pool {
        Pool::Sqlite(pool) => register_all!(monitor, app, sqlite_storage, pool),
        Pool::Postgres(pool) => register_all!(monitor, app, postgres_storage, pool),
    };
    let result = monitor
        .run_with_signal(async move {
            shutdown.await;
            trigger.trigger();
            Ok(())
        })
        .await
        .map_err(|e| anyhow::anyhow!("queue workers stopped: {e}"));
    if let Err(e) = sender.await {
        tracing::error!(error = %e, "the delivery sender failed");
    }
    result
}
