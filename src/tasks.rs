//! Periodic work that runs beside the queue workers: each loop is a small function that
//! does one round of work and returns; [`run`] calls it on its interval until shutdown.

use std::{future::Future, time::Duration};

use crate::{app::App, shutdown::Shutdown};

/// Which process is running: `serve` does everything; `worker` leaves feed polling to
/// the web process (one poller is enough) but helps with scheduling and sweeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Serve,
    Worker,
}

/// Starts the periodic loops for `role`; they stop when `shutdown` fires.
pub fn spawn_all(app: &App, role: Role, shutdown: &Shutdown) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    let _ = role;
    if role == Role::Serve {
        handles.extend(crate::feeds::ingest::spawn_polling(app, shutdown));
    }
    handles.push(crate::delivery::sweeper::spawn(app, shutdown));
    handles.push(crate::schedule::runner::spawn(app, shutdown));
    handles.push(crate::ops::retention::spawn(app, shutdown));
    handles.extend(crate::bounces::mailbox::spawn(app, shutdown));
    handles
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
