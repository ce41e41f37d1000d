//! One shutdown signal shared by the web server, the workers and the periodic tasks, and
//! [`every`], the loop each periodic task runs in until that signal.

use std::{future::Future, time::Duration};

use tokio::sync::watch;

/// Resolves once SIGTERM or Ctrl-C arrives (or `trigger` is called, in tests).
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

pub struct ShutdownTrigger(watch::Sender<bool>);

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown { rx })
    }

    /// A shutdown that fires on SIGTERM or Ctrl-C.
    pub fn on_signals() -> Shutdown {
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing work in progress");
            trigger.trigger();
        });
        shutdown
    }

    pub async fn wait(mut self) {
        let _ = self.rx.wait_for(|stopped| *stopped).await;
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("can install a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Calls `round` every `every` until shutdown, logging failures without stopping: one bad
/// round (a locked database, a feed that hangs) must not end the loop.
pub fn every<F, Fut>(
    name: &'static str,
    every: Duration,
    shutdown: Shutdown,
    mut round: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {},
                _ = shutdown.clone().wait() => break,
            }
            if let Err(e) = round().await {
                tracing::warn!(task = name, error = %format!("{e:#}"), "periodic task failed; will retry");
            }
        }
    })
}
